#!/usr/bin/env python
"""Launch tasks/train_lm.py on this machine's GPUs, several nodes, or CPU processes.

Everything after `--` goes to train_lm.py. Without GPUs (and without --cpu-procs) it runs one
plain process. Several nodes: under Slurm run one launcher per node
(`srun --ntasks-per-node=1 python tasks/launch_train.py --nodes 2 --gpus-per-node 8 -- ...`);
master address, port and node rank come from SLURM_*; or give --master-addr/--node-rank, or use
--launcher deepspeed --hostfile FILE (lines `host slots=8`).

Example: python tasks/launch_train.py --gpus-per-node 8 --nodes 1 -- --model M --train-file D --output-dir O --deepspeed configs/deepspeed/zero2.json
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.launch import format_command, launch_command  # noqa: E402
from spire.log import get_logger  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        argv = [*argv, "--"]
    split = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpus-per-node", type=int, help="default: the GPUs torch sees (0 = plain process)")
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--launcher", default="torchrun", choices=["torchrun", "deepspeed"])
    ap.add_argument("--hostfile", help="deepspeed hostfile for several nodes")
    ap.add_argument("--master-addr")
    ap.add_argument("--master-port", type=int)
    ap.add_argument("--node-rank", type=int)
    ap.add_argument("--cpu-procs", type=int, help="N gloo ranks on this CPU machine (tests)")
    ap.add_argument("--print-launch-cmd", action="store_true", help="print the command, do not run it")
    args = ap.parse_args(argv[:split])
    cmd = launch_command(argv[split + 1:], args.gpus_per_node, args.nodes, args.launcher,
                         args.hostfile, args.master_addr, args.master_port, args.node_rank,
                         args.cpu_procs)
    if args.print_launch_cmd:
        print(format_command(cmd))
        return 0
    get_logger("launch_train").info("launching: %s", format_command(cmd))
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # one thread per rank (docs/miniature.md: ~4x faster on 2 cores)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
