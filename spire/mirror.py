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


# ------------------------------------------------------------------ sacreBLEU's assets, manual data
SACREBLEU = "sacrebleu"


def sacrebleu_dir(root: str | os.PathLike | None = None) -> Path:
    """``MIRROR/sacrebleu``: sacreBLEU's own cache layout (``$SACREBLEU``): test sets and
    ``models/`` (the SentencePiece models of spBLEU)."""
    base = mirror_root(root)
    if base is None:
        raise ValueError(f"no mirror: set {ENV} (the `mirror` variable of configs/uservars.tconf)")
    return base / SACREBLEU


def sacrebleu_assets(eval_configs) -> tuple[dict[str, list[str]], list[str]]:
    """What scoring needs from sacreBLEU, read from the evaluation YAMLs: test sets
    (``references: {source: sacrebleu, testset, langpairs}``) and the SentencePiece tokenizers
    (``scoring.tokenize`` that sacreBLEU backs with a model, e.g. flores200)."""
    import yaml
    from sacrebleu.tokenizers.tokenizer_spm import SPM_MODELS

    testsets: dict[str, list[str]] = {}
    spm: list[str] = []
    for f in eval_configs:
        data = yaml.safe_load(Path(f).read_text()) or {}
        ref = data.get("references") or {}
        if ref.get("source") == "sacrebleu":
            pairs = testsets.setdefault(ref["testset"], [])
            pairs += [p for p in ref.get("langpairs", []) if p not in pairs]
        tok = (data.get("scoring") or {}).get("tokenize")
        if tok in SPM_MODELS and tok not in spm:
            spm.append(tok)
    return testsets, spm


def _point_sacrebleu_at(dest: Path, testset: str | None = None):
    """sacreBLEU fixes its cache folder (``$SACREBLEU``) when imported: point the objects we use
    at ``dest`` instead, so one process can fill any mirror."""
    from sacrebleu.dataset import DATASETS
    from sacrebleu.tokenizers import tokenizer_spm

    tokenizer_spm.SACREBLEU_DIR = str(dest)
    if testset is not None:
        ds = DATASETS[testset]
        ds._outdir = str(dest / testset)
        ds._rawdir = os.path.join(ds._outdir, "raw")
        return ds
    return None


def fetch_sacrebleu(testsets: dict[str, list[str]], spm: list[str],
                    root: str | os.PathLike | None = None) -> list[str]:
    """Download test sets and SentencePiece models with sacreBLEU's own code into
    ``MIRROR/sacrebleu`` (a no-op for what is already there); returns what is now present.
    Offline, fails with what to run where there is network."""
    from sacrebleu.dataset import DATASETS
    from sacrebleu.tokenizers.tokenizer_spm import TokenizerSPM

    dest = sacrebleu_dir(root)
    done = []
    try:
        for testset, pairs in testsets.items():
            if testset not in DATASETS:
                raise ValueError(f"sacreBLEU {_version()} has no test set {testset!r}")
            ds = _point_sacrebleu_at(dest, testset)
            for pair in pairs:
                if pair not in ds.langpairs:
                    raise ValueError(f"{testset} has no language pair {pair}")
                ds.get_files(pair)  # downloads the release once, extracts, writes the text files
                done.append(f"{testset}/{pair}")
        for tok in spm:
            _point_sacrebleu_at(dest)
            TokenizerSPM(tok)  # downloads models/<name> unless it is there
            done.append(f"spm/{tok}")
    except OSError as e:  # URLError included: no network here
        raise RuntimeError(
            f"sacreBLEU could not download into {dest} ({e}). Run the fetch where there is network "
            "(`ducttape paper.tape -p fetch_eval` on a login node, or `python tasks/fetch_sacrebleu.py "
            f"--mirror {mirror_root(root)}`), or copy an existing sacreBLEU cache (~/.sacrebleu: "
            "the test set folders and models/) to that folder") from None
    return done


def _version() -> str:
    import sacrebleu

    return sacrebleu.__version__


class ManualDownload(RuntimeError):
    """A dataset whose files are not on the hub and must be downloaded by hand."""


def manual_data_dir(data_dir: str | None, manual: dict | None, source: str,
                    root: str | os.PathLike | None = None) -> str | None:
    """The ``data_dir`` of a config that needs files downloaded by hand (``manual:`` in its YAML:
    ``what``, ``url``, ``raw`` and ``expect``): the config's own ``data_dir`` when set, else
    ``MIRROR/raw/<raw>`` once it holds ``expect``; otherwise one message saying what to download,
    from where, where to put it, and to rerun."""
    if data_dir or not manual:
        return data_dir
    target = raw_dir(manual["raw"], root)
    expect = manual.get("expect")
    if target.is_dir() and (expect is None or (target / expect).exists()):
        return str(target)
    raise ManualDownload(
        f"{source} needs {manual['what']}, which is not on the hub and must be downloaded by hand: "
        f"get it from {manual['url']} (accept its terms there), extract it so that {target}/"
        f"{expect or ''} exists (or set data_dir in {source} to where it is), then rerun "
        "`ducttape paper.tape -p fetch_eval` (or the plan that stopped here)")


# ------------------------------------------------------------------------------ sizes of a fetch
# approximate download sizes of hub models (model cards' file lists), for `--dry-run`
MODEL_SIZES = Path(__file__).resolve().parent.parent / "configs" / "models" / "hub_models.yaml"


def model_size_gb(hub_id: str, sizes_file: str | os.PathLike = MODEL_SIZES) -> float | None:
    """``approx_gb`` of a hub model from configs/models/hub_models.yaml; None: unknown."""
    import yaml

    entry = (yaml.safe_load(Path(sizes_file).read_text()) or {}).get(hub_id) or {}
    value = entry.get("approx_gb")
    return float(value) if isinstance(value, (int, float)) else None


def format_gb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} GB"


def size_line(what: str, gb: float | None) -> str:
    return f"  {format_gb(gb):>12}  {what}"


def total_line(sizes: list[float | None]) -> str:
    known = [s for s in sizes if s is not None]
    unknown = len(sizes) - len(known)
    more = f", {unknown} of them of unknown size: the total is a lower bound" if unknown else ""
    return f"  {sum(known):>9.2f} GB  in all ({len(sizes)} items{more})"


# sizes of sacreBLEU's downloads: not on a model card; WMT23's release tarball holds every
# system's outputs too (unknown until downloaded), the flores200 SentencePiece model is small
SACREBLEU_SIZES_GB = {"spm/flores200": None}


def sacrebleu_plan_lines(testsets: dict[str, list[str]], spm: list[str]) -> list[str]:
    """One line per sacreBLEU download (for the dry runs)."""
    lines = [size_line(f"sacreBLEU {t} ({', '.join(p)}): {_release_url(t)}", SACREBLEU_SIZES_GB.get(t))
             for t, p in testsets.items()]
    return lines + [size_line(f"sacreBLEU SentencePiece model {tok}", SACREBLEU_SIZES_GB.get(f"spm/{tok}"))
                    for tok in spm]


def _release_url(testset: str) -> str:
    from sacrebleu.dataset import DATASETS

    return " ".join(DATASETS[testset].data) if testset in DATASETS else "not in sacreBLEU"
