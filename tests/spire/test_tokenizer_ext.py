import pytest
from transformers import AutoTokenizer, LlamaTokenizerFast

from spire.tokenizer_ext import SPECIALS, extend_tokenizer, unit_token_ids
from spire.units import units_to_text
from tests.spire.lm_fixtures import (N_UNITS, base_tok_dir, ext_tok_dir, inst_tok_dir,  # noqa: F401
                                     run_task, toy_sentences)


def test_specials_then_units_with_expected_ids(base_tok_dir, ext_tok_dir):
    base = AutoTokenizer.from_pretrained(base_tok_dir)
    ext = AutoTokenizer.from_pretrained(ext_tok_dir)
    assert type(ext) is LlamaTokenizerFast
    n = len(base)
    assert len(ext) == n + len(SPECIALS) + N_UNITS
    assert ext.convert_tokens_to_ids(list(SPECIALS)) == list(range(n, n + 5))
    assert unit_token_ids(ext, N_UNITS) == list(range(n + 5, n + 5 + N_UNITS))
    assert ext.pad_token == ext.eos_token == "</s>"


def test_units_are_single_tokens_in_context_and_decode_exactly(ext_tok_dir):
    tok = AutoTokenizer.from_pretrained(ext_tok_dir)
    first = tok.convert_tokens_to_ids(units_to_text([0]))
    units = [3, 3, 7, 39, 0, 12, 5]
    u = units_to_text(units)
    for text, prefix in [(u, ""), ("Speech: " + u + "\nEnglish: the cat", "Speech: "),
                         ("cat" + u + "dog", "cat")]:
        ids = tok.encode(text, add_special_tokens=False)
        unit_ids = [i for i in ids if first <= i < first + N_UNITS]
        assert unit_ids == [first + k for k in units], tok.convert_ids_to_tokens(ids)
        # a unit run is contiguous: nothing (no byte pieces, no extra ▁) inside it
        start = ids.index(unit_ids[0])
        assert ids[start:start + len(units)] == unit_ids
        assert tok.decode(ids) == text
    assert tok.decode(tok.encode(u, add_special_tokens=False)) == u


def test_ordinary_text_unchanged(base_tok_dir, ext_tok_dir):
    base = AutoTokenizer.from_pretrained(base_tok_dir)
    ext = AutoTokenizer.from_pretrained(ext_tok_dir)
    texts = toy_sentences(200, seed=5) + ["English: the cat\nToyish: dog", "ünïcödé 123 x"]
    assert [base.encode(t) for t in texts] == [ext.encode(t) for t in texts]
    # without extension a unit costs byte pieces: the extension is what makes it one token
    assert len(base.encode(units_to_text([1]), add_special_tokens=False)) > 1


def test_chatml_renders_exactly(base_tok_dir, inst_tok_dir):
    tok = AutoTokenizer.from_pretrained(inst_tok_dir)
    n = len(AutoTokenizer.from_pretrained(base_tok_dir)) + 5 + N_UNITS
    assert tok.convert_tokens_to_ids(["<|im_end|>", "<|im_start|>"]) == [n, n + 1]
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == n
    msgs = [{"role": "user", "content": "Speech: " + units_to_text([1, 2]) + "\nEnglish:"},
            {"role": "assistant", "content": "the cat"}]
    assert tok.apply_chat_template(msgs, tokenize=False) == (
        "<|im_start|>user\nSpeech: \U000f0001\U000f0002\nEnglish:<|im_end|>\n"
        "<|im_start|>assistant\nthe cat<|im_end|>\n")
    assert tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True).endswith(
        "English:<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.apply_chat_template(msgs, tokenize=True, return_dict=False)
    assert ids.count(n + 1) == 2 and ids.count(n) == 2  # specials are single tokens
    assert unit_token_ids(tok, N_UNITS)[:2] == [n - N_UNITS, n - N_UNITS + 1]


def test_instruct_from_extended_keeps_ids(ext_tok_dir, inst_tok_dir, tmp_path):
    again = extend_tokenizer(ext_tok_dir, tmp_path / "t", N_UNITS, instruct=True)
    inst = AutoTokenizer.from_pretrained(inst_tok_dir)
    assert again.get_vocab() == inst.get_vocab()


def test_extra_id_format(base_tok_dir, tmp_path):
    tok = extend_tokenizer(base_tok_dir, tmp_path / "t", 10, unit_format="extra_id")
    ids = unit_token_ids(tok, 10, "extra_id")
    text = "Speech: " + units_to_text([4, 4, 9], "extra_id")
    enc = tok.encode(text, add_special_tokens=False)
    assert [i for i in enc if i in ids] == [ids[4], ids[4], ids[9]]
    assert tok.decode(enc) == text


def test_tokenizer_without_sentencepiece(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import PreTrainedTokenizerFast
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(toy_sentences(500), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>").save_pretrained(
        tmp_path / "bpe")
    tok = extend_tokenizer(tmp_path / "bpe", tmp_path / "ext", 8, instruct=True)
    ids = unit_token_ids(tok, 8)
    u = units_to_text([1, 1, 7, 2])
    enc = tok.encode("Speech: " + u, add_special_tokens=False)
    assert [i for i in enc if i in ids] == [ids[1], ids[1], ids[7], ids[2]]
    assert tok.decode(enc) == "Speech: " + u
    assert tok.eos_token == "<|im_end|>"


def test_cli_rejects_missing_units(ext_tok_dir):
    from spire.tokenizer_ext import unit_token_ids as check
    tok = AutoTokenizer.from_pretrained(ext_tok_dir)
    with pytest.raises(ValueError, match=f"unit {N_UNITS} "):
        check(tok, N_UNITS + 1)


def test_extend_tokenizer_cli(base_tok_dir, tmp_path):
    run_task("extend_tokenizer.py", "--base", base_tok_dir, "--num-units", 5, "--out", tmp_path / "o")
    tok = AutoTokenizer.from_pretrained(tmp_path / "o")
    assert len(unit_token_ids(tok, 5)) == 5
