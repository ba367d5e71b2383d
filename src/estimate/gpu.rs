//! One GPU model's facts: memory, dense tensor-core throughput, and a default hourly price.
//!
//! The built-in list lives in `catalog_table.rs`; a config file can extend or override it, so
//! this is plain owned data that (de)serialises.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Canonical name, e.g. `H100-80GB`.
    pub name: String,
    /// Other names users write (`h100`, `H100-SXM`); matched case-insensitively.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// GPU Feature Discovery `nvidia.com/gpu.product` label values of this GPU.
    #[serde(default)]
    pub gfd_products: Vec<String>,
    /// Device memory as the driver reports it (`nvidia-smi` total), in bytes.
    pub memory_bytes: u64,
    /// Dense (no sparsity) bf16 tensor-core FLOP/s; 0 where bf16 is unsupported.
    pub dense_bf16_flops: f64,
    /// Dense fp16 tensor-core FLOP/s.
    pub dense_fp16_flops: f64,
    /// Dense fp8 tensor-core FLOP/s; 0 where fp8 is unsupported.
    #[serde(default)]
    pub dense_fp8_flops: f64,
    /// Dense fp32 (non-tensor-core) FLOP/s.
    pub dense_fp32_flops: f64,
    pub bf16_supported: bool,
    #[serde(default)]
    pub fp8_supported: bool,
    /// Default on-demand price of one GPU for one hour, in US dollars.
    pub usd_per_hour: f64,
    /// Where the price comes from (provider, instance type).
    #[serde(default)]
    pub price_source: String,
    /// When the price was read, `YYYY-MM`.
    #[serde(default)]
    pub price_date: String,
    /// Where the memory and FLOP/s figures come from (vendor datasheet).
    #[serde(default)]
    pub spec_source: String,
}
