"""COMET's batch size: the caller's when given, larger on GPU than unbabel-comet's 16 otherwise
(evaluation scores through spire.metrics, pseudo-labelling through spire.pseudo_label)."""
import types

import pytest

from spire import metrics, pseudo_label


class RecordingComet:
    def __init__(self):
        self.batch_sizes = []

    def predict(self, data, batch_size, gpus, **kw):
        self.batch_sizes.append(batch_size)
        return types.SimpleNamespace(scores=[0.9] * len(data))


def test_comet_batch_is_larger_on_gpu_and_the_callers_when_given():
    comet = RecordingComet()
    for gpus in (1, 0):
        metrics.comet_scores(["a"], ["b"], ["c"], model=comet, gpus=gpus)
        pseudo_label.comet_scores(["a"], ["b"], None, comet, gpus=gpus)
    metrics.comet_scores(["a"], ["b"], ["c"], model=comet, batch_size=8, gpus=1)
    assert comet.batch_sizes == [64, 64, 16, 16, 8]
    with pytest.raises(ValueError, match="batch size"):
        metrics.comet_batch_size(0, 1)


def test_score_mt_leaves_the_batch_size_to_the_device():
    from eval_fixtures import load_task
    a = load_task("score_mt").parse_args(["--hyps", "h", "--refs", "r", "--out", "o"])
    assert a.comet_batch_size is None
