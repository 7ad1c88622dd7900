"""Speech encoders that turn 16 kHz waveforms into frame features for k-means.

An encoder "checkpoint" is addressed by one string, whatever it is:

* a Hugging Face ``hubert``/``wav2vec2`` model directory or hub id (loaded with ``AutoModel``),
  truncated after layer ``L`` with no final layer norm (docs/paper.md §1: layer 22 of HuBERT Large);
* an original fairseq HuBERT checkpoint (``hubert_large_ll60k.pt``), converted to the HF module by
  a state-dict mapping, so fairseq is never imported at run time;
* an HF w2v-BERT 2.0 model (``facebook/w2v-bert-2.0``, model type ``wav2vec2-bert``), fed with
  ``SeamlessM4TFeatureExtractor`` filter banks, truncated after layer ``L``;
* an HF Whisper model (``WhisperModel``/``WhisperForConditionalGeneration``): its encoder only, fed
  with ``WhisperFeatureExtractor`` log-mels (30 s windows), truncated after layer ``L``;
* an MFCC featurizer: a directory holding ``encoder.json`` such as
  ``{"type": "mfcc", "n_mfcc": 13, "deltas": 2}`` (HuBERT's own first-iteration targets were
  MFCC k-means; the miniature uses it because a random HuBERT's units carry no structure);
* a phonetic frame classifier: a directory holding ``encoder.json`` with ``"type": "phonetic"``
  (its MFCC front end, context and layer sizes, phoneme inventory) and ``phonetic.safetensors``;
  layer ``L`` of ``num_layers`` is the output of its ``L``-th hidden layer, the last one its
  phoneme posteriors. The miniature trains it (spire/mini/phonetic.py) as a stand-in for a
  pre-trained HuBERT, whose deep-layer features are phonetic and largely speaker-independent.

As in the authors' current Labeler, the final layer norm of the truncated stack is dropped
unless ``keep_final_layer_norm`` (HuBERT/wav2vec 2.0 pre-LN models: the encoder's ``layer_norm``;
w2v-BERT: the last kept conformer layer's ``final_layer_norm``; Whisper: the encoder's
``layer_norm`` after the layers -- the authors' code removes the last layer's pre-FFN norm
instead, which is not a final norm), and frames can be pooled (``pooling_width`` > 1: mean or max
over non-overlapping windows, for lower unit rates).

Every encoder exposes ``dim``, ``num_layers``, ``frame_rate``, ``options`` and
``features(waves) -> list[Tensor (T_i, dim)]`` on its device and dtype.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from spire.audio import SAMPLE_RATE
from spire.log import get_logger

log = get_logger(__name__)
MFCC_CONFIG = "encoder.json"
DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
          "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """bf16 on GPU, fp32 on CPU unless asked (docs/design.md runtime rules)."""
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    return DTYPES[dtype]


# --------------------------------------------------------------------------------------- MFCC
MFCC_DEFAULTS = dict(n_mfcc=13, deltas=2, n_mels=40, n_fft=512, win_length=400, hop_length=320,
                     f_min=20.0, f_max=8000.0, preemphasis=0.97, cmvn=True)


class MFCCEncoder:
    """13 MFCCs (+ deltas and delta-deltas, like HuBERT's first iteration) at 50 frames/s.

    Computed in torch (``torch.stft`` + ``transformers.audio_utils.mel_filter_bank`` + an
    orthonormal DCT-II from scipy) rather than with a library MFCC: torchaudio's PyPI build does
    not import here and librosa is not a dependency; torch also runs it on the labeller's device.
    Features are normalised per utterance (CMVN) so that k-means is not dominated by loudness.
    """

    kind = "mfcc"
    num_layers = 0
    options: dict = {}

    def __init__(self, config: dict, device: torch.device, dtype: torch.dtype):
        from scipy.fft import dct
        from transformers.audio_utils import mel_filter_bank

        unknown = set(config) - set(MFCC_DEFAULTS) - {"type"}
        if unknown:
            raise ValueError(f"unknown MFCC option(s) {sorted(unknown)}; known: {sorted(MFCC_DEFAULTS)}")
        cfg = {**MFCC_DEFAULTS, **{k: v for k, v in config.items() if k != "type"}}
        cfg["deltas"] = 2 if cfg["deltas"] is True else int(cfg["deltas"])
        self.config = cfg
        self.device, self.dtype = device, dtype
        self.dim = cfg["n_mfcc"] * (1 + cfg["deltas"])
        self.frame_rate = SAMPLE_RATE / cfg["hop_length"]
        mel = mel_filter_bank(num_frequency_bins=cfg["n_fft"] // 2 + 1, num_mel_filters=cfg["n_mels"],
                              min_frequency=cfg["f_min"], max_frequency=cfg["f_max"],
                              sampling_rate=SAMPLE_RATE, mel_scale="htk")  # (freq, mels)
        self.mel = torch.tensor(mel, dtype=torch.float32, device=device)
        basis = dct(np.eye(cfg["n_mels"]), type=2, norm="ortho", axis=0)[: cfg["n_mfcc"]]
        self.dct = torch.tensor(basis.T, dtype=torch.float32, device=device)  # (mels, n_mfcc)
        self.window = torch.hamming_window(cfg["win_length"], device=device)

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = torch.cat([x[:1], x[1:] - cfg["preemphasis"] * x[:-1]])
        if len(x) <= cfg["n_fft"] // 2:  # reflect padding needs a few samples
            x = torch.nn.functional.pad(x, (0, cfg["n_fft"] // 2 + 1 - len(x)))
        spec = torch.stft(x, cfg["n_fft"], hop_length=cfg["hop_length"], win_length=cfg["win_length"],
                          window=self.window, center=True, return_complex=True).abs().pow(2)
        feats = torch.log(spec.T @ self.mel + 1e-6) @ self.dct  # (T, n_mfcc)
        out = [feats]
        for _ in range(cfg["deltas"]):
            out.append(_deltas(out[-1]))
        feats = torch.cat(out, dim=1)
        if cfg["cmvn"]:
            feats = (feats - feats.mean(0)) / (feats.std(0, unbiased=False) + 1e-5)
        return feats

    @torch.inference_mode()
    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [self._one(torch.as_tensor(w, dtype=torch.float32, device=self.device)).to(self.dtype)
                for w in waves]


def _deltas(x: torch.Tensor, n: int = 2) -> torch.Tensor:
    """Regression deltas over ±n frames (the HTK/Kaldi formula, as torchaudio's compute_deltas)."""
    t = x.T.unsqueeze(0)  # (1, D, T)
    t = torch.nn.functional.pad(t, (n, n), mode="replicate")
    k = torch.arange(-n, n + 1, dtype=x.dtype, device=x.device) / (n * (n + 1) * (2 * n + 1) / 3)
    k = k.expand(x.shape[1], 1, -1).contiguous()
    return torch.nn.functional.conv1d(t, k, groups=x.shape[1])[0].T


def write_mfcc_encoder(out_dir: str | os.PathLike, **options) -> Path:
    """Create an MFCC encoder "checkpoint" directory (``encoder.json``)."""
    from spire.io import write_json

    MFCCEncoder({"type": "mfcc", **options}, torch.device("cpu"), torch.float32)  # validate
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MFCC_CONFIG, {"type": "mfcc", **options})
    return out


# ------------------------------------------------------------------------- phonetic classifier
PHONETIC_WEIGHTS = "phonetic.safetensors"


def phonetic_network(in_dim: int, hidden_sizes: Sequence[int], n_phones: int) -> torch.nn.Sequential:
    """The phonetic encoder's MLP: (Linear, ReLU) per hidden size, then a Linear to phoneme logits."""
    layers: list[torch.nn.Module] = []
    for size in hidden_sizes:
        layers += [torch.nn.Linear(in_dim, size), torch.nn.ReLU()]
        in_dim = size
    return torch.nn.Sequential(*layers, torch.nn.Linear(in_dim, n_phones))


def stack_context(feats: torch.Tensor, context: int) -> torch.Tensor:
    """Each frame with its ``context`` neighbours on either side (edges repeated): (T, D*(2c+1))."""
    t = feats.shape[0]
    idx = (torch.arange(t, device=feats.device)[:, None]
           + torch.arange(-context, context + 1, device=feats.device)[None]).clamp_(0, max(t - 1, 0))
    return feats[idx].reshape(t, -1)


class PhoneticEncoder:
    """MFCCs with ±``context`` frames into a small MLP trained to name each frame's phoneme.

    Layer ``1..len(hidden_sizes)`` gives that hidden layer's activations, layer ``num_layers``
    the phoneme posteriors (softmax), whose k-means clusters are close to phonemes."""

    kind = "phonetic"
    options: dict = {}

    def __init__(self, config: dict, directory: Path, layer: int, device: torch.device, dtype: torch.dtype):
        from safetensors.torch import load_file

        missing = {"mfcc", "context", "hidden_sizes", "phones"} - set(config)
        if missing:
            raise ValueError(f"{directory / MFCC_CONFIG}: phonetic encoder config lacks {sorted(missing)}")
        weights = directory / PHONETIC_WEIGHTS
        if not weights.is_file():
            raise FileNotFoundError(f"phonetic encoder {directory}: {PHONETIC_WEIGHTS} is missing "
                                    "(rebuild it with tasks/make_mini_encoder.py --type phonetic)")
        self.mfcc = MFCCEncoder({"type": "mfcc", **config["mfcc"]}, device, torch.float32)
        self.context = int(config["context"])
        sizes = [int(h) for h in config["hidden_sizes"]]
        self.phones = list(config["phones"])
        self.num_layers = len(sizes) + 1
        _check_layer(layer, self.num_layers, str(directory))
        self.layer = layer
        self.net = phonetic_network(self.mfcc.dim * (2 * self.context + 1), sizes, len(self.phones))
        self.net.load_state_dict(load_file(str(weights)))
        self.net.to(device).eval()
        self.dim = sizes[layer - 1] if layer <= len(sizes) else len(self.phones)
        self.frame_rate = self.mfcc.frame_rate
        self.device, self.dtype = device, dtype

    @torch.inference_mode()
    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        out = []
        for f in self.mfcc.features(waves):
            h = self.net[: 2 * self.layer](stack_context(f, self.context))
            if self.layer == self.num_layers:
                h = torch.softmax(h, dim=-1)
            out.append(h.to(self.dtype))
        return out


# ----------------------------------------------------------------------------- HF HuBERT/wav2vec2
class HFEncoder:
    """An HF HuBERT/wav2vec2 model truncated after ``layer`` transformer layers.

    The final encoder layer norm of pre-LN ("stable layer norm") models is dropped: fairseq's
    ``extract_features(output_layer=L)`` returns the layer's output without it (docs/paper.md §1).
    """

    kind = "hf"

    def __init__(self, model, do_normalize: bool, layer: int, device: torch.device,
                 dtype: torch.dtype, name: str, keep_final_layer_norm: bool = False):
        cfg = model.config
        if not hasattr(model, "encoder") or not hasattr(model.encoder, "layers"):
            raise ValueError(f"{name}: {type(model).__name__} is not a HuBERT/wav2vec2-style encoder")
        self.num_layers = cfg.num_hidden_layers
        if not 1 <= layer <= self.num_layers:
            raise ValueError(f"--layer {layer} is beyond the depth of encoder {name} "
                             f"({self.num_layers} layers): choose 1..{self.num_layers}")
        model.encoder.layers = model.encoder.layers[:layer]
        # post-LN models (HuBERT Base) normalise before the layers: nothing final to drop or keep
        if getattr(cfg, "do_stable_layer_norm", False) and not keep_final_layer_norm:
            model.encoder.layer_norm = torch.nn.Identity()
        self.options = {"final_layer_norm": bool(keep_final_layer_norm)}
        self.model = model.eval().to(device=device, dtype=dtype)
        self.layer, self.do_normalize = layer, do_normalize
        self.device, self.dtype, self.dim = device, dtype, cfg.hidden_size
        # With layer-norm conv blocks a padded batch gives each utterance exactly its unpadded
        # features; group norm (HuBERT Base) mixes padding into the statistics, so go one by one.
        self.batchable = cfg.feat_extract_norm == "layer"
        if not self.batchable:
            log.info("%s uses group-norm conv features: encoding one utterance at a time", name)
        self.frame_rate = SAMPLE_RATE / float(np.prod(cfg.conv_stride))

    def output_lengths(self, n_samples: Sequence[int]) -> list[int]:
        lengths = self.model._get_feat_extract_output_lengths(torch.tensor(list(n_samples)))
        return [int(x) for x in lengths]

    @torch.inference_mode()
    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        from spire.audio import normalize

        if self.do_normalize:
            waves = [normalize(w) for w in waves]
        lens = [len(w) for w in waves]
        x = torch.zeros(len(waves), max(lens), dtype=torch.float32)
        mask = torch.zeros(len(waves), max(lens), dtype=torch.long)
        for i, w in enumerate(waves):
            x[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
            mask[i, : len(w)] = 1
        x = x.to(self.device, self.dtype)
        mask = mask.to(self.device) if len(waves) > 1 else None
        hidden = self.model(x, attention_mask=mask).last_hidden_state
        return [h[:n] for h, n in zip(hidden, self.output_lengths(lens))]

    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        too_short = [i for i, w in enumerate(waves) if len(w) < 400]
        if too_short:  # the conv front end needs one receptive field (25 ms) of audio
            waves = [np.pad(w, (0, 400 - len(w))) if len(w) < 400 else w for w in waves]
        if self.batchable:
            return self._forward(waves)
        return [self._forward([w])[0] for w in waves]


def hf_feature_normalize(checkpoint: str, config) -> bool:
    """Whether the checkpoint's feature extractor normalises its input (HuBERT Large: yes)."""
    from transformers import AutoFeatureExtractor

    try:
        fe = AutoFeatureExtractor.from_pretrained(checkpoint)
        return bool(getattr(fe, "do_normalize", False))
    except (OSError, ValueError):
        # No preprocessor_config.json: fairseq-trained layer-norm models (Large) normalise.
        guess = getattr(config, "feat_extract_norm", "group") == "layer"
        log.warning("%s has no feature-extractor config; assuming do_normalize=%s", checkpoint, guess)
        return guess


def load_hf_model(checkpoint: str):
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(checkpoint)
    except OSError as e:
        raise FileNotFoundError(
            f"encoder checkpoint {checkpoint!r} could not be loaded: not a directory with an HF "
            f"config.json, a fairseq .pt file, an MFCC directory with {MFCC_CONFIG}, or a reachable "
            f"hub id ({str(e).splitlines()[0]})") from None
    if model.config.model_type not in WAVEFORM_TYPES + ("wav2vec2-bert", "whisper"):
        raise ValueError(f"encoder checkpoint {checkpoint}: model type {model.config.model_type!r} is "
                         "not a speech encoder (expected hubert, wav2vec2, wav2vec2-bert or whisper)")
    return model


WAVEFORM_TYPES = ("hubert", "wav2vec2", "wav2vec2-conformer", "wavlm", "data2vec-audio")


def _check_layer(layer: int, num_layers: int, name: str) -> None:
    if not 1 <= layer <= num_layers:
        raise ValueError(f"--layer {layer} is beyond the depth of encoder {name} "
                         f"({num_layers} layers): choose 1..{num_layers}")


# ------------------------------------------------------------------------------------ w2v-BERT 2.0
class W2VBertEncoder:
    """An HF ``Wav2Vec2BertModel`` (w2v-BERT 2.0) truncated after ``layer`` conformer layers.

    Input: ``SeamlessM4TFeatureExtractor`` features (80 log-mel filter banks at 100 Hz, two
    frames stacked: 160 values at 50 Hz, normalised per utterance). Its convolution modules are
    causal and padded positions are zeroed, so a padded batch gives each utterance its own
    features. The adapter/intermediate FFN (fine-tuning heads) are not part of the features.
    """

    kind = "w2v-bert"

    def __init__(self, model, feature_extractor, layer: int, device: torch.device, dtype: torch.dtype,
                 name: str, keep_final_layer_norm: bool = False):
        cfg = model.config
        self.num_layers = cfg.num_hidden_layers
        _check_layer(layer, self.num_layers, name)
        model.encoder.layers = model.encoder.layers[:layer]
        if not keep_final_layer_norm:
            model.encoder.layers[-1].final_layer_norm = torch.nn.Identity()
        model.adapter, model.intermediate_ffn = None, None
        self.model = model.eval().to(device=device, dtype=dtype)
        self.fe = feature_extractor
        self.layer, self.device, self.dtype, self.dim = layer, device, dtype, cfg.hidden_size
        self.frame_rate = 100.0 / self.fe.stride  # Kaldi filter banks: 10 ms shift
        self.batchable = True
        self.options = {"final_layer_norm": bool(keep_final_layer_norm)}

    @torch.inference_mode()
    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        # the filter bank needs one 25 ms window and the stacking two frames: pad tiny inputs
        waves = [np.pad(w, (0, 800 - len(w))) if len(w) < 800 else w for w in waves]
        # one extractor call per utterance, padded here: the extractor's own batch padding counts
        # frames differently from a single call, and the features must not depend on the batch
        feats = [self.fe(np.asarray(w, dtype=np.float32), sampling_rate=SAMPLE_RATE,
                         return_tensors="pt")["input_features"][0] for w in waves]
        lens = [len(f) for f in feats]
        x = torch.zeros(len(feats), max(lens), feats[0].shape[1])
        mask = torch.zeros(len(feats), max(lens), dtype=torch.long)
        for i, f in enumerate(feats):
            x[i, : len(f)], mask[i, : len(f)] = f, 1
        hidden = self.model(x.to(self.device, self.dtype), attention_mask=mask.to(self.device)).last_hidden_state
        return [h[:n] for h, n in zip(hidden, lens)]


# ---------------------------------------------------------------------------------- Whisper
class WhisperSpeechEncoder:
    """The encoder of an HF Whisper model, truncated after ``layer`` layers.

    Whisper's encoder only takes 30 s windows (``WhisperFeatureExtractor`` pads every input to
    3000 log-mel frames); the features of the real audio are the first ceil(frames / 2) outputs
    (50 Hz). Longer recordings are labelled in 30 s chunks (``max_seconds``).
    """

    kind = "whisper"

    def __init__(self, model, feature_extractor, layer: int, device: torch.device, dtype: torch.dtype,
                 name: str, keep_final_layer_norm: bool = False):
        encoder = model.encoder if hasattr(model, "encoder") else model.model.encoder
        self.num_layers = len(encoder.layers)
        _check_layer(layer, self.num_layers, name)
        encoder.layers = encoder.layers[:layer]
        if not keep_final_layer_norm:
            encoder.layer_norm = torch.nn.Identity()
        self.model = encoder.eval().to(device=device, dtype=dtype)
        self.fe = feature_extractor
        self.layer, self.device, self.dtype, self.dim = layer, device, dtype, model.config.d_model
        self.frame_rate = SAMPLE_RATE / (self.fe.hop_length * 2)
        self.max_seconds = self.fe.chunk_length
        self.batchable = True  # every input is padded to the same 30 s anyway
        self.options = {"final_layer_norm": bool(keep_final_layer_norm)}

    @torch.inference_mode()
    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        limit = int(self.max_seconds * SAMPLE_RATE)
        if any(len(w) > limit for w in waves):
            raise ValueError(f"Whisper encodes at most {self.max_seconds} s at a time: chunk longer audio")
        inputs = self.fe([np.asarray(w, dtype=np.float32) for w in waves], sampling_rate=SAMPLE_RATE,
                         return_attention_mask=True, return_tensors="pt")
        hidden = self.model(inputs["input_features"].to(self.device, self.dtype)).last_hidden_state
        valid = (inputs["attention_mask"].sum(1) + 1) // 2
        return [h[: max(1, int(n))] for h, n in zip(hidden, valid)]


# ------------------------------------------------------------------------------------- pooling
POOLING_TYPES = ("mean", "max")


def pool_frames(x: torch.Tensor, width: int, kind: str = "mean") -> torch.Tensor:
    """Mean or max over non-overlapping windows of ``width`` frames (a trailing partial window is
    dropped, as ``AvgPool1d``/``MaxPool1d`` do; an utterance shorter than one window keeps one
    frame, pooled over what it has, so that no readable audio becomes an empty line)."""
    if width <= 1:
        return x
    n = len(x) // width
    if n == 0:
        return x.mean(0, keepdim=True) if kind == "mean" else x.max(0, keepdim=True).values
    w = x[: n * width].reshape(n, width, x.shape[1])
    return w.mean(1) if kind == "mean" else w.max(1).values


class PooledEncoder:
    """Any encoder with its frames pooled ``width`` at a time: ``frame_rate`` / ``width``."""

    def __init__(self, inner, width: int, kind: str = "mean"):
        if kind not in POOLING_TYPES:
            raise ValueError(f"unknown pooling type {kind!r}; expected one of {POOLING_TYPES}")
        if width < 1:
            raise ValueError(f"pooling width must be >= 1, not {width}")
        self.inner, self.width, self.pooling = inner, int(width), kind
        self.frame_rate = inner.frame_rate / self.width
        self.options = {**getattr(inner, "options", {}), "pooling": f"{kind}:{self.width}"}

    def __getattr__(self, name):  # dim, device, dtype, num_layers, kind, max_seconds ...
        return getattr(self.inner, name)

    def features(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [pool_frames(f, self.width, self.pooling) for f in self.inner.features(waves)]


# ------------------------------------------------------------------------------- fairseq → HF
_LAYER_MAP = {
    "self_attn.k_proj": "attention.k_proj", "self_attn.v_proj": "attention.v_proj",
    "self_attn.q_proj": "attention.q_proj", "self_attn.out_proj": "attention.out_proj",
    "self_attn_layer_norm": "layer_norm", "fc1": "feed_forward.intermediate_dense",
    "fc2": "feed_forward.output_dense", "final_layer_norm": "final_layer_norm",
}
_DROPPED = ("final_proj.", "label_embs_concat", "untie_final_proj", "mask_emb")  # training-only


def _eval_conv_layers(spec: str) -> list:
    """fairseq ``eval``s strings like ``"[(512,10,5)] + [(512,3,2)] * 4"``; evaluate only lists,
    tuples, numbers, ``+`` and ``*`` here instead of running arbitrary code from a checkpoint."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ValueError(f"unsupported conv_feature_layers expression {spec!r}")
    return ev(ast.parse(spec, mode="eval"))


def fairseq_to_hf_config(model_cfg: dict, task_cfg: dict):
    """An HF ``HubertConfig`` with the architecture of a fairseq HuBERT model config."""
    from transformers import HubertConfig

    conv = _eval_conv_layers(model_cfg.get("conv_feature_layers",
                                           "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"))
    mode = model_cfg.get("extractor_mode", "default")
    return HubertConfig(
        hidden_size=model_cfg["encoder_embed_dim"], num_hidden_layers=model_cfg["encoder_layers"],
        num_attention_heads=model_cfg["encoder_attention_heads"],
        intermediate_size=model_cfg["encoder_ffn_embed_dim"],
        hidden_act=model_cfg.get("activation_fn", "gelu"),
        feat_extract_norm="layer" if mode == "layer_norm" else "group",
        conv_dim=[c[0] for c in conv], conv_kernel=[c[1] for c in conv], conv_stride=[c[2] for c in conv],
        conv_bias=bool(model_cfg.get("conv_bias", False)),
        num_conv_pos_embeddings=model_cfg.get("conv_pos", 128),
        num_conv_pos_embedding_groups=model_cfg.get("conv_pos_groups", 16),
        do_stable_layer_norm=bool(model_cfg.get("layer_norm_first", False)),
        feat_proj_layer_norm=True, layer_norm_eps=1e-5,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0, mask_time_prob=0.0,
    ), bool(task_cfg.get("normalize", mode == "layer_norm"))


def map_fairseq_state_dict(sd: dict[str, torch.Tensor], mode: str) -> dict[str, torch.Tensor]:
    """Rename a fairseq HuBERT state dict to HF ``HubertModel`` names (the mapping of transformers'
    own conversion script, written out so that fairseq is not needed)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.startswith(_DROPPED):
            continue
        parts = key.split(".")
        if key.startswith("feature_extractor.conv_layers."):
            i, sub = parts[2], parts[3:]
            if sub[0] == "0":  # the conv itself
                new = f"feature_extractor.conv_layers.{i}.conv.{sub[-1]}"
            elif mode == "layer_norm" and sub[:2] == ["2", "1"]:  # Sequential(Transpose, LN, Transpose)
                new = f"feature_extractor.conv_layers.{i}.layer_norm.{sub[-1]}"
            elif mode != "layer_norm" and sub[0] == "2":  # Fp32GroupNorm on the first conv
                new = f"feature_extractor.conv_layers.{i}.layer_norm.{sub[-1]}"
            else:
                raise KeyError(f"unexpected fairseq conv parameter {key}")
        elif key.startswith("layer_norm."):
            new = "feature_projection." + key
        elif key.startswith("post_extract_proj."):
            new = "feature_projection.projection." + parts[-1]
        elif key.startswith("encoder.pos_conv.0."):
            rest = ".".join(parts[3:])
            rest = {"weight_g": "parametrizations.weight.original0",
                    "weight_v": "parametrizations.weight.original1"}.get(rest, rest)
            new = "encoder.pos_conv_embed.conv." + rest
        elif key.startswith("encoder.layer_norm."):
            new = key
        elif key.startswith("encoder.layers."):
            i, rest = parts[2], ".".join(parts[3:-1])
            if rest not in _LAYER_MAP:
                raise KeyError(f"unexpected fairseq encoder parameter {key}")
            new = f"encoder.layers.{i}.{_LAYER_MAP[rest]}.{parts[-1]}"
        else:
            raise KeyError(f"unexpected fairseq parameter {key}")
        out[new] = value
    return out


def load_fairseq_hubert(path: str | os.PathLike):
    """Load an original fairseq HuBERT checkpoint as an HF ``HubertModel`` (+ do_normalize)."""
    from transformers import HubertModel

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder checkpoint {path}: no such file")
    try:
        # weights_only=False: fairseq checkpoints pickle their config (dicts or an argparse
        # Namespace); only load checkpoints you trust.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        raise RuntimeError(f"{path}: the checkpoint pickles objects from {e.name!r}; install it "
                           "(e.g. omegaconf) to read this checkpoint") from None
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")
    if ckpt.get("cfg") is not None:
        model_cfg, task_cfg = dict(ckpt["cfg"]["model"]), dict(ckpt["cfg"].get("task") or {})
    elif ckpt.get("args") is not None:
        model_cfg = task_cfg = vars(ckpt["args"])
    else:
        raise ValueError(f"{path}: fairseq checkpoint without 'cfg' or 'args'")
    config, do_normalize = fairseq_to_hf_config(model_cfg, task_cfg)
    model = HubertModel(config)
    sd = map_fairseq_state_dict(ckpt["model"], model_cfg.get("extractor_mode", "default"))
    if "feature_projection.projection.weight" not in sd:  # fairseq skips an identity projection
        d = config.hidden_size
        sd["feature_projection.projection.weight"] = torch.eye(d)
        sd["feature_projection.projection.bias"] = torch.zeros(d)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: fairseq → HF mapping incomplete: missing {missing}, unexpected {unexpected}")
    return model, do_normalize


def convert_fairseq_checkpoint(path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write a fairseq HuBERT checkpoint as an HF directory (model + feature-extractor config)."""
    from transformers import Wav2Vec2FeatureExtractor

    from spire.io import atomic_path

    model, do_normalize = load_fairseq_hubert(path)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0,
                                 do_normalize=do_normalize,
                                 return_attention_mask=model.config.feat_extract_norm == "layer",
                                 ).save_pretrained(tmp)
    return Path(out_dir)


# ------------------------------------------------------------------------------------ dispatch
def load_encoder(checkpoint: str | os.PathLike, layer: int = 22, device=None, dtype=None,
                 keep_final_layer_norm: bool = False, pooling_width: int = 1, pooling_type: str = "mean"):
    """Load any encoder checkpoint (see module docstring) on ``device`` in ``dtype``."""
    from spire import mirror

    enc = _load_encoder(mirror.resolve_model(str(checkpoint)), layer, resolve_device(device), dtype,
                        keep_final_layer_norm)
    return PooledEncoder(enc, pooling_width, pooling_type) if pooling_width > 1 else enc


def _load_encoder(ckpt: str, layer: int, device: torch.device, dtype, keep_ln: bool):
    dtype = resolve_dtype(dtype, device)
    p = Path(ckpt)
    if (p / MFCC_CONFIG).is_file():
        cfg = json.loads((p / MFCC_CONFIG).read_text())
        if cfg.get("type") == "phonetic":
            return PhoneticEncoder(cfg, p, layer, device, dtype)
        if cfg.get("type") != "mfcc":
            raise ValueError(f"{p / MFCC_CONFIG}: unknown encoder type {cfg.get('type')!r} "
                             "(expected 'mfcc' or 'phonetic')")
        return MFCCEncoder(cfg, device, dtype)
    if p.is_file():
        if p.suffix != ".pt":
            raise ValueError(f"encoder checkpoint {p}: a file must be a fairseq .pt checkpoint")
        model, do_normalize = load_fairseq_hubert(p)
        return HFEncoder(model, do_normalize, layer, device, dtype, ckpt, keep_ln)
    if p.is_dir() and not (p / "config.json").is_file():
        raise FileNotFoundError(f"encoder checkpoint {p}: directory has neither config.json (HF) "
                                f"nor {MFCC_CONFIG} (MFCC)")
    if not p.exists() and (ckpt.startswith((".", "/")) or ckpt.count("/") != 1):
        raise FileNotFoundError(f"encoder checkpoint {ckpt}: no such file or directory")
    model = load_hf_model(ckpt)
    kind = model.config.model_type
    if kind == "wav2vec2-bert":
        from transformers import SeamlessM4TFeatureExtractor

        return W2VBertEncoder(model, SeamlessM4TFeatureExtractor.from_pretrained(ckpt), layer, device, dtype,
                              ckpt, keep_ln)
    if kind == "whisper":
        from transformers import WhisperFeatureExtractor

        return WhisperSpeechEncoder(model, WhisperFeatureExtractor.from_pretrained(ckpt), layer, device, dtype,
                                    ckpt, keep_ln)
    return HFEncoder(model, hf_feature_normalize(ckpt, model.config), layer, device, dtype, ckpt, keep_ln)


def add_encoder_args(parser, layer_default: int = 22, required: bool = True) -> None:
    """The encoder options every task shares (--encoder, --layer, --device, --dtype, pooling...)."""
    parser.add_argument("--encoder", required=required,
                        help="HF hubert/wav2vec2/w2v-bert/whisper dir or hub id, fairseq .pt, or MFCC dir (encoder.json)")
    parser.add_argument("--layer", type=int, default=layer_default,
                        help=f"transformer layer whose output is used (default {layer_default}; ignored for MFCC)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--dtype", default="auto", choices=["auto", *sorted(DTYPES)],
                        help="compute dtype (default: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--final-layer-norm", dest="keep_final_layer_norm", default="false",
                        choices=["true", "false"], help="keep the final layer norm of the truncated stack (default false)")
    parser.add_argument("--pooling-width", type=int, default=1, help="pool this many frames into one (default 1: none)")
    parser.add_argument("--pooling-type", default="mean", choices=POOLING_TYPES)


def encoder_kwargs(args) -> dict:
    """load_encoder/Labeler keyword arguments from ``add_encoder_args`` options."""
    return dict(keep_final_layer_norm=args.keep_final_layer_norm == "true", pooling_width=args.pooling_width,
                pooling_type=args.pooling_type)
