"""k-means over encoder frames: load a saved model, stream features, train with MiniBatchKMeans.

Training follows docs/paper.md §1 and fairseq's ``learn_kmeans.py``: scikit-learn ``MiniBatchKMeans``
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
    from spire import mirror

    p = Path(mirror.resolve_model(str(path)))
    if not p.exists() and str(path).count("/") == 1 and not str(path).startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            p = Path(snapshot_download(repo_id=str(path)))
        except LocalEntryNotFoundError:  # offline and not cached: say where it was looked for
            raise FileNotFoundError(
                f"k-means model {path}: not a local file, not in the mirror (${mirror.ENV}/models/{path}) "
                "and not in the hub cache, and the hub is off (HF_HUB_OFFLINE); check the name, or "
                "fetch it into the mirror on a machine with network access") from None
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
                         progress=None, workers: int = 0) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(frames, seconds)``: float32 encoder features of about ``window_seconds`` of audio
    at a time, sampled from the datasets by weight, batched by seconds.

    ``workers > 0`` with one dataset (a KMeansFeatures job): the audio is decoded in that many
    processes ahead of the encoder (``spire.dsus.iter_decoded``), so a GPU does not wait on a serial
    decode; the rows, their order and the features are the same as with ``workers=0``."""
    if workers > 0 and len(datasets) == 1:
        decoded = _decoded_in_order(datasets[0], max_seconds, seed, workers)
    else:
        decoded = _decoded_serially(datasets, weights, max_seconds, seed)
    waves: list[np.ndarray] = []
    secs = 0.0
    for x, dur in decoded:
        if x is not None:
            waves.append(x)
            secs += dur
        if progress is not None:
            progress.update(dur)
        if secs >= window_seconds:
            yield _window_features(encoder, waves, window_seconds), secs
            waves, secs = [], 0.0
    if waves:
        yield _window_features(encoder, waves, window_seconds), secs


def _decoded_serially(datasets, weights, max_seconds, seed) -> Iterator[tuple[np.ndarray | None, float]]:
    """``(waveform or None, seconds)`` of each row ``sample_records`` draws, decoded here."""
    gen = sample_records(datasets, weights, max_seconds, seed)
    try:
        _, rec = next(gen)
        while True:
            x = load_audio(rec.audio)
            dur = 0.0 if x is None else len(x) / SAMPLE_RATE
            yield x, dur
            _, rec = gen.send(dur)
    except StopIteration:
        return


def _decoded_in_order(dataset, max_seconds, seed, workers) -> Iterator[tuple[np.ndarray | None, float]]:
    """What ``_decoded_serially`` gives for one dataset (the same seeded order, the same stop at
    ``max_seconds``), decoded by ``workers`` processes ahead of the caller."""
    from spire.dsus import iter_decoded

    order = list(range(len(dataset)))
    random.Random(seed).shuffle(order)
    used = 0.0
    # one chunk per recording (as load_audio): k-means windows are cut by _window_features
    for chunks in iter_decoded(dataset, order, chunk_seconds=1e9, workers=workers):
        x = None if not chunks else np.concatenate(chunks)
        dur = 0.0 if x is None else len(x) / SAMPLE_RATE
        yield x, dur
        used += dur
        if max_seconds is not None and used >= max_seconds:
            return


def _window_features(encoder, waves: list[np.ndarray], batch_seconds: float) -> np.ndarray:
    import torch

    limit = getattr(encoder, "max_seconds", None)  # Whisper: 30 s windows
    if limit is not None:
        n = int(limit * SAMPLE_RATE)
        waves = [w[i: i + n] for w in waves for i in range(0, len(w), n)]
    feats = []
    for batch in batches_by_seconds([len(w) / SAMPLE_RATE for w in waves], batch_seconds):
        feats.extend(encoder.features([waves[i] for i in batch]))
    return torch.cat(feats).float().cpu().numpy()


# ---------------------------------------------------------------------------------- training
@dataclass
class KMeansHistory:
    heldout_inertia: list[float] = field(default_factory=list)  # per frame, after each batch
    frames_seen: list[int] = field(default_factory=list)
    pass_inertia: list[float] = field(default_factory=list)  # per frame, after each pass
    stopped_early: bool = False


def heldout_inertia(km, frames: np.ndarray) -> float:
    """Mean squared distance of held-out frames to their nearest centre."""
    return float(-km.score(frames) / len(frames))


def train_kmeans(frame_windows, n_clusters: int, heldout: np.ndarray,
                 batch_frames: int = 20000, seed: int = 0, reassignment_ratio: float = 0.01,
                 epochs: int = 1, patience: int | None = None, tol: float = 1e-4,
                 init_model=None, init_centers: np.ndarray | None = None) -> tuple[object, KMeansHistory]:
    """Fit ``MiniBatchKMeans`` by ``partial_fit`` on shuffled batches of ``batch_frames`` frames.

    ``frame_windows`` yields (N, D) float32 arrays; they are shuffled within a buffer of a few
    batches (consecutive frames of one utterance are highly correlated). It may also be a
    function returning a fresh iterator: then every pass streams again (from disk) and nothing
    is kept in memory; otherwise, with ``epochs > 1``, the frames are kept in memory and
    reshuffled each epoch. ``init_centers``: start from these centres (``sample_init_centers``:
    k-means++ on a sample of the whole budget) instead of k-means++ on the first batch.
    ``patience``: stop after that many held-out evaluations without a relative improvement of
    ``tol``. The held-out inertia is logged after every batch and after every pass.
    """
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(seed)
    km = init_model if init_model is not None else MiniBatchKMeans(
        n_clusters=n_clusters, init="k-means++" if init_centers is None else init_centers,
        batch_size=batch_frames, n_init=1,
        reassignment_ratio=reassignment_ratio, random_state=seed, compute_labels=False,
        max_no_improvement=None)
    restream = frame_windows if callable(frame_windows) else None
    hist = KMeansHistory()
    best, bad = math.inf, 0
    fitted = init_model is not None
    seen = 0
    kept: list[np.ndarray] = [] if epochs > 1 and restream is None else None  # type: ignore[assignment]
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

    def end_of_pass(k: int) -> None:
        if fitted:
            hist.pass_inertia.append(heldout_inertia(km, heldout))
            log.info("k-means pass %d of %d: held-out inertia per frame %.4f", k, epochs, hist.pass_inertia[-1])

    def stream(windows) -> bool:
        nonlocal buffered
        for window in windows:
            if kept is not None:
                kept.append(window)
            buffer.append(window)
            buffered += len(window)
            if buffered >= 4 * batch_frames and not drain(final=False):
                return False
        return drain(final=True)

    go = stream(restream() if restream is not None else frame_windows)
    end_of_pass(1)
    for k in range(2, epochs + 1 if go else 1):
        if restream is not None:
            go = stream(restream())
        else:
            buffer, buffered = list(kept), sum(len(w) for w in kept)
            go = drain(final=True)
        end_of_pass(k)
        if not go:
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


# ------------------------------------------------------------------ features stored on disk
# At paper scale the features of each k-means corpus are computed by their own (GPU) job and
# stored as float16/float32 .npy windows; k-means then streams them from disk, pass after pass,
# and draws its initial sample from every window of the whole budget.
FEATURES_INDEX = "features.json"


def write_feature_windows(windows: Iterable[tuple[np.ndarray, float]], out_dir: str | os.PathLike,
                          frame_rate: float, dtype: str = "float32", progress=None) -> dict:
    """Store each ``(frames, seconds)`` window as ``w<i>.npy`` plus an index (``features.json``)."""
    from spire.io import atomic_path, write_json

    files, seconds, dim = [], 0.0, None
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for i, (frames, secs) in enumerate(windows):
            name = f"w{i:06d}.npy"
            np.save(tmp / name, frames.astype(dtype, copy=False))
            files.append([name, int(len(frames))])
            seconds, dim = seconds + secs, frames.shape[1]
            if progress is not None:
                progress.set_postfix(frames=sum(n for _, n in files))
        if not files:
            raise ValueError("no readable audio: no features to store")
        index = {"frame_rate": frame_rate, "dim": dim, "dtype": dtype, "seconds": seconds,
                 "frames": sum(n for _, n in files), "files": files}
        write_json(tmp / FEATURES_INDEX, index)
    return index


def feature_plan(dirs: Sequence[str | os.PathLike]) -> list[tuple[Path, int]]:
    """Every stored window of ``dirs`` as ``(file, frames)`` in stream order: the corpora
    interleaved in proportion to their frames (at each step the one furthest behind its share),
    so that every batch mixes them; one directory streams in its own order."""
    from spire.io import read_json

    lists, dims = [], set()
    for d in dirs:
        d = Path(d)
        if not (d / FEATURES_INDEX).is_file():
            raise FileNotFoundError(f"{d}: not a k-means features directory (no {FEATURES_INDEX}; "
                                    "made by tasks/kmeans_features.py)")
        index = read_json(d / FEATURES_INDEX)
        missing_keys = [k for k in ("dim", "frames", "files") if not isinstance(index, dict) or k not in index]
        if missing_keys:
            raise ValueError(f"{d / FEATURES_INDEX}: no {missing_keys} in the index; the directory is not "
                             "a finished tasks/kmeans_features.py output: rerun that task")
        # every window now, not after hours of training on the ones before it
        absent = [name for name, _ in index["files"] if not (d / name).is_file()]
        if absent:
            raise FileNotFoundError(f"{d}: {len(absent)} window file(s) of {FEATURES_INDEX} are missing "
                                    f"({absent[:3]}); rerun tasks/kmeans_features.py for this corpus")
        dims.add(index["dim"])
        lists.append(([(d / name, n) for name, n in index["files"]], index["frames"]))
    if len(dims) > 1:
        raise ValueError(f"features of different dimensions {sorted(dims)} in {list(map(str, dirs))}: "
                         "all k-means corpora must be encoded by the same encoder and layer")
    pos, taken, plan = [0] * len(lists), [0] * len(lists), []
    while True:
        live = [k for k in range(len(lists)) if pos[k] < len(lists[k][0])]
        if not live:
            return plan
        k = min(live, key=lambda j: taken[j] / lists[j][1])
        f, n = lists[k][0][pos[k]]
        plan.append((f, n))
        pos[k] += 1
        taken[k] += n


def iter_stored_windows(plan: Sequence[tuple[Path, int]]) -> Iterator[tuple[np.ndarray, float]]:
    """The stored windows in plan order as float32 ``(frames, 0.0)`` (one window in memory)."""
    for f, _ in plan:
        yield np.load(f).astype(np.float32, copy=False), 0.0


def sample_frames(plan: Sequence[tuple[Path, int]], n: int, skip: int = 0, seed: int = 0) -> np.ndarray:
    """``n`` frames drawn uniformly from the whole stream after its first ``skip`` frames (the
    held-out ones), reading each window once through a memory map."""
    sizes = np.array([m for _, m in plan], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    total = int(starts[-1]) - skip
    if total <= 0:
        raise ValueError("no training frames after the held-out ones")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=min(n, total), replace=False)) + skip
    out = []
    for k in np.unique(np.searchsorted(starts, picks, side="right") - 1):
        local = picks[(picks >= starts[k]) & (picks < starts[k + 1])] - starts[k]
        out.append(np.asarray(np.load(plan[k][0], mmap_mode="r")[local], dtype=np.float32))
    return np.concatenate(out)


def sample_init_centers(sample: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means++ seeding on a sample of the whole budget (not on the first batch only)."""
    from sklearn.cluster import kmeans_plusplus

    if len(sample) < n_clusters:
        raise ValueError(f"only {len(sample)} frames for {n_clusters} clusters: give more audio "
                         "(--max-hours) or fewer clusters (--n-clusters)")
    centers, _ = kmeans_plusplus(sample, n_clusters, random_state=seed)
    return centers
