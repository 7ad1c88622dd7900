"""Launch commands for ``tasks/train_lm.py`` on one CPU, GPUs of one node, or several nodes.

``torchrun`` is the default launcher: it needs no ssh between nodes, runs two CPU ranks (gloo)
for tests, and works the same under Slurm, where ``srun`` starts one launcher per node and the
master address, node rank and port come from ``SLURM_*``. ``deepspeed`` (pdsh/ssh + hostfile) is
offered for clusters set up for it. DeepSpeed ZeRO itself is chosen by the trainer's
``--deepspeed`` config, independently of the launcher.

Rendezvous: one node uses torchrun's ``--standalone`` (a store on a free port) or, with the
deepspeed launcher, a port the OS picks, so two jobs on one 8-GPU node never meet on a fixed port;
several nodes under Slurm meet on ``20000 + SLURM_JOB_ID % 20000`` (every node of a job computes
the same port, two jobs differ unless their ids are 20,000 apart; ``MASTER_PORT`` overrides it).

Asking for GPUs where torch sees none stops at once (:func:`check_gpus`); a CPU run is explicit
(``cpu_procs``, which sets :data:`CPU_RANKS_ENV` for the trainer's own check).

The job's clock (:func:`parse_slurm_time`, :func:`trainer_clock`): the trainer's ``--max-minutes``
must end training before Slurm kills the job, with a margin for the final checkpoint; ``auto``
derives it from the job time and makes a stopped run exit :data:`EXIT_INCOMPLETE` (not done).
"""
from __future__ import annotations

import os
import math
import re
import shlex
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

TRAIN_SCRIPT = Path(__file__).resolve().parent.parent / "tasks" / "train_lm.py"
DEFAULT_PORT = 29500  # several nodes without Slurm or an explicit port (deepspeed + hostfile)
# set by the launcher for --cpu-procs: the trainer refuses CPU ranks without it (a CUDA-less
# machine asked for GPUs must fail, not train on gloo)
CPU_RANKS_ENV = "SPIRE_CPU_RANKS"
# sysexits' EX_TEMPFAIL: "try again later" -- the run stopped before its planned steps to beat the
# job's time limit, with a checkpoint; rerunning the task resumes it
EXIT_INCOMPLETE = 75
# a file the trainer writes when it stops incomplete: torchrun reports any failed rank as 1, so
# the launcher reads this to exit EXIT_INCOMPLETE itself
INCOMPLETE_FILE_ENV = "SPIRE_INCOMPLETE_FILE"
CLUSTER_INSTALL = "README.md, section \"Cluster install\""


def gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no torch or no driver: a CPU machine
        return 0


@dataclass
class CudaProbe:
    """What this environment's torch says about CUDA."""
    torch_version: str
    cuda_version: str | None  # torch.version.cuda: None for a CPU build
    devices: int
    init_error: str = ""      # the warning torch gives when the driver cannot be used


def probe_cuda() -> CudaProbe:
    import torch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return CudaProbe(torch.__version__, torch.version.cuda, devices,
                     "; ".join(str(w.message) for w in caught))


class GpuUnavailable(RuntimeError):
    """GPUs were asked for and this environment cannot give them."""


def check_gpus(wanted: int, probe: CudaProbe | None = None, env=None) -> None:
    """Raise :class:`GpuUnavailable` unless torch sees at least ``wanted`` CUDA devices, saying
    what is missing (a CPU build of torch, a driver, devices hidden) and how to fix it."""
    if wanted <= 0:
        return
    probe = probe or probe_cuda()
    env = env if env is not None else os.environ
    if probe.devices >= wanted:
        return
    ask = f"--gpus-per-node {wanted} asks for {wanted} GPU(s) on this node, but"
    fix = (f"Install a CUDA build of torch into this environment ({sys.prefix}; {CLUSTER_INSTALL}), "
           "or run on CPU on purpose: --gpus-per-node 0 (one process) or --cpu-procs N.")
    if probe.cuda_version is None:
        raise GpuUnavailable(f"{ask} this torch ({probe.torch_version}) is a CPU build "
                             f"(torch.version.cuda is None). {fix}")
    visible = env.get("CUDA_VISIBLE_DEVICES")
    hidden = f" CUDA_VISIBLE_DEVICES={visible!r} limits what torch sees." if visible is not None else ""
    why = f" torch says: {probe.init_error}" if probe.init_error else ""
    if probe.devices == 0:
        raise GpuUnavailable(
            f"{ask} torch {probe.torch_version} (built for CUDA {probe.cuda_version}) sees no CUDA "
            f"device: no GPU allocated to this job (Slurm: --gpus-per-node), or no NVIDIA driver, "
            f"or one older than CUDA {probe.cuda_version} needs (`nvidia-smi` shows it).{hidden}{why} "
            f"Run on a GPU node, or install a torch built for the node's driver ({CLUSTER_INSTALL}).")
    raise GpuUnavailable(f"{ask} torch sees only {probe.devices}.{hidden} Ask Slurm for as many "
                         f"(the task's .gpus) or lower --gpus-per-node to {probe.devices}.")


def check_rank_device(cuda: bool, env=None) -> None:
    """For the trainer: several local ranks without CUDA only where the launcher was told to run
    CPU ranks (:data:`CPU_RANKS_ENV`); otherwise a GPU job on a CUDA-less torch would train on
    gloo, days slower, without a word."""
    env = env if env is not None else os.environ
    local = max(int(env.get("LOCAL_WORLD_SIZE", "1")), int(env.get("LOCAL_SIZE", "1")))
    if cuda or local <= 1 or env.get(CPU_RANKS_ENV):
        return
    raise GpuUnavailable(f"{local} ranks on this node but torch sees no CUDA device: a launcher "
                         "started GPU ranks where there is no GPU. Run on a GPU node with a CUDA "
                         f"build of torch ({CLUSTER_INSTALL}), or start CPU ranks on purpose with "
                         f"tasks/launch_train.py --cpu-procs N (it sets {CPU_RANKS_ENV}=1).")


def free_port() -> int:
    """A TCP port no one listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    One node without an explicit ``master_port``: torchrun ``--standalone`` / a free port for
    deepspeed, never a fixed one (two jobs on one node would collide).
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
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus_per_node}",
               f"--nnodes={nodes}"]
        if nodes > 1:
            if master_addr is None or node_rank is None:
                raise ValueError("several nodes with torchrun need master_addr and node_rank "
                                 "(or a Slurm allocation to read them from)")
            cmd += [f"--node_rank={node_rank}", f"--master_addr={master_addr}",
                    f"--master_port={master_port or DEFAULT_PORT}"]
        elif master_port:
            cmd += ["--master_addr=127.0.0.1", f"--master_port={master_port}"]
        else:
            cmd += ["--standalone"]  # a c10d store on a port the OS picks
        return cmd + script
    if launcher == "deepspeed":
        port = master_port or (DEFAULT_PORT if nodes > 1 else free_port())
        cmd = ["deepspeed", f"--num_gpus={gpus_per_node}", f"--master_port={port}"]
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


# ------------------------------------------------------------------ the job's clock
NO_LIMIT = ("", "UNLIMITED", "INFINITE")


def parse_slurm_time(text: str, name: str = "time") -> float:
    """Minutes of a Slurm time string, in every form ``sbatch --time`` takes: ``M``, ``M:S``,
    ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``; ``""``, ``UNLIMITED`` or ``INFINITE`` is no limit
    (``math.inf``; so is ``0``, as for sbatch). ``name`` (the config variable) is named in errors."""
    text = str(text).strip().strip('"')
    if text.upper() in NO_LIMIT:
        return math.inf
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError(f"{name}={text!r} is not a Slurm time: use D-HH:MM:SS, HH:MM:SS or "
                         "minutes (sbatch --time)")
    days, a, b, c = m.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        minutes = int(days) * 1440 + int(a) * 60 + int(b or 0) + int(c or 0) / 60
    elif c is not None:   # H:M:S
        minutes = int(a) * 60 + int(b) + int(c) / 60
    else:                 # M or M:S
        minutes = int(a) + int(b or 0) / 60
    return minutes or math.inf


def save_margin(job_minutes: float) -> float:
    """Minutes of the job the trainer's clock does not count: loading the model and the checkpoint
    before it starts (minutes at 7B), the last checkpoint after it stops (a 7B ZeRO-3 checkpoint
    with optimizer states: ~100 GB) and the exit. An hour, or a quarter of a job shorter than four
    hours (the rehearsal's half-hour jobs)."""
    return min(60.0, job_minutes / 4)


def auto_minutes(job_minutes: float, margin: float | None = None) -> int:
    """``--max-minutes auto`` of a job of ``job_minutes``: the job less its :func:`save_margin`."""
    return math.floor(job_minutes - (save_margin(job_minutes) if margin is None else margin))


def check_job_time(job_time: str, max_time: str | None = None, minutes: float | None = None,
                   margin: float | None = None, names: tuple[str, str, str] = (
                       "job time (.time)", "slurm_max_time", "--max-minutes")) -> float:
    """Check that a job's time fits its partition and that the trainer's wall-clock cap ends
    ``margin`` minutes (default :func:`save_margin`) before the job does; returns the job's
    minutes. ``names`` are the config variables of the three, for the error."""
    job_name, max_name, min_name = names
    job = parse_slurm_time(job_time, job_name)
    if max_time is not None and str(job_time).strip().strip('"'):  # "": not asked, Slurm's default
        cap = parse_slurm_time(max_time, max_name)
        if job > cap:
            raise ValueError(f"{job_name}={job_time!r} is longer than the partition's maximum "
                             f"{max_name}={max_time!r}: Slurm would leave the job pending forever "
                             f"(PartitionTimeLimit); set it to at most {max_time}")
    if minutes is not None and math.isfinite(job):
        margin = save_margin(job) if margin is None else margin
        if minutes + margin > job:
            raise ValueError(f"{min_name}={minutes:g} does not stop the trainer before the job's "
                             f"end ({job_name}={job_time!r} = {job:g} min) with {margin:g} min to "
                             f"save a checkpoint: Slurm would kill it mid-step. Set {min_name} to "
                             f"at most {math.floor(job - margin)}, or to auto")
    return job


def _flag_value(args: list[str], flag: str) -> int | None:
    """Index of ``flag``'s value in an argv (``--flag V`` or ``--flag=V``), or None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return i + 1
        if a.startswith(flag + "="):
            return i
    return None


def trainer_clock(train_args: list[str], job_time: str | None, max_time: str | None = None,
                  margin: float | None = None) -> list[str]:
    """The trainer's argv with its ``--max-minutes`` checked against the job's time (and the job's
    time against ``max_time``).

    ``--max-minutes auto``: the job's minutes less the margin, and ``--exit-incomplete-code``
    :data:`EXIT_INCOMPLETE`: a run stopped by that clock is unfinished, it checkpoints and exits
    non-zero so that ducttape does not count the task done and the next run resumes it. A number
    is a budget (the miniature's): the model it stops at is final; it must still end before the job.
    """
    args = [str(a) for a in train_args]
    i = _flag_value(args, "--max-minutes")
    value = None if i is None else args[i].split("=", 1)[-1] if args[i].startswith("--") else args[i]
    if value == "auto":
        job = check_job_time(job_time or "", max_time)
        if not math.isfinite(job):
            raise ValueError("--max-minutes auto needs the job's time limit (--job-time, the task's "
                             ".time); give a number instead where the job has none")
        minutes = auto_minutes(job, margin)
        if minutes <= 0:
            raise ValueError(f"job time {job_time!r} leaves no time to train after the margin")
        args[i] = f"--max-minutes={minutes}" if args[i].startswith("--") else str(minutes)
        if _flag_value(args, "--exit-incomplete-code") is None:
            args += ["--exit-incomplete-code", str(EXIT_INCOMPLETE)]
        return args
    if job_time or max_time:
        check_job_time(job_time or "", max_time, None if value is None else _minutes(value), margin)
    return args


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        raise ValueError(f"--max-minutes {value!r} is not a number of minutes (or auto)") from None
    if not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"--max-minutes {value}: must be a number of minutes greater than 0 (or auto)")
    return minutes


def world_size(gpus_per_node: int | None, nodes: int = 1, cpu_procs: int | None = None) -> int:
    """Ranks that :func:`launch_command` starts (``gpus_per_node`` None: the GPUs torch sees)."""
    if cpu_procs:
        return cpu_procs
    if gpus_per_node is None:
        gpus_per_node = gpu_count()
    return max(gpus_per_node, 1) * nodes if gpus_per_node else 1
