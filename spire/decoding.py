"""Greedy decoding for evaluation and pseudo-labelling (docs/paper.md §5).

Two back-ends produce the same greedy hypotheses:

* **vLLM** (the authors' setup) when it is installed and a GPU is present — imported lazily;
* batched Hugging Face ``generate`` otherwise: left padding, prompts sorted by length so each
  batch pads little, a tqdm bar.

Both stop at end-of-sequence ids taken from the tokenizer (and the model's generation config),
and at the caller's stop strings (a newline for few-shot base models). Hypotheses come back in
input order, cut before the first stop string and stripped.

Both receive token ids, never text: :func:`spire.prompts.prompt_token_ids` tokenises each prompt
as training tokenised the same text (a chat prompt without the BOS that IT rows never had, a
plain prompt with the BOS of a CPT document), where ``tokenizer(text)`` or vLLM would add a BOS of
their own. vLLM engines are built once per process and model (:func:`vllm_engine`).

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


def chat_flags(chat: bool | Sequence[bool], n: int) -> list[bool]:
    """One ``chat`` flag per prompt (a single bool applies to all)."""
    if isinstance(chat, bool):
        return [chat] * n
    flags = [bool(c) for c in chat]
    if len(flags) != n:
        raise ValueError(f"{len(flags)} chat flags for {n} prompts")
    return flags


def encode_prompts(tok, prompts: Sequence[str], chat: bool | Sequence[bool]) -> list[list[int]]:
    """Token ids of every prompt, as training tokenised the same text (spire.prompts)."""
    from spire.prompts import prompt_token_ids

    return [prompt_token_ids(tok, p, c) for p, c in zip(prompts, chat_flags(chat, len(prompts)))]


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
                     stats: dict | None = None, chat: bool | Sequence[bool] = False,
                     ) -> Iterator[tuple[list[int], list[str]]]:
    """Yield ``(indices, hypotheses)`` per batch; batches hold prompts of similar length.

    ``chat``: whether each prompt is a rendered chat template (see :func:`encode_prompts`).
    ``stats["generated_tokens"]`` (when a dict is given) counts the tokens generated before eos.
    """
    import torch
    from tqdm.auto import tqdm

    prompt_ids = encode_prompts(tok, prompts, chat)
    lengths = [len(ids) for ids in prompt_ids]
    # padding ready ids is what tok.pad is for; its advice to tokenise and pad in one call
    # (re-tokenising the text) is what this function must not do
    getattr(tok, "deprecation_warnings", {})["Asking-to-pad-a-fast-tokenizer"] = True
    # Longest first: an out-of-memory batch shows up at once, not after hours.
    order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
    eos = list(eos) or eos_ids(tok)
    bar = tqdm(total=len(prompts), desc="decode (hf)", unit="seg", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        # left padding (load_hf) of the ids themselves: nothing re-tokenises the text here
        enc = tok.pad({"input_ids": [prompt_ids[i] for i in idx]}, padding=True,
                      return_tensors="pt").to(model.device)
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
# Building a vLLM engine loads the weights, profiles memory and captures CUDA graphs (a minute or
# more for a 7-9B model) and reserves its share of GPU memory until the process ends, so a second
# ``LLM`` of the same model in one process costs that again and then fails for want of memory:
# engines are built once per (model, dtype, options) and reused by every later call.
_ENGINES: dict[tuple, tuple] = {}
# The share of GPU memory all of one process's engines may reserve together (vLLM's default for
# one engine alone is 0.9); what is left is for what runs beside them (spire.inference keeps
# HuBERT on the same GPU) and for torch's own allocations.
VLLM_MEMORY_BUDGET = 0.85


def vllm_engine(model_dir, dtype: str | None = None, *, memory_share: float = 1.0, **options):
    """``(LLM, tokenizer)`` of ``model_dir``, built on the first call of this process.

    ``memory_share``: this engine's part of :data:`VLLM_MEMORY_BUDGET`. A process that decodes
    with several models (spire.inference's cascade with an MT model of its own) gives each
    ``1/number of models``: vLLM's ``gpu_memory_utilization`` is a per-engine fraction of the
    whole GPU, and an engine allocates its KV cache up to it at construction, so the first
    engine at the default would leave the second nothing. Only the first call's share counts.
    """
    from transformers import AutoTokenizer

    dtype = dtype if dtype not in (None, "auto") else "bfloat16"
    key = (str(Path(model_dir).resolve()) if Path(model_dir).exists() else str(model_dir), dtype,
           tuple(sorted(options.items())))
    if key not in _ENGINES:
        if not 0 < memory_share <= 1:
            raise ValueError(f"memory_share must be in (0, 1], got {memory_share}")
        from vllm import LLM

        share = round(VLLM_MEMORY_BUDGET * memory_share, 4)
        log.info("building a vLLM engine for %s (%s, gpu_memory_utilization=%s)", model_dir, dtype,
                 share)
        llm = LLM(model=str(model_dir), dtype=dtype, seed=0, gpu_memory_utilization=share,
                  **options)
        _ENGINES[key] = (llm, AutoTokenizer.from_pretrained(model_dir))
    return _ENGINES[key]


def iter_generate_vllm(model_dir, prompts: Sequence[str], *, max_new_tokens: int, stop=None,
                       dtype: str | None = None, chunk_size: int = 2048, progress: bool = True,
                       chat: bool | Sequence[bool] = False, memory_share: float = 1.0,
                       ) -> Iterator[tuple[list[int], list[str]]]:
    """Yield ``(indices, hypotheses)`` per chunk of prompts (vLLM schedules batches itself)."""
    from vllm import SamplingParams

    llm, tok = vllm_engine(model_dir, dtype, memory_share=memory_share)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop=list(stop or []),
                            stop_token_ids=eos_ids(tok, model_dir), skip_special_tokens=True)
    prompt_ids = encode_prompts(tok, prompts, chat)
    for start in range(0, len(prompts), chunk_size):
        idx = list(range(start, min(start + chunk_size, len(prompts))))
        # a TokensPrompt (a TypedDict: this dict): vLLM decodes these ids as they are
        outs = llm.generate([{"prompt_token_ids": prompt_ids[i]} for i in idx], params,
                            use_tqdm=progress)
        yield idx, [cut_at_stop(o.outputs[0].text, stop) for o in outs]


# --------------------------------------------------------------------------- entry points
def iter_generate(model_dir, prompts: Sequence[str], *, max_new_tokens: int = 256, stop=None,
                  batch_size: int = 16, backend: str = "auto", dtype: str | None = None,
                  chunk_size: int = 2048, progress: bool = True,
                  chat: bool | Sequence[bool] = False, memory_share: float = 1.0):
    backend = resolve_backend(backend)
    log.info("decoding %d prompts with %s from %s", len(prompts), backend, model_dir)
    if not prompts:
        return iter(())
    if backend == "vllm":
        return iter_generate_vllm(model_dir, prompts, max_new_tokens=max_new_tokens, stop=stop,
                                  dtype=dtype, chunk_size=chunk_size, progress=progress, chat=chat,
                                  memory_share=memory_share)
    tok, model = load_hf(model_dir, dtype)
    return iter_generate_hf(tok, model, prompts, max_new_tokens=max_new_tokens, stop=stop,
                            batch_size=batch_size, eos=eos_ids(tok, model_dir), progress=progress,
                            chat=chat)


def generate(model_dir, prompts: Sequence[str], *, max_new_tokens: int = 256, stop=None,
             batch_size: int = 16, backend: str = "auto", dtype: str | None = None,
             progress: bool = True, chat: bool | Sequence[bool] = False,
             memory_share: float = 1.0) -> list[str]:
    """Greedy hypotheses for ``prompts``, in order (one string each, stop strings removed).
    ``chat``: the prompts are rendered chat templates (one flag, or one per prompt)."""
    hyps: list[str | None] = [None] * len(prompts)
    for idx, out in iter_generate(model_dir, prompts, max_new_tokens=max_new_tokens, stop=stop,
                                  batch_size=batch_size, backend=backend, dtype=dtype,
                                  progress=progress, chat=chat, memory_share=memory_share):
        for i, h in zip(idx, out):
            hyps[i] = h
    return hyps  # type: ignore[return-value]


def _fingerprint(model_dir, prompts, max_new_tokens, stop, chat=False) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(Path(model_dir).resolve()), max_new_tokens, list(stop or [])]).encode())
    for p, c in zip(prompts, chat_flags(chat, len(prompts))):
        h.update(("\1" if c else "").encode() + p.encode("utf-8") + b"\0")
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
    """Decode a prompts JSONL (``{"id", "prompt", "chat"}`` per line) into one hypothesis per line.

    ``chat`` (written by tasks/build_prompts.py) says the prompt is a rendered chat template; a
    row without it is plain text (a base-model prompt), as every prompt was before the flag.

    Finished batches are appended to ``<output>.partial.jsonl`` and flushed, so a killed run
    resumes where it stopped; the output itself appears atomically once every line is done.
    """
    rows = read_jsonl(input_jsonl)
    if not rows:  # an empty test set would "score" an empty hypothesis file
        raise ValueError(f"{input_jsonl}: no prompts; the test set it was built from is empty "
                         "(check the BuildPrompts inputs)")
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("prompt"), str):
            raise ValueError(f"{input_jsonl}:{n}: expected an object with a string 'prompt'")
        if not isinstance(row.get("chat", False), bool):
            raise ValueError(f"{input_jsonl}:{n}: 'chat' must be true or false, got {row['chat']!r}")
    prompts = [r["prompt"] for r in rows]
    chat = [r.get("chat", False) for r in rows]
    output_txt = Path(output_txt)
    partial = output_txt.with_name(output_txt.name + ".partial.jsonl")
    fp = _fingerprint(model_dir, prompts, max_new_tokens, stop, chat)
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
                                           chunk_size=chunk_size, progress=progress,
                                           chat=[chat[i] for i in todo]):
                for j, h in zip(idx, hyps):
                    done[todo[j]] = h
                    f.write(json.dumps({"i": todo[j], "hyp": h}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
    write_lines(output_txt, (one_line(done[i]) for i in range(len(prompts))))
    partial.unlink()
    return len(prompts)
