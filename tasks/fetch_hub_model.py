#!/usr/bin/env python
"""Put a hub model (or tokenizer) repository into the mirror and link it from the task's output.

Paper scale only (the miniature builds its models locally). Run it where there is network access
(`ducttape paper.tape -p fetch` or `-p data`); later stages read MIRROR/models/<hub id>/ offline.
When the mirror already holds the model (an earlier fetch, or copied there by hand) nothing is
downloaded. Gated models (e.g. Unbabel/wmt22-cometkiwi-da): accept the conditions on the model's
hub page, then `huggingface-cli login` (or export HF_TOKEN).

    python tasks/fetch_hub_model.py --repo-id Unbabel/TowerBase-7B-v0.1 --mirror /data/mirror --out towerbase
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import mirror  # noqa: E402
from spire.io import atomic_path  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo-id", required=True, help="hub id, e.g. facebook/hubert-large-ll60k")
    ap.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    ap.add_argument("--mirror", default=None, help=f"mirror root (default ${mirror.ENV}; none: --out holds the copy)")
    ap.add_argument("--out", help="local path to create: a link to the mirror's copy, or the copy")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the model and its approximate size (configs/models/hub_models.yaml), download nothing")
    args = ap.parse_args(argv)
    if args.dry_run:
        print(mirror.size_line(f"model {args.repo_id}", mirror.model_size_gb(args.repo_id)))
        return
    if not args.out:
        ap.error("--out is required (unless --dry-run)")
    log = get_logger("fetch_hub_model")
    root = mirror.mirror_root(args.mirror)
    found = mirror.find_model(args.repo_id, root) if root is not None else None
    if found is None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        dest = mirror.model_dir(args.repo_id, root) if root is not None else Path(args.out)
        try:
            with atomic_path(dest) as tmp:
                snapshot_download(repo_id=args.repo_id, revision=args.revision, local_dir=tmp)
        except GatedRepoError:
            raise SystemExit(f"{args.repo_id} is gated: accept its conditions on https://huggingface.co/"
                             f"{args.repo_id}, then `huggingface-cli login` (or export HF_TOKEN)") from None
        except RepositoryNotFoundError:
            raise SystemExit(f"{args.repo_id}: no such model on the hub (or it is private and you are "
                             "not logged in); check hub_model_id in the tconf") from None
        log_wrote(log, "model", dest, args.repo_id)
        found = dest
    else:
        log.info("%s is in the mirror: %s", args.repo_id, found)
    encoder = mirror.comet_encoder_name(found)
    if root is not None and encoder and mirror.find_model(encoder, root) is None:
        # a COMET checkpoint builds its encoder by hub name at load time: mirror its config and
        # tokenizer too (the weights are in COMET's checkpoint), so scoring works offline
        from huggingface_hub import snapshot_download

        with atomic_path(mirror.model_dir(encoder, root)) as tmp:
            snapshot_download(repo_id=encoder, local_dir=tmp, allow_patterns=["*.json", "*.model", "*.txt"])
        log_wrote(log, "COMET encoder config and tokenizer", mirror.model_dir(encoder, root), encoder)
    if Path(args.out).resolve() != Path(found).resolve():
        if os.path.lexists(args.out):
            os.remove(args.out)
        os.symlink(os.path.abspath(found), args.out)
        log_wrote(log, "link", args.out, str(found))


if __name__ == "__main__":
    main()
