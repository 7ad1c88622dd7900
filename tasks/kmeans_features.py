#!/usr/bin/env python
"""Encoder features of one k-means corpus, stored for tasks/train_kmeans.py --features.

Rows are drawn in a seeded random order until --max-hours of audio (the corpus' share of the
k-means budget) and encoded about --window-seconds at a time; each window is written as one
.npy file (float16 halves the disk at paper scale) with an index, features.json. Only one window
is in memory at a time.

    python tasks/kmeans_features.py --encoder hubert_large --layer 22 --data voxpopuli.yaml \
        --max-hours 50 --dtype-out float16 --workers 7 --out features/
"""
import argparse

from tqdm import tqdm

from spire.audio_data import open_audio_dataset
from spire.options import nonneg_int, positive_float
from spire.encoders import add_encoder_args, encoder_kwargs, load_encoder
from spire.kmeans import iter_feature_windows, write_feature_windows
from spire.log import get_logger, log_read, log_wrote

log = get_logger("kmeans_features")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_encoder_args(p)
    p.add_argument("--data", required=True, help="dataset config YAML")
    p.add_argument("--out", required=True, help="directory to create")
    p.add_argument("--max-hours", type=positive_float, default=None, help="hours of audio to encode (default: all)")
    p.add_argument("--seed", type=int, default=0, help="row order")
    p.add_argument("--window-seconds", type=positive_float, default=200.0, help="audio per encoder pass and per file")
    p.add_argument("--dtype-out", default="float32", choices=["float32", "float16"], help="stored precision")
    p.add_argument("--workers", type=nonneg_int, default=0,
                   help="audio decoding processes ahead of the encoder (0: decode in this process)")
    a = p.parse_args(argv)
    encoder = load_encoder(a.encoder, layer=a.layer, device=a.device, dtype=a.dtype, **encoder_kwargs(a))
    ds = open_audio_dataset(a.data)
    log_read(log, "dataset", a.data, f"{len(ds)} utterances")
    max_s = None if a.max_hours is None else a.max_hours * 3600
    bar = tqdm(desc="k-means features", unit="s", total=max_s)
    windows = iter_feature_windows(encoder, [ds], [1.0], max_s, a.seed, a.window_seconds, progress=bar,
                                   workers=a.workers)
    index = write_feature_windows(windows, a.out, encoder.frame_rate, a.dtype_out, progress=bar)
    bar.close()
    log_wrote(log, "features", a.out, f"{index['frames']} frames x {index['dim']} ({a.dtype_out}), "
              f"{index['seconds'] / 3600:.3g} h in {len(index['files'])} files")


if __name__ == "__main__":
    main()
