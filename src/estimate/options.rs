//! The enumerated choices a job makes (precision, optimizer, strategy, ...), each with the names
//! users write for it. `FromStr` accepts every listed alias case-insensitively; `Display` writes
//! the canonical name, so `parse(render(x)) == x` for every value.
//!
//! One table per enum (the `choice!` macro) writes each name once: serde's rename, `as_str`,
//! `Display`, `FromStr` and the accepted-names list all come from it. `strum`'s derives were
//! considered (issue 13) and not used: they would repeat each canonical name in a `strum` and a
//! `serde` attribute, and still need this file's trimming and its error listing the aliases.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An unknown name for an enumerated option; says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'; accepted: {accepted}")]
pub struct UnknownChoice {
    pub what: &'static str,
    pub value: String,
    pub accepted: String,
}

macro_rules! choice {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $var:ident => [$canon:literal $(, $alias:literal)*]),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $canon)] $var),+ }

        impl $name {
            /// Every variant, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The canonical name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $canon),+ }
            }
            /// Canonical names and aliases, for error messages and `--help`.
            pub fn accepted() -> String {
                let v: Vec<String> = vec![$({
                    let aliases: &[&str] = &[$($alias),*];
                    if aliases.is_empty() { $canon.to_string() } else { format!("{} ({})", $canon, aliases.join(", ")) }
                }),+];
                v.join(", ")
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $name {
            type Err = UnknownChoice;
            fn from_str(s: &str) -> Result<Self, UnknownChoice> {
                let t = s.trim();
                $(
                    if t.eq_ignore_ascii_case($canon) $(|| t.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$var);
                    }
                )+
                Err(UnknownChoice { what: $what, value: s.to_string(), accepted: $name::accepted() })
            }
        }
    };
}
/// The same table for the engine's other choices (`plan::Objective`, `serving::Engine`).
pub(crate) use choice;

choice!(
    /// Training or serving.
    WorkloadKind, "workload", {
    Training => ["training", "train"],
    Inference => ["inference", "infer", "serving"],
});

choice!(
    /// Numeric precision, with PyTorch Lightning's `precision=` names as aliases.
    Precision, "precision", {
    /// fp32 weights, gradients, optimizer and activations.
    Fp32 => ["fp32", "32-true", "32", "float32"],
    /// fp32 weights and optimizer, bf16 autocast (HF `Trainer(bf16=True)`).
    Bf16Mixed => ["bf16-mixed", "bf16_mixed"],
    /// fp32 weights and optimizer, fp16 autocast with a loss scaler.
    Fp16Mixed => ["fp16-mixed", "16-mixed", "fp16_mixed"],
    /// Everything bf16 (weights, gradients, optimizer states).
    Bf16True => ["bf16-true", "bf16", "bf16_true"],
    /// Everything fp16.
    Fp16True => ["fp16-true", "fp16", "16-true", "fp16_true"],
    /// fp8 matmuls (Transformer Engine) over bf16-mixed master state.
    Fp8Mixed => ["fp8-mixed", "fp8", "transformer-engine"],
});

impl Precision {
    /// Whether master weights and optimizer state are fp32 while compute is 16-bit.
    pub fn is_mixed(self) -> bool {
        matches!(self, Precision::Bf16Mixed | Precision::Fp16Mixed | Precision::Fp8Mixed)
    }
    /// Bytes of one stored weight (and one gradient) in the plain PyTorch layout.
    pub fn weight_bytes(self) -> u64 {
        match self {
            Precision::Fp32 | Precision::Bf16Mixed | Precision::Fp16Mixed | Precision::Fp8Mixed => 4,
            Precision::Bf16True | Precision::Fp16True => 2,
        }
    }
    /// Whether the GPU must support bf16.
    pub fn needs_bf16(self) -> bool {
        matches!(self, Precision::Bf16Mixed | Precision::Bf16True)
    }
}

choice!(
    /// Optimizer. State sizes: Loshchilov & Hutter 2019 (AdamW), Shazeer & Stern 2018 (Adafactor),
    /// Dettmers et al. 2022 (8-bit Adam), Chen et al. 2023 (Lion).
    Optimizer, "optimizer", {
    /// PyTorch AdamW, default `foreach` step: two states plus a temporary the size of one state.
    AdamW => ["adamw", "adamw_torch", "adamw-foreach"],
    /// `torch.optim.AdamW(fused=True)`: no temporary.
    AdamWFused => ["adamw-fused", "adamw_fused", "adamw_torch_fused"],
    /// Adam (same memory as AdamW).
    Adam => ["adam"],
    Sgd => ["sgd"],
    SgdMomentum => ["sgd-momentum", "sgd_momentum", "momentum"],
    /// Factored second moments, no first moment.
    Adafactor => ["adafactor"],
    /// bitsandbytes AdamW8bit: two 8-bit states with block-wise fp32 scales.
    AdamW8bit => ["adamw-8bit", "adamw_8bit", "adamw_bnb_8bit", "adam8bit"],
    /// Lion (bitsandbytes, 32-bit state): one fp32 momentum.
    Lion => ["lion", "lion_32bit"],
});

choice!(
    /// How much of the model trains.
    FineTuningKind, "fine-tuning", {
    Full => ["full"],
    /// LoRA adapters (Hu et al. 2021) over a frozen base.
    Lora => ["lora"],
    /// QLoRA (Dettmers et al. 2023): 4-bit NF4 base with double quantisation, 16-bit adapters.
    Qlora => ["qlora"],
});

choice!(
    /// Attention implementation.
    Attention, "attention", {
    /// `torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels).
    Sdpa => ["sdpa", "flash", "flash-attention", "flash_attention_2"],
    /// Eager attention: materialises the heads x seq x seq score matrix.
    Eager => ["eager"],
});

choice!(
    /// Data-parallel sharding strategy (Rajbhandari et al. 2019, ZeRO; Zhao et al. 2023, FSDP).
    Strategy, "strategy", {
    /// Every GPU holds all model states.
    Ddp => ["ddp", "none", "dp"],
    /// Optimizer states sharded.
    Zero1 => ["zero1", "zero-1", "deepspeed-zero1"],
    /// Optimizer states and gradients sharded.
    Zero2 => ["zero2", "zero-2", "deepspeed-zero2"],
    /// Optimizer states, gradients and parameters sharded.
    Zero3 => ["zero3", "zero-3", "deepspeed-zero3"],
    /// FSDP FULL_SHARD (= ZeRO-3).
    Fsdp => ["fsdp", "full-shard", "fsdp-full-shard"],
    /// FSDP SHARD_GRAD_OP (= ZeRO-2).
    FsdpShardGradOp => ["fsdp-shard-grad-op", "shard-grad-op"],
    /// FSDP HYBRID_SHARD: full shard within a group, replicated across groups.
    FsdpHybrid => ["fsdp-hybrid", "hybrid-shard"],
});

impl Strategy {
    /// (optimizer states, gradients, parameters) sharded?
    pub fn shards(self) -> (bool, bool, bool) {
        match self {
            Strategy::Ddp => (false, false, false),
            Strategy::Zero1 => (true, false, false),
            Strategy::Zero2 | Strategy::FsdpShardGradOp => (true, true, false),
            Strategy::Zero3 | Strategy::Fsdp | Strategy::FsdpHybrid => (true, true, true),
        }
    }
}

choice!(
    /// What lives in CPU memory instead of the GPU (ZeRO-Offload, Ren et al. 2021; ZeRO-Infinity).
    Offload, "offload", {
    None => ["none", "false", "off"],
    Optimizer => ["optimizer", "cpu-optimizer"],
    OptimizerAndParameters => ["optimizer-and-parameters", "optimizer+parameters", "all", "parameters"],
});

choice!(
    /// Element type of the KV cache at inference.
    KvCacheDtype, "kv-cache-dtype", {
    Auto => ["auto"],
    Fp32 => ["fp32", "float32"],
    Bf16 => ["bf16", "bfloat16"],
    Fp16 => ["fp16", "float16"],
    Fp8 => ["fp8", "fp8_e4m3", "fp8_e5m2"],
    Int8 => ["int8"],
});

choice!(
    /// Weight quantisation at inference.
    WeightQuantization, "weight-quantization", {
    None => ["none", "false"],
    /// LLM.int8() (Dettmers et al. 2022): one byte per weight plus per-row fp32 scales.
    Int8 => ["int8", "8bit"],
    /// 4-bit weights with one fp16 scale (and zero point) per group of 128 (GPTQ/AWQ default).
    Int4 => ["int4", "4bit", "gptq", "awq"],
    /// bitsandbytes NF4 with double quantisation (Dettmers et al. 2023).
    Nf4 => ["nf4"],
});

impl WeightQuantization {
    /// Bytes per quantised weight including scale overhead.
    /// int4: 0.5 byte + (2-byte scale + 2-byte zero) / 128 (AutoGPTQ / AWQ group size 128).
    /// nf4: 0.5 + 1/64 (8-bit absmax per 64 weights) + 4/(64·256) (fp32 second-level scale),
    /// QLoRA paper section 3 (0.127 bits per parameter of overhead).
    pub fn bytes_per_weight(self, unquantized: f64) -> f64 {
        match self {
            WeightQuantization::None => unquantized,
            WeightQuantization::Int8 => 1.0,
            WeightQuantization::Int4 => 0.5 + 4.0 / 128.0,
            WeightQuantization::Nf4 => 0.5 + 1.0 / 64.0 + 4.0 / (64.0 * 256.0),
        }
    }
}
