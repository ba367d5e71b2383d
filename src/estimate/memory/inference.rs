//! Inference: weights, KV cache, the prefill transient and the last position's logits.

use super::{Breakdown, CUBLAS_WORKSPACE_BYTES, PerGpu, Stage, cublas_workspaces, finish};
use crate::estimate::explain::{Terms, n, sat};
use crate::estimate::job::Job;
use crate::estimate::model::MlpKind;
use crate::estimate::options::*;

pub(super) fn inference(job: &Job, st: Stage, stage_p: f64, quant_frac: f64, tp: f64, explain: bool) -> Breakdown {
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
    let mut t = Terms::new(job.model.params(), explain);
    t.add(
        "weights",
        weights,
        || {
            format!(
                "{} parameters on this GPU: {:.0}% in decoder linears x {} B ({}), the rest x {} B",
                n(stage_p),
                quant_frac * 100.0,
                n(qb),
                job.weight_quantization,
                n(base_bytes)
            )
        },
        "HF transformers parameter shapes; int4/nf4 scale overhead: GPTQ/AWQ group 128, QLoRA paper section 3",
    );
    t.add(
        "KV cache",
        kv,
        || {
            format!(
                "2 (K, V) x {} layers x {} tokens x {} KV dims x {} B",
                st.layers,
                n(tokens),
                n(kv_dim / tp),
                n(kv_elem)
            )
        },
        "Pope et al. 2022, Efficiently Scaling Transformer Inference, section 2.1",
    );
    t.add(
        "activations (prefill transient)",
        transient,
        || {
            format!(
                "{} tokens x ({} MLP intermediates x {} + 4 x hidden {}) x {} B",
                n(tokens),
                n(mlp_n * routed),
                n(a.intermediate as f64 / tp),
                a.hidden,
                n(act_b)
            )
        },
        "HF LlamaMLP / GPT2MLP forward under torch.inference_mode (calibration s1-21..23)",
    );
    t.add(
        "logits",
        logits,
        || {
            format!(
                "micro-batch {} x vocabulary {} x 6 B (16-bit logits of the last position, fp32 upcast)",
                job.micro_batch_size, a.vocab
            )
        },
        "HF generate prefill with logits_to_keep=1",
    );
    cublas_workspaces(&mut t);
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
        || "weights + KV cache + prefill transient + logits + workspaces".into(),
        "torch.cuda.max_memory_allocated() on the calibration runs",
    );
    let m = finish(m, job, &mut t);
    Breakdown { per_gpu: m, terms: t.list }
}
