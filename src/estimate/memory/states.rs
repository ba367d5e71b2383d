//! Training's model states on one GPU: weights, gradients, optimizer states and the step's
//! temporaries per trainable parameter, their sharding and offload, and the caching
//! allocator's slack on parameter-sized tensors.

use super::{Sizes, Stage};
use crate::estimate::explain::{Terms, n};
use crate::estimate::job::Job;
use crate::estimate::model::{Architecture, MlpKind};
use crate::estimate::options::*;

/// GPUs that share one copy of a state: when it is `sharded`, the data-parallel degree (the
/// shard group with fsdp-hybrid), else 1.
pub(super) fn sharing(job: &Job, sharded: bool) -> f64 {
    if !sharded {
        return 1.0;
    }
    let dp = job.data_parallel() as f64;
    match job.strategy {
        Strategy::FsdpHybrid => (job.hybrid_shard_group.max(1) as f64).min(dp),
        _ => dp,
    }
}

/// Sharded optimizer states with mixed precision: the ZeRO paper's layout, a 16-bit working
/// copy with fp32 master weights in the optimizer partition.
pub(super) fn zero_layout(job: &Job) -> bool {
    job.strategy.shards().0 && job.precision.is_mixed()
}

/// One GPU's model states (bytes) and the per-element sizes the later terms reuse.
pub(super) struct ModelStates {
    pub(super) weights: f64,
    pub(super) grads: f64,
    pub(super) states: f64,
    pub(super) temps: f64,
    /// Allocator block slack on the weights and optimizer states, and on the gradients.
    pub(super) slack_persistent: f64,
    pub(super) slack_grads: f64,
    /// Trainable parameters on this GPU.
    pub(super) trainable: f64,
    /// Bytes per weight element and per gradient element.
    pub(super) w_b: f64,
    pub(super) grad_elem_b: f64,
}

/// The model states of stage `st` on one GPU; adds the weights, gradients, optimizer states
/// and step temporaries to `t`.
pub(super) fn model_states(job: &Job, st: Stage, z: &Sizes, t: &mut Terms) -> ModelStates {
    let &Sizes { stage_p, quant_frac, tp, h, .. } = z;
    let (shard_opt, shard_grad, shard_param) = job.strategy.shards();
    let div = |sharded: bool| sharing(job, sharded);
    let full = job.fine_tuning.kind == FineTuningKind::Full;
    let a = &job.model.arch;
    let prec = job.precision;
    let ft = job.fine_tuning.kind;

    // Bytes per element. Plain PyTorch AMP keeps fp32 weights and gradients (4 + 4) and fp32
    // optimizer state; DeepSpeed/FSDP mixed precision keeps a 16-bit working copy and 16-bit
    // gradients with fp32 master weights inside the optimizer partition (ZeRO paper, section 3:
    // 2 + 2 + K·Ψ with K = 12 for mixed-precision Adam).
    // FSDP instead keeps the fp32 parameters and gradients sharded (FSDP2 `fully_shard` with
    // `MixedPrecisionPolicy`, FSDP1 `FlatParameter`): the 16-bit copy exists only all-gathered,
    // per layer (the oracle's FSDP2 step: 4 + 4 + 8 + 4 B per parameter / world size).
    let fsdp = matches!(job.strategy, Strategy::Fsdp | Strategy::FsdpShardGradOp | Strategy::FsdpHybrid);
    let (w_b, g_b, master_b) = if zero_layout(job) && full && !fsdp {
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
    let weights_formula = || match ft {
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
    // Adafactor's factored states: a row and a column vector per matrix (7 a layer, plus the
    // embedding and the LM head).
    let matrices = (st.layers as f64) * 7.0 + 2.0;
    let states_formula = || {
        if job.optimizer == Optimizer::Adafactor {
            format!("{} matrices x (row + column vectors) x {} B", n(matrices), n(state_elem_b))
        } else {
            format!(
                "{} trainable parameters x ({} B {} states{}) / {} GPUs sharing them",
                n(trainable),
                n(states_per),
                job.optimizer,
                if master_b > 0.0 { " + 4 B fp32 master weights" } else { "" },
                div(shard_opt)
            )
        }
    };
    if job.optimizer == Optimizer::Adafactor {
        // Factored second moment: a row and a column vector per matrix (Shazeer & Stern 2018);
        // the step loops over parameters with one temporary the size of the largest one
        // (torch/optim/_adafactor.py `_single_tensor_adafactor`: `var_estimate = row_var @
        // col_var`, reused in place as the update).
        states = matrices * (h + a.intermediate.max(a.vocab) as f64) * state_elem_b / tp / div(shard_opt)
            + trainable * master_b / div(shard_opt);
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
        || {
            format!(
                "{}{}",
                weights_formula(),
                if shard_param { format!(" / {} GPUs sharing them", div(true)) } else { String::new() }
            )
        },
        "HF transformers parameter shapes; ZeRO paper (Rajbhandari et al. 2019) section 3; QLoRA paper section 3",
    );
    t.add(
        "gradients",
        grads,
        || {
            format!(
                "{} trainable parameters x {} B / {} GPUs sharing them",
                n(trainable),
                n(grad_elem_b),
                div(shard_grad)
            )
        },
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
        || format!("{} trainable parameters x {} B (foreach step's state-sized temporary)", n(trainable), n(temp_per)),
        "torch/optim/adamw.py _multi_tensor_adamw; calibration s1-0 (fp32 AdamW 20 B/param at the step)",
    );
    ModelStates { weights, grads, states, temps, slack_persistent, slack_grads, trainable, w_b, grad_elem_b }
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
