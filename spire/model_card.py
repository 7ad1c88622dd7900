"""Model cards for the final models of the workflow, and pushing a model with its card to the hub.

A card is the model directory's ``README.md``: YAML front-matter (``ModelCardData``: licence,
tags, base model, ``model-index`` scores) and a body saying what the model is, how it was made and
how well it does. Every number comes from a file, never from this module:

- the hyper-parameters and training figures from ``train_summary.json`` (spire/training.py);
- the data from the packed corpus it trained on (``meta.json``) and the statistics its corpus
  builder wrote beside the corpus (``stats.json``);
- the scores from the results table (``results.csv`` of tasks/collect_results.py), looked up by the
  row label that configs/eval/variants.yaml gives the model's realization.

What only the workflow knows (the speech encoder, its layer, the number of k-means clusters) comes
in as ``facts`` and is kept in the card's metadata (``spire:``), so that rewriting a card later
(``make results``, ``spire card``) keeps it and only refreshes what the files say.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from spire.io import read_json
from spire.log import get_logger

log = get_logger("model_card")

CARD_NAME = "README.md"
SUMMARY_NAME = "train_summary.json"  # spire/training.py SUMMARY_NAME (not imported: torch-free)
# the row labels of the results table (tasks/collect_results.py --names)
DEFAULT_NAMES = Path(__file__).resolve().parent.parent / "configs" / "eval" / "variants.yaml"
STAGE_OF_TASK = {"TrainCPT": "cpt", "TrainIT": "it"}
# the results table's EvalModel branch of each stage's models (workflows/eval.tape)
EVAL_MODEL = {"cpt": "base", "it": "instruct"}
STAGE_TEXT = {
    "cpt": "the continued pre-training (CPT) stage: a base model that reads speech units like "
           "one more language (a SpireBase)",
    "it": "the instruction-tuning (IT) stage: a chat model for ASR, speech translation and "
          "text translation (a SpireFull or one of its ablations)",
}
# the authors' own citation (README of their code release)
CITATION = """@misc{spire,
      title={From TOWER to SPIRE: Adding the Speech Modality to a Text-Only LLM},
      author={Kshitij Ambilduke and Ben Peters and Sonal Sannigrahi and Anil Keshwani and Tsz Kin Lam and Bruno Martins and Marcely Zanon Boito and André F. T. Martins},
      year={2025},
      eprint={2503.10620},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2503.10620}
}"""
# A model made from TowerBase keeps its licence (CC BY-NC 4.0, as the released Spire models); one
# built from scratch (the miniature) is this kit's own output, under the kit's licence.
TOWER_LICENSE = "cc-by-nc-4.0"
KIT_LICENSE = "mit"
# (key in train_summary.json, key in its "options", label); values are copied, never recomputed
HYPERPARAMETERS = [
    ("options", "lr", "learning rate (peak)"),
    ("options", "min_lr_ratio", "final learning rate / peak"),
    ("options", "warmup_steps", "warm-up steps"),
    ("options", "weight_decay", "weight decay"),
    ("options", "max_grad_norm", "gradient clipping"),
    ("global_batch", "micro_batch", "micro-batch (sequences per device)"),
    ("global_batch", "grad_accum", "gradient accumulation"),
    ("global_batch", "world_size", "devices"),
    ("global_batch", "sequences", "global batch (sequences)"),
    ("global_batch", "tokens", "global batch (tokens)"),
    ("global_batch", "seq_len", "sequence length"),
    ("options", "num_epochs", "epochs"),
    (None, "planned_steps", "planned steps"),
    (None, "global_step", "steps done"),
    (None, "tokens", "tokens trained on"),
    (None, "train_loss", "mean training loss"),
    (None, "precision", "precision"),
    (None, "zero_stage", "DeepSpeed ZeRO stage"),
    ("options", "seed", "seed"),
]
# validation figures, when the trainer recorded them (their names vary with the trainer's version)
VALIDATION_KEYS = ("eval_loss", "validation_loss", "val_loss", "best_eval_loss")
TASK_TYPES = {"asr": ("automatic-speech-recognition", "ASR"),
              "st": ("translation", "speech translation"),
              "mt": ("translation", "machine translation")}


class CardError(ValueError):
    """A card cannot be written; the message names the file and what to do."""


class PushError(RuntimeError):
    """A push cannot happen; the message is one line saying why and what to set."""


@dataclass
class Scores:
    """The results table's row of one model: ``{column: value}`` (display scale, as the table)."""
    label: str
    values: dict[str, float] = field(default_factory=dict)
    source: str | None = None
    missing_reason: str | None = None


# ------------------------------------------------------------------ what the files say

def read_summary(model_dir: str | os.PathLike) -> dict:
    path = Path(model_dir) / SUMMARY_NAME
    if not path.is_file():
        raise CardError(f"{path}: no training summary; a model card describes a finished training "
                        "run (TrainCPT/TrainIT output written by tasks/train_lm.py)")
    return read_json(path)


def hyperparameters(summary: dict) -> dict[str, object]:
    """``{label: value}`` of the training figures present in ``summary``, values as written."""
    out: dict[str, object] = {}
    for group, key, label in HYPERPARAMETERS:
        where = summary.get(group) if group else summary
        if isinstance(where, dict) and where.get(key) is not None:
            out[label] = where[key]
    return out


def validation(summary: dict) -> dict[str, object]:
    """Validation figures of the summary, as written: the trainer's ``validation`` entry (held-out
    rows, final and best loss and their steps) or a top-level validation loss."""
    found = {k: summary[k] for k in VALIDATION_KEYS if summary.get(k) is not None}
    nested = summary.get("validation")
    if isinstance(nested, dict):
        found.update({k.replace("_", " "): v for k, v in nested.items()
                      if isinstance(v, (int, float, str)) and not isinstance(v, bool)})
    return found


DATA_GROUPS = ("kinds", "components", "tasks", "sources")  # CPT (cpt_data) and IT (mixtures) stats
DATA_FIELDS = ("documents", "examples", "tokens", "hours")


def training_data(summary: dict) -> dict:
    """What the model trained on: the packed corpus' statistics (``corpus``) and, when its corpus
    builder wrote ``stats.json`` beside the corpus (BuildCPTData, BuildITMixture), its counts per
    kind, component, task and source, and the mixture's variant and description."""
    out: dict = {"corpus": dict(summary.get("corpus") or {})}
    options = summary.get("options") or {}
    inputs = []
    if options.get("train_data") and (Path(options["train_data"]) / "meta.json").is_file():
        inputs = list(read_json(Path(options["train_data"]) / "meta.json").get("inputs") or [])
    elif options.get("train_file"):
        inputs = [options["train_file"]]
    for inp in inputs:
        stats_path = Path(inp).parent / "stats.json"
        if not stats_path.is_file():
            continue
        stats = read_json(stats_path)
        for key in ("variant", "description"):
            if stats.get(key):
                out[key] = stats[key]
        for group in DATA_GROUPS:
            for name, entry in (stats.get(group) or {}).items():
                if isinstance(entry, dict):
                    out.setdefault(group, {})[name] = {f: entry[f] for f in DATA_FIELDS
                                                       if entry.get(f) is not None}
    return out


def encoder_facts(encoder: str | os.PathLike | None) -> dict[str, str]:
    """The speech encoder's kind, from its directory: ``config.json``'s model type (HuBERT and
    other hub encoders) or ``encoder.json``'s type (the miniature's MFCC and phonetic encoders),
    with its hub id when it was fetched into the mirror."""
    if not encoder:
        return {}
    p = Path(encoder)
    kind = None
    for name, key in (("config.json", "model_type"), ("encoder.json", "type")):
        if (p / name).is_file():
            kind = read_json(p / name).get(key)
            break
    hub_id = hub_id_of(p)
    text = str(kind or p.name) + (f" ({hub_id})" if hub_id else "")
    return {"encoder": text}


def hub_id_of(model: str | os.PathLike | None) -> str | None:
    """The hub id of a base model fetched into the mirror (``MIRROR/models/<org>/<name>``, which
    FetchHubModel's output links to), else None (a model built locally, as in the miniature)."""
    if not model:
        return None
    p = Path(os.path.realpath(model))
    if p.parent.parent.name == "models" and p.parent.name and p.name:
        return f"{p.parent.name}/{p.name}"
    return None


def variant_of(stage: str, realization: str, names_file: str | os.PathLike | None) -> tuple[str, str | None]:
    """The results table's row label of a model and, when that row is not this model's, why.

    The row is found as the table finds it (spire.results.variant_label with variants.yaml): the
    realization's branches, the baseline branches, and the stage's EvalModel branch. A model on a
    branch the label does not say (another Seed, another Encoder) shares the label of the baseline
    run, whose scores the table holds, so it gets none."""
    from spire import results

    cfg = {}
    names_file = names_file or (DEFAULT_NAMES if DEFAULT_NAMES.is_file() else None)
    if names_file:
        import yaml
        cfg = yaml.safe_load(Path(names_file).read_text(encoding="utf-8")) or {}
    names = dict(cfg.get("names") or {})
    baselines = list(cfg.get("baseline_branches") or [])
    try:
        own = results.parse_realization(realization)
    except ValueError as e:
        raise CardError(f"realization {realization!r}: {e}")
    branches = {**results.parse_realization("+".join(baselines)), **own,
                "EvalModel": EVAL_MODEL[stage]}
    ignore = list(cfg.get("testset_branchpoints") or []) + list(cfg.get("ignore_branchpoints") or [])
    label = results.variant_label(branches, names, ignore=ignore)
    named = {bp for key in names for bp in results.parse_realization(key)}
    other = [f"{bp}.{br}" for bp, br in own.items() if bp not in named and f"{bp}.{br}" not in baselines]
    reason = None
    if other:
        reason = (f"the results table's {label!r} row is the baseline run; this model is "
                  f"{'+'.join(other)}")
    return label, reason


def read_scores(results_csv: str | os.PathLike | None, label: str, reason: str | None = None) -> Scores:
    """The row ``label`` of ``results.csv`` (tasks/collect_results.py), empty cells left out."""
    if reason:
        return Scores(label, missing_reason=reason)
    if not results_csv or not Path(results_csv).is_file():
        return Scores(label, missing_reason="not scored yet: run the eval plan, then `make results` "
                      "(or `spire card MODEL_DIR --results results.csv`)")
    with open(results_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("model") == label:
                values = {k: float(v) for k, v in row.items()
                          if k != "model" and v not in (None, "") and not math.isnan(float(v))}
                return Scores(label, values, str(results_csv))
    return Scores(label, source=str(results_csv),
                  missing_reason=f"{results_csv} has no row {label!r} (the eval plan did not score it)")


# ------------------------------------------------------------------ the card

def split_column(column: str) -> tuple[str, str]:
    """``"mini st en_ty BLEU"`` → ``("mini st en_ty", "BLEU")`` (results.to_csv_frame's names)."""
    testset, _, metric = column.rpartition(" ")
    return testset, metric


def eval_results(scores: Scores):
    from huggingface_hub import EvalResult

    from spire.results import split_label

    out = []
    for column, value in scores.values.items():
        testset, metric = split_column(column)
        task = split_label(testset, metric.lower())[0]
        task_type, task_name = TASK_TYPES.get(task, ("translation", task))
        dataset = testset.split()[0]
        out.append(EvalResult(task_type=task_type, task_name=task_name, dataset_type=dataset,
                              dataset_name=testset, metric_type=metric.lower(), metric_name=metric,
                              metric_value=value))
    return out


def _table(rows: dict, head=("", "value")) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


def _data_section(data: dict) -> str:
    parts = []
    if data.get("variant"):
        parts.append(f"Mixture `{data['variant']}`" + (f": {data['description']}" if data.get("description") else ""))
    for group in DATA_GROUPS:
        rows = {(Path(k).name if os.sep in k else k) or "(unnamed)":
                ", ".join(f"{v} {f}" for f, v in entry.items()) for k, entry in (data.get(group) or {}).items()}
        if rows:
            parts.append(_table(rows, (group[:-1], "in the corpus")))
    c = data.get("corpus") or {}
    if c:
        parts.append("Packed corpus (`train_summary.json`): " + ", ".join(f"{k} {v}" for k, v in c.items()))
    return "\n\n".join(parts) or "No corpus statistics were found beside the training data."


def body(label: str, stage: str, facts: dict, summary: dict, data: dict, scores: Scores,
         license_: str) -> str:
    hp = hyperparameters(summary)
    val = validation(summary)
    units = {k: facts[k] for k in ("encoder", "encoder_layer", "clusters", "dedup", "unit_format")
             if facts.get(k) not in (None, "")}
    start = (summary.get("options") or {}).get("model")
    lines = [
        f"# {label}",
        "",
        f"A Spire model from {STAGE_TEXT[stage]}, trained with the Spire reproduction kit "
        "(DeepSpeed/Hugging Face recipe of *From Tower to Spire*, arXiv 2503.10620). Speech enters "
        "as discrete speech units: encoder features of 16 kHz audio quantised by k-means, each "
        "unit one token of the extended tokenizer (settings below).",
        "",
        f"- Base model: {facts.get('base_model_id') or facts.get('base_model') or 'not recorded'}",
        f"- Trained from: `{start}`" if start else "- Trained from: not recorded",
        f"- Workflow realization: `{facts.get('task', '')}/{facts.get('realization', '')}`",
        "",
        "## Speech units",
        "",
        _table(units, ("setting", "value")) if units else "Not recorded (no facts were given).",
        "",
        "## Training data",
        "",
        _data_section(data),
        "",
        "## Hyper-parameters",
        "",
        "From `train_summary.json`:",
        "",
        _table(hp, ("setting", "value")),
        "",
    ]
    if val:
        lines += ["Validation:", "", _table(val, ("figure", "value")), ""]
    lines += ["## Results", ""]
    if scores.values:
        lines += [f"The `{label}` row of `{scores.source}` (WER ↓; BLEU, chrF, COMET ↑; COMET ×100):",
                  "", _table(scores.values, ("test set and metric", "score")), ""]
    else:
        lines += [f"No scores: {scores.missing_reason}.", ""]
    lines += ["## Citation", "", "```bibtex", CITATION, "```", "",
              "## Licence", "", f"`{license_}`" + (" (the licence of TowerBase, which this model "
              "is built from)" if license_ == TOWER_LICENSE else " (the kit's licence; the model "
              "is built from scratch)" if license_ == KIT_LICENSE else ""), ""]
    return "\n".join(lines)


def existing_facts(model_dir: str | os.PathLike) -> dict:
    """The facts a previous card of ``model_dir`` recorded (``spire.facts``), else ``{}``."""
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        return {}
    from huggingface_hub import ModelCard
    try:
        data = ModelCard.load(path).data.to_dict()
    except Exception as e:  # a hand-written README without front-matter: start afresh
        log.warning("%s: not a model card we can read (%s); writing a new one", path, e)
        return {}
    return dict((data.get("spire") or {}).get("facts") or {})


def where_in_workflow(model_dir: str | os.PathLike) -> tuple[str, str, str]:
    """``OUT/TrainIT/<realization>/model`` → ``("TrainIT", "it", "<realization>")``."""
    p = Path(os.path.abspath(model_dir))
    task, realization = p.parent.parent.name, p.parent.name
    if task not in STAGE_OF_TASK:
        raise CardError(f"{model_dir}: not a TrainCPT/TrainIT output (OUT/TrainCPT/<realization>/model); "
                        "give the stage and realization (--stage, --realization)")
    return task, STAGE_OF_TASK[task], realization


def build_card(model_dir: str | os.PathLike, facts: dict | None = None,
               results_csv: str | os.PathLike | None = None,
               names_file: str | os.PathLike | None = None, stage: str | None = None,
               realization: str | None = None, license_: str | None = None):
    """The ``ModelCard`` of ``model_dir`` (not written)."""
    from huggingface_hub import ModelCard, ModelCardData

    facts = {**existing_facts(model_dir), **{k: v for k, v in (facts or {}).items() if v not in (None, "")}}
    if stage is None or realization is None:
        task, stage0, real0 = where_in_workflow(model_dir)
        stage, realization = stage or stage0, realization or real0
    else:
        task = {v: k for k, v in STAGE_OF_TASK.items()}.get(stage, stage)
    if stage not in EVAL_MODEL:
        raise CardError(f"stage {stage!r}: expected one of {', '.join(EVAL_MODEL)}")
    facts.update(task=task, realization=realization)
    if license_:  # kept, so that a refresh does not fall back to the default
        facts["license"] = license_
    summary = read_summary(model_dir)
    label, reason = variant_of(stage, realization, names_file)
    scores = read_scores(results_csv, label, reason)
    data = training_data(summary)
    base_id = facts.get("base_model_id") or hub_id_of(facts.get("base_model"))
    if base_id:
        facts["base_model_id"] = base_id
    license_ = license_ or facts.get("license") or (TOWER_LICENSE if base_id else KIT_LICENSE)
    meta = ModelCardData(
        license=license_, library_name="transformers", pipeline_tag="text-generation",
        base_model=base_id or None, model_name=label,
        tags=["spire", "speech", "discrete-speech-units", "speech-translation", "asr", stage],
        eval_results=eval_results(scores) or None,
        spire={"variant": label, "stage": stage, "facts": facts,
               "hyperparameters": hyperparameters(summary), "validation": validation(summary), "data": data,
               "scores": scores.values, "scores_source": scores.source,
               "scores_missing": scores.missing_reason})
    text = body(label, stage, facts, summary, data, scores, license_)
    return ModelCard(f"---\n{meta.to_yaml()}\n---\n\n{text}")


def write_card(model_dir: str | os.PathLike, **kwargs) -> Path:
    """Write (or refresh) the card (``README.md``) of ``model_dir``; returns its path."""
    from spire.io import write_text

    card = build_card(model_dir, **kwargs)
    path = Path(model_dir) / CARD_NAME
    write_text(path, str(card))
    return path


# ------------------------------------------------------------------ push

def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def check_can_push(token: str | None = None) -> str:
    """The token to push with, or a PushError saying what is missing (offline mode, no token)."""
    from huggingface_hub import get_token

    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        raise PushError("spire push: offline mode is on (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE=1): "
                        "push from a machine with network access with HF_HUB_OFFLINE=0 (unset it)")
    token = token or get_token()
    if not token:
        raise PushError("spire push: no Hugging Face token: run `huggingface-cli login` "
                        "(or `hf auth login`), or set HF_TOKEN to a token with write access")
    return token


def push(model_dir: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None,
         commit_message: str | None = None, refresh_card: bool = False, **card_kwargs) -> str:
    """Create ``repo_id`` (if needed) and upload ``model_dir`` with its card; returns the repo URL.

    A missing card is written first, an existing one rewritten with ``refresh_card``
    (``card_kwargs`` as for :func:`write_card`)."""
    from huggingface_hub import HfApi

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise PushError(f"spire push: {model_dir}: no config.json; give a saved model directory "
                        "(OUT/TrainIT/<realization>/model)")
    token = check_can_push(token)
    if refresh_card or not (model_dir / CARD_NAME).is_file():
        log.info("%s: writing the model card first", model_dir)
        write_card(model_dir, **card_kwargs)
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), repo_type="model",
                          commit_message=commit_message or f"Upload {model_dir.parent.name} with spire push")
    except Exception as e:  # noqa: BLE001 - turned into one line that says what to do
        raise PushError(push_failure(e, repo_id)) from e
    return str(url)


def push_failure(e: Exception, repo_id: str) -> str:
    """One line for a failed hub call: no network, a rejected token, or the hub's own message."""
    import requests
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(e, OfflineModeIsEnabled):
        return ("spire push: huggingface_hub is in offline mode (HF_HUB_OFFLINE was set when it was "
                "imported): unset HF_HUB_OFFLINE and push again")
    if isinstance(e, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return (f"spire push: cannot reach the Hugging Face hub ({type(e).__name__}): no network "
                "here? push from a machine with access (HF_ENDPOINT if you use a mirror)")
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, HfHubHTTPError) and status in (401, 403):
        return (f"spire push: the hub refused the token for {repo_id} (HTTP {status}): run "
                "`huggingface-cli login` with a token that has write access, or set HF_TOKEN")
    return f"spire push: {repo_id}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


# ------------------------------------------------------------------ command lines
# shared by tasks/write_model_card.py, tasks/push_model.py and `spire card` / `spire push`

def add_card_args(p) -> None:
    p.add_argument("--results", default=None, help="results.csv of tasks/collect_results.py (the scores)")
    p.add_argument("--names", default=None, help="configs/eval/variants.yaml: the row label of each model")
    p.add_argument("--fact", action="append", default=[], metavar="KEY=VALUE",
                   help="what only the workflow knows: encoder_layer=, clusters=, base_model=, "
                   "base_model_id=, unit_format=, dedup= (repeatable; kept in the card)")
    p.add_argument("--encoder", default=None, help="speech encoder directory (its model type goes in the card)")
    p.add_argument("--stage", choices=sorted(EVAL_MODEL), default=None,
                   help="cpt or it (default: from the path, OUT/TrainCPT|TrainIT/<realization>/model)")
    p.add_argument("--realization", default=None, help="ducttape realization (default: from the path)")
    p.add_argument("--license", default=None, help="licence id (default: cc-by-nc-4.0 for a model "
                   "built from a hub base model such as TowerBase, mit for one built from scratch)")


def _scalar(text: str):
    """``"64"`` → 64, ``"true"`` → True, anything else stays text (a --fact's value)."""
    import yaml
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def card_kwargs(a) -> dict:
    facts = {}
    for item in a.fact:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--fact {item!r}: expected KEY=VALUE, e.g. clusters=5000")
        facts[key] = _scalar(value)
    facts.update(encoder_facts(a.encoder))
    return {"facts": facts, "results_csv": a.results, "names_file": a.names, "stage": a.stage,
            "realization": a.realization, "license_": a.license}


def add_push_args(p) -> None:
    p.add_argument("model_dir", help="final model directory (OUT/TrainIT/<realization>/model)")
    p.add_argument("--repo-id", required=True, help="USER/NAME (or ORG/NAME) on the hub")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--message", default=None, help="commit message")
    add_card_args(p)


def card_main(a) -> int:
    """Write the card of each of ``a.model_dirs``; ducttape's full-name links are skipped (their
    realization's directory is in the list too)."""
    import sys

    from spire.log import log_wrote

    kwargs = card_kwargs(a)
    for d in map(Path, a.model_dirs):
        if d.parent.is_symlink():
            continue
        try:
            log_wrote(log, "model card", write_card(d, **kwargs))
        except CardError as e:
            print(f"spire card: {e}", file=sys.stderr)
            return 2
    return 0


def push_main(a) -> int:
    import sys

    try:
        # options about the card (a results table, facts) mean: write it again before pushing
        refresh = bool(a.results or a.fact or a.encoder or a.license)
        url = push(a.model_dir, a.repo_id, private=a.private, commit_message=a.message,
                   refresh_card=refresh, **card_kwargs(a))
    except (PushError, CardError) as e:
        print(str(e), file=sys.stderr)
        return 2
    print(url)
    return 0
