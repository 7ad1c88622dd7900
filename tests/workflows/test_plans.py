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
    return [tuple(line.split()[:2]) for line in out.splitlines()  # TASK REALIZATION STATE
            if re.fullmatch(r"[A-Z]\w* \S+ (done|to-run)", line.strip())]


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
    """configs/uservars.tconf from the template, every user path pointing at an existing folder.

    The template asks for the output directory, the mirror, Slurm and Tower's CPT text only."""
    data = tree / "user"
    text = (tree / "configs" / "uservars.tconf.TEMPLATE").read_text()
    paths = sorted(set(re.findall(r"/path/to/\S+", text)))
    assert [p[len("/path/to/"):] for p in paths] == ["cpt_text", "mirror", "spire-runs"]
    for path in paths:
        target = data / path[len("/path/to/"):]
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
    assert not tasks & {"SynthMiniSpeech", "TrainMiniBase", "ShippedMiniBase"}  # no miniature world at paper scale
    # built from the mirror, not asked of the user
    assert {"BuildGoldST", "BuildSTText", "PseudoCorpus", "FloresText", "MergePseudo"} <= tasks
    labelled = {r for t, r in listed(tape, "train") if t == "LabelSpeech"}
    # BuildCPTData pools the four CPT corpora (Baseline.baseline is CPTCorpus.spgi)
    assert {"Baseline.baseline", "CPTCorpus.gigaspeech", "CPTCorpus.mls", "CPTCorpus.voxpopuli"} <= labelled
    pseudo = [r for t, r in listed(tape, "train") if t == "PseudoLabel"]
    assert len(pseudo) == 3 * 9  # one job per corpus x language (x chunk)
    translate = [r for t, r in listed(tape, "train") if t == "PseudoTranslate"]
    assert len(translate) == 2 * 3 * 9  # two MT systems
    everything = {r for t, r in listed(tape, "labelize_all") if t == "LabelSpeech"}
    assert labelled <= everything and {"GoldST.covost_zh+SpeechCorpus.gold", "SpeechCorpus.librispeech_clean"} <= everything
    published = listed(tape, "train_published")
    assert {r for t, r in published if t == "ImportPublishedPseudo"} == {"Baseline.baseline", "PublishedCorpus.gigaspeech"}
    assert not any(t in ("PseudoTranslate", "PseudoLabel") for t, _ in published)
    dry = ducttape(tape, "-p", "train", "--dry-run").stderr
    assert re.search(r"BuildCPTData/.*\n\s+via slurm: nodes=1 cpus=8 mem=64G", dry), dry
    out = ducttape(tape, "-p", "train", "--dry-run").stderr
    # GPUs per node: CPT on 2 nodes x 8, IT on one node of 4 (the authors' IT setup); jobs of the
    # partition's maximum (the template's slurm_max_time), each resumed by the next
    assert re.search(r"TrainCPT/.*\n\s+via slurm: nodes=2 gpus=8 cpus=64 mem=480G time=2-00:00:00",
                     out), out
    # the features of each k-means corpus on a GPU; k-means itself on CPUs
    assert re.search(r"KMeansFeatures/.*\n\s+via slurm: nodes=1 gpus=1 ", out)
    assert re.search(r"TrainKMeans/.*\n\s+via slurm: nodes=1 cpus=", out)
    assert re.search(r"TrainIT/.*\n\s+via slurm: nodes=1 gpus=4 ", out), out
    assert re.search(r"PackCPT/.*\n\s+via slurm: nodes=1 cpus=32 mem=64G", out), out
    assert not any((tree / "user").rglob("out"))
    evals = [r for t, r in listed(tape, "eval") if t == "Score"]
    assert len(evals) == len(set(evals)) and len(evals) >= 6 * 3


def test_paper_data_plan_fetches_every_corpus_and_model(tree):
    paper_uservars(tree)
    tape = tree / "workflows" / "paper.tape"
    got = listed(tape, "data")
    fetch = {r for t, r in got if t == "FetchDataset"}
    # 13 corpora (TowerEval's data for Table 8 among them), and the test sets of three of them in
    # branches of their own (`-p fetch_eval`)
    assert len(fetch) == 16 and {"FetchCorpus.flores", "FetchCorpus.test_fleurs",
                                 "FetchCorpus.towereval"} <= fetch
    models = {r for t, r in got if t == "FetchHubModel"}
    # TowerBase, HuBERT, SpireKMeans, the three pseudo-labelling MT systems, COMET-22, CometKiwi,
    # and the evaluation's released Spire checkpoints and baselines
    assert len(models) == 17 and {"HubModel.comet", "HubModel.cometkiwi", "HubModel.whisper",
                                  "HubModel.hubert_ctc"} <= models
    assert {t for t, _ in got} == {"FetchDataset", "FetchHubModel", "FetchSacrebleu"}


def test_tapes_use_no_engine_only_submitter(tree):
    """Ducttape 0.3 has no builtin `slurm`: any tape that may select it must define it."""
    for name in ("main.tape", "paper.tape"):
        text = (tree / "workflows" / name).read_text()
        assert 'import "slurm.tape"' in text, name
    assert re.search(r"^submitter slurm ::", (tree / "workflows" / "slurm.tape").read_text(), re.M)


def tasks_of(planned):
    return Counter(t for t, _ in planned)


def test_paper_eval_plan_covers_the_matrix_of_the_paper(tree):
    """Every cell of docs/paper.md §5 for every model able to do it, with references made by tasks."""
    paper_uservars(tree)
    assert "/refs/" not in (tree / "configs" / "uservars.tconf").read_text()  # no hand-written refs
    tape = tree / "workflows" / "paper.tape"
    planned = listed(tape, "eval")
    scores = [dict(p.split(".", 1) for p in r.split("+")) if r != "Baseline.baseline" else {}
              for t, r in planned if t == "Score"]
    assert len(scores) == len({tuple(sorted(s.items())) for s in scores})
    released = ("released_full", "released_noblocks", "released_nopseudo", "released_towerfull",
                "released_base")
    text_only = ("towerbase_7b", "towerinstruct_7b")

    def cells(testset, task, mode="direct", models="workflow"):
        def group(s):
            m = s.get("EvalModel", "instruct")
            return ("released" if m in released else "text" if m in text_only
                    else "audio" if m in ("whisper", "seamless", "hubert_ctc") else "workflow")
        return [s for s in scores if s.get("TestSet", "fleurs") == testset and group(s) == models
                and s.get("EvalTask", "asr") == task and s.get("STMode", "direct") == mode]

    # this workflow's models: SpireFull, NoBlocks, NoPseudo, TowerFull (instruct) + SpireBase;
    # the extended TowerBase (tower_base) too where the shared plan reaches it (FLEURS) and in MT
    for models, n, n_fleurs in (("workflow", 5, 6), ("released", 5, 5)):
        for testset in ("librispeech_clean", "librispeech_other", "voxpopuli"):
            assert len(cells(testset, "asr", models=models)) == n
        assert len(cells("fleurs", "asr", models=models)) == n_fleurs
        for mode in ("direct", "cascade"):
            assert len(cells("fleurs", "st", mode, models)) == 9 * n_fleurs
            covost = cells("covost2", "st", mode, models)
            assert len(covost) == 2 * n
            assert {s.get("LanguagePair", "en_de") for s in covost} == {"en_de", "en_zh"}
        assert len(cells("fleurs", "mt", models=models)) == 9 * n_fleurs  # gold-transcript MT
        assert len(cells("covost2", "mt", models=models)) == 2 * n
        flores = cells("flores", "mt", models=models)
        assert len(flores) == 18 * (n + 1 if models == "workflow" else n)
        assert sum(s.get("Direction") == "to_en" for s in flores) == len(flores) // 2
        wmt = cells("wmt23", "mt", models=models)
        assert len(wmt) == 6 * (n + 1 if models == "workflow" else n)
        assert {s.get("LanguagePair", "en_de") for s in wmt} == {"en_de", "en_ru", "en_zh"}
    # TowerBase-7B and TowerInstruct-7B: text only (FLORES + WMT23), never planned on audio
    assert len([s for s in scores if s.get("EvalModel") in text_only]) == 2 * 24
    assert len(cells("flores", "mt", models="text")) == 2 * 18
    # the baselines: Whisper and HuBERT-Large + CTC ASR only (Whisper cannot translate out of
    # English), Seamless ASR + ST + text MT on FLORES (18 directions) and WMT23 (6)
    audio = Counter((s["EvalModel"], s.get("EvalTask", "asr"), s.get("TestSet", "fleurs")) for s in scores
                    if s.get("EvalModel") in ("whisper", "seamless", "hubert_ctc"))
    asr_sets = ("fleurs", "librispeech_clean", "librispeech_other", "voxpopuli")
    for asr_only in ("whisper", "hubert_ctc"):
        assert {k: v for k, v in audio.items() if k[0] == asr_only} == {
            (asr_only, "asr", t): 1 for t in asr_sets}
    assert audio[("seamless", "st", "fleurs")] == 9 and audio[("seamless", "st", "covost2")] == 2
    assert audio[("seamless", "mt", "flores")] == 18 and audio[("seamless", "mt", "wmt23")] == 6
    assert sum(audio.values()) == 4 + 4 + 4 + 9 + 2 + 18 + 6
    assert len(scores) == 357 + 353 + 47
    assert tasks_of(planned)["DecodeAudio"] == 47
    tasks = tasks_of(planned)
    assert tasks["FloresText"] == 1 and tasks["FleursRefs"] == 9 and tasks["CovostRefs"] == 2
    assert tasks["MTTestSet"] == 18 + 6
    # the released checkpoints alone need none of this workflow's training
    alone = tasks_of(listed(tape, "released"))
    assert alone["Score"] == 353 + 47 and alone["LabelReleased"] == 7
    # Table 8: post-editing (6 WMT23 pairs) and NER (7 languages) of TowerEval for SpireFull,
    # TowerFull and TowerInstruct-7B (released), and this workflow's SpireFull and TowerFull (eval)
    table8 = [r for t, r in listed(tape, "released") if t == "ScoreTowerTask"]
    assert len(table8) == len(set(table8)) == 3 * (6 + 7)
    assert sum("TowerTask.ner" in r for r in table8) == 3 * 7
    assert {p.split(".")[1] for r in table8 for p in r.split("+") if p.startswith("EvalModel.")} == {
        "released_full", "released_towerfull", "towerinstruct_7b"}
    assert tasks["ScoreTowerTask"] == 3 * 13 + 2 * 13 and tasks["TowerTaskPrompts"] == 13
    assert not set(alone) & {"TrainKMeans", "LabelSpeech", "TrainCPT", "TrainIT", "ExtendModel"}
    # Spirit LM (its own package): ASR on the four speech test sets, in a plan of its own
    assert not any(s.get("EvalModel") == "spiritlm" for s in scores)
    spirit = listed(tape, "spiritlm")
    assert sorted(r for t, r in spirit if t == "Score") == sorted(
        f"EvalModel.spiritlm+TestSet.{t}" if t != "fleurs" else "EvalModel.spiritlm"
        for t in ("fleurs", "librispeech_clean", "librispeech_other", "voxpopuli"))
    assert tasks_of(spirit)["DecodeAudio"] == 4 and "Decode" not in tasks_of(spirit)
    dry = ducttape(tape, "-p", "spiritlm", "--dry-run").stderr
    assert "DecodeAudio" in dry
