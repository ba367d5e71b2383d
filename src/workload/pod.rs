//! `v1 Pod`: one pod, from `/spec`. Nothing scales it, so the group has no replicas pointer.

use crate::json::Object;

use super::fields::{self, Errors};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    vec![podspec::group("Pod", Scale::single(), spec, "/spec", None, cfg, errs)]
}
