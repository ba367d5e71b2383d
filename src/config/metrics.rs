//! `metrics:`: bounds of the metrics' labels and of admission counting.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default `metrics.max_namespaces`: distinct `namespace` label values before `other`. A
/// thousand namespaces x a dozen GPU types stays a few thousand series per family.
pub const DEFAULT_METRICS_MAX_NAMESPACES: usize = 1000;
/// Default `metrics.max_teams`: distinct `team` label values of the live cost metrics before
/// `other`.
pub const DEFAULT_METRICS_MAX_TEAMS: usize = 200;
/// Default `metrics.admission_window_seconds`: a CREATE of a namespace, kind and name already
/// counted this recently is a retry, not a new admission (10 minutes: far longer than the API
/// server retries a call, short enough that a job deleted and submitted again is counted).
pub const DEFAULT_ADMISSION_WINDOW: Duration = Duration::from_secs(600);
/// Default `metrics.max_remembered_admissions`: admissions remembered for that window (each at
/// most a 63-byte namespace and a 253-byte name, so a few MiB at most); past it the oldest is
/// forgotten first.
pub const DEFAULT_MAX_REMEMBERED_ADMISSIONS: usize = 10_000;

/// Bounds of the metrics (`metrics:`), resolved. Read at start, like [`ServerLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Distinct `namespace` label values; namespaces seen later are labelled `other`.
    pub max_namespaces: usize,
    /// Distinct `team` label values; teams seen later are labelled `other`.
    pub max_teams: usize,
    /// A CREATE of a (namespace, kind, name) counted within this window is not counted again.
    pub admission_window: Duration,
    /// Admissions remembered for the window at most; the oldest is forgotten first.
    pub max_remembered_admissions: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            max_namespaces: DEFAULT_METRICS_MAX_NAMESPACES,
            max_teams: DEFAULT_METRICS_MAX_TEAMS,
            admission_window: DEFAULT_ADMISSION_WINDOW,
            max_remembered_admissions: DEFAULT_MAX_REMEMBERED_ADMISSIONS,
        }
    }
}

/// `metrics:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    pub max_namespaces: Option<u64>,
    pub max_teams: Option<u64>,
    pub admission_window_seconds: Option<u64>,
    pub max_remembered_admissions: Option<u64>,
}

impl MetricsFile {
    pub(super) fn resolve(&self, errs: &mut Vec<ConfigError>) -> MetricsSettings {
        let d = MetricsSettings::default();
        let mut count = |key: &str, value: Option<u64>, min: u64, max: u64, default: u64| -> u64 {
            match value {
                None => default,
                Some(v) if (min..=max).contains(&v) => v,
                Some(v) => {
                    errs.push(ConfigError {
                        path: format!("metrics.{key}"),
                        message: format!("{v} is not accepted; accepted: {min} to {max}"),
                    });
                    default
                }
            }
        };
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        MetricsSettings {
            max_namespaces: size(count("max_namespaces", self.max_namespaces, 1, 100_000, d.max_namespaces as u64)),
            max_teams: size(count("max_teams", self.max_teams, 1, 100_000, d.max_teams as u64)),
            admission_window: Duration::from_secs(count(
                "admission_window_seconds",
                self.admission_window_seconds,
                0,
                86_400,
                d.admission_window.as_secs(),
            )),
            max_remembered_admissions: size(count(
                "max_remembered_admissions",
                self.max_remembered_admissions,
                1,
                1_000_000,
                d.max_remembered_admissions as u64,
            )),
        }
    }
}
