//! KV-cache sizing: bytes per token and per request of a stage, by attention layout (full,
//! sliding window under vLLM's hybrid manager, MLA latent) and TP split. Pure.

use super::resolve::{Resolved, Stage};
use crate::estimate::presets::KvLayout;

impl Resolved<'_> {
    /// KV bytes per token of one layer on one GPU.
    fn kv_per_layer_token(&self) -> u64 {
        let a = &self.job.model.arch;
        match self.facts.kv {
            // MLA caches one latent of kv_lora_rank + rope dims per token, the same on every
            // TP rank (DeepSeek-V2 paper section 2.1; vLLM `MLAAttentionSpec`, one KV head).
            KvLayout::Mla { kv_lora_rank, rope_dim } => u64::from(kv_lora_rank + rope_dim) * self.kv_bytes,
            // K and V of each KV head; heads are split over TP and replicated when TP exceeds
            // them (vLLM `QKVParallelLinear`: num_kv_heads = max(1, total // tp)).
            _ => 2 * u64::from((a.kv_heads / self.tp).max(1)) * u64::from(a.head_dim) * self.kv_bytes,
        }
    }

    /// (full-attention layers, sliding layers, window) of a stage with `layers` layers.
    fn layer_kinds(&self, layers: u32) -> (u32, u32, u32) {
        let kv_layers = if self.facts.kv_layers > 0 {
            (u64::from(layers) * u64::from(self.facts.kv_layers) / u64::from(self.job.model.arch.layers.max(1))) as u32
        } else {
            layers
        };
        match self.facts.kv {
            KvLayout::Sliding { window, sliding, full } if self.era.sliding_saves => {
                let period = sliding + full;
                let n_full = kv_layers * full / period.max(1);
                (n_full, kv_layers - n_full, window)
            }
            _ => (kv_layers, 0, 0),
        }
    }

    /// KV bytes one request of `len` tokens needs on `stage` (vLLM `max_memory_usage_bytes`
    /// of `FullAttentionSpec`: cdiv(len, block) pages; of `SlidingWindowSpec`:
    /// cdiv(min(window - 1 + max_num_batched_tokens, len), block) + 1 pages).
    pub(super) fn request_bytes(&self, st: Stage, len: u32) -> u64 {
        let (full, sliding, window) = self.layer_kinds(st.layers);
        let b = u64::from(self.block);
        let page = b * self.kv_per_layer_token();
        let full_pages = u64::from(len).div_ceil(b);
        let w_tokens =
            (u64::from(window) + u64::from(self.max_num_batched_tokens)).saturating_sub(1).min(u64::from(len));
        let sliding_pages = w_tokens.div_ceil(b) + 1;
        u64::from(full) * full_pages * page + u64::from(sliding) * sliding_pages * page
    }

    pub(super) fn kv_bytes_per_token(&self, st: Stage) -> u64 {
        let (full, sliding, _) = self.layer_kinds(st.layers);
        u64::from(full + sliding) * self.kv_per_layer_token()
    }
}
