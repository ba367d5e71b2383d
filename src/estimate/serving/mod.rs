//! Inference servers at start-up (issue 15): will a vLLM, SGLang or TGI deployment start on its
//! GPUs, how many tokens of KV cache will it hold, and what is the cheapest change that starts
//! it. docs/memory-model.md ("Serving") derives every term; `tests/serving_calibration.rs`
//! checks them against public vLLM start-up logs.
//!
//! vLLM (V1, `vllm/v1/worker/gpu_worker.py`, `Worker.determine_available_memory`): the budget
//! is `gpu_memory_utilization x total memory` (CUDA's total); it loads the weights, runs one
//! profiling pass of `max_num_batched_tokens` tokens plus a dummy sampler pass over
//! `max_num_seqs` sequences, counts the memory outside PyTorch that grew (NCCL, custom
//! all-reduce), and gives the KV cache exactly the remainder. CUDA graphs are captured after
//! that, out of the `(1 - utilisation)` headroom. It refuses to start when nothing is left
//! ("No available memory for the cache blocks") or when the cache cannot hold one request of
//! `max_model_len` tokens (`vllm/v1/core/kv_cache_utils.py`, `check_enough_kv_cache_memory`).
//!
//! Pure: no I/O, clock, environment or logging.
//!
//! This file holds the public types and the entry points ([`estimate_serving`],
//! [`serving_report`]); the model is in single-concern files: `era.rs` (each server's behaviour
//! and defaults by version), `facts.rs` (what is known of the model), `resolve.rs` (settings
//! validated and resolved, pipeline stages), `budget.rs` (the start-up budget and the failure),
//! `kv.rs` (KV bytes per token and per request), `fixes.rs` (the largest max-model-len and the
//! fixes), `message.rs` (the failure in words).

mod budget;
mod era;
mod facts;
mod fixes;
mod kv;
mod message;
pub mod options;
mod resolve;

pub use era::VLLM_NEWEST;
pub use facts::facts_from_hf_config;
pub use options::{Engine, EngineVersion, Quantization};

use super::gpu::GpuSpec;
use super::job::{Job, ModelSource};
use super::presets::ServingFacts;
use super::{Fit, InvalidJob, Problem};
use budget::{judge, size};
use era::version_of;
use fixes::{MAX_LEN_SEARCH, fixes, largest_len};
use message::message;
use resolve::resolve;
use serde::{Deserialize, Serialize};

/// What a serving deployment asks for, beyond the model and its parallelism (which the
/// [`Job`] carries: `tensor_parallel`, `pipeline_parallel`, `precision`, `kv_cache_dtype`).
/// `None` means "the server's default".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingConfig {
    pub engine: Engine,
    pub engine_version: Option<EngineVersion>,
    pub max_model_len: Option<u32>,
    pub gpu_memory_utilization: Option<f64>,
    pub max_num_seqs: Option<u32>,
    pub max_num_batched_tokens: Option<u32>,
    pub enforce_eager: bool,
    /// `None`: the checkpoint's own format (a preset's, e.g. gpt-oss MXFP4), else 16-bit.
    pub quantization: Option<Quantization>,
    pub block_size: Option<u32>,
    /// What a `config.json` (the `hf-config` key) says of a model that is not a preset: its
    /// context, sliding window, MLA latent, quantisation ([`facts_from_hf_config`]).
    #[serde(skip)]
    pub model_facts: Option<ServingFacts>,
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            engine: Engine::Vllm,
            engine_version: None,
            max_model_len: None,
            gpu_memory_utilization: None,
            max_num_seqs: None,
            max_num_batched_tokens: None,
            enforce_eager: false,
            quantization: None,
            block_size: None,
            model_facts: None,
        }
    }
}

/// Why a server will not start: a reason code (kebab-case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// `max-model-len` is longer than the model's context (vLLM: "User-specified max_model_len
    /// ... is greater than the derived max_model_len", `vllm/config/model.py`).
    MaxModelLenOverModel,
    /// The weights alone exceed the GPU's memory: CUDA out of memory while loading.
    WeightsDoNotFit,
    /// Nothing is left for the KV cache ("No available memory for the cache blocks").
    NoKvCacheMemory,
    /// The KV cache cannot hold one request of `max-model-len` tokens.
    KvCacheBelowMaxModelLen,
    /// CUDA graphs and the sampler warm-up, allocated after the KV cache, do not fit in what
    /// the utilisation leaves outside the budget.
    HeadroomExhausted,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::MaxModelLenOverModel => "max-model-len-over-model",
            Failure::WeightsDoNotFit => "weights-do-not-fit",
            Failure::NoKvCacheMemory => "no-kv-cache-memory",
            Failure::KvCacheBelowMaxModelLen => "kv-cache-below-max-model-len",
            Failure::HeadroomExhausted => "headroom-exhausted",
        }
    }
}

/// A change that makes the deployment start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum Fix {
    MaxModelLen { max_model_len: u32 },
    TensorParallel { tensor_parallel: u32 },
    KvCacheFp8,
    Gpu { gpu: String },
}

/// The engine's answer for one serving deployment, per GPU of its binding (tightest) stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingEstimate {
    pub engine: Engine,
    /// The version the eras were chosen by (the newest known when none was given).
    pub engine_version: EngineVersion,
    pub engine_version_assumed: bool,
    pub gpu: String,
    pub gpu_memory_bytes: u64,
    /// GPUs of one replica: tensor x pipeline.
    pub gpus_per_replica: u32,
    pub tensor_parallel: u32,
    pub pipeline_parallel: u32,
    pub gpu_memory_utilization: f64,
    pub budget_bytes: u64,
    pub max_model_len: u32,
    pub max_num_seqs: u32,
    pub max_num_batched_tokens: u32,
    pub block_size: u32,
    pub quantization: Quantization,
    pub kv_cache_dtype_bytes: u32,
    pub weights_bytes: u64,
    pub activation_bytes: u64,
    pub non_torch_bytes: u64,
    pub cuda_graph_bytes: u64,
    /// What the budget leaves for the KV cache (0 when nothing is left).
    pub kv_cache_bytes: u64,
    /// The same, signed: negative when the rest already exceeds the budget.
    pub kv_cache_available_bytes: i64,
    /// KV bytes one token takes in every layer of the stage.
    pub kv_bytes_per_token: u64,
    /// Tokens the cache holds (vLLM's "GPU KV cache size": blocks x block size).
    pub kv_cache_tokens: u64,
    /// KV bytes one request of `max_model_len` tokens needs.
    pub kv_bytes_per_request: u64,
    /// Requests of `max_model_len` tokens the cache holds at once.
    pub max_concurrency: f64,
    /// Largest max-model-len that starts with everything else as asked (a multiple of 256, or
    /// of the block size below 256), capped at the model's context; `None`: none does.
    pub max_model_len_that_starts: Option<u32>,
    pub failure: Option<Failure>,
    /// The failure in words, with its numbers and the fixes.
    pub message: Option<String>,
    pub fixes: Vec<Fix>,
    pub notes: Vec<String>,
}

impl ServingEstimate {
    pub fn starts(&self) -> bool {
        self.failure.is_none()
    }
}

/// Estimates a serving deployment of `job` (model, TP, PP, dtype, KV dtype) with `cfg` on
/// `gpu`; `catalog` is where a "use another GPU" fix is looked for (cheapest per hour first).
pub fn estimate_serving(
    job: &Job,
    cfg: &ServingConfig,
    gpu: &GpuSpec,
    catalog: &[GpuSpec],
) -> Result<ServingEstimate, InvalidJob> {
    let r = resolve(job, cfg, gpu)?;
    let total = gpu.memory_bytes as f64;
    let s = size(&r, total);
    let failure = judge(&r, total, &s);
    let kv_available = s.available.max(0.0);
    let per_token = r.kv_bytes_per_token(s.stage).max(1);
    let page = per_token * u64::from(r.block);
    let blocks = (kv_available / page as f64).floor() as u64;
    let request = r.request_bytes(s.stage, r.max_model_len);
    let (version, assumed) = version_of(cfg);
    let cap = if r.facts.max_context > 0 { r.facts.max_context } else { MAX_LEN_SEARCH };
    let largest = largest_len(job, cfg, gpu, cap, r.block);
    let mut notes = Vec::new();
    if assumed {
        notes.push(format!(
            "{} version not given: judged as {version}, the newest behaviour modelled; set engine-version (the image tag)",
            cfg.engine.display_name()
        ));
    }
    if r.facts.multimodal {
        notes.push("multimodal model: the vision encoder's profiling pass is not modelled (uncalibrated)".into());
    }
    if cfg.engine != Engine::Vllm {
        notes.push(format!(
            "{} is modelled from its source defaults, without calibration data",
            cfg.engine.display_name()
        ));
    }
    if cfg.engine == Engine::Vllm && r.version < EngineVersion::new(0, 11, 0) {
        notes.push(format!(
            "vLLM {} is older than the calibration data (0.11-0.19): its activation term is uncalibrated",
            r.version
        ));
    }
    if job.model.source != ModelSource::Preset && cfg.max_model_len.is_some() && r.facts.max_context == 0 {
        notes.push("the model's context is unknown: max-model-len is not checked against it".into());
    }
    if cfg.engine == Engine::Sglang && failure.is_none() && (request as f64) > kv_available {
        notes.push(format!(
            "SGLang starts, but its KV pool ({} tokens) cannot hold one request of context-length {}: longer requests are cut",
            blocks * u64::from(r.block),
            r.max_model_len
        ));
    }
    let fixes = if failure.is_some() { fixes(job, cfg, gpu, catalog, &r, largest) } else { Vec::new() };
    let mut e = ServingEstimate {
        engine: cfg.engine,
        engine_version: version,
        engine_version_assumed: assumed,
        gpu: gpu.name.clone(),
        gpu_memory_bytes: gpu.memory_bytes,
        gpus_per_replica: r.tp * r.pp,
        tensor_parallel: r.tp,
        pipeline_parallel: r.pp,
        gpu_memory_utilization: r.fraction,
        budget_bytes: (total * r.fraction) as u64,
        max_model_len: r.max_model_len,
        max_num_seqs: r.max_num_seqs,
        max_num_batched_tokens: r.max_num_batched_tokens,
        block_size: r.block,
        quantization: r.quant,
        kv_cache_dtype_bytes: r.kv_bytes as u32,
        weights_bytes: s.weights as u64,
        activation_bytes: s.activation as u64,
        non_torch_bytes: s.non_torch as u64,
        cuda_graph_bytes: s.graphs as u64,
        kv_cache_bytes: kv_available as u64,
        kv_cache_available_bytes: s.available as i64,
        kv_bytes_per_token: per_token,
        kv_cache_tokens: blocks * u64::from(r.block),
        kv_bytes_per_request: request,
        max_concurrency: if request > 0 { kv_available / request as f64 } else { 0.0 },
        max_model_len_that_starts: largest,
        failure,
        message: None,
        fixes,
        notes,
    };
    e.message = failure.map(|f| message(&e, f, job));
    Ok(e)
}

/// A serving deployment's report: the model, its GPUs (replicas x tensor x pipeline), the
/// decision (`fits`: it starts; `does-not-fit`: it will not) and the serving terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingReport {
    pub model: String,
    pub coarse: bool,
    pub params: u64,
    /// Always `serving`.
    pub workload: String,
    pub gpu: String,
    /// GPUs of all replicas.
    pub gpus: u32,
    pub replicas: u32,
    /// What holding them costs per hour (replicas multiply cost, not per-GPU memory).
    pub usd_per_hour: f64,
    pub decision: Fit,
    pub serving: ServingEstimate,
}

/// [`estimate_serving`] for `gpus` GPUs in all (`None`: one replica); `gpus` must be a
/// multiple of tensor x pipeline.
pub fn serving_report(
    job: &Job,
    cfg: &ServingConfig,
    gpus: Option<u32>,
    gpu: &GpuSpec,
    catalog: &[GpuSpec],
) -> Result<ServingReport, InvalidJob> {
    let per_replica = job.tensor_parallel.max(1).saturating_mul(job.pipeline_parallel.max(1));
    let gpus = gpus.unwrap_or(per_replica);
    if gpus == 0 || !gpus.is_multiple_of(per_replica) {
        return Err(InvalidJob(vec![Problem {
            field: "gpus".into(),
            message: format!(
                "{gpus} GPUs are not whole replicas of tensor-parallel {} x pipeline-parallel {}; use a multiple of {per_replica}",
                job.tensor_parallel, job.pipeline_parallel
            ),
        }]));
    }
    let mut j = job.clone();
    j.gpus = per_replica;
    let serving = estimate_serving(&j, cfg, gpu, catalog)?;
    Ok(ServingReport {
        model: job.model.name.clone(),
        coarse: job.model.is_coarse(),
        params: job.model.params(),
        workload: "serving".into(),
        gpu: gpu.name.clone(),
        gpus,
        replicas: gpus / per_replica,
        usd_per_hour: gpu.usd_per_hour * f64::from(gpus),
        decision: if serving.starts() { Fit::Fits } else { Fit::DoesNotFit },
        serving,
    })
}

#[cfg(test)]
mod tests;
