"""The miniature speech corpus: grammar sentences spoken by espeak-ng with many voices.

``synthesize_corpus(out, n_train, n_dev, n_test, seed)`` writes, for each split::

    out/{split}.jsonl   manifest: {"id", "audio", "text", "duration", "voice", "rate", "pitch"}
                        ("audio" is relative to out/, e.g. "wavs/train/train-00000.wav")
    out/{split}.txt     transcripts, one per line, in manifest order
    out/{split}.yaml    dataset config for spire.audio_data (path: {split}.jsonl)
    out/wavs/{split}/*.wav   16 kHz mono 16-bit PCM

Voices: 8 English accents × 10 espeak-ng variants (80 voices), speed 130–190 words/min, pitch
30–70, drawn per utterance from ``random.Random(seed)``. espeak-ng writes with ``-w`` (its
``--stdout`` header has a bogus length) at 22.05 kHz; soxr resamples to 16 kHz. Many espeak-ng
processes run in parallel (it is single-threaded and ~15 ms per sentence).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from spire.audio import SAMPLE_RATE, resample, to_mono
from spire.log import get_logger
from spire.mini.grammar import make_splits

log = get_logger(__name__)
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4"]
VOICES = [f"{a}+{v}" for a in ACCENTS for v in VARIANTS]
RATE_RANGE, PITCH_RANGE = (130, 190), (30, 70)


def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng not found on PATH: install it with "
                                "`apt-get install -y espeak-ng` (or `make deps`)")
    return exe


def synthesize(text: str, voice: str, rate: int, pitch: int, out_wav: str | os.PathLike,
               exe: str | None = None) -> float:
    """Speak ``text`` into a 16 kHz mono 16-bit WAV; return its duration in seconds."""
    exe = exe or espeak_binary()
    with tempfile.NamedTemporaryFile(suffix=".wav", dir=Path(out_wav).parent) as tmp:
        proc = subprocess.run([exe, "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", tmp.name,
                               "--", text], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed for voice {voice} on {text!r}: {proc.stderr.strip()}")
        x, sr = sf.read(tmp.name, dtype="float32")
    y = resample(to_mono(x), sr, SAMPLE_RATE)
    sf.write(str(out_wav), np.clip(y, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return len(y) / SAMPLE_RATE


def utterance_plan(texts: list[str], split: str, seed: int) -> list[dict]:
    """Voice, rate and pitch of each utterance, deterministic given the seed and split."""
    rng = random.Random(f"{seed}-{split}")
    return [{"id": f"{split}-{i:05d}", "text": t, "voice": rng.choice(VOICES),
             "rate": rng.randint(*RATE_RANGE), "pitch": rng.randint(*PITCH_RANGE)}
            for i, t in enumerate(texts)]


def synthesize_corpus(out_dir: str | os.PathLike, n_train: int, n_dev: int, n_test: int,
                      seed: int = 0, jobs: int | None = None) -> dict[str, float]:
    """Write the whole corpus atomically into ``out_dir``; return seconds of audio per split."""
    from tqdm import tqdm

    from spire.io import atomic_path, write_jsonl, write_lines
    from spire.log import log_wrote

    exe = espeak_binary()
    jobs = jobs or max(1, os.cpu_count() or 1)
    splits = dict(zip(("train", "dev", "test"), make_splits(n_train, n_dev, n_test, seed)))
    seconds: dict[str, float] = {}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for split, texts in splits.items():
            plan = utterance_plan(texts, split, seed)
            wav_dir = tmp / "wavs" / split
            wav_dir.mkdir(parents=True)

            def work(row: dict) -> float:
                return synthesize(row["text"], row["voice"], row["rate"], row["pitch"],
                                  wav_dir / f"{row['id']}.wav", exe)

            with ThreadPoolExecutor(jobs) as pool:
                durations = list(tqdm(pool.map(work, plan), total=len(plan), desc=f"espeak {split}",
                                      unit="utt", disable=not plan))
            for row, dur in zip(plan, durations):
                row["audio"] = f"wavs/{split}/{row['id']}.wav"
                row["duration"] = round(dur, 4)
            rows = [{k: r[k] for k in ("id", "audio", "text", "duration", "voice", "rate", "pitch")}
                    for r in plan]
            write_jsonl(tmp / f"{split}.jsonl", rows)
            write_lines(tmp / f"{split}.txt", texts)
            (tmp / f"{split}.yaml").write_text(
                f"path: {split}.jsonl\naudio_column: audio\ntext_column: text\nid_column: id\n")
            seconds[split] = float(sum(durations))
    for split, secs in seconds.items():
        log_wrote(log, f"{split} corpus", Path(out_dir) / f"{split}.jsonl",
                  f"{len(splits[split])} utterances, {secs / 3600:.2f} h")
    return seconds
