import json

import pytest

from spire import it_data
from spire.mini.toy_lang import translate
from spire.prompts import load_templates
from spire.units import units_to_text
from tests.spire.it_fixtures import SENTENCES, read_rows, run_task, units_line, write_corpus

T = load_templates()
U = units_to_text([3, 1, 4, 1, 5])


def test_asr_format():
    assert it_data.asr_messages(T, U, "the cat sat") == [
        {"role": "user", "content": f"Speech: {U}\nEnglish:"},
        {"role": "assistant", "content": "the cat sat"}]


def test_direct_st_format():
    assert it_data.st_messages(T, U, "die Katze", "de") == [
        {"role": "user", "content": f"Speech: {U}\nGerman:"},
        {"role": "assistant", "content": "die Katze"}]


def test_multiturn_st_format_and_turn_order():
    msgs = it_data.st_multiturn_messages(T, U, "the cat", "le chat", "fr")
    assert msgs == [
        {"role": "user", "content": f"Speech: {U}\nEnglish:"},
        {"role": "assistant", "content": "the cat"},
        {"role": "user", "content": "French:"},
        {"role": "assistant", "content": "le chat"}]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]


def test_mt_format():
    assert it_data.mt_messages(T, "the cat", "die Katze", "en", "de") == [
        {"role": "user", "content":
            "Translate the following text from English to German.\nEnglish: the cat\nGerman:"},
        {"role": "assistant", "content": "die Katze"}]


def test_cli_asr_and_st_rows_match_inputs(tmp_path):
    f = write_corpus(tmp_path)
    run_task("build_it_data", "asr", "--units", str(f["units"]), "--transcripts", str(f["en"]),
             "--source", "cv_asr", "--out", str(tmp_path / "asr.jsonl"),
             "--stats", str(tmp_path / "asr.json"))
    rows = read_rows(tmp_path / "asr.jsonl")
    assert len(rows) == len(SENTENCES)
    for i, (row, s) in enumerate(zip(rows, SENTENCES)):
        assert row["messages"] == it_data.asr_messages(T, units_line(i), s)
        assert (row["task"], row["source"], row["lang"], row["line"]) == ("asr", "cv_asr", "en", i + 1)
    assert json.loads((tmp_path / "asr.json").read_text())["by_task"] == {"asr": len(SENTENCES)}

    run_task("build_it_data", "st", "--units", str(f["units"]), "--transcripts", str(f["en"]),
             "--translations", f"ty={f['ty']}", "--translations", f"rv={f['rv']}",
             "--format", "both", "--source", "toy_st", "--out", str(tmp_path / "st.jsonl"))
    rows = read_rows(tmp_path / "st.jsonl")
    assert len(rows) == 2 * 2 * len(SENTENCES)  # two languages x (direct + multi-turn)
    by = {(r["lang"], r["task"], r["line"]): r["messages"] for r in rows}
    assert by[("en-rv", "st", 3)] == it_data.st_messages(T, units_line(2), translate(SENTENCES[2], "rv"), "rv")
    assert by[("en-ty", "st_multiturn", 1)] == it_data.st_multiturn_messages(
        T, units_line(0), SENTENCES[0], translate(SENTENCES[0], "ty"), "ty")


def test_st_mixed_format_uses_each_line_once_and_is_seeded(tmp_path):
    f = write_corpus(tmp_path)

    def build(seed, out):
        run_task("build_it_data", "st", "--units", str(f["units"]), "--transcripts", str(f["en"]),
                 "--translations", f"ty={f['ty']}", "--format", "mixed", "--seed", str(seed),
                 "--source", "s", "--out", str(out))
        return read_rows(out)

    a, b = build(1, tmp_path / "a.jsonl"), build(1, tmp_path / "b.jsonl")
    assert a == b
    assert sorted(r["line"] for r in a) == list(range(1, len(SENTENCES) + 1))
    assert {r["task"] for r in a} == {"st", "st_multiturn"}  # 8 lines, both formats drawn


def test_mt_pairs_and_indices_units(tmp_path):
    f = write_corpus(tmp_path)
    run_task("build_it_data", "mt", "--text", f"en={f['en']}", "--text", f"ty={f['ty']}",
             "--pairs", "en-ty", "ty-en", "--source", "toy_mt", "--out", str(tmp_path / "mt.jsonl"))
    rows = read_rows(tmp_path / "mt.jsonl")
    assert [r["lang"] for r in rows] == ["en-ty"] * 8 + ["ty-en"] * 8
    assert rows[8]["messages"] == it_data.mt_messages(T, translate(SENTENCES[0], "ty"), SENTENCES[0],
                                                      "ty", "en")
    run_task("build_it_data", "mt", "--text", f"en={f['en']}", "--text", f"rv={f['rv']}",
             "--pairs", "rv-en", "--max-lines", "3", "--source", "m", "--out", str(tmp_path / "m3.jsonl"))
    assert [r["line"] for r in read_rows(tmp_path / "m3.jsonl")] == [1, 2, 3]
    # units given as indices are written as PUA characters
    (tmp_path / "idx.txt").write_text("3 1 4 1 5\n", encoding="utf-8")
    (tmp_path / "one.txt").write_text("the cat\n", encoding="utf-8")
    run_task("build_it_data", "asr", "--units", str(tmp_path / "idx.txt"), "--transcripts",
             str(tmp_path / "one.txt"), "--source", "a", "--out", str(tmp_path / "a.jsonl"))
    assert read_rows(tmp_path / "a.jsonl")[0]["messages"][0]["content"] == f"Speech: {U}\nEnglish:"


def test_empty_units_line_is_skipped_not_shifted(tmp_path):
    (tmp_path / "u.txt").write_text(f"{U}\n\n{U}\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    run_task("build_it_data", "asr", "--units", str(tmp_path / "u.txt"), "--transcripts",
             str(tmp_path / "t.txt"), "--source", "a", "--out", str(tmp_path / "a.jsonl"),
             "--stats", str(tmp_path / "s.json"))
    rows = read_rows(tmp_path / "a.jsonl")
    assert [(r["line"], r["messages"][1]["content"]) for r in rows] == [(1, "one"), (3, "three")]
    assert json.loads((tmp_path / "s.json").read_text())["skipped"] == {"empty_line": 1}


def test_blocks_pass_through_and_sharegpt_conversion(tmp_path):
    src = tmp_path / "tb.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "Fix: teh"}, {"role": "assistant", "content": "the"}],
         "lang": "en"},
        {"conversations": [{"from": "human", "value": "Translate: Hallo"}, {"from": "gpt", "value": "Hello"}],
         "lang": "de-en", "dataset": "wmt", "task": "machine_translation"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run_task("build_it_data", "blocks", "--input", str(src), "--source", "towerblocks",
             "--out", str(tmp_path / "b.jsonl"))
    out = read_rows(tmp_path / "b.jsonl")
    assert out[0]["messages"] == rows[0]["messages"]
    assert out[1]["messages"] == [{"role": "user", "content": "Translate: Hallo"},
                                  {"role": "assistant", "content": "Hello"}]
    assert [(r["task"], r["source"], r["lang"]) for r in out] == [
        ("blocks", "towerblocks", "en"), ("blocks", "towerblocks", "de-en")]
    assert out[1]["blocks_task"] == "machine_translation" and out[1]["dataset"] == "wmt"


# --------------------------------------------------------------------------- bad input

def test_units_and_transcripts_of_different_lengths(tmp_path):
    (tmp_path / "u.txt").write_text(f"{U}\n{U}\n{U}\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"u\.txt:3: units has 3 lines but transcripts .*t\.txt\) has 2"):
        run_task("build_it_data", "asr", "--units", str(tmp_path / "u.txt"), "--transcripts",
                 str(tmp_path / "t.txt"), "--source", "a", "--out", str(tmp_path / "a.jsonl"))
    assert not (tmp_path / "a.jsonl").exists()


def test_language_missing_from_languages(tmp_path):
    f = write_corpus(tmp_path)
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        run_task("build_it_data", "st", "--units", str(f["units"]), "--translations",
                 f"xx={f['ty']}", "--source", "s", "--out", str(tmp_path / "s.jsonl"))
    with pytest.raises(ValueError, match="pair en-rv: no text file for language 'rv'"):
        run_task("build_it_data", "mt", "--text", f"en={f['en']}", "--text", f"ty={f['ty']}",
                 "--pairs", "en-rv", "--source", "m", "--out", str(tmp_path / "m.jsonl"))


def test_template_missing_from_templates_file(tmp_path):
    f = write_corpus(tmp_path)
    bad = tmp_path / "prompts.json"
    bad.write_text(json.dumps({"asr": "Speech: {units}\nEnglish:"}), encoding="utf-8")
    with pytest.raises(KeyError, match=r"prompts\.json: no template\(s\) \['st', 'st_second_turn'\]"):
        run_task("build_it_data", "st", "--units", str(f["units"]), "--translations",
                 f"ty={f['ty']}", "--templates", str(bad), "--source", "s",
                 "--out", str(tmp_path / "s.jsonl"))


def test_bad_units_line_names_file_and_line(tmp_path):
    (tmp_path / "u.txt").write_text(f"{U}\n{U}abc\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"u\.txt:2: bad units line"):
        run_task("build_it_data", "asr", "--units", str(tmp_path / "u.txt"), "--transcripts",
                 str(tmp_path / "t.txt"), "--source", "a", "--out", str(tmp_path / "a.jsonl"))


@pytest.mark.parametrize("messages, error", [
    ([{"role": "user", "content": "hi"}], "conversation has no assistant turn"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
      {"role": "user", "content": "and?"}], "conversation ends with a user turn"),
    ([{"role": "assistant", "content": "yo"}, {"role": "user", "content": "hi"}],
     "turn 0 is 'assistant', expected 'user'"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}], "empty assistant turn"),
    ([{"role": "bot", "content": "hi"}], "message 0 must be"),
])
def test_blocks_conversation_errors_name_file_and_line(tmp_path, messages, error):
    src = tmp_path / "tb.jsonl"
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    src.write_text(json.dumps(good) + "\n\n" + json.dumps({"messages": messages}) + "\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=rf"tb\.jsonl:3: {error}"):
        run_task("build_it_data", "blocks", "--input", str(src), "--source", "b",
                 "--out", str(tmp_path / "b.jsonl"))
