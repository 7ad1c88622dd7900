"""The ``spire`` command: transcribe or translate audio files with a Spire model.

    spire transcribe talk.wav other.flac --model utter-project/SpireFull \\
        --encoder facebook/hubert-large-ll60k --kmeans utter-project/SpireKMeans
    spire translate talk.wav --to de [--mode cascade] --model ... --encoder ... --kmeans ...
    spire transcribe files.txt ...            # a list file: one audio path per line
    spire transcribe configs/eval/librispeech_test_clean.yaml ...   # a dataset config
    spire resources configs/paper.tconf --plan train   # memory/GPU-hours of the training jobs
    spire card OUT/TrainIT/*/model --results results.csv --names configs/eval/variants.yaml
    spire push OUT/TrainIT/Baseline.baseline/model --repo-id USER/NAME [--private]

One line per input on stdout (or --out), in input order; an input whose audio is unusable
(unreadable, truncated, empty, silent) gets an empty line and a message on stderr naming it, and
the others still come out. Exit status: 0 when every input had usable audio, 1 when some did not
(every line is still written), 2 for a usage error (an option out of range, a directory, an
empty list file or dataset) or a model, encoder or k-means that cannot be loaded.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from spire.options import Number, positive_float, positive_int

LIST_SUFFIXES = (".txt", ".lst", ".list", ".scp")
CONFIG_SUFFIXES = (".yaml", ".yml")


class InputError(ValueError):
    """An input of the command line that is no audio source (a directory, an empty list)."""


def expand_inputs(inputs: list[str]) -> list:
    """Audio sources of the command line: files, list files (a path per line, relative to the
    list's folder; blank lines and ``#`` comments skipped) and dataset configs (their rows).
    A directory, an empty list file or a dataset without rows is an :class:`InputError`."""
    from spire.io import read_text

    sources: list = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            raise InputError(f"{p}: is a directory; pass its audio files ({p}/*.wav), a list file "
                             "(.txt, one path a line) or a dataset config (.yaml with `path: "
                             f"{p}` reads every audio file under it)")
        if p.suffix.lower() in CONFIG_SUFFIXES:
            from spire.audio_data import open_audio_dataset
            sources += [r.audio for r in open_audio_dataset(p).require_rows().records()]
        elif p.suffix.lower() in LIST_SUFFIXES:
            if not p.is_file():
                raise InputError(f"list file {p}: no such file")
            listed = [line.strip() for line in read_text(p).splitlines()]
            listed = [x for x in listed if x and not x.startswith("#")]
            if not listed:
                raise InputError(f"list file {p}: no audio paths in it (empty, or only blank and "
                                 "# lines); put one audio path a line")
            sources += [str(q if q.is_absolute() else p.parent / q) for q in map(Path, listed)]
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
        p.add_argument("--layer", type=positive_int, default=22,
                       help="encoder layer, from 1 (docs/paper.md §1: 22)")
        if name == "translate":
            p.add_argument("--to", required=True, dest="tgt_lang", help="target language code, e.g. de")
            p.add_argument("--mode", choices=("direct", "cascade"), default="direct",
                           help="direct ST, or the model's own transcript translated (cascade)")
        p.add_argument("--style", choices=("auto", "instruct", "base"), default="auto",
                       help="prompt style (auto: chat prompt if the model has a chat template)")
        p.add_argument("--backend", choices=("auto", "hf", "vllm"), default="auto",
                       help="auto: vLLM when installed with a GPU, else HF generate")
        p.add_argument("--max-new-tokens", type=positive_int, default=256,
                       help="longest output in tokens (>= 1)")
        p.add_argument("--batch-size", type=positive_int, default=8,
                       help="prompts per generate call of the HF backend (>= 1)")
        p.add_argument("--device", default=None, help="encoder device (default: cuda if available)")
        p.add_argument("--dtype", default=None, help="LM dtype (default: bf16 on GPU, fp32 on CPU)")
        p.add_argument("--out", help="write the lines to this file instead of stdout")
        p.add_argument("--show-units", action="store_true", help="also print each input's units to stderr")
    r = sub.add_parser("resources", help="resource plan of a config's training jobs (docs/resources.md)",
                       description="Estimated peak GPU memory, GPU-hours and job time of every "
                       "TrainCPT/TrainIT job a plan reaches; exit 1 if one does not fit.")
    r.add_argument("config", help="a .tconf (e.g. configs/paper.tconf)")
    r.add_argument("--plan", default=None, help="ducttape plan (default: every plan)")
    r.add_argument("--tape", default=None, help="workflow (default: the one importing the config)")
    r.add_argument("--gpu-mem-gb", type=positive_float, default=None,
                   help="memory of one GPU in GiB (default: the config's gpu_mem_gb, else 80)")
    r.add_argument("--headroom", type=Number(float, low=0, high=0.99), default=None,
                   help="fraction of GPU memory kept free (default: gpu_mem_headroom, else 0.10)")
    r.add_argument("--mfu", type=Number(float, low=0, high=1, open_low=True), default=None, help="assumed MFU (default: gpu_mfu, else 0.40)")
    r.add_argument("--tflops", type=positive_float, default=None,
                   help="peak bf16 TFLOP/s of one GPU (default: gpu_tflops, else 989, H100)")
    r.add_argument("--tokens", action="append", default=[], metavar="TASK=N",
                   help="tokens per epoch of a task (TrainCPT=6e9); default: the packed corpus' "
                   "meta.json, else the paper's budget / our estimate")
    add_publish_commands(sub)
    return ap


# --- publishing: `spire card` and `spire push` (spire/model_card.py, docs/publishing.md) ---
def add_publish_commands(sub) -> None:
    from spire import model_card

    c = sub.add_parser("card", help="write or refresh the model card (README.md) of model directories",
                       description="Model card of each final model directory: what it is, its data, "
                       "the hyper-parameters of train_summary.json and the scores of the results table.")
    c.add_argument("model_dirs", nargs="+", help="final model directories (train_summary.json inside)")
    model_card.add_card_args(c)
    p = sub.add_parser("push", help="push a model directory and its card to the Hugging Face hub",
                       description="Create the hub repository if needed and upload the model with its "
                       "card (written first if missing). Needs HF_TOKEN or `huggingface-cli login`.")
    model_card.add_push_args(p)


def resources_main(a) -> int:
    from spire import resources as R
    tokens = {}
    for item in a.tokens:
        task, _, n = item.partition("=")
        try:
            tokens[task] = float(n)
        except ValueError:
            tokens[task] = math.nan
        if not task or not math.isfinite(tokens[task]) or tokens[task] <= 0:
            raise SystemExit(f"spire resources: --tokens {item!r}: expected TASK=N with N > 0, "
                             "e.g. TrainIT=1.2e9")
    notes: list[str] = []
    try:
        jobs = R.training_jobs(a.config, a.plan, a.tape, tokens, notes)
        knobs = R.config_knobs(a.config)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"spire resources: {e}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"spire resources: {n}", file=sys.stderr)
    if not jobs:
        print(f"spire resources: the plan reaches no training task ({', '.join(R.TRAIN_TASKS)})")
        return 0

    def pick(cli, key, default):
        return cli if cli is not None else float(knobs.get(key, default))

    plans = [R.plan_job(j, gpu_mem_gb=pick(a.gpu_mem_gb, "gpu_mem_gb", R.DEFAULT_GPU_MEM_GB),
                        headroom=pick(a.headroom, "gpu_mem_headroom", R.DEFAULT_HEADROOM),
                        mfu=pick(a.mfu, "gpu_mfu", R.DEFAULT_MFU),
                        tflops=pick(a.tflops, "gpu_tflops", R.DEFAULT_TFLOPS)) for j in jobs]
    print(R.format_plan(plans))
    return 0 if all(p.fits for p in plans) else 1


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.command == "resources":
        return resources_main(a)
    if a.command in ("card", "push"):  # publishing (spire/model_card.py)
        from spire import model_card
        return model_card.card_main(a) if a.command == "card" else model_card.push_main(a)
    from spire import inference

    try:
        sources = expand_inputs(a.inputs)
    except (FileNotFoundError, ValueError) as e:  # InputError, an empty or unreadable dataset
        print(f"spire {a.command}: {e}", file=sys.stderr)
        return 2
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
        print(f"spire: {bad} of {len(outs)} inputs had no usable audio (empty lines in their "
              "place); fix or remove them", file=sys.stderr)
    return 1 if bad else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
