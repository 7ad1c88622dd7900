"""LabelSpeechShard/LabelSpeech through the real ducttape engine on a tiny tape that imports
workflows/units.tape: shards merge byte-identical to one unsharded run, and a shard killed with
SIGKILL mid-way resumes after its last complete line when ducttape reruns it."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from spire.audio_data import open_audio_dataset
from spire.dsus import Labeler, label_corpus
from spire.io import write_jsonl

TAPE = """\
import "{repo}/workflows/units.tape"

global {{
  ducttape_experimental_submitters=true
  ducttape_output={out}
  repo={repo}
  seed=0
  submitter=shell
  slurm_partition=""
  slurm_account=""
  mirror=""
  encoder={encoder}
  encoder_layer=2
  encoder_dtype=fp32
  encoder_device=cpu
  encoder_final_layer_norm=false
  encoder_pooling_width=1
  encoder_pooling_type=mean
  kmeans_data=(KMeansData: train={data})
  kmeans_hours=1
  kmeans_feature_dtype=float32
  kmeans_init=first-batch
  kmeans_epochs=1
  kmeans_clusters=16
  kmeans_batch_frames=20000
  kmeans_model={kmeans}
  speech_data=(SpeechCorpus: train={data})
  label_batch_seconds=0
  label_shards={n}
  label_shard=(LabelShard: 0..{last})
  label_workers={workers}
  label_chunk_utts=1
  label_max_hours=""
  label_max_unreadable=0.01
  kmeans_gpus=""
  kmeans_cpus=""
  kmeans_mem=""
  kmeans_time=""
  label_gpus=""
  cpu_cpus=""
  cpu_mem=""
  cpu_time=""
  label_cpus=""
  label_mem=""
  label_time=""
}}

plan label {{
  reach LabelSpeech
}}
"""


def write_tape(tmp: Path, n: int, workers: int, encoder, kmeans, data, layer: int = 2) -> Path:
    tape = tmp / "label.tape"
    tape.write_text(TAPE.format(repo=REPO, out=tmp / "out", encoder=encoder, kmeans=kmeans, data=data,
                                n=n, last=n - 1, workers=workers).replace("encoder_layer=2", f"encoder_layer={layer}"))
    return tape


def repeated_corpus(mini_corpus: Path, tmp: Path, times: int = 4) -> Path:
    """The train split ``times`` over, as one manifest."""
    rows = [json.loads(x) for x in (mini_corpus / "train.jsonl").read_text().splitlines()]
    rows = [{**r, "id": f"{k}-{r['id']}", "audio": str(mini_corpus / r["audio"])} for k in range(times) for r in rows]
    write_jsonl(tmp / "train.jsonl", rows)
    (tmp / "train.yaml").write_text("path: train.jsonl\ntext_column: text\nid_column: id\n")
    return tmp / "train.yaml"


def env():
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def ducttape(tape: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ducttape", str(tape), *args], cwd=tape.parent, env=env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_sharded_killed_and_resumed_equals_unsharded(tiny_hubert, hubert_kmeans, mini_corpus, tmp_path):
    data = repeated_corpus(mini_corpus, tmp_path)  # 96 rows: long enough to kill a shard in the middle
    ds = open_audio_dataset(data)
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32", batch_seconds=0)
    label_corpus(labeler, ds, range(len(ds)), tmp_path / "ref.txt", dedup=False)
    reference = (tmp_path / "ref.txt").read_bytes()

    tape = write_tape(tmp_path, 2, 1, tiny_hubert, hubert_kmeans, data)
    out = tmp_path / "out"
    resume = out / ".resume" / "LabelSpeechShard"
    proc = subprocess.Popen([sys.executable, "-m", "ducttape", str(tape), "-p", "label", "-y", "-j", "1"],
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    killed_after = 0
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            partials = list(resume.glob("*/units.nodedup.txt.partial")) if resume.exists() else []
            counts = [p.read_bytes().count(b"\n") for p in partials]
            if any(c >= 3 for c in counts):
                killed_after = max(counts)
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert 3 <= killed_after < 48, f"kill came too late ({killed_after} lines)"
    assert not (out / "LabelSpeech" / "Baseline.baseline" / "units.nodedup.txt").exists()

    rerun = ducttape(tape, "-p", "label", "-y", "-j", "1")
    logs = "".join(p.read_text() for p in (out / "LabelSpeechShard").glob("*/ducttape_stderr.txt"))
    resumed = [int(n) for n in re.findall(r"resuming \S+ after (\d+) of 48 lines", logs)]
    assert resumed and resumed[0] >= 3, logs[-3000:]
    merged = out / "LabelSpeech" / "Baseline.baseline"
    assert (merged / "units.nodedup.txt").read_bytes() == reference
    assert len((merged / "text.txt").read_text().splitlines()) == len(ds)
    assert len((merged / "durations.txt").read_text().splitlines()) == len(ds)
    assert not list(resume.glob("*/*")), "finished shards leave no partial output behind"
    assert "Running LabelSpeech/" in rerun.stderr


def test_units_stage_from_kmeans_features_to_merged_units(mfcc_encoder, mini_corpus, tmp_path):
    """KMeansFeatures -> TrainKMeans -> LabelSpeechShard x 2 -> LabelSpeech through the engine."""
    data = repeated_corpus(mini_corpus, tmp_path)
    tape = write_tape(tmp_path, 2, 0, mfcc_encoder, "$kmeans@TrainKMeans", data, layer=0)
    ducttape(tape, "-p", "label", "-y", "-j", "2")
    out = tmp_path / "out"
    km = out / "TrainKMeans" / "Baseline.baseline" / "kmeans.joblib"
    assert (out / "KMeansFeatures" / "Baseline.baseline" / "features" / "features.json").is_file()
    ds = open_audio_dataset(data)
    labeler = Labeler(mfcc_encoder, km, layer=0, device="cpu", dtype="fp32")
    label_corpus(labeler, ds, range(len(ds)), tmp_path / "ref.txt", dedup=False)
    merged = out / "LabelSpeech" / "Baseline.baseline"
    assert (merged / "units.nodedup.txt").read_bytes() == (tmp_path / "ref.txt").read_bytes()
    stats = json.loads((merged / "stats.json").read_text())
    assert stats["utterances"] == 96 and stats["empty_lines"] == 0 and 45 < stats["units_per_second"] < 55
