"""Launch commands for ``tasks/train_lm.py`` on one CPU, GPUs of one node, or several nodes.

``torchrun`` is the default launcher: it needs no ssh between nodes, runs two CPU ranks (gloo)
for tests, and works the same under Slurm, where ``srun`` starts one launcher per node and the
master address, node rank and port come from ``SLURM_*``. ``deepspeed`` (pdsh/ssh + hostfile) is
offered for clusters set up for it. DeepSpeed ZeRO itself is chosen by the trainer's
``--deepspeed`` config, independently of the launcher.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

TRAIN_SCRIPT = Path(__file__).resolve().parent.parent / "tasks" / "train_lm.py"
DEFAULT_PORT = 29500


def gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no torch or no driver: a CPU machine
        return 0


def expand_nodelist(nodelist: str) -> list[str]:
    """Hosts of a Slurm nodelist (``node[01-03,07],gpu5``); ``scontrol`` if present, else parsed."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        if out:
            return out
    except (OSError, subprocess.SubprocessError):
        pass
    hosts = []
    for m in re.finditer(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist):
        prefix, ranges = m.group(1), m.group(2)
        if not ranges:
            hosts.append(prefix)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            for i in range(int(lo), int(hi or lo) + 1):
                hosts.append(f"{prefix}{i:0{len(lo)}d}")
    return hosts


def slurm_rendezvous(env=None) -> dict | None:
    """Master address/port and this node's rank from the Slurm environment, or None."""
    env = env if env is not None else os.environ
    if "SLURM_JOB_NODELIST" not in env and "SLURM_NODELIST" not in env:
        return None
    hosts = expand_nodelist(env.get("SLURM_JOB_NODELIST") or env["SLURM_NODELIST"])
    job = int(env.get("SLURM_JOB_ID", "0"))
    return {"master_addr": hosts[0], "nodes": int(env.get("SLURM_NNODES", len(hosts))),
            "node_rank": int(env.get("SLURM_NODEID", "0")),
            "master_port": int(env.get("MASTER_PORT", 20000 + job % 20000))}


def launch_command(train_args: list[str], gpus_per_node: int | None = None, nodes: int = 1,
                   launcher: str = "torchrun", hostfile: str | None = None,
                   master_addr: str | None = None, master_port: int | None = None,
                   node_rank: int | None = None, cpu_procs: int | None = None,
                   env=None) -> list[str]:
    """The argv that runs the trainer.

    - no GPU (and no ``cpu_procs``): one plain ``python train_lm.py`` process;
    - ``cpu_procs=N``: N gloo ranks on this machine (tests, CPU clusters);
    - ``gpus_per_node`` × ``nodes``: torchrun (rendezvous from arguments or Slurm) or deepspeed
      (hostfile for several nodes).
    """
    script = [str(TRAIN_SCRIPT), *map(str, train_args)]
    if gpus_per_node is None:
        gpus_per_node = gpu_count()
    if cpu_procs:
        gpus_per_node, nodes = cpu_procs, 1
    elif gpus_per_node == 0:
        if nodes > 1:
            raise ValueError("several nodes without GPUs: give cpu_procs per node explicitly")
        return [sys.executable, *script]
    slurm = slurm_rendezvous(env) if nodes > 1 else None
    if slurm:
        master_addr = master_addr or slurm["master_addr"]
        node_rank = slurm["node_rank"] if node_rank is None else node_rank
        master_port = master_port or slurm["master_port"]
    master_port = master_port or DEFAULT_PORT
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus_per_node}",
               f"--nnodes={nodes}"]
        if nodes > 1:
            if master_addr is None or node_rank is None:
                raise ValueError("several nodes with torchrun need master_addr and node_rank "
                                 "(or a Slurm allocation to read them from)")
            cmd += [f"--node_rank={node_rank}", f"--master_addr={master_addr}",
                    f"--master_port={master_port}"]
        else:
            cmd += ["--master_addr=127.0.0.1", f"--master_port={master_port}"]
        return cmd + script
    if launcher == "deepspeed":
        cmd = ["deepspeed", f"--num_gpus={gpus_per_node}", f"--master_port={master_port}"]
        if nodes > 1:
            if not hostfile:
                raise ValueError("several nodes with the deepspeed launcher need a hostfile "
                                 "(lines 'host slots=GPUS')")
            cmd += [f"--num_nodes={nodes}", f"--hostfile={hostfile}"]
            if master_addr:
                cmd += [f"--master_addr={master_addr}"]
        return cmd + script
    raise ValueError(f"unknown launcher {launcher!r}; use torchrun or deepspeed")


def format_command(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)
