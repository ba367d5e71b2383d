//! Model presets: the published architectures of well-known open LLMs (GPT-2, Llama 2/3/3.1/3.2,
//! Mistral, Mixtral, Qwen2.5, Gemma, TinyLlama, Phi-3), each copied from the `config.json` of
//! its Hugging Face model repository, with lookup by preset name, alias or Hugging Face model id
//! and "did you mean" suggestions.

use super::catalog::closest;
use super::model::{Architecture, Bias, MlpKind, NormKind};

/// A named, published model architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPreset {
    /// Canonical preset name, e.g. `llama-2-7b`.
    pub name: &'static str,
    /// Hugging Face model ids with exactly this architecture (`meta-llama/Llama-2-7b-hf`).
    pub hf_ids: &'static [&'static str],
    /// Other names users write (`llama2-7b`).
    pub aliases: &'static [&'static str],
    pub arch: Architecture,
    /// Where the numbers come from (the `config.json` read).
    pub source: &'static str,
}

/// Llama-family shape: gated SwiGLU MLP, RMSNorm, no biases, rotary positions, dense,
/// `head_dim = hidden / heads`.
const fn llama(
    layers: u32,
    hidden: u32,
    heads: u32,
    kv_heads: u32,
    intermediate: u32,
    vocab: u32,
    tied_embeddings: bool,
) -> Architecture {
    Architecture {
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim: hidden / heads,
        intermediate,
        vocab,
        tied_embeddings,
        mlp: MlpKind::Gated,
        norm: NormKind::RmsNorm,
        bias: Bias::None,
        learned_positions: 0,
        experts: 0,
        experts_per_token: 0,
    }
}

/// Qwen2 shape: Llama plus biases on the q, k and v projections.
const fn qwen2(
    layers: u32,
    hidden: u32,
    heads: u32,
    kv_heads: u32,
    intermediate: u32,
    vocab: u32,
    tied_embeddings: bool,
) -> Architecture {
    let mut a = llama(layers, hidden, heads, kv_heads, intermediate, vocab, tied_embeddings);
    a.bias = Bias::Qkv;
    a
}

/// Gemma shape: gated GeGLU MLP, RMSNorm, no biases, explicit head_dim, tied embeddings.
const fn gemma(layers: u32, hidden: u32, heads: u32, kv_heads: u32, head_dim: u32, intermediate: u32) -> Architecture {
    let mut a = llama(layers, hidden, heads, kv_heads, intermediate, 256_000, true);
    a.head_dim = head_dim;
    a
}

/// GPT-2 shape: plain GELU MLP of width 4*hidden, LayerNorm, biases everywhere, 1024 learned
/// positions, vocab 50257, tied embeddings.
const fn gpt2(layers: u32, hidden: u32, heads: u32) -> Architecture {
    Architecture {
        layers,
        hidden,
        heads,
        kv_heads: heads,
        head_dim: hidden / heads,
        intermediate: 4 * hidden,
        vocab: 50_257,
        tied_embeddings: true,
        mlp: MlpKind::Plain,
        norm: NormKind::LayerNorm,
        bias: Bias::All,
        learned_positions: 1024,
        experts: 0,
        experts_per_token: 0,
    }
}

static PRESETS: &[ModelPreset] = &[
    // ---- GPT-2 (n_positions 1024, vocab 50257, n_inner null = 4*n_embd, tied) ----
    ModelPreset {
        name: "gpt2",
        hf_ids: &["openai-community/gpt2", "gpt2"],
        aliases: &["gpt-2", "gpt2-small", "gpt2-124m"],
        // n_layer 12, n_embd 768, n_head 12
        arch: gpt2(12, 768, 12),
        source: "huggingface.co/openai-community/gpt2/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-medium",
        hf_ids: &["openai-community/gpt2-medium", "gpt2-medium"],
        aliases: &["gpt-2-medium", "gpt2-355m"],
        // n_layer 24, n_embd 1024, n_head 16
        arch: gpt2(24, 1024, 16),
        source: "huggingface.co/openai-community/gpt2-medium/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-large",
        hf_ids: &["openai-community/gpt2-large", "gpt2-large"],
        aliases: &["gpt-2-large", "gpt2-774m"],
        // n_layer 36, n_embd 1280, n_head 20
        arch: gpt2(36, 1280, 20),
        source: "huggingface.co/openai-community/gpt2-large/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-xl",
        hf_ids: &["openai-community/gpt2-xl", "gpt2-xl"],
        aliases: &["gpt-2-xl", "gpt2-1.5b"],
        // n_layer 48, n_embd 1600, n_head 25
        arch: gpt2(48, 1600, 25),
        source: "huggingface.co/openai-community/gpt2-xl/blob/main/config.json",
    },
    // ---- Llama 2 (vocab 32000, untied) ----
    ModelPreset {
        name: "llama-2-7b",
        hf_ids: &["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf"],
        aliases: &["llama2-7b"],
        // num_hidden_layers 32, hidden_size 4096, heads 32, kv 32, intermediate 11008
        arch: llama(32, 4096, 32, 32, 11008, 32000, false),
        source: "huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-2-13b",
        hf_ids: &["meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-13b-chat-hf"],
        aliases: &["llama2-13b"],
        // 40 layers, hidden 5120, heads 40, kv 40, intermediate 13824
        arch: llama(40, 5120, 40, 40, 13824, 32000, false),
        source: "huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-2-70b",
        hf_ids: &["meta-llama/Llama-2-70b-hf", "meta-llama/Llama-2-70b-chat-hf"],
        aliases: &["llama2-70b"],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 28672
        arch: llama(80, 8192, 64, 8, 28672, 32000, false),
        source: "huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json",
    },
    // ---- Llama 3 / 3.1 (vocab 128256, untied) ----
    ModelPreset {
        name: "llama-3-8b",
        hf_ids: &["meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B-Instruct"],
        aliases: &["llama3-8b"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336
        arch: llama(32, 4096, 32, 8, 14336, 128_256, false),
        source: "huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3-70b",
        hf_ids: &["meta-llama/Meta-Llama-3-70B", "meta-llama/Meta-Llama-3-70B-Instruct"],
        aliases: &["llama3-70b"],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 28672
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        source: "huggingface.co/meta-llama/Meta-Llama-3-70B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.1-8b",
        hf_ids: &[
            "meta-llama/Llama-3.1-8B",
            "meta-llama/Llama-3.1-8B-Instruct",
            "meta-llama/Meta-Llama-3.1-8B",
            "meta-llama/Meta-Llama-3.1-8B-Instruct",
        ],
        aliases: &["llama3.1-8b"],
        // same shape as Llama 3 8B: 32, 4096, 32, 8, 14336
        arch: llama(32, 4096, 32, 8, 14336, 128_256, false),
        source: "huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.1-70b",
        hf_ids: &[
            "meta-llama/Llama-3.1-70B",
            "meta-llama/Llama-3.1-70B-Instruct",
            "meta-llama/Meta-Llama-3.1-70B",
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
        ],
        aliases: &["llama3.1-70b"],
        // same shape as Llama 3 70B: 80, 8192, 64, 8, 28672
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        source: "huggingface.co/meta-llama/Llama-3.1-70B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.1-405b",
        hf_ids: &[
            "meta-llama/Llama-3.1-405B",
            "meta-llama/Llama-3.1-405B-Instruct",
            "meta-llama/Meta-Llama-3.1-405B",
            "meta-llama/Meta-Llama-3.1-405B-Instruct",
        ],
        aliases: &["llama3.1-405b"],
        // 126 layers, hidden 16384, heads 128, kv 8, intermediate 53248
        arch: llama(126, 16384, 128, 8, 53248, 128_256, false),
        source: "huggingface.co/meta-llama/Llama-3.1-405B/blob/main/config.json",
    },
    // ---- Llama 3.2 (vocab 128256, tied) ----
    ModelPreset {
        name: "llama-3.2-1b",
        hf_ids: &["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct"],
        aliases: &["llama3.2-1b"],
        // 16 layers, hidden 2048, heads 32, kv 8, intermediate 8192, head_dim 64, tied
        arch: llama(16, 2048, 32, 8, 8192, 128_256, true),
        source: "huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.2-3b",
        hf_ids: &["meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct"],
        aliases: &["llama3.2-3b"],
        // 28 layers, hidden 3072, heads 24, kv 8, intermediate 8192, head_dim 128, tied
        arch: llama(28, 3072, 24, 8, 8192, 128_256, true),
        source: "huggingface.co/meta-llama/Llama-3.2-3B/blob/main/config.json",
    },
    // ---- Mistral / Mixtral (vocab 32000, untied) ----
    ModelPreset {
        name: "mistral-7b",
        hf_ids: &[
            "mistralai/Mistral-7B-v0.1",
            "mistralai/Mistral-7B-Instruct-v0.1",
            "mistralai/Mistral-7B-Instruct-v0.2",
        ],
        aliases: &["mistral-7b-v0.1"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336, vocab 32000
        // (v0.3 has vocab 32768 and is not this preset)
        arch: llama(32, 4096, 32, 8, 14336, 32000, false),
        source: "huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
    },
    ModelPreset {
        name: "mixtral-8x7b",
        hf_ids: &["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1"],
        aliases: &["mixtral-8x7b-v0.1", "mixtral"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336 per expert,
        // num_local_experts 8, num_experts_per_tok 2
        arch: Architecture { experts: 8, experts_per_token: 2, ..llama(32, 4096, 32, 8, 14336, 32000, false) },
        source: "huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
    },
    // ---- Qwen2.5 (q/k/v biases; vocab 151936 tied up to 3B, 152064 untied from 7B) ----
    ModelPreset {
        name: "qwen2.5-0.5b",
        hf_ids: &["Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct"],
        aliases: &["qwen2.5-500m"],
        // 24 layers, hidden 896, heads 14, kv 2, intermediate 4864, vocab 151936, tied
        arch: qwen2(24, 896, 14, 2, 4864, 151_936, true),
        source: "huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-1.5b",
        hf_ids: &["Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B-Instruct"],
        aliases: &[],
        // 28 layers, hidden 1536, heads 12, kv 2, intermediate 8960, vocab 151936, tied
        arch: qwen2(28, 1536, 12, 2, 8960, 151_936, true),
        source: "huggingface.co/Qwen/Qwen2.5-1.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-3b",
        hf_ids: &["Qwen/Qwen2.5-3B", "Qwen/Qwen2.5-3B-Instruct"],
        aliases: &[],
        // 36 layers, hidden 2048, heads 16, kv 2, intermediate 11008, vocab 151936, tied
        arch: qwen2(36, 2048, 16, 2, 11008, 151_936, true),
        source: "huggingface.co/Qwen/Qwen2.5-3B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-7b",
        hf_ids: &["Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"],
        aliases: &[],
        // 28 layers, hidden 3584, heads 28, kv 4, intermediate 18944, vocab 152064, untied
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        source: "huggingface.co/Qwen/Qwen2.5-7B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-14b",
        hf_ids: &["Qwen/Qwen2.5-14B", "Qwen/Qwen2.5-14B-Instruct"],
        aliases: &[],
        // 48 layers, hidden 5120, heads 40, kv 8, intermediate 13824, vocab 152064, untied
        arch: qwen2(48, 5120, 40, 8, 13824, 152_064, false),
        source: "huggingface.co/Qwen/Qwen2.5-14B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-32b",
        hf_ids: &["Qwen/Qwen2.5-32B", "Qwen/Qwen2.5-32B-Instruct"],
        aliases: &[],
        // 64 layers, hidden 5120, heads 40, kv 8, intermediate 27648, vocab 152064, untied
        arch: qwen2(64, 5120, 40, 8, 27648, 152_064, false),
        source: "huggingface.co/Qwen/Qwen2.5-32B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-72b",
        hf_ids: &["Qwen/Qwen2.5-72B", "Qwen/Qwen2.5-72B-Instruct"],
        aliases: &[],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 29568, vocab 152064, untied
        arch: qwen2(80, 8192, 64, 8, 29568, 152_064, false),
        source: "huggingface.co/Qwen/Qwen2.5-72B/blob/main/config.json",
    },
    // ---- Gemma (GeGLU, head_dim 256, vocab 256000, tied) ----
    ModelPreset {
        name: "gemma-2b",
        hf_ids: &["google/gemma-2b", "google/gemma-2b-it"],
        aliases: &["gemma-1-2b"],
        // 18 layers, hidden 2048, heads 8, kv 1, head_dim 256, intermediate 16384
        arch: gemma(18, 2048, 8, 1, 256, 16384),
        source: "huggingface.co/google/gemma-2b/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-7b",
        hf_ids: &["google/gemma-7b", "google/gemma-7b-it"],
        aliases: &["gemma-1-7b"],
        // 28 layers, hidden 3072, heads 16, kv 16, head_dim 256, intermediate 24576
        arch: gemma(28, 3072, 16, 16, 256, 24576),
        source: "huggingface.co/google/gemma-7b/blob/main/config.json",
    },
    // ---- TinyLlama ----
    ModelPreset {
        name: "tinyllama-1.1b",
        hf_ids: &["TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"],
        aliases: &["tinyllama"],
        // 22 layers, hidden 2048, heads 32, kv 4, intermediate 5632, vocab 32000, untied
        arch: llama(22, 2048, 32, 4, 5632, 32000, false),
        source: "huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/config.json",
    },
    // ---- Phi-3 (fused qkv_proj / gate_up_proj: same parameter count as separate ones) ----
    ModelPreset {
        name: "phi-3-mini",
        hf_ids: &["microsoft/Phi-3-mini-4k-instruct", "microsoft/Phi-3-mini-128k-instruct"],
        aliases: &["phi3-mini", "phi-3-mini-4k", "phi-3-mini-128k"],
        // 32 layers, hidden 3072, heads 32, kv 32, intermediate 8192, vocab 32064, untied
        arch: llama(32, 3072, 32, 32, 8192, 32064, false),
        source: "huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/config.json",
    },
];

/// Every built-in preset.
pub fn presets() -> &'static [ModelPreset] {
    PRESETS
}

/// Every lookup key of a preset as written: its name, aliases, Hugging Face ids and the part
/// of each id after the `/`. All ASCII (a test holds it), so comparing them
/// ASCII-case-insensitively with a lower-cased query is a case-insensitive match.
fn raw_keys(p: &ModelPreset) -> impl Iterator<Item = &'static str> + '_ {
    std::iter::once(p.name)
        .chain(p.aliases.iter().copied())
        .chain(p.hf_ids.iter().copied())
        .chain(p.hf_ids.iter().filter_map(|id| id.split_once('/').map(|(_, tail)| tail)))
}

/// [`raw_keys`], lower-cased.
fn keys(p: &ModelPreset) -> impl Iterator<Item = String> + '_ {
    raw_keys(p).map(str::to_lowercase)
}

/// `-`, `_` and spaces removed (dots kept, so `3.1-8b` never collides with `31-8b`).
fn squash(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect()
}

/// The preset named `name`: case-insensitive match on its name, an alias, a Hugging Face id
/// (`meta-llama/Llama-2-7b-hf`) or the part of an id after the `/` (`Llama-2-7b-hf`); failing
/// that, the same match ignoring `-`, `_` and spaces (`llama_2_7b`), if it hits one preset only.
pub fn find_preset(name: &str) -> Option<&'static ModelPreset> {
    let q = name.trim().to_lowercase();
    if q.is_empty() {
        return None;
    }
    // No lower-cased copy of every key: this runs on every admission review.
    if let Some(p) = PRESETS.iter().find(|p| raw_keys(p).any(|k| k.eq_ignore_ascii_case(&q))) {
        return Some(p);
    }
    let q = squash(&q);
    let mut hits = PRESETS.iter().filter(|p| keys(p).any(|k| squash(&k) == q));
    match (hits.next(), hits.next()) {
        (Some(p), None) => Some(p),
        _ => None,
    }
}

/// Up to 3 preset names closest to `name` (for "unknown model, did you mean …" errors): those
/// with a key containing the query (or contained in it) first, then by edit distance
/// (`strsim::levenshtein`, through the shared `catalog::closest`) to the nearest key.
pub fn suggest_presets(name: &str) -> Vec<&'static str> {
    let q = squash(&name.trim().to_lowercase());
    // Drop the organisation of an HF id so `acme/llama-2-7b` still suggests llama-2-7b.
    let q = q.rsplit('/').next().unwrap_or_default().to_string();
    closest(
        &q,
        PRESETS.iter().map(|p| {
            let k: Vec<String> = keys(p).filter(|k| !k.contains('/')).map(|k| squash(&k)).collect();
            (p.name, k)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hugging Face parameter count (`sum(p.numel() for p in model.parameters())`), written
    /// here independently of `Architecture::param_count`.
    fn count(a: &Architecture) -> u64 {
        let h = u64::from(a.hidden);
        let q_dim = u64::from(a.heads) * u64::from(a.head_dim);
        let kv_dim = u64::from(a.kv_heads) * u64::from(a.head_dim);
        let inter = u64::from(a.intermediate);
        let vocab = u64::from(a.vocab);

        let mut attn = h * q_dim + 2 * h * kv_dim + q_dim * h;
        match a.bias {
            Bias::None => {}
            Bias::Qkv => attn += q_dim + 2 * kv_dim,
            Bias::All => attn += q_dim + 2 * kv_dim + h,
        }
        let mut mlp = match a.mlp {
            MlpKind::Gated => 3 * h * inter,
            MlpKind::Plain => 2 * h * inter,
        };
        if a.bias == Bias::All {
            mlp += inter + h;
        }
        if a.experts > 0 {
            mlp = mlp * u64::from(a.experts) + h * u64::from(a.experts);
        }
        let norm = match a.norm {
            NormKind::RmsNorm => h,
            NormKind::LayerNorm => 2 * h,
        };
        let per_layer = attn + mlp + 2 * norm;

        let mut total = vocab * h + u64::from(a.learned_positions) * h;
        total += u64::from(a.layers) * per_layer + norm;
        if !a.tied_embeddings {
            total += vocab * h;
        }
        total
    }

    fn arch(name: &str) -> &'static Architecture {
        &find_preset(name).unwrap_or_else(|| panic!("no preset {name}")).arch
    }

    #[test]
    fn published_parameter_counts() {
        // Published / `numel()` totals of the Hugging Face checkpoints.
        let cases: &[(&str, u64)] = &[
            ("gpt2", 124_439_808),
            ("gpt2-medium", 354_823_168),
            ("gpt2-large", 774_030_080),
            ("gpt2-xl", 1_557_611_200),
            ("tinyllama-1.1b", 1_100_048_384),
            ("llama-2-7b", 6_738_415_616),
            ("llama-2-13b", 13_015_864_320),
            ("llama-2-70b", 68_976_648_192),
            ("llama-3-8b", 8_030_261_248),
            ("llama-3.1-8b", 8_030_261_248),
            ("llama-3-70b", 70_553_706_496),
            ("llama-3.1-405b", 405_853_388_800),
            ("llama-3.2-1b", 1_235_814_400),
            ("llama-3.2-3b", 3_212_749_824),
            ("mistral-7b", 7_241_732_096),
            ("mixtral-8x7b", 46_702_792_704),
            ("qwen2.5-0.5b", 494_032_768),
            ("qwen2.5-1.5b", 1_543_714_304),
            ("qwen2.5-3b", 3_085_938_688),
            ("qwen2.5-7b", 7_615_616_512),
            ("qwen2.5-14b", 14_770_033_664),
            ("qwen2.5-32b", 32_763_876_352),
            ("qwen2.5-72b", 72_706_203_648),
            ("gemma-2b", 2_506_172_416),
            ("gemma-7b", 8_537_680_896),
            ("phi-3-mini", 3_821_079_552),
        ];
        for &(name, want) in cases {
            assert_eq!(count(arch(name)), want, "{name}");
        }
    }

    #[test]
    fn shapes_are_consistent() {
        let mut names = std::collections::HashSet::new();
        for p in presets() {
            assert!(names.insert(p.name), "duplicate {}", p.name);
            let a = &p.arch;
            assert!(a.layers > 0 && a.hidden > 0 && a.vocab > 0 && a.intermediate > 0);
            assert_eq!(a.heads % a.kv_heads, 0, "{}", p.name);
            assert!(a.head_dim > 0, "{}", p.name);
            assert_eq!(a.experts == 0, a.experts_per_token == 0, "{}", p.name);
            assert!(a.experts_per_token <= a.experts, "{}", p.name);
            assert!(!p.hf_ids.is_empty(), "{}", p.name);
            assert!(p.source.contains("config.json"), "{}", p.name);
        }
    }

    #[test]
    fn lookup_keys_are_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for p in presets() {
            for k in keys(p) {
                assert!(k.is_ascii(), "find_preset compares keys as ASCII; {k} is not");
                if let Some(other) = seen.insert(squash(&k), p.name) {
                    assert_eq!(other, p.name, "key {k} is shared");
                }
            }
        }
    }

    #[test]
    fn lookup_ignores_case_and_separators() {
        for (query, name) in [
            ("LLAMA-2-7B", "llama-2-7b"),
            ("  meta-llama/Llama-2-7b-hf ", "llama-2-7b"),
            ("Llama-2-7b-HF", "llama-2-7b"),
            ("llama_2_7b", "llama-2-7b"),
        ] {
            assert_eq!(find_preset(query).map(|p| p.name), Some(name), "{query}");
        }
        assert!(find_preset("llama-2-7").is_none());
    }

    #[test]
    fn specific_fields() {
        let a = arch("llama-3.1-405b");
        assert_eq!((a.layers, a.hidden, a.heads, a.kv_heads), (126, 16384, 128, 8));
        assert_eq!(a.intermediate, 53248);
        let g = arch("gemma-7b");
        assert_eq!((g.head_dim, g.heads * g.head_dim), (256, 4096));
        let m = arch("mixtral-8x7b");
        assert_eq!((m.experts, m.experts_per_token), (8, 2));
        let q = arch("qwen2.5-0.5b");
        assert_eq!(q.bias, Bias::Qkv);
        assert!(q.tied_embeddings);
        assert!(!arch("qwen2.5-7b").tied_embeddings);
        let g2 = arch("gpt2-xl");
        assert_eq!((g2.learned_positions, g2.intermediate), (1024, 6400));
        assert_eq!((g2.norm, g2.bias, g2.mlp), (NormKind::LayerNorm, Bias::All, MlpKind::Plain));
    }

    #[test]
    fn find_by_name_alias_and_hf_id() {
        let name = |q: &str| find_preset(q).map(|p| p.name);
        assert_eq!(name("llama-2-7b"), Some("llama-2-7b"));
        assert_eq!(name("LLAMA-2-7B"), Some("llama-2-7b"));
        assert_eq!(name("llama2-7b"), Some("llama-2-7b"));
        assert_eq!(name("meta-llama/Llama-2-7b-hf"), Some("llama-2-7b"));
        assert_eq!(name("Llama-2-7b-chat-hf"), Some("llama-2-7b"));
        assert_eq!(name("llama_2_7b"), Some("llama-2-7b"));
        assert_eq!(name("Qwen/Qwen2.5-7B-Instruct"), Some("qwen2.5-7b"));
        assert_eq!(name("qwen2.5-7b-instruct"), Some("qwen2.5-7b"));
        assert_eq!(name("Meta-Llama-3.1-8B-Instruct"), Some("llama-3.1-8b"));
        assert_eq!(name("openai-community/gpt2"), Some("gpt2"));
        assert_eq!(name(" gpt2 "), Some("gpt2"));
        assert_eq!(name("TinyLlama"), Some("tinyllama-1.1b"));
        assert_eq!(name("microsoft/Phi-3-mini-128k-instruct"), Some("phi-3-mini"));
        assert_eq!(name("llama-3-8b"), Some("llama-3-8b"));
        assert_eq!(name("llama-31-8b"), None, "dots are not ignored");
        assert_eq!(name("llama-2-8b"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_presets("llama-2-8b"), ["llama-2-7b", "llama-3-8b", "llama-2-13b"]);
        assert_eq!(suggest_presets("mistral-7b-v0.3")[0], "mistral-7b");
        assert_eq!(suggest_presets("qwen2.5-7")[0], "qwen2.5-7b");
        assert!(suggest_presets("acme/gemma-2b-finetune").contains(&"gemma-2b"));
        assert!(suggest_presets("an-entirely-different-thing-xyz").is_empty());
    }
}
