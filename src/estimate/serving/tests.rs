use super::*;
use crate::estimate::catalog::GpuCatalog;
use crate::estimate::job::Model;
use crate::estimate::options::{KvCacheDtype, Precision};
use crate::estimate::presets::{KvLayout, find_preset};

fn job(model: &str, tp: u32) -> Job {
    let p = find_preset(model).unwrap_or_else(|| panic!("no preset {model}"));
    let mut j = Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()));
    j.precision = Precision::Bf16True;
    j.tensor_parallel = tp;
    j.gpus = tp;
    j
}

fn gpu(name: &str) -> GpuSpec {
    GpuCatalog::builtin().find(name).unwrap().clone()
}

fn vllm(version: &str, len: u32, util: f64) -> ServingConfig {
    ServingConfig {
        engine_version: Some(version.parse().unwrap()),
        max_model_len: Some(len),
        gpu_memory_utilization: Some(util),
        ..ServingConfig::default()
    }
}

fn run(j: &Job, cfg: &ServingConfig, g: &GpuSpec) -> ServingEstimate {
    estimate_serving(j, cfg, g, GpuCatalog::builtin().all()).unwrap()
}

#[test]
fn weights_are_parameters_times_dtype_plus_the_rotary_cache() {
    // Llama 3.1 8B: 8,030,261,248 parameters x 2 bytes, plus the cos/sin cache of
    // 131072 positions x head_dim 128 x 2 bytes.
    let e = run(&job("llama-3.1-8b", 1), &vllm("0.19.0", 8192, 0.95), &gpu("H100-80GB"));
    assert_eq!(e.weights_bytes, 8_030_261_248 * 2 + 131_072 * 128 * 2);
    // TP 2 halves everything but the rotary cache and the norms (65 x 4096, replicated).
    let e2 = run(&job("llama-3.1-8b", 2), &vllm("0.19.0", 8192, 0.95), &gpu("H100-80GB"));
    let norms = 65 * 4096;
    assert_eq!(e2.weights_bytes, (8_030_261_248 - norms) + norms * 2 + 131_072 * 128 * 2);
}

#[test]
fn fp8_converts_the_decoder_linears_and_keeps_embeddings_16_bit() {
    let mut cfg = vllm("0.19.0", 8192, 0.95);
    cfg.quantization = Some(Quantization::Fp8);
    let j = job("llama-3.1-8b", 1);
    let e = run(&j, &cfg, &gpu("H100-80GB"));
    let a = &j.model.arch;
    let linear = a.decoder_linear_params();
    let embed_head = 2 * 128_256 * 4096;
    let norms = a.param_count() - linear - embed_head;
    let want = linear + (embed_head + norms) * 2 + 131_072 * 128 * 2;
    assert!(e.weights_bytes.abs_diff(want) <= 1, "{} vs {want}", e.weights_bytes);
}

#[test]
fn the_kv_cache_gets_exactly_what_the_budget_leaves() {
    let g = gpu("H100-80GB");
    let e = run(&job("qwen2.5-7b", 1), &vllm("0.19.0", 8192, 0.95), &g);
    let rest = e.weights_bytes + e.activation_bytes + e.non_torch_bytes + e.kv_cache_bytes;
    assert!(rest.abs_diff(e.budget_bytes) <= 4, "{rest} vs {}", e.budget_bytes);
    assert_eq!(e.budget_bytes, (g.memory_bytes as f64 * 0.95) as u64);
    // Qwen2.5 7B: 28 layers x K and V x 4 KV heads x 128 x 2 bytes per token; tokens are whole
    // blocks of 16.
    assert_eq!(e.kv_bytes_per_token, 28 * 2 * 4 * 128 * 2);
    assert_eq!(e.kv_cache_tokens % 16, 0);
    assert_eq!(e.kv_cache_tokens, e.kv_cache_bytes / (16 * e.kv_bytes_per_token) * 16);
}

#[test]
fn an_fp8_kv_cache_holds_twice_the_tokens() {
    let g = gpu("H100-80GB");
    let j = job("qwen2.5-7b", 1);
    let e = run(&j, &vllm("0.19.0", 8192, 0.95), &g);
    let mut j8 = j.clone();
    j8.kv_cache_dtype = KvCacheDtype::Fp8;
    let e8 = run(&j8, &vllm("0.19.0", 8192, 0.95), &g);
    assert_eq!(e8.kv_bytes_per_token * 2, e.kv_bytes_per_token);
    assert!(e8.kv_cache_tokens.abs_diff(2 * e.kv_cache_tokens) <= 32);
}

#[test]
fn mla_caches_one_latent_that_tp_does_not_split() {
    let g = gpu("H100-80GB");
    let cfg = vllm("0.19.0", 8192, 0.95);
    let e1 = run(&job("deepseek-v2-lite", 1), &cfg, &g);
    let e2 = run(&job("deepseek-v2-lite", 2), &cfg, &g);
    // 27 layers x (kv_lora_rank 512 + rope 64) x 2 bytes, the same on every rank.
    assert_eq!(e1.kv_bytes_per_token, 27 * 576 * 2);
    assert_eq!(e2.kv_bytes_per_token, e1.kv_bytes_per_token);
}

#[test]
fn kv_heads_are_replicated_when_tp_exceeds_them() {
    // Qwen2.5 7B has 4 KV heads: TP 4 gives each GPU one, TP 28... is not a divisor; TP 2 two.
    let g = gpu("H100-80GB");
    let cfg = vllm("0.19.0", 8192, 0.95);
    let e4 = run(&job("qwen2.5-7b", 4), &cfg, &g);
    assert_eq!(e4.kv_bytes_per_token, 28 * 2 * 128 * 2);
    // Llama 3.1 8B (8 KV heads) at TP 16: one head each, not half of one.
    let e16 = run(&job("llama-3.1-8b", 16), &cfg, &g);
    assert_eq!(e16.kv_bytes_per_token, 32 * 2 * 128 * 2);
}

#[test]
fn sliding_window_layers_cache_only_their_window_from_the_hybrid_manager_on() {
    let g = gpu("H100-80GB");
    let j = job("gemma-2-9b", 1);
    let new = run(&j, &vllm("0.19.0", 8192, 0.95), &g);
    let old = run(&j, &vllm("0.9.0", 8192, 0.95), &g);
    // At 8192 tokens half of Gemma 2's layers keep min(4096 - 1 + 8192, 8192) tokens = all 8192:
    // no saving; at a window smaller than the request (gpt-oss, 128) the saving shows.
    assert!(new.kv_bytes_per_request <= old.kv_bytes_per_request + 21 * 2 * 8 * 256 * 2 * 16);
    let o = job("gpt-oss-20b", 1);
    let full = run(&o, &vllm("0.9.0", 65_536, 0.9), &g);
    let hybrid = run(&o, &vllm("0.19.0", 65_536, 0.9), &g);
    // 12 of 24 layers keep 128 - 1 + 8192 tokens instead of 65,536.
    let per_layer_token = 2 * 8 * 64 * 2;
    assert_eq!(full.kv_bytes_per_request, 24 * 65_536 * per_layer_token);
    assert_eq!(
        hybrid.kv_bytes_per_request,
        12 * 65_536 * per_layer_token + 12 * ((8319u64.div_ceil(16) + 1) * 16) * per_layer_token
    );
}

#[test]
fn a_request_longer_than_the_cache_will_not_start_and_the_fixes_start() {
    // Qwen3-32B on one H100 at utilisation 0.9 (vLLM 0.1x): the public sweep's failure at
    // max-model-len 32000 (it started at 16000).
    let g = gpu("H100-80GB");
    let j = job("qwen3-32b", 1);
    let e = run(&j, &vllm("0.13.0", 32_000, 0.9), &g);
    assert_eq!(e.failure, Some(Failure::KvCacheBelowMaxModelLen));
    let largest = e.max_model_len_that_starts.unwrap();
    assert!((16_000..32_000).contains(&largest), "{largest}");
    assert!(e.fixes.contains(&Fix::MaxModelLen { max_model_len: largest }));
    // The largest length starts; one tidy step more does not.
    assert!(run(&j, &vllm("0.13.0", largest, 0.9), &g).starts());
    assert!(!run(&j, &vllm("0.13.0", largest + 256, 0.9), &g).starts());
    // Every fix named starts.
    for f in &e.fixes {
        let (mut j2, mut c2, mut g2) = (j.clone(), vllm("0.13.0", 32_000, 0.9), g.clone());
        match f {
            Fix::MaxModelLen { max_model_len } => c2.max_model_len = Some(*max_model_len),
            Fix::TensorParallel { tensor_parallel } => j2.tensor_parallel = *tensor_parallel,
            Fix::KvCacheFp8 => j2.kv_cache_dtype = KvCacheDtype::Fp8,
            Fix::Gpu { gpu: name } => g2 = gpu(name),
        }
        assert!(run(&j2, &c2, &g2).starts(), "{f:?}");
    }
    let m = e.message.unwrap();
    assert!(m.starts_with("vLLM will not start: max-model-len 32000 needs"), "{m}");
    assert!(m.contains(&format!("--max-model-len {largest}")), "{m}");
    assert!(m.contains("--tensor-parallel-size 2"), "{m}");
    assert!(m.contains("--kv-cache-dtype fp8"), "{m}");
}

#[test]
fn weights_over_the_budget_leave_no_cache() {
    // Llama 3.3 70B FP8 on one H100 at 0.9: 67.7 GiB of weights (the sweep's failure).
    let mut cfg = vllm("0.13.0", 16_000, 0.9);
    cfg.quantization = Some(Quantization::Fp8);
    let e = run(&job("llama-3.3-70b", 1), &cfg, &gpu("H100-80GB"));
    assert_eq!(e.failure, Some(Failure::NoKvCacheMemory));
    assert_eq!(e.kv_cache_bytes, 0);
    assert!(e.kv_cache_available_bytes < 0);
    assert!(e.message.unwrap().contains("no memory is left for the KV cache"));
}

#[test]
fn the_default_max_model_len_is_the_models_context_and_longer_is_refused() {
    let g = gpu("H100-80GB");
    let j = job("llama-2-7b", 1);
    let e = run(&j, &ServingConfig::default(), &g);
    assert_eq!(e.max_model_len, 4096);
    assert!(e.engine_version_assumed);
    let over = run(&j, &vllm("0.19.0", 8192, 0.9), &g);
    assert_eq!(over.failure, Some(Failure::MaxModelLenOverModel));
}

#[test]
fn bad_settings_are_problems_naming_the_key() {
    let g = gpu("H100-80GB");
    let mut j = job("llama-3.1-8b", 3);
    j.gpus = 3;
    let err = estimate_serving(&j, &ServingConfig::default(), &g, &[]).unwrap_err();
    assert!(err.0.iter().any(|p| p.field == "tensor-parallel" && p.message.contains("32")), "{err}");
    let custom = Job::new(Model::from_arch("custom", ModelSource::Architecture, j.model.arch.clone()));
    let err = estimate_serving(&custom, &ServingConfig::default(), &g, &[]).unwrap_err();
    assert!(err.0.iter().any(|p| p.field == "max-model-len"), "{err}");
}

#[test]
fn replicas_multiply_cost_not_memory() {
    let g = gpu("H100-80GB");
    let j = job("llama-3.1-8b", 2);
    let one = serving_report(&j, &vllm("0.19.0", 8192, 0.9), None, &g, &[]).unwrap();
    let three = serving_report(&j, &vllm("0.19.0", 8192, 0.9), Some(6), &g, &[]).unwrap();
    assert_eq!((one.gpus, three.gpus, three.replicas), (2, 6, 3));
    assert_eq!(one.serving, three.serving);
    assert!((three.usd_per_hour - 3.0 * one.usd_per_hour).abs() < 1e-9);
    assert!(serving_report(&j, &vllm("0.19.0", 8192, 0.9), Some(3), &g, &[]).is_err());
}

#[test]
fn sglang_keeps_activations_outside_its_static_fraction() {
    let g = gpu("H100-80GB");
    let j = job("llama-3.1-8b", 1);
    let cfg = ServingConfig { engine: Engine::Sglang, max_model_len: Some(8192), ..ServingConfig::default() };
    let e = run(&j, &cfg, &g);
    // mem_fraction_static 0.88 at TP 1; the pool is the fraction minus weights and non-torch.
    assert_eq!(e.gpu_memory_utilization, 0.88);
    let want = e.budget_bytes - e.weights_bytes - e.non_torch_bytes;
    assert!(e.kv_cache_bytes.abs_diff(want) <= 4);
}

#[test]
fn a_config_json_gives_an_unknown_models_context_window_and_format() {
    let gemma2 = serde_json::json!({
        "max_position_embeddings": 8192, "sliding_window": 4096,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    });
    let f = facts_from_hf_config(&gemma2);
    assert_eq!(f.max_context, 8192);
    assert_eq!(f.kv, KvLayout::Sliding { window: 4096, sliding: 2, full: 2 });
    let qwen =
        serde_json::json!({"max_position_embeddings": 32768, "sliding_window": 131072, "use_sliding_window": false});
    assert_eq!(facts_from_hf_config(&qwen).kv, KvLayout::Full);
    let ds = serde_json::json!({"max_position_embeddings": 163840, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
        "quantization_config": {"quant_method": "fp8"}});
    let f = facts_from_hf_config(&ds);
    assert_eq!((f.kv, f.checkpoint), (KvLayout::Mla { kv_lora_rank: 512, rope_dim: 64 }, Quantization::Fp8));
    let vl = serde_json::json!({"vision_config": {}, "text_config": {"max_position_embeddings": 128000}});
    let f = facts_from_hf_config(&vl);
    assert!(f.multimodal && f.max_context == 128_000);
}
