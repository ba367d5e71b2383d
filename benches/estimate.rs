//! Speed goals of the engine (issue 2): one estimate under 2 µs, the cheapest-plan search under
//! 200 µs. `cargo bench --bench estimate` prints criterion's medians; the README records them.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use vramgate::estimate::presets::find_preset;
use vramgate::estimate::*;

fn job() -> Job {
    let p = find_preset("llama-2-13b").unwrap();
    let mut j = Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()));
    j.precision = Precision::Fp32;
    j.gpus = 8;
    j.training_tokens = Some(2e12);
    j
}

fn benches(c: &mut Criterion) {
    let cat = GpuCatalog::builtin();
    let a100 = cat.find("A100-80GB").unwrap().clone();
    let j = job();
    c.bench_function("estimate llama-2-13b on 8 x A100", |b| b.iter(|| estimate(black_box(&j), black_box(&a100))));
    c.bench_function("per-GPU memory only", |b| b.iter(|| memory::per_gpu(black_box(&j))));
    let one = PlanSearch {
        gpus: vec![&a100],
        gpu_step: 8,
        max_gpus: 4096,
        change_strategy: true,
        change_checkpointing: true,
    };
    c.bench_function("cheapest plan, one GPU type", |b| b.iter(|| cheapest_plan(black_box(&j), black_box(&one))));
    let all = PlanSearch {
        gpus: cat.all().iter().collect(),
        gpu_step: 8,
        max_gpus: 4096,
        change_strategy: true,
        change_checkpointing: true,
    };
    c.bench_function("cheapest plan, whole catalog", |b| b.iter(|| cheapest_plan(black_box(&j), black_box(&all))));
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(engine);
