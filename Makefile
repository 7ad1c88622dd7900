# Two commands matter: `make demo` (the miniature Spire, end to end, CPU only, no downloads)
# and `make test` (the test suite). Both set up what they need first; setup is idempotent.
SHELL := /bin/bash
PY    := .venv/bin/python
PIP   := PIP_CONSTRAINT=$(CURDIR)/constraints.txt .venv/bin/pip
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := .venv/.stamps
# One BLAS thread per process: on a 2-core machine two single-threaded jobs beat one two-threaded
# job by far (docs/miniature.md, "The settings, and why"); ducttape runs two tasks at once instead.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export PATH := $(CURDIR)/.venv/bin:$(PATH)
JOBS ?= 2

.PHONY: gpu-env gpu-env-check setup venv sysdeps browser-deps test-setup test test-e2e test-fast demo mini-world demo-run demo-train demo-eval results seeds loss-curves model-cards bench bench-scaling bench-units clean-demo help rehearsal gpu-smoke tensorboard

help:
	@echo "make demo   - set up, then run the miniature Spire workflow (-p train, -p eval) and print the results table"
	@echo "make test   - set up, then run the test suite"
	@echo "make mini-world - retrain the miniature's base LM and phonetic encoder (about 10 min) and ship them to world/"
	@echo "make seeds  - the ablation table for three seeds: mean ± sd per cell and the paper's claims"
	@echo "make tensorboard - TensorBoard over the demo's training runs (loss, learning rate, validation loss), live or finished"
	@echo "make bench  - run the benchmarks under bench/"
	@echo "make bench-scaling - retrain the demo's base LM and CPT at 1, 2, 4x their steps (after make demo)"
	@echo "make bench-units - the word probe of MFCC against phonetic units (after make demo)"
	@echo "make rehearsal - paper.tape (-p fetch_eval released data kmeans labelize train ablations eval) on stand-ins, through a local Slurm, and the tables"
	@echo "make gpu-smoke - on a GPU node: the checks only a GPU shows (bench/gpu_smoke.py), report in gpu_smoke.json"
	@echo "make venv   - only the Python environment (.venv), no sudo: for a cluster (docs/install.md)"
	@echo "make gpu-env - the vLLM decoding environment (.venv-gpu; docs/install.md)"
	@echo "by hand, in any shell: source bin/activate (after make setup), then ducttape ... (see README.md)"

setup: venv sysdeps

venv: $(STAMP)/python
$(STAMP)/python: requirements.txt requirements-test.txt pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PIP) install --upgrade "pip<26" >/dev/null
	$(PIP) install -r requirements-test.txt
	$(PIP) install --no-deps -e .
	@mkdir -p $(STAMP) && touch $@

# The GPU decoding environment, .venv-gpu: vLLM with the transformers 5 stack it needs, which
# cannot share .venv (COMET there holds transformers<5, protobuf<5). Decode tasks use it through
# SPIRE_DECODE_PYTHON (tasks/decode.py); everything else stays in .venv. No constraints.txt here:
# it pins the CPU stack. `make gpu-env-check` only resolves the set (pip --dry-run --report).
GPU_PY ?= python3
gpu-env: .venv-gpu/.stamp
.venv-gpu/.stamp: requirements-gpu.txt requirements-gpu.lock.txt
	@test -x .venv-gpu/bin/python || $(GPU_PY) -m venv .venv-gpu
	.venv-gpu/bin/pip install --upgrade "pip<26" >/dev/null
	.venv-gpu/bin/pip install -r requirements-gpu.txt -c requirements-gpu.lock.txt
	@touch $@
	@echo "decode with it: export SPIRE_DECODE_PYTHON=$(CURDIR)/.venv-gpu/bin/python"
gpu-env-check:
	$(GPU_PY) -m pip install --dry-run --ignore-installed --quiet --report .venv-gpu-report.json -r requirements-gpu.txt
	@$(GPU_PY) -c "import json; r = json.load(open('.venv-gpu-report.json'))['install']; print(len(r), 'packages resolve:', ', '.join(sorted(p['metadata']['name'] + '==' + p['metadata']['version'] for p in r)))"

# espeak-ng synthesises the miniature's speech; sox is the standard audio Swiss-army knife.
sysdeps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng sox >/dev/null; }

# Test-only: fairseq checks the HuBERT checkpoint converter. It compiles for a few minutes once.
$(STAMP)/fairseq: requirements-fairseq.txt | $(STAMP)/python
	$(PIP) install -r requirements-fairseq.txt
	$(PIP) install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
	@touch $@

# Test-only: a real single-node Slurm on localhost for the ducttape slurm submitter test.
slurm-deps:
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends \
	      slurmctld slurmd slurm-client munge >/dev/null; }

# Test-only: the HTML report's test opens it in a real headless browser.
browser-deps:
	@command -v chromium >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test-setup: setup $(STAMP)/fairseq slurm-deps browser-deps

# Everything, the end-to-end workflow test and the rehearsal's training half included: about 20
# minutes on an idle 2-core machine (dated runs: docs/history/measurements.md).
test: test-setup
	$(PY) -m pytest -q

# The end-to-end smoke run of the real tapes alone (kill and resume, train, ablations, eval, every plan).
test-e2e: setup
	$(PY) -m pytest -q -m slow

# The quick inner loop: everything but the end-to-end workflow.
test-fast: test-setup
	$(PY) -m pytest -q -m "not slow"

# One ducttape call for both plans, so that the scheduler sees every task at once: TowerFull's
# instruction tuning and the base models' decoding run beside TrainCPT instead of after it
# (docs/miniature.md); demo-train and demo-eval are the same plans one at a time.
demo: setup demo-run results

demo-run:
	cd workflows && ducttape main.tape -p train -p eval -y -j $(JOBS)

demo-train:
	cd workflows && ducttape main.tape -p train -y -j $(JOBS)

demo-eval:
	cd workflows && ducttape main.tape -p eval -y -j $(JOBS)

# The miniature's base LM and phonetic encoder ship in world/ (the demo installs them:
# ShippedMiniBase, ShippedMiniEncoder); after a change to the world's sentences or their settings
# this retrains them and ships them again (commit world/).
mini-world: setup
	cd workflows && ducttape main.tape -p mini_world -y -j $(JOBS)
	$(PY) tasks/shipped_model.py ship --model workflows/out/TrainMiniBase/Baseline.baseline/model --to world/base_lm
	$(PY) tasks/shipped_model.py ship --model workflows/out/MakeMiniEncoder/Baseline.baseline/encoder --to world/phonetic_encoder
	@echo "Models in workflows/out made from the old ones stay until you invalidate them:"
	@echo "  cd workflows && ducttape main.tape invalidate ShippedMiniBase '*' && ducttape main.tape invalidate ShippedMiniEncoder '*'"

# The results table: every Score realization of the eval plan, one row per model variant.
results:
	$(PY) tasks/collect_results.py --glob 'workflows/out/Score/*/scores.json' \
	  --names configs/eval/variants.yaml --out-dir workflows/out/results \
	  --curves 'workflows/out/TrainCPT/*/model/loss.png' --curves 'workflows/out/TrainIT/*/model/loss.png' > /dev/null
	@echo; cat workflows/out/results/results.md
	@echo; echo "Table: workflows/out/results/results.{md,csv}   Chart: workflows/out/results/results.png"
	@echo "With 95% intervals: workflows/out/results/intervals.md   Claims, paired: workflows/out/results/claims_paired.md"
	@echo "Report (tables, curves, every test item side by side): workflows/out/results/report.html"
	@$(MAKE) -s model-cards loss-curves

# Every final model's card (README.md in its directory) refreshed with its row of the results
# table (docs/publishing.md); `spire push MODEL_DIR --repo-id USER/NAME` publishes one.
model-cards:
	@set -o pipefail; models=$$(for f in workflows/out/TrainCPT/*/model/train_summary.json \
	  workflows/out/TrainIT/*/model/train_summary.json; do [ -e "$$f" ] && dirname "$$f"; done); \
	if [ -n "$$models" ]; then \
	  $(PY) tasks/write_model_card.py $$models --results workflows/out/results/results.csv \
	    --names configs/eval/variants.yaml 2>&1 | sed 's/^.*wrote model card: /  /' | sed '1i Model cards:'; \
	fi

# The ablation table for three seeds (the seeds plan; seed 42 is the demo's own run): mean ± sd per
# cell and, for each of the paper's claims, whether it holds beyond two standard deviations.
seeds: setup
	cd workflows && ducttape main.tape -p seeds -y -j $(JOBS)
	$(PY) tasks/collect_results.py --glob 'workflows/out/Score/*/scores.json' \
	  --names configs/eval/variants.yaml --seeds --out-dir workflows/out/results_seeds > /dev/null
	@echo; cat workflows/out/results_seeds/seeds.md
	@echo; echo "Over seeds: workflows/out/results_seeds/{seeds.md,seeds.csv,claims.json}"

# The loss curves that exist, one per trained model (ducttape's full-name symlinks skipped).
loss-curves:
	@echo "Loss curves:"; \
	for f in workflows/out/TrainCPT/*/model/loss.png workflows/out/TrainIT/*/model/loss.png; do \
	  [ -e "$$f" ] && [ ! -L "$${f%/model/loss.png}" ] && echo "  $$f"; \
	done; true

# TensorBoard over the demo's training runs, live or finished (each realization of TrainMiniBase,
# TrainCPT and TrainIT by name: spire/tracking.py): loss, learning rate, grad norm, tokens/s and the
# validation loss. Open the address it prints (http://localhost:6006).
TB_PORT ?= 6006
tensorboard:
	@spec=$$($(PY) -m spire.tracking workflows/out) && \
	  tensorboard --logdir_spec "$$spec" --port $(TB_PORT)

# The paper path rehearsed: workflows/paper.tape with configs/rehearsal.tconf on a stand-in mirror
# (tasks/make_standins.py), every task a job of a single-node Slurm started on localhost (needs root
# once, for munged/slurmd). Work directory runs/rehearsal/ (mirror, out, slurm). Also part of
# `make test` (tests/workflows/test_rehearsal.py, marked slow+slurm).
# What only a GPU shows (bench/gpu_smoke.py; docs/resources.md): bf16 labels at real size, the
# resource plan's memory estimate against a measured peak, ZeRO-3 save and resume, flash attention
# on packed rows, one vLLM decode, one COMET score; at most ~10 minutes on one H100/H200. Run it on
# a GPU node in the environment that has what each check needs (GPU_SMOKE_PY).
GPU_SMOKE_PY ?= $(PY)
gpu-smoke:
	$(GPU_SMOKE_PY) bench/gpu_smoke.py --out gpu_smoke.json

rehearsal: setup slurm-deps
	$(PY) tests/workflows/rehearsal.py --dir runs/rehearsal -j $(JOBS) --timeout 7200

bench: setup
	@for b in $(filter-out bench/bench_budget_scaling.py bench/bench_unit_probe.py bench/gpu_smoke.py,$(wildcard bench/*.py)); do \
	  echo "== $$b"; $(PY) $$b || exit 1; done

# What more training steps buy (about 80 core-minutes; needs a finished `make demo`).
bench-scaling: setup
	$(PY) bench/bench_budget_scaling.py --factors 1 2 4 --jobs 2

# What the units carry: a word probe on MFCC against phonetic units (a few minutes; after `make demo`).
bench-units: setup
	$(PY) bench/bench_unit_probe.py

clean-demo:
	rm -rf workflows/out
