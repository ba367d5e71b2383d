//! Activations per architecture: the attention kernel PyTorch picks, the bytes each decoder
//! layer saves for backward (norms, attention, MLP, MoE routing) and its backward transient.

use crate::estimate::job::Job;
use crate::estimate::model::{Architecture, MlpKind, NormKind};
use crate::estimate::options::*;

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
pub(super) enum Kernel {
    Flash,
    Efficient,
    Math,
    /// transformers' `repeat_kv` then the memory-efficient kernel: K and V expanded to every head.
    EfficientRepeatKv,
    Eager,
}

pub(super) fn kernel(job: &Job, act_bytes: u64, no_score: bool) -> Kernel {
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
pub(super) fn activation_bytes(job: &Job) -> (f64, f64) {
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

/// Bytes of one decoder layer's activations (per micro-batch, per GPU).
pub(super) struct LayerActs {
    /// Bytes saved per layer.
    pub(super) saved: f64,
    /// Largest transient during the layer's backward beyond what it saved.
    pub(super) backward_transient: f64,
    /// Bytes per token of `saved`, for the explanation.
    pub(super) per_token: f64,
}

/// A GPT-2 block as Hugging Face `GPT2Block` builds it: LayerNorm, learned positions, a plain
/// MLP with `gelu_new` (the tanh GELU written as separate elementwise ops) and dropout 0.1 on
/// the embeddings, attention and both residual branches (GPT2Config `embd_pdrop`,
/// `attn_pdrop`, `resid_pdrop`). Learned positions with a plain LayerNorm MLP identify it.
pub(super) fn is_gpt2_block(a: &Architecture) -> bool {
    a.learned_positions > 0 && a.mlp == MlpKind::Plain && a.norm == NormKind::LayerNorm
}

/// Bytes per token-hidden element a norm saves: its input (upcast to fp32 in HF's RMSNorm),
/// the normalised tensor, and the input each consuming linear layer saves (autocast casts the
/// input separately for each linear: q, k and v each keep their own bf16 copy). A GPT-2
/// LayerNorm is one `native_layer_norm`, which saves its input (and per-row mean and rstd)
/// but not its output: only the consumers' copies of the output are saved.
pub(super) fn norm_saved(norm: NormKind, act_b: f64, mixed: bool, consumers: f64, gpt2: bool) -> f64 {
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
pub(super) fn layer_activations(
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
