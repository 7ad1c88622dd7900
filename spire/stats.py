"""Confidence intervals and paired significance tests for the result tables.

Every metric here is a function of per-item *sufficient statistics* summed over the test set:
WER of (errors, reference words) per utterance, BLEU and chrF of sacreBLEU's own per-segment
statistics, COMET of (segment score, 1). Resampling items and re-summing their statistics gives
the 95% bootstrap interval of a cell (Koehn 2004) and, with the same resamples for two systems,
the paired bootstrap test; swapping the two systems' items at random gives the approximate
randomisation test (Riezler & Maxwell 2005).

sacreBLEU ships both tests (``sacrebleu.significance``) but only for its own metrics and only for
systems on one reference file; the functions below run the same algorithms (same p-value
definitions, same seeded resampling, cross-checked against sacreBLEU in the tests) over any of
the four metrics, so WER and COMET get intervals and tests on the same footing as BLEU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

SEED = 12345          # sacreBLEU's default SACREBLEU_SEED: the same resamples as `sacrebleu --paired-bs`
N_BOOTSTRAP = 1000    # sacreBLEU's default for the paired bootstrap
N_RANDOMIZATION = 10000


@dataclass(frozen=True)
class Items:
    """Per-item statistics of one system on one test set, and how a sum of them becomes a score."""
    metric: str
    stats: np.ndarray                       # (n_items, k)
    compute: Callable[[np.ndarray], float]  # summed statistics (k,) -> score

    def __post_init__(self):
        if self.stats.ndim != 2 or len(self.stats) == 0:
            raise ValueError(f"{self.metric}: no items to resample (statistics of shape "
                             f"{self.stats.shape})")

    def __len__(self) -> int:
        return len(self.stats)

    def score(self) -> float:
        return self.compute(self.stats.sum(0))

    def scores(self, idx: np.ndarray) -> np.ndarray:
        """Score of each resample, ``idx`` being (n_resamples, n_items) item indices."""
        return np.array([self.compute(s) for s in self.stats[idx].sum(1)])


@dataclass(frozen=True)
class Interval:
    score: float
    low: float
    high: float
    n: int
    n_resamples: int
    seed: int


@dataclass(frozen=True)
class Comparison:
    """System ``b`` against baseline ``a`` on the same items: ``delta = b - a``."""
    metric: str
    a: float
    b: float
    delta: float
    p_value: float
    test: str          # "paired-bootstrap" or "approximate-randomization"
    n: int
    n_resamples: int
    seed: int

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


# --- per-item statistics -------------------------------------------------------------------------

def _ratio_percent(s: np.ndarray) -> float:
    return 100.0 * float(s[0]) / float(s[1]) if s[1] else float("nan")


def _mean(s: np.ndarray) -> float:
    return float(s[0]) / float(s[1])


def wer_items(hyps: Sequence[str], refs: Sequence[str], normalizer: str = "whisper") -> Items:
    """(S + D + I, reference words) per utterance, normalised as ``metrics.word_error_rate``;
    utterances whose reference is empty after normalisation are dropped there too."""
    import jiwer

    from spire.metrics import check_aligned, normalize

    check_aligned(hyps, refs)
    h, r = normalize(hyps, normalizer), normalize(refs, normalizer)
    keep = [i for i, x in enumerate(r) if x.strip()]
    if not keep:
        raise ValueError("every reference is empty after normalisation; WER is undefined")
    out = jiwer.process_words(reference=[r[i] for i in keep], hypothesis=[h[i] for i in keep])
    rows = []
    for align in out.alignments:  # one list of chunks per utterance
        ref_len = {t: sum(c.ref_end_idx - c.ref_start_idx for c in align if c.type == t)
                   for t in ("equal", "substitute", "delete")}
        ins = sum(c.hyp_end_idx - c.hyp_start_idx for c in align if c.type == "insert")
        rows.append((ref_len["substitute"] + ref_len["delete"] + ins, sum(ref_len.values())))
    return Items("wer", np.asarray(rows, dtype=np.float64), _ratio_percent)


def sacrebleu_items(metric: str, hyps: Sequence[str], refs: Sequence[str], tokenize: str = "13a",
                    spm_model: str | os.PathLike | None = None) -> Items:
    """sacreBLEU's per-segment sufficient statistics for ``bleu`` or ``chrf``: the same numbers
    its ``corpus_score`` sums, so ``Items.score()`` equals the corpus score."""
    from sacrebleu.metrics import BLEU, CHRF

    from spire.metrics import check_aligned, use_spm_model

    check_aligned(hyps, refs)
    if metric == "bleu":
        use_spm_model(tokenize, spm_model)
        m = BLEU(tokenize=tokenize)
    elif metric == "chrf":
        m = CHRF()
    else:
        raise ValueError(f"sacrebleu_items: metric {metric!r} is not bleu or chrf")
    # The private pair below is what sacrebleu.significance itself resamples with.
    stats = np.asarray(m._extract_corpus_statistics(list(hyps), [list(refs)]), dtype=np.float64)
    return Items(metric, stats, lambda s: float(m._compute_score_from_stats(list(s)).score))


def _f1(s: np.ndarray) -> float:
    return 2.0 * float(s[0]) / float(s[1] + s[2]) if s[1] + s[2] else 0.0


def f1_items(counts: Sequence[Sequence[int]]) -> Items:
    """Micro F1 (a fraction, as span F1's score files) from each item's (correct, predicted,
    gold) counts (spire.tower_tasks.span_counts)."""
    return Items("f1", np.asarray(counts, dtype=np.float64).reshape(-1, 3), _f1)


def comet_items(segment_scores: Sequence[float]) -> Items:
    """COMET's system score is the mean of its segment scores."""
    seg = np.asarray(segment_scores, dtype=np.float64)
    return Items("comet", np.stack([seg, np.ones_like(seg)], 1), _mean)


# --- intervals and tests -------------------------------------------------------------------------

def resample_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    # rng.choice exactly as sacrebleu.significance, so a seed gives sacreBLEU's own resamples
    return np.random.default_rng(seed).choice(n_items, size=(n_resamples, n_items), replace=True)


def bootstrap_interval(items: Items, n_resamples: int = N_BOOTSTRAP, seed: int = SEED,
                       level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the corpus score, resampling test items."""
    boot = items.scores(resample_indices(len(items), n_resamples, seed))
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return Interval(items.score(), float(low), float(high), len(items), n_resamples, seed)


def _p_value(null: np.ndarray, observed: float) -> float:
    # as sacrebleu.significance._compute_p_value (after multeval): strict >, plus one
    return (int(np.sum(null > observed)) + 1) / (len(null) + 1)


def _check_paired(a: Items, b: Items) -> bool:
    """True when the two systems are the same on every item (no test to run)."""
    if a.metric != b.metric:
        raise ValueError(f"cannot compare {a.metric} with {b.metric}")
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same items: {len(a)} against {len(b)}")
    # sacreBLEU's strict ">" makes a system against itself "significant" (p = 1/(n+1)); a reader
    # of a table means "no difference", so identical items give p = 1.
    return bool(np.array_equal(a.stats, b.stats))


def paired_bootstrap(a: Items, b: Items, n_resamples: int = N_BOOTSTRAP, seed: int = SEED) -> Comparison:
    """Paired bootstrap resampling (Koehn 2004), p-value as sacreBLEU's ``--paired-bs``."""
    sa, sb = a.score(), b.score()
    if _check_paired(a, b):
        return Comparison(a.metric, sa, sb, 0.0, 1.0, "paired-bootstrap", len(a), n_resamples, seed)
    idx = resample_indices(len(a), n_resamples, seed)
    diffs = np.abs(b.scores(idx) - a.scores(idx))
    p = _p_value(diffs - diffs.mean(), abs(sb - sa))
    return Comparison(a.metric, sa, sb, sb - sa, p, "paired-bootstrap", len(a), n_resamples, seed)


def approximate_randomization(a: Items, b: Items, n_trials: int = N_RANDOMIZATION,
                              seed: int = SEED) -> Comparison:
    """Paired two-sided approximate randomisation, p-value as sacreBLEU's ``--paired-ar``."""
    sa, sb = a.score(), b.score()
    if _check_paired(a, b):
        return Comparison(a.metric, sa, sb, 0.0, 1.0, "approximate-randomization", len(a), n_trials, seed)
    swap = np.random.default_rng(seed).integers(2, size=(n_trials, len(a)), dtype=bool)
    shuf_a = np.array([a.compute(s) for s in swap @ a.stats + (~swap) @ b.stats])
    shuf_b = np.array([a.compute(s) for s in (~swap) @ a.stats + swap @ b.stats])
    p = _p_value(np.abs(shuf_a - shuf_b), abs(sb - sa))
    return Comparison(a.metric, sa, sb, sb - sa, p, "approximate-randomization", len(a), n_trials, seed)
