"""k-means over encoder frames: load a saved model, stream features, train with MiniBatchKMeans.

Training follows spire.md §1 and fairseq's ``learn_kmeans.py``: scikit-learn ``MiniBatchKMeans``
with k-means++ init, large batches (20 000 frames) and reassignment ratio 0.01, fed with
``partial_fit`` so that features stream from disk and never need to fit in memory (unless several
epochs are asked for). Inertia per frame on held-out utterances is logged after every batch.
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from spire.audio import SAMPLE_RATE, load_audio
from spire.audio_data import AudioDataset, batches_by_seconds
from spire.log import get_logger

log = get_logger(__name__)


KMEANS_FILE_NAMES = ("kmeans_model", "kmeans.joblib", "kmeans_model.joblib", "kmeans.pkl")


def kmeans_file(path: str | os.PathLike) -> Path:
    """The k-means file behind ``path``: the file itself; in a directory (a hub snapshot such as
    utter-project/SpireKMeans, whose file is ``kmeans_model``) its one model file; a hub id is
    looked up in the mirror (``$SPIRE_MIRROR/models/<id>/``), else downloaded from the hub."""
    from spire.encoders import mirrored_model

    p = Path(mirrored_model(str(path)))
    if not p.exists() and str(path).count("/") == 1 and not str(path).startswith((".", "/")):
        from huggingface_hub import snapshot_download

        p = Path(snapshot_download(repo_id=str(path)))
    if p.is_dir():
        named = [p / n for n in KMEANS_FILE_NAMES if (p / n).is_file()]
        files = named or [f for f in sorted(p.iterdir()) if f.is_file() and not f.name.startswith(".")
                          and f.suffix.lower() not in (".md", ".txt", ".json", ".gitattributes")]
        if len(files) != 1:
            raise FileNotFoundError(f"k-means model {p}: directory must hold one model file (one of "
                                    f"{list(KMEANS_FILE_NAMES)}), found {[f.name for f in files]}")
        return files[0]
    if not p.is_file():
        raise FileNotFoundError(f"k-means model {path}: no such file")
    return p


def load_kmeans(path: str | os.PathLike):
    """A scikit-learn k-means estimator saved with joblib (anything with ``cluster_centers_``):
    a file, a directory holding one, or a hub id (see ``kmeans_file``)."""
    import joblib

    path = kmeans_file(path)
    try:
        km = joblib.load(path)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a k-means file"
        raise ValueError(f"k-means model {path}: not a joblib-saved estimator ({type(e).__name__}: {e})") from None
    centers = getattr(km, "cluster_centers_", None)
    if centers is None or np.ndim(centers) != 2:
        raise ValueError(f"k-means model {path}: {type(km).__name__} has no 2-D cluster_centers_ "
                         "(is it a fitted scikit-learn KMeans/MiniBatchKMeans?)")
    return km


def save_kmeans(km, path: str | os.PathLike) -> None:
    import joblib

    from spire.io import atomic_path

    with atomic_path(path) as tmp:
        joblib.dump(km, tmp)


# ----------------------------------------------------------------------------- feature stream
def sample_records(datasets: Sequence[AudioDataset], weights: Sequence[float],
                   max_seconds: float | None, seed: int = 0) -> Iterator[tuple[int, object]]:
    """Interleave shuffled rows of several datasets so each gets ``weight`` share of the seconds.

    Yields ``(dataset_index, record)``; at each step the dataset furthest behind its share is
    drawn from. Durations come from the manifest when present, else they are counted as the
    audio is decoded (the caller reports them back through ``send``-free accounting below).
    """
    rng = random.Random(seed)
    total_w = float(sum(weights))
    quotas = [None if max_seconds is None else max_seconds * w / total_w for w in weights]
    orders = []
    for ds in datasets:
        order = list(range(len(ds)))
        rng.shuffle(order)
        orders.append(order)
    pos = [0] * len(datasets)
    used = [0.0] * len(datasets)
    while True:
        live = [d for d in range(len(datasets)) if pos[d] < len(orders[d])
                and (quotas[d] is None or used[d] < quotas[d])]
        if not live:
            return
        d = min(live, key=lambda k: used[k] / (weights[k] / total_w))
        rec = datasets[d].records(orders[d][pos[d]], orders[d][pos[d]] + 1)[0]
        pos[d] += 1
        secs = yield d, rec
        used[d] += secs if secs is not None else (rec.duration or 0.0)


def iter_feature_windows(encoder, datasets: Sequence[AudioDataset], weights: Sequence[float],
                         max_seconds: float | None, seed: int = 0, window_seconds: float = 200.0,
                         progress=None) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(frames, seconds)``: float32 encoder features of about ``window_seconds`` of audio
    at a time, sampled from the datasets by weight, batched by seconds."""
    gen = sample_records(datasets, weights, max_seconds, seed)
    waves: list[np.ndarray] = []
    secs = 0.0
    try:
        _, rec = next(gen)
        while True:
            x = load_audio(rec.audio)
            dur = 0.0 if x is None else len(x) / SAMPLE_RATE
            if x is not None:
                waves.append(x)
                secs += dur
            if progress is not None:
                progress.update(dur)
            if secs >= window_seconds:
                yield _window_features(encoder, waves, window_seconds), secs
                waves, secs = [], 0.0
            _, rec = gen.send(dur)
    except StopIteration:
        pass
    if waves:
        yield _window_features(encoder, waves, window_seconds), secs


def _window_features(encoder, waves: list[np.ndarray], batch_seconds: float) -> np.ndarray:
    import torch

    feats = []
    for batch in batches_by_seconds([len(w) / SAMPLE_RATE for w in waves], batch_seconds):
        feats.extend(encoder.features([waves[i] for i in batch]))
    return torch.cat(feats).float().cpu().numpy()


# ---------------------------------------------------------------------------------- training
@dataclass
class KMeansHistory:
    heldout_inertia: list[float] = field(default_factory=list)  # per frame, after each batch
    frames_seen: list[int] = field(default_factory=list)
    stopped_early: bool = False


def heldout_inertia(km, frames: np.ndarray) -> float:
    """Mean squared distance of held-out frames to their nearest centre."""
    return float(-km.score(frames) / len(frames))


def train_kmeans(frame_windows: Iterable[np.ndarray], n_clusters: int, heldout: np.ndarray,
                 batch_frames: int = 20000, seed: int = 0, reassignment_ratio: float = 0.01,
                 epochs: int = 1, patience: int | None = None, tol: float = 1e-4,
                 init_model=None) -> tuple[object, KMeansHistory]:
    """Fit ``MiniBatchKMeans`` by ``partial_fit`` on shuffled batches of ``batch_frames`` frames.

    ``frame_windows`` yields (N, D) float32 arrays; they are shuffled within a buffer of a few
    batches (consecutive frames of one utterance are highly correlated). With ``epochs > 1`` the
    frames are kept in memory and reshuffled each epoch. ``patience``: stop after that many
    held-out evaluations without a relative improvement of ``tol``.
    """
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(seed)
    km = init_model if init_model is not None else MiniBatchKMeans(
        n_clusters=n_clusters, init="k-means++", batch_size=batch_frames, n_init=1,
        reassignment_ratio=reassignment_ratio, random_state=seed, compute_labels=False,
        max_no_improvement=None)
    hist = KMeansHistory()
    best, bad = math.inf, 0
    fitted = init_model is not None
    seen = 0
    kept: list[np.ndarray] = [] if epochs > 1 else None  # type: ignore[assignment]
    buffer: list[np.ndarray] = []
    buffered = 0

    def fit(batch: np.ndarray) -> bool:
        nonlocal fitted, seen, best, bad
        if not fitted and len(batch) < n_clusters:
            raise ValueError(f"only {len(batch)} frames for {n_clusters} clusters: give more audio "
                             "(--max-hours) or fewer clusters (--n-clusters)")
        km.partial_fit(batch)
        fitted, seen = True, seen + len(batch)
        inertia = heldout_inertia(km, heldout)
        hist.heldout_inertia.append(inertia)
        hist.frames_seen.append(seen)
        log.info("k-means: %d frames seen, held-out inertia per frame %.4f", seen, inertia)
        if inertia < best * (1 - tol):
            best, bad = inertia, 0
        else:
            bad += 1
        if patience is not None and bad >= patience:
            log.info("k-means: no held-out improvement in %d evaluations: stopping early", patience)
            hist.stopped_early = True
            return False
        return True

    def drain(final: bool) -> bool:
        nonlocal buffer, buffered
        if not buffer:
            return True
        data = np.concatenate(buffer)
        data = data[rng.permutation(len(data))]
        n_full = len(data) // batch_frames
        for b in range(n_full):
            if not fit(data[b * batch_frames:(b + 1) * batch_frames]):
                return False
        rest = data[n_full * batch_frames:]
        buffer, buffered = ([rest], len(rest)) if len(rest) else ([], 0)
        if final and len(rest) and (fitted or len(rest) >= n_clusters):
            buffer, buffered = [], 0
            return fit(rest)
        if final and len(rest) and not fitted:
            raise ValueError(f"only {len(rest)} frames for {n_clusters} clusters: give more audio "
                             "(--max-hours) or fewer clusters (--n-clusters)")
        return True

    go = True
    for window in frame_windows:
        if kept is not None:
            kept.append(window)
        buffer.append(window)
        buffered += len(window)
        if buffered >= 4 * batch_frames and not (go := drain(final=False)):
            break
    if go:
        go = drain(final=True)
    for _ in range(1, epochs if go else 1):
        buffer, buffered = list(kept), sum(len(k) for k in kept)
        if not drain(final=True):
            break
    if not fitted:
        raise ValueError("no training frames: the datasets gave no readable audio")
    return km, hist


def split_heldout(windows: Iterator[tuple[np.ndarray, float]], heldout_seconds: float,
                  frame_rate: float) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """Set the first ``heldout_seconds`` of a feature stream aside (never trained on); return
    those frames and an iterator over the remaining frames (the rest of the window included)."""
    want = max(1, int(heldout_seconds * frame_rate))
    held: list[np.ndarray] = []
    n = 0
    rest = None
    for frames, _ in windows:
        take = frames[: want - n]
        held.append(take)
        n += len(take)
        if n >= want:
            rest = frames[len(take):]
            break
    if not n:
        raise ValueError("no audio for held-out frames: the datasets gave no readable audio")

    def remaining() -> Iterator[np.ndarray]:
        if rest is not None and len(rest):
            yield rest
        for frames, _ in windows:
            yield frames

    return np.concatenate(held), remaining()
