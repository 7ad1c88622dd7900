#!/usr/bin/env python
"""Label an audio dataset with speech units: one line per utterance, in dataset order.

Unreadable or empty audio gives an empty line (the file never shifts out of line with the
dataset); more than --max-unreadable of them (a share, default 1%) is an error naming the first
ones and why (missing, truncated: a header promising more audio than the file holds, empty...),
so one bad file in a large corpus is an empty line and a count in the log, and a broken corpus
stops. An empty dataset (no rows) is an error naming the file. Sharded
(--shard i/n, contiguous rows, so shard outputs concatenate in dataset order; or --start/--count;
--max-hours caps the corpus first) and resumable: rerunning the same command after a kill
continues after the last complete line (--work-dir holds the partial output; put it where a rerun
finds it). What the output was made from is recorded in <out>.json; a rerun with other inputs
or options is refused with what differs. --workers decode audio in parallel with the encoder.

    python tasks/label_corpus.py --encoder facebook/hubert-large-ll60k --layer 22 \
        --kmeans kmeans.joblib --data train.yaml --shard 0/8 --no-dedup --out train.0.dsu
"""
import argparse
import hashlib
import os

from spire.audio_data import open_audio_dataset, parse_shard, shard_range, text_records
from spire.options import fraction, nonneg_float, nonneg_int, positive_float, positive_int
from spire.dsus import Labeler, UnreadableAudioError, label_corpus, rows_within_hours
from spire.encoders import add_encoder_args, encoder_kwargs
from spire.io import write_lines
from spire.log import get_logger, log_read, log_wrote
from spire.units import UNIT_FORMATS

log = get_logger("label_corpus")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_encoder_args(p)
    p.add_argument("--kmeans", required=True,
                   help="k-means model: joblib/pickle file (cluster_centers_ K x D), a directory holding one, or a hub id")
    p.add_argument("--data", required=True, help="dataset config YAML")
    p.add_argument("--out", required=True, help="unit lines to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--shard", default=None, help="i/n: the i-th of n contiguous shards (0-based)")
    g.add_argument("--start", type=nonneg_int, default=None, help="first row (with --count)")
    p.add_argument("--count", type=nonneg_int, default=None, help="number of rows from --start (default: to the end)")
    p.add_argument("--no-dedup", action="store_true", help="keep one unit per frame (dedup later with dedup_units.py)")
    p.add_argument("--format", default="pua", choices=UNIT_FORMATS, help="unit text format (default pua)")
    p.add_argument("--as-indices", dest="format", action="store_const", const="indices",
                   help="same as --format indices (space-separated integers; docs/design.md's name)")
    p.add_argument("--batch-seconds", type=nonneg_float, default=None,
                   help="padded audio seconds per forward pass (default: 200 on GPU, 0 = one utterance at a time on CPU)")
    p.add_argument("--chunk-seconds", type=positive_float, default=60.0, help="longer recordings are labelled in chunks")
    p.add_argument("--chunk-utts", type=positive_int, default=256, help="utterances per resumable progress chunk")
    p.add_argument("--ids-out", default=None, help="also write the utterance ids, one per line, same order")
    p.add_argument("--text-out", default=None, help="also write the transcripts (dataset text_column), same order")
    p.add_argument("--overwrite", action="store_true", help="redo --out even if it is complete")
    p.add_argument("--work-dir", default=None,
                   help="where the resumable partial output lives (default: beside --out)")
    p.add_argument("--workers", type=nonneg_int, default=0,
                   help="audio decode/resample worker processes running beside the encoder (0: serial)")
    p.add_argument("--max-unreadable", type=fraction, default=0.01,
                   help="share of unreadable utterances allowed before the run fails (default 0.01)")
    p.add_argument("--max-hours", type=positive_float, default=None,
                   help="label only the first rows adding up to this many hours (before sharding)")
    p.add_argument("--durations-out", default=None, help="also write each line's audio seconds")
    p.add_argument("--shard-json", default=None,
                   help="write {shard, rows, total} for merge_shards.py (dataset order check)")
    a = p.parse_args(argv)
    if a.count is not None and a.shard is not None:
        p.error("--count goes with --start, not with --shard")

    try:
        ds = open_audio_dataset(a.data).require_rows()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"label_corpus: {e}")
    corpus = rows_within_hours(ds, range(len(ds)), a.max_hours)
    if a.max_hours is not None:
        log.info("--max-hours %g: the first %d of %d rows", a.max_hours, len(corpus), len(ds))
    local = shard_range(len(corpus), parse_shard(a.shard) if a.shard else None, a.start or 0, a.count)
    rows = range(corpus.start + local.start, corpus.start + local.stop)
    log_read(log, "dataset", a.data, f"{len(ds)} utterances; rows {rows.start}..{rows.stop - 1}")
    if a.text_out and ds.cfg.text_column is None:
        p.error(f"--text-out needs text_column in {a.data}")
    labeler = Labeler(a.encoder, a.kmeans, layer=a.layer, dtype=a.dtype, device=a.device,
                      batch_seconds=a.batch_seconds, chunk_seconds=a.chunk_seconds, **encoder_kwargs(a))
    log_read(log, "encoder", a.encoder, f"layer {a.layer}, dim {labeler.encoder.dim}")
    log_read(log, "k-means", a.kmeans, f"{labeler.n_clusters} clusters")
    data_yaml = os.path.abspath(a.data)
    inputs = {"data": data_yaml, "data_sha256": hashlib.sha256(open(data_yaml, "rb").read()).hexdigest()[:16],
              "data_rows": len(ds), "max_hours": a.max_hours}
    try:
        n = label_corpus(labeler, ds, rows, a.out, dedup=not a.no_dedup, fmt=a.format,
                         chunk_utts=a.chunk_utts, overwrite=a.overwrite, work_dir=a.work_dir,
                         workers=a.workers, max_unreadable=a.max_unreadable,
                         durations_out=a.durations_out, inputs=inputs)
    except (UnreadableAudioError, ValueError) as e:
        raise SystemExit(f"label_corpus: {e}")
    log_wrote(log, "units", a.out, f"{n} lines, format {a.format}, dedup {not a.no_dedup}")
    if a.ids_out or a.text_out:
        recs = text_records(ds, rows.start, rows.stop)  # text columns only: no audio is read again
        if a.ids_out:
            write_lines(a.ids_out, [r.id for r in recs])
            log_wrote(log, "ids", a.ids_out)
        if a.text_out:
            write_lines(a.text_out, [" ".join(str(r.text or "").split()) for r in recs])
            log_wrote(log, "transcripts", a.text_out)
    if a.shard_json:
        from spire.io import write_json

        files = {"units": a.out, "text": a.text_out, "ids": a.ids_out, "durations": a.durations_out}
        write_json(a.shard_json, {"shard": a.shard or "0/1", "rows": [rows.start, rows.stop],
                                  "corpus_rows": [corpus.start, corpus.stop], "data": data_yaml,
                                  "files": {k: os.path.abspath(v) for k, v in files.items() if v}})
        log_wrote(log, "shard description", a.shard_json)


if __name__ == "__main__":
    main()
