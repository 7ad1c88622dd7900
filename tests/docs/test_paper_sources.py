"""Every setting of the paper config names its source in docs/paper.md §6 (the paper, the
authors' code, or "our choice" with the reason): a new variable without a row fails here."""
from __future__ import annotations

import re
from pathlib import Path

from ducttape.syntax import parse_file

REPO = Path(__file__).resolve().parents[2]
PAPER_TCONF = REPO / "configs" / "paper.tconf"
USER_TEMPLATE = REPO / "configs" / "uservars.tconf.TEMPLATE"
# what a user sets for their machine (issue 33): in the untracked uservars.tconf, never in paper.tconf
USER_SETTINGS = {"ducttape_output", "mirror", "cpt_text_dir", "slurm_partition", "slurm_account",
                 "slurm_max_time", "cpt_gpus_per_node", "cpt_nodes", "it_gpus_per_node", "it_nodes",
                 "decode_python"}
# paths and account names: the user's own, no source to cite
USER_PATHS = {"ducttape_output", "mirror", "cpt_text_dir", "slurm_partition", "slurm_account"}
PAPER_MD = REPO / "docs/paper.md"
SECTION = "## 6. Where every paper-scale setting comes from"


def tconf_globals(path: Path) -> list[str]:
    """Names of the global block's variables, by the project's ducttape parser."""
    return [spec.name for block in parse_file(str(path)) if type(block).__name__ == "ConfigBlock"
            for spec in block.specs]


def documented_settings(text: str) -> set[str]:
    """The `names` in the first column of the tables of §6 (a cell may list several)."""
    if SECTION not in text:
        raise AssertionError(f"{PAPER_MD}: no section {SECTION!r}")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1]))
    return names


def missing_sources(variables: list[str], documented: set[str]) -> list[str]:
    return [v for v in variables if v not in documented]


def test_every_paper_tconf_setting_has_a_source_row():
    missing = missing_sources(tconf_globals(PAPER_TCONF), documented_settings(PAPER_MD.read_text("utf-8")))
    assert not missing, (
        f"{len(missing)} variable(s) of the global block of {PAPER_TCONF.relative_to(REPO)} have no "
        f"row in {PAPER_MD.relative_to(REPO)} §6: {', '.join(missing)}. Add a row per variable "
        "(| `name` | value | source |) naming the paper (section/table), the authors' code (SpireLM "
        "file) or \"our choice\" with the reason.")


def test_every_recipe_setting_of_the_user_template_has_a_source_row():
    """GPUs, nodes and the decoding interpreter moved to the user's file keep their §6 rows."""
    settings = [v for v in tconf_globals(USER_TEMPLATE) if v not in USER_PATHS]
    assert not missing_sources(settings, documented_settings(PAPER_MD.read_text("utf-8")))


def test_machine_settings_live_in_the_user_config_only():
    """A user on another cluster changes one untracked file: every machine setting is in the
    template, none is in the tracked paper.tconf (ducttape forbids defining a global twice)."""
    template, paper = set(tconf_globals(USER_TEMPLATE)), set(tconf_globals(PAPER_TCONF))
    assert USER_SETTINGS - template == set(), f"{USER_TEMPLATE.name} lacks {USER_SETTINGS - template}"
    assert USER_SETTINGS & paper == set(), f"{PAPER_TCONF.name} sets {USER_SETTINGS & paper}"


def test_the_check_names_a_new_variable(tmp_path):
    tconf = tmp_path / "x.tconf"
    tconf.write_text("global {\n  it_lr=7e-6\n  slurm_max_time=\"2-00:00:00\"\n  speech=(S: a=1 b=2)\n}\n")
    doc = f"# x\n{SECTION}\n| setting | value | source |\n|---|---|---|\n| `it_lr`, `speech` | 7e-6 | our choice |\n"
    assert missing_sources(tconf_globals(tconf), documented_settings(doc)) == ["slurm_max_time"]


def test_no_setting_claims_the_authors_without_a_source():
    """No row calls a value the authors' without a file of their code or the paper to back it."""
    section = PAPER_MD.read_text("utf-8").split(SECTION, 1)[1]
    for line in section.splitlines():
        if line.startswith("| `") and re.search(r"\bauthors'", line.split("|")[3]):
            assert "SpireLM" in line or "paper" in line, line
