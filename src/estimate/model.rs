//! Model descriptions: a parameter count, a full transformer architecture, or a preset.
//!
//! Parameter counts follow the layer shapes of the Hugging Face `transformers` implementations
//! (`LlamaForCausalLM`, `GPT2LMHeadModel`, `MixtralForCausalLM`, `Qwen2ForCausalLM`), which is
//! what `sum(p.numel() for p in model.parameters())` reports.

use serde::{Deserialize, Serialize};

/// Feed-forward block shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MlpKind {
    /// Gated MLP (SwiGLU / GeGLU: gate, up and down projections), Shazeer 2020.
    Gated,
    /// Plain two-matrix MLP (GELU), Vaswani et al. 2017 / GPT-2.
    Plain,
}

/// Which linear layers carry a bias vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bias {
    /// No biases (Llama, Mistral, Gemma).
    None,
    /// Only the q, k and v projections (Qwen2).
    Qkv,
    /// Every linear and norm layer (GPT-2).
    All,
}

/// Normalisation layer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// RMSNorm (Zhang & Sennrich 2019): one weight vector.
    RmsNorm,
    /// LayerNorm (Ba et al. 2016): weight and bias.
    LayerNorm,
}

/// A decoder-only transformer, as published in its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    /// Per-head dimension; `hidden / heads` unless the model says otherwise (Gemma 7B: 256).
    pub head_dim: u32,
    /// MLP inner width (per expert for MoE).
    pub intermediate: u32,
    pub vocab: u32,
    /// Input embedding and LM head share one matrix.
    pub tied_embeddings: bool,
    pub mlp: MlpKind,
    pub norm: NormKind,
    pub bias: Bias,
    /// Learned absolute position embeddings (GPT-2): the table's length; 0 for RoPE models.
    pub learned_positions: u32,
    /// Number of MoE experts; 0 for a dense model.
    pub experts: u32,
    /// Experts each token is routed to (Mixtral: 2); 0 for a dense model.
    pub experts_per_token: u32,
}

impl Architecture {
    /// A Llama-style dense architecture (RMSNorm, SwiGLU, no biases, RoPE, untied embeddings),
    /// `head_dim = hidden / heads` (0 when `heads` is 0, which `validate` reports).
    pub const fn llama(layers: u32, hidden: u32, heads: u32, kv_heads: u32, intermediate: u32, vocab: u32) -> Self {
        Architecture {
            layers,
            hidden,
            heads,
            kv_heads,
            head_dim: match hidden.checked_div(heads) {
                Some(d) => d,
                None => 0,
            },
            intermediate,
            vocab,
            tied_embeddings: false,
            mlp: MlpKind::Gated,
            norm: NormKind::RmsNorm,
            bias: Bias::None,
            learned_positions: 0,
            experts: 0,
            experts_per_token: 0,
        }
    }

    /// Checks the shape is a real transformer; every problem is reported, with the field name.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let positive = [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("kv-heads", self.kv_heads),
            ("head-dim", self.head_dim),
            ("intermediate", self.intermediate),
            ("vocab", self.vocab),
        ];
        for (name, v) in positive {
            if v == 0 {
                errs.push(format!("{name} must be at least 1, got 0"));
            }
        }
        if self.heads > 0 && self.kv_heads > 0 && !self.heads.is_multiple_of(self.kv_heads) {
            errs.push(format!("heads ({}) must be a multiple of kv-heads ({})", self.heads, self.kv_heads));
        }
        if self.heads > 0
            && self.head_dim > 0
            && self.head_dim == self.hidden / self.heads
            && !self.hidden.is_multiple_of(self.heads)
        {
            errs.push(format!("heads ({}) must divide hidden ({}) unless head-dim is given", self.heads, self.hidden));
        }
        if self.experts > 0 && (self.experts_per_token == 0 || self.experts_per_token > self.experts) {
            errs.push(format!(
                "experts-per-token must be between 1 and experts ({}), got {}",
                self.experts, self.experts_per_token
            ));
        }
        if self.experts == 0 && self.experts_per_token > 0 {
            errs.push("experts-per-token needs experts".to_string());
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    fn q_dim(&self) -> u64 {
        self.heads as u64 * self.head_dim as u64
    }
    fn kv_dim(&self) -> u64 {
        self.kv_heads as u64 * self.head_dim as u64
    }

    /// Parameters of one attention block (q, k, v, o and their biases).
    pub fn attention_params(&self) -> u64 {
        let h = self.hidden as u64;
        let mut p = h * self.q_dim() * 2 + 2 * h * self.kv_dim();
        match self.bias {
            Bias::None => {}
            Bias::Qkv => p += self.q_dim() + 2 * self.kv_dim(),
            Bias::All => p += self.q_dim() + 2 * self.kv_dim() + h,
        }
        p
    }

    /// Parameters of one expert's (or the dense) MLP.
    pub fn mlp_params_one(&self) -> u64 {
        let h = self.hidden as u64;
        let i = self.intermediate as u64;
        let mut p = match self.mlp {
            MlpKind::Gated => 3 * h * i,
            MlpKind::Plain => 2 * h * i,
        };
        if self.bias == Bias::All {
            p += i + h;
        }
        p
    }

    /// Parameters of one norm layer (the final norm is one).
    pub fn norm_params(&self) -> u64 {
        match self.norm {
            NormKind::RmsNorm => self.hidden as u64,
            NormKind::LayerNorm => 2 * self.hidden as u64,
        }
    }

    /// Parameters of one decoder layer (all experts counted).
    pub fn layer_params(&self) -> u64 {
        let h = self.hidden as u64;
        let mlp = if self.experts > 0 {
            self.experts as u64 * self.mlp_params_one() + h * self.experts as u64
        } else {
            self.mlp_params_one()
        };
        self.attention_params() + mlp + 2 * self.norm_params()
    }

    /// Input embedding (+ learned positions).
    pub fn embedding_params(&self) -> u64 {
        let h = self.hidden as u64;
        self.vocab as u64 * h + self.learned_positions as u64 * h
    }

    /// LM head parameters not shared with the embedding.
    pub fn lm_head_params(&self) -> u64 {
        if self.tied_embeddings { 0 } else { self.vocab as u64 * self.hidden as u64 }
    }

    /// Every parameter, as `sum(p.numel() for p in model.parameters())` counts them.
    pub fn param_count(&self) -> u64 {
        self.embedding_params() + self.layers as u64 * self.layer_params() + self.norm_params() + self.lm_head_params()
    }

    /// Parameters one token passes through: for MoE only `experts_per_token` experts
    /// (Fedus et al. 2021; Mixtral 8x7B: 12.9B active of 46.7B).
    pub fn active_param_count(&self) -> u64 {
        if self.experts == 0 {
            return self.param_count();
        }
        let inactive = (self.experts - self.experts_per_token) as u64 * self.mlp_params_one();
        self.param_count() - self.layers as u64 * inactive
    }

    /// Parameters inside linear layers of the decoder stack plus the LM head: the weights
    /// autocast copies to 16 bit and that quantisation applies to.
    pub fn linear_params(&self) -> u64 {
        let norms = 2 * self.norm_params();
        let lm = if self.tied_embeddings { self.vocab as u64 * self.hidden as u64 } else { self.lm_head_params() };
        self.layers as u64 * (self.layer_params() - norms) + lm
    }

    /// Parameters inside the decoder layers' linear layers: what weight quantisation converts
    /// (bitsandbytes and GPTQ/AWQ keep the embeddings and the LM head in 16 bit).
    pub fn decoder_linear_params(&self) -> u64 {
        self.layers as u64 * (self.layer_params() - 2 * self.norm_params())
    }

    /// A Llama-shaped stand-in for a model known only by its parameter count.
    ///
    /// Uses N ≈ 12·L·h² (Kaplan et al. 2020, eq. 2.1 without embeddings) with the GPT-3 family's
    /// aspect ratio h/L ≈ 128 (Brown et al. 2020, Table 2.1), hidden rounded to 128, a SwiGLU
    /// MLP of width 8h/3 (Touvron et al. 2023) and a 32,000-token vocabulary.
    pub fn from_param_count(params: u64) -> Architecture {
        let vocab: u64 = 32_000;
        let n = params as f64;
        let mut hidden = ((n * 128.0 / 12.0).cbrt() / 128.0).round().max(1.0) as u64 * 128;
        // Small models: keep the embeddings from eating the whole budget.
        while hidden > 128 && 2 * vocab * hidden > params / 2 {
            hidden -= 128;
        }
        let per_layer = 12 * hidden * hidden;
        let body = params.saturating_sub(2 * vocab * hidden);
        let layers = ((body as f64 / per_layer as f64).round() as u64).clamp(1, 1024);
        let heads = (hidden / 128).max(1);
        let intermediate = (hidden * 8 / 3).div_ceil(256) * 256;
        Architecture::llama(layers as u32, hidden as u32, heads as u32, heads as u32, intermediate as u32, vocab as u32)
    }
}
