"""The rows added to the paper's tables (HuBERT-Large + CTC, SeamlessM4T-v2 text MT, Table 8's
post-editing and NER) resolve in the paper-scale evaluation tapes with the harness config of
test_eval_paper_tasks.py: which tasks each cell runs, without running them (that is the slow
harness's and the rehearsal's job)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_eval_paper_tasks import TAPE, TCONF  # noqa: E402

# the harness config with the new baselines as EvalModel branches
ROWS_TCONF = (TCONF.replace("whisper={models}/whisper)", "whisper={models}/whisper\n"
                            "      hubert_ctc={models}/hubert_ctc seamless={models}/seamless)")
              .replace("whisper=instruct)", "whisper=instruct hubert_ctc=instruct seamless=instruct)")
              .replace("whisper=$hyps@DecodeAudio)", "whisper=$hyps@DecodeAudio\n"
                       "      hubert_ctc=$hyps@DecodeAudio seamless=$hyps@DecodeAudio)"))
ROWS_PLAN = """
plan rows {
  reach Score via (EvalModel: hubert_ctc) * (EvalTask: asr) * (TestSet: fleurs)
  reach Score via (EvalModel: seamless) * (EvalTask: mt) * (TestSet: flores) * (Direction: *)
  reach ScoreTowerTask via (EvalModel: released_full) * (TowerTask: *) * (APEPair: *) * (NERLang: *)
}
"""


def test_new_rows_resolve_to_their_tasks(tmp_path):
    wf = tmp_path / "workflows"
    wf.mkdir()
    for name in ("eval.tape", "eval_paper.tape"):
        shutil.copy(REPO / "workflows" / name, wf / name)
    assert ROWS_TCONF.count("hubert_ctc=") == 3  # every replacement found its line
    (wf / "harness.tconf").write_text(ROWS_TCONF.format(repo=REPO, models=tmp_path / "models"))
    (wf / "harness.tape").write_text(TAPE + ROWS_PLAN)
    proc = subprocess.run([sys.executable, "-m", "ducttape", "harness.tape", "-p", "rows", "list"],
                          cwd=wf, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = sorted(tuple(line.split()[:2]) for line in proc.stdout.splitlines()
                   if re.fullmatch(r"[A-Z]\w* \S+ to-run", line.strip()))
    by_task = {}
    for task, real in cells:
        by_task.setdefault(task, set()).add(real)
    # the baselines decode with DecodeAudio (no prompts, no units): CTC ASR and Seamless text MT
    assert by_task["DecodeAudio"] == {"EvalModel.hubert_ctc", "EvalModel.seamless+EvalTask.mt+TestSet.flores",
                                      "Direction.to_en+EvalModel.seamless+EvalTask.mt+TestSet.flores"}
    assert "Decode" not in by_task and "BuildEvalPrompts" not in by_task
    # Seamless MT reads the FLORES sources of MTTestSet
    assert by_task["MTTestSet"] == {"TestSet.flores", "Direction.to_en+TestSet.flores"}
    # Table 8: one prompt set, decode and score per subtask
    assert by_task["TowerTaskPrompts"] == {"Baseline.baseline", "TowerTask.ner"}
    # (released_full is the harness's baseline EvalModel, so its name is left out)
    assert by_task["ScoreTowerTask"] == by_task["DecodeTowerTask"] == {"Baseline.baseline", "TowerTask.ner"}
    assert len(by_task["Score"]) == 3
