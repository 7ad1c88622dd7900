#!/usr/bin/env python
"""Launch tasks/train_lm.py on this machine's GPUs, several nodes, or CPU processes.

Everything after `--` goes to train_lm.py. Without GPUs (and without --cpu-procs) it runs one
plain process. Asking for GPUs (--gpus-per-node N > 0) where torch sees fewer CUDA devices (a CPU
build of torch, no driver, devices not allocated) stops at once with what is missing; a CPU run is
asked for explicitly (--gpus-per-node 0, or --cpu-procs N gloo ranks).

One node: torchrun --standalone (deepspeed: a free port), so jobs sharing a node never collide.
Several nodes: under Slurm run one launcher per node
(`srun --ntasks-per-node=1 python tasks/launch_train.py --nodes 2 --gpus-per-node 8 -- ...`);
master address, node rank and port (20000 + SLURM_JOB_ID % 20000, or MASTER_PORT) come from
SLURM_*; or give --master-addr/--node-rank, or use --launcher deepspeed --hostfile FILE
(lines `host slots=8`).

The job's clock: --job-time (the Slurm job's time, the task's .time) and optionally --max-time
(the partition's maximum) check the trainer's --max-minutes: it must stop the trainer before Slurm
kills the job, with a margin to save a checkpoint. `--max-minutes auto` is the job's time less that
margin; a run it stops is unfinished and exits 75 (resume by rerunning the task).

Before starting any rank it checks the trainer's arguments as the trainer would (values, the
model's path, a resume of another run's checkpoints), so that a mistake is said once, not by every
rank under torchrun's traceback.

Example: python tasks/launch_train.py --gpus-per-node 8 --nodes 1 --job-time 2-00:00:00 -- --model M --train-data D --output-dir O --max-minutes auto --deepspeed configs/deepspeed/zero2.json
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.fingerprint import ModelNotFound, ResumeRefused, precheck  # noqa: E402
from spire.launch import (CPU_RANKS_ENV, INCOMPLETE_FILE_ENV, TRAIN_SCRIPT,  # noqa: E402
                          GpuUnavailable, check_gpus, format_command, launch_command,
                          trainer_clock, world_size)
from spire.log import get_logger  # noqa: E402
from spire.options import (OptionParser, nonneg_float, nonneg_int, port,  # noqa: E402
                           positive_int, tconf_hints)


def parse_trainer_args(train_args: list[str]):
    """The trainer's own parser (tasks/train_lm.py): a bad value stops here, once, in one line,
    rather than in every rank under torchrun."""
    spec = importlib.util.spec_from_file_location("train_lm", TRAIN_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.parse_args(train_args)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        argv = [*argv, "--"]
    split = argv.index("--")
    ap = OptionParser(prog="launch_train.py", description=__doc__, hints=tconf_hints(),
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpus-per-node", type=nonneg_int, help="default: the GPUs torch sees (0 = plain process)")
    ap.add_argument("--nodes", type=positive_int, default=1)
    ap.add_argument("--launcher", default="torchrun", choices=["torchrun", "deepspeed"])
    ap.add_argument("--hostfile", help="deepspeed hostfile for several nodes")
    ap.add_argument("--master-addr")
    ap.add_argument("--master-port", type=port, help="default: a free port on one node, Slurm's on several")
    ap.add_argument("--node-rank", type=nonneg_int)
    ap.add_argument("--cpu-procs", type=positive_int, help="N gloo ranks on this CPU machine (tests)")
    ap.add_argument("--job-time", default="", help="the Slurm job's time limit (D-HH:MM:SS, "
                                                   "HH:MM:SS, minutes; '' = none)")
    ap.add_argument("--max-time", help="the partition's maximum job time (uservars slurm_max_time)")
    ap.add_argument("--save-margin", type=nonneg_float, help="minutes between the trainer's stop and the "
                                                      "job's end (default: 60, or a quarter of a short job)")
    ap.add_argument("--print-launch-cmd", action="store_true", help="print the command, do not run it")
    args = ap.parse_args(argv[:split])
    log = get_logger("launch_train")
    try:
        train_args = trainer_clock(argv[split + 1:], args.job_time, args.max_time, args.save_margin)
        cmd = launch_command(train_args, args.gpus_per_node, args.nodes, args.launcher,
                             args.hostfile, args.master_addr, args.master_port, args.node_rank,
                             args.cpu_procs)
        if args.print_launch_cmd:
            print(format_command(cmd))
            return 0
        if not args.cpu_procs and args.gpus_per_node:
            check_gpus(args.gpus_per_node)
        precheck(parse_trainer_args(train_args),
                 world_size(args.gpus_per_node, args.nodes, args.cpu_procs))
    except (ValueError, GpuUnavailable, ModelNotFound, ResumeRefused) as e:
        log.error("%s", e)
        return 2
    log.info("launching: %s", format_command(cmd))
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # one thread per rank (docs/miniature.md: ~4x faster on 2 cores)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.cpu_procs:
        env[CPU_RANKS_ENV] = "1"
    with tempfile.TemporaryDirectory(prefix="launch_train.") as tmp:
        marker = Path(tmp) / "incomplete"
        env[INCOMPLETE_FILE_ENV] = str(marker)
        rc = subprocess.call(cmd, env=env)
        if rc != 0 and marker.is_file():  # stopped by the job's clock, not a crash
            code = int(marker.read_text(encoding="utf-8").split()[0])
            log.warning("training stopped before its planned steps, with a checkpoint: exit %d; "
                        "run the task again to resume", code)
            return code
    return rc


if __name__ == "__main__":
    sys.exit(main())
