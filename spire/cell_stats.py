"""Intervals and paired tests for the cells of a results table (spire.results → spire.stats).

A score file records the hypotheses and references it scored (``hyps``, ``refs``: absolute
paths), how (``normalizer`` for WER, ``tokenize`` for BLEU) and, for COMET, its segment scores
(``comet_segments``). That is enough to rebuild each cell's per-item statistics without a model:
the interval of every cell and the paired test of every comparison run at table time, on the
very items the cell was computed from. A cell whose files no longer give its recorded value
(a hypothesis file rewritten since) gets no interval and a note, rather than a wrong one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from spire import stats
from spire.io import read_lines
from spire.results import METRICS, Score


@dataclass(frozen=True)
class CellInterval:
    variant: str
    testset: str
    metric: str
    value: float          # display units (COMET ×100), as the tables
    low: float
    high: float
    n: int


def scored_lines(cell: Score) -> tuple[list[str], list[str]]:
    """The hypotheses and references a cell was computed from, as its score task read them."""
    hyps, refs = read_lines(cell.meta["hyps"]), read_lines(cell.meta["refs"])
    if cell.meta.get("n_skipped_empty_refs"):  # score_mt --skip-empty-refs dropped these
        keep = [i for i, r in enumerate(refs) if r.strip()]
        hyps, refs = [hyps[i] for i in keep], [refs[i] for i in keep]
    return hyps, refs


def items_of(cell: Score) -> stats.Items:
    """The per-item statistics a cell was computed from; ValueError when they cannot be rebuilt."""
    meta = cell.meta
    if cell.metric not in ("wer", "bleu", "chrf", "comet", "f1"):
        raise ValueError(f"{cell.file}: no per-item statistics for {cell.metric} yet")
    if cell.metric == "comet":
        seg = meta.get("comet_segments")
        if not seg:
            raise ValueError(f"{cell.file}: no comet_segments recorded (scored by an older score_mt)")
        items = stats.comet_items(seg)
    else:
        if not meta.get("hyps") or not meta.get("refs"):
            older = " (scored by an older tower_task.py score-ner)" if cell.metric == "f1" else ""
            raise ValueError(f"{cell.file}: the score file does not name its hyps/refs files{older}")
        if cell.metric == "f1":  # NER (Table 8): spans per sentence, from the files score-ner read
            from spire import tower_tasks as tt
            hyps, refs = tt.read_ner_scoring(meta["hyps"], meta["refs"])
            items = stats.f1_items(tt.span_counts(refs, hyps))
        elif cell.metric == "wer":
            items = stats.wer_items(*scored_lines(cell), meta.get("normalizer", "whisper"))
        else:
            items = stats.sacrebleu_items(cell.metric, *scored_lines(cell), meta.get("tokenize", "13a"),
                                          meta.get("spm_model"))
    if not math.isclose(items.score(), cell.value, rel_tol=1e-4, abs_tol=1e-6):
        raise ValueError(f"{cell.file}: {cell.metric} rebuilt from {meta.get('hyps', 'its segments')} is "
                         f"{items.score():.4f}, the file says {cell.value:.4f}: the hypotheses or "
                         "references changed since scoring; rerun the Score task")
    return items


def intervals(cells: Iterable[Score], n_resamples: int = stats.N_BOOTSTRAP, seed: int = stats.SEED
              ) -> tuple[list[CellInterval], list[str]]:
    """The 95% bootstrap interval of every cell that can be rebuilt, and a note per cell that cannot."""
    out, notes = [], []
    for cell in cells:
        try:
            iv = stats.bootstrap_interval(items_of(cell), n_resamples, seed)
        except (ValueError, OSError) as e:
            notes.append(f"{cell.variant} / {cell.testset} {METRICS[cell.metric][0]}: no interval ({e})")
            continue
        scale = METRICS[cell.metric][2]
        out.append(CellInterval(cell.variant, cell.testset, cell.metric, iv.score * scale,
                                iv.low * scale, iv.high * scale, iv.n))
    return out, notes


@dataclass(frozen=True)
class PairedResult:
    testset: str
    metric: str
    a: str                 # baseline: the model expected worse
    b: str                 # the model expected better
    value_a: float         # display units
    value_b: float
    gain: float            # b better than a by this many display units (sign flipped for WER)
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def paired(cell_a: Score, cell_b: Score, test: str = "bootstrap", n_resamples: int | None = None,
           seed: int = stats.SEED) -> PairedResult:
    """Is ``cell_b`` better than ``cell_a`` beyond chance on the same items? (two-sided p)"""
    if cell_a.metric != cell_b.metric:
        raise ValueError(f"cannot pair {cell_a.metric} with {cell_b.metric}")
    if cell_a.metric != "comet" and read_lines(cell_a.meta["refs"]) != read_lines(cell_b.meta["refs"]):
        raise ValueError(f"{cell_a.file} and {cell_b.file} were scored against different references")
    fn = {"bootstrap": stats.paired_bootstrap, "randomization": stats.approximate_randomization}[test]
    n = n_resamples or (stats.N_BOOTSTRAP if test == "bootstrap" else stats.N_RANDOMIZATION)
    c = fn(items_of(cell_a), items_of(cell_b), n, seed)
    _, better, scale = METRICS[cell_a.metric]
    sign = 1.0 if better == "higher" else -1.0
    return PairedResult(cell_a.testset, cell_a.metric, cell_a.variant, cell_b.variant, c.a * scale,
                        c.b * scale, sign * c.delta * scale, c.p_value, c.n)


def compare_sets(mine: Sequence[Score], theirs: Sequence[Score], test: str = "bootstrap"
                 ) -> tuple[list[PairedResult], list[str]]:
    """Cell by cell, this run (``b``) against another (``a``): the same variant, test set and
    metric in both. Cells with no per-item data on either side are compared by value only (p NaN)."""
    index = {(c.variant, c.testset, c.metric): c for c in theirs}
    out, notes = [], []
    for cell in mine:
        other = index.get((cell.variant, cell.testset, cell.metric))
        if other is None:
            notes.append(f"{cell.variant} / {cell.testset} {METRICS[cell.metric][0]}: not in the other set")
            continue
        try:
            out.append(paired(other, cell, test))
        except (ValueError, OSError, KeyError) as e:
            _, better, scale = METRICS[cell.metric]
            sign = 1.0 if better == "higher" else -1.0
            out.append(PairedResult(cell.testset, cell.metric, other.variant, cell.variant,
                                    other.value * scale, cell.value * scale,
                                    sign * (cell.value - other.value) * scale, math.nan, 0))
            notes.append(f"{cell.variant} / {cell.testset} {METRICS[cell.metric][0]}: values only ({e})")
    return out, notes


# --- tables ------------------------------------------------------------------------------------

def intervals_markdown(cells: Sequence[Score], ivs: Sequence[CellInterval], notes: Sequence[str] = (),
                       variant_order: Sequence[str] = (), testset_order: Sequence[str] = ()) -> str:
    """The results table with each cell's 95% bootstrap interval: ``14.30 [12.9, 15.8]``."""
    from spire.results import table

    df = table(cells, variant_order, testset_order)
    by_key = {(iv.variant, iv.testset, METRICS[iv.metric][0]): iv for iv in ivs}
    arrow = {label: ("↓" if better == "lower" else "↑") for label, better, _ in METRICS.values()}
    header = ["Model"] + [f"{t} {m}{arrow[m]}" for t, m in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in df.iterrows():
        vals = []
        for (t, m), v in zip(df.columns, row.tolist()):
            iv = by_key.get((variant, t, m))
            vals.append("–" if v != v else f"{v:.2f}" if iv is None else
                        f"{v:.2f} [{iv.low:.1f}, {iv.high:.1f}]")
        lines.append("| " + " | ".join([str(variant)] + vals) + " |")
    n_items = sorted({iv.n for iv in ivs})
    text = ("\n".join(lines) + f"\n\n- [low, high]: 95% percentile bootstrap interval, {stats.N_BOOTSTRAP} "
            f"resamples of the test items (seed {stats.SEED}; items per test set: "
            f"{', '.join(map(str, n_items)) or 'n/a'})\n")
    return text + "".join(f"- {n}\n" for n in notes)


def paired_claims(cells: Sequence[Score], claims: Sequence, test: str = "bootstrap"
                  ) -> list[tuple[object, list[PairedResult], list[str]]]:
    """Each claim's comparisons as paired tests on the same items, per shared direct column."""
    from spire.results import split_label

    def direct(model, task, metric):
        out = {}
        for c in cells:
            if c.variant == model and c.metric == metric:
                t, suffix, _, _ = split_label(c.testset, metric)
                if t == task and suffix == "":
                    out[c.testset] = c
        return out

    res = []
    for claim in claims:
        found, missing = [], []
        for comp in claim.comparisons:
            a, b = direct(comp.worse, comp.task, comp.metric), direct(comp.better, comp.task, comp.metric)
            shared = [t for t in b if t in a]
            if not shared:
                missing.append(f"{comp.better} vs {comp.worse}: no {comp.task} "
                               f"{METRICS[comp.metric][0]} scored for both")
            for t in shared:
                try:
                    found.append(paired(a[t], b[t], test))
                except (ValueError, OSError, KeyError) as e:
                    missing.append(f"{comp.better} vs {comp.worse} on {t}: {e}")
        res.append((claim, found, missing))
    return res


def paired_claims_markdown(res, test: str = "bootstrap") -> str:
    lines = ["## The paper's claims, paired on the same test items",
             "",
             f"Each comparison: the expected-better model's gain in display units and the two-sided "
             f"p-value of a paired {'bootstrap (1,000 resamples)' if test == 'bootstrap' else 'approximate randomisation (10,000 trials)'} "
             f"on the items both models were scored on (spire/stats.py; p < 0.05: beyond chance).",
             ""]
    for claim, found, missing in res:
        lines.append(f"{claim.number}. {claim.statement}")
        for r in found:
            lines.append(f"   - {r.testset} {METRICS[r.metric][0]}: {r.b} {r.value_b:.2f} vs {r.a} "
                         f"{r.value_a:.2f}, gain {r.gain:+.2f}, p = {r.p_value:.4f} "
                         f"({'significant' if r.significant else 'not significant'}, n={r.n})")
        lines += [f"   - missing: {m}" for m in missing]
    return "\n".join(lines) + "\n"


def compare_markdown(res: Sequence[PairedResult], notes: Sequence[str] = ()) -> str:
    lines = ["## This run against the other, cell by cell", "",
             "| Model | Test set | Metric | other | this | gain | p |", "|---|---|---|---|---|---|---|"]
    for r in res:
        p = "n/a" if r.p_value != r.p_value else f"{r.p_value:.4f}"
        lines.append(f"| {r.b} | {r.testset} | {METRICS[r.metric][0]} | {r.value_a:.2f} | "
                     f"{r.value_b:.2f} | {r.gain:+.2f} | {p} |")
    return "\n".join(lines) + "\n\n" + "".join(f"- {n}\n" for n in notes)


def write_stat_tables(cells: Sequence[Score], out_dir, claims: Sequence = (),
                      variant_order: Sequence[str] = (), testset_order: Sequence[str] = ()):
    """``intervals.md``/``intervals.csv`` (every cell with its 95% interval) and, when claims are
    given, ``claims_paired.md``/``claims_paired.json``; returns (intervals md, claims md, files)."""
    import csv as csvlib
    from pathlib import Path

    from spire.io import atomic_path, write_json, write_text

    out = Path(out_dir)
    ivs, notes = intervals(cells)
    md = intervals_markdown(cells, ivs, notes, variant_order, testset_order)
    write_text(out / "intervals.md", md)
    with atomic_path(out / "intervals.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csvlib.writer(f)
            w.writerow(["model", "testset", "metric", "value", "low", "high", "n"])
            for iv in ivs:
                w.writerow([iv.variant, iv.testset, METRICS[iv.metric][0], f"{iv.value:.4f}",
                            f"{iv.low:.4f}", f"{iv.high:.4f}", iv.n])
    files = [out / "intervals.md", out / "intervals.csv"]
    claims_md = ""
    if claims:
        res = paired_claims(cells, claims)
        claims_md = paired_claims_markdown(res)
        write_text(out / "claims_paired.md", claims_md)
        write_json(out / "claims_paired.json", [
            {"claim": c.number, "statement": c.statement, "missing": missing,
             "comparisons": [{**r.__dict__, "significant": r.significant,
                              "p_value": r.p_value if r.p_value == r.p_value else None}
                             for r in found]} for c, found, missing in res])
        files += [out / "claims_paired.md", out / "claims_paired.json"]
    return md, claims_md, files
