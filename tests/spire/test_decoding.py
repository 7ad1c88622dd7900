"""Greedy HF decoding on a tiny random Llama built here (real transformers generate path)."""
import json
import shutil

import pytest
import torch

from eval_fixtures import build_tiny_llama, load_task, local_sentences
from spire.decoding import cut_at_stop, decode_file, eos_ids, generate, load_hf, one_line
from spire.decoding import resolve_backend
from spire.io import read_lines, write_jsonl

N_NEW = 16


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


@pytest.fixture(scope="module")
def prompts():
    # different lengths, so batches need left padding
    return local_sentences(9, seed=11)


@pytest.fixture(scope="module")
def reference(llama, prompts):
    return generate(llama, prompts, max_new_tokens=N_NEW, batch_size=1, backend="hf",
                    progress=False)


def raw_greedy_ids(model_dir, prompt, n):
    """Greedy continuation ids of one prompt, eos ignored, straight from transformers."""
    tok, model = load_hf(model_dir)
    enc = tok(prompt, return_tensors="pt", return_token_type_ids=False)
    out = model.generate(**enc, do_sample=False, max_new_tokens=n, min_new_tokens=n,
                         pad_token_id=tok.pad_token_id)
    return tok, out[0, enc["input_ids"].shape[1]:].tolist()


def test_batch_size_does_not_change_greedy_outputs_and_order_is_kept(llama, prompts, reference):
    assert len(reference) == len(prompts)
    assert len(set(reference)) > 3, "the tiny model should answer prompts differently"
    for bs in (4, 9):
        assert generate(llama, prompts, max_new_tokens=N_NEW, batch_size=bs, backend="hf",
                        progress=False) == reference
    # order: a permuted input gives the permuted outputs
    perm = [3, 0, 8, 1, 7, 2, 6, 4, 5]
    got = generate(llama, [prompts[i] for i in perm], max_new_tokens=N_NEW, batch_size=4,
                   backend="hf", progress=False)
    assert got == [reference[i] for i in perm]


def test_stop_strings_cut_hypotheses(llama, prompts, reference):
    # a stop string taken from the middle of one unconstrained hypothesis
    k = max(range(len(reference)), key=lambda i: len(reference[i]))
    stop = reference[k][4:6]
    assert stop.strip() and len(reference[k]) > 6
    got = generate(llama, prompts, max_new_tokens=N_NEW, stop=[stop], batch_size=4,
                   backend="hf", progress=False)
    assert got == [cut_at_stop(h, [stop]) for h in reference]
    assert stop not in got[k] and len(got[k]) < len(reference[k])


def test_eos_from_tokenizer_is_respected(llama, prompts, tmp_path):
    tok, ids = raw_greedy_ids(llama, prompts[0], N_NEW)
    j = next(j for j in range(2, len(ids)) if ids[j] not in ids[:j] and ids[j] > 2)
    model_dir = tmp_path / "eos_model"
    shutil.copytree(llama, model_dir)
    # make the token the model produces at step j the tokenizer's eos
    cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    cfg["eos_token"] = tok.convert_ids_to_tokens(ids[j])
    (model_dir / "tokenizer_config.json").write_text(json.dumps(cfg))
    (model_dir / "special_tokens_map.json").unlink(missing_ok=True)
    tok2, _ = load_hf(model_dir)
    assert ids[j] in eos_ids(tok2, model_dir)
    got = generate(model_dir, prompts[:3], max_new_tokens=N_NEW, batch_size=3, backend="hf",
                   progress=False)
    assert got[0] == tok.decode(ids[:j], skip_special_tokens=True).strip()


def test_decode_file_resumes_and_keeps_lines(llama, prompts, reference, tmp_path):
    inp, out = tmp_path / "p.jsonl", tmp_path / "h.txt"
    write_jsonl(inp, [{"id": str(i), "prompt": p} for i, p in enumerate(prompts)])
    # an interrupted run left 3 hypotheses (one with a newline) and half a line
    partial = tmp_path / "h.txt.partial.jsonl"
    from spire.decoding import _fingerprint
    fp = _fingerprint(llama, prompts, N_NEW, None)
    partial.write_text(json.dumps({"fingerprint": fp}) + "\n"
                       + "".join(json.dumps({"i": i, "hyp": h}) + "\n" for i, h in
                                 [(0, "kept\nacross lines"), (4, reference[4]), (8, reference[8])])
                       + '{"i": 5, "hy')
    decode_file(llama, inp, out, max_new_tokens=N_NEW, batch_size=4, backend="hf", progress=False)
    lines = read_lines(out)
    assert len(lines) == len(prompts)
    assert lines[0] == "kept across lines"  # resumed, not recomputed; newline flattened
    assert lines[1:] == [one_line(h) for h in reference[1:]]
    assert not partial.exists()


def test_decode_task_cli(llama, prompts, reference, tmp_path):
    inp, out = tmp_path / "p.jsonl", tmp_path / "h.txt"
    write_jsonl(inp, [{"id": str(i), "prompt": p} for i, p in enumerate(prompts[:4])])
    load_task("decode").main(["--model", str(llama), "--prompts", str(inp), "--out", str(out),
                              "--max-new-tokens", str(N_NEW), "--backend", "hf",
                              "--batch-size", "2"])
    assert read_lines(out) == [one_line(h) for h in reference[:4]]


def test_backend_choice_and_bad_input(tmp_path):
    assert resolve_backend("auto") in ("hf", "vllm")
    with pytest.raises(ValueError, match="back-end"):
        resolve_backend("tgi")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="vllm"):
            resolve_backend("vllm")
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "0", "text": "no prompt"}\n')
    with pytest.raises(ValueError, match="p.jsonl:1"):
        decode_file(tmp_path, bad, tmp_path / "h.txt")


def test_cut_at_stop():
    assert cut_at_stop(" a b\nc", ["\n"]) == "a b"
    assert cut_at_stop("abXcdY", ["Y", "X"]) == "ab"
    assert cut_at_stop("abc", None) == "abc"
