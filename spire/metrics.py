"""Evaluation metrics of docs/paper.md §5: corpus WER, BLEU/spBLEU, chrF and COMET-22.

Every metric is computed by the field's library (jiwer, sacreBLEU, unbabel-comet); this module
only fixes the protocol around them (normalise both sides, corpus level, mean of segment scores)
and returns plain dicts that the score tasks write as JSON.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from spire.log import get_logger

log = get_logger(__name__)
NORMALIZERS = ("whisper", "basic", "none")
# Tokenizers that need a SentencePiece model which sacreBLEU downloads on first use
# (into $SACREBLEU/models/<basename of url>, default ~/.sacrebleu).
SPM_TOKENIZERS = ("flores200", "flores101", "spm", "spBLEU-1K")


def check_aligned(hyps: Sequence[str], refs: Sequence[str], what: str = "hypotheses/references",
                  hyp_name: str = "hypotheses", ref_name: str = "references") -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{what}: {hyp_name} has {len(hyps)} lines but {ref_name} has {len(refs)};"
                         " they must be aligned one segment per line")


@lru_cache(maxsize=None)
def _normalizer(name: str):
    if name == "whisper":
        from whisper_normalizer.english import EnglishTextNormalizer
        return EnglishTextNormalizer()
    if name == "basic":
        from whisper_normalizer.basic import BasicTextNormalizer
        return BasicTextNormalizer()
    if name == "none":
        return lambda s: s
    raise ValueError(f"unknown normaliser {name!r}; choose one of {', '.join(NORMALIZERS)}")


def is_word(token: str) -> bool:
    """A token with at least one letter or digit: what a normalised transcript's words are."""
    return any(c.isalnum() for c in token)


def normalize(texts: Sequence[str], normalizer: str = "whisper") -> list[str]:
    """Apply a Whisper text normaliser (``whisper``: English; ``basic``: language-agnostic).

    Tokens without a letter or digit are dropped after it: Whisper's English normaliser keeps a
    "." it cannot tell from a decimal point ("hello..." gives "hello .", "..." gives ".") and a
    lone "$" or "%", and counting those as words put a WER of 200% on a reference "...".
    ``none`` scores the text as it is, punctuation included.
    """
    norm = _normalizer(normalizer)
    # The normalisers leave runs of spaces; collapse them so word splitting is unambiguous.
    out = [" ".join(norm(t).split()) for t in texts]
    if normalizer == "none":
        return out
    return [" ".join(w for w in t.split() if is_word(w)) for t in out]


def word_error_rate(hyps: Sequence[str], refs: Sequence[str], normalizer: str = "whisper",
                    ref_name: str = "references") -> dict:
    """Corpus-level WER (percent) after normalising hypotheses and references alike.

    A reference that is empty after normalisation (blank, or only punctuation) has no words to
    be wrong about: it is left out of the corpus WER, with a warning naming ``ref_name``, the
    count and the first lines; the scores give ``n_empty_refs`` and ``empty_ref_lines`` (1-based)
    and ``n`` counts the segments scored. Every reference empty is an error.
    """
    import jiwer

    check_aligned(hyps, refs, ref_name=ref_name)
    if not refs:
        raise ValueError(f"{ref_name}: no segments to score (0 lines)")
    h, r = normalize(hyps, normalizer), normalize(refs, normalizer)
    empty = [i for i, x in enumerate(r) if not x]
    if len(empty) == len(r):
        raise ValueError(f"{ref_name}: every reference ({len(r)}) is empty after the {normalizer} "
                         "normaliser (blank or only punctuation); WER is undefined: check the file")
    if empty:
        shown = ", ".join(f"{i + 1} {refs[i]!r}" for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        log.warning("%s: %d of %d references are empty after the %s normaliser (blank or only "
                    "punctuation), left out of the WER; lines %s", ref_name, len(empty), len(r),
                    normalizer, shown)
    keep = [i for i, x in enumerate(r) if x]
    out = jiwer.process_words(reference=[r[i] for i in keep], hypothesis=[h[i] for i in keep])
    ref_words = out.hits + out.substitutions + out.deletions
    return {
        "wer": 100.0 * out.wer,
        "n": len(keep),
        "ref_words": ref_words,
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "n_empty_refs": len(empty),
        "empty_ref_lines": [i + 1 for i in empty[:20]],
        "normalizer": normalizer,
    }


def mirror_sacrebleu_dir() -> Path | None:
    """``$SPIRE_MIRROR/sacrebleu``: sacreBLEU's own cache layout (``models/flores200sacrebleuspm``,
    the WMT test sets) filled by the fetch stage, so scoring needs no network."""
    root = os.environ.get("SPIRE_MIRROR")
    return Path(root) / "sacrebleu" if root else None


def mirror_spm_model(tokenize: str) -> Path | None:
    """The mirror's copy of ``tokenize``'s SentencePiece model, when it has one."""
    from sacrebleu.tokenizers import tokenizer_spm

    d = mirror_sacrebleu_dir()
    if d is None or tokenize not in tokenizer_spm.SPM_MODELS:
        return None
    f = d / "models" / os.path.basename(tokenizer_spm.SPM_MODELS[tokenize]["url"])
    return f if f.is_file() else None


def use_spm_model(tokenize: str, spm_model: str | os.PathLike | None) -> None:
    """Point sacreBLEU at a local SentencePiece model for ``tokenize`` (offline full-scale runs).

    sacreBLEU only looks for ``$SACREBLEU/models/<name>`` and downloads it otherwise; we place a
    symlink with that name in a private directory and point its module-level cache dir there.
    """
    if spm_model is None:
        spm_model = mirror_spm_model(tokenize)  # then sacreBLEU's own cache / download
    if spm_model is None:
        return
    from sacrebleu.tokenizers import tokenizer_spm

    if tokenize not in tokenizer_spm.SPM_MODELS:
        raise ValueError(f"--spm-model given but tokenizer {tokenize!r} uses no SentencePiece model")
    spm_model = Path(spm_model).resolve()
    if not spm_model.is_file():
        raise FileNotFoundError(f"{spm_model}: no such SentencePiece model (tokenizer {tokenize})")
    root = Path(tempfile.mkdtemp(prefix="sacrebleu_spm_"))
    name = os.path.basename(tokenizer_spm.SPM_MODELS[tokenize]["url"])
    (root / "models").mkdir()
    (root / "models" / name).symlink_to(spm_model)
    tokenizer_spm.SACREBLEU_DIR = str(root)


def bleu_chrf(hyps: Sequence[str], refs: Sequence[str], tokenize: str = "13a",
              spm_model: str | os.PathLike | None = None) -> dict:
    """Corpus BLEU (spBLEU with ``tokenize='flores200'``) and chrF, with sacreBLEU signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    check_aligned(hyps, refs)
    if not refs:
        raise ValueError("no segments to score")
    use_spm_model(tokenize, spm_model)
    try:
        bleu = BLEU(tokenize=tokenize)
    except OSError as e:  # URLError included: sacreBLEU tried to download the SentencePiece model
        raise RuntimeError(
            f"tokenizer {tokenize}: no SentencePiece model here and no network to download it ({e}); "
            "put it at $SPIRE_MIRROR/sacrebleu/models/ (`SACREBLEU=MIRROR/sacrebleu sacrebleu -tok "
            f"{tokenize} ...` once on a machine with network) or pass --spm-model") from None
    chrf = CHRF()
    b = bleu.corpus_score(list(hyps), [list(refs)])
    c = chrf.corpus_score(list(hyps), [list(refs)])
    return {
        "bleu": b.score,
        "chrf": c.score,
        "n": len(refs),
        "tokenize": tokenize,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def load_comet(model: str):
    """A COMET model from a checkpoint file, a model folder, a hub id held by the mirror
    (spire.mirror, ``$SPIRE_MIRROR``), or a hub id to download."""
    from comet import download_model, load_from_checkpoint
    from spire import mirror

    model = mirror.resolve_model(model)
    path = Path(model)
    if path.is_dir():
        path = path / "checkpoints" / "model.ckpt"
        if not path.is_file():
            raise FileNotFoundError(f"{model}: a COMET model folder needs checkpoints/model.ckpt")
    elif not path.is_file():
        if path.suffix == ".ckpt" or model.startswith(("/", ".")):
            raise FileNotFoundError(f"{model}: no such COMET checkpoint")
        path = Path(download_model(model))  # hub id such as Unbabel/wmt22-comet-da
    encoder = mirror.comet_encoder(path.parents[1])
    if encoder is None:
        return load_from_checkpoint(str(path))
    # COMET builds its encoder (config + tokenizer) from the hub name in hparams.yaml at load
    # time, even for a local checkpoint, which fails offline: point it at the mirror's copy
    import yaml
    from comet.models import str2model

    hp = yaml.safe_load((path.parents[1] / "hparams.yaml").read_text(encoding="utf-8"))
    kwargs = {"load_pretrained_weights": False, "map_location": "cpu", "strict": False,
              "pretrained_model": str(encoder)}
    if hp.get("layer_transformation") == "sparsemax_patch":  # as comet's own loader (>= 2.2.4)
        kwargs["layer_transformation"] = "softmax"
    return str2model[hp["class_identifier"]].load_from_checkpoint(str(path), **kwargs)


# Segments per COMET forward pass when the caller does not say. 16 is unbabel-comet's own
# default, sized for small GPUs; an XLM-R-large COMET (wmt22-comet-da, wmt22-cometkiwi-da) holds
# 64 sentence-length segments in a few GB of an 80 GB GPU, so a GPU makes 4x fewer, fuller passes
# over a million pseudo-labelled lines. On CPU larger batches buy nothing and cost memory.
COMET_BATCH_SIZE = {"gpu": 64, "cpu": 16}


def comet_batch_size(batch_size: int | None, gpus: int) -> int:
    """``batch_size`` when given, else :data:`COMET_BATCH_SIZE` for the device COMET runs on."""
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"COMET batch size must be >= 1, got {batch_size}")
        return batch_size
    return COMET_BATCH_SIZE["gpu" if gpus else "cpu"]


def comet_scores(srcs: Sequence[str], hyps: Sequence[str], refs: Sequence[str],
                 model: str = "Unbabel/wmt22-comet-da", batch_size: int | None = None,
                 gpus: int | None = None) -> dict:
    """COMET segment scores and the system score (their mean, as in docs/paper.md §5).

    For speech translation the source is the gold transcript. ``batch_size``: default
    :func:`comet_batch_size` (larger on GPU).
    """
    check_aligned(hyps, refs)
    check_aligned(srcs, refs, hyp_name="sources")
    if gpus is None:
        import torch
        gpus = 1 if torch.cuda.is_available() else 0
    comet = load_comet(model) if isinstance(model, str) else model
    data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(srcs, hyps, refs)]
    out = comet.predict(data, batch_size=comet_batch_size(batch_size, gpus), gpus=gpus,
                        progress_bar=True,
                        num_workers=0 if gpus == 0 else None)
    scores = [float(x) for x in out.scores]
    return {"comet": sum(scores) / len(scores), "comet_segments": scores,
            "comet_model": model if isinstance(model, str) else type(model).__name__}


def scoring_parser(doc: str, hyps_help: str, refs_help: str):
    """The argument parser shared by ``tasks/score_asr.py`` and ``tasks/score_mt.py``: --config,
    --hyps, --refs, --out, --testset, --variant. Add the task's own options, then call
    :func:`parse_scoring_args`."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="test-set YAML whose 'scoring:' section sets defaults")
    p.add_argument("--hyps", required=True, help=hyps_help)
    p.add_argument("--refs", required=True, help=refs_help)
    p.add_argument("--out", required=True, help="score JSON")
    p.add_argument("--testset", help="test-set name recorded in the JSON (for the results table)")
    p.add_argument("--variant", help="model-variant name recorded in the JSON")
    return p


def parse_scoring_args(parser, argv=None):
    """Parse with the ``scoring:`` section of ``--config`` (if given) as defaults for the options
    the parser has; explicit command-line options still win."""
    import argparse

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    dests = {a.dest for a in parser._actions}
    parser.set_defaults(**{k: v for k, v in scoring_defaults(known.config).items() if k in dests})
    return parser.parse_args(argv)


def scoring_defaults(config_path: str | os.PathLike | None) -> dict:
    """The ``scoring:`` section of a test-set config (``configs/eval/*.yaml``), for CLI defaults."""
    if not config_path:
        return {}
    import yaml

    path = Path(config_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such test-set config")
    from spire.io import read_text

    cfg = yaml.safe_load(read_text(path)) or {}
    scoring = cfg.get("scoring") or {}
    if not isinstance(scoring, dict):
        raise ValueError(f"{path}: 'scoring' must be a mapping")
    out = {k: v for k, v in scoring.items()}
    if "name" in cfg:
        out.setdefault("testset", cfg["name"])
    return out
