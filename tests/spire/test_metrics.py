"""Metrics against the libraries called directly (jiwer, sacreBLEU) on hand-made pairs."""
import jiwer
import pytest
import sacrebleu
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from eval_fixtures import load_task
from spire.io import read_json, write_lines
from spire.metrics import bleu_chrf, normalize, word_error_rate

REFS = ["Mr. Smith paid 10 dollars for the colour TV.", "It's the 2nd time, isn't it?",
        "Hello world"]
HYPS = ["mister smith paid $10 for the color tv", "its the second time isnt it",
        "hello word again"]


def test_wer_matches_jiwer_after_whisper_normaliser_on_both_sides():
    norm = EnglishTextNormalizer()
    want = jiwer.wer([norm(r) for r in REFS], [norm(h) for h in HYPS])
    got = word_error_rate(HYPS, REFS, normalizer="whisper")
    assert got["wer"] == pytest.approx(100 * want)
    assert got["n"] == 3 and got["normalizer"] == "whisper"
    # the normaliser matters: raw strings give a much higher WER
    assert got["wer"] < 100 * jiwer.wer(REFS, HYPS) - 20
    # "Mr." vs "mister", "10 dollars" vs "$10", "colour" vs "color" all normalise away
    first = word_error_rate(HYPS[:1], REFS[:1], normalizer="whisper")
    assert first["wer"] == 0.0


def test_wer_basic_normaliser_and_counts():
    norm = BasicTextNormalizer()
    got = word_error_rate(HYPS, REFS, normalizer="basic")
    want = jiwer.process_words(reference=[" ".join(norm(r).split()) for r in REFS],
                               hypothesis=[" ".join(norm(h).split()) for h in HYPS])
    assert got["wer"] == pytest.approx(100 * want.wer)
    assert (got["substitutions"], got["deletions"], got["insertions"]) == (
        want.substitutions, want.deletions, want.insertions)
    assert normalize(["  A,  b!"], "basic") == ["a b"]


def test_wer_errors():
    with pytest.raises(ValueError, match="2 lines but .* 3"):
        word_error_rate(HYPS[:2], REFS)
    with pytest.raises(ValueError, match="normaliser"):
        word_error_rate(HYPS, REFS, normalizer="nope")
    with pytest.raises(ValueError, match="empty"):
        word_error_rate(["a"], ["!!"], normalizer="basic")


MT_REFS = ["Der Hund läuft schnell über die Straße.", "Ich habe heute keine Zeit.",
           "Das Wetter ist schön."]
MT_HYPS = ["Der Hund rennt schnell über die Straße.", "Heute habe ich keine Zeit.",
           "Das Wetter ist schön."]


@pytest.mark.parametrize("tokenize", ["13a", "char", "intl"])
def test_bleu_chrf_match_sacrebleu(tokenize):
    got = bleu_chrf(MT_HYPS, MT_REFS, tokenize=tokenize)
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(MT_HYPS, [MT_REFS], tokenize=tokenize).score)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(MT_HYPS, [MT_REFS]).score)
    assert f"tok:{tokenize}" in got["bleu_signature"] and got["n"] == 3
    assert 0 < got["bleu"] < 100


def test_spm_model_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="SentencePiece"):
        bleu_chrf(MT_HYPS, MT_REFS, tokenize="flores200", spm_model=tmp_path / "missing.model")


def test_flores200_spm_model_from_the_mirror(tmp_path, monkeypatch):
    """MIRROR/sacrebleu/models/flores200sacrebleuspm (sacreBLEU's cache layout) is used offline."""
    import sentencepiece as spm
    from sacrebleu.tokenizers import tokenizer_spm

    from eval_fixtures import train_tiny_spm
    from spire.metrics import mirror_spm_model

    model = train_tiny_spm(tmp_path / "spm")
    mirror = tmp_path / "mirror"
    (mirror / "sacrebleu" / "models").mkdir(parents=True)
    (mirror / "sacrebleu" / "models" / "flores200sacrebleuspm").write_bytes(model.read_bytes())
    monkeypatch.setenv("SPIRE_MIRROR", str(mirror))
    monkeypatch.setattr(tokenizer_spm, "SACREBLEU_DIR", str(tmp_path / "no_cache"))
    assert mirror_spm_model("flores200") == mirror / "sacrebleu" / "models" / "flores200sacrebleuspm"
    got = bleu_chrf(MT_HYPS, MT_REFS, tokenize="flores200")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    tok = lambda s: " ".join(sp.encode(s, out_type=str))  # noqa: E731
    want = sacrebleu.corpus_bleu([tok(h) for h in MT_HYPS], [[tok(r) for r in MT_REFS]], tokenize="none")
    assert got["bleu"] == pytest.approx(want.score) and "tok:flores200" in got["bleu_signature"]
    monkeypatch.delenv("SPIRE_MIRROR")
    assert mirror_spm_model("flores200") is None


def test_score_tasks_write_json(tmp_path):
    score_asr = load_task("score_asr").main
    score_mt = load_task("score_mt").main

    write_lines(tmp_path / "h.txt", HYPS)
    write_lines(tmp_path / "r.txt", REFS)
    score_asr(["--hyps", str(tmp_path / "h.txt"), "--refs", str(tmp_path / "r.txt"),
               "--out", str(tmp_path / "asr.json"), "--testset", "toy", "--variant", "A"])
    asr = read_json(tmp_path / "asr.json")
    assert asr["wer"] == pytest.approx(word_error_rate(HYPS, REFS)["wer"])
    assert asr["testset"] == "toy" and asr["variant"] == "A" and asr["metric"] == "asr"
    asr_cfg = tmp_path / "asr.yaml"
    asr_cfg.write_text("name: toy_asr\nscoring:\n  normalizer: basic\n  tokenize: char\n")
    score_asr(["--config", str(asr_cfg), "--hyps", str(tmp_path / "h.txt"), "--refs",
               str(tmp_path / "r.txt"), "--out", str(tmp_path / "asr2.json"), "--testset", "cli"])
    asr2 = read_json(tmp_path / "asr2.json")  # config defaults; the command line wins
    assert asr2["normalizer"] == "basic" and asr2["testset"] == "cli"

    write_lines(tmp_path / "mh.txt", MT_HYPS)
    write_lines(tmp_path / "mr.txt", MT_REFS[:2] + [""])
    cfg = tmp_path / "set.yaml"
    cfg.write_text("name: toy_mt\nscoring:\n  tokenize: char\n")
    score_mt(["--config", str(cfg), "--hyps", str(tmp_path / "mh.txt"), "--refs",
              str(tmp_path / "mr.txt"), "--out", str(tmp_path / "mt.json"), "--skip-empty-refs"])
    mt = read_json(tmp_path / "mt.json")
    assert mt["tokenize"] == "char" and mt["testset"] == "toy_mt"
    assert mt["n"] == 2 and mt["n_skipped_empty_refs"] == 1
    assert mt["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(MT_HYPS[:2], [MT_REFS[:2]], tokenize="char").score)
    assert "comet" not in mt

    write_lines(tmp_path / "short.txt", MT_HYPS[:2])
    with pytest.raises(ValueError, match="short.txt has 2 lines"):
        score_mt(["--hyps", str(tmp_path / "short.txt"), "--refs", str(tmp_path / "mr.txt"),
                  "--out", str(tmp_path / "x.json")])


def test_eval_configs_parse():
    """Every test-set config names itself, its task and scoring defaults the score tasks accept."""
    import yaml
    from pathlib import Path

    from spire.metrics import NORMALIZERS, scoring_defaults

    configs = sorted((Path(__file__).resolve().parents[2] / "configs" / "eval").glob("*.yaml"))
    assert len(configs) >= 12
    for path in configs:
        cfg = yaml.safe_load(path.read_text())
        if path.name == "variants.yaml":
            assert "names" in cfg
            continue
        assert cfg["task"] in ("asr", "st", "mt"), path
        d = scoring_defaults(path)
        assert d["testset"] == cfg["name"]
        if cfg["task"] == "asr":
            assert d["normalizer"] in NORMALIZERS, path
            assert {"path", "split", "audio_column", "text_column"} <= cfg.keys(), path
        else:
            assert d["tokenize"] in ("flores200", "13a"), path


def test_punctuation_is_no_word_and_empty_references_are_reported(tmp_path, caplog):
    """Issue 31, case 7: a reference "..." normalised to "." and counted as a word (WER 200%)."""
    import logging

    # Whisper's English normaliser keeps a "." it takes for a decimal point; it is no word
    assert normalize(["hello...", "...", "$ 5", "it costs $5.50."], "whisper") == ["hello", "", "5", "it costs $5.50"]
    assert normalize(["..."], "none") == ["..."]
    hyps = ["hello world", "a b", "the cat sat", "x"]
    refs = ["Hello world...", "...", "the cat sat.", " ?! "]
    with caplog.at_level(logging.WARNING, logger="spire"):
        logging.getLogger("spire").addHandler(caplog.handler)
        try:
            got = word_error_rate(hyps, refs, "whisper", ref_name="refs.txt")
        finally:
            logging.getLogger("spire").removeHandler(caplog.handler)
    assert got["wer"] == 0.0 and got["n"] == 2 and got["ref_words"] == 5
    assert got["n_empty_refs"] == 2 and got["empty_ref_lines"] == [2, 4]
    assert "refs.txt: 2 of 4 references are empty after the whisper normaliser" in caplog.text
    assert "lines 2 '...', 4 ' ?! '" in caplog.text
    with pytest.raises(ValueError, match=r"refs\.txt: every reference \(2\) is empty after the whisper"):
        word_error_rate(["a", "b"], [".", "..."], ref_name="refs.txt")
    with pytest.raises(ValueError, match=r"refs\.txt: no segments to score \(0 lines\)"):
        word_error_rate([], [], ref_name="refs.txt")


def test_score_tasks_name_empty_reference_files(tmp_path):
    score_asr = load_task("score_asr").main
    score_mt = load_task("score_mt").main
    write_lines(tmp_path / "h.txt", ["hello"])
    write_lines(tmp_path / "r.txt", ["..."])
    with pytest.raises(ValueError, match=r"r\.txt: every reference \(1\) is empty"):
        score_asr(["--hyps", str(tmp_path / "h.txt"), "--refs", str(tmp_path / "r.txt"),
                   "--out", str(tmp_path / "asr.json")])
    write_lines(tmp_path / "e.txt", [""])
    with pytest.raises(ValueError, match=r"e\.txt: no segments to score \(1 lines, 1 with an empty"):
        score_mt(["--hyps", str(tmp_path / "h.txt"), "--refs", str(tmp_path / "e.txt"),
                  "--out", str(tmp_path / "mt.json"), "--skip-empty-refs"])
    assert not (tmp_path / "asr.json").exists() and not (tmp_path / "mt.json").exists()


def test_score_task_scripts_give_one_line_not_a_traceback(tmp_path):
    from conftest import run_task

    write_lines(tmp_path / "h.txt", ["hello"])
    (tmp_path / "r.txt").write_bytes(b"caf\xe9\n")
    proc = run_task("score_asr.py", "--hyps", tmp_path / "h.txt", "--refs", tmp_path / "r.txt",
                    "--out", tmp_path / "s.json", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"score_asr: {tmp_path / 'r.txt'}:1: not UTF-8")
