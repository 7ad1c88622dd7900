"""The miniature world's pretrained models shipped with the repository (``world/``), and the check
that they are still the models this world would train.

At paper scale TowerBase is downloaded, not trained; the miniature's stand-in for it, the base LM
of ``workflows/mini_world.tape``, took a third of ``make demo`` to train (TrainMiniBase, alone on
the critical path) and came out a little different on every CPU (bf16 rounding). So ``make demo``
installs the one in ``world/base_lm`` (ShippedMiniBase), and ``make mini-world`` retrains it and
writes it there again.

A shipped model carries ``world.json``: the identity (spire.fingerprint) of every input it was made
from, the settings that made it, and the identity of its own files. Installing compares all three
with the workflow's current inputs and settings, so that a changed world (other sentences, a bigger
vocabulary, more epochs) or a damaged copy (a Git LFS pointer, a truncated file) is an error that
names what differs and the command that rebuilds it, never a model silently reused.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from spire.fingerprint import source_identity
from spire.io import write_json

PROVENANCE = "world.json"
# what a trained model directory holds that the shipped copy leaves out (TensorBoard events)
NOT_SHIPPED = ("runs",)


class ShippedMismatch(RuntimeError):
    """The shipped model was made from other inputs or settings, or its files are damaged."""


def _digest(path: str | Path) -> str:
    # for a model directory this leaves out world.json itself (one of spire.fingerprint's
    # bookkeeping files: it holds this very digest), as it does README.md and runs/
    return source_identity(str(path))["digest"]


def provenance(inputs: dict[str, str], params: dict[str, str], made_by: str) -> dict:
    """``world.json`` of a model made by ``made_by`` from ``inputs`` (name → file or directory)
    with ``params`` (name → value as the tape passed it)."""
    return {"made_by": made_by,
            "inputs": {name: _digest(path) for name, path in sorted(inputs.items())},
            "params": {name: str(value) for name, value in sorted(params.items())}}


def record(model_dir: Path, inputs: dict[str, str], params: dict[str, str], made_by: str) -> dict:
    """Write ``world.json`` into ``model_dir`` (the identity of its files included)."""
    info = provenance(inputs, params, made_by)
    info["files"] = _digest(model_dir)
    write_json(model_dir / PROVENANCE, info)
    return info


def differences(shipped_dir: Path, inputs: dict[str, str], params: dict[str, str]) -> list[str]:
    """What differs between the shipped model's ``world.json`` and the current inputs, settings
    and its own files; empty when it is the model this world would train."""
    path = shipped_dir / PROVENANCE
    if not path.is_file():
        return [f"{path} is missing: not a model made by `make mini-world`"]
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        return [f"{path} is not JSON ({e})"]
    now = provenance(inputs, params, old.get("made_by", ""))
    out = []
    for kind in ("inputs", "params"):
        a, b = old.get(kind, {}), now[kind]
        for name in [*b, *(k for k in a if k not in b)]:
            if a.get(name) != b.get(name):
                was, is_ = a.get(name, "(not recorded)"), b.get(name, "(not given)")
                what = "content " if kind == "inputs" else ""
                out.append(f"{name}: {what}{was} (shipped) → {is_} (this workflow)")
    files = _digest(shipped_dir)
    if old.get("files") != files:
        out.append(f"the shipped files themselves: {old.get('files')} recorded, {files} on disk "
                   "(damaged, partial, or a Git LFS pointer instead of the weights?)")
    return out


def install(shipped_dir: Path, out: Path, inputs: dict[str, str], params: dict[str, str],
            rebuild: str) -> None:
    """Copy the shipped model to ``out`` after checking it; :class:`ShippedMismatch` (naming every
    difference and ``rebuild``, the command that makes it again) otherwise."""
    if not shipped_dir.is_dir():
        raise ShippedMismatch(f"{shipped_dir}: no shipped model there; build it with {rebuild}")
    diff = differences(shipped_dir, inputs, params)
    if diff:
        raise ShippedMismatch(
            f"{shipped_dir} is not the model this workflow would train:\n  " + "\n  ".join(diff)
            + f"\nRebuild it with {rebuild} (it retrains it and writes it there), or train it "
            "inside the workflow instead (base_model=$model@TrainMiniBase in your tconf).")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(shipped_dir, tmp, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    tmp.rename(out)


def ship(model_dir: Path, dest: Path) -> None:
    """Copy a trained model with its ``world.json`` into the repository (``make mini-world``),
    replacing the old one only once the copy is complete."""
    if not (model_dir / PROVENANCE).is_file():
        raise ShippedMismatch(f"{model_dir} has no {PROVENANCE}: not made by TrainMiniBase")
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    old = dest.with_name(dest.name + ".old")
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
