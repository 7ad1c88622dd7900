"""Intervals and paired tests on planted scores (spire.stats), cross-checked against sacreBLEU."""
from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from spire import stats
from spire.metrics import word_error_rate

WORDS = "the cat sat on a mat while my dog ran to the red barn and back again".split()


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(4, 12))) for _ in range(n)]


def _corrupt(sents: list[str], rate: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(w if rng.random() > rate else rng.choice(WORDS) for w in s.split()) for s in sents]


def test_interval_of_known_width_for_a_mean_of_segment_scores():
    rng = np.random.default_rng(0)
    seg = rng.normal(0.80, 0.10, size=2000)
    iv = stats.bootstrap_interval(stats.comet_items(seg))
    # the mean of 2,000 draws with sd 0.1: a 95% interval of 2 x 1.96 x 0.1 / sqrt(2000) = 0.00877
    assert iv.score == pytest.approx(seg.mean())
    assert iv.high - iv.low == pytest.approx(0.00877, rel=0.12)
    assert iv.low < iv.score < iv.high


def test_interval_is_seeded_and_narrows_with_more_items():
    seg = np.random.default_rng(1).normal(0.5, 0.2, size=4000)
    small, again = (stats.bootstrap_interval(stats.comet_items(seg[:400]), seed=7) for _ in range(2))
    big = stats.bootstrap_interval(stats.comet_items(seg), seed=7)
    assert (small.low, small.high) == (again.low, again.high)
    assert (big.high - big.low) == pytest.approx((small.high - small.low) / np.sqrt(10), rel=0.2)


def test_item_statistics_sum_to_the_corpus_scores():
    refs = _sentences(60, 0)
    hyps = _corrupt(refs, 0.3, 1)
    assert stats.sacrebleu_items("bleu", hyps, refs).score() == pytest.approx(
        BLEU().corpus_score(hyps, [refs]).score)
    assert stats.sacrebleu_items("chrf", hyps, refs).score() == pytest.approx(
        CHRF().corpus_score(hyps, [refs]).score)
    hyps[3] = hyps[3] + " extra words here"   # insertions count
    hyps[5] = ""                              # deletions count
    assert stats.wer_items(hyps, refs, "basic").score() == pytest.approx(
        word_error_rate(hyps, refs, "basic")["wer"])


def test_wer_interval_resamples_utterances():
    refs = _sentences(300, 2)
    iv = stats.bootstrap_interval(stats.wer_items(_corrupt(refs, 0.2, 3), refs, "basic"))
    assert iv.n == 300 and iv.low < iv.score < iv.high
    assert 1.0 < iv.high - iv.low < 10.0   # WER points, for ~2,400 words at ~15% WER


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
@pytest.mark.parametrize("test,sacre", [("paired_bootstrap", "bs"), ("approximate_randomization", "ar")])
def test_paired_tests_give_sacrebleus_p_values(metric, test, sacre, monkeypatch):
    monkeypatch.setenv("SACREBLEU_SEED", str(stats.SEED))
    refs = _sentences(80, 4)
    base, system = _corrupt(refs, 0.35, 5), _corrupt(refs, 0.30, 6)
    n = 200 if sacre == "ar" else 300
    ours = getattr(stats, test)(stats.sacrebleu_items(metric, base, refs),
                                stats.sacrebleu_items(metric, system, refs), n, stats.SEED)
    m = BLEU() if metric == "bleu" else CHRF()
    table = PairedTest([("baseline", base), ("system", system)], {metric: m}, [refs],
                       test_type=sacre, n_samples=n)()[1]
    theirs = next(v for k, v in table.items() if k != "System")[1]
    assert ours.b == pytest.approx(theirs.score)
    assert ours.p_value == pytest.approx(theirs.p_value)


def test_a_planted_difference_is_significant_and_noise_is_not():
    rng = np.random.default_rng(3)
    a = rng.normal(0.70, 0.15, size=500)
    better = stats.comet_items(a + 0.03 + rng.normal(0, 0.05, size=500))
    same = stats.comet_items(a + (lambda e: e - e.mean())(rng.normal(0, 0.05, size=500)))
    base = stats.comet_items(a)
    for test in (stats.paired_bootstrap, stats.approximate_randomization):
        assert test(base, better).p_value < 0.01
        assert test(base, better).significant()
        assert test(base, same).p_value > 0.2
        assert not test(base, same).significant()
    assert stats.paired_bootstrap(base, base).p_value == 1.0   # a system against itself


def test_paired_tests_refuse_other_items():
    with pytest.raises(ValueError, match="same items: 3 against 4"):
        stats.paired_bootstrap(stats.comet_items([1, 2, 3]), stats.comet_items([1, 2, 3, 4]))
    with pytest.raises(ValueError, match="cannot compare comet with wer"):
        stats.paired_bootstrap(stats.comet_items([1.0]), stats.wer_items(["a"], ["a"], "basic"))
    with pytest.raises(ValueError, match="no items"):
        stats.comet_items([])
