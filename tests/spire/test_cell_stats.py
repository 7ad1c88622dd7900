"""Intervals and paired tests for table cells, rebuilt from the files a score JSON names."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spire import cell_stats
from spire.metrics import bleu_chrf, word_error_rate
from spire.results import load_score

WORDS = "one two three four five six seven eight nine ten red green blue".split()


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return p


def _sents(n, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=8)) for _ in range(n)]


def _noisy(refs, rate, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(w if rng.random() > rate else rng.choice(WORDS) for w in r.split()) for r in refs]


def _asr_score(tmp_path, variant, hyps, refs_path):
    hp = _write(tmp_path, f"{variant}.hyps", hyps)
    s = word_error_rate(hyps, refs_path.read_text().splitlines(), "basic")
    s.update(variant=variant, testset="asr_test", hyps=str(hp), refs=str(refs_path))
    out = tmp_path / f"{variant}.json"
    out.write_text(json.dumps(s))
    return load_score(out)[0]


def _mt_score(tmp_path, variant, hyps, refs_path, segments):
    hp = _write(tmp_path, f"{variant}.mt.hyps", hyps)
    s = bleu_chrf(hyps, refs_path.read_text().splitlines())
    s.update(variant=variant, testset="mt_test", lang_pair="en-de", hyps=str(hp), refs=str(refs_path),
             comet=float(np.mean(segments)), comet_segments=list(segments))
    out = tmp_path / f"{variant}.mt.json"
    out.write_text(json.dumps(s))
    return load_score(out)


def test_every_cell_gets_an_interval_around_its_value(tmp_path):
    refs = _sents(200, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    cells = [_asr_score(tmp_path, "A", _noisy(refs, 0.2, 1), rp)]
    cells += _mt_score(tmp_path, "A", _noisy(refs, 0.2, 2), rp, np.random.default_rng(3).uniform(0.6, 0.9, 200))
    ivs, notes = cell_stats.intervals(cells)
    assert notes == []
    assert sorted(iv.metric for iv in ivs) == ["bleu", "chrf", "comet", "wer"]
    for iv, cell in zip(ivs, cells):
        scale = 100.0 if cell.metric == "comet" else 1.0
        assert iv.value == pytest.approx(cell.value * scale)
        assert iv.low < iv.value < iv.high and iv.n == 200


def test_a_rewritten_hypothesis_file_gives_a_note_not_a_wrong_interval(tmp_path):
    refs = _sents(50, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    cell = _asr_score(tmp_path, "A", _noisy(refs, 0.2, 1), rp)
    _write(tmp_path, "A.hyps", refs)  # hypotheses changed after scoring
    ivs, notes = cell_stats.intervals([cell])
    assert ivs == []
    assert "A / asr_test WER: no interval" in notes[0] and "rerun the Score task" in notes[0]


def test_paired_test_finds_a_real_gain_and_not_noise(tmp_path):
    refs = _sents(400, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    worse = _asr_score(tmp_path, "Worse", _noisy(refs, 0.30, 1), rp)
    better = _asr_score(tmp_path, "Better", _noisy(refs, 0.15, 2), rp)
    twin = _asr_score(tmp_path, "Twin", _noisy(refs, 0.30, 3), rp)
    r = cell_stats.paired(worse, better)
    assert r.gain > 5 and r.p_value < 0.01 and r.significant
    r = cell_stats.paired(worse, twin)
    assert abs(r.gain) < 2 and r.p_value > 0.05 and not r.significant


def test_paired_refuses_other_references(tmp_path):
    refs = _sents(30, 0)
    a = _asr_score(tmp_path, "A", refs, _write(tmp_path, "r1.txt", refs))
    other = list(refs)
    other[0] = "something else"
    b = _asr_score(tmp_path, "B", refs, _write(tmp_path, "r2.txt", other))
    with pytest.raises(ValueError, match="different references"):
        cell_stats.paired(a, b)


def test_two_result_sets_compared_cell_by_cell(tmp_path):
    refs = _sents(300, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    (tmp_path / "old").mkdir(), (tmp_path / "new").mkdir()
    old = [_asr_score(tmp_path / "old", "SpireFull", _noisy(refs, 0.3, 1), rp)]
    new = [_asr_score(tmp_path / "new", "SpireFull", _noisy(refs, 0.1, 2), rp),
           _asr_score(tmp_path / "new", "Extra", refs, rp)]
    res, notes = cell_stats.compare_sets(new, old)
    assert len(res) == 1 and res[0].b == "SpireFull" and res[0].gain > 10 and res[0].p_value < 0.01
    assert notes == ["Extra / asr_test WER: not in the other set"]
    # a reference table of values only: compared by value, no p-value
    table = tmp_path / "paper.json"
    table.write_text(json.dumps({"variant": "SpireFull", "testset": "asr_test", "wer": 40.0}))
    res, notes = cell_stats.compare_sets(new[:1], load_score(table))
    assert math.isnan(res[0].p_value) and res[0].gain == pytest.approx(40.0 - new[0].value)
    assert "values only" in notes[0]


def test_tables_show_intervals_and_the_claims_paired(tmp_path):
    from spire.claims import paper_claims

    refs = _sents(300, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    full = _asr_score(tmp_path, "SpireFull", _noisy(refs, 0.10, 1), rp)
    tower = _asr_score(tmp_path, "TowerFull", _noisy(refs, 0.40, 2), rp)
    ivs, notes = cell_stats.intervals([full, tower])
    md = cell_stats.intervals_markdown([full, tower], ivs, notes)
    row = next(line for line in md.splitlines() if line.startswith("| SpireFull"))
    iv = next(i for i in ivs if i.variant == "SpireFull")
    assert f"{full.value:.2f} [{iv.low:.1f}, {iv.high:.1f}]" in row
    res = cell_stats.paired_claims([full, tower], paper_claims())
    claim2 = next(found for claim, found, _ in res if claim.number == 2)
    assert [(r.b, r.a, r.significant) for r in claim2] == [("SpireFull", "TowerFull", True)]
    text = cell_stats.paired_claims_markdown(res)
    assert "SpireFull" in text and "significant" in text and "missing: SpireFull vs SpireBase" in text


def test_stat_tables_are_written(tmp_path):
    from spire.claims import paper_claims

    refs = _sents(100, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    cells = [_asr_score(tmp_path, "SpireFull", _noisy(refs, 0.1, 1), rp),
             _asr_score(tmp_path, "TowerFull", _noisy(refs, 0.4, 2), rp)]
    md, claims_md, files = cell_stats.write_stat_tables(cells, tmp_path / "out", paper_claims())
    assert [f.name for f in files] == ["intervals.md", "intervals.csv", "claims_paired.md",
                                       "claims_paired.json"]
    rows = (tmp_path / "out" / "intervals.csv").read_text().splitlines()
    assert rows[0] == "model,testset,metric,value,low,high,n" and len(rows) == 3
    data = json.loads((tmp_path / "out" / "claims_paired.json").read_text())
    assert data[1]["comparisons"][0]["b"] == "SpireFull" and data[1]["comparisons"][0]["significant"]


def test_collect_results_writes_intervals_report_and_a_comparison(tmp_path):
    from eval_fixtures import load_task

    refs = _sents(120, 0)
    rp = _write(tmp_path, "refs.txt", refs)
    for name, rate in (("SpireFull", 0.1), ("TowerFull", 0.4)):
        d = tmp_path / "out" / "Score" / f"Model.{name}"
        d.mkdir(parents=True)
        cell = _asr_score(tmp_path, name, _noisy(refs, rate, len(name)), rp)
        (d / "scores.json").write_text(json.dumps({**cell.meta, "testset": "asr_test"}))
    other = tmp_path / "paper.csv"
    other.write_text("model,asr_test WER\nSpireFull,50.0\n")
    res = tmp_path / "res"
    load_task("collect_results").main([
        "--glob", str(tmp_path / "out" / "Score" / "*" / "scores.json"),
        "--out-dir", str(res), "--compare", str(other)])
    assert "SpireFull" in (res / "intervals.md").read_text() and "[" in (res / "intervals.md").read_text()
    page = (res / "report.html").read_text()
    assert '"asr_test"' in page and "claims" in page
    compare = (res / "compare.md").read_text()
    assert "| SpireFull | asr_test | WER | 50.00 |" in compare and "values only" in compare
    with pytest.raises(SystemExit, match="not a number"):
        other.write_text("model,asr_test WER\nSpireFull,abc\n")
        load_task("collect_results").main([
            "--glob", str(tmp_path / "out" / "Score" / "*" / "scores.json"),
            "--out-dir", str(res), "--compare", str(other)])
