"""Transcribe or translate audio files with a Spire model: audio → units → prompt → greedy text.

    from spire import inference
    spire = inference.load("utter-project/SpireFull", encoder="facebook/hubert-large-ll60k",
                           kmeans="utter-project/SpireKMeans", layer=22)
    spire.transcribe(["talk.wav", "other.flac"])          # one transcript per file ("" if unusable)
    spire.translate(["talk.wav"], "de")                   # direct ST
    spire.translate(["talk.wav"], "de", mode="cascade")   # ASR first, then MT of the transcript
    inference.load(..., mt_model="Unbabel/TowerInstruct-7B-v0.2")  # the cascade's MT by another model
    inference.transcribe("talk.wav", model=..., encoder=..., kmeans=...)   # one-shot function

The prompts are the instruction-tuning formats of ``configs/prompts/spire.json`` (docs/paper.md §4),
zero-shot, wrapped in the model's own chat template when its tokenizer has one and in ChatML from
the template file otherwise; a model without chat tokens (SpireBase) gets the plain CPT-style
prompt (``Speech: …\\nEnglish:``) instead. Decoding is greedy (spire.decoding: vLLM when installed
with a GPU, Hugging Face ``generate`` otherwise), stops at a newline or eos. Prompts go to the model
as token ids tokenised as training did (spire.prompts.prompt_token_ids), and each model is loaded
once per :class:`Spire` (HF) or per process (vLLM engines, spire.decoding.vllm_engine); with an
``mt_model`` beside the speech model, the two vLLM engines split the GPU memory between them.

Unusable audio (unreadable, corrupt, empty, silent) is not an exception: its output is ``""`` and
:attr:`Output.error` says why, so a batch of files keeps one output per input.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from spire.audio import SAMPLE_RATE, AudioError, AudioLike, describe, read_audio
from spire.log import get_logger

log = get_logger(__name__)

STYLES = ("auto", "instruct", "base")
MODES = ("direct", "cascade")
# Peak amplitude below which a recording counts as silent (about -80 dBFS): HuBERT turns digital
# silence into a run of one unit and the model into a hallucinated sentence, so say so instead.
SILENCE_PEAK = 1e-4
_KMEANS_SUFFIXES = (".joblib", ".pkl", ".pickle", ".bin", "")


@dataclass
class Output:
    source: str            # the input as the user named it
    text: str = ""         # transcript / translation ("" when the audio was unusable)
    error: str | None = None
    units: str | None = field(default=None, repr=False)


# ------------------------------------------------------------------------- locating models
def mirror_model_dir(repo_id: str) -> Path | None:
    """``$SPIRE_MIRROR/models/<hub id>/`` when the mirror has it (spire.mirror)."""
    from spire import mirror

    return mirror.find_model(repo_id)


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~"))


def resolve_model(name: str | os.PathLike) -> str:
    """A local path as is; a hub id → its mirror copy when there is one, else the id itself
    (transformers downloads or reads it from the HF cache)."""
    name = str(name)
    if Path(name).exists() or not _looks_like_hub_id(name):
        if not Path(name).exists():
            raise FileNotFoundError(f"{name}: no such model directory (and not a hub id owner/name)")
        return name
    local = mirror_model_dir(name)
    return str(local) if local else name


def resolve_kmeans(name: str | os.PathLike) -> Path:
    """A k-means file: a path, a directory holding one, or a hub id (mirror first, then hub)."""
    name = str(name)
    p = Path(name)
    if not p.exists() and _looks_like_hub_id(name):
        local = mirror_model_dir(name)
        if local is None:
            from huggingface_hub import snapshot_download
            try:
                local = Path(snapshot_download(repo_id=name))
            except Exception as e:  # noqa: BLE001 - offline, unknown repo, ...: one clear message
                raise FileNotFoundError(
                    f"k-means {name!r}: not a local file, not in $SPIRE_MIRROR/models/{name}, and the "
                    f"hub download failed ({type(e).__name__}: {str(e).splitlines()[0]})") from None
        p = local
    if p.is_dir():
        # a hub snapshot also holds README.md, .gitattributes and a .cache/ folder: skip them
        files = [f for f in sorted(p.rglob("*")) if f.is_file()
                 and not any(part.startswith(".") for part in f.relative_to(p).parts)
                 and f.suffix.lower() in _KMEANS_SUFFIXES and f.name not in ("README", "LICENSE")]
        if len(files) != 1:
            raise FileNotFoundError(f"k-means {name}: expected one joblib file in {p}, found "
                                    f"{[f.name for f in files] or 'none'}; pass the file itself")
        p = files[0]
    if not p.is_file():
        raise FileNotFoundError(f"k-means {name}: no such file")
    return p


# ------------------------------------------------------------------------- prompts
def unit_format_of(tokenizer) -> str:
    """``pua`` when the vocabulary has Spire's private-use unit characters, ``extra_id`` when it
    has ``<extra_id_N>`` pieces (older material, docs/paper.md §1)."""
    vocab = tokenizer.get_vocab()
    from spire.units import unit_char
    if unit_char(0) in vocab or ("▁" + unit_char(0)) in vocab:
        return "pua"
    if "<extra_id_0>" in vocab:
        return "extra_id"
    raise ValueError(f"{tokenizer.name_or_path}: the vocabulary has no speech-unit tokens "
                     f"({unit_char(0)!r} = U+F0000 or <extra_id_0>): not a Spire model")


def pick_style(tokenizer, style: str = "auto") -> str:
    """``instruct`` for chat models (a chat template or ``<|im_start|>``), ``base`` otherwise."""
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; choose one of {', '.join(STYLES)}")
    if style != "auto":
        return style
    chat = getattr(tokenizer, "chat_template", None) or "<|im_start|>" in tokenizer.get_vocab()
    return "instruct" if chat else "base"


def build_prompt(templates: dict, task: str, fields: dict, style: str, tokenizer=None) -> str:
    """One zero-shot prompt: the IT user turn in the chat template (instruct) or the plain query."""
    from spire import eval_prompts as ep

    if style == "base":
        return ep.base_query(templates, task, fields)
    messages = ep.instruct_messages(templates, task, fields)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return ep.apply_tokenizer_template(tokenizer, messages)
    return ep.chatml(templates, messages)


# ------------------------------------------------------------------------- the pipeline
def check_audio(source: AudioLike) -> tuple[np.ndarray | None, str | None]:
    """The 16 kHz waveform, or ``None`` and the reason it cannot be used (spire.audio.read_audio:
    missing, a directory, unreadable, truncated, empty, not finite; or silent)."""
    name = describe(source)
    try:
        x = read_audio(source, name=name)
    except AudioError as e:
        return None, str(e).removeprefix(f"{name}: ")  # the caller names the source
    peak = float(np.abs(x).max())
    if peak < SILENCE_PEAK:
        return None, f"silent audio (peak amplitude {peak:.1e})"
    return x, None


class Spire:
    """A loaded model + labeller. Use :func:`load`; call :meth:`transcribe` / :meth:`translate`."""

    def __init__(self, model: str, labeler, *, style: str = "auto", backend: str = "auto",
                 max_new_tokens: int = 256, batch_size: int = 8, dtype: str | None = None,
                 templates: str | os.PathLike | None = None, progress: bool = False,
                 mt_model: str | os.PathLike | None = None):
        from transformers import AutoTokenizer

        from spire.decoding import resolve_backend
        from spire.prompts import load_templates

        self.model_path = resolve_model(model)
        self.labeler = labeler
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.unit_format = unit_format_of(self.tokenizer)
        self.style = pick_style(self.tokenizer, style)
        self.templates = load_templates(templates)
        self.backend = resolve_backend(backend)
        self.max_new_tokens, self.batch_size, self.dtype = max_new_tokens, batch_size, dtype
        self.progress = progress
        # the cascade's MT step: the speech model itself (the paper's self-cascade) or another
        self.mt_model_path = resolve_model(mt_model) if mt_model else self.model_path
        self.mt_tokenizer = (self.tokenizer if self.mt_model_path == self.model_path
                             else AutoTokenizer.from_pretrained(self.mt_model_path))
        self.mt_style = pick_style(self.mt_tokenizer, "auto" if mt_model else self.style)
        self._hf = {}  # model path -> (tokenizer, model), loaded on first use and kept

    @property
    def models(self) -> list[str]:
        """The distinct models this object decodes with (their vLLM engines share the GPU)."""
        return list(dict.fromkeys([self.model_path, self.mt_model_path]))

    # -- steps ----------------------------------------------------------------------------
    def label(self, sources: Sequence[AudioLike]) -> list[Output]:
        """Units of each source; unusable audio gets an ``error`` instead."""
        from spire.units import units_to_text

        outs, waves = [], []
        for s in sources:
            x, err = check_audio(s)
            outs.append(Output(describe(s), error=err))
            waves.append(x)
        good = [i for i, x in enumerate(waves) if x is not None]
        units = self.labeler.units_batch([(waves[i], SAMPLE_RATE) for i in good]) if good else []
        for i, u in zip(good, units):
            if not u:
                outs[i].error = "the encoder gave no frames (audio shorter than one frame?)"
            else:
                outs[i].units = units_to_text(u, self.unit_format)
        return outs

    def generate(self, prompts: Sequence[str], *, model: str | None = None,
                 chat: bool | None = None) -> list[str]:
        """Greedy one-line answers of ``model`` (default: the speech model) to ``prompts``;
        ``chat``: the prompts are chat templates (default: this object's style is instruct)."""
        from spire import decoding

        if not prompts:
            return []
        model = model or self.model_path
        chat = (self.style == "instruct") if chat is None else chat
        stop = ["\n"]  # one-line answers, as in the evaluation (tasks/decode.py --stop-newline)
        if self.backend == "vllm":
            # one engine per model for the whole process (decoding.vllm_engine); with two models
            # each takes half of the budget, decided before the first engine is built
            return decoding.generate(model, list(prompts), max_new_tokens=self.max_new_tokens,
                                     stop=stop, backend="vllm", dtype=self.dtype, chat=chat,
                                     progress=self.progress, memory_share=1 / len(self.models))
        if model not in self._hf:
            self._hf[model] = decoding.load_hf(model, self.dtype)
        tok, hf_model = self._hf[model]
        hyps: list[str] = [""] * len(prompts)
        for idx, out in decoding.iter_generate_hf(
                tok, hf_model, list(prompts), max_new_tokens=self.max_new_tokens, stop=stop,
                batch_size=self.batch_size, eos=decoding.eos_ids(tok, model),
                progress=self.progress, chat=chat):
            for i, h in zip(idx, out):
                hyps[i] = decoding.one_line(h)
        return hyps

    def _prompt(self, task: str, **item) -> str:
        from spire import eval_prompts as ep
        return build_prompt(self.templates, task, ep.item_fields(task, **item), self.style,
                            self.tokenizer)

    def _mt_prompt(self, **item) -> str:
        from spire import eval_prompts as ep
        return build_prompt(self.templates, "mt", ep.item_fields("mt", **item), self.mt_style,
                            self.mt_tokenizer)

    def _fill(self, outs: list[Output], task: str, **item) -> list[Output]:
        todo = [o for o in outs if o.error is None]
        prompts = [self._prompt(task, units=o.units, **item) for o in todo]
        for o, h in zip(todo, self.generate(prompts)):
            o.text = h
        return outs

    # -- tasks ----------------------------------------------------------------------------
    def transcribe_outputs(self, sources: Sequence[AudioLike]) -> list[Output]:
        return self._fill(self.label(sources), "asr")

    def translate_outputs(self, sources: Sequence[AudioLike], tgt_lang: str,
                          mode: str = "direct") -> list[Output]:
        """Speech translation into ``tgt_lang``: ``direct`` (one prompt) or ``cascade`` (the
        model's own transcript, then the MT prompt: self-cascaded ST of docs/paper.md §5)."""
        from spire.languages import language_name

        language_name(tgt_lang)  # an unknown code fails before any audio is read
        if mode not in MODES:
            raise ValueError(f"unknown translation mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == "direct":
            return self._fill(self.label(sources), "st", tgt_lang=tgt_lang)
        outs = self.transcribe_outputs(sources)
        todo = [o for o in outs if o.error is None]
        prompts = [self._mt_prompt(src=o.text, src_lang="en", tgt_lang=tgt_lang) for o in todo]
        for o, h in zip(todo, self.generate(prompts, model=self.mt_model_path,
                                            chat=self.mt_style == "instruct")):
            o.text = h
        return outs

    def transcribe(self, sources: Sequence[AudioLike]) -> list[str]:
        return [o.text for o in self.transcribe_outputs(sources)]

    def translate(self, sources: Sequence[AudioLike], tgt_lang: str, mode: str = "direct") -> list[str]:
        return [o.text for o in self.translate_outputs(sources, tgt_lang, mode)]


def load(model: str | os.PathLike, encoder: str | os.PathLike, kmeans: str | os.PathLike,
         layer: int = 22, *, device: str | None = None, encoder_dtype: str | None = None,
         **options) -> Spire:
    """A :class:`Spire` from a model (dir or hub id), an encoder (HF hubert dir / hub id /
    fairseq .pt) and a k-means model (joblib file, dir or hub id such as utter-project/SpireKMeans).
    ``options``: style, backend, max_new_tokens, batch_size, dtype, templates, progress, mt_model
    (the cascade's MT model; default the speech model itself)."""
    from spire.dsus import Labeler

    enc = resolve_model(encoder) if not str(encoder).endswith(".pt") else str(encoder)
    labeler = Labeler(enc, resolve_kmeans(kmeans), layer=layer, device=device, dtype=encoder_dtype)
    return Spire(model, labeler, **options)


def _single(audio) -> bool:
    return isinstance(audio, (str, os.PathLike, dict, tuple))


def transcribe(audio, *, model, encoder, kmeans, layer: int = 22, **options):
    """Transcript of one file (a string) or of a list of files (a list, ``""`` for unusable audio)."""
    sources = [audio] if _single(audio) else list(audio)
    out = load(model, encoder, kmeans, layer, **options).transcribe(sources)
    return out[0] if _single(audio) else out


def translate(audio, tgt_lang: str, *, model, encoder, kmeans, layer: int = 22,
              mode: str = "direct", **options):
    """Translation of one file or of a list of files into ``tgt_lang`` (see Spire.translate_outputs)."""
    sources = [audio] if _single(audio) else list(audio)
    out = load(model, encoder, kmeans, layer, **options).translate(sources, tgt_lang, mode)
    return out[0] if _single(audio) else out
