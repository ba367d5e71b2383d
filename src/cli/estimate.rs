//! `vramgate estimate`: per-GPU memory, GPU count, compute and cost of one job.

use super::Output;
use super::estimate_table::{write_model_line, write_per_gpu_table};
use crate::estimate::units::Gib;
use crate::estimate::*;
use crate::request;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;

/// What `vramgate estimate --help` prints after the flags: the model rule, exit codes and
/// examples.
pub const AFTER_HELP: &str = "\
The model: give exactly one of the four model flags, --model (a preset or Hugging Face id),
--hf-config (the model's config.json), --architecture (its shape) or --parameters (a count
only; coarse). Every other flag is optional and named like its vramgate.io/ annotation, which
accepts the same values.

Exit codes:
  0  fits (or within the estimate's uncertainty: decision warn)
  1  does not fit (a plan that fits is printed when one exists)
  2  unusable input: every problem is printed, naming the flag, the value and what is accepted

Examples:
  vramgate estimate --model llama-3.1-8b --fine-tuning lora --gpu L4
  vramgate estimate --model llama-2-13b --precision fp32 --gpu A100-80GB --gpus 8 --training-tokens 20B
  vramgate estimate --model llama-3.1-70b --workload inference --sequence-length 8k --gpus 4 --objective gpus
  vramgate estimate --hf-config ./config.json --micro-batch-size 4 --plan-gpus all --output json
  vramgate estimate --architecture layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=128256";

/// Every flag is named like its `vramgate.io/` annotation key and accepts the same values.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Preset name or Hugging Face id (`vramgate catalog` lists them), e.g. llama-2-7b.
    #[arg(long, help_heading = "Model (exactly one of the four)")]
    pub model: Option<String>,
    /// Parameter count only ("7B", "350M", "6.74e9"); the estimate is coarse (a Llama shape is
    /// assumed).
    #[arg(long, help_heading = "Model (exactly one of the four)")]
    pub parameters: Option<String>,
    /// layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000[,head-dim=,tied=,mlp=,norm=,bias=,positions=,experts=,experts-per-token=]
    #[arg(long, help_heading = "Model (exactly one of the four)")]
    pub architecture: Option<String>,
    /// Path to a Hugging Face config.json: any decoder, read from the standard fields.
    #[arg(long, value_name = "FILE", help_heading = "Model (exactly one of the four)")]
    pub hf_config: Option<std::path::PathBuf>,
    /// training | inference [default: training]
    #[arg(long)]
    pub workload: Option<String>,
    /// fp32 (32-true), bf16-mixed, fp16-mixed, bf16-true, fp16-true, fp8-mixed [default:
    /// bf16-mixed]. With LoRA, -mixed keeps fp32 base weights and -true 16-bit ones; QLoRA's
    /// memory does not depend on it (it sets the compute dtype).
    #[arg(long)]
    pub precision: Option<String>,
    /// adamw, adamw-fused, adam, sgd, sgd-momentum, adafactor, adamw-8bit, lion [default: adamw]
    #[arg(long)]
    pub optimizer: Option<String>,
    /// full, lora, qlora [default: full]
    #[arg(long)]
    pub fine_tuning: Option<String>,
    /// LoRA rank, 1 to 65536 [default: 16]
    #[arg(long)]
    pub lora_rank: Option<String>,
    /// attention, all-linear, or q_proj,k_proj,... [default: attention]
    #[arg(long)]
    pub lora_targets: Option<String>,
    /// Sequences per GPU per step (training) or concurrent sequences (inference) [default: 1]
    #[arg(long)]
    pub micro_batch_size: Option<String>,
    /// Tokens per sequence (training) or context length (inference); 4k = 4096, 128k = 131072
    /// (k = 1024) [default: 2048]
    #[arg(long)]
    pub sequence_length: Option<String>,
    /// true | false [default: false]
    #[arg(long)]
    pub activation_checkpointing: Option<String>,
    /// sdpa | eager [default: sdpa]
    #[arg(long)]
    pub attention: Option<String>,
    /// ddp, zero1, zero2, zero3, fsdp, fsdp-shard-grad-op, fsdp-hybrid [default: ddp]
    #[arg(long)]
    pub strategy: Option<String>,
    /// GPUs per full copy of the model states with fsdp-hybrid.
    #[arg(long)]
    pub hybrid_shard_group: Option<String>,
    /// Tensor-parallel degree, 1 to 1024 (GPUs of one model replica for inference) [default: 1]
    #[arg(long)]
    pub tensor_parallel: Option<String>,
    /// Pipeline-parallel degree, 1 to 1024 [default: 1]
    #[arg(long)]
    pub pipeline_parallel: Option<String>,
    /// none, optimizer, optimizer-and-parameters [default: none]
    #[arg(long)]
    pub offload: Option<String>,
    /// auto, fp32, bf16, fp16, fp8, int8 [default: auto]
    #[arg(long)]
    pub kv_cache_dtype: Option<String>,
    /// none, int8, int4, nf4 [default: none]
    #[arg(long)]
    pub weight_quantization: Option<String>,
    /// Tokens of the whole run ("2T"); without it there is no time or cost.
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
    /// DDP gradient_as_bucket_view: true | false (default false: DDP's buckets hold a second
    /// copy of every gradient).
    #[arg(long)]
    pub gradient_as_bucket_view: Option<String>,
    /// DeepSpeed ZeRO reduce_bucket_size in elements (default 5e8).
    #[arg(long)]
    pub zero_reduce_bucket_elements: Option<String>,
    /// DeepSpeed ZeRO-3 stage3_prefetch_bucket_size in elements (default 5e7).
    #[arg(long)]
    pub zero3_prefetch_bucket_elements: Option<String>,
    /// DeepSpeed ZeRO-3 stage3_max_live_parameters (default 1e9).
    #[arg(long)]
    pub zero3_max_live_parameters: Option<String>,
    /// FSDP layers all-gathered ahead of the one computing, 0 to 8 (default 1).
    #[arg(long)]
    pub fsdp_prefetch_layers: Option<String>,
    /// What the plan minimises when the job does not fit: gpus (fewest GPUs), cost (lowest
    /// estimated cost; the price per hour without --training-tokens) or time (shortest
    /// wall-clock at the GPUs asked for). Default cost, as the webhook's built-in policy.
    #[arg(long)]
    pub objective: Option<String>,
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
    /// GPU types the plan search may use: the job's GPU (default), "all", or a comma list of
    /// catalog names.
    #[arg(long, default_value = "job")]
    pub plan_gpus: String,
    /// Longest wall-clock time a plan may run, in hours (the config's policy.max_plan_hours).
    #[arg(long, value_name = "HOURS", default_value_t = crate::estimate::plan::DEFAULT_MAX_PLAN_HOURS)]
    pub max_plan_hours: f64,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Show every memory term with its formula, bytes per parameter and source (with
    /// `--output json`: a `terms` list of objects).
    #[arg(long)]
    pub explain: bool,
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
    put("gradient-as-bucket-view", &a.gradient_as_bucket_view);
    put("zero-reduce-bucket-elements", &a.zero_reduce_bucket_elements);
    put("zero3-prefetch-bucket-elements", &a.zero3_prefetch_bucket_elements);
    put("zero3-max-live-parameters", &a.zero3_max_live_parameters);
    put("fsdp-prefetch-layers", &a.fsdp_prefetch_layers);
    put("objective", &a.objective);
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
    // The webhook's built-in policy: the same objective default, GPU-count limit and time cap.
    let policy = crate::config::Policy::default();
    if !(a.max_plan_hours.is_finite() && a.max_plan_hours > 0.0) {
        eprintln!(
            "error: --max-plan-hours: {} is not accepted; accepted: hours > 0, e.g. 2160 (90 days)",
            a.max_plan_hours
        );
        return Ok(2);
    }
    let policy = crate::config::Policy { max_plan_hours: a.max_plan_hours, ..policy };
    let search = policy.plan_search(gpus, 1, crate::config::DEFAULT_MAX_GPUS, req.objective);
    let r = match report(&job, gpu, &search) {
        Ok(mut r) => {
            if a.explain {
                r.estimate.terms = memory::breakdown(&job).terms;
            }
            r
        }
        Err(InvalidJob(problems)) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    match a.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        Output::Table => write_table(&r, &job, &search, out)?,
    }
    Ok(if r.estimate.decision == Fit::DoesNotFit { 1 } else { 0 })
}

fn write_table(r: &Report, job: &Job, search: &PlanSearch<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let e = &r.estimate;
    let m = &e.per_gpu;
    write_model_line(out, &e.model, e.params, e.coarse)?;
    if e.workload == WorkloadKind::Training {
        writeln!(
            out,
            "job        {} {} {}, micro-batch {} x {} tokens, checkpointing {}, {} on {} x {}",
            e.workload,
            job.precision,
            job.optimizer.as_str(),
            job.micro_batch_size,
            job.sequence_length,
            if job.activation_checkpointing { "on" } else { "off" },
            e.strategy,
            e.gpus,
            e.gpu
        )?;
    } else {
        writeln!(
            out,
            "job        {} {}, weights {}, {} sequences x {} tokens, tensor-parallel {} on {} x {}",
            e.workload,
            job.precision,
            job.weight_quantization,
            job.micro_batch_size,
            job.sequence_length,
            job.tensor_parallel,
            e.gpus,
            e.gpu
        )?;
    }
    write_per_gpu_table(
        out,
        &[
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
        ],
    )?;
    writeln!(
        out,
        "decision   {} ({} of {} on {})",
        e.decision.as_str(),
        Gib(m.total_bytes),
        Gib(e.gpu_memory_bytes),
        e.gpu
    )?;
    let with = if e.workload == WorkloadKind::Training { format!(" with {}", e.strategy) } else { String::new() };
    match e.min_gpus {
        Some(n) => writeln!(out, "min GPUs   {n}{with}")?,
        None => writeln!(out, "min GPUs   none: does not fit {} at any GPU count{with}", e.gpu)?,
    }
    if let (Some(f), Some(h), Some(c)) = (e.flops, e.gpu_hours, e.cost_usd) {
        writeln!(out, "compute    {f:.3e} FLOPs, {h:.0} GPU-hours at {:.0}% MFU, ${c:.0}", e.mfu * 100.0)?;
    }
    if let Some(w) = e.wall_hours {
        writeln!(out, "time       {} on {} GPUs", plan::hours_text(w), e.gpus)?;
    }
    if let Some(p) = &r.plan {
        let mut changes: Vec<String> = p.changes.iter().map(|(k, v)| format!("--{k} {v}")).collect();
        if let Some(a) = p.gradient_accumulation_steps {
            changes.push(format!("gradient accumulation x{a} (same sequences per GPU per optimizer step)"));
        }
        writeln!(
            out,
            "fits with  {} x {}{}{} ({} per GPU{}{}; objective {})",
            p.gpus,
            p.gpu,
            if changes.is_empty() { "" } else { " using " },
            changes.join(", "),
            Gib(p.per_gpu_total_bytes),
            p.wall_hours.map(|h| format!(", {}", plan::hours_text(h))).unwrap_or_default(),
            p.cost_usd.map(|c| format!(", ${c:.0}")).unwrap_or_else(|| format!(", ${:.2}/h", p.usd_per_hour)),
            p.objective
        )?;
    } else if e.decision != Fit::Fits {
        let limits = format!("{} GPUs and {}", search.counts.max_gpus, plan::hours_text(search.max_plan_hours));
        match plan::over_time_limit(job, search) {
            Some((p, shortest)) => writeln!(
                out,
                "fits with  nothing within {limits}: the plan that fits ({} per GPU) needs {:.0} GPU-hours, {} even on {} GPUs",
                Gib(p.per_gpu_total_bytes),
                p.gpu_hours.unwrap_or(0.0),
                plan::hours_text(shortest),
                search.counts.max_gpus
            )?,
            None => writeln!(out, "fits with  nothing found within {limits}")?,
        }
    }
    for n in &e.notes {
        writeln!(out, "note       {n}")?;
    }
    if !e.terms.is_empty() {
        write_terms(&e.terms, out)?;
    }
    Ok(())
}

/// `--explain`: each term, its bytes and bytes per parameter, formula and source.
fn write_terms(terms: &[Term], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "explain    term                             GiB   B/param")?;
    for t in terms {
        writeln!(
            out,
            "  {:<34} {:>9.2} {:>9.3}{}",
            t.name,
            t.bytes as f64 / (1u64 << 30) as f64,
            t.bytes_per_parameter,
            if t.uncertain { "  UNCERTAIN (cannot by itself deny)" } else { "" }
        )?;
        writeln!(out, "      = {}", t.formula)?;
        writeln!(out, "      source: {}", t.source)?;
    }
    Ok(())
}
