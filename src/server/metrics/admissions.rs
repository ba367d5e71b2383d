//! The CREATEs counted within the admission window: what makes a retried CREATE of the same
//! workload count once in the `vramgate_admitted_*` families (README, "What 'admitted' means").

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::labels::{is_namespace, lock};

/// Longest object name remembered: a DNS subdomain (Kubernetes docs, "Object Names and IDs").
/// A longer one cannot come from the API server; its CREATE is counted without being
/// remembered, so a direct client cannot make the map hold large keys.
const MAX_NAME_BYTES: usize = 253;

/// (namespace, kind label, name) of a counted CREATE.
type AdmissionKey = (String, &'static str, String);

/// The CREATEs counted within the admission window, oldest first: at most `max`, each
/// forgotten once the window has passed or, when full, oldest first.
#[derive(Debug)]
pub(super) struct Admissions {
    window: Duration,
    max: usize,
    inner: Mutex<AdmissionsInner>,
}

#[derive(Debug, Default)]
pub(super) struct AdmissionsInner {
    at: HashMap<Arc<AdmissionKey>, Instant>,
    order: VecDeque<(Arc<AdmissionKey>, Instant)>,
}

impl AdmissionsInner {
    fn forget_oldest(&mut self) {
        if let Some((key, _)) = self.order.pop_front() {
            self.at.remove(&key);
        }
    }
}

impl Admissions {
    /// Nothing remembered yet; CREATEs are forgotten after `window` (none is remembered when it
    /// is zero), and at most `max` are remembered.
    pub(super) fn new(window: Duration, max: usize) -> Self {
        Self { window, max, inner: Mutex::default() }
    }

    /// Whether the CREATE of `name` in `namespace` is the first within the window at `now`;
    /// if so it is remembered.
    pub(super) fn first(&self, namespace: &str, kind: &'static str, name: &str, now: Instant) -> bool {
        if self.window.is_zero() || !is_namespace(namespace) || name.is_empty() || name.len() > MAX_NAME_BYTES {
            return true;
        }
        let mut inner = lock(&self.inner);
        while inner.order.front().is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.window) {
            inner.forget_oldest();
        }
        let key = (namespace.to_owned(), kind, name.to_owned());
        if inner.at.contains_key(&key) {
            return false;
        }
        while inner.at.len() >= self.max {
            inner.forget_oldest();
        }
        let key = Arc::new(key);
        inner.at.insert(key.clone(), now);
        inner.order.push_back((key, now));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.inner).at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admissions(window_seconds: u64, max: usize) -> Admissions {
        Admissions { window: Duration::from_secs(window_seconds), max, inner: Mutex::default() }
    }

    #[test]
    fn a_create_is_first_again_once_the_window_has_passed() {
        let a = admissions(600, 100);
        let t0 = Instant::now();
        assert!(a.first("research", "PyTorchJob", "train", t0));
        assert!(!a.first("research", "PyTorchJob", "train", t0 + Duration::from_secs(599)));
        // Another namespace, kind or name is another workload.
        assert!(a.first("other-ns", "PyTorchJob", "train", t0));
        assert!(a.first("research", "JobSet", "train", t0));
        assert!(a.first("research", "PyTorchJob", "train-2", t0));
        // The window runs from the counted CREATE, not from the retries.
        assert!(a.first("research", "PyTorchJob", "train", t0 + Duration::from_secs(600)));
        assert_eq!(a.len(), 1, "the three others, counted at t0 too, are forgotten");
    }

    #[test]
    fn the_remembered_admissions_are_capped_oldest_forgotten_first() {
        let a = admissions(600, 3);
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert!(a.first("research", "Job", name, t0 + Duration::from_secs(i as u64)));
        }
        assert_eq!(a.len(), 3);
        // `a`, the oldest, was forgotten to make room; `d` is still remembered.
        assert!(!a.first("research", "Job", "d", t0 + Duration::from_secs(5)));
        assert!(a.first("research", "Job", "a", t0 + Duration::from_secs(5)));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn names_no_api_server_sends_and_a_zero_window_are_never_remembered() {
        let a = admissions(600, 10);
        let now = Instant::now();
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let bad_namespace = "N".repeat(64);
        for _ in 0..2 {
            assert!(a.first("research", "Job", &long, now));
            assert!(a.first(&bad_namespace, "Job", "train", now));
        }
        assert_eq!(a.len(), 0);
        let off = admissions(0, 10);
        assert!(off.first("research", "Job", "train", now) && off.first("research", "Job", "train", now));
    }
}
