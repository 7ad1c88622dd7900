"""The results table from a fixture tree of score files (ducttape layout and explicit labels)."""
import csv
import os
from pathlib import Path

import pytest

from eval_fixtures import load_task
from spire import results
from spire.io import write_json


def make_tree(out):
    """OUT/<Task>/<realization>/scores.json as ducttape lays it out, with full-name symlinks."""
    def put(task, real, scores, full=None):
        d = out / task / real
        d.mkdir(parents=True)
        write_json(d / "scores.json", scores)
        if full:
            os.symlink(real, out / task / full)

    put("ScoreASR", "Baseline.baseline", {"wer": 12.5, "normalizer": "whisper"},
        full="ITMix.full+TestSet.mini_asr")
    put("ScoreASR", "ITMix.no_blocks", {"wer": 14.0, "normalizer": "whisper"},
        full="ITMix.no_blocks+TestSet.mini_asr")
    put("ScoreASR", "TestSet.mini_asr_noisy", {"wer": 30.25, "normalizer": "whisper"},
        full="ITMix.full+TestSet.mini_asr_noisy")
    put("ScoreST", "Baseline.baseline", {"bleu": 20.0, "chrf": 45.0, "comet": 0.8125,
                                         "testset": "mini_st", "lang_pair": "en-ty",
                                         "comet_model": "tiny"})
    put("ScoreST", "ITMix.no_blocks", {"bleu": 18.5, "chrf": 44.0, "comet": 0.75,
                                       "testset": "mini_st", "lang_pair": "en-ty",
                                       "comet_model": "tiny"})


NAMES = {"ITMix.full": "SpireFull", "ITMix.no_blocks": "SpireNoBlocks"}


def test_table_from_ducttape_tree(tmp_path):
    make_tree(tmp_path)
    cells = results.scores_from_tree([str(tmp_path / "Score*" / "*" / "scores.json")], NAMES,
                                     testset_bps=["TestSet"], baselines=["ITMix.full"])
    # every realization read once, although reachable through a symlink too
    assert len({c.file for c in cells}) == 5
    df = results.table(cells, variant_order=["SpireFull", "SpireNoBlocks"])
    assert list(df.index) == ["SpireFull", "SpireNoBlocks"]
    assert list(df.columns) == [("mini_asr", "WER"), ("mini_asr_noisy", "WER"),
                                ("mini_st en-ty", "BLEU"), ("mini_st en-ty", "chrF"),
                                ("mini_st en-ty", "COMET")]
    assert df.loc["SpireFull", ("mini_asr", "WER")] == 12.5
    assert df.loc["SpireNoBlocks", ("mini_asr", "WER")] == 14.0
    assert df.loc["SpireFull", ("mini_asr_noisy", "WER")] == 30.25
    assert df.loc["SpireFull", ("mini_st en-ty", "COMET")] == pytest.approx(81.25)
    assert df.loc["SpireNoBlocks", ("mini_st en-ty", "BLEU")] == 18.5
    assert df.isna().sum().sum() == 1  # NoBlocks was not run on the noisy set
    md = results.to_markdown(df, cells)
    assert "| SpireNoBlocks | 14.00 | – | 18.50 | 44.00 | 75.00 |" in md
    assert "mini_asr WER↓" in md and "COMET: mean segment score ×100, model tiny" in md


def test_collect_results_task(tmp_path):
    make_tree(tmp_path / "out")
    extra = tmp_path / "whisper.json"
    write_json(extra, {"wer": 9.0})
    outdir = tmp_path / "res"
    load_task("collect_results").main([
        "--glob", str(tmp_path / "out" / "ScoreASR" / "*" / "scores.json"),
        "--name", "ITMix.full=SpireFull", "--name", "ITMix.no_blocks=SpireNoBlocks",
        "--testset-bp", "TestSet",
        "--score", "variant=Whisper", "testset=mini_asr", f"metric_file={extra}",
        "--variant-order", "Whisper,SpireFull", "--out-dir", str(outdir)])
    rows = list(csv.reader(open(outdir / "results.csv")))
    assert rows[0] == ["model", "mini_asr WER", "mini_asr_noisy WER"]
    assert [r[0] for r in rows[1:]] == ["Whisper", "SpireFull", "SpireNoBlocks"]
    assert float(rows[1][1]) == 9.0 and float(rows[2][2]) == 30.25 and rows[3][2] == ""
    assert (outdir / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "| Whisper | 9.00 | – |" in (outdir / "results.md").read_text()


def test_unmapped_names_and_errors(tmp_path):
    assert results.parse_realization("Baseline.baseline") == {}
    assert results.parse_realization("M.5+Threshold.0.75") == {"M": "5", "Threshold": "0.75"}
    assert results.variant_label({"ITMix": "x", "TestSet": "t"}, NAMES, ignore=["TestSet"]) == "ITMix.x"
    assert results.variant_label({}, NAMES) == "baseline"
    # the most specific mapping wins
    names = {"ITMix.full": "A", "ITMix.full+Enc.hubert": "B"}
    assert results.variant_label({"ITMix": "full", "Enc": "hubert"}, names) == "B"
    write_json(tmp_path / "a.json", {"wer": 1.0})
    with pytest.raises(ValueError, match="a.json: no variant"):
        results.load_score(tmp_path / "a.json", testset="t")
    cells = results.load_score(tmp_path / "a.json", "v", "t") * 2
    with pytest.raises(ValueError, match="two scores for v / t / wer"):
        results.table(cells)
    write_json(tmp_path / "b.json", {"loss": 1.0})
    with pytest.raises(ValueError, match="b.json: no metric"):
        results.load_score(tmp_path / "b.json", "v", "t")
    with pytest.raises(FileNotFoundError, match="no score file matches"):
        results.scores_from_tree([str(tmp_path / "nothing" / "*.json")])


def test_names_config_on_the_eval_tape_layout(tmp_path):
    """Realizations as workflows/eval.tape makes them, labelled by configs/eval/variants.yaml."""
    out = tmp_path / "out" / "Score"
    runs = {  # full realization name -> score file
        "Base.spire+EvalModel.instruct+EvalTask.asr+ITMix.full": {"wer": 20.0, "testset": "mini asr"},
        "Base.spire+EvalModel.instruct+EvalTask.asr+ITMix.no_blocks": {"wer": 25.0, "testset": "mini asr"},
        "Base.tower+EvalModel.instruct+EvalTask.asr+ITMix.full": {"wer": 90.0, "testset": "mini asr"},
        "EvalModel.base+EvalTask.asr": {"wer": 40.0, "testset": "mini asr"},
        "Base.spire+EvalModel.instruct+EvalTask.st+ITMix.full+LanguagePair.en_ty":
            {"bleu": 10.0, "chrf": 30.0, "testset": "mini st"},
        "Base.spire+EvalModel.instruct+EvalTask.st+ITMix.full+LanguagePair.en_rv":
            {"bleu": 12.0, "chrf": 33.0, "testset": "mini st", "lang_pair": "en-rv"},
    }
    for name, scores in runs.items():
        write_json(out / name / "scores.json", scores)  # canonical dirs = full names here
    # one canonical directory without its baseline branches, as ducttape names it
    write_json(out / "EvalTask.mt+LanguagePair.en_ty" / "scores.json", {"bleu": 5.0, "testset": "mini mt"})
    outdir = tmp_path / "res"
    load_task("collect_results").main([
        "--glob", str(out / "*" / "scores.json"), "--names",
        str(Path(__file__).resolve().parents[2] / "configs" / "eval" / "variants.yaml"),
        "--out-dir", str(outdir)])
    rows = {r[0]: r[1:] for r in csv.reader(open(outdir / "results.csv"))}
    # columns in order of first appearance (files sorted by path)
    assert rows["model"] == ["mini asr WER", "mini st en-rv BLEU", "mini st en-rv chrF",
                             "mini st en_ty BLEU", "mini st en_ty chrF", "mini mt en_ty BLEU"]
    assert list(rows)[1:] == ["SpireBase", "SpireFull", "SpireNoBlocks", "TowerFull"]
    assert float(rows["SpireFull"][0]) == 20.0 and float(rows["SpireFull"][1]) == 12.0
    assert float(rows["SpireFull"][5]) == 5.0  # baseline branches restored
    assert float(rows["TowerFull"][0]) == 90.0 and float(rows["SpireBase"][0]) == 40.0


def test_testset_label_says_each_part_once():
    assert results.testset_label("mini st", "en-ty", ["st", "en_ty"]) == "mini st en-ty"
    # a self-cascade score says "st_cascade": its EvalTask branch "st" is not repeated
    assert results.testset_label("mini st_cascade", None, ["st", "en_rv"]) == "mini st_cascade en_rv"
    assert results.testset_label("fleurs", "en-de", ["st"]) == "fleurs en-de st"
    # the score file's direction wins over the LanguagePair branch (Direction.to_en: de-en)
    assert results.testset_label("flores mt", "de-en", ["mt", "en_de", "flores"]) == "flores mt de-en"


def paper_cells():
    """Score cells as the paper-scale eval plan labels them (tasks/score_*.py --testset)."""
    def cell(variant, testset, metric, value):
        return results.Score(variant, testset, metric, value, f"/o/Score/{variant}+{testset.replace(' ', '_')}/scores.json", {})
    cells = [cell("SpireFull", "librispeech_clean asr", "wer", 4.0),
             cell("SpireFull", "librispeech_other asr", "wer", 8.0),
             cell("Whisper", "librispeech_clean asr", "wer", 2.0)]
    for pair, bleu in (("en-de", 30.0), ("en-zh", 40.0)):
        cells += [cell("SpireFull", f"fleurs st {pair}", "bleu", bleu),
                  cell("SpireFull", f"fleurs st {pair}", "comet", 0.8),
                  cell("SpireFull", f"fleurs st_cascade {pair}", "bleu", bleu - 2),
                  cell("SpireFull", f"fleurs st_gold {pair}", "bleu", bleu + 2),
                  cell("SpireFull", f"flores mt {pair}", "bleu", bleu + 5)]
    cells.append(cell("TowerInstruct", "flores mt en-de", "bleu", 36.0))
    return cells


def test_one_table_per_task_in_the_paper_layout():
    tables = results.task_tables(paper_cells(), variant_order=["Whisper", "SpireFull"])
    assert set(tables) == {"asr", "st", "mt"}
    asr, trace = tables["asr"]
    assert list(asr.index) == ["Whisper", "SpireFull"]
    assert list(asr.columns) == [("librispeech_clean", "WER"), ("librispeech_other", "WER"), ("avg", "WER")]
    assert asr.loc["SpireFull", ("avg", "WER")] == 6.0
    assert asr.loc["Whisper", ("avg", "WER")] != asr.loc["Whisper", ("avg", "WER")]  # partial: no average
    avg = next(t for t in trace if t["model"] == "SpireFull" and t["column"] == "avg")
    assert len(avg["files"].split()) == 2
    st, _ = tables["st"]
    assert list(st.index) == ["SpireFull", "SpireFull (gold-transcript MT)", "SpireFull (self-cascade)"]
    assert ("fleurs avg", "BLEU") in st.columns and st.loc["SpireFull", ("fleurs avg", "BLEU")] == 35.0
    assert st.loc["SpireFull", ("fleurs en-de", "COMET")] == pytest.approx(80.0)
    assert st.loc["SpireFull (self-cascade)", ("fleurs en-zh", "BLEU")] == 38.0
    mt, _ = tables["mt"]
    assert mt.loc["TowerInstruct", ("flores en-de", "BLEU")] == 36.0
    assert mt.loc["SpireFull", ("flores avg", "BLEU")] == 40.0


def test_collect_results_writes_task_tables_with_traceable_cells(tmp_path):
    out = tmp_path / "out" / "Score"
    runs = {"EvalTask.asr+TestSet.librispeech_clean": {"wer": 5.0, "testset": "librispeech_clean asr"},
            "EvalTask.asr+TestSet.fleurs": {"wer": 7.0, "testset": "fleurs asr"},
            "EvalTask.st+LanguagePair.en_de+TestSet.fleurs": {"bleu": 20.0, "chrf": 50.0,
                                                             "testset": "fleurs st en_de"}}
    for name, scores in runs.items():
        write_json(out / name / "scores.json", scores)
    load_task("collect_results").main(["--glob", str(out / "*" / "scores.json"),
                                       "--name", "EvalTask.asr=SpireFull", "--name", "EvalTask.st=SpireFull",
                                       "--out-dir", str(tmp_path / "res")])
    res = tmp_path / "res"
    assert "| SpireFull | 7.00 | 5.00 | 6.00 |" in (res / "asr.md").read_text()
    rows = list(csv.DictReader(open(res / "asr_cells.csv")))
    lib = next(r for r in rows if r["column"] == "librispeech_clean")
    assert lib["realizations"] == "Score/EvalTask.asr+TestSet.librispeech_clean" and float(lib["value"]) == 5.0
    assert (res / "st.png").read_bytes()[:4] == b"\x89PNG"
    assert list(csv.reader(open(res / "st.csv")))[0] == ["model", "fleurs en-de BLEU", "fleurs en-de chrF"]
    assert not (res / "mt.md").exists()


def test_paper_realizations_through_variants_yaml(tmp_path):
    """Score directories as the paper-scale plan names them → the three task tables."""
    out = tmp_path / "out" / "Score"
    runs = {
        "EvalModel.released_full+TestSet.librispeech_clean": {"wer": 3.0, "testset": "librispeech_clean asr"},
        "EvalModel.whisper+TestSet.librispeech_clean": {"wer": 2.0, "testset": "librispeech_clean asr"},
        "EvalModel.released_full+EvalTask.st+STMode.cascade+TestSet.covost2":
            {"bleu": 20.0, "testset": "covost2 st_cascade", "lang_pair": "en-de"},
        "EvalModel.released_full+EvalTask.mt+TestSet.covost2":
            {"bleu": 25.0, "testset": "covost2 st_gold", "lang_pair": "en-de"},
        "Direction.to_en+EvalModel.towerinstruct_7b+EvalTask.mt+TestSet.flores":
            {"bleu": 40.0, "testset": "flores mt", "lang_pair": "de-en"},
        "EvalModel.towerinstruct_7b+EvalTask.mt+TestSet.flores":
            {"bleu": 35.0, "testset": "flores mt", "lang_pair": "en-de"},
    }
    for name, scores in runs.items():
        write_json(out / name / "scores.json", scores)
    load_task("collect_results").main([
        "--glob", str(out / "*" / "scores.json"), "--names",
        str(Path(__file__).resolve().parents[2] / "configs" / "eval" / "variants.yaml"),
        "--out-dir", str(tmp_path / "res")])
    res = tmp_path / "res"
    asr = (res / "asr.md").read_text()
    assert asr.index("| Whisper large-v3 | 2.00 |") < asr.index("| SpireFull [released] | 3.00 |")
    st = list(csv.reader(open(res / "st.csv")))
    assert st[0] == ["model", "covost2 en-de BLEU"]
    assert [r[0] for r in st[1:]] == ["SpireFull [released] (gold-transcript MT)",
                                      "SpireFull [released] (self-cascade)"]
    mt = list(csv.reader(open(res / "mt.csv")))
    assert mt[0] == ["model", "flores de-en BLEU", "flores en-de BLEU", "flores avg BLEU"]
    assert mt[1][0] == "TowerInstruct-7B" and float(mt[1][3]) == 37.5


def test_invalidated_score_directories_are_skipped_and_reported(tmp_path, caplog):
    """`ducttape invalidate` marks a Score directory stale (ducttape.INVALIDATED); the table is
    built without it, and each skipped directory is named, with the count."""
    import logging
    make_tree(tmp_path / "out")
    stale = tmp_path / "out" / "ScoreASR" / "ITMix.no_blocks"
    (stale / "ducttape.INVALIDATED").write_text("")
    skipped = []
    cells = results.scores_from_tree([str(tmp_path / "out" / "Score*" / "*" / "scores.json")],
                                     NAMES, testset_bps=["TestSet"], baselines=["ITMix.full"],
                                     skipped=skipped)
    assert len(skipped) == 1 and Path(skipped[0]).resolve() == stale.resolve()
    assert not any(Path(c.file).parent.resolve() == stale.resolve() for c in cells)
    assert len({c.file for c in cells}) == 4
    logging.getLogger("spire").addHandler(caplog.handler)
    try:
        load_task("collect_results").main([
            "--glob", str(tmp_path / "out" / "ScoreASR" / "*" / "scores.json"),
            "--name", "ITMix.full=SpireFull", "--name", "ITMix.no_blocks=SpireNoBlocks",
            "--testset-bp", "TestSet", "--out-dir", str(tmp_path / "res")])
    finally:
        logging.getLogger("spire").removeHandler(caplog.handler)
    rows = list(csv.reader(open(tmp_path / "res" / "results.csv")))
    assert [r[0] for r in rows[1:]] == ["SpireFull"]  # no stale SpireNoBlocks row
    assert "skipping " + str(tmp_path / "out" / "ScoreASR" / "ITMix.no_blocks") in caplog.text
    assert "invalidated (its scores are stale until it reruns)" in caplog.text
    assert "1 invalidated Score directory left out" in caplog.text
    # every score invalidated: an error saying so, not an empty table
    (tmp_path / "out" / "ScoreASR" / "Baseline.baseline" / "ducttape.INVALIDATED").write_text("")
    (tmp_path / "out" / "ScoreASR" / "TestSet.mini_asr_noisy" / "ducttape.INVALIDATED").write_text("")
    with pytest.raises(SystemExit, match="invalidated task directory"):
        load_task("collect_results").main([
            "--glob", str(tmp_path / "out" / "ScoreASR" / "*" / "scores.json"),
            "--out-dir", str(tmp_path / "res2")])


def test_a_metric_that_is_not_a_number_names_the_file_and_key(tmp_path):
    write_json(tmp_path / "s.json", {"wer": "abc"})
    with pytest.raises(ValueError, match=r"s.json: 'wer' is 'abc', not a number"):
        results.load_score(tmp_path / "s.json", "v", "t")
    write_json(tmp_path / "b.json", {"bleu": True})
    with pytest.raises(ValueError, match=r"b.json: 'bleu' is True, not a number"):
        results.load_score(tmp_path / "b.json", "v", "t")
    write_json(tmp_path / "n.json", {"bleu": 3, "comet": None})  # absent metric: fine
    assert [c.metric for c in results.load_score(tmp_path / "n.json", "v", "t")] == ["bleu"]


def test_table_8_post_editing_and_ner_get_their_own_tables(tmp_path):
    out = tmp_path / "out" / "ScoreTowerTask"
    runs = {"TowerTask.ape+TowerLang.en_de": {"comet": 0.84, "bleu": 40.0, "chrf": 60.0,
                                              "testset": "wmt23 ape", "lang_pair": "en-de"},
            "TowerTask.ner+TowerLang.en": {"f1": 0.5, "precision": 0.5, "recall": 0.5,
                                           "testset": "multiconer2023 ner en"}}
    for name, scores in runs.items():
        write_json(out / name / "scores.json", {**scores, "variant": "SpireFull"})
    load_task("collect_results").main(["--glob", str(tmp_path / "out" / "Score*" / "*" / "scores.json"),
                                       "--out-dir", str(tmp_path / "res")])
    ner = (tmp_path / "res" / "ner.md").read_text()
    assert "named-entity recognition" in ner and "| SpireFull | 50.00 |" in ner
    ape = list(csv.reader(open(tmp_path / "res" / "ape.csv")))
    assert ape[0] == ["model", "wmt23 en-de COMET", "wmt23 en-de BLEU", "wmt23 en-de chrF"]
    assert float(ape[1][1]) == pytest.approx(84.0)
    # a planted NER score without the files it scored gets a note, not an interval (with them:
    # tests/spire/test_tower_tasks.py::test_ner_cells_get_a_bootstrap_interval_over_sentences)
    assert "does not name its hyps/refs files" in (tmp_path / "res" / "intervals.md").read_text()
