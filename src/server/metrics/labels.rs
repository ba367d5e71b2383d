//! Bounded label values shared by the metric families: the capped `namespace` and `team`
//! labels ([`Bounds`], one for the review families and the cluster collector, so a namespace
//! has one label everywhere) and the closed `operation` set.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::admission::OTHER_LABEL;
use crate::cluster::ledger::NO_TEAM;
use crate::config::MetricsSettings;
/// A namespace name is a DNS label (Kubernetes docs, "Namespaces": RFC 1123 label, at most 63),
/// as the config's `namespaces:` keys are.
pub(super) use crate::config::is_dns_label as is_namespace;

/// Locks `mutex`, taking the data of a poisoned one: every critical section below leaves its
/// data consistent at each step, and a metric must not take the review path down.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A label whose values are the first `max` distinct valid values seen; later ones, and
/// invalid ones, are [`OTHER_LABEL`]. A value once given keeps its label for the life of the
/// process, so a counter's series never moves between labels.
#[derive(Debug)]
pub(super) struct CappedLabel {
    max: usize,
    valid: fn(&str) -> bool,
    /// Values always labelled as themselves, outside the cap (`none`, the team of a workload
    /// without the team label).
    fixed: &'static [&'static str],
    seen: Mutex<HashSet<String>>,
}

impl CappedLabel {
    fn new(max: usize, valid: fn(&str) -> bool, fixed: &'static [&'static str]) -> Self {
        Self { max, valid, fixed, seen: Mutex::new(HashSet::new()) }
    }

    pub(super) fn label(&self, value: &str) -> String {
        if self.fixed.contains(&value) {
            return value.to_owned();
        }
        if !(self.valid)(value) {
            return OTHER_LABEL.to_owned();
        }
        let mut seen = lock(&self.seen);
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER_LABEL.to_owned()
    }
}

/// A non-empty label value: at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// alphanumeric (Kubernetes docs, "Labels and Selectors: Syntax and character set").
fn is_label_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The label caps shared by the review families and the cluster collector, so a namespace
/// has one label everywhere.
#[derive(Debug)]
pub(super) struct Bounds {
    pub(super) namespaces: CappedLabel,
    pub(super) teams: CappedLabel,
}

impl Bounds {
    pub(super) fn new(settings: &MetricsSettings) -> Self {
        Self {
            namespaces: CappedLabel::new(settings.max_namespaces, is_namespace, &[]),
            teams: CappedLabel::new(settings.max_teams, is_label_value, &[NO_TEAM]),
        }
    }
}

/// The `operation` label: the four AdmissionReview operations, else `other`.
pub(super) fn operation_label(operation: &str) -> &'static str {
    ["CREATE", "UPDATE", "DELETE", "CONNECT"].into_iter().find(|o| *o == operation).unwrap_or(OTHER_LABEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_are_capped_with_none_outside_the_cap_and_invalid_values_other() {
        let bounds = Bounds::new(&MetricsSettings { max_teams: 2, ..MetricsSettings::default() });
        let t = |v: &str| bounds.teams.label(v);
        assert_eq!(t("nlp"), "nlp");
        assert_eq!(t(NO_TEAM), NO_TEAM);
        assert_eq!(t("vision"), "vision");
        assert_eq!(t("speech"), OTHER_LABEL);
        assert_eq!(t("nlp"), "nlp", "a value keeps its label");
        assert_eq!(t(NO_TEAM), NO_TEAM, "none is outside the cap");
        let bounds = Bounds::new(&MetricsSettings::default());
        for invalid in ["", "-x", "a b", &"t".repeat(64), "caf\u{e9}"] {
            assert_eq!(bounds.teams.label(invalid), OTHER_LABEL, "{invalid:?}");
            assert_eq!(bounds.namespaces.label(invalid), OTHER_LABEL, "{invalid:?}");
        }
        assert_eq!(bounds.namespaces.label("Research"), OTHER_LABEL, "a namespace is lowercase");
    }

    #[test]
    fn operations_outside_the_four_are_other() {
        assert_eq!(operation_label("CREATE"), "CREATE");
        assert_eq!(operation_label("PATCH"), OTHER_LABEL);
    }
}
