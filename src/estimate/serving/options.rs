//! The serving engine's choices: which server, which version, how the checkpoint is quantised.
//! Pure.

use crate::estimate::options::{UnknownChoice, choice};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

choice!(
    /// An inference server.
    Engine, "engine", {
    Vllm => ["vllm"],
    Sglang => ["sglang"],
    Tgi => ["tgi", "text-generation-inference"],
});

impl Engine {
    /// How the server calls itself in messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Engine::Vllm => "vLLM",
            Engine::Sglang => "SGLang",
            Engine::Tgi => "TGI",
        }
    }
    /// The server's own flag for max-model-len, tensor parallelism and the KV cache dtype.
    pub fn flags(self) -> EngineFlags {
        match self {
            Engine::Vllm => EngineFlags {
                max_model_len: "--max-model-len",
                tensor_parallel: "--tensor-parallel-size",
                kv_fp8: "--kv-cache-dtype fp8",
                memory_fraction: "--gpu-memory-utilization",
            },
            Engine::Sglang => EngineFlags {
                max_model_len: "--context-length",
                tensor_parallel: "--tp-size",
                kv_fp8: "--kv-cache-dtype fp8_e5m2",
                memory_fraction: "--mem-fraction-static",
            },
            Engine::Tgi => EngineFlags {
                max_model_len: "--max-total-tokens",
                tensor_parallel: "--num-shard",
                kv_fp8: "--kv-cache-dtype fp8_e5m2",
                memory_fraction: "--cuda-memory-fraction",
            },
        }
    }
}

/// The flags a message names, per server.
#[derive(Debug, Clone, Copy)]
pub struct EngineFlags {
    pub max_model_len: &'static str,
    pub tensor_parallel: &'static str,
    pub kv_fp8: &'static str,
    pub memory_fraction: &'static str,
}

/// A server version, `major.minor.patch`; (de)serialised as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct EngineVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl EngineVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        EngineVersion { major, minor, patch }
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl From<EngineVersion> for String {
    fn from(v: EngineVersion) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for EngineVersion {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for EngineVersion {
    type Err = String;
    /// `0.6.4`, `v0.19.0`, `0.4.1-cu124`, `2.4` (missing patch = 0): the leading `v` and any
    /// `-…`/`+…` suffix (a build tag) are ignored.
    fn from_str(s: &str) -> Result<Self, String> {
        const ACCEPTED: &str = "a version X.Y or X.Y.Z, optionally with a leading v and a -suffix, e.g. 0.6.4, v0.19.0";
        let t = s.trim();
        let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
        let t = t.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = t.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ACCEPTED.to_string());
        }
        let n = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<u32>().map_err(|_| ACCEPTED.to_string()));
        Ok(EngineVersion { major: n(0)?, minor: n(1)?, patch: n(2)? })
    }
}

/// How the served checkpoint's decoder weights are stored on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    /// 16-bit (or fp32) weights as the dtype says.
    None,
    /// fp8 e4m3 weights: a checkpoint in fp8, compressed-tensors FP8 or vLLM `--quantization fp8`.
    Fp8,
    /// compressed-tensors W8A8 int8.
    W8a8,
    /// 8-bit weights, 16-bit activations (compressed-tensors W8A16, TGI eetq).
    W8a16,
    /// 4-bit AWQ (Lin et al. 2023), group 128.
    Awq,
    /// 4-bit GPTQ (Frantar et al. 2022), group 128.
    Gptq,
    /// compressed-tensors W4A16, symmetric, group 128.
    W4a16,
    /// bitsandbytes 4-bit NF4 with double quantisation.
    Bitsandbytes,
    /// OCP microscaling fp4: 4-bit values with one 8-bit scale per 32 (gpt-oss experts).
    Mxfp4,
}

impl Quantization {
    /// Canonical names and the aliases servers use.
    pub const ACCEPTED: &'static str = "none, fp8, w8a8, w8a16 (eetq), awq (awq_marlin), gptq (gptq_marlin, marlin), w4a16, bitsandbytes (bnb-4bit, bitsandbytes-nf4, nf4), mxfp4; and int8 (= w8a16), int4 (= gptq)";

    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Fp8 => "fp8",
            Quantization::W8a8 => "w8a8",
            Quantization::W8a16 => "w8a16",
            Quantization::Awq => "awq",
            Quantization::Gptq => "gptq",
            Quantization::W4a16 => "w4a16",
            Quantization::Bitsandbytes => "bitsandbytes",
            Quantization::Mxfp4 => "mxfp4",
        }
    }

    /// Bytes one quantised weight takes on the GPU, scales included.
    ///
    /// - fp8 / w8a8 / w8a16: 1 byte, plus one fp32 scale per tensor or per output channel
    ///   (vLLM `Fp8LinearMethod`, compressed-tensors schemes): under 0.1% for hidden >= 1024,
    ///   left out.
    /// - awq: 4-bit values + one fp16 scale and one 4-bit zero point per group of 128
    ///   (AutoAWQ `WQLinear_GEMM`: qweight, qzeros packed 8 per int32, scales fp16).
    /// - gptq: the same layout (AutoGPTQ `QuantLinear`: qweight, qzeros, scales, group 128);
    ///   its `g_idx` (one int32 per input row) is under 0.1% and left out.
    /// - w4a16: 4-bit values + one fp16 scale per group of 128, symmetric (no zero point).
    /// - bitsandbytes: NF4 with double quantisation: 0.5 + 1/64 (8-bit absmax per 64) +
    ///   4/(64*256) (fp32 second-level scale), Dettmers et al. 2023 (QLoRA) section 3.
    /// - mxfp4: 4-bit E2M1 values + one E8M0 scale per 32 (OCP Microscaling Formats spec v1.0,
    ///   section 5).
    pub fn bytes_per_weight(self, dtype_bytes: f64) -> f64 {
        match self {
            Quantization::None => dtype_bytes,
            Quantization::Fp8 | Quantization::W8a8 | Quantization::W8a16 => 1.0,
            Quantization::Awq | Quantization::Gptq => 0.5 + 2.0 / 128.0 + 0.5 / 128.0,
            Quantization::W4a16 => 0.5 + 2.0 / 128.0,
            Quantization::Bitsandbytes => 0.5 + 1.0 / 64.0 + 4.0 / (64.0 * 256.0),
            Quantization::Mxfp4 => 0.5 + 1.0 / 32.0,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "none" | "false" => Quantization::None,
            "fp8" | "fp8-dynamic" | "fbgemm-fp8" | "w8a8-fp8" => Quantization::Fp8,
            "w8a8" | "w8a8-int8" => Quantization::W8a8,
            "w8a16" | "eetq" | "int8" | "8bit" => Quantization::W8a16,
            "awq" | "awq-marlin" => Quantization::Awq,
            "gptq" | "gptq-marlin" | "marlin" | "int4" | "4bit" => Quantization::Gptq,
            "w4a16" => Quantization::W4a16,
            "bitsandbytes" | "bnb-4bit" | "bitsandbytes-nf4" | "nf4" | "bnb" => Quantization::Bitsandbytes,
            "mxfp4" => Quantization::Mxfp4,
            "compressed-tensors" => {
                return Err(format!(
                    "compressed-tensors names a container, not a format (the scheme is in the checkpoint's config); write fp8, w8a8, w8a16 or w4a16; accepted: {}",
                    Quantization::ACCEPTED
                ));
            }
            _ => return Err(Quantization::ACCEPTED.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_image_tags() {
        assert_eq!("v0.6.4".parse::<EngineVersion>(), Ok(EngineVersion::new(0, 6, 4)));
        assert_eq!("0.4.1-cu124".parse::<EngineVersion>(), Ok(EngineVersion::new(0, 4, 1)));
        assert_eq!("2.4".parse::<EngineVersion>(), Ok(EngineVersion::new(2, 4, 0)));
        assert!("latest".parse::<EngineVersion>().is_err());
        assert!("1".parse::<EngineVersion>().is_err());
        assert!(EngineVersion::new(0, 10, 0) > EngineVersion::new(0, 9, 2));
        assert_eq!(serde_json::to_value(EngineVersion::new(0, 6, 4)).unwrap(), serde_json::json!("0.6.4"));
    }

    #[test]
    fn engine_names_and_what_an_unknown_one_is_told() {
        assert_eq!(" Text-Generation-Inference ".parse::<Engine>(), Ok(Engine::Tgi));
        assert_eq!("SGLang".parse::<Engine>(), Ok(Engine::Sglang));
        // The list `vramgate.io/engine` answers a wrong value with, aliases in parentheses.
        assert_eq!("triton".parse::<Engine>().unwrap_err().accepted, "vllm, sglang, tgi (text-generation-inference)");
        assert_eq!(serde_json::to_value(Engine::Tgi).unwrap(), serde_json::json!("tgi"));
        assert_eq!(serde_json::from_value::<Engine>(serde_json::json!("vllm")).unwrap(), Engine::Vllm);
    }

    #[test]
    fn quantisation_names_servers_use() {
        assert_eq!("awq_marlin".parse::<Quantization>(), Ok(Quantization::Awq));
        assert_eq!("bitsandbytes-nf4".parse::<Quantization>(), Ok(Quantization::Bitsandbytes));
        assert!("compressed-tensors".parse::<Quantization>().unwrap_err().contains("w8a8"));
        // AWQ group 128 with fp16 scale and packed 4-bit zero: 4.156 bits per weight.
        assert!((Quantization::Awq.bytes_per_weight(2.0) * 8.0 - 4.156).abs() < 0.001);
        // MXFP4: 4.25 bits per weight.
        assert!((Quantization::Mxfp4.bytes_per_weight(2.0) * 8.0 - 4.25).abs() < 1e-9);
    }
}
