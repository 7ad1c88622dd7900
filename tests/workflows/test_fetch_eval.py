"""The evaluation-only fetch (`ducttape paper.tape -p fetch_eval`): what the ducttape engine plans
fetches every test set, metric asset and model that `-p released` reads, and no training corpus;
sacreBLEU's assets come through sacreBLEU's own download; manual steps fail with one message.

No network: downloads are monkeypatched."""
from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from spire import mirror
from spire.audio_data import load_dataset_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """workflows/ and configs/ copied, uservars.tconf filled in (as tests/workflows/test_plans.py)."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPO / "workflows", root / "workflows", ignore=shutil.ignore_patterns("out", ".resume"))
    shutil.copytree(REPO / "configs", root / "configs", ignore=shutil.ignore_patterns("uservars.tconf"))
    text = (root / "configs" / "uservars.tconf.TEMPLATE").read_text()
    for path in sorted(set(re.findall(r"/path/to/\S+", text))):
        (root / "user" / path[len("/path/to/"):]).mkdir(parents=True, exist_ok=True)
        text = text.replace(path, str(root / "user" / path[len("/path/to/"):]))
    (root / "configs" / "uservars.tconf").write_text(text)
    return root


def planned(root: Path, plan: str):
    """The realized tasks the ducttape engine plans for ``plan``, with their variables."""
    from ducttape.workflow import Workflow

    wf = Workflow(str(root / "workflows" / "paper.tape"), None, None)
    return [(r.task.name, r.key, dict(r.env())) for r in wf.plan([plan])]


def fetched_configs(root: Path, tasks, archives: list | None = None) -> list[Path]:
    """The dataset YAMLs of the plan's FetchDataset jobs (their `configs`, globs expanded as the
    task's shell does); `url:` archives go to ``archives``."""
    out = []
    for name, _, env in tasks:
        if name == "FetchDataset":
            for c in env["configs"].split():
                if c.startswith("url:"):
                    (archives if archives is not None else []).append(c)
                else:
                    out += sorted((root / "configs").glob(c))
    return out


def split_of(cfg_file: Path) -> tuple[str, str | None, str]:
    cfg = load_dataset_config(cfg_file)
    return cfg.path, cfg.config, cfg.split or "train"


def read_by_released(root: Path, tasks) -> set[tuple[str, str | None, str]]:
    """The hub splits `-p released` reads: every dataset YAML a planned task is given, FLORES+
    expanded to the languages and splits FloresText reads (dev: shots, devtest: the test set)."""
    from spire.eval_sets import FLORES_CODES

    splits = set()
    for name, _, env in tasks:
        for key, value in env.items():
            if not value.endswith(".yaml") or key == "spiritlm":
                continue
            cfg = load_dataset_config(value)
            if name == "FloresText":
                splits |= {(cfg.path, FLORES_CODES[lang], split) for lang in env["langs"].split()
                           for split in ("dev", "devtest")}
            else:
                splits.add((cfg.path, cfg.config, cfg.split or "train"))
    return splits


def test_fetch_eval_reaches_test_sets_and_no_training_corpus(paper):
    tasks = planned(paper, "fetch_eval")
    assert {t for t, _, _ in tasks} == {"FetchDataset", "FetchHubModel", "FetchSacrebleu"}
    archives = []
    files = fetched_configs(paper, tasks, archives)
    # archives: only TowerEval's test data (Table 8); the Europarl-ST release is a training corpus
    assert [a.rsplit("=", 1)[1] for a in archives] == ["towereval"], archives
    names = {f.relative_to(paper / "configs").as_posix() for f in files}
    training = [n for n in names if n.endswith("_train.yaml") or "pseudo" in n or "towerblocks" in n
                or "spite" in n or "europarl" in n or "commonvoice" in n or "mls" in n]
    assert not training, training
    assert {"eval/librispeech_test_clean.yaml", "eval/librispeech_test_other.yaml",
            "eval/fleurs_en_us_test.yaml", "eval/fleurs_en_us_dev.yaml", "eval/voxpopuli_en_test.yaml",
            "eval/covost2_en_de.yaml", "eval/covost2_en_zh.yaml"} <= names
    assert {"datasets/flores_plus/eng_Latn.dev.yaml", "datasets/flores_plus/cmn_Hans.devtest.yaml"} <= names
    assert all(split != "train" for _, _, split in map(split_of, files))
    # the full data plan still fetches every corpus (the eval branches are part of it)
    data = fetched_configs(paper, planned(paper, "data"))
    assert set(files) <= set(data) and any(f.name == "mls_eng_train.yaml" for f in data)


def test_fetch_eval_covers_every_split_model_and_asset_released_reads(paper):
    fetch = planned(paper, "fetch_eval")
    released = planned(paper, "released")
    have = {split_of(f) for f in fetched_configs(paper, fetch)}
    need = read_by_released(paper, released)
    assert need and need <= have, sorted(need - have)
    # the models: every FetchHubModel realization `released` reaches, and the COMET of Score
    models = {env["repo_id"] for name, _, env in fetch if name == "FetchHubModel"}
    need_models = {env["repo_id"] for name, _, env in released if name == "FetchHubModel"}
    need_models |= {env["comet_model"] for name, _, env in released if name == "Score" and env.get("comet_model")}
    assert need_models and need_models <= models, sorted(need_models - models)
    assert "facebook/hubert-large-ll60k" in models and "utter-project/SpireKMeans" in models
    # sacreBLEU: the test sets MTTestSet reads and the SentencePiece model of Score's tokenizer
    (sb,) = [env for name, _, env in fetch if name == "FetchSacrebleu"]
    testsets, spm = mirror.sacrebleu_assets([paper / "configs" / c for c in sb["configs"].split()])
    for name, _, env in released:
        if name == "MTTestSet" and env["testset"] != "flores":
            assert f"{env['src_lang']}-{env['tgt_lang']}" in testsets[env["testset"]]
        if name == "Score" and env.get("tokenize") == "flores200":
            assert "flores200" in spm


def load_task(name: str):
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO / "tasks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "tasks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fetch_plan_lists_each_download_with_its_size_and_a_total(paper, capsys):
    load_task("fetch_plan").main([str(paper / "workflows" / "paper.tape"), "--plan", "fetch_eval"])
    out = capsys.readouterr().out
    assert "model openai/whisper-large-v3" in out and "24.70 GB" in out
    assert re.search(r"unknown  model utter-project/SpireFull", out)  # no invented figure
    assert "google/fleurs en_us/validation" in out and "sacreBLEU wmt23 (en-de" in out
    assert "by hand: the Common Voice Corpus 4 English audio" in out
    assert re.search(r"27\.02 GB  in all \(43 items, 41 of them of unknown size: the total is a lower bound\)", out), out
    assert "mls" not in out and "_train" not in out


def test_covost_without_common_voice_stops_with_one_message_before_any_download(tmp_path, monkeypatch):
    """CoVoST-2's audio is Common Voice 4.0 English, downloaded by hand: the fetch names what, from
    where, the exact folder, and to rerun; nothing reaches the hub."""
    import datasets

    def no_hub(*a, **k):
        raise AssertionError("the hub was asked")
    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    fetch = load_task("fetch_dataset")
    with pytest.raises(SystemExit) as e:
        fetch.main(["--config", str(REPO / "configs/eval/covost2_en_de.yaml"), "--mirror", str(tmp_path)])
    msg = str(e.value)
    assert "Common Voice Corpus 4 English" in msg and "https://commonvoice.mozilla.org/en/datasets" in msg
    assert f"{tmp_path}/raw/common_voice_4_en/validated.tsv" in msg and "rerun" in msg
    # once the folder holds it, the loader is given it as data_dir
    (tmp_path / "raw" / "common_voice_4_en").mkdir(parents=True)
    (tmp_path / "raw" / "common_voice_4_en" / "validated.tsv").write_text("path\tsentence\n")
    seen = {}

    def hub(path, config, **kw):
        seen.update(kw)
        raise RuntimeError("stop here")
    monkeypatch.setattr(datasets, "load_dataset", hub)
    with pytest.raises(FileNotFoundError):
        fetch.main(["--config", str(REPO / "configs/eval/covost2_en_de.yaml"), "--mirror", str(tmp_path)])
    assert seen["data_dir"] == str(tmp_path / "raw" / "common_voice_4_en")


SACREBLEU_CONFIGS = [REPO / "configs/eval/wmt23.yaml", REPO / "configs/eval/flores200_devtest.yaml"]


def test_sacrebleu_assets_are_read_from_the_eval_configs():
    testsets, spm = mirror.sacrebleu_assets(SACREBLEU_CONFIGS)
    assert testsets == {"wmt23": ["en-de", "en-ru", "en-zh", "de-en", "ru-en", "zh-en"]}
    assert spm == ["flores200"]


def test_fetch_sacrebleu_downloads_through_sacrebleu_into_the_mirror(tmp_path, monkeypatch):
    """sacreBLEU's own download code runs with its URLs; the files land in MIRROR/sacrebleu, where
    MTTestSet's reader finds them offline."""
    from sacrebleu.dataset import DATASETS, base
    from sacrebleu.tokenizers import tokenizer_spm

    from spire import standins
    from spire.eval_sets import sacrebleu_pair

    served = tmp_path / "served"  # what the network would give: the stand-in release and spm
    standins.build_sacrebleu(served)
    wmt = DATASETS["wmt23"]
    files = {wmt.data[0]: served / "sacrebleu" / "wmt23" / "raw" / wmt._get_tarball_filename(wmt.data[0]),
             tokenizer_spm.SPM_MODELS["flores200"]["url"]:
                 served / "sacrebleu" / "models" / "flores200sacrebleuspm"}
    urls = []

    def urlopen(url, *a, **k):
        urls.append(url)
        return open(files[url], "rb")
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(base, "download_file", _no_md5(base.download_file))
    saved = (wmt._outdir, wmt._rawdir, tokenizer_spm.SACREBLEU_DIR)
    try:
        out = load_task("fetch_sacrebleu")
        out.main(["--config", *map(str, SACREBLEU_CONFIGS), "--mirror", str(tmp_path / "m"),
                  "--info", str(tmp_path / "info.json")])
    finally:
        wmt._outdir, wmt._rawdir, tokenizer_spm.SACREBLEU_DIR = saved
    assert sorted(urls) == sorted(files)
    assert (tmp_path / "m" / "sacrebleu" / "models" / "flores200sacrebleuspm").is_file()
    assert "wmt23/zh-en" in json.loads((tmp_path / "info.json").read_text())
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path / "m"))
    src, ref = sacrebleu_pair("wmt23", "en-de")
    assert len(src) == len(ref) == standins.N_ROWS


def _no_md5(download_file):
    """The stand-in tarball is not the release: skip sacreBLEU's checksum, keep the rest."""
    def call(url, dest, extract_to=None, expected_md5=None):
        return download_file(url, dest, extract_to=extract_to, expected_md5=None)
    return call


def test_fetch_sacrebleu_offline_names_what_to_run(tmp_path, monkeypatch):
    from sacrebleu.dataset import DATASETS
    from sacrebleu.tokenizers import tokenizer_spm

    def offline(*a, **k):
        raise OSError("no network")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    wmt = DATASETS["wmt23"]
    saved = (wmt._outdir, wmt._rawdir, tokenizer_spm.SACREBLEU_DIR)
    try:
        with pytest.raises(SystemExit) as e:
            load_task("fetch_sacrebleu").main(["--config", *map(str, SACREBLEU_CONFIGS), "--mirror", str(tmp_path)])
    finally:
        wmt._outdir, wmt._rawdir, tokenizer_spm.SACREBLEU_DIR = saved
    msg = str(e.value)
    assert "ducttape paper.tape -p fetch_eval" in msg and str(tmp_path / "sacrebleu") in msg
    # a mirror that already holds them (the rehearsal's stand-ins) needs no network
    from spire import standins

    standins.build_sacrebleu(tmp_path)
    try:
        assert len(mirror.fetch_sacrebleu(*mirror.sacrebleu_assets(SACREBLEU_CONFIGS), tmp_path)) == 7
    finally:
        wmt._outdir, wmt._rawdir, tokenizer_spm.SACREBLEU_DIR = saved
