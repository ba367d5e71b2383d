//! The audit's imperative half: lists every workload kind of [`crate::workload::KINDS`] from
//! the API server (read-only: `list`, the verb the watchers already hold) for
//! `vramgate audit` and for the periodic in-cluster audit of `serve --cluster`, and hands the
//! objects to the pure [`crate::audit`].
//!
//! The cluster watchers keep most workload kinds as metadata only (the live-cost ledger needs
//! no more), so the periodic audit lists whole objects itself, once every
//! `audit.interval_seconds`, a page of [`PAGE`] objects at a time.

use std::time::Duration;

use kube::Client;
use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use tokio::sync::watch;

use super::state::AppState;
use super::status::unix_now;
use crate::audit::policy_report::{self, NAME};
use crate::audit::{AuditReport, Unlisted, typed};
use crate::cluster::resources::{POLICY_REPORTS, Resource};
use crate::workload::KINDS;

pub mod collector;
pub use collector::{AuditCollector, AuditSeries};

/// Objects asked for per list request (the API server's pagination, `limit` + `continue`).
pub const PAGE: u32 = 500;
/// Most pages read of one resource: 2,000 pages of 500, a million objects, bounds the loop.
pub const MAX_PAGES: usize = 2_000;

/// What the listing found: objects typed for the extractor, and what could not be listed.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Value>,
    pub unlisted: Vec<Unlisted>,
}

/// Lists every kind of [`KINDS`] (at the version the watchers use, its first), in
/// `namespace` or everywhere. A resource the API server does not serve (404: a CRD not
/// installed) and one that fails otherwise (403, 5xx) are recorded in [`Listing::unlisted`],
/// never dropped silently.
pub async fn list_workloads(client: &Client, namespace: Option<&str>) -> Listing {
    let mut out = Listing::default();
    for spec in &KINDS {
        let r = Resource::of(spec);
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(r.group, r.version, r.kind), r.plural);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        match list_all(&api).await {
            Ok(items) => out.objects.extend(items.into_iter().map(|o| typed(o, &ar.api_version, r.kind))),
            Err(kube::Error::Api(s)) if s.is_not_found() => out.unlisted.push(Unlisted {
                resource: r.label(),
                reason: format!("not served by the API server (CRD not installed?): no {} to audit", r.kind),
                incomplete: false,
            }),
            Err(e) => out.unlisted.push(Unlisted {
                resource: r.label(),
                reason: format!("cannot list: {e}"),
                incomplete: true,
            }),
        }
    }
    out
}

async fn list_all(api: &Api<DynamicObject>) -> Result<Vec<Value>, kube::Error> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await?;
        items.extend(page.items.iter().map(|o| serde_json::to_value(o).unwrap_or_default()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(items)
}

/// Runs the audit over the cluster: lists, then judges with the settings in force and the
/// last inventory.
pub async fn audit_cluster(client: &Client, state: &AppState) -> AuditReport {
    let listing = list_workloads(client, None).await;
    let settings = state.settings();
    let status = state.cluster();
    let inventory = status.inventory();
    let objects = status.objects();
    let max_stale = settings.cluster.inventory_max_stale_seconds;
    let view = inventory.as_deref().map(|i| status.view(i, &objects, max_stale));
    crate::audit::audit(&listing.objects, &settings, view, listing.unlisted)
}

/// Wait before the first periodic audit: the watchers' first lists (the inventory the
/// audit judges with) usually take well under this.
pub const FIRST_DELAY: Duration = Duration::from_secs(5);

/// Audits after `first`, then every `interval`, until `stop` turns true, publishing each
/// report to the metrics. A run that outlasts the interval delays the next one.
pub async fn run(
    client: Client,
    state: AppState,
    first: Duration,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut written = BTreeSet::new();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = super::listener::stopped(&mut stop) => return,
            _ = ticks.tick() => {}
        }
        let report = tokio::select! {
            () = super::listener::stopped(&mut stop) => return,
            r = audit_cluster(&client, &state) => r,
        };
        for u in &report.unlisted {
            if u.incomplete {
                tracing::warn!(resource = %u.resource, reason = %u.reason, "audit: resource not listed");
            } else {
                tracing::debug!(resource = %u.resource, reason = %u.reason, "audit: resource not served");
            }
        }
        tracing::info!(
            judged = report.summary.judged,
            denied = report.summary.denied,
            warned = report.summary.warned,
            overprovisioned = report.summary.overprovisioned,
            overprovisioned_usd_per_hour = report.summary.overprovisioned_usd_per_hour,
            "audit done"
        );
        if state.settings().audit.policy_reports {
            #[allow(clippy::cast_possible_truncation)] // seconds since 1970 fit an i64
            let now = unix_now() as i64;
            write_policy_reports(&client, &policy_report::policy_reports(&report, now), &mut written).await;
        }
        state.metrics().audit().set(report, unix_now());
    }
}

/// The field manager of the PolicyReports' server-side apply.
pub const FIELD_MANAGER: &str = "vramgate";

/// Applies each report (server-side apply, [`FIELD_MANAGER`], forced: vramgate owns its
/// `vramgate-audit` reports). A namespace written before (`written`) that has no report now gets
/// an empty one rather than keeping stale results. Failures are logged and retried at the next
/// audit; they never stop it.
pub async fn write_policy_reports(client: &Client, reports: &[Value], written: &mut BTreeSet<String>) {
    let r = POLICY_REPORTS;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(r.group, r.version, r.kind), r.plural);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut now = BTreeSet::new();
    let mut apply = Vec::new();
    for report in reports {
        let ns = report["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        now.insert(ns.clone());
        apply.push((ns, report.clone()));
    }
    for ns in written.difference(&now) {
        let report = policy_report::report(ns, &[], 0);
        apply.push((ns.clone(), report));
    }
    for (ns, report) in apply {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        match api.patch(NAME, &params, &Patch::Apply(&report)).await {
            Ok(_) => {
                written.insert(ns);
            }
            Err(e) => tracing::warn!(namespace = %ns, error = %e, "audit: cannot write the PolicyReport"),
        }
    }
    written.retain(|ns| now.contains(ns));
}
