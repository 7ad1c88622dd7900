"""The base LM and phonetic encoder in world/ are the ones this repository's miniature world would
train (ShippedMiniBase, ShippedMiniEncoder of workflows/mini_world.tape): a change to the world's
sentences or to their settings without `make mini-world` fails here, and in the workflow with
every difference named."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLANS = ("\nplan shipped {\n  reach ShippedMiniBase\n  reach ShippedMiniEncoder via (Encoder: phonetic)\n}\n"
         "plan encoder {\n  reach ShippedMiniEncoder via (Encoder: phonetic)\n}\n")


def workflow(tmp: Path, **overrides: str) -> Path:
    """main.tape and configs/mini.tconf copied to ``tmp`` (tconf variables overridden), with a
    plan that installs the shipped models only."""
    conf = (REPO / "configs" / "mini.tconf").read_text().replace('repo=".."', f'repo="{REPO}"')
    for key, value in overrides.items():
        conf, n = re.subn(rf"^(\s*{key}=)\S+$", rf"\g<1>{value}", conf, flags=re.M)
        assert n == 1, key
    (tmp / "mini.tconf").write_text(conf)
    main = (REPO / "workflows" / "main.tape").read_text()
    main = re.sub(r'import "(\w+\.tape)"', lambda m: f'import "{REPO}/workflows/{m.group(1)}"', main)
    (tmp / "t.tape").write_text(main.replace('import "../configs/mini.tconf"', 'import "mini.tconf"') + PLANS)
    return tmp / "t.tape"


def run(tape: Path, plan: str = "shipped") -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "ducttape", str(tape), "-p", plan, "-y"],
                          cwd=tape.parent, env=env, capture_output=True, text=True, timeout=600)


def test_the_shipped_models_are_this_worlds(tmp_path):
    proc = run(workflow(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:] + "\n(world/ is stale: run `make mini-world`)"
    out = tmp_path / "out"
    base = out / "ShippedMiniBase" / "Baseline.baseline" / "model"
    assert json.loads((base / "world.json").read_text())["made_by"] == "TrainMiniBase"
    assert (base / "config.json").is_file() and (base / "tokenizer_config.json").is_file()
    assert not (base / "runs").exists()
    encoder = out / "ShippedMiniEncoder" / "Baseline.baseline" / "encoder"
    assert json.loads((encoder / "world.json").read_text())["params"]["type"] == "phonetic"


def test_another_world_is_refused_naming_what_differs(tmp_path):
    proc = run(workflow(tmp_path, mini_n_train="240", mini_base_epochs="0.1"))
    assert proc.returncode != 0
    log = (tmp_path / "out" / "ShippedMiniBase" / "Baseline.baseline" / "ducttape_stderr.txt").read_text()
    assert "is not the model this workflow would train" in log
    assert "train_text: content" in log and "epochs: 6 (shipped) → 0.1 (this workflow)" in log
    assert "make mini-world" in log and "Traceback" not in log
    # the encoder excludes the corpus's sentences, which changed with mini_n_train
    assert run(tmp_path / "t.tape", "encoder").returncode != 0
    log = (tmp_path / "out" / "ShippedMiniEncoder" / "Baseline.baseline" / "ducttape_stderr.txt").read_text()
    assert "train_text: content" in log and "epochs" not in log
