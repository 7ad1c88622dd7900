import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from spire import mixtures
from spire.units import units_to_text
from tests.spire.it_fixtures import REPO, build_components, read_rows, run_task

MINI = REPO / "configs" / "it" / "mini.yaml"
PAPER = REPO / "configs" / "it" / "paper.yaml"


@pytest.fixture(scope="module")
def components(tmp_path_factory) -> dict[str, Path]:
    return build_components(tmp_path_factory.mktemp("components"))


def _build(tmp_path, variant, components, config=MINI, tokenizer=None, name=None):
    name = name or variant
    out, stats = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.stats.json"
    args = ["--config", str(config), "--variant", variant, "--out", str(out), "--stats", str(stats)]
    for comp, paths in components.items():
        for path in paths if isinstance(paths, list) else [paths]:
            args += ["--input", f"{comp}={path}"]
    if tokenizer:
        args += ["--tokenizer", str(tokenizer)]
    run_task("build_it_mixture", *args)
    return read_rows(out), json.loads(stats.read_text())


def _key(row):
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def _config_file(tmp_path, cfg) -> Path:
    """An edited mixture config, written as tmp_path/mix.yaml (keys in the config's order)."""
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_variants_differ_by_one_ingredient(tmp_path, components):
    full, _ = _build(tmp_path, "full", components)
    no_blocks, _ = _build(tmp_path, "no_blocks", components)
    no_pseudo, _ = _build(tmp_path, "no_pseudo", components)
    assert not [r for r in no_blocks if r["task"] in ("mt", "blocks") or r["group"] == "blocks"]
    assert all(r["messages"][0]["content"].startswith("Speech: ") for r in no_blocks)
    assert not [r for r in no_pseudo if r.get("pseudo") or r["group"] == "pseudo"]
    assert any(r.get("pseudo") for r in no_blocks) and any(r["task"] == "mt" for r in no_pseudo)
    # full is the (multiset) union: shared speech examples are the very same in every variant
    assert Counter(map(_key, full)) == Counter(map(_key, no_blocks)) | Counter(map(_key, no_pseudo))
    # each component's rows times its weight in the config, rounded (whole copies plus a seeded
    # sample for a fraction: ASR 0.5 and ST 2.5 in the miniature's mixture)
    weights = {n: c["weight"] for n, c in mixtures.load_mixture_config(MINI)["components"].items()}
    assert not all(float(w).is_integer() for w in weights.values())
    sizes = {name: round(len(read_rows(p)) * weights[name]) for name, p in components.items()}
    assert len(full) == sum(sizes.values())
    assert len(no_blocks) == len(full) - sizes["blocks"]
    assert len(no_pseudo) == len(full) - sizes["pseudo_st"]


def test_stats_match_the_written_file(tmp_path, components):
    rows, stats = _build(tmp_path, "full", components)
    assert stats["variant"] == "full" and stats["seed"] == 42
    assert stats["token_count"].startswith("approx")
    assert stats["total"]["examples"] == len(rows)
    by_comp_task = Counter((r["component"], r["task"]) for r in rows)
    for comp, cstats in stats["components"].items():
        assert cstats["examples"] == sum(n for (c, _), n in by_comp_task.items() if c == comp)
        assert cstats["available"] == len(read_rows(components[comp]))
        for task, t in cstats["by_task"].items():
            assert t["examples"] == by_comp_task[(comp, task)]
    assert {t: s["examples"] for t, s in stats["tasks"].items()} == dict(Counter(r["task"] for r in rows))
    assert {g: s["examples"] for g, s in stats["groups"].items()} == dict(Counter(r["group"] for r in rows))
    tokens = sum(mixtures.approx_token_count(m["content"]) for r in rows for m in r["messages"])
    assert stats["total"]["tokens"] == tokens == sum(s["tokens"] for s in stats["tasks"].values())


def test_approx_token_count_counts_each_unit():
    assert mixtures.approx_token_count("Speech: " + units_to_text([1, 2, 3]) + "\nEnglish:") == 5
    assert mixtures.approx_token_count("the cat sat") == 3


def test_token_count_with_a_tokenizer_chat_template(tmp_path, components):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    word = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    word.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=word, unk_token="[UNK]")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                         "<|im_end|>\n{% endfor %}")
    tok.save_pretrained(tmp_path / "tok")
    rows, stats = _build(tmp_path, "no_pseudo", components, tokenizer=tmp_path / "tok")
    assert "chat template" in stats["token_count"]
    assert stats["total"]["tokens"] == sum(len(tok.apply_chat_template(r["messages"], tokenize=True))
                                           for r in rows)


def test_deterministic_shuffle(tmp_path, components):
    a, _ = _build(tmp_path, "full", components, name="a")
    b, _ = _build(tmp_path, "full", components, name="b")
    assert a == b
    assert [r["component"] for r in a] != sorted(r["component"] for r in a)  # actually shuffled


def test_weights_and_caps(tmp_path, components):
    cfg = yaml.safe_load(MINI.read_text())
    cfg["components"]["asr"]["weight"] = 2.0
    cfg["components"]["st"]["weight"] = 0.5
    cfg["components"]["blocks"]["max_examples"] = 5
    path = _config_file(tmp_path, cfg)
    rows, stats = _build(tmp_path, "no_pseudo", components, config=path)
    n = {c: len(read_rows(p)) for c, p in components.items()}
    got = Counter(r["component"] for r in rows)
    assert got == {"asr": 2 * n["asr"], "st": round(0.5 * n["st"]), "blocks": 5}
    asr = Counter(_key(r) for r in rows if r["component"] == "asr")
    assert set(asr.values()) == {2}  # every ASR example exactly twice
    assert stats["components"]["st"]["examples"] == round(0.5 * n["st"])


def test_paper_config_lists_the_papers_datasets():
    cfg = mixtures.load_mixture_config(PAPER)
    assert set(cfg["components"]) == set(mixtures.load_mixture_config(MINI)["components"])
    raw = yaml.safe_load(PAPER.read_text())["components"]
    sources = {name: {d["source"]: d.get("hub_id") for d in c["datasets"]} for name, c in raw.items()}
    assert sources["pseudo_st"] == {"pseudo_spgi": "kensho/spgispeech",
                                    "pseudo_gigaspeech": "speechcolab/gigaspeech",
                                    "pseudo_commonvoice": "mozilla-foundation/common_voice_16_1"}
    assert set(sources["st"]) == {"europarl_st", "fleurs_st", "covost2_st"}
    assert sources["blocks"] == {"towerblocks": "Unbabel/TowerBlocks-v0.1"}
    for name, c in cfg["components"].items():
        assert "full" in c["variants"]
        assert ("no_blocks" in c["variants"]) == (c["group"] != "blocks")
        assert ("no_pseudo" in c["variants"]) == (c["group"] != "pseudo")


def test_several_files_per_component_and_stats_by_source(tmp_path, components):
    f = {name: Path(components["asr"]).parent / "corpus" / f"{name}.txt" for name in ("units", "en", "rv")}
    fleurs = tmp_path / "fleurs.jsonl"
    run_task("build_it_data", "st", "--units", str(f["units"]), "--translations", f"rv={f['rv']}",
             "--source", "fleurs_st", "--out", str(fleurs))
    # whole copies, so that each source's count is exact (a fraction samples over both files)
    cfg = yaml.safe_load(MINI.read_text())
    copies = cfg["components"]["st"]["weight"] = 2
    rows, stats = _build(tmp_path, "no_pseudo", {**components, "st": [components["st"], fleurs]},
                         config=_config_file(tmp_path, cfg))
    n_toy, n_fleurs = len(read_rows(components["st"])), len(read_rows(fleurs))
    assert stats["components"]["st"]["available"] == n_toy + n_fleurs
    n_toy, n_fleurs = copies * n_toy, copies * n_fleurs
    assert stats["components"]["st"]["by_source"]["fleurs_st"]["examples"] == n_fleurs
    assert {s: v["examples"] for s, v in stats["sources"].items()} == dict(Counter(r["source"] for r in rows))
    assert Counter(r["source"] for r in rows if r["component"] == "st") == {"toy_st": n_toy,
                                                                           "fleurs_st": n_fleurs}
# --------------------------------------------------------------------------- bad input

def test_empty_mixture_names_the_config_line(tmp_path, components):
    cfg = yaml.safe_load(MINI.read_text())
    cfg["variants"]["nothing"] = {"description": "empty"}
    path = _config_file(tmp_path, cfg)
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if l.startswith("  nothing:"))
    with pytest.raises(ValueError, match=rf"mix\.yaml:{line}: variant 'nothing' includes no component"):
        _build(tmp_path, "nothing", components, config=path)


def test_empty_component_file(tmp_path, components):
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.jsonl:1: component 'blocks': file has no conversations"):
        _build(tmp_path, "full", {**components, "blocks": tmp_path / "empty.jsonl"})


def test_conversation_without_assistant_turn_names_file_and_line(tmp_path, components):
    bad = tmp_path / "bad.jsonl"
    lines = Path(components["blocks"]).read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row["messages"] = row["messages"][:1]
    bad.write_text("\n".join([lines[0], json.dumps(row)] + lines[2:]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: conversation has no assistant turn"):
        _build(tmp_path, "full", {**components, "blocks": bad})


def test_file_wired_to_the_wrong_component(tmp_path, components):
    with pytest.raises(ValueError, match=r"pseudo_st\.jsonl:1: .* does not belong in a 'speech' component"):
        _build(tmp_path, "full", {**components, "st": components["pseudo_st"]})
    with pytest.raises(ValueError, match=r"asr\.jsonl:1: .* does not belong in a 'blocks' component"):
        _build(tmp_path, "full", {**components, "blocks": components["asr"]})


def test_config_errors(tmp_path, components):
    with pytest.raises(ValueError, match="no variant 'nope'"):
        _build(tmp_path, "nope", components)
    missing = {k: v for k, v in components.items() if k != "asr"}
    with pytest.raises(ValueError, match="component 'asr' has no path; give --input asr=PATH"):
        _build(tmp_path, "full", missing)
    cfg = yaml.safe_load(MINI.read_text())
    cfg["components"]["blocks"]["variants"].append("no_blocks")
    path = _config_file(tmp_path, cfg)
    with pytest.raises(ValueError, match=r"mix\.yaml:\d+: component 'blocks' .* excludes group 'blocks'"):
        mixtures.load_mixture_config(path)


def test_mixture_loads_with_datasets_despite_mixed_metadata(tmp_path, components):
    """Blocks rows with extra columns of changing types must not break the trainer's JSON loader."""
    import datasets

    blocks = tmp_path / "tb.jsonl"
    base = {"messages": [{"role": "user", "content": "Fix: teh"}, {"role": "assistant", "content": "the"}],
            "task": "blocks", "source": "towerblocks", "lang": "en"}
    blocks.write_text(json.dumps({**base, "id": 1, "dataset": "x"}) + "\n"
                      + json.dumps({**base, "id": "b-2", "dataset": ["y"]}) + "\n", encoding="utf-8")
    rows, _ = _build(tmp_path, "full", {**components, "blocks": blocks})
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "full.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == len(rows)
    assert set(ds.column_names) == {"messages", "task", "source", "lang", "pseudo", "score", "line",
                                    "blocks_task", "component", "group"}
    assert sum(ds["pseudo"]) == sum(r["pseudo"] for r in rows) > 0


def test_table2_hours_count_utterance_x_language():
    # FLEURS en_us train: about 10 h of audio read into 9 languages is Table 2's 0.09K h
    assert mixtures.counted_hours(10, 9) == 90
    assert mixtures.counted_hours(800, 0) == 800  # ASR: the audio once
    assert mixtures.audio_hours_for(2800, 9) == pytest.approx(311.11, abs=0.01)
    assert mixtures.audio_hours_for(90, 2) == 45


def test_paper_sizes_follow_table2():
    """The dataset configs' caps make Table 2's hours, counted utterance x language: CoVoST-2 train
    capped (not the whole ~430 h per pair), pseudo-ST pools of hours / 9 of English audio."""
    assert mixtures.dataset_size_problems(PAPER, REPO / "configs") == []
    configs = REPO / "configs" / "datasets"
    caps = {f: yaml.safe_load((configs / f"{f}.yaml").read_text()).get("max_hours")
            for f in ("covost2_en_de_train", "covost2_en_zh_train", "spgispeech_pseudo",
                      "gigaspeech_pseudo", "commonvoice_en_pseudo", "commonvoice_en_train")}
    assert caps == {"covost2_en_de_train": 45, "covost2_en_zh_train": 45, "spgispeech_pseudo": 311.1,
                    "gigaspeech_pseudo": 144.4, "commonvoice_en_pseudo": 188.9,
                    "commonvoice_en_train": 800}


def test_size_problems_name_an_uncapped_corpus_and_per_utterance_counting(tmp_path):
    (tmp_path / "covost_de.yaml").write_text("path: x\ntgt_lang: de\n")
    (tmp_path / "covost_zh.yaml").write_text("path: x\ntgt_lang: zh\nmax_hours: 45\n")
    (tmp_path / "pseudo.yaml").write_text("path: x\nmax_hours: 2800\n")
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"variants": {"full": {}}, "components": {
        "st": {"group": "speech", "datasets": [
            {"source": "covost", "hours": 90, "languages": ["de", "zh"],
             "configs": ["covost_de.yaml", "covost_zh.yaml"]},
            {"source": "fleurs", "hours": 90, "uncapped": "whole train"},
            {"source": "bare", "hours": 10}]},
        "pseudo": {"group": "pseudo", "datasets": [
            {"source": "spgi", "hours": 2800, "languages": list("abcdefghi"), "configs": ["pseudo.yaml"]}]}}},
        sort_keys=False))
    problems = mixtures.dataset_size_problems(mix, tmp_path)
    assert len(problems) == 3
    assert "'covost'" in problems[0] and "covost_de.yaml has no max_hours" in problems[0] \
        and "set max_hours: 45 there" in problems[0]
    assert "'bare'" in problems[1] and "names no `configs`" in problems[1]
    assert "'spgi'" in problems[2] and "make 25200 h utterance x language" in problems[2] \
        and "states 2800 h" in problems[2]
