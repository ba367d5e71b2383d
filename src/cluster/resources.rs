//! Every resource `serve --cluster` and `--config-map` read, and the RBAC that follows from
//! them: what `vramgate cluster rbac` prints, what the chart's ClusterRole grants
//! (`tests/chart` compares them) and what the watchers in `crate::server::cluster` list and
//! watch. Pure: the shell turns a [`Resource`] into a kube-rs `ApiResource`.
//!
//! The workload kinds come from [`crate::workload::KINDS`], the one list of kinds admission
//! reads, so a kind the extractor accepts is watched and granted, and nothing else is.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::workload::{KINDS, KindSpec, WorkloadKind};

/// A resource vramgate watches (list + watch, nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Resource {
    /// `pods`, `jobs.batch`, `pytorchjobs.kubeflow.org`: the `resource` metrics label.
    #[must_use]
    pub fn label(&self) -> String {
        if self.group.is_empty() { self.plural.to_owned() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// A workload kind's resource, at the version watched (its first).
    #[must_use]
    pub fn of(k: &KindSpec) -> Self {
        Self { group: k.group, version: k.versions[0], kind: k.kind_name, plural: k.plural }
    }

    /// Whether it is watched whole rather than by metadata: the ResourceClaimTemplates (a
    /// pod's DRA claims are counted from them) and the kinds with a `/scale` subresource
    /// vramgate judges (their scale requests are judged against the watched parent).
    #[must_use]
    pub fn watched_whole(&self) -> bool {
        *self == CLAIM_TEMPLATES
            || KINDS.iter().any(|k| k.scale_subresource && k.group == self.group && k.plural == self.plural)
    }
}

/// Nodes: the GPU inventory.
pub const NODES: Resource = Resource { group: "", version: "v1", kind: "Node", plural: "nodes" };
/// Pods, whole: their GPUs, node and owner (live cost). Pod's row of [`KINDS`] (a test
/// checks it).
pub const PODS: Resource = Resource { group: "", version: "v1", kind: "Pod", plural: "pods" };
/// The ConfigMap a `--config-map` config comes from (namespaced; one name).
pub const CONFIG_MAPS: Resource = Resource { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps" };

/// ResourceClaimTemplates (`resource.k8s.io/v1`, Dynamic Resource Allocation, GA in
/// Kubernetes 1.34), watched whole: a pod's DRA claims are counted from them.
pub const CLAIM_TEMPLATES: Resource = Resource {
    group: "resource.k8s.io",
    version: "v1",
    kind: "ResourceClaimTemplate",
    plural: "resourceclaimtemplates",
};

/// The workload kinds watched for live cost (metadata only, or whole when
/// [`Resource::watched_whole`]): every kind admission reads ([`KINDS`]) but Pod, watched
/// apart ([`PODS`]). RayCluster is also the link from a RayJob to its pods, and batch/v1 Job
/// from a JobSet to its pods.
#[must_use]
pub fn workloads() -> Vec<Resource> {
    KINDS.iter().filter(|k| k.kind != WorkloadKind::Pod).map(Resource::of).collect()
}

/// Every cluster-scoped resource `serve --cluster` reads.
#[must_use]
pub fn resources() -> Vec<Resource> {
    let mut r = vec![NODES, PODS];
    r.extend(workloads());
    r.push(CLAIM_TEMPLATES);
    r
}

/// The verbs every watched resource needs: a watcher lists, then watches.
pub const VERBS: [&str; 2] = ["list", "watch"];

/// One RBAC rule, as a ClusterRole or Role writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

/// The RBAC the code needs (`vramgate cluster rbac`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rbac {
    /// Cluster-wide: `serve --cluster`.
    pub cluster_role: Vec<PolicyRule>,
    /// In the ConfigMap's namespace, for its name only: `serve --config-map`.
    pub config_map_role: Vec<PolicyRule>,
    /// Cluster-wide, added to `cluster_role` where the periodic audit writes PolicyReports
    /// (`audit.policy_reports`; the chart's `audit.policyReports.enabled`).
    pub policy_reports_role: Vec<PolicyRule>,
}

/// The PolicyReports the periodic audit writes (`wgpolicyk8s.io/v1alpha2`, namespaced, one per
/// namespace), by server-side apply: `patch`, and `get`, `list`, `create`, `update` so a
/// reader of the rule sees the object's whole life (Kyverno grants the same set).
pub const POLICY_REPORTS: Resource =
    Resource { group: "wgpolicyk8s.io", version: "v1alpha2", kind: "PolicyReport", plural: "policyreports" };
/// The verbs on [`POLICY_REPORTS`].
pub const POLICY_REPORT_VERBS: [&str; 5] = ["get", "list", "create", "update", "patch"];

fn rules(resources: &[Resource]) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in resources {
        let list = by_group.entry(r.group).or_default();
        if !list.iter().any(|p| p == r.plural) {
            list.push(r.plural.to_owned());
        }
    }
    by_group
        .into_iter()
        .map(|(g, mut res)| {
            res.sort();
            PolicyRule {
                api_groups: vec![g.to_owned()],
                resources: res,
                verbs: VERBS.iter().map(|v| (*v).to_owned()).collect(),
            }
        })
        .collect()
}

/// The rules derived from [`resources`] and [`CONFIG_MAPS`]: one per API group, verbs
/// [`VERBS`].
#[must_use]
pub fn rbac() -> Rbac {
    let policy_reports_role = vec![PolicyRule {
        api_groups: vec![POLICY_REPORTS.group.to_owned()],
        resources: vec![POLICY_REPORTS.plural.to_owned()],
        verbs: POLICY_REPORT_VERBS.iter().map(|v| (*v).to_owned()).collect(),
    }];
    Rbac { cluster_role: rules(&resources()), config_map_role: rules(&[CONFIG_MAPS]), policy_reports_role }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(group: &str, plural: &str) -> bool {
        rbac()
            .cluster_role
            .iter()
            .any(|r| r.api_groups == [group] && r.resources.iter().any(|p| p == plural) && r.verbs == VERBS)
    }

    #[test]
    fn the_kinds_table_is_in_declaration_order_and_read_back_by_from_type() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.kind as usize, i, "{k:?} out of order");
            assert_eq!(k.kind.spec(), k);
            assert_eq!(k.kind.as_str(), k.kind_name);
            if k.kind == WorkloadKind::Pod {
                assert_eq!(Resource::of(k), PODS);
            }
            for v in k.versions {
                assert_eq!(WorkloadKind::from_type(k.group, v, k.kind_name), Some(k.kind), "{k:?} {v}");
            }
            assert_eq!(WorkloadKind::from_type(k.group, "v999", k.kind_name), None, "{k:?}");
        }
    }

    #[test]
    fn every_kind_the_extractor_accepts_is_watched_and_granted() {
        let watched = resources();
        for k in &KINDS {
            assert!(watched.contains(&Resource::of(k)), "{k:?} is not watched");
            assert!(granted(k.group, k.plural), "{k:?} is not in `vramgate cluster rbac`");
        }
    }

    #[test]
    fn every_watched_resource_but_nodes_and_claim_templates_is_a_kind_the_extractor_accepts() {
        for r in resources() {
            if r == NODES || r == CLAIM_TEMPLATES {
                continue;
            }
            let kind = WorkloadKind::from_type(r.group, r.version, r.kind);
            assert!(kind.is_some(), "{r:?} is watched but no kind admission reads");
            assert_eq!(kind.map(|k| k.spec().plural), Some(r.plural), "{r:?}");
        }
        // And every rule grants only watched resources.
        for rule in rbac().cluster_role {
            for p in &rule.resources {
                assert!(
                    resources().iter().any(|r| [r.group] == rule.api_groups.as_slice() && r.plural == p),
                    "{rule:?} grants {p}, which nothing watches"
                );
            }
        }
    }

    #[test]
    fn only_claim_templates_and_the_scaled_kinds_are_watched_whole() {
        let whole: Vec<String> = resources().iter().filter(|r| r.watched_whole()).map(Resource::label).collect();
        assert_eq!(
            whole,
            [
                "pytorchjobs.kubeflow.org",
                "leaderworkersets.leaderworkerset.x-k8s.io",
                "resourceclaimtemplates.resource.k8s.io"
            ]
        );
    }
}
