//! The fix search: the largest max-model-len that starts and the cheapest single changes that
//! start a deployment that would not. Each probe re-runs the whole start-up model. Pure.

use super::budget::{judge, size};
use super::resolve::{Resolved, resolve};
use super::{Fix, ServingConfig};
use crate::estimate::gpu::GpuSpec;
use crate::estimate::job::Job;
use crate::estimate::options::KvCacheDtype;

/// The largest max-model-len the search considers (vLLM's own cap on a user value is the
/// model's context; this bounds the search for models without one).
pub(super) const MAX_LEN_SEARCH: u32 = 1 << 24;

/// Whether `job` with `cfg` starts on `gpu` (a cheap probe for the fix search).
fn starts(job: &Job, cfg: &ServingConfig, gpu: &GpuSpec) -> bool {
    match resolve(job, cfg, gpu) {
        Ok(r) => {
            let total = gpu.memory_bytes as f64;
            judge(&r, total, &size(&r, total)).is_none()
        }
        Err(_) => false,
    }
}

/// Tidy granularity of a suggested max-model-len.
fn tidy(len: u32, block: u32) -> u32 {
    let g = if len >= 256 { 256 } else { block.max(1) };
    len / g * g
}

/// The largest max-model-len at which `job` starts (everything else as asked).
pub(super) fn largest_len(job: &Job, cfg: &ServingConfig, gpu: &GpuSpec, cap: u32, block: u32) -> Option<u32> {
    let mut c = cfg.clone();
    let mut ok = |len: u32| {
        c.max_model_len = Some(len);
        starts(job, &c, gpu)
    };
    if !ok(1) {
        return None;
    }
    let (mut lo, mut hi) = (1u32, cap.max(1));
    if ok(hi) {
        return Some(tidy(hi, block).max(1));
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { lo = mid } else { hi = mid }
    }
    let t = tidy(lo, block);
    Some(if t == 0 { lo } else { t })
}

/// The cheapest changes that start it, in this order: a shorter max-model-len, more tensor
/// parallelism (the fewest GPUs), an fp8 KV cache, another catalog GPU (cheapest per hour).
pub(super) fn fixes(
    job: &Job,
    cfg: &ServingConfig,
    gpu: &GpuSpec,
    catalog: &[GpuSpec],
    r: &Resolved<'_>,
    largest: Option<u32>,
) -> Vec<Fix> {
    let mut out = Vec::new();
    if let Some(n) = largest
        && n < r.max_model_len
        && n >= r.block.min(256)
    {
        out.push(Fix::MaxModelLen { max_model_len: n });
    }
    let heads = job.model.arch.heads.max(1);
    for tp in [2u32, 4, 8, 16] {
        if tp <= r.tp || !heads.is_multiple_of(tp) {
            continue;
        }
        let mut j = job.clone();
        j.tensor_parallel = tp;
        j.gpus = tp * r.pp;
        if starts(&j, cfg, gpu) {
            out.push(Fix::TensorParallel { tensor_parallel: tp });
            break;
        }
    }
    if r.kv_bytes > 1 {
        let mut j = job.clone();
        j.kv_cache_dtype = KvCacheDtype::Fp8;
        if starts(&j, cfg, gpu) {
            out.push(Fix::KvCacheFp8);
        }
    }
    let mut others: Vec<&GpuSpec> =
        catalog.iter().filter(|g| g.name != gpu.name && g.memory_bytes > gpu.memory_bytes).collect();
    others.sort_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour));
    if let Some(g) = others.into_iter().find(|g| starts(job, cfg, g)) {
        out.push(Fix::Gpu { gpu: g.name.clone() });
    }
    out
}
