"""One results table from many score JSONs: rows = model variants, columns = test set × metric.

Score files come either with explicit labels (``variant=SpireFull testset=mini_asr file=PATH``)
or from a ducttape output tree (``OUT/<Task>/<realization>/scores.json``). For the latter the row
label comes from the realization name through a small mapping (``ITMix.no_blocks`` →
``SpireNoBlocks``) and the column from the score file's ``testset`` field (or the task name),
its ``lang_pair``, and the branches of test-set branch points (``LanguagePair.en_ty``). Labels precedence: explicit > score file > mapping > raw name.
"""
from __future__ import annotations

import glob as globlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from spire.io import read_json

INVALIDATED_MARKER = "ducttape.INVALIDATED"  # ducttape/execute.py: a task to rerun

# metric key -> (column label, better, display scale)
METRICS = {
    "wer": ("WER", "lower", 1.0),       # already percent
    "bleu": ("BLEU", "higher", 1.0),
    "chrf": ("chrF", "higher", 1.0),
    "comet": ("COMET", "higher", 100.0),  # COMET-22 system score ×100, as the Tower/Spire tables
    "f1": ("F1", "higher", 100.0),        # span F1 of NER (Table 8), a fraction in the score file
}


@dataclass
class Score:
    variant: str
    testset: str
    metric: str
    value: float
    file: str
    meta: dict


def parse_realization(name: str) -> dict[str, str]:
    """``"ITMix.no_blocks+TestSet.fleurs"`` → ``{"ITMix": "no_blocks", "TestSet": "fleurs"}``.

    Branch names may contain dots (``Threshold.0.75``); branch-point names may not.
    """
    if name in ("", "Baseline.baseline"):
        return {}
    out = {}
    for part in name.split("+"):
        bp, sep, branch = part.partition(".")
        if not sep:
            raise ValueError(f"realization name {name!r}: part {part!r} is not BranchPoint.branch")
        out[bp] = branch
    return out


def variant_label(branches: dict[str, str], names: dict[str, str],
                  ignore: Sequence[str] = ()) -> str:
    """Row label of a realization: the mapping entry matching the most ``BP.branch`` parts wins;
    without a match, the realization's own name without the ignored (test-set) branch points."""
    best, best_n = None, 0
    for key, label in names.items():
        want = parse_realization(key)
        if want and all(branches.get(bp) == br for bp, br in want.items()) and len(want) > best_n:
            best, best_n = label, len(want)
    if best is not None:
        return best
    rest = [f"{bp}.{br}" for bp, br in sorted(branches.items()) if bp not in ignore]
    return "+".join(rest) or "baseline"


def testset_label(name: str, *extra: str | Sequence[str] | None) -> str:
    """``name`` plus each extra part (language pair, test-set branches) it does not yet say;
    ``en_de`` and ``en-de`` count as the same part, and ``st_cascade`` already says ``st``."""
    words: set[str] = set()

    def say(text: str) -> None:  # "st_cascade" says "st-cascade", "st" and "cascade"
        for w in text.replace("_", "-").split():
            words.add(w)
            words.update(w.split("-"))

    say(name)
    parts = [name]
    has_pair = any(_pair(w) for w in name.split())
    for e in extra:
        for x in ([e] if isinstance(e, str) else e or []):
            if not x or x.replace("_", "-") in words:
                continue
            if _pair(x) and has_pair:  # "flores mt de-en" already says its direction: no en_de
                continue
            has_pair = has_pair or bool(_pair(x))
            parts.append(x)
            say(x)
    return " ".join(parts)


def load_score(path: str | os.PathLike, variant: str | None = None,
               testset: str | None = None) -> list[Score]:
    """The metrics of one score JSON as table cells (unknown keys are metadata)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a score file must be a JSON object")
    variant = variant or data.get("variant")
    testset = testset or data.get("testset")
    if not variant or not testset:
        raise ValueError(f"{path}: no {'variant' if not variant else 'testset'} name: give it on the "
                         "command line or record it in the score file (--variant/--testset)")
    testset = testset_label(testset, data.get("lang_pair"))
    for m in METRICS:  # a metric that is there but not a number is a broken scorer, not "none"
        v = data.get(m)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{path}: {m!r} is {v!r}, not a number: rerun the Score task that "
                             "wrote it, or fix the file")
    cells = [Score(variant, testset, m, float(data[m]), str(path), data)
             for m in METRICS if data.get(m) is not None]
    if not cells:
        raise ValueError(f"{path}: no metric among {', '.join(METRICS)}")
    return cells


def invalidated(score_file: str | os.PathLike) -> bool:
    """Whether the ducttape task directory holding ``score_file`` carries the marker that
    ``ducttape invalidate`` leaves: its score is stale until the task reruns."""
    return (Path(os.path.realpath(score_file)).parent / INVALIDATED_MARKER).exists()


def scores_from_tree(patterns: Iterable[str], names: dict[str, str] | None = None,
                     testset_bps: Sequence[str] = (), ignore_bps: Sequence[str] = (),
                     baselines: Sequence[str] = (),
                     skipped: list[str] | None = None) -> list[Score]:
    """Score cells of every file matching ``patterns`` (``OUT/Score*/*/scores.json``).

    Files in a task directory marked invalidated (``ducttape invalidate``, directly or because
    a model upstream was) are left out and their directories appended to ``skipped``, for the
    caller to report: a table must not mix stale scores with fresh ones.

    A realization reached both through its canonical directory and ducttape's full-name symlink
    is read once, named by the longer (full) name so that baseline branches can be mapped too.
    Canonical names drop baseline branches; ``baselines`` (``BP.branch`` each) puts them back.
    """
    names = names or {}
    defaults = parse_realization("+".join(baselines)) if baselines else {}
    by_file: dict[str, Path] = {}
    for pattern in patterns:
        matches = sorted(globlib.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"no score file matches {pattern!r}")
        for m in matches:
            real = os.path.realpath(m)
            prev = by_file.get(real)
            if prev is None or len(parse_realization(Path(m).parent.name)) > len(
                    parse_realization(prev.parent.name)):
                by_file[real] = Path(m)
    cells = []
    for path in sorted(by_file.values()):
        if invalidated(path):
            if skipped is not None:
                skipped.append(str(path.parent))
            continue
        branches = {**defaults, **parse_realization(path.parent.name)}
        task = path.parent.parent.name
        data = read_json(path)
        parts = [branches[bp] for bp in testset_bps if bp in branches]
        base = data.get("testset") or (parts.pop(0) if parts else task)
        testset = testset_label(base, data.get("lang_pair"), parts)
        variant = data.get("variant") or variant_label(
            branches, names, ignore=list(testset_bps) + list(ignore_bps))
        cells += load_score(path, variant=variant, testset=testset)
    return cells


def table(cells: Sequence[Score], variant_order: Sequence[str] = (),
          testset_order: Sequence[str] = ()):
    """Wide pandas table: index = variants, columns = (testset, metric label), display scale."""
    import pandas as pd

    seen: dict[tuple, str] = {}
    for c in cells:
        key = (c.variant, c.testset, c.metric)
        if key in seen:
            raise ValueError(f"two scores for {c.variant} / {c.testset} / {c.metric}: "
                             f"{seen[key]} and {c.file}")
        seen[key] = c.file

    def ordered(values, order):
        first = list(dict.fromkeys(values))
        return [v for v in order if v in first] + [v for v in first if v not in order]

    variants = ordered([c.variant for c in cells], variant_order)
    testsets = ordered([c.testset for c in cells], testset_order)
    cols = [(t, METRICS[m][0]) for t in testsets for m in METRICS
            if any(c.testset == t and c.metric == m for c in cells)]
    df = pd.DataFrame(index=pd.Index(variants, name="model"),
                      columns=pd.MultiIndex.from_tuples(cols, names=["testset", "metric"]),
                      dtype=float)
    for c in cells:
        df.loc[c.variant, (c.testset, METRICS[c.metric][0])] = c.value * METRICS[c.metric][2]
    return df


def notes(cells: Sequence[Score]) -> list[str]:
    """How each metric was computed, from the score files' metadata (one line per setting)."""
    out = []
    for key, fmt in (("normalizer", "WER: corpus level, percent, {} normaliser on both sides"),
                     ("bleu_signature", "BLEU: sacreBLEU {}"),
                     ("chrf_signature", "chrF: sacreBLEU {}"),
                     ("comet_model", "COMET: mean segment score ×100, model {}")):
        values = sorted({str(c.meta[key]) for c in cells if c.meta.get(key) is not None})
        out += [fmt.format(v) for v in values]
    return out


def to_markdown(df, cells: Sequence[Score] = ()) -> str:
    arrow = {label: ("↓" if better == "lower" else "↑") for label, better, _ in METRICS.values()}
    header = ["Model"] + [f"{t} {m}{arrow[m]}" for t, m in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in df.iterrows():
        vals = ["–" if v != v else f"{v:.2f}" for v in row.tolist()]  # NaN: not evaluated
        lines.append("| " + " | ".join([str(variant)] + vals) + " |")
    text = "\n".join(lines) + "\n"
    if cells:
        text += "\n" + "\n".join(f"- {n}" for n in notes(cells)) + "\n"
    return text


def to_csv_frame(df):
    """Flat columns ``<testset> <metric>`` for CSV readers that do not know MultiIndex."""
    flat = df.copy()
    flat.columns = [f"{t} {m}" for t, m in df.columns]
    return flat


def plot(df, path: str | os.PathLike) -> None:
    """One panel per metric, test sets on the x axis, one bar per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = list(dict.fromkeys(m for _, m in df.columns))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        testsets = [t for t, m in df.columns if m == metric]
        x = np.arange(len(testsets))
        width = 0.8 / max(1, len(df.index))
        for k, variant in enumerate(df.index):
            vals = [df.loc[variant, (t, metric)] for t in testsets]
            ax.bar(x + k * width, vals, width, label=str(variant))
        ax.set_xticks(x + width * (len(df.index) - 1) / 2)
        ax.set_xticklabels(testsets, rotation=30, ha="right")
        better = next(b for label, b, _ in METRICS.values() if label == metric)
        ax.set_title(f"{metric} ({better} is better)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ one table per task (paper)
# Test-set label words that name the task (tasks/score_*.py --testset "<name> <task>"); the mode
# of an ST score becomes part of its row label, as the paper's ST table lists cascades as rows.
TASK_WORDS = {"asr": ("asr", ""), "st": ("st", ""), "st_cascade": ("st", " (self-cascade)"),
              "st_gold": ("st", " (gold-transcript MT)"), "mt": ("mt", ""), "ape": ("ape", ""),
              "ner": ("ner", "")}
TASK_METRICS = {"asr": ("wer",), "st": ("comet", "bleu", "chrf"), "mt": ("comet", "bleu", "chrf"),
                "ape": ("comet", "bleu", "chrf"), "ner": ("f1",)}
TASK_TITLES = {"asr": "ASR (WER)", "st": "Speech translation", "mt": "Machine translation",
               "ape": "Table 8: automatic post-editing (WMT23, NLLB-3.3B drafts)",
               "ner": "Table 8: named-entity recognition (MultiCoNER II, span F1)"}


def _pair(word: str) -> str | None:
    """``en_de`` / ``en-de`` → ``en-de``; anything else → None."""
    parts = word.replace("_", "-").split("-")
    if len(parts) == 2 and all(p.isalpha() and 2 <= len(p) <= 3 and p.islower() for p in parts):
        return "-".join(parts)
    return None


def split_label(label: str, metric: str) -> tuple[str, str, str, str | None]:
    """A cell's test-set label → ``(task, row suffix, test set, language pair)``:
    ``"fleurs st_cascade en-de"`` → ``("st", " (self-cascade)", "fleurs", "en-de")``."""
    task, suffix, pair, rest = None, "", None, []
    for w in label.split():
        if w in TASK_WORDS:
            # the score file's word comes first ("st_gold"); a later one is the EvalTask branch
            # that the tree added ("mt") and says nothing more
            if task is None:
                task, suffix = TASK_WORDS[w]
        elif _pair(w):
            pair = pair or _pair(w)
        else:
            rest.append(w)
    if task is None:
        task = "asr" if metric == "wer" else "mt"
    return task, suffix, " ".join(rest) or "test", pair


def task_tables(cells: Sequence[Score], variant_order: Sequence[str] = (),
                testset_order: Sequence[str] = ()) -> dict:
    """``{task: (table, trace)}`` in the paper's layout: rows = models (ST cascades as their own
    rows), columns = (test set + direction, metric), every test set followed by its average over
    directions (ASR: one average over test sets) when a row has all of them.

    ``trace`` lists every cell with the score file it came from (averages: the files averaged)."""
    import pandas as pd

    groups: dict[str, list] = {}
    for c in cells:
        task, suffix, testset, pair = split_label(c.testset, c.metric)
        if c.metric in TASK_METRICS[task]:
            groups.setdefault(task, []).append((c.variant + suffix, testset, pair, c))
    out = {}
    for task, items in groups.items():
        def ordered(values, order):
            first = list(dict.fromkeys(values))
            return [v for v in order if v in first] + [v for v in first if v not in order]

        bases = [v for v in ordered([c.variant for *_, c in items], variant_order)]
        rows = sorted(dict.fromkeys(r for r, *_ in items),
                      key=lambda r: (bases.index(r.split(" (")[0]) if r.split(" (")[0] in bases
                                     else len(bases), r))
        testsets = ordered([t for _, t, _, _ in items], testset_order)
        metrics = [m for m in TASK_METRICS[task] if any(c.metric == m for *_, c in items)]
        cols, trace = [], []
        values: dict[tuple, float] = {}
        files: dict[tuple, list[str]] = {}
        for row, t, pair, c in items:
            col = f"{t} {pair}" if pair else t
            key = (row, col, METRICS[c.metric][0])
            if key in values:
                raise ValueError(f"two scores for {row} / {col} / {c.metric}: {files[key][0]} and {c.file}")
            values[key] = c.value * METRICS[c.metric][2]
            files[key] = [c.file]
        avg_over: dict[str, list[str]] = {}
        for t in testsets:
            pairs = sorted({p for _, tt, p, _ in items if tt == t and p})
            if pairs:
                cols += [f"{t} {p}" for p in pairs]
                if len(pairs) > 1:
                    cols.append(f"{t} avg")
                    avg_over[f"{t} avg"] = [f"{t} {p}" for p in pairs]
            else:
                cols.append(t)
        if task == "asr" and len(cols) > 1:
            avg_over["avg"] = list(cols)
            cols.append("avg")
        for col, parts in avg_over.items():
            for row in rows:
                for m in metrics:
                    label = METRICS[m][0]
                    got = [values.get((row, p, label)) for p in parts]
                    if all(v is not None for v in got):  # a partial average would mislead
                        values[(row, col, label)] = sum(got) / len(got)
                        files[(row, col, label)] = [f for p in parts for f in files[(row, p, label)]]
        mcols = [(col, METRICS[m][0]) for col in cols for m in metrics
                 if any((r, col, METRICS[m][0]) in values for r in rows)]
        df = pd.DataFrame(index=pd.Index(rows, name="model"),
                          columns=pd.MultiIndex.from_tuples(mcols, names=["testset", "metric"]),
                          dtype=float)
        for (row, col, label), v in values.items():
            if (col, label) in df.columns:
                df.loc[row, (col, label)] = v
        for (row, col, label), fs in sorted(files.items()):
            trace.append({"model": row, "column": col, "metric": label,
                          "value": values[(row, col, label)], "files": " ".join(fs)})
        out[task] = (df, trace)
    return out


def realization_of(path: str) -> str:
    """``OUT/Score/<realization>/scores.json`` → ``Score/<realization>`` (the cell's origin)."""
    p = Path(path)
    return f"{p.parent.parent.name}/{p.parent.name}"


def write_task_tables(cells: Sequence[Score], out_dir: str | os.PathLike,
                      variant_order: Sequence[str] = (), testset_order: Sequence[str] = ()) -> list[Path]:
    """``<task>.md``, ``<task>.csv``, ``<task>.png`` and ``<task>_cells.csv`` (cell → score file,
    Score realization) for each task present; returns the files written."""
    import csv as csvlib

    from spire.io import atomic_path, write_text

    out = Path(out_dir)
    written = []
    for task, (df, trace) in task_tables(cells, variant_order, testset_order).items():
        used = [c for c in cells if split_label(c.testset, c.metric)[0] == task]
        md = f"## {TASK_TITLES[task]}\n\n" + to_markdown(df, used) + (
            f"\nEvery cell's score file and Score realization: `{task}_cells.csv`.\n")
        write_text(out / f"{task}.md", md)
        with atomic_path(out / f"{task}.csv") as tmp:
            to_csv_frame(df).to_csv(tmp, float_format="%.4f")
        with atomic_path(out / f"{task}.png") as tmp:
            plot(df, tmp)
        with atomic_path(out / f"{task}_cells.csv") as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csvlib.writer(f)
                w.writerow(["model", "column", "metric", "value", "realizations", "files"])
                for t in trace:
                    w.writerow([t["model"], t["column"], t["metric"], f"{t['value']:.4f}",
                                " ".join(realization_of(x) for x in t["files"].split()), t["files"]])
        written += [out / f"{task}{s}" for s in (".md", ".csv", ".png", "_cells.csv")]
    return written
