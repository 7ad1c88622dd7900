#!/usr/bin/env python
"""Decode a speech test set directly from its audio with a baseline model (Whisper large-v3,
SeamlessM4T-v2, HuBERT-Large + CTC; spire/audio_models.py): one hypothesis per dataset row, in
dataset order, an empty line for unusable audio. With --task mt, SeamlessM4T-v2 translates the
text lines of --sources instead (its MT rows on FLORES and WMT23).

Example:
  python tasks/decode_audio.py --model whisper-large-v3 --data configs/eval/librispeech_test_clean.yaml \\
      --task asr --out hyps.txt
  python tasks/decode_audio.py --model seamless-m4t-v2-large --task mt --sources src.txt \\
      --src-lang en --tgt-lang de --out hyps.txt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.audio_data import open_audio_dataset  # noqa: E402
from spire.audio_models import TASKS, decode_audio, spiritlm_name, translate_text  # noqa: E402
from spire.options import nonneg_int, positive_int  # noqa: E402
from spire.io import write_lines  # noqa: E402
from spire.log import get_logger, log_read, log_wrote  # noqa: E402

log = get_logger("decode_audio")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Whisper or SeamlessM4T-v2 model folder (or hub id), "
                   "or spiritlm:<name> (Spirit LM through its own package)")
    p.add_argument("--data", help="speech test-set YAML (asr, st)")
    p.add_argument("--task", required=True, choices=(*TASKS, "mt"))
    p.add_argument("--sources", help="mt: source sentences, one per line (SeamlessM4T-v2 only)")
    p.add_argument("--src-lang", default="en", help="mt: source language code")
    p.add_argument("--tgt-lang", default="en", help="ST / MT target language code")
    p.add_argument("--out", required=True, help="hypotheses, one per line")
    p.add_argument("--max-new-tokens", type=positive_int, default=256, help="paper: 256")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16")
    p.add_argument("--shots-data", help="dataset YAML of the few-shot examples (Spirit LM: audio and "
                   "transcript); Whisper and SeamlessM4T are zero-shot and ignore it")
    p.add_argument("--shots", type=nonneg_int, default=0, help="few-shot examples drawn from --shots-data")
    p.add_argument("--seed", type=int, default=42, help="which examples (as the LMs' shots)")
    return p.parse_args(argv)


def load_shots(config: str, n: int, seed: int) -> list[tuple]:
    """``n`` (audio, transcript) examples of a dataset, drawn with ``seed`` among rows that have
    a transcript."""
    import random

    if n <= 0:
        return []
    rows = [r for r in open_audio_dataset(config).records() if (r.text or "").strip()]
    if len(rows) < n:
        raise SystemExit(f"{config}: {len(rows)} rows with a transcript, fewer than --shots {n}")
    picked = random.Random(seed).sample(rows, n)
    log_read(log, "shots", config, f"{n} of {len(rows)} rows (seed {seed})")
    return [(r.audio, r.text) for r in picked]


def translate_file(a) -> None:
    from spire.io import read_lines

    if not a.sources:
        raise SystemExit("decode_audio: --task mt translates text: give --sources FILE")
    sources = read_lines(a.sources)
    log_read(log, "sources", a.sources, f"{len(sources)} lines")
    try:
        hyps = translate_text(a.model, sources, a.src_lang, a.tgt_lang, batch_size=a.batch_size,
                              max_new_tokens=a.max_new_tokens, device=a.device, dtype=a.dtype)
    except ValueError as e:
        raise SystemExit(f"decode_audio: {e}")
    write_lines(a.out, hyps)
    log_wrote(log, "translations", a.out, f"{len(hyps)} lines")


def main(argv=None) -> None:
    a = parse_args(argv)
    if a.task == "mt":
        return translate_file(a)
    if not a.data:
        raise SystemExit(f"decode_audio: --task {a.task} decodes speech: give --data TEST_SET_YAML")
    try:
        ds = open_audio_dataset(a.data).require_rows()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"decode_audio: {e}")
    records = ds.records()
    log_read(log, "test set", a.data, f"{len(records)} rows")
    # only a few-shot model reads its shots (the workflow passes them to every audio model)
    shots = load_shots(a.shots_data, a.shots, a.seed) if a.shots_data and spiritlm_name(a.model) else []
    hyps = decode_audio(a.model, [r.audio for r in records], a.task, a.tgt_lang,
                        batch_size=a.batch_size, max_new_tokens=a.max_new_tokens, device=a.device,
                        dtype=a.dtype, shots=shots)
    write_lines(a.out, hyps)
    log_wrote(log, "hypotheses", a.out, f"{len(hyps)} lines ({sum(1 for h in hyps if not h)} empty)")


if __name__ == "__main__":
    main()
