"""FLEURS references rebuilt from a hand-made mini FLORES."""
import pytest

from eval_fixtures import load_task
from spire.fleurs_refs import align, normalize_sentence, references
from spire.io import read_json, read_lines, write_lines

FLORES_EN = ["The cat sat on the mat.", "Dogs ran over green hills!",
             "One bird sang quietly, near the river.", "Every morning the sun rose."]
FLORES_DE = ["Die Katze saß auf der Matte.", "Hunde rannten über grüne Hügel!",
             "Ein Vogel sang leise, nahe dem Fluss.", "Jeden Morgen ging die Sonne auf."]
FLEURS = ["dogs ran over green hills",                      # case/punctuation only: exact
          "One bird sang quietly near the rivers.",          # edited wording: fuzzy
          "the cat sat on the mat",                          # exact
          "Something nobody ever wrote in FLORES at all."]   # unmatched


def test_align_exact_fuzzy_unmatched():
    assert normalize_sentence("  One  bird, SANG! ") == "one bird sang"
    m = align(FLEURS, FLORES_EN, threshold=90, progress=False)
    assert [x.index for x in m] == [1, 2, 0, None]
    assert [x.method for x in m] == ["exact", "fuzzy", "exact", "none"]
    assert 90 <= m[1].score < 100
    assert references(m, FLORES_DE) == [FLORES_DE[1], FLORES_DE[2], FLORES_DE[0], ""]
    assert align(FLEURS[1:2], FLORES_EN, threshold=99.5, progress=False)[0].index is None


def test_align_task(tmp_path):
    task = load_task("align_fleurs_refs").main
    write_lines(tmp_path / "fleurs.en", FLEURS)
    # FLORES given as two splits, concatenated in order
    write_lines(tmp_path / "dev.en", FLORES_EN[:2])
    write_lines(tmp_path / "devtest.en", FLORES_EN[2:])
    write_lines(tmp_path / "dev.de", FLORES_DE[:2])
    write_lines(tmp_path / "devtest.de", FLORES_DE[2:])
    args = ["--transcripts", str(tmp_path / "fleurs.en"),
            "--flores-en", str(tmp_path / "dev.en"), str(tmp_path / "devtest.en"),
            "--flores-tgt", str(tmp_path / "dev.de"), str(tmp_path / "devtest.de"),
            "--out", str(tmp_path / "refs.de"), "--report", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit, match="1 transcript.*line 4"):
        task(args)
    assert not (tmp_path / "refs.de").exists()
    task(args + ["--allow-unmatched"])
    assert read_lines(tmp_path / "refs.de") == [FLORES_DE[1], FLORES_DE[2], FLORES_DE[0], ""]
    report = read_json(tmp_path / "r.json")
    assert (report["exact"], report["fuzzy"], report["unmatched"]) == (2, 1, 1)
