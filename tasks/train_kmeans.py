#!/usr/bin/env python
"""Train the k-means that turns encoder frames into speech units (docs/paper.md §1).

Streams features into scikit-learn MiniBatchKMeans.partial_fit, either computed here from one
or more audio datasets (--encoder/--data, weights give each one's share of the hours) or read
from feature directories of tasks/kmeans_features.py (--features: one per corpus, interleaved in
proportion, streamed from disk on every pass). Logs inertia per frame on held-out audio after
every batch and every pass; --init sample seeds the centres by k-means++ on a sample drawn from
the whole budget (the default, first-batch, seeds them from the first batch as
MiniBatchKMeans does). Writes the estimator with joblib, atomically.

    python tasks/train_kmeans.py --encoder facebook/hubert-large-ll60k --layer 22 \
        --data voxpopuli.yaml:1 mls.yaml:2 --n-clusters 5000 --max-hours 100 --out kmeans.joblib
    python tasks/train_kmeans.py --features vox/ mls/ giga/ --init sample --n-clusters 5000 --out km.joblib
"""
import argparse
import sys

from tqdm import tqdm

from spire.audio_data import open_audio_dataset
from spire.options import nonneg_float, positive_float, positive_int
from spire.kmeans import (feature_plan, iter_feature_windows, iter_stored_windows, load_kmeans, sample_frames,
                          sample_init_centers, save_kmeans, split_heldout, train_kmeans)
from spire.io import write_json
from spire.log import get_logger, log_read, log_wrote

log = get_logger("train_kmeans")


def parse_data(spec: str) -> tuple[str, float]:
    """``config.yaml:2.5`` → (``config.yaml``, 2.5); no suffix means weight 1."""
    path, sep, weight = spec.rpartition(":")
    try:
        w = float(weight) if sep else 1.0
    except ValueError:
        sep = ""
    if not sep:
        path, w = spec, 1.0
    if w <= 0:
        raise SystemExit(f"--data {spec}: weight must be positive")
    return path, w


def main(argv=None):
    # torch/transformers only when features are computed here (--data): --features needs neither
    encoder_args = "--data" in (argv if argv is not None else sys.argv)
    if encoder_args or "-h" in (argv or sys.argv) or "--help" in (argv or sys.argv):
        from spire.encoders import add_encoder_args
    else:
        def add_encoder_args(parser, required=False):
            for opt in ("--encoder", "--layer", "--device", "--dtype", "--final-layer-norm", "--pooling-width",
                        "--pooling-type"):
                parser.add_argument(opt, default=None, help=argparse.SUPPRESS)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_encoder_args(p, required=False)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", metavar="CONFIG.yaml[:WEIGHT]",
                     help="dataset configs, each with an optional sampling weight (default 1); needs --encoder")
    src.add_argument("--features", nargs="+", metavar="DIR",
                     help="feature directories of tasks/kmeans_features.py (one per corpus)")
    p.add_argument("--init", default="first-batch", choices=["first-batch", "sample"],
                   help="k-means++ on the first batch (default) or on --init-frames drawn from the whole budget")
    p.add_argument("--init-frames", type=positive_int, default=None,
                   help="frames of the --init sample (default: max(3 x batch frames, 10 x clusters))")
    p.add_argument("--n-clusters", type=positive_int.from_tconf("kmeans_clusters"), default=5000)
    p.add_argument("--out", required=True, help="joblib file to write")
    p.add_argument("--max-hours", type=positive_float, default=None, help="hours of training audio in all (default: everything)")
    p.add_argument("--heldout-data", default=None, help="dataset config for held-out audio (default: set aside "
                   "the first --heldout-hours of the training stream)")
    p.add_argument("--heldout-hours", type=positive_float, default=0.05)
    p.add_argument("--batch-frames", type=positive_int.from_tconf("kmeans_batch_frames"), default=20000)
    p.add_argument("--reassignment-ratio", type=nonneg_float, default=0.01)
    p.add_argument("--epochs", type=positive_int.from_tconf("kmeans_epochs"), default=1, help="passes over the frames (with --data >1 keeps them in memory; --features streams each pass from disk)")
    p.add_argument("--early-stop-patience", type=positive_int, default=None,
                   help="stop after this many batches without held-out improvement")
    p.add_argument("--init-model", default=None, help="continue training this joblib k-means")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window-seconds", type=positive_float, default=200.0, help="audio per encoder pass")
    p.add_argument("--history-out", default=None, help="optional JSON with held-out inertia per batch")
    a = p.parse_args(argv)

    if a.features:
        return train_from_features(a)
    if a.encoder is None:
        p.error("--data needs --encoder")
    from spire.encoders import encoder_kwargs, load_encoder

    encoder = load_encoder(a.encoder, layer=a.layer, device=a.device, dtype=a.dtype, **encoder_kwargs(a))
    init = check_init_model(a, encoder.dim)
    specs = [parse_data(s) for s in a.data]
    datasets = []
    for path, w in specs:
        ds = open_audio_dataset(path)
        log_read(log, "dataset", path, f"{len(ds)} utterances, weight {w}")
        datasets.append(ds)
    weights = [w for _, w in specs]
    max_s = None if a.max_hours is None else a.max_hours * 3600
    bar = tqdm(desc="k-means audio", unit="s", total=max_s)
    windows = iter_feature_windows(encoder, datasets, weights, max_s, a.seed, a.window_seconds, progress=bar)
    if a.heldout_data:
        held_ds = open_audio_dataset(a.heldout_data)
        heldout, _ = split_heldout(iter_feature_windows(encoder, [held_ds], [1.0], a.heldout_hours * 3600,
                                                        a.seed, a.window_seconds),
                                   a.heldout_hours * 3600, encoder.frame_rate)
        train = (f for f, _ in windows)
    else:
        heldout, train = split_heldout(windows, a.heldout_hours * 3600, encoder.frame_rate)
    log.info("held-out: %d frames", len(heldout))
    if a.init == "sample":
        p.error("--init sample needs --features (the whole budget must be on disk to sample from it)")
    km, hist = train_kmeans(train, a.n_clusters, heldout, batch_frames=a.batch_frames, seed=a.seed,
                            reassignment_ratio=a.reassignment_ratio, epochs=a.epochs,
                            patience=a.early_stop_patience, init_model=init)
    bar.close()
    finish(a, km, hist, encoder.dim)


def check_init_model(a, dim: int):
    if not a.init_model:
        return None
    init = load_kmeans(a.init_model)
    if init.cluster_centers_.shape[1] != dim:
        raise SystemExit(f"--init-model {a.init_model}: {init.cluster_centers_.shape[1]}-d centres, but "
                         f"the encoder gives {dim}-d features")
    if init.cluster_centers_.shape[0] != a.n_clusters:
        raise SystemExit(f"--init-model {a.init_model} has {init.cluster_centers_.shape[0]} clusters, "
                         f"not --n-clusters {a.n_clusters}")
    return init


def train_from_features(a) -> None:
    from spire.io import read_json

    plan = feature_plan(a.features)
    indexes = [read_json(f"{d}/features.json") for d in a.features]
    for d, ix in zip(a.features, indexes):
        log_read(log, "features", d, f"{ix['frames']} frames x {ix['dim']}, {ix['seconds'] / 3600:.3g} h")
    dim, frame_rate = indexes[0]["dim"], indexes[0]["frame_rate"]
    init = check_init_model(a, dim)
    heldout, first_pass = split_heldout(iter_stored_windows(plan), a.heldout_hours * 3600, frame_rate)
    log.info("held-out: %d frames (the first of the stream; never trained on)", len(heldout))
    skip = len(heldout)
    total = sum(m for _, m in plan)
    if skip >= total:  # else train_kmeans would blame the audio ("no training frames")
        raise SystemExit(f"--heldout-hours {a.heldout_hours}: holds out all {total} frames of "
                         f"{' '.join(a.features)}; lower --heldout-hours so that frames are left to train on")

    def passes():
        """The training frames, streamed from disk again on every pass."""
        nonlocal first_pass
        if first_pass is not None:
            it, first_pass = first_pass, None
            return it
        return skip_frames((f for f, _ in iter_stored_windows(plan)), skip)

    centers = None
    if a.init == "sample" and init is None:
        n = a.init_frames or max(3 * a.batch_frames, 10 * a.n_clusters)
        sample = sample_frames(plan, n, skip=skip, seed=a.seed)
        log.info("k-means++ init on %d frames drawn from all %d training frames", len(sample),
                 sum(m for _, m in plan) - skip)
        centers = sample_init_centers(sample, a.n_clusters, a.seed)
    km, hist = train_kmeans(passes, a.n_clusters, heldout, batch_frames=a.batch_frames, seed=a.seed,
                            reassignment_ratio=a.reassignment_ratio, epochs=a.epochs,
                            patience=a.early_stop_patience, init_model=init, init_centers=centers)
    finish(a, km, hist, dim)


def skip_frames(windows, n: int):
    for w in windows:
        if n >= len(w):
            n -= len(w)
            continue
        yield w[n:]
        n = 0


def finish(a, km, hist, dim: int) -> None:
    save_kmeans(km, a.out)
    log_wrote(log, "k-means model", a.out, f"{a.n_clusters} x {dim}, held-out inertia per frame "
              f"{hist.heldout_inertia[0]:.4f} -> {hist.heldout_inertia[-1]:.4f}")
    if a.history_out:
        write_json(a.history_out, {"heldout_inertia": hist.heldout_inertia, "frames_seen": hist.frames_seen,
                                   "pass_inertia": hist.pass_inertia,
                                   "stopped_early": hist.stopped_early})
        log_wrote(log, "history", a.history_out)


if __name__ == "__main__":
    main()
