"""Sources and references of the test sets (docs/paper.md §5), read from the datasets, never by hand.

* FLORES-200 from ``openlanguagedata/flores_plus`` (one hub config per language, splits ``dev``
  and ``devtest``, column ``text``) through the one loader, spire.audio_data, so the mirror is
  used when it has the data (``MIRROR/datasets/openlanguagedata/flores_plus/<code>/<split>/``);
* WMT23 general test from its public release through sacreBLEU's ``wmt23`` test set
  (``SACREBLEU=$SPIRE_MIRROR/sacrebleu`` when the mirror holds sacreBLEU's cache);
* a column of a speech test set (CoVoST-2 ``translation``) through the loader as well.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from spire.log import get_logger

log = get_logger(__name__)

# FLORES+ configs of the paper's languages (flores_plus renamed zho_Hans to cmn_Hans).
FLORES_CODES = {"en": "eng_Latn", "de": "deu_Latn", "es": "spa_Latn", "fr": "fra_Latn",
                "it": "ita_Latn", "ko": "kor_Hang", "nl": "nld_Latn", "pt": "por_Latn",
                "ru": "rus_Cyrl", "zh": "cmn_Hans"}
FLORES_SPLITS = ("dev", "devtest")
WMT23_PAIRS = ("en-de", "en-ru", "en-zh", "de-en", "ru-en", "zh-en")


def column_lines(config, column: str | None = None) -> list[str]:
    """One line per row of a dataset config: its ``column`` (default: its text column).

    Text-only datasets (``audio_column: null``) are read without decoding any audio.
    """
    from spire.audio_data import DatasetConfig, load_dataset_config, open_audio_dataset

    cfg = config if isinstance(config, DatasetConfig) else load_dataset_config(config)
    column = column or cfg.text_column
    if not column:
        raise ValueError(f"{cfg.source}: no text_column and no column asked for")
    cfg = replace(cfg, text_column=column)
    ds = open_audio_dataset(cfg)
    lines = []
    for n, r in enumerate(ds.records(), 1):
        text = "" if r.text is None else str(r.text)
        if "\n" in text:
            log.warning("%s row %d: newline inside %s; replaced by a space", cfg.source, n, column)
            text = " ".join(text.splitlines())
        lines.append(text)
    return lines


def flores_lines(config, lang: str, split: str) -> list[str]:
    """FLORES+ ``split`` of ``lang`` (a paper language code) through the loader."""
    from spire.audio_data import load_dataset_config

    if lang not in FLORES_CODES:
        raise ValueError(f"no FLORES+ config for language {lang!r}; known: {', '.join(FLORES_CODES)}")
    if split not in FLORES_SPLITS:
        raise ValueError(f"FLORES split {split!r}: use one of {', '.join(FLORES_SPLITS)}")
    cfg = load_dataset_config(config)
    text = cfg.text_column or "text"
    cfg = replace(cfg, config=FLORES_CODES[lang], split=split, text_column=text)
    return column_lines(cfg)


def sacrebleu_pair(testset: str, pair: str) -> tuple[list[str], list[str]]:
    """Sources and (first) references of a sacreBLEU test set: downloaded once into sacreBLEU's
    cache, or read from the mirror's ``sacrebleu`` folder (that cache's layout) when there is one."""
    from sacrebleu.dataset import DATASETS

    from spire.metrics import mirror_sacrebleu_dir

    if testset not in DATASETS:
        raise ValueError(f"sacreBLEU has no test set {testset!r}")
    ds = DATASETS[testset]
    if pair not in ds.langpairs:
        raise ValueError(f"{testset} has no language pair {pair}; it has {', '.join(ds.langpairs)}")
    mirror = mirror_sacrebleu_dir()
    if mirror is not None and (mirror / testset).is_dir():
        # the dataset objects fix their folder when sacrebleu is imported: point this one there
        ds._outdir = str(mirror / testset)
        ds._rawdir = os.path.join(ds._outdir, "raw")
    try:
        ds.process_to_text(pair)
        src, refs = ds.get_source_file(pair), ds.get_reference_files(pair)
    except Exception as e:  # noqa: BLE001 - offline without a mirror copy: say what to do
        raise RuntimeError(f"{testset} {pair}: could not download or read the test set ({e}); on a "
                           "machine with network run `SACREBLEU=MIRROR/sacrebleu sacrebleu -t "
                           f"{testset} -l {pair} --echo src > /dev/null`") from None
    read = lambda p: Path(p).read_text(encoding="utf-8").rstrip("\n").split("\n")  # noqa: E731
    src_lines, ref_lines = read(src), read(refs[0])
    if len(src_lines) != len(ref_lines):
        raise ValueError(f"{testset} {pair}: {len(src_lines)} sources but {len(ref_lines)} references")
    return src_lines, ref_lines
