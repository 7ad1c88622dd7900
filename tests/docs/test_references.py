"""Everything the repository refers to is in the repository (issue 15).

Docs, configs, tapes, task `--help` texts and docstrings cite the paper's facts, the design, the
miniature and the environment. Those files are docs/paper.md, docs/design.md, docs/miniature.md and
docs/environment.md; a reference to a file a clone does not have (the maintainers' `shared/`
notes, a bare `spire.md`) is a dead end for a reader, and `docs/paper.md §N` must name a section
that exists.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# where a reader meets references: the README and everything it points to, and what ships
SCANNED = ["README.md", "CONTRIBUTING.md", "Makefile", "requirements.txt", "requirements-test.txt",
           "requirements-fairseq.txt", "pyproject.toml", "configs", "tasks", "spire", "workflows",
           "docs", "ducttape", "bench", "bin", "tests"]
SKIP_DIRS = {"out", ".resume", "__pycache__", ".venv"}
HERE = Path(__file__).resolve()
DOC_NAMES = {"spire.md", "paper.md", "design.md", "DESIGN.md", "miniature.md", "environment.md",
             "ENVIRONMENT.md", "ducttape.md", "README.md", "CONTRIBUTING.md", "install.md",
             "cluster.md", "evaluation.md", "variants.md", "development.md", "resources.md",
             "measurements.md"}
MD_REF = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md\b")
SHARED = re.compile(r"(?<![\w-])shared/\S*")
SECTION = re.compile(r"docs/paper\.md\s*((?:§\s*\d+\s*(?:[-–,]\s*|and\s+)?)+)")


def scanned_files():
    for name in SCANNED:
        p = REPO / name
        if p.is_file():
            yield p
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f != HERE and not SKIP_DIRS & set(f.relative_to(REPO).parts) \
                        and f.suffix not in (".pyc", ".png", ".joblib", ".bin"):
                    yield f


def read(f: Path) -> str:
    try:
        return f.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def resolves(ref: str, f: Path) -> bool:
    ref = ref.lstrip("./") if ref.startswith("./") else ref
    return (REPO / ref).exists() or (f.parent / ref).exists()


def test_every_doc_reference_resolves_inside_the_clone():
    dead = []
    for f in scanned_files():
        for n, line in enumerate(read(f).splitlines(), 1):
            for m in MD_REF.finditer(line):
                ref = m.group(0)
                if Path(ref).name in DOC_NAMES and not resolves(ref, f):
                    dead.append(f"{f.relative_to(REPO)}:{n}: {ref}")
            for m in SHARED.finditer(line):
                if not resolves(m.group(0).rstrip(").,;:'\"`"), f):
                    dead.append(f"{f.relative_to(REPO)}:{n}: {m.group(0)}")
    assert not dead, "references to files a clone does not have:\n" + "\n".join(dead)


def paper_sections() -> set[int]:
    text = (REPO / "docs" / "paper.md").read_text()
    return {int(m) for m in re.findall(r"^## (\d+)\. ", text, flags=re.M)}


def test_paper_sections_match_the_numbers_the_code_cites():
    sections = paper_sections()
    assert sections == {1, 2, 3, 4, 5, 6}
    cited, bad = set(), []
    for f in scanned_files():
        for n, line in enumerate(read(f).splitlines(), 1):
            for m in SECTION.finditer(line):
                for num in map(int, re.findall(r"\d+", m.group(1))):
                    cited.add(num)
                    if num not in sections:
                        bad.append(f"{f.relative_to(REPO)}:{n}: §{num}")
    assert not bad, "docs/paper.md has no such section:\n" + "\n".join(bad)
    assert cited == sections  # every section is cited somewhere: none is dead weight


@pytest.mark.parametrize("doc,words", [
    ("docs/paper.md", ["layer 22", "5000 clusters", "chr(0xF0000 + i)", "37056", "LR 7e-6",
                       "SpireNoPseudo", "flores200"]),
    ("docs/design.md", ["workflows → tasks → spire", "packed corpus", "MIRROR/datasets",
                        "Runtime rules", "audio dataset config"]),
    ("docs/miniature.md", ["50.7%", "One BLAS/torch thread per process", "Pitfalls", "64 clusters"]),
    ("docs/cluster.md", ["uservars.tconf", "cpt_gpus_per_node", "slurm_max_time", "make gpu-smoke"]),
    ("docs/install.md", ["download.pytorch.org/whl/cu128", "make gpu-env", "decode_python"]),
    ("docs/environment.md", ["torch==2.13.0", "COMET offline", "fairseq-fixed==0.12.3.1"]),
])
def test_docs_hold_what_the_references_point_at(doc, words):
    """The anchors the code cites by name ("docs/design.md runtime rules", "docs/environment.md
    'COMET offline'", "docs/miniature.md pitfalls") exist in the doc they name."""
    text = (REPO / doc).read_text()
    missing = [w for w in words if w not in text]
    assert not missing, f"{doc} lacks {missing}"


# `docs/miniature.md, "Ninth look"`: a named section of the miniature's record
NAMED = re.compile(r'docs/miniature\.md[,;:]?\s*\(?"([A-Z][^"]*)"')


def test_named_miniature_sections_the_code_cites_exist():
    """Code and configs cite the miniature's measurements by name ("Ninth look"): the name is
    listed in docs/miniature.md, and its section is in docs/history/miniature.md (issue 33 moved
    the dated looks there)."""
    def flat(text: str) -> str:  # a name may be wrapped over two lines of a comment
        return " ".join(text.replace("#", " ").split())

    reference = flat((REPO / "docs" / "miniature.md").read_text())
    history = flat((REPO / "docs" / "history" / "miniature.md").read_text())
    cited = {flat(m.group(1)) for f in scanned_files() for m in NAMED.finditer(read(f))}
    assert {"Ninth look", "Twelfth look"} <= cited
    lost = [n for n in sorted(cited) if n not in reference or
            (n.endswith("look") and f"**{n} " not in history)]
    assert not lost, f"cited by name but not found in docs/miniature.md or its history: {lost}"


def test_licence_and_citation_files():
    """LICENSE says what pyproject.toml says (MIT); CITATION.cff is valid YAML that cites the kit
    and, as preferred citation, the paper docs/paper.md is about."""
    import tomllib

    import yaml

    licence = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert licence == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == licence and cff["type"] == "software"
    paper = cff["preferred-citation"]
    assert paper["title"] in " ".join((REPO / "docs" / "paper.md").read_text().split())
    assert paper["authors"][0]["family-names"] == "Ambilduke" and len(paper["authors"]) == 8
    assert {"title", "authors", "year", "collection-title"} <= set(paper)
