//! The estimator engine: per-GPU memory, GPU count, compute and cost of an LLM job.
//!
//! **Architecture invariant:** this module is pure. It does no I/O, spawns nothing, reads no
//! clock or environment and logs nothing; every input arrives as an argument and every answer
//! is a return value. The CLI, the webhook and the tests all call [`estimate`] and
//! [`plan::search`] the same way, so a decision is the same whichever door a job came in by.

pub mod catalog;
pub mod compute;
pub mod explain;
pub mod gpu;
pub mod hf_config;
pub mod job;
pub mod memory;
pub mod model;
pub mod options;
pub mod plan;
pub mod presets;
pub mod serving;
pub mod units;

pub use catalog::GpuCatalog;
pub use compute::Compute;
pub use explain::Term;
pub use gpu::GpuSpec;
pub use job::{CommKnobs, FineTuning, Job, LoraModule, LoraTargets, Model, ModelSource};
pub use memory::PerGpu;
pub use model::{Architecture, Bias, MlpKind, NormKind};
pub use options::*;
pub use plan::{GpuCounts, Objective, Plan, PlanSearch, Report, report};

use serde::{Deserialize, Serialize};

/// Below this share of the GPU's memory the job fits; above [`WARN_HIGH`] it does not; in
/// between the estimate cannot honestly decide. The band is as wide as the estimator's largest
/// error on the calibration set (about 6% of the tensor peak) plus the caching allocator's
/// variable reserve.
pub const WARN_LOW: f64 = 0.92;
pub const WARN_HIGH: f64 = 1.08;

/// Whether the job fits one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    Fits,
    /// Within the estimate's uncertainty of the GPU's memory.
    Warn,
    DoesNotFit,
}

impl Fit {
    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Fits => "fits",
            Fit::Warn => "warn",
            Fit::DoesNotFit => "does-not-fit",
        }
    }
    /// Judges `total_bytes` against `capacity_bytes`.
    pub fn judge(total_bytes: u64, capacity_bytes: u64) -> Fit {
        let ratio = total_bytes as f64 / capacity_bytes.max(1) as f64;
        if ratio <= WARN_LOW {
            Fit::Fits
        } else if ratio <= WARN_HIGH {
            Fit::Warn
        } else {
            Fit::DoesNotFit
        }
    }
    /// [`Fit::judge`], except that `uncertain_bytes` (terms the engine cannot justify, part of
    /// `total_bytes`) never turn a decision into a denial by themselves: `DoesNotFit` only when
    /// the total without them already does not fit; `Warn` when only they push it over.
    pub fn judge_with_uncertain(total_bytes: u64, uncertain_bytes: u64, capacity_bytes: u64) -> Fit {
        match Fit::judge(total_bytes, capacity_bytes) {
            Fit::DoesNotFit
                if Fit::judge(total_bytes.saturating_sub(uncertain_bytes), capacity_bytes) != Fit::DoesNotFit =>
            {
                Fit::Warn
            }
            d => d,
        }
    }
}

/// One problem with a job's input, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
pub struct InvalidJob(pub Vec<Problem>);

/// Largest GPU count the engine reasons about (a 1M-GPU job is not a real job).
pub const MAX_GPUS: u32 = 1 << 20;
/// Longest sequence the engine accepts (10M tokens).
pub const MAX_SEQUENCE: u32 = 10_000_000;

/// Checks `job` on `gpu`; returns every problem at once.
pub fn validate(job: &Job, gpu: &GpuSpec) -> Result<(), InvalidJob> {
    let mut p = Vec::new();
    let mut add = |field: &str, message: String| p.push(Problem { field: field.to_string(), message });
    if let Err(errs) = job.model.arch.validate() {
        for e in errs {
            add("architecture", e);
        }
    }
    if job.micro_batch_size == 0 {
        add("micro-batch-size", "must be at least 1, got 0".into());
    }
    if job.sequence_length == 0 || job.sequence_length > MAX_SEQUENCE {
        add("sequence-length", format!("must be between 1 and {MAX_SEQUENCE}, got {}", job.sequence_length));
    }
    if job.gpus == 0 || job.gpus > MAX_GPUS {
        add("gpus", format!("must be between 1 and {MAX_GPUS}, got {}", job.gpus));
    }
    let tp = job.tensor_parallel;
    let pp = job.pipeline_parallel;
    if tp == 0 {
        add("tensor-parallel", "must be at least 1, got 0".into());
    }
    if pp == 0 {
        add("pipeline-parallel", "must be at least 1, got 0".into());
    }
    if tp > 0 && pp > 0 && job.gpus > 0 && !job.gpus.is_multiple_of((tp.saturating_mul(pp)).max(1)) {
        add(
            "gpus",
            format!(
                "{} GPUs cannot be split into tensor-parallel {tp} x pipeline-parallel {pp}; use a multiple of {}",
                job.gpus,
                tp.saturating_mul(pp)
            ),
        );
    }
    let a = &job.model.arch;
    if tp > 1
        && a.heads > 0
        && (!a.heads.is_multiple_of(tp) || !a.kv_heads.is_multiple_of(tp) && !tp.is_multiple_of(a.kv_heads.max(1)))
    {
        add(
            "tensor-parallel",
            format!("{tp} must divide the attention heads ({}) (Megatron-LM splits heads across GPUs)", a.heads),
        );
    }
    if pp > a.layers && a.layers > 0 {
        add("pipeline-parallel", format!("{pp} stages for {} layers: at most one stage per layer", a.layers));
    }
    if job.precision.needs_bf16() && !gpu.bf16_supported {
        add(
            "precision",
            format!("{} needs bf16, which {} does not support; use fp16-mixed or fp32", job.precision, gpu.name),
        );
    }
    if job.precision == Precision::Fp8Mixed && !gpu.fp8_supported {
        add(
            "precision",
            format!(
                "fp8-mixed needs fp8 tensor cores, which {} lacks (Ada, Hopper or Blackwell); use bf16-mixed",
                gpu.name
            ),
        );
    }
    if !(job.mfu > 0.0 && job.mfu <= 1.0) {
        add("mfu", format!("must be in (0, 1], got {}", job.mfu));
    }
    if let Some(t) = job.training_tokens
        && !(t.is_finite() && t > 0.0)
    {
        add("training-tokens", format!("must be a positive count, got {t}"));
    }
    if job.fine_tuning.kind != FineTuningKind::Full {
        if job.fine_tuning.lora_rank == 0 {
            add("lora-rank", "must be at least 1, got 0".into());
        }
        let mods = job.fine_tuning.lora_targets.modules();
        if mods.is_empty() {
            add("lora-targets", "names no module".into());
        }
        for m in mods {
            if m.shape(a).is_none() {
                add("lora-targets", format!("{} does not exist in a model with a plain (non-gated) MLP", m.as_str()));
            }
        }
    }
    if job.offload == Offload::OptimizerAndParameters && !job.strategy.shards().2 {
        add(
            "offload",
            format!("offloading parameters needs a parameter-sharding strategy (zero3, fsdp), not {}", job.strategy),
        );
    }
    if job.strategy == Strategy::FsdpHybrid && job.hybrid_shard_group == 0 {
        add("strategy", "fsdp-hybrid needs a group size of at least 1".into());
    }
    if p.is_empty() { Ok(()) } else { Err(InvalidJob(p)) }
}

/// The engine's answer for one job on one GPU type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub model: String,
    /// True when only a parameter count was given: the architecture is inferred.
    pub coarse: bool,
    pub params: u64,
    pub trainable_params: u64,
    pub active_params: u64,
    pub workload: WorkloadKind,
    pub gpu: String,
    pub gpu_memory_bytes: u64,
    pub gpus: u32,
    pub strategy: Strategy,
    pub per_gpu: PerGpu,
    pub decision: Fit,
    /// Fewest GPUs with which the job's strategy fits this GPU type (`None`: no count does).
    pub min_gpus: Option<u32>,
    /// Training FLOPs, when training tokens are known.
    pub flops: Option<f64>,
    pub gpu_hours: Option<f64>,
    pub wall_hours: Option<f64>,
    pub cost_usd: Option<f64>,
    pub mfu: f64,
    /// Things the reader should know (coarse model, assumptions).
    pub notes: Vec<String>,
    /// Each memory term with its formula and source (`vramgate estimate --explain`); empty
    /// unless asked for with [`explain`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<Term>,
}

/// [`estimate`] with its memory terms filled in.
pub fn explain(job: &Job, gpu: &GpuSpec) -> Result<Estimate, InvalidJob> {
    let mut e = estimate(job, gpu)?;
    e.terms = memory::breakdown(job).terms;
    Ok(e)
}

/// Estimates `job` on `gpu`.
pub fn estimate(job: &Job, gpu: &GpuSpec) -> Result<Estimate, InvalidJob> {
    validate(job, gpu)?;
    let per_gpu = memory::per_gpu(job);
    let decision = Fit::judge_with_uncertain(per_gpu.total_bytes, per_gpu.uncertain_bytes, gpu.memory_bytes);
    let min_gpus = min_gpus(job, gpu, 1, MAX_GPUS);
    let c = compute::compute(job, gpu);
    let mut notes = Vec::new();
    if job.model.is_coarse() {
        notes.push(format!(
            "coarse: only a parameter count was given; assumed a Llama-shaped model with {} layers, hidden {}, vocabulary {}. Give an architecture or preset for a precise estimate",
            job.model.arch.layers, job.model.arch.hidden, job.model.arch.vocab
        ));
    }
    if per_gpu.uncertain_bytes > 0 {
        notes.push(format!(
            "{} of the estimate is uncertain: the fp32 attention score matrix PyTorch's math SDPA kernel keeps when QLoRA or fp32 activations meet GQA and transformers passes no mask; with a mask (sliding window, padding) the memory-efficient kernel runs without it. It cannot by itself make the job not fit",
            units::Gib(per_gpu.uncertain_bytes)
        ));
    }
    if job.workload == WorkloadKind::Training && job.training_tokens.is_none() {
        notes.push("no training tokens given: no GPU-hours or cost".to_string());
    }
    notes.extend(plan::precision_notes(job));
    Ok(Estimate {
        model: job.model.name.clone(),
        coarse: job.model.is_coarse(),
        params: job.model.params(),
        trainable_params: if job.workload == WorkloadKind::Training { job.trainable_params() } else { 0 },
        active_params: job.model.active_params(),
        workload: job.workload,
        gpu: gpu.name.clone(),
        gpu_memory_bytes: gpu.memory_bytes,
        gpus: job.gpus,
        strategy: job.strategy,
        per_gpu,
        decision,
        min_gpus,
        flops: c.map(|c| c.flops),
        gpu_hours: c.map(|c| c.gpu_hours),
        wall_hours: c.map(|c| c.wall_hours),
        cost_usd: c.map(|c| c.cost_usd),
        mfu: job.mfu,
        notes,
        terms: Vec::new(),
    })
}

/// Whether `job` fits `gpu` spread over `gpus` GPUs (overwrites `job.gpus`).
fn fits_with(job: &mut Job, gpu: &GpuSpec, gpus: u32) -> bool {
    job.gpus = gpus;
    Fit::judge(memory::per_gpu(job).total_bytes, gpu.memory_bytes) == Fit::Fits
}

/// Fewest GPUs (a multiple of `step` x tensor x pipeline, at most `max_gpus`) with which `job`
/// fits `gpu` under its own strategy. Per-GPU memory never rises with the data-parallel degree,
/// so a binary search finds it.
pub fn min_gpus(job: &Job, gpu: &GpuSpec, step: u32, max_gpus: u32) -> Option<u32> {
    // One clone for the whole search: only the GPU count changes between probes.
    min_gpus_probing(&mut job.clone(), gpu, step, max_gpus)
}

/// [`min_gpus`] on a job the search may change: `job.gpus` is left at the last count probed.
fn min_gpus_probing(job: &mut Job, gpu: &GpuSpec, step: u32, max_gpus: u32) -> Option<u32> {
    let unit = step.max(1).saturating_mul(job.tensor_parallel.max(1)).saturating_mul(job.pipeline_parallel.max(1));
    // One GPU unit first: a multi-GPU job adds NCCL and DDP buffers a single-GPU one does not
    // have, so fitting on one unit does not follow from fitting on more.
    if unit <= max_gpus && fits_with(job, gpu, unit) {
        return Some(unit);
    }
    fewest(u64::from(max_gpus / unit), |k| fits_with(job, gpu, k as u32 * unit)).map(|k| k as u32 * unit)
}

/// The least `k` in `1..=max_k` for which `fits(k)` holds, given that it keeps holding once it
/// does (monotone), by binary search: `None` when even `max_k` does not fit.
pub fn fewest(max_k: u64, mut fits: impl FnMut(u64) -> bool) -> Option<u64> {
    if max_k == 0 || !fits(max_k) {
        return None;
    }
    let (mut lo, mut hi) = (1, max_k);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}
