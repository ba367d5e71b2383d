//! `apps/v1 Deployment` and `apps/v1 StatefulSet`: `spec.replicas` (default 1) pods from
//! `spec.template` (Kubernetes API reference, DeploymentSpec / StatefulSetSpec). One group,
//! named by the kind, scaled by `/spec/replicas`. A Deployment's rolling update may run
//! `maxSurge` extra pods for a while; that transient is not counted.

use crate::json::Object;

use super::fields::{self, Errors};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup, WorkloadKind};

pub(super) fn groups(root: &Object<'_>, kind: WorkloadKind, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let replicas = fields::count(spec, "replicas", "/spec", 1, errs);
    let scale = Scale::replicas(replicas, 1, "/spec/replicas".to_owned());
    podspec::template_group(kind.as_str(), scale, spec, "/spec", cfg, errs).into_iter().collect()
}
