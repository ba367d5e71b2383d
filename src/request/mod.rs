//! The `vramgate.io/*` key contract: string fields -> a resolved [`Job`] and GPU choice.
//!
//! One table of keys serves both doors: the webhook reads them from a workload's annotations
//! (prefix `vramgate.io/`), and `vramgate estimate` takes them as `--KEY VALUE` flags. Every
//! value is parsed strictly; every bad field is reported (key, value, what is accepted) and all
//! problems of one request come back together. Nothing a user sent is dropped: an unknown
//! `vramgate.io/` key is an error too. Pure: no I/O.

pub mod contract;

use crate::estimate::catalog::closest;
use crate::estimate::hf_config::{architecture_from_hf_config, model_type_of, reads_model_type};
use crate::estimate::presets::{find_preset, suggest_presets};
use crate::estimate::serving::ServingConfig;
use crate::estimate::units::parse_count;
use crate::estimate::*;
use contract::{Fills, InputKey, input_key};
use std::collections::BTreeMap;
use std::str::FromStr;

pub use contract::{
    OUTPUT_KEYS, OutputValueError, PREFIX, output_memory_mib, parse_output_amount, parse_output_gpus,
    parse_output_memory_mib, render_output_amount, render_output_gpus, render_output_memory_mib,
};

/// Input keys, in documentation order ([`contract::INPUT`]'s names).
pub const INPUT_KEYS: &[&str] = &contract::INPUT_KEYS;

/// Longest value accepted for any key (a `config.json` for `hf-config` may be longer).
pub const MAX_VALUE_LEN: usize = 1024;
pub const MAX_HF_CONFIG_LEN: usize = 256 * 1024;

/// A parsed request: the job (without GPU count, which the caller knows) and the GPU name asked
/// for, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub job: Job,
    /// `gpu` key, as written.
    pub gpu: Option<String>,
    /// `gpus` key.
    pub gpus: Option<u32>,
    /// `objective` key: what the advised plan minimises (`None`: the caller's default).
    pub objective: Option<Objective>,
    /// `workload: serving`: the inference server's settings (issue 15).
    pub serving: Option<ServingConfig>,
    /// The serving keys as read, before `workload` is known (keys apply in name order).
    pub(crate) serving_draft: ServingDraft,
}

/// Serving settings while the keys are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServingDraft {
    pub(crate) workload_serving: bool,
    pub(crate) cfg: ServingConfig,
    /// Serving keys given, and values only serving accepts: an error without workload serving.
    pub(crate) serving_only: Vec<String>,
}

impl ServingDraft {
    pub(crate) fn given(&mut self, key: &str) {
        self.serving_only.push(key.to_string());
    }
}

pub(crate) fn problem(key: &str, message: String) -> Problem {
    Problem { field: key.to_string(), message }
}

pub(crate) fn shown(v: &str) -> String {
    let v: String = v.chars().take(64).collect();
    v.escape_default().to_string()
}

pub(crate) fn parse_int(key: &str, v: &str, min: u64, max: u64) -> Result<u32, Problem> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= min && n <= max => Ok(n as u32),
        _ => Err(problem(key, format!("'{}' is not accepted; accepted: a whole number from {min} to {max}", shown(v)))),
    }
}

/// A token count written as a whole number or with a `k`/`K` suffix meaning 1024 (`4k` = 4096,
/// `128k` = 131072, `32K` = 32768), as context lengths are written (Llama 3.1's "128K context"
/// is `max_position_embeddings` 131072 in its config.json).
pub(crate) fn parse_tokens(key: &str, v: &str, min: u64, max: u64) -> Result<u32, Problem> {
    let t = v.trim();
    let n = match t.strip_suffix(['k', 'K']) {
        Some(d) => d.parse::<u64>().ok().and_then(|d| d.checked_mul(1024)),
        None => t.parse::<u64>().ok(),
    };
    match n {
        Some(n) if n >= min && n <= max => Ok(n as u32),
        _ => Err(problem(
            key,
            format!(
                "'{}' is not accepted; accepted: a whole number of tokens from {min} to {max}, or thousands with k = 1024 (4k, 32K, 128k)",
                shown(v)
            ),
        )),
    }
}

pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool, Problem> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(problem(key, format!("'{}' is not accepted; accepted: true or false", shown(v)))),
    }
}

pub(crate) fn parse_choice<T: FromStr<Err = UnknownChoice>>(key: &str, v: &str) -> Result<T, Problem> {
    T::from_str(v).map_err(|e| problem(key, format!("'{}' is not accepted; accepted: {}", shown(v), e.accepted)))
}

/// The names `mlp=` accepts, the default first (`relu` is a plain MLP too).
const MLP_NAMES: &[(&str, MlpKind)] = &[
    ("gated", MlpKind::Gated),
    ("swiglu", MlpKind::Gated),
    ("geglu", MlpKind::Gated),
    ("plain", MlpKind::Plain),
    ("gelu", MlpKind::Plain),
    ("relu", MlpKind::Plain),
];
/// The names `norm=` accepts, the default first.
const NORM_NAMES: &[(&str, NormKind)] = &[("rmsnorm", NormKind::RmsNorm), ("layernorm", NormKind::LayerNorm)];
/// The names `bias=` accepts, the default first.
const BIAS_NAMES: &[(&str, Bias)] = &[("none", Bias::None), ("qkv", Bias::Qkv), ("all", Bias::All)];

/// The value of `key` in an architecture string: one of `options` (names in lower case, matched
/// without regard to case), the first when the key is absent. Anything else is reported as
/// `key='value' ` followed by `refusal`, and reads as the first so the other fields are checked.
fn named<T: Copy>(
    seen: &BTreeMap<String, String>,
    errs: &mut Vec<String>,
    key: &str,
    options: &[(&str, T)],
    refusal: &str,
) -> T {
    let default = options[0].1;
    let Some(v) = seen.get(key).map(|s| s.to_ascii_lowercase()) else { return default };
    match options.iter().find(|(name, _)| *name == v) {
        Some(&(_, t)) => t,
        None => {
            errs.push(format!("{key}='{}' {refusal}", shown(&v)));
            default
        }
    }
}

/// Parses `layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000[,head-dim=..,
/// tied=true,mlp=gated|plain,experts=8,experts-per-token=2,norm=rmsnorm|layernorm,
/// bias=none|qkv|all,positions=N]`.
pub fn parse_architecture(v: &str) -> Result<Architecture, Vec<String>> {
    let mut errs = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, val)) => {
                let k = k.trim().to_ascii_lowercase().replace('_', "-");
                if seen.insert(k.clone(), val.trim().to_string()).is_some() {
                    errs.push(format!("'{k}' is given twice"));
                }
            }
            None => errs.push(format!("'{}' is not key=value", shown(part))),
        }
    }
    let num = |errs: &mut Vec<String>, k: &str, required: bool| -> Option<u32> {
        match seen.get(k) {
            None if required => {
                errs.push(format!("'{k}' is missing"));
                None
            }
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if n <= 10_000_000 => Some(n as u32),
                _ => {
                    errs.push(format!("{k}='{}' is not a whole number up to 10,000,000", shown(s)));
                    None
                }
            },
        }
    };
    let layers = num(&mut errs, "layers", true);
    let hidden = num(&mut errs, "hidden", true);
    let heads = num(&mut errs, "heads", true);
    let kv = num(&mut errs, "kv-heads", false);
    let head_dim = num(&mut errs, "head-dim", false);
    let inter = num(&mut errs, "intermediate", true);
    let vocab = num(&mut errs, "vocab", true);
    let experts = num(&mut errs, "experts", false).unwrap_or(0);
    let ept = num(&mut errs, "experts-per-token", false).unwrap_or(0);
    let positions = num(&mut errs, "positions", false).unwrap_or(0);
    let tied = named(&seen, &mut errs, "tied", &[("false", false), ("true", true)], "is not true or false");
    let mlp =
        named(&seen, &mut errs, "mlp", MLP_NAMES, "is not accepted; accepted: gated (swiglu, geglu), plain (gelu)");
    let norm = named(&seen, &mut errs, "norm", NORM_NAMES, "is not accepted; accepted: rmsnorm, layernorm");
    let bias = named(&seen, &mut errs, "bias", BIAS_NAMES, "is not accepted; accepted: none, qkv, all");
    const KNOWN: &[&str] = &[
        "layers",
        "hidden",
        "heads",
        "kv-heads",
        "head-dim",
        "intermediate",
        "vocab",
        "tied",
        "mlp",
        "experts",
        "experts-per-token",
        "norm",
        "bias",
        "positions",
    ];
    for k in seen.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errs.push(format!("unknown field '{}'; accepted: {}", shown(k), KNOWN.join(", ")));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let (layers, hidden, heads, inter, vocab) =
        (layers.unwrap(), hidden.unwrap(), heads.unwrap(), inter.unwrap(), vocab.unwrap());
    let head_dim = head_dim.unwrap_or(hidden.checked_div(heads).unwrap_or(0));
    let arch = Architecture {
        layers,
        hidden,
        heads,
        kv_heads: kv.unwrap_or(heads),
        head_dim,
        intermediate: inter,
        vocab,
        tied_embeddings: tied,
        mlp,
        norm,
        bias,
        learned_positions: positions,
        experts,
        experts_per_token: ept,
    };
    arch.validate()?;
    Ok(arch)
}

/// Renders an architecture the way [`parse_architecture`] reads it.
pub fn render_architecture(a: &Architecture) -> String {
    let mut s = format!(
        "layers={},hidden={},heads={},kv-heads={},head-dim={},intermediate={},vocab={},tied={},mlp={},norm={},bias={}",
        a.layers,
        a.hidden,
        a.heads,
        a.kv_heads,
        a.head_dim,
        a.intermediate,
        a.vocab,
        a.tied_embeddings,
        match a.mlp {
            MlpKind::Gated => "gated",
            MlpKind::Plain => "plain",
        },
        match a.norm {
            NormKind::RmsNorm => "rmsnorm",
            NormKind::LayerNorm => "layernorm",
        },
        match a.bias {
            Bias::None => "none",
            Bias::Qkv => "qkv",
            Bias::All => "all",
        }
    );
    if a.learned_positions > 0 {
        s.push_str(&format!(",positions={}", a.learned_positions));
    }
    if a.experts > 0 {
        s.push_str(&format!(",experts={},experts-per-token={}", a.experts, a.experts_per_token));
    }
    s
}

pub(crate) fn parse_lora_targets(v: &str) -> Result<LoraTargets, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "attention" => return Ok(LoraTargets::Attention),
        "all-linear" | "all_linear" => return Ok(LoraTargets::AllLinear),
        _ => {}
    }
    let mut mods = Vec::new();
    let mut bad = Vec::new();
    for m in v.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match LoraModule::parse(m) {
            Some(x) if !mods.contains(&x) => mods.push(x),
            Some(_) => bad.push(format!("{} twice", shown(m))),
            None => bad.push(shown(m)),
        }
    }
    if !bad.is_empty() || mods.is_empty() {
        return Err(format!(
            "'{}' is not accepted ({}); accepted: attention, all-linear, or a comma list of {}",
            shown(v),
            if bad.is_empty() { "no module named".to_string() } else { format!("unknown: {}", bad.join(", ")) },
            LoraModule::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(LoraTargets::Modules(mods))
}

/// Resolves the model fields (`model`, `parameters`, `architecture`, `hf-config`); exactly one
/// must be given.
fn resolve_model(f: &BTreeMap<String, String>, problems: &mut Vec<Problem>) -> Option<Model> {
    let given: Vec<&str> = contract::INPUT
        .iter()
        .filter(|k| matches!(k.fills, Fills::Model) && f.contains_key(k.name))
        .map(|k| k.name)
        .collect();
    if given.is_empty() {
        problems.push(problem(
            "model",
            "no model given; set one of the four: model (a preset or Hugging Face id), hf-config (a config.json), \
             architecture (layers=..,hidden=..,...) or parameters (e.g. 7B)"
                .into(),
        ));
        return None;
    }
    if given.len() > 1 {
        problems.push(problem(
            given[1],
            format!(
                "give only one of {}; both {} and {} are set",
                "model, parameters, architecture, hf-config", given[0], given[1]
            ),
        ));
        return None;
    }
    let key = given[0];
    let v = &f[key];
    match key {
        "model" => match find_preset(v) {
            Some(p) => Some(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone())),
            None => {
                let s = suggest_presets(v);
                let closest = if s.is_empty() {
                    "no preset is close".to_string()
                } else {
                    format!("closest presets: {}", s.join(", "))
                };
                problems.push(problem(
                    "model",
                    format!(
                        "unknown model '{}'; {closest}; or describe it: hf-config (--hf-config FILE, the model's \
                         config.json), architecture (--architecture layers=..,hidden=..,heads=..,intermediate=..,vocab=..) \
                         or parameters (--parameters 7B, coarse); `vramgate catalog` lists presets",
                        shown(v)
                    ),
                ));
                None
            }
        },
        "parameters" => match parse_count(v) {
            Ok(n) if n >= 1e6 => Some(Model::from_param_count(n as u64)),
            Ok(_) => {
                problems.push(problem(
                    "parameters",
                    format!(
                        "'{}' is under one million parameters; accepted: a count such as 350M, 7B, 6.74e9",
                        shown(v)
                    ),
                ));
                None
            }
            Err(e) => {
                problems.push(problem("parameters", e.to_string()));
                None
            }
        },
        "architecture" => match parse_architecture(v) {
            Ok(a) => Some(Model::from_arch("custom", ModelSource::Architecture, a)),
            Err(errs) => {
                for e in errs {
                    problems.push(problem("architecture", e));
                }
                None
            }
        },
        _ => {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(v);
            match parsed
                .map_err(|e| e.to_string())
                .and_then(|j| architecture_from_hf_config(&j).map_err(|e| e.to_string()))
            {
                Ok(a) => match a.validate() {
                    Ok(()) => {
                        // A model_type without its own reader says it was read generically.
                        let json: serde_json::Value = serde_json::from_str(v).unwrap_or_default();
                        let name = match model_type_of(&json) {
                            Some(t) if reads_model_type(t) => "hf-config".to_string(),
                            Some(t) => format!("hf-config ({}: standard fields, Llama block assumed)", shown(t)),
                            None => "hf-config (no model_type: standard fields, Llama block assumed)".to_string(),
                        };
                        Some(Model::from_arch(name, ModelSource::HfConfig, a))
                    }
                    Err(errs) => {
                        problems.extend(errs.into_iter().map(|e| problem("hf-config", e)));
                        None
                    }
                },
                Err(e) => {
                    problems.push(problem("hf-config", e));
                    None
                }
            }
        }
    }
}

/// Builds a [`Request`] from `key -> value` fields (keys without the `vramgate.io/` prefix).
pub fn parse_fields(fields: &BTreeMap<String, String>) -> Result<Request, Vec<Problem>> {
    // Unknown keys and over-long values are problems, and the other fields are still read, so
    // one bad key does not hide the rest of the object's problems.
    let mut problems = Vec::new();
    let mut usable: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in fields {
        let mut ok = true;
        if !INPUT_KEYS.contains(&k.as_str())
            && !OUTPUT_KEYS.contains(&k.as_str())
            && !contract::POLICY_KEYS.contains(&k.as_str())
        {
            // Escaped and shortened: a confusable (a Cyrillic 'о' in `mоdel`) shows as
            // `m\u{43e}del`, and a megabyte key is not echoed back.
            // Only a key near a real key's length can be its typo (and edit distance on a
            // megabyte key would cost seconds).
            let near = if k.len() <= 40 {
                closest(&k.to_ascii_lowercase(), INPUT_KEYS.iter().map(|n| (*n, vec![n.to_string()])))
            } else {
                Vec::new()
            };
            let hint = match near.first() {
                Some(n) => format!("did you mean `{n}`? "),
                None => String::new(),
            };
            problems.push(problem(&shown(k), format!("unknown key; {hint}accepted keys: {}", INPUT_KEYS.join(", "))));
            ok = false;
        }
        let limit = if k == "hf-config" { MAX_HF_CONFIG_LEN } else { MAX_VALUE_LEN };
        if v.len() > limit {
            problems.push(problem(&shown(k), format!("value is {} bytes; at most {limit} accepted", v.len())));
            ok = false;
        }
        if ok {
            usable.insert(k.clone(), v.clone());
        }
    }
    let fields = &usable;
    let model = resolve_model(fields, &mut problems);
    let job = Job::new(model.unwrap_or_else(|| Model::from_param_count(1_000_000_000)));
    let mut request =
        Request { job, gpu: None, gpus: None, objective: None, serving: None, serving_draft: ServingDraft::default() };
    for (k, v) in fields {
        // Output keys are not in the table (ignored); model keys were resolved above.
        if let Some(InputKey { fills: Fills::Field(apply), .. }) = input_key(k)
            && let Err(p) = apply(&mut request, k, v)
        {
            problems.push(p);
        }
    }
    let mut draft = std::mem::take(&mut request.serving_draft);
    if draft.workload_serving {
        // A `config.json` also says the model's context, attention layout and quantisation.
        if let Some(Ok(j)) = fields.get("hf-config").map(|t| serde_json::from_str::<serde_json::Value>(t)) {
            draft.cfg.model_facts = Some(crate::estimate::serving::facts_from_hf_config(&j));
        }
        request.serving = Some(draft.cfg);
    } else {
        for k in draft.serving_only {
            let v = fields.get(&k).map(String::as_str).unwrap_or_default();
            problems.push(problem(
                &k,
                format!(
                    "'{}' is for an inference server only; set workload serving (and engine), or remove it",
                    shown(v)
                ),
            ));
        }
    }
    if problems.is_empty() { Ok(request) } else { Err(problems) }
}

/// The `vramgate.io/` annotations of an object as fields (prefix stripped); other annotations
/// are not ours and are left alone.
pub fn fields_from_annotations(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations.iter().filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|k| (k.to_string(), v.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_a_preset_by_hugging_face_id() {
        let r = parse_fields(&fields(&[("model", "meta-llama/Llama-2-7b-hf"), ("precision", "bf16-true")])).unwrap();
        assert_eq!(r.job.model.params(), 6_738_415_616);
        assert_eq!(r.job.precision, Precision::Bf16True);
    }

    #[test]
    fn reports_every_bad_field_together_naming_key_value_and_accepted_forms() {
        let e = parse_fields(&fields(&[
            ("model", "llama-2-7b"),
            ("precision", "fp64"),
            ("micro-batch-size", "-3"),
            ("optimizer", "adamx"),
        ]))
        .unwrap_err();
        let text: Vec<String> = e.iter().map(|p| p.to_string()).collect();
        assert_eq!(e.len(), 3, "{text:?}");
        assert!(text.iter().any(|t| t.contains("precision") && t.contains("fp64") && t.contains("bf16-mixed")));
        assert!(text.iter().any(|t| t.contains("micro-batch-size") && t.contains("-3")));
        assert!(text.iter().any(|t| t.contains("optimizer") && t.contains("adamw-fused")));
    }

    #[test]
    fn unknown_preset_suggests_the_closest_names() {
        let e = parse_fields(&fields(&[("model", "llama-2-7")])).unwrap_err();
        assert!(e[0].message.contains("llama-2-7b"), "{}", e[0]);
    }

    #[test]
    fn two_model_keys_are_an_error_not_a_silent_choice() {
        let e = parse_fields(&fields(&[("model", "llama-2-7b"), ("parameters", "7B")])).unwrap_err();
        assert!(e[0].message.contains("only one"));
    }

    #[test]
    fn unknown_keys_are_reported() {
        let e = parse_fields(&fields(&[("model", "gpt2"), ("precisoin", "fp32")])).unwrap_err();
        assert_eq!(e[0].field, "precisoin");
    }

    #[test]
    fn an_unknown_key_has_a_did_you_mean_and_hides_no_other_problem() {
        let e =
            parse_fields(&fields(&[("model", "gpt2"), ("precisoin", "fp32"), ("micro-batch-size", "0")])).unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 2, "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("micro-batch-size: '0'")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("precisoin: unknown key; did you mean `precision`?")), "{text:?}");
        // Nothing close: no guess, only the list.
        let e = parse_fields(&fields(&[("model", "gpt2"), ("zzzzzzzzzzzzzzzzzzzz", "1")])).unwrap_err();
        assert!(!e[0].message.contains("did you mean"), "{}", e[0]);
    }

    #[test]
    fn context_lengths_take_k_as_1024() {
        for (v, n) in [("4k", 4096), ("128k", 131_072), ("32K", 32_768), ("2048", 2048)] {
            let r = parse_fields(&fields(&[("model", "gpt2"), ("sequence-length", v)])).unwrap();
            assert_eq!(r.job.sequence_length, n, "{v}");
        }
        for bad in ["4m", "k", "1.5k", "-4k", "99999999k"] {
            let e = parse_fields(&fields(&[("model", "gpt2"), ("sequence-length", bad)])).unwrap_err();
            assert!(e[0].message.contains("k = 1024"), "{bad}: {}", e[0]);
        }
    }

    #[test]
    fn an_unknown_model_with_nothing_close_points_to_hf_config_and_architecture() {
        let e = parse_fields(&fields(&[("model", "zyxwvut-9000")])).unwrap_err();
        let m = &e[0].message;
        assert!(m.contains("no preset is close") && !m.contains("closest presets: ;"), "{m}");
        assert!(m.contains("--hf-config") && m.contains("--architecture"), "{m}");
    }

    #[test]
    fn a_generic_hf_config_is_named_as_read_generically() {
        let cfg = r#"{"model_type": "granite", "num_hidden_layers": 2, "hidden_size": 64,
            "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}"#;
        let r = parse_fields(&fields(&[("hf-config", cfg)])).unwrap();
        assert!(r.job.model.name.contains("granite") && r.job.model.name.contains("assumed"), "{}", r.job.model.name);
        let llama = cfg.replace("granite", "llama");
        assert_eq!(parse_fields(&fields(&[("hf-config", &llama)])).unwrap().job.model.name, "hf-config");
    }

    #[test]
    fn architecture_string_round_trips() {
        let a = parse_architecture("layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000").unwrap();
        assert_eq!(a.param_count(), 7_241_732_096);
        assert_eq!(parse_architecture(&render_architecture(&a)).unwrap(), a);
    }

    #[test]
    fn architecture_errors_name_the_field() {
        let e = parse_architecture("layers=0,hidden=4096,heads=3,intermediate=1,vocab=1,colour=red").unwrap_err();
        assert!(e.iter().any(|m| m.contains("colour")), "{e:?}");
        let e = parse_architecture("layers=0,hidden=4096,heads=3,intermediate=1,vocab=1").unwrap_err();
        assert!(e.iter().any(|m| m.contains("layers")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("heads (3) must divide hidden (4096)")), "{e:?}");
    }

    #[test]
    fn architecture_named_fields_take_aliases_any_case_and_report_the_rest() {
        let base = "layers=2,hidden=64,heads=4,intermediate=128,vocab=100";
        let a = parse_architecture(base).unwrap();
        assert_eq!((a.tied_embeddings, a.mlp, a.norm, a.bias), (false, MlpKind::Gated, NormKind::RmsNorm, Bias::None));
        let a = parse_architecture(&format!("{base},tied=TRUE,mlp=ReLU,norm=LayerNorm,bias=QKV")).unwrap();
        assert_eq!((a.tied_embeddings, a.mlp, a.norm, a.bias), (true, MlpKind::Plain, NormKind::LayerNorm, Bias::Qkv));
        let e = parse_architecture(&format!("{base},tied=Maybe,mlp=GLU,norm=batch,bias=some")).unwrap_err();
        assert_eq!(
            e,
            [
                "tied='maybe' is not true or false",
                "mlp='glu' is not accepted; accepted: gated (swiglu, geglu), plain (gelu)",
                "norm='batch' is not accepted; accepted: rmsnorm, layernorm",
                "bias='some' is not accepted; accepted: none, qkv, all",
            ]
        );
    }
}
