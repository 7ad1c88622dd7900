import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from spire.model_ext import extend_model, padded_vocab_size, sample_like_rows
from tests.spire.lm_fixtures import base_tok_dir, ext_tok_dir, run_task, tiny_llama  # noqa: F401


def test_padded_vocab_size():
    assert padded_vocab_size(37005) == 37056 and padded_vocab_size(64) == 64


@pytest.mark.parametrize("init", ["default", "mean"])
def test_extend_keeps_old_rows_and_pads(base_tok_dir, ext_tok_dir, init):
    base = AutoTokenizer.from_pretrained(base_tok_dir)
    ext = AutoTokenizer.from_pretrained(ext_tok_dir)
    model = tiny_llama(base)
    old_rows = model.config.vocab_size
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    extend_model(model, len(ext), init=init)
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows % 64 == 0 and rows >= len(ext) > old_rows
    assert model.get_output_embeddings().weight.shape[0] == rows == model.config.vocab_size
    assert torch.equal(model.get_input_embeddings().weight[:old_rows], old_in)
    assert torch.equal(model.get_output_embeddings().weight[:old_rows], old_out)
    if init == "mean":
        for new, old in [(model.get_input_embeddings().weight[old_rows:], old_in),
                         (model.get_output_embeddings().weight[old_rows:], old_out)]:
            # new rows sit at the old mean, spread ~sqrt(1e-5) of the old spread
            spread = (new - old.mean(0)).norm(dim=1).mean() / (old - old.mean(0)).norm(dim=1).mean()
            assert spread < 0.02 and spread > 0.0005
            assert (new.mean(0) - old.mean(0)).abs().max() < 0.01


def test_sample_like_rows_covariance():
    g = torch.Generator().manual_seed(0)
    old = torch.randn(500, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5, 1.0]) + 3
    new = sample_like_rows(old, 20000, scale=1e-5, generator=g)
    cov_old = torch.cov(old.T)
    cov_new = torch.cov(new.T)
    assert torch.allclose(cov_new, 1e-5 * cov_old, atol=2e-6)
    assert torch.allclose(new.mean(0), old.mean(0), atol=1e-3)


def test_extend_model_cli_reloads(base_tok_dir, ext_tok_dir, tmp_path):
    run_task("init_llama.py", "--tokenizer", base_tok_dir, "--preset", "tiny", "--out", tmp_path / "b")
    run_task("extend_model.py", "--model", tmp_path / "b", "--tokenizer", ext_tok_dir,
             "--init", "mean", "--out", tmp_path / "e")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "e")
    assert isinstance(model, LlamaForCausalLM)
    assert model.config.vocab_size == padded_vocab_size(len(AutoTokenizer.from_pretrained(ext_tok_dir)))
    tok = AutoTokenizer.from_pretrained(tmp_path / "e")
    assert len(tok) == len(AutoTokenizer.from_pretrained(ext_tok_dir))


def test_shrinking_is_an_error(base_tok_dir):
    model = tiny_llama(AutoTokenizer.from_pretrained(base_tok_dir))
    with pytest.raises(ValueError, match="more than the new vocabulary"):
        extend_model(model, 10)
