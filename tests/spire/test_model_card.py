"""Model cards (spire/model_card.py) and the push path up to the network call.

The fixtures are a ducttape output tree in miniature: final model directories with the files a
training run leaves (config.json, train_summary.json) and a results table written by the same
code as tasks/collect_results.py from planted score files."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelCard

from spire import model_card, results
from spire.cli import main as spire_main

REPO = Path(__file__).resolve().parents[2]
NAMES = REPO / "configs" / "eval" / "variants.yaml"


def summary(out: Path, lr: float, steps: int, data: Path, seed: int = 42) -> dict:
    return {
        "global_step": steps, "planned_steps": steps, "resumed_from_step": 0,
        "train_loss": 1.2345678901, "tokens": 123456, "world_size": 1,
        "global_batch": {"sequences": 8, "tokens": 2048, "micro_batch": 4, "grad_accum": 2,
                         "world_size": 1, "seq_len": 256},
        "precision": "bf16", "zero_stage": None,
        # spire/tracking.py's validation_summary
        "validation": {"rows": 12, "valid_size": 0.02, "eval_steps": 50, "evaluations": 7,
                       "final_loss": 1.5678, "final_step": 321, "best_loss": 1.5, "best_step": 300},
        "corpus": {"kind": "it", "examples": 400, "rows": 120, "tokens": 15330},
        "options": {"model": str(out / "base"), "train_data": str(data), "lr": lr,
                    "min_lr_ratio": 0.1, "warmup_steps": 20, "weight_decay": 0.01,
                    "max_grad_norm": 1.0, "num_epochs": 2.2, "seed": seed},
    }


def make_model(out: Path, task: str, realization: str, lr: float, steps: int) -> Path:
    corpus_dir = out / f"Build{task}" / realization
    corpus_dir.mkdir(parents=True, exist_ok=True)
    (corpus_dir / "it.jsonl").write_text("{}\n")
    (corpus_dir / "stats.json").write_text(json.dumps(
        {"variant": "full", "description": "speech and text",
         "components": {"asr": {"examples": 300, "tokens": 9000, "hours": 0.8, "by_task": {}}},
         "total": {"examples": 400, "tokens": 15330}}))
    packed = out / f"Pack{task}" / realization / "packed"
    packed.mkdir(parents=True)
    (packed / "meta.json").write_text(json.dumps({"inputs": [str(corpus_dir / "it.jsonl")]}))
    model = out / task / realization / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 1088}))
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "train_summary.json").write_text(json.dumps(summary(out, lr, steps, packed)))
    return model


def plant_results(out: Path) -> Path:
    """results.csv as tasks/collect_results.py writes it, from planted score files."""
    cells = []
    for variant, wer, bleu in (("SpireFull", 12.3456, 40.1234), ("SpireBase", 30.5, 20.25),
                               ("TowerFull", 99.0, 41.0)):
        score_dir = out / "Score" / variant
        score_dir.mkdir(parents=True)
        (score_dir / "asr.json").write_text(json.dumps({"wer": wer}))
        (score_dir / "st.json").write_text(json.dumps({"bleu": bleu, "chrf": bleu + 10,
                                                       "lang_pair": "en-ty"}))
        cells += results.load_score(score_dir / "asr.json", variant, "mini asr")
        cells += results.load_score(score_dir / "st.json", variant, "mini st")
    path = out / "results" / "results.csv"
    path.parent.mkdir()
    results.to_csv_frame(results.table(cells)).to_csv(path, float_format="%.4f")
    return path


@pytest.fixture
def tree(tmp_path):
    out = tmp_path / "out"
    return {"out": out,
            "full": make_model(out, "TrainIT", "Baseline.baseline", 7e-6, 321),
            "base": make_model(out, "TrainCPT", "Baseline.baseline", 2e-3, 1185),
            "tower": make_model(out, "TrainIT", "Base.tower", 7e-6, 300),
            "seed43": make_model(out, "TrainIT", "Seed.43", 7e-6, 322),
            "results": plant_results(out)}


def csv_row(path: Path, label: str) -> dict[str, float]:
    with open(path, newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["model"] == label)
    return {k: float(v) for k, v in row.items() if k != "model" and v}


def test_card_numbers_come_from_summary_and_results(tree):
    facts = {"encoder_layer": "4", "clusters": "64", "dedup": "true"}
    path = model_card.write_card(tree["full"], facts=facts, results_csv=tree["results"],
                                 names_file=NAMES)
    card = ModelCard.load(path)  # the front-matter parses
    data = card.data.to_dict()
    spire = data["spire"]
    s = json.loads((tree["full"] / "train_summary.json").read_text())
    hp = spire["hyperparameters"]
    assert spire["variant"] == "SpireFull" and card.data.model_name == "SpireFull"
    assert hp["learning rate (peak)"] == s["options"]["lr"] == 7e-6
    assert hp["steps done"] == s["global_step"] == 321
    assert hp["epochs"] == s["options"]["num_epochs"]
    assert hp["global batch (tokens)"] == s["global_batch"]["tokens"]
    assert hp["tokens trained on"] == s["tokens"]
    assert hp["mean training loss"] == s["train_loss"]
    assert spire["validation"]["final loss"] == s["validation"]["final_loss"] == 1.5678
    assert spire["validation"]["best step"] == s["validation"]["best_step"]
    assert f"| final loss | {s['validation']['final_loss']} |" in card.text
    # every score of the SpireFull row, in the metadata (model-index) and in the body
    row = csv_row(tree["results"], "SpireFull")
    assert spire["scores"] == row and row["mini asr WER"] == pytest.approx(12.3456)
    index = {(r.dataset_name, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert index == {tuple(k.rsplit(" ", 1)): v for k, v in row.items()}
    for column, value in row.items():
        assert f"| {column} | {value} |" in card.text
    assert f"| learning rate (peak) | {s['options']['lr']} |" in card.text
    assert f"| train_loss | {s['train_loss']}" not in card.text  # labels, not raw keys
    # what only the workflow knows is kept, and the citation and licence are there
    assert spire["facts"]["clusters"] == "64" and "| clusters | 64 |" in card.text
    assert "eprint={2503.10620}" in card.text and data["license"] == "mit"
    # the data: the corpus builder's stats.json beside the corpus the packed data names
    assert spire["data"]["components"] == {"asr": {"examples": 300, "tokens": 9000, "hours": 0.8}}
    assert "| asr | 300 examples, 9000 tokens, 0.8 hours |" in card.text
    assert "Mixture `full`: speech and text" in card.text
    assert "Packed corpus (`train_summary.json`): kind it, examples 400" in card.text


def test_each_model_gets_its_own_row(tree):
    for key, label, steps in (("base", "SpireBase", 1185), ("tower", "TowerFull", 300)):
        card = ModelCard.load(model_card.write_card(tree[key], results_csv=tree["results"],
                                                    names_file=NAMES))
        assert card.data.to_dict()["spire"]["scores"] == csv_row(tree["results"], label)
        assert card.data.to_dict()["spire"]["hyperparameters"]["steps done"] == steps
        assert card.data.to_dict()["spire"]["stage"] == ("cpt" if key == "base" else "it")


def test_a_run_the_table_does_not_hold_gets_no_scores(tree):
    """Seed 43's SpireFull is labelled SpireFull too, but the table holds seed 42's run."""
    card = ModelCard.load(model_card.write_card(tree["seed43"], results_csv=tree["results"],
                                                names_file=NAMES))
    spire = card.data.to_dict()["spire"]
    assert spire["scores"] == {} and card.data.eval_results is None
    assert "Seed.43" in spire["scores_missing"] and "No scores:" in card.text


def test_refresh_keeps_facts_and_adds_scores(tree):
    """The workflow writes the card before the evaluation; `make results` refreshes it."""
    first = ModelCard.load(model_card.write_card(tree["full"], facts={"clusters": "64"},
                                                 names_file=NAMES))
    assert first.data.to_dict()["spire"]["scores"] == {}
    assert "make results" in first.data.to_dict()["spire"]["scores_missing"]
    rc = spire_main(["card", str(tree["full"]), str(tree["out"] / "TrainCPT" / "Baseline.baseline" / "model"),
                     "--results", str(tree["results"]), "--names", str(NAMES)])
    assert rc == 0
    card = ModelCard.load(tree["full"] / "README.md")
    assert card.data.to_dict()["spire"]["facts"]["clusters"] == "64"
    assert card.data.to_dict()["spire"]["scores"] == csv_row(tree["results"], "SpireFull")
    assert (tree["base"] / "README.md").is_file()


def test_card_needs_a_training_summary(tmp_path):
    d = tmp_path / "TrainIT" / "Baseline.baseline" / "model"
    d.mkdir(parents=True)
    with pytest.raises(model_card.CardError, match="train_summary.json: no training summary"):
        model_card.write_card(d)


def test_base_model_id_from_the_mirror_sets_tower_licence(tree, tmp_path):
    mirrored = tmp_path / "mirror" / "models" / "Unbabel" / "TowerBase-7B-v0.1"
    mirrored.mkdir(parents=True)
    (tmp_path / "towerbase").symlink_to(mirrored)  # FetchHubModel's output links to the mirror
    card = ModelCard.load(model_card.write_card(
        tree["full"], facts={"base_model": str(tmp_path / "towerbase")}, names_file=NAMES))
    assert card.data.base_model == "Unbabel/TowerBase-7B-v0.1"
    assert card.data.license == "cc-by-nc-4.0"
    assert "- Base model: Unbabel/TowerBase-7B-v0.1" in card.text


# ------------------------------------------------------------------ push, up to the network call

@pytest.fixture
def hub(monkeypatch):
    """HfApi's two network calls, recorded instead of made; the card must be there at upload."""
    calls = []

    def create_repo(self, repo_id, **kw):
        calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, **kw):
        card = ModelCard.load(Path(folder_path) / "README.md")
        calls.append(("upload_folder", repo_id, {"folder_path": folder_path, "card": card,
                                                 "files": sorted(os.listdir(folder_path)), **kw}))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return calls


def test_push_uploads_the_model_folder_with_its_card(tree, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    assert not (tree["full"] / "README.md").exists()
    rc = spire_main(["push", str(tree["full"]), "--repo-id", "someone/spire-mini", "--private",
                     "--results", str(tree["results"]), "--names", str(NAMES)])
    assert rc == 0, capsys.readouterr().err
    (c_name, c_repo, c_kw), (u_name, u_repo, u_kw) = hub
    assert (c_name, c_repo, c_kw["private"], c_kw["exist_ok"]) == ("create_repo", "someone/spire-mini", True, True)
    assert (u_name, u_repo) == ("upload_folder", "someone/spire-mini")
    assert u_kw["folder_path"] == str(tree["full"])
    assert {"README.md", "config.json", "model.safetensors", "train_summary.json"} <= set(u_kw["files"])
    assert u_kw["card"].data.to_dict()["spire"]["scores"] == csv_row(tree["results"], "SpireFull")
    assert capsys.readouterr().out.strip() == "https://huggingface.co/someone/spire-mini"


def test_push_keeps_an_existing_card_unless_told_about_scores(tree, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    model_card.write_card(tree["full"], facts={"clusters": 64})  # written before the evaluation
    assert spire_main(["push", str(tree["full"]), "--repo-id", "a/b"]) == 0
    assert hub[-1][2]["card"].data.to_dict()["spire"]["scores"] == {}
    assert spire_main(["push", str(tree["full"]), "--repo-id", "a/b", "--results", str(tree["results"])]) == 0
    pushed = hub[-1][2]["card"].data.to_dict()["spire"]
    assert pushed["scores"] == csv_row(tree["results"], "SpireFull") and pushed["facts"]["clusters"] == 64


def test_push_offline_says_so(tree, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert spire_main(["push", str(tree["full"]), "--repo-id", "someone/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spire push: offline mode is on") and "HF_HUB_OFFLINE=0" in err
    assert "\n" not in err and hub == []


def test_push_without_token_says_how_to_log_in(tree, hub, monkeypatch, capsys, tmp_path):
    from huggingface_hub import constants
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no_token"))
    assert spire_main(["push", str(tree["full"]), "--repo-id", "someone/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no Hugging Face token" in err and "huggingface-cli login" in err and "HF_TOKEN" in err
    assert hub == []


def test_push_without_network_is_one_line(tree, monkeypatch, capsys):
    import requests

    def no_network(self, repo_id, **kw):
        raise requests.ConnectionError("Max retries exceeded with url: /api/repos/create")

    monkeypatch.setattr(HfApi, "create_repo", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    assert spire_main(["push", str(tree["full"]), "--repo-id", "someone/x"]) == 2
    # the card is written first (an INFO line says so); the failure itself is one line, the last
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("spire push: cannot reach the Hugging Face hub")
    assert not any("Traceback" in line for line in lines)
    assert all(" INFO " in line for line in lines[:-1])


def test_push_task_script_is_the_same_command(tree, tmp_path):
    """tasks/push_model.py parses the same options (here it stops at the missing token)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="0")
    p = subprocess.run([sys.executable, str(REPO / "tasks" / "push_model.py"), str(tree["full"]),
                        "--repo-id", "someone/x"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "no Hugging Face token" in p.stderr


def test_encoder_facts_read_the_encoder_directory(tmp_path):
    hubert = tmp_path / "mirror" / "models" / "facebook" / "hubert-large-ll60k"
    hubert.mkdir(parents=True)
    (hubert / "config.json").write_text(json.dumps({"model_type": "hubert"}))
    assert model_card.encoder_facts(hubert) == {"encoder": "hubert (facebook/hubert-large-ll60k)"}
    mini = tmp_path / "MakeMiniEncoder" / "encoder"
    mini.mkdir(parents=True)
    (mini / "encoder.json").write_text(json.dumps({"type": "phonetic"}))
    assert model_card.encoder_facts(mini) == {"encoder": "phonetic"}


def test_make_results_gives_every_final_model_its_scores(tmp_path):
    """`make results` after a demo: the table, then every final model's card with its row."""
    work = tmp_path / "kit"
    work.mkdir()
    shutil.copy(REPO / "Makefile", work / "Makefile")
    for name in ("tasks", "spire", "configs", ".venv"):
        (work / name).symlink_to(REPO / name)
    out = work / "workflows" / "out"
    # Score realizations as the eval plan names them (canonical names drop baseline branches)
    for realization, wer in (("Baseline.baseline", 12.5), ("EvalModel.base", 30.25),
                             ("Base.tower", 40.0), ("ITMix.no_blocks", 14.0)):
        d = out / "Score" / realization
        d.mkdir(parents=True)
        (d / "scores.json").write_text(json.dumps({"wer": wer, "testset": "mini asr"}))
    models = {"SpireFull": make_model(out, "TrainIT", "Baseline.baseline", 7e-6, 321),
              "SpireBase": make_model(out, "TrainCPT", "Baseline.baseline", 2e-3, 1185),
              "TowerFull": make_model(out, "TrainIT", "Base.tower", 7e-6, 300),
              "SpireNoBlocks": make_model(out, "TrainIT", "ITMix.no_blocks", 7e-6, 310)}
    (out / "TrainIT" / "Base.spire+ITMix.full").symlink_to("Baseline.baseline")  # ducttape's link
    p = subprocess.run(["make", "-s", "results"], cwd=work, capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Model cards:" in p.stdout
    table = out / "results" / "results.csv"
    for label, model in models.items():
        spire = ModelCard.load(model / "README.md").data.to_dict()["spire"]
        assert spire["variant"] == label
        assert spire["scores"] == csv_row(table, label) != {}


# ------------------------------------------------------------------ the tapes write the card

def train_body(tape: str, name: str):
    sys.path.insert(0, str(REPO))
    from ducttape.syntax import parse_file
    return next(b for b in parse_file(str(REPO / "workflows" / tape))
                if type(b).__name__ == "TaskDef" and b.name == name)


# `python` for the body: the launcher is a stand-in that leaves a finished model, everything
# else (the card step) runs for real
FAKE_PYTHON = """#!/bin/sh
case "$1" in
  */launch_train.py)
    while [ "$1" != "--output-dir" ]; do shift; done
    mkdir -p "$2" && cp "$SUMMARY" "$2/train_summary.json" && echo '{}' > "$2/config.json" ;;
  *) exec "$REAL_PYTHON" "$@" ;;
esac
"""


@pytest.mark.parametrize("tape,name,label", [("cpt.tape", "TrainCPT", "SpireBase"),
                                             ("it.tape", "TrainIT", "SpireFull")])
@pytest.mark.parametrize("card_works", [True, False])
def test_train_tasks_write_the_card_and_never_fail_for_it(tmp_path, tape, name, label, card_works):
    from ducttape.execute import PREAMBLE

    task = train_body(tape, name)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").write_text(FAKE_PYTHON)
    (bindir / "python").chmod(0o755)
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "encoder.json").write_text(json.dumps({"type": "phonetic"}))
    (tmp_path / "summary.json").write_text(json.dumps(summary(tmp_path, 2e-3, 99, tmp_path / "none")))
    workdir = tmp_path / "out" / name / "Baseline.baseline"
    workdir.mkdir(parents=True)
    env = {s.name: f"V_{s.name}" for s in task.specs()}
    env.update(repo=str(REPO), out_model=str(workdir / "model"), encoder=str(encoder),
               base_model=str(tmp_path / "base"), encoder_layer="4", clusters="64",
               unit_format="pua", nodes="1", cpus="", time="", gpus_per_node="0", deepspeed="",
               PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", SUMMARY=str(tmp_path / "summary.json"),
               REAL_PYTHON=sys.executable if card_works else "false")
    proc = subprocess.run(["bash", "-c", PREAMBLE + task.body], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # a card that fails does not fail the training task
    card_path = workdir / "model" / "README.md"
    if not card_works:
        assert not card_path.exists() and f"{name}: no model card" in proc.stderr
        return
    spire = ModelCard.load(card_path).data.to_dict()["spire"]
    assert spire["variant"] == label
    assert spire["facts"] | {"base_model": None} == {
        "encoder": "phonetic", "encoder_layer": 4, "clusters": 64, "unit_format": "pua",
        "dedup": True, "task": name, "realization": "Baseline.baseline", "base_model": None}
    assert spire["hyperparameters"]["steps done"] == 99
