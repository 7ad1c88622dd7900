#!/usr/bin/env python
"""Download a model (or tokenizer) repository from the Hugging Face hub into a local directory.

Paper-scale only (the miniature builds its models locally). Run it on a machine with network
access, e.g. a cluster login node; the GPU stages then read the local copy.

    python tasks/fetch_hub_model.py --repo-id Unbabel/TowerBase-7B-v0.1 --out towerbase
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire.io import atomic_path  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo-id", required=True, help="hub id, e.g. facebook/hubert-large-ll60k")
    ap.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    ap.add_argument("--out", required=True, help="local directory to create")
    args = ap.parse_args(argv)
    from huggingface_hub import snapshot_download
    log = get_logger("fetch_hub_model")
    with atomic_path(args.out) as tmp:
        snapshot_download(repo_id=args.repo_id, revision=args.revision, local_dir=tmp)
    log_wrote(log, "model", args.out, args.repo_id)


if __name__ == "__main__":
    main()
