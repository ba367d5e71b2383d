//! Kubeflow training jobs: `kubeflow.org/v1 PyTorchJob` and `kubeflow.org/v2beta1 MPIJob`.
//!
//! Both hold a map of replica specs keyed by replica type; each becomes a group of `replicas`
//! pods with that type as its role, scaled by its `replicas` field. Defaults follow the
//! operators' defaulting code:
//! - PyTorchJob (`pytorchReplicaSpecs`: `Master`, `Worker`): `replicas` defaults to 1.
//! - MPIJob v2beta1 (`mpiReplicaSpecs`: `Launcher`, `Worker`): Launcher defaults to 1,
//!   Worker to 0 (mpi-operator's `setDefaultsTypeWorker`).
//! - MPIJob v1 (the training-operator's): no per-type defaulting there, so the Kubeflow
//!   common default of 1 is used, which never undercounts.
//!
//! A PyTorchJob's `spec.elasticPolicy.minReplicas` / `maxReplicas` bound its `Worker`
//! replicas (the training-operator's `ElasticPolicy`: the limits the job may be scaled
//! between, passed to torchrun as `--nnodes=min:max`); they are recorded as the Worker
//! group's replicas bounds so a patch stays within them.
//!
//! Other replica types are errors: the operators reject them, so the job could never run.
//! Types are visited in a fixed order, not map order, so the groups' order is stable.

use crate::json::Object;

use super::fields::{self, Errors, child};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

pub(super) fn pytorch_groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let mut groups = replica_groups(root, "pytorchReplicaSpecs", &[("Master", 1), ("Worker", 1)], cfg, errs);
    if let Some(bounds) = elastic_bounds(root, errs) {
        for g in groups.iter_mut().filter(|g| g.role == "Worker") {
            g.replicas_bounds = Some(bounds);
        }
    }
    groups
}

/// `(min, max)` Worker replicas of `spec.elasticPolicy`, when it sets either; an unset one
/// is unbounded on its side (the training-operator defaults both to null).
fn elastic_bounds(root: &Object<'_>, errs: &mut Errors) -> Option<(u64, u64)> {
    let spec = fields::field(root, "spec")?.as_object()?;
    let policy = fields::opt_object(spec, "elasticPolicy", "/spec", errs)?;
    let min = fields::opt_count(policy, "minReplicas", "/spec/elasticPolicy", errs);
    let max = fields::opt_count(policy, "maxReplicas", "/spec/elasticPolicy", errs);
    (min.is_some() || max.is_some()).then(|| (min.unwrap_or(0), max.unwrap_or(fields::MAX_COUNT)))
}

pub(super) fn mpi_groups(root: &Object<'_>, version: &str, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let worker_default = if version == "v2beta1" { 0 } else { 1 };
    replica_groups(root, "mpiReplicaSpecs", &[("Launcher", 1), ("Worker", worker_default)], cfg, errs)
}

/// Groups of `spec[key]`, a map from replica type to replica spec; `types` lists the accepted
/// types, in output order, with their default `replicas`.
fn replica_groups(
    root: &Object<'_>,
    key: &str,
    types: &[(&str, u64)],
    cfg: &ExtractConfig,
    errs: &mut Errors,
) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let Some(specs) = fields::required_object(spec, key, "/spec", errs) else {
        return Vec::new();
    };
    let specs_ptr = child("/spec", key);
    let accepted: Vec<&str> = types.iter().map(|(t, _)| *t).collect();
    for name in specs.keys() {
        if !accepted.contains(&name) {
            errs.push(
                child(&specs_ptr, name),
                format!("unknown replica type '{name}'; accepted: {}", accepted.join(", ")),
            );
        }
    }
    let mut out = Vec::new();
    for &(rtype, default) in types {
        let Some(rs) = fields::field(specs, rtype) else {
            continue;
        };
        let rs_ptr = child(&specs_ptr, rtype);
        let Some(rs) = rs.as_object() else {
            errs.push(rs_ptr, format!("{rtype} must be an object, got {}", rs.describe()));
            continue;
        };
        let replicas = fields::count(rs, "replicas", &rs_ptr, default, errs);
        let scale = Scale::replicas(replicas, 1, child(&rs_ptr, "replicas"));
        out.extend(podspec::template_group(rtype, scale, rs, &rs_ptr, cfg, errs));
    }
    out
}
