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
