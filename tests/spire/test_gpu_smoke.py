"""`make gpu-smoke` (bench/gpu_smoke.py): its CPU parts run here at toy sizes, so that the script a
lent GPU runs is known to work; the GPU-only checks say why they did not run."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", REPO / "bench" / "gpu_smoke.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpu_parts_of_the_gpu_smoke_pass_and_gpu_parts_say_why_not(tmp_path, capsys):
    smoke = load_smoke()
    code = smoke.main(["--device", "cpu", "--small", "--checks", "labels", "train", "memory", "flash",
                       "--out", str(tmp_path / "report.json")])
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0, report
    # bf16 features, fp32 nearest centre: every frame gets the float64 nearest centre
    assert report["labels"]["status"] == "PASS" and report["labels"]["bf16_nearest_centre"] >= 0.999
    # a ZeRO-3 run killed after its first checkpoint resumes from it and finishes every step
    assert report["train"]["status"] == "PASS", report["train"]
    assert report["train"]["resumed"] and report["train"]["global_step"] == 300 and report["train"]["zero3"]
    assert report["memory"]["status"] == "NOT RUN" and "max_memory_allocated" in report["memory"]["why"]
    assert report["flash"]["status"] == "NOT RUN"
    assert "labels  PASS" in capsys.readouterr().out


def test_a_failing_check_fails_the_smoke_run(tmp_path, monkeypatch):
    smoke = load_smoke()
    monkeypatch.setattr(smoke, "check_labels", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    assert smoke.main(["--device", "cpu", "--small", "--checks", "labels", "--out", str(tmp_path / "r.json")]) == 1
    assert json.loads((tmp_path / "r.json").read_text())["labels"] == {
        "status": "FAIL", "error": "RuntimeError: boom", "seconds": 0.0}
