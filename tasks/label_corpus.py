#!/usr/bin/env python
"""Label an audio dataset with speech units: one line per utterance, in dataset order.

Unreadable or empty audio gives an empty line (the file never shifts out of line with the
dataset). Sharded (--shard i/n, contiguous rows, so shard outputs concatenate in dataset order;
or --start/--count) and resumable: rerunning the same command after a kill continues where the
last complete chunk ended.

    python tasks/label_corpus.py --encoder facebook/hubert-large-ll60k --layer 22 \
        --kmeans kmeans.joblib --data train.yaml --shard 0/8 --no-dedup --out train.0.dsu
"""
import argparse

from spire.audio_data import open_audio_dataset, parse_shard, shard_range
from spire.dsus import Labeler, label_corpus
from spire.encoders import add_encoder_args
from spire.io import write_lines
from spire.log import get_logger, log_read, log_wrote
from spire.units import UNIT_FORMATS

log = get_logger("label_corpus")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_encoder_args(p)
    p.add_argument("--kmeans", required=True, help="joblib k-means model (cluster_centers_ K x D)")
    p.add_argument("--data", required=True, help="dataset config YAML")
    p.add_argument("--out", required=True, help="unit lines to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--shard", default=None, help="i/n: the i-th of n contiguous shards (0-based)")
    g.add_argument("--start", type=int, default=None, help="first row (with --count)")
    p.add_argument("--count", type=int, default=None, help="number of rows from --start (default: to the end)")
    p.add_argument("--no-dedup", action="store_true", help="keep one unit per frame (dedup later with dedup_units.py)")
    p.add_argument("--format", default="pua", choices=UNIT_FORMATS, help="unit text format (default pua)")
    p.add_argument("--as-indices", dest="format", action="store_const", const="indices",
                   help="same as --format indices (space-separated integers; docs/design.md's name)")
    p.add_argument("--batch-seconds", type=float, default=None,
                   help="padded audio seconds per forward pass (default: 200 on GPU, 0 = one utterance at a time on CPU)")
    p.add_argument("--chunk-seconds", type=float, default=60.0, help="longer recordings are labelled in chunks")
    p.add_argument("--chunk-utts", type=int, default=256, help="utterances per resumable progress chunk")
    p.add_argument("--ids-out", default=None, help="also write the utterance ids, one per line, same order")
    p.add_argument("--text-out", default=None, help="also write the transcripts (dataset text_column), same order")
    p.add_argument("--overwrite", action="store_true", help="redo --out even if it is complete")
    a = p.parse_args(argv)
    if a.count is not None and a.shard is not None:
        p.error("--count goes with --start, not with --shard")

    ds = open_audio_dataset(a.data)
    rows = shard_range(len(ds), parse_shard(a.shard) if a.shard else None, a.start or 0, a.count)
    log_read(log, "dataset", a.data, f"{len(ds)} utterances; rows {rows.start}..{rows.stop - 1}")
    labeler = Labeler(a.encoder, a.kmeans, layer=a.layer, dtype=a.dtype, device=a.device,
                      batch_seconds=a.batch_seconds, chunk_seconds=a.chunk_seconds)
    log_read(log, "encoder", a.encoder, f"layer {a.layer}, dim {labeler.encoder.dim}")
    log_read(log, "k-means", a.kmeans, f"{labeler.n_clusters} clusters")
    n = label_corpus(labeler, ds, rows, a.out, dedup=not a.no_dedup, fmt=a.format,
                     chunk_utts=a.chunk_utts, overwrite=a.overwrite)
    log_wrote(log, "units", a.out, f"{n} lines, format {a.format}, dedup {not a.no_dedup}")
    if a.ids_out or a.text_out:
        recs = ds.records(rows.start, rows.stop)
        if a.ids_out:
            write_lines(a.ids_out, [r.id for r in recs])
            log_wrote(log, "ids", a.ids_out)
        if a.text_out:
            if ds.cfg.text_column is None:
                p.error(f"--text-out needs text_column in {a.data}")
            write_lines(a.text_out, [" ".join(str(r.text or "").split()) for r in recs])
            log_wrote(log, "transcripts", a.text_out)


if __name__ == "__main__":
    main()
