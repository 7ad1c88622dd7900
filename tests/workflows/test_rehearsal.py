"""The rehearsal of the paper path (tests/workflows/rehearsal.py, `make rehearsal`).

Fast tests: configs/rehearsal.tconf is paper.tconf with only sizes and cluster settings changed;
every stand-in dataset is read through the repository's own dataset configs by the one loader,
audio included; the stand-in models have the real model types. The slow one runs paper.tape's
data, kmeans, labelize, train and ablations plans on a local single-node Slurm.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rehearsal  # noqa: E402

REPO = rehearsal.REPO
PAPER, REHEARSAL = REPO / "configs" / "paper.tconf", REPO / "configs" / "rehearsal.tconf"


# ------------------------------------------------------------------------------ the config
def test_rehearsal_tconf_is_generated_from_paper_tconf():
    expected = rehearsal.rehearsal_tconf(PAPER.read_text(encoding="utf-8"))
    assert REHEARSAL.read_text(encoding="utf-8") == expected, \
        "configs/rehearsal.tconf is stale: run python tests/workflows/rehearsal.py --write-config"


def test_rehearsal_differs_from_paper_only_in_sizes_and_cluster_settings():
    diff = rehearsal.config_differences(PAPER, REHEARSAL)
    assert diff["only_paper"] == [] and diff["only_rehearsal"] == []
    assert set(diff["changed"]) <= rehearsal.ALLOWED_KEYS, set(diff["changed"]) - rehearsal.ALLOWED_KEYS
    assert "kmeans_clusters" in diff["changed"]  # it does shrink the run
    assert set(rehearsal.REHEARSAL_VALUES) <= rehearsal.ALLOWED_KEYS
    paper, paper_imports = rehearsal.tconf_globals(PAPER)
    ours, our_imports = rehearsal.tconf_globals(REHEARSAL)
    # the same tapes' settings: Slurm submitter, dataset configs, plans' branch points
    assert ours["submitter"] == paper["submitter"] and "slurm" in repr(ours["submitter"])
    for key in ("speech_data", "kmeans_data", "hub_model_id", "it_mixture_config", "comet_model"):
        assert ours[key] == paper[key], key
    assert paper_imports == ["uservars.tconf"] and our_imports == []


def test_generation_rejects_a_key_set_twice():
    text = PAPER.read_text(encoding="utf-8")
    text = text.replace("  kmeans_clusters=", "  kmeans_clusters=1\n  kmeans_clusters=", 1)
    with pytest.raises(ValueError, match="kmeans_clusters is set on 2 lines"):
        rehearsal.rehearsal_tconf(text)


def test_workflow_copy_swaps_only_the_config(tmp_path):
    r = rehearsal.Rehearsal(tmp_path)
    tape = r.write_workflow().read_text()
    original = (REPO / "workflows" / "paper.tape").read_text()
    assert f'import "{REPO}/configs/rehearsal.tconf"' in tape and "../configs/paper.tconf" not in tape
    assert tape.count("import ") == original.count("import ") + 1  # + the generated uservars
    assert [line for line in tape.splitlines() if not line.startswith("import")] == \
        [line for line in original.splitlines() if not line.startswith("import")]
    uservars = (tmp_path / "uservars.tconf").read_text()
    assert f"mirror={tmp_path / 'mirror'}" in uservars and f"ducttape_output={tmp_path / 'out'}" in uservars


# ------------------------------------------------------------------------------ stand-ins
@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    from spire import standins

    root = tmp_path_factory.mktemp("mirror")
    counts = standins.build_datasets(root)
    return root, counts


def dataset_configs():
    """Every dataset config of the repository that names a hub dataset."""
    from spire.audio_data import load_dataset_config

    out = []
    for f in sorted((REPO / "configs").rglob("*.yaml")):
        try:
            cfg = load_dataset_config(f)
        except (ValueError, FileNotFoundError):
            continue  # not a dataset config (IT mixtures, variants, metadata-only files)
        if cfg.path.count("/") == 1 and not Path(cfg.path).exists():
            out.append(f)
    return out


@pytest.mark.parametrize("config", dataset_configs(), ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_paper_dataset_config_reads_its_standin(config, mirror, monkeypatch):
    from spire import standins
    from spire.audio import load_audio
    from spire.audio_data import load_dataset_config, open_audio_dataset

    root, counts = mirror
    monkeypatch.setenv("SPIRE_MIRROR", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = load_dataset_config(config)
    if cfg.path not in standins.DATASETS:
        pytest.fail(f"{config}: no stand-in for hub dataset {cfg.path} in spire/standins.py DATASETS")
    key = f"{cfg.path}/{cfg.config or 'default'}/{cfg.split or 'train'}"
    assert key in counts, f"{config}: the stand-in of {cfg.path} has no config/split {key}"
    ds = open_audio_dataset(cfg)
    assert len(ds) > 0
    rec = ds.records(0, 1)[0]
    if cfg.audio_column:
        wave = load_audio(rec.audio)
        assert wave is not None and len(wave) > 16000 * 0.5, "stand-in audio must decode to speech"
    if cfg.text_column:
        assert rec.text


def test_standin_audio_encodings_follow_the_cards(mirror):
    import soundfile as sf
    from datasets import load_from_disk

    root, _ = mirror
    expect = {"mozilla-foundation/common_voice_16_1/en/train": ("MP3", 48000),
              "openslr/librispeech_asr/clean/test": ("FLAC", 16000),
              "parler-tts/mls_eng/default/train": ("FLAC", 16000),
              "google/fleurs/en_us/test": ("WAV", 16000),
              "facebook/covost2/en_de/test": ("MP3", 48000)}
    import io
    for key, (fmt, rate) in expect.items():
        ds = load_from_disk(str(root / "datasets" / key)).cast_column("audio", _undecoded())
        info = sf.info(io.BytesIO(ds[0]["audio"]["bytes"]))
        assert (info.format, info.samplerate) == (fmt, rate), key


def _undecoded():
    from datasets import Audio
    return Audio(decode=False)


def test_gigaspeech_standin_has_tags_and_garbage_segments(mirror):
    from datasets import load_from_disk

    root, _ = mirror
    texts = load_from_disk(str(root / "datasets/speechcolab/gigaspeech/xl/train"))["text"]
    assert any("<COMMA>" in t for t in texts) and "<SIL>" in texts


def test_fleurs_sentences_are_flores_sentences(mirror):
    from datasets import load_from_disk

    root, _ = mirror
    fleurs = load_from_disk(str(root / "datasets/google/fleurs/en_us/test"))["raw_transcription"]
    flores = load_from_disk(str(root / "datasets/openlanguagedata/flores_plus/eng_Latn/devtest"))["text"]
    assert fleurs and set(fleurs) <= set(flores)


def test_standin_models_have_the_real_types(tmp_path):
    from transformers import AutoConfig, AutoTokenizer
    from spire import standins

    models = standins.build_models(tmp_path, released=False)
    assert standins.TOWERBASE in models
    tb = standins.model_dir(tmp_path, standins.TOWERBASE)
    assert AutoConfig.from_pretrained(tb).architectures == ["LlamaForCausalLM"]
    assert (tb / "tokenizer.model").is_file()
    assert type(AutoTokenizer.from_pretrained(tb)).__name__ == "LlamaTokenizerFast"
    hub = AutoConfig.from_pretrained(standins.model_dir(tmp_path, standins.HUBERT))
    assert (hub.model_type, hub.do_stable_layer_norm, hub.feat_extract_norm, hub.conv_bias) == \
        ("hubert", True, "layer", True)
    assert hub.num_hidden_layers == standins.HUBERT_LAYERS
    plus = AutoConfig.from_pretrained(standins.model_dir(tmp_path, standins.TOWERPLUS))
    assert plus.model_type == "gemma2"
    mistral = AutoConfig.from_pretrained(standins.model_dir(tmp_path, standins.TOWERINSTRUCT_MISTRAL))
    assert mistral.model_type == "mistral"
    for chat_id in (standins.TOWERPLUS, standins.EUROLLM, standins.TOWERINSTRUCT,
                    standins.TOWERINSTRUCT_MISTRAL):
        tok = AutoTokenizer.from_pretrained(standins.model_dir(tmp_path, chat_id))
        prompt = tok.apply_chat_template([{"role": "user", "content": "Translate: hi"}], tokenize=False,
                                         add_generation_prompt=True)
        assert "Translate: hi" in prompt and len(tok(prompt, add_special_tokens=False)["input_ids"]) > 3
    for comet_id in (standins.COMET, standins.COMETKIWI):
        d = standins.model_dir(tmp_path, comet_id)
        assert (d / "checkpoints" / "model.ckpt").is_file() and (d / "hparams.yaml").is_file()


def test_standin_comet_loads_offline_from_the_mirror_and_scores_around_the_threshold(tmp_path, monkeypatch):
    """The CometKiwi stand-in, named by its hub id, loads offline through spire.metrics.load_comet
    (its encoder from the mirror, as hparams.yaml names it) and scores on both sides of 0.85."""
    import yaml
    from spire import standins
    from spire.metrics import load_comet

    enc = standins.build_xlmr(standins.model_dir(tmp_path, standins.INFOXLM))
    out = standins.build_comet(standins.model_dir(tmp_path, standins.COMETKIWI), enc, standins.INFOXLM,
                               qe=True)
    hp = yaml.safe_load((out / "hparams.yaml").read_text())
    assert hp["pretrained_model"] == standins.INFOXLM and hp["class_identifier"] == "unified_metric"
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_comet(standins.COMETKIWI)
    src = standins.english_sentences(24, seed=1)
    mt = [standins.standin_translation(s, "de") if i % 2 else s[::-1] for i, s in enumerate(src)]
    scores = model.predict([{"src": s, "mt": m} for s, m in zip(src, mt)], batch_size=8, gpus=0,
                           progress_bar=False, num_workers=0).scores
    assert min(scores) < 0.85 < max(scores), scores


def test_sacrebleu_standins_read_offline_through_sacrebleu(tmp_path, monkeypatch):
    """WMT23 (six pairs) and the flores200 SentencePiece model in sacreBLEU's cache layout under
    MIRROR/sacrebleu: MTTestSet's reader and spBLEU use them without network."""
    from spire import standins
    from spire.eval_sets import sacrebleu_pair
    from spire.metrics import bleu_chrf

    standins.build_sacrebleu(tmp_path)
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    for pair in standins.WMT23_PAIRS:
        src, ref = sacrebleu_pair("wmt23", pair)
        assert len(src) == len(ref) == standins.N_ROWS and src != ref
    src, ref = sacrebleu_pair("wmt23", "en-zh")
    assert all("\u4e00" <= c <= "\u9fff" for c in ref[0].rstrip("。"))  # Han script
    assert bleu_chrf(ref, ref, tokenize="flores200")["bleu"] == pytest.approx(100)
    assert bleu_chrf(src, ref, tokenize="flores200")["bleu"] < 5


def test_spbleu_without_its_model_offline_says_where_to_put_it(tmp_path, monkeypatch):
    import urllib.request

    from sacrebleu.tokenizers import tokenizer_spm
    from spire.metrics import bleu_chrf

    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))  # a mirror without sacrebleu/
    monkeypatch.setattr(tokenizer_spm, "SACREBLEU_DIR", str(tmp_path / "empty_cache"))

    def offline(*a, **k):
        raise OSError("no network")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="sacrebleu/models/"):
        bleu_chrf(["a b"], ["a b"], tokenize="flores200")


def test_cpt_text_standin(tmp_path):
    from spire import standins
    from spire.io import read_lines

    out = standins.build_cpt_text(tmp_path / "cpt", langs=("de", "zh"), n=5)
    assert len(read_lines(out / "text.en-de.en")) == len(read_lines(out / "text.en-de.de")) == 5
    assert (out / "mono.en").is_file() and (out / "mono.zh").is_file()


# ------------------------------------------------------------------------------ the tables
def _plant_scores(out: Path, cells: dict[str, dict]) -> None:
    for real, data in cells.items():
        (out / "Score" / real).mkdir(parents=True)
        (out / "Score" / real / "scores.json").write_text(json.dumps(data))


CELLS = {
    "EvalModel.whisper+EvalTask.asr+TestSet.librispeech_clean": {"testset": "librispeech_clean asr", "wer": 0.1},
    "EvalModel.released_full+EvalTask.asr+TestSet.librispeech_clean": {"testset": "librispeech_clean asr",
                                                                        "wer": 0.2},
    "EvalModel.released_full+EvalTask.st+LanguagePair.en_de": {"testset": "fleurs st", "lang_pair": "en-de",
                                                                "bleu": 20.0, "chrf": 50.0},
    "EvalModel.released_full+EvalTask.mt+LanguagePair.en_de+TestSet.flores": {"testset": "flores mt",
                                                                               "lang_pair": "en-de",
                                                                               "bleu": 30.0, "chrf": 60.0},
}


def test_the_tables_have_a_number_for_every_planned_score(tmp_path):
    out = tmp_path / "out"
    _plant_scores(out, CELLS)
    # ducttape's full-name symlink of a canonical directory (baseline branches spelled out): the
    # results step names the cell by it, the plan by the canonical name
    (out / "Score" / "EvalModel.released_full+EvalTask.asr+STMode.direct+TestSet.librispeech_clean").symlink_to(
        "EvalModel.released_full+EvalTask.asr+TestSet.librispeech_clean")
    proc = rehearsal.collect_tables(out, tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    assert "STMode.direct" in (tmp_path / "results" / "asr_cells.csv").read_text()
    assert rehearsal.check_tables(out, tmp_path / "results", set(CELLS)) == []
    asr = (tmp_path / "results" / "asr.md").read_text()
    assert "Whisper large-v3" in asr and "SpireFull [released]" in asr
    # a planned Score that made no cell is named
    problems = rehearsal.check_tables(out, tmp_path / "results", set(CELLS) | {"EvalModel.seamless+EvalTask.asr"})
    assert problems and "EvalModel.seamless+EvalTask.asr" in problems[0]


def test_a_cell_without_a_number_and_a_missing_table_are_problems(tmp_path):
    out = tmp_path / "out"
    cells = {k: v for k, v in CELLS.items() if "EvalTask.mt" not in k}
    cells["EvalModel.whisper+EvalTask.asr+TestSet.librispeech_clean"] = {"testset": "librispeech_clean asr",
                                                                          "wer": float("nan")}
    _plant_scores(out, cells)
    assert rehearsal.collect_tables(out, tmp_path / "results").returncode == 0
    problems = rehearsal.check_tables(out, tmp_path / "results", set(cells))
    assert any(p.startswith("no mt table") for p in problems), problems
    assert any("Whisper large-v3" in p and "nan" in p for p in problems), problems


def test_collect_results_without_scores_says_what_to_do(tmp_path):
    proc = rehearsal.collect_tables(tmp_path / "out", tmp_path / "results")
    assert proc.returncode != 0 and "run the eval plan first" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ the run
@pytest.mark.slow
@pytest.mark.slurm
def test_rehearsal_runs_the_paper_plans_through_slurm(tmp_path):
    if not shutil.which("sbatch") and os.geteuid() != 0:
        pytest.skip("Slurm is not installed and installing it needs root (make slurm-deps)")
    keep = os.environ.get("SPIRE_REHEARSAL_DIR")
    report = rehearsal.run(Path(keep) if keep else tmp_path / "rehearsal", plans=rehearsal.TEST_PLANS)
    print(json.dumps({k: v for k, v in report.items() if k != "slurm"}, indent=1))
    assert not report["failed"], "\n".join(report["failed"])
    assert all(p["rc"] == 0 for p in report["plans"].values()), report["plans"]
    assert report["slurm"]["problems"] == [], "\n".join(report["slurm"]["problems"])
    # the artefacts: k-means, SpireBase, the four IT models, BuildCPTData over four speech corpora
    assert report["artefacts"] == [], report["artefacts"]
    # the time (<= 12 min on an otherwise idle 2-core machine) is reported, not asserted: on a
    # shared machine it measures the neighbours
    print(f"rehearsal: {report['tasks']} task realizations as Slurm jobs in {report['seconds']} s")
