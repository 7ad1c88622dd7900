"""What a training run's result depends on, recorded beside its checkpoints, so that a resume with
another model, other data or other settings is refused instead of silently continuing the old run
(issue 31: a resume kept the restored scheduler's learning rate 0 while the command line said 2e-3).

``{checkpoint_dir}/fingerprint.json`` (written when training starts, copied into the final model):
  ``model``, ``tokenizer``, ``data``  where each came from and a cheap identity of its files
  ``options``                         the settings that change the result (:data:`RESULT_OPTIONS`)

Identity of a file: its size and the sha256 of 1 MiB at its start, at its end and at six evenly
spaced places between (the whole file when it is under 8 MiB). Not the mtime: a copy, an rsync
without ``-t`` or a mirror re-extraction changes it without changing a byte, and would refuse a
good resume; not the config alone: a retrained model (TrainCPT run again with another lr) keeps
its config, and every weight changes. Reading 8 MiB per file costs milliseconds even for the 4 GB
shards of a 7B model or a 50 GB packed corpus. A directory's identity is that of its files; paths
are recorded but not compared (a moved, identical model trains the same).

Not in the fingerprint, as they do not change what is learned: logging and checkpoint intervals,
``--max-minutes``/``--save-minutes``, threads and workers, gradient checkpointing (recomputes the
same activations), the attention kernel (same mathematics) and where things are written.

A checkpoint directory with checkpoints but no fingerprint (made before this file existed) is
refused too: nothing says what it came from. ``--adopt-checkpoints`` resumes it once and records
the current fingerprint; ``--fresh`` moves the directory aside (``DIR.stale-YYYYmmdd-HHMMSS``, never
deleted) and starts from step 0.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from spire.io import write_json

FINGERPRINT_NAME = "fingerprint.json"
VERSION = 1
CHUNK = 1 << 20
SAMPLES = 8  # chunks hashed per large file
SMALL_JSON = 1 << 20  # JSON files up to this size are compared without their timings
# TrainOptions fields that change the result; world_size and the effective seq_len are added
RESULT_OPTIONS = ("lr", "min_lr_ratio", "warmup_steps", "warmup_ratio", "weight_decay",
                  "max_grad_norm", "num_epochs", "max_steps", "micro_batch", "grad_accum", "seed",
                  "precision", "packing", "max_examples",
                  "valid_size")  # the held-out rows are not trained on: another size, other rows
# files of a model or packed directory that record how it was made (timings, logs), not what it is
# (README.md is the model card, rewritten with scores by `make results`; runs/ TensorBoard's events)
# (and world.json: where a shipped model of the miniature came from, spire/mini/shipped.py)
BOOKKEEPING = {"train_log.jsonl", "loss.png", "train_summary.json", FINGERPRINT_NAME, "README.md",
               "world.json"}
BOOKKEEPING_DIRS = {"runs"}


class ResumeRefused(RuntimeError):
    """The checkpoint directory holds a run of other inputs or settings."""


# ------------------------------------------------------------------ locating models
class ModelNotFound(FileNotFoundError):
    pass


def _offline(env=None) -> bool:
    env = os.environ if env is None else env
    return any(env.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _valid_hub_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith(("/", ".", "~"))


def locate_model(name: str, flag: str = "--model", env=None) -> str:
    """A local directory for a model or tokenizer given as a path or a hub id: the path itself,
    the mirror's copy (``$SPIRE_MIRROR/models/ID``), or the Hugging Face cache's snapshot; a hub id
    that is in neither is returned as is when the hub can be reached (transformers downloads it).
    Otherwise :class:`ModelNotFound` with one line naming ``flag``, the path and what to do."""
    name = str(name)
    path = Path(name).expanduser()
    if path.exists():
        if path.is_dir() and not any(p.name.endswith(".json") for p in path.iterdir()):
            raise ModelNotFound(f"{flag} {name}: this directory holds no model (no config.json "
                                "or tokenizer files): give a directory written by save_pretrained")
        return str(path)
    if not _valid_hub_id(name):
        raise ModelNotFound(f"{flag} {name}: no such directory (and not a hub id owner/name): "
                            "check the path, or run the task that writes it first")
    from spire import mirror
    local = mirror.find_model(name)
    if local:
        return str(local)
    from huggingface_hub import snapshot_download
    try:
        return snapshot_download(repo_id=name, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the cache (LocalEntryNotFoundError and kin)
        pass
    if _offline(env):
        raise ModelNotFound(
            f"{flag} {name}: no such directory, not in $SPIRE_MIRROR/models/{name} and not in the "
            "offline Hugging Face cache (HF_HUB_OFFLINE is set): give a local model directory, or "
            f"fetch it where there is network (`huggingface-cli download {name}`, or the mirror)")
    return name


# ------------------------------------------------------------------ identities
def file_identity(path: Path) -> str:
    """``size:sha256`` of ``path`` (whole below SAMPLES MiB, else SAMPLES spread chunks)."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= SAMPLES * CHUNK:
            h.update(f.read())
        else:
            for i in range(SAMPLES):
                f.seek((size - CHUNK) * i // (SAMPLES - 1))
                h.update(f.read(CHUNK))
    return f"{size}:{h.hexdigest()[:16]}"


def _json_identity(path: Path) -> str:
    """A small JSON file without its timings (``*seconds`` keys: meta.json's pack_seconds), so that
    packing the same rows again is the same data."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if not k.endswith("seconds")}
        return [strip(x) for x in v] if isinstance(v, list) else v
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return file_identity(path)
    return "json:" + hashlib.sha256(json.dumps(strip(data), sort_keys=True).encode()).hexdigest()[:16]


def source_identity(location: str | None, shown: str | None = None) -> dict | None:
    """``{"path", "digest", "files", "bytes"}`` of a file or directory (every non-hidden file
    below it, bookkeeping files aside); a hub id not on disk is its own identity."""
    if location is None:
        return None
    p = Path(location)
    shown = str(shown or location)
    if not p.exists():
        return {"path": shown, "digest": f"hub:{location}", "files": 0, "bytes": 0}
    files = [p] if p.is_file() else sorted(
        f for f in p.rglob("*") if f.is_file() and f.name not in BOOKKEEPING
        and not any(part.startswith(".") or part in BOOKKEEPING_DIRS
                    for part in f.relative_to(p).parts))
    h, total = hashlib.sha256(), 0
    for f in files:
        small_json = f.suffix == ".json" and f.stat().st_size <= SMALL_JSON
        ident = _json_identity(f) if small_json else file_identity(f)
        rel = f.name if f == p else f.relative_to(p).as_posix()
        h.update(f"{rel}\t{ident}\n".encode())
        total += f.stat().st_size
    return {"path": shown, "digest": h.hexdigest()[:16], "files": len(files), "bytes": total}


def training_fingerprint(opts, seq_len: int, world_size: int, model_location: str | None = None,
                         tokenizer_location: str | None = None) -> dict:
    """The fingerprint of a run of ``opts`` (a :class:`spire.training.TrainOptions`)."""
    options = {k: getattr(opts, k) for k in RESULT_OPTIONS}
    options.update(seq_len=seq_len, world_size=world_size,
                   deepspeed=source_identity(opts.deepspeed)["digest"] if opts.deepspeed else None)
    data = opts.train_data or opts.train_file
    return {"version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": source_identity(model_location or opts.model, opts.model),
            "tokenizer": source_identity(tokenizer_location or opts.tokenizer, opts.tokenizer)
            if opts.tokenizer else None,
            "data": source_identity(data), "options": options}


# ------------------------------------------------------------------ comparing
def _show(value) -> str:
    if isinstance(value, dict):
        return f"{value['path']} ({value['files']} files, {value['bytes']} bytes, {value['digest']})"
    return json.dumps(value)


def differences(old: dict, new: dict) -> list[str]:
    """``key: old → new`` for every input or option that differs (paths alone do not count)."""
    out = []
    for key in ("model", "tokenizer", "data"):
        a, b = old.get(key), new.get(key)
        if (a or {}).get("digest") != (b or {}).get("digest"):
            out.append(f"{key}: {_show(a)} → {_show(b)}")
    oo, no = old.get("options", {}), new.get("options", {})
    for key in [*no, *(k for k in oo if k not in no)]:
        a, b = oo.get(key, "(not recorded)"), no.get(key, "(not recorded)")
        if a != b:
            out.append(f"{key}: {_show(a)} → {_show(b)}")
    return out


def has_checkpoints(ckpt_dir: Path) -> list[str]:
    """Names of the checkpoint-N directories in ``ckpt_dir``, complete or not."""
    def step(name):
        tail = name.split("-")[-1]
        return int(tail) if tail.isdigit() else -1
    return sorted((p.name for p in Path(ckpt_dir).glob("checkpoint-*") if p.is_dir()), key=step)


def check_resume(ckpt_dir: Path, new: dict, adopt: bool = False, env=None) -> str:
    """Whether ``ckpt_dir`` may be resumed by a run of fingerprint ``new``: ``"new"`` (no
    checkpoints: nothing to resume), ``"same"``, ``"adopt"`` (checkpoints without a fingerprint,
    resumed on request), or :class:`ResumeRefused` saying what differs and what to do."""
    ckpt_dir = Path(ckpt_dir)
    ckpts = has_checkpoints(ckpt_dir)
    if not ckpts:
        return "new"
    fp_path = ckpt_dir / FINGERPRINT_NAME
    task = (os.environ if env is None else env).get("TASK") or "TASK"  # ducttape's, in a tape
    fix = (f"To start afresh from step 0, rerun with --fresh (moves {ckpt_dir} aside to "
           f"{ckpt_dir.name}.stale-TIMESTAMP, nothing is deleted) or, in a workflow, "
           f"`ducttape main.tape invalidate {task} REALIZATION` (its .resume/ checkpoints go to "
           "the attic)")
    if not fp_path.is_file():
        if adopt:
            return "adopt"
        raise ResumeRefused(
            f"{ckpt_dir} holds {', '.join(ckpts)} but no {FINGERPRINT_NAME} (written by an older "
            "trainer): what they were trained from is unknown, so they are not resumed. If you "
            "know they come from this model, data and these settings, rerun with "
            f"--adopt-checkpoints to resume them and record the fingerprint. {fix}.")
    try:
        old = json.loads(fp_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ResumeRefused(f"{fp_path}: unreadable ({e}). {fix}.") from None
    diff = differences(old, new)
    if not diff:
        return "same"
    lines = "\n".join(f"  {d}" for d in diff)
    raise ResumeRefused(f"{ckpt_dir} holds checkpoints (up to {ckpts[-1]}) of a run with other "
                        "inputs or settings; resuming would continue that run, not this one:\n"
                        f"{lines}\n"
                        f"Set them back to resume it. {fix}.")


def move_aside(ckpt_dir: Path) -> Path | None:
    """Rename ``ckpt_dir`` to ``ckpt_dir.stale-YYYYmmdd-HHMMSS`` (if it holds anything)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.exists() or not any(ckpt_dir.iterdir()):
        return None
    stale = ckpt_dir.with_name(f"{ckpt_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while stale.exists():
        stale = ckpt_dir.with_name(f"{ckpt_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        n += 1
    os.replace(ckpt_dir, stale)
    return stale


def record(ckpt_dir: Path, fingerprint: dict) -> None:
    write_json(Path(ckpt_dir) / FINGERPRINT_NAME, fingerprint)


def start_run(ckpt_dir: Path, fingerprint: dict, fresh: bool = False, state: str = "new") -> Path | None:
    """On the main process, before resuming: with ``fresh``, move the old run aside (returned);
    then record ``fingerprint`` unless the directory's own already matches it (``state`` from
    :func:`check_resume`: ``same`` keeps the first record and its date)."""
    ckpt_dir = Path(ckpt_dir)
    stale = move_aside(ckpt_dir) if fresh else None
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if fresh or state != "same":
        record(ckpt_dir, fingerprint)
    return stale


def precheck(opts, world: int) -> None:
    """What the trainer checks first, for a launcher to check once before it starts its ranks
    (each would otherwise print the same refusal, under torchrun's traceback): the model and
    tokenizer exist, and the checkpoint directory may be resumed. ``opts``: the trainer's parsed
    arguments (a TrainOptions or argparse Namespace)."""
    model = locate_model(opts.model, "--model")
    tok = locate_model(opts.tokenizer, "--tokenizer") if opts.tokenizer else model
    ckpt_dir = Path(opts.checkpoint_dir or f"{opts.output_dir}.checkpoints")
    if opts.fresh or not has_checkpoints(ckpt_dir):
        return
    seq_len = opts.seq_len
    if not seq_len:
        from spire.packed import read_meta
        seq_len = read_meta(opts.train_data)["seq_len"] if opts.train_data else 2048
    check_resume(ckpt_dir, training_fingerprint(opts, seq_len, world, model, tok),
                 opts.adopt_checkpoints)
