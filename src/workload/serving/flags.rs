//! Each engine's flags and environment variables, mapped onto the serving keys.
//!
//! Sources: vLLM `vllm/engine/arg_utils.py` (`EngineArgs.add_cli_args`) and
//! `vllm/entrypoints/openai/cli_args.py`; SGLang `python/sglang/srt/server_args.py`
//! (`ServerArgs.add_cli_args`); TGI `launcher/src/main.rs` (`struct Args`, every field
//! `#[clap(long, env)]`, so each flag also reads the variable of its upper-snake name); KServe
//! `python/huggingfaceserver/huggingfaceserver/__main__.py` (`--model_id`, `--model_dir`,
//! `--backend`, then vLLM's own flags).

use super::Engine;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    Value,
    /// A switch (argparse `store_true`): it sets `true`, or `false` for a `--no-` form.
    Switch(bool),
}

/// How a flag's value becomes a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Map {
    /// As written.
    Raw,
    /// vLLM's `human_readable_int` (vllm/engine/arg_utils.py): `32k` = 32000, `32K` = 32768.
    HumanInt,
    /// `--dtype`: bfloat16 -> bf16, float16/half -> fp16, float32/float -> fp32, auto -> omitted.
    Dtype,
    /// TGI `--quantize` names onto the key's (v15-keys: bitsandbytes-nf4 -> bitsandbytes,
    /// eetq -> w8a16, marlin -> gptq).
    TgiQuantize,
}

/// One flag: its spellings, the key it fills (`None`: read, not used by the estimate).
#[derive(Debug, Clone, Copy)]
pub(super) struct Flag {
    pub(super) names: &'static [&'static str],
    pub(super) key: Option<&'static str>,
    pub(super) takes: Takes,
    pub(super) map: Map,
}

const fn v(names: &'static [&'static str], key: &'static str) -> Flag {
    Flag { names, key: Some(key), takes: Takes::Value, map: Map::Raw }
}
const fn m(names: &'static [&'static str], key: &'static str, map: Map) -> Flag {
    Flag { names, key: Some(key), takes: Takes::Value, map }
}
const fn sw(names: &'static [&'static str], key: &'static str, on: bool) -> Flag {
    Flag { names, key: Some(key), takes: Takes::Switch(on), map: Map::Raw }
}
const fn iv(names: &'static [&'static str]) -> Flag {
    Flag { names, key: None, takes: Takes::Value, map: Map::Raw }
}
const fn is(names: &'static [&'static str]) -> Flag {
    Flag { names, key: None, takes: Takes::Switch(true), map: Map::Raw }
}

/// Flags of the OpenAI-compatible API server that vLLM and SGLang both take, spelled alike, and
/// that size nothing (vLLM `vllm/entrypoints/openai/cli_args.py` and `EngineArgs`; SGLang
/// `ServerArgs.add_cli_args`): read with their value, listed as ignored.
const OPENAI_SERVER_FLAGS: &[&str] = &[
    "--host",
    "--port",
    "--served-model-name",
    "--revision",
    "--download-dir",
    "--api-key",
    "--chat-template",
    "--tool-call-parser",
    "--reasoning-parser",
];

static VLLM: &[Flag] = &[
    v(&["--model"], "model"),
    v(&["--tensor-parallel-size", "-tp"], "tensor-parallel"),
    v(&["--pipeline-parallel-size", "-pp"], "pipeline-parallel"),
    m(&["--max-model-len"], "max-model-len", Map::HumanInt),
    v(&["--gpu-memory-utilization"], "gpu-memory-utilization"),
    v(&["--max-num-seqs"], "max-num-seqs"),
    m(&["--max-num-batched-tokens"], "max-num-batched-tokens", Map::HumanInt),
    sw(&["--enforce-eager"], "enforce-eager", true),
    sw(&["--no-enforce-eager"], "enforce-eager", false),
    v(&["--kv-cache-dtype"], "kv-cache-dtype"),
    v(&["--quantization", "-q"], "weight-quantization"),
    v(&["--block-size"], "block-size"),
    m(&["--dtype"], "precision", Map::Dtype),
    iv(OPENAI_SERVER_FLAGS),
    iv(&[
        "--tokenizer",
        "--tokenizer-revision",
        "--uvicorn-log-level",
        "--root-path",
        "--seed",
        "--load-format",
        "--tokenizer-mode",
        "--max-log-len",
        "--response-role",
    ]),
    is(&[
        "--trust-remote-code",
        "--enable-prefix-caching",
        "--no-enable-prefix-caching",
        "--disable-log-requests",
        "--disable-log-stats",
        "--enable-auto-tool-choice",
        "--enable-chunked-prefill",
        "--disable-frontend-multiprocessing",
    ]),
];

static SGLANG: &[Flag] = &[
    v(&["--model-path", "--model"], "model"),
    v(&["--tp-size", "--tp", "--tensor-parallel-size"], "tensor-parallel"),
    v(&["--pp-size", "--pp", "--pipeline-parallel-size"], "pipeline-parallel"),
    v(&["--context-length"], "max-model-len"),
    v(&["--mem-fraction-static"], "gpu-memory-utilization"),
    v(&["--max-running-requests"], "max-num-seqs"),
    v(&["--chunked-prefill-size"], "max-num-batched-tokens"),
    sw(&["--disable-cuda-graph"], "enforce-eager", true),
    v(&["--kv-cache-dtype"], "kv-cache-dtype"),
    v(&["--quantization"], "weight-quantization"),
    v(&["--page-size"], "block-size"),
    m(&["--dtype"], "precision", Map::Dtype),
    iv(OPENAI_SERVER_FLAGS),
    iv(&["--tokenizer-path", "--log-level", "--random-seed"]),
    is(&["--trust-remote-code", "--enable-metrics", "--disable-radix-cache", "--log-requests"]),
];

static TGI: &[Flag] = &[
    v(&["--model-id"], "model"),
    v(&["--num-shard"], "tensor-parallel"),
    v(&["--max-total-tokens"], "max-model-len"),
    v(&["--max-batch-prefill-tokens"], "max-num-batched-tokens"),
    v(&["--cuda-memory-fraction"], "gpu-memory-utilization"),
    m(&["--quantize"], "weight-quantization", Map::TgiQuantize),
    m(&["--dtype"], "precision", Map::Dtype),
    v(&["--kv-cache-dtype"], "kv-cache-dtype"),
    iv(&[
        "--max-input-tokens",
        "--max-input-length",
        "--max-concurrent-requests",
        "--max-batch-total-tokens",
        "--revision",
        "--hostname",
        "--port",
        "--sharded",
        "--huggingface-hub-cache",
        "--max-best-of",
        "--max-stop-sequences",
        "--max-top-n-tokens",
        "--waiting-served-ratio",
        "--max-waiting-tokens",
        "--shard-uds-path",
        "--master-addr",
        "--master-port",
    ]),
    is(&["--trust-remote-code", "--disable-custom-kernels", "--json-output"]),
];

/// KServe's huggingfaceserver's own flags, before vLLM's.
static KSERVE: &[Flag] = &[
    v(&["--model-id"], "model"),
    iv(&["--model-name", "--model-dir", "--backend", "--task", "--http-port", "--grpc-port", "--max-length"]),
];

/// The flag table of an engine (KServe's runtime: its own flags, then vLLM's).
pub(super) fn lookup(engine: Engine, kserve: bool, name: &str) -> Option<&'static Flag> {
    let tables: &[&[Flag]] = match (engine, kserve) {
        (Engine::Vllm, true) => &[KSERVE, VLLM],
        (Engine::Vllm, false) => &[VLLM],
        (Engine::Sglang, _) => &[SGLANG],
        (Engine::Tgi, _) => &[TGI],
    };
    tables.iter().flat_map(|t| t.iter()).find(|f| f.names.contains(&name))
}

/// TGI's flags that fill a key, for their environment variables.
pub(super) fn tgi_env_flags() -> impl Iterator<Item = (&'static str, &'static Flag)> {
    TGI.iter().filter(|f| f.key.is_some()).map(|f| (f.names[0], f))
}

/// The variable clap reads for a TGI flag: `--max-total-tokens` -> `MAX_TOTAL_TOKENS`.
pub(super) fn env_name(flag: &str) -> String {
    flag.trim_start_matches('-').replace('-', "_").to_ascii_uppercase()
}

/// `--max_model_len` -> `--max-model-len`: vLLM's `FlexibleArgumentParser` (vllm/utils)
/// accepts underscores in long flags; KServe passes its arguments through it.
pub(super) fn normalise(engine: Engine, name: &str) -> String {
    match (engine, name.strip_prefix("--")) {
        (Engine::Vllm, Some(rest)) => format!("--{}", rest.replace('_', "-")),
        _ => name.to_owned(),
    }
}

/// A flag's value mapped onto its key's syntax: `Ok(None)` when it sets nothing (`--dtype
/// auto`), `Err` naming what the engine accepts when the engine would refuse it.
pub(super) fn map_value(map: Map, flag: &str, value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    match map {
        Map::Raw => Ok(Some(value.to_owned())),
        Map::HumanInt => Ok(Some(human_int(value).map_or_else(|| value.to_owned(), |n| n.to_string()))),
        Map::Dtype => match value.to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "bfloat16" | "bf16" => Ok(Some("bf16".into())),
            "float16" | "half" | "fp16" => Ok(Some("fp16".into())),
            "float32" | "float" | "fp32" => Ok(Some("fp32".into())),
            _ => Err(format!(
                "{flag} '{value}' is refused by the engine; accepted: auto, bfloat16, float16, half, float32"
            )),
        },
        Map::TgiQuantize => Ok(Some(
            match value {
                "bitsandbytes-nf4" | "bitsandbytes-fp4" => "bitsandbytes",
                "eetq" => "w8a16",
                "marlin" => "gptq",
                other => other,
            }
            .to_owned(),
        )),
    }
}

/// vLLM's `human_readable_int`: plain digits, or a number with `k`/`m`/`g` (powers of 1000,
/// decimals allowed) or `K`/`M`/`G` (powers of 1024, whole numbers only).
fn human_int(s: &str) -> Option<u64> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let (num, last) = s.split_at(s.len().checked_sub(1)?);
    let (decimal, binary) = match last {
        "k" => (1e3, false),
        "m" => (1e6, false),
        "g" => (1e9, false),
        "K" => (1024.0, true),
        "M" => (1_048_576.0, true),
        "G" => (1_073_741_824.0, true),
        _ => return None,
    };
    if binary {
        let n: u64 = num.parse().ok()?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Some(n.saturating_mul(decimal as u64));
    }
    let x: f64 = num.parse().ok()?;
    let total = (x * decimal).round();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (x.is_finite() && x >= 0.0 && total < 1e18).then_some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_readable_lengths_follow_vllm() {
        assert_eq!(human_int("32k"), Some(32_000));
        assert_eq!(human_int("32K"), Some(32_768));
        assert_eq!(human_int("25.6k"), Some(25_600));
        assert_eq!(human_int("1.5K"), None);
        assert_eq!(human_int("4096"), Some(4096));
    }

    #[test]
    fn underscores_are_vllm_spellings_only() {
        assert_eq!(normalise(Engine::Vllm, "--max_model_len"), "--max-model-len");
        assert_eq!(normalise(Engine::Sglang, "--context_length"), "--context_length");
        assert_eq!(env_name("--max-total-tokens"), "MAX_TOTAL_TOKENS");
    }
}
