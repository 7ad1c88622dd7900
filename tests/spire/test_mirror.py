"""The one loader and the mirror: every dataset config of configs/ loads, a mirror written by plain
``datasets`` code is read through the paper's configs, and bad input says which file and what to do."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spire import mirror
from spire.audio import load_audio
from spire.audio_data import cap_rows, load_dataset_config, open_audio_dataset

REPO = Path(__file__).resolve().parents[2]
NOT_DATASETS = {"variants.yaml"}  # configs/eval/variants.yaml names result rows, not a dataset


def dataset_yamls() -> list[Path]:
    files = sorted((REPO / "configs" / "datasets").rglob("*.yaml")) + sorted((REPO / "configs" / "eval").glob("*.yaml"))
    return [f for f in files if f.name not in NOT_DATASETS]


@pytest.mark.parametrize("path", dataset_yamls(), ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_dataset_config_of_the_repository_loads(path):
    cfg = load_dataset_config(path, require_path=False)
    # the miniature's templates get their path from the tape; WMT23 comes through sacreBLEU
    refs = cfg.meta.get("references")
    if "mini_" not in path.name and not (isinstance(refs, dict) and refs.get("source") == "sacrebleu"):
        assert cfg.path, path
        assert cfg.split, f"{path}: name the split (the mirror keeps one directory per split)"


def test_the_paper_configs_cover_every_corpus():
    import yaml

    paths = {(yaml.safe_load(p.read_text()) or {}).get("path") for p in dataset_yamls()}
    for hub_id in ("kensho/spgispeech", "speechcolab/gigaspeech", "parler-tts/mls_eng", "facebook/voxpopuli",
                   "mozilla-foundation/common_voice_16_1", "tj-solergibert/Europarl-ST", "google/fleurs",
                   "facebook/covost2", "openslr/librispeech_asr", "openlanguagedata/flores_plus",
                   "Unbabel/TowerBlocks-v0.1"):
        assert hub_id in paths, hub_id


def wav_bytes(seconds: float, sr: int = 16000, freq: float = 220.0) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="FLAC")
    return buf.getvalue()


def librispeech_like(n: int = 3):
    """Rows with the openslr/librispeech_asr card's columns and feature types."""
    from datasets import Audio, Dataset, Features, Value

    feats = Features({"file": Value("string"), "audio": Audio(sampling_rate=16000), "text": Value("string"),
                      "speaker_id": Value("int64"), "chapter_id": Value("int64"), "id": Value("string")})
    rows = {"file": [f"{i}.flac" for i in range(n)],
            "audio": [{"path": f"1089-134686-{i:04d}.flac", "bytes": wav_bytes(0.5 + i / 4)} for i in range(n)],
            "text": [f"SENTENCE NUMBER {i}" for i in range(n)], "speaker_id": [1089] * n,
            "chapter_id": [134686] * n, "id": [f"1089-134686-{i:04d}" for i in range(n)]}
    return Dataset.from_dict(rows, features=feats)


def test_a_mirror_written_by_plain_datasets_code_is_read_through_the_paper_config(tmp_path, monkeypatch):
    import datasets

    ds = librispeech_like()
    ds.save_to_disk(str(tmp_path / "m" / "datasets" / "openslr" / "librispeech_asr" / "clean" / "test"))
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path / "m"))
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("went to the hub"))
    recs = open_audio_dataset(REPO / "configs" / "eval" / "librispeech_test_clean.yaml").records()
    assert [r.id for r in recs] == ds["id"] and [r.text for r in recs] == ds["text"]
    wav = load_audio(recs[2].audio)
    assert wav is not None and len(wav) == 16000 * 1.0


def test_parquet_files_in_the_mirror_with_caps_and_text_clean_up(tmp_path, monkeypatch):
    from datasets import Dataset

    split = tmp_path / "datasets" / "speechcolab" / "gigaspeech" / "xl" / "train"
    split.mkdir(parents=True)
    Dataset.from_dict({"segment_id": ["a", "b", "c"], "audio": [{"path": "a.flac", "bytes": wav_bytes(0.2)}] * 3,
                       "text": ["AS THEY SAY <COMMA> HELLO <PERIOD>", "<SIL>", "WHAT <QUESTIONMARK> <MUSIC>"],
                       "begin_time": [0.0] * 3}).to_parquet(str(split / "0000.parquet"))
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    recs = open_audio_dataset(REPO / "configs" / "datasets" / "gigaspeech_xl_train.yaml").records()
    assert [r.text for r in recs] == ["AS THEY SAY, HELLO.", "", "WHAT?"]
    # MLS: the paper's 19.2K h subset by the card's audio_duration column
    mls = tmp_path / "datasets" / "parler-tts" / "mls_eng" / "default" / "train"
    Dataset.from_dict({"audio": [{"path": "x.flac", "bytes": wav_bytes(0.1)}] * 4, "original_path": list("wxyz"),
                       "transcript": list("abcd"), "audio_duration": [6.0 * 3600] * 4}).save_to_disk(str(mls))
    cfg = load_dataset_config(REPO / "configs" / "datasets" / "mls_eng_train.yaml")
    cfg.max_hours = 13.0  # two of the four 6-hour rows
    kept = open_audio_dataset(cfg).records()
    assert len(kept) == 2 and {r.id for r in kept} < set("wxyz")


def test_cap_rows_is_seeded_in_order_and_idempotent():
    durs = [float(d) for d in np.random.default_rng(0).uniform(1, 20, 500)]
    keep = cap_rows(len(durs), durs.__getitem__, None, 1.0, seed=3)
    assert keep == sorted(keep) and sum(durs[i] for i in keep) <= 3600 < sum(durs)
    assert keep == cap_rows(len(durs), durs.__getitem__, None, 1.0, seed=3)
    sub = [durs[i] for i in keep]
    assert cap_rows(len(sub), sub.__getitem__, None, 1.0, seed=3) is None  # nothing more to drop
    assert cap_rows(10, durs.__getitem__, 20, None) is None and len(cap_rows(10, durs.__getitem__, 4, None)) == 4


def test_models_are_read_from_the_mirror_first(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    assert mirror.resolve_model("Unbabel/TowerBase-7B-v0.1") == "Unbabel/TowerBase-7B-v0.1"
    d = tmp_path / "models" / "Unbabel" / "TowerBase-7B-v0.1"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    assert mirror.resolve_model("Unbabel/TowerBase-7B-v0.1") == str(d)
    monkeypatch.setenv("SPIRE_MIRROR", "")
    assert mirror.resolve_model("Unbabel/TowerBase-7B-v0.1") == "Unbabel/TowerBase-7B-v0.1"


# ----------------------------------------------------------------------------------- bad input
def test_a_missing_local_file_is_never_sent_to_the_hub(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("went to the hub"))
    (tmp_path / "d.yaml").write_text("path: nothere.jsonl\n")
    with pytest.raises(FileNotFoundError, match=r"d.yaml: dataset path nothere.jsonl does not exist.*not looked up"):
        open_audio_dataset(tmp_path / "d.yaml")


def test_broken_yaml_names_the_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("path: x.jsonl\ntext_column: [text\n")
    with pytest.raises(ValueError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_dataset_config(tmp_path / "bad.yaml")


def test_mirror_missing_a_dataset_offline_says_where_and_how_to_fill_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = REPO / "configs" / "datasets" / "voxpopuli_en_train.yaml"
    with pytest.raises(FileNotFoundError) as e:
        open_audio_dataset(cfg)
    msg = str(e.value)
    assert str(cfg) in msg and str(tmp_path / "datasets" / "facebook" / "voxpopuli" / "en" / "train") in msg
    assert "-p data" in msg


def test_gated_dataset_without_a_token_says_what_to_do(tmp_path, monkeypatch):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    def gated(*a, **k):
        raise DatasetNotFoundError("Dataset 'kensho/spgispeech' is a gated dataset on the Hub. "
                                   "You must be authenticated to access it.")

    monkeypatch.setattr(datasets, "load_dataset", gated)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = REPO / "configs" / "datasets" / "spgispeech_train.yaml"
    with pytest.raises(FileNotFoundError, match=r"spgispeech_train.yaml: 'kensho/spgispeech' is a gated dataset"
                                                r".*huggingface.co/datasets/kensho/spgispeech.*huggingface-cli login"):
        open_audio_dataset(cfg)


def test_a_column_the_dataset_lacks_names_the_config_and_the_columns(tmp_path, monkeypatch):
    ds = librispeech_like().rename_column("text", "transcript")
    ds.save_to_disk(str(tmp_path / "datasets" / "openslr" / "librispeech_asr" / "other" / "test"))
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    with pytest.raises(ValueError, match=r"librispeech_test_other.yaml: text_column 'text' is not a column.*"
                                         r"'transcript'.*set text_column"):
        open_audio_dataset(REPO / "configs" / "eval" / "librispeech_test_other.yaml")


def test_unknown_keys_and_bad_values_name_the_file(tmp_path):
    (tmp_path / "k.yaml").write_text("path: a/b\nsplit: train\nmax_hourz: 3\nnotes: fine\n")
    with pytest.raises(ValueError, match=r"k.yaml: unknown key\(s\) \['max_hourz'\]"):
        load_dataset_config(tmp_path / "k.yaml")
    (tmp_path / "v.yaml").write_text("path: a/b\nmax_hours: lots\n")
    with pytest.raises(ValueError, match="v.yaml: max_hours must be a float"):
        load_dataset_config(tmp_path / "v.yaml")


def test_comet_encoder_is_found_in_the_mirror(tmp_path, monkeypatch):
    ckpt = tmp_path / "models" / "Unbabel" / "wmt22-cometkiwi-da"
    (ckpt / "checkpoints").mkdir(parents=True)
    (ckpt / "checkpoints" / "model.ckpt").write_bytes(b"")
    (ckpt / "hparams.yaml").write_text("pretrained_model: microsoft/infoxlm-large\nclass_identifier: unified_metric\n")
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    assert mirror.find_model("Unbabel/wmt22-cometkiwi-da") == ckpt
    assert mirror.comet_encoder_name(ckpt) == "microsoft/infoxlm-large" and mirror.comet_encoder(ckpt) is None
    enc = tmp_path / "models" / "microsoft" / "infoxlm-large"
    enc.mkdir(parents=True)
    (enc / "tokenizer_config.json").write_text("{}")
    assert mirror.comet_encoder(ckpt) == enc


def test_fetch_hub_model_links_the_mirrors_copy_without_downloading(tmp_path, monkeypatch):
    import huggingface_hub

    from tests.spire.conftest import task_main

    d = tmp_path / "models" / "facebook" / "hubert-large-ll60k"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **k: pytest.fail("downloaded"))
    task_main("fetch_hub_model.py")(["--repo-id", "facebook/hubert-large-ll60k", "--mirror", str(tmp_path),
                                     "--out", str(tmp_path / "link")])
    assert (tmp_path / "link").resolve() == d.resolve()


def test_hours_cap_without_a_duration_column_reads_the_audio_headers(tmp_path):
    from datasets import Audio, Dataset

    Dataset.from_dict({"audio": [{"path": f"{i}.flac", "bytes": wav_bytes(1.0 + i)} for i in range(4)],
                       "sentence": list("abcd"), "path": list("wxyz")}).cast_column(
        "audio", Audio(sampling_rate=16000)).save_to_disk(str(tmp_path / "cv"))
    (tmp_path / "cv.yaml").write_text("path: cv\ntext_column: sentence\nid_column: path\nmax_hours: 0.0015\n")
    recs = open_audio_dataset(tmp_path / "cv.yaml").records()  # 5.4 s of 1+2+3+4 s
    assert sum(1.0 + "wxyz".index(r.id) for r in recs) <= 5.4 and len(recs) >= 1
