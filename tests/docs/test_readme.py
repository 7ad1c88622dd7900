"""The README and the docs work as written, typed into a plain shell (issues 15, 33).

Every ```bash block of README.md, then of each doc in DOCS, runs, in order, in a fresh `bash` whose PATH has no `.venv` (a
new terminal), from the root of a copy of the repository (so nothing of the real tree is
touched), as a reader would type it: blocks made only of `make` commands run as they are; every
other block runs after the `source bin/activate` the README tells the reader to type once per
shell. What is not run, and why:

* `make demo`, `make demo-run`, `make demo-train`, `make demo-eval`: the miniature workflow, 20 minutes on 2 cores
  (tests/workflows/test_miniature_e2e.py runs the same tapes on a smoke config);
  `make test`, `make test-*`: the test suite itself; `make bench`: minutes of benchmarks;
  `make setup`: installs packages (network, minutes the first time) — this test runs in the
  environment it made.
* A workflow run typed by hand, `ducttape main.tape ... -y`, runs as `--dry-run` instead: the same
  command, tape, config and plan, checked and planned, but not its minutes of work.
* The paper-scale block (`paper.tape`): it needs a filled-in configs/uservars.tconf, a Slurm
  cluster and the network; tests/workflows/test_plans.py plans it with a filled-in user config.
* `git clone` (the network: this test runs in a copy of the clone) and `make venv`/`make gpu-env`
  (they install packages, like `make setup`).

`tasks/collect_results.py` needs scores, which the eval workflow would have written: one planted
score file stands in for them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"

SKIP_LINES = [  # (regex on a command line, why it is not run)
    (r"^make (demo|demo-run|demo-train|demo-eval)\b", "the miniature workflow: 20 minutes on 2 cores"),
    (r"^make (test|test-\w+)\b", "the test suite itself"),
    (r"^make bench\b", "minutes of benchmarks"),
    (r"^make (setup|venv|gpu-env)\b", "installs packages; this test runs in the environment it made"),
]
SKIP_BLOCKS = [
    (r"\bpaper\.tape\b", "paper scale: needs configs/uservars.tconf, Slurm and network"),
    # tests/spire/test_cli.py runs the same commands on a local model, encoder and k-means file
    (r"^spire (transcribe|translate)\b", "released checkpoints: need the hub or a filled mirror"),
    (r"huggingface-cli|\bhf auth\b", "a hub account, a token and the network"),
    (r"\$EDITOR\b", "an interactive editor (tests/workflows/test_plans.py fills a uservars.tconf)"),
    (r"^srun\b|pip (un)?install", "a GPU node of a Slurm cluster; replaces the environment's torch"),
    (r"^git clone\b", "the network; this test runs in a copy of the clone"),
]
# the docs whose commands run after the README's, each in order, in the same copy
DOCS = ["docs/install.md", "docs/miniature.md", "docs/variants.md", "docs/evaluation.md",
        "docs/cluster.md", "docs/development.md"]
ACTIVATE = "source bin/activate"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)


def commands(block: str) -> list[str]:
    """The block's command lines, with backslash continuations joined and a here-document
    (`cat >> FILE <<'EOF'` ... `EOF`) kept with its command."""
    out, cur, heredoc = [], "", None
    for line in block.splitlines():
        if heredoc is not None:
            out[-1] += "\n" + line
            if line.strip() == heredoc:
                heredoc = None
            continue
        cur += line
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
            m = re.search(r"<<-?\s*'?(\w+)'?\s*$", cur)
            heredoc = m.group(1) if m else None
        cur = ""
    return out


def as_typed(cmd: str) -> str | None:
    """The command to run for a README line, or None when it is skipped (see SKIP_LINES)."""
    if any(re.search(rx, cmd) for rx, _ in SKIP_LINES):
        return None
    code = cmd.split("#", 1)[0] if re.match(r"^ducttape ", cmd) else cmd
    if re.match(r"^ducttape \S+\.tape\b", code) and re.search(r"(^|\s)-y(\s|$)", code):
        return re.sub(r"(^|\s)-y(?=\s|$)", r"\1--dry-run", code).rstrip()
    return cmd


def plain_env() -> dict[str, str]:
    """A new terminal: no venv on PATH, no VIRTUAL_ENV; PYTHONPATH kept (it points the venv's
    editable install at this checkout)."""
    venvs = {str(VENV / "bin"), str(VENV.resolve() / "bin")}
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p and p not in venvs]
    env = {"PATH": os.pathsep.join(path), "HOME": os.environ.get("HOME", "/root"),
           "LANG": os.environ.get("LANG", "C.UTF-8"), "DUCTTAPE_NO_USER_CONFIG": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.fixture
def clone(tmp_path) -> Path:
    """The repository's files (tracked and new, as git sees them) in a temporary directory, with
    .venv linked to this checkout's, and one planted score file."""
    if not (VENV / "bin" / "python").exists():
        pytest.fail(f"no environment at {VENV}: run `make setup` first")
    git = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO,
                         capture_output=True)
    if git.returncode == 0:
        files = git.stdout.decode().split("\0")
    else:  # an unpacked archive, not a git checkout
        files = [str(f.relative_to(REPO)) for f in REPO.rglob("*")
                 if not {".venv", "out", ".git", "__pycache__"} & set(f.relative_to(REPO).parts)]
    root = tmp_path / "clone"
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / f)
    (root / ".venv").symlink_to(VENV.resolve())
    # a realization no plan has, so `invalidate` in the README finds nothing to ask about
    score = root / "workflows" / "out" / "Score" / "TestSet.readme" / "scores.json"
    score.parent.mkdir(parents=True)
    score.write_text(json.dumps({"variant": "SpireFull", "testset": "mini asr", "wer": 0.5}))
    return root


def run_block(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=plain_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def test_a_plain_shell_has_no_ducttape_until_the_readme_says_how(clone):
    """The premise: without the README's step, the commands it shows are not found."""
    r = run_block("command -v ducttape", clone)
    assert r.returncode != 0, f"ducttape is on the plain PATH ({r.stdout.strip()}): not plain"
    text = (clone / "README.md").read_text()
    blocks = bash_blocks(text)
    first_dt = next(i for i, b in enumerate(blocks) if re.search(r"^ducttape ", b, flags=re.M))
    assert any(ACTIVATE in b for b in blocks[:first_dt]), \
        "the README must say how to enter the environment before its first ducttape command"
    r = run_block(f"{ACTIVATE} && command -v ducttape && python -c 'import pandas, spire'", clone)
    assert r.returncode == 0, r.stderr


def run_doc_blocks(clone: Path, doc: str, only: str = "") -> tuple[list[str], list[tuple[str, str]]]:
    """Every ```bash block of one doc (containing `only`), in order, as typed; (commands run,
    commands skipped)."""
    ran, skipped = [], []
    for block in [b for b in bash_blocks((clone / doc).read_text()) if only in b]:
        why = next((w for rx, w in SKIP_BLOCKS if re.search(rx, block, re.M)), None)
        if why:
            skipped.append((block.splitlines()[0], why))
            continue
        cmds = commands(block)
        todo = [c for c in map(as_typed, cmds) if c is not None]
        skipped += [(c, "skipped") for c in cmds if as_typed(c) is None]
        if not todo:
            continue
        only_make = all(c.startswith("make ") for c in todo)
        script = "\n".join(([] if only_make else [ACTIVATE]) + todo)
        r = run_block(script, clone)
        assert r.returncode == 0, (f"{doc} block failed in a plain shell:\n{script}\n"
                                   f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")
        ran += todo
    return ran, skipped


def test_every_cheap_readme_and_docs_block_works_in_a_plain_shell(clone):
    ran, skipped = [], []
    for doc in ["README.md"] + DOCS:
        r, s = run_doc_blocks(clone, doc)
        ran += r
        skipped += s
    # what ran covers every kind of command the README and the docs show
    assert any(c.startswith("make results") for c in ran)
    assert any(c.startswith(ACTIVATE) for c in ran)
    assert any("--dry-run" in c and "-p train" in c for c in ran)
    assert any(" list" in c for c in ran) and any("invalidate" in c for c in ran)
    assert any("collect_results.py" in c for c in ran)
    assert any("<<'EOF'" in c for c in ran)  # the variant tutorial's plan, written as typed
    table = (clone / "workflows" / "out" / "results" / "results.md").read_text()
    assert "SpireFull" in table
    assert not (clone / "workflows" / "out" / "TrainCPT").exists()  # dry runs ran nothing
    assert {c for c, _ in skipped} >= {"make demo    # set up, then run the miniature Spire end "
                                       "to end (-p train, -p eval) and print the results table"}


def test_the_variant_tutorial_reaches_scoring_and_names_its_row(clone):
    """The README's "Try a variant": its plan reaches Score for the new branch, and the results
    table names the variant's scores by the row the README adds, beside SpireFull's."""
    ran, _ = run_doc_blocks(clone, "README.md", only="emb_init")
    assert any("-p emb_init" in c and "--dry-run" in c for c in ran)
    r = run_block(f"{ACTIVATE} && cd workflows && ducttape main.tape -p emb_init list", clone)
    assert r.returncode == 0, r.stderr
    planned = {line.split()[0] for line in r.stdout.splitlines() if "EmbInit.default" in line}
    assert {"ExtendModel", "TrainCPT", "TrainIT", "Decode", "CascadeST", "Score"} <= planned
    # the scores a run of the plan writes (no `variant` recorded: the row comes from the name)
    score = clone / "workflows" / "out" / "Score" / "EmbInit.default+TestSet.readme" / "scores.json"
    score.parent.mkdir(parents=True)
    score.write_text(json.dumps({"testset": "mini asr", "wer": 0.6}))
    r = run_block("make -s results", clone)
    assert r.returncode == 0, r.stderr
    rows = [line.split("|")[1].strip() for line in
            (clone / "workflows" / "out" / "results" / "results.md").read_text().splitlines()
            if line.startswith("| ")]
    assert "SpireFull" in rows and "SpireFull (random init)" in rows


def test_make_results_lists_the_loss_curves_that_exist(clone):
    out = clone / "workflows" / "out"
    for d in ("TrainCPT/Baseline.baseline", "TrainIT/Baseline.baseline", "TrainIT/ITMix.no_blocks"):
        (out / d / "model").mkdir(parents=True)
        (out / d / "model" / "loss.png").write_bytes(b"\x89PNG")
    (out / "TrainIT" / "Base.spire+ITMix.full").symlink_to("Baseline.baseline")
    r = run_block("make -s results", clone)
    assert r.returncode == 0, r.stderr
    curves = r.stdout.split("Loss curves:", 1)[1].split()
    assert curves == ["workflows/out/TrainCPT/Baseline.baseline/model/loss.png",
                      "workflows/out/TrainIT/Baseline.baseline/model/loss.png",
                      "workflows/out/TrainIT/ITMix.no_blocks/model/loss.png"]
    assert all((clone / c).is_file() for c in curves)
