"""Stand-ins for every hub dataset and model of the paper path, written into a mirror (the rehearsal).

``build_mirror(root)`` fills ``root`` in the mirror layout (docs/design.md, spire.mirror)::

    root/datasets/<hub id>/<config or "default">/<split>/   Dataset.save_to_disk output
    root/models/<hub id>/                                    save_pretrained directories

Each dataset stand-in has the real dataset's hub id, config and split names, its columns and
feature types as the dataset card / loading script documents them, and its audio encoding (WAV,
FLAC or MP3 bytes at the card's sampling rate): a handful of rows of English sentences from the
miniature's grammar, spoken by espeak-ng (spire.mini.speech). Translations are deterministic
stand-ins (:func:`standin_translation`), not real translations: the rehearsal checks that the
paper path runs, not what it learns. Models have the real model types at toy sizes: TowerBase a
``LlamaForCausalLM`` with a SentencePiece Llama tokenizer, HuBERT a ``hubert`` with HuBERT Large's
layout (pre-LN, layer-norm conv front end, conv bias) and 4 small layers, COMET-22 and CometKiwi
real unbabel-comet checkpoints on a tiny XLM-R (docs/environment.md "COMET offline").

What the card says, for the columns below (checked against each dataset's card or loading script):
SPGISpeech (wav_filename, audio, wav_filesize, transcript; configs S/M/L/dev/test), GigaSpeech
(segment_id ... original_full_path; text upper-case with <COMMA>/<PERIOD> tags and <SIL>/<NOISE>
garbage segments), MLS English (parler-tts/mls_eng: audio, original_path, begin_time, end_time,
transcript, audio_duration, speaker_id, book_id), VoxPopuli (audio_id, language, audio, raw_text,
normalized_text, gender, speaker_id, is_gold_transcript, accent), Common Voice 16.1 (client_id,
path, audio at 48 kHz MP3, sentence, up_votes, down_votes, age, gender, accent, locale, segment,
variant), FLEURS (id, num_samples, path, audio, transcription, raw_transcription, gender, lang_id,
language, lang_group_id), CoVoST-2 (client_id, file, audio, sentence, translation, id), LibriSpeech
(file, audio, text, speaker_id, chapter_id, id), FLORES+ (id, iso_639_3, iso_15924, glottocode,
text, url, domain, topic, has_image, has_hyperlink, last_updated), TowerBlocks (conversations
[{from, value}], lang, split, dataset, task).
"""
from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from spire.log import get_logger

log = get_logger(__name__)

TARGET_LANGS = ("de", "es", "fr", "it", "ko", "nl", "pt", "ru", "zh")  # docs/paper.md §4-§5
# FLORES+ config names (flores_plus uses cmn_Hans for Mandarin, not FLORES-200's zho_Hans)
FLORES_PLUS = {"en": ("eng", "Latn"), "de": ("deu", "Latn"), "es": ("spa", "Latn"),
               "fr": ("fra", "Latn"), "it": ("ita", "Latn"), "ko": ("kor", "Hang"),
               "nl": ("nld", "Latn"), "pt": ("por", "Latn"), "ru": ("rus", "Cyrl"),
               "zh": ("cmn", "Hans")}
FLEURS_GROUPS = ["western_european_we", "eastern_european_ee", "central_asia_middle_north_african_cmn",
                 "sub_saharan_african_ssa", "south_asian_sa", "south_east_asian_sea",
                 "chinese_japanase_korean_cjk"]
GIGASPEECH_SOURCES = ["audiobook", "podcast", "youtube"]
VOXPOPULI_LANGS = ["en", "de", "fr", "es", "pl", "it", "ro", "hu", "cs", "nl", "fi", "hr", "sk", "sl",
                   "et", "lt", "en_accented"]
N_ROWS = 6  # rows per split: a handful (train splits of the CPT corpora get TRAIN_ROWS)
TRAIN_ROWS = 10


# ----------------------------------------------------------------------------------- text
def standin_translation(sentence: str, lang: str) -> str:
    """A deterministic stand-in for the ``lang`` translation of an English sentence, in the
    language's script (so tokenisation and BLEU see Hangul, Han and Cyrillic where they would)."""
    words = sentence.rstrip(".?!").split()
    end = sentence[-1] if sentence and sentence[-1] in ".?!" else ""
    if lang == "zh":
        return "".join(chr(0x4E00 + (ord(c) * 7) % 2000) for w in words for c in w.lower()) + "。"
    if lang == "ko":
        return " ".join("".join(chr(0xAC00 + (ord(c) * 13) % 11000) for c in w.lower())
                        for w in words) + end
    if lang == "ru":
        return " ".join("".join(chr(0x430 + (ord(c) - 97) % 32) if c.isalpha() else c
                                for c in w.lower()) for w in words).capitalize() + end
    suffix = {"de": "en", "es": "o", "fr": "e", "it": "i", "nl": "je", "pt": "ão"}[lang]
    return " ".join(w + suffix for w in reversed(words)).capitalize() + end


def english_sentences(n: int, seed: int) -> list[str]:
    """Written-style English (capitalised, final period) from the miniature's grammar."""
    from spire.mini.grammar import sentences

    return [s[0].upper() + s[1:] + "." for s in sentences(n, seed=seed)]


# ---------------------------------------------------------------------------------- audio
class Speaker:
    """espeak-ng speech of a sentence, encoded as the dataset stores it (bytes + file name)."""

    def __init__(self, seed: int = 0):
        from spire.mini.speech import VOICES

        self.rng = random.Random(seed)
        self.voices = VOICES
        self._tmp = tempfile.TemporaryDirectory(prefix="spire_standin_")
        self.seconds = 0.0

    def wave(self, text: str) -> np.ndarray:
        """16 kHz float32 speech of ``text``."""
        import soundfile as sf
        from spire.mini.speech import synthesize

        wav = Path(self._tmp.name) / "u.wav"
        synthesize(text, self.rng.choice(self.voices), self.rng.randint(150, 190),
                   self.rng.randint(30, 70), wav)
        x, _ = sf.read(str(wav), dtype="float32")
        self.seconds += len(x) / 16000
        return x

    def audio(self, text: str, name: str, fmt: str = "WAV", sampling_rate: int = 16000) -> dict:
        """``{"path": name, "bytes": ...}`` as in a hub dataset's Arrow/parquet audio column."""
        import soundfile as sf
        from spire.audio import resample

        x = self.wave(text)
        if sampling_rate != 16000:
            x = resample(x, 16000, sampling_rate)
        buf = io.BytesIO()
        subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": None}[fmt]
        sf.write(buf, np.clip(x, -1, 1), sampling_rate, format=fmt, subtype=subtype)
        return {"path": name, "bytes": buf.getvalue()}

    def duration(self, audio: dict) -> float:
        import soundfile as sf

        return float(sf.info(io.BytesIO(audio["bytes"])).duration)


# ------------------------------------------------------------------------------ datasets
@dataclass
class StandinDataset:
    """One hub dataset: its configs and splits, and a function making the rows of one split."""
    hub_id: str
    splits: dict[str, list[str]]            # config ("default" when none) -> split names
    make: Callable[..., tuple[list[dict], "object"]]  # (ctx, config, split) -> (rows, Features)
    notes: str = ""


@dataclass
class Context:
    speaker: Speaker
    seed: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    raw_files: dict[str, bytes] = field(default_factory=dict)  # MIRROR-relative path -> bytes
    audio_cache: dict[str, dict] = field(default_factory=dict)

    def n(self, split: str) -> int:
        return TRAIN_ROWS if split.startswith("train") else N_ROWS

    def sentences(self, key: str, n: int) -> list[str]:
        return english_sentences(n, seed=hash_seed(f"{self.seed}-{key}"))


def hash_seed(key: str) -> int:
    import hashlib

    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def _features(spec: dict):
    """``datasets.Features`` from a compact spec: "string", "int32", "float32", "bool",
    ("audio", rate), ("label", names), or a nested list/dict."""
    from datasets import Audio, ClassLabel, Features, Value

    def one(v):
        if isinstance(v, str):
            return Value(v)
        if isinstance(v, tuple) and v[0] == "audio":
            return Audio(sampling_rate=v[1])
        if isinstance(v, tuple) and v[0] == "label":
            return ClassLabel(names=list(v[1]))
        if isinstance(v, list):
            return [one(v[0])]
        if isinstance(v, dict):
            return {k: one(x) for k, x in v.items()}
        raise ValueError(f"bad feature spec {v!r}")

    return Features({k: one(v) for k, v in spec.items()})


def _spgispeech(ctx: Context, config: str, split: str):
    rows = []
    for i, s in enumerate(ctx.sentences(f"spgi-{config}-{split}", ctx.n(split))):
        name = f"{hash_seed(s) % 10**12:012x}/{i + 1}.wav"
        audio = ctx.speaker.audio(s, name)
        # SPGISpeech transcripts are cased and punctuated (its card: "orthographic")
        rows.append({"wav_filename": name, "audio": audio, "wav_filesize": len(audio["bytes"]),
                     "transcript": s})
    return rows, _features({"wav_filename": "string", "audio": ("audio", 16000),
                            "wav_filesize": "int32", "transcript": "string"})


def _gigaspeech(ctx: Context, config: str, split: str):
    rows = []
    texts = ctx.sentences(f"giga-{config}-{split}", ctx.n(split))
    for i, s in enumerate(texts):
        words = s.rstrip(".").upper().split()
        # the card's text_tn: upper case, punctuation as tags; some segments are garbage only
        text = " ".join(words[:3]) + " <COMMA> " + " ".join(words[3:]) + " <PERIOD>"
        if i == 1:
            text = "<SIL>"
        if i == 3:
            text = "<NOISE>"
        audio_id = f"POD{1000000000 + i:010d}"
        seg = f"{audio_id}_S{i:07d}"
        audio = ctx.speaker.audio(s, f"{split}_chunks_0000/{seg}.wav")
        dur = ctx.speaker.duration(audio)
        rows.append({"segment_id": seg, "speaker": "N/A", "text": text, "audio": audio,
                     "begin_time": float(i * 10), "end_time": float(i * 10) + dur, "audio_id": audio_id,
                     "title": "a stand-in podcast", "url": "https://example.org/podcast",
                     "source": 1, "category": 10,
                     "original_full_path": f"audio/podcast/P0000/{audio_id}.opus"})
    return rows, _features({"segment_id": "string", "speaker": "string", "text": "string",
                            "audio": ("audio", 16000), "begin_time": "float32", "end_time": "float32",
                            "audio_id": "string", "title": "string", "url": "string",
                            "source": ("label", GIGASPEECH_SOURCES),
                            "category": ("label", ["People and Blogs", "Business", "Crime", "History",
                                                   "News and Politics", "Travel and Events",
                                                   "Kids and Family", "Leisure", "Comedy", "Sports",
                                                   "N/A", "Education", "Science and Technology",
                                                   "audiobook"]),
                            "original_full_path": "string"})


def _mls_eng(ctx: Context, config: str, split: str):
    rows = []
    for i, s in enumerate(ctx.sentences(f"mls-{split}", ctx.n(split))):
        speaker, book = str(4800 + i % 3), str(10000 + i % 2)
        name = f"{speaker}_{book}_{i:06d}.flac"
        audio = ctx.speaker.audio(s, name, fmt="FLAC")
        dur = ctx.speaker.duration(audio)
        # MLS transcripts are lower case without punctuation
        rows.append({"audio": audio, "original_path": f"http://www.archive.org/download/{book}/{name}",
                     "begin_time": 1.5 * i, "end_time": 1.5 * i + dur,
                     "transcript": s.rstrip(".").lower(), "audio_duration": dur,
                     "speaker_id": speaker, "book_id": book})
    return rows, _features({"audio": ("audio", 16000), "original_path": "string",
                            "begin_time": "float64", "end_time": "float64", "transcript": "string",
                            "audio_duration": "float64", "speaker_id": "string", "book_id": "string"})


# TrainKMeans sets its first 0.05 h (180 s) aside as held-out frames; the k-means corpus must be
# longer than that to leave frames to train on
KMEANS_CORPUS_ROWS = 100


def _voxpopuli(ctx: Context, config: str, split: str):
    rows = []
    n = KMEANS_CORPUS_ROWS if split == "train" else ctx.n(split)
    for i, s in enumerate(ctx.sentences(f"vox-{config}-{split}", n)):
        aid = f"20180{i % 9 + 1}1{i:02d}-0900-PLENARY-{i + 3}-en_2018{i:04d}"
        audio = ctx.speaker.audio(s, f"train_part_0/{aid}.wav")
        rows.append({"audio_id": aid, "language": 0, "audio": audio, "raw_text": s,
                     "normalized_text": s.rstrip(".").lower(), "gender": ["male", "female"][i % 2],
                     "speaker_id": str(100000 + i), "is_gold_transcript": True, "accent": "None"})
    return rows, _features({"audio_id": "string", "language": ("label", VOXPOPULI_LANGS),
                            "audio": ("audio", 16000), "raw_text": "string", "normalized_text": "string",
                            "gender": "string", "speaker_id": "string", "is_gold_transcript": "bool",
                            "accent": "string"})


def _common_voice(ctx: Context, config: str, split: str):
    rows = []
    for i, s in enumerate(ctx.sentences(f"cv-{config}-{split}", ctx.n(split))):
        path = f"en_{split}_0/common_voice_en_{38000000 + i}.mp3"
        audio = ctx.speaker.audio(s, path, fmt="MP3", sampling_rate=48000)
        rows.append({"client_id": f"{hash_seed(str(i)):064x}"[:64], "path": path, "audio": audio,
                     "sentence": s, "up_votes": 2, "down_votes": 0, "age": "twenties",
                     "gender": "", "accent": "", "locale": "en", "segment": "", "variant": ""})
    return rows, _features({"client_id": "string", "path": "string", "audio": ("audio", 48000),
                            "sentence": "string", "up_votes": "int64", "down_votes": "int64",
                            "age": "string", "gender": "string", "accent": "string",
                            "locale": "string", "segment": "string", "variant": "string"})


def flores_sentences(seed: int, split: str) -> list[str]:
    """The English FLORES+ stand-in sentences of a split (FLEURS reads a subset of them)."""
    # dev: FLEURS train (8) and validation (6: the base models' 5 shots) read disjoint sentences
    return english_sentences(14 if split == "dev" else 10, seed=hash_seed(f"{seed}-flores-{split}"))


def _fleurs(ctx: Context, config: str, split: str):
    # FLEURS sentences are FLORES sentences read aloud: train/validation from FLORES dev, test
    # from devtest, as in the real corpus (tasks/align_fleurs_refs.py relies on it)
    pool = flores_sentences(ctx.seed, "devtest" if split == "test" else "dev")
    part = {"train": pool[:8], "validation": pool[8:14], "test": pool[:N_ROWS]}[split]
    rows = []
    for i, s in enumerate(part):
        name = f"{hash_seed(s) % 10**19}.wav"
        audio = ctx.speaker.audio(s, name)
        samples = int(round(ctx.speaker.duration(audio) * 16000))
        rows.append({"id": 1000 + pool.index(s), "num_samples": samples,
                     "path": name, "audio": audio, "transcription": s.rstrip(".").lower(),
                     "raw_transcription": s, "gender": i % 2, "lang_id": 0, "language": "English",
                     "lang_group_id": 0})
    return rows, _features({"id": "int32", "num_samples": "int32", "path": "string",
                            "audio": ("audio", 16000), "transcription": "string",
                            "raw_transcription": "string", "gender": ("label", ["male", "female", "other"]),
                            "lang_id": ("label", [config]), "language": "string",
                            "lang_group_id": ("label", FLEURS_GROUPS)})


def _covost2(ctx: Context, config: str, split: str):
    lang = config.split("_")[1].split("-")[0]
    rows = []
    for i, s in enumerate(ctx.sentences(f"covost-{split}", ctx.n(split))):
        clip = f"common_voice_en_{19000000 + i}.mp3"
        # CoVoST-2 reads Common Voice 4 MP3 clips (48 kHz) and declares Audio(16 kHz): decoding resamples
        audio = ctx.speaker.audio(s, f"clips/{clip}", fmt="MP3", sampling_rate=48000)
        rows.append({"client_id": f"{hash_seed(clip):064x}"[:64], "file": f"clips/{clip}", "audio": audio,
                     "sentence": s, "translation": standin_translation(s, lang),
                     "id": clip[:-4]})
    return rows, _features({"client_id": "string", "file": "string", "audio": ("audio", 16000),
                            "sentence": "string", "translation": "string", "id": "string"})


def _librispeech(ctx: Context, config: str, split: str):
    rows = []
    which = "other" if "other" in (config + split) else "clean"
    for i, s in enumerate(ctx.sentences(f"libri-{which}-{split}", N_ROWS)):
        spk, chap = 1000 + i % 2, 5000 + i % 3
        uid = f"{spk}-{chap}-{i:04d}"
        audio = ctx.speaker.audio(s, f"{uid}.flac", fmt="FLAC")
        rows.append({"file": f"{uid}.flac", "audio": audio, "text": s.rstrip(".").upper(),
                     "speaker_id": spk, "chapter_id": chap, "id": uid})
    return rows, _features({"file": "string", "audio": ("audio", 16000), "text": "string",
                            "speaker_id": "int64", "chapter_id": "int64", "id": "string"})


def _flores_plus(ctx: Context, config: str, split: str):
    iso, script = config.split("_")
    lang = next(k for k, v in FLORES_PLUS.items() if v == (iso, script))
    rows = []
    for i, s in enumerate(flores_sentences(ctx.seed, split)):
        rows.append({"id": i, "iso_639_3": iso, "iso_15924": script, "glottocode": "stan1293",
                     "text": s if lang == "en" else standin_translation(s, lang),
                     "url": f"https://en.wikinews.org/wiki/Standin_{i}", "domain": "wikinews",
                     "topic": "stand-in", "has_image": False, "has_hyperlink": False,
                     "last_updated": "2.1"})
    return rows, _features({"id": "int32", "iso_639_3": "string", "iso_15924": "string",
                            "glottocode": "string", "text": "string", "url": "string",
                            "domain": "string", "topic": "string", "has_image": "bool",
                            "has_hyperlink": "bool", "last_updated": "string"})


def _tower_blocks(ctx: Context, config: str, split: str):
    from spire.languages import LANGUAGE_NAMES

    rows = []
    for i, s in enumerate(ctx.sentences("blocks", 12)):
        lang = TARGET_LANGS[i % len(TARGET_LANGS)]
        name = LANGUAGE_NAMES.get(lang, lang)
        if i % 4 == 3:  # not every block is translation: a paraphrase task, English only
            conv = [{"from": "human", "value": f"Paraphrase the following sentence: {s}"},
                    {"from": "gpt", "value": s}]
            rows.append({"conversations": conv, "lang": "en", "split": "train",
                         "dataset": "standin_paraphrase", "task": "paraphrasing"})
            continue
        conv = [{"from": "human", "value": f"Translate the following text from English into {name}.\n"
                                           f"English: {s}\n{name}:"},
                {"from": "gpt", "value": standin_translation(s, lang)}]
        rows.append({"conversations": conv, "lang": f"en-{lang}", "split": "train",
                     "dataset": "standin_mt", "task": "machine_translation"})
    return rows, _features({"conversations": [{"from": "string", "value": "string"}],
                            "lang": "string", "split": "string", "dataset": "string", "task": "string"})


EUROPARL_LANGS = ("de", "en", "es", "fr", "it", "nl", "pl", "pt", "ro")


EUROPARL_RELEASE = "raw/europarl-st/v1.1"  # where -p data extracts the release (paper.tconf)


def _europarl_st(ctx: Context, config: str, split: str):
    """The hub copy is the release's segment metadata; the audio is the release's own, one file
    per speech holding several segments (here two), cut by segment_start/segment_end. The
    stand-in release is FLAC (the real one is m4a) under ``EUROPARL_RELEASE``."""
    import soundfile as sf

    rows = []
    sentences = ctx.sentences("europarl", ctx.n(split))
    for k in range(0, len(sentences), 2):
        lang = "de" if k % 4 == 2 else "en"  # rows of every source language; English speech is kept
        path = f"{lang}/audios/{lang}.20081201.{k // 2 + 3}.flac"
        waves, t = [], 0.0
        for s in sentences[k:k + 2]:
            src = s if lang == "en" else standin_translation(s, "de")
            w = np.concatenate([ctx.speaker.wave(s), np.zeros(8000, dtype=np.float32)])
            texts = {t_: (src if t_ == lang else s if t_ == "en" else  # pl/ro: German-like stand-ins
                          standin_translation(s, t_ if t_ in TARGET_LANGS else "de"))
                     for t_ in EUROPARL_LANGS}
            rows.append({"original_speech": src, "original_language": lang, "audio_path": path,
                         "segment_start": round(t, 3), "segment_end": round(t + (len(w) - 8000) / 16000, 3),
                         "transcriptions": texts})
            waves.append(w)
            t += len(w) / 16000
        buf = io.BytesIO()
        sf.write(buf, np.clip(np.concatenate(waves), -1, 1), 16000, format="FLAC", subtype="PCM_16")
        ctx.raw_files[f"{EUROPARL_RELEASE}/{path}"] = buf.getvalue()
    return rows, _features({"original_speech": "string", "original_language": "string",
                            "audio_path": "string", "segment_start": "float32", "segment_end": "float32",
                            "transcriptions": {t: "string" for t in EUROPARL_LANGS}})


SPITE_SETS = ("CV16-Euro9B", "CV16-TP9B", "gigaspeech-Euro9B", "gigaspeech-TP9B")


def _spite(ctx: Context, config: str, split: str, name: str = ""):
    """The authors' published pseudo-labelled sets (bpop/spite-<corpus>-<system>, one config per
    en_xx): the English speech, its transcript (src), the system's translation (mt) and its
    CometKiwi-22 score; the same utterances in every language's config."""
    lang = config.split("_")[1]
    rows = []
    for i, s in enumerate(ctx.sentences(f"spite-{name}", N_ROWS)):
        key = f"spite-{name}-{i}"
        if key not in ctx.audio_cache:
            ctx.audio_cache[key] = ctx.speaker.audio(s, f"{key}.wav")
        rows.append({"audio": ctx.audio_cache[key], "src": s, "mt": standin_translation(s, lang),
                     "cometqe_22": round(0.80 + 0.02 * i, 4)})
    return rows, _features({"audio": ("audio", 16000), "src": "string", "mt": "string",
                            "cometqe_22": "float64"})


DATASETS: dict[str, StandinDataset] = {d.hub_id: d for d in [
    *[StandinDataset(f"bpop/spite-{name}", {f"en_{lang}": ["train"] for lang in TARGET_LANGS},
                     lambda ctx, c, sp, name=name: _spite(ctx, c, sp, name)) for name in SPITE_SETS],
    StandinDataset("tj-solergibert/Europarl-ST", {"default": ["train"]}, _europarl_st,
                   "metadata only: the audio is the official release"),
    StandinDataset("kensho/spgispeech", {"L": ["train", "validation", "test"]}, _spgispeech,
                   "gated"),
    StandinDataset("speechcolab/gigaspeech", {"xl": ["train", "validation", "test"]}, _gigaspeech,
                   "gated; text tags"),
    StandinDataset("parler-tts/mls_eng", {"default": ["train", "dev", "test"]}, _mls_eng),
    StandinDataset("facebook/voxpopuli", {"en": ["train", "validation", "test"]}, _voxpopuli),
    StandinDataset("mozilla-foundation/common_voice_16_1", {"en": ["train", "validation", "test"]},
                   _common_voice, "gated; 48 kHz MP3"),
    StandinDataset("google/fleurs", {"en_us": ["train", "validation", "test"]}, _fleurs),
    StandinDataset("facebook/covost2", {"en_de": ["train", "validation", "test"],
                                        "en_zh-CN": ["train", "validation", "test"]}, _covost2,
                   "needs Common Voice 4 clips (data_dir) at the real source"),
    StandinDataset("openslr/librispeech_asr", {"clean": ["test"], "other": ["test"],
                                               "all": ["test.clean", "test.other"]}, _librispeech),
    StandinDataset("openlanguagedata/flores_plus",
                   {f"{iso}_{script}": ["dev", "devtest"] for iso, script in FLORES_PLUS.values()},
                   _flores_plus, "gated"),
    StandinDataset("Unbabel/TowerBlocks-v0.1", {"default": ["train"]}, _tower_blocks),
]}


def dataset_dir(root: str | os.PathLike, hub_id: str, config: str | None, split: str) -> Path:
    return Path(root) / "datasets" / hub_id / (config or "default") / split


def build_datasets(root: str | os.PathLike, seed: int = 0, only: list[str] | None = None) -> dict:
    """Write every dataset stand-in (or those in ``only``) under ``root/datasets``; return counts."""
    from datasets import Dataset
    from tqdm import tqdm

    ctx = Context(Speaker(seed), seed=seed)
    todo = [(d, c, s) for d in DATASETS.values() if not only or d.hub_id in only
            for c, splits in d.splits.items() for s in splits]
    counts = {}
    for d, config, split in tqdm(todo, desc="dataset stand-ins", unit="split"):
        rows, features = d.make(ctx, config, split)
        ds = Dataset.from_list(rows, features=features)
        out = dataset_dir(root, d.hub_id, config, split)
        _save_atomic(ds, out)
        counts[f"{d.hub_id}/{config}/{split}"] = len(ds)
    _write_raw(root, ctx.raw_files)
    log.info("spoke %.1f s of stand-in speech", ctx.speaker.seconds)
    return counts


def _write_raw(root, files: dict[str, bytes]) -> None:
    """Files that -p data downloads outside the hub (the Europarl-ST release), each top folder
    marked as fetched (spire.mirror.FETCH_INFO) so that -p data does not download it again."""
    from spire import mirror
    from spire.io import write_json

    for rel, data in files.items():
        f = Path(root) / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    for top in {Path(rel).parts[:2] for rel in files}:
        write_json(Path(root).joinpath(*top) / mirror.FETCH_INFO, {"url": "stand-in (spire/standins.py)"})


def _save_atomic(ds, out: Path) -> None:
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.save_to_disk(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# -------------------------------------------------------------------------------- models
TOWERBASE = "Unbabel/TowerBase-7B-v0.1"
TOWERINSTRUCT = "Unbabel/TowerInstruct-7B-v0.1"
# the evaluation's audio baselines (docs/paper.md §5)
WHISPER = "openai/whisper-large-v3"
SEAMLESS = "facebook/seamless-m4t-v2-large"
HUBERT_CTC = "facebook/hubert-large-ls960-ft"  # Table 4's HuBERT-Large + CTC
# the MT systems of pseudo-labelling: EuroLLM with TowerInstruct-Mistral (the paper's pair, a
# MistralForCausalLM with ChatML) or with Tower+ (the later pair, a Gemma 2 model)
EUROLLM = "utter-project/EuroLLM-9B-Instruct"
TOWERINSTRUCT_MISTRAL = "Unbabel/TowerInstruct-Mistral-7B-v0.2"
TOWERPLUS = "Unbabel/Tower-Plus-9B"
HUBERT = "facebook/hubert-large-ll60k"
COMET = "Unbabel/wmt22-comet-da"
COMETKIWI = "Unbabel/wmt22-cometkiwi-da"
XLMR = "xlm-roberta-large"              # COMET-22's encoder, named as in its hparams.yaml
INFOXLM = "microsoft/infoxlm-large"      # CometKiwi's encoder
SPIRE_RELEASED = ("utter-project/SpireBase", "utter-project/SpireFull", "utter-project/SpireNoBlocks",
                  "utter-project/SpireNoPseudo", "utter-project/TowerFull")
SPIRE_KMEANS = "utter-project/SpireKMeans"
# HuBERT Large's layout (pre-LN transformer, layer-norm conv front end with bias) at toy width
HUBERT_LAYERS = 4


def model_dir(root: str | os.PathLike, hub_id: str) -> Path:
    return Path(root) / "models" / hub_id


def _text_for_tokenizer(seed: int) -> list[str]:
    lines = english_sentences(600, seed=hash_seed(f"{seed}-spm"))
    for lang in TARGET_LANGS:
        lines += [standin_translation(s, lang) for s in lines[:60]]
    return lines


def build_towerbase(out: Path, seed: int = 0) -> Path:
    """A tiny ``LlamaForCausalLM`` with a SentencePiece BPE Llama tokenizer (ids 0/1/2 =
    unk/bos/eos, byte fallback), saved like TowerBase (tokenizer.model + HF files)."""
    from spire.io import atomic_path, write_lines
    from spire.mini.base_lm import init_llama, train_sentencepiece
    from spire.tokenizer_ext import hf_tokenizer_from_sp

    with tempfile.TemporaryDirectory(prefix="spire_spm_") as tmp:
        text = Path(tmp) / "text.txt"
        write_lines(text, _text_for_tokenizer(seed))
        spm = train_sentencepiece([text], Path(tmp) / "tokenizer.model", vocab_size=600,
                                  user_symbols=[], seed=seed)
        tok = hf_tokenizer_from_sp(spm)
        model = init_llama(tok, "tiny", seed=seed, pad_to=64)
        with atomic_path(out) as dst:
            model.save_pretrained(str(dst))
            tok.save_pretrained(str(dst))
    return out


def build_towerinstruct(base: Path, out: Path) -> Path:
    """An instruction model's stand-in (TowerInstruct, EuroLLM-Instruct): the TowerBase stand-in
    with ChatML tokens and template."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from spire.io import atomic_path
    from spire.tokenizer_ext import CHATML_TEMPLATE, IM_END, IM_START

    tok = AutoTokenizer.from_pretrained(str(base))
    tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tok.chat_template = CHATML_TEMPLATE
    tok.eos_token = IM_END
    model = AutoModelForCausalLM.from_pretrained(str(base))
    if len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    with atomic_path(out) as dst:
        model.save_pretrained(str(dst))
        tok.save_pretrained(str(dst))
    return out


def build_mistral_chat(towerinstruct: Path, out: Path) -> Path:
    """TowerInstruct-Mistral's stand-in: the TowerInstruct stand-in's ChatML tokenizer over a tiny
    ``MistralForCausalLM`` (the real model's type; vLLM and HF load it by that type)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, MistralConfig, MistralForCausalLM
    from spire.io import atomic_path

    tok = AutoTokenizer.from_pretrained(str(towerinstruct))
    llama = AutoConfig.from_pretrained(str(towerinstruct))
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=llama.vocab_size, hidden_size=llama.hidden_size,
        intermediate_size=llama.intermediate_size, num_hidden_layers=llama.num_hidden_layers,
        num_attention_heads=llama.num_attention_heads, num_key_value_heads=llama.num_key_value_heads,
        max_position_embeddings=llama.max_position_embeddings, sliding_window=None,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    with atomic_path(out) as dst:
        MistralForCausalLM(config).save_pretrained(str(dst))
        tok.save_pretrained(str(dst))
    return out


GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")


def build_gemma2_chat(out: Path, seed: int = 0) -> Path:
    """Tower+ 9B's stand-in: a tiny ``Gemma2ForCausalLM`` with a SentencePiece Gemma tokenizer
    (ids 0-3 = pad/eos/bos/unk, turn markers as pieces) and Gemma's chat template."""
    import sentencepiece as spm
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM, GemmaTokenizerFast
    from spire.io import atomic_path, write_lines
    from spire.model_ext import padded_vocab_size

    with tempfile.TemporaryDirectory(prefix="spire_gemma_") as tmp:
        write_lines(Path(tmp) / "text.txt", _text_for_tokenizer(seed))
        spm.SentencePieceTrainer.train(
            input=str(Path(tmp) / "text.txt"), model_prefix=str(Path(tmp) / "sp"), vocab_size=600,
            model_type="bpe", pad_id=0, eos_id=1, bos_id=2, unk_id=3, byte_fallback=True,
            user_defined_symbols=["<start_of_turn>", "<end_of_turn>"], split_digits=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False, character_coverage=1.0,
            hard_vocab_limit=False, minloglevel=2, num_threads=1)
        tok = GemmaTokenizerFast(vocab_file=str(Path(tmp) / "sp.model"), from_slow=True)
        tok.chat_template = GEMMA_CHAT_TEMPLATE
        torch.manual_seed(seed)
        config = Gemma2Config(
            vocab_size=padded_vocab_size(len(tok), 64), hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            max_position_embeddings=1024, sliding_window=256, pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")])
        with atomic_path(out) as dst:
            Gemma2ForCausalLM(config).save_pretrained(str(dst))
            tok.save_pretrained(str(dst))
    return out


def build_hubert(out: Path, seed: int = 0) -> Path:
    from spire.mini.encoders import make_tiny_hubert

    return make_tiny_hubert(out, seed=seed, num_hidden_layers=HUBERT_LAYERS)


def build_xlmr(out: Path, seed: int = 0) -> Path:
    """A tiny XLM-R encoder with an XLM-R tokenizer over a SentencePiece model trained here."""
    import sentencepiece as spm
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast
    from spire.io import atomic_path, write_lines

    with tempfile.TemporaryDirectory(prefix="spire_xlmr_") as tmp, atomic_path(out) as dst:
        text = Path(tmp) / "text.txt"
        write_lines(text, _text_for_tokenizer(seed))
        spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(Path(tmp) / "spm"),
                                       vocab_size=400, model_type="unigram", character_coverage=1.0,
                                       minloglevel=2, num_threads=1)
        tok = XLMRobertaTokenizerFast(vocab_file=str(Path(tmp) / "spm.model"), model_max_length=510)
        tok.save_pretrained(str(dst))
        torch.manual_seed(seed)
        XLMRobertaModel(XLMRobertaConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=514, pad_token_id=tok.pad_token_id,
        )).save_pretrained(str(dst))
    return out


def build_comet(out: Path, encoder_dir: Path, encoder_id: str, qe: bool, seed: int = 0,
                centre: float = 0.84, spread: float = 0.05) -> Path:
    """A real unbabel-comet checkpoint in the hub layout (``checkpoints/model.ckpt`` +
    ``hparams.yaml``): COMET-22's ``RegressionMetric`` or (``qe``) CometKiwi's ``UnifiedMetric``
    over the tiny encoder at ``encoder_dir``. ``hparams.yaml`` names the encoder by its hub id as
    the real checkpoints do (resolved through the mirror at load time). The output layer is set
    so that scores spread around ``centre`` (±``spread``): a QE threshold of 0.85 keeps some
    translations and drops others, as it would at paper scale."""
    import pytorch_lightning
    import torch
    import yaml
    from comet.models import RegressionMetric, UnifiedMetric
    from spire.io import atomic_path

    torch.manual_seed(seed)
    common = dict(pretrained_model=str(encoder_dir), encoder_model="XLM-RoBERTa", batch_size=4,
                  load_pretrained_weights=True, local_files_only=True, hidden_sizes=[16])
    if qe:
        model = UnifiedMetric(input_segments=["mt", "src"], word_level_training=False,
                              sent_layer="mix", word_layer=2, **common)
        identifier = "unified_metric"
    else:
        model = RegressionMetric(pool="avg", layer="mix", **common)
        identifier = "regression_metric"
    _calibrate(model, qe, centre, spread, seed)
    hparams = dict(model.hparams)
    hparams["pretrained_model"] = encoder_id
    hparams["load_pretrained_weights"] = False  # the real hparams: weights come from the checkpoint
    with atomic_path(out) as dst:
        (dst / "checkpoints").mkdir(parents=True)
        torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams,
                    "pytorch-lightning_version": pytorch_lightning.__version__},
                   dst / "checkpoints" / "model.ckpt")
        hparams["class_identifier"] = identifier
        (dst / "hparams.yaml").write_text(yaml.safe_dump(hparams), encoding="utf-8")
    return out


def _calibrate(model, qe: bool, centre: float, spread: float, seed: int) -> None:
    """Scale and shift the estimator's output layer so that, on stand-in translations of the
    kind the pipeline scores, scores have mean ``centre`` and standard deviation ``spread``."""
    import torch

    src = english_sentences(48, seed=hash_seed(f"{seed}-calibrate"))
    rng = random.Random(seed)
    mt = [standin_translation(s, TARGET_LANGS[i % len(TARGET_LANGS)]) if i % 3 else
          " ".join(rng.sample(s.split(), len(s.split()))) for i, s in enumerate(src)]
    data = [{"src": s, "mt": m} if qe else {"src": s, "mt": m, "ref": s} for s, m in zip(src, mt)]
    raw = np.array(model.predict(data, batch_size=16, gpus=0, progress_bar=False,
                                 num_workers=0).scores, dtype=np.float64)
    last = [m for m in model.estimator.modules() if isinstance(m, torch.nn.Linear)][-1]
    bias = float(last.bias.detach()[0])
    scale = spread / max(float(raw.std()), 1e-8)
    with torch.no_grad():
        last.weight.mul_(scale)
        last.bias.fill_(centre - scale * (float(raw.mean()) - bias))


def build_released(root: Path, towerbase: Path, hubert: Path, num_units: int = 50,
                   seed: int = 0) -> list[Path]:
    """Stand-ins in the released checkpoints' layout: the extended tokenizer (PUA units, ChatML
    for the instruction-tuned ones) and an extended Llama; SpireKMeans a scikit-learn k-means
    (``kmeans_model``) over the HuBERT stand-in's feature width."""
    import joblib
    from sklearn.cluster import KMeans
    from transformers import AutoConfig, AutoModelForCausalLM
    from spire.io import atomic_path
    from spire.model_ext import extend_model
    from spire.tokenizer_ext import extend_tokenizer

    outs = []
    for hub_id in SPIRE_RELEASED:
        instruct = hub_id != "utter-project/SpireBase"
        out = model_dir(root, hub_id)
        with atomic_path(out) as dst:
            tok = extend_tokenizer(towerbase, dst, num_units, instruct=instruct)
            model = AutoModelForCausalLM.from_pretrained(str(towerbase))
            model = extend_model(model, len(tok), init="mean", seed=seed)
            model.save_pretrained(str(dst))
        outs.append(out)
    dim = AutoConfig.from_pretrained(str(hubert)).hidden_size
    rng = np.random.default_rng(seed)
    km = KMeans(n_clusters=num_units, n_init=1, random_state=seed).fit(
        rng.standard_normal((num_units * 4, dim)).astype(np.float32))
    with atomic_path(model_dir(root, SPIRE_KMEANS)) as dst:
        dst.mkdir(parents=True)
        joblib.dump(km, dst / "kmeans_model")
    outs.append(model_dir(root, SPIRE_KMEANS))
    return outs


# --------------------------------------------------------------- the audio baselines
def build_whisper(folder: Path) -> Path:
    """A tiny random WhisperForConditionalGeneration + processor (byte-level BPE, Whisper specials,
    the generation config that ``generate(language=..., task=...)`` needs)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizer)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["the cat sat on the mat"] * 10, trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.model.save(str(folder))
    eot = "<|endoftext|>"
    specials = ["<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    tok = WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token=eot,
                           bos_token=eot, eos_token=eot, pad_token=eot)
    tok.add_special_tokens({"additional_special_tokens": specials})
    ids = {t: tok.convert_tokens_to_ids(t) for t in [eot, *specials]}
    cfg = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, d_model=16,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500,
                        max_target_positions=300, pad_token_id=ids[eot], bos_token_id=ids[eot],
                        eos_token_id=ids[eot], decoder_start_token_id=ids["<|startoftranscript|>"],
                        begin_suppress_tokens=None, suppress_tokens=None)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[eot],
        pad_token_id=ids[eot], bos_token_id=ids[eot], max_length=300, is_multilingual=True,
        lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"])
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(folder)
    return folder


def build_seamless(folder: Path) -> Path:
    """A tiny random SeamlessM4Tv2Model + processor (SentencePiece) whose text decoder knows
    English and the paper's nine target languages, as the real one does."""
    import sentencepiece as spm
    import torch
    from transformers import (GenerationConfig, SeamlessM4TFeatureExtractor, SeamlessM4TProcessor,
                              SeamlessM4TTokenizer, SeamlessM4Tv2Config, SeamlessM4Tv2Model)

    from spire.audio_models import SEAMLESS_LANGS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.txt").write_text("\n".join(["the cat sat on the mat", "der Hund lief"] * 50))
    spm.SentencePieceTrainer.train(input=str(folder / "text.txt"), model_prefix=str(folder / "spm"),
                                   vocab_size=20, model_type="unigram", character_coverage=1.0,
                                   minloglevel=2)
    langs = [f"__{code}__" for code in SEAMLESS_LANGS.values()]
    tok = SeamlessM4TTokenizer(str(folder / "spm.model"), additional_special_tokens=langs,
                               src_lang="eng", tgt_lang="eng")
    small = dict(hidden_size=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                 speech_encoder_layers=1, speech_encoder_attention_heads=2,
                 speech_encoder_intermediate_size=32, feature_projection_input_dim=160,
                 adaptor_kernel_size=8, adaptor_stride=8, num_adapter_layers=1,
                 t2u_encoder_layers=1, t2u_decoder_layers=1, t2u_encoder_attention_heads=2,
                 t2u_decoder_attention_heads=2, t2u_encoder_ffn_dim=16, t2u_decoder_ffn_dim=16,
                 t2u_vocab_size=20, char_vocab_size=20, unit_embed_dim=8,
                 unit_hifi_gan_vocab_size=10, spkr_embed_dim=4, lang_embed_dim=4,
                 upsample_initial_channel=8, max_position_embeddings=512,
                 speech_encoder_chunk_size=20000, speech_encoder_left_chunk_num=128)
    cfg = SeamlessM4Tv2Config(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              decoder_start_token_id=tok.eos_token_id, **small)
    torch.manual_seed(0)
    # the whole model, as the real checkpoint: ForSpeechToText (ASR, ST) and ForTextToText (MT)
    # each load their part of it
    model = SeamlessM4Tv2Model(cfg)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, max_length=300,
        text_decoder_lang_to_code_id={lang.strip("_"): tok.convert_tokens_to_ids(lang) for lang in langs})
    model.save_pretrained(folder)
    SeamlessM4TProcessor(SeamlessM4TFeatureExtractor(), tok).save_pretrained(folder)
    return folder


def build_hubert_ctc(folder: Path) -> Path:
    """A tiny random HubertForCTC + Wav2Vec2Processor: the layout of hubert-large-ls960-ft
    (layer-norm conv front end, stable layer norm, the 320-sample stride) and its upper-case
    character vocabulary ("|" between words, "<pad>" the CTC blank)."""
    import json

    import torch
    from transformers import (HubertConfig, HubertForCTC, Wav2Vec2CTCTokenizer,
                              Wav2Vec2FeatureExtractor, Wav2Vec2Processor)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAOINSHRDLUCMFWGYPBVKXJQZ'"]
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tok = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=True)
    cfg = HubertConfig(vocab_size=len(chars), pad_token_id=0, hidden_size=16, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=32, conv_dim=(8,) * 7,
                       feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                       num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                       ctc_loss_reduction="mean", architectures=["HubertForCTC"])
    torch.manual_seed(0)
    HubertForCTC(cfg).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tok).save_pretrained(folder)
    return folder


def build_models(root: str | os.PathLike, seed: int = 0, released: bool = True) -> list[str]:
    root = Path(root)
    built = []
    tb = build_towerbase(model_dir(root, TOWERBASE), seed)
    built.append(TOWERBASE)
    for chat_id in (TOWERINSTRUCT, EUROLLM):  # both LlamaForCausalLM with a ChatML template
        build_towerinstruct(tb, model_dir(root, chat_id))
        built.append(chat_id)
    build_mistral_chat(model_dir(root, TOWERINSTRUCT), model_dir(root, TOWERINSTRUCT_MISTRAL))
    built.append(TOWERINSTRUCT_MISTRAL)
    build_gemma2_chat(model_dir(root, TOWERPLUS), seed)
    built.append(TOWERPLUS)
    hub = build_hubert(model_dir(root, HUBERT), seed)
    built.append(HUBERT)
    for enc_id in (XLMR, "FacebookAI/" + XLMR, INFOXLM):  # xlm-roberta-large's old and new hub ids
        build_xlmr(model_dir(root, enc_id), seed)
        built.append(enc_id)
    build_comet(model_dir(root, COMET), model_dir(root, XLMR), "xlm-roberta-large", qe=False, seed=seed)
    build_comet(model_dir(root, COMETKIWI), model_dir(root, INFOXLM), INFOXLM, qe=True, seed=seed)
    built += [COMET, COMETKIWI]
    build_whisper(model_dir(root, WHISPER))
    build_seamless(model_dir(root, SEAMLESS))
    build_hubert_ctc(model_dir(root, HUBERT_CTC))
    built += [WHISPER, SEAMLESS, HUBERT_CTC]
    if released:
        build_released(root, tb, hub, seed=seed)
        built += list(SPIRE_RELEASED) + [SPIRE_KMEANS]
    return built


# ------------------------------------------------------------------ sacreBLEU's own files
WMT23_PAIRS = ("en-de", "de-en", "en-ru", "ru-en", "en-zh", "zh-en")  # docs/paper.md §5


def _wmt_xml(pair: str, seed: int) -> bytes:
    """A WMT21+ test-set XML (what sacreBLEU's WMTXMLDataset parses): one document of N_ROWS
    segments, the source and the reference of translator refA (sacreBLEU's default for WMT23), in the languages' scripts."""
    import xml.etree.ElementTree as ET

    src_lang, tgt_lang = pair.split("-")
    en = english_sentences(N_ROWS, seed=hash_seed(f"{seed}-wmt23-{pair}"))
    side = lambda lang: en if lang == "en" else [standin_translation(s, lang) for s in en]  # noqa: E731
    root = ET.Element("dataset", id="wmttest2023")
    doc = ET.SubElement(ET.SubElement(root, "collection", id="general"), "doc",
                        id=f"standin-{pair}", origlang=src_lang, domain="news")
    for tag, lang, lines in (("src", src_lang, side(src_lang)), ("ref", tgt_lang, side(tgt_lang))):
        el = ET.SubElement(doc, tag, lang=lang, **({"translator": "refA"} if tag == "ref" else {}))
        par = ET.SubElement(el, "p")
        for i, line in enumerate(lines, 1):
            ET.SubElement(par, "seg", id=str(i)).text = line
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def build_sacrebleu(root: str | os.PathLike, seed: int = 0) -> list[str]:
    """``MIRROR/sacrebleu`` in sacreBLEU's own cache layout (what ``SACREBLEU=MIRROR/sacrebleu
    sacrebleu -t wmt23 ...`` and the flores200 tokenizer would download): the WMT23 release tarball
    (its name; sacreBLEU checks MD5 only on download) with the six pairs' XML extracted beside it,
    and a SentencePiece model at the flores200 tokenizer's file name, trained here on the
    stand-in text of every language."""
    import tarfile

    import sentencepiece as spm
    from sacrebleu.dataset import DATASETS
    from sacrebleu.tokenizers.tokenizer_spm import SPM_MODELS

    from spire.io import atomic_path

    out = Path(root) / "sacrebleu"
    wmt = DATASETS["wmt23"]
    raw = out / "wmt23" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    tarball = raw / wmt._get_tarball_filename(wmt.data[0])  # sacreBLEU's name: wmt23.v.0.1.tar.gz
    with atomic_path(tarball) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for pair in WMT23_PAIRS:
            rel = wmt.langpairs[pair][0]
            data = _wmt_xml(pair, seed)
            (raw / rel).parent.mkdir(parents=True, exist_ok=True)
            (raw / rel).write_bytes(data)
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    spm_file = out / "models" / os.path.basename(SPM_MODELS["flores200"]["url"])
    spm_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spire_flores200_") as tmp:
        text = Path(tmp) / "text.txt"
        en = english_sentences(200, seed=hash_seed(f"{seed}-flores200spm"))
        text.write_text("\n".join(en + [standin_translation(s, lang) for lang in TARGET_LANGS
                                        for s in en]) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(Path(tmp) / "spm"),
                                       vocab_size=500, model_type="unigram", character_coverage=1.0,
                                       hard_vocab_limit=False, minloglevel=2, num_threads=1)
        with atomic_path(spm_file) as dst:
            shutil.copyfile(Path(tmp) / "spm.model", dst)
    return [f"wmt23/{p}" for p in WMT23_PAIRS] + ["flores200 spm"]


TOWEREVAL_RAW = "towereval"  # MIRROR/raw/<this>: TowerEval-Data-v0.1's archive (paper.tconf fetch_configs)


def build_towereval(root: str | os.PathLike, seed: int = 0) -> list[str]:
    """Table 8's test sets as TowerEval-Data-v0.1's extracted archive lays them out
    (``data/raw_data/<task>/<subtask>/test.jsonl``, spire/tower_tasks.py): APE rows (``src``,
    ``mt`` a damaged translation, ``ref``) for its six WMT23 pairs, NER rows (``input`` tokens,
    ``answer`` tuples of the six types) for its seven languages; marked as fetched."""
    import json

    from spire import mirror, tower_tasks
    from spire.io import write_json, write_lines

    top = Path(root) / "raw" / TOWEREVAL_RAW
    base = top / "data" / "raw_data"
    side = lambda lang, en: en if lang == "en" else [standin_translation(x, lang) for x in en]  # noqa: E731
    done = []
    for pair in tower_tasks.APE_PAIRS:
        src_lang, tgt_lang = pair.split("-")
        en = english_sentences(N_ROWS, seed=hash_seed(f"{seed}-ape-{pair}"))
        src, ref = side(src_lang, en), side(tgt_lang, en)
        mt = [" ".join(r.split()[:-1]) if i % 2 else r for i, r in enumerate(ref)]  # half need an edit
        sub = tower_tasks.subtask_name("ape", pair)
        write_lines(base / "ape" / sub / "test.jsonl", (json.dumps({"src": a, "mt": b, "ref": c}, ensure_ascii=False)
                                                        for a, b, c in zip(src, mt, ref)))
        done.append(f"ape/{sub}")
    types = list(tower_tasks.NER_TYPES)
    for lang in tower_tasks.NER_LANGS:
        rows = []
        for i, sentence in enumerate(side(lang, english_sentences(N_ROWS, seed=hash_seed(f"{seed}-ner-{lang}")))):
            tokens = sentence.split()
            kind = types[i % len(types)]
            tags = [f"B-{kind}"] + [f"I-{kind}" if len(tokens) > 2 and j == 1 else "O" for j in range(1, len(tokens))]
            answer = "[" + ", ".join(f'("{t}", "{g}")' for t, g in zip(tokens, tags)) + "]"
            rows.append(json.dumps({"input": tokens, "answer": answer}, ensure_ascii=False))
        sub = tower_tasks.subtask_name("ner", lang)
        write_lines(base / "ner" / sub / "test.jsonl", rows)
        done.append(f"ner/{sub}")
    write_json(top / mirror.FETCH_INFO, {"url": "stand-in (spire/standins.py)"})
    return done


def build_mirror(root: str | os.PathLike, seed: int = 0, released: bool = True) -> dict:
    """Every stand-in into ``root``; returns what was written and how long it took."""
    t0 = time.time()
    counts = build_datasets(root, seed)
    counts.update({f"sacrebleu/{name}": N_ROWS for name in build_sacrebleu(root, seed)})
    counts.update({f"towereval/{name}": N_ROWS for name in build_towereval(root, seed)})
    t1 = time.time()
    models = build_models(root, seed, released=released)
    t2 = time.time()
    return {"datasets": counts, "models": models,
            "seconds": {"datasets": round(t1 - t0, 1), "models": round(t2 - t1, 1)}}


# ------------------------------------------------------------------- the one private input
def build_cpt_text(out: str | os.PathLike, langs=TARGET_LANGS, n: int = 40, seed: int = 0) -> Path:
    """A stand-in for Tower's CPT text (not public; the user's uservars `cpt_text_dir`): per
    language pair ``text.en-<lang>.en`` / ``text.en-<lang>.<lang>`` (line-aligned) and monolingual
    ``mono.<lang>`` for English and every target language."""
    from spire.io import atomic_path, write_lines

    with atomic_path(out) as dst:
        dst.mkdir(parents=True)
        for lang in langs:
            en = english_sentences(n, seed=hash_seed(f"{seed}-cpt-{lang}"))
            write_lines(dst / f"text.en-{lang}.en", en)
            write_lines(dst / f"text.en-{lang}.{lang}", [standin_translation(s, lang) for s in en])
        for lang in ("en",) + tuple(langs):
            mono = english_sentences(n, seed=hash_seed(f"{seed}-mono-{lang}"))
            write_lines(dst / f"mono.{lang}", mono if lang == "en" else
                        [standin_translation(s, lang) for s in mono])
    return Path(out)
