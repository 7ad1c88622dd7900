"""The paper-scale evaluation tasks (workflows/eval_paper.tape + eval.tape) run for real, through
ducttape, on tiny stand-ins: a FLORES+-shaped dataset, FLEURS- and CoVoST-shaped manifests, a
foreign Spire model (PUA units, ChatML), a foreign HuBERT + scikit-learn k-means as the released
units, and a tiny Whisper. Every planned cell gets its score; the task tables come out.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "spire"))

from eval_fixtures import build_foreign_spire, build_whisper  # noqa: E402

pytestmark = pytest.mark.slow

FLORES_DEV = ["The cat sat on the mat.", "Dogs ran over green hills.", "A bird sang near the river.",
              "The sun rose above tall trees.", "Seven small dogs ran.", "One old bank stood there."]
FLORES_DEVTEST = ["Every morning the bird sang.", "The river bank was old.", "Green hills rose high.",
                  "Tall trees stood near the mat."]

TCONF = """
global {{
  ducttape_experimental_imports=true
  ducttape_experimental_submitters=true
  ducttape_output=out
  repo="{repo}"
  seed=42
  mirror=""
  submitter=shell
  slurm_partition=""
  slurm_account=""
  decode_gpus=""
  decode_cpus=""
  decode_mem=""
  decode_time=""
  cpu_cpus=""
  cpu_mem=""
  cpu_time=""
  # one clip of four is deliberately unreadable (an empty line, scored as such)
  label_max_unreadable=0.5
  label_gpus=""
  label_cpus=""
  label_mem=""
  label_time=""
  encoder={models}/foreign/hubert
  encoder_layer=1
  encoder_dtype=fp32
  encoder_device=cpu
  label_batch_seconds=0
  speech_data=(SpeechCorpus: fleurs=data/fleurs_test.yaml covost2_en_de=data/covost.yaml
      fleurs_dev=data/fleurs_dev.yaml)
  eval_released_kmeans={models}/foreign/units.joblib
  eval_testset=(TestSet: fleurs covost2 flores)
  eval_speech_data=(TestSet: fleurs=data/fleurs_test.yaml covost2=data/covost.yaml flores=data/flores.yaml)
  test_units=(TestSet: fleurs=$units@LabelReleased[SpeechCorpus:fleurs]
      covost2=$units@LabelReleased[SpeechCorpus:covost2_en_de] flores=$src@MTTestSet)
  test_transcripts=(TestSet: fleurs=$text@SpeechTestText covost2=$text@SpeechTestText flores=$src@MTTestSet)
  eval_refs=(TestSet: fleurs=$refs@FleursRefs covost2=$refs@CovostRefs flores=$ref@MTTestSet)
  eval_flores_config=data/flores.yaml
  eval_flores_langs="en de"
  eval_ref_column=translation
  eval_shots_data=data/fleurs_dev.yaml
  eval_mt_label=(TestSet: fleurs=st_gold covost2=st_gold flores=mt)
  eval_other_lang=(LanguagePair: en_de=de)
  eval_src_lang=(Direction: from_en=en to_en=$eval_other_lang)
  eval_tgt_lang=(Direction: from_en=$eval_other_lang to_en=en)
  dev_units=$units@LabelReleased[SpeechCorpus:fleurs_dev]
  dev_transcripts=$text@FleursDev
  eval_shots_dir=$dir@FloresText
  eval_st_shots_dir=$dir@FleursDev
  eval_model=(EvalModel: released_full={models}/foreign/lm released_base={models}/foreign/lm
      whisper={models}/whisper)
  eval_style=(EvalModel: released_full=instruct released_base=base whisper=instruct)
  eval_hyps=(EvalModel: released_full=$hyps@Decode released_base=$hyps@Decode whisper=$hyps@DecodeAudio)
  eval_shots=2
  eval_spiritlm_shots=2
  decode_max_new_tokens=6
  decode_batch_size=4
  decode_backend=hf
  decode_python=""
  bleu_tokenize=13a
  comet_model=""
  # Table 8 (TowerTaskPrompts ... ScoreTowerTask): defined so that eval_paper.tape loads; the
  # harness plan does not reach them (tests/workflows/test_eval_rows.py lists them)
  eval_towereval=towereval
  eval_tower_lang=(TowerTask: ape=(APEPair: en_de=en-de) ner=(NERLang: en))
  eval_tower_max_new_tokens=6
}}
"""

TAPE = """
import "eval.tape"
import "eval_paper.tape"
import "harness.tconf"

# the branch points that eval_paper.tape's plans name and this harness does not otherwise have
task NamesBranchPoints :: base=(Base: spire tower) itmix=(ITMix: full no_blocks no_pseudo) {
  true
}

plan harness {
  reach Score via (EvalModel: released_full) * (EvalTask: asr) * (TestSet: fleurs)
  reach Score via (EvalModel: released_full) * (EvalTask: st mt) * (TestSet: fleurs covost2)
  reach Score via (EvalModel: released_full) * (EvalTask: st) * (STMode: cascade) * (TestSet: fleurs)
  reach Score via (EvalModel: released_full) * (EvalTask: mt) * (TestSet: flores) * (Direction: *)
  reach Score via (EvalModel: released_base) * (EvalTask: asr st) * (TestSet: fleurs)
  reach Score via (EvalModel: whisper) * (EvalTask: asr) * (TestSet: fleurs)
}
"""


def write_manifest(folder: Path, name: str, rows: list[dict]) -> None:
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_paper_eval_tasks_run_on_stand_ins(tmp_path):
    from datasets import Dataset, DatasetDict

    models = tmp_path / "models"
    build_foreign_spire(models / "foreign")
    build_whisper(models / "whisper")
    wf = tmp_path / "workflows"
    wf.mkdir()
    for name in ("eval.tape", "eval_paper.tape"):
        shutil.copy(REPO / "workflows" / name, wf / name)
    data = wf / "data"
    data.mkdir()
    DatasetDict({"dev": Dataset.from_dict({"id": list(range(6)), "text": FLORES_DEV}),
                 "devtest": Dataset.from_dict({"id": list(range(4)), "text": FLORES_DEVTEST})}
                ).save_to_disk(data / "flores")
    (data / "flores.yaml").write_text("path: flores\nconfig: eng_Latn\nsplit: devtest\naudio_column: text\n"
                                      "text_column: text\nid_column: id\n")
    rng = np.random.default_rng(0)
    for i in range(8):
        t = np.arange(16000 + 1600 * i) / 16000
        sf.write(data / f"a{i}.wav", (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t)
                                     + rng.normal(scale=0.01, size=t.size)).astype(np.float32), 16000)
    (data / "bad.wav").write_bytes(b"not audio")
    # FLEURS test: FLORES devtest sentences verbatim (FleursRefs asserts each is found, as the
    # authors' code; tests/spire/test_fleurs_refs.py has the failures), one of them a bad clip
    write_manifest(data, "fleurs_test", [
        {"audio": "a0.wav", "raw_transcription": FLORES_DEVTEST[0], "id": 0},
        {"audio": "a1.wav", "raw_transcription": FLORES_DEVTEST[1], "id": 1},
        {"audio": "bad.wav", "raw_transcription": FLORES_DEVTEST[2], "id": 2},
        {"audio": "a3.wav", "raw_transcription": FLORES_DEVTEST[3], "id": 3}])
    write_manifest(data, "fleurs_dev", [{"audio": f"a{i + 2}.wav", "raw_transcription": s, "id": i}
                                        for i, s in enumerate(FLORES_DEV)])
    write_manifest(data, "covost", [{"audio": f"a{i}.wav", "sentence": f"hello number {i}",
                                     "translation": f"hallo nummer {i}", "id": str(i)} for i in range(3)])
    for name, text in (("fleurs_test", "raw_transcription"), ("fleurs_dev", "raw_transcription"),
                       ("covost", "sentence")):
        (data / f"{name}.yaml").write_text(f"path: {name}.jsonl\naudio_column: audio\ntext_column: {text}\n"
                                           "id_column: id\n")
    (wf / "harness.tconf").write_text(TCONF.format(repo=REPO, models=models))
    (wf / "harness.tape").write_text(TAPE)

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=str(REPO), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "ducttape", "harness.tape", "-p", "harness", "-y", "-j", "2"],
                          cwd=wf, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-6000:]
    out = wf / "out"
    scores = {p.parent.name: json.loads(p.read_text()) for p in (out / "Score").glob("*/scores.json")
              if not p.parent.is_symlink()}
    assert len(scores) == 11
    labels = sorted(s["testset"] + " " + (s.get("lang_pair") or "") for s in scores.values())
    assert labels.count("fleurs asr ") == 3  # SpireFull, SpireBase (2-shot from FLEURS dev), Whisper
    assert "covost2 st_gold en-de" in labels and "flores mt de-en" in labels and "fleurs st_cascade en-de" in labels
    # FLEURS references: every recording's FLORES devtest translation, the bad clip's included
    refs = (out / "FleursRefs" / "Baseline.baseline" / "refs.txt").read_text().split("\n")
    align = json.loads((out / "FleursRefs" / "Baseline.baseline" / "align.json").read_text())
    assert all(refs[:4]) and (align["exact"], align["unmatched"], align["match"]) == (4, 0, "exact")
    st = next(s for s in scores.values() if s["testset"] == "fleurs st")
    assert st["n"] == 4 and st["n_skipped_empty_refs"] == 0
    # CoVoST references come from its translation column, FLORES sources/references from the dataset
    assert (out / "CovostRefs" / "TestSet.covost2" / "refs.txt").read_text().split("\n")[0] == "hallo nummer 0"
    assert "hallo nummer 0" in (out / "CovostRefs" / "TestSet.covost2" / "refs.txt").read_text()
    res = tmp_path / "results"
    subprocess.run([sys.executable, str(REPO / "tasks" / "collect_results.py"), "--glob",
                    str(out / "Score" / "*" / "scores.json"), "--names",
                    str(REPO / "configs" / "eval" / "variants.yaml"), "--out-dir", str(res)],
                   check=True, env=env, capture_output=True)
    for task in ("asr", "st", "mt"):
        assert (res / f"{task}.md").is_file() and (res / f"{task}.png").stat().st_size > 0
        cells = list(csv.DictReader(open(res / f"{task}_cells.csv")))
        assert cells and all(c["realizations"].startswith("Score/") for c in cells)
    asr = list(csv.reader(open(res / "asr.csv")))
    assert [r[0] for r in asr[1:]] == ["Whisper large-v3", "SpireBase [released]", "SpireFull [released]"]
    assert all(v != "" for r in asr[1:] for v in r[1:])  # every planned cell has a number
