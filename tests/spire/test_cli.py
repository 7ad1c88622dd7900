"""`spire transcribe` / `spire translate` and spire.inference on models this repository did not make.

The fixtures are built here with plain transformers / scikit-learn calls (none of spire's model
builders): a random HubertModel folder, a scikit-learn KMeans dumped with joblib, and a random
LlamaForCausalLM whose tokenizer has PUA unit tokens and a ChatML chat template.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

from eval_fixtures import build_foreign_spire  # noqa: E402


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    return build_foreign_spire(tmp_path_factory.mktemp("foreign"))


def spire_cmd(foreign, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "spire.cli", *map(str, args),
                           "--model", foreign["lm"], "--encoder", foreign["encoder"],
                           "--kmeans", foreign["kmeans"], "--layer", "1", "--max-new-tokens", "6"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_console_script_is_installed_with_the_package():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["spire"] == "spire.cli:main"


def test_transcribe_one_line_per_file_and_bad_audio_is_an_empty_line(foreign):
    a = foreign["audio"]
    # the first 2 KB of a 2 s file: a truncated copy, not a 0.06 s utterance (issue 31, case 7)
    (a / "cut.wav").write_bytes((a / "tone.wav").read_bytes()[:2048])
    files = [a / "tone.wav", a / "corrupt.wav", a / "noise.flac", a / "silent.wav", a / "missing.wav",
             a / "cut.wav"]
    # and a dataset config: its rows come after the files, in dataset order
    (a / "two.jsonl").write_text('{"audio": "noise.flac", "id": "n"}\n{"audio": "silent.wav", "id": "s"}\n')
    (a / "two.yaml").write_text("path: two.jsonl\nid_column: id\n")
    proc = spire_cmd(foreign, "transcribe", *files, a / "two.yaml")
    assert proc.returncode == 1, proc.stderr  # every line written, and the exit says some failed
    lines = proc.stdout.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(files) + 2
    assert lines[0] and lines[2], "the good files got a transcript"
    assert lines[1] == lines[3] == lines[4] == lines[5] == ""
    assert lines[6] == lines[2] and lines[7] == ""
    assert f"{a / 'corrupt.wav'}: unreadable" in proc.stderr
    assert f"{a / 'silent.wav'}: silent audio" in proc.stderr
    assert f"{a / 'missing.wav'}: no such file" in proc.stderr
    assert f"{a / 'cut.wav'}: truncated or corrupt audio: its header says" in proc.stderr
    assert "5 of 8 inputs had no usable audio" in proc.stderr


def cli_args(foreign, *args):
    return [*map(str, args), "--model", str(foreign["lm"]), "--encoder", str(foreign["encoder"]),
            "--kmeans", str(foreign["kmeans"]), "--layer", "1", "--max-new-tokens", "6"]


def test_translate_from_a_list_file_direct_and_cascade(foreign, tmp_path):
    from spire import cli

    a = foreign["audio"]
    lst = tmp_path / "files.txt"
    lst.write_text(f"# my files\n{a / 'tone.wav'}\n\n{a / 'corrupt.wav'}\n{a / 'noise.flac'}\n")
    for mode in ("direct", "cascade"):
        out = tmp_path / f"{mode}.txt"
        assert cli.main(cli_args(foreign, "translate", lst, "--to", "de", "--mode", mode, "--out", out)) == 1
        lines = out.read_text().split("\n")[:-1]
        assert len(lines) == 3 and lines[0] and lines[1] == "" and lines[2], (mode, lines)


def test_bad_model_or_language_is_a_clear_error(foreign, tmp_path, capsys):
    from spire import cli

    args = cli_args(foreign, "transcribe", foreign["audio"] / "tone.wav")
    args[args.index("--model") + 1] = str(tmp_path / "nope")
    assert cli.main(args) == 2
    assert "nope: no such model directory" in capsys.readouterr().err
    assert cli.main(cli_args(foreign, "translate", foreign["audio"] / "tone.wav", "--to", "xx")) == 2
    assert "unknown language code 'xx'" in capsys.readouterr().err


def test_python_api_uses_the_it_prompt_in_the_chat_template(foreign):
    from spire import inference
    from spire.units import is_unit_char

    spire = inference.load(foreign["lm"], foreign["encoder"], foreign["kmeans"], layer=1,
                           max_new_tokens=4)
    assert spire.style == "instruct" and spire.unit_format == "pua"
    outs = spire.label([foreign["audio"] / "tone.wav"])
    units = outs[0].units
    assert units and all(is_unit_char(c) for c in units)
    prompt = spire._prompt("st", units=units, tgt_lang="de")
    assert prompt == f"<|im_start|>user\nSpeech: {units}\nGerman:<|im_end|>\n<|im_start|>assistant\n"
    # the one-shot function gives the same greedy transcript as the loaded pipeline
    text = inference.transcribe(str(foreign["audio"] / "tone.wav"), model=foreign["lm"],
                                encoder=foreign["encoder"], kmeans=foreign["kmeans"], layer=1,
                                max_new_tokens=4)
    assert text == spire.transcribe([foreign["audio"] / "tone.wav"])[0]


def test_kmeans_from_a_folder_and_the_mirror(foreign, tmp_path, monkeypatch):
    from spire import inference

    mirror = tmp_path / "mirror"
    (mirror / "models" / "someone" / "units").mkdir(parents=True)
    (mirror / "models" / "someone" / "units" / "km.bin").write_bytes(foreign["kmeans"].read_bytes())
    (mirror / "models" / "someone" / "units" / "README.md").write_text("k-means")
    monkeypatch.setenv("SPIRE_MIRROR", str(mirror))
    assert inference.resolve_kmeans("someone/units").name == "km.bin"
    assert inference.resolve_model("someone/units") == str(mirror / "models" / "someone" / "units")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="expected one joblib file"):
        inference.resolve_kmeans(tmp_path / "empty")


MODELS = ["--model", "m", "--encoder", "e", "--kmeans", "k"]  # never loaded: the inputs fail first


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "-1"], "argument --batch-size: '-1' is not a whole number >= 1"),
    (["--batch-size", "0"], "argument --batch-size: '0' is not a whole number >= 1"),
    (["--batch-size", "two"], "argument --batch-size: 'two' is not a whole number >= 1"),
    (["--max-new-tokens", "0"], "argument --max-new-tokens: '0' is not a whole number >= 1"),
    (["--layer", "0"], "argument --layer: '0' is not a whole number >= 1"),
])
def test_numeric_options_out_of_range_are_usage_errors(args, message, capsys):
    """Issue 31, case 6: --batch-size -1 printed empty lines and exited 0, 0 a range() error."""
    from spire import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["transcribe", "a.wav", *MODELS, *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--mfu", "0"], "argument --mfu: '0' is not a number > 0 and <= 1"),
    (["--mfu", "1.5"], "argument --mfu: '1.5' is not a number > 0 and <= 1"),
    (["--gpu-mem-gb", "-80"], "argument --gpu-mem-gb: '-80' is not a number > 0"),
    (["--headroom", "1"], "argument --headroom: '1' is not a number from 0 to 0.99"),
    (["--tflops", "nan"], "argument --tflops: 'nan' is not a number > 0"),
])
def test_resources_options_out_of_range_are_usage_errors(args, message, capsys):
    from spire import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["resources", "configs/paper.tconf", *args])
    assert e.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"--tokens 'TrainIT=-5': expected TASK=N with N > 0"):
        cli.main(["resources", "configs/paper.tconf", "--tokens", "TrainIT=-5"])


def test_directory_empty_list_and_empty_dataset_are_named(tmp_path, capsys):
    """Issue 31, case 8 (`spire transcribe DIR` said "no such file") and case 7 (empty inputs)."""
    from spire import cli

    assert cli.main(["transcribe", str(tmp_path), *MODELS]) == 2
    err = capsys.readouterr().err
    assert f"spire transcribe: {tmp_path}: is a directory; pass its audio files ({tmp_path}/*.wav)" in err
    (tmp_path / "files.txt").write_text("# nothing yet\n\n")
    assert cli.main(["transcribe", str(tmp_path / "files.txt"), *MODELS]) == 2
    assert f"list file {tmp_path / 'files.txt'}: no audio paths in it" in capsys.readouterr().err
    (tmp_path / "m.jsonl").write_text("\n\n")
    (tmp_path / "m.yaml").write_text("path: m.jsonl\n")
    assert cli.main(["translate", str(tmp_path / "m.yaml"), "--to", "de", *MODELS]) == 2
    assert (f"spire translate: {tmp_path / 'm.yaml'}: {tmp_path / 'm.jsonl'} is an empty manifest "
            "(no rows: 0 lines, or only blank lines)") in capsys.readouterr().err
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9.wav\n")
    assert cli.main(["transcribe", str(tmp_path / "bad.txt"), *MODELS]) == 2
    assert "bad.txt:1: not UTF-8" in capsys.readouterr().err
