#!/usr/bin/env python
"""The rehearsal: workflows/paper.tape with configs/rehearsal.tconf on stand-ins, through Slurm.

    python tests/workflows/rehearsal.py --dir runs/rehearsal      # what `make rehearsal` runs

1. builds the stand-in mirror (tasks/make_standins.py) and the stand-in of the one private input
   (Tower's CPT text);
2. writes DIR/paper.tape: workflows/paper.tape with its imports made absolute and
   `../configs/paper.tconf` replaced by configs/rehearsal.tconf plus a generated DIR/uservars.tconf
   (output directory, mirror, Slurm partition, CPT text). ducttape forbids redefining a global, so
   neither `-C` nor an overriding file can swap the config; this copy (the same recipe as the
   miniature's end-to-end test) changes nothing else: same tapes, tasks, dataset configs;
3. starts a single-node Slurm on localhost (tests/ducttape/slurm_local.sh), runs the plans
   `fetch_eval released data kmeans labelize train ablations eval` (paper.tconf sets submitter=slurm), stops
   Slurm;
4. checks that every realized task ran as its own, completed Slurm job (`sacct -c`) and that the
   artefacts are there (models, k-means, the four CPT speech corpora in BuildCPTData's stats);
5. runs the results step (tasks/collect_results.py) over every Score and checks that the ASR, ST
   and MT tables have a number for every planned Score realization.

It prints the wall time and the number of realized tasks. Needs root once (munged, slurmd).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLURM_SCRIPT = REPO / "tests" / "ducttape" / "slurm_local.sh"
# The evaluation-only route first, as the README's "evaluate the released models" runs it: the
# eval-only fetch (`fetch_eval`: test sets, metric assets, the models to score, no training
# corpus), then `released` (the released checkpoints and baselines, no training), to show that it
# needs nothing else; then `data` (the training corpora) and training; `eval` last: every cell of
# the matrix, the workflow's own models included
PLANS = ("fetch_eval", "released", "data", "kmeans", "labelize", "train", "ablations", "eval")
# the plans whose Scores make the tables
EVAL_PLANS = ("released", "eval")
# what the test in `make test` runs: the whole eval matrix is ~1,000 more Slurm jobs (most of them
# seconds of Python start-up each), over the test suite's time budget on the 2-core CI machine;
# tests/workflows/test_eval_paper_tasks.py runs a cell of every kind through ducttape instead
TEST_PLANS = ("data", "kmeans", "labelize", "train", "ablations")
# The only keys in which configs/rehearsal.tconf may differ from configs/paper.tconf, and why.
ALLOWED_DIFFERENCES = {
    # sizes (the stand-ins are a handful of rows; tiny models; two of nine pseudo-labelled languages)
    "sizes": ["encoder_layer", "kmeans_clusters", "cpt_seq_len", "cpt_warmup", "cpt_micro_batch",
              "cpt_grad_accum", "cpt_minutes", "it_seq_len", "it_warmup", "it_micro_batch",
              "it_grad_accum", "it_epochs", "it_minutes", "pseudo_max_new_tokens", "pseudo_langs",
              "decode_max_new_tokens", "decode_batch_size", "label_shards", "label_shard",
              "eval_tower_max_new_tokens"]
             # three of the nine evaluation language pairs (REHEARSAL_LANGUAGE_PAIRS)
             + ["eval_other_lang", "eval_speech_data", "eval_units_workflow", "eval_units_released"],
    # the machine: CPU, no GPU, no DeepSpeed, one node of the local Slurm, -p data through it too
    "cluster": ["data_submitter", "encoder_device", "encoder_dtype", "cpt_deepspeed", "it_deepspeed",
                "cpt_precision", "it_precision", "pack_procs", "pack_mem", "pack_time"]
               + [f"{stage}_{res}" for stage in ("kmeans", "label", "train", "decode", "cpu", "data")
                  for res in ("gpus", "cpus", "mem")]
               + [f"{stage}_time" for stage in ("kmeans", "label", "cpt", "it", "decode", "pseudo",
                                                "cpu", "data")],
}
ALLOWED_KEYS = {k for keys in ALLOWED_DIFFERENCES.values() for k in keys}
# What configs/rehearsal.tconf sets (generated from paper.tconf by `rehearsal.py --write-config`;
# the test checks the file is up to date). Slurm's local node has 2 CPUs and RealMemory=1000 MB,
# so memory is not requested and every job takes one CPU (two run at once, ducttape -j 2).
REHEARSAL_VALUES = {
    "encoder_layer": "3", "encoder_dtype": "fp32", "encoder_device": "cpu", "kmeans_clusters": "20",
    "cpt_seq_len": "256", "cpt_warmup": "2", "cpt_micro_batch": "2", "cpt_grad_accum": "1",
    "cpt_minutes": "3", "cpt_deepspeed": '""', "cpt_precision": "fp32", "it_precision": "fp32",
    "pack_procs": "1", "pack_mem": '""', "pack_time": '"0:30:00"',
    "pseudo_max_new_tokens": "16", "it_seq_len": "256", "it_warmup": "2", "it_micro_batch": "2",
    "it_grad_accum": "1", "it_epochs": "1", "it_minutes": "3", "it_deepspeed": '""',
    "decode_max_new_tokens": "16", "decode_batch_size": "8", "data_submitter": "slurm",
    # Table 8's NER answers (paper: 1,024 tokens) from a random tiny model: as the other decodes
    "eval_tower_max_new_tokens": "16",
    # two of the nine pseudo-labelled languages (one Latin, one Han script): the rehearsal's
    # time budget; every PseudoLang realization runs the same tasks
    "pseudo_langs": "(PseudoLang: de zh)",
    # one shard per corpus (the paper: 8): every LabelSpeechShard is a Slurm job of its own, and
    # 8 x 26 of them cost minutes of start-up alone; several shards merged are tested by
    # tests/spire/test_label_workflow.py
    "label_shards": "1", "label_shard": "(LabelShard: 0..0)",
    **{f"{stage}_{res}": value for stage in ("kmeans", "label", "train", "decode", "cpu", "data")
       for res, value in (("gpus", '""'), ("cpus", "1"), ("mem", '""'))},
    **{f"{stage}_time": '"0:30:00"' for stage in ("kmeans", "label", "cpt", "it", "decode", "pseudo",
                                                  "cpu", "data")},
}
# The evaluation language pairs the rehearsal keeps: those of WMT23 and CoVoST-2 (en_de, en_zh; en_ru
# for WMT23), so every test set and both MT directions are rehearsed, with a Latin, a Cyrillic and a
# Han script. All nine cost about 2,000 tasks (a few seconds of start-up each); every FLEURS/FLORES
# pair runs the same tasks with another language code. The other pairs' branches are removed from
# every (LanguagePair: ...) of paper.tconf.
REHEARSAL_LANGUAGE_PAIRS = ("en_de", "en_ru", "en_zh")
PAPER_LANGUAGE_PAIRS = ("en_de", "en_es", "en_fr", "en_it", "en_ko", "en_nl", "en_pt", "en_ru", "en_zh")
HEADER = """\
# The rehearsal (`make rehearsal`, tests/workflows/rehearsal.py): configs/paper.tconf with only
# sizes, the mirror and the cluster settings changed, so that workflows/paper.tape runs end to end
# on CPU, through the Slurm submitter of a single-node local Slurm, on the stand-in mirror built by
# tasks/make_standins.py (tiny models of the real types, a handful of rows per corpus). Same tapes,
# same tasks, same dataset configs. GENERATED from paper.tconf by
#   python tests/workflows/rehearsal.py --write-config
# (values in REHEARSAL_VALUES there); tests/workflows/test_rehearsal.py checks it is up to date and
# differs from paper.tconf only in sizes and cluster settings. The rehearsal's uservars (output,
# mirror, partition, CPT text, CPU training, decoding interpreter) are generated by the runner
# and imported beside this file.
"""


def rehearsal_tconf(paper_text: str) -> str:
    """configs/rehearsal.tconf from configs/paper.tconf: REHEARSAL_VALUES for the keys paper.tconf
    defines (one `key=value` line each), the same text otherwise, minus the uservars import."""
    text = re.sub(r"\A(#.*\n)+", HEADER, paper_text)
    text, n = re.subn(r'^import "uservars\.tconf"\n\n?', "", text, flags=re.M)
    if n != 1:
        raise ValueError("configs/paper.tconf: expected one `import \"uservars.tconf\"` line")
    dropped = "|".join(p for p in PAPER_LANGUAGE_PAIRS if p not in REHEARSAL_LANGUAGE_PAIRS)
    # a branch `en_xx=value` (values here are single tokens: a path, a code or a $var@Task[...])
    text = re.sub(rf"\s+(?:{dropped})=[^\s)]+", "", text)
    for key, value in REHEARSAL_VALUES.items():
        lines = re.findall(rf"^\s*{key}=(.*)$", text, flags=re.M)
        if len(lines) > 1:
            raise ValueError(f"configs/paper.tconf: {key} is set on {len(lines)} lines")
        if lines and lines[0].count("(") != lines[0].count(")"):
            raise ValueError(f"configs/paper.tconf: {key} spans several lines; keep it on one")
        text = re.sub(rf"^(\s*{key}=).*$", lambda m: m.group(1) + value, text, flags=re.M)
    return text


# ------------------------------------------------------------------------ config comparison
def _canonical(value):
    """A comparable form of a parsed ducttape value (positions dropped)."""
    if type(value).__name__ == "Pos":
        return None
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    slots = [s for c in type(value).__mro__ for s in getattr(c, "__slots__", ())]
    if slots:
        return (type(value).__name__,) + tuple((s, _canonical(getattr(value, s, None)))
                                               for s in slots if s != "pos")
    if hasattr(value, "__dict__"):
        return (type(value).__name__,) + tuple((k, _canonical(v)) for k, v in sorted(vars(value).items())
                                               if k != "pos")
    return value


def tconf_globals(path: Path) -> tuple[dict, list[str]]:
    """The global variables of a .tconf (name -> canonical value) and its imports."""
    sys.path.insert(0, str(REPO))
    from ducttape.syntax import parse_file

    out, imports = {}, []
    for block in parse_file(str(path)):
        kind = type(block).__name__
        if kind == "Import":
            imports.append(getattr(block.path, "value", block.path))
        elif kind == "ConfigBlock":
            for spec in block.specs:
                out[spec.name] = _canonical(spec.value)
    return out, imports


def config_differences(paper: Path, rehearsal: Path) -> dict:
    """{"changed": keys whose values differ, "only_paper": ..., "only_rehearsal": ...}."""
    a, _ = tconf_globals(paper)
    b, _ = tconf_globals(rehearsal)
    return {"changed": sorted(k for k in a.keys() & b.keys() if a[k] != b[k]),
            "only_paper": sorted(a.keys() - b.keys()), "only_rehearsal": sorted(b.keys() - a.keys())}


# ------------------------------------------------------------------------------- the run
@dataclass
class Rehearsal:
    dir: Path
    jobs: int = 2
    timeout: int = 1500
    workflows: Path = REPO / "workflows"  # another copy of the tapes, for trying a change
    log: list[str] = field(default_factory=list)

    @property
    def mirror(self) -> Path:
        return self.dir / "mirror"

    @property
    def out(self) -> Path:
        return self.dir / "out"

    @property
    def slurm_dir(self) -> Path:
        return self.dir / "slurm"

    def env(self) -> dict:
        bindir = str(Path(sys.executable).parent)
        return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
                    PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
                    PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", DUCTTAPE_NO_USER_CONFIG="1",
                    HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                    SLURM_CONF=str(self.slurm_dir / "slurm.conf"))

    def say(self, msg: str) -> None:
        line = f"[rehearsal {time.strftime('%H:%M:%S')}] {msg}"
        self.log.append(line)
        print(line, flush=True)

    # 1. stand-ins
    def build_standins(self) -> dict:
        sys.path.insert(0, str(REPO))
        from spire import standins

        proc = subprocess.run([sys.executable, str(REPO / "tasks" / "make_standins.py"), "--out",
                               str(self.mirror)], env=self.env(), capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"make_standins failed:\n{proc.stderr[-4000:]}")
        standins.build_cpt_text(self.dir / "cpt_text")
        return json.loads((self.mirror / "standins.json").read_text())

    # 2. the tape and its uservars
    def write_workflow(self) -> Path:
        tape = (self.workflows / "paper.tape").read_text()
        tape = re.sub(r'^import "(\w+\.tape)"', lambda m: f'import "{self.workflows}/{m.group(1)}"',
                      tape, flags=re.M)
        tape, n = re.subn(r'^import "\.\./configs/paper\.tconf"',
                          f'import "{REPO}/configs/rehearsal.tconf"\nimport "uservars.tconf"',
                          tape, flags=re.M)
        if n != 1:
            raise RuntimeError("workflows/paper.tape no longer imports ../configs/paper.tconf once")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "paper.tape").write_text(tape)
        (self.dir / "uservars.tconf").write_text(
            "# generated by tests/workflows/rehearsal.py: the rehearsal's machine settings\n"
            "global {\n"
            f"  ducttape_output={self.out}\n"
            f"  mirror={self.mirror}\n"
            '  slurm_partition=""\n'
            '  slurm_account=""\n'
            f"  cpt_text_dir={self.dir / 'cpt_text'}\n"
            # CPU training on the one local node; decoding in this interpreter
            "  cpt_gpus_per_node=0\n  cpt_nodes=1\n  it_gpus_per_node=0\n  it_nodes=1\n"
            '  decode_python=""\n'
            "}\n")
        return self.dir / "paper.tape"

    # 3. Slurm and the plans
    def start_slurm(self) -> None:
        # slurm_local.sh sizes the node with `nproc`, which obeys OMP_NUM_THREADS: with the
        # Makefile's OMP_NUM_THREADS=1 the node would get one CPU and the jobs would run one at a time
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
        proc = subprocess.run(["bash", str(SLURM_SCRIPT), "start", str(self.slurm_dir)], env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"could not start the local Slurm:\n{proc.stdout}\n{proc.stderr}")

    def node_cpus(self) -> int:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%c"], env=self.env(), capture_output=True,
                           text=True, timeout=60)
        return int(r.stdout.split()[0]) if r.returncode == 0 and r.stdout.split() else 0

    def stop_slurm(self) -> None:
        subprocess.run(["bash", str(SLURM_SCRIPT), "stop", str(self.slurm_dir)],
                       capture_output=True, text=True, timeout=120)

    def ducttape(self, *args: str, timeout: int | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ducttape", str(self.dir / "paper.tape"), *args],
                              cwd=self.dir, env=self.env(), capture_output=True, text=True,
                              timeout=timeout or self.timeout)

    def planned(self, plan: str) -> list[tuple[str, str]]:
        r = self.ducttape("-p", plan, "list", timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"ducttape -p {plan} list failed:\n{r.stderr[-4000:]}")
        return [tuple(line.split()[:2]) for line in r.stdout.splitlines() if len(line.split()) >= 2]

    def run_plan(self, plan: str) -> subprocess.CompletedProcess:
        t0 = time.time()
        r = self.ducttape("-p", plan, "-y", "-j", str(self.jobs))
        self.say(f"-p {plan}: rc={r.returncode} in {time.time() - t0:.0f} s")
        return r

    # 4. checks
    def task_dirs(self) -> list[Path]:
        """Every realized task directory of the run (not the full-name symlinks, not the attic)."""
        dirs = []
        for task in sorted(p for p in self.out.iterdir() if p.is_dir() and not p.name.startswith(".")):
            dirs += [d for d in sorted(task.iterdir()) if d.is_dir() and not d.is_symlink()
                     and (d / "ducttape_exit_code.txt").exists()]
        return dirs

    def sacct(self) -> dict[str, tuple[str, str]]:
        r = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,JobName,State"], env=self.env(),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"sacct -c failed: {r.stderr}")
        fields = (line.split("|") for line in r.stdout.splitlines())
        return {f[0]: (f[1], f[2]) for f in fields if len(f) >= 3}

    def slurm_report(self) -> dict:
        """Which task directories ran as a completed Slurm job of their own, and which did not."""
        records = self.sacct()
        ok, problems, ids = [], [], {}
        for d in self.task_dirs():
            name = f"{d.parent.name}/{d.name}"
            jobfile = d / "ducttape_slurm_jobid.txt"
            code = (d / "ducttape_exit_code.txt").read_text().strip()
            if not jobfile.is_file():
                problems.append(f"{name}: ran outside Slurm (no ducttape_slurm_jobid.txt; exit {code})")
                continue
            jobid = jobfile.read_text().split(";")[0].strip()
            rec = records.get(jobid)
            if rec is None or rec[1] != "COMPLETED" or code != "0":
                problems.append(f"{name}: job {jobid} {rec}, exit {code}")
                continue
            if jobid in ids:
                problems.append(f"{name}: job {jobid} also ran {ids[jobid]}")
            ids[jobid] = name
            ok.append(name)
        return {"ok": ok, "problems": problems}


def check_artefacts(out: Path) -> list[str]:
    """What the plans must have produced; returns the problems (empty: all there)."""
    problems = []
    if not (out / "TrainKMeans" / "Baseline.baseline" / "kmeans.joblib").is_file():
        problems.append("TrainKMeans: no kmeans.joblib")
    if not (out / "TrainCPT" / "Baseline.baseline" / "model" / "config.json").is_file():
        problems.append("TrainCPT: no SpireBase model")
    it = [d.name for d in (out / "TrainIT").iterdir() if not d.is_symlink()
          and (d / "model" / "config.json").is_file()] if (out / "TrainIT").is_dir() else []
    if len(it) != 4:  # SpireFull, SpireNoBlocks, SpireNoPseudo, TowerFull
        problems.append(f"TrainIT: {len(it)} models, expected 4: {it}")
    stats = out / "BuildCPTData" / "Baseline.baseline" / "stats.json"
    n = cpt_speech_corpora(json.loads(stats.read_text())) if stats.is_file() else 0
    if n != 4:
        problems.append(f"BuildCPTData: drew from {n} speech corpora, expected the paper's 4")
    return problems


# the per-task tables of the paper (tasks/collect_results.py writes <task>.md/.csv/.png/_cells.csv)
TABLE_TASKS = ("asr", "st", "mt")


def collect_tables(out: Path, results: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The results step over every Score of the run (what the README's evaluation section runs)."""
    return subprocess.run([sys.executable, str(REPO / "tasks" / "collect_results.py"), "--glob",
                           str(out / "Score" / "*" / "scores.json"), "--names",
                           str(REPO / "configs" / "eval" / "variants.yaml"), "--out-dir", str(results)],
                          env=env, capture_output=True, text=True, timeout=600)


def check_tables(out: Path, results: Path, planned_scores: set[str]) -> list[str]:
    """The three tables exist and every planned Score realization is a number in one of them;
    returns the problems (empty: every cell has a number)."""
    import csv
    import math

    problems, traced = [], set()
    for task in TABLE_TASKS:
        cells = results / f"{task}_cells.csv"
        if not (results / f"{task}.md").is_file() or not cells.is_file():
            problems.append(f"no {task} table in {results}")
            continue
        with open(cells, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    value = float(row["value"])
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    problems.append(f"{task}: {row['model']} / {row['column']} / {row['metric']} is "
                                    f"{row['value']!r} ({row['realizations']})")
                # a cell may name ducttape's full-name symlink; the plan lists canonical names
                traced |= {Path(os.path.realpath(out / r)).name for r in row["realizations"].split()}
    missing = sorted(planned_scores - traced)
    if missing:
        problems.append(f"{len(missing)} planned Score realizations are in no table, e.g. "
                        + ", ".join(missing[:5]))
    return problems


def cpt_speech_corpora(stats: dict) -> int:
    """How many speech (asr) sources BuildCPTData's stats.json drew documents from."""
    return sum(1 for v in stats.get("sources", {}).values()
               if v.get("kind") == "asr" and v.get("documents", 0) > 0)


def failed_tasks(out: Path) -> list[str]:
    """`Task/Realization: last lines of stderr` for every failed task directory."""
    msgs = []
    if not out.is_dir():
        return msgs
    for code in sorted(out.glob("*/*/ducttape_exit_code.txt")):
        if code.parent.is_symlink() or code.read_text().strip() == "0":
            continue
        tail = []
        # a Slurm job's own output comes back on the task's stdout (slurm.tape cats it)
        for name in ("ducttape_stderr.txt", "ducttape_stdout.txt"):
            f = code.parent / name
            if f.exists():
                tail += f.read_text(errors="replace").strip().splitlines()[-8:]
        msgs.append(f"{code.parent.parent.name}/{code.parent.name} (exit {code.read_text().strip()}):\n    "
                    + "\n    ".join(tail))
    return msgs


def run(dir: Path, jobs: int = 2, plans=PLANS, keep_going: bool = False,
        workflows: Path | None = None, timeout: int = Rehearsal.timeout, resume: bool = False) -> dict:
    """The whole rehearsal; returns a report (raises nothing for a failing plan: see report).
    ``resume``: keep the output and the stand-ins of an earlier run in ``dir`` (ducttape reruns
    only what is not done; failed tasks included); the checks still cover every planned task."""
    r = Rehearsal(Path(dir).resolve(), jobs=jobs, timeout=timeout,
                  workflows=Path(workflows or REPO / "workflows").resolve())
    t0 = time.time()
    if r.out.exists() and not resume:
        shutil.rmtree(r.out)
    report = {"plans": {}, "failed": []}
    planned_scores: set[str] = set()
    if resume and (r.mirror / "standins.json").is_file() and (r.dir / "cpt_text").is_dir():
        report["standins"] = "kept"
        r.say(f"resuming in {r.dir}: stand-ins and output kept")
    else:
        report["standins"] = r.build_standins()["seconds"]
        r.say(f"stand-ins built in {time.time() - t0:.0f} s")
    r.write_workflow()
    r.start_slurm()
    report["slurm_node_cpus"] = r.node_cpus()
    r.say(f"local Slurm up: one node, {report['slurm_node_cpus']} CPUs")
    try:
        for plan in plans:
            try:
                planned = r.planned(plan)
            except RuntimeError as e:
                report["plans"][plan] = {"planned": 0, "rc": 2}
                report["failed"] = [str(e)]
                break
            if plan in EVAL_PLANS:
                planned_scores |= {real for task, real in planned if task == "Score"}
            proc = r.run_plan(plan)
            report["plans"][plan] = {"planned": len(planned), "rc": proc.returncode}
            if proc.returncode != 0:
                report["failed"] = failed_tasks(r.out) or [proc.stderr[-3000:]]
                if not keep_going:
                    break
        report["slurm"] = r.slurm_report()
        trained = "train" in plans and not report["failed"]
        report["artefacts"] = check_artefacts(r.out) if trained else []
        if planned_scores and not report["failed"]:
            results = r.dir / "results"
            proc = collect_tables(r.out, results, r.env())
            if proc.returncode != 0:
                report["artefacts"].append(f"collect_results failed:\n{proc.stderr[-3000:]}")
            else:
                report["artefacts"] += check_tables(r.out, results, planned_scores)
                report["tables"] = {"dir": str(results), "scores": len(planned_scores)}
                r.say(f"tables of {len(planned_scores)} Scores: {results}/{{asr,st,mt}}.md")
    finally:
        r.stop_slurm()
    report["seconds"] = round(time.time() - t0)
    report["tasks"] = len(report.get("slurm", {}).get("ok", []))
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=str(REPO / "runs" / "rehearsal"), help="work directory")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--plans", nargs="+", default=list(PLANS))
    ap.add_argument("--keep-going", action="store_true", help="run the later plans after a failure")
    ap.add_argument("--resume", action="store_true",
                    help="keep DIR's output and stand-ins (rerun only what is not done)")
    ap.add_argument("--timeout", type=int, default=Rehearsal.timeout,
                    help="seconds one plan may run (default %(default)s; the eval plan needs about an hour)")
    ap.add_argument("--workflows", default=None, help="a copy of workflows/ to rehearse instead")
    ap.add_argument("--write-config", action="store_true",
                    help="regenerate configs/rehearsal.tconf from configs/paper.tconf and exit")
    args = ap.parse_args(argv)
    if args.write_config:
        text = rehearsal_tconf((REPO / "configs" / "paper.tconf").read_text(encoding="utf-8"))
        (REPO / "configs" / "rehearsal.tconf").write_text(text, encoding="utf-8")
        print("wrote configs/rehearsal.tconf")
        return
    report = run(Path(args.dir), args.jobs, args.plans, args.keep_going, args.workflows, args.timeout,
                 args.resume)
    print(json.dumps({k: v for k, v in report.items() if k != "slurm"}, indent=1))
    problems = report.get("slurm", {}).get("problems", [])
    for p in problems:
        print("NOT A SLURM JOB:", p)
    for p in report.get("artefacts", []):
        print("MISSING:", p)
    problems = problems + report.get("artefacts", [])
    print(f"rehearsal: {report['tasks']} task realizations as Slurm jobs in {report['seconds']} s")
    sys.exit(1 if report["failed"] or problems else 0)


if __name__ == "__main__":
    main()
