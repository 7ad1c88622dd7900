"""Corpus labelling: dataset sources, sharding, batching order, alignment, resume after a kill."""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, run_task, task_main
from spire.audio_data import batches_by_seconds, load_dataset_config, open_audio_dataset, shard_range
from spire.dsus import Labeler, label_corpus
from spire.io import read_lines, write_jsonl


@pytest.fixture(scope="module")
def mfcc_labeler(mfcc_encoder, mfcc_kmeans):
    return Labeler(mfcc_encoder, mfcc_kmeans, device="cpu", dtype="fp32", batch_seconds=8)


def test_batches_by_seconds_cover_sorted_and_bounded():
    rng = np.random.default_rng(0)
    durs = rng.uniform(0.5, 6.0, size=57).tolist() + [30.0]
    batches = batches_by_seconds(durs, 12.0)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(durs)))
    assert [durs[i] for i in flat] == sorted(durs)
    for b in batches:
        assert max(durs[i] for i in b) * len(b) <= 12.0 or len(b) == 1
    assert [57] in batches  # too long for the budget: alone


@pytest.mark.parametrize("total,n", [(0, 3), (5, 8), (24, 5), (1001, 7)])
def test_shards_cover_each_row_once(total, n):
    rows = [i for k in range(n) for i in shard_range(total, (k, n))]
    assert rows == list(range(total))
    assert list(shard_range(total, start=3, count=4)) == list(range(min(3, total), min(7, total)))


def test_batched_labels_in_dataset_order(mfcc_labeler, mini_corpus):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    recs = ds.records()
    lines = mfcc_labeler.label_batch([r.audio for r in recs])  # batch_seconds=8 → several sorted batches
    assert lines == [mfcc_labeler.label(r.audio) for r in recs]


def test_shards_concatenate_to_full_run(mfcc_labeler, mini_corpus, tmp_path):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    label_corpus(mfcc_labeler, ds, range(len(ds)), tmp_path / "full.txt", chunk_utts=5)
    parts = []
    for k in range(3):
        label_corpus(mfcc_labeler, ds, shard_range(len(ds), (k, 3)), tmp_path / f"s{k}.txt", chunk_utts=4)
        parts += read_lines(tmp_path / f"s{k}.txt")
    assert parts == read_lines(tmp_path / "full.txt") and len(parts) == len(ds)


def test_bad_audio_gives_empty_line_in_place(mfcc_labeler, mini_corpus, tmp_path):
    rows = [json.loads(x) for x in (mini_corpus / "train.jsonl").read_text().splitlines()[:4]]
    for r in rows:
        r["audio"] = str(mini_corpus / r["audio"])
    (tmp_path / "bad.wav").write_bytes(b"RIFF1234WAVEfmt garbage")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    rows[1:1] = [{"id": "bad", "audio": "bad.wav", "text": "x"}, {"id": "empty", "audio": "empty.wav", "text": "y"},
                 {"id": "gone", "audio": "gone.wav", "text": "z"}]
    write_jsonl(tmp_path / "m.jsonl", rows)
    (tmp_path / "m.yaml").write_text("path: m.jsonl\ntext_column: text\nid_column: id\n")
    run_task("label_corpus.py", "--encoder", mfcc_labeler_dir(mfcc_labeler), "--kmeans", KM[0],
             "--data", tmp_path / "m.yaml", "--out", tmp_path / "u.txt", "--format", "indices",
             "--ids-out", tmp_path / "ids.txt", "--text-out", tmp_path / "t.txt", "--chunk-utts", 2,
             "--max-unreadable", 0.5)
    lines = read_lines(tmp_path / "u.txt")
    assert len(lines) == 7 and lines[1:4] == ["", "", ""] and all(lines[i] for i in (0, 4, 5, 6))
    assert lines[4] == mfcc_labeler.label(rows[4]["audio"], fmt="indices")
    assert read_lines(tmp_path / "ids.txt")[1:4] == ["bad", "empty", "gone"]
    assert read_lines(tmp_path / "t.txt")[1:4] == ["x", "y", "z"]


KM: list = []


def mfcc_labeler_dir(labeler):
    return KM[1]


@pytest.fixture(autouse=True)
def _remember_paths(mfcc_encoder, mfcc_kmeans, mfcc_labeler):
    mfcc_labeler._encoder_dir = mfcc_encoder
    KM[:] = [mfcc_kmeans, mfcc_encoder]


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_resume_after_kill(tiny_hubert, hubert_kmeans, mini_corpus, tmp_path):
    """Kill label_corpus.py mid-run (SIGKILL), rerun the same command: same file as one clean run."""
    out = tmp_path / "units.txt"
    partial = tmp_path / "units.txt.partial"
    args = [sys.executable, str(REPO / "tasks" / "label_corpus.py"), "--encoder", str(tiny_hubert), "--layer", "2",
            "--kmeans", str(hubert_kmeans), "--data", str(mini_corpus / "train.yaml"), "--out", str(out),
            "--no-dedup", "--chunk-utts", "1", "--batch-seconds", "3", "--start", "2", "--count", "12"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while _count_lines(partial) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _count_lines(partial)
    assert 2 <= done < 12 and not out.exists(), f"kill came too late ({done} lines)"
    with open(partial, "ab") as f:  # a torn line, as if killed in the middle of a write
        f.write("\U000f0001\U000f0002".encode())
    task_main("label_corpus.py")(args[2:])  # the same command again (in-process: saves an import)
    assert not partial.exists()
    labeler = Labeler(tiny_hubert, hubert_kmeans, layer=2, device="cpu", dtype="fp32")
    recs = open_audio_dataset(mini_corpus / "train.yaml").records(2, 14)
    assert read_lines(out) == labeler.label_batch([r.audio for r in recs], dedup=False)


def test_resume_refuses_other_options(mfcc_labeler, mini_corpus, tmp_path):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    out = tmp_path / "u.txt"
    (tmp_path / "u.txt.partial").write_text("\n")
    (tmp_path / "u.txt.partial.json").write_text(json.dumps({"rows": [0, 24], "dedup": False, "format": "pua",
                                                             "n_clusters": 24, "encoder_dim": 39}))
    with pytest.raises(ValueError, match="u.txt.partial was started with other options"):
        label_corpus(mfcc_labeler, ds, range(24), out, dedup=True)


def test_dataset_sources(mini_corpus, tmp_path):
    from datasets import Audio, Dataset

    jsonl = open_audio_dataset(mini_corpus / "dev.yaml")
    recs = jsonl.records()
    assert [r.id for r in recs] == [f"dev-{i:05d}" for i in range(6)]
    assert recs[0].text == read_lines(mini_corpus / "dev.txt")[0] and recs[0].duration > 0
    assert Path(recs[0].audio).is_file()
    # TSV manifest with a header
    (tmp_path / "m.tsv").write_text("id\taudio\ttext\n" + "".join(f"{r.id}\t{r.audio}\t{r.text}\n" for r in recs))
    (tmp_path / "tsv.yaml").write_text("path: m.tsv\ntext_column: text\nid_column: id\n")
    assert [(r.id, r.audio, r.text) for r in open_audio_dataset(tmp_path / "tsv.yaml").records()] == \
           [(r.id, r.audio, r.text) for r in recs]
    # load_from_disk directory (DatasetDict) with an Audio column, kept undecoded
    ds = Dataset.from_dict({"audio": [r.audio for r in recs], "sentence": [r.text for r in recs]})
    ds = ds.cast_column("audio", Audio())
    from datasets import DatasetDict
    DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "hf"))
    (tmp_path / "hf.yaml").write_text("path: hf\nsplit: test\ntext_column: sentence\n")
    hf = open_audio_dataset(tmp_path / "hf.yaml")
    hrecs = hf.records(2, 4)
    assert [r.index for r in hrecs] == [2, 3] and hrecs[0].text == recs[2].text
    assert isinstance(hrecs[0].audio, dict) and hrecs[0].audio["bytes"] is not None
    # audio folder
    folder = tmp_path / "folder"
    folder.mkdir()
    for r in recs[:3]:
        (folder / Path(r.audio).name).write_bytes(Path(r.audio).read_bytes())
    (tmp_path / "f.yaml").write_text("path: folder\n")
    assert [r.id for r in open_audio_dataset(tmp_path / "f.yaml").records()] == [r.id for r in recs[:3]]


def test_dataset_config_errors(mini_corpus, tmp_path):
    (tmp_path / "a.yaml").write_text(f"path: {mini_corpus / 'dev.jsonl'}\ntext_column: transcript\n")
    with pytest.raises(ValueError, match=r"a.yaml: text_column 'transcript' is not a column.*'text'"):
        open_audio_dataset(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text(f"path: {mini_corpus / 'dev.jsonl'}\naudio_col: audio\n")
    with pytest.raises(ValueError, match=r"b.yaml: unknown key\(s\) \['audio_col'\]"):
        load_dataset_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("path: ./missing_dir/x.jsonl\n")
    with pytest.raises(FileNotFoundError, match="c.yaml.*missing_dir"):
        open_audio_dataset(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match="--shard"):
        from spire.audio_data import parse_shard
        parse_shard("3/3")


def test_dedup_and_stats_tasks(mfcc_labeler, mini_corpus, tmp_path):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    label_corpus(mfcc_labeler, ds, range(len(ds)), tmp_path / "raw.txt", dedup=False)
    run_task("dedup_units.py", "--in", tmp_path / "raw.txt", "--out", tmp_path / "dedup.txt")
    assert read_lines(tmp_path / "dedup.txt") == [mfcc_labeler.label(r.audio) for r in ds.records()]
    run_task("units_stats.py", "--units", tmp_path / "raw.txt", "--data", mini_corpus / "train.yaml",
             "--n-clusters", 24, "--out-json", tmp_path / "s.json", "--out-png", tmp_path / "s.png")
    stats = json.loads((tmp_path / "s.json").read_text())
    assert 45 < stats["units_per_second"] < 55  # 50 MFCC frames per second
    assert 0 < stats["dedup_kept_share"] < 1 and stats["utterances"] == 24
    assert sum(stats["cluster_counts"]) == stats["units"]
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="raw.txt has 24 lines but"):
        task_main("units_stats.py")(["--units", str(tmp_path / "raw.txt"), "--data", str(mini_corpus / "dev.yaml"),
                                     "--n-clusters", "24", "--out-json", str(tmp_path / "t.json")])


def _manifest(tmp_path: Path, mini_corpus: Path, name: str, audio=None, n=9):
    rows = [json.loads(x) for x in (mini_corpus / "train.jsonl").read_text().splitlines()[:n]]
    audio = audio or (lambda r: str(mini_corpus / r["audio"]))
    write_jsonl(tmp_path / f"{name}.jsonl", [{**r, "audio": audio(r)} for r in rows])
    (tmp_path / f"{name}.yaml").write_text(f"path: {name}.jsonl\ntext_column: text\nid_column: id\n")
    return tmp_path / f"{name}.yaml"


def test_all_wrong_paths_fail_with_count_and_first_paths(mini_corpus, tmp_path):
    data = _manifest(tmp_path, mini_corpus, "wrong", audio=lambda r: f"/nowhere/{r['id']}.wav")
    proc = run_task("label_corpus.py", "--encoder", mfcc_labeler_dir(None), "--kmeans", KM[0], "--data", data,
                    "--out", tmp_path / "u.txt", "--text-out", tmp_path / "t.txt", check=False)
    assert proc.returncode != 0
    assert "9 unreadable utterance(s)" in proc.stderr and "/nowhere/train-00000.wav" in proc.stderr
    assert "--max-unreadable" in proc.stderr
    assert not (tmp_path / "u.txt").exists() and not (tmp_path / "t.txt").exists()
    # the stats step refuses a corpus of empty lines too
    (tmp_path / "empty.txt").write_text("\n" * 9)
    proc = run_task("units_stats.py", "--units", tmp_path / "empty.txt", "--n-clusters", 24, "--max-empty", 0.01,
                    "--out-json", tmp_path / "s.json", check=False)
    assert proc.returncode != 0 and "9 of 9 lines are empty" in proc.stderr and not (tmp_path / "s.json").exists()


def test_rerun_with_other_dataset_is_refused_and_nothing_rewritten(mini_corpus, tmp_path):
    first = _manifest(tmp_path, mini_corpus, "a", n=9)
    args = ["--encoder", str(mfcc_labeler_dir(None)), "--kmeans", str(KM[0]), "--out", str(tmp_path / "u.txt"),
            "--text-out", str(tmp_path / "t.txt")]
    task_main("label_corpus.py")([*args, "--data", str(first)])
    units, text = (tmp_path / "u.txt").read_bytes(), (tmp_path / "t.txt").read_bytes()
    task_main("label_corpus.py")([*args, "--data", str(first)])  # same inputs: nothing to do
    other = _manifest(tmp_path, mini_corpus, "b", n=10)
    with pytest.raises(SystemExit, match=r"u.txt was made from other inputs.*data: .*a.yaml.* then, .*b.yaml.* now"):
        task_main("label_corpus.py")([*args, "--data", str(other)])
    with pytest.raises(SystemExit, match=r"no-dedup|dedup: True then, False now"):
        task_main("label_corpus.py")([*args, "--data", str(first), "--no-dedup"])
    assert (tmp_path / "u.txt").read_bytes() == units and (tmp_path / "t.txt").read_bytes() == text
    task_main("label_corpus.py")([*args, "--data", str(other), "--overwrite"])
    assert len(read_lines(tmp_path / "u.txt")) == len(read_lines(tmp_path / "t.txt")) == 10


def test_decode_workers_give_the_serial_labels(mfcc_labeler, mini_corpus, tmp_path):
    ds = open_audio_dataset(mini_corpus / "train.yaml")
    label_corpus(mfcc_labeler, ds, range(3, 20), tmp_path / "serial.txt", chunk_utts=4,
                 durations_out=tmp_path / "d0.txt")
    label_corpus(mfcc_labeler, ds, range(3, 20), tmp_path / "workers.txt", chunk_utts=4, workers=2,
                 durations_out=tmp_path / "d2.txt")
    assert (tmp_path / "serial.txt").read_bytes() == (tmp_path / "workers.txt").read_bytes()
    durs = [float(x) for x in read_lines(tmp_path / "d2.txt")]
    assert durs == [float(x) for x in read_lines(tmp_path / "d0.txt")]
    assert durs == pytest.approx([r.duration for r in ds.records(3, 20)], abs=1e-3)


def test_text_records_skip_the_audio_column(mini_corpus, tmp_path):
    from datasets import Audio, Dataset

    from spire.audio_data import text_records

    recs = open_audio_dataset(mini_corpus / "dev.yaml").records()
    ds = Dataset.from_dict({"audio": [r.audio for r in recs], "sentence": [r.text for r in recs],
                            "duration": [r.duration for r in recs]}).cast_column("audio", Audio())
    ds.save_to_disk(str(tmp_path / "hf"))
    (tmp_path / "hf.yaml").write_text("path: hf\ntext_column: sentence\n")
    hf = open_audio_dataset(tmp_path / "hf.yaml")
    got = text_records(hf, 1, 5)
    assert [(r.index, r.text, r.audio) for r in got] == [(r.index, r.text, None) for r in recs[1:5]]
    assert [r.duration for r in got] == pytest.approx([r.duration for r in recs[1:5]])


def test_merge_shards_checks_the_tiling(mfcc_labeler, mini_corpus, tmp_path):
    data = mini_corpus / "train.yaml"
    base = ["--encoder", str(mfcc_labeler_dir(None)), "--kmeans", str(KM[0]), "--data", str(data), "--no-dedup"]
    for k in range(3):
        task_main("label_corpus.py")([*base, "--shard", f"{k}/3", "--out", str(tmp_path / f"u{k}.txt"),
                                      "--text-out", str(tmp_path / f"t{k}.txt"), "--shard-json", str(tmp_path / f"s{k}.json")])
    task_main("label_corpus.py")([*base, "--out", str(tmp_path / "full.txt")])
    merge = task_main("merge_shards.py")
    merge(["--shards", *(str(tmp_path / f"s{k}.json") for k in (2, 0, 1)),
           "--out", f"units={tmp_path / 'm.txt'}", f"text={tmp_path / 'mt.txt'}"])
    assert (tmp_path / "m.txt").read_bytes() == (tmp_path / "full.txt").read_bytes()
    assert len(read_lines(tmp_path / "mt.txt")) == 24
    with pytest.raises(SystemExit, match=r"s2.json \(shard 2/3\) starts at row 16 but the shards before it end at row 8: a gap"):
        merge(["--shards", str(tmp_path / "s0.json"), str(tmp_path / "s2.json"), "--out", f"units={tmp_path / 'x.txt'}"])
    with pytest.raises(SystemExit, match="a shard is missing"):
        merge(["--shards", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"), "--out", f"units={tmp_path / 'x.txt'}"])
    assert not (tmp_path / "x.txt").exists()


def test_hours_cap_then_shards_and_stats_from_durations(mini_corpus, tmp_path):
    data = mini_corpus / "train.yaml"
    recs = open_audio_dataset(data).records()
    cap = sum(r.duration for r in recs[:10]) + 1e-3  # exactly the first 10 rows
    base = ["--encoder", str(mfcc_labeler_dir(None)), "--kmeans", str(KM[0]), "--data", str(data), "--no-dedup",
            "--max-hours", str(cap / 3600)]
    label = task_main("label_corpus.py")
    for k in range(2):
        label([*base, "--shard", f"{k}/2", "--out", str(tmp_path / f"u{k}.txt"),
               "--durations-out", str(tmp_path / f"d{k}.txt"), "--shard-json", str(tmp_path / f"s{k}.json")])
    assert [json.loads((tmp_path / f"s{k}.json").read_text())["rows"] for k in range(2)] == [[0, 5], [5, 10]]
    task_main("merge_shards.py")(["--shards", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"),
                                  "--out", f"units={tmp_path / 'u.txt'}", f"durations={tmp_path / 'd.txt'}"])
    durs = [float(x) for x in read_lines(tmp_path / "d.txt")]
    assert durs == pytest.approx([r.duration for r in recs[:10]], abs=1e-3)
    stats = task_main("units_stats.py")
    stats(["--units", str(tmp_path / "u.txt"), "--durations", str(tmp_path / "d.txt"), "--n-clusters", "24",
           "--max-empty", "0.01", "--out-json", str(tmp_path / "a.json")])
    (tmp_path / "ten.jsonl").write_text("".join(x + "\n" for x in (mini_corpus / "train.jsonl").read_text()
                                                .splitlines()[:10]).replace('"wavs/', f'"{mini_corpus}/wavs/'))
    (tmp_path / "ten.yaml").write_text("path: ten.jsonl\ntext_column: text\nid_column: id\n")
    stats(["--units", str(tmp_path / "u.txt"), "--data", str(tmp_path / "ten.yaml"), "--n-clusters", "24",
           "--out-json", str(tmp_path / "b.json")])
    a, b = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "ab")
    assert a["seconds"] == pytest.approx(b["seconds"], abs=1e-2) and a["units"] == b["units"]


def test_truncated_wav_fails_labelling_naming_file_and_why(mini_corpus, tmp_path):
    """A cut WAV (its header says more than it holds) is unreadable, never labelled as a short
    utterance: above --max-unreadable the run fails naming it and why (issue 31, case 7)."""
    src = mini_corpus / json.loads((mini_corpus / "train.jsonl").read_text().splitlines()[2])["audio"]
    cut = tmp_path / "cut.wav"
    cut.write_bytes(src.read_bytes()[:2048])
    data = _manifest(tmp_path, mini_corpus, "cut", n=4,
                     audio=lambda r: str(cut) if r["id"].endswith("2") else str(mini_corpus / r["audio"]))
    args = ["--encoder", mfcc_labeler_dir(None), "--kmeans", KM[0], "--data", data, "--format", "indices"]
    proc = run_task("label_corpus.py", *args, "--out", tmp_path / "u.txt", check=False)
    assert proc.returncode != 0 and not (tmp_path / "u.txt").exists()
    assert "1 unreadable utterance(s)" in proc.stderr
    assert f"row 2 (train-00002): {cut}: truncated or corrupt audio: its header says" in proc.stderr
    # accepted as an empty line in place when the share allows it, and counted
    run_task("label_corpus.py", *args, "--out", tmp_path / "v.txt", "--max-unreadable", 0.5,
             "--durations-out", tmp_path / "d.txt")
    assert [bool(x) for x in read_lines(tmp_path / "v.txt")] == [True, True, False, True]
    assert float(read_lines(tmp_path / "d.txt")[2]) == 0.0


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_manifest_is_an_error_naming_it(tmp_path, content):
    """Issue 31, case 7: an empty manifest labelled to 0 lines with exit 0."""
    (tmp_path / "m.jsonl").write_text(content)
    (tmp_path / "m.yaml").write_text("path: m.jsonl\n")
    want = (f"{tmp_path / 'm.yaml'}: {tmp_path / 'm.jsonl'} is an empty manifest (no rows: 0 lines, "
            "or only blank lines); fill it, or point `path` at the right data")
    for script, args in (("label_corpus.py", ["--encoder", "e", "--kmeans", "k"]),
                         ("decode_audio.py", ["--model", "whisper", "--task", "asr"])):
        with pytest.raises(SystemExit, match=re.escape(want)):
            task_main(script)([*args, "--data", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "u.txt")])
    (tmp_path / "folder").mkdir()
    (tmp_path / "f.yaml").write_text("path: folder\n")
    with pytest.raises(SystemExit, match=r"the folder .*folder holds no audio files \(\.wav"):
        task_main("label_corpus.py")(["--encoder", "e", "--kmeans", "k", "--data", str(tmp_path / "f.yaml"),
                                      "--out", str(tmp_path / "u.txt")])
    assert not (tmp_path / "u.txt").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--chunk-utts", "0", "'0' is not a whole number >= 1"), ("--workers", "-2", "'-2' is not a whole number >= 0"),
    ("--max-unreadable", "1.5", "'1.5' is not a number from 0 to 1"), ("--chunk-seconds", "0", "'0' is not a number > 0"),
    ("--max-hours", "-1", "'-1' is not a number > 0"), ("--start", "x", "'x' is not a whole number >= 0"),
])
def test_label_corpus_numeric_options_are_checked(tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as e:
        task_main("label_corpus.py")(["--encoder", "e", "--kmeans", "k", "--data", "d.yaml", "--out", "u",
                                      option, value])
    assert e.value.code == 2 and f"argument {option}: {message}" in capsys.readouterr().err
