#!/usr/bin/env python
"""Statistics of a unit corpus: units per second (before/after dedup), share of units kept by
dedup, clusters used, and a cluster-usage histogram as a PNG.

    python tasks/units_stats.py --units train.raw.dsu --durations durations.txt --n-clusters 5000 \
        --out-json stats.json --out-png usage.png

Durations come from --durations (label_corpus.py --durations-out: no audio is read) or from
--data's duration column; only rows without one have their audio header read. More than
--max-empty of empty lines (unreadable audio) is an error.
"""
import argparse

from spire.audio import audio_duration
from spire.audio_data import open_audio_dataset, parse_shard, shard_range, text_records
from spire.options import fraction, positive_int
from spire.dsus import units_stats
from spire.io import atomic_path, read_lines, write_json
from spire.log import get_logger, log_read, log_wrote

log = get_logger("units_stats")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", required=True, help="unit lines (give the NON-deduplicated corpus for a dedup ratio)")
    p.add_argument("--n-clusters", type=positive_int.from_tconf("kmeans_clusters"), required=True)
    p.add_argument("--data", default=None, help="dataset config of the same rows, for durations (units/s)")
    p.add_argument("--shard", default=None, help="i/n if --units is one shard of --data")
    p.add_argument("--durations", default=None, help="seconds per line (label_corpus.py --durations-out)")
    p.add_argument("--max-empty", type=fraction.from_tconf("label_max_unreadable"), default=None,
                   help="fail when more than this share of lines is empty (unreadable audio)")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-png", default=None)
    a = p.parse_args(argv)
    lines = read_lines(a.units)
    log_read(log, "units", a.units, f"{len(lines)} lines")
    durations = None
    if a.durations:
        durations = [float(x) for x in read_lines(a.durations)]
        log_read(log, "durations", a.durations, f"{sum(durations) / 3600:.3g} h")
        if len(durations) != len(lines):
            raise SystemExit(f"{a.units} has {len(lines)} lines but {a.durations} has {len(durations)}: "
                             "they must match line for line")
    elif a.data:
        ds = open_audio_dataset(a.data)
        rows = shard_range(len(ds), parse_shard(a.shard) if a.shard else None)
        if len(rows) != len(lines):
            raise SystemExit(f"{a.units} has {len(lines)} lines but {a.data} has {len(rows)} rows"
                             f"{' in shard ' + a.shard if a.shard else ''}: they must match line for line")
        recs = text_records(ds, rows.start, rows.stop)  # text columns only
        missing = [r.index for r in recs if r.duration is None]
        if missing:  # no duration column: read those rows' audio headers
            log.info("%s has no duration for %d rows: reading their audio headers", a.data, len(missing))
            for r in ds.records(rows.start, rows.stop):
                if recs[r.index - rows.start].duration is None:
                    recs[r.index - rows.start].duration = audio_duration(r.audio) or 0.0
        durations = [r.duration for r in recs]
    try:
        stats = units_stats(lines, a.n_clusters, durations)
    except ValueError as e:
        raise SystemExit(f"{a.units}:{e}")
    if a.max_empty is not None and stats["utterances"] and \
            stats["empty_lines"] > a.max_empty * stats["utterances"]:
        first = [i + 1 for i, line in enumerate(lines) if not line.strip()][:5]
        raise SystemExit(f"{a.units}: {stats['empty_lines']} of {stats['utterances']} lines are empty "
                         f"(unreadable audio), more than --max-empty {a.max_empty:.2%}; first at lines "
                         f"{first}: fix the audio of those rows and relabel")
    counts = stats.pop("cluster_counts")
    write_json(a.out_json, {**stats, "cluster_counts": counts})
    log_wrote(log, "stats", a.out_json, ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in stats.items()))
    if a.out_png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 3))
        ax.bar(range(len(counts)), sorted(counts, reverse=True), width=1.0)
        ax.set_xlabel("cluster (sorted by frequency)")
        ax.set_ylabel("units")
        ax.set_yscale("log")
        ax.set_title(f"cluster usage: {stats['clusters_used']}/{a.n_clusters} used")
        fig.tight_layout()
        with atomic_path(a.out_png) as tmp:
            fig.savefig(tmp, format="png")
        log_wrote(log, "histogram", a.out_png)


if __name__ == "__main__":
    main()
