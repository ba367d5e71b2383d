//! The `vramgate.io/*` annotation contract, in one place (README, "The annotation contract"):
//! the prefix, one table of input keys (name, help text, what each fills), the output keys the
//! mutating webhook writes with their codec (each value reads back exactly), and [`Decision`].
//!
//! [`crate::request::parse_fields`] reads annotations and `vramgate estimate`'s flags through
//! [`INPUT`]; `tests/cli.rs` checks that the `estimate` flags are exactly its keys. Pure: no I/O.

use crate::estimate::serving::Quantization;
use crate::estimate::units::parse_count;
use crate::estimate::{MAX_GPUS, MAX_SEQUENCE, Problem, WeightQuantization};
use crate::request::{Request, parse_bool, parse_choice, parse_int, parse_lora_targets, parse_tokens, problem, shown};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};

/// Annotation prefix.
pub const PREFIX: &str = "vramgate.io/";

/// What an input key fills in a [`Request`]: `(request, key, value)`.
pub type Apply = fn(&mut Request, &str, &str) -> Result<(), Problem>;

/// What an input key fills.
#[derive(Debug, Clone, Copy)]
pub enum Fills {
    /// The model: exactly one of the keys that fill it is given, resolved together
    /// (`request::resolve_model`).
    Model,
    /// One field of the request, parsed strictly from the value.
    Field(Apply),
}

/// One input key: an annotation `vramgate.io/<name>` and the `vramgate estimate --<name>` flag.
#[derive(Debug, Clone, Copy)]
pub struct InputKey {
    pub name: &'static str,
    /// What it means and what it accepts.
    pub help: &'static str,
    pub fills: Fills,
}

const fn key(name: &'static str, help: &'static str, apply: Apply) -> InputKey {
    InputKey { name, help, fills: Fills::Field(apply) }
}

const fn model(name: &'static str, help: &'static str) -> InputKey {
    InputKey { name, help, fills: Fills::Model }
}

/// The input keys, in documentation order.
pub const INPUT: [InputKey; 39] = [
    model("model", "preset name or Hugging Face id (`vramgate catalog` lists them), e.g. llama-2-7b"),
    model("parameters", "parameter count only (\"7B\", \"350M\", \"6.74e9\"); the estimate is coarse"),
    model("architecture", "layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000[,...]"),
    model("hf-config", "a Hugging Face config.json (as text; the CLI flag takes its path)"),
    key("workload", "training | inference | serving (an inference server: the serving keys below)", |r, k, v| {
        r.job.workload = parse_choice(k, v)?;
        // `serving` (an alias of inference before issue 15) selects the serving engine.
        r.serving_draft.workload_serving = v.trim().eq_ignore_ascii_case("serving");
        Ok(())
    }),
    key("precision", "fp32 (32-true), bf16-mixed, fp16-mixed, bf16-true, fp16-true, fp8-mixed", |r, k, v| {
        r.job.precision = parse_choice(k, v)?;
        Ok(())
    }),
    key("optimizer", "adamw, adamw-fused, adam, sgd, sgd-momentum, adafactor, adamw-8bit, lion", |r, k, v| {
        r.job.optimizer = parse_choice(k, v)?;
        Ok(())
    }),
    key("fine-tuning", "full, lora, qlora", |r, k, v| {
        r.job.fine_tuning.kind = parse_choice(k, v)?;
        Ok(())
    }),
    key("lora-rank", "LoRA rank, 1 to 65536", |r, k, v| {
        r.job.fine_tuning.lora_rank = parse_int(k, v, 1, 65_536)?;
        Ok(())
    }),
    key("lora-targets", "attention, all-linear, or q_proj,k_proj,...", |r, k, v| {
        r.job.fine_tuning.lora_targets = parse_lora_targets(v).map_err(|m| problem(k, m))?;
        Ok(())
    }),
    key("micro-batch-size", "sequences per GPU per step (training) or concurrent sequences (inference)", |r, k, v| {
        r.job.micro_batch_size = parse_int(k, v, 1, 1_000_000)?;
        Ok(())
    }),
    key(
        "sequence-length",
        "tokens per sequence (training) or context length (inference); 4k = 4096 (k = 1024)",
        |r, k, v| {
            r.job.sequence_length = parse_tokens(k, v, 1, MAX_SEQUENCE as u64)?;
            Ok(())
        },
    ),
    key("activation-checkpointing", "true | false", |r, k, v| {
        r.job.activation_checkpointing = parse_bool(k, v)?;
        Ok(())
    }),
    key("attention", "sdpa | eager", |r, k, v| {
        r.job.attention = parse_choice(k, v)?;
        Ok(())
    }),
    key("strategy", "ddp, zero1, zero2, zero3, fsdp, fsdp-shard-grad-op, fsdp-hybrid", |r, k, v| {
        r.job.strategy = parse_choice(k, v)?;
        Ok(())
    }),
    key("hybrid-shard-group", "GPUs per full copy of the model states with fsdp-hybrid", |r, k, v| {
        r.job.hybrid_shard_group = parse_int(k, v, 1, MAX_GPUS as u64)?;
        Ok(())
    }),
    key("tensor-parallel", "tensor-parallel degree, 1 to 1024", |r, k, v| {
        r.job.tensor_parallel = parse_int(k, v, 1, 1024)?;
        Ok(())
    }),
    key("pipeline-parallel", "pipeline-parallel degree, 1 to 1024", |r, k, v| {
        r.job.pipeline_parallel = parse_int(k, v, 1, 1024)?;
        Ok(())
    }),
    key("offload", "none, optimizer, optimizer-and-parameters", |r, k, v| {
        r.job.offload = parse_choice(k, v)?;
        Ok(())
    }),
    key("kv-cache-dtype", "auto, fp32, bf16, fp16, fp8, int8", |r, k, v| {
        r.job.kv_cache_dtype = parse_choice(k, v)?;
        Ok(())
    }),
    key(
        "weight-quantization",
        "none, int8, int4, nf4; serving also fp8, w8a8, w8a16, awq, gptq, w4a16, bitsandbytes, mxfp4",
        |r, k, v| {
            // Serving reads the formats servers load; the training/inference engine its four.
            let serving = v.parse::<Quantization>();
            match (parse_choice::<WeightQuantization>(k, v), serving) {
                (Ok(q), s) => {
                    r.job.weight_quantization = q;
                    r.serving_draft.cfg.quantization = s.ok();
                    Ok(())
                }
                (Err(_), Ok(s)) => {
                    r.serving_draft.cfg.quantization = Some(s);
                    r.serving_draft.serving_only.push(k.to_string());
                    Ok(())
                }
                (Err(e), Err(why)) => Err(problem(k, format!("{}; for workload serving: {why}", e.message))),
            }
        },
    ),
    key("training-tokens", "tokens of the whole run (\"2T\")", |r, k, v| {
        r.job.training_tokens = Some(parse_count(v).map_err(|e| problem(k, e.to_string()))?);
        Ok(())
    }),
    key("mfu", "assumed model FLOPs utilisation, a fraction in (0, 1] (default 0.40)", |r, k, v| {
        r.job.mfu = match v.trim().parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => x,
            _ => {
                return Err(problem(
                    k,
                    format!("'{}' is not accepted; accepted: a fraction in (0, 1], e.g. 0.4", shown(v)),
                ));
            }
        };
        Ok(())
    }),
    key("gpu", "a catalog GPU name, used when the pod spec names no GPU product", |r, k, v| {
        if v.trim().is_empty() {
            return Err(problem(k, "is empty; accepted: a catalog GPU name such as H100-80GB".into()));
        }
        r.gpu = Some(v.trim().to_string());
        Ok(())
    }),
    key("gpus", "GPUs the job spreads over; at admission the pod spec decides (it must agree)", |r, k, v| {
        r.gpus = Some(parse_int(k, v, 1, MAX_GPUS as u64)?);
        Ok(())
    }),
    // --- multi-GPU runtime buffer knobs (issue 14, engine): each at its framework's default ---
    key(
        "gradient-as-bucket-view",
        "DDP gradient_as_bucket_view, true | false (default false: buckets copy every gradient)",
        |r, k, v| {
            r.job.comm.gradient_as_bucket_view = parse_bool(k, v)?;
            Ok(())
        },
    ),
    key("zero-reduce-bucket-elements", "DeepSpeed reduce_bucket_size in elements (default 5e8)", |r, k, v| {
        r.job.comm.zero_reduce_bucket_elements = parse_elements(k, v)?;
        Ok(())
    }),
    key(
        "zero3-prefetch-bucket-elements",
        "DeepSpeed stage3_prefetch_bucket_size in elements (default 5e7)",
        |r, k, v| {
            r.job.comm.zero3_prefetch_bucket_elements = parse_elements(k, v)?;
            Ok(())
        },
    ),
    key("zero3-max-live-parameters", "DeepSpeed stage3_max_live_parameters (default 1e9)", |r, k, v| {
        r.job.comm.zero3_max_live_parameters = parse_elements(k, v)?;
        Ok(())
    }),
    key("fsdp-prefetch-layers", "FSDP layers all-gathered ahead, 0 to 8 (default 1)", |r, k, v| {
        r.job.comm.fsdp_prefetch_layers = parse_int(k, v, 0, 8)?;
        Ok(())
    }),
    // Plan search (issue 14, advice): what the plan a job is told about minimises.
    key(
        "objective",
        "what the advised plan minimises: gpus, cost or time (default: the namespace's policy.objective, else cost)",
        |r, k, v| {
            r.objective = Some(parse_choice(k, v)?);
            Ok(())
        },
    ),
    // ---- serving (issue 15): an inference server's settings, named like vLLM's flags; only
    // with workload serving. `request::parse_fields` reports them otherwise. ----
    key("engine", "vllm | sglang | tgi (workload serving; default vllm)", |r, k, v| {
        r.serving_draft.cfg.engine = parse_choice(k, v)?;
        r.serving_draft.given(k);
        Ok(())
    }),
    key(
        "engine-version",
        "the server's version, e.g. 0.6.4 or v0.19.0 (the image tag); default: the newest modelled",
        |r, k, v| {
            r.serving_draft.cfg.engine_version = Some(
                v.parse()
                    .map_err(|acc: String| problem(k, format!("'{}' is not accepted; accepted: {acc}", shown(v))))?,
            );
            r.serving_draft.given(k);
            Ok(())
        },
    ),
    key("max-model-len", "context length the server allows (vLLM --max-model-len); default: the model's", |r, k, v| {
        r.serving_draft.cfg.max_model_len = Some(parse_int(k, v, 1, MAX_SEQUENCE as u64)?);
        r.serving_draft.given(k);
        Ok(())
    }),
    key("gpu-memory-utilization", "share of GPU memory the server may use, in (0, 1] (default vLLM 0.9)", |r, k, v| {
        r.serving_draft.cfg.gpu_memory_utilization = Some(match v.trim().parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => x,
            _ => {
                return Err(problem(
                    k,
                    format!("'{}' is not accepted; accepted: a fraction in (0, 1], e.g. 0.9", shown(v)),
                ));
            }
        });
        r.serving_draft.given(k);
        Ok(())
    }),
    key("max-num-seqs", "sequences the server batches at once (vLLM --max-num-seqs)", |r, k, v| {
        r.serving_draft.cfg.max_num_seqs = Some(parse_int(k, v, 1, 1_000_000)?);
        r.serving_draft.given(k);
        Ok(())
    }),
    key("max-num-batched-tokens", "tokens per scheduler step (vLLM --max-num-batched-tokens)", |r, k, v| {
        r.serving_draft.cfg.max_num_batched_tokens = Some(parse_int(k, v, 1, MAX_SEQUENCE as u64)?);
        r.serving_draft.given(k);
        Ok(())
    }),
    key("enforce-eager", "true | false: no CUDA graphs (vLLM --enforce-eager)", |r, k, v| {
        r.serving_draft.cfg.enforce_eager = parse_bool(k, v)?;
        r.serving_draft.given(k);
        Ok(())
    }),
    key("block-size", "KV cache block in tokens (vLLM --block-size; default 16)", |r, k, v| {
        r.serving_draft.cfg.block_size = Some(parse_int(k, v, 1, 1024)?);
        r.serving_draft.given(k);
        Ok(())
    }),
];

/// A buffer size in elements: a count ("5e8", "500M") that is a whole number from 0 to 1e12.
fn parse_elements(key: &str, v: &str) -> Result<u64, Problem> {
    match parse_count(v) {
        Ok(x) if x.fract() == 0.0 && (0.0..=1e12).contains(&x) => Ok(x as u64),
        _ => Err(problem(
            key,
            format!("'{}' is not accepted; accepted: a whole number of elements from 0 to 1e12, e.g. 5e8", shown(v)),
        )),
    }
}

/// The names of [`INPUT`], in its order.
pub const INPUT_KEYS: [&str; INPUT.len()] = {
    let mut names = [""; INPUT.len()];
    let mut i = 0;
    while i < INPUT.len() {
        names[i] = INPUT[i].name;
        i += 1;
    }
    names
};

/// The input key called `name`.
#[must_use]
pub fn input_key(name: &str) -> Option<&'static InputKey> {
    const TABLE: &[InputKey] = &INPUT;
    TABLE.iter().find(|k| k.name == name)
}

/// Output keys the mutating webhook writes; accepted on input (a re-submitted object carries
/// them) and ignored by the estimate.
pub const OUTPUT_KEYS: &[&str] =
    &["estimated-memory-per-gpu", "estimated-gpus", "estimated-gpu-hours", "estimated-cost-usd", "decision"];

// Exemptions (admission::exempt): keys read by the admission policy, not by the estimate.

/// Keys the admission policy reads beside the job's: accepted on input, ignored by the
/// estimate (`vramgate.io/exempt`, honoured where `policy.exemptions` allows).
pub const POLICY_KEYS: &[&str] = &["exempt"];

// The output annotations' codec: each `render_output_*` reads back exactly with its
// `parse_output_*` twin (`tests/properties.rs`).

/// A malformed output annotation value: what was given and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not accepted; accepted: {accepted}")]
pub struct OutputValueError {
    /// The value, shortened and escaped for display.
    pub value: String,
    pub accepted: &'static str,
}

fn output_error(v: &str, accepted: &'static str) -> OutputValueError {
    OutputValueError { value: shown(v), accepted }
}

/// Whether `s` is one or more ASCII digits.
fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whole mebibytes covering `bytes`, rounded up: what `estimated-memory-per-gpu` records, so
/// the annotation is exact and never below the estimate.
#[must_use]
pub fn output_memory_mib(bytes: u64) -> u64 {
    bytes.div_ceil(crate::estimate::units::MIB)
}

/// `estimated-memory-per-gpu`: mebibytes as a Kubernetes quantity ("53248Mi"); see
/// [`output_memory_mib`].
#[must_use]
pub fn render_output_memory_mib(mib: u64) -> String {
    format!("{mib}Mi")
}

/// Reads [`render_output_memory_mib`]'s form back: digits and the suffix `Mi`, nothing else.
pub fn parse_output_memory_mib(v: &str) -> Result<u64, OutputValueError> {
    const ACCEPTED: &str = "a whole number of mebibytes with the suffix Mi, e.g. 53248Mi";
    v.strip_suffix("Mi")
        .filter(|n| all_digits(n))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| output_error(v, ACCEPTED))
}

/// `estimated-gpus`: the fewest GPUs that fit with the job's strategy, or `none`.
#[must_use]
pub fn render_output_gpus(gpus: Option<u32>) -> String {
    gpus.map_or_else(|| "none".to_string(), |n| n.to_string())
}

/// Reads [`render_output_gpus`]'s form back.
pub fn parse_output_gpus(v: &str) -> Result<Option<u32>, OutputValueError> {
    const ACCEPTED: &str = "a whole number of GPUs, or none";
    if v == "none" {
        return Ok(None);
    }
    if !all_digits(v) {
        return Err(output_error(v, ACCEPTED));
    }
    v.parse::<u32>().map(Some).map_err(|_| output_error(v, ACCEPTED))
}

/// `estimated-gpu-hours` and `estimated-cost-usd`: the shortest decimal that reads back as the
/// same `f64` (Rust's `Display`: no exponent, no rounding), or `unknown` when there is none
/// (no `training-tokens`) or it is not finite.
#[must_use]
pub fn render_output_amount(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "unknown".to_string(),
    }
}

/// Reads [`render_output_amount`]'s form back: `unknown`, or a plain decimal (optional `-`,
/// digits, optional fraction; no exponent, no `NaN`, no `inf`).
pub fn parse_output_amount(v: &str) -> Result<Option<f64>, OutputValueError> {
    const ACCEPTED: &str = "a decimal number such as 1234.5, or unknown";
    if v == "unknown" {
        return Ok(None);
    }
    let unsigned = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    if !all_digits(int) || !all_digits(frac) {
        return Err(output_error(v, ACCEPTED));
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(output_error(v, ACCEPTED)),
    }
}

/// What happens to the object; its name is the `vramgate.io/decision` output annotation.
/// [`Decision::as_str`] is derived (strum) and equals the serde name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Decision {
    /// Admitted, nothing to say.
    Allow,
    /// Admitted, with warnings.
    Warn,
    /// Refused.
    Deny,
    /// Not vramgate's business (unsupported kind, no GPUs, DELETE): admitted untouched.
    Skip,
}

impl Decision {
    pub const ALL: [Self; 4] = [Self::Allow, Self::Warn, Self::Deny, Self::Skip];

    /// The `vramgate.io/decision` output annotation's value and the `decision` label: the
    /// serde name (`allow`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Reads [`Decision::as_str`] back (the `vramgate.io/decision` output annotation).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}
