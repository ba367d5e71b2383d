//! `gpus:`: the GPU catalog's overrides and additions, shared with `vramgate estimate --gpu-catalog`.

use super::ConfigError;
use crate::estimate::catalog::GpuCatalog;
use crate::estimate::gpu::GpuSpec;
use serde::{Deserialize, Serialize};

/// A GPU catalog entry as written: every field but `name` optional, so overriding a built-in
/// GPU's price takes one line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuEntry {
    pub name: String,
    pub aliases: Option<Vec<String>>,
    pub gfd_products: Option<Vec<String>>,
    pub memory_bytes: Option<u64>,
    pub dense_bf16_flops: Option<f64>,
    pub dense_fp16_flops: Option<f64>,
    pub dense_fp8_flops: Option<f64>,
    pub dense_fp32_flops: Option<f64>,
    pub bf16_supported: Option<bool>,
    pub fp8_supported: Option<bool>,
    pub usd_per_hour: Option<f64>,
    pub price_source: Option<String>,
    pub price_date: Option<String>,
    pub spec_source: Option<String>,
}

impl GpuEntry {
    /// The entry laid over `base` (a built-in GPU), or, without one, a new GPU whose required
    /// facts must all be given. Errors name the missing fields.
    fn resolve(&self, base: Option<&GpuSpec>) -> Result<GpuSpec, Vec<&'static str>> {
        let mut missing = Vec::new();
        let mut need = |field: &'static str, present: bool| {
            if base.is_none() && !present {
                missing.push(field);
            }
        };
        need("memory_bytes", self.memory_bytes.is_some());
        need("dense_bf16_flops", self.dense_bf16_flops.is_some());
        need("dense_fp16_flops", self.dense_fp16_flops.is_some());
        need("dense_fp32_flops", self.dense_fp32_flops.is_some());
        need("bf16_supported", self.bf16_supported.is_some());
        need("usd_per_hour", self.usd_per_hour.is_some());
        if !missing.is_empty() {
            return Err(missing);
        }
        let b = base.cloned().unwrap_or_else(|| GpuSpec {
            name: self.name.clone(),
            aliases: Vec::new(),
            gfd_products: Vec::new(),
            memory_bytes: 0,
            dense_bf16_flops: 0.0,
            dense_fp16_flops: 0.0,
            dense_fp8_flops: 0.0,
            dense_fp32_flops: 0.0,
            bf16_supported: false,
            fp8_supported: false,
            usd_per_hour: 0.0,
            price_source: String::new(),
            price_date: String::new(),
            spec_source: String::new(),
        });
        Ok(GpuSpec {
            name: b.name,
            aliases: self.aliases.clone().unwrap_or(b.aliases),
            gfd_products: self.gfd_products.clone().unwrap_or(b.gfd_products),
            memory_bytes: self.memory_bytes.unwrap_or(b.memory_bytes),
            dense_bf16_flops: self.dense_bf16_flops.unwrap_or(b.dense_bf16_flops),
            dense_fp16_flops: self.dense_fp16_flops.unwrap_or(b.dense_fp16_flops),
            dense_fp8_flops: self.dense_fp8_flops.unwrap_or(b.dense_fp8_flops),
            dense_fp32_flops: self.dense_fp32_flops.unwrap_or(b.dense_fp32_flops),
            bf16_supported: self.bf16_supported.unwrap_or(b.bf16_supported),
            fp8_supported: self.fp8_supported.unwrap_or(b.fp8_supported),
            usd_per_hour: self.usd_per_hour.unwrap_or(b.usd_per_hour),
            // A new price without its own source must not keep the old price's source.
            price_source: self.price_source.clone().unwrap_or_else(|| {
                if self.usd_per_hour.is_some() { "config file".to_string() } else { b.price_source }
            }),
            price_date: self
                .price_date
                .clone()
                .unwrap_or_else(|| if self.usd_per_hour.is_some() { String::new() } else { b.price_date }),
            spec_source: self.spec_source.clone().unwrap_or(b.spec_source),
        })
    }
}

/// The built-in catalog with config-file `entries` laid over it (see [`GpuEntry`]); shared by
/// the config file's `gpus` and `vramgate estimate --gpu-catalog`.
///
/// # Errors
/// Every problem of every entry, with its path (`gpus[2].usd_per_hour`).
pub fn catalog_with(entries: &[GpuEntry]) -> Result<GpuCatalog, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let mut err = |path: String, message: String| errs.push(ConfigError { path, message });
    let mut catalog = GpuCatalog::builtin();
    let mut specs = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.name.trim().is_empty() {
            err(format!("gpus[{i}].name"), "must not be empty".into());
            continue;
        }
        let g = match entry.resolve(catalog.find(&entry.name)) {
            Ok(g) => g,
            Err(missing) => {
                for m in missing {
                    err(
                        format!("gpus[{i}].{m}"),
                        format!("is required: '{}' is not a built-in GPU, so every fact must be given", entry.name),
                    );
                }
                continue;
            }
        };
        if g.memory_bytes == 0 {
            err(format!("gpus[{i}].memory_bytes"), "must be more than 0".into());
        }
        if !(g.usd_per_hour.is_finite() && g.usd_per_hour >= 0.0) {
            err(
                format!("gpus[{i}].usd_per_hour"),
                format!("{} is not accepted; accepted: dollars >= 0", g.usd_per_hour),
            );
        }
        for (field, v) in [
            ("dense_bf16_flops", g.dense_bf16_flops),
            ("dense_fp16_flops", g.dense_fp16_flops),
            ("dense_fp8_flops", g.dense_fp8_flops),
            ("dense_fp32_flops", g.dense_fp32_flops),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                err(format!("gpus[{i}].{field}"), format!("{v} is not accepted; accepted: FLOP/s >= 0"));
            }
        }
        specs.push(g);
    }
    catalog.merge(specs);
    if errs.is_empty() { Ok(catalog) } else { Err(errs) }
}
