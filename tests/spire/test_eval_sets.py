"""Test-set text from datasets through the one loader (tasks/eval_text.py, spire/eval_sets.py)."""
import json

import pytest

from eval_fixtures import load_task
from spire import eval_sets
from spire.io import read_lines


def test_flores_files_from_a_saved_dataset(tmp_path):
    """A FLORES+-shaped DatasetDict (dev/devtest, column `text`) → dev.<lang>, devtest.<lang>."""
    from datasets import Dataset, DatasetDict

    rows = lambda split: {"id": [1, 2, 3], "text": [f"{split} sentence {i}." for i in range(3)]}  # noqa: E731
    DatasetDict({s: Dataset.from_dict(rows(s)) for s in ("dev", "devtest")}).save_to_disk(tmp_path / "flores")
    cfg = tmp_path / "flores.yaml"
    cfg.write_text(f"path: {tmp_path / 'flores'}\nconfig: eng_Latn\nsplit: devtest\n"
                   "audio_column: text\ntext_column: text\nid_column: id\n")
    load_task("eval_text").main(["flores", "--config", str(cfg), "--langs", "en de", "--out", str(tmp_path / "out")])
    assert read_lines(tmp_path / "out" / "devtest.de") == [f"devtest sentence {i}." for i in range(3)]
    assert read_lines(tmp_path / "out" / "dev.en")[0] == "dev sentence 0."
    load_task("eval_text").main(["pair", "--testset", "flores", "--flores", str(tmp_path / "out"),
                                 "--src-lang", "de", "--tgt-lang", "en", "--src-out", str(tmp_path / "s"),
                                 "--ref-out", str(tmp_path / "r")])
    assert len(read_lines(tmp_path / "s")) == len(read_lines(tmp_path / "r")) == 3
    with pytest.raises(ValueError, match="no FLORES\\+ config for language 'xx'"):
        eval_sets.flores_lines(cfg, "xx", "dev")


def test_target_column_of_a_speech_test_set(tmp_path):
    rows = [{"audio": f"a{i}.wav", "sentence": f"hello {i}", "translation": f"hallo\n{i}", "id": str(i)}
            for i in range(3)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "covost.yaml"
    cfg.write_text("path: test.jsonl\naudio_column: audio\ntext_column: sentence\nid_column: id\n")
    meta = tmp_path / "meta.yaml"  # the eval YAML's metadata names the reference column
    meta.write_text(cfg.read_text() + "target_column: translation\n")
    load_task("eval_text").main(["column", "--data", str(cfg), "--column", "translation",
                                 "--out", str(tmp_path / "refs")])
    assert read_lines(tmp_path / "refs") == ["hallo 0", "hallo 1", "hallo 2"]  # one line per row
    assert load_task("eval_text").target_column(str(meta)) == "translation"
    load_task("eval_text").main(["column", "--data", str(cfg), "--transcripts", "--out", str(tmp_path / "text")])
    assert read_lines(tmp_path / "text") == ["hello 0", "hello 1", "hello 2"]
    with pytest.raises(SystemExit, match="no target_column"):
        load_task("eval_text").target_column(str(cfg))


def test_sacrebleu_pair_checks_the_direction():
    with pytest.raises(ValueError, match="wmt23 has no language pair en-ko"):
        eval_sets.sacrebleu_pair("wmt23", "en-ko")
    with pytest.raises(ValueError, match="no test set"):
        eval_sets.sacrebleu_pair("wmt99", "en-de")
