"""Fixtures for the instruction-tuning data tests: small aligned corpora, IT component files, a
tiny MT model trained here to memorise a few toy translations, and a task-script runner."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from spire.io import write_lines
from spire.mini.toy_lang import translate
from spire.units import units_to_text

REPO = Path(__file__).resolve().parents[2]

SENTENCES = [
    "The cat sat on the mat.",
    "A dog ran home.",
    "Birds sing at dawn.",
    "The sun is hot.",
    "We like green tea.",
    "Fish swim in rivers.",
    "Old trees fall slowly.",
    "Rain makes the road wet.",
]


def run_task(name: str, *argv: str) -> None:
    """Run ``tasks/<name>.py``'s ``main(argv)`` in this process (no interpreter start-up cost)."""
    path = REPO / "tasks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"task_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(list(argv))


def units_line(i: int, n: int = 6) -> str:
    """A distinct PUA unit string per utterance."""
    return units_to_text([(7 * i + k) % 50 for k in range(n)])


def write_corpus(folder: Path, sentences=SENTENCES, langs=("ty", "rv")) -> dict[str, Path]:
    """Aligned ``units.txt``, ``en.txt`` and one toy translation file per language."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"units": folder / "units.txt", "en": folder / "en.txt"}
    write_lines(files["units"], [units_line(i) for i in range(len(sentences))])
    write_lines(files["en"], sentences)
    for lang in langs:
        files[lang] = folder / f"{lang}.txt"
        write_lines(files[lang], [translate(s, lang) for s in sentences])
    return files


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def build_components(folder: Path) -> dict[str, Path]:
    """The four miniature IT components (asr, st, pseudo_st, blocks) built by the task scripts."""
    f = write_corpus(folder / "corpus")
    out = {name: folder / f"{name}.jsonl" for name in ("asr", "st", "pseudo_st", "blocks")}
    run_task("build_it_data", "asr", "--units", str(f["units"]), "--transcripts", str(f["en"]),
             "--source", "toy_asr", "--out", str(out["asr"]))
    run_task("build_it_data", "st", "--units", str(f["units"]), "--transcripts", str(f["en"]),
             "--translations", f"ty={f['ty']}", "--translations", f"rv={f['rv']}",
             "--format", "both", "--source", "toy_st", "--out", str(out["st"]))
    run_task("pseudo_label", "--units", str(f["units"]), "--transcripts", str(f["en"]),
             "--hypotheses", f"ty={f['ty']}", "--references", f"ty={f['ty']}",
             "--scorer", "chrf_ref", "--source", "pseudo_toy", "--out", str(out["pseudo_st"]),
             "--stats", str(folder / "pseudo.stats.json"))
    run_task("build_it_data", "mt", "--text", f"en={f['en']}", "--text", f"ty={f['ty']}",
             "--text", f"rv={f['rv']}", "--pairs", "en-ty", "en-rv", "ty-en", "--source", "toy_mt",
             "--out", str(out["blocks"]))
    return out


def train_tiny_mt_model(folder: Path, prompts: list[str], targets: list[str], steps: int = 80,
                        seed: int = 0) -> Path:
    """A 2-layer Llama + byte-level BPE tokenizer, trained to memorise ``prompt + " " + target``.

    Random weights alone translate nothing, so every hypothesis would be filtered out; a model
    that has memorised some pairs gives the scorer real hypotheses to keep and others to drop.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    docs = [f"{p} {t}" for p, t in zip(prompts, targets)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(docs, trainer)
    bpe.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                  unk_token="<unk>", pad_token="</s>")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2))
    enc = tok([d + "</s>" for d in docs], return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
