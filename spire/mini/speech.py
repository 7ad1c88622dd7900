"""The miniature speech corpus: grammar sentences spoken by espeak-ng with many voices.

``synthesize_corpus(out, n_train, n_dev, n_test, seed)`` writes, for each split::

    out/{split}.jsonl   manifest: {"id", "audio", "text", "duration", "voice", "rate", "pitch"}
                        ("audio" is relative to out/, e.g. "wavs/train/train-00000.wav")
    out/{split}.txt     transcripts, one per line, in manifest order
    out/{split}.yaml    dataset config for spire.audio_data (path: {split}.jsonl)
    out/wavs/{split}/*.wav   16 kHz mono 16-bit PCM

Voices: 8 English accents × 10 espeak-ng variants (80 voices), speed 130–190 words/min, pitch
30–70, drawn per utterance from ``random.Random(seed)``. Speech comes from the espeak-ng C library
(libespeak-ng, installed with the ``espeak-ng`` package) called through ctypes, one library
instance per worker process (a fresh process per block of utterances, so the audio is the same in
every run): starting the ``espeak-ng`` program costs ~40 ms per sentence, more than the ~10 ms of
synthesis itself, and its ``--stdout`` WAV header has a bogus length anyway.
espeak-ng speaks at 22.05 kHz; soxr resamples to 16 kHz.
"""
from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from spire.audio import SAMPLE_RATE, resample
from spire.log import get_logger
from spire.mini.grammar import make_splits

log = get_logger(__name__)
ACCENTS = ["en-us", "en",  # "en" is the en-gb voice (the library does not resolve "en-gb")
           "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4"]
VOICES = [f"{a}+{v}" for a in ACCENTS for v in VARIANTS]
RATE_RANGE, PITCH_RANGE = (130, 190), (30, 70)


def _load_library():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError:
        raise FileNotFoundError("libespeak-ng not found: install it with `apt-get install -y espeak-ng` "
                                "(the Makefile's deps target does)") from None


def _event_struct():
    """``espeak_EVENT`` of speak_lib.h (espeak-ng 1.49-1.52): six ints, a pointer, an 8-byte union
    (``id.string`` holds a phoneme's mnemonic)."""
    import ctypes

    class Event(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                    ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                    ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                    ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]
    return Event


class _Espeak:
    """libespeak-ng in synchronous mode: text in, int16 samples out (one per process; the library
    keeps global state and is not thread-safe). With ``phoneme_events`` it also reports each
    phoneme's start (``self.phonemes``: (milliseconds, mnemonic) pairs, in order), which the
    miniature's phonetic encoder learns from (spire/mini/phonetic.py)."""

    AUDIO_OUTPUT_SYNCHRONOUS, POS_CHARACTER, RATE, PITCH = 2, 1, 1, 3
    INITIALIZE_PHONEME_EVENTS, EVENT_LIST_TERMINATED, EVENT_PHONEME = 0x0001, 0, 7

    def __init__(self, phoneme_events: bool = False):
        import ctypes

        self.lib = _load_library()
        self.phoneme_events = phoneme_events
        options = self.INITIALIZE_PHONEME_EVENTS if phoneme_events else 0
        self.sample_rate = self.lib.espeak_Initialize(self.AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed (espeak-ng-data missing?)")
        self._chunks: list[np.ndarray] = []
        self.phonemes: list[tuple[int, str]] = []
        event = _event_struct()
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                 ctypes.POINTER(event))

        def collect(wav, n, events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while events and events[i].type != self.EVENT_LIST_TERMINATED:
                if events[i].type == self.EVENT_PHONEME:
                    self.phonemes.append((events[i].audio_position, events[i].id.decode("latin-1")))
                i += 1
            return 0

        self._callback = proto(collect)  # keep a reference: the library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(self.RATE, int(rate), 0)
        self.lib.espeak_SetParameter(self.PITCH, int(pitch), 0)
        self._chunks, self.phonemes = [], []
        data = text.encode("utf-8")
        if self.lib.espeak_Synth(data, len(data) + 1, 0, self.POS_CHARACTER, 0, 0, None, None) != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r} with voice {voice}")
        self.lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)


_ENGINE: _Espeak | None = None
# spoken once by each new engine: a process's first utterance depends on its memory layout (it
# differed between runs with address-space randomisation on, never with it off); after one
# utterance the engine's state, and so everything it speaks next, is the same in every process
_WARM_UP = ("the engine warms up", "en-us", 160, 50)
# utterances spoken in fixed blocks, each by a fresh process: espeak-ng 1.51 carries state from one
# utterance to the next (the same sentence spoken twice in a row differs sample for sample), so an
# utterance's audio is a function of the block it is spoken in, not of which worker took it
BLOCK = 128


def _engine(phoneme_events: bool = False) -> _Espeak:
    """This process's espeak-ng. The library is one global state (its options and callback), so
    asking for the other mode re-initialises it rather than keeping two engines that would steal
    each other's callback."""
    global _ENGINE
    if _ENGINE is None or _ENGINE.phoneme_events != phoneme_events:
        _ENGINE = _Espeak(phoneme_events)
        _ENGINE.speak(*_WARM_UP)
        _reseed_noise(_ENGINE.lib)
    return _ENGINE


def _reseed_noise(lib) -> None:
    """Put espeak-ng's noise generator at a fixed start, after the warm-up.

    The breath noise of the variants that have one (``f2``, ``f3``) is random. espeak-ng 1.51 draws
    it from the C library's ``rand()`` (wavegen.c, ``ApplyBreath``), a generator shared by the
    whole process and never seeded by the library, so any other draw in the process before the
    engine speaks shifts every breathy utterance after it: one demo's first block of 128 differed
    from other runs' in exactly its 26 ``f2`` / ``f3`` utterances (docs/miniature.md, "Eleventh
    look"). Seed 1 is what a fresh process starts with, so undisturbed runs speak as before, byte
    for byte. espeak-ng 1.52 has a generator of its own, seeded from the clock at initialisation
    (``espeak_ng_SetRandSeed`` sets it), which would make those voices differ in every run."""
    import ctypes

    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
    else:
        # the process's own symbols: the C library that libespeak-ng links to (find_library would
        # start a subprocess in every new worker)
        ctypes.CDLL(None).srand(1)


def _speak_block(args: tuple) -> list:
    fn, rows = args
    return [fn(*row) for row in rows]


def _speak_all(fn, work: list[tuple], jobs: int | None, desc: str) -> list:
    """``[fn(*row) for row in work]`` in ``jobs`` processes (default: one per CPU), reproducibly:
    rows go out in blocks of :data:`BLOCK`, each block to a fresh process (``maxtasksperchild=1``),
    so the result does not depend on the number of jobs or on which worker was free."""
    from tqdm import tqdm

    blocks = [(fn, work[i:i + BLOCK]) for i in range(0, len(work), BLOCK)]
    # no more processes than blocks: each spawned worker costs an interpreter start
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(blocks)))
    out: list = []
    # spawn, not fork: the caller may hold threads (torch) and libespeak-ng global state
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool, \
            tqdm(total=len(work), desc=desc, unit="utt", disable=not work) as bar:
        for result in pool.imap(_speak_block, blocks):
            out.extend(result)
            bar.update(len(result))
    return out


def synthesize(text: str, voice: str, rate: int, pitch: int, out_wav: str | os.PathLike) -> float:
    """Speak ``text`` into a 16 kHz mono 16-bit WAV; return its duration in seconds."""
    engine = _engine()
    x = engine.speak(text, voice, rate, pitch).astype(np.float32) / 32768.0
    y = resample(x, engine.sample_rate, SAMPLE_RATE)
    sf.write(str(out_wav), np.clip(y, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return len(y) / SAMPLE_RATE


def synthesize_aligned(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Speak ``text`` (16 kHz float32 samples) with espeak-ng's phoneme timings: (start in
    seconds, mnemonic) for each phoneme, pauses included (``_``, ``_:``)."""
    engine = _engine(phoneme_events=True)
    x = engine.speak(text, voice, rate, pitch).astype(np.float32) / 32768.0
    return resample(x, engine.sample_rate, SAMPLE_RATE), [(ms / 1000.0, name) for ms, name in engine.phonemes]


def synthesize_aligned_corpus(texts: list[str], seed: int, jobs: int | None = None) -> list[tuple]:
    """Speak every text with a voice, rate and pitch drawn as the corpus draws them
    (:func:`utterance_plan`), in ``jobs`` processes; (samples, phoneme timings) per text, in order."""
    _load_library()
    plan = utterance_plan(texts, "aligned", seed)
    work = [(r["text"], r["voice"], r["rate"], r["pitch"]) for r in plan]
    return _speak_all(synthesize_aligned, work, jobs, "espeak (aligned)")


def utterance_plan(texts: list[str], split: str, seed: int) -> list[dict]:
    """Voice, rate and pitch of each utterance, deterministic given the seed and split."""
    rng = random.Random(f"{seed}-{split}")
    return [{"id": f"{split}-{i:05d}", "text": t, "voice": rng.choice(VOICES),
             "rate": rng.randint(*RATE_RANGE), "pitch": rng.randint(*PITCH_RANGE)}
            for i, t in enumerate(texts)]


def synthesize_corpus(out_dir: str | os.PathLike, n_train: int, n_dev: int, n_test: int,
                      seed: int = 0, jobs: int | None = None,
                      splits: dict[str, list[str]] | None = None) -> dict[str, float]:
    """Write the whole corpus atomically into ``out_dir``; return seconds of audio per split.

    ``splits`` ({"train": [...], "dev": [...], "test": [...]}) gives the sentences to speak;
    by default they are drawn from the grammar with :func:`make_splits` (n_*, seed)."""
    from spire.io import atomic_path, write_jsonl, write_lines
    from spire.log import log_wrote

    _load_library()  # fail early, with a clear message, if espeak-ng is not installed
    if splits is None:
        splits = dict(zip(("train", "dev", "test"), make_splits(n_train, n_dev, n_test, seed)))
    seconds: dict[str, float] = {}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for split, texts in splits.items():
            plan = utterance_plan(texts, split, seed)
            wav_dir = tmp / "wavs" / split
            wav_dir.mkdir(parents=True)

            work = [(r["text"], r["voice"], r["rate"], r["pitch"], wav_dir / f"{r['id']}.wav") for r in plan]
            durations = _speak_all(synthesize, work, jobs, f"espeak {split}")
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
