import json

import pytest
from transformers import AutoTokenizer

from spire import cpt_data as cd
from spire.units import units_to_text
from tests.spire.lm_fixtures import N_UNITS, base_tok_dir, ext_tok_dir, run_task  # noqa: F401


@pytest.fixture
def files(tmp_path):
    (tmp_path / "u.txt").write_text(units_to_text([1, 2, 2, 3]) + "\n" + units_to_text([5, 0]) + "\n")
    (tmp_path / "t.txt").write_text("the cat\na dog\n")
    (tmp_path / "en.txt").write_text("the cat\nred tree\nbig house\n")
    (tmp_path / "ty.txt").write_text("eht tac\nder eert\ngib esuoh\n")
    (tmp_path / "mono.txt").write_text("one two three\n\nsmall river\n")
    return tmp_path


def test_formats_exact(files):
    asr = cd.asr_source(files / "u.txt", files / "t.txt", num_units=N_UNITS)
    assert asr.documents == ["Speech: \U000f0001\U000f0002\U000f0002\U000f0003\nEnglish: the cat",
                             "Speech: \U000f0005\U000f0000\nEnglish: a dog"]
    mt = cd.mt_source(files / "en.txt", files / "ty.txt", "en-ty")
    assert mt.documents[:2] == ["English: the cat\nToyish: eht tac", "Toyish: eht tac\nEnglish: the cat"]
    assert len(mt.documents) == 6
    assert cd.mono_source(files / "mono.txt").documents == ["one two three", "small river"]
    ext = cd.asr_source(files / "u.txt", files / "t.txt", unit_format="extra_id")
    assert ext.documents[1] == "Speech: <extra_id_5><extra_id_0>\nEnglish: a dog"


def test_mt_pairs_per_doc_joins_one_direction_like_a_few_shot_prompt(files):
    mt = cd.mt_source(files / "en.txt", files / "ty.txt", "en-ty", pairs_per_doc=2)
    assert mt.documents == [
        "English: the cat\nToyish: eht tac\n\nEnglish: red tree\nToyish: der eert",
        "Toyish: eht tac\nEnglish: the cat\n\nToyish: der eert\nEnglish: red tree",
        "English: big house\nToyish: gib esuoh",  # the remainder: a shorter document
        "Toyish: gib esuoh\nEnglish: big house"]
    one_way = cd.mt_source(files / "en.txt", files / "ty.txt", "en-ty", both_directions=False,
                           pairs_per_doc=3)
    assert one_way.documents == ["English: the cat\nToyish: eht tac\n\nEnglish: red tree\n"
                                 "Toyish: der eert\n\nEnglish: big house\nToyish: gib esuoh"]
    with pytest.raises(ValueError, match="pairs_per_doc must be at least 1"):
        cd.mt_source(files / "en.txt", files / "ty.txt", "en-ty", pairs_per_doc=0)


def test_bad_inputs_name_file_and_line(files):
    (files / "t2.txt").write_text("only one\n")
    with pytest.raises(ValueError, match="u.txt has 2 lines but .*t2.txt has 1"):
        cd.asr_source(files / "u.txt", files / "t2.txt")
    # an unreadable utterance (empty unit line) and an empty transcript are skipped and counted
    (files / "u3.txt").write_text(units_to_text([1]) + "\n\n" + units_to_text([2]) + "\n")
    (files / "t3.txt").write_text("\nfine\nkept\n")
    src = cd.asr_source(files / "u3.txt", files / "t3.txt")
    assert src.documents == ["Speech: \U000f0002\nEnglish: kept"]
    assert src.skipped == {"empty_units": 1, "empty_transcripts": 1}
    with pytest.raises(ValueError, match=r"u.txt:1: unit 3 is unknown to the tokenizer"):
        cd.asr_source(files / "u.txt", files / "t.txt", num_units=3).documents  # read lazily
    (files / "u4.txt").write_text("abc\n" + units_to_text([1]) + "\n")
    with pytest.raises(ValueError, match=r"u4.txt:1: not a unit character"):
        cd.asr_source(files / "u4.txt", files / "t.txt").documents
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        cd.mt_source(files / "en.txt", files / "ty.txt", "en-xx")


def test_mix_weights_budgets_and_stats(files, ext_tok_dir):
    tok = AutoTokenizer.from_pretrained(ext_tok_dir)
    assert cd.tokenizer_unit_count(tok) == N_UNITS
    srcs = [cd.asr_source(files / "u.txt", files / "t.txt"),
            cd.mt_source(files / "en.txt", files / "ty.txt", "en-ty"),
            cd.mono_source(files / "mono.txt")]
    docs, stats = cd.mix(srcs, tok, seed=3)
    assert len(docs) == 2 + 6 + 2 == stats["total"]["documents"]
    assert sum(v["documents"] for v in stats["sources"].values()) == len(docs)
    assert sum(v["tokens"] for v in stats["kinds"].values()) == stats["total"]["tokens"] == \
        sum(cd.count_tokens(tok, docs))
    assert cd.mix(srcs, tok, seed=3)[0] == docs and cd.mix(srcs, tok, seed=4)[0] != docs
    budget_docs, st = cd.mix(srcs, tok, budgets={"asr": 100, "mt": 10, "mono": 0}, seed=1)
    assert st["kinds"]["asr"]["tokens"] >= 100 and st["kinds"]["asr"]["documents"] > 2  # repeated
    assert 10 <= st["kinds"]["mt"]["tokens"] < 10 + max(cd.count_tokens(tok, srcs[1].documents))
    assert st["kinds"]["mono"]["documents"] == 0
    _, sw = cd.mix(srcs, tok, weights={"asr": 0.5, "mt": 0.5}, seed=1)
    assert sw["kinds"]["asr"]["documents"] == 2  # asr is the scarce kind: all of it, once
    assert sw["kinds"]["asr"]["tokens"] <= sw["kinds"]["mt"]["tokens"] < sw["kinds"]["asr"]["tokens"] + 30
    with pytest.raises(ValueError, match="no mono source"):
        cd.mix(srcs[:2], tok, weights={"asr": 1, "mono": 1})


def test_cli(files, ext_tok_dir):
    run_task("build_cpt_data.py", "--tokenizer", ext_tok_dir, "--out", files / "o.jsonl", "--stats",
             files / "s.json", "--asr", files / "u.txt", files / "t.txt",
             "--mt", files / "en.txt", files / "ty.txt", "en-ty", "--mono", files / "mono.txt")
    rows = [json.loads(l) for l in (files / "o.jsonl").read_text().splitlines()]
    stats = json.loads((files / "s.json").read_text())
    assert len(rows) == stats["total"]["documents"] == 10 and all(set(r) == {"text"} for r in rows)
    (files / "u5.txt").write_text(units_to_text([1, N_UNITS + 3]) + "\n" + units_to_text([2]) + "\n")
    with pytest.raises(AssertionError, match=f"u5.txt:1: unit {N_UNITS + 3} is unknown"):
        run_task("build_cpt_data.py", "--tokenizer", ext_tok_dir, "--out", files / "o2.jsonl",
                 "--stats", files / "s2.json", "--asr", files / "u5.txt", files / "t.txt")
    assert not (files / "o2.jsonl").exists()


def test_four_corpora_stream_with_skips_in_the_stats(files, ext_tok_dir):
    """Paper settings: several speech corpora pooled; units files of the same name are told apart
    by their directory (the LabelSpeech realization); a small shuffle buffer changes nothing but
    the order."""
    tok = AutoTokenizer.from_pretrained(ext_tok_dir)
    srcs = []
    for k, corpus in enumerate(["CPTCorpus.spgi", "CPTCorpus.gigaspeech", "CPTCorpus.mls", "CPTCorpus.voxpopuli"]):
        d = files / corpus
        d.mkdir()
        (d / "units.txt").write_text("".join(units_to_text([k, i % 5]) + "\n" if i != 3 else "\n" for i in range(10)))
        (d / "text.txt").write_text("".join(f"utterance {k} {i}\n" for i in range(10)))
        srcs.append(cd.asr_source(d / "units.txt", d / "text.txt"))
    srcs.append(cd.mono_source(files / "mono.txt"))
    docs, stats = cd.mix(srcs, tok, seed=0, buffer_size=4)  # everything once
    assert {n for n in stats["sources"] if n.startswith("asr:")} == \
        {f"asr:CPTCorpus.{c}/units.txt" for c in ("spgi", "gigaspeech", "mls", "voxpopuli")}
    assert all(v["skipped"] == {"empty_units": 1} for n, v in stats["sources"].items() if n.startswith("asr:"))
    assert stats["kinds"]["asr"]["documents"] == 4 * 9 and len(docs) == stats["total"]["documents"]
    docs2, _ = cd.mix(srcs, tok, seed=0, buffer_size=10000)
    assert sorted(docs2) == sorted(docs) and docs2 != docs
    assert cd.mix(srcs, tok, seed=0, buffer_size=4)[0] == docs
    _, sw = cd.mix(srcs, tok, weights={"asr": 0.5, "mono": 0.5}, seed=0, buffer_size=4)
    assert sw["kinds"]["mono"]["documents"] == 2 and 0 < sw["kinds"]["asr"]["documents"] < 36
    assert sw["kinds"]["mono"]["tokens"] <= sw["kinds"]["asr"]["tokens"] < sw["kinds"]["mono"]["tokens"] + 30


def test_cli_skips_empty_lines_and_counts_them(files, ext_tok_dir):
    (files / "u6.txt").write_text(units_to_text([1, 2]) + "\n\n")
    run_task("build_cpt_data.py", "--tokenizer", ext_tok_dir, "--out", files / "o6.jsonl", "--stats",
             files / "s6.json", "--asr", files / "u6.txt", files / "t.txt")
    stats = json.loads((files / "s6.json").read_text())
    assert stats["skipped"] == {"empty_units": 1} and stats["total"]["documents"] == 1
