#!/usr/bin/env python
"""Gather score JSONs into results.md, results.csv and results.png (rows = model variants,
columns = test set × metric), and one table per task in the paper's layout: asr.md/.csv/.png,
st.md/..., mt.md/... (rows = models, ST cascades as their own rows; columns = test sets or
directions with their averages), each with <task>_cells.csv naming every cell's score file and
Score realization.

Two ways to name the score files (combinable):
  --score variant=SpireFull testset=mini_asr file=PATH      (explicit; repeat per file;
                                                            metric_file= is accepted for file=)
  --glob 'OUT/Score*/*/scores.json'                       (a ducttape output tree: the row label
      comes from the realization directory through --names FILE / --name BP.branch=Label, the
      column from the file's "testset" field, a --testset-bp branch point, or the task name)

Repeated runs (the `seeds` plan): the branches of a seed branch point (--seed-bp, or the names
config's seed_branchpoint) are runs of one recipe. Without --seeds only the baseline seed's scores
make the tables above (the demo's run); with --seeds the output is seeds.md (mean ± sd per cell
and, for each of the paper's claims, whether it holds beyond two standard deviations:
spire/claims.py), seeds.csv (every cell's mean, sd, n and per-seed values) and claims.json.

Beside them (unless --no-intervals): intervals.md/.csv (each cell's 95% bootstrap interval over
its test items), claims_paired.md/.json (each of the paper's claims as a paired test on the same
items) and report.html (one static page: the tables, charts, --curves loss curves and an item
browser; spire/report.py). --compare OTHER writes compare.md: this run against another result set
cell by cell, with a paired test where both sides have their per-item outputs.

Example:
  python tasks/collect_results.py --glob 'out/Score*/*/scores.json' \\
      --names configs/eval/variants.yaml --out-dir results/
  python tasks/collect_results.py --glob 'out/Score/*/scores.json' \\
      --names configs/eval/variants.yaml --seeds --out-dir results_seeds/
"""
from __future__ import annotations

import argparse
import glob as globlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import cell_stats, claims, report, results  # noqa: E402
from spire.io import atomic_path, write_text  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402

log = get_logger("collect_results")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--score", nargs="+", action="append", default=[], metavar="KEY=VALUE",
                   help="one score file: variant=NAME testset=NAME file=PATH (repeatable)")
    p.add_argument("--glob", action="append", default=[], help="glob of score JSONs (repeatable)")
    p.add_argument("--names", help="YAML with names: {BP.branch[+BP.branch]: Label}, "
                   "testset_branchpoints, ignore_branchpoints, baseline_branches, variant_order, "
                   "testset_order, seed_branchpoint")
    p.add_argument("--name", action="append", default=[], metavar="BP.branch=Label",
                   help="realization fragment to row label (repeatable; overrides --names)")
    p.add_argument("--testset-bp", action="append", default=[], help="branch point naming the test set")
    p.add_argument("--baseline", action="append", default=[], metavar="BP.branch",
                   help="baseline branch of a branch point (canonical realization names omit it)")
    p.add_argument("--ignore-bp", action="append", default=[],
                   help="branch point left out of unmapped row labels")
    p.add_argument("--variant-order", help="comma-separated row order")
    p.add_argument("--testset-order", help="comma-separated column-group order")
    p.add_argument("--out-dir", default=".", help="where results.md/.csv/.png go")
    p.add_argument("--seed-bp", help="branch point whose branches are seeds (default: the names "
                   "config's seed_branchpoint); its baseline branch comes from the baselines")
    p.add_argument("--seeds", action="store_true", help="write seeds.md/.csv and claims.json over "
                   "every seed instead of the single-run tables of the baseline seed")
    p.add_argument("--compare", metavar="GLOB|CSV", help="another result set to compare with cell by "
                   "cell (paired test where both have per-item outputs): a glob of score JSONs "
                   "(another run's OUT/Score/*/scores.json, named with the same --names) or a "
                   "results.csv-shaped table of values (e.g. the paper's); writes compare.md")
    p.add_argument("--no-intervals", action="store_true", help="skip the bootstrap intervals, the "
                   "paired claims and report.html (they reread every hypothesis file)")
    p.add_argument("--curves", action="append", default=[], metavar="GLOB",
                   help="loss-curve PNGs to show in report.html (repeatable)")
    p.add_argument("--mt-tolerance", type=float, default=claims.MT_TOLERANCE,
                   help="chrF points SpireBase's MT may trail TowerBase's in claim 5 (default %(default)s)")
    return p.parse_args(argv)


def parse_score_arg(items: list[str]) -> dict[str, str]:
    kv = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--score {' '.join(items)}: {item!r} is not KEY=VALUE")
        kv["file" if key == "metric_file" else key] = value
    unknown = set(kv) - {"variant", "testset", "file"}
    if unknown or "file" not in kv:
        raise SystemExit(f"--score {' '.join(items)}: expected variant=, testset= and file= "
                         f"(unknown: {sorted(unknown)})")
    return kv


def main(argv=None) -> None:
    a = parse_args(argv)
    cfg = {}
    if a.names:
        import yaml
        cfg = yaml.safe_load(Path(a.names).read_text(encoding="utf-8")) or {}
        log_read(log, "variant names", a.names)
    names = dict(cfg.get("names") or {})
    for item in a.name:
        key, sep, label = item.partition("=")
        if not sep:
            raise SystemExit(f"--name {item!r}: expected BP.branch=Label")
        names[key] = label
    testset_bps = a.testset_bp or cfg.get("testset_branchpoints") or []
    ignore_bps = a.ignore_bp or cfg.get("ignore_branchpoints") or []
    baselines = a.baseline or cfg.get("baseline_branches") or []

    cells = []
    for items in a.score:
        kv = parse_score_arg(items)
        cells += results.load_score(kv["file"], variant=kv.get("variant"), testset=kv.get("testset"))
        log_read(log, "scores", kv["file"])
    if a.glob:
        skipped: list[str] = []
        try:
            found = results.scores_from_tree(a.glob, names, testset_bps, ignore_bps, baselines,
                                             skipped=skipped)
        except FileNotFoundError as e:  # no Score has finished yet, or the glob is wrong
            raise SystemExit(f"collect_results: {e}: run the eval plan first, or fix --glob")
        for d in skipped:
            log.warning("skipping %s: invalidated (its scores are stale until it reruns)", d)
        if skipped:
            log.warning("%d invalidated Score director%s left out of the tables; rerun the eval "
                        "plan to score them again", len(skipped), "y" if len(skipped) == 1 else "ies")
        if not found and not a.score:
            raise SystemExit(f"collect_results: every score file matching {' '.join(a.glob)} is "
                             f"in an invalidated task directory ({len(skipped)}): rerun the eval "
                             "plan first")
        log_read(log, "scores", ", ".join(a.glob), f"{len({c.file for c in found})} files")
        cells += found
    if not cells:
        raise SystemExit("no scores given: use --score and/or --glob")

    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else []  # noqa: E731
    variant_order = split(a.variant_order) or cfg.get("variant_order") or []
    testset_order = split(a.testset_order) or cfg.get("testset_order") or []
    seed_bp = a.seed_bp or cfg.get("seed_branchpoint")
    if a.seeds:
        if not seed_bp:
            raise SystemExit("--seeds: name the seed branch point with --seed-bp or seed_branchpoint "
                             "in the --names config")
        md, written = claims.write_seed_tables(
            cells, a.out_dir, seed_bp, baselines, variant_order, testset_order,
            claims.paper_claims(a.mt_tolerance))
        for path in written:
            log_wrote(log, "over seeds", path)
        print(md)
        return
    if seed_bp:  # the single-run tables are the baseline seed's (make demo's run)
        groups = claims.by_seed(cells, seed_bp, baselines)
        first = next(iter(groups))
        if len(groups) > 1:
            log.info("%s: tables of seed %s only; %d cells of seeds %s are left out (use --seeds)",
                     seed_bp, first, sum(len(g) for s, g in groups.items() if s != first),
                     " ".join(s for s in groups if s != first))
        cells = groups[first]
    df = results.table(cells, variant_order, testset_order)
    out = Path(a.out_dir)
    write_text(out / "results.md", results.to_markdown(df, cells))
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv_frame(df).to_csv(tmp, float_format="%.4f")
    with atomic_path(out / "results.png") as tmp:
        results.plot(df, tmp)
    for name in ("results.md", "results.csv", "results.png"):
        log_wrote(log, name, out / name, f"{len(df.index)} rows x {len(df.columns)} columns")
    for path in results.write_task_tables(cells, out, variant_order, testset_order):
        log_wrote(log, "task table", path)
    if not a.no_intervals:
        intervals_md, claims_md, written = cell_stats.write_stat_tables(
            cells, out, claims.paper_claims(a.mt_tolerance), variant_order, testset_order)
        for path in written:
            log_wrote(log, "statistics", path)
        charts = [out / "results.png"] + sorted(out.glob("*.png"))
        curves = sorted({p for g in a.curves for p in globlib.glob(g)
                         if not os.path.islink(Path(p).parent.parent)})  # ducttape's full-name links
        page = report.write_report(out / "report.html", cells, intervals_md, claims_md,
                                   dict.fromkeys(charts), curves)
        log_wrote(log, "report", page, f"{len(curves)} loss curves")
    if a.compare:
        other = load_other(a.compare, names, testset_bps, ignore_bps, baselines)
        res, cmp_notes = cell_stats.compare_sets(cells, other)
        write_text(out / "compare.md", cell_stats.compare_markdown(res, cmp_notes))
        log_wrote(log, "comparison", out / "compare.md",
                  f"{len(res)} shared cells, {sum(r.significant for r in res)} differ beyond chance")
    print(results.to_markdown(df))


def load_other(spec: str, names, testset_bps, ignore_bps, baselines) -> list:
    """The other result set of --compare: score JSONs, or a results.csv-shaped table of values."""
    if spec.endswith(".csv"):
        import csv as csvlib

        labels = {label: key for key, (label, _, _) in results.METRICS.items()}
        cells = []
        with open(spec, newline="", encoding="utf-8") as f:
            for row in csvlib.DictReader(f):
                model = row.pop("model", None) or row.pop("", None)
                for col, value in row.items():
                    testset, _, label = (col or "").rpartition(" ")
                    if label not in labels or value in ("", None):
                        continue
                    try:
                        v = float(value) / results.METRICS[labels[label]][2]
                    except ValueError:
                        raise SystemExit(f"{spec}: {model} / {col}: {value!r} is not a number")
                    cells.append(results.Score(model, testset, labels[label], v, spec, {}))
        if not cells:
            raise SystemExit(f"{spec}: no cells: expected results.csv's columns 'model' and "
                             "'<testset> <WER|BLEU|chrF|COMET>'")
        return cells
    try:
        return results.scores_from_tree([spec], names, testset_bps, ignore_bps, baselines)
    except FileNotFoundError as e:
        raise SystemExit(f"collect_results --compare: {e}")


if __name__ == "__main__":
    main()
