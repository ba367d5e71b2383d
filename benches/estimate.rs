//! Speed goals of the engine (issue 2): one estimate under 2 µs, the cheapest-plan search under
//! 200 µs. `cargo bench --bench estimate` prints criterion's medians; the README records them.

use criterion::{Criterion, black_box, criterion_group, criterion_main};

// The allocator the binary uses (src/main.rs), so the numbers are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    // Plan searches under the default policy's time cap (`Policy::plan_search`, the one the CLI
    // and the webhook build), fewest GPUs first, over counts in steps of 8 up to 1024 (as
    // these benchmarks have always measured).
    let policy = vramgate::config::Policy::default();
    let one = policy.plan_search(vec![&a100], 8, 1024, Some(Objective::Gpus));
    c.bench_function("plan search, one GPU type", |b| b.iter(|| plan::search(black_box(&j), black_box(&one))));
    let all = policy.plan_search(cat.all().iter().collect(), 8, 1024, Some(Objective::Gpus));
    c.bench_function("plan search, whole catalog", |b| b.iter(|| plan::search(black_box(&j), black_box(&all))));
}

/// The whole review path without a socket: bytes in, bytes out, for the 4 KB Job review the
/// load benchmark sends (a denial, so it includes the advice search) and for the same job
/// made to fit (`fixtures/job-review-4k-fits.json`: Llama 2 13B, bf16-mixed, ZeRO-3, micro-batch
/// 1, 2k tokens; keys sorted, as `serde_json` wrote it; `scripts/json-decision` reads it too).
fn admission(c: &mut Criterion) {
    use vramgate::admission::{self, Endpoint};
    let settings = vramgate::config::Settings::default();
    let denied = include_bytes!("fixtures/job-review-4k.json").to_vec();
    let fits = include_bytes!("fixtures/job-review-4k-fits.json").to_vec();
    assert_eq!(
        admission::review(&settings, None, Endpoint::Validate, &fits).record.unwrap().decision.as_str(),
        "allow"
    );
    c.bench_function("parse the 4 KB review only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&denied)).unwrap())
    });
    c.bench_function("answer 4 KB review, validate, denied", |b| {
        b.iter(|| admission::review(black_box(&settings), None, Endpoint::Validate, black_box(&denied)))
    });
    c.bench_function("answer 4 KB review, validate, fits", |b| {
        b.iter(|| admission::review(black_box(&settings), None, Endpoint::Validate, black_box(&fits)))
    });
    c.bench_function("answer 4 KB review, mutate, fits", |b| {
        b.iter(|| admission::review(black_box(&settings), None, Endpoint::Mutate, black_box(&fits)))
    });

    // With a cluster inventory of three GPU types (serve --cluster): the job names no GPU
    // type, so the type is chosen from the inventory (an estimate per type), then checked
    // against it.
    use vramgate::cluster::{ClusterView, Inventory, NodeRecord};
    let node = |name: &str, product: &str| NodeRecord {
        name: name.into(),
        product: Some(product.into()),
        memory_mib: None,
        gpus: 8,
        mig: Default::default(),
        unschedulable: false,
    };
    let nodes = [
        node("a", "NVIDIA-H100-80GB-HBM3"),
        node("b", "NVIDIA-H100-80GB-HBM3"),
        node("c", "NVIDIA-A100-SXM4-80GB"),
        node("d", "NVIDIA-A100-SXM4-40GB"),
    ];
    let inventory = Inventory::build(&nodes, &settings.catalog);
    let view = ClusterView { inventory: &inventory, stale_seconds: None, max_stale_seconds: 600, objects: None };
    let with = vramgate::admission::review(&settings, Some(view), Endpoint::Validate, &fits);
    assert_eq!(with.record.unwrap().gpu, "A100-80GB", "the smallest type it fits on");
    c.bench_function("answer 4 KB review, validate, fits, GPU type from a 3-type inventory", |b| {
        b.iter(|| vramgate::admission::review(black_box(&settings), Some(view), Endpoint::Validate, black_box(&fits)))
    });
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = benches, admission
}
criterion_main!(engine);
