//! `resources:`: which extended resources and DRA device classes are GPUs.

use super::ConfigError;
use crate::workload::ExtractConfig;
use serde::{Deserialize, Serialize};

/// Which extended resources are GPUs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesFile {
    /// Resource names counted as whole GPUs. Default `[nvidia.com/gpu]`.
    #[serde(default = "default_gpu_resources")]
    pub gpu: Vec<String>,
    /// Prefix of MIG profile resources (MIG "mixed" strategy). Default `nvidia.com/mig-`.
    #[serde(default = "default_mig_prefix")]
    pub mig_prefix: String,
    /// DRA device classes whose devices count as full GPUs (`resourceClaimTemplate` requests
    /// with this `deviceClassName`). Default `[gpu.nvidia.com]`.
    #[serde(default = "default_dra_device_classes")]
    pub dra_device_classes: Vec<String>,
}

fn default_dra_device_classes() -> Vec<String> {
    ExtractConfig::default().dra_device_classes
}

fn default_gpu_resources() -> Vec<String> {
    ExtractConfig::default().gpu_resource_names
}
fn default_mig_prefix() -> String {
    ExtractConfig::default().mig_resource_prefix
}

impl Default for ResourcesFile {
    fn default() -> Self {
        Self {
            gpu: default_gpu_resources(),
            mig_prefix: default_mig_prefix(),
            dra_device_classes: default_dra_device_classes(),
        }
    }
}

impl ResourcesFile {
    /// Pushes every problem, each with its path (`resources.gpu[0]`).
    pub(super) fn check(&self, errs: &mut Vec<ConfigError>) {
        if self.gpu.is_empty() && self.mig_prefix.is_empty() {
            errs.push(ConfigError {
                path: "resources".into(),
                message: "names no GPU resource and no MIG prefix: no GPU would ever be counted".into(),
            });
        }
        for (i, r) in self.gpu.iter().enumerate() {
            if r.trim().is_empty() || r.contains(char::is_whitespace) {
                errs.push(ConfigError {
                    path: format!("resources.gpu[{i}]"),
                    message: format!("'{r}' is not a resource name; accepted: e.g. nvidia.com/gpu"),
                });
            }
        }
    }

    /// What the workload readers count as GPUs.
    pub(super) fn into_extract(self) -> ExtractConfig {
        ExtractConfig {
            gpu_resource_names: self.gpu,
            mig_resource_prefix: self.mig_prefix,
            dra_device_classes: self.dra_device_classes,
        }
    }
}
