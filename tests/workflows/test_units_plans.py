"""The units stage plans as documented at paper scale: k-means over three corpora, sharded
labelling merged per corpus, and the released-k-means branch without TrainKMeans (no run)."""
from __future__ import annotations

from collections import Counter

from test_plans import listed, paper_uservars, tree  # noqa: F401 - tree is a fixture


def test_paper_kmeans_over_three_corpora(tree):  # noqa: F811
    paper_uservars(tree)
    tape = tree / "workflows" / "paper.tape"
    plan = listed(tape, "kmeans")
    feats = {r for t, r in plan if t == "KMeansFeatures"}
    assert feats == {"Baseline.baseline", "KMeansData.mls", "KMeansData.gigaspeech"}  # voxpopuli first
    assert [r for t, r in plan if t == "TrainKMeans"] == ["Baseline.baseline"]
    assert not any(t.startswith("Label") for t, _ in plan)


def test_paper_labelling_is_sharded_and_the_released_kmeans_needs_no_training(tree):  # noqa: F811
    paper_uservars(tree)
    tape = tree / "workflows" / "paper.tape"
    trained = Counter(t for t, _ in listed(tape, "labelize"))
    corpora = trained["LabelSpeech"]  # one per SpeechCorpus branch the plan reaches
    assert corpora >= 6 and trained["LabelSpeechShard"] == corpora * 8
    assert trained["TrainKMeans"] == 1 and trained["KMeansFeatures"] == 3
    released = listed(tape, "labelize_released")
    tasks = Counter(t for t, _ in released)
    assert tasks["LabelSpeech"] == corpora and tasks["LabelSpeechShard"] == corpora * 8
    assert "TrainKMeans" not in tasks and "KMeansFeatures" not in tasks
    assert ("FetchHubModel", "HubModel.spire_kmeans") in released
    assert all("KMeans.released" in r for t, r in released if t.startswith("Label"))


def test_miniature_units_stage_keeps_one_shard_per_corpus(tree):  # noqa: F811
    tape = tree / "workflows" / "main.tape"
    tasks = Counter(t for t, _ in listed(tape, "labelize"))
    assert tasks["LabelSpeechShard"] == tasks["LabelSpeech"] == 3
    assert tasks["KMeansFeatures"] == tasks["TrainKMeans"] == 1
