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

use super::explain::{Term, Terms, gib, n, sat};
use super::job::Job;
use super::model::{Architecture, MlpKind, NormKind};
use super::options::*;
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

/// The attention kernel PyTorch 2.11 picks on an H100 (aten/src/ATen/native/transformers/cuda/
/// sdp_utils.cpp, `select_sdp_backend`: cuDNN, flash, memory-efficient, then math) for what
/// transformers 5.x passes it (integrations/sdpa_attention.py, `sdpa_attention_forward`):
/// - 16-bit q/k/v, head_dim <= 256: cuDNN or flash; both take GQA and save no score matrix.
/// - fp32 q/k/v (fp32 training; QLoRA, whose activations are fp32) without GQA: the
///   memory-efficient kernel (flash and cuDNN need 16-bit; memory-efficient takes fp32).
/// - fp32 with GQA: transformers passes `enable_gqa=True` when it skipped the causal mask
///   (`use_gqa_in_sdpa`: torch >= 2.5 and `attention_mask is None`); the memory-efficient
///   kernel refuses GQA (`check_batch_size_and_num_heads_dense<false>`), so the math fallback
///   materialises the fp32 score matrix: measured (calibration s3-0-8x2048, +0.8%) and what the
///   oracle dispatches (tinyllama fp32 LoRA: 132 math calls). When transformers builds a mask
///   instead (a sliding window no longer than the sequence, `masking_utils.
///   _ignore_causal_mask_sdpa`; padded batches), it expands K and V with `repeat_kv` and the
///   memory-efficient kernel runs: no score matrix. The job's description does not say which,
///   so the score matrix is an uncertain term ([`EfficientRepeatKv`](Kernel::EfficientRepeatKv)
///   gives the estimate without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Flash,
    Efficient,
    Math,
    /// transformers' `repeat_kv` then the memory-efficient kernel: K and V expanded to every head.
    EfficientRepeatKv,
    Eager,
}

fn kernel(job: &Job, act_bytes: u64, no_score: bool) -> Kernel {
    let a = &job.model.arch;
    if job.attention == Attention::Eager {
        Kernel::Eager
    } else if act_bytes == 2 && a.head_dim <= 256 {
        Kernel::Flash
    } else if a.kv_heads == a.heads {
        Kernel::Efficient
    } else if no_score {
        Kernel::EfficientRepeatKv
    } else {
        Kernel::Math
    }
}

/// (activation, residual-stream) bytes per element in training.
fn activation_bytes(job: &Job) -> (f64, f64) {
    // QLoRA's `prepare_model_for_kbit_training` upcasts norms and embeddings to fp32, so the
    // residual stream and the activations between quantised layers are fp32.
    if job.fine_tuning.kind == FineTuningKind::Qlora {
        return (4.0, 4.0);
    }
    match job.precision {
        Precision::Fp32 => (4.0, 4.0),
        p if p.is_mixed() => (2.0, 4.0),
        _ => (2.0, 2.0),
    }
}

/// Per-GPU memory of `job`.
pub fn per_gpu(job: &Job) -> PerGpu {
    breakdown(job).per_gpu
}

/// Per-GPU memory of `job` and the terms that make it up (`vramgate estimate --explain`).
pub fn breakdown(job: &Job) -> Breakdown {
    let mut main = stages(job, false);
    let uncertain_kernel =
        job.workload == WorkloadKind::Training && kernel(job, activation_bytes(job).0 as u64, false) == Kernel::Math;
    if uncertain_kernel {
        let alt = stages(job, true);
        let extra = main.per_gpu.total_bytes.saturating_sub(alt.per_gpu.total_bytes);
        main.per_gpu.uncertain_bytes = extra;
        let a = &job.model.arch;
        let mut t = Terms::new(job.model.params());
        t.push(
            "attention score matrix (math SDPA kernel)",
            extra as f64,
            format!(
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

fn stages(job: &Job, no_score: bool) -> Breakdown {
    let pp = job.pipeline_parallel.max(1) as u64;
    let layers = job.model.arch.layers as u64;
    let per_stage = layers.div_ceil(pp);
    if pp == 1 {
        return stage_memory(job, Stage { layers, first: true, last: true, in_flight: 1 }, no_score);
    }
    let first = stage_memory(job, Stage { layers: per_stage, first: true, last: false, in_flight: pp }, no_score);
    let last = stage_memory(job, Stage { layers: per_stage, first: false, last: true, in_flight: 1 }, no_score);
    if first.per_gpu.total_bytes >= last.per_gpu.total_bytes { first } else { last }
}

/// Bytes of one decoder layer's activations (per micro-batch, per GPU).
struct LayerActs {
    /// Bytes saved per layer.
    saved: f64,
    /// Largest transient during the layer's backward beyond what it saved.
    backward_transient: f64,
    /// Bytes per token of `saved`, for the explanation.
    per_token: f64,
}

fn stage_memory(job: &Job, st: Stage, no_score: bool) -> Breakdown {
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
        WorkloadKind::Inference => inference(job, st, stage_p, quant_frac, tp),
        WorkloadKind::Training => training(
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
        "CUDA context with cuBLAS loaded, outside PyTorch's allocator".into(),
        "measured on an H100, CUDA 13, PyTorch 2.11 (shared/calibration/README.md)",
    );
    t.add(
        "NCCL buffers",
        nccl as f64,
        format!("one multi-GPU process ({} GPUs): NCCL communicator buffers outside PyTorch's allocator", job.gpus),
        "vLLM 0.19 non-torch memory at tensor-parallel 2-4 minus 1 GPU on H100s (shared/calibration/vllm-startup-memory.jsonl); NCCL_BUFFSIZE 4 MiB default (NCCL environment variables)",
    );
    t.add(
        "allocator reserve",
        reserve as f64,
        format!("{:.0}% of the tensor peak {}", ALLOCATOR_RESERVE_FRACTION * 100.0, gib(m.tensors_peak_bytes as f64)),
        "peak_reserved / peak_allocated 1.00-1.25 on the H100 calibration runs (shared/calibration)",
    );
    m
}

fn inference(job: &Job, st: Stage, stage_p: f64, quant_frac: f64, tp: f64) -> Breakdown {
    let a = &job.model.arch;
    let base_bytes = match job.precision {
        Precision::Fp32 => 4.0,
        _ => 2.0,
    };
    let qb = job.weight_quantization.bytes_per_weight(base_bytes);
    let weights = stage_p * (quant_frac * qb + (1.0 - quant_frac) * base_bytes);
    let tokens = job.micro_batch_size as f64 * job.sequence_length as f64;
    let kv_elem = match job.kv_cache_dtype {
        KvCacheDtype::Auto => base_bytes,
        KvCacheDtype::Fp32 => 4.0,
        KvCacheDtype::Bf16 | KvCacheDtype::Fp16 => 2.0,
        KvCacheDtype::Fp8 | KvCacheDtype::Int8 => 1.0,
    };
    let kv_dim = a.kv_heads as f64 * a.head_dim as f64;
    // K and V for every layer and token (Pope et al. 2022, "Efficiently Scaling Transformer
    // Inference", section 2.1).
    let kv = 2.0 * st.layers as f64 * tokens * kv_dim * kv_elem / tp;
    // Largest forward transient (prefill, inference mode): the MLP's live intermediates
    // (gate, up, product for a gated MLP; fc and activation for a plain one) plus four
    // hidden-sized tensors (residual, normed input, fp32 norm temporaries).
    let act_b = base_bytes;
    let mlp_n = match a.mlp {
        MlpKind::Gated => 3.0,
        MlpKind::Plain => 2.0,
    };
    let mlp_live = mlp_n * a.intermediate as f64 / tp;
    let routed = if a.experts > 0 { a.experts_per_token as f64 } else { 1.0 };
    let transient = tokens * (mlp_live * routed + 4.0 * a.hidden as f64) * act_b;
    // Only the last position's logits are computed at prefill (`logits_to_keep=1`), then upcast.
    let logits = if st.last { job.micro_batch_size as f64 * a.vocab as f64 * 6.0 / tp } else { 0.0 };
    let mut t = Terms::new(job.model.params());
    t.add(
        "weights",
        weights,
        format!(
            "{} parameters on this GPU: {:.0}% in decoder linears x {} B ({}), the rest x {} B",
            n(stage_p),
            quant_frac * 100.0,
            n(qb),
            job.weight_quantization,
            n(base_bytes)
        ),
        "HF transformers parameter shapes; int4/nf4 scale overhead: GPTQ/AWQ group 128, QLoRA paper section 3",
    );
    t.add(
        "KV cache",
        kv,
        format!(
            "2 (K, V) x {} layers x {} tokens x {} KV dims x {} B",
            st.layers,
            n(tokens),
            n(kv_dim / tp),
            n(kv_elem)
        ),
        "Pope et al. 2022, Efficiently Scaling Transformer Inference, section 2.1",
    );
    t.add(
        "activations (prefill transient)",
        transient,
        format!(
            "{} tokens x ({} MLP intermediates x {} + 4 x hidden {}) x {} B",
            n(tokens),
            n(mlp_n * routed),
            n(a.intermediate as f64 / tp),
            a.hidden,
            n(act_b)
        ),
        "HF LlamaMLP / GPT2MLP forward under torch.inference_mode (calibration s1-21..23)",
    );
    t.add(
        "logits",
        logits,
        format!(
            "micro-batch {} x vocabulary {} x 6 B (16-bit logits of the last position, fp32 upcast)",
            job.micro_batch_size, a.vocab
        ),
        "HF generate prefill with logits_to_keep=1",
    );
    t.add(
        "cuBLAS workspaces",
        CUBLAS_WORKSPACE_BYTES as f64,
        "2 handles x 32 MiB (CUBLAS_WORKSPACE_CONFIG default on Hopper)".into(),
        "PyTorch CUDABlasHandlePool getChosenWorkspaceSize; calibration s1-22-1x2048",
    );
    let mut m = PerGpu {
        weights_bytes: sat(weights),
        kv_cache_bytes: sat(kv),
        activations_bytes: sat(transient),
        logits_bytes: sat(logits),
        buffers_bytes: CUBLAS_WORKSPACE_BYTES,
        ..PerGpu::default()
    };
    m.tensors_peak_bytes = sat(weights + kv + transient + logits + CUBLAS_WORKSPACE_BYTES as f64);
    t.add(
        "tensors peak",
        m.tensors_peak_bytes as f64,
        "weights + KV cache + prefill transient + logits + workspaces".into(),
        "torch.cuda.max_memory_allocated() on the calibration runs",
    );
    let m = finish(m, job, &mut t);
    Breakdown { per_gpu: m, terms: t.list }
}

fn training(job: &Job, st: Stage, z: Sizes, no_score: bool) -> Breakdown {
    let Sizes { stage_p, linear_frac, quant_frac, layer_p, emb_p, head_p, tp, h, v } = z;
    let a = &job.model.arch;
    let prec = job.precision;
    let ft = job.fine_tuning.kind;
    let dp = job.data_parallel() as f64;
    let group = match job.strategy {
        Strategy::FsdpHybrid => (job.hybrid_shard_group.max(1) as f64).min(dp),
        _ => dp,
    };
    let (shard_opt, shard_grad, shard_param) = job.strategy.shards();
    let div = |sharded: bool| if sharded { group } else { 1.0 };
    let zero_layout = shard_opt && prec.is_mixed();
    let mut t = Terms::new(job.model.params());

    // ---- model states -------------------------------------------------------------------
    // Bytes per element. Plain PyTorch AMP keeps fp32 weights and gradients (4 + 4) and fp32
    // optimizer state; DeepSpeed/FSDP mixed precision keeps a 16-bit working copy and 16-bit
    // gradients with fp32 master weights inside the optimizer partition (ZeRO paper, section 3:
    // 2 + 2 + K·Ψ with K = 12 for mixed-precision Adam).
    // FSDP instead keeps the fp32 parameters and gradients sharded (FSDP2 `fully_shard` with
    // `MixedPrecisionPolicy`, FSDP1 `FlatParameter`): the 16-bit copy exists only all-gathered,
    // per layer (the oracle's FSDP2 step: 4 + 4 + 8 + 4 B per parameter / world size).
    let full = ft == FineTuningKind::Full;
    let fsdp = matches!(job.strategy, Strategy::Fsdp | Strategy::FsdpShardGradOp | Strategy::FsdpHybrid);
    let (w_b, g_b, master_b) = if zero_layout && full && !fsdp {
        (2.0, 2.0, 4.0)
    } else {
        (prec.weight_bytes() as f64, prec.weight_bytes() as f64, 0.0)
    };
    let state_b = match prec {
        Precision::Bf16True | Precision::Fp16True => 2.0,
        _ => 4.0,
    };
    let layer_share = st.layers as f64 / a.layers.max(1) as f64;
    let trainable = if full { stage_p } else { job.lora_params() as f64 * layer_share / tp };

    // Frozen base (LoRA, QLoRA) and the adapters themselves (fp32 in PEFT).
    let nf4 = WeightQuantization::Nf4.bytes_per_weight(2.0);
    let (weights, grad_elem_b, state_elem_b) = match ft {
        FineTuningKind::Full => (stage_p * w_b, g_b, state_b),
        FineTuningKind::Lora => (stage_p * prec.weight_bytes() as f64 + trainable * 4.0, 4.0, 4.0),
        FineTuningKind::Qlora => {
            // NF4 linear weights; `prepare_model_for_kbit_training` casts the rest to fp32.
            (stage_p * (quant_frac * nf4 + (1.0 - quant_frac) * 4.0) + trainable * 4.0, 4.0, 4.0)
        }
    };
    let weights_formula = match ft {
        FineTuningKind::Full => format!("{} parameters x {} B", n(stage_p), n(w_b)),
        FineTuningKind::Lora => format!(
            "{} frozen parameters x {} B + {} LoRA parameters x 4 B (fp32 adapters)",
            n(stage_p),
            prec.weight_bytes(),
            n(trainable)
        ),
        FineTuningKind::Qlora => format!(
            "{} parameters: {:.0}% NF4 at {} B, the rest fp32 (4 B) + {} LoRA parameters x 4 B",
            n(stage_p),
            quant_frac * 100.0,
            n(nf4),
            n(trainable)
        ),
    };
    let weights = if shard_param { weights / div(true) } else { weights };
    let grads = trainable * grad_elem_b / div(shard_grad);
    let (states_per, temp_per) = optimizer_bytes(job.optimizer, state_elem_b);
    let mut states = trainable * (states_per + master_b) / div(shard_opt);
    let mut temps = trainable * temp_per / div(shard_opt);
    let mut states_formula = format!(
        "{} trainable parameters x ({} B {} states{}) / {} GPUs sharing them",
        n(trainable),
        n(states_per),
        job.optimizer,
        if master_b > 0.0 { " + 4 B fp32 master weights" } else { "" },
        div(shard_opt)
    );
    if job.optimizer == Optimizer::Adafactor {
        // Factored second moment: a row and a column vector per matrix (Shazeer & Stern 2018);
        // the step loops over parameters with one temporary the size of the largest one
        // (torch/optim/_adafactor.py `_single_tensor_adafactor`: `var_estimate = row_var @
        // col_var`, reused in place as the update).
        let matrices = (st.layers as f64) * 7.0 + 2.0;
        states = matrices * (h + a.intermediate.max(a.vocab) as f64) * state_elem_b / tp / div(shard_opt)
            + trainable * master_b / div(shard_opt);
        states_formula = format!("{} matrices x (row + column vectors) x {} B", n(matrices), n(state_elem_b));
        let largest = (a.vocab as f64 * h).max(h * a.intermediate as f64) / tp;
        temps = largest * state_elem_b;
        if !full {
            temps = temps.min(trainable * state_elem_b);
        }
    }
    // The caching allocator hands a tensor of 10 MiB or more a block rounded up to 2 MiB and
    // splits off the rest only when more than 1 MiB is left, so up to 1 MiB per tensor is
    // allocated but unused (c10/cuda/CUDACachingAllocator.cpp, `get_allocation_size`,
    // `should_split`): it counts in `max_memory_allocated`, once per persistent tensor of
    // each kind (weights, gradients, each optimizer state). Unsharded full fine-tuning only:
    // sharded flat buffers and LoRA adapters have few or small tensors.
    // Counted apart from the model states (which stay the ZeRO paper's arithmetic).
    let slack = |elem_b: f64| if full && !shard_param { allocator_slack(a, st, elem_b, tp) } else { 0.0 };
    let mut slack_persistent = slack(w_b);
    let slack_grads = if shard_grad { 0.0 } else { slack(grad_elem_b) };
    let (state_tensors, state_tensor_b) = match job.optimizer {
        Optimizer::AdamW | Optimizer::Adam | Optimizer::AdamWFused => (2.0, state_elem_b),
        Optimizer::SgdMomentum | Optimizer::Lion => {
            (1.0, if job.optimizer == Optimizer::Lion { 4.0 } else { state_elem_b })
        }
        Optimizer::AdamW8bit => (2.0, 1.0),
        Optimizer::Sgd | Optimizer::Adafactor => (0.0, 0.0),
    };
    if !shard_opt && job.offload == Offload::None {
        slack_persistent += state_tensors * slack(state_tensor_b);
    }
    if job.offload == Offload::OptimizerAndParameters {
        slack_persistent = 0.0;
    }
    let mut weights = weights;
    match job.offload {
        Offload::None => {}
        Offload::Optimizer => {
            states = 0.0;
            temps = 0.0;
        }
        Offload::OptimizerAndParameters => {
            states = 0.0;
            temps = 0.0;
            weights = 0.0;
        }
    }
    t.add(
        "weights",
        weights,
        format!(
            "{weights_formula}{}",
            if shard_param { format!(" / {} GPUs sharing them", div(true)) } else { String::new() }
        ),
        "HF transformers parameter shapes; ZeRO paper (Rajbhandari et al. 2019) section 3; QLoRA paper section 3",
    );
    t.add(
        "gradients",
        grads,
        format!("{} trainable parameters x {} B / {} GPUs sharing them", n(trainable), n(grad_elem_b), div(shard_grad)),
        "ZeRO paper section 3 (2 B in 16-bit layouts); PyTorch AMP keeps fp32 gradients",
    );
    t.add(
        "optimizer states",
        states,
        states_formula,
        "Loshchilov & Hutter 2019; Dettmers et al. 2022 (8-bit); Shazeer & Stern 2018; ZeRO paper K = 12",
    );
    t.add(
        "optimizer step temporaries",
        temps,
        format!("{} trainable parameters x {} B (foreach step's state-sized temporary)", n(trainable), n(temp_per)),
        "torch/optim/adamw.py _multi_tensor_adamw; calibration s1-0 (fp32 AdamW 20 B/param at the step)",
    );

    // ---- activations ----------------------------------------------------------------------
    // DeepSpeed's and FSDP's mixed precision run the forward on the 16-bit working copy of the
    // weights (FSDP `MixedPrecisionPolicy(param_dtype=bfloat16)`, DeepSpeed `bf16.enabled`): the
    // embedding output and so the residual stream are 16-bit and autocast has nothing to cast,
    // so the activations are those of pure 16-bit training (the oracle's FSDP2 runs, scale.py).
    let working_copy_16bit = zero_layout && full;
    let (act_b, res_b) = if working_copy_16bit { (2.0, 2.0) } else { activation_bytes(job) };
    let mixed_autocast = prec.is_mixed() && ft != FineTuningKind::Qlora && !working_copy_16bit;
    let kern = kernel(job, act_b as u64, no_score);
    let b = job.micro_batch_size as f64;
    let s = job.sequence_length as f64;
    let tok = b * s;
    let layer = layer_activations(a, kern, tok, b, s, act_b, mixed_autocast, tp);
    // FSDP: one layer's backward holds that layer's all-gathered 16-bit parameters, its
    // unsharded 16-bit gradients and the reduce-scatter input in the reduce dtype (fp32 with
    // fp32 master weights): alive while that layer's backward runs, after the logits are freed
    // (at the start of backward only the prefetched layer is gathered).
    let knobs = &job.comm;
    let red_b = if prec.is_mixed() { 4.0 } else { w_b };
    let fsdp_layer = shard_param && job.strategy != Strategy::Zero3;
    let fsdp_grad = if fsdp_layer && full { layer_p * (2.0 + red_b) } else { 0.0 };
    let fsdp_grad = fsdp_grad + if fsdp_layer { layer_p * 2.0 } else { 0.0 };
    let gpt2 = is_gpt2_block(a);
    let final_norm = norm_saved(a.norm, act_b, mixed_autocast, 1.0, gpt2) * tok * h;
    // GPT-2 drops out the embedding sum in training (`embd_pdrop` 0.1): a 1-byte mask per
    // element (torch native_dropout saves a bool mask).
    let emb_dropout = if gpt2 && st.first { tok * h } else { 0.0 };
    // Logits at the cross-entropy backward: the LM head's output (held through backward),
    // the fp32 log-softmax output saved by NLL, and two fp32 gradients (HF `ForCausalLMLoss`
    // upcasts logits to fp32). QLoRA's fp32 LM head makes the held logits fp32.
    let logits = if st.last { tok * v * (act_b + 12.0) / tp } else { 0.0 };
    let in_flight = st.in_flight as f64;
    let ckpt = st.layers as f64 * tok * h * res_b * in_flight;
    let layer_phase = layer.saved + layer.backward_transient + fsdp_grad;
    let (activations, logits_at_peak, act_formula) = if job.activation_checkpointing {
        // Non-reentrant checkpointing keeps each layer's input; backward recomputes one layer.
        let head_phase = logits + final_norm;
        let formula = format!(
            "{} layers x {} tokens x hidden {} x {} B (checkpointed inputs){} + the larger of: logits phase {}, one layer recomputed {} ({} B/token saved + backward transient)",
            st.layers,
            n(tok * in_flight),
            a.hidden,
            n(res_b),
            if in_flight > 1.0 { format!(", {} micro-batches in flight", in_flight) } else { String::new() },
            gib(head_phase),
            gib(layer_phase),
            n(layer.per_token)
        );
        if head_phase >= layer_phase {
            (ckpt + final_norm + emb_dropout, logits, formula)
        } else {
            (ckpt + layer_phase + emb_dropout, 0.0, formula)
        }
    } else {
        let formula = format!(
            "{} layers x {} tokens x {} B/token saved for backward{}{}",
            st.layers,
            n(tok * in_flight),
            n(layer.per_token),
            if st.last { " + the final norm's" } else { "" },
            if gpt2 { " + the embedding dropout mask (1 B/element)" } else { "" }
        );
        (
            st.layers as f64 * layer.saved * in_flight + if st.last { final_norm } else { 0.0 } + emb_dropout,
            logits.max(fsdp_grad),
            formula,
        )
    };
    t.add(
        "activations",
        activations,
        act_formula,
        "Korthikanti et al. 2022 section 4, per tensor autograd saves in HF Llama/GPT-2 (docs/memory-model.md); calibration s1-*",
    );
    t.add(
        "logits and loss",
        logits,
        format!(
            "{} tokens x vocabulary {} x ({} B logits + 4 B log-softmax + 2 x 4 B gradients){}",
            n(tok),
            a.vocab,
            n(act_b),
            if logits_at_peak == 0.0 && logits > 0.0 { "; freed before the recomputed layer's peak" } else { "" }
        ),
        "HF ForCausalLMLoss upcasts logits to fp32; torch nll_loss saves log_softmax",
    );

    // ---- buffers ----------------------------------------------------------------------------
    // Autocast keeps a 16-bit copy of each weight a matmul saved for backward; with
    // checkpointing only the LM head's survives the forward (the cache is cleared on autocast
    // exit and recomputation casts one layer at a time).
    let mut buffers = CUBLAS_WORKSPACE_BYTES as f64;
    let mut copies = 0.0;
    t.add(
        "cuBLAS workspaces",
        CUBLAS_WORKSPACE_BYTES as f64,
        "2 handles x 32 MiB (CUBLAS_WORKSPACE_CONFIG default on Hopper)".into(),
        "PyTorch CUDABlasHandlePool getChosenWorkspaceSize; calibration s1-22-1x2048",
    );
    if mixed_autocast && full && !zero_layout {
        copies = if job.activation_checkpointing {
            if st.last { head_p * 2.0 } else { 0.0 }
        } else {
            stage_p * linear_frac * 2.0
        };
        buffers += copies;
        t.add(
            "autocast weight copies",
            copies,
            if job.activation_checkpointing {
                format!("LM head {} parameters x 2 B (checkpointing recasts one layer at a time)", n(head_p))
            } else {
                format!(
                    "{} parameters x {:.0}% in linears x 2 B (bf16 copies matmuls save)",
                    n(stage_p),
                    linear_frac * 100.0
                )
            },
            "torch/csrc/autograd autocast weight cache (cached_cast); calibration s1-2, s1-5",
        );
    }
    // Sharding buffers are counted at any group size, one GPU included: DeepSpeed and FSDP set
    // them up whatever the world size, and counting them only beyond one GPU would make the
    // per-GPU memory rise from 1 to 2 GPUs when sharding saves less than they cost (offloaded
    // states), breaking the monotonicity `min_gpus` relies on (found by
    // `tests/engine.rs::sharding_over_more_gpus_never_raises_per_gpu_memory`).
    if shard_param {
        let unit = layer_p.max(if st.first || st.last { head_p } else { 0.0 });
        let gather = match job.strategy {
            Strategy::Zero3 => {
                // ZeRO-3 gathers each module's 16-bit parameters, prefetches up to
                // `stage3_prefetch_bucket_size` elements ahead, and keeps gathered parameters
                // that are reused within `stage3_max_reuse_distance` (1e9) alive, capped by
                // `stage3_max_live_parameters` (deepspeed/runtime/zero/partitioned_param_
                // coordinator.py, `fetch_sub_module` / `release_sub_module`): at the turn from
                // forward to backward the last layers stay gathered.
                let live = (knobs.zero3_max_live_parameters as f64)
                    .max(unit + knobs.zero3_prefetch_bucket_elements as f64)
                    .min(stage_p);
                t.add(
                    "ZeRO-3 gathered parameters",
                    live * 2.0,
                    format!(
                        "min(stage parameters {}, max(stage3_max_live_parameters {}, largest unit {} + stage3_prefetch_bucket_size {})) x 2 B",
                        n(stage_p),
                        n(knobs.zero3_max_live_parameters as f64),
                        n(unit),
                        n(knobs.zero3_prefetch_bucket_elements as f64)
                    ),
                    "deepspeed/runtime/zero/config.py defaults (stage3_max_live_parameters 1e9, stage3_prefetch_bucket_size 5e7); partitioned_param_coordinator.py",
                );
                live * 2.0
            }
            _ => {
                // FSDP: the layer computing and `fsdp_prefetch_layers` prefetched ones are
                // all-gathered in 16 bit (FSDP2 `fully_shard`: implicit forward prefetch and
                // backward prefetch of one layer, torch/distributed/fsdp/_fully_shard/
                // _fsdp_param_group.py; FSDP1 `limit_all_gathers=True`: two all-gathers in
                // flight), and backward holds the layer's unsharded 16-bit gradients plus the
                // reduce-scatter input in fp32 (`MixedPrecisionPolicy(reduce_dtype=float32)`,
                // what mixed precision with fp32 master weights uses). The root unit (embedding,
                // final norm, LM head) stays unsharded from forward through backward.
                let prefetched = knobs.fsdp_prefetch_layers as f64;
                let root = if full || ft == FineTuningKind::Lora { (emb_p + head_p) * 2.0 } else { 0.0 };
                let g = prefetched * layer_p * 2.0 + root;
                t.add(
                    "FSDP all-gather buffers",
                    g,
                    format!(
                        "{} prefetched layers x {} layer parameters x 2 B + root unit (embedding, head) {} parameters x 2 B, from forward through backward (the layer computing is counted with its backward)",
                        prefetched,
                        n(layer_p),
                        n(emb_p + head_p)
                    ),
                    "torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py (all-gather, implicit prefetch); FSDP1 _runtime_utils.py limit_all_gathers",
                );
                t.add(
                    "FSDP layer in backward",
                    fsdp_grad,
                    format!(
                        "{} layer parameters x (2 B gathered parameters{}), during one layer's backward (after the logits are freed)",
                        n(layer_p),
                        if full { format!(" + 2 B unsharded gradients + {} B reduce-scatter input", n(red_b)) } else { String::new() }
                    ),
                    "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce (reduce_dtype)",
                );
                g
            }
        };
        buffers += gather;
    }
    if matches!(job.strategy, Strategy::Zero1 | Strategy::Zero2 | Strategy::Zero3) {
        // The IPG gradient bucket: `torch.empty(reduce_bucket_size)` in the parameters' 16-bit
        // dtype, whatever the model's size (stage_1_and_2.py `backward`; stage3.py).
        let bucket = knobs.zero_reduce_bucket_elements as f64 * 2.0;
        buffers += bucket;
        t.add(
            "ZeRO reduce bucket",
            bucket,
            format!("reduce_bucket_size {} elements x 2 B", n(knobs.zero_reduce_bucket_elements as f64)),
            "deepspeed/runtime/zero/stage_1_and_2.py backward(): ipg_buffer = torch.empty(reduce_bucket_size); default 5e8",
        );
    }
    // DDP's reducer copies every gradient into flat buckets it allocates when the model is
    // wrapped, unless `gradient_as_bucket_view=True` makes the gradients views of them
    // (torch/nn/parallel/distributed.py `gradient_as_bucket_view=False`; torch/csrc/distributed/
    // c10d/reducer.cpp `Reducer::initialize_buckets`: `bucket.gradients = at::empty(...)`).
    // Only a multi-GPU job is wrapped in DDP.
    let ddp_buckets = if job.strategy == Strategy::Ddp && dp > 1.0 && !knobs.gradient_as_bucket_view {
        trainable * grad_elem_b
    } else {
        0.0
    };
    t.add(
        "DDP gradient buckets",
        ddp_buckets,
        format!("{} trainable parameters x {} B (gradient_as_bucket_view=False: a second copy of every gradient)", n(trainable), n(grad_elem_b)),
        "torch/nn/parallel/distributed.py (bucket_cap_mb 25, first bucket 1 MiB, gradient_as_bucket_view False); reducer.cpp initialize_buckets",
    );

    // ---- the three moments ------------------------------------------------------------------
    t.add(
        "allocator block slack",
        slack_persistent + slack_grads,
        format!(
            "up to 1 MiB per parameter tensor of 10 MiB or more (block rounded to 2 MiB, not split): {} for weights and optimizer states, {} for gradients",
            gib(slack_persistent),
            gib(slack_grads)
        ),
        "c10/cuda/CUDACachingAllocator.cpp get_allocation_size (kRoundLarge 2 MiB above kMinLargeAlloc 10 MiB), should_split (remaining > 1 MiB); calibration s1-10, s1-12",
    );
    let persistent = weights + states + ddp_buckets + slack_persistent;
    let grads_alloc = grads + slack_grads;
    let forward_backward = persistent + buffers + activations + logits_at_peak;
    let end_backward = persistent + grads_alloc + CUBLAS_WORKSPACE_BYTES as f64;
    // The backward of the first layer: every later layer's gradients exist, the first layer's
    // activations (recomputed under checkpointing) and backward temporaries are alive, and its
    // gradients are being written (measured: the peak at the end of backward grows with the
    // micro-batch, calibration s1-7, s1-12).
    let first_layer = if st.first {
        let layer_grads = if full { layer_p } else { job.lora_params() as f64 / a.layers.max(1) as f64 / tp }
            * grad_elem_b
            / div(shard_grad);
        let emb_grads = if full && !a.tied_embeddings { emb_p * grad_elem_b / div(shard_grad) } else { 0.0 };
        persistent + buffers - copies
            + (grads_alloc - layer_grads - emb_grads).max(0.0)
            + layer_phase
            + if job.activation_checkpointing { tok * h * res_b } else { 0.0 }
    } else {
        0.0
    };
    let step = persistent + grads_alloc + temps + CUBLAS_WORKSPACE_BYTES as f64;
    let peak = forward_backward.max(end_backward).max(step).max(first_layer);
    let moment = if peak == forward_backward {
        "start of backward"
    } else if peak == first_layer {
        "first layer's backward"
    } else if peak == step {
        "optimizer step"
    } else {
        "end of backward"
    };
    t.add(
        "tensors peak",
        peak,
        format!(
            "largest of: start of backward {} (weights, states, buffers, activations, logits), first layer's backward {}, end of backward {} (weights, states, gradients), optimizer step {} (+ step temporaries): the {}",
            gib(forward_backward),
            gib(first_layer),
            gib(end_backward),
            gib(step),
            moment
        ),
        "torch.cuda.max_memory_allocated() on the H100 calibration runs (tests/calibration.rs)",
    );
    let m = PerGpu {
        weights_bytes: sat(weights),
        gradients_bytes: sat(grads),
        optimizer_states_bytes: sat(states),
        optimizer_temporaries_bytes: sat(temps),
        activations_bytes: sat(activations),
        logits_bytes: sat(logits),
        kv_cache_bytes: 0,
        buffers_bytes: sat(buffers + ddp_buckets + slack_persistent + slack_grads),
        tensors_peak_bytes: sat(peak),
        framework_overhead_bytes: 0,
        total_bytes: 0,
        uncertain_bytes: 0,
    };
    let m = finish(m, job, &mut t);
    Breakdown { per_gpu: m, terms: t.list }
}

/// (state bytes, step temporary bytes) per trainable parameter, given the element size of a
/// full-precision state (4 for fp32 layouts, 2 for pure 16-bit training).
fn optimizer_bytes(o: Optimizer, state_b: f64) -> (f64, f64) {
    match o {
        // exp_avg and exp_avg_sq; the foreach step allocates one state-sized temporary
        // (measured: fp32 20 B/param, bf16-true 10 B/param at the step).
        Optimizer::AdamW | Optimizer::Adam => (2.0 * state_b, state_b),
        Optimizer::AdamWFused => (2.0 * state_b, 0.0),
        Optimizer::Sgd => (0.0, 0.0),
        Optimizer::SgdMomentum => (state_b, 0.0),
        Optimizer::Adafactor => (0.0, 0.0),
        // Two uint8 states plus one fp32 absmax per 2048-element block (Dettmers et al. 2022).
        Optimizer::AdamW8bit => (2.0 + 8.0 / 2048.0, 0.0),
        // bitsandbytes 32-bit Lion keeps its momentum in fp32 whatever the parameter dtype.
        Optimizer::Lion => (4.0, 0.0),
    }
}

/// Bytes the caching allocator allocates beyond the tensors themselves for one copy of the
/// stage's parameter tensors at `elem_b` bytes per element: a tensor of 10 MiB or more gets a
/// block rounded up to 2 MiB, split only when more than 1 MiB would be left
/// (c10/cuda/CUDACachingAllocator.cpp: `kMinLargeAlloc` 10 MiB, `kRoundLarge` 2 MiB,
/// `should_split` needs `remaining > kSmallSize` (1 MiB) in the large pool). Smaller tensors come
/// from split 2 / 20 MiB segments rounded to 512 B: no slack worth counting.
fn allocator_slack(a: &Architecture, st: Stage, elem_b: f64, tp: f64) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    let one = |elements: f64| {
        let bytes = elements * elem_b / tp;
        if bytes < 10.0 * MIB {
            return 0.0;
        }
        let block = (bytes / (2.0 * MIB)).ceil() * 2.0 * MIB;
        let rest = block - bytes;
        if rest > MIB { 0.0 } else { rest }
    };
    let h = a.hidden as f64;
    let q = a.heads as f64 * a.head_dim as f64;
    let kv = a.kv_heads as f64 * a.head_dim as f64;
    let i = a.intermediate as f64;
    let experts = a.experts.max(1) as f64;
    let mlp = if a.mlp == MlpKind::Gated { 3.0 } else { 2.0 } * one(h * i) * experts;
    let layer = one(h * q) * 2.0 + one(h * kv) * 2.0 + mlp;
    let vocab = one(a.vocab as f64 * h);
    let mut total = st.layers as f64 * layer;
    if st.first {
        total += vocab;
    }
    if st.last && (!st.first || !a.tied_embeddings) {
        total += vocab;
    }
    total
}

/// A GPT-2 block as Hugging Face `GPT2Block` builds it: LayerNorm, learned positions, a plain
/// MLP with `gelu_new` (the tanh GELU written as separate elementwise ops) and dropout 0.1 on
/// the embeddings, attention and both residual branches (GPT2Config `embd_pdrop`,
/// `attn_pdrop`, `resid_pdrop`). Learned positions with a plain LayerNorm MLP identify it.
fn is_gpt2_block(a: &Architecture) -> bool {
    a.learned_positions > 0 && a.mlp == MlpKind::Plain && a.norm == NormKind::LayerNorm
}

/// Bytes per token-hidden element a norm saves: its input (upcast to fp32 in HF's RMSNorm),
/// the normalised tensor, and the input each consuming linear layer saves (autocast casts the
/// input separately for each linear: q, k and v each keep their own bf16 copy). A GPT-2
/// LayerNorm is one `native_layer_norm`, which saves its input (and per-row mean and rstd)
/// but not its output: only the consumers' copies of the output are saved.
fn norm_saved(norm: NormKind, act_b: f64, mixed: bool, consumers: f64, gpt2: bool) -> f64 {
    match (norm, mixed, act_b as u64) {
        (NormKind::LayerNorm, true, _) if gpt2 => 4.0 + 2.0 * consumers,
        (NormKind::RmsNorm, true, _) => 4.0 + 4.0 + 2.0 * consumers,
        (NormKind::RmsNorm, false, 4) => 12.0,
        (NormKind::RmsNorm, false, _) => 4.0 + act_b + act_b,
        (NormKind::LayerNorm, true, _) => 4.0 + 4.0 + 2.0 * consumers,
        (NormKind::LayerNorm, false, _) => 2.0 * act_b,
    }
}

#[allow(clippy::too_many_arguments)]
fn layer_activations(
    a: &Architecture,
    kern: Kernel,
    t: f64,
    b: f64,
    s: f64,
    act_b: f64,
    mixed: bool,
    tp: f64,
) -> LayerActs {
    let h = a.hidden as f64;
    let q = a.heads as f64 * a.head_dim as f64 / tp;
    let kv = a.kv_heads as f64 * a.head_dim as f64 / tp;
    let i = a.intermediate as f64 / tp;
    let heads = a.heads as f64 / tp;
    let gated = a.mlp == MlpKind::Gated;
    let gpt2 = is_gpt2_block(a);
    // Norms: q, k and v are separate linears in HF Llama (3 consumers), one fused `c_attn` in
    // GPT-2; the MLP has 2 (gated) or 1 (plain).
    let attn_consumers = if gpt2 { 1.0 } else { 3.0 };
    let norms = (norm_saved(a.norm, act_b, mixed, attn_consumers, gpt2)
        + norm_saved(a.norm, act_b, mixed, if gated { 2.0 } else { 1.0 }, gpt2))
        * t
        * h;
    // Attention: q, k, v (after RoPE) and the output, saved by the kernel; the output is already
    // laid out as (batch, seq, heads, dim), so o_proj's input is the same tensor.
    let mut attn = (q + 2.0 * kv) * t * act_b + q * t * act_b;
    let score = b * heads * s * s;
    let mut transient = 2.0 * t * i.max(h) * act_b;
    match kern {
        Kernel::Flash | Kernel::Efficient => {}
        Kernel::EfficientRepeatKv => {
            // `repeat_kv` expands K and V to every query head; the kernel saves the expanded
            // copies (the un-expanded K and V are then saved by nothing).
            attn += 2.0 * (q - kv) * t * act_b;
        }
        Kernel::Eager => {
            // HF eager: softmax in fp32 (saved) and its cast back to the compute dtype (saved by
            // the second matmul), plus the transposed output copy.
            attn += score * (4.0 + if act_b == 2.0 { 2.0 } else { 0.0 }) + q * t * act_b;
            transient = 3.0 * score * 4.0;
        }
        Kernel::Math => {
            // Math fallback: the softmax output, K and V expanded to every head, output copy.
            attn += score * 4.0 + 2.0 * q * t * act_b + q * t * act_b;
            transient = 3.0 * score * 4.0;
        }
    }
    // MLP: gated saves gate, act(gate), up and their product; plain saves fc out and act out.
    let mut mlp = if gated { 4.0 } else { 2.0 } * t * i * act_b;
    if gpt2 {
        // `NewGELUActivation`: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3)))),
        // each op its own kernel (transformers activations.py). Saved for backward: pow's input
        // x, tanh's output, 0.5 * x and (1 + tanh) (the final product saves both factors), and
        // c_proj's input (the GELU output). Under autocast `pow` runs in fp32 (CUDA autocast
        // fp32 op list), so x, tanh, 1 + tanh and the GELU output are fp32 and 0.5 * x stays
        // 16-bit; c_proj then saves its own 16-bit copy of the input.
        let per_i = if mixed { 4.0 + 4.0 + 2.0 + 4.0 + 2.0 } else { 5.0 * act_b };
        mlp = t * i * per_i;
        // Dropout on the attention and MLP residual branches: a 1-byte mask each (torch
        // `native_dropout` saves a bool mask; the attention-probability dropout runs inside
        // the flash / memory-efficient kernel, which saves only its RNG state).
        mlp += 2.0 * t * h;
    }
    if a.experts > 0 {
        // Each token runs through `experts_per_token` experts; the router's logits and the
        // dispatched copies of the hidden state are saved too.
        mlp = mlp * a.experts_per_token as f64
            + t * a.experts as f64 * 4.0
            + 2.0 * t * h * act_b * a.experts_per_token as f64;
    }
    let saved = norms + attn + mlp;
    LayerActs { saved, backward_transient: transient, per_token: saved / t.max(1.0) }
}
