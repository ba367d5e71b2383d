//! What the cluster watchers publish and everything else reads: [`ClusterStatus`] (the last
//! inventory and its staleness, the watched objects, the live cost and watch health). The
//! watchers (`cluster.rs`) write it; reviews (`app.rs`), `/readyz` and the metrics collector
//! (`metrics.rs`) read it without blocking on the API server or on a lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::cluster::{ClusterObjects, ClusterView, Cumulative, Inventory, Snapshot};

/// The health of one watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchHealth {
    /// Whether its last result was an event (not an error).
    pub up: bool,
    /// Errors so far.
    pub errors: u64,
    /// The API server answers 404: the resource (a CRD) is not installed. Not a failure:
    /// retried with backoff, not exported as down.
    pub absent: bool,
}

/// What metrics and `/readyz` show of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub snapshot: Snapshot,
    pub cumulative: Cumulative,
    /// By resource label.
    pub watches: BTreeMap<String, WatchHealth>,
}

/// Cluster state shared by the watchers (writers) and the reviews, `/readyz` and the metrics
/// collector (readers). Readers never block on the API server or on a lock: they load the last
/// value (`ArcSwap`, atomics).
#[derive(Debug)]
pub struct ClusterStatus {
    enabled: AtomicBool,
    inventory: ArcSwapOption<Inventory>,
    /// Scale parents and ResourceClaimTemplates, swapped whole after each change.
    objects: ArcSwap<ClusterObjects>,
    live: ArcSwap<Live>,
    /// The origin of `nodes_failing_since_ms` (a monotonic clock).
    created: Instant,
    /// Milliseconds after `created` at which the node watch started failing; [`HEALTHY`]
    /// while it is healthy.
    nodes_failing_since_ms: AtomicU64,
    /// Bits of the `f64` Unix time of the last node event or completed list; 0: never.
    last_sync_unix_bits: AtomicU64,
}

/// `nodes_failing_since_ms` of a healthy node watch.
const HEALTHY: u64 = u64::MAX;

impl Default for ClusterStatus {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            inventory: ArcSwapOption::empty(),
            objects: ArcSwap::default(),
            live: ArcSwap::default(),
            created: Instant::now(),
            nodes_failing_since_ms: AtomicU64::new(HEALTHY),
            last_sync_unix_bits: AtomicU64::new(0),
        }
    }
}

/// Seconds since the Unix epoch, as the metrics' timestamps use them.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl ClusterStatus {
    /// Whether `serve --cluster` is watching.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The last known inventory; `None` before the first complete node list (or without
    /// `--cluster`).
    #[must_use]
    pub fn inventory(&self) -> Option<Arc<Inventory>> {
        self.inventory.load_full()
    }

    /// Seconds the inventory has been stale (since the node watch started failing); `None`
    /// while the watch is healthy.
    #[must_use]
    pub fn stale_seconds(&self) -> Option<u64> {
        let since = self.nodes_failing_since_ms.load(Ordering::Relaxed);
        (since != HEALTHY).then(|| (self.millis_since_created().saturating_sub(since)) / 1000)
    }

    fn millis_since_created(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(HEALTHY - 1)
    }

    /// Unix time the inventory was last known current.
    #[must_use]
    pub fn last_sync_unix(&self) -> Option<f64> {
        let bits = self.last_sync_unix_bits.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// The live cost and watch health.
    #[must_use]
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The last published scale parents and ResourceClaimTemplates.
    #[must_use]
    pub fn objects(&self) -> Arc<ClusterObjects> {
        self.objects.load_full()
    }

    /// The view a review is judged with: the last inventory and its age, and the watched
    /// objects ([`ClusterStatus::objects`]).
    #[must_use]
    pub fn view<'a>(
        &self,
        inventory: &'a Inventory,
        objects: &'a ClusterObjects,
        max_stale_seconds: u64,
    ) -> ClusterView<'a> {
        ClusterView { inventory, stale_seconds: self.stale_seconds(), max_stale_seconds, objects: Some(objects) }
    }

    /// The `/readyz` line: `inventory: ...`.
    #[must_use]
    pub fn readiness_line(&self) -> String {
        if !self.is_enabled() {
            return "inventory: off (serve without --cluster)".to_owned();
        }
        match self.inventory() {
            None => "inventory: not yet synced; reviews are judged without it".to_owned(),
            Some(inv) => {
                let stale = self.stale_seconds();
                let unknown: Vec<&str> = inv.unknown().map(|p| p.gpu.as_str()).collect();
                let unknown = if unknown.is_empty() {
                    String::new()
                } else {
                    format!("; unknown GPU products: {}", unknown.join(", "))
                };
                if let Some(stale) = stale {
                    format!(
                        "inventory: stale for {stale} s (node watch failing); reviews use the last known one ({}){unknown}",
                        inv.summary()
                    )
                } else {
                    format!("inventory: current ({}){unknown}", inv.summary())
                }
            }
        }
    }

    /// The node watch delivered an event or a completed list: the inventory is current.
    pub(super) fn node_watch_ok(&self) {
        self.nodes_failing_since_ms.store(HEALTHY, Ordering::Relaxed);
        self.last_sync_unix_bits.store(unix_now().to_bits(), Ordering::Relaxed);
    }

    /// The node watch failed: staleness starts now, unless it already had.
    pub(super) fn node_watch_failed(&self) {
        // Only the first failure of a run sets the start of staleness.
        let now = self.millis_since_created();
        let _ = self.nodes_failing_since_ms.compare_exchange(HEALTHY, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The watchers are running (`serve --cluster`).
    pub(super) fn set_enabled(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Puts `inventory` in force for the next reviews.
    pub(super) fn set_inventory(&self, inventory: Inventory) {
        self.inventory.store(Some(Arc::new(inventory)));
    }

    /// Puts `objects` in force for the next reviews.
    pub(super) fn set_objects(&self, objects: ClusterObjects) {
        self.objects.store(Arc::new(objects));
    }

    /// Publishes the live cost and watch health.
    pub(super) fn set_live(&self, live: Live) {
        self.live.store(Arc::new(live));
    }
}
