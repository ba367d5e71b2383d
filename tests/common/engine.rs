//! Jobs and GPUs of the engine's tests: the built-in catalog's GPUs and the presets' models.

use vramgate::estimate::presets::find_preset;
use vramgate::estimate::{GpuCatalog, GpuSpec, Job, Model, ModelSource, Precision};

/// The built-in catalog's GPU `name`.
pub fn gpu(name: &str) -> GpuSpec {
    GpuCatalog::builtin().find(name).unwrap().clone()
}

/// A job with every default (one GPU, bf16-mixed, DDP) training the preset `name`.
pub fn preset_job(name: &str) -> Job {
    let p = find_preset(name).unwrap();
    Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()))
}

/// The README's example: Llama 2 13B, fp32, DDP, 8 x A100, 2T tokens.
pub fn readme_job() -> Job {
    let mut job = preset_job("llama-2-13b");
    job.precision = Precision::Fp32;
    job.gpus = 8;
    job.training_tokens = Some(2e12);
    job
}
