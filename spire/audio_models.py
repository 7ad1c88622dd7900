"""The paper's audio baselines (docs/paper.md §5), decoding the test audio directly with transformers.

* Whisper large-v3 (``model_type: whisper``): ASR only. Its own ``translate`` task goes into
  English, never out of it, so it cannot do the paper's en→xx ST and is not planned for it.
* SeamlessM4T-v2 (``seamless_m4t_v2``): ASR (target English) and ST into the nine languages,
  through ``SeamlessM4Tv2ForSpeechToText`` (the text decoder only, no speech synthesis); and MT of
  text (FLORES, WMT23) through ``SeamlessM4Tv2ForTextToText`` (:func:`translate_text`), with the
  model's three-letter language codes on both sides.
* HuBERT-Large + CTC (``hubert``, facebook/hubert-large-ls960-ft, an ``HubertForCTC``): ASR only,
  greedy CTC (the argmax label per frame, repeats merged, blanks dropped by its processor); its
  upper-case, unpunctuated output is compared after the Whisper normaliser as every other ASR row.
* Spirit LM (``spiritlm:<name>``, default ``spirit-lm-base-7b``) runs through its own package
  (``spiritlm``, facebookresearch/spiritlm; not on PyPI, a clear error where it is not installed):
  ASR only, prompted as its paper does, few-shot in its interleaved format (speech of a shot, its
  transcript as text, ..., then the test speech; text out), greedy.

Greedy decoding, ``max_new_tokens`` new tokens, batches of similar lengths; unusable audio gives
an empty line (spire.audio.load_audio) so outputs stay aligned with the dataset.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from spire.audio import SAMPLE_RATE, AudioLike, load_audio
from spire.log import get_logger

log = get_logger(__name__)

# Paper language codes → SeamlessM4T's (ISO 639-3; Mandarin is "cmn").
SEAMLESS_LANGS = {"en": "eng", "de": "deu", "es": "spa", "fr": "fra", "it": "ita", "ko": "kor",
                  "nl": "nld", "pt": "por", "ru": "rus", "zh": "cmn"}
TASKS = ("asr", "st")
# CTC heads of wav2vec 2.0-style encoders: an encoder checkpoint without one cannot transcribe
CTC_TYPES = ("hubert", "wav2vec2")
WHISPER_SECONDS = 30.0
SPIRITLM_DEFAULT = "spirit-lm-base-7b"


def spiritlm_name(model: str | os.PathLike) -> str | None:
    """The Spirit LM model name of ``spiritlm[:<name>]`` or of a YAML file with a ``spiritlm:``
    key (configs/models/spiritlm.yaml, what the workflow passes); None for any other model."""
    s = str(model)
    if s == "spiritlm" or s.startswith("spiritlm:"):
        return s.partition(":")[2] or SPIRITLM_DEFAULT
    if s.endswith((".yaml", ".yml")) and os.path.isfile(s):
        import yaml
        with open(s, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        if isinstance(cfg, dict) and "spiritlm" in cfg:
            return str(cfg["spiritlm"] or SPIRITLM_DEFAULT)
    return None


def model_type(model_dir: str | os.PathLike) -> str:
    if spiritlm_name(model_dir) is not None:
        return "spiritlm"
    from transformers import AutoConfig
    return AutoConfig.from_pretrained(model_dir).model_type


def can_do(kind: str, task: str, tgt_lang: str = "en") -> bool:
    """Whether a baseline of this model type can do ``task`` into ``tgt_lang``."""
    if kind == "whisper":
        return task == "asr"
    if kind == "seamless_m4t_v2":
        return task == "asr" or tgt_lang in SEAMLESS_LANGS
    if kind == "spiritlm":
        return task == "asr"
    if kind in CTC_TYPES:
        return task == "asr"
    return False


def _device_dtype(device, dtype):
    import torch
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype in (None, "auto"):
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dtype = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
                 "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}[dtype]
    return device, dtype


def _batches(waves: list[np.ndarray | None], batch_size: int) -> list[list[int]]:
    """Indices of usable waveforms, longest first, in batches (little padding, early OOM)."""
    good = sorted((i for i, w in enumerate(waves) if w is not None), key=lambda i: -len(waves[i]))
    return [good[k:k + batch_size] for k in range(0, len(good), batch_size)]


def decode_audio(model_dir: str | os.PathLike, sources: Sequence[AudioLike], task: str = "asr",
                 tgt_lang: str = "en", *, batch_size: int = 8, max_new_tokens: int = 256,
                 device=None, dtype=None, progress: bool = True,
                 shots: Sequence[tuple[AudioLike, str]] = ()) -> list[str]:
    """One hypothesis per source (``""`` for unusable audio), in input order. ``shots``
    (audio, transcript) prompt the few-shot models (Spirit LM); the others are zero-shot."""
    import torch
    from tqdm.auto import tqdm

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    kind = model_type(model_dir)
    if not can_do(kind, task, tgt_lang):
        raise ValueError(f"{model_dir}: a {kind!r} model cannot do {task} into {tgt_lang!r}"
                         + (" (Whisper translates only into English)" if kind == "whisper" else ""))
    if kind == "spiritlm":
        return _spiritlm(str(model_dir), sources, shots, max_new_tokens, progress)
    device, dtype = _device_dtype(device, dtype)
    waves = [load_audio(s) for s in sources]
    if kind in CTC_TYPES:
        return _ctc(model_dir, waves, batch_size, device, dtype, progress)
    hyps = [""] * len(waves)
    if kind == "whisper":
        from transformers import WhisperForConditionalGeneration, WhisperProcessor
        proc = WhisperProcessor.from_pretrained(model_dir)
        model = WhisperForConditionalGeneration.from_pretrained(model_dir, dtype=dtype)
        tok = proc.tokenizer
    else:
        from transformers import AutoProcessor, SeamlessM4Tv2ForSpeechToText
        proc = AutoProcessor.from_pretrained(model_dir)
        model = SeamlessM4Tv2ForSpeechToText.from_pretrained(model_dir, dtype=dtype)
        tok = proc.tokenizer
    model.to(device).eval()
    batches = _batches(waves, batch_size)
    bar = tqdm(total=sum(map(len, batches)), desc=f"decode ({kind})", unit="utt", disable=not progress)
    for idx in batches:
        batch = [waves[i] for i in idx]
        with torch.inference_mode():
            if kind == "whisper":
                out = _whisper_generate(proc, model, batch, device, dtype, max_new_tokens)
            else:
                feats = proc.feature_extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt",
                                               padding=True)
                out = model.generate(input_features=feats["input_features"].to(device, dtype),
                                     attention_mask=feats["attention_mask"].to(device),
                                     tgt_lang=SEAMLESS_LANGS["en" if task == "asr" else tgt_lang],
                                     max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        out = out[0] if isinstance(out, tuple) else getattr(out, "sequences", out)
        for i, text in zip(idx, tok.batch_decode(out, skip_special_tokens=True)):
            hyps[i] = " ".join(text.split())
        bar.update(len(idx))
    bar.close()
    return hyps


def _ctc(model_dir, waves, batch_size: int, device, dtype, progress: bool) -> list[str]:
    """Greedy CTC: the best label of each frame, decoded by the checkpoint's own processor
    (repeats merged, blanks dropped, "|" a space). Frames past a recording's end are masked."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoConfig, AutoModelForCTC, AutoProcessor

    arch = AutoConfig.from_pretrained(model_dir).architectures or []
    if not any(a.endswith("ForCTC") for a in arch):
        raise ValueError(f"{model_dir}: architectures {arch} have no CTC head; ASR with a CTC model "
                         "needs a fine-tuned checkpoint such as facebook/hubert-large-ls960-ft")
    proc = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForCTC.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    hyps = [""] * len(waves)
    batches = _batches(waves, batch_size)
    bar = tqdm(total=sum(map(len, batches)), desc="decode (ctc)", unit="utt", disable=not progress)
    for idx in batches:
        feats = proc([waves[i] for i in idx], sampling_rate=SAMPLE_RATE, return_tensors="pt",
                     padding=True, return_attention_mask=True)
        with torch.inference_mode():
            logits = model(feats["input_values"].to(device, dtype),
                           attention_mask=feats["attention_mask"].to(device)).logits
        # argmax in fp32: the decision is the label, whatever the compute dtype
        labels = logits.float().argmax(-1).cpu()
        lengths = model._get_feat_extract_output_lengths(feats["attention_mask"].sum(-1))
        for i, row, n in zip(idx, labels, lengths.tolist()):
            hyps[i] = " ".join(proc.decode(row[:n]).split())
        bar.update(len(idx))
    bar.close()
    return hyps


def translate_text(model_dir: str | os.PathLike, sources: Sequence[str], src_lang: str, tgt_lang: str,
                   *, batch_size: int = 8, max_new_tokens: int = 256, device=None, dtype=None,
                   progress: bool = True) -> list[str]:
    """SeamlessM4T-v2 text-to-text MT (the MT rows of Tables 5-6): one translation per source
    line, in input order, ``""`` for an empty source; greedy, the model's language codes."""
    import torch
    from tqdm.auto import tqdm

    kind = model_type(model_dir)
    if kind != "seamless_m4t_v2":
        raise ValueError(f"{model_dir}: a {kind!r} model does not translate text here; only "
                         "SeamlessM4T-v2 (the LMs translate through tasks/decode.py)")
    for role, lang in (("source", src_lang), ("target", tgt_lang)):
        if lang not in SEAMLESS_LANGS:
            raise ValueError(f"{role} language {lang!r} is not one of SeamlessM4T's here: "
                             f"{', '.join(SEAMLESS_LANGS)}")
    from transformers import AutoProcessor, SeamlessM4Tv2ForTextToText

    device, dtype = _device_dtype(device, dtype)
    tok = AutoProcessor.from_pretrained(model_dir).tokenizer
    tok.src_lang = SEAMLESS_LANGS[src_lang]  # the "__eng__"-style prefix of every source
    model = SeamlessM4Tv2ForTextToText.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    hyps = [""] * len(sources)
    good = sorted((i for i, s in enumerate(sources) if s.strip()), key=lambda i: -len(sources[i]))
    bar = tqdm(total=len(good), desc="translate (seamless)", unit="seg", disable=not progress)
    for k in range(0, len(good), batch_size):
        idx = good[k:k + batch_size]
        enc = tok([sources[i] for i in idx], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, tgt_lang=SEAMLESS_LANGS[tgt_lang], max_new_tokens=max_new_tokens,
                                 do_sample=False, num_beams=1)
        out = getattr(out, "sequences", out)
        for i, text in zip(idx, tok.batch_decode(out, skip_special_tokens=True)):
            hyps[i] = " ".join(text.split())
        bar.update(len(idx))
    bar.close()
    return hyps


def _whisper_generate(proc, model, batch, device, dtype, max_new_tokens):
    """Short-form (≤ 30 s, padded to 30 s) or, when the batch has a longer recording, Whisper's
    sequential long-form decoding (the whole recording, not its first 30 s)."""
    long_form = max(len(w) for w in batch) > WHISPER_SECONDS * SAMPLE_RATE
    kw = dict(truncation=False, padding="longest", return_attention_mask=True) if long_form else {}
    feats = proc.feature_extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt", **kw)
    extra = {"attention_mask": feats["attention_mask"].to(device)} if long_form else {}
    return model.generate(feats["input_features"].to(device, dtype), language="en", task="transcribe",
                          max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, **extra)


def _spiritlm(model: str, sources, shots, max_new_tokens: int, progress: bool) -> list[str]:
    """Spirit LM ASR through its package: ``Spiritlm(name).generate`` with the interleaved
    few-shot prompt, one utterance at a time (the package's generate takes one prompt)."""
    import torch
    from tqdm.auto import tqdm

    try:
        from spiritlm.model.spiritlm_model import ContentType, GenerationInput, OutputModality, Spiritlm
    except ImportError:
        raise RuntimeError(
            "Spirit LM needs its own package: install it from https://github.com/facebookresearch/spiritlm "
            "(`pip install -e spiritlm`, then download its checkpoints as its README says); it is not "
            "on PyPI and not part of this repository's requirements") from None
    from transformers import GenerationConfig

    lm = Spiritlm(spiritlm_name(model))
    tensor = lambda w: torch.from_numpy(np.asarray(w, dtype=np.float32))  # noqa: E731 - 16 kHz mono
    prompt = []
    for audio, text in shots:
        wave = load_audio(audio)
        if wave is None or not text.strip():
            continue  # an unusable shot is left out, not a broken prompt
        prompt += [GenerationInput(content=tensor(wave), content_type=ContentType.SPEECH),
                   GenerationInput(content=" ".join(text.split()) + "\n", content_type=ContentType.TEXT)]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    hyps = []
    for source in tqdm(sources, desc="decode (spiritlm)", unit="utt", disable=not progress):
        wave = load_audio(source)
        if wave is None:
            hyps.append("")
            continue
        out = lm.generate(output_modality=OutputModality.TEXT, generation_config=config,
                          interleaved_inputs=prompt + [GenerationInput(
                              content=tensor(wave), content_type=ContentType.SPEECH)])
        text = "".join(o.content for o in out if o.content_type == ContentType.TEXT)
        hyps.append(" ".join(text.split("\n")[0].split()))  # the transcript ends at the line's end
    return hyps
