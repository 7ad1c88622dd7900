"""k-means training: streams features, held-out inertia decreases and is logged, model loads in Labeler."""
from __future__ import annotations

import json
import logging

import joblib
import numpy as np
import pytest

from conftest import run_task, task_main
from spire.audio_data import open_audio_dataset
from spire.dsus import Labeler
from spire.encoders import load_encoder
from spire.kmeans import iter_feature_windows, load_kmeans, save_kmeans, split_heldout, train_kmeans


def test_train_on_mini_corpus(mfcc_encoder, mini_corpus, tmp_path, caplog):
    enc = load_encoder(mfcc_encoder)
    train = open_audio_dataset(mini_corpus / "train.yaml")
    dev = open_audio_dataset(mini_corpus / "dev.yaml")
    heldout, _ = split_heldout(iter_feature_windows(enc, [dev], [1.0], None), 1e9, enc.frame_rate)
    windows = (f for f, _ in iter_feature_windows(enc, [train], [1.0], None, window_seconds=10))
    with caplog.at_level(logging.INFO, logger="spire"):
        km, hist = train_kmeans(windows, 20, heldout, batch_frames=500, seed=0, epochs=2)
    assert len(hist.heldout_inertia) >= 6
    assert hist.heldout_inertia[-1] < hist.heldout_inertia[0]
    assert "held-out inertia per frame" in caplog.text
    assert km.cluster_centers_.shape == (20, 39) and km.reassignment_ratio == 0.01
    save_kmeans(km, tmp_path / "km.joblib")
    labeler = Labeler(mfcc_encoder, tmp_path / "km.joblib", device="cpu")
    units = labeler.units(mini_corpus / "wavs" / "train" / "train-00000.wav", dedup=False)
    assert len(units) > 50 and len(set(units)) > 5 and max(units) < 20


def test_early_stop_and_too_few_frames(mfcc_encoder, mini_corpus):
    enc = load_encoder(mfcc_encoder)
    train = open_audio_dataset(mini_corpus / "train.yaml")
    frames = np.concatenate([f for f, _ in iter_feature_windows(enc, [train], [1.0], None)])
    km, hist = train_kmeans(iter([frames]), 10, frames[:300], batch_frames=300, patience=1, tol=0.5, epochs=3)
    assert hist.stopped_early and len(hist.heldout_inertia) == 2
    with pytest.raises(ValueError, match="only 50 frames for 100 clusters"):
        train_kmeans(iter([frames[:50]]), 100, frames[:10], batch_frames=1000)


def test_weighted_sampling_respects_hour_limit(mfcc_encoder, mini_corpus):
    enc = load_encoder(mfcc_encoder)
    train = open_audio_dataset(mini_corpus / "train.yaml")
    dev = open_audio_dataset(mini_corpus / "dev.yaml")
    got = sum(s for _, s in iter_feature_windows(enc, [train, dev], [3.0, 1.0], 20.0, window_seconds=1))
    assert 20.0 <= got < 20.0 + 2 * 4.0  # stops once each dataset's share is reached


def test_feature_windows_decoded_by_workers_equal_the_serial_ones(mfcc_encoder, mini_corpus):
    """KMeansFeatures' decode processes change where the audio is decoded, not which rows, in which
    order, where the hour budget stops, or the features."""
    enc = load_encoder(mfcc_encoder)
    train = open_audio_dataset(mini_corpus / "train.yaml")
    serial = list(iter_feature_windows(enc, [train], [1.0], 15.0, seed=3, window_seconds=4))
    parallel = list(iter_feature_windows(enc, [train], [1.0], 15.0, seed=3, window_seconds=4, workers=2))
    assert [s for _, s in parallel] == [s for _, s in serial] and sum(s for _, s in serial) >= 15.0
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(serial, parallel))


def test_train_kmeans_cli(mfcc_encoder, mini_corpus, tiny_hubert, tmp_path):
    out = tmp_path / "km.joblib"
    proc = run_task("train_kmeans.py", "--encoder", mfcc_encoder, "--data", f"{mini_corpus / 'train.yaml'}:2",
                    f"{mini_corpus / 'dev.yaml'}:1", "--n-clusters", 12, "--batch-frames", 400,
                    "--heldout-hours", 0.002, "--max-hours", 0.02, "--out", out, "--history-out", tmp_path / "h.json")
    assert "held-out inertia per frame" in proc.stderr
    assert load_kmeans(out).cluster_centers_.shape == (12, 39)
    hist = json.loads((tmp_path / "h.json").read_text())["heldout_inertia"]
    assert hist[-1] < hist[0]
    main = task_main("train_kmeans.py")
    with pytest.raises(SystemExit, match=r"39-d centres.*64-d features"):
        main(["--encoder", str(tiny_hubert), "--layer", "2", "--data", str(mini_corpus / "train.yaml"),
              "--n-clusters", "12", "--init-model", str(out), "--out", str(tmp_path / "x.joblib")])
    with pytest.raises(FileNotFoundError, match="nope.yaml: no such file"):
        main(["--encoder", str(mfcc_encoder), "--data", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "y.joblib")])
    assert not (tmp_path / "x.joblib").exists() and not (tmp_path / "y.joblib").exists()


def test_load_kmeans_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.joblib"):
        load_kmeans(tmp_path / "absent.joblib")
    joblib.dump([1, 2], tmp_path / "list.joblib")
    with pytest.raises(ValueError, match="list.joblib.*cluster_centers_"):
        load_kmeans(tmp_path / "list.joblib")


# ----------------------------------------------------------- stored features, several corpora
def test_stored_features_train_exactly_as_the_direct_stream(mfcc_encoder, mini_corpus, tmp_path):
    """One corpus through kmeans_features.py + train_kmeans.py --features gives the very model the
    direct --data stream gives (so the miniature's k-means and labels do not change)."""
    task_main("kmeans_features.py")(["--encoder", str(mfcc_encoder), "--data", str(mini_corpus / "train.yaml"),
                                     "--max-hours", "0.01", "--window-seconds", "5", "--seed", "3", "--out", str(tmp_path / "f")])
    common = ["--n-clusters", "12", "--batch-frames", "400", "--heldout-hours", "0.001", "--seed", "3"]
    task_main("train_kmeans.py")(["--features", str(tmp_path / "f"), *common, "--out", str(tmp_path / "a.joblib")])
    task_main("train_kmeans.py")(["--encoder", str(mfcc_encoder), "--data", str(mini_corpus / "train.yaml"),
                                  "--max-hours", "0.01", "--window-seconds", "5", *common,
                                  "--out", str(tmp_path / "b.joblib")])
    assert np.array_equal(load_kmeans(tmp_path / "a.joblib").cluster_centers_,
                          load_kmeans(tmp_path / "b.joblib").cluster_centers_)


def test_three_corpora_sample_init_and_inertia_per_pass(mfcc_encoder, mini_corpus, tmp_path, caplog):
    dirs = []
    for split, hours in (("train", 0.006), ("dev", 0.002), ("test", 0.002)):
        task_main("kmeans_features.py")(["--encoder", str(mfcc_encoder), "--data", str(mini_corpus / f"{split}.yaml"),
                                         "--max-hours", str(hours), "--window-seconds", "2",
                                         "--dtype-out", "float16", "--out", str(tmp_path / split)])
        dirs.append(str(tmp_path / split))
    from spire.kmeans import feature_plan

    plan = feature_plan(dirs)
    corpora = [f.parent.name for f, _ in plan]
    assert set(corpora[:6]) == {"train", "dev", "test"}  # interleaved, not one corpus after another
    share = corpora[: len(corpora) // 2].count("train") / (len(corpora) // 2)
    assert 0.4 < share < 0.8  # train holds ~60% of the frames, and so of every stretch of the stream
    with caplog.at_level(logging.INFO, logger="train_kmeans"):
        task_main("train_kmeans.py")(["--features", *dirs, "--n-clusters", "10", "--batch-frames", "300",
                                      "--heldout-hours", "0.0005", "--init", "sample", "--epochs", "2",
                                      "--out", str(tmp_path / "km.joblib"), "--history-out", str(tmp_path / "h.json")])
    hist = json.loads((tmp_path / "h.json").read_text())
    assert len(hist["pass_inertia"]) == 2 and hist["pass_inertia"][1] <= hist["pass_inertia"][0] * 1.05
    assert "k-means++ init on" in caplog.text and "drawn from all" in caplog.text
    assert load_kmeans(tmp_path / "km.joblib").cluster_centers_.shape == (10, 39)


def test_sample_frames_skips_heldout_and_spans_the_budget(tmp_path):
    from spire.kmeans import feature_plan, sample_frames, write_feature_windows

    windows = [(np.arange(i * 100, (i + 1) * 100, dtype=np.float32)[:, None].repeat(3, 1), 1.0) for i in range(10)]
    write_feature_windows(iter(windows), tmp_path / "f", frame_rate=50.0)
    got = sample_frames(feature_plan([tmp_path / "f"]), 200, skip=150, seed=0)[:, 0]
    assert len(got) == 200 and len(set(got)) == 200 and got.min() >= 150
    assert got.max() > 900 and np.median(got) > 400  # drawn from the whole stream, not its start


def test_load_kmeans_from_released_layout_and_mirror(mfcc_kmeans, tmp_path, monkeypatch):
    """utter-project/SpireKMeans is a hub repo with one joblib file named ``kmeans_model``."""
    repo = tmp_path / "mirror" / "models" / "utter-project" / "SpireKMeans"
    repo.mkdir(parents=True)
    (repo / "kmeans_model").write_bytes(mfcc_kmeans.read_bytes())
    (repo / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n")
    want = load_kmeans(mfcc_kmeans).cluster_centers_
    assert np.array_equal(load_kmeans(repo).cluster_centers_, want)
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path / "mirror"))
    assert np.array_equal(load_kmeans("utter-project/SpireKMeans").cluster_centers_, want)
    (repo / "a.joblib").write_bytes(b"x")
    (repo / "b.joblib").write_bytes(b"x")
    (repo / "kmeans_model").unlink()
    with pytest.raises(FileNotFoundError, match="one model file"):
        load_kmeans(repo)
