#!/usr/bin/env python
"""What only a GPU shows, in one script of at most ~10 minutes on one H100/H200 (`make gpu-smoke`).

Each check prints PASS / FAIL / NOT RUN (with why) and a figure; the report also goes to
``--out`` as JSON. Exit status 1 if any check FAILS. The checks:

- ``labels``   bf16 encoder + fp32 nearest centre at real size: a HuBERT-Large-shaped encoder
               (random weights, 1,024 dims, layer 22) and 5,000 centres drawn from its own features;
               the Labeler's units against the float64 nearest centre of the features it computed
               (>= 99.9%), and bf16 against fp32 units (reported: the features differ).
- ``memory``   the resource plan's peak-memory estimate (spire.resources) against the measured
               ``torch.cuda.max_memory_allocated`` of training steps of a Llama of TowerBase's width
               (4,096 hidden, 11,008 MLP, 37k vocabulary) with fewer layers, at seq 4,096, bf16,
               gradient checkpointing; also tokens/s and MFU of those steps.
- ``train``    the project's trainer (tasks/launch_train.py → train_lm.py) on the stand-in TowerBase:
               a few packed steps with a checkpoint, then a rerun that resumes from it (under ZeRO-3
               when DeepSpeed is installed).
- ``flash``    packed rows under flash_attention_2 give the logits of each document alone (when
               flash-attn is installed).
- ``vllm``     one greedy decode through spire.decoding's vLLM path (when vLLM is installed).
- ``comet``    one COMET score with a stand-in COMET model built here (when unbabel-comet is installed).

    python bench/gpu_smoke.py --out gpu_smoke.json            # on the GPU machine
    python bench/gpu_smoke.py --device cpu --small            # the CPU parts, at toy sizes (tests)

On a CPU (``--small``) the same code runs at toy widths so that the tests keep it working; the
figures that matter come from a GPU run (docs/resources.md).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

# H100 SXM dense bf16 peak (NVIDIA's datasheet, without sparsity); an H200 has the same compute.
PEAK_FLOPS = {"cuda": 989e12}


def _result(status: str, **figures) -> dict:
    return {"status": status, **figures}


def not_run(why: str) -> dict:
    return _result("NOT RUN", why=why)


# --------------------------------------------------------------------------------------- labels
def check_labels(device: str, small: bool, work: Path) -> dict:
    import numpy as np
    from sklearn.cluster import KMeans

    from spire.dsus import Labeler
    from spire.encoders import load_encoder
    from spire.kmeans import save_kmeans
    from spire.mini.encoders import make_tiny_hubert

    if small:
        shape = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
        layer, k, seconds = 2, 200, 4
    else:  # HuBERT-Large: 24 layers of 1,024, features of layer 22
        shape = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
        layer, k, seconds = 22, 5000, 120
    enc_dir = make_tiny_hubert(work / "hubert", seed=0, **shape)
    rng = np.random.default_rng(0)
    # speech-like input without a dataset: noise shaped by a slow random envelope, 10 s clips
    clips = [(rng.standard_normal(160000) * np.repeat(rng.random(100), 1600)).astype(np.float32)
             for _ in range(max(1, seconds // 10))]
    feats = torch.cat(load_encoder(enc_dir, layer=layer, device=device, dtype="fp32").features(clips)).float().cpu()
    # centres from the data: a sample of frames plus a little noise (as k-means centres lie)
    pick = rng.choice(len(feats), size=k, replace=len(feats) < k)
    centres = feats[pick].numpy() + 0.05 * feats.std().item() * rng.standard_normal((k, feats.shape[1]))
    km = KMeans(n_clusters=k)
    km.cluster_centers_ = centres.astype(np.float32)
    save_kmeans(km, work / "km.joblib")
    lab16 = Labeler(enc_dir, work / "km.joblib", layer=layer, dtype="bf16", device=device)
    lab32 = Labeler(enc_dir, work / "km.joblib", layer=layer, dtype="fp32", device=device)
    t = time.perf_counter()
    f16 = lab16.features(clips)
    sync(device)
    feat_s = time.perf_counter() - t
    c = torch.as_tensor(km.cluster_centers_, dtype=torch.float64)
    exact = torch.cat([((c ** 2).sum(1) - 2 * f.double().cpu() @ c.T).argmin(1) for f in f16])
    got = torch.cat([lab16.assign(f).cpu() for f in f16])
    u32 = torch.cat([lab32.assign(f).cpu() for f in lab32.features(clips)])
    nearest = float((got == exact).float().mean())
    return _result("PASS" if nearest >= 0.999 else "FAIL", frames=int(len(got)), clusters=k,
                   centre_sq_norm=round(float((c ** 2).sum(1).mean()), 1),
                   bf16_nearest_centre=round(nearest, 5),
                   bf16_vs_fp32_units=round(float((got == u32).float().mean()), 4),
                   bf16_audio_s_per_s=round(seconds / max(feat_s, 1e-9), 1))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------- memory
def check_memory(device: str, small: bool) -> dict:
    """Training steps as DeepSpeed runs them in one process (bf16 weights, fp32 master weights and
    Adam moments, two accumulated micro-batches of packed rows), measured with
    torch.cuda.max_memory_allocated, against spire.resources' estimate for the same setup (less
    its fixed allowance for the CUDA context, which the allocator does not see)."""
    from spire import resources

    if not device.startswith("cuda"):
        return not_run("peak memory is measured with torch.cuda.max_memory_allocated (a GPU)")
    layers, micro, seq = (2, 1, 256) if small else (4, 4, 4096)
    shape = resources.ModelShape(4096, layers, 32, 32, 11008, resources.extended_vocab(32000, 5000))
    torch.manual_seed(0)
    run = resources.one_process_training(shape, micro, seq, grad_ckpt=True, device=device)
    torch.cuda.reset_peak_memory_stats()
    steps, accum, t = 3, 2, 0.0
    for i in range(steps):
        sync(device)
        t0 = time.perf_counter()
        run.step(accum)
        sync(device)
        if i:  # the first step is a warm-up (kernels, allocator)
            t += time.perf_counter() - t0
    measured = torch.cuda.max_memory_allocated() / 2 ** 30
    est = resources.estimate_memory(shape, resources.one_process_setup(micro, seq, True))
    estimated = (est.total - est.overhead) / 2 ** 30
    tokens_s = micro * seq * accum * (steps - 1) / t
    mfu = resources.flops_per_token(shape, seq) * tokens_s / PEAK_FLOPS["cuda"]
    err = (estimated - measured) / measured
    # the estimator is meant to err on the safe side, by its CPU measurements 0-16% above
    return _result("PASS" if -0.05 <= err <= 0.25 else "FAIL", layers=layers, micro_batch=micro, seq_len=seq,
                   params_b=round(shape.params() / 1e9, 3), measured_peak_gib=round(measured, 2),
                   estimated_peak_gib=round(estimated, 2), relative_error=round(err, 3),
                   tokens_per_s=round(tokens_s), mfu=round(mfu, 3))


# ---------------------------------------------------------------------------------------- train
def check_train(device: str, small: bool, work: Path) -> dict:
    from spire.standins import build_towerbase

    base = build_towerbase(work / "towerbase", seed=0)
    data = work / "cpt.jsonl"
    with open(data, "w") as f:
        for i in range(400):
            f.write(json.dumps({"text": f"sentence {i} of the smoke test, with a few more words {i * 7}"}) + "\n")
    ds_cfg = None
    try:
        import deepspeed  # noqa: F401
        ds_cfg = REPO / "configs" / "deepspeed" / "zero3.json"
    except ImportError:
        pass
    gpus = ["--gpus-per-node", "1"] if device.startswith("cuda") else ["--cpu-procs", "1"]
    common = [sys.executable, str(REPO / "tasks" / "launch_train.py"), *gpus, "--",
              "--model", str(base), "--train-file", str(data), "--output-dir", str(work / "out"),
              "--checkpoint-dir", str(work / "ckpt"), "--seq-len", "128", "--micro-batch", "2",
              "--save-steps", "20", "--logging-steps", "1", "--lr", "1e-4",
              "--precision", "bf16" if device.startswith("cuda") else "fp32"]
    if ds_cfg:
        common += ["--deepspeed", str(ds_cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = common + ["--max-steps", "300"]
    # the first run is killed once it has a complete checkpoint, as a job's time limit would
    first_log = work / "first_run.log"  # a file, not a pipe: a full pipe would stall the run
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(first_log, "w"), env=env,
                             start_new_session=True)
    deadline = time.time() + 600
    while first.poll() is None and time.time() < deadline:
        if any((p / "trainer_state.json").is_file() for p in (work / "ckpt").glob("checkpoint-*")):
            break
        time.sleep(0.2)
    killed = first.poll() is None
    if killed:  # SIGTERM, as Slurm at a job's time limit: torchrun passes it on to its workers,
        os.killpg(first.pid, signal.SIGTERM)  # which run in sessions of their own
    first.wait()
    _wait_gone(str(work / "ckpt"))
    if not killed or not any((work / "ckpt").glob("checkpoint-*")):
        return _result("FAIL", step="first run: no checkpoint before it ended or was killed",
                       tail=first_log.read_text()[-6000:])
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if second.returncode:
        return _result("FAIL", step="resumed run", tail=second.stderr[-6000:])
    summary = json.loads((work / "out" / "train_summary.json").read_text())
    resumed = "resuming from" in second.stderr
    ok = resumed and summary.get("global_step") == 300
    return _result("PASS" if ok else "FAIL", zero3=bool(ds_cfg), resumed=resumed,
                   global_step=summary.get("global_step"),
                   tokens_per_s=summary.get("tokens_per_second_this_run"))


def _wait_gone(marker: str, timeout: float = 120.0) -> None:
    """Wait until no process has ``marker`` in its command line (the killed run's workers)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode:
            return
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------- flash
def check_flash(device: str) -> dict:
    """Packed rows through flash_attention_2 (spire.packing's flattened micro-batch with
    cu_seq_lens) against sdpa with the 4-D block mask: the same logits and loss. The micro-batch of
    packed rows sent to flash as it was before (documents attending to each other) is reported."""
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return not_run("flash-attn is not installed")
    if not device.startswith("cuda"):
        return not_run("flash attention needs a GPU")
    from transformers import AutoModelForCausalLM, LlamaConfig

    from spire.packing import Collator, pack_chunks

    cfg = LlamaConfig(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      use_cache=False, initializer_range=0.2)
    torch.manual_seed(0)
    state = AutoModelForCausalLM.from_config(cfg).state_dict()
    docs = [[1] + torch.randint(3, 1000, (n,)).tolist() for n in (50, 300, 17, 800, 5, 120, 999, 64, 211)]
    rows = pack_chunks(docs, 512)

    def run(impl, batch):
        m = AutoModelForCausalLM.from_config(cfg, attn_implementation=impl).to(device, torch.bfloat16).eval()
        m.load_state_dict(state)
        with torch.no_grad():
            return m(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})

    def per_row(logits):
        return torch.cat([logits[i, :len(r["input_ids"])] for i, r in enumerate(rows)]).float()

    padded, flat = Collator(0)(rows), Collator(0, flatten=True)(rows)
    n = int(padded["labels"].ne(-100).sum())
    ref = run("sdpa", {**padded, "num_items_in_batch": n})
    out = run("flash_attention_2", {**flat, "num_items_in_batch": n})
    leak = run("flash_attention_2", padded)
    d_flat = (out.logits[0].float() - per_row(ref.logits)).abs().mean().item()
    d_leak = (per_row(leak.logits) - per_row(ref.logits)).abs().mean().item()
    d_loss = abs(out.loss.item() - ref.loss.item()) / ref.loss.item()
    return _result("PASS" if d_loss < 1e-3 and d_flat < 0.2 else "FAIL", mean_abs_logit_diff=round(d_flat, 4),
                   relative_loss_diff=round(d_loss, 6), unflattened_mean_abs_logit_diff=round(d_leak, 4))


# ----------------------------------------------------------------------------------------- vllm
def check_vllm(work: Path) -> dict:
    from spire.decoding import vllm_available

    if not vllm_available():
        return not_run("vLLM is not installed (make gpu-env)")
    from spire.decoding import generate
    from spire.standins import build_towerbase

    base = work / "towerbase" if (work / "towerbase").exists() else build_towerbase(work / "towerbase")
    t = time.perf_counter()
    out = generate(base, ["English: a sentence of the smoke test\nGerman:"], max_new_tokens=8, backend="vllm")
    return _result("PASS" if len(out) == 1 else "FAIL", seconds=round(time.perf_counter() - t, 1), text=out[0][:80])


# ---------------------------------------------------------------------------------------- comet
def check_comet(device: str, work: Path) -> dict:
    try:
        import comet  # noqa: F401
    except ImportError:
        return not_run("unbabel-comet is not installed")
    from spire import standins
    from spire.metrics import comet_scores

    root = work / "mirror"  # COMET names its encoder by hub id: resolved through a mirror
    enc = standins.build_xlmr(standins.model_dir(root, standins.XLMR))
    model = standins.build_comet(standins.model_dir(root, standins.COMET), enc, standins.XLMR, qe=False)
    os.environ["SPIRE_MIRROR"] = str(root)
    t = time.perf_counter()
    out = comet_scores(["A sentence."] * 64, ["Ein Satz."] * 64, ["Ein Satz."] * 64, model=str(model),
                       gpus=1 if device.startswith("cuda") else 0)
    return _result("PASS" if len(out["comet_segments"]) == 64 else "FAIL", score=round(out["comet"], 4),
                   seconds=round(time.perf_counter() - t, 1))


CHECKS = ("labels", "memory", "train", "flash", "vllm", "comet")


def run(checks=CHECKS, device: str | None = None, small: bool = False, work: Path | None = None) -> dict:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    report: dict = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                    "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as tmp:
        work = Path(work or tmp)
        for name in checks:
            t = time.perf_counter()
            sub = work / name
            sub.mkdir(parents=True, exist_ok=True)
            try:
                res = {"labels": lambda: check_labels(device, small, sub),
                       "memory": lambda: check_memory(device, small),
                       "train": lambda: check_train(device, small, sub),
                       "flash": lambda: check_flash(device),
                       "vllm": lambda: check_vllm(sub),
                       "comet": lambda: check_comet(device, sub)}[name]()
            except ImportError as e:  # a package this machine lacks: say which, run the rest
                res = not_run(f"{type(e).__name__}: {e}")
            except Exception as e:  # noqa: BLE001 - one broken check must not hide the others
                res = _result("FAIL", error=f"{type(e).__name__}: {e}")
            res["seconds"] = round(time.perf_counter() - t, 1)
            report[name] = res
            figures = ", ".join(f"{k}={v}" for k, v in res.items() if k not in ("status", "tail"))
            print(f"{name:7s} {res['status']:8s} {figures}", flush=True)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", nargs="+", default=list(CHECKS), choices=CHECKS)
    ap.add_argument("--device", help="default: cuda when present")
    ap.add_argument("--small", action="store_true", help="toy sizes (the tests' CPU run)")
    ap.add_argument("--out", help="write the report as JSON here")
    a = ap.parse_args(argv)
    report = run(a.checks, a.device, a.small)
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))
    return 1 if any(isinstance(v, dict) and v.get("status") == "FAIL" for v in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
