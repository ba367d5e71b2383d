//! Model presets: the published architectures of well-known open LLMs (GPT-2, Llama 2/3/3.1/3.2,
//! Mistral, Mixtral, Qwen2.5, Gemma, TinyLlama, Phi-3), each copied from the `config.json` of
//! its Hugging Face model repository, with lookup by preset name, alias or Hugging Face model id
//! and "did you mean" suggestions.

use super::catalog::closest;
use super::model::{Architecture, Bias, MlpKind, NormKind};
use super::serving::options::Quantization;

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
    /// What a serving engine needs beyond the architecture (issue 15), from the same
    /// `config.json`.
    pub serving: ServingFacts,
}

/// How a model's attention layers cache keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvLayout {
    /// Every layer caches every token.
    Full,
    /// Sliding-window attention: in each period of `sliding + full` layers, `sliding` layers
    /// attend to (and cache) only the last `window` tokens (`sliding_window`,
    /// `sliding_window_pattern` / `layer_types` in the config; Llama 4's chunked attention
    /// likewise). Mistral v0.1: every layer; Gemma 2 and gpt-oss: 1 of 2; Gemma 3: 5 of 6.
    Sliding { window: u32, sliding: u32, full: u32 },
    /// Multi-head latent attention (DeepSeek-V2 paper section 2.1): one compressed latent of
    /// `kv_lora_rank` plus the decoupled RoPE key of `rope_dim` per token and layer.
    Mla { kv_lora_rank: u32, rope_dim: u32 },
}

/// A parameter split copied from the model's config where [`Architecture`] cannot express it
/// (MLA, shared experts, dense first layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactParams {
    pub total: u64,
    /// Input embedding and LM head.
    pub embed_head: u64,
    /// Routed-expert weights.
    pub experts: u64,
    /// Norms and other small replicated parameters.
    pub other: u64,
}

/// What a serving engine needs of a model beyond its [`Architecture`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServingFacts {
    /// `max_position_embeddings` (text config): the default and the cap of max-model-len;
    /// 0 when unknown.
    pub max_context: u32,
    pub kv: KvLayout,
    /// Layers that hold a KV cache of their own tokens when fewer than all (Llama 3.2 Vision's
    /// cross-attention layers cache image tokens only); 0: all.
    pub kv_layers: u32,
    /// Takes images: the vision encoder's profiling pass is not modelled.
    pub multimodal: bool,
    /// Parameters of the vision tower, 16-bit, replicated on every GPU of the first stage.
    pub vision_params: u64,
    /// The checkpoint's own weight format (gpt-oss: MXFP4 experts; DeepSeek V3: fp8).
    pub checkpoint: Quantization,
    /// Of `Architecture::experts_per_token`, the shared experts every token passes through
    /// (counted as always-routed experts); the fused-MoE kernel routes only the rest.
    pub shared_experts: u32,
    pub exact: Option<ExactParams>,
}

impl ServingFacts {
    /// A model known only by its architecture: full attention, context unknown.
    pub const fn unknown() -> Self {
        ctx(0)
    }
}

/// Full attention with a context of `max_context` tokens, 16-bit checkpoint.
const fn ctx(max_context: u32) -> ServingFacts {
    ServingFacts {
        max_context,
        kv: KvLayout::Full,
        kv_layers: 0,
        multimodal: false,
        vision_params: 0,
        checkpoint: Quantization::None,
        shared_experts: 0,
        exact: None,
    }
}

/// Sliding-window attention: `sliding` windowed layers per `full` full ones.
const fn swa(max_context: u32, window: u32, sliding: u32, full: u32) -> ServingFacts {
    let mut f = ctx(max_context);
    f.kv = KvLayout::Sliding { window, sliding, full };
    f
}

/// A multimodal model with a vision tower of `vision_params`.
const fn vision(mut f: ServingFacts, vision_params: u64) -> ServingFacts {
    f.multimodal = true;
    f.vision_params = vision_params;
    f
}

/// `a` with an explicit head dimension (Qwen3, Mistral Small: `head_dim` in the config).
const fn head_dim(mut a: Architecture, head_dim: u32) -> Architecture {
    a.head_dim = head_dim;
    a
}

/// `a` as a mixture of experts.
const fn moe(mut a: Architecture, experts: u32, experts_per_token: u32) -> Architecture {
    a.experts = experts;
    a.experts_per_token = experts_per_token;
    a
}

/// Llama-family shape ([`Architecture::llama`]: gated SwiGLU MLP, RMSNorm, no biases, rotary
/// positions, dense, `head_dim = hidden / heads`) with the embeddings tied or not.
const fn llama(
    layers: u32,
    hidden: u32,
    heads: u32,
    kv_heads: u32,
    intermediate: u32,
    vocab: u32,
    tied_embeddings: bool,
) -> Architecture {
    let mut a = Architecture::llama(layers, hidden, heads, kv_heads, intermediate, vocab);
    a.tied_embeddings = tied_embeddings;
    a
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
        serving: ctx(1024),
        source: "huggingface.co/openai-community/gpt2/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-medium",
        hf_ids: &["openai-community/gpt2-medium", "gpt2-medium"],
        aliases: &["gpt-2-medium", "gpt2-355m"],
        // n_layer 24, n_embd 1024, n_head 16
        arch: gpt2(24, 1024, 16),
        serving: ctx(1024),
        source: "huggingface.co/openai-community/gpt2-medium/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-large",
        hf_ids: &["openai-community/gpt2-large", "gpt2-large"],
        aliases: &["gpt-2-large", "gpt2-774m"],
        // n_layer 36, n_embd 1280, n_head 20
        arch: gpt2(36, 1280, 20),
        serving: ctx(1024),
        source: "huggingface.co/openai-community/gpt2-large/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt2-xl",
        hf_ids: &["openai-community/gpt2-xl", "gpt2-xl"],
        aliases: &["gpt-2-xl", "gpt2-1.5b"],
        // n_layer 48, n_embd 1600, n_head 25
        arch: gpt2(48, 1600, 25),
        serving: ctx(1024),
        source: "huggingface.co/openai-community/gpt2-xl/blob/main/config.json",
    },
    // ---- Llama 2 (vocab 32000, untied) ----
    ModelPreset {
        name: "llama-2-7b",
        hf_ids: &["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf"],
        aliases: &["llama2-7b"],
        // num_hidden_layers 32, hidden_size 4096, heads 32, kv 32, intermediate 11008
        arch: llama(32, 4096, 32, 32, 11008, 32000, false),
        serving: ctx(4096),
        source: "huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-2-13b",
        hf_ids: &["meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-13b-chat-hf"],
        aliases: &["llama2-13b"],
        // 40 layers, hidden 5120, heads 40, kv 40, intermediate 13824
        arch: llama(40, 5120, 40, 40, 13824, 32000, false),
        serving: ctx(4096),
        source: "huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-2-70b",
        hf_ids: &["meta-llama/Llama-2-70b-hf", "meta-llama/Llama-2-70b-chat-hf"],
        aliases: &["llama2-70b"],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 28672
        arch: llama(80, 8192, 64, 8, 28672, 32000, false),
        serving: ctx(4096),
        source: "huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json",
    },
    // ---- Llama 3 / 3.1 (vocab 128256, untied) ----
    ModelPreset {
        name: "llama-3-8b",
        hf_ids: &["meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B-Instruct"],
        aliases: &["llama3-8b"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336
        arch: llama(32, 4096, 32, 8, 14336, 128_256, false),
        serving: ctx(8192),
        source: "huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3-70b",
        hf_ids: &["meta-llama/Meta-Llama-3-70B", "meta-llama/Meta-Llama-3-70B-Instruct"],
        aliases: &["llama3-70b"],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 28672
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        serving: ctx(8192),
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
        serving: ctx(131_072),
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
        serving: ctx(131_072),
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
        serving: ctx(131_072),
        source: "huggingface.co/meta-llama/Llama-3.1-405B/blob/main/config.json",
    },
    // ---- Llama 3.2 (vocab 128256, tied) ----
    ModelPreset {
        name: "llama-3.2-1b",
        hf_ids: &["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct"],
        aliases: &["llama3.2-1b"],
        // 16 layers, hidden 2048, heads 32, kv 8, intermediate 8192, head_dim 64, tied
        arch: llama(16, 2048, 32, 8, 8192, 128_256, true),
        serving: ctx(131_072),
        source: "huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.2-3b",
        hf_ids: &["meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct"],
        aliases: &["llama3.2-3b"],
        // 28 layers, hidden 3072, heads 24, kv 8, intermediate 8192, head_dim 128, tied
        arch: llama(28, 3072, 24, 8, 8192, 128_256, true),
        serving: ctx(131_072),
        source: "huggingface.co/meta-llama/Llama-3.2-3B/blob/main/config.json",
    },
    // ---- Mistral / Mixtral (vocab 32000, untied) ----
    ModelPreset {
        name: "mistral-7b",
        hf_ids: &["mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.1"],
        aliases: &["mistral-7b-v0.1"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336, vocab 32000
        // (v0.3 has vocab 32768 and is not this preset)
        arch: llama(32, 4096, 32, 8, 14336, 32000, false),
        serving: swa(32_768, 4096, 1, 0),
        source: "huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
    },
    ModelPreset {
        name: "mixtral-8x7b",
        hf_ids: &["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1"],
        aliases: &["mixtral-8x7b-v0.1", "mixtral"],
        // 32 layers, hidden 4096, heads 32, kv 8, intermediate 14336 per expert,
        // num_local_experts 8, num_experts_per_tok 2
        arch: Architecture { experts: 8, experts_per_token: 2, ..llama(32, 4096, 32, 8, 14336, 32000, false) },
        serving: ctx(32_768),
        source: "huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
    },
    // ---- Qwen2.5 (q/k/v biases; vocab 151936 tied up to 3B, 152064 untied from 7B) ----
    ModelPreset {
        name: "qwen2.5-0.5b",
        hf_ids: &["Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct"],
        aliases: &["qwen2.5-500m"],
        // 24 layers, hidden 896, heads 14, kv 2, intermediate 4864, vocab 151936, tied
        arch: qwen2(24, 896, 14, 2, 4864, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-1.5b",
        hf_ids: &["Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B-Instruct"],
        aliases: &[],
        // 28 layers, hidden 1536, heads 12, kv 2, intermediate 8960, vocab 151936, tied
        arch: qwen2(28, 1536, 12, 2, 8960, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-1.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-3b",
        hf_ids: &["Qwen/Qwen2.5-3B", "Qwen/Qwen2.5-3B-Instruct"],
        aliases: &[],
        // 36 layers, hidden 2048, heads 16, kv 2, intermediate 11008, vocab 151936, tied
        arch: qwen2(36, 2048, 16, 2, 11008, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-3B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-7b",
        hf_ids: &["Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"],
        aliases: &[],
        // 28 layers, hidden 3584, heads 28, kv 4, intermediate 18944, vocab 152064, untied
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-7B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-14b",
        hf_ids: &["Qwen/Qwen2.5-14B", "Qwen/Qwen2.5-14B-Instruct"],
        aliases: &[],
        // 48 layers, hidden 5120, heads 40, kv 8, intermediate 13824, vocab 152064, untied
        arch: qwen2(48, 5120, 40, 8, 13824, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-14B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-32b",
        hf_ids: &["Qwen/Qwen2.5-32B", "Qwen/Qwen2.5-32B-Instruct"],
        aliases: &[],
        // 64 layers, hidden 5120, heads 40, kv 8, intermediate 27648, vocab 152064, untied
        arch: qwen2(64, 5120, 40, 8, 27648, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-32B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-72b",
        hf_ids: &["Qwen/Qwen2.5-72B", "Qwen/Qwen2.5-72B-Instruct"],
        aliases: &[],
        // 80 layers, hidden 8192, heads 64, kv 8, intermediate 29568, vocab 152064, untied
        arch: qwen2(80, 8192, 64, 8, 29568, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-72B/blob/main/config.json",
    },
    // ---- Gemma (GeGLU, head_dim 256, vocab 256000, tied) ----
    ModelPreset {
        name: "gemma-2b",
        hf_ids: &["google/gemma-2b", "google/gemma-2b-it"],
        aliases: &["gemma-1-2b"],
        // 18 layers, hidden 2048, heads 8, kv 1, head_dim 256, intermediate 16384
        arch: gemma(18, 2048, 8, 1, 256, 16384),
        serving: ctx(8192),
        source: "huggingface.co/google/gemma-2b/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-7b",
        hf_ids: &["google/gemma-7b", "google/gemma-7b-it"],
        aliases: &["gemma-1-7b"],
        // 28 layers, hidden 3072, heads 16, kv 16, head_dim 256, intermediate 24576
        arch: gemma(28, 3072, 16, 16, 256, 24576),
        serving: ctx(8192),
        source: "huggingface.co/google/gemma-7b/blob/main/config.json",
    },
    // ---- TinyLlama ----
    ModelPreset {
        name: "tinyllama-1.1b",
        hf_ids: &["TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"],
        aliases: &["tinyllama"],
        // 22 layers, hidden 2048, heads 32, kv 4, intermediate 5632, vocab 32000, untied
        arch: llama(22, 2048, 32, 4, 5632, 32000, false),
        serving: ctx(2048),
        source: "huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/config.json",
    },
    // ---- Phi-3 (fused qkv_proj / gate_up_proj: same parameter count as separate ones) ----
    ModelPreset {
        name: "phi-3-mini",
        hf_ids: &["microsoft/Phi-3-mini-4k-instruct"],
        aliases: &["phi3-mini", "phi-3-mini-4k"],
        // 32 layers, hidden 3072, heads 32, kv 32, intermediate 8192, vocab 32064, untied
        arch: llama(32, 3072, 32, 32, 8192, 32064, false),
        serving: ctx(4096),
        source: "huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/config.json",
    },
    // ---- Serving presets (issue 15). Each from its Hugging Face config.json; `serving` gives
    // max_position_embeddings, the sliding-window / MLA layout and the checkpoint's format. ----
    // CodeLlama (rope_theta 1e6, max_position_embeddings 16384; vocab 32016 for 7B/13B)
    ModelPreset {
        name: "codellama-7b",
        hf_ids: &[
            "codellama/CodeLlama-7b-hf",
            "codellama/CodeLlama-7b-Instruct-hf",
            "codellama/CodeLlama-7b-Python-hf",
        ],
        aliases: &["code-llama-7b"],
        // 32 layers, hidden 4096, heads 32, kv 32, intermediate 11008, vocab 32016
        arch: llama(32, 4096, 32, 32, 11008, 32016, false),
        serving: ctx(16_384),
        source: "huggingface.co/codellama/CodeLlama-7b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "codellama-13b",
        hf_ids: &["codellama/CodeLlama-13b-hf", "codellama/CodeLlama-13b-Instruct-hf"],
        aliases: &["code-llama-13b"],
        // 40 layers, hidden 5120, heads 40, kv 40, intermediate 13824, vocab 32016
        arch: llama(40, 5120, 40, 40, 13824, 32016, false),
        serving: ctx(16_384),
        source: "huggingface.co/codellama/CodeLlama-13b-hf/blob/main/config.json",
    },
    ModelPreset {
        name: "codellama-34b",
        hf_ids: &["codellama/CodeLlama-34b-hf", "codellama/CodeLlama-34b-Instruct-hf"],
        aliases: &["code-llama-34b"],
        // 48 layers, hidden 8192, heads 64, kv 8, intermediate 22016, vocab 32000
        arch: llama(48, 8192, 64, 8, 22016, 32000, false),
        serving: ctx(16_384),
        source: "huggingface.co/codellama/CodeLlama-34b-hf/blob/main/config.json",
    },
    // Llama 3.2 Vision: text_config 40 layers of which 8 cross-attention (cache image tokens
    // only, so 32 hold text KV), hidden 4096, heads 32, kv 8, intermediate 14336, vocab 128256;
    // vision tower = published total 10,670,220,835 minus the text decoder (~0.90B).
    ModelPreset {
        name: "llama-3.2-11b-vision",
        hf_ids: &["meta-llama/Llama-3.2-11B-Vision", "meta-llama/Llama-3.2-11B-Vision-Instruct"],
        aliases: &["llama3.2-11b-vision"],
        arch: llama(40, 4096, 32, 8, 14336, 128_256, false),
        serving: ServingFacts { kv_layers: 32, ..vision(ctx(131_072), 895_000_000) },
        source: "huggingface.co/meta-llama/Llama-3.2-11B-Vision/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.3-70b",
        hf_ids: &["meta-llama/Llama-3.3-70B-Instruct"],
        aliases: &["llama3.3-70b"],
        // same shape as Llama 3.1 70B: 80, 8192, 64, 8, 28672, vocab 128256
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        serving: ctx(131_072),
        source: "huggingface.co/meta-llama/Llama-3.3-70B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "llama-3.3-70b-fp8",
        hf_ids: &["RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", "neuralmagic/Llama-3.3-70B-Instruct-FP8-dynamic"],
        aliases: &[],
        // Llama 3.3 70B with compressed-tensors FP8 (dynamic per-token activations) linear
        // layers; embeddings and LM head stay bf16
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        serving: ServingFacts { checkpoint: Quantization::Fp8, ..ctx(131_072) },
        source: "huggingface.co/RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic/blob/main/config.json",
    },
    // Llama 4 Scout: text_config 48 layers, hidden 5120, heads 40, kv 8, head_dim 128, 16 routed
    // experts of 8192 top-1 plus one shared expert of 8192 (counted as a 17th always-routed
    // expert), vocab 202048, max_position_embeddings 10485760, attention_chunk_size 8192 on 3 of
    // 4 layers (every 4th is global, no RoPE); vision tower ~0.87B (published 109B total).
    ModelPreset {
        name: "llama-4-scout",
        hf_ids: &["meta-llama/Llama-4-Scout-17B-16E", "meta-llama/Llama-4-Scout-17B-16E-Instruct"],
        aliases: &["llama4-scout", "llama-4-scout-17b-16e"],
        arch: moe(head_dim(llama(48, 5120, 40, 8, 8192, 202_048, false), 128), 17, 2),
        serving: ServingFacts { shared_experts: 1, ..vision(swa(10_485_760, 8192, 3, 1), 870_000_000) },
        source: "huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct/blob/main/config.json",
    },
    // ---- Mistral ----
    ModelPreset {
        name: "mistral-7b-v0.2",
        hf_ids: &["mistralai/Mistral-7B-Instruct-v0.2"],
        aliases: &[],
        // as v0.1 but sliding_window null, rope_theta 1e6
        arch: llama(32, 4096, 32, 8, 14336, 32000, false),
        serving: ctx(32_768),
        source: "huggingface.co/mistralai/Mistral-7B-Instruct-v0.2/blob/main/config.json",
    },
    ModelPreset {
        name: "mistral-7b-v0.3",
        hf_ids: &["mistralai/Mistral-7B-v0.3", "mistralai/Mistral-7B-Instruct-v0.3"],
        aliases: &[],
        // vocab 32768, sliding_window null
        arch: llama(32, 4096, 32, 8, 14336, 32768, false),
        serving: ctx(32_768),
        source: "huggingface.co/mistralai/Mistral-7B-v0.3/blob/main/config.json",
    },
    ModelPreset {
        name: "mistral-small-24b",
        hf_ids: &["mistralai/Mistral-Small-24B-Instruct-2501", "mistralai/Mistral-Small-24B-Base-2501"],
        aliases: &["mistral-small-3"],
        // 40 layers, hidden 5120, heads 32, kv 8, head_dim 128, intermediate 32768, vocab 131072
        arch: head_dim(llama(40, 5120, 32, 8, 32768, 131_072, false), 128),
        serving: ctx(32_768),
        source: "huggingface.co/mistralai/Mistral-Small-24B-Instruct-2501/blob/main/config.json",
    },
    ModelPreset {
        name: "mixtral-8x22b",
        hf_ids: &["mistralai/Mixtral-8x22B-Instruct-v0.1"],
        aliases: &[],
        // 56 layers, hidden 6144, heads 48, kv 8, intermediate 16384 per expert, 8 experts top-2,
        // vocab 32768, max_position_embeddings 65536
        arch: moe(llama(56, 6144, 48, 8, 16384, 32768, false), 8, 2),
        serving: ctx(65_536),
        source: "huggingface.co/mistralai/Mixtral-8x22B-Instruct-v0.1/blob/main/config.json",
    },
    // ---- Qwen1.5 (q/k/v biases, max_position_embeddings 32768) ----
    ModelPreset {
        name: "qwen1.5-0.5b",
        hf_ids: &["Qwen/Qwen1.5-0.5B", "Qwen/Qwen1.5-0.5B-Chat"],
        aliases: &[],
        // 24 layers, hidden 1024, heads 16, kv 16, intermediate 2816, vocab 151936, tied
        arch: qwen2(24, 1024, 16, 16, 2816, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-0.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-1.8b",
        hf_ids: &["Qwen/Qwen1.5-1.8B", "Qwen/Qwen1.5-1.8B-Chat"],
        aliases: &[],
        // 24 layers, hidden 2048, heads 16, kv 16, intermediate 5504, vocab 151936
        arch: qwen2(24, 2048, 16, 16, 5504, 151_936, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-1.8B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-4b",
        hf_ids: &["Qwen/Qwen1.5-4B", "Qwen/Qwen1.5-4B-Chat"],
        aliases: &[],
        // 40 layers, hidden 2560, heads 20, kv 20, intermediate 6912, vocab 151936
        arch: qwen2(40, 2560, 20, 20, 6912, 151_936, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-4B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-7b",
        hf_ids: &["Qwen/Qwen1.5-7B", "Qwen/Qwen1.5-7B-Chat"],
        aliases: &[],
        // 32 layers, hidden 4096, heads 32, kv 32, intermediate 11008, vocab 151936
        arch: qwen2(32, 4096, 32, 32, 11008, 151_936, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-7B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-14b",
        hf_ids: &["Qwen/Qwen1.5-14B", "Qwen/Qwen1.5-14B-Chat"],
        aliases: &[],
        // 40 layers, hidden 5120, heads 40, kv 40, intermediate 13696, vocab 152064
        arch: qwen2(40, 5120, 40, 40, 13696, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-14B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-32b",
        hf_ids: &["Qwen/Qwen1.5-32B", "Qwen/Qwen1.5-32B-Chat"],
        aliases: &[],
        // 64 layers, hidden 5120, heads 40, kv 8, intermediate 27392, vocab 152064
        arch: qwen2(64, 5120, 40, 8, 27392, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-32B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen1.5-72b",
        hf_ids: &["Qwen/Qwen1.5-72B", "Qwen/Qwen1.5-72B-Chat"],
        aliases: &[],
        // 80 layers, hidden 8192, heads 64, kv 64, intermediate 24576, vocab 152064
        arch: qwen2(80, 8192, 64, 64, 24576, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen1.5-72B/blob/main/config.json",
    },
    // Qwen1.5-MoE-A2.7B: 24 layers, hidden 2048, heads 16, kv 16, 60 experts of 1408 top-4 plus
    // a shared expert of 5632 (= 4 x 1408, counted as 4 always-routed experts), vocab 151936,
    // max_position_embeddings 8192
    ModelPreset {
        name: "qwen1.5-moe-a2.7b",
        hf_ids: &["Qwen/Qwen1.5-MoE-A2.7B", "Qwen/Qwen1.5-MoE-A2.7B-Chat"],
        aliases: &[],
        arch: moe(qwen2(24, 2048, 16, 16, 1408, 151_936, false), 64, 8),
        serving: ServingFacts { shared_experts: 4, ..ctx(8192) },
        source: "huggingface.co/Qwen/Qwen1.5-MoE-A2.7B/blob/main/config.json",
    },
    // ---- Qwen2 (same shapes as Qwen2.5, max_position_embeddings 32768) ----
    ModelPreset {
        name: "qwen2-0.5b",
        hf_ids: &["Qwen/Qwen2-0.5B", "Qwen/Qwen2-0.5B-Instruct"],
        aliases: &[],
        arch: qwen2(24, 896, 14, 2, 4864, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2-0.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2-1.5b",
        hf_ids: &["Qwen/Qwen2-1.5B", "Qwen/Qwen2-1.5B-Instruct"],
        aliases: &[],
        arch: qwen2(28, 1536, 12, 2, 8960, 151_936, true),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2-1.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2-7b",
        hf_ids: &["Qwen/Qwen2-7B", "Qwen/Qwen2-7B-Instruct"],
        aliases: &[],
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2-7B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2-72b",
        hf_ids: &["Qwen/Qwen2-72B", "Qwen/Qwen2-72B-Instruct"],
        aliases: &[],
        arch: qwen2(80, 8192, 64, 8, 29568, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2-72B-Instruct/blob/main/config.json",
    },
    // ---- Qwen2.5-Coder (the Qwen2.5 shapes) ----
    ModelPreset {
        name: "qwen2.5-coder-7b",
        hf_ids: &["Qwen/Qwen2.5-Coder-7B", "Qwen/Qwen2.5-Coder-7B-Instruct"],
        aliases: &[],
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-Coder-7B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-coder-14b",
        hf_ids: &["Qwen/Qwen2.5-Coder-14B", "Qwen/Qwen2.5-Coder-14B-Instruct"],
        aliases: &[],
        arch: qwen2(48, 5120, 40, 8, 13824, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-Coder-14B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-coder-32b",
        hf_ids: &["Qwen/Qwen2.5-Coder-32B", "Qwen/Qwen2.5-Coder-32B-Instruct"],
        aliases: &[],
        arch: qwen2(64, 5120, 40, 8, 27648, 152_064, false),
        serving: ctx(32_768),
        source: "huggingface.co/Qwen/Qwen2.5-Coder-32B-Instruct/blob/main/config.json",
    },
    // ---- Qwen2.5-VL (text decoder = Qwen2.5; vision tower ~0.68B: published 8.29B total for
    // 7B minus the 7.62B decoder; max_position_embeddings 128000) ----
    ModelPreset {
        name: "qwen2.5-vl-3b",
        hf_ids: &["Qwen/Qwen2.5-VL-3B-Instruct"],
        aliases: &[],
        arch: qwen2(36, 2048, 16, 2, 11008, 151_936, true),
        serving: vision(ctx(128_000), 676_000_000),
        source: "huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-vl-7b",
        hf_ids: &["Qwen/Qwen2.5-VL-7B-Instruct"],
        aliases: &[],
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        serving: vision(ctx(128_000), 676_000_000),
        source: "huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen2.5-vl-72b",
        hf_ids: &["Qwen/Qwen2.5-VL-72B-Instruct"],
        aliases: &[],
        arch: qwen2(80, 8192, 64, 8, 29568, 152_064, false),
        serving: vision(ctx(128_000), 676_000_000),
        source: "huggingface.co/Qwen/Qwen2.5-VL-72B-Instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "qwq-32b",
        hf_ids: &["Qwen/QwQ-32B"],
        aliases: &["qwq"],
        // the Qwen2.5-32B shape, max_position_embeddings 40960
        arch: qwen2(64, 5120, 40, 8, 27648, 152_064, false),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/QwQ-32B/blob/main/config.json",
    },
    // ---- Qwen3 (head_dim 128, no biases, q/k RMSNorm of 128 each per layer left out,
    // vocab 151936, max_position_embeddings 40960) ----
    ModelPreset {
        name: "qwen3-0.6b",
        hf_ids: &["Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B-Base"],
        aliases: &[],
        // 28 layers, hidden 1024, heads 16, kv 8, intermediate 3072, tied
        arch: head_dim(llama(28, 1024, 16, 8, 3072, 151_936, true), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-0.6B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-1.7b",
        hf_ids: &["Qwen/Qwen3-1.7B", "Qwen/Qwen3-1.7B-Base"],
        aliases: &[],
        // 28 layers, hidden 2048, heads 16, kv 8, intermediate 6144, tied
        arch: head_dim(llama(28, 2048, 16, 8, 6144, 151_936, true), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-1.7B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-4b",
        hf_ids: &["Qwen/Qwen3-4B", "Qwen/Qwen3-4B-Base"],
        aliases: &[],
        // 36 layers, hidden 2560, heads 32, kv 8, intermediate 9728, tied
        arch: head_dim(llama(36, 2560, 32, 8, 9728, 151_936, true), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-4B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-8b",
        hf_ids: &["Qwen/Qwen3-8B", "Qwen/Qwen3-8B-Base"],
        aliases: &[],
        // 36 layers, hidden 4096, heads 32, kv 8, intermediate 12288
        arch: head_dim(llama(36, 4096, 32, 8, 12288, 151_936, false), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-8B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-14b",
        hf_ids: &["Qwen/Qwen3-14B", "Qwen/Qwen3-14B-Base"],
        aliases: &[],
        // 40 layers, hidden 5120, heads 40, kv 8, intermediate 17408
        arch: head_dim(llama(40, 5120, 40, 8, 17408, 151_936, false), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-14B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-32b",
        hf_ids: &["Qwen/Qwen3-32B"],
        aliases: &[],
        // 64 layers, hidden 5120, heads 64, kv 8, intermediate 25600
        arch: head_dim(llama(64, 5120, 64, 8, 25600, 151_936, false), 128),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-32B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-30b-a3b",
        hf_ids: &["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B-Base"],
        aliases: &[],
        // 48 layers, hidden 2048, heads 32, kv 4, moe_intermediate_size 768, 128 experts top-8
        arch: moe(head_dim(llama(48, 2048, 32, 4, 768, 151_936, false), 128), 128, 8),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json",
    },
    ModelPreset {
        name: "qwen3-235b-a22b",
        hf_ids: &["Qwen/Qwen3-235B-A22B"],
        aliases: &[],
        // 94 layers, hidden 4096, heads 64, kv 4, moe_intermediate_size 1536, 128 experts top-8
        arch: moe(head_dim(llama(94, 4096, 64, 4, 1536, 151_936, false), 128), 128, 8),
        serving: ctx(40_960),
        source: "huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json",
    },
    // ---- DeepSeek ----
    ModelPreset {
        name: "deepseek-coder-6.7b",
        hf_ids: &["deepseek-ai/deepseek-coder-6.7b-base", "deepseek-ai/deepseek-coder-6.7b-instruct"],
        aliases: &[],
        // 32 layers, hidden 4096, heads 32, kv 32, intermediate 11008, vocab 32256, 16384 ctx
        arch: llama(32, 4096, 32, 32, 11008, 32256, false),
        serving: ctx(16_384),
        source: "huggingface.co/deepseek-ai/deepseek-coder-6.7b-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-coder-33b",
        hf_ids: &["deepseek-ai/deepseek-coder-33b-base", "deepseek-ai/deepseek-coder-33b-instruct"],
        aliases: &[],
        // 62 layers, hidden 7168, heads 56, kv 8, intermediate 19200, vocab 32256, 16384 ctx
        arch: llama(62, 7168, 56, 8, 19200, 32256, false),
        serving: ctx(16_384),
        source: "huggingface.co/deepseek-ai/deepseek-coder-33b-instruct/blob/main/config.json",
    },
    // DeepSeek-V2-Lite: 27 layers (first dense, intermediate 10944), hidden 2048, 16 heads, MLA
    // (kv_lora_rank 512, qk_nope 128, qk_rope 64, v_head 128, no q LoRA), 64 routed experts of
    // 1408 top-6 + 2 shared, vocab 102400, max_position_embeddings 163840. `arch` is the MoE
    // shape for activations (66 experts, 8 active); the parameter split is counted from the
    // config: 15,706,484,224 in all.
    ModelPreset {
        name: "deepseek-v2-lite",
        hf_ids: &["deepseek-ai/DeepSeek-V2-Lite", "deepseek-ai/DeepSeek-V2-Lite-Chat"],
        aliases: &[],
        arch: moe(head_dim(llama(27, 2048, 16, 16, 1408, 102_400, false), 128), 66, 8),
        serving: ServingFacts {
            kv: KvLayout::Mla { kv_lora_rank: 512, rope_dim: 64 },
            shared_experts: 2,
            exact: Some(ExactParams {
                total: 15_706_484_224,
                embed_head: 419_430_400,
                experts: 14_394_851_328,
                other: 126_464,
            }),
            ..ctx(163_840)
        },
        source: "huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json",
    },
    // DeepSeek-V3 / R1: 61 layers (first 3 dense, intermediate 18432), hidden 7168, 128 heads, MLA
    // (q_lora_rank 1536, kv_lora_rank 512, qk_rope 64), 256 routed experts of 2048 top-8 + 1
    // shared, vocab 129280, max_position_embeddings 163840, fp8 checkpoint (block 128x128).
    // 671,026,404,352 parameters without the MTP layer (which vLLM loads only for speculation).
    ModelPreset {
        name: "deepseek-v3",
        hf_ids: &[
            "deepseek-ai/DeepSeek-V3",
            "deepseek-ai/DeepSeek-V3-0324",
            "deepseek-ai/DeepSeek-R1",
            "deepseek-ai/DeepSeek-R1-0528",
        ],
        aliases: &["deepseek-r1"],
        arch: moe(head_dim(llama(61, 7168, 128, 128, 2048, 129_280, false), 128), 257, 9),
        serving: ServingFacts {
            kv: KvLayout::Mla { kv_lora_rank: 512, rope_dim: 64 },
            checkpoint: Quantization::Fp8,
            shared_experts: 1,
            exact: Some(ExactParams {
                total: 671_026_404_352,
                embed_head: 1_853_358_080,
                experts: 653_908_770_816,
                other: 1_006_592,
            }),
            ..ctx(163_840)
        },
        source: "huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json",
    },
    // DeepSeek-R1 distills: Qwen2.5(-Math) and Llama 3.1/3.3 shapes, max_position_embeddings 131072
    ModelPreset {
        name: "deepseek-r1-distill-qwen-1.5b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"],
        aliases: &[],
        // 28 layers, hidden 1536, heads 12, kv 2, intermediate 8960, vocab 151936, untied
        arch: qwen2(28, 1536, 12, 2, 8960, 151_936, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-r1-distill-qwen-7b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"],
        aliases: &[],
        arch: qwen2(28, 3584, 28, 4, 18944, 152_064, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-7B/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-r1-distill-qwen-14b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"],
        aliases: &[],
        arch: qwen2(48, 5120, 40, 8, 13824, 152_064, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-14B/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-r1-distill-qwen-32b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"],
        aliases: &[],
        arch: qwen2(64, 5120, 40, 8, 27648, 152_064, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-32B/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-r1-distill-llama-8b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Llama-8B"],
        aliases: &[],
        arch: llama(32, 4096, 32, 8, 14336, 128_256, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Llama-8B/blob/main/config.json",
    },
    ModelPreset {
        name: "deepseek-r1-distill-llama-70b",
        hf_ids: &["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"],
        aliases: &[],
        arch: llama(80, 8192, 64, 8, 28672, 128_256, false),
        serving: ctx(131_072),
        source: "huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Llama-70B/blob/main/config.json",
    },
    // ---- Gemma 2 (sliding_window 4096 on every other layer, max_position_embeddings 8192;
    // four norms per layer, two counted) ----
    ModelPreset {
        name: "gemma-2-2b",
        hf_ids: &["google/gemma-2-2b", "google/gemma-2-2b-it"],
        aliases: &[],
        // 26 layers, hidden 2304, heads 8, kv 4, head_dim 256, intermediate 9216
        arch: gemma(26, 2304, 8, 4, 256, 9216),
        serving: swa(8192, 4096, 1, 1),
        source: "huggingface.co/google/gemma-2-2b/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-2-9b",
        hf_ids: &["google/gemma-2-9b", "google/gemma-2-9b-it"],
        aliases: &[],
        // 42 layers, hidden 3584, heads 16, kv 8, head_dim 256, intermediate 14336
        arch: gemma(42, 3584, 16, 8, 256, 14336),
        serving: swa(8192, 4096, 1, 1),
        source: "huggingface.co/google/gemma-2-9b/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-2-27b",
        hf_ids: &["google/gemma-2-27b", "google/gemma-2-27b-it"],
        aliases: &[],
        // 46 layers, hidden 4608, heads 32, kv 16, head_dim 128, intermediate 36864
        arch: gemma(46, 4608, 32, 16, 128, 36864),
        serving: swa(8192, 4096, 1, 1),
        source: "huggingface.co/google/gemma-2-27b/blob/main/config.json",
    },
    // ---- Gemma 3 (5 sliding layers per global one; 1B: window 512, vocab 262144, 32768 ctx,
    // text only; 4B-27B: window 1024, vocab 262208, 131072 ctx, SigLIP vision tower ~0.42B) ----
    ModelPreset {
        name: "gemma-3-1b",
        hf_ids: &["google/gemma-3-1b-it", "google/gemma-3-1b-pt"],
        aliases: &[],
        // 26 layers, hidden 1152, heads 4, kv 1, head_dim 256, intermediate 6912
        arch: Architecture { vocab: 262_144, ..gemma(26, 1152, 4, 1, 256, 6912) },
        serving: swa(32_768, 512, 5, 1),
        source: "huggingface.co/google/gemma-3-1b-it/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-3-4b",
        hf_ids: &["google/gemma-3-4b-it", "google/gemma-3-4b-pt"],
        aliases: &[],
        // text_config: 34 layers, hidden 2560, heads 8, kv 4, head_dim 256, intermediate 10240
        arch: Architecture { vocab: 262_208, ..gemma(34, 2560, 8, 4, 256, 10240) },
        serving: vision(swa(131_072, 1024, 5, 1), 417_000_000),
        source: "huggingface.co/google/gemma-3-4b-it/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-3-12b",
        hf_ids: &["google/gemma-3-12b-it", "google/gemma-3-12b-pt"],
        aliases: &[],
        // text_config: 48 layers, hidden 3840, heads 16, kv 8, head_dim 256, intermediate 15360
        arch: Architecture { vocab: 262_208, ..gemma(48, 3840, 16, 8, 256, 15360) },
        serving: vision(swa(131_072, 1024, 5, 1), 417_000_000),
        source: "huggingface.co/google/gemma-3-12b-it/blob/main/config.json",
    },
    ModelPreset {
        name: "gemma-3-27b",
        hf_ids: &["google/gemma-3-27b-it", "google/gemma-3-27b-pt"],
        aliases: &[],
        // text_config: 62 layers, hidden 5376, heads 32, kv 16, head_dim 128, intermediate 21504
        arch: Architecture { vocab: 262_208, ..gemma(62, 5376, 32, 16, 128, 21504) },
        serving: vision(swa(131_072, 1024, 5, 1), 417_000_000),
        source: "huggingface.co/google/gemma-3-27b-it/blob/main/config.json",
    },
    // ---- Phi ----
    // Phi-2: 32 layers, hidden 2560, heads 32, intermediate 10240 (GELU), LayerNorm, biases,
    // vocab 51200, untied LM head with bias, max_position_embeddings 2048
    ModelPreset {
        name: "phi-2",
        hf_ids: &["microsoft/phi-2"],
        aliases: &["phi2"],
        arch: Architecture {
            mlp: MlpKind::Plain,
            norm: NormKind::LayerNorm,
            bias: Bias::All,
            ..llama(32, 2560, 32, 32, 10240, 51200, false)
        },
        serving: ctx(2048),
        source: "huggingface.co/microsoft/phi-2/blob/main/config.json",
    },
    ModelPreset {
        name: "phi-3-mini-128k",
        hf_ids: &["microsoft/Phi-3-mini-128k-instruct", "microsoft/Phi-3.5-mini-instruct"],
        aliases: &["phi-3.5-mini"],
        // the Phi-3-mini shape with LongRoPE to 131072
        arch: llama(32, 3072, 32, 32, 8192, 32064, false),
        serving: ctx(131_072),
        source: "huggingface.co/microsoft/Phi-3-mini-128k-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "phi-3-medium",
        hf_ids: &["microsoft/Phi-3-medium-4k-instruct"],
        aliases: &["phi-3-medium-4k"],
        // 40 layers, hidden 5120, heads 40, kv 10, intermediate 17920, vocab 32064
        arch: llama(40, 5120, 40, 10, 17920, 32064, false),
        serving: ctx(4096),
        source: "huggingface.co/microsoft/Phi-3-medium-4k-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "phi-4",
        hf_ids: &["microsoft/phi-4"],
        aliases: &["phi4"],
        // 40 layers, hidden 5120, heads 40, kv 10, intermediate 17920, vocab 100352, 16384 ctx
        arch: llama(40, 5120, 40, 10, 17920, 100_352, false),
        serving: ctx(16_384),
        source: "huggingface.co/microsoft/phi-4/blob/main/config.json",
    },
    // ---- gpt-oss (hidden 2880, 64 heads of 64, kv 8, experts of 2880 top-4 with biases,
    // attention biases, vocab 201088, untied; sliding_window 128 on every other layer;
    // max_position_embeddings 131072; experts in MXFP4) ----
    ModelPreset {
        name: "gpt-oss-20b",
        hf_ids: &["openai/gpt-oss-20b"],
        aliases: &[],
        // 24 layers, 32 experts
        arch: Architecture {
            bias: Bias::All,
            ..moe(head_dim(llama(24, 2880, 64, 8, 2880, 201_088, false), 64), 32, 4)
        },
        serving: ServingFacts { checkpoint: Quantization::Mxfp4, ..swa(131_072, 128, 1, 1) },
        source: "huggingface.co/openai/gpt-oss-20b/blob/main/config.json",
    },
    ModelPreset {
        name: "gpt-oss-120b",
        hf_ids: &["openai/gpt-oss-120b"],
        aliases: &[],
        // 36 layers, 128 experts
        arch: Architecture {
            bias: Bias::All,
            ..moe(head_dim(llama(36, 2880, 64, 8, 2880, 201_088, false), 64), 128, 4)
        },
        serving: ServingFacts { checkpoint: Quantization::Mxfp4, ..swa(131_072, 128, 1, 1) },
        source: "huggingface.co/openai/gpt-oss-120b/blob/main/config.json",
    },
    // ---- Granite 3 (vocab 49155, tied; 3.0: 4096 ctx, 3.1: 131072) ----
    ModelPreset {
        name: "granite-3.0-2b",
        hf_ids: &["ibm-granite/granite-3.0-2b-instruct", "ibm-granite/granite-3.0-2b-base"],
        aliases: &[],
        // 40 layers, hidden 2048, heads 32, kv 8, intermediate 8192
        arch: llama(40, 2048, 32, 8, 8192, 49155, true),
        serving: ctx(4096),
        source: "huggingface.co/ibm-granite/granite-3.0-2b-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "granite-3.0-8b",
        hf_ids: &["ibm-granite/granite-3.0-8b-instruct", "ibm-granite/granite-3.0-8b-base"],
        aliases: &[],
        // 40 layers, hidden 4096, heads 32, kv 8, intermediate 12800
        arch: llama(40, 4096, 32, 8, 12800, 49155, true),
        serving: ctx(4096),
        source: "huggingface.co/ibm-granite/granite-3.0-8b-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "granite-3.1-2b",
        hf_ids: &["ibm-granite/granite-3.1-2b-instruct", "ibm-granite/granite-3.1-2b-base"],
        aliases: &[],
        arch: llama(40, 2048, 32, 8, 8192, 49155, true),
        serving: ctx(131_072),
        source: "huggingface.co/ibm-granite/granite-3.1-2b-instruct/blob/main/config.json",
    },
    ModelPreset {
        name: "granite-3.1-8b",
        hf_ids: &["ibm-granite/granite-3.1-8b-instruct", "ibm-granite/granite-3.1-8b-base"],
        aliases: &[],
        arch: llama(40, 4096, 32, 8, 12800, 49155, true),
        serving: ctx(131_072),
        source: "huggingface.co/ibm-granite/granite-3.1-8b-instruct/blob/main/config.json",
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
    fn serving_presets_match_published_totals() {
        // Hugging Face safetensors totals. Within 0.1%: the presets leave out Qwen3's q/k
        // norms (256 per layer), Gemma 2's two extra norms per layer, Phi-2's single norm per
        // layer counted twice, and gpt-oss's attention sinks and uneven expert biases.
        let cases: &[(&str, u64)] = &[
            ("phi-2", 2_779_683_840),
            ("phi-4", 14_659_507_200),
            ("gpt-oss-20b", 20_914_757_184),
            ("gpt-oss-120b", 116_829_156_672),
            ("qwen3-0.6b", 596_049_920),
            ("qwen3-14b", 14_768_307_200),
            ("qwen3-32b", 32_762_123_264),
            ("qwen3-30b-a3b", 30_532_122_624),
            ("gemma-2-9b", 9_241_705_984),
            ("mistral-small-24b", 23_572_403_200),
        ];
        for &(name, want) in cases {
            let got = count(arch(name));
            assert!((got as f64 / want as f64 - 1.0).abs() < 1e-3, "{name}: {got} vs {want}");
        }
        // The MLA models' split adds up, and matches the published 15.7B / 671B.
        for name in ["deepseek-v2-lite", "deepseek-v3"] {
            let x = find_preset(name).unwrap().serving.exact.unwrap();
            assert!(x.embed_head + x.experts + x.other < x.total, "{name}");
        }
        let ds = find_preset("deepseek-v3").unwrap().serving;
        assert_eq!((ds.exact.unwrap().total / 1_000_000_000, ds.checkpoint), (671, Quantization::Fp8));
    }

    #[test]
    fn every_preset_has_a_context_and_sliding_layouts_are_whole() {
        for p in presets() {
            assert!(p.serving.max_context >= 1024, "{}", p.name);
            if let KvLayout::Sliding { window, sliding, .. } = p.serving.kv {
                assert!(window > 0 && sliding > 0, "{}", p.name);
            }
            assert_eq!(p.serving.multimodal, p.serving.vision_params > 0, "{}", p.name);
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
        assert_eq!(name("microsoft/Phi-3-mini-4k-instruct"), Some("phi-3-mini"));
        assert_eq!(name("microsoft/Phi-3-mini-128k-instruct"), Some("phi-3-mini-128k"));
        assert_eq!(name("llama-3-8b"), Some("llama-3-8b"));
        assert_eq!(name("llama-31-8b"), None, "dots are not ignored");
        assert_eq!(name("llama-2-8b"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_presets("llama-2-8b"), ["llama-2-7b", "llama-3-8b", "llama-2-13b"]);
        assert!(suggest_presets("mistral-7b-v0.4").contains(&"mistral-7b-v0.3"));
        assert_eq!(suggest_presets("qwen2.5-7")[0], "qwen2.5-7b");
        assert!(suggest_presets("acme/gemma-2b-finetune").contains(&"gemma-2b"));
        assert!(suggest_presets("an-entirely-different-thing-xyz").is_empty());
    }
}
