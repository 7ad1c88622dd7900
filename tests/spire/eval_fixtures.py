"""Tiny, locally built models for the evaluation tests (no network).

* a random-initialised Llama with a byte-level BPE tokenizer trained on local text, saved as a
  Hugging Face folder (the decoding tests);
* a real COMET ``RegressionMetric`` on a tiny XLM-RoBERTa encoder whose tokenizer wraps a
  SentencePiece model trained here, saved as ``checkpoints/model.ckpt`` + ``hparams.yaml``
  (docs/environment.md "COMET offline").
"""
from __future__ import annotations

from pathlib import Path

WORDS = ("the cat sat on a mat while seven small dogs ran over green hills and one bird sang "
         "quietly near an old river bank every morning before the sun rose above tall trees").split()


def local_sentences(n: int = 400, seed: int = 0) -> list[str]:
    import random
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."
            for _ in range(n)]


def build_tiny_llama(folder: Path, seed: int = 0, vocab_size: int = 300, hidden_size: int = 32,
                     num_layers: int = 2) -> Path:
    """A 2-layer random Llama + byte-level BPE tokenizer (``<s>`` bos, ``</s>`` eos, no pad)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(local_sentences() + ["a\nb\n\nc: d"], trainer)
    from tokenizers.processors import TemplateProcessing
    bpe.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                  unk_token="<unk>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size,
                         intermediate_size=2 * hidden_size, num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                         initializer_range=0.5)  # large init: outputs depend on the prompt
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def train_tiny_spm(folder: Path, vocab_size: int = 100) -> Path:
    import sentencepiece as spm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "text.txt"
    text.write_text("\n".join(local_sentences()) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "spm"),
                                   vocab_size=vocab_size, model_type="unigram",
                                   character_coverage=1.0, minloglevel=2)
    return folder / "spm.model"


def build_tiny_comet(folder: Path, seed: int = 0) -> Path:
    """A real COMET regression checkpoint on a tiny XLM-R; returns ``.../checkpoints/model.ckpt``."""
    import pytorch_lightning
    import torch
    import yaml
    from comet.models import RegressionMetric
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    folder = Path(folder)
    enc_dir = folder / "tiny-xlmr"
    spm_model = train_tiny_spm(folder / "spm")
    tok = XLMRobertaTokenizerFast(vocab_file=str(spm_model), model_max_length=126)
    tok.save_pretrained(enc_dir)
    torch.manual_seed(seed)
    enc = XLMRobertaModel(XLMRobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id))
    enc.save_pretrained(enc_dir)

    model = RegressionMetric(pretrained_model=str(enc_dir), encoder_model="XLM-RoBERTa",
                             hidden_sizes=[16], layer="mix", pool="avg", batch_size=4,
                             load_pretrained_weights=True, local_files_only=True)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    ckpt = folder / "checkpoints" / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "pytorch-lightning_version": pytorch_lightning.__version__}, ckpt)
    hparams = dict(model.hparams)
    hparams["class_identifier"] = "regression_metric"
    (folder / "hparams.yaml").write_text(yaml.safe_dump(hparams), encoding="utf-8")
    return ckpt


REPO = Path(__file__).resolve().parents[2]


def load_task(name: str):
    """Import ``tasks/<name>.py`` as a module (tasks/ is scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"task_{name}", REPO / "tasks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- models this repository did not make
N_UNITS = 16
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_foreign_spire(root: Path) -> dict:
    """Models this repository did not make: a random HubertModel folder, a scikit-learn KMeans
    dumped with joblib, a random LlamaForCausalLM whose tokenizer has PUA unit tokens and a ChatML
    chat template; and four audio files (a tone, noise at 22.05 kHz, silence, a corrupt file)."""
    import joblib
    import numpy as np
    import soundfile as sf
    import torch
    from sklearn.cluster import KMeans
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (HubertConfig, HubertModel, LlamaConfig, LlamaForCausalLM,
                              PreTrainedTokenizerFast, Wav2Vec2FeatureExtractor)

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    enc = root / "hubert"
    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 4, 4),
                       conv_kernel=(10, 4, 4), num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=2, feat_extract_norm="layer")
    HubertModel(cfg).save_pretrained(enc)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(enc)

    km_path = root / "units.joblib"
    rng = np.random.default_rng(0)
    joblib.dump(KMeans(N_UNITS, n_init=1, random_state=0).fit(rng.normal(size=(400, 32))), km_path)

    lm = root / "lm"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["Speech: English: German: Translate the following text from"] * 5,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                  unk_token="<unk>")
    tok.add_tokens([chr(0xF0000 + i) for i in range(N_UNITS)])
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=1024, bos_token_id=1, eos_token_id=2,
                         initializer_range=0.5)
    LlamaForCausalLM(config).save_pretrained(lm)
    tok.save_pretrained(lm)

    audio = root / "audio"
    audio.mkdir()
    t = np.arange(16000) / 16000
    sf.write(audio / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(audio / "noise.flac", rng.normal(scale=0.1, size=24000).astype(np.float32), 22050)
    sf.write(audio / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    (audio / "corrupt.wav").write_bytes(b"RIFF\x00\x01garbage" * 20)
    return {"lm": lm, "encoder": enc, "kmeans": km_path, "audio": audio}


# the audio baselines' stand-ins live in the library (the rehearsal's mirror uses them too)
from spire.standins import build_seamless, build_whisper  # noqa: E402,F401
