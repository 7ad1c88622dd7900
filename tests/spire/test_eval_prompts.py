"""Evaluation prompts: formats of docs/paper.md §4-§5, ChatML identical to the tokenizer's template,
seeded few-shot draws, and the build_prompts task's file contract."""
import pytest

from eval_fixtures import build_tiny_llama, load_task
from spire import eval_prompts as ep
from spire.io import read_jsonl, write_lines
from spire.prompts import load_templates
from spire.tokenizer_ext import CHATML_TEMPLATE
from spire.units import units_to_text

T = load_templates()
U = units_to_text([5, 17, 3])


def test_zero_shot_user_turns():
    f = ep.item_fields("asr", units=U)
    assert ep.instruct_messages(T, "asr", f) == [{"role": "user", "content": f"Speech: {U}\nEnglish:"}]
    f = ep.item_fields("st", units=U, tgt_lang="de")
    assert ep.instruct_messages(T, "st", f)[0]["content"] == f"Speech: {U}\nGerman:"
    f = ep.item_fields("mt", src="Hi there.", src_lang="en", tgt_lang="zh")
    assert ep.instruct_messages(T, "mt", f)[0]["content"] == (
        "Translate the following text from English to Chinese.\nEnglish: Hi there.\nChinese:")
    with pytest.raises(ValueError, match="target language"):
        ep.item_fields("st", units=U)
    with pytest.raises(ValueError, match="unknown language"):
        ep.item_fields("mt", src="x", tgt_lang="xx")


def test_chatml_matches_tokenizer_chat_template(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_tiny_llama(tmp_path / "m"))
    tok.chat_template = CHATML_TEMPLATE
    f = ep.item_fields("st_two_turn", units=U, tgt_lang="de")
    for task, hyp in (("asr", None), ("st_two_turn", "the cat sat")):
        msgs = ep.instruct_messages(T, task, f, asr_hypothesis=hyp)
        assert ep.chatml(T, msgs) == ep.apply_tokenizer_template(tok, msgs)
    two = ep.chatml(T, ep.instruct_messages(T, "st_two_turn", f, asr_hypothesis="the cat sat"))
    assert two == (f"<|im_start|>user\nSpeech: {U}\nEnglish:<|im_end|>\n<|im_start|>assistant\n"
                   "the cat sat<|im_end|>\n<|im_start|>user\nGerman:<|im_end|>\n"
                   "<|im_start|>assistant\n")
    sys_msgs = ep.instruct_messages(T, "asr", f, system="Be brief.")
    assert ep.chatml(T, sys_msgs).startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


def test_fewshot_is_seeded_and_uses_cpt_format():
    dev = [(ep.item_fields("mt", src=f"s{i}", tgt_lang="de"), f"t{i}") for i in range(20)]
    items = [ep.item_fields("mt", src=f"q{i}", tgt_lang="de") for i in range(4)]
    a = ep.fewshot_prompts(T, "mt", items, dev, n_shots=5, seed=42)
    assert a == ep.fewshot_prompts(T, "mt", items, dev, n_shots=5, seed=42)
    assert a != ep.fewshot_prompts(T, "mt", items, dev, n_shots=5, seed=1)
    blocks = a[0].split("\n\n")
    assert len(blocks) == 6 and blocks[-1] == "English: q0\nGerman:"
    for b in blocks[:5]:  # each shot is exactly a CPT MT document
        src = b.split("\n")[0].removeprefix("English: ")
        assert b == f"English: {src}\nGerman: t{src[1:]}"
    assert len(set(blocks[:5])) == 5
    same = ep.fewshot_prompts(T, "mt", items, dev, n_shots=5, same_shots=True)
    assert len({p.rsplit("\n\n", 1)[0] for p in same}) == 1
    assert ep.fewshot_prompts(T, "asr", [ep.item_fields("asr", units=U)], [], n_shots=0) == [
        f"Speech: {U}\nEnglish:"]
    with pytest.raises(ValueError, match="at least 5"):
        ep.fewshot_prompts(T, "mt", items, dev[:3], n_shots=5)


def test_build_prompts_task(tmp_path):
    build = load_task("build_prompts").main
    write_lines(tmp_path / "units.txt", ["1 2 3", "4 5", "6"])  # indices in, PUA out
    write_lines(tmp_path / "ids.txt", ["a", "b", "c"])
    write_lines(tmp_path / "hyps.txt", ["one", "two", "three"])
    out = tmp_path / "p.jsonl"
    build(["--task", "asr", "--style", "instruct", "--units", str(tmp_path / "units.txt"),
           "--ids", str(tmp_path / "ids.txt"), "--out", str(out)])
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[1]["prompt"] == ("<|im_start|>user\nSpeech: " + units_to_text([4, 5])
                                 + "\nEnglish:<|im_end|>\n<|im_start|>assistant\n")
    # self-cascade second step: the model's own transcripts through the MT prompt
    build(["--task", "mt", "--style", "instruct", "--source", str(tmp_path / "hyps.txt"),
           "--tgt-lang", "ty", "--out", str(out)])
    assert "English: two\nToyish:" in read_jsonl(out)[1]["prompt"]
    build(["--task", "st_two_turn", "--style", "instruct", "--units", str(tmp_path / "units.txt"),
           "--asr-hyps", str(tmp_path / "hyps.txt"), "--tgt-lang", "de", "--out", str(out)])
    assert "three<|im_end|>\n<|im_start|>user\nGerman:" in read_jsonl(out)[2]["prompt"]
    # base model ASR, 2-shot from a dev set
    write_lines(tmp_path / "dev_units.txt", ["7", "8", "9"])
    write_lines(tmp_path / "dev_text.txt", ["seven", "eight", "nine"])
    build(["--task", "asr", "--style", "base", "--units", str(tmp_path / "units.txt"),
           "--dev-units", str(tmp_path / "dev_units.txt"), "--dev-target",
           str(tmp_path / "dev_text.txt"), "--shots", "2", "--out", str(out)])
    p = read_jsonl(out)[0]["prompt"]
    assert p.count("\n\n") == 2 and p.endswith("Speech: " + units_to_text([1, 2, 3]) + "\nEnglish:")
    # mismatched inputs name the files
    write_lines(tmp_path / "short.txt", ["x"])
    with pytest.raises(ValueError, match="short.txt.*1 lines"):
        build(["--task", "asr", "--style", "instruct", "--units", str(tmp_path / "units.txt"),
               "--ids", str(tmp_path / "short.txt"), "--out", str(out)])


def test_empty_dev_pairs_are_no_shots(tmp_path):
    """An unreadable dev clip (empty unit line) or an unmatched FLEURS reference is never a shot."""
    build = load_task("build_prompts").main
    units = [units_to_text([i, i + 1]) for i in range(4)]
    write_lines(tmp_path / "test.units", units[:1])
    write_lines(tmp_path / "dev.units", ["", units[1], units[2], units[3]])
    write_lines(tmp_path / "dev.de", ["Null", "Eins", "", "Drei"])
    build(["--task", "st", "--style", "base", "--units", str(tmp_path / "test.units"), "--tgt-lang", "de",
           "--shots", "2", "--dev-units", str(tmp_path / "dev.units"), "--dev-target", str(tmp_path / "dev.de"),
           "--out", str(tmp_path / "p.jsonl")])
    prompt = read_jsonl(tmp_path / "p.jsonl")[0]["prompt"]
    assert "German: Eins" in prompt and "German: Drei" in prompt and "Null" not in prompt
    with pytest.raises(ValueError, match="need at least 3 dev examples"):
        build(["--task", "st", "--style", "base", "--units", str(tmp_path / "test.units"), "--tgt-lang", "de",
               "--shots", "3", "--dev-units", str(tmp_path / "dev.units"), "--dev-target",
               str(tmp_path / "dev.de"), "--out", str(tmp_path / "p.jsonl")])
