"""A resource plan before anything is queued: peak GPU memory per GPU, GPU-hours and job time of
every training task of a ducttape plan (``spire resources configs/paper.tconf --plan train``).

The memory model follows what this project's trainer runs (spire/training.py): a
``LlamaForCausalLM`` loaded in bf16 under DeepSpeed ZeRO (fp32 master weights and AdamW moments
kept by DeepSpeed), sdpa attention on packed rows (a 4-D mask built from position ids), optional
non-reentrant gradient checkpointing of every decoder layer, and transformers 4.57's causal-LM loss.
Per GPU, in bytes (t = micro_batch x seq_len tokens, h hidden, i intermediate, V vocabulary, L
layers, P parameters, N data-parallel GPUs, a = 2 bytes for bf16 activations):

* model states: DeepSpeed's own estimators (``estimate_zero2/3_model_states_mem_needs``):
  ZeRO-1/2: 2P bf16 weights + 18P/N (bf16 grads, fp32 grads, fp32 master, two Adam moments);
  ZeRO-1 keeps the bf16 grads whole (4P + 16P/N); ZeRO-3: 18P/N + 4 x the largest layer
  (gathered bf16 weights and grads); offload moves the optimizer (and ZeRO-3 the weights) to CPU.
  Stage 0 = no DeepSpeed: the Trainer keeps fp32 weights, fp32 grads and AdamW (16P).
* DeepSpeed buffers: ZeRO-1/2 with ``overlap_comm`` use 4.5 x (allgather + reduce bucket) bf16
  elements (DeepSpeed's config documentation); ZeRO-3 the prefetch bucket and 4.5 reduce buckets.
* activations, counted tensor by tensor from transformers 4.57's Llama and checked with torch's
  MemTracker (bench/bench_memory_estimate.py): each RMSNorm saves its fp32 upcast (4th), its
  normalised bf16 input and its output ((4+2a)th); attention saves q, k, v and its output (4a th,
  k and v at the kv width, or repeated to q's width when kv heads < heads), plus the packed mask
  converted to an additive bf16 bias (a x micro x seq^2, saved per layer by sdpa); the MLP saves
  gate, silu(gate), up and their product (4a ti). With gradient checkpointing a layer keeps only its
  input (a th) and one layer at a time is recomputed during the backward pass.
* loss (transformers/loss/loss_utils.py ``ForCausalLMLoss``): ``logits.float()`` over the full
  vocabulary, then ``cross_entropy`` = log_softmax (its fp32 output saved for backward) + nll. The
  Trainer drops the bf16 logits before ``backward`` (``compute_loss`` returns the loss only), so
  the peak is at the start of backward with THREE fp32 copies of t x V alive: the saved
  log-probabilities, the gradient nll_loss hands to log_softmax, and log_softmax's gradient for
  the logits (12 t V bytes; MemTracker on CPU shows exactly these three). The forward pass holds
  at most 2+4+4 = 10 t V bytes (bf16 logits, their fp32 copy, the log-probabilities), less.
* runtime: a fixed 1.5 GiB for the CUDA context, cuBLAS workspaces and NCCL buffers (typical
  figures; not measured here), and a job "fits" when the estimate is at most
  (1 - headroom) x the GPU's memory (headroom 10% by default, for allocator fragmentation).

Time: tokens/s/GPU = MFU x peak bf16 FLOP/s / FLOPs per token, with FLOPs per token =
6 N + 12 L h seq (PaLM's appendix B: weights and attention, forward + backward; N without the
input embedding). MFU 40% of an H100's 989 dense bf16 TFLOP/s by default (``gpu_mfu``,
``gpu_tflops`` in the config); recomputation under gradient checkpointing is inside that MFU.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

GiB = 2 ** 30
RUNTIME_OVERHEAD = int(1.5 * GiB)   # CUDA context + cuBLAS workspace + NCCL buffers (typical)
DEFAULT_GPU_MEM_GB = 80.0           # H100 / A100 80 GB
DEFAULT_HEADROOM = 0.10             # allocator fragmentation: plan to use at most 90%
DEFAULT_MFU = 0.40
DEFAULT_TFLOPS = 989.0              # H100 SXM dense bf16 (NVIDIA's datasheet, without sparsity)
UNIT_SPECIALS = 5                   # spire.tokenizer_ext.SPECIALS (<CLS> <EOD> <MASK> <PAD> <SEP>)


# --- the model --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False

    @property
    def kv_width(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    def layer_params(self) -> int:
        h, kv = self.hidden, self.kv_width
        return 2 * h * h + 2 * h * kv + 3 * h * self.intermediate + 2 * h  # q,o k,v mlp norms

    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    def params(self) -> int:
        heads = 1 if self.tied_embeddings else 2
        return self.layers * self.layer_params() + heads * self.embedding_params() + self.hidden

    def largest_layer_params(self) -> int:
        """What ZeRO-3 gathers at once: a decoder layer or the embedding matrix."""
        return max(self.layer_params(), self.embedding_params())

    def with_vocab(self, vocab: int) -> "ModelShape":
        return replace(self, vocab=vocab)


# Shapes of hub models the paper path uses, for a plan made before the mirror is filled. Source:
# each model's config.json on the Hugging Face hub (TowerBase/TowerInstruct-7B-v0.1 are
# Llama-2-7B: hidden_size 4096, num_hidden_layers 32, num_attention_heads 32,
# num_key_value_heads 32, intermediate_size 11008, vocab_size 32000, untied embeddings).
KNOWN_MODELS = {
    "Unbabel/TowerBase-7B-v0.1": ModelShape(4096, 32, 32, 32, 11008, 32000),
    "Unbabel/TowerInstruct-7B-v0.1": ModelShape(4096, 32, 32, 32, 11008, 32003),
    "meta-llama/Llama-2-7b-hf": ModelShape(4096, 32, 32, 32, 11008, 32000),
}


def shape_from_config(cfg: dict) -> ModelShape:
    """A ModelShape from a transformers config.json dict (Llama-style names)."""
    try:
        return ModelShape(hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"],
                          heads=cfg["num_attention_heads"],
                          kv_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
                          intermediate=cfg["intermediate_size"], vocab=cfg["vocab_size"],
                          tied_embeddings=bool(cfg.get("tie_word_embeddings", False)))
    except KeyError as e:
        raise ValueError(f"model config has no {e.args[0]!r}: not a Llama-style decoder") from None


def load_shape(model: str, mirror: str | None = None) -> tuple[ModelShape, str]:
    """(shape, where it came from): ``model``'s config.json if it is a directory, else the
    mirror's copy (MIRROR/models/<hub id>/), else the built-in table."""
    for d in [Path(model)] + ([Path(mirror) / "models" / model] if mirror else []):
        if (d / "config.json").is_file():
            return shape_from_config(json.loads((d / "config.json").read_text())), str(d / "config.json")
    if model in KNOWN_MODELS:
        return KNOWN_MODELS[model], f"built-in shape of {model}"
    raise ValueError(f"{model}: no config.json there (nor in the mirror), and not a known hub id "
                     f"({', '.join(KNOWN_MODELS)}); give a model directory")


def extended_vocab(base_vocab: int, units: int) -> int:
    """Embedding rows after tasks/extend_model.py: base + 5 specials + units, padded to 64 (the
    2 ChatML tokens of the instruct tokenizer fall into the padding; spire.model_ext)."""
    from spire.model_ext import padded_vocab_size
    return padded_vocab_size(base_vocab + UNIT_SPECIALS + units)


# --- DeepSpeed ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZeroConfig:
    stage: int = 0                 # 0 = no DeepSpeed (plain Trainer)
    offload_optimizer: bool = False
    offload_param: bool = False
    overlap_comm: bool = False
    allgather_bucket: float = 5e8  # elements (DeepSpeed's default)
    reduce_bucket: float | None = None  # None = "auto": hidden^2 (transformers' deepspeed.py)
    prefetch_bucket: float | None = None  # None = "auto": 0.9 hidden^2

    @property
    def label(self) -> str:
        if self.stage == 0:
            return "none"
        off = "+offload" if (self.offload_optimizer or self.offload_param) else ""
        return f"ZeRO-{self.stage}{off}"


def read_zero_config(path: str | os.PathLike | None) -> ZeroConfig:
    if not path:
        return ZeroConfig()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such DeepSpeed config")
    z = json.loads(p.read_text()).get("zero_optimization", {})

    def num(key, default=None):
        v = z.get(key, default)
        return None if v == "auto" else (float(v) if v is not None else None)

    return ZeroConfig(stage=int(z.get("stage", 0)),
                      offload_optimizer=z.get("offload_optimizer", {}).get("device", "none") != "none",
                      offload_param=z.get("offload_param", {}).get("device", "none") != "none",
                      overlap_comm=bool(z.get("overlap_comm", False)),
                      allgather_bucket=num("allgather_bucket_size", 5e8),
                      reduce_bucket=num("reduce_bucket_size"),
                      prefetch_bucket=num("stage3_prefetch_bucket_size"))


# --- the memory estimate ------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSetup:
    micro_batch: int
    seq_len: int
    gpus: int = 1                     # data-parallel world: gpus per node x nodes
    grad_ckpt: bool = True
    zero: ZeroConfig = field(default_factory=ZeroConfig)
    act_bytes: int = 2                # bf16 activations (4 for fp32)
    packed_mask: bool = True          # packed rows: a 4-D mask from position ids (sdpa)


@dataclass(frozen=True)
class MemoryEstimate:
    model_states: int
    buffers: int
    activations: int   # at the peak: saved activations and the transient working set there
    loss: int          # the fp32 logits copies alive at the peak (0 if the peak is elsewhere)
    overhead: int

    @property
    def total(self) -> int:
        return self.model_states + self.buffers + self.activations + self.loss + self.overhead

    def gib(self) -> dict:
        return {k: round(getattr(self, k) / GiB, 2)
                for k in ("model_states", "buffers", "activations", "loss", "overhead", "total")}


def model_state_bytes(shape: ModelShape, zero: ZeroConfig, gpus: int) -> int:
    """Weights, gradients and optimizer states per GPU, as DeepSpeed's estimators count them."""
    P = shape.params()
    if zero.stage == 0:
        return 16 * P  # fp32 weights + fp32 grads + AdamW exp_avg, exp_avg_sq
    if zero.stage in (1, 2):
        if zero.offload_optimizer:
            return 2 * P
        grads16 = 2 * P if zero.stage == 1 else 2 * P // gpus
        return 2 * P + grads16 + int(16 * P / gpus)
    largest = 4 * shape.largest_layer_params()
    if zero.offload_optimizer and zero.offload_param:
        return largest
    if zero.offload_optimizer:
        return largest + int(2 * P / gpus)
    return largest + int(18 * P / gpus)


def buffer_bytes(shape: ModelShape, zero: ZeroConfig) -> int:
    h2 = shape.hidden * shape.hidden
    reduce = zero.reduce_bucket if zero.reduce_bucket is not None else h2
    factor = 4.5 if zero.overlap_comm else 1.0
    if zero.stage in (1, 2):
        return int(2 * factor * (zero.allgather_bucket + reduce))
    if zero.stage == 3:
        prefetch = zero.prefetch_bucket if zero.prefetch_bucket is not None else 0.9 * h2
        return int(2 * (prefetch + factor * reduce))
    return 0


def layer_activation_bytes(shape: ModelShape, setup: TrainSetup) -> int:
    """What one decoder layer saves for its backward pass (see the module docstring)."""
    t, a = setup.micro_batch * setup.seq_len, setup.act_bytes
    h, i = shape.hidden, shape.intermediate
    kv = h if shape.kv_heads < shape.heads else shape.kv_width  # repeat_kv copies to q's width
    norms = 2 * (4 + 2 * a) * t * h
    attn = a * t * (2 * h + 2 * kv)
    mask = a * setup.micro_batch * setup.seq_len ** 2 if setup.packed_mask else 0
    return norms + attn + mask + 4 * a * t * i


def activation_peak(shape: ModelShape, setup: TrainSetup) -> tuple[int, int]:
    """(activations, loss) bytes at the activation peak: the start of backward (every saved
    tensor and three fp32 copies of the logits) or, if larger, the backward of the last layer
    (its recomputed activations and the gradients' working set)."""
    t, a = setup.micro_batch * setup.seq_len, setup.act_bytes
    h, i = shape.hidden, shape.intermediate
    layer = layer_activation_bytes(shape, setup)
    kept = shape.layers * (a * t * h if setup.grad_ckpt else layer)
    fixed = (4 + 2 * a) * t * h + (setup.micro_batch * setup.seq_len ** 2 if setup.packed_mask else 0)
    loss = 3 * 4 * t * shape.vocab
    bwd_temp = 3 * a * t * i + 2 * a * t * h   # grads of the MLP's intermediates and the stream
    at_layer = kept + (layer if setup.grad_ckpt else 0) + bwd_temp
    if kept + fixed + loss >= at_layer:
        return kept + fixed, loss
    return at_layer, 0


def estimate_memory(shape: ModelShape, setup: TrainSetup, overhead: int = RUNTIME_OVERHEAD) -> MemoryEstimate:
    acts, loss = activation_peak(shape, setup)
    return MemoryEstimate(model_state_bytes(shape, setup.zero, setup.gpus),
                          buffer_bytes(shape, setup.zero), acts, loss, overhead)


def fitting_micro_batch(shape: ModelShape, setup: TrainSetup, grad_accum: int,
                        budget: int) -> tuple[int, int] | None:
    """The largest micro-batch below ``setup.micro_batch`` that fits ``budget`` bytes with an
    accumulation that keeps micro x accum (so the global batch) the same; None if none does."""
    per_gpu = setup.micro_batch * grad_accum
    for m in range(setup.micro_batch - 1, 0, -1):
        if per_gpu % m == 0 and estimate_memory(shape, replace(setup, micro_batch=m)).total <= budget:
            return m, per_gpu // m
    return None


# --- time ---------------------------------------------------------------------------------------

def flops_per_token(shape: ModelShape, seq_len: int) -> float:
    """Forward + backward model FLOPs per token: 6 N (N without the input embedding, whose
    lookup is no matmul) + 12 L h seq for attention scores and values (PaLM, appendix B)."""
    n = shape.params() - (0 if shape.tied_embeddings else shape.embedding_params())
    return 6 * n + 12 * shape.layers * shape.hidden * seq_len


def tokens_per_second_per_gpu(shape: ModelShape, seq_len: int, mfu: float = DEFAULT_MFU,
                              tflops: float = DEFAULT_TFLOPS) -> float:
    return mfu * tflops * 1e12 / flops_per_token(shape, seq_len)


# --- jobs of a plan -----------------------------------------------------------------------------

TRAIN_TASKS = ("TrainCPT", "TrainIT")
# Tokens per epoch when no packed corpus is there yet. CPT: the paper's budget (docs/paper.md §3:
# about 5B speech + 1B text tokens). IT: our estimate from Table 2's hours (docs/paper.md §4):
# ~7.8K h of speech at 34.4 units/s (4.3B units / 34.7K h of the CPT corpora) ≈ 1.0B units, plus
# transcripts, translations and TowerBlocks ≈ 0.2B.
DEFAULT_TOKENS = {"TrainCPT": (6.0e9, "paper budget"), "TrainIT": (1.2e9, "estimate")}


@dataclass
class TrainJob:
    task: str                 # e.g. TrainIT/Base.tower
    shape: ModelShape
    shape_source: str
    setup: TrainSetup
    grad_accum: int
    gpus_per_node: int
    nodes: int
    time_limit_h: float | None
    minutes_cap: float | None
    tokens: float             # per epoch
    tokens_source: str
    epochs: float
    deepspeed: str = ""

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def global_batch(self) -> int:
        return self.setup.micro_batch * self.grad_accum * self.gpus


@dataclass
class JobPlan:
    job: TrainJob
    memory: MemoryEstimate
    budget: int
    gpu_mem_gb: float
    tokens_per_s_gpu: float
    suggestion: tuple[int, int] | None

    @property
    def fits_memory(self) -> bool:
        return self.memory.total <= self.budget

    @property
    def gpu_hours(self) -> float:
        return self.job.tokens * self.job.epochs / self.tokens_per_s_gpu / 3600

    @property
    def wall_hours(self) -> float:
        return self.gpu_hours / self.job.gpus

    @property
    def fits_time(self) -> bool:
        return self.job.time_limit_h is None or self.wall_hours <= self.job.time_limit_h

    @property
    def fits(self) -> bool:
        return self.fits_memory and self.fits_time


def plan_job(job: TrainJob, gpu_mem_gb: float = DEFAULT_GPU_MEM_GB, headroom: float = DEFAULT_HEADROOM,
             mfu: float = DEFAULT_MFU, tflops: float = DEFAULT_TFLOPS) -> JobPlan:
    budget = int((1 - headroom) * gpu_mem_gb * GiB)
    mem = estimate_memory(job.shape, job.setup)
    suggestion = None if mem.total <= budget else fitting_micro_batch(job.shape, job.setup, job.grad_accum, budget)
    return JobPlan(job, mem, budget, gpu_mem_gb,
                   tokens_per_second_per_gpu(job.shape, job.setup.seq_len, mfu, tflops), suggestion)


def _as_bool(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _stub_missing_imports(tconf: Path, root: Path, notes: list[str]) -> tuple[Path, Path]:
    """Copies of workflows/ and the config's folder in a temporary directory, with a stub for
    every file the config imports that is not there (e.g. uservars.tconf, git-ignored): its
    .TEMPLATE if one exists (paths that do not exist), else an empty global block."""
    from ducttape.syntax import Import, parse_file
    missing = [it.path.value for it in parse_file(str(tconf)) if isinstance(it, Import)
               and not (tconf.parent / it.path.value).is_file()]
    if not missing:
        return root / "workflows", tconf
    tmp = Path(tempfile.mkdtemp(prefix="spire-resources-"))
    shutil.copytree(root / "workflows", tmp / "workflows")
    conf_dir = tmp / tconf.parent.resolve().relative_to(root.resolve())
    conf_dir.mkdir(parents=True, exist_ok=True)
    for f in tconf.parent.glob("*.tconf*"):
        shutil.copy2(f, conf_dir / f.name)
    for name in missing:
        template = tconf.parent / (name + ".TEMPLATE")
        text = template.read_text() if template.is_file() else "global {\n}\n"
        (conf_dir / name).write_text(text)
        notes.append(f"{tconf.parent / name} is missing: read with "
                     f"{template.name if template.is_file() else 'an empty global block'} instead "
                     "(model from the built-in table, corpus tokens from the defaults)")
    return tmp / "workflows", conf_dir / tconf.name


def find_tape(tconf: Path, root: Path) -> Path:
    """The workflow that imports this config (paper.tape imports configs/paper.tconf), else
    workflows/main.tape."""
    for tape in sorted((root / "workflows").glob("*.tape")):
        if re.search(rf'^import\s+"[^"]*/{re.escape(tconf.name)}"', tape.read_text(), re.M):
            return tape
    return root / "workflows" / "main.tape"


def _producers(planned) -> dict:
    out = {}
    for r in planned:
        for name, _, _ in r.task.outputs:
            out[os.path.normpath(r.out_path(name))] = r
    return out


def _trace_model(path: str, producers: dict) -> tuple[str, str | None, int | None]:
    """(model path or hub id, mirror, units) by walking back from a training task's model input
    through TrainCPT / ExtendModel to FetchHubModel (its repo_id), noting ExtendTokenizer's
    cluster count on the way."""
    units = None
    for _ in range(10):
        r = producers.get(os.path.normpath(path))
        if r is None:
            return path, None, units
        v = r.values
        if "repo_id" in v:
            return v["repo_id"], v.get("mirror") or None, units
        if units is None and "tokenizer" in v and producers.get(os.path.normpath(v["tokenizer"])):
            tok = producers[os.path.normpath(v["tokenizer"])]
            if "clusters" in tok.values:
                units = int(tok.values["clusters"])
        path = v.get("base_model") or v.get("model")
        if path is None:
            break
    return path, None, units


def _tokens(data: str, task: str, overrides: dict) -> tuple[float, str]:
    if task in overrides:
        return overrides[task], "given"
    meta = Path(data) / "meta.json"
    if meta.is_file():
        return float(json.loads(meta.read_text())["stats"]["tokens"]), "packed meta"
    return DEFAULT_TOKENS.get(task, (0.0, "unknown"))


def training_jobs(tconf: str, plan: str | None = None, tape: str | None = None,
                  tokens: dict | None = None, notes: list | None = None) -> list[TrainJob]:
    """Every TrainCPT/TrainIT realization the plan reaches, with the values ducttape would give it."""
    from ducttape.workflow import Workflow
    notes = notes if notes is not None else []
    conf = Path(tconf)
    if not conf.is_file():
        raise FileNotFoundError(f"{tconf}: no such config")
    config_knobs(tconf)  # a bad knob is named (file:line) before the plan is traced
    root = conf.resolve().parent.parent
    if not (root / "workflows").is_dir():
        root = Path(__file__).resolve().parent.parent
    tape_path = Path(tape) if tape else find_tape(conf.resolve(), root)
    wf_dir, conf_copy = _stub_missing_imports(conf.resolve(), root, notes)
    wf = Workflow(str(wf_dir / tape_path.name), config=str(conf_copy))
    planned = wf.plan([plan] if plan else None)
    producers = _producers(planned)
    jobs = []
    for r in planned:
        if r.name not in TRAIN_TASKS:
            continue
        v = r.values
        model, mirror, units = _trace_model(v["model"], producers)
        if model is None:
            raise ValueError(f"{tconf}: the model of {r.name} traces back to no hub id or folder (a model "
                             f"variable unset?); is this a complete config for {tape_path.name}?")
        shape, source = load_shape(model, mirror)
        if units is not None and not Path(model, "config.json").is_file():
            vocab = extended_vocab(shape.vocab, units)
            shape, source = shape.with_vocab(vocab), f"{source} + {units} units ({vocab} rows)"
        seq_len = _seq_len(v["data"], producers)
        ds = v.get("deepspeed", "")
        zero = read_zero_config(root / ds if ds else None)
        setup = TrainSetup(micro_batch=int(v["micro_batch"]), seq_len=seq_len,
                           gpus=int(v["gpus_per_node"]) * int(v["nodes"]),
                           grad_ckpt=_as_bool(v.get("grad_ckpt", "false")), zero=zero,
                           act_bytes=4 if v.get("precision") == "fp32" else 2)
        n_tok, tok_src = _tokens(v["data"], r.name, tokens or {})
        jobs.append(TrainJob(task=f"{r.name}/{r.key}", shape=shape, shape_source=source, setup=setup,
                             grad_accum=int(v["grad_accum"]), gpus_per_node=int(v["gpus_per_node"]),
                             nodes=int(v["nodes"]),
                             time_limit_h=_job_hours(v.get("time"), f"{r.name}.time"),
                             minutes_cap=_minutes_cap(v.get("minutes"), v.get("time"), f"{r.name}.minutes"),
                             tokens=n_tok, tokens_source=tok_src, epochs=float(v["epochs"]), deepspeed=ds))
    return jobs


def _job_hours(time: str | None, name: str) -> float | None:
    """Hours of a job's Slurm time (spire.launch.parse_slurm_time), None when none is asked."""
    from spire.launch import parse_slurm_time

    if not time:
        return None
    minutes = parse_slurm_time(time, name)
    return None if math.isinf(minutes) else minutes / 60


def _minutes_cap(minutes: str | None, time: str | None, name: str) -> float | None:
    """The trainer's wall-clock cap: a number, or ``auto`` = the job's time less the launcher's
    save margin (spire.launch.trainer_clock does the same at launch)."""
    from spire.launch import auto_minutes, parse_slurm_time

    if not minutes:
        return None
    if str(minutes).strip() == "auto":
        job = parse_slurm_time(time, name.replace(".minutes", ".time")) if time else math.inf
        return None if math.isinf(job) else auto_minutes(job)
    try:
        return float(minutes)
    except ValueError:
        raise ValueError(f"{name}={minutes!r}: expected minutes or auto") from None


def config_knobs(tconf: str) -> dict:
    """The plan's own settings a config may set as plain globals (gpu_mem_gb, gpu_mem_headroom,
    gpu_mfu, gpu_tflops), from the config and the files it imports that exist."""
    from ducttape.syntax import ConfigBlock, Import, Literal, parse_file
    out: dict = {}
    for item in parse_file(str(tconf)):
        if isinstance(item, Import) and (Path(tconf).parent / item.path.value).is_file():
            out.update(config_knobs(str(Path(tconf).parent / item.path.value)))
        elif isinstance(item, ConfigBlock):
            for s in item.specs:
                if s.name in KNOBS and isinstance(s.value, Literal):
                    out[s.name] = _knob_value(tconf, s)
    return out


def _knob_value(tconf: str, spec) -> float:
    """A knob's number, checked here: ``gpu_mem_gb=eighty`` is an error naming the file and line."""
    try:
        value = float(spec.value.value)
    except (TypeError, ValueError):
        value = math.nan
    low, high, what = KNOB_RANGES[spec.name]
    if not (math.isfinite(value) and low(value) and high(value)):
        where = spec.pos if spec.pos is not None else tconf
        raise ValueError(f"{where}: {spec.name}={spec.value.value!r} must be {what}; fix it in the config")
    return value


KNOBS = ("gpu_mem_gb", "gpu_mem_headroom", "gpu_mfu", "gpu_tflops")
KNOB_RANGES = {"gpu_mem_gb": (lambda v: v > 0, lambda v: True, "a number of GiB > 0"),
               "gpu_tflops": (lambda v: v > 0, lambda v: True, "a number of TFLOP/s > 0"),
               "gpu_mfu": (lambda v: v > 0, lambda v: v <= 1, "a fraction in (0, 1]"),
               "gpu_mem_headroom": (lambda v: v >= 0, lambda v: v < 1, "a fraction in [0, 1)")}


def _seq_len(data: str, producers: dict) -> int:
    """The packing task's --seq-len (the rows the trainer gets), or the packed meta's."""
    meta = Path(data) / "meta.json"
    if meta.is_file():
        return int(json.loads(meta.read_text())["seq_len"])
    r = producers.get(os.path.normpath(data))
    if r is None or "seq_len" not in r.values:
        raise ValueError(f"{data}: no packing task with a seq_len in the plan, and no meta.json")
    return int(r.values["seq_len"])


# --- the table ----------------------------------------------------------------------------------

def _hours(h: float) -> str:
    return f"{h / 24:.1f} d" if h >= 48 else f"{h:.1f} h"


def format_plan(plans: list[JobPlan]) -> str:
    head = ("task", "GPUs", "ZeRO", "micro x accum", "est. peak GiB", "fits", "GPU-hours",
            "est. time / limit", "tokens")
    rows = []
    for p in plans:
        j = p.job
        limit = _hours(j.time_limit_h) if j.time_limit_h is not None else "none"
        rows.append((j.task, f"{j.gpus_per_node}x{j.nodes}", j.setup.zero.label,
                     f"{j.setup.micro_batch} x {j.grad_accum}",
                     f"{p.memory.total / GiB:.1f} / {p.budget / GiB:.0f} of {p.gpu_mem_gb:g}",
                     "yes" if p.fits_memory else "NO", f"{p.gpu_hours:,.0f}",
                     f"{_hours(p.wall_hours)} / {limit}" + ("" if p.fits_time else " NO"),
                     f"{j.tokens * j.epochs / 1e9:.2f}B ({j.tokens_source})"))
    widths = [max(len(str(r[k])) for r in [head] + rows) for k in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for p in plans:
        j, m = p.job, p.memory.gib()
        lines.append(f"{j.task}: {j.shape_source}; {j.shape.params() / 1e9:.2f}B params; seq "
                     f"{j.setup.seq_len}; grad ckpt {'on' if j.setup.grad_ckpt else 'off'}; GiB: states "
                     f"{m['model_states']}, DeepSpeed buffers {m['buffers']}, activations "
                     f"{m['activations']}, fp32 logits {m['loss']}, runtime {m['overhead']}; "
                     f"{p.tokens_per_s_gpu:,.0f} tokens/s/GPU assumed")
        if not p.fits_memory:
            if p.suggestion:
                mb, acc = p.suggestion
                est = estimate_memory(j.shape, replace(j.setup, micro_batch=mb)).total / GiB
                lines.append(f"  WILL NOT FIT: reduce micro-batch to {mb} with grad_accum {acc} (same "
                             f"global batch {j.global_batch}; est. {est:.1f} GiB)")
            else:
                lines.append("  WILL NOT FIT even at micro-batch 1: more GPUs, a higher ZeRO stage, "
                             "offload or gradient checkpointing")
        if not p.fits_time:
            n = math.ceil(p.wall_hours / j.time_limit_h)
            lines.append(f"  OVER THE TIME LIMIT: {n} jobs of the limit with resumes, or more GPUs")
        if j.minutes_cap is not None and j.minutes_cap / 60 < p.wall_hours:
            lines.append(f"  note: the trainer's cap ({j.minutes_cap:g} min) stops it before the "
                         "estimated end; the next job resumes")
    return "\n".join(lines)


# --- measurement (the estimator's check) --------------------------------------------------------

@dataclass
class OneProcessTraining:
    """What DeepSpeed keeps in one process (ZeRO-1/2 on one GPU): a bf16 LlamaForCausalLM, fp32
    master weights and AdamW moments, and a micro-batch of packed rows (two documents a row)."""
    model: object
    params: list
    master: list
    opt: object
    ids: object
    pos: object

    def step(self, grad_accum: int, before_micro=None) -> None:
        """One optimizer step over ``grad_accum`` micro-batches (fp32 gradients at the step);
        without master weights (``optimizer=False``), forward + backward only."""
        import torch

        for _ in range(grad_accum):
            if before_micro is not None:
                before_micro()
            loss = self.model(input_ids=self.ids, labels=self.ids, position_ids=self.pos).loss
            loss.backward()
            del loss
        if self.master:
            for m, p in zip(self.master, self.params):
                m.grad = p.grad.float()
            self.opt.step()
        with torch.no_grad():
            for m, p in zip(self.master, self.params):
                p.copy_(m)
                m.grad = None
            for p in self.params:
                p.grad = None


def one_process_training(shape: ModelShape, micro_batch: int, seq_len: int, grad_ckpt: bool,
                         optimizer: bool = True, device: str = "cpu", seeded: bool = True) -> OneProcessTraining:
    """Build :class:`OneProcessTraining` on ``device`` (under FakeTensorMode too: ``seeded=False``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                      num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads,
                      intermediate_size=shape.intermediate, vocab_size=shape.vocab,
                      tie_word_embeddings=shape.tied_embeddings, use_cache=False,
                      attn_implementation="sdpa")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16, as DeepSpeed loads it
    try:
        model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    if device != "cpu":  # (Module.to would try to swap fake parameters under FakeTensorMode)
        model.to(device)
    model.train()
    if grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in model.parameters()]
    g = torch.Generator().manual_seed(0) if seeded else None
    ids = torch.randint(0, shape.vocab, (micro_batch, seq_len), generator=g).to(device)
    # two documents per row: position ids restart, as in packed rows (a 4-D mask, spire.packing)
    half = seq_len // 2
    pos = torch.cat([torch.arange(half), torch.arange(seq_len - half)]).repeat(micro_batch, 1).to(device)
    # DeepSpeed allocates its fp32 master weights and Adam moments before the first step
    master = [p.detach().float().requires_grad_(True) for p in params] if optimizer else []
    opt = torch.optim.AdamW(master or [torch.zeros(1, requires_grad=True, device=device)], lr=1e-5)
    for m in master:
        opt.state[m] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(m),
                        "exp_avg_sq": torch.zeros_like(m)}
    return OneProcessTraining(model, params, master, opt, ids, pos)


def measure_peak(shape: ModelShape, micro_batch: int, seq_len: int, grad_ckpt: bool,
                 fake: bool = False, steps: int = 1, grad_accum: int = 2,
                 optimizer: bool = True) -> dict:
    """Peak bytes of :class:`OneProcessTraining` steps, tracked tensor by tensor with torch's
    MemTracker (CPU has no max_memory_allocated). ``fake``: FakeTensorMode, no real storage or
    compute, for shapes a CPU cannot hold. ``optimizer=False``: forward + backward only (bf16
    weights and gradients, no master weights, moments or step), to see the activation peak where
    the states would hide it. Returns MemTracker's peak snapshot by category, in bytes, with "Total"."""
    import contextlib

    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with FakeTensorMode() if fake else contextlib.nullcontext():
        run = one_process_training(shape, micro_batch, seq_len, grad_ckpt, optimizer, seeded=not fake)
        mt = MemTracker()
        mt.track_external(run.model, run.opt, run.ids, run.pos, *run.master)
        with mt:
            for _ in range(steps):
                # per-module stats only are reset before each micro-batch; the peak is kept
                run.step(grad_accum, before_micro=mt.reset_mod_stats)
        snap = mt.get_tracker_snapshot("peak")
    dev = next(iter(snap))
    return {(k if isinstance(k, str) else k.value): v for k, v in snap[dev].items()}


def one_process_setup(micro_batch: int, seq_len: int, grad_ckpt: bool) -> TrainSetup:
    """What :func:`measure_peak` runs, as a TrainSetup: ZeRO-2 states on one GPU, no buckets."""
    zero = ZeroConfig(stage=2, allgather_bucket=0, reduce_bucket=0)
    return TrainSetup(micro_batch=micro_batch, seq_len=seq_len, gpus=1, grad_ckpt=grad_ckpt, zero=zero)
