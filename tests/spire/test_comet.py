"""COMET through unbabel-comet on a real (tiny) checkpoint built locally: no mock, no download."""
import pytest

from eval_fixtures import build_tiny_comet, load_task
from spire.io import read_json, read_lines, write_lines
from spire.metrics import comet_scores, load_comet

SRC = ["The dog runs fast.", "I have no time today.", "The weather is nice.", "Seven birds sang."]
HYP = ["Der Hund rennt schnell.", "Heute keine Zeit.", "Das Wetter ist schön.", "Sieben."]
REF = ["Der Hund läuft schnell.", "Ich habe heute keine Zeit.", "Das Wetter ist schön.",
       "Sieben Vögel sangen."]


@pytest.fixture(scope="module")
def comet_ckpt(tmp_path_factory):
    return build_tiny_comet(tmp_path_factory.mktemp("comet"))


def test_comet_segment_scores_and_mean(comet_ckpt):
    model = load_comet(str(comet_ckpt))
    out = comet_scores(SRC, HYP, REF, model=model, batch_size=3, gpus=0)
    assert len(out["comet_segments"]) == len(HYP)
    assert out["comet"] == pytest.approx(sum(out["comet_segments"]) / len(HYP))
    # the library's own system score is the same mean
    direct = model.predict([{"src": s, "mt": h, "ref": r} for s, h, r in zip(SRC, HYP, REF)],
                           batch_size=2, gpus=0, progress_bar=False, num_workers=0)
    assert out["comet_segments"] == pytest.approx(direct.scores, abs=1e-5)
    assert out["comet"] == pytest.approx(direct.system_score, abs=1e-5)
    # segments differ: the score depends on the input
    assert len({round(x, 6) for x in out["comet_segments"]}) > 1


def test_comet_from_model_folder_and_errors(comet_ckpt, tmp_path):
    folder = comet_ckpt.parent.parent  # <folder>/checkpoints/model.ckpt
    out = comet_scores(SRC[:2], HYP[:2], REF[:2], model=str(folder), gpus=0)
    assert len(out["comet_segments"]) == 2
    with pytest.raises(FileNotFoundError, match="checkpoints/model.ckpt"):
        load_comet(str(tmp_path))
    with pytest.raises(ValueError, match="sources"):
        comet_scores(SRC[:1], HYP, REF, model=str(comet_ckpt), gpus=0)


def test_score_mt_with_comet(comet_ckpt, tmp_path):
    for name, lines in (("s", SRC), ("h", HYP), ("r", REF)):
        write_lines(tmp_path / f"{name}.txt", lines)
    load_task("score_mt").main([
        "--hyps", str(tmp_path / "h.txt"), "--refs", str(tmp_path / "r.txt"),
        "--sources", str(tmp_path / "s.txt"), "--comet-model", str(comet_ckpt),
        "--comet-segments-out", str(tmp_path / "seg.txt"), "--out", str(tmp_path / "mt.json"),
        "--lang-pair", "en-de", "--testset", "toy"])
    scores = read_json(tmp_path / "mt.json")
    seg = [float(x) for x in read_lines(tmp_path / "seg.txt")]
    assert len(seg) == 4
    assert scores["comet"] == pytest.approx(sum(seg) / 4, abs=1e-5)
    assert {"bleu", "chrf", "comet", "comet_model", "n"} <= scores.keys()
    # the segments stay in the score file, so the cell gets its interval without the model
    assert scores["comet_segments"] == pytest.approx(seg, abs=1e-6)
    from spire.cell_stats import intervals
    from spire.results import load_score
    ivs, notes = intervals(load_score(tmp_path / "mt.json", variant="toy"))
    assert notes == [] and sorted(iv.metric for iv in ivs) == ["bleu", "chrf", "comet"]


def test_comet_hub_id_from_the_mirror(comet_ckpt, tmp_path, monkeypatch):
    """Offline paper scale: Unbabel/wmt22-comet-da read from MIRROR/models/<id>/ (no download)."""
    import shutil

    mirror = tmp_path / "mirror"
    shutil.copytree(comet_ckpt.parent.parent, mirror / "models" / "Unbabel" / "wmt22-comet-da")
    monkeypatch.setenv("SPIRE_MIRROR", str(mirror))
    out = comet_scores(SRC[:2], HYP[:2], REF[:2], model="Unbabel/wmt22-comet-da", gpus=0)
    assert len(out["comet_segments"]) == 2 and out["comet_model"] == "Unbabel/wmt22-comet-da"
