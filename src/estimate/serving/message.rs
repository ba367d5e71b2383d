//! The failure in words: "vLLM will not start: ...; it starts with ...", naming the server's own
//! flags. Pure.

use super::{Failure, Fix, ServingEstimate};
use crate::estimate::job::Job;
use crate::estimate::units::GIB;

fn gib(b: f64) -> f64 {
    b / GIB as f64
}

fn g2(b: f64) -> String {
    format!("{:.2}", gib(b))
}
fn g1(b: f64) -> String {
    format!("{:.1}", gib(b))
}

/// "vLLM will not start: …; it starts with …".
pub(super) fn message(e: &ServingEstimate, f: Failure, job: &Job) -> String {
    let name = e.engine.display_name();
    let flags = e.engine.flags();
    let on = format!(
        "at {} {} on {} x {}",
        flags.memory_fraction.trim_start_matches("--"),
        e.gpu_memory_utilization,
        e.gpus_per_replica,
        e.gpu
    );
    // The terms several failures name, each at the one precision every message gives it.
    let weights = g2(e.weights_bytes as f64);
    let activation = g1(e.activation_bytes as f64);
    let what = match f {
        Failure::MaxModelLenOverModel => {
            format!("max-model-len {} is longer than {}'s context", e.max_model_len, job.model.name)
        }
        Failure::WeightsDoNotFit => {
            format!("{weights} GiB of weights per GPU exceed the GPU's {} GiB", g2(e.gpu_memory_bytes as f64))
        }
        Failure::NoKvCacheMemory => format!(
            "no memory is left for the KV cache: {weights} GiB of weights, {activation} GiB of activation and {} GiB outside PyTorch exceed the {} GiB budget {on}",
            g2(e.non_torch_bytes as f64),
            g2(e.budget_bytes as f64),
        ),
        Failure::KvCacheBelowMaxModelLen => format!(
            "max-model-len {} needs {} GiB of KV cache per GPU, {} GiB is left after {weights} GiB of weights and {activation} GiB of activation {on}",
            e.max_model_len,
            g1(e.kv_bytes_per_request as f64),
            g1(e.kv_cache_bytes as f64),
        ),
        Failure::HeadroomExhausted => format!(
            "after the KV cache, {} GiB of CUDA graphs and warm-up do not fit in the {} GiB left outside the budget {on}",
            g2(e.cuda_graph_bytes as f64),
            g2(e.gpu_memory_bytes as f64 * (1.0 - e.gpu_memory_utilization)),
        ),
    };
    let fixes: Vec<String> = e
        .fixes
        .iter()
        .map(|x| match x {
            Fix::MaxModelLen { max_model_len } => format!("{} {max_model_len}", flags.max_model_len),
            Fix::TensorParallel { tensor_parallel } => format!("{} {tensor_parallel}", flags.tensor_parallel),
            Fix::KvCacheFp8 => flags.kv_fp8.to_string(),
            Fix::Gpu { gpu } => format!("on {} x {gpu}", e.gpus_per_replica),
        })
        .collect();
    let tail = if fixes.is_empty() {
        "no single change found that starts it".to_string()
    } else {
        format!("it starts with {}", fixes.join(", or "))
    };
    format!("{name} will not start: {what}; {tail}")
}
