"""Results over seeds: mean ± standard deviation per cell, and the paper's claims tested against it.

The ``seeds`` plan (workflows/plans.tape) runs the ablation table once per branch of the ``Seed``
branch point; every score file's realization names its seed (canonical directory names leave out
the baseline seed, which the names config's ``baseline_branches`` puts back). ``by_seed`` groups
the cells of :mod:`spire.results` by seed, ``across_seeds`` gives each cell's :class:`Stat`, and
``evaluate`` tests the five claims of ``CLAIMS`` (docs/paper.md §4, issue 16's list).

The margin of a comparison of model A (expected better) with model B, in standard deviations:

    margin = (gap + tolerance) / sqrt(sd_A² + sd_B²)

where gap = mean_A − mean_B for a higher-is-better metric (chrF, BLEU, COMET) and
mean_B − mean_A for WER, sd is the sample standard deviation across seeds (n − 1), and tolerance
(0 except for non-inferiority claims) is how far A may trail B and still count. A claim holds
beyond two standard deviations when every comparison's margin exceeds 2; it is contradicted when
some margin is below −2 (the opposite holds beyond noise), and within noise otherwise.

Why this denominator: sqrt(sd_A² + sd_B²) is the standard deviation of the difference between
*one* run of A and one run of B. A margin above 2 therefore says that a single-seed run, such as
`make demo`, shows the ordering almost always (about 98% of runs under Gaussian noise), which is
what the demo has to convince a sceptical reader of. It is deliberately not a standard error of
the three-seed means (that would divide by √n and call "beyond noise" an ordering that one run
of the demo does not reliably show), and it does not pair the models by seed: the Spire variants
of one seed share a SpireBase but TowerFull and TowerBase do not, and positively correlated runs
only make the unpaired denominator larger, i.e. the test conservative.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from spire import results
from spire.results import METRICS, Score, parse_realization, split_label

# Claim 5 is non-inferiority: SpireBase's MT may trail TowerBase's by this many metric points
# (chrF) and still count as "close". Our choice; the paper states no tolerance.
MT_TOLERANCE = 2.0
# A margin beyond this many standard deviations holds (or contradicts) a claim.
THRESHOLD = 2.0


@dataclass(frozen=True)
class Stat:
    """One cell across seeds (values in the score file's units, seed order)."""
    values: tuple[float, ...]
    seeds: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def sd(self) -> float:
        """Sample standard deviation (n − 1); NaN below two seeds."""
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))


def seed_of(cell: Score, seed_bp: str, baselines: Sequence[str] = ()) -> str:
    """The seed branch of a cell's score file: its realization directory's ``seed_bp`` branch, or
    the baseline one (``baselines``: ``BP.branch`` entries) when the canonical name omits it."""
    defaults = parse_realization("+".join(baselines)) if baselines else {}
    branches = {**defaults, **parse_realization(Path(cell.file).parent.name)}
    if seed_bp not in branches:
        raise ValueError(f"{cell.file}: its realization names no {seed_bp} branch; list the baseline "
                         f"seed in the names config's baseline_branches (e.g. {seed_bp}.42)")
    return branches[seed_bp]


def by_seed(cells: Iterable[Score], seed_bp: str, baselines: Sequence[str] = ()) -> dict[str, list[Score]]:
    """Cells grouped by seed: the baseline seed first, then the others (numbers in numeric order)."""
    out: dict[str, list[Score]] = {}
    for c in cells:
        out.setdefault(seed_of(c, seed_bp, baselines), []).append(c)
    first = parse_realization("+".join(baselines)).get(seed_bp) if baselines else None
    order = sorted(out, key=lambda s: (s != first, not s.isdigit(), int(s) if s.isdigit() else 0, s))
    return {s: out[s] for s in order}


def across_seeds(groups: dict[str, list[Score]]) -> dict[tuple[str, str, str], Stat]:
    """``{(variant, testset, metric): Stat}``; two cells of one seed for one key is an error."""
    values: dict[tuple[str, str, str], dict[str, Score]] = {}
    for seed, cells in groups.items():
        for c in cells:
            per_seed = values.setdefault((c.variant, c.testset, c.metric), {})
            if seed in per_seed:
                raise ValueError(f"two scores for {c.variant} / {c.testset} / {c.metric} in seed "
                                 f"{seed}: {per_seed[seed].file} and {c.file}")
            per_seed[seed] = c
    return {key: Stat(tuple(c.value for c in per.values()), tuple(per))
            for key, per in values.items()}


def stat_tables(stats: dict[tuple[str, str, str], Stat], variant_order: Sequence[str] = (),
                testset_order: Sequence[str] = ()):
    """Three wide tables like :func:`spire.results.table` (display scale): mean, sd and n."""
    def cells(attr):
        return [Score(v, t, m, float(getattr(s, attr)), "", {}) for (v, t, m), s in stats.items()]
    mean = results.table(cells("mean"), variant_order, testset_order)
    sd = results.table(cells("sd"), variant_order, testset_order).reindex_like(mean)
    n = results.table(cells("n"), variant_order, testset_order).reindex_like(mean)
    for (_, label, scale) in METRICS.values():  # table() scaled n too: undo it
        cols = [c for c in n.columns if c[1] == label]
        n[cols] = n[cols] / scale
    return mean, sd, n


def seeds_markdown(mean, sd, n) -> str:
    """``mean ± sd`` per cell; a cell with fewer seeds than the most says ``(n=K)``."""
    arrow = {label: ("↓" if better == "lower" else "↑") for label, better, _ in METRICS.values()}
    most = int(n.max().max()) if n.size else 0
    header = ["Model"] + [f"{t} {m}{arrow[m]}" for t, m in mean.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in mean.index:
        vals = []
        for col in mean.columns:
            m, s, k = mean.loc[variant, col], sd.loc[variant, col], n.loc[variant, col]
            if m != m:
                vals.append("–")  # not evaluated
                continue
            text = f"{m:.1f}" + ("" if s != s else f" ± {s:.1f}")
            vals.append(text + (f" (n={int(k)})" if int(k) < most else ""))
        lines.append("| " + " | ".join([str(variant)] + vals) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Comparison:
    """``better`` scores better than ``worse`` on ``metric`` of every ``task`` column (direct
    scores only: no self-cascade or gold-transcript rows), by more than ``-tolerance`` points."""
    better: str
    worse: str
    task: str      # spire.results.split_label's task word: asr, st, mt
    metric: str    # a spire.results.METRICS key
    tolerance: float = 0.0


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    comparisons: tuple[Comparison, ...]


def paper_claims(mt_tolerance: float = MT_TOLERANCE) -> tuple[Claim, ...]:
    """The paper's five claims about its ablations (issue 16), as comparisons of table rows."""
    speech = (("asr", "wer"), ("st", "chrf"))
    return (
        Claim(1, "instruction tuning is what turns units into transcripts and translations "
                 "(SpireFull far better than SpireBase and TowerBase few-shot on ASR and ST)",
              tuple(Comparison("SpireFull", base, t, m) for base in ("SpireBase", "TowerBase")
                    for t, m in speech)),
        Claim(2, "speech CPT matters for speech (TowerFull's ASR and ST worse than SpireFull's)",
              tuple(Comparison("SpireFull", "TowerFull", t, m) for t, m in speech)),
        Claim(3, "text instructions keep the text skills (SpireNoBlocks' MT worse than SpireFull's)",
              (Comparison("SpireFull", "SpireNoBlocks", "mt", "chrf"),)),
        Claim(4, "pseudo-labelled ST helps ST (SpireNoPseudo's ST worse than SpireFull's)",
              (Comparison("SpireFull", "SpireNoPseudo", "st", "chrf"),)),
        Claim(5, f"speech CPT does not destroy MT (SpireBase's MT no worse than TowerBase's "
                 f"minus {mt_tolerance:g} points)",
              (Comparison("SpireBase", "TowerBase", "mt", "chrf", tolerance=mt_tolerance),)),
    )


CLAIMS = paper_claims()


def margin(a: Stat, b: Stat, metric: str, tolerance: float = 0.0) -> tuple[float, float, float]:
    """``(gap, sd, margin)`` of "a better than b" in display units (module docstring).

    gap > 0 when a is better; sd = sqrt(sd_a² + sd_b²); margin = (gap + tolerance) / sd, ±inf
    when both models gave the same score in every seed (sd 0) and the gap is not zero, NaN below
    two seeds."""
    _, better, scale = METRICS[metric]
    sign = 1.0 if better == "higher" else -1.0
    gap = sign * (a.mean - b.mean) * scale
    sd = math.sqrt(a.sd ** 2 + b.sd ** 2) * scale
    if sd != sd:
        return gap, sd, math.nan
    if sd == 0:
        x = gap + tolerance
        return gap, sd, 0.0 if x == 0 else math.copysign(math.inf, x)
    return gap, sd, (gap + tolerance) / sd


def verdict(m: float, threshold: float = THRESHOLD) -> str:
    if m != m:
        return "not measured"
    return "holds" if m > threshold else "contradicted" if m < -threshold else "within noise"


@dataclass
class Result:
    claim: Claim
    verdict: str
    margin: float                                   # the weakest comparison's margin
    details: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _columns(stats, model: str, task: str, metric: str) -> dict[str, Stat]:
    """``{test-set label: Stat}`` of a model's direct cells of a task and metric."""
    out = {}
    for (variant, testset, m), s in stats.items():
        if variant == model and m == metric:
            t, suffix, _, _ = split_label(testset, m)
            if t == task and suffix == "":
                out[testset] = s
    return out


def evaluate(stats: dict[tuple[str, str, str], Stat], claims: Sequence[Claim] = CLAIMS,
             threshold: float = THRESHOLD) -> list[Result]:
    """Each claim's verdict: holds only if every comparison in every column where both models
    were scored holds; a comparison with no shared column is reported missing and leaves the
    claim not measured."""
    out = []
    for claim in claims:
        details, missing = [], []
        for comp in claim.comparisons:
            a = _columns(stats, comp.better, comp.task, comp.metric)
            b = _columns(stats, comp.worse, comp.task, comp.metric)
            shared = [t for t in a if t in b]
            if not shared:
                missing.append(f"{comp.better} vs {comp.worse}: no {comp.task} "
                               f"{METRICS[comp.metric][0]} scored for both")
            for t in shared:
                gap, sd, m = margin(a[t], b[t], comp.metric, comp.tolerance)
                scale = METRICS[comp.metric][2]
                details.append({
                    "column": f"{t} {METRICS[comp.metric][0]}", "better": comp.better,
                    "worse": comp.worse, "mean_better": a[t].mean * scale, "sd_better": a[t].sd * scale,
                    "mean_worse": b[t].mean * scale, "sd_worse": b[t].sd * scale,
                    "n": min(a[t].n, b[t].n), "gap": gap, "tolerance": comp.tolerance, "sd": sd,
                    "margin": m, "verdict": verdict(m, threshold)})
        margins = [d["margin"] for d in details]
        if missing or not details or any(x != x for x in margins):
            weakest, v = (min(margins) if margins and all(x == x for x in margins) else math.nan,
                          "not measured")
        else:
            weakest = min(margins)
            v = verdict(weakest, threshold)
        out.append(Result(claim, v, weakest, details, missing))
    return out


def _num(x: float) -> str:
    return "n/a" if x != x else ("∞" if x == math.inf else "-∞" if x == -math.inf else f"{x:.1f}")


def claims_markdown(res: Sequence[Result], n_seeds: int, threshold: float = THRESHOLD) -> str:
    """One line per claim (verdict, weakest margin), then each comparison behind it."""
    lines = [f"## The paper's claims over {n_seeds} seeds",
             "",
             f"margin = (gap + tolerance) / sqrt(sd_a² + sd_b²), gap = how much the expected-better "
             f"model leads (spire/claims.py); a claim holds when every margin exceeds {threshold:g}, "
             f"is contradicted when one is below −{threshold:g}, and is within noise otherwise.",
             ""]
    for r in res:
        lines.append(f"{r.claim.number}. **{r.verdict}** (margin {_num(r.margin)} sd): {r.claim.statement}")
        for d in r.details:
            tol = f" + {d['tolerance']:g} tolerance" if d["tolerance"] else ""
            lines.append(f"   - {d['column']}: {d['better']} {d['mean_better']:.1f} ± {_num(d['sd_better'])}"
                         f" vs {d['worse']} {d['mean_worse']:.1f} ± {_num(d['sd_worse'])} (n={d['n']}):"
                         f" leads by {d['gap']:.1f}{tol}, margin {_num(d['margin'])} sd, {d['verdict']}")
        for m in r.missing:
            lines.append(f"   - missing: {m}")
    return "\n".join(lines) + "\n"


def write_seed_tables(cells: Sequence[Score], out_dir: str | os.PathLike, seed_bp: str,
                      baselines: Sequence[str] = (), variant_order: Sequence[str] = (),
                      testset_order: Sequence[str] = (), claims: Sequence[Claim] = CLAIMS,
                      threshold: float = THRESHOLD) -> tuple[str, list[Path]]:
    """``seeds.md`` (mean ± sd table and the claims), ``seeds.csv`` (one row per cell: mean, sd,
    n and each seed's value) and ``claims.json``; returns (markdown, files written)."""
    import csv as csvlib

    from spire.io import atomic_path, write_json, write_text

    groups = by_seed(cells, seed_bp, baselines)
    stats = across_seeds(groups)
    mean, sd, n = stat_tables(stats, variant_order, testset_order)
    res = evaluate(stats, claims, threshold)
    seeds = list(groups)
    md = (f"## Results over seeds ({seed_bp}: {' '.join(seeds)}): mean ± sample sd\n\n"
          + seeds_markdown(mean, sd, n) + "\n" + claims_markdown(res, len(seeds), threshold))
    out = Path(out_dir)
    write_text(out / "seeds.md", md)
    with atomic_path(out / "seeds.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csvlib.writer(f)
            w.writerow(["model", "testset", "metric", "mean", "sd", "n"] + [f"seed {s}" for s in seeds])
            for (variant, testset, metric), s in stats.items():
                scale = METRICS[metric][2]
                per = dict(zip(s.seeds, s.values))
                w.writerow([variant, testset, METRICS[metric][0], f"{s.mean * scale:.4f}",
                            "" if s.sd != s.sd else f"{s.sd * scale:.4f}", s.n]
                           + ["" if x not in per else f"{per[x] * scale:.4f}" for x in seeds])

    def finite(x):  # JSON has no inf/NaN: write them as strings
        return x if isinstance(x, (int, str)) or math.isfinite(x) else str(x)
    write_json(out / "claims.json", [
        {"claim": r.claim.number, "statement": r.claim.statement, "verdict": r.verdict,
         "margin": finite(r.margin), "missing": r.missing,
         "comparisons": [{k: (finite(v) if isinstance(v, float) else v) for k, v in d.items()}
                         for d in r.details]} for r in res])
    return md, [out / "seeds.md", out / "seeds.csv", out / "claims.json"]
