//! `vramgate estimate`: per-GPU memory, GPU count, compute and cost of one job.

use super::Output;
use crate::estimate::units::Gib;
use crate::estimate::*;
use crate::request;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;

/// Every flag is named like its `vramgate.io/` annotation key and accepts the same values.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Preset name or Hugging Face id (`vramgate catalog` lists them), e.g. llama-2-7b.
    #[arg(long)]
    pub model: Option<String>,
    /// Parameter count only ("7B", "350M", "6.74e9"); the estimate is coarse.
    #[arg(long)]
    pub parameters: Option<String>,
    /// layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000[,head-dim=,tied=,mlp=,experts=,experts-per-token=]
    #[arg(long)]
    pub architecture: Option<String>,
    /// Path to a Hugging Face config.json.
    #[arg(long, value_name = "FILE")]
    pub hf_config: Option<std::path::PathBuf>,
    /// training | inference
    #[arg(long)]
    pub workload: Option<String>,
    /// fp32 (32-true), bf16-mixed, fp16-mixed, bf16-true, fp16-true, fp8-mixed
    #[arg(long)]
    pub precision: Option<String>,
    /// adamw, adamw-fused, adam, sgd, sgd-momentum, adafactor, adamw-8bit, lion
    #[arg(long)]
    pub optimizer: Option<String>,
    /// full, lora, qlora
    #[arg(long)]
    pub fine_tuning: Option<String>,
    #[arg(long)]
    pub lora_rank: Option<String>,
    /// attention, all-linear, or q_proj,k_proj,...
    #[arg(long)]
    pub lora_targets: Option<String>,
    /// Sequences per GPU per step (training) or concurrent sequences (inference).
    #[arg(long)]
    pub micro_batch_size: Option<String>,
    /// Tokens per sequence (training) or context length (inference).
    #[arg(long)]
    pub sequence_length: Option<String>,
    /// true | false
    #[arg(long)]
    pub activation_checkpointing: Option<String>,
    /// sdpa | eager
    #[arg(long)]
    pub attention: Option<String>,
    /// ddp, zero1, zero2, zero3, fsdp, fsdp-shard-grad-op, fsdp-hybrid
    #[arg(long)]
    pub strategy: Option<String>,
    /// GPUs per full copy of the model states with fsdp-hybrid.
    #[arg(long)]
    pub hybrid_shard_group: Option<String>,
    #[arg(long)]
    pub tensor_parallel: Option<String>,
    #[arg(long)]
    pub pipeline_parallel: Option<String>,
    /// none, optimizer, optimizer-and-parameters
    #[arg(long)]
    pub offload: Option<String>,
    /// auto, fp32, bf16, fp16, fp8, int8
    #[arg(long)]
    pub kv_cache_dtype: Option<String>,
    /// none, int8, int4, nf4
    #[arg(long)]
    pub weight_quantization: Option<String>,
    /// Tokens of the whole run ("2T").
    #[arg(long)]
    pub training_tokens: Option<String>,
    /// Assumed model FLOPs utilisation (default 0.40).
    #[arg(long)]
    pub mfu: Option<String>,
    /// Catalog GPU name (default H100-80GB).
    #[arg(long)]
    pub gpu: Option<String>,
    /// GPUs the job spreads over (default 1).
    #[arg(long)]
    pub gpus: Option<String>,
    // ---- serving (issue 15): with --workload serving; named like the annotation keys ----
    /// vllm | sglang | tgi (with --workload serving; default vllm).
    #[arg(long)]
    pub engine: Option<String>,
    /// The server's version, e.g. 0.6.4 (its image tag); default: the newest modelled.
    #[arg(long)]
    pub engine_version: Option<String>,
    /// Context length the server allows (vLLM --max-model-len); default: the model's.
    #[arg(long)]
    pub max_model_len: Option<String>,
    /// Share of GPU memory the server may use, in (0, 1] (vLLM default 0.9).
    #[arg(long)]
    pub gpu_memory_utilization: Option<String>,
    /// Sequences batched at once (vLLM --max-num-seqs).
    #[arg(long)]
    pub max_num_seqs: Option<String>,
    /// Tokens per scheduler step (vLLM --max-num-batched-tokens).
    #[arg(long)]
    pub max_num_batched_tokens: Option<String>,
    /// No CUDA graphs (vLLM --enforce-eager); `--enforce-eager` alone means true.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub enforce_eager: Option<String>,
    /// KV cache block in tokens (vLLM --block-size; default 16).
    #[arg(long)]
    pub block_size: Option<String>,
    /// YAML or JSON file extending or overriding the GPU catalog: `gpus: [{name, memory_bytes,
    /// dense_bf16_flops, dense_fp16_flops, dense_fp32_flops, bf16_supported, usd_per_hour, ...}]`.
    /// An entry named like a built-in GPU overrides only the fields it gives (e.g. `{name:
    /// H100-80GB, usd_per_hour: 6.88}`), as in the config file's `gpus`.
    #[arg(long, value_name = "FILE")]
    pub gpu_catalog: Option<std::path::PathBuf>,
    /// GPU types the cheapest-plan search may use: the job's GPU (default), or "all".
    #[arg(long, default_value = "job")]
    pub plan_gpus: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

fn fields(a: &EstimateArgs) -> anyhow::Result<BTreeMap<String, String>> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.insert(k.to_string(), v.clone());
        }
    };
    put("model", &a.model);
    put("parameters", &a.parameters);
    put("architecture", &a.architecture);
    put("workload", &a.workload);
    put("precision", &a.precision);
    put("optimizer", &a.optimizer);
    put("fine-tuning", &a.fine_tuning);
    put("lora-rank", &a.lora_rank);
    put("lora-targets", &a.lora_targets);
    put("micro-batch-size", &a.micro_batch_size);
    put("sequence-length", &a.sequence_length);
    put("activation-checkpointing", &a.activation_checkpointing);
    put("attention", &a.attention);
    put("strategy", &a.strategy);
    put("hybrid-shard-group", &a.hybrid_shard_group);
    put("tensor-parallel", &a.tensor_parallel);
    put("pipeline-parallel", &a.pipeline_parallel);
    put("offload", &a.offload);
    put("kv-cache-dtype", &a.kv_cache_dtype);
    put("weight-quantization", &a.weight_quantization);
    put("training-tokens", &a.training_tokens);
    put("mfu", &a.mfu);
    put("gpu", &a.gpu);
    put("gpus", &a.gpus);
    // serving (issue 15)
    put("engine", &a.engine);
    put("engine-version", &a.engine_version);
    put("max-model-len", &a.max_model_len);
    put("gpu-memory-utilization", &a.gpu_memory_utilization);
    put("max-num-seqs", &a.max_num_seqs);
    put("max-num-batched-tokens", &a.max_num_batched_tokens);
    put("enforce-eager", &a.enforce_eager);
    put("block-size", &a.block_size);
    if let Some(p) = &a.hf_config {
        let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("--hf-config {}: {e}", p.display()))?;
        f.insert("hf-config".to_string(), text);
    }
    Ok(f)
}

/// The `--gpu-catalog` file's shape: the config file's `gpus` list alone.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    gpus: Vec<crate::config::GpuEntry>,
}

/// The built-in catalog merged with `path`'s entries, by the config file's rules
/// ([`crate::config::catalog_with`]).
pub fn load_catalog(path: Option<&std::path::Path>) -> anyhow::Result<GpuCatalog> {
    let Some(p) = path else { return Ok(GpuCatalog::builtin()) };
    let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("--gpu-catalog {}: {e}", p.display()))?;
    let file: CatalogFile =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow::anyhow!("--gpu-catalog {}: {e}", p.display()))?;
    crate::config::catalog_with(&file.gpus).map_err(|errs| {
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("--gpu-catalog {}: {}", p.display(), all.join("; "))
    })
}

pub(super) fn run(a: EstimateArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let catalog = match load_catalog(a.gpu_catalog.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let f = match fields(&a) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let req = match request::parse_fields(&f) {
        Ok(r) => r,
        Err(problems) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    let gpu_name = req.gpu.clone().unwrap_or_else(|| crate::config::DEFAULT_GPU.to_string());
    let Some(gpu) = catalog.find(&gpu_name) else {
        eprintln!("error: --gpu: unknown GPU '{gpu_name}'; closest: {}", catalog.suggest(&gpu_name).join(", "));
        return Ok(2);
    };
    let mut job = req.job;
    if let Some(cfg) = &req.serving {
        return super::estimate_serving::run(&job, cfg, req.gpus, gpu, &catalog, a.output, out);
    }
    job.gpus = req.gpus.unwrap_or(1);
    let gpus: Vec<&GpuSpec> = match a.plan_gpus.as_str() {
        "job" => vec![gpu],
        "all" => catalog.all().iter().collect(),
        other => {
            let mut v = Vec::new();
            for n in other.split(',') {
                match catalog.find(n) {
                    Some(g) => v.push(g),
                    None => {
                        eprintln!(
                            "error: --plan-gpus: unknown GPU '{n}'; accepted: job, all, or a comma list of catalog names"
                        );
                        return Ok(2);
                    }
                }
            }
            v
        }
    };
    let search = PlanSearch { gpus, gpu_step: 1, max_gpus: 4096, change_strategy: true, change_checkpointing: true };
    let r = match report(&job, gpu, &search) {
        Ok(r) => r,
        Err(InvalidJob(problems)) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    match a.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        Output::Table => write_table(&r, &job, out)?,
    }
    Ok(if r.estimate.decision == Fit::DoesNotFit { 1 } else { 0 })
}

fn write_table(r: &Report, job: &Job, out: &mut dyn Write) -> std::io::Result<()> {
    let e = &r.estimate;
    let m = &e.per_gpu;
    writeln!(
        out,
        "model      {} ({:.2}B parameters{})",
        e.model,
        e.params as f64 / 1e9,
        if e.coarse { ", coarse" } else { "" }
    )?;
    writeln!(
        out,
        "job        {} {} {}, micro-batch {} x {} tokens, checkpointing {}, {} on {} x {}",
        e.workload,
        job.precision,
        if e.workload == WorkloadKind::Training { job.optimizer.as_str() } else { "" },
        job.micro_batch_size,
        job.sequence_length,
        if job.activation_checkpointing { "on" } else { "off" },
        e.strategy,
        e.gpus,
        e.gpu
    )?;
    writeln!(out)?;
    writeln!(out, "per GPU                        bytes          GiB")?;
    let rows = [
        ("weights", m.weights_bytes),
        ("gradients", m.gradients_bytes),
        ("optimizer states", m.optimizer_states_bytes),
        ("optimizer temporaries", m.optimizer_temporaries_bytes),
        ("activations", m.activations_bytes),
        ("logits and loss", m.logits_bytes),
        ("KV cache", m.kv_cache_bytes),
        ("buffers", m.buffers_bytes),
        ("tensors peak", m.tensors_peak_bytes),
        ("framework overhead", m.framework_overhead_bytes),
        ("total", m.total_bytes),
    ];
    for (name, b) in rows {
        writeln!(out, "  {name:<24} {b:>15} {:>10.2}", b as f64 / (1u64 << 30) as f64)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "decision   {} ({} of {} on {})",
        e.decision.as_str(),
        Gib(m.total_bytes),
        Gib(e.gpu_memory_bytes),
        e.gpu
    )?;
    match e.min_gpus {
        Some(n) => writeln!(out, "min GPUs   {n} with {}", e.strategy)?,
        None => writeln!(out, "min GPUs   none: {} does not fit {} at any GPU count", e.strategy, e.gpu)?,
    }
    if let (Some(f), Some(h), Some(c)) = (e.flops, e.gpu_hours, e.cost_usd) {
        writeln!(out, "compute    {f:.3e} FLOPs, {h:.0} GPU-hours at {:.0}% MFU, ${c:.0}", e.mfu * 100.0)?;
    }
    if let Some(p) = &r.cheapest_plan {
        writeln!(
            out,
            "fits with  {} x {} using {}{} ({} per GPU{})",
            p.gpus,
            p.gpu,
            p.strategy,
            if p.activation_checkpointing && !job.activation_checkpointing {
                " and activation checkpointing"
            } else {
                ""
            },
            Gib(p.per_gpu_total_bytes),
            p.cost_usd.map(|c| format!(", ${c:.0}")).unwrap_or_default()
        )?;
    } else if e.decision != Fit::Fits {
        writeln!(out, "fits with  nothing found within 4096 GPUs")?;
    }
    for n in &e.notes {
        writeln!(out, "note       {n}")?;
    }
    Ok(())
}
