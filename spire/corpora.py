"""Corpora built from the mirror for the paper path (docs/paper.md §4-§5), so that the user
prepares no directory by hand: FLORES+ text files (few-shot examples, FLEURS references), the
translations of the gold ST corpora aligned with their speech, one ST corpus directory.

Every dataset is read through :mod:`spire.audio_data` (the one loader, mirror first). Files are
line-aligned with the dataset order that ``LabelSpeech`` labels, and a line a corpus has no
translation for is empty (the IT builders skip and count it).
"""
from __future__ import annotations

from pathlib import Path

from spire.audio_data import AudioDataset, load_dataset_config, open_dataset
from spire.io import read_lines, write_lines
from spire.log import get_logger

log = get_logger(__name__)

# FLORES+ configs of the paper's languages (openlanguagedata/flores_plus; zh is cmn_Hans there)
FLORES_PLUS_CODES = {"en": "eng_Latn", "de": "deu_Latn", "es": "spa_Latn", "fr": "fra_Latn",
                     "it": "ita_Latn", "ko": "kor_Hang", "nl": "nld_Latn", "pt": "por_Latn",
                     "ru": "rus_Cyrl", "zh": "cmn_Hans"}


def flores_code(lang: str) -> str:
    try:
        return FLORES_PLUS_CODES[lang]
    except KeyError:
        raise ValueError(f"no FLORES+ code for {lang!r}; known: {sorted(FLORES_PLUS_CODES)} "
                         "(add it to spire/corpora.py)") from None


def column(ds: AudioDataset, name: str) -> list:
    """One column of a dataset without reading the others (no audio bytes)."""
    if ds.hf is not None:
        return list(ds.hf[name])
    return [r.get(name) for r in ds.rows()]


def text_lines(ds: AudioDataset) -> list[str]:
    """The transcript of every row after the config's clean-up, as LabelSpeech writes it."""
    c = ds.cfg
    if not c.text_column:
        raise ValueError(f"{c.source}: no text_column; the corpus needs its transcripts")
    return [c.clean_text(t) or "" for t in column(ds, c.text_column)]


def write_flores(configs_dir: Path, langs: list[str], splits: list[str], out: Path) -> dict:
    """``out/<split>.<lang>`` from ``configs_dir/<code>.<split>.yaml``; every language of a split
    must have the same sentence ids in the same order (FLORES is multi-way parallel)."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in splits:
        ids_en = None
        for lang in ["en"] + [lang for lang in langs if lang != "en"]:
            cfg_file = configs_dir / f"{flores_code(lang)}.{split}.yaml"
            ds = open_dataset(cfg_file)
            ids = [str(i) for i in column(ds, ds.cfg.id_column)] if ds.cfg.id_column else None
            if ids_en is None:
                ids_en = ids
            elif ids != ids_en:
                raise ValueError(f"{cfg_file}: sentence ids differ from English's; FLORES+ splits must "
                                 "be parallel (check config/split, refetch with `-p data`)")
            counts[f"{split}.{lang}"] = write_lines(out / f"{split}.{lang}", text_lines(ds))
    return counts


def st_translations(config_file: str | Path, langs: list[str], flores_dir: Path | None = None,
                    fuzzy_threshold: float = 90.0) -> tuple[list[str], dict[str, list[str]], dict]:
    """(English lines, translations per language, stats) of a gold ST corpus, in dataset order.

    The config says where translations come from: ``target_column`` + ``tgt_lang`` (CoVoST-2), or
    ``references: flores_plus`` (FLEURS: each transcript matched to its FLORES+ sentence, by default
    verbatim in dev and devtest, and that sentence's translation taken; a ``references`` mapping
    may set ``splits`` and ``match: fuzzy``). Languages with no source are empty lines.
    """
    from spire.fleurs_refs import align

    cfg = load_dataset_config(config_file)
    ds = open_dataset(cfg)
    english = text_lines(ds)
    out = {lang: [""] * len(english) for lang in langs}
    stats: dict = {"config": str(config_file), "lines": len(english), "translated": {}}
    meta = cfg.meta
    if meta.get("target_column"):
        lang = meta.get("tgt_lang")
        if not lang:
            raise ValueError(f"{config_file}: target_column needs tgt_lang (the language of that column)")
        if lang in out:
            out[lang] = [t or "" for t in column(ds, meta["target_column"])]
    elif _flores_references(meta.get("references")):
        if flores_dir is None:
            raise ValueError(f"{config_file}: references: flores_plus needs the FLORES+ text (--flores)")
        splits, mode = _flores_match(meta.get("references"))
        flores_en = [s for sp in splits for s in read_lines(flores_dir / f"{sp}.en")]
        matches = align(english, flores_en, mode=mode, threshold=fuzzy_threshold, progress=False)
        stats["match"], stats["flores_splits"] = mode, list(splits)
        stats["unmatched"] = sum(m.index is None for m in matches)
        if stats["unmatched"]:
            # a training corpus keeps its other lines (their translations are still right); the
            # count is in the stats and the log
            log.warning("%s: %d of %d transcripts match no FLORES sentence (%s in %s): no "
                        "translation for them", config_file, stats["unmatched"], len(english), mode,
                        "+".join(splits))
        for lang in langs:
            tgt = [s for sp in splits for s in read_lines(flores_dir / f"{sp}.{lang}")]
            out[lang] = [tgt[m.index] if m.index is not None else "" for m in matches]
    elif meta.get("tgt_langs") and all(l in ds.columns for l in meta["tgt_langs"]):
        for lang in meta["tgt_langs"]:  # one column per language (the segmented Europarl-ST)
            if lang in out:
                out[lang] = [t or "" for t in column(ds, lang)]
    else:
        raise ValueError(f"{config_file}: no translations: give target_column + tgt_lang, "
                         "references: flores_plus, or tgt_langs naming columns")
    stats["translated"] = {lang: sum(bool(t.strip()) for t in v) for lang, v in out.items()}
    return english, out, stats


def _flores_match(ref) -> tuple[tuple[str, ...], str]:
    """(FLORES splits, match mode) of a ``references`` entry: a mapping may set ``splits`` and
    ``match``; the default is both splits FLEURS draws from, matched exactly (the authors')."""
    ref = ref if isinstance(ref, dict) else {}
    return tuple(ref.get("splits") or ("dev", "devtest")), str(ref.get("match") or "exact")


def _flores_references(ref) -> bool:
    """``references: flores_plus`` or a mapping whose ``source`` is FLORES (the eval configs)."""
    if isinstance(ref, dict):
        ref = ref.get("source")
    return isinstance(ref, str) and ref.lower().startswith("flores")


# ------------------------------------------------------------------------------- Europarl-ST
def _read_span(path: Path, start: float, end: float):
    """Samples [start, end) seconds of an audio file, 16 kHz mono float32. soundfile reads a span
    without decoding the whole speech; formats it cannot read (the release's .m4a) go through
    ffmpeg."""
    import shutil
    import subprocess

    import numpy as np
    import soundfile as sf

    from spire.audio import resample, to_mono

    try:
        info = sf.info(str(path))
        x, sr = sf.read(str(path), start=int(start * info.samplerate), stop=int(end * info.samplerate),
                        dtype="float32", always_2d=False)
        return resample(to_mono(x), sr)
    except (sf.LibsndfileError, RuntimeError):
        if not shutil.which("ffmpeg"):
            raise SystemExit(f"{path}: soundfile cannot read it and ffmpeg is not installed "
                             "(the Europarl-ST release is .m4a): install ffmpeg") from None
        raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{start:.3f}", "-t", f"{end - start:.3f}",
                              "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", "16000", "-"],
                             check=True, capture_output=True).stdout
        return np.frombuffer(raw, dtype=np.float32)


def europarl_audio(root: Path, row: dict) -> Path:
    """The release's audio file of a metadata row: ``root/<audio_path>``, else
    ``root/<language>/audios/<file name>`` (the v1.1 layout)."""
    rel = str(row["audio_path"])
    for cand in (root / rel, root / str(row["original_language"]) / "audios" / Path(rel).name):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"Europarl-ST audio {rel!r} is neither {root / rel} nor "
                            f"{root / str(row['original_language']) / 'audios' / Path(rel).name}: "
                            "extract the v1.1 release (https://www.mllp.upv.es/europarl-st/) there")


def segment_europarl(config_file: str | Path, audio_root: Path, langs: list[str], out: Path,
                     src_lang: str = "en") -> dict:
    """Europarl-ST segmented by its offsets: every ``src_lang`` segment of the metadata set becomes
    a 16 kHz FLAC under ``out/audio/``, listed in ``out/corpus.jsonl`` (id, audio, text, one column
    per target language; empty where the release has no translation) with ``out/corpus.yaml``, the
    dataset config LabelSpeech reads. Speech by speech, so memory holds one speech at a time."""
    import soundfile as sf
    from tqdm import tqdm

    from spire.io import write_jsonl

    ds = open_dataset(config_file)
    rows = [r for r in ds.rows() if r.get("original_language") == src_lang] if ds.hf is None else None
    if rows is None:  # read the small columns only, then the rows of the source language
        lang_col = column(ds, "original_language")
        keep = [i for i, lang in enumerate(lang_col) if lang == src_lang]
        sub = ds.hf.select(keep)
        rows = [dict(zip(sub.column_names, vals)) for vals in zip(*(sub[c] for c in sub.column_names))]
    (out / "audio").mkdir(parents=True, exist_ok=True)
    manifest, stats = [], {"segments": 0, "seconds": 0.0, "empty": 0, "translated": {l: 0 for l in langs}}
    rows.sort(key=lambda r: (str(r["original_speech"]), float(r["segment_start"])))  # speech order
    for i, r in enumerate(tqdm(rows, desc="Europarl-ST segments", mininterval=10)):
        start, end = float(r["segment_start"]), float(r["segment_end"])
        wav = _read_span(europarl_audio(audio_root, r), start, end)
        name = f"audio/{i:07d}.flac"
        if wav.size:
            sf.write(str(out / name), wav, 16000, format="FLAC")
        else:
            stats["empty"] += 1  # LabelSpeech writes an empty line for it
        tr = r.get("transcriptions") or {}
        row = {"id": f"{r['original_speech']}_{start:.2f}_{end:.2f}", "audio": name,
               "text": (tr.get(src_lang) or "").strip(), "duration": round(wav.size / 16000, 3)}
        for lang in langs:
            row[lang] = (tr.get(lang) or "").strip()
            stats["translated"][lang] += bool(row[lang])
        manifest.append(row)
        stats["segments"] += 1
        stats["seconds"] += row["duration"]
    write_jsonl(out / "corpus.jsonl", manifest)
    (out / "corpus.yaml").write_text(
        "# Europarl-ST segmented by its offsets (tasks/build_corpora.py europarl)\n"
        f"path: corpus.jsonl\nsplit: train\naudio_column: audio\ntext_column: text\nid_column: id\n"
        f"src_lang: {src_lang}\ntgt_langs: [{', '.join(langs)}]\n", encoding="utf-8")
    return stats


def published_pseudo(config_file: str | Path, transcripts: list[str],
                     score_column: str = "cometqe_22") -> tuple[list[str], list[str], dict]:
    """(translations, scores, stats) of a published pseudo-labelled set, aligned with the
    ``transcripts`` of the set that was labelled (its units): the same utterances in the same order,
    checked on the source text so a misaligned set is an error, never a silent shift."""
    cfg = load_dataset_config(config_file)
    ds = open_dataset(cfg)
    src = text_lines(ds)
    if len(src) != len(transcripts) or any(a.strip() != b.strip() for a, b in zip(src, transcripts)):
        bad = next((i for i, (a, b) in enumerate(zip(src, transcripts)) if a.strip() != b.strip()),
                   min(len(src), len(transcripts)))
        raise SystemExit(f"{config_file}: row {bad + 1} does not match the labelled transcripts "
                         f"({len(src)} rows vs {len(transcripts)} lines): the published sets must hold "
                         "the same utterances in the same order")
    target = cfg.meta.get("target_column")
    if not target:
        raise ValueError(f"{config_file}: name the translation column in target_column")
    if score_column not in ds.columns:
        raise ValueError(f"{config_file}: no score column {score_column!r}; columns are {ds.columns}")
    mt = [(t or "").replace("\n", " ").strip() for t in column(ds, target)]
    scores = ["" if s is None else repr(float(s)) for s in column(ds, score_column)]
    return mt, scores, {"config": str(config_file), "rows": len(mt)}
