"""Greedy decoding for evaluation and pseudo-labelling (docs/paper.md §5).

Two back-ends produce the same greedy hypotheses:

* **vLLM** (the authors' setup) when it is installed and a GPU is present — imported lazily;
* batched Hugging Face ``generate`` otherwise: left padding, prompts sorted by length so each
  batch pads little, a tqdm bar.

Both stop at end-of-sequence ids taken from the tokenizer (and the model's generation config),
and at the caller's stop strings (a newline for few-shot base models). Hypotheses come back in
input order, cut before the first stop string and stripped.

:func:`generate` is the library entry point; :func:`decode_file` adds the task's file contract
(JSONL prompts in, one hypothesis per line out) and resumes an interrupted run from a side file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

from spire.io import atomic_path, read_jsonl, write_lines
from spire.log import get_logger

log = get_logger(__name__)

BACKENDS = ("auto", "hf", "vllm")


# --------------------------------------------------------------------------- helpers
def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Text before the earliest stop string, stripped (vLLM and HF both go through this)."""
    cut = len(text)
    for s in stop or ():
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut].strip()


def one_line(text: str) -> str:
    """A hypothesis as one output line: inner newlines would shift every later line."""
    return " ".join(text.splitlines()).strip() if ("\n" in text or "\r" in text) else text


def vllm_available() -> bool:
    try:
        import torch
        if not torch.cuda.is_available():
            return False
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding back-end {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "vllm" if vllm_available() else "hf"
    if backend == "vllm" and not vllm_available():
        raise RuntimeError("backend 'vllm' needs the vllm package and a CUDA GPU; use --backend hf")
    return backend


def eos_ids(tokenizer, model_dir: str | os.PathLike | None = None) -> list[int]:
    """End-of-sequence ids: the tokenizer's eos, ``<|im_end|>`` when present (ChatML models),
    and the model's ``generation_config.json`` eos ids."""
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    if im_end is not None:
        ids.append(im_end)
    if model_dir is not None and (Path(model_dir) / "generation_config.json").is_file():
        cfg = json.loads((Path(model_dir) / "generation_config.json").read_text())
        extra = cfg.get("eos_token_id")
        ids.extend(extra if isinstance(extra, list) else [extra] if extra is not None else [])
    return list(dict.fromkeys(ids))


def _dtype(dtype: str | None, cuda: bool):
    import torch
    if dtype in (None, "auto"):
        return torch.bfloat16 if cuda else torch.float32  # docs/design.md: bf16 on GPU, fp32 on CPU
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None


# --------------------------------------------------------------------------- HF back-end
def load_hf(model_dir: str | os.PathLike, dtype: str | None = None, device: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (Path(model_dir) / "config.json").is_file() and Path(model_dir).exists():
        raise FileNotFoundError(f"{model_dir}: not a Hugging Face model folder (no config.json)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"  # decoder-only: new tokens must follow the prompt in every row
    if tok.pad_token_id is None:
        # Spire's base tokenizer pads with eos (docs/paper.md §2); padded positions are masked anyway.
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        if tok.pad_token is None:
            raise ValueError(f"{model_dir}: tokenizer has no pad, eos or unk token to pad batches with")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_dtype(dtype, device == "cuda"))
    model.to(device).eval()
    return tok, model


def iter_generate_hf(tok, model, prompts: Sequence[str], *, max_new_tokens: int, stop=None,
                     batch_size: int = 16, eos: Sequence[int] = (), progress: bool = True,
                     stats: dict | None = None) -> Iterator[tuple[list[int], list[str]]]:
    """Yield ``(indices, hypotheses)`` per batch; batches hold prompts of similar length.

    ``stats["generated_tokens"]`` (when a dict is given) counts the tokens generated before eos.
    """
    import torch
    from tqdm.auto import tqdm

    lengths = [len(ids) for ids in tok(list(prompts), add_special_tokens=True)["input_ids"]]
    # Longest first: an out-of-memory batch shows up at once, not after hours.
    order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
    eos = list(eos) or eos_ids(tok)
    bar = tqdm(total=len(prompts), desc="decode (hf)", unit="seg", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True,
                  add_special_tokens=True, return_token_type_ids=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                eos_token_id=eos, pad_token_id=tok.pad_token_id,
                # stop strings end a row early (it stops consuming compute); the text is cut
                # again in cut_at_stop because the criterion keeps the stop string itself.
                stop_strings=list(stop) if stop else None, tokenizer=tok if stop else None,
                temperature=None, top_p=None, top_k=None)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        hyps = []
        for ids in new:
            cut = next((j for j, t in enumerate(ids) if t in eos), len(ids))
            if stats is not None:
                stats["generated_tokens"] = stats.get("generated_tokens", 0) + cut
            hyps.append(cut_at_stop(tok.decode(ids[:cut], skip_special_tokens=True), stop))
        bar.update(len(idx))
        yield idx, hyps
    bar.close()


# --------------------------------------------------------------------------- vLLM back-end
def iter_generate_vllm(model_dir, prompts: Sequence[str], *, max_new_tokens: int, stop=None,
                       dtype: str | None = None, chunk_size: int = 2048, progress: bool = True,
                       ) -> Iterator[tuple[list[int], list[str]]]:
    """Yield ``(indices, hypotheses)`` per chunk of prompts (vLLM schedules batches itself)."""
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tok = AutoTokenizer.from_pretrained(model_dir)
    llm = LLM(model=str(model_dir), dtype=dtype if dtype not in (None, "auto") else "bfloat16",
              seed=0)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop=list(stop or []),
                            stop_token_ids=eos_ids(tok, model_dir), skip_special_tokens=True)
    for start in range(0, len(prompts), chunk_size):
        idx = list(range(start, min(start + chunk_size, len(prompts))))
        outs = llm.generate([prompts[i] for i in idx], params, use_tqdm=progress)
        yield idx, [cut_at_stop(o.outputs[0].text, stop) for o in outs]


# --------------------------------------------------------------------------- entry points
def iter_generate(model_dir, prompts: Sequence[str], *, max_new_tokens: int = 256, stop=None,
                  batch_size: int = 16, backend: str = "auto", dtype: str | None = None,
                  chunk_size: int = 2048, progress: bool = True):
    backend = resolve_backend(backend)
    log.info("decoding %d prompts with %s from %s", len(prompts), backend, model_dir)
    if not prompts:
        return iter(())
    if backend == "vllm":
        return iter_generate_vllm(model_dir, prompts, max_new_tokens=max_new_tokens, stop=stop,
                                  dtype=dtype, chunk_size=chunk_size, progress=progress)
    tok, model = load_hf(model_dir, dtype)
    return iter_generate_hf(tok, model, prompts, max_new_tokens=max_new_tokens, stop=stop,
                            batch_size=batch_size, eos=eos_ids(tok, model_dir), progress=progress)


def generate(model_dir, prompts: Sequence[str], *, max_new_tokens: int = 256, stop=None,
             batch_size: int = 16, backend: str = "auto", dtype: str | None = None,
             progress: bool = True) -> list[str]:
    """Greedy hypotheses for ``prompts``, in order (one string each, stop strings removed)."""
    hyps: list[str | None] = [None] * len(prompts)
    for idx, out in iter_generate(model_dir, prompts, max_new_tokens=max_new_tokens, stop=stop,
                                  batch_size=batch_size, backend=backend, dtype=dtype,
                                  progress=progress):
        for i, h in zip(idx, out):
            hyps[i] = h
    return hyps  # type: ignore[return-value]


def _fingerprint(model_dir, prompts, max_new_tokens, stop) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(Path(model_dir).resolve()), max_new_tokens, list(stop or [])]).encode())
    for p in prompts:
        h.update(p.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def _read_partial(partial: Path, fingerprint: str, n: int) -> dict[int, str]:
    """Hypotheses already decoded by an interrupted run with the same inputs."""
    done: dict[int, str] = {}
    if not partial.is_file():
        return done
    with open(partial, encoding="utf-8") as f:
        lines = f.readlines()
    if not lines or json.loads(lines[0]).get("fingerprint") != fingerprint:
        log.warning("%s: left by a run with other prompts/model/settings; starting over", partial)
        return {}
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the last line of a killed run may be cut short
            break
        if 0 <= row["i"] < n:
            done[row["i"]] = row["hyp"]
    return done


def decode_file(model_dir, input_jsonl, output_txt, *, max_new_tokens: int = 256, stop=None,
                batch_size: int = 16, backend: str = "auto", dtype: str | None = None,
                chunk_size: int = 2048, progress: bool = True) -> int:
    """Decode a prompts JSONL (``{"id", "prompt"}`` per line) into one hypothesis per line.

    Finished batches are appended to ``<output>.partial.jsonl`` and flushed, so a killed run
    resumes where it stopped; the output itself appears atomically once every line is done.
    """
    rows = read_jsonl(input_jsonl)
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("prompt"), str):
            raise ValueError(f"{input_jsonl}:{n}: expected an object with a string 'prompt'")
    prompts = [r["prompt"] for r in rows]
    output_txt = Path(output_txt)
    partial = output_txt.with_name(output_txt.name + ".partial.jsonl")
    fp = _fingerprint(model_dir, prompts, max_new_tokens, stop)
    done = _read_partial(partial, fp, len(prompts))
    if done:
        log.info("resuming: %d of %d hypotheses already in %s", len(done), len(prompts), partial)
    todo = [i for i in range(len(prompts)) if i not in done]
    output_txt.parent.mkdir(parents=True, exist_ok=True)
    # Rewrite what survived (a killed run may have left half a line), then append new batches.
    with open(partial, "w", encoding="utf-8") as f:
        f.write(json.dumps({"fingerprint": fp}) + "\n")
        for i in sorted(done):
            f.write(json.dumps({"i": i, "hyp": done[i]}, ensure_ascii=False) + "\n")
        if todo:
            for idx, hyps in iter_generate(model_dir, [prompts[i] for i in todo],
                                           max_new_tokens=max_new_tokens, stop=stop,
                                           batch_size=batch_size, backend=backend, dtype=dtype,
                                           chunk_size=chunk_size, progress=progress):
                for j, h in zip(idx, hyps):
                    done[todo[j]] = h
                    f.write(json.dumps({"i": todo[j], "hyp": h}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
    write_lines(output_txt, (one_line(done[i]) for i in range(len(prompts))))
    partial.unlink()
    return len(prompts)
