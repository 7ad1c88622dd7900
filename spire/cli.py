"""The ``spire`` command: transcribe or translate audio files with a Spire model.

    spire transcribe talk.wav other.flac --model utter-project/SpireFull \\
        --encoder facebook/hubert-large-ll60k --kmeans utter-project/SpireKMeans
    spire translate talk.wav --to de [--mode cascade] --model ... --encoder ... --kmeans ...
    spire transcribe files.txt ...            # a list file: one audio path per line
    spire transcribe configs/eval/librispeech_test_clean.yaml ...   # a dataset config

One line per input on stdout (or --out), in input order; an input whose audio is unusable
(unreadable, corrupt, empty, silent) gets an empty line and a message on stderr naming it, and
the others still come out. Exit status 0 unless the model, encoder or k-means cannot be loaded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

LIST_SUFFIXES = (".txt", ".lst", ".list", ".scp")
CONFIG_SUFFIXES = (".yaml", ".yml")


def expand_inputs(inputs: list[str]) -> list:
    """Audio sources of the command line: files, list files (a path per line, relative to the
    list's folder; blank lines and ``#`` comments skipped) and dataset configs (their rows)."""
    sources: list = []
    for item in inputs:
        p = Path(item)
        if p.suffix.lower() in CONFIG_SUFFIXES:
            from spire.audio_data import open_audio_dataset
            sources += [r.audio for r in open_audio_dataset(p).records()]
        elif p.suffix.lower() in LIST_SUFFIXES:
            if not p.is_file():
                raise SystemExit(f"spire: list file {p}: no such file")
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    sources.append(str(q if q.is_absolute() else p.parent / q))
        else:
            sources.append(item)
    return sources


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spire", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name, what in (("transcribe", "English transcript (ASR)"),
                       ("translate", "translation of the speech (ST)")):
        p = sub.add_parser(name, help=what, description=f"{what} of each input, one line each.")
        p.add_argument("inputs", nargs="+", help="audio files, list files (.txt: one path a line) "
                       "or dataset configs (.yaml)")
        p.add_argument("--model", required=True, help="Spire model directory or hub id")
        p.add_argument("--encoder", required=True,
                       help="speech encoder: HF hubert dir or hub id (facebook/hubert-large-ll60k), "
                       "fairseq .pt")
        p.add_argument("--kmeans", required=True,
                       help="k-means: joblib file, directory or hub id (utter-project/SpireKMeans)")
        p.add_argument("--layer", type=int, default=22, help="encoder layer (docs/paper.md §1: 22)")
        if name == "translate":
            p.add_argument("--to", required=True, dest="tgt_lang", help="target language code, e.g. de")
            p.add_argument("--mode", choices=("direct", "cascade"), default="direct",
                           help="direct ST, or the model's own transcript translated (cascade)")
        p.add_argument("--style", choices=("auto", "instruct", "base"), default="auto",
                       help="prompt style (auto: chat prompt if the model has a chat template)")
        p.add_argument("--backend", choices=("auto", "hf", "vllm"), default="auto",
                       help="auto: vLLM when installed with a GPU, else HF generate")
        p.add_argument("--max-new-tokens", type=int, default=256)
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--device", default=None, help="encoder device (default: cuda if available)")
        p.add_argument("--dtype", default=None, help="LM dtype (default: bf16 on GPU, fp32 on CPU)")
        p.add_argument("--out", help="write the lines to this file instead of stdout")
        p.add_argument("--show-units", action="store_true", help="also print each input's units to stderr")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    from spire import inference

    sources = expand_inputs(a.inputs)
    if not sources:
        raise SystemExit("spire: no audio inputs (the list files are empty)")
    try:
        spire = inference.load(a.model, a.encoder, a.kmeans, a.layer, device=a.device,
                               style=a.style, backend=a.backend, max_new_tokens=a.max_new_tokens,
                               batch_size=a.batch_size, dtype=a.dtype)
        if a.command == "transcribe":
            outs = spire.transcribe_outputs(sources)
        else:
            outs = spire.translate_outputs(sources, a.tgt_lang, a.mode)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"spire: {e}", file=sys.stderr)
        return 2
    bad = 0
    for o in outs:
        if o.error:
            bad += 1
            print(f"spire: {o.source}: {o.error}; writing an empty line", file=sys.stderr)
        elif a.show_units:
            print(f"spire: {o.source}: units {o.units}", file=sys.stderr)
    text = "".join(o.text + "\n" for o in outs)
    if a.out:
        from spire.io import write_text
        write_text(a.out, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if bad:
        print(f"spire: {bad} of {len(outs)} inputs had no usable audio", file=sys.stderr)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
