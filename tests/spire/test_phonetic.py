"""The miniature's phonetic encoder: espeak-ng's phoneme timings, frame labels, training, loading."""
from __future__ import annotations

import json

import pytest
import soundfile as sf
import torch

from conftest import task_main
from spire.encoders import PHONETIC_WEIGHTS, load_encoder
from spire.mini import grammar
from spire.mini.phonetic import PAUSE, encoder_sentences, frame_labels, make_phonetic_encoder
from spire.mini.speech import synthesize, synthesize_aligned


@pytest.fixture(scope="module")
def phonetic_encoder(tmp_path_factory):
    out = tmp_path_factory.mktemp("enc") / "phonetic"
    texts = grammar.sentences(150, seed=5)
    summary = make_phonetic_encoder(out, texts, seed=0, frame_rate=25.0, epochs=4, batch_size=128, jobs=1)
    return out, summary


def test_phoneme_timings_follow_the_audio(tmp_path):
    text, voice = "the old dog saw a red ball", "en-us+m1"
    wave, timings = synthesize_aligned(text, voice, 160, 50)
    starts = [t for t, _ in timings]
    names = [p for _, p in timings]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] < len(wave) / 16000
    # "the" begins with the voiced "th" (D); 25 or so phonemes for seven words
    assert names[0] == "D" and 18 <= len(names) <= 40
    # the same speech as the corpus's (espeak-ng's chunking differs by a millisecond or so)
    synthesize(text, voice, 160, 50, tmp_path / "plain.wav")
    plain, _ = sf.read(tmp_path / "plain.wav", dtype="float32")
    assert abs(len(plain) - len(wave)) <= 0.005 * 16000
    # a faster voice speaks the same phonemes in less time
    fast, fast_timings = synthesize_aligned(text, voice, 260, 50)
    assert [p for _, p in fast_timings] == names and len(fast) < 0.8 * len(wave)


def test_frame_labels_take_the_phoneme_sounding_at_each_frame_centre():
    index = {PAUSE: 0, "a": 1, "b": 2}
    # frames at 10 per second are centred at 0.0, 0.1, ... 0.5 s
    labels = frame_labels([(0.05, "a"), (0.25, "b"), (0.35, PAUSE)], 6, 10.0, index)
    assert labels.tolist() == [0, 1, 1, 2, 0, 0]
    assert frame_labels([], 3, 10.0, index).tolist() == [0, 0, 0]  # no phoneme: a pause


def test_encoder_sentences_exclude_the_corpus_and_are_deterministic():
    train, dev, test = grammar.make_splits(300, 30, 30, seed=0)
    texts = encoder_sentences(200, seed=0, exclude=train + dev + test)
    assert texts == encoder_sentences(200, seed=0, exclude=train + dev + test)
    assert len(set(texts)) == 200 and not set(texts) & set(train + dev + test)


def test_trained_encoder_layers_and_posteriors(phonetic_encoder, mini_corpus):
    out, summary = phonetic_encoder
    cfg = json.loads((out / "encoder.json").read_text())
    assert cfg["type"] == "phonetic" and cfg["hidden_sizes"] == [256, 256, 64]
    assert PAUSE in cfg["phones"] and len(cfg["phones"]) == summary["phonemes"] >= 25
    # four epochs over 142 sentences' frames already name most held-out frames' phonemes
    assert 0.5 < summary["held_out_frame_accuracy"] <= 1.0
    wave, _ = sf.read(mini_corpus / "wavs" / "test" / "test-00000.wav", dtype="float32")
    post = load_encoder(out, layer=4, device="cpu")
    assert post.num_layers == 4 and post.frame_rate == 25.0 and post.dim == len(cfg["phones"])
    (p,) = post.features([wave])
    assert p.shape == (post.mfcc.features([wave])[0].shape[0], post.dim)
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[0]), atol=1e-5) and (p >= 0).all()
    for layer, dim in ((1, 256), (2, 256), (3, 64)):
        enc = load_encoder(out, layer=layer, device="cpu")
        (h,) = enc.features([wave])
        assert enc.dim == dim and h.shape == (p.shape[0], dim) and (h >= 0).all()  # after a ReLU
    with pytest.raises(ValueError, match="choose 1..4"):
        load_encoder(out, layer=5, device="cpu")


def test_missing_weights_and_bad_config_are_named(phonetic_encoder, tmp_path):
    out, _ = phonetic_encoder
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "encoder.json").write_text((out / "encoder.json").read_text())
    with pytest.raises(FileNotFoundError, match=PHONETIC_WEIGHTS):
        load_encoder(broken, layer=4, device="cpu")
    cfg = json.loads((out / "encoder.json").read_text())
    del cfg["phones"]
    (broken / "encoder.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"encoder.json.*phones"):
        load_encoder(broken, layer=4, device="cpu")


def test_too_few_sentences_fail_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="at least 20 sentences"):
        make_phonetic_encoder(tmp_path / "enc", grammar.sentences(5, seed=0))
    assert not (tmp_path / "enc").exists()


def test_task_excludes_the_given_transcripts(tmp_path, monkeypatch):
    import spire.mini.phonetic as phonetic

    seen = {}

    def fake_make(out, texts, **kw):  # the training itself is tested above
        seen.update(texts=texts, **kw)
        return {"phonemes": 40, "sentences": len(texts), "held_out_frame_accuracy": 0.5}

    monkeypatch.setattr(phonetic, "make_phonetic_encoder", fake_make)
    train = grammar.sentences(100, seed=3)
    (tmp_path / "train.txt").write_text("\n".join(train) + "\n")
    task_main("make_mini_encoder.py")(["--type", "phonetic", "--out", str(tmp_path / "enc"),
                                       "--sentences", "150", "--epochs", "2", "--frame-rate", "25",
                                       "--exclude", str(tmp_path / "train.txt")])
    assert len(seen["texts"]) == 150 and not set(seen["texts"]) & set(train)
    assert seen["epochs"] == 2 and seen["frame_rate"] == 25.0
