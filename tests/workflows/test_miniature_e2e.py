"""End to end: the real workflow tapes on a smoke-sized copy of the miniature config.

The smoke config is configs/mini.tconf with smaller sizes and step budgets (rewritten in the
test, so the two can never drift apart); the tapes, tasks and library are the real ones.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DUCTTAPE = [sys.executable, "-m", "ducttape"]

# Smaller sizes and budgets; everything else as in mini.tconf. Training is bounded by epochs (steps),
# with the minute caps out of reach, so the smoke's models are the same on every machine. With a
# 0.1-minute cap the base LM stopped near step 23, where most of its translations were empty; a
# slower CPU stops it earlier and pseudo-labelling then rightly has nothing to keep (CI failed so).
# At 60 steps no line is empty.
SMOKE = {
    "mini_n_train": "240", "mini_n_dev": "12", "mini_n_test": "12", "mini_n_text": "3000",
    "mini_n_gold_st": "80", "mini_n_pseudo_st": "80", "pseudo_max_new_tokens": "8", "mini_vocab_size": "450",
    "phonetic_clusters": "20", "mfcc_clusters": "20", "cpt_seq_len": "256", "it_seq_len": "256", "mini_seq_len": "256",
    "pseudo_max_per_pair": "50", "pseudo_threshold": "0.0", "blocks_max_lines": "100",
    "decode_max_new_tokens": "8", "mini_phonetic_sentences": "100", "mini_phonetic_epochs": "2",
    "mini_base_epochs": "0.1", "cpt_epochs": "2", "it_epochs": "0.3",  # 60 steps, CPT and IT a few dozen
    "mini_base_minutes": "3", "cpt_minutes": "3", "it_minutes": "3",
    # a wall-clock checkpoint every ~0.6 s, so that the kill during TrainIT finds one to resume from
    "it_save_minutes": "0.01",
    # the smoke's world is smaller than the one world/ was made for: train its base LM and encoder
    # (the shipped ones are refused for it: tests/workflows/test_shipped_world.py)
    "base_model": "$model@TrainMiniBase", "phonetic_encoder": "$encoder@MakeMiniEncoder",
}


def smoke_workflow(tmp: Path) -> Path:
    conf = (REPO / "configs" / "mini.tconf").read_text()
    for key, value in SMOKE.items():
        conf, n = re.subn(rf"^(\s*{key}=)\S+$", rf"\g<1>{value}", conf, flags=re.M)
        assert n == 1, f"{key} not found once in configs/mini.tconf"
    conf = conf.replace('repo=".."', f'repo="{REPO}"')
    conf = conf.replace('it_mixture_config="it/mini.yaml"',
                        f'it_mixture_config="{REPO}/configs/it/mini.yaml"')
    (tmp / "smoke.tconf").write_text(conf)
    main = (REPO / "workflows" / "main.tape").read_text()
    main = re.sub(r'import "(\w+\.tape)"', lambda m: f'import "{REPO}/workflows/{m.group(1)}"', main)
    main = main.replace('import "../configs/mini.tconf"', 'import "smoke.tconf"')
    (tmp / "smoke.tape").write_text(main)
    return tmp / "smoke.tape"


def ducttape(tape: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([*DUCTTAPE, str(tape), *args], cwd=tape.parent, env=env,
                          capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"ducttape {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}{failed_task_logs(proc.stderr)}")
    return proc


def failed_task_logs(stderr: str) -> str:
    """The end of each failed task's own stderr (its lines scroll by in ducttape's interleaved log)."""
    tails = []
    for name, directory in re.findall(r"^FAILED: (\S+) in (\S+)$", stderr, re.M):
        log = Path(directory) / "ducttape_stderr.txt"
        text = log.read_text(errors="replace") if log.is_file() else "(no ducttape_stderr.txt)"
        tails.append(f"\n--- {name}: {log}\n{text[-3000:]}")
    return "".join(tails)


def killed_run(tape: Path, until, *args: str) -> str:
    """Start ducttape, SIGKILL its whole process group once ``until(log lines)`` is true (a log
    line or a file appearing; polled every 20 ms); its log."""
    import threading
    import time
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen([*DUCTTAPE, str(tape), *args], cwd=tape.parent, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    log = []
    reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        while not until(log):
            if proc.poll() is not None:
                reader.join(timeout=10)
                if until(log):
                    break
                raise AssertionError(f"ducttape ended before the kill point:\n{''.join(log)[-4000:]}")
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    reader.join(timeout=10)
    return "".join(log)


def logged(marker: str):
    return lambda log: any(line.startswith(marker) for line in log)


@pytest.mark.slow
def test_miniature_train_ablations_eval(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: run `make setup` (apt-get install espeak-ng sox)")
    tape = smoke_workflow(tmp_path)
    out = tmp_path / "out"

    # a killed run resumes: kill ducttape and its tasks (SIGKILL, the whole process group) once
    # the base LM is training, then rerun: finished tasks are kept, the rest runs to the end
    first = killed_run(tape, logged("Running TrainMiniBase/"), "-p", "train", "-y", "-j", "2")
    finished = set(re.findall(r"^Completed (\S+)/\d+\b", first, re.M))
    assert {"TrainMiniTokenizer/Baseline.baseline", "BuildMiniBaseData/Baseline.baseline"} <= finished
    assert not (out / "TrainMiniBase" / "Baseline.baseline" / "model").exists()
    # then kill it again during TrainIT, once it has written a (wall-clock) checkpoint: the rerun
    # must continue from that checkpoint, not from step 0
    it_ckpts = out / ".resume" / "TrainIT" / "Baseline.baseline"
    second = killed_run(tape, lambda log: any(it_ckpts.glob("checkpoint-*/trainer_state.json")),
                        "-p", "train", "-y", "-j", "2")
    assert not finished & set(re.findall(r"^Running (\S+)/\d+ in", second, re.M))
    assert "Running TrainMiniBase/Baseline.baseline/" in second
    assert not (out / "TrainIT" / "Baseline.baseline" / "model" / "train_summary.json").exists()
    ducttape(tape, "-p", "train", "-y", "-j", "2")
    it_summary = json.loads((out / "TrainIT" / "Baseline.baseline" / "model" / "train_summary.json").read_text())
    assert it_summary["resumed_from_step"] > 0, it_summary
    assert it_summary["global_step"] >= it_summary["resumed_from_step"]
    # contracts: units are PUA strings aligned with transcripts; models are HF directories
    label = out / "LabelSpeech" / "Baseline.baseline"
    units = (label / "units.txt").read_text(encoding="utf-8").splitlines()
    text = (label / "text.txt").read_text(encoding="utf-8").splitlines()
    assert len(units) == len(text) == 240
    assert all(units) and all(0xF0000 <= ord(c) < 0xF0000 + 20 for line in units for c in line)
    assert (out / "TrainCPT" / "Baseline.baseline" / "model" / "config.json").is_file()
    full = out / "TrainIT" / "Baseline.baseline" / "model"
    assert (full / "config.json").is_file() and (full / "loss.png").is_file()
    cpt_doc = json.loads((out / "BuildCPTData" / "Baseline.baseline" / "cpt.jsonl")
                         .read_text(encoding="utf-8").splitlines()[0])
    assert set(cpt_doc) == {"text"}

    # rerun is a no-op: nothing executed again
    again = ducttape(tape, "-p", "train", "-y")
    assert "nothing to do" in again.stderr and "Running" not in again.stderr

    ducttape(tape, "-p", "ablations", "-y", "-j", "2")
    models = {r: out / "TrainIT" / r / "model" for r in
              ("Baseline.baseline", "ITMix.no_blocks", "ITMix.no_pseudo", "Base.tower")}
    assert all((m / "config.json").is_file() for m in models.values())
    # the ablations differ in their training data as specified
    stats = {v: json.loads((out / "BuildITMixture" / r / "stats.json").read_text())
             for v, r in (("full", "Baseline.baseline"), ("no_blocks", "ITMix.no_blocks"),
                          ("no_pseudo", "ITMix.no_pseudo"))}
    groups = {v: {g for g, c in s["groups"].items() if c["examples"]} for v, s in stats.items()}
    assert "blocks" in groups["full"] and "pseudo" in groups["full"]
    assert "blocks" not in groups["no_blocks"] and "pseudo" in groups["no_blocks"]
    assert "pseudo" not in groups["no_pseudo"] and "blocks" in groups["no_pseudo"]
    assert stats["full"]["total"]["examples"] == (
        stats["no_blocks"]["total"]["examples"] + stats["no_pseudo"]["total"]["examples"]
        - stats["no_blocks"]["groups"]["speech"]["examples"])

    ducttape(tape, "-p", "eval", "-y", "-j", "2")
    # canonical directories only (ducttape also links each full realization name to them)
    scores = sorted({p.resolve() for p in (out / "Score").glob("*/scores.json")})
    assert len(scores) == 42  # 6 variants x (ASR + 2 x (direct ST, self-cascaded ST, MT))
    testsets = Counter()
    for path in scores:
        s = json.loads(path.read_text())
        assert ("wer" in s) != ("bleu" in s and "chrf" in s)
        testsets[s["testset"]] += 1
    assert testsets == {"mini asr": 6, "mini st": 12, "mini st_cascade": 12, "mini mt": 12}
    subprocess.run([sys.executable, str(REPO / "tasks" / "collect_results.py"), "--glob",
                    str(out / "Score" / "*" / "scores.json"), "--names",
                    str(REPO / "configs" / "eval" / "variants.yaml"), "--out-dir",
                    str(tmp_path / "results")], check=True, capture_output=True, text=True)
    table = (tmp_path / "results" / "results.md").read_text()
    for variant in ("SpireFull", "SpireNoBlocks", "SpireNoPseudo", "TowerFull", "SpireBase", "TowerBase"):
        assert variant in table
    assert (tmp_path / "results" / "results.png").stat().st_size > 0
    # beside the tables: every cell's interval and the item browser
    assert "[" in (tmp_path / "results" / "intervals.md").read_text()
    assert '"mini asr"' in (tmp_path / "results" / "report.html").read_text()

    # every training run can be watched (TensorBoard events with a validation loss) and published
    # (a model card whose figures are its train_summary.json's)
    from huggingface_hub import ModelCard

    from spire.tracking import read_scalars
    trained = [d for stage in ("TrainCPT", "TrainIT") for d in (out / stage).iterdir()
               if not d.is_symlink() and (d / "model" / "train_summary.json").is_file()]
    assert len(trained) == 5, trained  # SpireBase's CPT and four tuned variants
    for d in trained:
        model = d / "model"
        summary = json.loads((model / "train_summary.json").read_text())
        final = summary["validation"]["final_loss"]
        scalars = read_scalars(model / "runs")
        assert {"train/loss", "eval/loss"} <= set(scalars), (d, sorted(scalars))
        assert scalars["eval/loss"][-1][1] == pytest.approx(final, rel=1e-4)
        card = ModelCard.load(model / "README.md").data.to_dict()["spire"]
        assert card["validation"]["final loss"] == final
        assert card["hyperparameters"], card

    # every other plan: the stage plans are parts of what already ran (no-ops); `hubert` labels
    # the corpora with the tiny random HuBERT instead of MFCC
    for plan in ("kmeans", "labelize", "cpt", "it_data"):
        proc = ducttape(tape, "-p", plan, "-y")
        assert "nothing to do" in proc.stderr, plan
    ducttape(tape, "-p", "hubert", "-y", "-j", "2")
    hubert_units = (out / "LabelSpeech" / "Encoder.hubert+SpeechCorpus.test" / "units.txt")
    lines = hubert_units.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and all(0xF0000 <= ord(c) < 0xF0000 + 20 for line in lines for c in line)
    summary = ducttape(tape, "-p", "eval", "summary").stdout
    rows = [line for line in summary.splitlines() if "\t" in line and not line.startswith("#")]
    assert len(rows) == 1 + 42 and rows[0].endswith("bleu\tchrf\twer")  # header + one per Score
