//! `cluster:`: cluster awareness (`serve --cluster`).

use super::section::Section;
use super::{ConfigError, is_dns_label};
use serde::Serialize;
use serde_yaml_ng::Value;

/// Default `cluster.inventory_max_stale_seconds`: 10 minutes. A node pool rarely appears or
/// disappears faster than that; beyond it, the inventory's findings warn instead of deny.
pub const DEFAULT_INVENTORY_MAX_STALE_SECONDS: u64 = 600;
/// Default `cluster.team_label`.
pub const DEFAULT_TEAM_LABEL: &str = "team";

/// Cluster awareness (`cluster:`; used by `serve --cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSettings {
    /// The workload label whose value is the live-cost metrics' `team`.
    pub team_label: String,
    /// How long the last known inventory may be stale and still deny a job.
    pub inventory_max_stale_seconds: u64,
    /// Whether what the inventory finds (a GPU type the cluster lacks, more GPUs than it has)
    /// is a breach. `false` for clusters whose GPU nodes an autoscaler (cluster-autoscaler,
    /// Karpenter) creates on demand: there the inventory is what exists now, not what could.
    pub enforce_inventory: bool,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            team_label: DEFAULT_TEAM_LABEL.to_owned(),
            inventory_max_stale_seconds: DEFAULT_INVENTORY_MAX_STALE_SECONDS,
            enforce_inventory: true,
        }
    }
}

/// Reads `cluster:` (every key optional): the settings, every problem pushed with its key path
/// (a team label that is no label key at `cluster.team_label`).
pub(super) fn resolve(section: &Value, errs: &mut Vec<ConfigError>) -> ClusterSettings {
    let mut s = Section::new("cluster", section, errs);
    let cluster = ClusterSettings {
        team_label: s.text("team_label", "a label key").unwrap_or_else(|| DEFAULT_TEAM_LABEL.to_owned()),
        inventory_max_stale_seconds: s.count(
            "inventory_max_stale_seconds",
            0,
            u64::MAX,
            DEFAULT_INVENTORY_MAX_STALE_SECONDS,
        ),
        enforce_inventory: s.flag("enforce_inventory", true),
    };
    s.finish();
    if !is_label_key(&cluster.team_label) {
        errs.push(ConfigError {
            path: "cluster.team_label".into(),
            message: format!(
                "'{}' is not a label key; accepted: [prefix/]name, name at most 63 of a-z A-Z 0-9 - _ . (e.g. team)",
                cluster.team_label
            ),
        });
    }
    cluster
}

/// A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric (Kubernetes docs,
/// "Labels and Selectors: Syntax and character set").
fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    name_ok && prefix_ok
}
