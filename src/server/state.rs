//! What the routers, the reload pollers and the cluster watchers share: [`AppState`] (the
//! settings in force, swapped whole on reload; the metrics; the readiness flag; the review
//! slots and body budget; the [`ClusterStatus`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::metrics::Metrics;
use super::status::ClusterStatus;
use crate::admission::{self, Endpoint};
use crate::config::{ServerLimits, Settings};

/// What both routers share: the settings in force (swapped whole on reload), the metrics and
/// the readiness flag. Cloning is cheap (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: ArcSwap<Settings>,
    metrics: Metrics,
    ready: AtomicBool,
    /// `None`: [`admission::review`] with the cluster's inventory.
    answer: Option<AnswerFn>,
    /// What `serve --cluster` knows of the cluster (empty without it).
    cluster: Arc<ClusterStatus>,
    /// Fixed at creation: a reload changes the settings, not these.
    limits: ServerLimits,
    /// One permit per review being answered ([`ServerLimits::max_concurrent_reviews`]).
    review_slots: Arc<Semaphore>,
    /// One permit per body byte held (being read or answered): `max_concurrent_reviews` x
    /// `max_body_bytes` in all.
    body_budget: Arc<Semaphore>,
}

/// The function that answers a review body: [`admission::review`] in the server; another one
/// in tests of the transport ([`AppState::with_answer`]).
pub type AnswerFn = fn(&Settings, Endpoint, &[u8]) -> admission::Answer;

impl AppState {
    /// State with `settings` in force, fresh metrics, and not ready.
    #[must_use]
    pub fn new(settings: Settings) -> Self {
        Self::build(settings, None)
    }

    /// [`AppState::new`], with reviews answered by `answer` instead of
    /// [`admission::review`]: for testing the transport (status and body passthrough,
    /// metrics, a panicking review) independently of the decision.
    #[must_use]
    pub fn with_answer(settings: Settings, answer: AnswerFn) -> Self {
        Self::build(settings, Some(answer))
    }

    fn build(settings: Settings, answer: Option<AnswerFn>) -> Self {
        let limits = settings.server.clone();
        let cluster = Arc::new(ClusterStatus::default());
        let metrics = Metrics::configured(&settings, cluster.clone());
        Self {
            inner: Arc::new(Inner {
                review_slots: Arc::new(Semaphore::new(limits.max_concurrent_reviews)),
                body_budget: Arc::new(Semaphore::new(
                    limits.max_concurrent_reviews.saturating_mul(limits.max_body_bytes).min(Semaphore::MAX_PERMITS),
                )),
                limits,
                settings: ArcSwap::from_pointee(settings),
                metrics,
                cluster,
                ready: AtomicBool::new(false),
                answer,
            }),
        }
    }

    /// The server limits in force: those of the settings the state was created with.
    #[must_use]
    pub fn limits(&self) -> &ServerLimits {
        &self.inner.limits
    }

    /// The settings in force now.
    #[must_use]
    pub fn settings(&self) -> Arc<Settings> {
        self.inner.settings.load_full()
    }

    /// Puts `settings` in force from the next review on; reviews in progress finish with the
    /// settings they started with. `settings.server` is ignored: limits are fixed at start.
    pub fn set_settings(&self, settings: Settings) {
        self.inner.settings.store(Arc::new(settings));
    }

    /// What the cluster watchers know (`serve --cluster`).
    #[must_use]
    pub fn cluster(&self) -> &Arc<ClusterStatus> {
        &self.inner.cluster
    }

    /// The process's metrics.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The settings in force now, without taking a reference count (one review's read).
    pub(super) fn settings_now(&self) -> arc_swap::Guard<Arc<Settings>> {
        self.inner.settings.load()
    }

    /// The function answering reviews; `None`: [`admission::review`].
    pub(super) fn answer_fn(&self) -> Option<AnswerFn> {
        self.inner.answer
    }

    /// One permit per review being answered.
    pub(super) fn review_slots(&self) -> &Semaphore {
        &self.inner.review_slots
    }

    /// One permit per body byte held.
    pub(super) fn body_budget(&self) -> &Arc<Semaphore> {
        &self.inner.body_budget
    }

    /// Sets what `/readyz` answers: ready once the webhook listener is bound with a
    /// certificate and settings loaded, not ready again once shutdown starts.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::SeqCst);
    }

    /// What `/readyz` answers.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }
}
