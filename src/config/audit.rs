//! `audit:`: the periodic in-cluster audit of `serve --cluster` (README, "Audit").

use super::ConfigError;
use super::section::Section;
use serde_yaml_ng::Value;
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

/// Reads `audit:` (every key optional; read at start) through [`Section`]: the settings, every
/// problem pushed with its key path (`audit.interval_seconds`).
pub(super) fn resolve(section: &Value, errs: &mut Vec<ConfigError>) -> AuditSettings {
    let mut s = Section::new("audit", section, errs);
    let settings = AuditSettings {
        interval: s
            .count_or_off(
                "interval_seconds",
                MIN_AUDIT_INTERVAL_SECONDS,
                MAX_AUDIT_INTERVAL_SECONDS,
                DEFAULT_AUDIT_INTERVAL.as_secs(),
            )
            .map(Duration::from_secs),
        policy_reports: s.flag("policy_reports", false),
    };
    s.finish();
    settings
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

    /// `audit:` is read by `Section` like `server:`: a wrong type is answered with the value and
    /// what is accepted (not serde's "invalid type"), an unknown key with the keys accepted, and
    /// both alongside a problem elsewhere in the file that stops serde.
    #[test]
    fn audit_problems_read_like_the_other_sections_and_come_with_the_files_other_problems() {
        let e =
            Settings::from_yaml("audit: {interval_seconds: often, policy_report: true}\nmax_gpus: many\n").unwrap_err();
        let got: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(got.iter().any(|m| m.starts_with("max_gpus:")), "{got:?}");
        assert!(
            got.contains(&"audit.interval_seconds: 'often' is not accepted; accepted: 0 (off) or 10 to 86400".into()),
            "{got:?}"
        );
        assert!(
            got.contains(
                &"audit.policy_report: unknown key 'policy_report'; did you mean policy_reports? accepted: \
                  interval_seconds, policy_reports"
                    .into()
            ),
            "{got:?}"
        );
    }
}
