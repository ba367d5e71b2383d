//! A deployment's settings validated (every problem at once) and resolved against the engine's
//! era and defaults, and its pipeline stages. Pure.

use super::ServingConfig;
use super::era::{Era, default_fraction, era, version_of};
use super::facts::facts_of;
use super::options::{Engine, EngineVersion, Quantization};
use crate::estimate::gpu::GpuSpec;
use crate::estimate::job::Job;
use crate::estimate::options::{KvCacheDtype, Precision};
use crate::estimate::presets::ServingFacts;
use crate::estimate::{InvalidJob, Problem};

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

/// Per-GPU terms of one pipeline stage.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stage {
    pub(super) layers: u32,
    pub(super) first: bool,
    pub(super) last: bool,
}

/// Everything the estimate needs, resolved once.
pub(super) struct Resolved<'a> {
    pub(super) job: &'a Job,
    pub(super) cfg: &'a ServingConfig,
    pub(super) facts: ServingFacts,
    pub(super) version: EngineVersion,
    pub(super) era: Era,
    pub(super) tp: u32,
    pub(super) pp: u32,
    pub(super) dtype: u64,
    pub(super) kv_bytes: u64,
    pub(super) quant: Quantization,
    pub(super) fraction: f64,
    pub(super) max_model_len: u32,
    pub(super) max_num_seqs: u32,
    pub(super) max_num_batched_tokens: u32,
    pub(super) block: u32,
}

pub(super) fn stages(layers: u32, pp: u32) -> Vec<Stage> {
    let ls = stage_layers(layers, pp);
    let n = ls.len();
    ls.into_iter().enumerate().map(|(s, l)| Stage { layers: l, first: s == 0, last: s + 1 == n }).collect()
}

/// Validates and resolves the settings; every problem at once.
pub(super) fn resolve<'a>(job: &'a Job, cfg: &'a ServingConfig, gpu: &GpuSpec) -> Result<Resolved<'a>, InvalidJob> {
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
