//! `vramgate estimate --workload serving`: will an inference server start, and how many tokens
//! its KV cache holds (issue 15). Prints the serving terms only, no training fields.

use super::Output;
use super::estimate_table::{write_model_line, write_per_gpu_table};
use crate::estimate::serving::{Quantization, ServingConfig, ServingReport, serving_report};
use crate::estimate::units::GIB;
use crate::estimate::*;
use std::io::Write;

pub(super) fn run(
    job: &Job,
    cfg: &ServingConfig,
    gpus: Option<u32>,
    gpu: &GpuSpec,
    catalog: &GpuCatalog,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let r = match serving_report(job, cfg, gpus, gpu, catalog.all()) {
        Ok(r) => r,
        Err(InvalidJob(problems)) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        Output::Table => write_table(&r, job, out)?,
    }
    Ok(if r.serving.starts() { 0 } else { 1 })
}

/// The served dtype: fp32 when asked, fp16 for the fp16 precisions, else bf16.
fn dtype(job: &Job) -> &'static str {
    match job.precision {
        Precision::Fp32 => "fp32",
        Precision::Fp16True | Precision::Fp16Mixed => "fp16",
        _ => "bf16",
    }
}

fn gib(b: u64) -> f64 {
    b as f64 / GIB as f64
}

fn write_table(r: &ServingReport, job: &Job, out: &mut dyn Write) -> std::io::Result<()> {
    let s = &r.serving;
    write_model_line(out, &r.model, r.params, r.coarse)?;
    writeln!(
        out,
        "serving    {} {}{}, {} weights, KV cache {} B/element, tensor-parallel {} x pipeline-parallel {} on {} x {} ({} replica{})",
        s.engine.display_name(),
        s.engine_version,
        if s.engine_version_assumed { " (assumed)" } else { "" },
        if s.quantization == Quantization::None { dtype(job) } else { s.quantization.as_str() },
        s.kv_cache_dtype_bytes,
        s.tensor_parallel,
        s.pipeline_parallel,
        r.gpus,
        r.gpu,
        r.replicas,
        if r.replicas == 1 { "" } else { "s" }
    )?;
    writeln!(
        out,
        "settings   max-model-len {}, gpu-memory-utilization {}, max-num-seqs {}, max-num-batched-tokens {}, block-size {}, dtype {}",
        s.max_model_len,
        s.gpu_memory_utilization,
        s.max_num_seqs,
        s.max_num_batched_tokens,
        s.block_size,
        dtype(job)
    )?;
    write_per_gpu_table(
        out,
        &[
            ("GPU memory", s.gpu_memory_bytes),
            ("budget", s.budget_bytes),
            ("weights", s.weights_bytes),
            ("activation peak", s.activation_bytes),
            ("non-torch", s.non_torch_bytes),
            ("KV cache", s.kv_cache_bytes),
            ("CUDA graphs (outside)", s.cuda_graph_bytes),
        ],
    )?;
    writeln!(
        out,
        "KV cache   {} tokens ({} B per token), {:.2}x concurrency at {} tokens ({:.2} GiB per request)",
        s.kv_cache_tokens,
        s.kv_bytes_per_token,
        s.max_concurrency,
        s.max_model_len,
        gib(s.kv_bytes_per_request)
    )?;
    match s.max_model_len_that_starts {
        Some(n) => writeln!(out, "longest    max-model-len {n} starts")?,
        None => writeln!(out, "longest    no max-model-len starts")?,
    }
    match &s.message {
        None => writeln!(out, "decision   starts (${:.2} per hour for {} x {})", r.usd_per_hour, r.gpus, r.gpu)?,
        Some(m) => writeln!(
            out,
            "decision   will not start ({})\n           {m}",
            s.failure.map(|f| f.as_str()).unwrap_or_default()
        )?,
    }
    for n in &s.notes {
        writeln!(out, "note       {n}")?;
    }
    Ok(())
}
