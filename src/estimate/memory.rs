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

/// DeepSpeed's default `reduce_bucket_size` / `allgather_bucket_size`: 5e8 elements
/// (DeepSpeed ZeRO configuration docs), held in 16-bit.
pub const ZERO_BUCKET_ELEMENTS: u64 = 500_000_000;

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
    /// Autocast weight copies, ZeRO-3 gather and communication buckets, cuBLAS workspaces.
    pub buffers_bytes: u64,
    /// Peak of live tensors: what `torch.cuda.max_memory_allocated()` reports.
    pub tensors_peak_bytes: u64,
    /// CUDA context plus the caching allocator's reserve above the tensor peak.
    pub framework_overhead_bytes: u64,
    /// What must fit in the GPU: tensors peak plus framework overhead.
    pub total_bytes: u64,
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

/// The attention kernel PyTorch picks (PyTorch SDPA dispatch rules, torch 2.5+):
/// flash for 16-bit inputs with head_dim <= 256; memory-efficient for fp32 without GQA; the
/// math fallback for fp32 with GQA (`enable_gqa` is supported only by flash and math).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Flash,
    Efficient,
    Math,
    Eager,
}

fn kernel(job: &Job, act_bytes: u64) -> Kernel {
    let a = &job.model.arch;
    if job.attention == Attention::Eager {
        Kernel::Eager
    } else if act_bytes == 2 && a.head_dim <= 256 {
        Kernel::Flash
    } else if a.kv_heads == a.heads {
        Kernel::Efficient
    } else {
        Kernel::Math
    }
}

fn sat(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 { if x >= u64::MAX as f64 { u64::MAX } else { x as u64 } } else { 0 }
}

/// Per-GPU memory of `job`.
pub fn per_gpu(job: &Job) -> PerGpu {
    let pp = job.pipeline_parallel.max(1) as u64;
    let layers = job.model.arch.layers as u64;
    let per_stage = layers.div_ceil(pp);
    if pp == 1 {
        return stage_memory(job, Stage { layers, first: true, last: true, in_flight: 1 });
    }
    let first = stage_memory(job, Stage { layers: per_stage, first: true, last: false, in_flight: pp });
    let last = stage_memory(job, Stage { layers: per_stage, first: false, last: true, in_flight: 1 });
    if first.total_bytes >= last.total_bytes { first } else { last }
}

/// Bytes of one decoder layer's activations (per micro-batch, per GPU).
struct LayerActs {
    /// Bytes saved per layer.
    saved: f64,
    /// Largest transient during the layer's backward beyond what it saved.
    backward_transient: f64,
}

fn stage_memory(job: &Job, st: Stage) -> PerGpu {
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
    let stage_p = stage_p / tp;
    let linear_frac = (a.linear_params() as f64 / a.param_count().max(1) as f64).clamp(0.0, 1.0);
    let quant_frac = (a.decoder_linear_params() as f64 / a.param_count().max(1) as f64).clamp(0.0, 1.0);

    match job.workload {
        WorkloadKind::Inference => inference(job, st, stage_p, quant_frac, tp),
        WorkloadKind::Training => {
            training(job, st, stage_p, linear_frac, quant_frac, layer_p / tp, head_p / tp, tp, h, v)
        }
    }
}

fn finish(mut m: PerGpu) -> PerGpu {
    let reserve = sat(m.tensors_peak_bytes as f64 * ALLOCATOR_RESERVE_FRACTION);
    m.framework_overhead_bytes = CUDA_CONTEXT_BYTES.saturating_add(reserve);
    m.total_bytes = m.tensors_peak_bytes.saturating_add(m.framework_overhead_bytes);
    m
}

fn inference(job: &Job, st: Stage, stage_p: f64, quant_frac: f64, tp: f64) -> PerGpu {
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
    let mlp_live = match a.mlp {
        MlpKind::Gated => 3.0,
        MlpKind::Plain => 2.0,
    } * a.intermediate as f64
        / tp;
    let routed = if a.experts > 0 { a.experts_per_token as f64 } else { 1.0 };
    let transient = tokens * (mlp_live * routed + 4.0 * a.hidden as f64) * act_b;
    // Only the last position's logits are computed at prefill (`logits_to_keep=1`), then upcast.
    let logits = if st.last { job.micro_batch_size as f64 * a.vocab as f64 * 6.0 / tp } else { 0.0 };
    let mut m = PerGpu {
        weights_bytes: sat(weights),
        kv_cache_bytes: sat(kv),
        activations_bytes: sat(transient),
        logits_bytes: sat(logits),
        buffers_bytes: CUBLAS_WORKSPACE_BYTES,
        ..PerGpu::default()
    };
    m.tensors_peak_bytes = sat(weights + kv + transient + logits + CUBLAS_WORKSPACE_BYTES as f64);
    finish(m)
}

#[allow(clippy::too_many_arguments)]
fn training(
    job: &Job,
    st: Stage,
    stage_p: f64,
    linear_frac: f64,
    quant_frac: f64,
    layer_p: f64,
    head_p: f64,
    tp: f64,
    h: f64,
    v: f64,
) -> PerGpu {
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

    // ---- model states -------------------------------------------------------------------
    // Bytes per element. Plain PyTorch AMP keeps fp32 weights and gradients (4 + 4) and fp32
    // optimizer state; DeepSpeed/FSDP mixed precision keeps a 16-bit working copy and 16-bit
    // gradients with fp32 master weights inside the optimizer partition (ZeRO paper, section 3:
    // 2 + 2 + K·Ψ with K = 12 for mixed-precision Adam).
    let full = ft == FineTuningKind::Full;
    let (w_b, g_b, master_b) = if zero_layout && full {
        (2.0, 2.0, 4.0)
    } else {
        (prec.weight_bytes() as f64, prec.weight_bytes() as f64, 0.0)
    };
    let state_b = match prec {
        Precision::Bf16True | Precision::Fp16True => 2.0,
        _ => 4.0,
    };
    let trainable =
        if full { stage_p } else { job.lora_params() as f64 * (st.layers as f64 / a.layers.max(1) as f64) / tp };

    // Frozen base (LoRA, QLoRA) and the adapters themselves (fp32 in PEFT).
    let (weights, grad_elem_b, state_elem_b) = match ft {
        FineTuningKind::Full => (stage_p * w_b, g_b, state_b),
        FineTuningKind::Lora => (stage_p * prec.weight_bytes() as f64 + trainable * 4.0, 4.0, 4.0),
        FineTuningKind::Qlora => {
            // NF4 linear weights; `prepare_model_for_kbit_training` casts the rest to fp32.
            let nf4 = WeightQuantization::Nf4.bytes_per_weight(2.0);
            (stage_p * (quant_frac * nf4 + (1.0 - quant_frac) * 4.0) + trainable * 4.0, 4.0, 4.0)
        }
    };
    let weights = if shard_param { weights / div(true) } else { weights };
    let grads = trainable * grad_elem_b / div(shard_grad);
    let (states_per, temp_per) = optimizer_bytes(job.optimizer, state_elem_b);
    let mut states = trainable * (states_per + master_b) / div(shard_opt);
    let mut temps = trainable * temp_per / div(shard_opt);
    if job.optimizer == Optimizer::Adafactor {
        // Factored second moment: a row and a column vector per matrix (Shazeer & Stern 2018);
        // the step loops over parameters, two temporaries the size of the largest one.
        let matrices = (st.layers as f64) * 7.0 + 2.0;
        states = matrices * (h + a.intermediate.max(a.vocab) as f64) * state_elem_b / tp / div(shard_opt)
            + trainable * master_b / div(shard_opt);
        let largest = (a.vocab as f64 * h).max(h * a.intermediate as f64) / tp;
        temps = 2.0 * largest * state_elem_b;
        if !full {
            temps = temps.min(trainable * state_elem_b * 2.0);
        }
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

    // ---- activations ----------------------------------------------------------------------
    // QLoRA's `prepare_model_for_kbit_training` upcasts norms and embeddings to fp32, so the
    // residual stream and the activations between quantised layers are fp32.
    let (act_b, res_b) = if ft == FineTuningKind::Qlora {
        (4.0, 4.0)
    } else {
        match prec {
            Precision::Fp32 => (4.0, 4.0),
            p if p.is_mixed() => (2.0, 4.0),
            _ => (2.0, 2.0),
        }
    };
    let mixed_autocast = prec.is_mixed() && ft != FineTuningKind::Qlora;
    let kern = kernel(job, act_b as u64);
    let b = job.micro_batch_size as f64;
    let s = job.sequence_length as f64;
    let t = b * s;
    let layer = layer_activations(a, kern, t, b, s, act_b, mixed_autocast, tp);
    let final_norm = norm_saved(a.norm, act_b, mixed_autocast, 1.0) * t * h;
    // Logits at the cross-entropy backward: the LM head's output (held through backward),
    // the fp32 log-softmax output saved by NLL, and two fp32 gradients (HF `ForCausalLMLoss`
    // upcasts logits to fp32). QLoRA's fp32 LM head makes the held logits fp32.
    let logits = if st.last { t * v * (act_b + 12.0) / tp } else { 0.0 };
    let in_flight = st.in_flight as f64;
    let (activations, logits_at_peak) = if job.activation_checkpointing {
        // Non-reentrant checkpointing keeps each layer's input; backward recomputes one layer.
        let ckpt = st.layers as f64 * t * h * res_b * in_flight;
        let head_phase = logits + final_norm;
        let layer_phase = layer.saved + layer.backward_transient;
        if head_phase >= layer_phase { (ckpt + final_norm, logits) } else { (ckpt + layer_phase, 0.0) }
    } else {
        (st.layers as f64 * layer.saved * in_flight + if st.last { final_norm } else { 0.0 }, logits)
    };

    // ---- buffers ----------------------------------------------------------------------------
    // Autocast keeps a 16-bit copy of each weight a matmul saved for backward; with
    // checkpointing only the LM head's survives the forward (the cache is cleared on autocast
    // exit and recomputation casts one layer at a time).
    let mut buffers = CUBLAS_WORKSPACE_BYTES as f64;
    if mixed_autocast && full && !zero_layout {
        buffers += if job.activation_checkpointing {
            if st.last { head_p * 2.0 } else { 0.0 }
        } else {
            stage_p * linear_frac * 2.0
        };
    }
    // Both buffers are counted at any group size, one GPU included: DeepSpeed and FSDP set
    // them up whatever the world size, and counting them only beyond one GPU would make the
    // per-GPU memory rise from 1 to 2 GPUs when sharding saves less than they cost (offloaded
    // states), breaking the monotonicity `min_gpus` relies on (found by
    // `tests/engine.rs::sharding_over_more_gpus_never_raises_per_gpu_memory`).
    if shard_param {
        // ZeRO-3 / FSDP gather the current and the prefetched layer in 16 bit, and reduce-scatter
        // one layer's gradients (Rajbhandari et al. 2019, section 5.3).
        let unit = layer_p.max(if st.first || st.last { head_p } else { 0.0 });
        buffers += 3.0 * unit * 2.0;
    }
    if matches!(job.strategy, Strategy::Zero1 | Strategy::Zero2 | Strategy::Zero3) {
        buffers += (ZERO_BUCKET_ELEMENTS as f64).min(stage_p) * 2.0;
    }

    let forward_backward = weights + states + buffers + activations + logits_at_peak;
    let end_backward = weights + states + grads + CUBLAS_WORKSPACE_BYTES as f64;
    let step = weights + states + grads + temps + CUBLAS_WORKSPACE_BYTES as f64;
    let peak = forward_backward.max(end_backward).max(step);
    let m = PerGpu {
        weights_bytes: sat(weights),
        gradients_bytes: sat(grads),
        optimizer_states_bytes: sat(states),
        optimizer_temporaries_bytes: sat(temps),
        activations_bytes: sat(activations),
        logits_bytes: sat(logits),
        kv_cache_bytes: 0,
        buffers_bytes: sat(buffers),
        tensors_peak_bytes: sat(peak),
        framework_overhead_bytes: 0,
        total_bytes: 0,
    };
    finish(m)
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

/// Bytes per token-hidden element a norm saves: its input (upcast to fp32 in HF's RMSNorm),
/// the normalised tensor, and the input each consuming linear layer saves (autocast casts the
/// input separately for each linear: q, k and v each keep their own bf16 copy).
fn norm_saved(norm: NormKind, act_b: f64, mixed: bool, consumers: f64) -> f64 {
    match (norm, mixed, act_b as u64) {
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
    // Norms: q, k and v are separate linears in HF Llama (3 consumers); the MLP has 2 (gated)
    // or 1 (plain).
    let norms = (norm_saved(a.norm, act_b, mixed, 3.0)
        + norm_saved(a.norm, act_b, mixed, if gated { 2.0 } else { 1.0 }))
        * t
        * h;
    // Attention: q, k, v (after RoPE) and the output, saved by the kernel; the output is already
    // laid out as (batch, seq, heads, dim), so o_proj's input is the same tensor.
    let mut attn = (q + 2.0 * kv) * t * act_b + q * t * act_b;
    let score = b * heads * s * s;
    let mut transient = 2.0 * t * i.max(h) * act_b;
    match kern {
        Kernel::Flash | Kernel::Efficient => {}
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
    if a.experts > 0 {
        // Each token runs through `experts_per_token` experts; the router's logits and the
        // dispatched copies of the hidden state are saved too.
        mlp = mlp * a.experts_per_token as f64
            + t * a.experts as f64 * 4.0
            + 2.0 * t * h * act_b * a.experts_per_token as f64;
    }
    LayerActs { saved: norms + attn + mlp, backward_transient: transient }
}
