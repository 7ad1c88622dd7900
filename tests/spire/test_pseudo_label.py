import json

import pytest

from spire import it_data, pseudo_label
from spire.io import write_jsonl, write_lines
from spire.mini.toy_lang import translate
from spire.prompts import load_templates, render
from tests.spire.it_fixtures import (SENTENCES, read_rows, run_task, train_tiny_mt_model,
                                     units_line, write_corpus)

T = load_templates()


def _run(tmp_path, files, *extra, name="p"):
    out, stats = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.stats.json"
    run_task("pseudo_label", "--units", str(files["units"]), "--transcripts", str(files["en"]),
             "--source", "pseudo_toy", "--out", str(out), "--stats", str(stats), *extra)
    return read_rows(out), json.loads(stats.read_text())


def test_threshold_is_inclusive_on_the_0_1_scale():
    src = "x" * 20
    hyps = ["y" * 20, "y" * 17, "y" * 16, "y" * 25, "", "y" * 21]
    n = len(hyps)
    res = pseudo_label.pseudo_label_pair([units_line(i) for i in range(n)], [src] * n, [hyps], "ty",
                                         "length_ratio", threshold=0.85)
    # ratios 1.0, 0.85, 0.8, 0.8, (empty: not scored), 20/21
    assert res["chosen"] == [0, 1, 5]
    assert res["stats"] == {"lines": 6, "empty": 1, "scored": 5, "kept": 3, "subsampled": 3,
                            "mean_score": pytest.approx((1 + 0.85 + 0.8 + 0.8 + 20 / 21) / 5),
                            "best_system_counts": [5]}


def test_chrf_ref_keeps_exactly_the_good_translations(tmp_path):
    f = write_corpus(tmp_path)
    good = {0, 2, 5}
    hyps = [translate(s, "ty") if i in good else "zz qq" for i, s in enumerate(SENTENCES)]
    write_lines(tmp_path / "hyp.ty", hyps)
    rows, stats = _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'hyp.ty'}",
                       "--references", f"ty={f['ty']}", "--scorer", "chrf_ref",
                       "--threshold", "0.85", "--format", "multiturn")
    assert sorted(r["line"] - 1 for r in rows) == sorted(good)
    for r in rows:
        i = r["line"] - 1
        assert r["messages"] == it_data.st_multiturn_messages(T, units_line(i), SENTENCES[i], hyps[i], "ty")
        assert r["pseudo"] is True and r["task"] == "st_multiturn" and r["score"] == 1.0
    pair = stats["pairs"]["en-ty"]
    assert {k: pair[k] for k in ("lines", "scored", "kept", "subsampled")} == \
        {"lines": 8, "scored": 8, "kept": 3, "subsampled": 3}
    assert stats["examples_written"] == 3


def test_subsampling_is_seeded_per_pair_and_capped(tmp_path):
    f = write_corpus(tmp_path)
    common = ["--references", f"ty={f['ty']}", "--scorer", "chrf_ref", "--max-per-pair", "3"]
    ty_only, s1 = _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", *common, "--seed", "7", name="a")
    again, _ = _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", *common, "--seed", "7", name="b")
    both, s2 = _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", "--hypotheses", f"rv={f['rv']}",
                    "--references", f"rv={f['rv']}", *common, "--seed", "7", name="c")
    lines = [r["line"] for r in ty_only]
    assert len(lines) == 3 and len(set(lines)) == 3
    assert ty_only == again
    assert [r for r in both if r["lang"] == "en-ty"] == ty_only  # other pairs do not shift the draw
    assert len([r for r in both if r["lang"] == "en-rv"]) == 3
    assert s1["pairs"]["en-ty"]["kept"] == 8 and s1["pairs"]["en-ty"]["subsampled"] == 3
    assert s2["total"]["kept"] == 16 and s2["total"]["subsampled"] == 6
    draws = {tuple(pseudo_label.select(range(8), [1.0] * 8, 0.85, 3, seed, "en-ty")[1])
             for seed in range(6)}
    assert len(draws) > 1  # the seed matters


def test_best_of_two_systems(tmp_path):
    f = write_corpus(tmp_path)
    sys_a = [translate(s, "ty") if i % 2 == 0 else "zz" for i, s in enumerate(SENTENCES)]
    sys_b = [translate(s, "ty") if i % 2 == 1 else "qq" for i, s in enumerate(SENTENCES)]
    write_lines(tmp_path / "a.ty", sys_a)
    write_lines(tmp_path / "b.ty", sys_b)
    rows, stats = _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'a.ty'}",
                       "--hypotheses", f"ty={tmp_path / 'b.ty'}", "--references", f"ty={f['ty']}",
                       "--scorer", "chrf_ref", "--scores-out", str(tmp_path / "scores.jsonl"))
    assert [r["messages"][1]["content"] for r in sorted(rows, key=lambda r: r["line"])] == \
        [translate(s, "ty") for s in SENTENCES]
    assert stats["pairs"]["en-ty"]["best_system_counts"] == [4, 4]
    scores = read_rows(tmp_path / "scores.jsonl")
    assert [s["system"] for s in scores] == [0, 1] * 4 and all(s["chosen"] for s in scores)


def test_comet_scorer_real_code_path(tmp_path):
    from spire.metrics import comet_scores as metric_comet_scores
    from tests.spire.eval_fixtures import build_tiny_comet

    ckpt = build_tiny_comet(tmp_path / "comet")
    f = write_corpus(tmp_path / "c")
    hyps = [translate(s, "ty") if i % 3 else s for i, s in enumerate(SENTENCES)]
    write_lines(tmp_path / "hyp.ty", hyps)
    refs = [translate(s, "ty") for s in SENTENCES]
    expected = metric_comet_scores(SENTENCES, hyps, refs, str(ckpt), gpus=0)["comet_segments"]
    threshold = sorted(expected)[len(expected) // 2]
    rows, stats = _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'hyp.ty'}",
                       "--references", f"ty={f['ty']}", "--scorer", "comet", "--comet-model",
                       str(ckpt), "--threshold", repr(threshold))
    assert sorted(r["line"] - 1 for r in rows) == [i for i, s in enumerate(expected) if s >= threshold]
    assert [r["score"] for r in sorted(rows, key=lambda r: r["line"])] == pytest.approx(
        [s for s in expected if s >= threshold], abs=1e-5)
    assert stats["scorer"] == "comet" and stats["pairs"]["en-ty"]["scored"] == 8


def test_end_to_end_tiny_mt_model_decodes_then_scorer_filters(tmp_path):
    """Decode with the decoding library (spire.decoding.decode_file, the decode task's contract:
    prompts JSONL in, one hypothesis per line out), then pseudo-label with chrf_ref."""
    from sacrebleu import sentence_chrf

    from spire.decoding import decode_file

    f = write_corpus(tmp_path / "corpus")
    prompts = [render(T, "mt_base", src_lang="English", tgt_lang="Toyish", src=s) for s in SENTENCES]
    refs = [translate(s, "ty") for s in SENTENCES]
    seen = 5  # the model memorises the first five pairs only; the rest it never saw
    model = train_tiny_mt_model(tmp_path / "mt", prompts[:seen], refs[:seen])
    write_jsonl(tmp_path / "prompts.jsonl", ({"id": i, "prompt": p} for i, p in enumerate(prompts)))
    decode_file(model, tmp_path / "prompts.jsonl", tmp_path / "hyp.ty", max_new_tokens=48,
                stop=["\n"], backend="hf", progress=False)
    hyps = (tmp_path / "hyp.ty").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == len(SENTENCES)

    rows, stats = _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'hyp.ty'}",
                       "--references", f"ty={f['ty']}", "--scorer", "chrf_ref", "--threshold",
                       "0.85", "--format", "both")
    expected = [i for i, (h, r) in enumerate(zip(hyps, refs))
                if h.strip() and sentence_chrf(h.strip(), [r]).score / 100 >= 0.85]
    assert 0 < len(expected) < len(SENTENCES)  # some kept, some filtered
    assert sorted({r["line"] - 1 for r in rows}) == expected
    assert len(rows) == 2 * len(expected)  # direct + multi-turn per kept line
    out = tmp_path / "p.jsonl"
    valid = list(it_data.read_it_rows(out))
    assert len(valid) == len(rows)
    assert all(r["messages"][-1]["content"] == hyps[r["line"] - 1].strip() for _, r in valid)
    assert stats["pairs"]["en-ty"]["kept"] == len(expected)


# --------------------------------------------------------------------------- bad input

def test_hypotheses_of_different_length_name_the_file(tmp_path):
    f = write_corpus(tmp_path)
    write_lines(tmp_path / "short.ty", ["a"] * 5)
    with pytest.raises(ValueError, match=r"units\.txt:6: units has 8 lines but .*short\.ty\) has 5"):
        _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'short.ty'}", "--scorer", "length_ratio")


def test_unknown_language_and_missing_references(tmp_path):
    f = write_corpus(tmp_path)
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        _run(tmp_path, f, "--hypotheses", f"xx={f['ty']}", "--scorer", "length_ratio")
    with pytest.raises(SystemExit, match="chrf_ref needs --references for every language"):
        _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", "--scorer", "chrf_ref")


def test_nothing_kept_is_an_error_with_stats(tmp_path):
    f = write_corpus(tmp_path)
    write_lines(tmp_path / "bad.ty", ["zz"] * len(SENTENCES))
    with pytest.raises(SystemExit, match="no translation scored >= 0.85"):
        _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'bad.ty'}", "--references",
             f"ty={f['ty']}", "--scorer", "chrf_ref")
    assert json.loads((tmp_path / "p.stats.json").read_text())["total"]["kept"] == 0
    assert not (tmp_path / "p.jsonl").exists()


def test_scores_cache_is_reused_and_keyed_by_inputs(tmp_path):
    f = write_corpus(tmp_path)
    cache = tmp_path / "cache"
    args = ["--references", f"ty={f['ty']}", "--scorer", "chrf_ref", "--cache-dir", str(cache)]
    rows, _ = _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", *args, name="a")
    assert len(rows) == 8
    (cached,) = cache.iterdir()
    assert json.loads(cached.read_text()) == [1.0] * 8
    # A re-run reads the stored scores instead of scoring again: edit them and see the effect.
    cached.write_text(json.dumps([1.0, 0.0] * 4))
    rows, _ = _run(tmp_path, f, "--hypotheses", f"ty={f['ty']}", *args, name="b")
    assert [r["line"] for r in rows] == [1, 3, 5, 7]
    # Other hypotheses are other inputs: scored afresh into a second cache file.
    write_lines(tmp_path / "hyp.ty", [translate(s, "ty") for s in SENTENCES[:-1]] + ["zz"])
    rows, _ = _run(tmp_path, f, "--hypotheses", f"ty={tmp_path / 'hyp.ty'}", *args, name="c")
    assert len(rows) == 7 and len(list(cache.iterdir())) == 2


def test_max_per_pair_zero_keeps_every_kept_line():
    """0 (paper.tconf's pseudo_max_per_pair) is the authors' n_lines 0: no subsample."""
    kept, chosen = pseudo_label.select(range(6), [0.9, 0.2, 0.86, 0.85, 0.5, 0.99], 0.85, 0, 42, "en-de")
    assert kept == chosen == [0, 2, 3, 5]
