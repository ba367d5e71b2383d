//! Training compute, time and cost.
//!
//! FLOPs = 6·N·D for a forward and backward pass over D tokens with N parameters (Kaplan et al.
//! 2020, section 2.1; Hoffmann et al. 2022), 8·N·D when every layer's forward is recomputed
//! (Korthikanti et al. 2022, section 5), with N the parameters a token is routed through for
//! MoE. LoRA and QLoRA skip the frozen weights' gradient matmuls: 4·N·D (6·N·D recomputed).

use super::gpu::GpuSpec;
use super::job::Job;
use super::options::{FineTuningKind, Precision, WorkloadKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    /// Total training FLOPs.
    pub flops: f64,
    /// Dense peak FLOP/s of one GPU at the job's precision.
    pub peak_flops_per_gpu: f64,
    /// GPU-hours at the assumed MFU.
    pub gpu_hours: f64,
    /// Wall-clock hours on the job's GPU count.
    pub wall_hours: f64,
    /// GPU-hours times the GPU's hourly price.
    pub cost_usd: f64,
}

/// FLOPs per parameter per token.
pub fn flops_per_param_token(job: &Job) -> f64 {
    let base = match job.fine_tuning.kind {
        FineTuningKind::Full => 6.0,
        FineTuningKind::Lora | FineTuningKind::Qlora => 4.0,
    };
    if job.activation_checkpointing { base + 2.0 } else { base }
}

/// Peak dense FLOP/s of `gpu` for the precision the matmuls run in.
pub fn peak_flops(gpu: &GpuSpec, precision: Precision) -> f64 {
    match precision {
        Precision::Fp32 => gpu.dense_fp32_flops,
        Precision::Bf16Mixed | Precision::Bf16True => gpu.dense_bf16_flops,
        Precision::Fp16Mixed | Precision::Fp16True => gpu.dense_fp16_flops,
        Precision::Fp8Mixed => {
            if gpu.dense_fp8_flops > 0.0 {
                gpu.dense_fp8_flops
            } else {
                gpu.dense_bf16_flops
            }
        }
    }
}

/// Compute, time and cost of the whole run; `None` for inference or without a token count.
pub fn compute(job: &Job, gpu: &GpuSpec) -> Option<Compute> {
    if job.workload != WorkloadKind::Training {
        return None;
    }
    let tokens = job.training_tokens?;
    let n = job.model.active_params() as f64;
    let flops = flops_per_param_token(job) * n * tokens;
    let peak = peak_flops(gpu, job.precision);
    let mfu = job.mfu;
    if !(peak > 0.0 && mfu > 0.0) {
        return None;
    }
    let gpu_hours = flops / (peak * mfu) / 3600.0;
    let gpus = job.gpus.max(1) as f64;
    Some(Compute {
        flops,
        peak_flops_per_gpu: peak,
        gpu_hours,
        wall_hours: gpu_hours / gpus,
        cost_usd: (gpu_hours * gpu.usd_per_hour).max(0.0),
    })
}
