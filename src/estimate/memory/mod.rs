//! Per-GPU memory of one job: every tensor class PyTorch keeps on the device, its peak, and
//! what the CUDA context and the caching allocator add on top.
//!
//! The model counts the tensors that autograd saves for backward in the Hugging Face
//! implementations (what `torch.cuda.max_memory_allocated()` sees), following the accounting of
//! Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
//! (section 4), adapted to SwiGLU, RMSNorm, SDPA kernels and PyTorch autocast. docs/memory-model.md
//! derives every term and shows it against the H100 calibration measurements. The peak of live
//! tensors is the largest of three moments of a step:
//! 1. the start of backward (all saved activations, the logits and loss gradients),
//! 2. the end of backward (all gradients),
//! 3. the optimizer step (gradients, states and the step's temporaries).

mod activations;
mod inference;
mod states;
mod training;

use super::explain::{Term, Terms, gib, sat};
use super::job::Job;
use super::options::*;
use activations::{Kernel, activation_bytes, kernel};
use serde::{Deserialize, Serialize};

/// CUDA context with cuBLAS loaded, outside PyTorch's allocator: 718,077,952 bytes measured on
/// an H100 with CUDA 13 and PyTorch 2.11 (shared/calibration/README.md).
pub const CUDA_CONTEXT_BYTES: u64 = 718_077_952;

/// cuBLAS and cuBLASLt workspaces that PyTorch allocates through its caching allocator
/// (`CUBLAS_WORKSPACE_CONFIG` default on Hopper, 32 MiB each): seen as the fixed 64 MiB of the
/// smallest inference measurement.
pub const CUBLAS_WORKSPACE_BYTES: u64 = 64 << 20;

/// The caching allocator reserves more than it hands out (block rounding and fragmentation):
/// `peak_reserved / peak_allocated` was 1.00-1.25 on the calibration runs, median about 1.05.
/// vramgate adds 10% of the tensor peak; the fit decision's warn band covers the rest.
pub const ALLOCATOR_RESERVE_FRACTION: f64 = 0.10;

/// DeepSpeed's default `reduce_bucket_size`: 5e8 elements (deepspeed/runtime/zero/config.py;
/// `DeepSpeedZeroOptimizer.__init__(reduce_bucket_size=500000000)` in stage_1_and_2.py), held in
/// 16 bit. The knob is [`super::job::CommKnobs::zero_reduce_bucket_elements`].
pub const ZERO_BUCKET_ELEMENTS: u64 = 500_000_000;

/// NCCL's own device memory per process in a multi-GPU job, outside PyTorch's allocator
/// (communicator buffers: `NCCL_BUFFSIZE` 4 MiB per channel and peer for the Simple protocol,
/// plus the LL/LL128 and NVLS buffers): measured on H100s as the non-torch memory vLLM 0.19
/// logs at tensor-parallel 2 and 4 minus the same model's at 1 GPU, 2.07 - 0.25 = 1.82 GiB
/// (Llama 3.1 8B, Qwen2.5 7B, Mixtral 8x7B; shared/calibration/vllm-startup-memory.jsonl).
/// vLLM opens two communicators (its PyNccl one and torch.distributed's); a training job has
/// at least one per parallel dimension. 1.82 GiB is counted once per multi-GPU process.
pub const NCCL_BUFFERS_BYTES: u64 = 1_954_210_119;

/// One GPU's memory, each figure in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PerGpu {
    /// Parameters held on this GPU (after sharding, quantisation, offload).
    pub weights_bytes: u64,
    /// Gradients of the trainable parameters held on this GPU.
    pub gradients_bytes: u64,
    /// Optimizer states (and fp32 master weights where the layout keeps them apart).
    pub optimizer_states_bytes: u64,
    /// Temporaries the optimizer step allocates (PyTorch's `foreach` AdamW: one state's size).
    pub optimizer_temporaries_bytes: u64,
    /// Activations saved for backward at the start of backward (training), or the largest
    /// transient of a forward pass (inference).
    pub activations_bytes: u64,
    /// Logits, the fp32 log-softmax and the loss gradients at their peak.
    pub logits_bytes: u64,
    /// KV cache (inference).
    pub kv_cache_bytes: u64,
    /// Autocast weight copies, ZeRO-3/FSDP gather and communication buckets, DDP gradient
    /// buckets, cuBLAS workspaces.
    pub buffers_bytes: u64,
    /// Peak of live tensors: what `torch.cuda.max_memory_allocated()` reports.
    pub tensors_peak_bytes: u64,
    /// CUDA context plus the caching allocator's reserve above the tensor peak.
    pub framework_overhead_bytes: u64,
    /// What must fit in the GPU: tensors peak plus framework overhead.
    pub total_bytes: u64,
    /// The part of `total_bytes` that comes from terms the engine cannot justify from the
    /// job's description (flagged `uncertain` in the term list): a decision may not turn into
    /// a denial on them alone (`Fit::judge_with_uncertain`).
    #[serde(default)]
    pub uncertain_bytes: u64,
}

/// Per-GPU memory and the terms that make it up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Breakdown {
    pub per_gpu: PerGpu,
    pub terms: Vec<Term>,
}

/// Which slice of the model one GPU holds under pipeline parallelism.
#[derive(Debug, Clone, Copy)]
struct Stage {
    layers: u64,
    first: bool,
    last: bool,
    /// Micro-batches whose activations are alive at once (1F1B: the first stage holds `pp`).
    in_flight: u64,
}

/// Per-GPU memory of `job`.
pub fn per_gpu(job: &Job) -> PerGpu {
    compute(job, false).per_gpu
}

/// Per-GPU memory of `job` and the terms that make it up (`vramgate estimate --explain`).
pub fn breakdown(job: &Job) -> Breakdown {
    compute(job, true)
}

/// Per-GPU memory of `job`, with its terms when `explain` (else `terms` is empty).
fn compute(job: &Job, explain: bool) -> Breakdown {
    let mut main = stages(job, false, explain);
    let uncertain_kernel =
        job.workload == WorkloadKind::Training && kernel(job, activation_bytes(job).0 as u64, false) == Kernel::Math;
    if uncertain_kernel {
        let alt = stages(job, true, false);
        let extra = main.per_gpu.total_bytes.saturating_sub(alt.per_gpu.total_bytes);
        main.per_gpu.uncertain_bytes = extra;
        let a = &job.model.arch;
        let mut t = Terms::new(job.model.params(), explain);
        t.push(
            "attention score matrix (math SDPA kernel)",
            extra as f64,
            || format!(
                "fp32 q/k/v with GQA ({} query heads, {} KV heads): PyTorch's math kernel keeps the fp32 softmax of micro-batch {} x {} heads x {}^2 positions per layer, plus its backward temporaries; included in activations. Without it (transformers builds a mask, e.g. a sliding window, and the memory-efficient kernel runs) the total is {}",
                a.heads,
                a.kv_heads,
                job.micro_batch_size,
                a.heads,
                job.sequence_length,
                gib(alt.per_gpu.total_bytes as f64)
            ),
            "torch 2.11 sdp_utils.cpp select_sdp_backend; transformers integrations/sdpa_attention.py use_gqa_in_sdpa; calibration s3-0-8x2048",
            true,
        );
        main.terms.extend(t.list);
    }
    main
}

fn stages(job: &Job, no_score: bool, explain: bool) -> Breakdown {
    let pp = job.pipeline_parallel.max(1) as u64;
    let layers = job.model.arch.layers as u64;
    let per_stage = layers.div_ceil(pp);
    if pp == 1 {
        return stage_memory(job, Stage { layers, first: true, last: true, in_flight: 1 }, no_score, explain);
    }
    let first =
        stage_memory(job, Stage { layers: per_stage, first: true, last: false, in_flight: pp }, no_score, explain);
    let last =
        stage_memory(job, Stage { layers: per_stage, first: false, last: true, in_flight: 1 }, no_score, explain);
    if first.per_gpu.total_bytes >= last.per_gpu.total_bytes { first } else { last }
}

fn stage_memory(job: &Job, st: Stage, no_score: bool, explain: bool) -> Breakdown {
    let a = &job.model.arch;
    let tp = job.tensor_parallel.max(1) as f64;
    let h = a.hidden as f64;
    let v = a.vocab as f64;
    let scale = job.model.params_scale();
    let layer_p = a.layer_params() as f64 * scale;
    let emb_p = a.embedding_params() as f64 * scale;
    let head_p = if a.tied_embeddings { a.vocab as f64 * h } else { a.lm_head_params() as f64 } * scale;
    let mut stage_p = st.layers as f64 * layer_p;
    if st.first {
        stage_p += emb_p;
    }
    if st.last && (!st.first || !a.tied_embeddings) {
        stage_p += head_p;
    }
    if st.last {
        // The final norm.
        stage_p += a.norm_params() as f64 * scale;
    }
    let stage_p = stage_p / tp;
    let linear_frac = (a.linear_params() as f64 / a.param_count().max(1) as f64).clamp(0.0, 1.0);
    let quant_frac = (a.decoder_linear_params() as f64 / a.param_count().max(1) as f64).clamp(0.0, 1.0);

    match job.workload {
        WorkloadKind::Inference => inference::inference(job, st, stage_p, quant_frac, tp, explain),
        WorkloadKind::Training => training::training(
            job,
            st,
            Sizes {
                stage_p,
                linear_frac,
                quant_frac,
                layer_p: layer_p / tp,
                emb_p: emb_p / tp,
                head_p: head_p / tp,
                tp,
                h,
                v,
            },
            no_score,
            explain,
        ),
    }
}

/// Parameter counts of one pipeline stage on one GPU (after tensor parallelism).
struct Sizes {
    stage_p: f64,
    linear_frac: f64,
    quant_frac: f64,
    layer_p: f64,
    emb_p: f64,
    head_p: f64,
    tp: f64,
    h: f64,
    v: f64,
}

/// Adds the context, NCCL's buffers and the allocator's reserve to the tensor peak.
fn finish(mut m: PerGpu, job: &Job, t: &mut Terms) -> PerGpu {
    let reserve = sat(m.tensors_peak_bytes as f64 * ALLOCATOR_RESERVE_FRACTION);
    let nccl = if job.gpus > 1 { NCCL_BUFFERS_BYTES } else { 0 };
    m.framework_overhead_bytes = CUDA_CONTEXT_BYTES.saturating_add(reserve).saturating_add(nccl);
    m.total_bytes = m.tensors_peak_bytes.saturating_add(m.framework_overhead_bytes);
    t.add(
        "CUDA context",
        CUDA_CONTEXT_BYTES as f64,
        || "CUDA context with cuBLAS loaded, outside PyTorch's allocator".into(),
        "measured on an H100, CUDA 13, PyTorch 2.11 (shared/calibration/README.md)",
    );
    t.add(
        "NCCL buffers",
        nccl as f64,
        || format!("one multi-GPU process ({} GPUs): NCCL communicator buffers outside PyTorch's allocator", job.gpus),
        "vLLM 0.19 non-torch memory at tensor-parallel 2-4 minus 1 GPU on H100s (shared/calibration/vllm-startup-memory.jsonl); NCCL_BUFFSIZE 4 MiB default (NCCL environment variables)",
    );
    t.add(
        "allocator reserve",
        reserve as f64,
        || {
            format!(
                "{:.0}% of the tensor peak {}",
                ALLOCATOR_RESERVE_FRACTION * 100.0,
                gib(m.tensors_peak_bytes as f64)
            )
        },
        "peak_reserved / peak_allocated 1.00-1.25 on the H100 calibration runs (shared/calibration)",
    );
    m
}

/// Adds the term for the cuBLAS workspaces, which every job holds whatever its workload, and
/// returns their bytes.
fn cublas_workspaces(t: &mut Terms) -> f64 {
    t.add(
        "cuBLAS workspaces",
        CUBLAS_WORKSPACE_BYTES as f64,
        || "2 handles x 32 MiB (CUBLAS_WORKSPACE_CONFIG default on Hopper)".into(),
        "PyTorch CUDABlasHandlePool getChosenWorkspaceSize; calibration s1-22-1x2048",
    );
    CUBLAS_WORKSPACE_BYTES as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::presets::find_preset;
    use crate::estimate::{Model, ModelSource};

    #[test]
    fn the_totals_alone_are_the_explained_totals_without_the_terms() {
        for (model, strategy, gpus, fine_tuning, workload) in [
            ("llama-2-7b", Strategy::Ddp, 1, FineTuningKind::Full, WorkloadKind::Training),
            ("llama-2-13b", Strategy::Zero3, 8, FineTuningKind::Full, WorkloadKind::Training),
            ("mistral-7b", Strategy::Ddp, 1, FineTuningKind::Qlora, WorkloadKind::Training),
            ("llama-3.1-70b", Strategy::Ddp, 4, FineTuningKind::Full, WorkloadKind::Inference),
        ] {
            let p = find_preset(model).unwrap();
            let mut job = Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()));
            (job.strategy, job.gpus, job.fine_tuning.kind, job.workload) = (strategy, gpus, fine_tuning, workload);
            if workload == WorkloadKind::Inference {
                job.tensor_parallel = gpus;
            }
            let explained = breakdown(&job);
            assert_eq!(per_gpu(&job), explained.per_gpu, "{model}");
            assert!(compute(&job, false).terms.is_empty(), "{model}: terms built for totals only");
            assert!(explained.terms.iter().any(|t| t.name == "tensors peak"), "{model}");
        }
    }
}
