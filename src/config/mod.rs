//! The config file shared by `vramgate serve` and `vramgate check`: policy (cluster default and
//! per namespace), the GPU catalog with prices, and which resources count as GPUs.
//!
//! Parsing and validation ([`Settings::from_yaml`]) are pure; [`load_file`] is the one function
//! here that touches the file system. Every problem is reported together, each with the path of
//! its key (`namespaces.research.mode`), so an operator fixes a config in one round.
//!
//! Keys are snake_case, like the GPU entries (`memory_bytes`) and the JSON the CLI prints.
//! Unknown keys are errors: a misspelt `max_cost_usd` must not silently mean "no limit".
//!
//! One file per section: `policy.rs` (`policy`, `namespaces`), `server.rs`, `cluster.rs`,
//! `metrics.rs`, `gpus.rs`, `resources.rs`; this one assembles them and reads the file.

mod audit;
mod cluster;
mod exemptions;
mod gpus;
mod metrics;
mod policy;
mod resources;
mod section;
mod server;
mod serving;

pub use audit::*;
pub use cluster::*;
pub use exemptions::*;
pub use gpus::*;
pub use metrics::*;
pub use policy::*;
pub use resources::*;
pub use server::*;
pub use serving::*;

use crate::estimate::catalog::GpuCatalog;
use crate::workload::ExtractConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Largest GPU count a plan search proposes, unless the config says otherwise.
pub const DEFAULT_MAX_GPUS: u32 = 1024;

/// The file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Cluster-wide policy; a namespace without an entry gets exactly this.
    #[serde(default)]
    pub policy: PolicyFile,
    /// Per-namespace overrides of `policy`.
    #[serde(default)]
    pub namespaces: BTreeMap<String, PolicyFile>,
    #[serde(default)]
    pub resources: ResourcesFile,
    /// GPU catalog entries: one named like a built-in GPU overrides only the fields it gives
    /// (e.g. your negotiated `usd_per_hour`); any other is added and must give every fact.
    #[serde(default)]
    pub gpus: Vec<GpuEntry>,
    /// Largest GPU count a plan may propose. Default 1024.
    pub max_gpus: Option<u32>,
    /// The webhook server's limits (read at start only), as written: read by `server::resolve`
    /// through `section::Section`, which reports every bad value and unknown key.
    #[serde(default)]
    pub server: serde_yaml_ng::Value,
    /// Cluster awareness (`serve --cluster`), as written.
    #[serde(default)]
    pub cluster: serde_yaml_ng::Value,
    /// Bounds of the metrics' labels and admission counting (read at start only), as written.
    #[serde(default)]
    pub metrics: serde_yaml_ng::Value,
    /// The periodic in-cluster audit (`serve --cluster`; read at start only), as written.
    #[serde(default)]
    pub audit: serde_yaml_ng::Value,
    /// Inference servers that will not start (issue 15), as written.
    #[serde(default)]
    pub serving: serde_yaml_ng::Value,
}

/// One problem in the config, with the path of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Dotted path (`namespaces.research.mode`); `""` for the file as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// The validated config: what the webhook and `check` decide with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub defaults: Policy,
    pub namespaces: BTreeMap<String, Policy>,
    pub catalog: GpuCatalog,
    pub extract: ExtractConfig,
    pub max_gpus: u32,
    /// The webhook server's limits; `serve` reads them at start only.
    pub server: ServerLimits,
    pub cluster: ClusterSettings,
    /// Bounds of the metrics; `serve` reads them at start only.
    pub metrics: MetricsSettings,
    /// `policy.exemptions`: where `vramgate.io/exempt` is honoured.
    pub exemptions: Exemptions,
    /// The periodic in-cluster audit; `serve` reads it at start only.
    pub audit: AuditSettings,
    /// Inference servers that will not start.
    pub serving: ServingSettings,
}

impl Default for Settings {
    /// Built-in defaults: enforce, no patching, no cost limit, H100-80GB, the built-in catalog.
    fn default() -> Self {
        Self {
            defaults: Policy::default(),
            namespaces: BTreeMap::new(),
            catalog: GpuCatalog::builtin(),
            extract: ExtractConfig::default(),
            max_gpus: DEFAULT_MAX_GPUS,
            server: ServerLimits::default(),
            cluster: ClusterSettings::default(),
            metrics: MetricsSettings::default(),
            exemptions: Exemptions::default(),
            audit: AuditSettings::default(),
            serving: ServingSettings::default(),
        }
    }
}

impl Settings {
    /// The policy of `namespace` (the cluster default when it has no entry).
    #[must_use]
    pub fn policy(&self, namespace: &str) -> &Policy {
        self.namespaces.get(namespace).unwrap_or(&self.defaults)
    }

    /// Parses and validates a config file's text (YAML, or JSON, which is YAML).
    ///
    /// # Errors
    /// Every problem found, each with its key's path.
    pub fn from_yaml(text: &str) -> Result<Self, Vec<ConfigError>> {
        check_size_and_nesting(text)?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let file: ConfigFile = serde_path_to_error::deserialize(de).map_err(|e| {
            // serde stops at the first problem: find every other one too (issue 14).
            let all = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .map(|doc| {
                    let mut all = every_parse_error(&doc);
                    // `server`, `metrics`, `cluster`, `audit` and `serving` are read by `Section`
                    // after serde, so their problems are found by reading them here too.
                    let section = |k: &str| doc.get(k).cloned().unwrap_or(serde_yaml_ng::Value::Null);
                    let _ = server::resolve(&section("server"), &mut all);
                    let _ = metrics::resolve(&section("metrics"), &mut all);
                    let _ = cluster::resolve(&section("cluster"), &mut all);
                    let _ = audit::resolve(&section("audit"), &mut all);
                    let _ = serving::resolve(&section("serving"), &mut all);
                    all
                })
                .unwrap_or_default();
            if all.is_empty() { vec![path_error(e)] } else { all }
        })?;
        Self::from_file(file)
    }

    /// Validates a parsed file.
    ///
    /// # Errors
    /// Every problem found, each with its key's path.
    pub fn from_file(file: ConfigFile) -> Result<Self, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let catalog = match catalog_with(&file.gpus) {
            Ok(c) => c,
            Err(e) => {
                errs.extend(e);
                GpuCatalog::builtin()
            }
        };

        file.policy.check("policy", &catalog, &mut errs);
        if let Some(x) = &file.policy.exemptions {
            x.check("policy.exemptions", &mut errs);
        }
        for (ns, p) in &file.namespaces {
            if !is_dns_label(ns) {
                errs.push(ConfigError {
                    path: format!("namespaces.{ns}"),
                    message: "is not a namespace name; accepted: a DNS label (a-z, 0-9, '-', at most 63)".into(),
                });
            }
            p.check(&format!("namespaces.{ns}"), &catalog, &mut errs);
            if p.exemptions.is_some() {
                errs.push(ConfigError {
                    path: format!("namespaces.{ns}.exemptions"),
                    message: "is read from policy.exemptions only (it lists the namespaces); \
                              accepted: policy.exemptions.namespaces: [...]"
                        .into(),
                });
            }
        }
        file.resources.check(&mut errs);
        let server = server::resolve(&file.server, &mut errs);
        let metrics = metrics::resolve(&file.metrics, &mut errs);
        let cluster = cluster::resolve(&file.cluster, &mut errs);
        let audit = audit::resolve(&file.audit, &mut errs);
        let serving = serving::resolve(&file.serving, &mut errs);
        let max_gpus = file.max_gpus.unwrap_or(DEFAULT_MAX_GPUS);
        if !(1..=crate::estimate::MAX_GPUS).contains(&max_gpus) {
            errs.push(ConfigError {
                path: "max_gpus".into(),
                message: format!("{max_gpus} is not accepted; accepted: 1 to {}", crate::estimate::MAX_GPUS),
            });
        }
        if !errs.is_empty() {
            return Err(errs);
        }

        let (defaults, namespaces) = resolve_policies(&file.policy, &file.namespaces, &catalog);
        Ok(Self {
            defaults,
            namespaces,
            catalog,
            extract: file.resources.into_extract(),
            max_gpus,
            server,
            cluster,
            metrics,
            exemptions: file.policy.exemptions.clone().unwrap_or_default(),
            audit,
            serving,
        })
    }
}

fn path_error(e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> ConfigError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    ConfigError { path, message: e.into_inner().to_string() }
}

/// Every key of `doc` that the file's schema refuses, each with its path: serde reports only
/// the first, so each mapping that fails is split, and each of its keys is tried alone in a
/// document holding only the path to it (every section and field of the file is optional). A
/// mapping none of whose keys fails alone (a problem between keys) reports its own error.
fn every_parse_error(doc: &serde_yaml_ng::Value) -> Vec<ConfigError> {
    use serde_yaml_ng::{Mapping, Value};
    fn try_alone(path: &[Value], v: &Value) -> Option<ConfigError> {
        let mut node = v.clone();
        for k in path.iter().rev() {
            let mut m = Mapping::new();
            m.insert(k.clone(), node);
            node = Value::Mapping(m);
        }
        serde_path_to_error::deserialize::<_, ConfigFile>(node).err().map(path_error)
    }
    fn walk(path: &mut Vec<Value>, v: &Value, out: &mut Vec<ConfigError>) {
        let Some(e) = try_alone(path, v) else { return };
        let before = out.len();
        if let Value::Mapping(m) = v
            && m.len() > 1
        {
            for (k, child) in m {
                path.push(k.clone());
                walk(path, child, out);
                path.pop();
            }
        }
        if out.len() == before {
            out.push(e);
        }
    }
    let mut out = Vec::new();
    walk(&mut Vec::new(), doc, &mut out);
    out
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Largest config file accepted: 256 KiB. A config is a few kilobytes (a catalog of a hundred
/// GPUs is about 50 KiB); a ConfigMap holds at most 1 MiB
/// (<https://kubernetes.io/docs/concepts/configuration/configmap/#motivation>).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// Most flow collections (`[` and `{` characters) a config file may hold: 1,024. The YAML
/// parser's work grows with the number of tokens times the flow nesting depth (libyaml checks
/// every open flow level at each token), so 128 KiB of `[` took it 14 s; a bound on the
/// openers bounds the depth whatever the quoting. Block-style nesting (indentation) is not
/// limited here: its depth is bounded by the file size and by the deserializer's recursion
/// limit of 128.
pub const MAX_CONFIG_FLOW_COLLECTIONS: usize = 1024;

/// Refuses a config text over [`MAX_CONFIG_BYTES`] or with more than
/// [`MAX_CONFIG_FLOW_COLLECTIONS`] flow collections, before any parsing.
fn check_size_and_nesting(text: &str) -> Result<(), Vec<ConfigError>> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(vec![ConfigError {
            path: String::new(),
            message: format!(
                "the config is {} bytes; accepted: at most {MAX_CONFIG_BYTES} bytes (256 KiB)",
                text.len()
            ),
        }]);
    }
    let openers = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if openers > MAX_CONFIG_FLOW_COLLECTIONS {
        return Err(vec![ConfigError {
            path: String::new(),
            message: format!(
                "the config holds {openers} `[` or `{{` characters (flow collections, nested as deep as that); \
                 accepted: at most {MAX_CONFIG_FLOW_COLLECTIONS} (write deep structures in block style)"
            ),
        }]);
    }
    Ok(())
}

/// Reads and validates a config file. The one impure function of this module.
///
/// # Errors
/// The file cannot be read (one error with path `""`), or every problem [`Settings::from_yaml`]
/// finds.
pub fn load_file(path: &std::path::Path) -> Result<Settings, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError { path: String::new(), message: format!("cannot read {}: {e}", path.display()) }]
    })?;
    Settings::from_yaml(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    /// Asserts that `e` holds an error at each of `paths`.
    fn assert_paths(e: &[ConfigError], paths: &[&str]) {
        for p in paths {
            assert!(e.iter().any(|e| e.path == *p), "{p} missing from {e:?}");
        }
    }

    /// Issue 12, item 10: 128 KiB of nested `[` took the YAML parser 14 s before it failed;
    /// now it is refused before parsing, with the limit named. So is a file over the size cap.
    #[test]
    fn a_deeply_nested_or_oversized_config_is_refused_before_parsing() {
        let e = Settings::from_yaml(&"[".repeat(128 * 1024)).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("131072 `[` or `{`") && e[0].message.contains("at most 1024"), "{e:?}");
        let e = Settings::from_yaml(&format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES))).unwrap_err();
        assert!(e[0].message.contains("at most 262144 bytes"), "{e:?}");
        // At the limits, a config still loads.
        let ok = format!("{}max_gpus: 8\n", "# padding\n".repeat(100));
        assert_eq!(Settings::from_yaml(&ok).unwrap().max_gpus, 8);
        assert!(Settings::from_yaml(&format!("resources: {{gpu: [{}]}}\n", "nvidia.com/gpu")).is_ok());
    }

    #[test]
    fn an_empty_file_is_the_built_in_defaults() {
        let s = Settings::from_yaml("").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.policy("anything").mode, Mode::Enforce);
    }

    #[test]
    fn a_namespace_overrides_only_what_it_names() {
        let s = Settings::from_yaml(
            "policy: {mode: enforce, max_cost_usd: 1000, default_gpu: a100-80gb}\n\
             namespaces:\n  research: {mode: warn}\n  big: {max_cost_usd: null}\n",
        )
        .unwrap();
        let r = s.policy("research");
        assert_eq!((r.mode, r.max_cost_usd, r.default_gpu.as_str()), (Mode::Warn, Some(1000.0), "A100-80GB"));
        assert_eq!(s.policy("big").max_cost_usd, None);
        assert_eq!(s.policy("other").mode, Mode::Enforce);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = Settings::from_yaml(
            "policy: {max_cost_usd: -5, default_gpu: H200-80GB, overprovision_factor: 0.5}\n\
             namespaces:\n  Research_Team: {patch_gpu_types: [B300]}\n",
        )
        .unwrap_err();
        assert_paths(
            &e,
            &[
                "policy.max_cost_usd",
                "policy.default_gpu",
                "policy.overprovision_factor",
                "namespaces.Research_Team",
                "namespaces.Research_Team.patch_gpu_types[0]",
            ],
        );
    }

    #[test]
    fn a_misspelt_key_is_an_error_not_a_silent_default() {
        let e = Settings::from_yaml("namespaces:\n  research: {max_cost: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("namespaces.research"), "{e:?}");
        assert!(e[0].message.contains("max_cost"), "{e:?}");
        let e = Settings::from_yaml("policy: {mode: block}\n").unwrap_err();
        assert_eq!(e[0].path, "policy.mode");
        assert!(e[0].message.contains("enforce"), "{e:?}");
    }

    #[test]
    fn server_limits_default_and_are_validated_with_their_paths() {
        assert_eq!(Settings::from_yaml("policy: {}\n").unwrap().server, ServerLimits::default());
        let s = Settings::from_yaml(
            "server: {max_body_bytes: 2048, request_timeout_seconds: 0.5, max_concurrent_reviews: 2, \
             client_ca_file: /etc/ca.crt}\n",
        )
        .unwrap();
        assert_eq!(s.server.max_body_bytes, 2048);
        assert_eq!(s.server.request_timeout, Duration::from_millis(500));
        assert_eq!(s.server.max_concurrent_reviews, 2);
        assert_eq!(s.server.client_ca_file, Some(PathBuf::from("/etc/ca.crt")));
        assert_eq!(s.server.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        let e = Settings::from_yaml(
            "server: {max_header_bytes: 100, body_read_timeout_seconds: 0, handshake_timeout_seconds: .nan, \
             max_connections: 0, client_ca_file: ''}\n",
        )
        .unwrap_err();
        assert_paths(
            &e,
            &[
                "server.max_header_bytes",
                "server.body_read_timeout_seconds",
                "server.handshake_timeout_seconds",
                "server.max_connections",
                "server.client_ca_file",
            ],
        );
        let e = Settings::from_yaml("server: {max_body: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("server") && e[0].message.contains("max_body"), "{e:?}");
    }

    #[test]
    fn metrics_bounds_and_the_webhook_timeout_default_and_are_validated_with_their_paths() {
        let s = Settings::from_yaml("policy: {}\n").unwrap();
        assert_eq!(s.metrics, MetricsSettings::default());
        assert_eq!(s.server.webhook_timeout, Duration::from_secs(5));
        let s = Settings::from_yaml(
            "metrics: {max_namespaces: 10, max_teams: 3, admission_window_seconds: 0, max_remembered_admissions: 5}\n\
             server: {webhook_timeout_seconds: 2.5}\n",
        )
        .unwrap();
        assert_eq!(
            s.metrics,
            MetricsSettings {
                max_namespaces: 10,
                max_teams: 3,
                admission_window: Duration::ZERO,
                max_remembered_admissions: 5
            }
        );
        assert_eq!(s.server.webhook_timeout, Duration::from_millis(2500));
        let e = Settings::from_yaml(
            "metrics: {max_namespaces: 0, max_teams: 100001, admission_window_seconds: 86401, \
             max_remembered_admissions: 0}\nserver: {webhook_timeout_seconds: 31}\n",
        )
        .unwrap_err();
        assert_paths(
            &e,
            &[
                "metrics.max_namespaces",
                "metrics.max_teams",
                "metrics.admission_window_seconds",
                "metrics.max_remembered_admissions",
                "server.webhook_timeout_seconds",
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("31 is not accepted")), "{e:?}");
        let e = Settings::from_yaml("metrics: {max_series: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("metrics") && e[0].message.contains("max_series"), "{e:?}");
    }

    #[test]
    fn a_built_in_gpu_is_overridden_field_by_field() {
        let s = Settings::from_yaml("gpus:\n- {name: h100, usd_per_hour: 2.5}\n").unwrap();
        let h100 = s.catalog.find("H100-80GB").unwrap();
        let builtin = GpuCatalog::builtin().find("H100-80GB").unwrap().clone();
        assert_eq!(h100.usd_per_hour, 2.5);
        assert_eq!(h100.price_source, "config file");
        assert_eq!((h100.memory_bytes, &h100.gfd_products), (builtin.memory_bytes, &builtin.gfd_products));
        assert_eq!(s.catalog.all().len(), GpuCatalog::builtin().all().len());
    }

    #[test]
    fn a_new_gpu_must_give_every_fact_and_is_told_which_are_missing() {
        let e = Settings::from_yaml("gpus:\n- {name: MI325X, memory_bytes: 206158430208}\n").unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"gpus[0].usd_per_hour") && paths.contains(&"gpus[0].bf16_supported"), "{e:?}");
        assert!(!paths.contains(&"gpus[0].memory_bytes"));
        let s = Settings::from_yaml(
            "gpus:\n- {name: MI325X, memory_bytes: 206158430208, dense_bf16_flops: 1.3e15, dense_fp16_flops: 1.3e15, \
             dense_fp32_flops: 1.6e14, bf16_supported: true, usd_per_hour: 4.0}\n",
        )
        .unwrap();
        assert_eq!(s.catalog.find("mi325x").unwrap().memory_bytes, 206_158_430_208);
    }
}
