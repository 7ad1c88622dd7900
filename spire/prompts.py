"""Prompt templates (``configs/prompts/*.json``): loading and rendering with clear errors.

One JSON file holds every format of docs/paper.md §3–§4 so that continued pre-training, instruction
data and evaluation prompts cannot drift apart.
"""
from __future__ import annotations

import string
from pathlib import Path

from spire.io import read_json

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "configs" / "prompts" / "spire.json"


class Templates(dict):
    """Name -> template, remembering the file they came from (named in rendering errors)."""
    path: Path | None = None


class TemplateError(KeyError, ValueError):
    """A missing template or field; ``str`` is the message itself (not KeyError's repr)."""

    def __str__(self) -> str:
        return str(self.args[0])


def load_templates(path: str | Path | None = None) -> dict[str, str]:
    path = Path(path) if path else DEFAULT_TEMPLATES
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of name -> template")
    out = Templates({k: v for k, v in data.items() if not k.startswith("_")})
    out.path = path
    return out


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(templates: dict[str, str], name: str, **fields: str) -> str:
    """Fill template ``name``; a missing template or field is an error naming both."""
    where = f"{templates.path}: " if getattr(templates, "path", None) else ""
    if name not in templates:
        raise TemplateError(f"{where}no prompt template {name!r}; available: {', '.join(sorted(templates))}")
    template = templates[name]
    missing = template_fields(template) - fields.keys()
    if missing:
        raise TemplateError(f"{where}prompt template {name!r} needs field(s) {sorted(missing)}, which "
                            f"it is never given; the fields it can use are {sorted(fields)}: fix the template")
    return template.format(**fields)


def fewshot_separator(templates: dict[str, str]) -> str:
    """What joins the examples of a few-shot prompt (and of a few-shot-shaped CPT document), so
    that the two cannot drift apart; a blank line when the templates do not say."""
    return templates.get("fewshot_separator", "\n\n")


def prompt_token_ids(tokenizer, prompt: str, chat: bool) -> list[int]:
    """The token ids of a decoding prompt, tokenised exactly as training tokenised the same text.

    * ``chat``: ``prompt`` is a rendered chat template (ending in the generation prompt). The IT
      rows (:func:`spire.packing.tokenize_conversations`, :mod:`spire.packed`) come from
      ``apply_chat_template(tokenize=True)``, which tokenises the rendered text with
      ``add_special_tokens=False``: the template alone decides whether there is a BOS (Spire's
      ChatML template has none; a Gemma-style template writes ``{{ bos_token }}`` once).
    * plain text (base models, few-shot): a CPT document's prefix, which training tokenised as
      ``<s> text`` (:func:`spire.packing.tokenize_documents`): one BOS, then the text.

    Handing the text to vLLM or to ``tokenizer(text)`` instead adds a BOS of its own: a BOS
    the IT rows never had, and two where the template already writes one.
    """
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if chat or bos is None or (ids and ids[0] == bos):
        return list(ids)
    return [bos, *ids]
