//! Training: the model states (`states.rs`), activations and logits, multi-GPU buffers, and the
//! three moments whose largest is the tensor peak.

use super::activations::{activation_bytes, is_gpt2_block, kernel, layer_activations, norm_saved};
use super::states::{ModelStates, model_states, sharing, zero_layout};
use super::{Breakdown, CUBLAS_WORKSPACE_BYTES, PerGpu, Sizes, Stage, cublas_workspaces, finish};
use crate::estimate::explain::{Terms, gib, n, sat};
use crate::estimate::job::Job;
use crate::estimate::options::*;

pub(super) fn training(job: &Job, st: Stage, z: Sizes, no_score: bool, explain: bool) -> Breakdown {
    let Sizes { stage_p, linear_frac, layer_p, emb_p, head_p, tp, h, v, .. } = z;
    let a = &job.model.arch;
    let prec = job.precision;
    let ft = job.fine_tuning.kind;
    let dp = job.data_parallel() as f64;
    let (_, shard_grad, shard_param) = job.strategy.shards();
    let full = ft == FineTuningKind::Full;
    let zero_layout = zero_layout(job);
    let mut t = Terms::new(job.model.params(), explain);
    let ModelStates { weights, grads, states, temps, slack_persistent, slack_grads, trainable, w_b, grad_elem_b } =
        model_states(job, st, &z, &mut t);

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
    let head_phase = logits + final_norm;
    let (activations, logits_at_peak) = if job.activation_checkpointing {
        // Non-reentrant checkpointing keeps each layer's input; backward recomputes one layer.
        if head_phase >= layer_phase {
            (ckpt + final_norm + emb_dropout, logits)
        } else {
            (ckpt + layer_phase + emb_dropout, 0.0)
        }
    } else {
        (
            st.layers as f64 * layer.saved * in_flight + if st.last { final_norm } else { 0.0 } + emb_dropout,
            logits.max(fsdp_grad),
        )
    };
    let act_formula = || {
        if job.activation_checkpointing {
            format!(
                "{} layers x {} tokens x hidden {} x {} B (checkpointed inputs){} + the larger of: logits phase {}, one layer recomputed {} ({} B/token saved + backward transient)",
                st.layers,
                n(tok * in_flight),
                a.hidden,
                n(res_b),
                if in_flight > 1.0 { format!(", {} micro-batches in flight", in_flight) } else { String::new() },
                gib(head_phase),
                gib(layer_phase),
                n(layer.per_token)
            )
        } else {
            format!(
                "{} layers x {} tokens x {} B/token saved for backward{}{}",
                st.layers,
                n(tok * in_flight),
                n(layer.per_token),
                if st.last { " + the final norm's" } else { "" },
                if gpt2 { " + the embedding dropout mask (1 B/element)" } else { "" }
            )
        }
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
        || {
            format!(
                "{} tokens x vocabulary {} x ({} B logits + 4 B log-softmax + 2 x 4 B gradients){}",
                n(tok),
                a.vocab,
                n(act_b),
                if logits_at_peak == 0.0 && logits > 0.0 { "; freed before the recomputed layer's peak" } else { "" }
            )
        },
        "HF ForCausalLMLoss upcasts logits to fp32; torch nll_loss saves log_softmax",
    );

    // ---- buffers ----------------------------------------------------------------------------
    // Autocast keeps a 16-bit copy of each weight a matmul saved for backward; with
    // checkpointing only the LM head's survives the forward (the cache is cleared on autocast
    // exit and recomputation casts one layer at a time).
    let mut buffers = cublas_workspaces(&mut t);
    let mut copies = 0.0;
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
            || {
                if job.activation_checkpointing {
                    format!("LM head {} parameters x 2 B (checkpointing recasts one layer at a time)", n(head_p))
                } else {
                    format!(
                        "{} parameters x {:.0}% in linears x 2 B (bf16 copies matmuls save)",
                        n(stage_p),
                        linear_frac * 100.0
                    )
                }
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
                    || format!(
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
                    || format!(
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
                    || format!(
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
            || format!("reduce_bucket_size {} elements x 2 B", n(knobs.zero_reduce_bucket_elements as f64)),
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
        || format!("{} trainable parameters x {} B (gradient_as_bucket_view=False: a second copy of every gradient)", n(trainable), n(grad_elem_b)),
        "torch/nn/parallel/distributed.py (bucket_cap_mb 25, first bucket 1 MiB, gradient_as_bucket_view False); reducer.cpp initialize_buckets",
    );

    // ---- the three moments ------------------------------------------------------------------
    t.add(
        "allocator block slack",
        slack_persistent + slack_grads,
        || format!(
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
            / sharing(job, shard_grad);
        let emb_grads = if full && !a.tied_embeddings { emb_p * grad_elem_b / sharing(job, shard_grad) } else { 0.0 };
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
        || format!(
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
