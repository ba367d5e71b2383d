//! `metrics:`: bounds of the metrics' labels and of admission counting.

use super::ConfigError;
use super::section::Section;
use serde_yaml_ng::Value;
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

/// Reads `metrics:` (every key optional; read at start): the bounds, every problem pushed with
/// its key path (`metrics.max_teams`).
pub(super) fn resolve(section: &Value, errs: &mut Vec<ConfigError>) -> MetricsSettings {
    let mut s = Section::new("metrics", section, errs);
    let settings = MetricsSettings {
        max_namespaces: s.size("max_namespaces", 1, 100_000, DEFAULT_METRICS_MAX_NAMESPACES),
        max_teams: s.size("max_teams", 1, 100_000, DEFAULT_METRICS_MAX_TEAMS),
        admission_window: Duration::from_secs(s.count(
            "admission_window_seconds",
            0,
            86_400,
            DEFAULT_ADMISSION_WINDOW.as_secs(),
        )),
        max_remembered_admissions: s.size("max_remembered_admissions", 1, 1_000_000, DEFAULT_MAX_REMEMBERED_ADMISSIONS),
    };
    s.finish();
    settings
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
