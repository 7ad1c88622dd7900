"""The fairseq HuBERT converter against fairseq's own forward (fairseq is a test-only dependency)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spire.audio import normalize
from spire.encoders import convert_fairseq_checkpoint, load_encoder, load_fairseq_hubert

import fairseq  # noqa: F401,E402 - test-only dependency (requirements-fairseq.txt); fail loudly if absent


def make_fairseq_checkpoint(tmp_path, extractor_mode: str, layer_norm_first: bool, seed: int = 0):
    """A tiny fairseq HubertModel built in code and saved as a real fairseq checkpoint."""
    from omegaconf import OmegaConf
    from fairseq.models.hubert.hubert import HubertConfig, HubertModel
    from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig, HubertPretrainingTask

    (tmp_path / "dict.km.txt").write_text("".join(f"{i} 1\n" for i in range(10)))
    task_cfg = HubertPretrainingConfig(data=str(tmp_path), label_dir=str(tmp_path), labels=["km"],
                                       normalize=layer_norm_first, sample_rate=16000)
    model_cfg = HubertConfig(extractor_mode=extractor_mode, layer_norm_first=layer_norm_first,
                             encoder_layers=3, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                             encoder_attention_heads=4, conv_bias=layer_norm_first, conv_pos=16,
                             conv_pos_groups=4, label_rate=50,
                             conv_feature_layers="[(48,10,5)] + [(48,3,2)] * 4 + [(48,2,2)] * 2")
    torch.manual_seed(seed)
    task = HubertPretrainingTask.setup_task(task_cfg)
    model = HubertModel(model_cfg, task_cfg, task.dictionaries)
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping cannot hide
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    cfg = OmegaConf.create({"model": OmegaConf.structured(model_cfg), "task": OmegaConf.structured(task_cfg)})
    cfg.model._name, cfg.task._name = "hubert", "hubert_pretraining"
    path = tmp_path / "hubert_tiny.pt"
    torch.save({"cfg": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "model": model.state_dict(),
                "args": None, "extra_state": {}, "last_optimizer_state": None,
                "optimizer_history": [{"criterion_name": "HubertCriterion", "optimizer_name": "Adam",
                                       "lr_scheduler_state": {}, "num_updates": 0}]}, path)
    return path


def fairseq_features(path, wav: torch.Tensor, layer: int) -> torch.Tensor:
    from fairseq import checkpoint_utils

    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(path)])
    model = models[0].eval()
    if task.cfg.normalize:
        # The same input normalisation as ours (the feature extractor's), so that the comparison
        # isolates the model; fairseq's dataset uses layer_norm (eps 1e-5 instead of 1e-7).
        wav = torch.from_numpy(normalize(wav.numpy()))
    with torch.no_grad():
        feats, _ = model.extract_features(wav[None], padding_mask=None, mask=False, output_layer=layer)
    return feats[0]


@pytest.mark.parametrize("mode,ln_first", [("layer_norm", True), ("default", False)])
def test_converter_matches_fairseq_forward(tmp_path, mode, ln_first):
    path = make_fairseq_checkpoint(tmp_path, mode, ln_first)
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 0.1)
    model, do_normalize = load_fairseq_hubert(path)
    assert do_normalize == ln_first
    for layer in (1, 2, 3):
        ref = fairseq_features(path, wav, layer)
        enc = load_encoder(path, layer=layer, device="cpu", dtype="fp32")
        ours = enc.features([wav.numpy()])[0]
        assert ours.shape == ref.shape
        diff = (ours - ref).abs().max().item()
        assert diff < 1e-4, f"layer {layer}: max abs diff {diff}"


def test_converted_directory_loads_through_automodel(tmp_path):
    from transformers import AutoModel

    path = make_fairseq_checkpoint(tmp_path, "layer_norm", True)
    out = convert_fairseq_checkpoint(path, tmp_path / "hf")
    assert type(AutoModel.from_pretrained(out)).__name__ == "HubertModel"
    wav = np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    a = load_encoder(out, layer=2, device="cpu").features([wav])[0]
    b = load_encoder(path, layer=2, device="cpu").features([wav])[0]
    assert torch.equal(a, b)


def test_not_a_fairseq_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="bad.pt.*not a fairseq checkpoint"):
        load_encoder(bad, layer=1)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_encoder(tmp_path / "missing.pt", layer=1)
