"""Decode prompts reach the model as the token ids training gave the same text (HF and vLLM), and
vLLM engines are built once per process and model (a fake ``vllm`` module stands in for the real
one, which needs a GPU).

Training: an IT row is ``apply_chat_template(tokenize=True)`` (spire.packing), i.e. the rendered
template tokenised without added special tokens, so with Spire's ChatML template it has no BOS; a
CPT document is ``<s> text </s>``. Decoding used to hand the rendered text to ``tok(text)`` / vLLM,
which add a BOS of their own.
"""
import json
import shutil
import sys
import types

import pytest
import torch

from eval_fixtures import load_task
from spire import decoding
from spire import eval_prompts as ep
from spire.io import read_jsonl, write_lines
from spire.packing import IGNORE, tokenize_conversations, tokenize_documents
from spire.prompts import load_templates
from spire.units import units_to_text
from tests.spire.lm_fixtures import base_tok_dir, inst_tok_dir  # noqa: F401 - fixtures

T = load_templates()
UNITS = [units_to_text([3, 5, 5, 7, 1]), units_to_text([9, 2, 30, 30])]
ANSWERS = ["the cat sat", "a dog ran near the river"]


def asr_conversation(i: int) -> list[dict]:
    from spire.it_data import asr_messages
    return asr_messages(T, UNITS[i], ANSWERS[i])


def training_prefix(tok, conv) -> list[int]:
    """The IT training row's ids up to the assistant's answer (its first labelled token)."""
    ids, labels = tokenize_conversations(tok, [conv])[0]
    return ids[:next(j for j, t in enumerate(labels) if t != IGNORE)]


@pytest.fixture()
def tok(inst_tok_dir):
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(inst_tok_dir)
    t.padding_side = "left"
    return t


def build_prompts(tmp_path, *args) -> list[dict]:
    units = tmp_path / "units.txt"
    write_lines(units, UNITS)
    out = tmp_path / "prompts.jsonl"
    load_task("build_prompts").main(["--task", "asr", "--units", str(units), "--out", str(out), *args])
    return read_jsonl(out)


class RecordingModel:
    """Stands in for a causal LM in ``generate``: records the ids it is given, answers eos."""

    def __init__(self, eos: int):
        self.device, self.eos, self.seen = torch.device("cpu"), eos, []

    def generate(self, input_ids, attention_mask, **kw):
        self.seen += [ids[m.bool()].tolist() for ids, m in zip(input_ids, attention_mask)]
        return torch.cat([input_ids, torch.full((len(input_ids), 1), self.eos)], dim=1)


def test_training_rows_have_no_bos_and_text_tokenisation_adds_one(tok):
    # the two facts behind the change, checked on the instruct tokenizer Spire ships
    prefix = training_prefix(tok, asr_conversation(0))
    assert tok.bos_token_id not in prefix
    text = ep.chatml(T, asr_conversation(0)[:1])
    assert tok(text)["input_ids"] == [tok.bos_token_id] + prefix


def test_hf_decode_of_instruct_prompts_sees_the_training_prefix(tok, tmp_path, monkeypatch):
    for chat_args in (["--chat", "chatml"], ["--chat", "tokenizer", "--tokenizer", tok.name_or_path]):
        rows = build_prompts(tmp_path, "--style", "instruct", *chat_args)
        model = RecordingModel(tok.eos_token_id)
        monkeypatch.setattr(decoding, "load_hf", lambda *a, **k: (tok, model))
        decoding.decode_file(tmp_path / "no-model", tmp_path / "prompts.jsonl", tmp_path / "hyps.txt",
                             max_new_tokens=4, batch_size=2, backend="hf", progress=False)
        expected = [training_prefix(tok, asr_conversation(i)) for i in range(2)]
        assert sorted(model.seen) == sorted(expected), rows
        assert all(s.count(tok.bos_token_id) == 0 for s in model.seen)  # as in training: none


def test_base_prompts_are_a_cpt_document_prefix(tok, tmp_path):
    # a plain prompt: one BOS then the text, as tokenize_documents gave the CPT documents
    from spire.prompts import prompt_token_ids
    query = ep.base_query(T, "asr", ep.item_fields("asr", units=UNITS[0]))
    doc = tokenize_documents(tok, [f"{query} {ANSWERS[0]}"])[0]
    ids = prompt_token_ids(tok, query, chat=False)
    assert ids == doc[:len(ids)] and ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    rows = build_prompts(tmp_path, "--style", "base", "--shots", "0")
    assert [r["chat"] for r in rows] == [False, False]


def test_a_template_that_writes_bos_gives_exactly_one(tok):
    # Gemma-style templates (Tower+ 9B, the pseudo-labelling MT system) start with {{ bos_token }}
    from spire.prompts import prompt_token_ids
    from spire.tokenizer_ext import CHATML_TEMPLATE
    tok.chat_template = "{{ bos_token }}" + CHATML_TEMPLATE
    conv = asr_conversation(1)
    text = ep.apply_tokenizer_template(tok, conv[:1])
    assert tok(text)["input_ids"][:2] == [tok.bos_token_id] * 2  # what text prompts used to give
    ids = prompt_token_ids(tok, text, chat=True)
    assert ids.count(tok.bos_token_id) == 1 and ids == training_prefix(tok, conv)


# ------------------------------------------------------------------------------- vLLM, faked
class FakeLLM:
    built: list = []

    def __init__(self, model, **options):
        FakeLLM.built.append((model, options))
        FakeLLM.last, self.prompts = self, []

    def generate(self, prompts, params, use_tqdm=True):
        self.prompts += prompts
        out = types.SimpleNamespace
        return [out(outputs=[out(text=f"n{len(p['prompt_token_ids'] if isinstance(p, dict) else p)}"
                                          "\nrest")]) for p in prompts]


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(decoding, "_ENGINES", {}, raising=False)
    monkeypatch.setattr(decoding, "vllm_available", lambda: True)
    FakeLLM.built = []
    return FakeLLM


def test_one_vllm_engine_serves_every_call(fake_vllm, inst_tok_dir):
    prompts = [ep.chatml(T, asr_conversation(i)[:1]) for i in range(2)]
    for _ in range(2):
        hyps = decoding.generate(inst_tok_dir, prompts, max_new_tokens=4, stop=["\n"],
                                 backend="vllm", progress=False)
        assert len(hyps) == 2 and all(h.startswith("n") for h in hyps)
    assert len(fake_vllm.built) == 1  # one engine for both calls
    _, options = fake_vllm.built[0]
    assert options["gpu_memory_utilization"] == decoding.VLLM_MEMORY_BUDGET


def test_vllm_decode_gets_the_training_prefix_ids(fake_vllm, tok, inst_tok_dir, tmp_path):
    build_prompts(tmp_path, "--style", "instruct", "--chat", "chatml")
    decoding.decode_file(inst_tok_dir, tmp_path / "prompts.jsonl", tmp_path / "hyps.txt",
                         max_new_tokens=4, stop=["\n"], backend="vllm", progress=False)
    expected = [training_prefix(tok, asr_conversation(i)) for i in range(2)]
    assert len(fake_vllm.built) == 1
    assert fake_vllm.last.prompts == [{"prompt_token_ids": ids} for ids in expected]
    assert (tmp_path / "hyps.txt").read_text().split() == [f"n{len(ids)}" for ids in expected]


class StubLabeler:
    def units_batch(self, waves):
        return [[3, 5, 5, 7, 1] for _ in waves]


def test_cascade_with_two_models_builds_two_engines_that_split_the_memory(fake_vllm, inst_tok_dir,
                                                                          tmp_path):
    import numpy as np
    import soundfile as sf

    from spire import inference

    mt_dir = tmp_path / "mt_model"
    shutil.copytree(inst_tok_dir, mt_dir)
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.3 * np.sin(np.arange(16000) / 10)).astype(np.float32), 16000)
    spire = inference.Spire(str(inst_tok_dir), StubLabeler(), backend="vllm", mt_model=str(mt_dir))
    for _ in range(2):
        out = spire.translate_outputs([str(wav)], "de", mode="cascade")
        assert out[0].error is None and out[0].text.startswith("n")
    spire.transcribe([str(wav)])
    models = [m for m, _ in fake_vllm.built]
    assert models == [str(inst_tok_dir), str(mt_dir)]  # one each, whatever the number of calls
    shares = [o["gpu_memory_utilization"] for _, o in fake_vllm.built]
    assert shares == [decoding.VLLM_MEMORY_BUDGET / 2] * 2
    assert sum(shares) <= 0.9


def test_self_cascade_uses_one_engine(fake_vllm, inst_tok_dir, tmp_path):
    import numpy as np
    import soundfile as sf

    from spire import inference

    wav = tmp_path / "a.wav"
    sf.write(wav, (0.3 * np.sin(np.arange(16000) / 10)).astype(np.float32), 16000)
    spire = inference.Spire(str(inst_tok_dir), StubLabeler(), backend="vllm")
    spire.translate([str(wav)], "de", mode="cascade")
    assert len(fake_vllm.built) == 1
    assert fake_vllm.built[0][1]["gpu_memory_utilization"] == decoding.VLLM_MEMORY_BUDGET
    json.dumps(fake_vllm.built[0][1])  # plain options, nothing process-specific
