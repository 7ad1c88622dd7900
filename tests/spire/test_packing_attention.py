"""Packed documents never attend to each other, whatever the attention implementation
(spire.packing.attention_path and Collator): sdpa/eager by a block-diagonal mask from position
ids, flash attention by flattened micro-batches with cumulative sequence lengths (transformers
detects packing from position ids only at batch size 1), anything else refused at start-up.

flash_attn does not run on a CPU, so the flash path is checked through the batch it is given and
through an eager kernel that, like flash_attn_varlen_func, sees only ``cu_seq_lens_q/k``."""
import numpy as np
import pytest
import torch
from transformers import AttentionInterface, AutoTokenizer
from transformers.models.llama.modeling_llama import eager_attention_forward

from spire.packing import (IGNORE, Collator, TokenCounter, attention_path, pack_chunks,
                           pack_examples)
from tests.spire.lm_fixtures import base_tok_dir, tiny_llama, toy_sentences  # noqa: F401

VARLEN_EAGER = "spire_test_varlen_eager"


def varlen_eager(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Eager attention that keeps documents apart ONLY by the cumulative lengths a varlen kernel
    gets (it ignores attention_mask and position ids): a stand-in for flash_attn_varlen_func."""
    cu_q, cu_k = kwargs["cu_seq_lens_q"], kwargs["cu_seq_lens_k"]
    assert query.shape[0] == 1 and int(cu_q[-1]) == query.shape[2], "not one flattened row"
    assert kwargs["max_length_q"] == int(cu_q.diff().max()) and torch.equal(cu_q, cu_k)
    n = query.shape[2]
    doc = torch.searchsorted(cu_q[1:].to(torch.long), torch.arange(n), right=True)
    allowed = (doc[:, None] == doc[None, :]) & torch.ones(n, n, dtype=torch.bool).tril()
    mask = torch.zeros(n, n, dtype=query.dtype).masked_fill(~allowed, torch.finfo(query.dtype).min)
    return eager_attention_forward(module, query, key, value, mask[None, None], scaling, dropout)


AttentionInterface.register(VARLEN_EAGER, varlen_eager)


def _rows(tok):
    """A micro-batch of 4 packed rows: CPT chunks (a document cut across rows, rows of unequal
    length) and IT rows of whole examples."""
    docs = [tok("<s>" + s, add_special_tokens=False)["input_ids"] for s in toy_sentences(7, seed=5)]
    cpt = pack_chunks(docs, 23)
    it, _ = pack_examples([(d, [IGNORE] * 2 + d[2:]) for d in docs[:4]], 40)
    rows = cpt[:2] + it[:1] + cpt[-1:]
    assert any(r["labels"][0] != IGNORE for r in rows)  # a row that starts mid-document
    assert len({len(r["input_ids"]) for r in rows}) > 1  # padding in the 4-D batch
    return rows


def _document_bounds(rows):
    """(start, end) of every document in the rows laid end to end, from the position ids."""
    bounds, offset = [], 0
    for r in rows:
        pos = list(r["position_ids"])
        starts = [i for i, p in enumerate(pos) if p == 0]
        assert starts[0] == 0
        ends = starts[1:] + [len(pos)]
        bounds += [(offset + a, offset + b) for a, b in zip(starts, ends)]
        offset += len(pos)
    return bounds


def test_flash_batch_is_one_row_cut_at_every_document(base_tok_dir):
    tok = AutoTokenizer.from_pretrained(base_tok_dir)
    rows = _rows(tok)
    flat_count, padded_count = TokenCounter(), TokenCounter()
    flat = Collator(tok.pad_token_id, flat_count, flatten=True)(rows)
    padded = Collator(tok.pad_token_id, padded_count)(rows)
    total = sum(len(r["input_ids"]) for r in rows)
    bounds = _document_bounds(rows)
    assert len(bounds) > len(rows)  # several documents per row
    assert flat["input_ids"].shape == flat["labels"].shape == flat["position_ids"].shape == (1, total)
    assert "attention_mask" not in flat
    assert flat["cu_seq_lens_q"].tolist() == flat["cu_seq_lens_k"].tolist() \
        == [a for a, _ in bounds] + [total]
    assert flat["max_length_q"] == flat["max_length_k"] == max(b - a for a, b in bounds)
    # no padding: the rows' tokens and positions laid end to end
    assert flat["input_ids"][0].tolist() == [t for r in rows for t in r["input_ids"]]
    assert flat["position_ids"][0].tolist() == [p for r in rows for p in r["position_ids"]]
    # every document's first token carries no label (nothing predicts it across a boundary),
    # every other token keeps its row's label
    labels = [l for r in rows for l in r["labels"]]
    for a, _ in bounds:
        labels[a] = IGNORE
    assert flat["labels"][0].tolist() == labels
    # the Trainer's loss denominator (num_items_in_batch = labels != -100) is the same for both
    # collations, and equals the labels a logit actually predicts
    predicted = sum(int((torch.as_tensor(r["labels"][1:]) != IGNORE).sum()) for r in rows)
    assert int((flat["labels"] != IGNORE).sum()) == int((padded["labels"] != IGNORE).sum()) == predicted
    assert flat_count.tokens == padded_count.tokens == total


def test_flattened_batch_gives_the_masked_batch_logits_and_loss(base_tok_dir):
    """The flattened batch through a kernel that sees only cu_seq_lens (as flash attention does)
    gives the logits and the loss of the 4-D-mask path (eager, padded rows, batch of 4)."""
    tok = AutoTokenizer.from_pretrained(base_tok_dir)
    rows = _rows(tok)
    model = tiny_llama(tok, seed=3)
    model.config.use_cache = False
    model.train()
    flat = Collator(tok.pad_token_id, flatten=True)(rows)
    padded = Collator(tok.pad_token_id)(rows)
    with torch.no_grad():
        model.config._attn_implementation = "eager"
        ref = model(**padded, num_items_in_batch=int((padded["labels"] != IGNORE).sum()))
        model.config._attn_implementation = VARLEN_EAGER
        out = model(**flat, num_items_in_batch=int((flat["labels"] != IGNORE).sum()))
        leaky = model(input_ids=flat["input_ids"], position_ids=flat["position_ids"],
                      cu_seq_lens_q=torch.tensor([0, flat["input_ids"].shape[1]], dtype=torch.int32),
                      cu_seq_lens_k=torch.tensor([0, flat["input_ids"].shape[1]], dtype=torch.int32),
                      max_length_q=flat["input_ids"].shape[1], max_length_k=flat["input_ids"].shape[1])
    ref_logits = torch.cat([ref.logits[i, :len(r["input_ids"])] for i, r in enumerate(rows)])
    torch.testing.assert_close(out.logits[0], ref_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.loss, ref.loss, atol=1e-6, rtol=1e-5)
    # the check has teeth: without the documents' boundaries the logits differ
    assert not torch.allclose(leaky.logits[0], ref_logits, atol=1e-3)


@pytest.mark.parametrize("attn", ["flex_attention", "kernels-community/flash-attn", "flash_attn2"])
def test_trainer_refuses_attention_that_cannot_keep_documents_apart(tmp_path, attn):
    from spire.training import TrainOptions, train
    with pytest.raises(ValueError, match=rf"--attn-implementation '{attn}': packed training keeps "
                                         r"documents apart only with sdpa, eager, flash_attention_2"):
        train(TrainOptions(model=str(tmp_path / "model"), train_file=str(tmp_path / "c.jsonl"),
                           output_dir=str(tmp_path / "out"), attn_implementation=attn))
    assert list(tmp_path.iterdir()) == []  # refused at start-up, before anything is made


def test_train_lm_config_file_cannot_slip_past_the_check(tmp_path):
    """argparse checks choices only on the command line, not defaults set from --config."""
    from tasks.train_lm import main
    cfg = tmp_path / "it.yaml"
    cfg.write_text("attn_implementation: flex_attention\n")
    with pytest.raises(ValueError, match="--attn-implementation 'flex_attention'"):
        main(["--config", str(cfg), "--model", str(tmp_path / "m"), "--train-file",
              str(tmp_path / "c.jsonl"), "--output-dir", str(tmp_path / "out")])


def test_attention_paths(monkeypatch):
    assert [attention_path(a) for a in ("sdpa", "eager", "flash_attention_2", "flash_attention_3")] \
        == ["mask", "mask", "varlen", "varlen"]
    # below torch 2.6 transformers drops the packed-sequence mask without a word: refuse
    from transformers import masking_utils
    monkeypatch.setattr(masking_utils, "_is_torch_greater_or_equal_than_2_6", False, raising=False)
    with pytest.raises(ValueError, match="older than 2.6.*install torch >= 2.6"):
        attention_path("sdpa")
    assert attention_path("flash_attention_2") == "varlen"


def test_unpacked_rows_keep_the_padding_mask_with_flash(base_tok_dir):
    """--no-packing rows (one example each) stay padded with an attention mask, which flash
    attention honours by unpadding: flattening is only for packed rows."""
    rows = [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]
    batch = Collator(0, flatten=True)(rows)
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, 9, IGNORE]]
    assert np.array_equal(batch["input_ids"].numpy(), [[5, 6, 7], [8, 9, 0]])


def test_trainer_step_is_the_same_with_either_collation(base_tok_dir, tmp_path):
    """Through the HF Trainer (its num_items_in_batch over 2 accumulated micro-batches, accelerate
    moving a batch with int kwargs): the flattened batches give the 4-D-mask path's loss and
    gradient. Today's masks counted a row's unpredictable first label in the denominator."""
    from transformers import Trainer, TrainingArguments
    tok = AutoTokenizer.from_pretrained(base_tok_dir)
    rows = _rows(tok) * 2
    seen = {}
    for attn, flatten in (("eager", False), (VARLEN_EAGER, True)):
        model = tiny_llama(tok, seed=3)
        model.config.use_cache = False
        model.config._attn_implementation = attn
        args = TrainingArguments(output_dir=str(tmp_path / str(flatten)), per_device_train_batch_size=4,
                                 gradient_accumulation_steps=2, max_steps=1, learning_rate=0.0,
                                 report_to=[], use_cpu=True, save_strategy="no", logging_steps=1,
                                 remove_unused_columns=False, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          data_collator=Collator(tok.pad_token_id, flatten=flatten))
        trainer.train()
        log = next(r for r in trainer.state.log_history if "loss" in r)
        seen[flatten] = (log["loss"], log["grad_norm"])
    assert seen[True] == pytest.approx(seen[False], rel=1e-5)
