//! Reading a model's architecture from its Hugging Face `config.json`:
//! `architecture_from_hf_config` turns the parsed JSON of a Llama, Mistral, Mixtral, Qwen2,
//! Gemma, Phi-3 or GPT-2 config into an [`Architecture`], any other decoder generically from
//! the standard field names (a multimodal config from its `text_config`), and `HfConfigError`
//! says which fields were missing or invalid and what they held, pointing to `--architecture`.
//!
//! Defaults follow the `transformers` config classes (`LlamaConfig`, `MixtralConfig`,
//! `Qwen2Config`, `GemmaConfig`, `Phi3Config`, `GPT2Config`): `num_key_value_heads` defaults
//! to `num_attention_heads`, `head_dim` to `hidden_size / num_attention_heads`, GPT-2's
//! `n_inner` to `4 * n_embd`, and `tie_word_embeddings` to true for Gemma and GPT-2 and false
//! for the others. A JSON `null` counts as absent. Size fields without a class default
//! (layers, widths, vocabulary) are required rather than silently defaulted.

use serde::Deserialize;
use serde_json::Value;

use super::model::{Architecture, Bias, MlpKind, NormKind};

/// The `model_type` values understood.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["llama", "mistral", "mixtral", "qwen2", "gemma", "phi3", "gpt2"];

/// Why a `config.json` could not be turned into an [`Architecture`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HfConfigError {
    #[error("config.json must be a JSON object, got {found}")]
    NotAnObject { found: &'static str },
    #[error("config.json has no `{field}`; or give the shape with --architecture (vramgate.io/architecture)")]
    MissingField { field: &'static str },
    /// A config read generically (a `model_type` without its own reader) lacks standard fields.
    #[error(
        "config.json (model_type `{model_type}`, read generically from the standard decoder fields) has no {}; \
         give the shape with --architecture (vramgate.io/architecture) instead, e.g. \
         layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=128256",
        .fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
    )]
    MissingFields { model_type: String, fields: Vec<&'static str> },
    #[error(
        "config.json model_type `{model_type}` is an encoder-decoder model (is_encoder_decoder: true), which vramgate \
         does not model; give a decoder's shape with --architecture (vramgate.io/architecture)"
    )]
    EncoderDecoder { model_type: String },
    #[error("config.json `{field}` = {value} is invalid: {reason}")]
    InvalidField {
        field: &'static str,
        /// The offending value as JSON text (shortened if long).
        value: String,
        reason: String,
    },
    #[error(
        "config.json model_type `{model_type}` is not supported (supported: {})",
        SUPPORTED_MODEL_TYPES.join(", ")
    )]
    UnsupportedModelType { model_type: String },
}

/// The fields of a `config.json` that are read, by their `transformers` names; every other
/// field is ignored. A JSON `null` reads as absent (`None`).
#[derive(Debug, Default, Deserialize)]
struct HfConfig {
    model_type: Option<Field<String>>,
    // Llama-like (`LlamaConfig`, `MixtralConfig`, `Qwen2Config`, `GemmaConfig`, `Phi3Config`).
    num_hidden_layers: Option<Field<u64>>,
    hidden_size: Option<Field<u64>>,
    num_attention_heads: Option<Field<u64>>,
    num_key_value_heads: Option<Field<u64>>,
    head_dim: Option<Field<u64>>,
    intermediate_size: Option<Field<u64>>,
    vocab_size: Option<Field<u64>>,
    tie_word_embeddings: Option<Field<bool>>,
    attention_bias: Option<Field<bool>>,
    mlp_bias: Option<Field<bool>>,
    num_local_experts: Option<Field<u64>>,
    num_experts: Option<Field<u64>>,
    num_experts_per_tok: Option<Field<u64>>,
    /// Each routed expert's MLP width where it differs from `intermediate_size` (Qwen2-MoE,
    /// DeepSeek-V2/V3, OLMoE configs).
    moe_intermediate_size: Option<Field<u64>>,
    is_encoder_decoder: Option<Field<bool>>,
    // GPT-2 (`GPT2Config`).
    n_layer: Option<Field<u64>>,
    n_embd: Option<Field<u64>>,
    n_head: Option<Field<u64>>,
    n_inner: Option<Field<u64>>,
    n_positions: Option<Field<u64>>,
}

/// One present field: a value of the expected type, or the value it held instead (kept for the
/// error message, which names it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Field<T> {
    Valid(T),
    Invalid(Value),
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let head: String = s.chars().take(57).collect();
        format!("{head}...")
    } else {
        s
    }
}

fn invalid(field: &'static str, v: &Value, reason: impl Into<String>) -> HfConfigError {
    HfConfigError::InvalidField { field, value: shown(v), reason: reason.into() }
}

/// A positive integer that fits in `u32`, if present.
fn opt_u32(field: &'static str, value: &Option<Field<u64>>) -> Result<Option<u32>, HfConfigError> {
    let n = match value {
        None => return Ok(None),
        Some(Field::Invalid(v)) => return Err(invalid(field, v, "expected a non-negative integer")),
        Some(Field::Valid(n)) => *n,
    };
    let v = Value::from(n);
    let n = u32::try_from(n).map_err(|_| invalid(field, &v, "too large"))?;
    if n == 0 {
        return Err(invalid(field, &v, "must be positive"));
    }
    Ok(Some(n))
}

fn req_u32(field: &'static str, value: &Option<Field<u64>>) -> Result<u32, HfConfigError> {
    opt_u32(field, value)?.ok_or(HfConfigError::MissingField { field })
}

fn opt_bool(field: &'static str, value: &Option<Field<bool>>) -> Result<Option<bool>, HfConfigError> {
    match value {
        None => Ok(None),
        Some(Field::Valid(b)) => Ok(Some(*b)),
        Some(Field::Invalid(v)) => Err(invalid(field, v, "expected true or false")),
    }
}

/// `hidden / heads`, which must divide exactly.
fn derived_head_dim(hidden_field: &'static str, hidden: u32, heads: u32) -> Result<u32, HfConfigError> {
    if !hidden.is_multiple_of(heads) {
        return Err(invalid(
            hidden_field,
            &Value::from(hidden),
            format!("not a multiple of the head count {heads}, and no head_dim is given"),
        ));
    }
    Ok(hidden / heads)
}

/// The [`Architecture`] described by a Hugging Face `config.json` (already parsed).
///
/// `model_type` picks the layer shapes: `llama`, `mistral`, `mixtral`, `qwen2`, `gemma` and
/// `phi3` are gated-MLP / RMSNorm / rotary models (`hidden_act` is not consulted: it does not
/// tell a gated MLP from a plain one, Gemma's gated MLP uses GELU); `gpt2` is the plain-MLP /
/// LayerNorm / learned-position model. Qwen2 always has q/k/v biases; for the others
/// `attention_bias: true` is read as q/k/v biases (Llama also biases `o_proj` then, `hidden`
/// parameters per layer that this model does not count) and `mlp_bias: true` is rejected.
/// MoE: `num_local_experts` (Mixtral) or `num_experts`, with `num_experts_per_tok`.
pub fn architecture_from_hf_config(json: &Value) -> Result<Architecture, HfConfigError> {
    if !json.is_object() {
        return Err(HfConfigError::NotAnObject { found: json_kind(json) });
    }
    let (json, outer_type) = text_part(json);
    // Cannot fail on an object: every field read takes any JSON value (`Field::Invalid`).
    let cfg = HfConfig::deserialize(json).unwrap_or_default();
    let model_type = match &cfg.model_type {
        None => outer_type.unwrap_or(""),
        Some(Field::Valid(s)) => s.as_str(),
        Some(Field::Invalid(v)) => return Err(invalid("model_type", v, "expected a string")),
    };
    if opt_bool("is_encoder_decoder", &cfg.is_encoder_decoder)?.unwrap_or(false) {
        return Err(HfConfigError::EncoderDecoder { model_type: model_type.to_string() });
    }
    match model_type {
        "gpt2" => gpt2(&cfg),
        "llama" | "mistral" | "mixtral" | "qwen2" | "gemma" | "phi3" => llama_like(&cfg, model_type),
        other => generic(&cfg, other),
    }
}

/// The part of a config that describes the language model: a multimodal config's nested
/// `text_config` (Llava, Mllama, Gemma 3, Qwen2-VL style) when the top level has no layer
/// count, with the top level's `model_type` as a fallback name.
fn text_part(json: &Value) -> (&Value, Option<&str>) {
    match json.get("text_config") {
        Some(t) if t.is_object() && json.get("num_hidden_layers").is_none() => {
            (t, json.get("model_type").and_then(Value::as_str))
        }
        _ => (json, None),
    }
}

/// Whether `model_type` is read by its own reader rather than [`generic`].
pub fn reads_model_type(model_type: &str) -> bool {
    SUPPORTED_MODEL_TYPES.contains(&model_type)
}

/// The `model_type` a config names (its `text_config`'s for a multimodal one), if any.
pub fn model_type_of(json: &Value) -> Option<&str> {
    let (part, outer) = text_part(json);
    part.get("model_type").and_then(Value::as_str).or(outer)
}

/// Any other decoder, from the standard `transformers` fields (`PretrainedConfig` names:
/// `num_hidden_layers`, `hidden_size`, `num_attention_heads`, `num_key_value_heads`,
/// `head_dim`, `intermediate_size`, `vocab_size`, `tie_word_embeddings`, and for MoE
/// `num_local_experts`/`num_experts`, `num_experts_per_tok`, `moe_intermediate_size`), with
/// the Llama block (gated MLP, RMSNorm, rotary positions) that the decoders using these
/// names share; the model's name says it was read generically. Every missing field is
/// named at once.
fn generic(cfg: &HfConfig, model_type: &str) -> Result<Architecture, HfConfigError> {
    let required = [
        ("num_hidden_layers", &cfg.num_hidden_layers),
        ("hidden_size", &cfg.hidden_size),
        ("num_attention_heads", &cfg.num_attention_heads),
        ("intermediate_size", &cfg.intermediate_size),
        ("vocab_size", &cfg.vocab_size),
    ];
    let mut missing: Vec<&'static str> = required.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
    let experts = cfg.num_local_experts.is_some() || cfg.num_experts.is_some();
    if experts && cfg.num_experts_per_tok.is_none() {
        missing.push("num_experts_per_tok");
    }
    if !missing.is_empty() {
        let model_type = if model_type.is_empty() { "(none)" } else { model_type };
        return Err(HfConfigError::MissingFields { model_type: model_type.to_string(), fields: missing });
    }
    let mut a = llama_like(cfg, model_type)?;
    if a.experts > 0
        && let Some(w) = opt_u32("moe_intermediate_size", &cfg.moe_intermediate_size)?
    {
        a.intermediate = w;
    }
    Ok(a)
}

fn llama_like(cfg: &HfConfig, model_type: &str) -> Result<Architecture, HfConfigError> {
    let layers = req_u32("num_hidden_layers", &cfg.num_hidden_layers)?;
    let hidden = req_u32("hidden_size", &cfg.hidden_size)?;
    let heads = req_u32("num_attention_heads", &cfg.num_attention_heads)?;
    let kv_heads = opt_u32("num_key_value_heads", &cfg.num_key_value_heads)?.unwrap_or(heads);
    if heads % kv_heads != 0 {
        return Err(invalid(
            "num_key_value_heads",
            &Value::from(kv_heads),
            format!("must divide num_attention_heads ({heads})"),
        ));
    }
    let head_dim = match opt_u32("head_dim", &cfg.head_dim)? {
        Some(d) => d,
        None => derived_head_dim("hidden_size", hidden, heads)?,
    };
    let intermediate = req_u32("intermediate_size", &cfg.intermediate_size)?;
    let vocab = req_u32("vocab_size", &cfg.vocab_size)?;
    let tied_embeddings = opt_bool("tie_word_embeddings", &cfg.tie_word_embeddings)?.unwrap_or(model_type == "gemma");

    // Qwen2 hard-codes q/k/v biases; the others follow `attention_bias` (default false).
    let attention_bias = opt_bool("attention_bias", &cfg.attention_bias)?.unwrap_or(false);
    let bias = if model_type == "qwen2" || attention_bias { Bias::Qkv } else { Bias::None };
    if opt_bool("mlp_bias", &cfg.mlp_bias)?.unwrap_or(false) {
        return Err(invalid("mlp_bias", &Value::Bool(true), "MLP biases on a gated MLP are not supported"));
    }

    let (experts_field, experts) = match opt_u32("num_local_experts", &cfg.num_local_experts)? {
        Some(n) => ("num_local_experts", Some(n)),
        None => ("num_experts", opt_u32("num_experts", &cfg.num_experts)?),
    };
    let (experts, experts_per_token) = match experts {
        None if model_type == "mixtral" => {
            return Err(HfConfigError::MissingField { field: "num_local_experts" });
        }
        None => (0, 0),
        Some(n) => {
            let k = req_u32("num_experts_per_tok", &cfg.num_experts_per_tok)?;
            if k > n {
                return Err(invalid(
                    "num_experts_per_tok",
                    &Value::from(k),
                    format!("more than {experts_field} ({n})"),
                ));
            }
            (n, k)
        }
    };

    Ok(Architecture {
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        tied_embeddings,
        mlp: MlpKind::Gated,
        norm: NormKind::RmsNorm,
        bias,
        learned_positions: 0,
        experts,
        experts_per_token,
    })
}

fn gpt2(cfg: &HfConfig) -> Result<Architecture, HfConfigError> {
    let layers = req_u32("n_layer", &cfg.n_layer)?;
    let hidden = req_u32("n_embd", &cfg.n_embd)?;
    let heads = req_u32("n_head", &cfg.n_head)?;
    let head_dim = derived_head_dim("n_embd", hidden, heads)?;
    let intermediate = match opt_u32("n_inner", &cfg.n_inner)? {
        Some(n) => n,
        None => hidden
            .checked_mul(4)
            .ok_or_else(|| invalid("n_embd", &Value::from(hidden), "4 * n_embd (the default n_inner) overflows"))?,
    };
    let learned_positions = req_u32("n_positions", &cfg.n_positions)?;
    let vocab = req_u32("vocab_size", &cfg.vocab_size)?;
    let tied_embeddings = opt_bool("tie_word_embeddings", &cfg.tie_word_embeddings)?.unwrap_or(true);
    Ok(Architecture {
        layers,
        hidden,
        heads,
        kv_heads: heads,
        head_dim,
        intermediate,
        vocab,
        tied_embeddings,
        mlp: MlpKind::Plain,
        norm: NormKind::LayerNorm,
        bias: Bias::All,
        learned_positions,
        experts: 0,
        experts_per_token: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::presets::find_preset;
    use super::*;
    use serde_json::json;

    fn preset(name: &str) -> Architecture {
        find_preset(name).unwrap().arch.clone()
    }

    /// A small Llama `config.json` with only the fields every architecture needs, for the tests
    /// that add or change one.
    fn small_llama() -> Value {
        json!({
            "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
            "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100
        })
    }

    /// The error [`small_llama`] gives with `field` set to `value`.
    fn error_with(field: &str, value: Value) -> HfConfigError {
        let mut c = small_llama();
        c[field] = value;
        architecture_from_hf_config(&c).unwrap_err()
    }

    #[test]
    fn llama_2_7b() {
        // Abridged huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
        let cfg = json!({
            "architectures": ["LlamaForCausalLM"],
            "hidden_act": "silu",
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "num_attention_heads": 32,
            "num_hidden_layers": 32,
            "num_key_value_heads": 32,
            "rms_norm_eps": 1e-05,
            "tie_word_embeddings": false,
            "torch_dtype": "float16",
            "vocab_size": 32000
        });
        assert_eq!(architecture_from_hf_config(&cfg).unwrap(), preset("llama-2-7b"));
    }

    #[test]
    fn llama_defaults() {
        // No num_key_value_heads, head_dim or tie_word_embeddings.
        let mut cfg = small_llama();
        cfg["head_dim"] = Value::Null;
        let a = architecture_from_hf_config(&cfg).unwrap();
        assert_eq!((a.kv_heads, a.head_dim, a.tied_embeddings), (4, 16, false));
        assert_eq!((a.bias, a.experts, a.experts_per_token), (Bias::None, 0, 0));
    }

    #[test]
    fn llama_3_2_1b_tied() {
        let cfg = json!({
            "model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
            "intermediate_size": 8192, "vocab_size": 128256, "tie_word_embeddings": true,
            "hidden_act": "silu", "attention_bias": false, "mlp_bias": false
        });
        assert_eq!(architecture_from_hf_config(&cfg).unwrap(), preset("llama-3.2-1b"));
    }

    #[test]
    fn gpt2() {
        // Abridged huggingface.co/openai-community/gpt2/blob/main/config.json
        let cfg = json!({
            "activation_function": "gelu_new",
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_ctx": 1024,
            "n_embd": 768,
            "n_head": 12,
            "n_inner": null,
            "n_layer": 12,
            "n_positions": 1024,
            "vocab_size": 50257
        });
        assert_eq!(architecture_from_hf_config(&cfg).unwrap(), preset("gpt2"));
    }

    #[test]
    fn mixtral() {
        // Abridged huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json
        let cfg = json!({
            "architectures": ["MixtralForCausalLM"],
            "hidden_act": "silu",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "model_type": "mixtral",
            "num_attention_heads": 32,
            "num_experts_per_tok": 2,
            "num_hidden_layers": 32,
            "num_key_value_heads": 8,
            "num_local_experts": 8,
            "tie_word_embeddings": false,
            "vocab_size": 32000
        });
        assert_eq!(architecture_from_hf_config(&cfg).unwrap(), preset("mixtral-8x7b"));
    }

    #[test]
    fn qwen2_gemma_phi3() {
        let configs = [
            (
                "qwen2.5-0.5b",
                json!({
                    "model_type": "qwen2", "num_hidden_layers": 24, "hidden_size": 896,
                    "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
                    "vocab_size": 151936, "tie_word_embeddings": true, "hidden_act": "silu"
                }),
            ),
            // Gemma ties by default and has head_dim 256 != hidden / heads.
            (
                "gemma-7b",
                json!({
                    "model_type": "gemma", "num_hidden_layers": 28, "hidden_size": 3072,
                    "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256,
                    "intermediate_size": 24576, "vocab_size": 256000, "hidden_act": "gelu"
                }),
            ),
            (
                "phi-3-mini",
                json!({
                    "model_type": "phi3", "num_hidden_layers": 32, "hidden_size": 3072,
                    "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 8192,
                    "vocab_size": 32064, "tie_word_embeddings": false, "hidden_act": "silu"
                }),
            ),
        ];
        for (name, cfg) in configs {
            assert_eq!(architecture_from_hf_config(&cfg).unwrap(), preset(name), "{name}");
        }
    }

    #[test]
    fn any_decoder_is_read_from_the_standard_fields() {
        // Abridged huggingface.co/ibm-granite/granite-3.1-8b-base/blob/main/config.json: a
        // model_type without its own reader, read as the Llama block with its own numbers.
        let cfg = json!({
            "model_type": "granite", "num_hidden_layers": 40, "hidden_size": 4096,
            "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 12800,
            "vocab_size": 49155, "tie_word_embeddings": true, "max_position_embeddings": 131072
        });
        let a = architecture_from_hf_config(&cfg).unwrap();
        assert_eq!((a.layers, a.hidden, a.heads, a.kv_heads, a.head_dim), (40, 4096, 32, 8, 128));
        assert_eq!((a.intermediate, a.vocab, a.tied_embeddings, a.mlp), (12800, 49155, true, MlpKind::Gated));
        // MoE: each routed expert's width is moe_intermediate_size (Qwen2-MoE names).
        let moe = json!({
            "model_type": "qwen2_moe", "num_hidden_layers": 24, "hidden_size": 2048,
            "num_attention_heads": 16, "intermediate_size": 5632, "vocab_size": 151936,
            "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408
        });
        let a = architecture_from_hf_config(&moe).unwrap();
        assert_eq!((a.experts, a.experts_per_token, a.intermediate), (60, 4, 1408));
        // A multimodal config's language model sits in text_config.
        let mm = json!({
            "model_type": "llava", "vision_config": {"hidden_size": 1024},
            "text_config": {
                "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
                "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008,
                "vocab_size": 32000
            }
        });
        assert_eq!(architecture_from_hf_config(&mm).unwrap(), preset("llama-2-7b"));
        assert_eq!(model_type_of(&mm), Some("llama"));
        // Missing fields are all named, with the way out.
        let bare = json!({"model_type": "newarch", "hidden_size": 64, "num_experts": 4});
        let e = architecture_from_hf_config(&bare).unwrap_err().to_string();
        for f in ["num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "num_experts_per_tok"]
        {
            assert!(e.contains(f), "{e}");
        }
        assert!(e.contains("newarch") && e.contains("--architecture"), "{e}");
    }

    #[test]
    fn missing_field() {
        let cfg = json!({
            "model_type": "llama", "num_hidden_layers": 32, "num_attention_heads": 32,
            "intermediate_size": 11008, "vocab_size": 32000
        });
        let err = architecture_from_hf_config(&cfg).unwrap_err();
        assert_eq!(err, HfConfigError::MissingField { field: "hidden_size" });
        assert!(err.to_string().starts_with("config.json has no `hidden_size`; or give the shape with --architecture"));

        // Without a model_type the standard fields are read generically; all missing ones named.
        let no_type = json!({ "hidden_size": 4096 });
        assert_eq!(
            architecture_from_hf_config(&no_type).unwrap_err(),
            HfConfigError::MissingFields {
                model_type: "(none)".into(),
                fields: vec!["num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"]
            }
        );
        let gpt = json!({ "model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12 });
        assert_eq!(
            architecture_from_hf_config(&gpt).unwrap_err(),
            HfConfigError::MissingField { field: "n_positions" }
        );
        let mut moe = small_llama();
        (moe["model_type"], moe["num_local_experts"]) = (json!("mixtral"), json!(8));
        assert_eq!(
            architecture_from_hf_config(&moe).unwrap_err(),
            HfConfigError::MissingField { field: "num_experts_per_tok" }
        );
    }

    #[test]
    fn invalid_fields_name_field_and_value() {
        let err = error_with("hidden_size", json!("4096"));
        assert!(
            matches!(&err, HfConfigError::InvalidField { field: "hidden_size", value, .. } if value == "\"4096\""),
            "{err:?}"
        );
        assert!(err.to_string().contains("`hidden_size` = \"4096\""), "{err}");
        // Each invalid value is reported against its own field.
        let invalid = [
            ("num_hidden_layers", json!(0)),
            ("vocab_size", json!(-1)),
            ("vocab_size", json!(1.5)),
            ("vocab_size", json!(5_000_000_000u64)),
            ("num_key_value_heads", json!(3)),
            ("hidden_size", json!(66)),
            ("tie_word_embeddings", json!("yes")),
            ("mlp_bias", json!(true)),
        ];
        for (field, value) in invalid {
            let err = error_with(field, value.clone());
            assert!(
                matches!(&err, HfConfigError::InvalidField { field: named, .. } if *named == field),
                "{field} = {value}: {err:?}"
            );
        }
        let mut t5 = small_llama();
        (t5["model_type"], t5["is_encoder_decoder"]) = (json!("t5"), json!(true));
        let err = architecture_from_hf_config(&t5).unwrap_err();
        assert_eq!(err, HfConfigError::EncoderDecoder { model_type: "t5".into() });
        assert!(err.to_string().contains("--architecture"), "{err}");
        let mut moe = small_llama();
        moe["num_local_experts"] = json!(4);
        moe["num_experts_per_tok"] = json!(5);
        assert!(matches!(
            architecture_from_hf_config(&moe).unwrap_err(),
            HfConfigError::InvalidField { field: "num_experts_per_tok", .. }
        ));
        assert_eq!(
            architecture_from_hf_config(&json!([1, 2])).unwrap_err(),
            HfConfigError::NotAnObject { found: "an array" }
        );
    }

    #[test]
    fn messages_show_the_value_as_written() {
        let message = |k: &str, v: Value| error_with(k, v).to_string();
        assert_eq!(
            message("vocab_size", json!(5_000_000_000u64)),
            "config.json `vocab_size` = 5000000000 is invalid: too large"
        );
        assert_eq!(
            message("vocab_size", json!(-1)),
            "config.json `vocab_size` = -1 is invalid: expected a non-negative integer"
        );
        assert_eq!(message("vocab_size", json!(0)), "config.json `vocab_size` = 0 is invalid: must be positive");
        assert_eq!(
            message("num_key_value_heads", json!(3)),
            "config.json `num_key_value_heads` = 3 is invalid: must divide num_attention_heads (4)"
        );
        assert_eq!(
            message("hidden_size", json!(66)),
            "config.json `hidden_size` = 66 is invalid: not a multiple of the head count 4, and no head_dim is given"
        );
        assert_eq!(
            message("attention_bias", json!([1])),
            "config.json `attention_bias` = [1] is invalid: expected true or false"
        );
        assert_eq!(message("model_type", json!(7)), "config.json `model_type` = 7 is invalid: expected a string");
        // A field of the other family is not read.
        let mut other = small_llama();
        other["n_layer"] = json!("x");
        assert!(architecture_from_hf_config(&other).is_ok());
    }

    #[test]
    fn attention_bias_and_num_experts() {
        let mut cfg = small_llama();
        (cfg["attention_bias"], cfg["num_experts"], cfg["num_experts_per_tok"]) = (json!(true), json!(4), json!(1));
        let a = architecture_from_hf_config(&cfg).unwrap();
        assert_eq!((a.bias, a.experts, a.experts_per_token), (Bias::Qkv, 4, 1));
    }
}
