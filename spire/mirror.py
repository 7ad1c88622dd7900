"""The local mirror of hub datasets and models (docs/design.md, "mirror").

Compute nodes are often offline, and several corpora need ``trust_remote_code`` or a token, which a
batch job cannot answer. So a CPU stage (``ducttape paper.tape -p data``) downloads everything once
into a directory set by the user, and every later loader reads from there::

    MIRROR/datasets/<hub id>/<config | default>/<split>/   save_to_disk output, or *.parquet files
    MIRROR/models/<hub id>/                                save_pretrained / snapshot directory
    MIRROR/raw/<name>/                                     an archive that is not on the hub, extracted
                                                           (the Europarl-ST release: raw/europarl-st/)

The root comes from the environment variable ``SPIRE_MIRROR`` (tape tasks declare ``:: mirror=@``
and ``export SPIRE_MIRROR=$mirror``); unset or empty means "no mirror": load from the hub.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SPIRE_MIRROR"
DEFAULT_CONFIG = "default"
# written beside a fetched split: what was fetched, with which caps (tasks/fetch_dataset.py)
FETCH_INFO = "spire_fetch.json"


def mirror_root(root: str | os.PathLike | None = None) -> Path | None:
    """The mirror directory: ``root`` if given, else ``$SPIRE_MIRROR``; None when neither is set."""
    value = str(root) if root is not None else os.environ.get(ENV, "")
    return Path(value) if value.strip() else None


def dataset_dir(hub_id: str, config: str | None, split: str, root: str | os.PathLike | None = None) -> Path:
    """Where a split of a hub dataset lives in the mirror (whether or not it is there yet)."""
    base = mirror_root(root)
    if base is None:
        raise ValueError(f"no mirror: set {ENV} (the `mirror` variable of configs/uservars.tconf)")
    return base / "datasets" / hub_id / (config or DEFAULT_CONFIG) / split


def model_dir(hub_id: str, root: str | os.PathLike | None = None) -> Path:
    base = mirror_root(root)
    if base is None:
        raise ValueError(f"no mirror: set {ENV} (the `mirror` variable of configs/uservars.tconf)")
    return base / "models" / hub_id


def raw_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    base = mirror_root(root)
    if base is None:
        raise ValueError(f"no mirror: set {ENV} (the `mirror` variable of configs/uservars.tconf)")
    return base / "raw" / name


def is_saved_split(path: Path) -> bool:
    """A ``save_to_disk`` Dataset / DatasetDict, or a folder of parquet files."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
                              or any(path.glob("*.parquet")))


def find_dataset(hub_id: str, config: str | None, split: str,
                 root: str | os.PathLike | None = None) -> Path | None:
    """The mirror's copy of a split, or None (no mirror, or the mirror lacks it)."""
    if mirror_root(root) is None:
        return None
    path = dataset_dir(hub_id, config, split, root)
    return path if is_saved_split(path) else None


def find_model(hub_id: str, root: str | os.PathLike | None = None) -> Path | None:
    """The mirror's copy of a model repository, or None."""
    if mirror_root(root) is None or not hub_id or hub_id.startswith((".", "/")):
        return None
    path = model_dir(hub_id, root)
    # any file counts: a repository without a config (utter-project/SpireKMeans: one k-means
    # file) is a model too; FetchHubModel renames a copy into place only once it is complete
    if path.is_dir() and any(f.is_file() and not f.name.startswith(".") for f in path.iterdir()):
        return path
    return None


def resolve_model(name: str, root: str | os.PathLike | None = None) -> str:
    """A local directory for ``name``: itself if it exists, else the mirror's copy, else ``name``
    unchanged (a hub id that transformers / COMET download)."""
    if not name or Path(name).exists():
        return name
    found = find_model(name, root)
    return str(found) if found is not None else name


def comet_encoder_name(model_dir: str | os.PathLike) -> str | None:
    """The encoder a COMET checkpoint builds at load time (``pretrained_model`` in its
    hparams.yaml, e.g. ``xlm-roberta-large``), or None when ``model_dir`` is not a COMET repo."""
    import yaml

    hp = Path(model_dir) / "hparams.yaml"
    if not hp.is_file():
        return None
    return (yaml.safe_load(hp.read_text()) or {}).get("pretrained_model")


def comet_encoder(model_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> Path | None:
    """The mirror's copy of a COMET checkpoint's encoder (config + tokenizer), or None: COMET
    loads that encoder by hub name even when the checkpoint is local, which fails offline."""
    name = comet_encoder_name(model_dir)
    return find_model(name, root) if name else None


def load_split(path: Path, split: str | None = None):
    """A ``datasets.Dataset`` from a mirror split directory (or any save_to_disk directory)."""
    import datasets

    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            split = split or "train"
            if split not in ds:
                raise ValueError(f"{path}: no split {split!r}; splits are {list(ds)}")
            ds = ds[split]
        return ds
    files = sorted(str(p) for p in path.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path}: neither save_to_disk output nor parquet files")
    return datasets.Dataset.from_parquet(files)
