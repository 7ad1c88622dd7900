"""Results over seeds and the paper's claims (spire/claims.py) on planted score trees laid out as
the seeds plan of workflows/plans.tape makes them (canonical directories + full-name symlinks)."""
import csv
import json
import math
import os
from pathlib import Path

import pytest

from eval_fixtures import load_task
from spire import claims, results
from spire.io import write_json

REPO = Path(__file__).resolve().parents[2]
VARIANTS = REPO / "configs" / "eval" / "variants.yaml"
BASELINES = {"Base": "spire", "EvalModel": "instruct", "EvalTask": "asr", "ITMix": "full",
             "LanguagePair": "en_ty", "STMode": "direct", "Seed": "42"}
MODELS = {  # row label -> its branches (as the eval plan reaches it)
    "SpireFull": {"EvalModel": "instruct", "Base": "spire", "ITMix": "full"},
    "SpireNoBlocks": {"EvalModel": "instruct", "Base": "spire", "ITMix": "no_blocks"},
    "SpireNoPseudo": {"EvalModel": "instruct", "Base": "spire", "ITMix": "no_pseudo"},
    "TowerFull": {"EvalModel": "instruct", "Base": "tower", "ITMix": "full"},
    "SpireBase": {"EvalModel": "base"},
    "TowerBase": {"EvalModel": "tower_base"},
}
SEEDS = ("42", "43", "44")

# Planted per-seed values (seeds 42, 43, 44). ASR WER; ST and MT chrF, both toy languages alike.
# Claim 1 and 2 hold by far; claim 3 is within noise (NoBlocks 1 point worse, sd 4); claim 4 is
# contradicted (NoPseudo's ST clearly better); claim 5 holds only thanks to its tolerance
# (SpireBase 1 chrF below TowerBase, sd 0.3 each: (−1 + 2) / 0.42 = 2.36 sd).
PLANT = {
    "SpireFull": {"asr": (30, 32, 34), "st": (50, 51, 52), "mt": (60, 64, 68)},
    "SpireNoBlocks": {"asr": (31, 33, 35), "st": (49, 51, 53), "mt": (59, 63, 67)},
    "SpireNoPseudo": {"asr": (32, 33, 34), "st": (60, 61, 62), "mt": (61, 62, 63)},
    "TowerFull": {"asr": (60, 62, 64), "st": (30, 31, 32), "mt": (55, 56, 57)},
    "SpireBase": {"asr": (110, 100, 105), "st": (5, 6, 7), "mt": (39.7, 40.0, 40.3)},
    "TowerBase": {"asr": (98, 99, 100), "st": (1, 1, 1), "mt": (40.7, 41.0, 41.3)},
}


def names(branches):
    """(canonical, full) realization names as ducttape makes them (docs of spire/results.py)."""
    full = "+".join(f"{bp}.{br}" for bp, br in sorted(branches.items()))
    canon = "+".join(f"{bp}.{br}" for bp, br in sorted(branches.items()) if BASELINES.get(bp) != br)
    return canon or "Baseline.baseline", full


def plant(out, plant=PLANT, seeds=SEEDS, symlink_every=2):
    """OUT/Score/<realization>/scores.json for every model, task, language pair and seed (ASR,
    direct ST, MT, self-cascaded ST); every ``symlink_every``-th file also gets its full-name link."""
    score = out / "Score"
    k = 0
    for model, branches in MODELS.items():
        for i, seed in enumerate(seeds):
            cells = [({"EvalTask": "asr"}, {"wer": plant[model]["asr"][i], "testset": "mini asr"})]
            for lang in ("ty", "rv"):
                pair = {"LanguagePair": f"en_{lang}"}
                st, mt = plant[model]["st"][i], plant[model]["mt"][i]
                cells += [({"EvalTask": "st", **pair}, {"chrf": st, "bleu": st / 3, "testset": "mini st",
                                                        "lang_pair": f"en-{lang}"}),
                          ({"EvalTask": "mt", **pair}, {"chrf": mt, "bleu": mt / 3, "testset": "mini mt",
                                                        "lang_pair": f"en-{lang}"}),
                          ({"EvalTask": "st", "STMode": "cascade", **pair},
                           {"chrf": st + 100, "testset": "mini st_cascade", "lang_pair": f"en-{lang}"})]
            for extra, data in cells:
                canon, full = names({**branches, **extra, "Seed": seed})
                write_json(score / canon / "scores.json", data)
                k += 1
                if k % symlink_every == 0 and full != canon:
                    os.symlink(canon, score / full)
    return str(score / "*" / "scores.json")


def cells_of(pattern):
    import yaml
    cfg = yaml.safe_load(VARIANTS.read_text())
    return results.scores_from_tree([pattern], cfg["names"], cfg["testset_branchpoints"],
                                    cfg["ignore_branchpoints"], cfg["baseline_branches"]), cfg


def test_cells_group_by_seed_from_canonical_and_full_names(tmp_path):
    cells, cfg = cells_of(plant(tmp_path))
    groups = claims.by_seed(cells, "Seed", cfg["baseline_branches"])
    assert list(groups) == ["42", "43", "44"]  # baseline first, whether or not a link named it
    # per model: ASR WER; BLEU and chrF of direct ST and MT into 2 languages; chrF of 2 cascades
    assert [len(g) for g in groups.values()] == [6 * (1 + 2 * 2 + 2 * 2 + 2)] * 3
    stats = claims.across_seeds(groups)
    s = stats[("SpireFull", "mini asr", "wer")]
    assert s.values == (30, 32, 34) and s.seeds == SEEDS
    assert s.mean == 32 and s.sd == pytest.approx(2.0)
    assert stats[("TowerBase", "mini st en-rv", "chrf")].sd == 0.0
    # cascades are their own test set, not mixed with direct ST
    assert stats[("SpireFull", "mini st_cascade en-ty", "chrf")].mean == 151


def test_margin_is_gap_over_the_sd_of_a_difference_of_single_runs():
    a = claims.Stat((30.0, 32.0, 34.0), SEEDS)   # WER: lower is better
    b = claims.Stat((60.0, 62.0, 64.0), SEEDS)
    gap, sd, m = claims.margin(a, b, "wer")
    assert gap == 30 and sd == pytest.approx(math.sqrt(8)) and m == pytest.approx(30 / math.sqrt(8))
    assert claims.margin(b, a, "wer")[2] == pytest.approx(-30 / math.sqrt(8))
    # chrF: higher is better; tolerance lets a trail by that much
    hi, lo = claims.Stat((40.0, 40.0, 40.0), SEEDS), claims.Stat((41.0, 41.0, 41.0), SEEDS)
    assert claims.margin(hi, lo, "chrf") == (-1.0, 0.0, -math.inf)
    assert claims.margin(hi, lo, "chrf", tolerance=2.0)[2] == math.inf
    assert claims.margin(hi, hi, "chrf")[2] == 0.0
    assert math.isnan(claims.margin(claims.Stat((1.0,), ("42",)), lo, "chrf")[2])  # one seed
    assert claims.margin(claims.Stat((0.8, 0.9), SEEDS[:2]), claims.Stat((0.5, 0.6), SEEDS[:2]),
                         "comet")[0] == pytest.approx(30.0)  # display units (COMET x100)
    assert [claims.verdict(x) for x in (2.5, 2.0, -1.0, -2.01, math.nan)] == [
        "holds", "within noise", "within noise", "contradicted", "not measured"]


def test_the_five_claims_on_planted_scores(tmp_path):
    cells, cfg = cells_of(plant(tmp_path))
    stats = claims.across_seeds(claims.by_seed(cells, "Seed", cfg["baseline_branches"]))
    res = {r.claim.number: r for r in claims.evaluate(stats)}
    assert {n: r.verdict for n, r in res.items()} == {
        1: "holds", 2: "holds", 3: "within noise", 4: "contradicted", 5: "holds"}
    # claim 1: 2 base models x (ASR + ST into 2 languages); its margin is the weakest comparison:
    # SpireFull vs SpireBase WER, gap 105 - 32 = 73, sd sqrt(2^2 + 5^2)
    assert len(res[1].details) == 6
    assert res[1].margin == pytest.approx(73 / math.sqrt(4 + 25))
    assert {d["column"] for d in res[2].details} == {"mini asr WER", "mini st en-ty chrF",
                                                     "mini st en-rv chrF"}
    assert res[3].margin == pytest.approx(1 / math.sqrt(16 + 16))
    assert res[4].margin == pytest.approx(-10 / math.sqrt(1 + 1))
    assert res[5].margin == pytest.approx(1 / math.sqrt(0.09 + 0.09))
    # without claim 5's tolerance SpireBase's 1-point deficit is beyond noise
    strict = claims.evaluate(stats, claims.paper_claims(mt_tolerance=0.0))
    assert strict[4].verdict == "contradicted" and strict[4].margin == pytest.approx(-1 / math.sqrt(0.18))


def test_claims_not_measured_with_one_seed_or_a_missing_model(tmp_path):
    cells, cfg = cells_of(plant(tmp_path / "one", seeds=("42",)))
    res = claims.evaluate(claims.across_seeds(claims.by_seed(cells, "Seed", cfg["baseline_branches"])))
    assert all(r.verdict == "not measured" for r in res)
    cells, cfg = cells_of(plant(tmp_path / "three"))
    cells = [c for c in cells if c.variant != "TowerFull"]
    res = claims.evaluate(claims.across_seeds(claims.by_seed(cells, "Seed", cfg["baseline_branches"])))
    assert res[1].verdict == "not measured"
    assert res[1].missing == ["SpireFull vs TowerFull: no asr WER scored for both",
                              "SpireFull vs TowerFull: no st chrF scored for both"]
    assert res[0].verdict == "holds"


def test_two_scores_of_one_seed_and_an_unnamed_seed_are_errors(tmp_path):
    def wer(value, realization):
        return results.Score("SpireFull", "mini asr", "wer", value,
                             str(tmp_path / "Score" / realization / "scores.json"), {})
    with pytest.raises(ValueError, match="two scores for SpireFull / mini asr / wer in seed 43"):
        claims.across_seeds(claims.by_seed([wer(30.0, "Seed.43"), wer(31.0, "X.1+Seed.43")], "Seed"))
    with pytest.raises(ValueError, match="Baseline.baseline/scores.json: its realization names no Seed"):
        claims.by_seed([wer(30.0, "Baseline.baseline")], "Seed")


def test_collect_results_seeds_writes_the_table_and_the_claims(tmp_path):
    pattern = plant(tmp_path / "out")
    res = tmp_path / "res"
    load_task("collect_results").main(["--glob", pattern, "--names", str(VARIANTS), "--seeds",
                                       "--out-dir", str(res)])
    md = (res / "seeds.md").read_text()
    assert "Seed: 42 43 44" in md
    assert "| SpireFull | 32.0 ± 2.0 |" in md  # mean ± sd of the planted ASR WER, first column
    assert "| TowerBase | 99.0 ± 1.0 |" in md
    assert "1. **holds** (margin 13.6 sd): instruction tuning" in md
    assert "3. **within noise** (margin 0.2 sd)" in md
    assert "4. **contradicted** (margin -7.1 sd)" in md
    assert ("   - mini mt en-ty chrF: SpireBase 40.0 ± 0.3 vs TowerBase 41.0 ± 0.3 (n=3): leads by "
            "-1.0 + 2 tolerance, margin 2.4 sd, holds") in md
    rows = list(csv.DictReader(open(res / "seeds.csv")))
    full = next(r for r in rows if r["model"] == "SpireFull" and r["testset"] == "mini asr")
    assert (full["mean"], full["sd"], full["n"], full["seed 43"]) == ("32.0000", "2.0000", "3", "32.0000")
    got = json.loads((res / "claims.json").read_text())
    assert [c["verdict"] for c in got] == ["holds", "holds", "within noise", "contradicted", "holds"]
    assert got[0]["comparisons"][0]["n"] == 3
    # a stricter claim 5 from the command line
    load_task("collect_results").main(["--glob", pattern, "--names", str(VARIANTS), "--seeds",
                                       "--mt-tolerance", "0", "--out-dir", str(res)])
    assert json.loads((res / "claims.json").read_text())[4]["verdict"] == "contradicted"


def test_collect_results_without_seeds_tabulates_the_baseline_seed(tmp_path):
    """`make results` after `make seeds`: the demo's table is seed 42's, the others left out."""
    pattern = plant(tmp_path / "out")
    res = tmp_path / "res"
    load_task("collect_results").main(["--glob", pattern, "--names", str(VARIANTS),
                                       "--out-dir", str(res)])
    rows = {r[0]: r[1:] for r in csv.reader(open(res / "results.csv"))}
    assert rows["model"][0] == "mini asr WER"
    assert [float(rows[m][0]) for m in ("SpireFull", "SpireBase", "TowerBase")] == [30.0, 110.0, 98.0]
    assert "| SpireFull | 30.00 |" in (res / "asr.md").read_text()
    with pytest.raises(SystemExit, match="--seeds: name the seed branch point"):
        load_task("collect_results").main(["--glob", pattern, "--seeds", "--out-dir", str(res)])
