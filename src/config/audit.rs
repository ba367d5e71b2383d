//! `audit:`: the periodic in-cluster audit of `serve --cluster` (README, "Audit").

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default `audit.interval_seconds`: every 10 minutes. Each run lists every workload kind
/// once (a few list requests per kind, paged); the dashboard's resolution is minutes.
pub const DEFAULT_AUDIT_INTERVAL: Duration = Duration::from_secs(600);
/// Longest `audit.interval_seconds` accepted: a day.
pub const MAX_AUDIT_INTERVAL_SECONDS: u64 = 86_400;
/// Shortest non-zero `audit.interval_seconds`: 10 s. Each run is one paged `list` per kind,
/// read-only; below this it would be a list storm for no fresher a dashboard.
pub const MIN_AUDIT_INTERVAL_SECONDS: u64 = 10;

/// The audit's settings, resolved. Read at start, like [`super::MetricsSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Time between two audits of `serve --cluster`; `None`: no periodic audit.
    pub interval: Option<Duration>,
    /// Write each audit as `wgpolicyk8s.io/v1alpha2` PolicyReports (server-side apply; needs the
    /// CRD and the rules of `vramgate cluster rbac`'s `policyReportsRole`).
    pub policy_reports: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { interval: Some(DEFAULT_AUDIT_INTERVAL), policy_reports: false }
    }
}

/// `audit:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// Seconds between two audits; 0 disables the periodic audit.
    pub interval_seconds: Option<u64>,
    /// Write PolicyReports after each audit (default false).
    pub policy_reports: Option<bool>,
}

impl AuditFile {
    pub(super) fn resolve(&self, errs: &mut Vec<ConfigError>) -> AuditSettings {
        let policy_reports = self.policy_reports.unwrap_or(false);
        let interval = match self.interval_seconds {
            None => Some(DEFAULT_AUDIT_INTERVAL),
            Some(0) => None,
            Some(s) if (MIN_AUDIT_INTERVAL_SECONDS..=MAX_AUDIT_INTERVAL_SECONDS).contains(&s) => {
                Some(Duration::from_secs(s))
            }
            Some(s) => {
                errs.push(ConfigError {
                    path: "audit.interval_seconds".into(),
                    message: format!(
                        "{s} is not accepted; accepted: 0 (off) or {MIN_AUDIT_INTERVAL_SECONDS} to {MAX_AUDIT_INTERVAL_SECONDS}"
                    ),
                });
                Some(DEFAULT_AUDIT_INTERVAL)
            }
        };
        AuditSettings { interval, policy_reports }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;

    #[test]
    fn the_interval_defaults_to_ten_minutes_zero_disables_and_out_of_range_names_the_key() {
        assert_eq!(Settings::default().audit.interval, Some(Duration::from_secs(600)));
        assert_eq!(Settings::from_yaml("audit: {interval_seconds: 0}\n").unwrap().audit.interval, None);
        assert_eq!(
            Settings::from_yaml("audit: {interval_seconds: 120}\n").unwrap().audit.interval,
            Some(Duration::from_secs(120))
        );
        let e = Settings::from_yaml("audit: {interval_seconds: 5}\n").unwrap_err();
        assert_eq!(e[0].path, "audit.interval_seconds");
        assert!(e[0].message.contains("5 is not accepted") && e[0].message.contains("10 to 86400"), "{e:?}");
        assert!(!Settings::default().audit.policy_reports);
        assert!(Settings::from_yaml("audit: {policy_reports: true}\n").unwrap().audit.policy_reports);
        let e = Settings::from_yaml("audit: {every: 5}\n").unwrap_err();
        assert!(e[0].path.starts_with("audit") && e[0].message.contains("every"), "{e:?}");
    }
}
