//! `vramgate cluster rbac`: the RBAC rules `serve --cluster` and `--config-map` use.

use clap::Subcommand;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Print, as YAML, the RBAC rules the code uses: `clusterRole` for `serve --cluster`,
    /// `configMapRole` (in the ConfigMap's namespace, for its name) for `serve --config-map`,
    /// `policyReportsRole` (added to the cluster role) for `audit.policy_reports`.
    Rbac,
}

pub(super) fn run(c: ClusterCommand, out: &mut dyn Write) -> anyhow::Result<i32> {
    match c {
        ClusterCommand::Rbac => {
            write!(out, "{}", serde_yaml_ng::to_string(&crate::cluster::resources::rbac())?)?;
            Ok(0)
        }
    }
}
