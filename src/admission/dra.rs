//! GPUs the object alone does not show: Dynamic Resource Allocation claims and accelerator
//! resources not configured as GPUs. Pure.
//!
//! - A pod's `spec.resourceClaims` entry with `resourceClaimTemplateName` gets one claim per
//!   pod, made from that ResourceClaimTemplate (Kubernetes docs, "Dynamic Resource
//!   Allocation"). With `serve --cluster` the watched template says how many devices of which
//!   class: requests whose `deviceClassName` is in `resources.dra_device_classes` count as
//!   full GPUs (`exactly.count`, default 1), added to the pod's GPUs. A request that cannot be
//!   counted (`allocationMode: All`, `firstAvailable`), a template not (yet) watched, a shared
//!   `resourceClaimName` (vramgate does not read ResourceClaims) or any claim without
//!   `--cluster` is *unseen*: a finding that names it, never a silent "no GPUs".
//! - A container resource that looks like an accelerator (`amd.com/gpu`,
//!   `nvidia.com/gpu.shared`, `gpu.intel.com/i915`; [`looks_like_accelerator`]) but is not in
//!   `resources.gpu` is unseen too, and the finding names the config key that would count it.

use crate::cluster::{ClusterView, DeviceCount};
use crate::workload::{ExtractConfig, Workload};

#[cfg(doc)]
use crate::workload::looks_like_accelerator;

/// What was counted and what could not be.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// One message per thing vramgate cannot count, naming it.
    pub(super) unseen: Vec<String>,
    /// Whether any GPU was counted from a ResourceClaimTemplate (such a workload is never
    /// patched: vramgate cannot rewrite the template).
    pub(super) counted_dra: bool,
}

/// Adds the GPUs of `w`'s DRA claims it can count (from `cluster`'s templates, in
/// `namespace`) to each group's `gpus_per_pod`; says what it cannot count.
pub(super) fn resolve(
    w: &mut Workload,
    namespace: &str,
    cluster: Option<ClusterView<'_>>,
    cfg: &ExtractConfig,
) -> Seen {
    let mut seen = Seen::default();
    let objects = cluster.and_then(|c| c.objects);
    for g in &mut w.groups {
        for (name, q) in &g.unseen_resources {
            seen.unseen.push(format!(
                "{} pods ask for {name}: {q}, a resource vramgate does not count as GPUs; judged without them \
                 (add {name} to the config's resources.gpu to count it)",
                g.role
            ));
        }
        let mut added = 0u64;
        for c in &g.dra_claims {
            let what = format!("{} pods' DRA claim '{}'", g.role, c.name);
            let Some(template) = &c.template else {
                let shared = c.claim.as_deref().unwrap_or("");
                seen.unseen.push(format!(
                    "{what} uses ResourceClaim '{shared}', whose devices vramgate does not read; judged without them"
                ));
                continue;
            };
            let Some(objects) = objects else {
                seen.unseen.push(format!(
                    "{what} requests devices through ResourceClaimTemplate '{template}': vramgate cannot see their \
                     GPUs without serve --cluster; judged on the other GPUs only"
                ));
                continue;
            };
            let Some(t) = objects.claim_template(namespace, template) else {
                let why = if objects.claim_templates_synced { "does not exist" } else { "is not yet watched" };
                seen.unseen.push(format!(
                    "{what}: ResourceClaimTemplate {namespace}/{template} {why}; judged without its devices"
                ));
                continue;
            };
            for r in &t.requests {
                let Some(class) = &r.device_class else {
                    if let DeviceCount::Uncountable(why) = &r.count {
                        seen.unseen.push(format!(
                            "{what}: request '{}' of ResourceClaimTemplate '{template}' cannot be counted ({why}); \
                             judged without it",
                            r.name
                        ));
                    }
                    continue;
                };
                if !cfg.dra_device_classes.iter().any(|d| d == class) {
                    if class.contains("gpu") {
                        seen.unseen.push(format!(
                            "{what}: device class '{class}' of ResourceClaimTemplate '{template}' is not counted as \
                             GPUs (add it to the config's resources.dra_device_classes to count it)"
                        ));
                    }
                    continue;
                }
                match &r.count {
                    DeviceCount::Exactly(n) => added = added.saturating_add(*n),
                    DeviceCount::Uncountable(why) => seen.unseen.push(format!(
                        "{what}: request '{}' of ResourceClaimTemplate '{template}' ({class}) cannot be counted \
                         ({why}); judged without it",
                        r.name
                    )),
                }
            }
        }
        if added > 0 {
            g.gpus_per_pod = g.gpus_per_pod.saturating_add(added);
            seen.counted_dra = true;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ClaimTemplate, ClusterObjects, DeviceRequest, Inventory};
    use crate::workload::{Extracted, extract};
    use serde_json::json;

    fn pod(claims: serde_json::Value, limits: serde_json::Value) -> Workload {
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": limits}}], "resourceClaims": claims}});
        match extract(&(&obj).into(), &ExtractConfig::default()) {
            Ok(Extracted::Workload(w)) => w,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_configured_classes_count_and_what_cannot_be_counted_is_named() {
        let req = |name: &str, class: &str, count: DeviceCount| DeviceRequest {
            name: name.into(),
            device_class: Some(class.into()),
            count,
        };
        let mut objects = ClusterObjects { claim_templates_synced: true, ..ClusterObjects::default() };
        objects.claim_templates.insert(
            ("ns".into(), "t".into()),
            ClaimTemplate {
                requests: vec![
                    req("gpus", "gpu.nvidia.com", DeviceCount::Exactly(2)),
                    req("all", "gpu.nvidia.com", DeviceCount::Uncountable("allocationMode All".into())),
                    req("nic", "rdma.example.com", DeviceCount::Exactly(1)),
                    req("amd", "gpu.amd.com", DeviceCount::Exactly(1)),
                ],
            },
        );
        let inventory = Inventory::default();
        let view =
            ClusterView { inventory: &inventory, stale_seconds: None, max_stale_seconds: 600, objects: Some(&objects) };
        let mut w = pod(
            json!([{"name": "a", "resourceClaimTemplateName": "t"}, {"name": "b", "resourceClaimTemplateName": "gone"}]),
            json!({"nvidia.com/gpu": 1, "nvidia.com/gpu.shared": 2, "cpu": "4"}),
        );
        let seen = resolve(&mut w, "ns", Some(view), &ExtractConfig::default());
        assert_eq!(w.groups[0].gpus_per_pod, 3, "1 nvidia.com/gpu + 2 gpu.nvidia.com devices");
        assert!(seen.counted_dra);
        let all = seen.unseen.join("\n");
        assert_eq!(seen.unseen.len(), 4, "{all}");
        for part in ["nvidia.com/gpu.shared: 2", "request 'all'", "'gpu.amd.com'", "ns/gone does not exist"] {
            assert!(all.contains(part), "{part} missing from {all}");
        }
        assert!(!all.contains("rdma"), "a class that is not a GPU is not reported: {all}");

        // Without the cluster nothing is counted, and the claim is named.
        let mut w = pod(json!([{"name": "a", "resourceClaimTemplateName": "t"}]), json!({}));
        let seen = resolve(&mut w, "ns", None, &ExtractConfig::default());
        assert_eq!((w.groups[0].gpus_per_pod, seen.counted_dra), (0, false));
        assert!(seen.unseen[0].contains("serve --cluster"), "{:?}", seen.unseen);
    }
}
