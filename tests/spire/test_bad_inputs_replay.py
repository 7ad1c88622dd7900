"""Replay of bad inputs a careful new user gives the kit outside training/launch/decoding-audio
(issue 31, "further bad inputs"): k-means, units, tokenizer and model extension, CPT/IT data,
shards, eval prompts, pseudo-labels and the resource plan.

Each case runs the task's ``main(argv)`` (or the library function) in-process on tiny inputs and
asserts the verdict: it fails (non-zero exit or an exception, never exit 0 with a wrong output)
with a message that names the file (and line) or the option/variable, and what to fix. Cases
marked ``was`` in the table of the report failed before their fix (silent or unclear); the rest
were already good and are kept here so they stay so.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.spire.conftest import task_main
from tests.spire.lm_fixtures import build_base_tokenizer

ROOT = Path(__file__).resolve().parents[2]
U = lambda *ix: "".join(chr(0xF0000 + i) for i in ix)  # noqa: E731 - unit characters


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """A workspace of tiny inputs: features, a k-means, tokenizers, line files, JSONL, configs."""
    from sklearn.cluster import KMeans

    from spire.kmeans import save_kmeans, write_feature_windows
    from spire.tokenizer_ext import extend_tokenizer

    t = tmp_path_factory.mktemp("replay")
    rng = np.random.default_rng(0)
    for name, dim in (("f8", 8), ("f4", 4)):
        write_feature_windows([(rng.normal(size=(300, dim)).astype("float32"), 6.0)], t / name, 50.0)
    save_kmeans(KMeans(4, n_init=1, random_state=0).fit(rng.normal(size=(50, 8)).astype("float32")),
                t / "km.joblib")
    shutil.copytree(t / "f8", t / "fnodim")
    ix = json.loads((t / "fnodim/features.json").read_text())
    del ix["dim"]
    (t / "fnodim/features.json").write_text(json.dumps(ix))
    shutil.copytree(t / "f8", t / "fmiss")
    (t / "fmiss/w000000.npy").unlink()
    (t / "base").mkdir()
    build_base_tokenizer(t / "base" / "tok")
    extend_tokenizer(t / "base" / "tok", t / "ext", 40)
    (t / "empty_dir").mkdir()
    files = {
        "notkm": "hello", "empty.txt": "", "u.txt": U(1, 2, 3) + "\n" + U(4, 5) + "\n",
        "ubig.txt": U(1, 2, 45) + "\n" + U(3) + "\n", "t.txt": "the cat\na dog\n",
        "t3.txt": "the cat\na dog\nmore\n", "de.txt": "die katze\nein hund\n", "ids.txt": "a\na\n",
        "nonunit.txt": U(1, 1) + "\nabc\n", "u9.txt": U(0, 9) + "\n",
        "cpt.jsonl": '{"text": "the cat sat"}\n', "nokey.jsonl": '{"txt": "the cat sat"}\n',
        "badline.jsonl": '{"text": "a"}\n{"text": \n', "list.jsonl": "[1, 2]\n", "row.jsonl": '{"id": 1}\n',
        "empty.jsonl": "",
        "it.jsonl": '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", '
                    '"content": "yo"}], "task": "asr"}\n',
        "blk.jsonl": '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", '
                     '"content": "yo"}]}\n{"msgs": 1}\n',
        "s0.json": json.dumps({"data": "x.yaml", "corpus_rows": [0, 4], "rows": [0, 2], "shard": 0, "files": {}}),
        "s1.json": json.dumps({"data": "y.yaml", "corpus_rows": [0, 4], "rows": [2, 4], "shard": 1, "files": {}}),
        "s_norows.json": json.dumps({"data": "x.yaml", "shard": 1}), "s_list.json": "[1]",
        "list_tpl.json": "[1]",
        "mx.yaml": "seed: 1\nvariants:\n  full:\n    description: x\ncomponents:\n  asr:\n    group: speech\n"
                   "    weight: {w}\n    path: null\n    variants: [full]\n",
        "knob.tconf": "global {\n  gpu_mem_gb=eighty\n}\n", "mfu.tconf": "global {\n  gpu_mfu=40\n}\n",
        "ds.yaml": "path: facebook/voxpopuIi\nconfig: en\nsplit: train\naudio_column: audio\ntext_column: text\n",
    }
    for name, text in files.items():
        (t / name).write_text(text)
    (t / "mx_neg.yaml").write_text(files["mx.yaml"].format(w=-1))
    (t / "mx.yaml").write_text(files["mx.yaml"].format(w=1))
    tpl = json.loads((ROOT / "configs/prompts/spire.json").read_text())
    (t / "typo_tpl.json").write_text(json.dumps({k: v.replace("{units}", "{unitz}") for k, v in tpl.items()}))
    return t


def outcome(fn, capsys) -> tuple[str, str]:
    """(how it ended, its message): 'ok' (returned), 'exit N' (SystemExit) or the exception type."""
    try:
        rc = fn()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) or e.code is None else 1
        msg = e.code if isinstance(e.code, str) else capsys.readouterr().err
        return f"exit {code}", msg
    except Exception as e:  # noqa: BLE001 - the type is part of the verdict
        return type(e).__name__, str(e)
    return ("ok" if not rc else f"exit {rc}"), capsys.readouterr().err


def km(*a):
    return ["--n-clusters", "4", "--heldout-hours", "0.0003", *a]


# (case, script, argv (with {t} for the workspace), words the message must contain)
CASES = [
    # ------------------------------------------------------------------------------- k-means
    ("kmeans_k_zero", "train_kmeans.py", ["--features", "{t}/f8", "--n-clusters", "0", "--out", "{t}/o.joblib"],
     ["--n-clusters", "'0'", ">= 1", "kmeans_clusters"]),
    ("kmeans_k_5k", "train_kmeans.py", ["--features", "{t}/f8", "--n-clusters", "5k", "--out", "{t}/o.joblib"],
     ["--n-clusters", "'5k'", "whole number", "kmeans_clusters"]),
    ("kmeans_k_beyond_frames", "train_kmeans.py", ["--features", "{t}/f8", "--n-clusters", "1000",
                                                   "--heldout-hours", "0.0003", "--out", "{t}/o.joblib"],
     ["frames for 1000 clusters", "--n-clusters"]),
    ("kmeans_batch_frames_zero", "train_kmeans.py", ["--features", "{t}/f8", *km("--batch-frames", "0"),
                                                     "--out", "{t}/o.joblib"],
     ["--batch-frames", "'0'", "kmeans_batch_frames"]),
    ("kmeans_epochs_zero", "train_kmeans.py", ["--features", "{t}/f8", *km("--epochs", "0"), "--out", "{t}/o.joblib"],
     ["--epochs", "'0'", "kmeans_epochs"]),
    ("kmeans_heldout_negative", "train_kmeans.py", ["--features", "{t}/f8", "--n-clusters", "4",
                                                    "--heldout-hours", "-1", "--out", "{t}/o.joblib"],
     ["--heldout-hours", "'-1'", "> 0"]),
    ("kmeans_heldout_takes_all", "train_kmeans.py", ["--features", "{t}/f8", "--n-clusters", "4",
                                                     "--heldout-hours", "10", "--out", "{t}/o.joblib"],
     ["--heldout-hours", "all 300 frames", "lower --heldout-hours"]),
    ("kmeans_reassignment_negative", "train_kmeans.py", ["--features", "{t}/f8", *km("--reassignment-ratio", "-1"),
                                                         "--out", "{t}/o.joblib"],
     ["--reassignment-ratio", "'-1'", ">= 0"]),
    ("kmeans_patience_zero", "train_kmeans.py", ["--features", "{t}/f8", *km("--early-stop-patience", "0"),
                                                 "--out", "{t}/o.joblib"],
     ["--early-stop-patience", "'0'", ">= 1"]),
    ("kmeans_init_frames_zero", "train_kmeans.py", ["--features", "{t}/f8", *km("--init", "sample", "--init-frames", "0"),
                                                    "--out", "{t}/o.joblib"],
     ["--init-frames", "'0'", ">= 1"]),
    ("kmeans_feature_dims_differ", "train_kmeans.py", ["--features", "{t}/f8", "{t}/f4", *km(), "--out", "{t}/o.joblib"],
     ["different dimensions [4, 8]", "same encoder and layer"]),
    ("kmeans_index_without_dim", "train_kmeans.py", ["--features", "{t}/fnodim", *km(), "--out", "{t}/o.joblib"],
     ["fnodim/features.json", "'dim'", "rerun"]),
    ("kmeans_window_file_missing", "train_kmeans.py", ["--features", "{t}/fmiss", *km(), "--out", "{t}/o.joblib"],
     ["fmiss", "w000000.npy", "rerun tasks/kmeans_features.py"]),
    ("kmeans_features_dir_missing", "train_kmeans.py", ["--features", "{t}/nope", *km(), "--out", "{t}/o.joblib"],
     ["nope", "not a k-means features directory"]),
    ("kmeans_init_model_other_dim", "train_kmeans.py", ["--features", "{t}/f4", *km("--init-model", "{t}/km.joblib"),
                                                        "--out", "{t}/o.joblib"],
     ["--init-model", "8-d centres", "4-d features"]),
    ("kmeans_init_model_not_joblib", "train_kmeans.py", ["--features", "{t}/f8", *km("--init-model", "{t}/notkm"),
                                                         "--out", "{t}/o.joblib"],
     ["notkm", "not a joblib-saved estimator"]),
    ("kmeans_features_workers_negative", "kmeans_features.py", ["--encoder", "x", "--data", "x.yaml", "--workers", "-1",
                                                                "--out", "{t}/fo"],
     ["--workers", "'-1'", ">= 0"]),
    # --------------------------------------------------------------------------------- units
    ("dedup_non_unit_line", "dedup_units.py", ["--in", "{t}/nonunit.txt", "--out", "{t}/d.txt"],
     ["nonunit.txt:2", "not a unit character"]),
    ("units_stats_unit_beyond_k", "units_stats.py", ["--units", "{t}/u9.txt", "--n-clusters", "4",
                                                     "--out-json", "{t}/us.json"],
     ["u9.txt", "line 1", "unit 9 >= --n-clusters 4"]),
    ("units_stats_max_empty_above_one", "units_stats.py", ["--units", "{t}/u9.txt", "--n-clusters", "10",
                                                           "--max-empty", "5", "--out-json", "{t}/us.json"],
     ["--max-empty", "'5'", "from 0 to 1", "label_max_unreadable"]),
    # -------------------------------------------------------------- tokenizer / model / LM init
    ("ext_tok_units_zero", "extend_tokenizer.py", ["--base", "{t}/base/tok", "--num-units", "0", "--out", "{t}/et"],
     ["--num-units", "'0'", "kmeans_clusters"]),
    ("ext_tok_units_negative", "extend_tokenizer.py", ["--base", "{t}/base/tok", "--num-units", "-3", "--out", "{t}/et"],
     ["--num-units", "'-3'", "from 1 to 65534"]),
    ("ext_tok_units_beyond_pua", "extend_tokenizer.py", ["--base", "{t}/base/tok", "--num-units", "2000000",
                                                         "--out", "{t}/et"],
     ["--num-units", "'2000000'", "from 1 to 65534"]),
    ("ext_tok_base_without_tokenizer", "extend_tokenizer.py", ["--base", "{t}/empty_dir", "--num-units", "4",
                                                               "--out", "{t}/et"],
     ["--base", "empty_dir", "no tokenizer in this directory"]),
    ("ext_tok_base_path_typo", "extend_tokenizer.py", ["--base", "{t}/nonexist_tok", "--num-units", "4",
                                                       "--out", "{t}/et"],
     ["--base", "nonexist_tok", "no such directory"]),
    ("ext_model_tokenizer_without_tokenizer", "extend_model.py", ["--model", "{t}/empty_dir", "--tokenizer",
                                                                  "{t}/empty_dir", "--out", "{t}/em"],
     ["--tokenizer", "empty_dir", "no tokenizer in this directory"]),
    ("ext_model_pad_to_zero", "extend_model.py", ["--model", "m", "--tokenizer", "{t}/ext", "--pad-to", "0",
                                                  "--out", "{t}/em"],
     ["--pad-to", "'0'", ">= 1"]),
    ("ext_model_dtype_typo", "extend_model.py", ["--model", "m", "--tokenizer", "{t}/ext", "--dtype", "bf17",
                                                 "--out", "{t}/em"],
     ["--dtype", "'bf17'", "bfloat16"]),
    ("init_llama_hidden_zero", "init_llama.py", ["--tokenizer", "{t}/ext", "--hidden-size", "0", "--out", "{t}/il"],
     ["--hidden-size", "'0'", ">= 1"]),
    ("init_llama_layers_negative", "init_llama.py", ["--tokenizer", "{t}/ext", "--layers", "-1", "--out", "{t}/il"],
     ["--layers", "'-1'", ">= 1"]),
    ("init_llama_tokenizer_missing", "init_llama.py", ["--tokenizer", "{t}/nonexist", "--out", "{t}/il"],
     ["--tokenizer", "nonexist", "no such directory"]),
    ("sentencepiece_empty_text", "train_sentencepiece.py", ["--text", "{t}/empty.txt", "--out", "{t}/sp"],
     ["empty.txt", "no text", "--text"]),
    ("sentencepiece_vocab_zero", "train_sentencepiece.py", ["--text", "{t}/t.txt", "--vocab-size", "0",
                                                            "--out", "{t}/sp"],
     ["--vocab-size", "'0'", "mini_vocab_size"]),
    ("sentencepiece_vocab_below_chars", "train_sentencepiece.py", ["--text", "{t}/t3.txt", "--vocab-size", "5",
                                                                   "--out", "{t}/sp"],
     ["t3.txt", "--vocab-size 5", "Increase vocab_size"]),
    ("sentencepiece_max_unused_negative", "train_sentencepiece.py", ["--text", "{t}/t.txt", "--max-unused", "-1",
                                                                     "--out", "{t}/sp"],
     ["--max-unused", "'-1'", "from 0 to 1"]),
    # ------------------------------------------------------------------------------- packing
    ("pack_seq_len_zero", "pack_corpus.py", ["--tokenizer", "{t}/ext", "--input", "{t}/cpt.jsonl", "--seq-len", "0",
                                             "--out", "{t}/pk"],
     ["--seq-len 0", "at least 2"]),
    ("pack_num_proc_negative", "pack_corpus.py", ["--tokenizer", "{t}/ext", "--input", "{t}/cpt.jsonl", "--seq-len",
                                                  "16", "--num-proc", "-1", "--out", "{t}/pk"],
     ["--num-proc", "'-1'", ">= 0"]),
    ("pack_row_without_text", "pack_corpus.py", ["--tokenizer", "{t}/ext", "--input", "{t}/nokey.jsonl", "--seq-len",
                                                 "16", "--num-proc", "1", "--out", "{t}/pk"],
     ["nokey.jsonl:1", "'text'", "'messages'"]),
    ("pack_bad_json_line", "pack_corpus.py", ["--tokenizer", "{t}/ext", "--input", "{t}/badline.jsonl", "--seq-len",
                                              "16", "--num-proc", "1", "--out", "{t}/pk"],
     ["badline.jsonl:2", "invalid JSON"]),
    ("pack_empty_corpus", "pack_corpus.py", ["--tokenizer", "{t}/ext", "--input", "{t}/empty.jsonl", "--seq-len",
                                             "16", "--num-proc", "1", "--out", "{t}/pk"],
     ["empty.jsonl", "empty corpus"]),
    # ----------------------------------------------------------------------------------- CPT
    ("cpt_weight_negative", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--mt", "{t}/t.txt",
                                                  "{t}/de.txt", "en-de", "--weights", "asr=1.2", "mt=-0.2"],
     ["--weights mt=-0.2", ">= 0"]),
    ("cpt_weight_not_a_number", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--weights", "asr=abc"],
     ["--weights asr=abc", "'abc'", "KIND=VALUE"]),
    ("cpt_weights_all_zero", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--weights", "asr=0"],
     ["--weights", "every weight is 0"]),
    ("cpt_budget_negative", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--budgets", "asr=-5"],
     ["--budgets asr=-5", ">= 0"]),
    ("cpt_language_code_typo", "build_cpt_data.py", ["--mt", "{t}/t.txt", "{t}/de.txt", "en-dee"],
     ["unknown language code 'dee'", "spire/languages.py"]),
    ("cpt_pair_malformed", "build_cpt_data.py", ["--mt", "{t}/t.txt", "{t}/de.txt", "ende"],
     ["bad language pair 'ende'", "en-de"]),
    ("cpt_parallel_misaligned", "build_cpt_data.py", ["--mt", "{t}/t3.txt", "{t}/de.txt", "en-de"],
     ["t3.txt has 3 lines", "de.txt has 2", "align"]),
    ("cpt_pairs_per_doc_zero", "build_cpt_data.py", ["--mt", "{t}/t.txt", "{t}/de.txt", "en-de",
                                                     "--mt-pairs-per-doc", "0"],
     ["--mt-pairs-per-doc", "'0'", ">= 1"]),
    ("cpt_buffer_zero", "build_cpt_data.py", ["--mt", "{t}/t.txt", "{t}/de.txt", "en-de", "--buffer-size", "0"],
     ["--buffer-size", "'0'", ">= 1", "cpt_shuffle_buffer"]),
    ("cpt_units_beyond_tokenizer", "build_cpt_data.py", ["--asr", "{t}/ubig.txt", "{t}/t.txt"],
     ["ubig.txt:1", "unit 45", "--num-units"]),
    ("cpt_template_field_typo", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--templates",
                                                      "{t}/typo_tpl.json"],
     ["typo_tpl.json", "'cpt_asr'", "unitz", "fix the template"]),
    ("cpt_templates_not_object", "build_cpt_data.py", ["--asr", "{t}/u.txt", "{t}/t.txt", "--templates",
                                                       "{t}/list_tpl.json"],
     ["list_tpl.json", "JSON object"]),
    # ------------------------------------------------------------------------------------ IT
    ("it_mt_max_lines_negative", "build_it_data.py", ["mt", "--text", "en={t}/t.txt", "--text", "de={t}/de.txt",
                                                      "--pairs", "en-de", "--max-lines", "-1", "--source", "x",
                                                      "--out", "{t}/it_o.jsonl"],
     ["--max-lines", "'-1'", ">= 1", "blocks_max_lines"]),
    ("it_blocks_max_examples_zero", "build_it_data.py", ["blocks", "--input", "{t}/blk.jsonl", "--source", "x",
                                                         "--max-examples", "0", "--out", "{t}/it_o.jsonl"],
     ["--max-examples", "'0'", ">= 1"]),
    ("it_blocks_bad_row", "build_it_data.py", ["blocks", "--input", "{t}/blk.jsonl", "--source", "x",
                                               "--out", "{t}/it_o.jsonl"],
     ["blk.jsonl:2", "'messages'"]),
    ("it_mt_pair_without_file", "build_it_data.py", ["mt", "--text", "en={t}/t.txt", "--text", "de={t}/de.txt",
                                                     "--pairs", "en-fr", "--source", "x", "--out", "{t}/it_o.jsonl"],
     ["en-fr", "no text file for language 'fr'"]),
    ("it_asr_template_field_typo", "build_it_data.py", ["asr", "--units", "{t}/u.txt", "--transcripts", "{t}/t.txt",
                                                        "--source", "x", "--templates", "{t}/typo_tpl.json",
                                                        "--out", "{t}/it_o.jsonl"],
     ["typo_tpl.json", "'asr'", "unitz"]),
    ("mixture_same_file_twice", "build_it_mixture.py", ["--config", "{t}/mx.yaml", "--variant", "full", "--input",
                                                        "asr={t}/it.jsonl", "--input", "asr={t}/it.jsonl",
                                                        "--out", "{t}/mx.jsonl", "--stats", "{t}/mx.json"],
     ["it.jsonl given twice", "'asr'", "weight"]),
    ("mixture_variant_typo", "build_it_mixture.py", ["--config", "{t}/mx.yaml", "--variant", "ful", "--input",
                                                     "asr={t}/it.jsonl", "--out", "{t}/mx.jsonl", "--stats", "{t}/mx.json"],
     ["mx.yaml", "no variant 'ful'", "full"]),
    ("mixture_negative_weight", "build_it_mixture.py", ["--config", "{t}/mx_neg.yaml", "--variant", "full", "--input",
                                                        "asr={t}/it.jsonl", "--out", "{t}/mx.jsonl", "--stats",
                                                        "{t}/mx.json"],
     ["mx_neg.yaml:6", "weight must be a positive number"]),
    ("merge_jsonl_bad_line", "merge_jsonl.py", ["--inputs", "{t}/badline.jsonl", "--out", "{t}/m.jsonl",
                                                "--stats", "{t}/m.json"],
     ["badline.jsonl:2", "invalid JSON"]),
    ("merge_jsonl_same_shard_twice", "merge_jsonl.py", ["--inputs", "{t}/row.jsonl", "{t}/row.jsonl", "--out",
                                                        "{t}/m.jsonl", "--stats", "{t}/m.json"],
     ["--inputs", "row.jsonl", "more than once"]),
    ("merge_jsonl_row_not_object", "merge_jsonl.py", ["--inputs", "{t}/list.jsonl", "--out", "{t}/m.jsonl",
                                                      "--stats", "{t}/m.json"],
     ["list.jsonl", "row 1", "not an object"]),
    ("merge_shards_other_run", "merge_shards.py", ["--shards", "{t}/s0.json", "{t}/s1.json", "--out", "units={t}/mu"],
     ["s1.json", "not one corpus"]),
    ("merge_shards_shard_missing", "merge_shards.py", ["--shards", "{t}/s0.json", "--out", "units={t}/mu"],
     ["a shard is missing"]),
    ("merge_shards_json_without_rows", "merge_shards.py", ["--shards", "{t}/s0.json", "{t}/s_norows.json",
                                                           "--out", "units={t}/mu"],
     ["s_norows.json", "'rows'", "shard.json"]),
    ("merge_shards_json_not_object", "merge_shards.py", ["--shards", "{t}/s_list.json", "--out", "units={t}/mu"],
     ["s_list.json", "not a shard description"]),
    # ---------------------------------------------------------------------- eval and labels
    ("prompts_language_typo", "build_prompts.py", ["--task", "st", "--style", "instruct", "--units", "{t}/u.txt",
                                                   "--tgt-lang", "dee", "--out", "{t}/p.jsonl"],
     ["unknown language code 'dee'"]),
    ("prompts_empty_test_set", "build_prompts.py", ["--task", "mt", "--style", "instruct", "--source",
                                                    "{t}/empty.txt", "--tgt-lang", "de", "--out", "{t}/p.jsonl"],
     ["empty.txt", "empty test set"]),
    ("prompts_template_field_typo", "build_prompts.py", ["--task", "asr", "--style", "instruct", "--units",
                                                         "{t}/u.txt", "--templates", "{t}/typo_tpl.json",
                                                         "--out", "{t}/p.jsonl"],
     ["typo_tpl.json", "'asr'", "unitz"]),
    ("prompts_shots_negative", "build_prompts.py", ["--task", "mt", "--style", "base", "--source", "{t}/t.txt",
                                                    "--tgt-lang", "de", "--shots", "-1", "--out", "{t}/p.jsonl"],
     ["--shots", "'-1'", ">= 0"]),
    ("prompts_more_shots_than_dev", "build_prompts.py", ["--task", "mt", "--style", "base", "--source", "{t}/t.txt",
                                                         "--tgt-lang", "de", "--shots", "5", "--dev-source",
                                                         "{t}/t.txt", "--dev-target", "{t}/de.txt", "--out",
                                                         "{t}/p.jsonl"],
     ["at least 5 dev examples", "got 2"]),
    ("prompts_duplicate_ids", "build_prompts.py", ["--task", "mt", "--style", "instruct", "--source", "{t}/t.txt",
                                                   "--tgt-lang", "de", "--ids", "{t}/ids.txt", "--out", "{t}/p.jsonl"],
     ["ids.txt:2", "'a'", "line 1", "unique"]),
    ("decode_empty_prompts", "decode.py", ["--model", "{t}/ext", "--prompts", "{t}/empty.jsonl", "--out", "{t}/h.txt",
                                           "--backend", "hf"],
     ["empty.jsonl", "no prompts", "empty"]),
    ("decode_batch_size_zero", "decode.py", ["--model", "{t}/ext", "--prompts", "{t}/empty.jsonl", "--out",
                                             "{t}/h.txt", "--batch-size", "0"],
     ["--batch-size", "'0'", ">= 1", "decode_batch_size"]),
    ("pseudo_threshold_percent", "pseudo_label.py", ["--units", "{t}/u.txt", "--transcripts", "{t}/t.txt",
                                                     "--hypotheses", "de={t}/de.txt", "--references", "de={t}/de.txt",
                                                     "--scorer", "chrf_ref", "--threshold", "85", "--source", "x",
                                                     "--out", "{t}/pl.jsonl", "--stats", "{t}/pl.json"],
     ["--threshold", "'85'", "from 0 to 1", "pseudo_threshold"]),
    ("pseudo_max_per_pair_negative", "pseudo_label.py", ["--units", "{t}/u.txt", "--transcripts", "{t}/t.txt",
                                                         "--hypotheses", "de={t}/de.txt", "--references",
                                                         "de={t}/de.txt", "--scorer", "chrf_ref", "--max-per-pair", "-2", "--source", "x",
                                                         "--out", "{t}/pl.jsonl", "--stats", "{t}/pl.json"],
     ["--max-per-pair", "'-2'", ">= 0"]),
    ("pseudo_language_typo", "pseudo_label.py", ["--units", "{t}/u.txt", "--transcripts", "{t}/t.txt",
                                                 "--hypotheses", "dee={t}/de.txt", "--references", "dee={t}/de.txt",
                                                 "--scorer", "chrf_ref", "--source", "x",
                                                 "--out", "{t}/pl.jsonl", "--stats", "{t}/pl.json"],
     ["unknown language code 'dee'"]),
]
CPT_TOKENIZER = ["--tokenizer", "{t}/ext", "--out", "{t}/cpt_o.jsonl", "--stats", "{t}/cpt_o.json"]


@pytest.mark.parametrize("case,script,argv,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(w, capsys, monkeypatch, case, script, argv, words):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if script == "build_cpt_data.py":
        argv = CPT_TOKENIZER + argv
    argv = [a.format(t=w) for a in argv]
    outputs = [Path(v.split("=")[-1]) for k, v in zip(argv, argv[1:]) if k in ("--out", "--stats", "--out-json")]
    for out in outputs:  # a case that (wrongly) succeeded must not fail the next one
        shutil.rmtree(out) if out.is_dir() else out.unlink(missing_ok=True)
    how, msg = outcome(lambda: task_main(script)(argv), capsys)
    assert how != "ok" and how not in ("exit 0", "exit None"), f"{case}: exit 0 ({msg[-300:]})"
    for word in words:
        assert word in msg, f"{case}: {word!r} not in the message: {msg[-600:]}"
    assert "Traceback" not in msg
    assert not any(p.exists() for p in outputs), f"{case}: wrote an output on failure"


# ---------------------------------------------------------------------- library-level cases
def test_kmeans_features_layer_beyond_encoder_depth(tmp_path, capsys):
    from spire.mini.encoders import make_tiny_hubert

    make_tiny_hubert(tmp_path / "hubert", seed=0)
    how, msg = outcome(lambda: task_main("kmeans_features.py")(
        ["--encoder", str(tmp_path / "hubert"), "--layer", "99", "--data", "x.yaml", "--out", str(tmp_path / "f")]),
        capsys)
    assert how == "ValueError" and "--layer 99 is beyond the depth" in msg and "choose 1..2" in msg, (how, msg)
    assert not (tmp_path / "f").exists()


def test_kmeans_hub_id_offline_not_cached_names_where_it_looked(monkeypatch, tmp_path):
    from spire.kmeans import load_kmeans

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(FileNotFoundError, match=r"utter-project/SpireKMeanz.*mirror.*HF_HUB_OFFLINE.*check the name"):
        load_kmeans("utter-project/SpireKMeanz")


def test_dataset_offline_not_in_mirror_names_config_and_fix(w, monkeypatch, tmp_path):
    from spire.audio_data import open_audio_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("SPIRE_MIRROR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"ds\.yaml: 'facebook/voxpopuIi'.*fetch_dataset\.py"):
        open_audio_dataset(str(w / "ds.yaml"))


@pytest.mark.parametrize("tconf,words", [("knob.tconf", ["knob.tconf:2", "gpu_mem_gb='eighty'", "GiB > 0"]),
                                         ("mfu.tconf", ["mfu.tconf:2", "gpu_mfu='40'", "fraction in (0, 1]"])])
def test_resources_bad_knob_named_with_file_and_line(w, capsys, tconf, words):
    from spire.cli import main

    assert main(["resources", str(w / tconf)]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_resources_missing_config(capsys, tmp_path):
    from spire.cli import main

    assert main(["resources", str(tmp_path / "nope.tconf")]) == 2
    assert "nope.tconf: no such config" in capsys.readouterr().err


def test_cpt_weights_not_summing_to_one_say_how_they_are_read(w, monkeypatch):
    """Shares are relative (asr=0.8 mt=0.7 is 53% / 47%): legitimate, but said, not silent."""
    from spire import cpt_data as cd

    said = []
    monkeypatch.setattr(cd.log, "warning", lambda fmt, *a: said.append(fmt % a))
    argv = [a.format(t=w) for a in CPT_TOKENIZER + ["--asr", "{t}/u.txt", "{t}/t.txt", "--mt", "{t}/t.txt",
                                                    "{t}/de.txt", "en-de", "--weights", "asr=0.8", "mt=0.7"]]
    task_main("build_cpt_data.py")(argv)
    assert any("--weights sum to 1.5, not 1" in s and "asr 53.3%" in s and "mt 46.7%" in s for s in said), said


def test_checks_accept_good_values():
    """The validators pass what the workflows give (so the fixes above refuse only bad values)."""
    import argparse

    from spire.options import Number, fraction, nonneg_int, positive_float, positive_int

    assert positive_int("5000") == 5000 and nonneg_int("0") == 0 and fraction("0.85") == 0.85
    assert positive_float("1e-3") == 1e-3 and Number(int, 1, 10)("10") == 10
    for check, bad in ((positive_int, "1.5"), (positive_float, "0"), (fraction, "nan"), (positive_float, "inf")):
        with pytest.raises(argparse.ArgumentTypeError):
            check(bad)
