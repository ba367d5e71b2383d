//! What the serving engine knows of a model beyond its architecture: context, KV layout,
//! checkpoint format; from a preset, from a `config.json`, or unknown. Pure.

use super::ServingConfig;
use super::options::Quantization;
use crate::estimate::job::{Job, ModelSource};
use crate::estimate::presets::{KvLayout, ServingFacts, find_preset};

/// What the engine needs of a model beyond its
/// [`Architecture`](crate::estimate::model::Architecture): its context, KV layout, checkpoint
/// format; a preset's published facts, or plain full attention for any other model.
pub(super) fn facts_of(job: &Job, cfg: &ServingConfig) -> ServingFacts {
    if let Some(f) = cfg.model_facts {
        return f;
    }
    if job.model.source == ModelSource::Preset
        && let Some(p) = find_preset(&job.model.name)
    {
        return p.serving;
    }
    ServingFacts::unknown()
}

/// The serving facts a Hugging Face `config.json` states (the text config of a multimodal one):
/// `max_position_embeddings`; `sliding_window` with `layer_types` (`sliding_attention` /
/// `full_attention`), or on every layer when no pattern is given and `use_sliding_window` is not
/// false; MLA's `kv_lora_rank` and `qk_rope_head_dim`; `quantization_config.quant_method`
/// (`fp8`, `awq`, `gptq`, `bitsandbytes`, `mxfp4`). What is absent stays unknown.
pub fn facts_from_hf_config(config: &serde_json::Value) -> ServingFacts {
    let text = config.get("text_config").filter(|t| t.is_object()).unwrap_or(config);
    let num = |k: &str| text.get(k).and_then(serde_json::Value::as_u64).and_then(|n| u32::try_from(n).ok());
    let mut f = ServingFacts::unknown();
    f.max_context = num("max_position_embeddings").unwrap_or(0);
    f.multimodal = config.get("vision_config").is_some();
    if let (Some(kv_lora_rank), Some(rope_dim)) = (num("kv_lora_rank"), num("qk_rope_head_dim")) {
        f.kv = KvLayout::Mla { kv_lora_rank, rope_dim };
    } else if let Some(window) = num("sliding_window").filter(|w| *w > 0) {
        let types: Vec<&str> = text
            .get("layer_types")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let uses = text.get("use_sliding_window").and_then(serde_json::Value::as_bool) != Some(false);
        if !types.is_empty() {
            let sliding = types.iter().filter(|t| **t == "sliding_attention").count() as u32;
            let full = types.len() as u32 - sliding;
            if sliding > 0 {
                f.kv = KvLayout::Sliding { window, sliding, full };
            }
        } else if uses && f.max_context > window {
            f.kv = KvLayout::Sliding { window, sliding: 1, full: 0 };
        }
    }
    if let Some(q) = config
        .pointer("/quantization_config/quant_method")
        .and_then(serde_json::Value::as_str)
        .and_then(|m| m.parse::<Quantization>().ok())
    {
        f.checkpoint = q;
    }
    f
}
