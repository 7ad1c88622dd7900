"""Discrete speech units: ``Labeler`` turns audio into Spire's unit strings.

    from spire.dsus import Labeler
    labeler = Labeler("facebook/hubert-large-ll60k", "kmeans.joblib", layer=22)
    labeler.label("utt.wav")                 # deduplicated PUA string
    labeler.label(wav, dedup=False)          # one unit per 20 ms frame
    labeler.label(wav, fmt="extra_id")       # "<extra_id_12><extra_id_7>..."
    labeler.units(wav)                       # list[int]
    labeler.label_batch([wav1, wav2, ...])   # batched by seconds, results in input order

``wav`` is a file path, an ``(array, sampling_rate)`` pair or a Hugging Face audio dict.
Encoder features (spire.encoders) are assigned to the nearest k-means centre in torch on the
labeller's device and dtype, as argmin of ||x||² − 2·x·C + ||C||² (docs/paper.md §1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from spire.audio import SAMPLE_RATE, AudioLike, audio_duration, iter_audio_blocks, load_audio
from spire.audio_data import batches_by_seconds
from spire.encoders import load_encoder
from spire.kmeans import load_kmeans
from spire.log import get_logger
from spire.units import dedup_units, units_to_text

log = get_logger(__name__)


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
                 chunk_seconds: float = 60.0, assign_frames: int = 8192):
        kmeans = load_kmeans(kmeans_model)
        self.encoder = load_encoder(encoder_checkpoint, layer=layer, device=device, dtype=dtype)
        centers = np.asarray(kmeans.cluster_centers_)
        if centers.shape[1] != self.encoder.dim:
            raise ValueError(
                f"k-means model {kmeans_model} has {centers.shape[1]}-dimensional centres but encoder "
                f"{encoder_checkpoint} (layer {layer}) gives {self.encoder.dim}-dimensional features: "
                "train the k-means on this encoder or pass the matching one")
        self.device, self.dtype = self.encoder.device, self.encoder.dtype
        self.centers = torch.as_tensor(centers, device=self.device).to(self.dtype)
        self.centers_sq = (self.centers.float() ** 2).sum(1).to(self.dtype)
        self.n_clusters = centers.shape[0]
        if batch_seconds is None:
            # On a GPU batching is what makes labelling fast. On a CPU a batch-1 forward is already
            # compute-bound and padded batches measured slower (bench/bench_labeler.py: 0.46-0.77x for
            # the tiny HuBERT, 0.80-0.86x HuBERT-Large-shaped), so utterances go one at a time there.
            batch_seconds = 200.0 if self.device.type == "cuda" else 0.0
        self.batch_seconds, self.chunk_seconds, self.assign_frames = batch_seconds, chunk_seconds, assign_frames

    # -- core ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def assign(self, feats: torch.Tensor) -> torch.Tensor:
        """Nearest-centre index of each row of ``feats`` (T, D), in chunks to bound T×K memory."""
        out = []
        for x in feats.to(self.device, self.dtype).split(self.assign_frames):
            # ||x||² is constant per row and does not change the argmin, so it is left out.
            d = self.centers_sq[None, :] - 2 * (x @ self.centers.T)
            out.append(d.argmin(dim=1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=self.device)

    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Encoder features of 16 kHz waveforms, batched by seconds; returned in input order."""
        result: list[torch.Tensor | None] = [None] * len(waves)
        secs = [len(w) / SAMPLE_RATE for w in waves]
        for batch in batches_by_seconds(secs, self.batch_seconds):
            for i, f in zip(batch, self.encoder.features([waves[i] for i in batch])):
                result[i] = f
        return result  # type: ignore[return-value]

    def _chunks(self, source: AudioLike) -> list[np.ndarray] | None:
        """The waveform(s) of one source: one array, or consecutive chunks of a long recording."""
        max_len = int(self.chunk_seconds * SAMPLE_RATE)
        if isinstance(source, (str, os.PathLike)):
            dur = audio_duration(source)
            if dur is not None and dur > self.chunk_seconds:
                try:
                    chunks = [c for c in iter_audio_blocks(source, self.chunk_seconds) if len(c)]
                except Exception as e:  # noqa: BLE001 - decoding errors mid-file: same as corrupt
                    log.warning("unreadable audio %s: %s; writing an empty line in its place", source, e)
                    return None
                return chunks or None
        x = load_audio(source)
        if x is None:
            return None
        return [x[i: i + max_len] for i in range(0, len(x), max_len)]

    def units_batch(self, sources: Sequence[AudioLike], dedup: bool = True) -> list[list[int] | None]:
        """Unit indices per source (``None`` for unreadable/empty audio), in input order."""
        chunks = [self._chunks(s) for s in sources]
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


# ------------------------------------------------------------------------- corpus labelling
def _resume_count(partial: Path) -> int:
    """Complete lines already in ``partial``; a torn last line (killed mid-write) is cut off."""
    if not partial.exists():
        return 0
    data = partial.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        with open(partial, "r+b") as f:
            f.truncate(keep)
    return data.count(b"\n", 0, keep)


def label_corpus(labeler: Labeler, dataset, rows: range, out_path: str | os.PathLike,
                 dedup: bool = True, fmt: str = "pua", chunk_utts: int = 256,
                 overwrite: bool = False) -> int:
    """Label ``rows`` of ``dataset`` into ``out_path``: one line per utterance in dataset order,
    an empty line for unreadable audio.

    Resumable: finished chunks of ``chunk_utts`` lines are appended and fsynced to
    ``<out>.partial``; a rerun after a kill continues after the last complete line and never
    duplicates or drops one. The final file appears (by rename) only when every row is done.
    The options are recorded in ``<out>.partial.json`` and a rerun with other options is refused.
    """
    from tqdm import tqdm

    from spire.io import read_json, write_json

    out = Path(out_path)
    if out.exists() and not overwrite:
        log.info("%s already complete: nothing to do (pass --overwrite to redo it)", out)
        return len(rows)
    partial = out.with_name(out.name + ".partial")
    meta_path = out.with_name(out.name + ".partial.json")
    meta = {"rows": [rows.start, rows.stop], "dedup": dedup, "format": fmt,
            "n_clusters": labeler.n_clusters, "encoder_dim": labeler.encoder.dim}
    if partial.exists() and meta_path.exists() and read_json(meta_path) != meta:
        raise ValueError(f"{partial} was started with other options {read_json(meta_path)} than now "
                         f"{meta}: rerun with the same options or delete {partial} to start over")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(meta_path, meta)
    done = _resume_count(partial)
    if done > len(rows):
        raise ValueError(f"{partial} has {done} lines but the shard has only {len(rows)} rows")
    if done:
        log.info("resuming %s after %d of %d lines", partial, done, len(rows))
    bar = tqdm(total=len(rows), initial=done, desc=f"label {out.name}", unit="utt")
    with open(partial, "a", encoding="utf-8") as f:
        for s in range(rows.start + done, rows.stop, chunk_utts):
            recs = dataset.records(s, min(s + chunk_utts, rows.stop))
            lines = labeler.label_batch([r.audio for r in recs], dedup=dedup, fmt=fmt)
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(recs))
    bar.close()
    n = _resume_count(partial)
    if n != len(rows):
        raise RuntimeError(f"{partial}: {n} lines written for {len(rows)} rows")
    os.replace(partial, out)
    meta_path.unlink(missing_ok=True)
    return n


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
