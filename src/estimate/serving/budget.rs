//! The start-up budget of one pipeline stage: weights, the profiling pass's activation peak,
//! memory outside PyTorch and CUDA graphs; what is left for the KV cache (the binding stage's),
//! and why the server would not start. Pure.

use super::Failure;
use super::options::{Engine, Quantization};
use super::resolve::{Resolved, Stage, stages};
use crate::estimate::model::Architecture;
use crate::estimate::presets::ServingFacts;
use crate::estimate::units::GIB;

/// Parameters of the model, split by how they are stored.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Linear layers of the decoder: what quantisation converts (and TP splits).
    decoder_linear: u64,
    /// Of which routed-expert weights (MXFP4 converts only these).
    experts: u64,
    /// Input embedding + LM head (kept 16-bit; vocab-parallel under TP).
    embed_head: u64,
    /// Norms and other small parameters, replicated.
    other: u64,
    /// A vision tower, 16-bit, replicated.
    vision: u64,
}

fn split(arch: &Architecture, facts: &ServingFacts, scale: f64) -> Split {
    if let Some(x) = facts.exact {
        return Split {
            decoder_linear: x.total - x.embed_head - x.other,
            experts: x.experts,
            embed_head: x.embed_head,
            other: x.other,
            vision: facts.vision_params,
        };
    }
    let s = |n: u64| (n as f64 * scale).round() as u64;
    let total = s(arch.param_count());
    let embed_head = s(arch.embedding_params() + arch.lm_head_params());
    let decoder_linear = s(arch.decoder_linear_params());
    let experts = s(u64::from(arch.layers) * u64::from(arch.experts) * arch.mlp_params_one());
    Split {
        decoder_linear,
        experts,
        embed_head,
        other: total.saturating_sub(embed_head + decoder_linear),
        vision: facts.vision_params,
    }
}

impl Resolved<'_> {
    /// Per-GPU weight bytes of `stage`.
    fn weights(&self, st: Stage) -> f64 {
        let a = &self.job.model.arch;
        let sp = split(a, &self.facts, self.job.model.params_scale());
        let frac = f64::from(st.layers) / f64::from(a.layers.max(1));
        let tp = f64::from(self.tp);
        let d = self.dtype as f64;
        let q = self.quant.bytes_per_weight(d);
        let (quantised, plain) = match self.quant {
            Quantization::None => (0.0, sp.decoder_linear as f64),
            // MXFP4 converts the routed experts (gpt-oss keeps attention in bf16); vLLM pads
            // the expert intermediate to a multiple of 256 for its Hopper kernels
            // (`vllm/model_executor/layers/quantization/mxfp4.py`, `round_up(..., 256)`).
            Quantization::Mxfp4 if sp.experts > 0 => {
                let i = f64::from(a.intermediate);
                let padded = (i / 256.0).ceil() * 256.0;
                (sp.experts as f64 * padded / i, (sp.decoder_linear - sp.experts) as f64)
            }
            _ => (sp.decoder_linear as f64, 0.0),
        };
        let decoder = frac * (quantised * q + plain * d) / tp;
        // Embedding on the first stage, LM head on the last (tied: both hold it); both
        // vocab-parallel under TP (`VocabParallelEmbedding`, `ParallelLMHead`).
        let eh = sp.embed_head as f64 * d / tp;
        let embed_head = match (st.first, st.last) {
            (true, true) => eh,
            (true, false) | (false, true) => {
                if a.tied_embeddings {
                    eh
                } else {
                    eh / 2.0
                }
            }
            (false, false) => 0.0,
        };
        // The rotary cos/sin cache: max_position x rotary dim in the model dtype, one per model
        // (`vllm/model_executor/layers/rotary_embedding.py`, `_compute_cos_sin_cache`).
        let rope = f64::from(self.facts.max_context) * f64::from(a.head_dim) * d;
        let vision = if st.first { sp.vision as f64 * d } else { 0.0 };
        decoder + embed_head + frac * sp.other as f64 * d + rope + vision
    }

    /// Activation peak of the profiling pass on `stage` (docs/memory-model.md, "Serving").
    fn activation(&self, st: Stage) -> f64 {
        let a = &self.job.model.arch;
        let n = f64::from(self.max_num_batched_tokens);
        let d = self.dtype as f64;
        let h = f64::from(a.hidden);
        let i = f64::from(a.intermediate);
        let tp = f64::from(self.tp);
        // Hidden states and residual of the batch, alive through the pass.
        let base = 2.0 * n * h * d;
        // The sampler pass: max_num_seqs x vocabulary logits and their copies (last stage).
        let sampler = if st.last {
            f64::from(self.max_num_seqs) * f64::from(a.vocab) * self.era.sampler_bytes_per_logit
        } else {
            0.0
        };
        if a.experts > 0 {
            // Fused-MoE workspaces (`vllm/model_executor/layers/fused_moe/fused_moe.py`,
            // intermediate_cache1/2/3: tokens x top-k x (2I + I) / TP and x H), cached for the
            // life of the server, so they add to the sampler's peak. MXFP4 runs its own kernel.
            let ws = if self.quant == Quantization::Mxfp4 {
                0.0
            } else {
                let routed = a.experts_per_token.saturating_sub(self.facts.shared_experts).max(1);
                n * f64::from(routed) * (3.0 * i / tp + h) * d
            };
            base + sampler + ws
        } else {
            // The dense MLP's gate/up and activation outputs are freed before the sampler runs.
            let mlp = n * 3.0 * i / tp * d;
            base + sampler.max(mlp)
        }
    }

    fn non_torch(&self) -> f64 {
        let comm = if self.tp >= 2 {
            self.era.non_torch_comm_bytes + 0.04 * GIB as f64 * f64::from(self.tp / 2).log2()
        } else {
            0.0
        };
        self.era.non_torch_tp1_bytes + comm
    }

    /// CUDA-graph pools: about six hidden-size tensors per layer for the largest captured
    /// batch (0.84 GiB logged for Llama 3.1 8B on vLLM 0.19; 0.75 GiB by this rule).
    fn cuda_graphs(&self, st: Stage) -> f64 {
        if self.cfg.enforce_eager {
            return 0.0;
        }
        let a = &self.job.model.arch;
        let tokens = f64::from(self.era.graph_capture_tokens.min(self.max_num_seqs));
        f64::from(st.layers) * tokens * f64::from(a.hidden) * self.dtype as f64 * 6.0
    }
}

/// One evaluation at given settings: the binding stage's terms and the KV left.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sized {
    pub(super) stage: Stage,
    pub(super) weights: f64,
    pub(super) activation: f64,
    pub(super) non_torch: f64,
    pub(super) graphs: f64,
    pub(super) available: f64,
}

pub(super) fn size(r: &Resolved<'_>, total: f64) -> Sized {
    let budget = total * r.fraction;
    let mut worst: Option<(f64, Sized)> = None;
    for st in stages(r.job.model.arch.layers, r.pp) {
        let weights = r.weights(st);
        let activation = r.activation(st);
        let non_torch = r.non_torch();
        let graphs = r.cuda_graphs(st);
        let available = if r.era.activation_in_budget {
            budget - weights - activation - non_torch
        } else {
            // SGLang `profile_max_num_token`: the static fraction holds weights and KV only.
            budget - weights - non_torch
        };
        // vLLM sizes the cache by the stage that holds the fewest tokens.
        let per_token = r.kv_bytes_per_token(st).max(1) as f64;
        let tokens = available / per_token;
        let s = Sized { stage: st, weights, activation, non_torch, graphs, available };
        if worst.is_none_or(|(t, _)| tokens < t) {
            worst = Some((tokens, s));
        }
    }
    worst.expect("at least one stage").1
}

/// Why it would not start at these settings, if it would not.
pub(super) fn judge(r: &Resolved<'_>, total: f64, s: &Sized) -> Option<Failure> {
    if let Some(ctx) = (r.facts.max_context > 0).then_some(r.facts.max_context)
        && r.max_model_len > ctx
    {
        return Some(Failure::MaxModelLenOverModel);
    }
    if s.weights + s.non_torch > total {
        return Some(Failure::WeightsDoNotFit);
    }
    if s.available <= 0.0 {
        return Some(Failure::NoKvCacheMemory);
    }
    if r.request_bytes(s.stage, r.max_model_len) as f64 > s.available && r.cfg.engine == Engine::Vllm {
        return Some(Failure::KvCacheBelowMaxModelLen);
    }
    if r.cfg.engine == Engine::Tgi && (r.request_bytes(s.stage, r.max_model_len) as f64) > s.available {
        return Some(Failure::KvCacheBelowMaxModelLen);
    }
    // After the KV cache: CUDA graphs (and, from vLLM 0.17, the sampler warm-up's fp32 logits)
    // come out of what the utilisation leaves; SGLang's activations live there too.
    let headroom = total * (1.0 - r.fraction);
    let mut after = s.graphs;
    if r.era.sampler_warmup_after_kv && s.stage.last {
        after += f64::from(r.max_num_seqs) * f64::from(r.job.model.arch.vocab) * 4.0;
    }
    if !r.era.activation_in_budget {
        after += s.activation;
    }
    if after > headroom {
        return Some(Failure::HeadroomExhausted);
    }
    None
}
