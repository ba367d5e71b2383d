//! `vramgate catalog`: the GPU catalog and the model presets.

use super::Output;
use crate::estimate::units::Gib;
use crate::estimate::*;
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(serde::Serialize)]
struct CatalogJson<'a> {
    gpus: &'a [GpuSpec],
    models: Vec<ModelJson>,
}

#[derive(serde::Serialize)]
struct ModelJson {
    name: &'static str,
    hf_ids: &'static [&'static str],
    params: u64,
    architecture: Architecture,
    source: &'static str,
}

pub(super) fn run(a: CatalogArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let catalog = GpuCatalog::builtin();
    let models: Vec<ModelJson> = presets::presets()
        .iter()
        .map(|p| ModelJson {
            name: p.name,
            hf_ids: p.hf_ids,
            params: p.arch.param_count(),
            architecture: p.arch.clone(),
            source: p.source,
        })
        .collect();
    match a.output {
        Output::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&CatalogJson { gpus: catalog.all(), models })?)?
        }
        Output::Table => {
            writeln!(
                out,
                "{:<12} {:>10} {:>13} {:>13} {:>9}  price source",
                "GPU", "memory", "bf16 TFLOPS", "fp16 TFLOPS", "$/hour"
            )?;
            for g in catalog.all() {
                // A GPU without bf16 says so rather than showing 0 (V100, T4).
                let bf16 = if g.bf16_supported {
                    format!("{:.0}", g.dense_bf16_flops / 1e12)
                } else {
                    "not supported".to_string()
                };
                writeln!(
                    out,
                    "{:<12} {:>10} {:>13} {:>13.0} {:>9.2}  {} ({})",
                    g.name,
                    Gib(g.memory_bytes).to_string(),
                    bf16,
                    g.dense_fp16_flops / 1e12,
                    g.usd_per_hour,
                    g.price_source,
                    g.price_date
                )?;
            }
            writeln!(out)?;
            writeln!(out, "{:<16} {:>8}  Hugging Face ids", "model", "params")?;
            for m in &models {
                writeln!(out, "{:<16} {:>7.2}B  {}", m.name, m.params as f64 / 1e9, m.hf_ids.join(", "))?;
            }
        }
    }
    Ok(0)
}
