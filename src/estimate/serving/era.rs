//! Each server's behaviour by version (its era) and its defaults: the numbers that changed
//! between releases, read from the version (docs/memory-model.md, "Serving"). Pure.

use super::ServingConfig;
use super::options::{Engine, EngineVersion};
use crate::estimate::units::GIB;

/// The newest vLLM behaviour modelled; an unknown version is judged as this one.
pub const VLLM_NEWEST: EngineVersion = EngineVersion::new(0, 19, 0);
pub(super) const SGLANG_NEWEST: EngineVersion = EngineVersion::new(0, 4, 6);
pub(super) const TGI_NEWEST: EngineVersion = EngineVersion::new(3, 0, 0);

/// The eras of each server: the behaviour that changed between versions, read from the
/// version (docs/memory-model.md, "Serving", derives each number).
#[derive(Debug, Clone, Copy)]
pub(super) struct Era {
    /// Bytes per (sequence x vocabulary entry) of the profiled sampler pass.
    pub(super) sampler_bytes_per_logit: f64,
    /// Default `max_num_seqs`.
    pub(super) max_num_seqs: u32,
    /// Default `max_num_batched_tokens` (None: V0's `max(max_model_len, 2048)`).
    pub(super) max_num_batched_tokens: Option<u32>,
    /// Non-torch memory at TP 1 and the extra per GPU at TP >= 2.
    pub(super) non_torch_tp1_bytes: f64,
    pub(super) non_torch_comm_bytes: f64,
    /// Largest CUDA-graph capture batch.
    pub(super) graph_capture_tokens: u32,
    /// Sliding-window layers cache only their window (vLLM's hybrid KV cache manager).
    pub(super) sliding_saves: bool,
    /// The sampler warm-up after the KV cache allocates fp32 logits outside the budget.
    pub(super) sampler_warmup_after_kv: bool,
    /// The KV cache is the budget minus everything profiled (vLLM); SGLang's static fraction
    /// holds only weights and KV.
    pub(super) activation_in_budget: bool,
}

pub(super) fn era(engine: Engine, v: EngineVersion, gpu_memory_bytes: u64) -> Era {
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
pub(super) fn default_fraction(engine: Engine, tp: u32) -> f64 {
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

pub(super) fn version_of(cfg: &ServingConfig) -> (EngineVersion, bool) {
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
