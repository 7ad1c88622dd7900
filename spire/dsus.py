"""Discrete speech units: ``Labeler`` turns audio into Spire's unit strings.

    from spire.dsus import Labeler
    labeler = Labeler("facebook/hubert-large-ll60k", "kmeans.joblib", layer=22)
    labeler.label("utt.wav")                 # deduplicated PUA string
    labeler.label(wav, dedup=False)          # one unit per 20 ms frame
    labeler.label(wav, fmt="extra_id")       # "<extra_id_12><extra_id_7>..."
    labeler.units(wav)                       # list[int]
    labeler.label_batch([wav1, wav2, ...])   # batched by seconds, results in input order

``wav`` is a file path, an ``(array, sampling_rate)`` pair or a Hugging Face audio dict.
Encoder features (spire.encoders) are computed in the labeller's dtype (bf16 on GPU) and assigned to
the nearest k-means centre in fp32 on the labeller's device, as argmin of ||x||² − 2·x·C + ||C||²
(docs/paper.md §1): in bf16 that arithmetic picks another centre for half of HuBERT-Large's frames.
"""
from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from spire.audio import (SAMPLE_RATE, AudioError, AudioLike, audio_duration, iter_audio_blocks,
                         load_audio, read_checked)
from spire.audio_data import batches_by_seconds
from spire.encoders import load_encoder
from spire.kmeans import kmeans_file, load_kmeans
from spire.log import get_logger
from spire.units import dedup_units, units_to_text

log = get_logger(__name__)


def nearest_centres(feats: torch.Tensor, centers: torch.Tensor, centers_sq: torch.Tensor | None = None,
                    chunk_frames: int = 8192) -> torch.Tensor:
    """Index of the nearest row of ``centers`` (K, D) for each row of ``feats`` (T, D), in fp32.

    The distance is ||c||² − 2·x·c (||x||² is the same for every centre of a row). Features of any
    dtype are upcast: HuBERT-Large's layer-22 centres have ||c||² ≈ 10³, where bf16's spacing is 4-8,
    wider than the gap between the nearest and the next of 5,000 centres, so bf16 arithmetic assigned
    the nearest centre to 48% of frames (tests/spire/test_dsus.py). TF32 is switched off for the
    product for the same reason (10 mantissa bits); chunks of ``chunk_frames`` bound the T×K matrix.
    """
    centers = centers.float()
    centers_sq = (centers ** 2).sum(1) if centers_sq is None else centers_sq.float()
    if len(feats) == 0:
        return torch.zeros(0, dtype=torch.long, device=centers.device)
    out = []
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for x in feats.split(chunk_frames):
            d = centers_sq[None, :] - 2 * (x.float() @ centers.T)
            out.append(d.argmin(dim=1))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return torch.cat(out)


class Labeler:
    """Encoder (truncated after ``layer``) + k-means centres → unit sequences.

    ``batch_seconds`` bounds the padded audio per forward pass (default: 200 s on GPU, one
    utterance at a time on CPU, where batching measured slower); recordings longer than
    ``chunk_seconds`` are streamed from disk and labelled in consecutive chunks so memory stays
    bounded (attention is quadratic in length); their unit sequences are concatenated.

    ``dtype`` defaults to bf16 on GPU and fp32 on CPU. On a CPU with AVX-512 BF16, ``dtype="bf16"``
    measured 2.0x the fp32 batch-1 speed for a HuBERT-Large-shaped encoder (bench/bench_labeler.py
    --dtype bf16), at the price of labels that can differ from fp32 ones (96% identical on the tiny
    model), so fp32 stays the CPU default.
    """

    def __init__(self, encoder_checkpoint: str | os.PathLike, kmeans_model: str | os.PathLike,
                 layer: int = 22, dtype: str | torch.dtype | None = None,
                 device: str | torch.device | None = None, batch_seconds: float | None = None,
                 chunk_seconds: float = 60.0, assign_frames: int = 8192, keep_final_layer_norm: bool = False,
                 pooling_width: int = 1, pooling_type: str = "mean"):
        kmeans = load_kmeans(kmeans_model)
        self.encoder = load_encoder(encoder_checkpoint, layer=layer, device=device, dtype=dtype,
                                    keep_final_layer_norm=keep_final_layer_norm, pooling_width=pooling_width,
                                    pooling_type=pooling_type)
        # Whisper's encoder sees at most 30 s: longer recordings are labelled in chunks of that
        chunk_seconds = min(chunk_seconds, getattr(self.encoder, "max_seconds", chunk_seconds))
        centers = np.asarray(kmeans.cluster_centers_)
        if centers.shape[1] != self.encoder.dim:
            raise ValueError(
                f"k-means model {kmeans_model} has {centers.shape[1]}-dimensional centres but encoder "
                f"{encoder_checkpoint} (layer {layer}) gives {self.encoder.dim}-dimensional features: "
                "train the k-means on this encoder or pass the matching one")
        self.device, self.dtype = self.encoder.device, self.encoder.dtype
        # Centres and distances stay fp32 whatever the encoder's dtype (see nearest_centres).
        self.centers = torch.as_tensor(centers, device=self.device, dtype=torch.float32)
        self.centers_sq = (self.centers ** 2).sum(1)
        self.n_clusters = centers.shape[0]
        if batch_seconds is None:
            # On a GPU batching is what makes labelling fast. On a CPU a batch-1 forward is already
            # compute-bound and padded batches measured slower (bench/bench_labeler.py: 0.46-0.77x for
            # the tiny HuBERT, 0.80-0.86x HuBERT-Large-shaped), so utterances go one at a time there.
            batch_seconds = 200.0 if self.device.type == "cuda" else 0.0
        self.batch_seconds, self.chunk_seconds, self.assign_frames = batch_seconds, chunk_seconds, assign_frames
        self._identity = {"encoder": _path_or_id(encoder_checkpoint), "layer": layer,
                          "dtype": str(self.dtype).removeprefix("torch."),
                          "kmeans": _path_or_id(kmeans_model), "kmeans_sha256": file_fingerprint(kmeans_file(kmeans_model)),
                          **getattr(self.encoder, "options", {})}

    def describe(self) -> dict:
        """What the labels depend on (encoder, layer, dtype, k-means file and its hash): recorded
        beside a labelled corpus so that a rerun with anything else is noticed."""
        return dict(self._identity)

    # -- core ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def assign(self, feats: torch.Tensor) -> torch.Tensor:
        """Nearest-centre index of each row of ``feats`` (T, D), in chunks to bound T×K memory."""
        return nearest_centres(feats.to(self.device), self.centers, self.centers_sq, self.assign_frames)

    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Encoder features of 16 kHz waveforms, batched by seconds; returned in input order."""
        result: list[torch.Tensor | None] = [None] * len(waves)
        secs = [len(w) / SAMPLE_RATE for w in waves]
        for batch in batches_by_seconds(secs, self.batch_seconds):
            for i, f in zip(batch, self.encoder.features([waves[i] for i in batch])):
                result[i] = f
        return result  # type: ignore[return-value]

    def units_batch(self, sources: Sequence[AudioLike], dedup: bool = True) -> list[list[int] | None]:
        """Unit indices per source (``None`` for unreadable/empty audio), in input order."""
        return self.units_of_decoded([decode_chunks(s, self.chunk_seconds) for s in sources], dedup)

    def units_of_decoded(self, chunks: Sequence[list[np.ndarray] | None],
                         dedup: bool = True) -> list[list[int] | None]:
        """Units of already decoded sources (``decode_chunks`` output, ``None`` = unreadable)."""
        flat = [c for cs in chunks if cs for c in cs]
        feats = self.features(flat)
        lengths = [len(f) for f in feats]
        labels = self.assign(torch.cat(feats)).cpu().tolist() if feats else []
        out: list[list[int] | None] = []
        pos, k = 0, 0
        for cs in chunks:
            if not cs:
                out.append(None)
                continue
            n = sum(lengths[k: k + len(cs)])
            units = labels[pos: pos + n]
            pos, k = pos + n, k + len(cs)
            out.append(dedup_units(units) if dedup else units)
        return out

    # -- conveniences -------------------------------------------------------------------------
    def units(self, source: AudioLike, dedup: bool = True) -> list[int] | None:
        return self.units_batch([source], dedup=dedup)[0]

    def label_batch(self, sources: Sequence[AudioLike], dedup: bool = True, fmt: str = "pua") -> list[str]:
        """One line of text per source (``""`` for unreadable audio, so files stay aligned)."""
        return [units_to_text(u, fmt) if u is not None else ""
                for u in self.units_batch(sources, dedup=dedup)]

    def label(self, source: AudioLike, dedup: bool = True, fmt: str = "pua") -> str:
        """The unit string of one utterance: PUA characters by default (Spire's format)."""
        return self.label_batch([source], dedup=dedup, fmt=fmt)[0]


def _path_or_id(x) -> str:
    return os.path.abspath(x) if os.path.exists(x) else str(x)


# --------------------------------------------------------------------------------- decoding
def decode_chunks(source: AudioLike, chunk_seconds: float = 60.0) -> list[np.ndarray] | None:
    """One source as 16 kHz waveform chunks of at most ``chunk_seconds`` (``None`` if unreadable).

    A module-level function so that DataLoader workers run exactly what the serial loop runs: the
    labels do not depend on where the audio was decoded. Long files are streamed block by block.
    """
    max_len = int(chunk_seconds * SAMPLE_RATE)
    name = None
    if isinstance(source, (str, os.PathLike)):
        import soundfile as sf

        name = str(source)
        try:  # one open for the header and the samples (a second open costs a fifth of the decode)
            with sf.SoundFile(str(source)) as f:
                dur = f.frames / f.samplerate
                if dur <= chunk_seconds:  # a truncated file is an AudioError, not a short one
                    source = (read_checked(f, name), f.samplerate)
        except AudioError as e:
            log.warning("%s; writing an empty line in its place", e)
            return None
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
            dur = None  # load_audio below says why, and gives None
        if dur is not None and dur > chunk_seconds:
            try:
                chunks = [c for c in iter_audio_blocks(source, chunk_seconds) if len(c)]
            except AudioError as e:
                log.warning("%s; writing an empty line in its place", e)
                return None
            except Exception as e:  # noqa: BLE001 - decoding errors mid-file: same as corrupt
                log.warning("%s: unreadable or corrupt audio (%s); writing an empty line in its place",
                            source, " ".join(str(e).split()))
                return None
            return chunks or None
    x = load_audio(source, name=name)
    if x is None:
        return None
    return [x[i: i + max_len] for i in range(0, len(x), max_len)]


class _RowAudio(torch.utils.data.Dataset):
    """Row ``i`` of ``rows`` → its decoded chunks, for a DataLoader's worker processes."""

    def __init__(self, dataset, rows: Sequence[int], chunk_seconds: float):
        self.dataset, self.rows, self.chunk_seconds = dataset, rows, chunk_seconds

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        rec = self.dataset.records(self.rows[i], self.rows[i] + 1)[0]
        return decode_chunks(rec.audio, self.chunk_seconds)


def _keep(item):  # DataLoader collate: leave numpy arrays and None as they are
    return item


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def iter_decoded(dataset, rows: Sequence[int], chunk_seconds: float = 60.0, workers: int = 0,
                 prefetch: int = 256, block: int = 64):
    """Decoded chunks (or ``None``) of each row of ``rows`` (a range, or any order of rows), in that order.

    ``workers > 0``: decoding and resampling run in that many DataLoader worker processes while
    the caller runs the encoder, keeping up to ``prefetch`` utterances ready in all (one chunk
    of label_corpus, so that the next chunk decodes while this one is encoded). ``workers=0``
    is the serial loop (decode, then encode, in this process).
    """
    if workers <= 0:
        if not isinstance(rows, range) or rows.step != 1:
            for r in rows:
                yield decode_chunks(dataset.records(r, r + 1)[0].audio, chunk_seconds)
            return
        for s in range(rows.start, rows.stop, block):
            for rec in dataset.records(s, min(s + block, rows.stop)):
                yield decode_chunks(rec.audio, chunk_seconds)
        return
    import multiprocessing

    from torch.utils.data import DataLoader

    # fork: workers start in milliseconds and share the parent's memory-mapped dataset
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    # a few rows per fetch: the DataLoader's per-item cost (queues, pickling) is then negligible
    per_fetch = max(1, min(8, prefetch // (2 * workers)))
    loader = DataLoader(_RowAudio(dataset, rows, chunk_seconds), batch_size=per_fetch, shuffle=False,
                        num_workers=workers, collate_fn=_keep,
                        prefetch_factor=max(2, -(-prefetch // (workers * per_fetch))),
                        worker_init_fn=_one_thread, multiprocessing_context=ctx)
    for fetched in loader:
        yield from fetched


# ------------------------------------------------------------------------- corpus labelling
class UnreadableAudioError(RuntimeError):
    """Too large a share of a corpus could not be decoded (wrong paths, corrupt files)."""


def _complete_lines(path: Path) -> tuple[int, int]:
    """(complete lines, byte offset after the last newline) of ``path``, reading in blocks."""
    n = end = pos = 0
    with open(path, "rb") as f:
        while blk := f.read(1 << 24):
            c = blk.count(b"\n")
            if c:
                n += c
                end = pos + blk.rfind(b"\n") + 1
            pos += len(blk)
    return n, end


def _truncate_to(path: Path, lines: int) -> None:
    """Keep the first ``lines`` complete lines of ``path``."""
    n = pos = 0
    with open(path, "r+b") as f:
        while n < lines and (blk := f.read(1 << 24)):
            c = blk.count(b"\n")
            if n + c >= lines:
                i = -1
                for _ in range(lines - n):
                    i = blk.index(b"\n", i + 1)
                pos += i + 1
                break
            n, pos = n + c, pos + len(blk)
        f.truncate(pos)


def _resume_count(partial: Path, *companions: Path) -> int:
    """Complete lines already in ``partial`` (and its line-aligned companions): a torn last line
    (killed mid-write) is cut off, and files killed between their writes are cut to the shortest."""
    files = [partial, *companions]
    if not all(f.exists() for f in files):
        for f in files:
            f.unlink(missing_ok=True)
        return 0
    counts = []
    for f in files:
        n, end = _complete_lines(f)
        if end != f.stat().st_size:
            with open(f, "r+b") as fh:
                fh.truncate(end)
        counts.append(n)
    done = min(counts)
    for f, n in zip(files, counts):
        if n != done:
            _truncate_to(f, done)
    return done


def _differences(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    return "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k))


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 of a (model) file, so that a retrained k-means at the same path is noticed."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while blk := f.read(1 << 24):
            h.update(blk)
    return h.hexdigest()[:16]


def _move(src: Path, dst: Path) -> None:
    """Rename, or copy then rename when the work directory is on another filesystem."""
    import shutil

    try:
        os.replace(src, dst)
    except OSError:
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        src.unlink()


def _unreadable_examples(dataset, rows: range, partial: Path, limit: int = 5) -> list[str]:
    """The first empty lines' rows, ids and why their audio was unusable (decoded again: a few
    files, and the reason the warnings gave scrolled away long ago)."""
    from spire.audio import describe, read_audio

    found = []
    with open(partial, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line == "\n":
                rec = dataset.records(rows[i], rows[i] + 1)[0]
                try:
                    read_audio(rec.audio, name=describe(rec.audio))
                    why = describe(rec.audio)  # decodes now: gave no frames, or the file changed
                except AudioError as e:
                    why = str(e)
                found.append(f"row {rows[i]} ({rec.id}): {why}")
                if len(found) == limit:
                    break
    return found


def label_corpus(labeler: Labeler, dataset, rows: range, out_path: str | os.PathLike,
                 dedup: bool = True, fmt: str = "pua", chunk_utts: int = 256,
                 overwrite: bool = False, work_dir: str | os.PathLike | None = None,
                 workers: int = 0, max_unreadable: float | None = None,
                 durations_out: str | os.PathLike | None = None, inputs: dict | None = None) -> int:
    """Label ``rows`` of ``dataset`` into ``out_path``: one line per utterance in dataset order,
    an empty line for unreadable audio.

    Resumable: finished chunks of ``chunk_utts`` lines are appended and fsynced to
    ``<work_dir>/<out>.partial`` (``work_dir`` defaults to the output's directory; a workflow puts
    it outside the task directory, which ducttape moves away before a rerun); a rerun after a kill
    continues after the last complete line and never duplicates or drops one. The final file
    appears (by rename) only when every row is done.

    What the output was made from (rows, options, ``inputs`` such as the dataset and models) is
    recorded in ``<work_dir>/<out>.partial.json`` while running and ``<out>.json`` beside the
    finished file: a rerun with anything different is refused with what differs, never silently
    resumed or kept.

    ``max_unreadable``: the share of rows allowed to be unreadable (empty lines); above it the
    run stops with the count and the first rows' audio (the partial file is kept).
    ``durations_out``: also write each line's decoded audio seconds (0 when unreadable).
    ``workers``: decode processes (``iter_decoded``); the labels do not depend on it.
    """
    from tqdm import tqdm

    from spire.io import read_json, write_json

    out = Path(out_path)
    work = Path(work_dir) if work_dir is not None else out.parent
    meta = {"rows": [rows.start, rows.stop], "dedup": dedup, "format": fmt,
            "n_clusters": labeler.n_clusters, "encoder_dim": labeler.encoder.dim,
            **labeler.describe(), **(inputs or {})}
    manifest = out.with_name(out.name + ".json")
    durations = Path(durations_out) if durations_out is not None else None
    if out.exists() and not overwrite:
        old = read_json(manifest) if manifest.exists() else None
        if old is None:
            raise ValueError(f"{out} exists but {manifest} (what it was made from) does not: "
                             "pass --overwrite to relabel, or delete it")
        if old != meta:
            raise ValueError(f"{out} was made from other inputs or options than asked now "
                             f"({_differences(old, meta)}): pass --overwrite to relabel, or another --out")
        if durations is not None and not durations.exists():
            raise ValueError(f"{out} is complete but {durations} is missing: pass --overwrite to relabel")
        log.info("%s already complete, made from the same inputs: nothing to do", out)
        return len(rows)
    partial = work / (out.name + ".partial")
    meta_path = work / (out.name + ".partial.json")
    dur_partial = work / (out.name + ".durations.partial")
    if overwrite:
        for f in (partial, meta_path, dur_partial):
            f.unlink(missing_ok=True)
    if partial.exists() and meta_path.exists() and read_json(meta_path) != meta:
        raise ValueError(f"{partial} was started with other options than now "
                         f"({_differences(read_json(meta_path), meta)}): rerun with the same options "
                         f"or delete {partial} to start over")
    out.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    write_json(meta_path, meta)
    done = _resume_count(partial, dur_partial)
    if done > len(rows):
        raise ValueError(f"{partial} has {done} lines but the shard has only {len(rows)} rows")
    if done:
        log.info("resuming %s after %d of %d lines", partial, done, len(rows))
    allowed = math.inf if max_unreadable is None else max_unreadable * len(rows)
    unreadable = _count_empty(partial) if done else 0

    def refuse():
        examples = "\n  ".join(_unreadable_examples(dataset, rows, partial))
        raise UnreadableAudioError(
            f"{unreadable} unreadable utterance(s) so far in rows {rows.start}..{rows.stop - 1} of "
            f"{getattr(getattr(dataset, 'cfg', None), 'source', 'the dataset')}, more than the "
            f"{max_unreadable:.2%} allowed (--max-unreadable); first ones:\n  {examples}\n"
            f"Fix the audio paths/files and delete {partial} to relabel, or raise --max-unreadable "
            f"to accept them as empty lines")

    if unreadable > allowed:
        refuse()
    bar = tqdm(total=len(rows), initial=done, desc=f"label {out.name}", unit="utt")
    decoded = iter_decoded(dataset, range(rows.start + done, rows.stop), labeler.chunk_seconds, workers,
                           prefetch=chunk_utts)
    with open(partial, "a", encoding="utf-8") as f, open(dur_partial, "a", encoding="utf-8") as fd:
        while True:
            block = list(itertools.islice(decoded, chunk_utts))
            if not block:
                break
            units = labeler.units_of_decoded(block, dedup=dedup)
            lines = [units_to_text(u, fmt) if u is not None else "" for u in units]
            secs = [sum(len(c) for c in cs) / SAMPLE_RATE if cs else 0.0 for cs in block]
            fd.write("".join(f"{s:.4f}\n" for s in secs))
            fd.flush()
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(fd.fileno())
            os.fsync(f.fileno())
            bar.update(len(block))
            unreadable += sum(u is None for u in units)
            if unreadable > allowed:
                bar.close()
                f.close()
                refuse()
    bar.close()
    n = _resume_count(partial, dur_partial)
    if n != len(rows):
        raise RuntimeError(f"{partial}: {n} lines written for {len(rows)} rows")
    if durations is not None:
        durations.parent.mkdir(parents=True, exist_ok=True)
        _move(dur_partial, durations)
    else:
        dur_partial.unlink()
    _move(partial, out)
    write_json(manifest, meta)
    meta_path.unlink(missing_ok=True)
    if unreadable:
        log.warning("%s: %d of %d utterances unreadable (empty lines)", out, unreadable, len(rows))
    return n


def _count_empty(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(line == b"\n" for line in f)


def rows_within_hours(dataset, rows: range, max_hours: float | None) -> range:
    """The first rows of ``rows`` whose audio adds up to at most ``max_hours`` (all if ``None``).

    Durations come from the dataset's duration column (no audio read) or, without one, from the
    audio headers.
    """
    if max_hours is None:
        return rows
    from tqdm import tqdm

    from spire.audio_data import text_records

    budget, total, stop = max_hours * 3600.0, 0.0, rows.start
    step = 4096
    with tqdm(total=len(rows), desc="hours cap", unit="utt") as bar:
        for s in range(rows.start, rows.stop, step):
            recs = text_records(dataset, s, min(s + step, rows.stop))
            if any(r.duration is None for r in recs):
                recs = dataset.records(s, min(s + step, rows.stop))
            for r in recs:
                d = r.duration if r.duration is not None else (audio_duration(r.audio) or 0.0)
                if total + d > budget:
                    return range(rows.start, stop)
                total, stop = total + d, stop + 1
            bar.update(len(recs))
    return range(rows.start, stop)


def units_stats(lines: Sequence[str], n_clusters: int, durations: Sequence[float] | None = None) -> dict:
    """Units per second (before/after dedup), share of units kept by dedup, cluster usage."""
    from spire.units import text_to_units

    raw = dedup = 0
    counts = np.zeros(n_clusters, dtype=np.int64)
    empty = 0
    for i, line in enumerate(lines, 1):
        try:
            u = text_to_units(line)
        except ValueError as e:
            raise ValueError(f"line {i}: {e}") from None
        if not u:
            empty += 1
            continue
        if max(u) >= n_clusters:
            raise ValueError(f"line {i}: unit {max(u)} >= --n-clusters {n_clusters}")
        raw += len(u)
        dedup += len(dedup_units(u))
        np.add.at(counts, u, 1)
    stats = {"utterances": len(lines), "empty_lines": empty, "units": raw, "units_after_dedup": dedup,
             "dedup_kept_share": dedup / raw if raw else None, "n_clusters": n_clusters,
             "clusters_used": int((counts > 0).sum()), "cluster_counts": counts.tolist()}
    if durations is not None:
        secs = float(sum(durations))
        stats.update(seconds=secs, units_per_second=raw / secs if secs else None,
                     units_per_second_after_dedup=dedup / secs if secs else None)
    return stats
