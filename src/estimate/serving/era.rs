//! Each server's behaviour by version (its era) and its defaults: the numbers that changed
//! between releases, read from the version (docs/memory-model.md, "Serving"). Pure.

use super::ServingConfig;
use super::options::{Engine, EngineVersion};
use crate::estimate::units::GIB;

/// The newest vLLM behaviour modelled; an unknown version is judged as this one.
pub const VLLM_NEWEST: EngineVersion = EngineVersion::new(0, 19, 0);
const SGLANG_NEWEST: EngineVersion = EngineVersion::new(0, 4, 6);
const TGI_NEWEST: EngineVersion = EngineVersion::new(3, 0, 0);

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

/// The era of `engine` at version `v` on a GPU of `gpu_memory_bytes`: one rule per behaviour,
/// each with its source. SGLang and TGI have no calibration data: where their source sets no
/// number, they take vLLM's figures from before 0.17 (sampler) or 0.18 (communication).
pub(super) fn era(engine: Engine, v: EngineVersion, gpu_memory_bytes: u64) -> Era {
    let vllm = engine == Engine::Vllm;
    let vllm_from = |minor: u32| vllm && v >= EngineVersion::new(0, minor, 0);
    // vLLM V0, before 0.8 (`vllm/worker/worker.py`, `determine_num_available_blocks`).
    let v0 = vllm && !vllm_from(8);
    // vLLM V1 `EngineArgs._set_default_args` (vllm/engine/arg_utils.py), for the OpenAI server
    // on a GPU with at least 70 GiB: max_num_seqs 1024 and max_num_batched_tokens 8192; on
    // smaller GPUs 256 and 2048. SGLang `ServerArgs` splits the same way (chunked_prefill_size
    // 8192 on large GPUs, 2048 below). V0's SchedulerConfig: max_num_seqs 256, and without
    // chunked prefill max_num_batched_tokens = max(max_model_len, 2048). TGI: 256 sequences, and
    // it warms up with one prefill of max_batch_prefill_tokens (both tied to max_model_len:
    // `resolve`).
    let big = gpu_memory_bytes >= 70 * GIB;
    let sized_by_gpu = (vllm && !v0) || engine == Engine::Sglang;
    Era {
        // Sampler pass: 38 B per logit up to vLLM 0.16 and 14.5 B from 0.17 (slopes of the
        // public sweeps over vocabulary, docs/memory-model.md "Serving"). SGLang's sampler keeps
        // fp32 logits, probabilities and the sorted copy; TGI keeps logits for the last token of
        // each sequence only (server/text_generation_server/models/flash_causal_lm.py, `warmup`).
        sampler_bytes_per_logit: if vllm_from(17) { 14.5 } else { 38.0 },
        max_num_seqs: if sized_by_gpu && big { 1024 } else { 256 },
        max_num_batched_tokens: sized_by_gpu.then_some(if big { 8192 } else { 2048 }),
        // Non-torch memory vLLM logs at TP 1: 0.13 GiB up to 0.17, 0.24-0.27 GiB from 0.18; at
        // TP >= 2: 0.55 GiB (0.1x sweep) and 2.07-2.17 GiB from 0.18.
        non_torch_tp1_bytes: if vllm && !vllm_from(18) { 0.13 } else { 0.25 } * GIB as f64,
        non_torch_comm_bytes: if vllm_from(18) { 1.82 } else { 0.42 } * GIB as f64,
        graph_capture_tokens: match engine {
            // V0 `_BATCH_SIZES_TO_CAPTURE` goes up to 256 (vllm/worker/model_runner.py).
            Engine::Vllm if v0 => 256,
            // V1 CompilationConfig max_cudagraph_capture_size 512.
            Engine::Vllm => 512,
            // SGLang `ServerArgs` cuda_graph_max_bs 160.
            Engine::Sglang => 160,
            Engine::Tgi => 32,
        },
        // The hybrid KV cache manager (sliding-window layers keep their window) is V1's from
        // 0.10 (`vllm/v1/core/kv_cache_utils.py`, `SlidingWindowSpec`); SGLang's pool too.
        sliding_saves: vllm_from(10) || engine == Engine::Sglang,
        sampler_warmup_after_kv: vllm_from(17),
        // SGLang `profile_max_num_token`: its static fraction holds weights and KV only.
        activation_in_budget: engine != Engine::Sglang,
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
