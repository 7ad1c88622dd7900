"""The workflow tapes plan as documented, without running anything (fast).

main.tape (the miniature) and paper.tape (paper scale, with a filled-in uservars.tconf) are
copied into a temporary directory so that their output directories and the user's own
configs/uservars.tconf are never touched.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path):
    """A copy of workflows/ and configs/ (no outputs, no user config)."""
    shutil.copytree(REPO / "workflows", tmp_path / "workflows",
                    ignore=shutil.ignore_patterns("out", ".resume"))
    shutil.copytree(REPO / "configs", tmp_path / "configs",
                    ignore=shutil.ignore_patterns("uservars.tconf"))
    return tmp_path


def ducttape(tape: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ducttape", str(tape), *args], cwd=tape.parent,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"ducttape {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def listed(tape: Path, plan: str) -> list[tuple[str, str]]:
    out = ducttape(tape, "-p", plan, "list").stdout
    return [tuple(line.split()) for line in out.splitlines()
            if re.fullmatch(r"[A-Z]\w* \S+", line.strip())]


def test_main_plans_select_the_documented_realizations(tree):
    tape = tree / "workflows" / "main.tape"
    train = listed(tape, "train")
    assert ("TrainIT", "Baseline.baseline") in train and ("TrainCPT", "Baseline.baseline") in train
    assert not any(t == "Score" for t, _ in train)
    ablations = {r for t, r in listed(tape, "ablations") if t == "TrainIT"}
    assert ablations == {"ITMix.no_blocks", "ITMix.no_pseudo", "Base.tower"}
    evals = listed(tape, "eval")
    scores = [r for t, r in evals if t == "Score"]
    # 6 model variants x (ASR + direct ST, self-cascaded ST and MT into each of 2 toy languages)
    assert len(scores) == len(set(scores)) == 6 * (1 + 3 * 2)
    counts = Counter(t for t, _ in evals)
    assert counts["TrainIT"] == 4 and counts["CascadeST"] == 6 * 2 and counts["Decode"] == 6 * 5
    assert sum("STMode.cascade" in r for r in scores) == 12
    assert all("EvalTask.st" in r or "EvalTask" not in r for r in scores if "STMode.cascade" in r)
    for plan, task in (("kmeans", "TrainKMeans"), ("labelize", "LabelSpeech"), ("cpt", "TrainCPT"),
                       ("it_data", "BuildITMixture"), ("hubert", "LabelSpeech")):
        assert any(t == task for t, _ in listed(tape, plan)), plan
    assert {r for t, r in listed(tape, "hubert") if t == "TrainKMeans"} == {"Encoder.hubert"}


def test_main_dry_run_changes_nothing(tree):
    tape = tree / "workflows" / "main.tape"
    log = ducttape(tape, "-p", "train", "--dry-run").stderr
    assert "RUN: " in log and "Dry run:" in log
    assert not (tree / "workflows" / "out").exists()


def test_every_cluster_task_defines_the_slurm_submitters_parameters(tree):
    """With submitter=slurm (the tape-defined one, as ducttape 0.3 needs) the miniature plans too."""
    conf = tree / "configs" / "mini.tconf"
    text, n = re.subn(r"^(\s*)submitter=shell$", r"\1submitter=slurm", conf.read_text(), flags=re.M)
    assert n == 1
    conf.write_text(text.replace('cpt_gpus_per_node=0', 'cpt_gpus_per_node=4'))
    log = ducttape(tree / "workflows" / "main.tape", "-p", "eval", "--dry-run").stderr
    assert re.search(r"TrainCPT/.*\n\s+via slurm: nodes=1 gpus=4", log), log


def test_slurm_submitter_missing_dot_parameter_is_an_error_naming_the_task(tree):
    conf = tree / "configs" / "mini.tconf"
    conf.write_text(re.sub(r"^(\s*)submitter=shell$", r"\1submitter=slurm", conf.read_text(), flags=re.M))
    tape = tree / "workflows" / "eval.tape"
    tape.write_text(tape.read_text().replace(":: .nodes=1 .gpus=$decode_gpus", ":: .gpus=$decode_gpus"))
    proc = ducttape(tree / "workflows" / "main.tape", "-p", "eval", "--dry-run", check=False)
    assert proc.returncode != 0
    assert "Dot parameter 'nodes' required by submitter 'slurm' not defined by task 'Decode'" in proc.stderr
    assert "eval.tape" in proc.stderr


def paper_uservars(tree: Path) -> None:
    """configs/uservars.tconf from the template, every user path pointing at an existing place."""
    data = tree / "user"
    text = (tree / "configs" / "uservars.tconf.TEMPLATE").read_text()
    for path in sorted(set(re.findall(r"/path/to/\S+", text))):
        target = data / path[len("/path/to/"):]
        if path.startswith("/path/to/refs/"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("a reference\n")
        else:
            target.mkdir(parents=True, exist_ok=True)
        text = text.replace(path, str(target))
    (tree / "configs" / "uservars.tconf").write_text(text)


def test_paper_scale_train_plan_shows_every_task_and_its_slurm_resources(tree):
    tape = tree / "workflows" / "paper.tape"
    proc = ducttape(tape, "-p", "train", "list", check=False)
    assert proc.returncode != 0 and "uservars.tconf" in proc.stderr  # not filled in yet
    paper_uservars(tree)
    tasks = {t for t, _ in listed(tape, "train")}
    assert {"FetchHubModel", "TrainKMeans", "LabelSpeech", "ExtendTokenizer", "ExtendModel",
            "BuildCPTData", "TrainCPT", "PseudoLabel", "BuildITMixture", "TrainIT"} <= tasks
    assert not tasks & {"SynthMiniSpeech", "TrainMiniBase"}  # no miniature world at paper scale
    out = ducttape(tape, "-p", "train", "--dry-run").stderr
    # GPUs per node: CPT on 2 nodes x 8, IT on one node of 4 (the authors' IT setup)
    assert re.search(r"TrainCPT/.*\n\s+via slurm: nodes=2 gpus=8 cpus=64 mem=480G time=14-00:00:00",
                     out), out
    assert re.search(r"TrainIT/.*\n\s+via slurm: nodes=1 gpus=4 ", out), out
    assert re.search(r"PackCPT/.*\n\s+via slurm: nodes=1 cpus=32 mem=64G", out), out
    assert re.search(r"TrainKMeans/.*\n\s+via slurm: nodes=1 gpus=1 ", out)
    assert not any((tree / "user").rglob("out"))
    evals = [r for t, r in listed(tape, "eval") if t == "Score"]
    assert len(evals) == len(set(evals)) and len(evals) >= 6 * 3


def test_tapes_use_no_engine_only_submitter(tree):
    """Ducttape 0.3 has no builtin `slurm`: any tape that may select it must define it."""
    for name in ("main.tape", "paper.tape"):
        text = (tree / "workflows" / name).read_text()
        assert 'import "slurm.tape"' in text, name
    assert re.search(r"^submitter slurm ::", (tree / "workflows" / "slurm.tape").read_text(), re.M)
