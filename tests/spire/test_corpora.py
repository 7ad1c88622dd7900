"""The corpora the paper path builds from the mirror (tasks/build_corpora.py, fetch_dataset.py,
merge_jsonl.py), on tiny datasets saved in the mirror layout with the real cards' columns."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from spire.io import read_lines
from tests.spire.conftest import task_main
from tests.spire.test_mirror import librispeech_like, wav_bytes

REPO = Path(__file__).resolve().parents[2]
FLORES = {"en": ["The cat sat on the mat.", "Rivers run to the sea.", "Snow fell all night."],
          "de": ["Die Katze sass auf der Matte.", "Fluesse laufen ins Meer.", "Schnee fiel die ganze Nacht."],
          "zh": ["猫坐在垫子上。", "河流奔向大海。", "雪下了一整夜。"]}
CODES = {"en": "eng_Latn", "de": "deu_Latn", "zh": "cmn_Hans"}


def flores_row_cols(lang, sents, offset):
    return {"id": [offset + i for i in range(len(sents))], "iso_639_3": [CODES[lang][:3]] * len(sents),
            "iso_15924": [CODES[lang][4:]] * len(sents), "glottocode": ["x"] * len(sents), "text": sents,
            "url": ["u"] * len(sents), "domain": ["d"] * len(sents), "topic": ["t"] * len(sents),
            "has_image": [False] * len(sents), "has_hyperlink": [False] * len(sents),
            "last_updated": ["1"] * len(sents)}


@pytest.fixture
def mirror_root(tmp_path, monkeypatch):
    from datasets import Audio, Dataset

    root = tmp_path / "mirror"
    for lang, sents in FLORES.items():  # dev: the first two sentences, devtest: the third
        for split, part, off in (("dev", sents[:2], 0), ("devtest", sents[2:], 2)):
            Dataset.from_dict(flores_row_cols(lang, part, off)).save_to_disk(
                str(root / "datasets" / "openlanguagedata" / "flores_plus" / CODES[lang] / split))
    # FLEURS train: transcripts read from FLORES (one edited by the reader, one that matches nothing)
    texts = ["the cat sat on the mat", "Snow fell all night.", "Something else entirely was read here."]
    fleurs = Dataset.from_dict({"id": [1, 2, 3], "num_samples": [8000] * 3, "path": ["a.wav"] * 3,
                                "audio": [{"path": "a.wav", "bytes": wav_bytes(0.5)}] * 3,
                                "transcription": [t.lower() for t in texts], "raw_transcription": texts,
                                "gender": [0] * 3, "lang_id": [19] * 3, "language": ["English"] * 3,
                                "lang_group_id": [0] * 3}).cast_column("audio", Audio(sampling_rate=16000))
    fleurs.save_to_disk(str(root / "datasets" / "google" / "fleurs" / "en_us" / "train"))
    Dataset.from_dict({"client_id": ["c"] * 2, "file": ["f1.mp3", "f2.mp3"],
                       "audio": [{"path": "f.wav", "bytes": wav_bytes(0.3)}] * 2,
                       "sentence": ["Hello there.", "Good night."], "translation": ["Hallo.", "Gute Nacht."],
                       "id": ["x1", "x2"]}).cast_column("audio", Audio(sampling_rate=16000)).save_to_disk(
        str(root / "datasets" / "facebook" / "covost2" / "en_de" / "train"))
    monkeypatch.setenv("SPIRE_MIRROR", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # everything must come from the mirror
    return root


def test_flores_text_gold_st_translations_and_join(mirror_root, tmp_path):
    build = task_main("build_corpora.py")
    build(["flores", "--configs-dir", str(REPO / "configs" / "datasets" / "flores_plus"), "--langs", "de", "zh",
           "--out", str(tmp_path / "flores")])
    assert read_lines(tmp_path / "flores" / "dev.de") == FLORES["de"][:2]
    assert read_lines(tmp_path / "flores" / "devtest.zh") == FLORES["zh"][2:]
    build(["st", "--data", str(REPO / "configs" / "datasets" / "fleurs_en_us_train.yaml"), "--flores",
           str(tmp_path / "flores"), "--langs", "de", "zh", "--out", str(tmp_path / "fleurs")])
    # matched verbatim (the authors' FLEURS matching): the reader's edited line gets no translation
    assert read_lines(tmp_path / "fleurs" / "de.txt") == ["", FLORES["de"][2], ""]
    assert read_lines(tmp_path / "fleurs" / "zh.txt") == ["", FLORES["zh"][2], ""]
    stats = json.loads((tmp_path / "fleurs" / "stats.json").read_text())
    assert (stats["unmatched"], stats["match"], stats["flores_splits"]) == (2, "exact", ["dev", "devtest"])
    build(["st", "--data", str(REPO / "configs" / "datasets" / "covost2_en_de_train.yaml"), "--flores",
           str(tmp_path / "flores"), "--langs", "de", "zh", "--out", str(tmp_path / "covost")])
    assert read_lines(tmp_path / "covost" / "de.txt") == ["Hallo.", "Gute Nacht."]
    assert read_lines(tmp_path / "covost" / "zh.txt") == ["", ""]
    (tmp_path / "u1.txt").write_text("\U000f0001\n\U000f0002\n\U000f0003\n")
    (tmp_path / "u2.txt").write_text("\U000f0004\n\U000f0005\n")
    build(["join", "--part", str(tmp_path / "u1.txt"), str(tmp_path / "fleurs"), "--part", str(tmp_path / "u2.txt"),
           str(tmp_path / "covost"), "--langs", "de", "zh", "--out", str(tmp_path / "gold")])
    gold = {n: read_lines(tmp_path / "gold" / f"{n}.txt") for n in ("units", "text", "de", "zh")}
    assert all(len(v) == 5 for v in gold.values())
    assert gold["de"][3:] == ["Hallo.", "Gute Nacht."] and gold["text"][0] == "the cat sat on the mat"
    with pytest.raises(SystemExit, match="u2.txt has 2 lines but .*fleurs/text.txt has 3"):
        build(["join", "--part", str(tmp_path / "u2.txt"), str(tmp_path / "fleurs"), "--langs", "de",
               "--out", str(tmp_path / "bad")])


def test_fetch_dataset_fills_the_mirror_once(tmp_path, monkeypatch):
    import datasets

    calls = []

    def hub(path, config=None, **kw):
        calls.append((path, config, kw))
        return librispeech_like(4)

    monkeypatch.setattr(datasets, "load_dataset", hub)
    fetch = task_main("fetch_dataset.py")
    cfg = REPO / "configs" / "eval" / "librispeech_test_clean.yaml"
    fetch(["--config", str(cfg), "--mirror", str(tmp_path), "--info", str(tmp_path / "i.json")])
    assert calls == [("openslr/librispeech_asr", "clean", {"split": "test"})]
    split = tmp_path / "datasets" / "openslr" / "librispeech_asr" / "clean" / "test"
    saved = datasets.load_from_disk(str(split))
    assert saved["id"] == librispeech_like(4)["id"] and saved.features["audio"].decode  # the card's types
    assert json.loads((split / "spire_fetch.json").read_text())["rows"] == 4
    fetch(["--config", str(cfg), "--mirror", str(tmp_path)])  # already there: no second download
    assert len(calls) == 1
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    from spire.audio_data import open_audio_dataset

    assert [r.text for r in open_audio_dataset(cfg).records()] == saved["text"]


def test_fetch_applies_the_papers_caps(tmp_path, monkeypatch):
    import datasets

    rows = {"audio": [{"path": "x.flac", "bytes": wav_bytes(0.1)}] * 10, "original_path": [f"p{i}" for i in range(10)],
            "transcript": [f"t{i}" for i in range(10)], "audio_duration": [3600.0 * 2400] * 10}
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_dict(rows).cast_column(
        "audio", datasets.Audio(sampling_rate=16000)))
    task_main("fetch_dataset.py")(["--config", str(REPO / "configs" / "datasets" / "mls_eng_train.yaml"),
                                   "--mirror", str(tmp_path)])
    saved = datasets.load_from_disk(str(tmp_path / "datasets" / "parler-tts" / "mls_eng" / "default" / "train"))
    assert len(saved) == 8  # 19.2K h of 24K h: 8 rows of 2.4K h


def test_merge_shards_and_towerblocks_through_the_mirror(tmp_path, monkeypatch):
    from datasets import Dataset

    from spire.it_data import iter_instruction_rows

    for i in range(2):
        (tmp_path / f"s{i}").mkdir()
        (tmp_path / f"s{i}" / "pseudo_st.jsonl").write_text("".join(json.dumps({"n": i, "k": k}) + "\n" for k in range(i + 1)))
        (tmp_path / f"s{i}" / "pseudo_stats.json").write_text(json.dumps({"kept": i + 1}))
    task_main("merge_jsonl.py")(["--inputs", str(tmp_path / "s0" / "pseudo_st.jsonl"), str(tmp_path / "s1" / "pseudo_st.jsonl"),
                                 "--out", str(tmp_path / "all.jsonl"), "--stats", str(tmp_path / "all.json")])
    assert [json.loads(l)["n"] for l in read_lines(tmp_path / "all.jsonl")] == [0, 1, 1]
    assert json.loads((tmp_path / "all.json").read_text())["shard_stats"][str(tmp_path / "s1" / "pseudo_st.jsonl")] == {"kept": 2}
    conv = [[{"from": "human", "value": "Translate: a"}, {"from": "gpt", "value": "b"}]]
    Dataset.from_dict({"conversations": conv, "lang": ["en-de"], "split": ["train"], "dataset": ["x"],
                       "task": ["mt"]}).to_parquet(str(tmp_path / "0.parquet"))
    split = tmp_path / "m" / "datasets" / "Unbabel" / "TowerBlocks-v0.1" / "default" / "train"
    split.mkdir(parents=True)
    (tmp_path / "0.parquet").rename(split / "0000.parquet")
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path / "m"))
    rows = list(iter_instruction_rows(str(REPO / "configs" / "datasets" / "towerblocks_train.yaml")))
    assert rows[0][1]["conversations"] == conv[0] and rows[0][0].endswith("[row 0]")


def test_europarl_st_segmented_by_its_offsets(mirror_root, tmp_path):
    import numpy as np
    import soundfile as sf
    from datasets import Dataset

    raw = tmp_path / "release"
    (raw / "en" / "audios").mkdir(parents=True)
    t = np.arange(16000 * 4) / 16000
    sf.write(str(raw / "en" / "audios" / "s1.wav"), (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    tr = lambda en, de: {"de": de, "en": en, "es": "", "fr": "", "it": "", "nl": "", "pl": "", "pt": "", "ro": ""}  # noqa: E731
    Dataset.from_dict({"original_speech": ["s1", "s1", "f9"], "original_language": ["en", "en", "fr"],
                       "audio_path": ["s1.wav", "en/audios/s1.wav", "fr/audios/f9.m4a"],
                       "segment_start": [2.5, 0.5, 0.0], "segment_end": [3.0, 2.0, 1.0],
                       "transcriptions": [tr("Second part.", "Zweiter Teil."), tr("First part.", "Erster Teil."),
                                          tr("x", "y")]}).save_to_disk(
        str(mirror_root / "datasets" / "tj-solergibert" / "Europarl-ST" / "default" / "train"))
    build = task_main("build_corpora.py")
    build(["europarl", "--data", str(REPO / "configs" / "datasets" / "europarl_st_en.yaml"), "--audio-root", str(raw),
           "--langs", "de", "zh", "--out", str(tmp_path / "ep")])
    from spire.audio import load_audio
    from spire.audio_data import open_audio_dataset

    recs = open_audio_dataset(tmp_path / "ep" / "corpus.yaml").records()
    assert [r.text for r in recs] == ["First part.", "Second part."]  # speech order; French left out
    assert [len(load_audio(r.audio)) for r in recs] == [24000, 8000]  # cut by segment_start/end
    build(["st", "--data", str(tmp_path / "ep" / "corpus.yaml"), "--langs", "de", "zh", "--out", str(tmp_path / "st")])
    assert read_lines(tmp_path / "st" / "de.txt") == ["Erster Teil.", "Zweiter Teil."]
    assert read_lines(tmp_path / "st" / "zh.txt") == ["", ""]


def test_fetch_url_extracts_an_archive_into_the_mirror_once(tmp_path):
    import tarfile

    (tmp_path / "v1.1" / "en").mkdir(parents=True)
    (tmp_path / "v1.1" / "en" / "speeches.lst").write_text("s1\n")
    with tarfile.open(tmp_path / "r.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "v1.1", arcname="v1.1")
    fetch = task_main("fetch_dataset.py")
    url = f"file://{tmp_path / 'r.tar.gz'}=europarl-st"
    fetch(["--url", url, "--mirror", str(tmp_path / "m")])
    assert (tmp_path / "m" / "raw" / "europarl-st" / "v1.1" / "en" / "speeches.lst").read_text() == "s1\n"
    (tmp_path / "r.tar.gz").unlink()
    fetch(["--url", url, "--mirror", str(tmp_path / "m")])  # already there: not downloaded again
    with pytest.raises(SystemExit, match="expected URL=DEST"):
        fetch(["--url", "europarl-st", "--mirror", str(tmp_path / "m")])


def test_published_pseudo_labels_import_with_their_scores(mirror_root, tmp_path):
    from datasets import Dataset

    src = ["good morning", "see you", "thank you"]
    for sys, mts, scores in (("TP9B", ["Guten Morgen", "bis bald", "danke"], [0.9, 0.5, 0.86]),
                             ("Euro9B", ["Morgen", "Tschuess", "vielen Dank"], [0.8, 0.87, 0.95])):
        Dataset.from_dict({"audio": [{"path": "a.wav", "bytes": wav_bytes(0.2)}] * 3, "src": src, "mt": mts,
                           "cometqe_22": scores}).save_to_disk(
            str(mirror_root / "datasets" / "bpop" / f"spite-CV16-{sys}" / "en_de" / "train"))
    (tmp_path / "text.txt").write_text("\n".join(src) + "\n")
    (tmp_path / "units.txt").write_text("\U000f0001\n\U000f0002\n\U000f0003\n")
    build = task_main("build_corpora.py")
    hyps = []
    for k, sys in enumerate(("TP9B", "Euro9B")):
        build(["spite", "--data", str(REPO / "configs" / "datasets" / "spite" / f"CV16-{sys}" / "en_de.yaml"),
               "--text", str(tmp_path / "text.txt"), "--out", str(tmp_path / f"s{k}")])
        hyps += ["--hypotheses", f"de={tmp_path / f's{k}' / 'mt.txt'}", "--given-scores", f"de={tmp_path / f's{k}' / 'score.txt'}"]
    task_main("pseudo_label.py")(["--units", str(tmp_path / "units.txt"), "--transcripts", str(tmp_path / "text.txt"),
                                  *hyps, "--scorer", "given", "--threshold", "0.85", "--source", "pseudo_st",
                                  "--out", str(tmp_path / "p.jsonl"), "--stats", str(tmp_path / "p.json"),
                                  "--scores-out", str(tmp_path / "sc.jsonl")])
    scores = [json.loads(l) for l in read_lines(tmp_path / "sc.jsonl")]
    assert [(s["system"], s["score"], s["chosen"]) for s in scores] == [(0, 0.9, True), (1, 0.87, True), (1, 0.95, True)]
    rows = [json.loads(l) for l in read_lines(tmp_path / "p.jsonl")]
    assert {r["messages"][-1]["content"] for r in rows} == {"Guten Morgen", "Tschuess", "vielen Dank"}
    (tmp_path / "other.txt").write_text("good morning\nsee you later\nthank you\n")
    with pytest.raises(SystemExit, match="row 2 does not match the labelled transcripts"):
        build(["spite", "--data", str(REPO / "configs" / "datasets" / "spite" / "CV16-TP9B" / "en_de.yaml"),
               "--text", str(tmp_path / "other.txt"), "--out", str(tmp_path / "bad")])


def test_two_subsets_of_one_split_share_the_whole_split_in_the_mirror(tmp_path, monkeypatch):
    import datasets

    calls = []

    def hub(*a, **k):
        calls.append(a)
        return datasets.Dataset.from_dict({"audio": [{"path": "x.wav", "bytes": wav_bytes(0.2)}] * 6,
                                           "sentence": list("abcdef"), "path": list("uvwxyz")}).cast_column(
            "audio", datasets.Audio(sampling_rate=16000))

    monkeypatch.setattr(datasets, "load_dataset", hub)
    cfgs = [str(REPO / "configs" / "datasets" / f"commonvoice_en_{n}.yaml") for n in ("train", "pseudo")]
    task_main("fetch_dataset.py")(["--config", *cfgs, "--mirror", str(tmp_path)])
    assert len(calls) == 1  # fetched once, whole; the second config is served by the same copy
    split = tmp_path / "datasets" / "mozilla-foundation" / "common_voice_16_1" / "en" / "train"
    assert len(datasets.load_from_disk(str(split))) == 6
