"""FLEURS references rebuilt from a hand-made mini FLORES."""
import pytest

from eval_fixtures import load_task
from spire.fleurs_refs import align, check_matched, normalize_sentence, references
from spire.io import read_json, read_lines, write_lines

FLORES_EN = ["The cat sat on the mat.", "Dogs ran over green hills!",
             "One bird sang quietly, near the river.", "Every morning the sun rose."]
FLORES_DE = ["Die Katze saß auf der Matte.", "Hunde rannten über grüne Hügel!",
             "Ein Vogel sang leise, nahe dem Fluss.", "Jeden Morgen ging die Sonne auf."]
FLEURS = ["dogs ran over green hills",                      # case/punctuation only: exact
          "One bird sang quietly near the rivers.",          # edited wording: fuzzy
          "the cat sat on the mat",                          # exact
          "Something nobody ever wrote in FLORES at all."]   # unmatched


def test_exact_is_the_default_and_matches_only_verbatim_sentences():
    """The authors' matching: FLORES sentences verbatim (case and punctuation count)."""
    verbatim = ["Dogs ran over green hills!", " The cat sat on the mat. ", "dogs ran over green hills"]
    m = align(verbatim, FLORES_EN)
    assert [x.index for x in m] == [1, 0, None]
    assert [x.method for x in m] == ["exact", "exact", "none"]
    with pytest.raises(ValueError, match="mode 'loose'"):
        align(verbatim, FLORES_EN, mode="loose")


def test_check_matched_names_the_file_and_the_first_unmatched_lines():
    m = align(FLEURS, FLORES_EN, mode="exact")
    with pytest.raises(ValueError) as e:
        check_matched(m, FLEURS, "fleurs.en", ["devtest.en"], "exact", shown=2)
    msg = str(e.value)
    assert msg.startswith("fleurs.en: 4 of 4 FLEURS transcript(s) have no exact match in devtest.en")
    assert "line 1: 'dogs ran over green hills'" in msg and "line 2:" in msg and "line 3:" not in msg
    check_matched(align(FLORES_EN[:2], FLORES_EN), FLORES_EN[:2], "x", ["y"], "exact")  # all found


def test_align_fuzzy_is_an_explicit_option():
    assert normalize_sentence("  One  bird, SANG! ") == "one bird sang"
    m = align(FLEURS, FLORES_EN, mode="fuzzy", threshold=90, progress=False)
    assert [x.index for x in m] == [1, 2, 0, None]
    assert [x.method for x in m] == ["exact", "fuzzy", "exact", "none"]
    assert 90 <= m[1].score < 100
    assert references(m, FLORES_DE) == [FLORES_DE[1], FLORES_DE[2], FLORES_DE[0], ""]
    assert align(FLEURS[1:2], FLORES_EN, mode="fuzzy", threshold=99.5, progress=False)[0].index is None


def _task_files(tmp_path):
    write_lines(tmp_path / "fleurs.en", FLEURS)
    # FLORES given as two splits, concatenated in order
    write_lines(tmp_path / "dev.en", FLORES_EN[:2])
    write_lines(tmp_path / "devtest.en", FLORES_EN[2:])
    write_lines(tmp_path / "dev.de", FLORES_DE[:2])
    write_lines(tmp_path / "devtest.de", FLORES_DE[2:])
    return ["--transcripts", str(tmp_path / "fleurs.en"),
            "--flores-en", str(tmp_path / "dev.en"), str(tmp_path / "devtest.en"),
            "--flores-tgt", str(tmp_path / "dev.de"), str(tmp_path / "devtest.de"),
            "--out", str(tmp_path / "refs.de"), "--report", str(tmp_path / "r.json")]


def test_align_task_exact_by_default_fails_on_a_missing_sentence(tmp_path):
    task = load_task("align_fleurs_refs").main
    args = _task_files(tmp_path)
    with pytest.raises(SystemExit, match=r"fleurs\.en: 4 of 4 .*no exact match in .*dev\.en .*devtest\.en"
                                         r".*line 1: 'dogs ran over green hills'"):
        task(args)
    assert not (tmp_path / "refs.de").exists()
    # verbatim FLORES sentences (FLEURS test reads devtest): every line found, references written
    write_lines(tmp_path / "fleurs.en", [FLORES_EN[3], FLORES_EN[2]])
    task(args)
    assert read_lines(tmp_path / "refs.de") == [FLORES_DE[3], FLORES_DE[2]]
    assert read_json(tmp_path / "r.json")["match"] == "exact"


def test_align_task_fuzzy_and_allow_unmatched_are_explicit(tmp_path):
    task = load_task("align_fleurs_refs").main
    args = _task_files(tmp_path) + ["--match", "fuzzy"]
    with pytest.raises(SystemExit, match="1 of 4 .*no fuzzy match.*line 4"):
        task(args)
    assert not (tmp_path / "refs.de").exists()
    task(args + ["--allow-unmatched"])
    assert read_lines(tmp_path / "refs.de") == [FLORES_DE[1], FLORES_DE[2], FLORES_DE[0], ""]
    report = read_json(tmp_path / "r.json")
    assert (report["exact"], report["fuzzy"], report["unmatched"]) == (2, 1, 1)
