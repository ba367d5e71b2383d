//! The serving engine against 32 vLLM start-up memory breakdowns on an H100 80GB from two
//! public sweeps (tests/fixtures/calibration/vllm-startup-memory.jsonl, copied from
//! shared/calibration with its sources). Every row goes through the annotation contract
//! (`request::parse_fields`) and `serving_report`, as `vramgate estimate --workload serving`
//! and the webhook do; the table it prints is the accuracy table in README.md and
//! docs/memory-model.md ("Serving").
//!
//! Pass criteria (issue 15): median absolute error of the weights <= 2% and of the KV cache
//! <= 5% over the rows that log them; every start/no-start decision as logged, except the one
//! known miss named below.

use serde_json::Value;
use std::collections::BTreeMap;
use vramgate::estimate::serving::{ServingReport, serving_report};
use vramgate::estimate::*;
use vramgate::request::parse_fields;

const DATA: &str = include_str!("fixtures/calibration/vllm-startup-memory.jsonl");
const GIB: f64 = (1u64 << 30) as f64;

/// The row whose failure the engine does not model: gpt-oss-20b on vLLM 0.19 at utilisation
/// 0.95 ran out of memory in the sampler warm-up after the KV cache was allocated (~786 MiB
/// asked, < 552 MiB free); the engine counts the warm-up's fp32 logits and the CUDA graphs
/// against the headroom but not what else the MXFP4 kernels hold there.
const KNOWN_MISS: (&str, &str) = ("openai/gpt-oss-20b", "0.19.0");

/// The sweep's flags as annotation fields.
fn fields(row: &Value) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put("workload", "serving".into());
    put("engine", "vllm".into());
    put("model", row["model"].as_str().unwrap().into());
    put("gpu", "H100-80GB".into());
    put("tensor-parallel", row["tp"].to_string());
    put("pipeline-parallel", row["pp"].to_string());
    let precision = match row["dtype"].as_str().unwrap() {
        "bfloat16" => "bf16",
        "float16" => "fp16",
        "float32" => "fp32",
        other => panic!("dtype {other}"),
    };
    put("precision", precision.into());
    if let Some(q) = row["quantization"].as_str() {
        // "fp8 (runtime --quantization fp8)", "compressed-tensors (FP8 dynamic)", "mxfp4".
        let q = if q.contains("fp8") || q.contains("FP8") { "fp8" } else { q };
        put("weight-quantization", q.into());
    }
    put("kv-cache-dtype", row["kv_cache_dtype"].as_str().unwrap().into());
    put("max-model-len", row["max_model_len"].to_string());
    put("gpu-memory-utilization", row["gpu_memory_utilization"].to_string());
    if let Some(n) = row["max_num_batched_tokens"].as_u64() {
        put("max-num-batched-tokens", n.to_string());
    }
    put("block-size", row["block_size"].to_string());
    // The second sweep does not log its version; its source dates the log format to 0.11-0.13.
    let version = row["vllm_version"].as_str().unwrap_or("0.13.0");
    put("engine-version", version.into());
    f
}

fn report(row: &Value) -> ServingReport {
    let req = parse_fields(&fields(row)).unwrap_or_else(|p| panic!("{}: {p:?}", row["model"]));
    let catalog = GpuCatalog::builtin();
    let gpu = catalog.find("H100-80GB").unwrap();
    serving_report(&req.job, req.serving.as_ref().unwrap(), None, gpu, catalog.all()).unwrap()
}

fn err(pred: f64, logged: f64) -> f64 {
    (pred - logged) / logged
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn cell(pred: f64, logged: Option<f64>) -> String {
    match logged {
        Some(l) => format!("{:>6.2}/{:<6.2} {:>+6.1}%", pred, l, 100.0 * err(pred, l)),
        None => format!("{pred:>6.2}/{:<6} {:>7}", "-", ""),
    }
}

#[test]
fn serving_engine_matches_vllm_startup_logs() {
    let rows: Vec<Value> = DATA.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 32);
    let (mut w_err, mut kv_err, mut act_err, mut nt_err) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut decisions_ok = 0;
    let mut misses = Vec::new();
    println!(
        "{:<44} {:>2} {:>2} {:<7} {:>5} {:<6} | {:<22} | {:<22} | {:<22} | {:<22} | logged / predicted start",
        "model", "tp", "pp", "vllm", "len", "quant", "weights GiB pred/log", "activation", "non-torch", "KV cache"
    );
    for row in &rows {
        let r = report(row);
        let s = &r.serving;
        let g = |k: &str| row[k].as_f64();
        let w = s.weights_bytes as f64 / GIB;
        let act = s.activation_bytes as f64 / GIB;
        let nt = s.non_torch_bytes as f64 / GIB;
        let kv = s.kv_cache_available_bytes as f64 / GIB;
        if let Some(l) = g("weights_gib") {
            w_err.push(err(w, l).abs());
        }
        if let Some(l) = g("activation_peak_gib") {
            act_err.push(err(act, l).abs());
        }
        if let Some(l) = g("non_torch_gib") {
            nt_err.push(err(nt, l).abs());
        }
        // The KV median is over caches that were allocated (a negative log is a failure).
        if let Some(l) = g("kv_cache_gib").filter(|l| *l > 0.0) {
            kv_err.push(err(kv, l).abs());
        }
        let logged_start = row["error"].is_null();
        let version = row["vllm_version"].as_str().unwrap_or("0.1x");
        if logged_start == s.starts() {
            decisions_ok += 1;
        } else {
            misses.push((row["model"].as_str().unwrap().to_string(), version.to_string()));
        }
        println!(
            "{:<44} {:>2} {:>2} {:<7} {:>5} {:<6} | {} | {} | {} | {} | {} / {}",
            row["model"].as_str().unwrap(),
            row["tp"],
            row["pp"],
            version,
            row["max_model_len"],
            s.quantization.as_str(),
            cell(w, g("weights_gib")),
            cell(act, g("activation_peak_gib")),
            cell(nt, g("non_torch_gib")),
            cell(kv, g("kv_cache_gib")),
            if logged_start { "starts" } else { "fails" },
            s.failure.map_or("starts", |f| f.as_str()),
        );
    }
    let (mw, mk, ma, mn) =
        (median(w_err.clone()), median(kv_err.clone()), median(act_err.clone()), median(nt_err.clone()));
    println!(
        "median |error|: weights {:.2}% ({} rows), KV cache {:.2}% ({} rows), activation {:.1}% ({} rows), non-torch {:.1}% ({} rows); decisions {}/{} as logged; misses {misses:?}",
        100.0 * mw,
        w_err.len(),
        100.0 * mk,
        kv_err.len(),
        100.0 * ma,
        act_err.len(),
        100.0 * mn,
        nt_err.len(),
        decisions_ok,
        rows.len()
    );
    assert!(mw <= 0.02, "weights median {mw}");
    assert!(mk <= 0.05, "KV cache median {mk}");
    assert!(
        misses.iter().all(|(m, v)| (m.as_str(), v.as_str()) == KNOWN_MISS),
        "decisions other than the known miss differ: {misses:?}"
    );
}

#[test]
fn logged_failures_get_their_reason() {
    let rows: Vec<Value> = DATA.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reason = |model: &str, len: u64| {
        let row =
            rows.iter().find(|r| r["model"] == model && r["max_model_len"] == len && !r["error"].is_null()).unwrap();
        report(row).serving.failure.map(|f| f.as_str())
    };
    // "No available memory for the cache blocks": 67.7 GiB of FP8 weights on one GPU at 0.9.
    assert_eq!(reason("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", 16000), Some("no-kv-cache-memory"));
    // 32000 tokens of Qwen3-32B KV (7.8 GiB) do not fit the ~4.4 GiB left.
    assert_eq!(reason("Qwen/Qwen3-32B", 32000), Some("kv-cache-below-max-model-len"));
}
