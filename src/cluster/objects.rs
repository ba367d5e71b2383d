//! Whole objects a decision needs from the cluster, beyond the inventory: the parents of
//! `/scale` requests (PyTorchJobs and LeaderWorkerSets, judged as an UPDATE of the parent) and
//! the ResourceClaimTemplates that Dynamic Resource Allocation claims are made from. Pure:
//! the shell (`crate::server::cluster`) watches them and publishes a [`ClusterObjects`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::table::Keyed;

/// A watched object kept whole (less what no decision reads), by resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    /// `metadata.uid` (else `resource/namespace/name`).
    pub uid: String,
    /// The resource label (`pytorchjobs.kubeflow.org`).
    pub resource: String,
    pub namespace: String,
    pub name: String,
    /// The object without `metadata.managedFields`, the last-applied annotation and `status`.
    pub object: Arc<Value>,
}

impl Keyed for ObjectRecord {
    fn key(&self) -> &str {
        &self.uid
    }
}

/// Removes from `obj` what no decision reads and what makes up most of a stored object:
/// `metadata.managedFields`, `kubectl.kubernetes.io/last-applied-configuration` and `status`.
pub fn prune(obj: &mut Value) {
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = obj.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

impl ObjectRecord {
    /// Reads a record of `resource` from an API object (pruned here).
    #[must_use]
    pub fn from_value(resource: &str, mut obj: Value) -> Self {
        prune(&mut obj);
        let meta = |k: &str| obj.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or("").to_owned();
        let (namespace, name) = (meta("namespace"), meta("name"));
        let uid =
            Some(meta("uid")).filter(|u| !u.is_empty()).unwrap_or_else(|| format!("{resource}/{namespace}/{name}"));
        Self { uid, resource: resource.to_owned(), namespace, name, object: Arc::new(obj) }
    }
}

/// How many devices one request of a claim asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCount {
    /// `exactly.count` (default 1 with `allocationMode: ExactCount`, the default mode).
    Exactly(u64),
    /// Something that cannot be counted ahead of allocation: `allocationMode: All`,
    /// `firstAvailable` alternatives, or a shape this version does not read. Says which.
    Uncountable(String),
}

/// One `spec.spec.devices.requests[]` entry of a ResourceClaimTemplate
/// (`resource.k8s.io/v1`: `name`, then `exactly: {deviceClassName, allocationMode, count}`
/// or `firstAvailable: [...]`; Kubernetes API reference, "ResourceClaimTemplate v1").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub name: String,
    /// `exactly.deviceClassName`; `None` for `firstAvailable`.
    pub device_class: Option<String>,
    pub count: DeviceCount,
}

/// A ResourceClaimTemplate's device requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimTemplate {
    pub requests: Vec<DeviceRequest>,
}

impl ClaimTemplate {
    /// Reads `spec.spec.devices.requests` of a `resource.k8s.io/v1` ResourceClaimTemplate.
    #[must_use]
    pub fn from_value(obj: &Value) -> Self {
        let requests = obj.pointer("/spec/spec/devices/requests").and_then(Value::as_array);
        let requests = requests.map(Vec::as_slice).unwrap_or_default();
        let requests = requests
            .iter()
            .map(|r| {
                let name = r.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
                let Some(exactly) = r.get("exactly") else {
                    let why = if r.get("firstAvailable").is_some() {
                        "firstAvailable: one of several alternatives, chosen at allocation"
                    } else {
                        "neither exactly nor firstAvailable"
                    };
                    return DeviceRequest { name, device_class: None, count: DeviceCount::Uncountable(why.into()) };
                };
                let device_class = exactly.get("deviceClassName").and_then(Value::as_str).map(str::to_owned);
                let mode = exactly.get("allocationMode").and_then(Value::as_str).unwrap_or("ExactCount");
                let count = match (mode, exactly.get("count")) {
                    ("ExactCount", None) => DeviceCount::Exactly(1),
                    ("ExactCount", Some(c)) => c.as_u64().map_or_else(
                        || DeviceCount::Uncountable(format!("count {c} is not a whole number")),
                        DeviceCount::Exactly,
                    ),
                    ("All", _) => DeviceCount::Uncountable("allocationMode All: every matching device".into()),
                    (m, _) => DeviceCount::Uncountable(format!("allocationMode {m}")),
                };
                DeviceRequest { name, device_class, count }
            })
            .collect();
        Self { requests }
    }
}

/// The objects reviews read, as last watched. Empty without `serve --cluster`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterObjects {
    /// `(resource label, namespace, name)` → the object.
    pub parents: BTreeMap<(String, String, String), Arc<Value>>,
    /// `(namespace, name)` → the template.
    pub claim_templates: BTreeMap<(String, String), ClaimTemplate>,
    /// Whether the claim templates' watch has completed a list (else "not found" means
    /// "not known yet").
    pub claim_templates_synced: bool,
}

impl ClusterObjects {
    /// The watched object `resource` (label) `namespace/name`.
    #[must_use]
    pub fn parent(&self, resource: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.parents.get(&(resource.to_owned(), namespace.to_owned(), name.to_owned())).map(AsRef::as_ref)
    }

    /// The ResourceClaimTemplate `namespace/name`.
    #[must_use]
    pub fn claim_template(&self, namespace: &str, name: &str) -> Option<&ClaimTemplate> {
        self.claim_templates.get(&(namespace.to_owned(), name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_template_requests_count_exactly_and_refuse_to_guess_the_rest() {
        let t = ClaimTemplate::from_value(&json!({"spec": {"spec": {"devices": {"requests": [
            {"name": "gpus", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 4}},
            {"name": "one", "exactly": {"deviceClassName": "gpu.nvidia.com"}},
            {"name": "all", "exactly": {"deviceClassName": "gpu.nvidia.com", "allocationMode": "All"}},
            {"name": "alt", "firstAvailable": [{"name": "a", "deviceClassName": "gpu.nvidia.com"}]}
        ]}}}}));
        let counts: Vec<&DeviceCount> = t.requests.iter().map(|r| &r.count).collect();
        assert_eq!(counts[0], &DeviceCount::Exactly(4));
        assert_eq!(counts[1], &DeviceCount::Exactly(1));
        assert!(matches!(counts[2], DeviceCount::Uncountable(w) if w.contains("All")));
        assert!(matches!(counts[3], DeviceCount::Uncountable(w) if w.contains("firstAvailable")));
    }

    #[test]
    fn records_drop_managed_fields_and_status() {
        let r = ObjectRecord::from_value(
            "pytorchjobs.kubeflow.org",
            json!({"metadata": {"name": "a", "namespace": "n", "uid": "u", "managedFields": [{}],
                   "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "x": "y"}},
                   "spec": {}, "status": {"conditions": []}}),
        );
        assert_eq!((r.uid.as_str(), r.namespace.as_str(), r.name.as_str()), ("u", "n", "a"));
        assert_eq!(
            *r.object,
            json!({"metadata": {"name": "a", "namespace": "n", "uid": "u", "annotations": {"x": "y"}}, "spec": {}})
        );
    }
}
