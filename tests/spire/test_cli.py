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
    files = [a / "tone.wav", a / "corrupt.wav", a / "noise.flac", a / "silent.wav", a / "missing.wav"]
    # and a dataset config: its rows come after the files, in dataset order
    (a / "two.jsonl").write_text('{"audio": "noise.flac", "id": "n"}\n{"audio": "silent.wav", "id": "s"}\n')
    (a / "two.yaml").write_text("path: two.jsonl\nid_column: id\n")
    proc = spire_cmd(foreign, "transcribe", *files, a / "two.yaml")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(files) + 2
    assert lines[0] and lines[2], "the good files got a transcript"
    assert lines[1] == lines[3] == lines[4] == ""
    assert lines[5] == lines[2] and lines[6] == ""
    assert f"{a / 'corrupt.wav'}: unreadable" in proc.stderr
    assert f"{a / 'silent.wav'}: silent audio" in proc.stderr
    assert f"{a / 'missing.wav'}: no such file" in proc.stderr
    assert "4 of 7 inputs had no usable audio" in proc.stderr


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
        assert cli.main(cli_args(foreign, "translate", lst, "--to", "de", "--mode", mode, "--out", out)) == 0
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
