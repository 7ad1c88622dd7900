"""The audio baselines (Whisper, SeamlessM4T-v2) on tiny random models of the real types, built here."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from eval_fixtures import load_task
from spire.audio_models import can_do, decode_audio
from spire.io import read_lines


def build_whisper(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer, WhisperFeatureExtractor, WhisperProcessor, GenerationConfig
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE()); bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["the cat sat on the mat"] * 10, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.model.save(str(folder))
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    tok = WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    cfg = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, d_model=16, encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=300, pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"], decoder_start_token_id=ids["<|startoftranscript|>"], begin_suppress_tokens=None, suppress_tokens=None)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    gc = GenerationConfig(decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], max_length=300, is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]}, task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}, no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"])
    model.generation_config = gc
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(folder)
    return folder


def build_seamless(folder):
    import sentencepiece as spm
    from transformers import (SeamlessM4Tv2Config, SeamlessM4Tv2ForSpeechToText, SeamlessM4TTokenizer,
                              SeamlessM4TFeatureExtractor, SeamlessM4TProcessor, GenerationConfig)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.txt").write_text("\n".join(["the cat sat on the mat", "der Hund lief"] * 50))
    spm.SentencePieceTrainer.train(input=str(folder / "text.txt"), model_prefix=str(folder / "spm"), vocab_size=20, model_type="unigram", character_coverage=1.0, minloglevel=2)
    langs = ["__eng__", "__deu__", "__cmn__"]
    tok = SeamlessM4TTokenizer(str(folder / "spm.model"), additional_special_tokens=langs, src_lang="eng", tgt_lang="eng")
    ids = {l.strip("_"): tok.convert_tokens_to_ids(l) for l in langs}
    cfg = SeamlessM4Tv2Config(vocab_size=len(tok), t2u_vocab_size=20, char_vocab_size=20, hidden_size=16,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, speech_encoder_layers=1, speech_encoder_attention_heads=2,
        speech_encoder_intermediate_size=32, feature_projection_input_dim=160, adaptor_kernel_size=8, adaptor_stride=8,
        num_adapter_layers=1, t2u_encoder_layers=1, t2u_decoder_layers=1, t2u_encoder_attention_heads=2, t2u_decoder_attention_heads=2,
        t2u_encoder_ffn_dim=16, t2u_decoder_ffn_dim=16, unit_embed_dim=8, unit_hifi_gan_vocab_size=10, spkr_embed_dim=4, lang_embed_dim=4,
        upsample_initial_channel=8, max_position_embeddings=512, speech_encoder_chunk_size=20000, speech_encoder_left_chunk_num=128,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = SeamlessM4Tv2ForSpeechToText(cfg)
    model.generation_config = GenerationConfig(decoder_start_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, text_decoder_lang_to_code_id=ids, max_length=300)
    model.save_pretrained(folder)
    SeamlessM4TProcessor(SeamlessM4TFeatureExtractor(), tok).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_models")
    return {"whisper": build_whisper(root / "whisper"), "seamless": build_seamless(root / "seamless")}


TONE = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 200) * 0.3).astype(np.float32)


def test_whisper_asr_short_and_long_form(models):
    out = decode_audio(models["whisper"], [(TONE, 16000), (TONE[:0], 16000), (np.tile(TONE, 31), 16000)],
                       "asr", max_new_tokens=4, progress=False)
    assert len(out) == 3 and out[0] and out[1] == "" and out[2]  # 31 s: long-form, not cut at 30 s
    assert len(out[2]) > len(out[0])
    with pytest.raises(ValueError, match="Whisper translates only into English"):
        decode_audio(models["whisper"], [(TONE, 16000)], "st", "de")
    assert can_do("whisper", "asr") and not can_do("whisper", "st", "de")


def test_seamless_asr_and_st_differ_by_target_language(models):
    st = decode_audio(models["seamless"], [(TONE, 16000), (np.tile(TONE, 3), 16000)], "st", "de",
                      max_new_tokens=4, progress=False)
    assert len(st) == 2 and all(st)
    assert can_do("seamless_m4t_v2", "st", "zh") and not can_do("seamless_m4t_v2", "st", "ty")


def test_decode_audio_task_on_a_dataset_config(models, tmp_path):
    sf.write(tmp_path / "a.wav", TONE, 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"audio": f, "text": "x", "id": f}) + "\n"
                                                 for f in ("a.wav", "bad.wav", "a.wav")))
    cfg = tmp_path / "test.yaml"
    cfg.write_text("path: test.jsonl\ntext_column: text\nid_column: id\n")
    load_task("decode_audio").main(["--model", str(models["whisper"]), "--data", str(cfg), "--task", "asr",
                                    "--max-new-tokens", "3", "--out", str(tmp_path / "hyps.txt")])
    hyps = read_lines(tmp_path / "hyps.txt")
    assert len(hyps) == 3 and hyps[0] == hyps[2] != "" and hyps[1] == ""


def test_spiritlm_without_its_package_is_a_clear_error():
    import importlib.util
    assert importlib.util.find_spec("spiritlm") is None  # not installed here (not on PyPI)
    with pytest.raises(RuntimeError, match="Spirit LM needs its own package"):
        decode_audio("spiritlm", [(TONE, 16000)], "asr")
