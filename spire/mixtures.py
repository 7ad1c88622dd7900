"""Instruction-tuning mixtures: one IT corpus per ablation variant from the same components.

A mixture config (``configs/it/*.yaml``) names the components (IT JSONL files built by
``build_it_data`` / ``pseudo_label``), the group each belongs to, how much of it to take, and
which variants include it::

    seed: 42
    variants:
      full:      {description: SpireFull / TowerFull}
      no_blocks: {description: SpireNoBlocks, exclude_groups: [blocks]}
      no_pseudo: {description: SpireNoPseudo, exclude_groups: [pseudo]}
    components:
      asr:
        group: speech            # speech | pseudo | blocks
        path: null               # a file or list of files (relative to this YAML); --input
                                 # asr=PATH (repeatable: files are concatenated) overrides it
        weight: 1.0              # copies of the component: 0.5 = a seeded half, 2 = twice
        max_examples: null       # cap after weighting
        variants: [full, no_blocks, no_pseudo]

Selection from a component depends only on (seed, component name), never on the variant, so a
component contributes exactly the same examples to every variant that includes it: ``full`` is
then the union of ``no_blocks`` and ``no_pseudo`` and the ablations differ by one ingredient only.
The mixed corpus is shuffled with the seed. Its rows have a fixed set of fields (see
:func:`mixture_row`): ``messages``, ``task``, ``source``, ``lang``, ``pseudo``, ``score``,
``line``, ``blocks_task``, and the ``component`` and ``group`` they came from.

Rows are checked against their group (a wiring mistake in a tape must not silently turn an
ablation into something else): ``speech`` rows are speech tasks without ``pseudo``, ``pseudo``
rows are speech tasks marked ``pseudo``, ``blocks`` rows are text tasks (``mt``, ``blocks``).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Iterable

import yaml

from spire.it_data import read_it_rows
from spire.units import is_unit_char

GROUPS = ("speech", "pseudo", "blocks")
SPEECH_TASKS = ("asr", "st", "st_multiturn")
TEXT_TASKS = ("mt", "blocks")
_COMPONENT_KEYS = {"group", "path", "weight", "max_examples", "variants", "description", "datasets",
                   "dataset",
                   "languages", "hours", "note"}
_VARIANT_KEYS = {"description", "exclude_groups"}


# --------------------------------------------------------------------------- config

def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """1-based YAML line of each ``variants``/``components`` entry, for errors that name a line."""
    lines: dict[tuple[str, str], int] = {}
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value in ("variants", "components") and isinstance(value, yaml.MappingNode):
            for k, _ in value.value:
                lines[(key.value, k.value)] = k.start_mark.line + 1
    return lines


def load_mixture_config(path: str | Path) -> dict:
    """Read and check a mixture YAML; errors name the file and the line of the bad entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mixture config")
    text = path.read_text(encoding="utf-8")
    try:
        cfg = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {e}") from None

    def where(section: str, name: str) -> str:
        return f"{path}:{lines.get((section, name), '?')}"

    if not isinstance(cfg, dict) or not isinstance(cfg.get("components"), dict) \
            or not isinstance(cfg.get("variants"), dict):
        raise ValueError(f"{path}: expected mappings 'variants' and 'components' (see spire/mixtures.py)")
    if not cfg["components"]:
        raise ValueError(f"{path}: no components")
    variants = {}
    for name, spec in cfg["variants"].items():
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - _VARIANT_KEYS:
            raise ValueError(f"{where('variants', name)}: variant {name!r}: allowed keys "
                             f"{sorted(_VARIANT_KEYS)}")
        bad = set(spec.get("exclude_groups") or []) - set(GROUPS)
        if bad:
            raise ValueError(f"{where('variants', name)}: variant {name!r}: unknown group(s) "
                             f"{sorted(bad)}; groups are {GROUPS}")
        variants[name] = {"description": spec.get("description", ""),
                          "exclude_groups": list(spec.get("exclude_groups") or []),
                          "line": lines.get(("variants", name))}
    components = {}
    for name, spec in cfg["components"].items():
        w = where("components", name)
        if not isinstance(spec, dict):
            raise ValueError(f"{w}: component {name!r} must be a mapping")
        unknown = set(spec) - _COMPONENT_KEYS
        if unknown:
            raise ValueError(f"{w}: component {name!r}: unknown key(s) {sorted(unknown)}; allowed "
                             f"{sorted(_COMPONENT_KEYS)}")
        if spec.get("group") not in GROUPS:
            raise ValueError(f"{w}: component {name!r}: group must be one of {GROUPS}")
        weight = spec.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise ValueError(f"{w}: component {name!r}: weight must be a positive number")
        max_ex = spec.get("max_examples")
        if max_ex is not None and (not isinstance(max_ex, int) or max_ex < 1):
            raise ValueError(f"{w}: component {name!r}: max_examples must be a positive integer or null")
        in_variants = spec.get("variants") or []
        for v in in_variants:
            if v not in variants:
                raise ValueError(f"{w}: component {name!r}: unknown variant {v!r}; variants are "
                                 f"{sorted(variants)}")
            if spec["group"] in variants[v]["exclude_groups"]:
                raise ValueError(f"{w}: component {name!r} (group {spec['group']}) is listed in "
                                 f"variant {v!r}, which excludes group {spec['group']!r}")
        paths = spec.get("path")
        paths = [] if paths is None else [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"{w}: component {name!r}: path must be a file, a list of files or null")
        components[name] = {
            "group": spec["group"], "weight": float(weight), "max_examples": max_ex,
            "variants": list(in_variants),
            "paths": [p if Path(p).is_absolute() else str(path.parent / p) for p in paths],
            "line": lines.get(("components", name)),
        }
    return {"path": str(path), "seed": int(cfg.get("seed", 42)), "variants": variants,
            "components": components}


# --------------------------------------------------------------------------- selection

# --------------------------------------------------------------------------- sizes (Table 2)

def counted_hours(audio_hours: float, languages: int) -> float:
    """Hours as Table 2 of the paper counts them: utterance × target language. FLEURS shows it:
    en_us train holds about 10 h of audio, read into 9 languages, and Table 2 says 0.09K h. ASR
    (``languages`` 0) counts the audio once."""
    return audio_hours * max(1, languages)


def audio_hours_for(table_hours: float, languages: int) -> float:
    """The English audio to keep so that ``languages`` translations of it make ``table_hours``
    (the inverse of :func:`counted_hours`): the ``max_hours`` of that dataset's config."""
    return table_hours / max(1, languages)


def dataset_size_problems(mixture: str | Path, configs_dir: str | Path) -> list[str]:
    """Where a mixture's stated sizes and its dataset configs' caps disagree.

    Each ``datasets`` entry of a component that states ``hours`` (Table 2's figure) names the
    dataset configs it is built from in ``configs`` (paths under ``configs_dir``) or says why it
    is taken whole in ``uncapped``. A config's languages are its own ``tgt_lang`` if it has one,
    else the entry's ``languages`` (none for ASR); the configs' ``max_hours`` counted with
    :func:`counted_hours` must add up to ``hours`` (within 1%). Returns readable problems, one per
    entry, naming the mixture file, the entry and what to fix."""
    mixture, configs_dir = Path(mixture), Path(configs_dir)
    raw = yaml.safe_load(mixture.read_text(encoding="utf-8"))
    problems = []
    for name, comp in raw["components"].items():
        for entry in comp.get("datasets") or []:
            if entry.get("hours") is None:
                continue
            where = f"{mixture}: component {name!r}, dataset {entry.get('source')!r}"
            if entry.get("uncapped"):
                continue
            if not entry.get("configs"):
                problems.append(f"{where}: states hours {entry['hours']} but names no `configs` "
                                "(their max_hours make that size) and no `uncapped` reason")
                continue
            total, parts = 0.0, []
            for rel in entry["configs"]:
                f = configs_dir / rel
                if not f.is_file():
                    problems.append(f"{where}: config {f} does not exist")
                    break
                meta = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
                langs = [meta["tgt_lang"]] if meta.get("tgt_lang") else list(entry.get("languages") or [])
                if meta.get("max_hours") is None:
                    problems.append(f"{where}: {f} has no max_hours, so the whole corpus is taken; "
                                    f"set max_hours: {audio_hours_for(entry['hours'] / len(entry['configs']), len(langs)):g}"
                                    " there (Table 2 counts utterance x language)")
                    break
                total += counted_hours(float(meta["max_hours"]), len(langs))
                parts.append(f"{rel}: {meta['max_hours']} h x {max(1, len(langs))}")
            else:
                if abs(total - entry["hours"]) > 0.01 * entry["hours"]:
                    problems.append(f"{where}: the configs' caps make {total:g} h utterance x language "
                                    f"({'; '.join(parts)}) but the entry states {entry['hours']} h")
    return problems


def check_group(row: dict, group: str, where: str) -> None:
    task = row.get("task")
    pseudo = bool(row.get("pseudo"))
    if group == "blocks":
        ok = task in TEXT_TASKS
        need = f"a text task {TEXT_TASKS}"
    elif group == "pseudo":
        ok = task in SPEECH_TASKS and pseudo
        need = f"a speech task {SPEECH_TASKS} marked \"pseudo\": true"
    else:
        ok = task in SPEECH_TASKS and not pseudo
        need = f"a speech task {SPEECH_TASKS} not marked pseudo"
    if not ok:
        raise ValueError(f"{where}: row (task={task!r}, pseudo={pseudo}) does not belong in a "
                         f"{group!r} component, which takes {need}; is the right file wired here?")


def mixture_row(row: dict, component: str, group: str) -> dict:
    """The row with exactly the mixture's fields and types.

    Component files may carry any extra metadata (TowerBlocks' columns, ids of either type...);
    a JSON loader such as ``datasets``' infers one schema for the whole file and fails on a field
    whose type changes between rows, so the mixture keeps a fixed set of fields.
    """
    score = row.get("score")
    line = row.get("line")
    return {
        "messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]],
        "task": str(row.get("task")),
        "source": str(row.get("source", "")),
        "lang": str(row.get("lang", "")),
        "pseudo": bool(row.get("pseudo", False)),
        "score": float(score) if isinstance(score, (int, float)) else None,
        "line": int(line) if isinstance(line, int) else None,
        "blocks_task": str(row["blocks_task"]) if row.get("blocks_task") is not None else None,
        "component": component,
        "group": group,
    }


def select_indices(n: int, weight: float, max_examples: int | None, rng: random.Random) -> list[int]:
    """Indices of a component's rows: ``floor(weight)`` full copies plus a seeded sample for the
    fraction, capped at ``max_examples`` (a seeded sample of the weighted list)."""
    target = int(round(weight * n))
    copies, rest = divmod(target, n)
    idx = list(range(n)) * copies + sorted(rng.sample(range(n), rest))
    if max_examples is not None and len(idx) > max_examples:
        idx = sorted(rng.sample(idx, max_examples))
    return idx


def build_mixture(config: dict, variant: str, inputs: dict[str, list[str]] | None = None
                  ) -> tuple[list[dict], dict]:
    """Rows of one variant (shuffled) and the per-component selection info.

    ``inputs``: component name → files (concatenated in order), replacing the config's paths.
    """
    if variant not in config["variants"]:
        raise ValueError(f"{config['path']}: no variant {variant!r}; variants are "
                         f"{sorted(config['variants'])}")
    inputs = dict(inputs or {})
    unknown = set(inputs) - set(config["components"])
    if unknown:
        raise ValueError(f"--input for unknown component(s) {sorted(unknown)}; {config['path']} "
                         f"defines {sorted(config['components'])}")
    chosen = [name for name, c in config["components"].items() if variant in c["variants"]]
    vline = config["variants"][variant]["line"]
    if not chosen:
        raise ValueError(f"{config['path']}:{vline or '?'}: variant {variant!r} includes no "
                         "component: the mixture would be empty")
    rows: list[dict] = []
    info: dict[str, dict] = {}
    for name in chosen:
        comp = config["components"][name]
        paths = [str(p) for p in inputs.get(name) or comp["paths"]]
        if not paths:
            raise ValueError(f"{config['path']}:{comp['line'] or '?'}: component {name!r} has no "
                             f"path; give --input {name}=PATH")
        comp_rows = []
        for path in paths:
            n_before = len(comp_rows)
            for where, row in read_it_rows(path):
                check_group(row, comp["group"], where)
                comp_rows.append(row)
            if len(comp_rows) == n_before:
                raise ValueError(f"{path}:1: component {name!r}: file has no conversations; an "
                                 "empty input would silently change the ablation")
        rng = random.Random(f"mixture:{config['seed']}:{name}")
        idx = select_indices(len(comp_rows), comp["weight"], comp["max_examples"], rng)
        rows.extend(mixture_row(comp_rows[i], name, comp["group"]) for i in idx)
        info[name] = {"paths": paths, "group": comp["group"], "weight": comp["weight"],
                      "max_examples": comp["max_examples"], "available": len(comp_rows)}
    if not rows:
        raise ValueError(f"{config['path']}:{vline or '?'}: variant {variant!r} selected no "
                         "examples (every weight rounds to zero)")
    random.Random(f"mixture-shuffle:{config['seed']}").shuffle(rows)
    return rows, info


# --------------------------------------------------------------------------- statistics

def approx_token_count(text: str) -> int:
    """Whitespace words, with each unit character counted as one token (units are one token
    each after the vocabulary extension; a unit run has no spaces)."""
    units = sum(1 for c in text if is_unit_char(c))
    if not units:
        return len(text.split())
    return units + len("".join(" " if is_unit_char(c) else c for c in text).split())


def tokenizer_counter(tokenizer_dir: str) -> tuple[Callable[[list[dict]], int], str]:
    """Token count of a conversation as the trainer sees it: the tokenizer's chat template when
    it has one (ChatML markup included), else the sum of the message contents' tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tok.chat_template:
        # return_dict=False: transformers 5 returns a dict here by default (4.57 a list)
        return (lambda msgs: len(tok.apply_chat_template(msgs, tokenize=True, return_dict=False)),
                f"tokenizer {tokenizer_dir}: chat template, markup included")
    return (lambda msgs: sum(len(tok(m["content"], add_special_tokens=False)["input_ids"])
                             for m in msgs),
            f"tokenizer {tokenizer_dir}: message contents, no chat markup")


def mixture_stats(rows: Iterable[dict], info: dict, count: Callable[[list[dict]], int] | None = None,
                  method: str | None = None) -> dict:
    if count is None:
        count = lambda msgs: sum(approx_token_count(m["content"]) for m in msgs)  # noqa: E731
        method = "approx: whitespace words + one per unit character (message contents)"
    zero = lambda: {"examples": 0, "tokens": 0}  # noqa: E731
    total, tasks, groups, sources = zero(), {}, {}, {}
    comps = {name: {**meta, **zero(), "by_task": {}, "by_source": {}} for name, meta in info.items()}
    for row in rows:
        n = count(row["messages"])
        comp = comps[row["component"]]
        source = str(row.get("source", ""))
        for bucket in (total, tasks.setdefault(row["task"], zero()),
                       groups.setdefault(row["group"], zero()), sources.setdefault(source, zero()),
                       comp, comp["by_task"].setdefault(row["task"], zero()),
                       comp["by_source"].setdefault(source, zero())):
            bucket["examples"] += 1
            bucket["tokens"] += n
    return {"token_count": method, "total": total, "tasks": tasks, "groups": groups,
            "sources": sources, "components": comps}
