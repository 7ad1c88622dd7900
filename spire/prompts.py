"""Prompt templates (``configs/prompts/*.json``): loading and rendering with clear errors.

One JSON file holds every format of docs/paper.md §3–§4 so that continued pre-training, instruction
data and evaluation prompts cannot drift apart.
"""
from __future__ import annotations

import string
from pathlib import Path

from spire.io import read_json

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "configs" / "prompts" / "spire.json"


def load_templates(path: str | Path | None = None) -> dict[str, str]:
    path = Path(path) if path else DEFAULT_TEMPLATES
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of name -> template")
    return {k: v for k, v in data.items() if not k.startswith("_")}


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(templates: dict[str, str], name: str, **fields: str) -> str:
    """Fill template ``name``; a missing template or field is an error naming both."""
    if name not in templates:
        raise KeyError(f"no prompt template {name!r}; available: {', '.join(sorted(templates))}")
    template = templates[name]
    missing = template_fields(template) - fields.keys()
    if missing:
        raise KeyError(f"prompt template {name!r} needs field(s) {sorted(missing)}")
    return template.format(**fields)


def fewshot_separator(templates: dict[str, str]) -> str:
    """What joins the examples of a few-shot prompt (and of a few-shot-shaped CPT document), so
    that the two cannot drift apart; a blank line when the templates do not say."""
    return templates.get("fewshot_separator", "\n\n")
