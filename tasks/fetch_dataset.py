#!/usr/bin/env python
"""Fill the mirror with hub datasets: one split per dataset config, as ``save_to_disk`` output.

Run it where there is network access (a login or transfer node; `ducttape paper.tape -p data`),
once; every later stage reads MIRROR/datasets/<hub id>/<config | default>/<split>/ offline
(spire/mirror.py). A config's caps (``max_hours``, ``max_rows``) are applied here, so the mirror
holds only the paper's subset (MLS English 19.2K h of 44.7K h, CommonVoice 0.8K h).

Before running:
  * gated datasets (SPGISpeech, GigaSpeech, CommonVoice, FLORES+): accept the conditions on each
    dataset's hub page with your account, then `huggingface-cli login` (or export HF_TOKEN);
  * loading-script datasets need `trust_remote_code: true` in their config (set where the
    paper's datasets need it): read the script on the hub first, it runs on your machine;
  * CoVoST-2 needs the Common Voice 4.0 English clips downloaded by hand (a config's `manual:`):
    extract them into MIRROR/raw/common_voice_4_en, or set `data_dir`; without them the fetch
    stops before downloading anything and says what to get from where;
  * `--dry-run` prints each split and its approximate size (`approx_gb`), downloading nothing;
  * `--cache-dir` (or HF_DATASETS_CACHE) on a large scratch disk: a split is downloaded there,
    then copied into the mirror; `--clear-cache` deletes the download afterwards.

    SPIRE_MIRROR=/data/mirror python tasks/fetch_dataset.py --config configs/datasets/mls_eng_train.yaml
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spire import mirror  # noqa: E402
from spire.audio_data import AudioDataset, load_dataset_config, load_hub, looks_local  # noqa: E402
from spire.io import atomic_path, write_json  # noqa: E402
from spire.log import get_logger, log_wrote  # noqa: E402

log = get_logger("fetch_dataset")


NO_CAPS = {"max_rows": None, "max_hours": None, "cap_seed": 0}


def fetch(config_file: str, root: str | None, cache_dir: str | None = None, force: bool = False,
          clear_cache: bool = False, uncapped: bool = False) -> dict:
    """Fetch one config's split into the mirror; returns what was done (for the task's info file).

    ``uncapped``: fetch the whole split even if the config caps it (another config reads a
    different subset of the same split; the loader applies each config's caps when reading)."""
    cfg = load_dataset_config(config_file)
    if uncapped:
        cfg.max_rows = cfg.max_hours = None
        cfg.cap_seed = 0
    if looks_local(cfg.path) or Path(cfg.path).exists():
        log.info("%s: %s is local, nothing to fetch", config_file, cfg.path)
        return {"config": str(config_file), "local": cfg.path}
    split = cfg.split or "train"
    target = mirror.dataset_dir(cfg.path, cfg.config, split, root)
    want = {"hub_id": cfg.path, "config": cfg.config, "split": split, "revision": cfg.revision,
            "caps": cfg.caps}
    info_file = target / mirror.FETCH_INFO
    if info_file.is_file() and not force:
        have = json.loads(info_file.read_text())
        same = {k: have.get(k) for k in want} == want
        whole = have.get("caps") == NO_CAPS and {k: have.get(k) for k in want if k != "caps"} == \
            {k: v for k, v in want.items() if k != "caps"}
        if same or whole:  # the whole split serves every subset of it (capped when loaded)
            log.info("%s: already in the mirror (%s, %d rows)", config_file, target, have.get("rows", -1))
            return have | {"config_file": str(config_file), "skipped": True}
        raise SystemExit(f"{config_file}: {target} holds another fetch ({have}); pass --force to replace it")
    if mirror.is_saved_split(target) and not force:
        log.info("%s: %s already holds a dataset (not written by this script); keeping it", config_file, target)
        return {"config_file": str(config_file), "kept": str(target)}
    try:  # files downloaded by hand (CoVoST-2's Common Voice audio): one message, before any download
        cfg.data_dir = mirror.manual_data_dir(cfg.data_dir, cfg.meta.get("manual"), str(config_file), root)
    except mirror.ManualDownload as e:
        raise SystemExit(str(e)) from None
    t0 = time.time()
    hf = load_hub(cfg, fill_hint="Nothing was written to the mirror", cache_dir=cache_dir)
    audio_feature = hf.features.get(cfg.audio_column) if cfg.audio_column else None
    ds = AudioDataset(cfg, hf=hf, origin=f"the hub ({cfg.path})")  # checks columns, applies caps
    out = ds.hf
    if audio_feature is not None:  # back to the card's (decoding) feature: a faithful copy
        out = out.cast_column(cfg.audio_column, audio_feature)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        out.save_to_disk(str(tmp))
        info = want | {"rows": len(out), "rows_on_hub": len(hf), "config_file": str(config_file),
                       "seconds": round(time.time() - t0, 1)}
        write_json(Path(tmp) / mirror.FETCH_INFO, info)
    if clear_cache:
        hf.cleanup_cache_files()
    log_wrote(log, "mirror split", target, f"{len(out)} of {len(hf)} rows of {cfg.path}")
    return info


def plan_lines(config_files: list[str]) -> list[tuple[str, float | None]]:
    """What a fetch of these configs downloads and its size (``approx_gb`` of each YAML), for
    ``--dry-run``: one (line, GB) per hub split; a manual download is named as such."""
    out = []
    for c in config_files:
        cfg = load_dataset_config(c)
        gb = cfg.meta.get("approx_gb")
        gb = float(gb) if isinstance(gb, (int, float)) else None
        what = f"{cfg.path} {cfg.config or mirror.DEFAULT_CONFIG}/{cfg.split or 'train'}  ({c})"
        manual = cfg.meta.get("manual")
        if manual and not cfg.data_dir:
            what += f"  + by hand: {manual['what']} into MIRROR/raw/{manual['raw']}"
        out.append((mirror.size_line(what, gb), gb))
    return out


def fetch_url(spec: str, root: str | None) -> dict:
    """``URL=DEST``: download an archive that is not on the hub (the Europarl-ST release) and
    extract it under MIRROR/raw/DEST (once: a finished extraction leaves a marker)."""
    import tarfile
    import urllib.request

    url, sep, dest = spec.rpartition("=")
    if not sep or not url.startswith(("http://", "https://", "file://")):
        raise SystemExit(f"--url {spec!r}: expected URL=DEST, e.g. https://host/x.tar.gz=europarl-st")
    target = mirror.raw_dir(dest, root)
    if (target / mirror.FETCH_INFO).is_file():
        log.info("%s: already extracted in %s", url, target)
        return {"url": url, "raw": str(target), "skipped": True}
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        archive = tmp / "download.tar.gz"
        log.info("downloading %s", url)
        urllib.request.urlretrieve(url, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        archive.unlink()
        write_json(tmp / mirror.FETCH_INFO, {"url": url})
    log_wrote(log, "raw download", target, url)
    return {"url": url, "raw": str(target)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="*", default=[], help="dataset YAMLs (configs/datasets/*.yaml ...)")
    ap.add_argument("--url", nargs="*", default=[], metavar="URL=DEST",
                    help="an archive not on the hub, extracted under MIRROR/raw/DEST")
    ap.add_argument("--mirror", default=None, help=f"mirror root (default ${mirror.ENV})")
    ap.add_argument("--cache-dir", help="where datasets downloads before the copy (default HF_DATASETS_CACHE)")
    ap.add_argument("--clear-cache", action="store_true", help="delete the downloaded cache files afterwards")
    ap.add_argument("--force", action="store_true", help="replace a split already in the mirror")
    ap.add_argument("--info", help="write what was fetched (JSON) here")
    ap.add_argument("--dry-run", action="store_true",
                    help="print each split to download and its approximate size (approx_gb), download nothing")
    args = ap.parse_args(argv)
    if args.dry_run:
        lines = plan_lines(args.config)
        lines += [(mirror.size_line(f"archive {u}", None), None) for u in args.url]
        print("\n".join([line for line, _ in lines] + [mirror.total_line([gb for _, gb in lines])]))
        return
    if mirror.mirror_root(args.mirror) is None:
        ap.error(f"no mirror: pass --mirror or set {mirror.ENV} (`mirror` in configs/uservars.tconf)")
    if not args.config and not args.url:
        ap.error("give --config and/or --url")
    # configs reading different subsets of one split (CommonVoice for ASR and to pseudo-label)
    # share one copy of the whole split
    by_split: dict = {}
    for c in args.config:
        cfg = load_dataset_config(c)
        by_split.setdefault((cfg.path, cfg.config, cfg.split or "train"), set()).add(tuple(cfg.caps.values()))
    shared = {k for k, caps in by_split.items() if len(caps) > 1}
    done = []
    for c in args.config:
        cfg = load_dataset_config(c)
        uncapped = (cfg.path, cfg.config, cfg.split or "train") in shared
        if uncapped:
            log.info("%s: other configs read other subsets of this split: fetching it whole", c)
        done.append(fetch(c, args.mirror, args.cache_dir, args.force, args.clear_cache, uncapped))
    done += [fetch_url(u, args.mirror) for u in args.url]
    if args.info:
        write_json(args.info, done)
        log_wrote(log, "fetch info", args.info)


if __name__ == "__main__":
    main()
