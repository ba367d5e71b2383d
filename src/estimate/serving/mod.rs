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

pub mod options;

pub use options::{Engine, EngineVersion, Quantization};

use super::gpu::GpuSpec;
use super::job::{Job, ModelSource};
use super::model::Architecture;
use super::options::{KvCacheDtype, Precision};
use super::presets::{KvLayout, ServingFacts, find_preset};
use super::units::GIB;
use super::{Fit, InvalidJob, Problem};
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

/// The newest vLLM behaviour modelled; an unknown version is judged as this one.
pub const VLLM_NEWEST: EngineVersion = EngineVersion::new(0, 19, 0);
const SGLANG_NEWEST: EngineVersion = EngineVersion::new(0, 4, 6);
const TGI_NEWEST: EngineVersion = EngineVersion::new(3, 0, 0);

/// The largest max-model-len the search considers (vLLM's own cap on a user value is the
/// model's context; this bounds the search for models without one).
const MAX_LEN_SEARCH: u32 = 1 << 24;

fn gib(b: f64) -> f64 {
    b / GIB as f64
}

/// What the engine needs of a model beyond [`Architecture`]: its context, KV layout, checkpoint
/// format; a preset's published facts, or plain full attention for any other model.
fn facts_of(job: &Job, cfg: &ServingConfig) -> ServingFacts {
    if let Some(f) = cfg.model_facts {
        return f;
    }
    if job.model.source == ModelSource::Preset
        && let Some(p) = find_preset(&job.model.name)
    {
        return p.serving;
    }
    ServingFacts::unknown()
}

/// The serving facts a Hugging Face `config.json` states (the text config of a multimodal one):
/// `max_position_embeddings`; `sliding_window` with `layer_types` (`sliding_attention` /
/// `full_attention`), or on every layer when no pattern is given and `use_sliding_window` is not
/// false; MLA's `kv_lora_rank` and `qk_rope_head_dim`; `quantization_config.quant_method`
/// (`fp8`, `awq`, `gptq`, `bitsandbytes`, `mxfp4`). What is absent stays unknown.
pub fn facts_from_hf_config(config: &serde_json::Value) -> ServingFacts {
    let text = config.get("text_config").filter(|t| t.is_object()).unwrap_or(config);
    let num = |k: &str| text.get(k).and_then(serde_json::Value::as_u64).and_then(|n| u32::try_from(n).ok());
    let mut f = ServingFacts::unknown();
    f.max_context = num("max_position_embeddings").unwrap_or(0);
    f.multimodal = config.get("vision_config").is_some();
    if let (Some(kv_lora_rank), Some(rope_dim)) = (num("kv_lora_rank"), num("qk_rope_head_dim")) {
        f.kv = KvLayout::Mla { kv_lora_rank, rope_dim };
    } else if let Some(window) = num("sliding_window").filter(|w| *w > 0) {
        let types: Vec<&str> = text
            .get("layer_types")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let uses = text.get("use_sliding_window").and_then(serde_json::Value::as_bool) != Some(false);
        if !types.is_empty() {
            let sliding = types.iter().filter(|t| **t == "sliding_attention").count() as u32;
            let full = types.len() as u32 - sliding;
            if sliding > 0 {
                f.kv = KvLayout::Sliding { window, sliding, full };
            }
        } else if uses && f.max_context > window {
            f.kv = KvLayout::Sliding { window, sliding: 1, full: 0 };
        }
    }
    if let Some(q) = config
        .pointer("/quantization_config/quant_method")
        .and_then(serde_json::Value::as_str)
        .and_then(|m| m.parse::<Quantization>().ok())
    {
        f.checkpoint = q;
    }
    f
}

/// Per-stage layer counts: vLLM `get_pp_indices` (`vllm/distributed/utils.py`) gives every
/// stage `layers / pp` and the remainder one each to the last stages.
fn stage_layers(layers: u32, pp: u32) -> Vec<u32> {
    let pp = pp.max(1);
    let base = layers / pp;
    let rem = layers % pp;
    (0..pp).map(|s| base + u32::from(s >= pp - rem)).collect()
}

/// Bytes of one element in the served dtype: fp32 when asked, else 16-bit (vLLM `--dtype auto`
/// serves a bf16/fp16 checkpoint in its own dtype).
fn dtype_bytes(p: Precision) -> u64 {
    if p == Precision::Fp32 { 4 } else { 2 }
}

fn kv_dtype_bytes(k: KvCacheDtype, dtype: u64) -> u64 {
    match k {
        KvCacheDtype::Auto => dtype,
        KvCacheDtype::Fp32 => 4,
        KvCacheDtype::Bf16 | KvCacheDtype::Fp16 => 2,
        KvCacheDtype::Fp8 | KvCacheDtype::Int8 => 1,
    }
}

/// The eras of each server: the behaviour that changed between versions, read from the
/// version (docs/memory-model.md, "Serving", derives each number).
#[derive(Debug, Clone, Copy)]
struct Era {
    /// Bytes per (sequence x vocabulary entry) of the profiled sampler pass.
    sampler_bytes_per_logit: f64,
    /// Default `max_num_seqs`.
    max_num_seqs: u32,
    /// Default `max_num_batched_tokens` (None: V0's `max(max_model_len, 2048)`).
    max_num_batched_tokens: Option<u32>,
    /// Non-torch memory at TP 1 and the extra per GPU at TP >= 2.
    non_torch_tp1_bytes: f64,
    non_torch_comm_bytes: f64,
    /// Largest CUDA-graph capture batch.
    graph_capture_tokens: u32,
    /// Sliding-window layers cache only their window (vLLM's hybrid KV cache manager).
    sliding_saves: bool,
    /// The sampler warm-up after the KV cache allocates fp32 logits outside the budget.
    sampler_warmup_after_kv: bool,
    /// The KV cache is the budget minus everything profiled (vLLM); SGLang's static fraction
    /// holds only weights and KV.
    activation_in_budget: bool,
}

fn era(engine: Engine, v: EngineVersion, gpu_memory_bytes: u64) -> Era {
    // vLLM `EngineArgs._set_default_args` (vllm/engine/arg_utils.py): for the OpenAI server on
    // a GPU with at least 70 GiB, max_num_seqs 1024 and max_num_batched_tokens 8192; on smaller
    // GPUs 256 and 2048.
    let big = gpu_memory_bytes >= 70 * GIB;
    let (v1_seqs, v1_tokens) = if big { (1024, 8192) } else { (256, 2048) };
    match engine {
        Engine::Vllm if v < EngineVersion::new(0, 8, 0) => Era {
            // V0 (`vllm/worker/worker.py`, `determine_num_available_blocks`): SchedulerConfig
            // default max_num_seqs 256; without chunked prefill max_num_batched_tokens =
            // max(max_model_len, 2048). No calibration data: sampler bytes as V1 before 0.17.
            sampler_bytes_per_logit: 38.0,
            max_num_seqs: 256,
            max_num_batched_tokens: None,
            non_torch_tp1_bytes: 0.13 * GIB as f64,
            non_torch_comm_bytes: 0.42 * GIB as f64,
            // V0 `_BATCH_SIZES_TO_CAPTURE` goes up to 256 (vllm/worker/model_runner.py).
            graph_capture_tokens: 256,
            sliding_saves: false,
            sampler_warmup_after_kv: false,
            activation_in_budget: true,
        },
        Engine::Vllm => Era {
            // Sampler pass: 38 B per logit up to 0.16 and 14.5 B from 0.17 (slopes of the
            // public sweeps over vocabulary, docs/memory-model.md "Serving").
            sampler_bytes_per_logit: if v < EngineVersion::new(0, 17, 0) { 38.0 } else { 14.5 },
            max_num_seqs: v1_seqs,
            max_num_batched_tokens: Some(v1_tokens),
            // Non-torch memory logged at TP 1: 0.13 GiB up to 0.17, 0.24-0.27 GiB from 0.18;
            // at TP >= 2: 0.55 GiB (0.1x sweep) and 2.07-2.17 GiB from 0.18.
            non_torch_tp1_bytes: if v < EngineVersion::new(0, 18, 0) { 0.13 } else { 0.25 } * GIB as f64,
            non_torch_comm_bytes: if v < EngineVersion::new(0, 18, 0) { 0.42 } else { 1.82 } * GIB as f64,
            // CompilationConfig max_cudagraph_capture_size 512.
            graph_capture_tokens: 512,
            // The hybrid KV cache manager (sliding-window layers keep their window) is V1's
            // from 0.10 (`vllm/v1/core/kv_cache_utils.py`, `SlidingWindowSpec`).
            sliding_saves: v >= EngineVersion::new(0, 10, 0),
            sampler_warmup_after_kv: v >= EngineVersion::new(0, 17, 0),
            activation_in_budget: true,
        },
        Engine::Sglang => Era {
            // SGLang `ServerArgs`: chunked_prefill_size 8192 on large GPUs (2048 below),
            // cuda_graph_max_bs 160; its sampler keeps fp32 logits, probabilities and the
            // sorted copy (no calibration data: the vLLM <= 0.16 figure is used).
            sampler_bytes_per_logit: 38.0,
            max_num_seqs: if big { 1024 } else { 256 },
            max_num_batched_tokens: Some(if big { 8192 } else { 2048 }),
            non_torch_tp1_bytes: 0.25 * GIB as f64,
            non_torch_comm_bytes: 0.42 * GIB as f64,
            graph_capture_tokens: 160,
            sliding_saves: true,
            sampler_warmup_after_kv: false,
            activation_in_budget: false,
        },
        Engine::Tgi => Era {
            // TGI warms up with one prefill of max_batch_prefill_tokens and keeps logits for
            // the last token of each sequence only (server/text_generation_server/models/
            // flash_causal_lm.py, `warmup`).
            sampler_bytes_per_logit: 38.0,
            max_num_seqs: 256,
            max_num_batched_tokens: None,
            non_torch_tp1_bytes: 0.25 * GIB as f64,
            non_torch_comm_bytes: 0.42 * GIB as f64,
            graph_capture_tokens: 32,
            sliding_saves: false,
            sampler_warmup_after_kv: false,
            activation_in_budget: true,
        },
    }
}

/// Default memory fraction when none is given.
/// - vLLM: `gpu_memory_utilization` 0.9 (`vllm/config/cache.py`, CacheConfig).
/// - SGLang: `mem_fraction_static` by TP size (python/sglang/srt/server_args.py,
///   `__post_init__`): 0.79 at TP >= 16, 0.81 at >= 8, 0.85 at >= 4, 0.87 at >= 2, else 0.88.
/// - TGI: `CUDA_MEMORY_FRACTION` 1.0 (server/text_generation_server/utils/import_utils.py).
fn default_fraction(engine: Engine, tp: u32) -> f64 {
    match engine {
        Engine::Vllm => 0.9,
        Engine::Sglang => match tp {
            16.. => 0.79,
            8.. => 0.81,
            4.. => 0.85,
            2.. => 0.87,
            _ => 0.88,
        },
        Engine::Tgi => 1.0,
    }
}

/// Parameters of the model, split by how they are stored.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Linear layers of the decoder: what quantisation converts (and TP splits).
    decoder_linear: u64,
    /// Of which routed-expert weights (MXFP4 converts only these).
    experts: u64,
    /// Input embedding + LM head (kept 16-bit; vocab-parallel under TP).
    embed_head: u64,
    /// Norms and other small parameters, replicated.
    other: u64,
    /// A vision tower, 16-bit, replicated.
    vision: u64,
}

fn split(arch: &Architecture, facts: &ServingFacts, scale: f64) -> Split {
    if let Some(x) = facts.exact {
        return Split {
            decoder_linear: x.total - x.embed_head - x.other,
            experts: x.experts,
            embed_head: x.embed_head,
            other: x.other,
            vision: facts.vision_params,
        };
    }
    let s = |n: u64| (n as f64 * scale).round() as u64;
    let total = s(arch.param_count());
    let embed_head = s(arch.embedding_params() + arch.lm_head_params());
    let decoder_linear = s(arch.decoder_linear_params());
    let experts = s(u64::from(arch.layers) * u64::from(arch.experts) * arch.mlp_params_one());
    Split {
        decoder_linear,
        experts,
        embed_head,
        other: total.saturating_sub(embed_head + decoder_linear),
        vision: facts.vision_params,
    }
}

/// Per-GPU terms of one pipeline stage.
#[derive(Debug, Clone, Copy)]
struct Stage {
    layers: u32,
    first: bool,
    last: bool,
}

/// Everything the estimate needs, resolved once.
struct Resolved<'a> {
    job: &'a Job,
    cfg: &'a ServingConfig,
    facts: ServingFacts,
    version: EngineVersion,
    era: Era,
    tp: u32,
    pp: u32,
    dtype: u64,
    kv_bytes: u64,
    quant: Quantization,
    fraction: f64,
    max_model_len: u32,
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    block: u32,
}

impl Resolved<'_> {
    /// Per-GPU weight bytes of `stage`.
    fn weights(&self, st: Stage) -> f64 {
        let a = &self.job.model.arch;
        let sp = split(a, &self.facts, self.job.model.params_scale());
        let frac = f64::from(st.layers) / f64::from(a.layers.max(1));
        let tp = f64::from(self.tp);
        let d = self.dtype as f64;
        let q = self.quant.bytes_per_weight(d);
        let (quantised, plain) = match self.quant {
            Quantization::None => (0.0, sp.decoder_linear as f64),
            // MXFP4 converts the routed experts (gpt-oss keeps attention in bf16); vLLM pads
            // the expert intermediate to a multiple of 256 for its Hopper kernels
            // (`vllm/model_executor/layers/quantization/mxfp4.py`, `round_up(..., 256)`).
            Quantization::Mxfp4 if sp.experts > 0 => {
                let i = f64::from(a.intermediate);
                let padded = (i / 256.0).ceil() * 256.0;
                (sp.experts as f64 * padded / i, (sp.decoder_linear - sp.experts) as f64)
            }
            _ => (sp.decoder_linear as f64, 0.0),
        };
        let decoder = frac * (quantised * q + plain * d) / tp;
        // Embedding on the first stage, LM head on the last (tied: both hold it); both
        // vocab-parallel under TP (`VocabParallelEmbedding`, `ParallelLMHead`).
        let eh = sp.embed_head as f64 * d / tp;
        let embed_head = match (st.first, st.last) {
            (true, true) => eh,
            (true, false) | (false, true) => {
                if a.tied_embeddings {
                    eh
                } else {
                    eh / 2.0
                }
            }
            (false, false) => 0.0,
        };
        // The rotary cos/sin cache: max_position x rotary dim in the model dtype, one per model
        // (`vllm/model_executor/layers/rotary_embedding.py`, `_compute_cos_sin_cache`).
        let rope = f64::from(self.facts.max_context) * f64::from(a.head_dim) * d;
        let vision = if st.first { sp.vision as f64 * d } else { 0.0 };
        decoder + embed_head + frac * sp.other as f64 * d + rope + vision
    }

    /// Activation peak of the profiling pass on `stage` (docs/memory-model.md, "Serving").
    fn activation(&self, st: Stage) -> f64 {
        let a = &self.job.model.arch;
        let n = f64::from(self.max_num_batched_tokens);
        let d = self.dtype as f64;
        let h = f64::from(a.hidden);
        let i = f64::from(a.intermediate);
        let tp = f64::from(self.tp);
        // Hidden states and residual of the batch, alive through the pass.
        let base = 2.0 * n * h * d;
        // The sampler pass: max_num_seqs x vocabulary logits and their copies (last stage).
        let sampler = if st.last {
            f64::from(self.max_num_seqs) * f64::from(a.vocab) * self.era.sampler_bytes_per_logit
        } else {
            0.0
        };
        if a.experts > 0 {
            // Fused-MoE workspaces (`vllm/model_executor/layers/fused_moe/fused_moe.py`,
            // intermediate_cache1/2/3: tokens x top-k x (2I + I) / TP and x H), cached for the
            // life of the server, so they add to the sampler's peak. MXFP4 runs its own kernel.
            let ws = if self.quant == Quantization::Mxfp4 {
                0.0
            } else {
                let routed = a.experts_per_token.saturating_sub(self.facts.shared_experts).max(1);
                n * f64::from(routed) * (3.0 * i / tp + h) * d
            };
            base + sampler + ws
        } else {
            // The dense MLP's gate/up and activation outputs are freed before the sampler runs.
            let mlp = n * 3.0 * i / tp * d;
            base + sampler.max(mlp)
        }
    }

    fn non_torch(&self) -> f64 {
        let comm = if self.tp >= 2 {
            self.era.non_torch_comm_bytes + 0.04 * GIB as f64 * f64::from(self.tp / 2).log2()
        } else {
            0.0
        };
        self.era.non_torch_tp1_bytes + comm
    }

    /// CUDA-graph pools: about six hidden-size tensors per layer for the largest captured
    /// batch (0.84 GiB logged for Llama 3.1 8B on vLLM 0.19; 0.75 GiB by this rule).
    fn cuda_graphs(&self, st: Stage) -> f64 {
        if self.cfg.enforce_eager {
            return 0.0;
        }
        let a = &self.job.model.arch;
        let tokens = f64::from(self.era.graph_capture_tokens.min(self.max_num_seqs));
        f64::from(st.layers) * tokens * f64::from(a.hidden) * self.dtype as f64 * 6.0
    }

    /// KV bytes per token of one layer on one GPU.
    fn kv_per_layer_token(&self) -> u64 {
        let a = &self.job.model.arch;
        match self.facts.kv {
            // MLA caches one latent of kv_lora_rank + rope dims per token, the same on every
            // TP rank (DeepSeek-V2 paper section 2.1; vLLM `MLAAttentionSpec`, one KV head).
            KvLayout::Mla { kv_lora_rank, rope_dim } => u64::from(kv_lora_rank + rope_dim) * self.kv_bytes,
            // K and V of each KV head; heads are split over TP and replicated when TP exceeds
            // them (vLLM `QKVParallelLinear`: num_kv_heads = max(1, total // tp)).
            _ => 2 * u64::from((a.kv_heads / self.tp).max(1)) * u64::from(a.head_dim) * self.kv_bytes,
        }
    }

    /// (full-attention layers, sliding layers, window) of a stage with `layers` layers.
    fn layer_kinds(&self, layers: u32) -> (u32, u32, u32) {
        let kv_layers = if self.facts.kv_layers > 0 {
            (u64::from(layers) * u64::from(self.facts.kv_layers) / u64::from(self.job.model.arch.layers.max(1))) as u32
        } else {
            layers
        };
        match self.facts.kv {
            KvLayout::Sliding { window, sliding, full } if self.era.sliding_saves => {
                let period = sliding + full;
                let n_full = kv_layers * full / period.max(1);
                (n_full, kv_layers - n_full, window)
            }
            _ => (kv_layers, 0, 0),
        }
    }

    /// KV bytes one request of `len` tokens needs on `stage` (vLLM `max_memory_usage_bytes`
    /// of `FullAttentionSpec`: cdiv(len, block) pages; of `SlidingWindowSpec`:
    /// cdiv(min(window - 1 + max_num_batched_tokens, len), block) + 1 pages).
    fn request_bytes(&self, st: Stage, len: u32) -> u64 {
        let (full, sliding, window) = self.layer_kinds(st.layers);
        let b = u64::from(self.block);
        let page = b * self.kv_per_layer_token();
        let full_pages = u64::from(len).div_ceil(b);
        let w_tokens =
            (u64::from(window) + u64::from(self.max_num_batched_tokens)).saturating_sub(1).min(u64::from(len));
        let sliding_pages = w_tokens.div_ceil(b) + 1;
        u64::from(full) * full_pages * page + u64::from(sliding) * sliding_pages * page
    }

    fn kv_bytes_per_token(&self, st: Stage) -> u64 {
        let (full, sliding, _) = self.layer_kinds(st.layers);
        u64::from(full + sliding) * self.kv_per_layer_token()
    }
}

fn stages(layers: u32, pp: u32) -> Vec<Stage> {
    let ls = stage_layers(layers, pp);
    let n = ls.len();
    ls.into_iter().enumerate().map(|(s, l)| Stage { layers: l, first: s == 0, last: s + 1 == n }).collect()
}

/// One evaluation at given settings: the binding stage's terms and the KV left.
#[derive(Debug, Clone, Copy)]
struct Sized {
    stage: Stage,
    weights: f64,
    activation: f64,
    non_torch: f64,
    graphs: f64,
    available: f64,
}

fn size(r: &Resolved<'_>, total: f64) -> Sized {
    let budget = total * r.fraction;
    let mut worst: Option<(f64, Sized)> = None;
    for st in stages(r.job.model.arch.layers, r.pp) {
        let weights = r.weights(st);
        let activation = r.activation(st);
        let non_torch = r.non_torch();
        let graphs = r.cuda_graphs(st);
        let available = if r.era.activation_in_budget {
            budget - weights - activation - non_torch
        } else {
            // SGLang `profile_max_num_token`: the static fraction holds weights and KV only.
            budget - weights - non_torch
        };
        // vLLM sizes the cache by the stage that holds the fewest tokens.
        let per_token = r.kv_bytes_per_token(st).max(1) as f64;
        let tokens = available / per_token;
        let s = Sized { stage: st, weights, activation, non_torch, graphs, available };
        if worst.is_none_or(|(t, _)| tokens < t) {
            worst = Some((tokens, s));
        }
    }
    worst.expect("at least one stage").1
}

/// Why it would not start at these settings, if it would not.
fn judge(r: &Resolved<'_>, total: f64, s: &Sized) -> Option<Failure> {
    if let Some(ctx) = (r.facts.max_context > 0).then_some(r.facts.max_context)
        && r.max_model_len > ctx
    {
        return Some(Failure::MaxModelLenOverModel);
    }
    if s.weights + s.non_torch > total {
        return Some(Failure::WeightsDoNotFit);
    }
    if s.available <= 0.0 {
        return Some(Failure::NoKvCacheMemory);
    }
    if r.request_bytes(s.stage, r.max_model_len) as f64 > s.available && r.cfg.engine == Engine::Vllm {
        return Some(Failure::KvCacheBelowMaxModelLen);
    }
    if r.cfg.engine == Engine::Tgi && (r.request_bytes(s.stage, r.max_model_len) as f64) > s.available {
        return Some(Failure::KvCacheBelowMaxModelLen);
    }
    // After the KV cache: CUDA graphs (and, from vLLM 0.17, the sampler warm-up's fp32 logits)
    // come out of what the utilisation leaves; SGLang's activations live there too.
    let headroom = total * (1.0 - r.fraction);
    let mut after = s.graphs;
    if r.era.sampler_warmup_after_kv && s.stage.last {
        after += f64::from(r.max_num_seqs) * f64::from(r.job.model.arch.vocab) * 4.0;
    }
    if !r.era.activation_in_budget {
        after += s.activation;
    }
    if after > headroom {
        return Some(Failure::HeadroomExhausted);
    }
    None
}

/// Validates and resolves the settings; every problem at once.
fn resolve<'a>(job: &'a Job, cfg: &'a ServingConfig, gpu: &GpuSpec) -> Result<Resolved<'a>, InvalidJob> {
    let mut p = Vec::new();
    let mut add = |field: &str, message: String| p.push(Problem { field: field.to_string(), message });
    let facts = facts_of(job, cfg);
    let a = &job.model.arch;
    if let Err(errs) = a.validate() {
        for e in errs {
            add("architecture", e);
        }
    }
    let tp = job.tensor_parallel.max(1);
    let pp = job.pipeline_parallel.max(1);
    // vLLM requires TP to divide the attention heads (`vllm/config/parallel.py`,
    // `verify_with_model_config`: "Total number of attention heads must be divisible by
    // tensor parallel size").
    if a.heads > 0 && !a.heads.is_multiple_of(tp) {
        add(
            "tensor-parallel",
            format!("{tp} does not divide the model's {} attention heads; accepted: a divisor of {}", a.heads, a.heads),
        );
    }
    if pp > a.layers && a.layers > 0 {
        add("pipeline-parallel", format!("{pp} stages for {} layers: at most one stage per layer", a.layers));
    }
    let (version, _) = version_of(cfg);
    let era = era(cfg.engine, version, gpu.memory_bytes);
    let max_model_len = match cfg.max_model_len.or((facts.max_context > 0).then_some(facts.max_context)) {
        Some(n) => n,
        None => {
            add(
                "max-model-len",
                format!(
                    "not given, and the model's context is unknown ({}); set max-model-len (the server's --max-model-len)",
                    job.model.name
                ),
            );
            4096
        }
    };
    let fraction = cfg.gpu_memory_utilization.unwrap_or_else(|| default_fraction(cfg.engine, tp));
    if !(fraction > 0.0 && fraction <= 1.0) {
        add("gpu-memory-utilization", format!("must be in (0, 1], got {fraction}"));
    }
    if cfg.engine == Engine::Vllm && job.kv_cache_dtype == KvCacheDtype::Int8 {
        add(
            "kv-cache-dtype",
            "vLLM has no int8 KV cache; accepted: auto, fp8 (fp8_e4m3, fp8_e5m2), bf16, fp16, fp32".into(),
        );
    }
    let block = cfg.block_size.unwrap_or(match cfg.engine {
        // SGLang's token-level pool: page_size 1 (`--page-size`).
        Engine::Sglang => 1,
        // vLLM CacheConfig block_size 16; TGI's paged attention BLOCK_SIZE 16.
        _ => 16,
    });
    let max_num_seqs = cfg.max_num_seqs.unwrap_or(era.max_num_seqs);
    let max_num_batched_tokens = cfg.max_num_batched_tokens.unwrap_or(match (cfg.engine, era.max_num_batched_tokens) {
        (_, Some(n)) => n,
        // TGI: max_batch_prefill_tokens = max_input_tokens + 50 = max_total_tokens + 49
        // (router/src/main.rs / launcher defaults).
        (Engine::Tgi, None) => max_model_len.saturating_add(49),
        // vLLM V0 without chunked prefill: max(max_model_len, 2048); with max_model_len over
        // 32K it turns chunked prefill on with 2048.
        (_, None) => {
            if max_model_len > 32_768 {
                2048
            } else {
                max_model_len.max(2048)
            }
        }
    });
    if cfg.engine == Engine::Vllm
        && max_num_batched_tokens < max_num_seqs.min(max_model_len)
        && cfg.max_num_batched_tokens.is_some()
    {
        add(
            "max-num-batched-tokens",
            format!(
                "{max_num_batched_tokens} is below max-num-seqs ({max_num_seqs}); vLLM refuses it (SchedulerConfig)"
            ),
        );
    }
    let dtype = dtype_bytes(job.precision);
    let quant = cfg.quantization.unwrap_or(facts.checkpoint);
    if !p.is_empty() {
        return Err(InvalidJob(p));
    }
    Ok(Resolved {
        job,
        cfg,
        facts,
        version,
        era,
        tp,
        pp,
        dtype,
        kv_bytes: kv_dtype_bytes(job.kv_cache_dtype, dtype),
        quant,
        fraction,
        max_model_len,
        max_num_seqs,
        max_num_batched_tokens,
        block,
    })
}

fn version_of(cfg: &ServingConfig) -> (EngineVersion, bool) {
    match cfg.engine_version {
        Some(v) => (v, false),
        None => (
            match cfg.engine {
                Engine::Vllm => VLLM_NEWEST,
                Engine::Sglang => SGLANG_NEWEST,
                Engine::Tgi => TGI_NEWEST,
            },
            true,
        ),
    }
}

/// Whether `job` with `cfg` starts on `gpu` (a cheap probe for the fix search).
fn starts(job: &Job, cfg: &ServingConfig, gpu: &GpuSpec) -> bool {
    match resolve(job, cfg, gpu) {
        Ok(r) => {
            let total = gpu.memory_bytes as f64;
            judge(&r, total, &size(&r, total)).is_none()
        }
        Err(_) => false,
    }
}

/// Tidy granularity of a suggested max-model-len.
fn tidy(len: u32, block: u32) -> u32 {
    let g = if len >= 256 { 256 } else { block.max(1) };
    len / g * g
}

/// The largest max-model-len at which `job` starts (everything else as asked).
fn largest_len(job: &Job, cfg: &ServingConfig, gpu: &GpuSpec, cap: u32, block: u32) -> Option<u32> {
    let mut c = cfg.clone();
    let mut ok = |len: u32| {
        c.max_model_len = Some(len);
        starts(job, &c, gpu)
    };
    if !ok(1) {
        return None;
    }
    let (mut lo, mut hi) = (1u32, cap.max(1));
    if ok(hi) {
        return Some(tidy(hi, block).max(1));
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { lo = mid } else { hi = mid }
    }
    let t = tidy(lo, block);
    Some(if t == 0 { lo } else { t })
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

/// The cheapest changes that start it, in this order: a shorter max-model-len, more tensor
/// parallelism (the fewest GPUs), an fp8 KV cache, another catalog GPU (cheapest per hour).
fn fixes(
    job: &Job,
    cfg: &ServingConfig,
    gpu: &GpuSpec,
    catalog: &[GpuSpec],
    r: &Resolved<'_>,
    largest: Option<u32>,
) -> Vec<Fix> {
    let mut out = Vec::new();
    if let Some(n) = largest
        && n < r.max_model_len
        && n >= r.block.min(256)
    {
        out.push(Fix::MaxModelLen { max_model_len: n });
    }
    let heads = job.model.arch.heads.max(1);
    for tp in [2u32, 4, 8, 16] {
        if tp <= r.tp || !heads.is_multiple_of(tp) {
            continue;
        }
        let mut j = job.clone();
        j.tensor_parallel = tp;
        j.gpus = tp * r.pp;
        if starts(&j, cfg, gpu) {
            out.push(Fix::TensorParallel { tensor_parallel: tp });
            break;
        }
    }
    if r.kv_bytes > 1 {
        let mut j = job.clone();
        j.kv_cache_dtype = KvCacheDtype::Fp8;
        if starts(&j, cfg, gpu) {
            out.push(Fix::KvCacheFp8);
        }
    }
    let mut others: Vec<&GpuSpec> =
        catalog.iter().filter(|g| g.name != gpu.name && g.memory_bytes > gpu.memory_bytes).collect();
    others.sort_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour));
    if let Some(g) = others.into_iter().find(|g| starts(job, cfg, g)) {
        out.push(Fix::Gpu { gpu: g.name.clone() });
    }
    out
}

fn g2(b: f64) -> String {
    format!("{:.2}", gib(b))
}
fn g1(b: f64) -> String {
    format!("{:.1}", gib(b))
}

/// "vLLM will not start: …; it starts with …".
fn message(e: &ServingEstimate, f: Failure, job: &Job) -> String {
    let name = e.engine.display_name();
    let flags = e.engine.flags();
    let on = format!(
        "at {} {} on {} x {}",
        flags.memory_fraction.trim_start_matches("--"),
        e.gpu_memory_utilization,
        e.gpus_per_replica,
        e.gpu
    );
    let what = match f {
        Failure::MaxModelLenOverModel => {
            format!("max-model-len {} is longer than {}'s context", e.max_model_len, job.model.name)
        }
        Failure::WeightsDoNotFit => format!(
            "{} GiB of weights per GPU exceed the GPU's {} GiB",
            g2(e.weights_bytes as f64),
            g2(e.gpu_memory_bytes as f64)
        ),
        Failure::NoKvCacheMemory => format!(
            "no memory is left for the KV cache: {} GiB of weights, {} GiB of activation and {} GiB outside PyTorch exceed the {} GiB budget {on}",
            g2(e.weights_bytes as f64),
            g1(e.activation_bytes as f64),
            g2(e.non_torch_bytes as f64),
            g2(e.budget_bytes as f64),
        ),
        Failure::KvCacheBelowMaxModelLen => format!(
            "max-model-len {} needs {} GiB of KV cache per GPU, {} GiB is left after {} GiB of weights and {} GiB of activation {on}",
            e.max_model_len,
            g1(e.kv_bytes_per_request as f64),
            g1(e.kv_cache_bytes as f64),
            g2(e.weights_bytes as f64),
            g1(e.activation_bytes as f64),
        ),
        Failure::HeadroomExhausted => format!(
            "after the KV cache, {} GiB of CUDA graphs and warm-up do not fit in the {} GiB left outside the budget {on}",
            g2(e.cuda_graph_bytes as f64),
            g2(e.gpu_memory_bytes as f64 * (1.0 - e.gpu_memory_utilization)),
        ),
    };
    let fixes: Vec<String> = e
        .fixes
        .iter()
        .map(|x| match x {
            Fix::MaxModelLen { max_model_len } => format!("{} {max_model_len}", flags.max_model_len),
            Fix::TensorParallel { tensor_parallel } => format!("{} {tensor_parallel}", flags.tensor_parallel),
            Fix::KvCacheFp8 => flags.kv_fp8.to_string(),
            Fix::Gpu { gpu } => format!("on {} x {gpu}", e.gpus_per_replica),
        })
        .collect();
    let tail = if fixes.is_empty() {
        "no single change found that starts it".to_string()
    } else {
        format!("it starts with {}", fixes.join(", or "))
    };
    format!("{name} will not start: {what}; {tail}")
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
