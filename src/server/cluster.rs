//! Cluster awareness, the imperative half (`serve --cluster`, `serve --config-map`): watches
//! the API server with `kube-runtime` watchers and feeds [`crate::cluster`]'s pure tables.
//!
//! - Nodes → the GPU [`Inventory`], swapped whole into [`ClusterStatus`] after each change;
//!   reviews read the last one and never wait for the API server.
//! - Pods and the workload kinds vramgate reads (metadata only) → the live-cost
//!   [`Snapshot`] and [`Cumulative`] cost, recomputed every tick and exported by the metrics
//!   collector.
//! - Optionally the config's ConfigMap → the settings in force (last good kept on errors).
//!
//! Staleness: the node watch is *current* while it delivers events or sits in a healthy
//! watch; from its first error until it recovers (the watcher relists with backoff), the
//! inventory is stale by the time since that error. A watch that hangs without an error is
//! noticed when the client's read timeout (kube-rs: 295 s) ends it.
//!
//! Every resource read is in [`resources`], which is also what `vramgate cluster rbac` prints
//! and what the chart's ClusterRole grants (`tests/chart` compares them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::{ArcSwap, ArcSwapOption};
use futures::stream::{BoxStream, SelectAll, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PartialObjectMeta};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use serde::Serialize;
use tokio::sync::watch;

use super::app::AppState;
use super::metrics::unix_now;
use super::reload;
use crate::cluster::{
    Change, ClaimTemplate, ClusterObjects, ClusterView, Cumulative, Inventory, NodeRecord, ObjectRecord, PodRecord,
    Snapshot, Table, WorkloadRecord, ledger,
};

/// How often the live cost is recomputed and integrated: often enough for a 1-minute
/// dashboard resolution, rarely enough to cost nothing.
pub const DEFAULT_TICK: Duration = Duration::from_secs(15);
/// The ConfigMap key holding the config file.
pub const CONFIG_MAP_KEY: &str = "config.yaml";

/// A resource vramgate watches (list + watch, nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Resource {
    /// `pods`, `jobs.batch`, `pytorchjobs.kubeflow.org`: the `resource` metrics label.
    #[must_use]
    pub fn label(&self) -> String {
        if self.group.is_empty() { self.plural.to_owned() } else { format!("{}.{}", self.plural, self.group) }
    }

    fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }
}

const NODES: Resource = Resource { group: "", version: "v1", kind: "Node", plural: "nodes" };
const PODS: Resource = Resource { group: "", version: "v1", kind: "Pod", plural: "pods" };
/// The ConfigMap a `--config-map` config comes from (namespaced; one name).
pub const CONFIG_MAPS: Resource = Resource { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps" };

/// The workload kinds watched for live cost (metadata only): the kinds admission reads
/// ([`crate::workload::WorkloadKind`]), plus none other. RayCluster is also the link from a
/// RayJob to its pods, and batch/v1 Job from a JobSet to its pods.
pub const WORKLOADS: [Resource; 8] = [
    Resource { group: "batch", version: "v1", kind: "Job", plural: "jobs" },
    Resource { group: "kubeflow.org", version: "v1", kind: "PyTorchJob", plural: "pytorchjobs" },
    Resource { group: "kubeflow.org", version: "v2beta1", kind: "MPIJob", plural: "mpijobs" },
    Resource { group: "jobset.x-k8s.io", version: "v1alpha2", kind: "JobSet", plural: "jobsets" },
    Resource { group: "ray.io", version: "v1", kind: "RayJob", plural: "rayjobs" },
    Resource { group: "ray.io", version: "v1", kind: "RayCluster", plural: "rayclusters" },
    Resource { group: "batch.volcano.sh", version: "v1alpha1", kind: "Job", plural: "jobs" },
    Resource { group: "leaderworkerset.x-k8s.io", version: "v1", kind: "LeaderWorkerSet", plural: "leaderworkersets" },
];

/// ResourceClaimTemplates (`resource.k8s.io/v1`, Dynamic Resource Allocation, GA in
/// Kubernetes 1.34), watched whole: a pod's DRA claims are counted from them.
pub const CLAIM_TEMPLATES: Resource = Resource {
    group: "resource.k8s.io",
    version: "v1",
    kind: "ResourceClaimTemplate",
    plural: "resourceclaimtemplates",
};

/// Whether `r` is watched whole rather than by metadata: the kinds with a `/scale`
/// subresource vramgate judges (their scale requests are judged against the watched parent).
fn watched_whole(r: &Resource) -> bool {
    crate::admission::scale::scaled_field(r.group, r.plural).is_some()
}

/// Every cluster-scoped resource `serve --cluster` reads.
#[must_use]
pub fn resources() -> Vec<Resource> {
    let mut r = vec![NODES, PODS];
    r.extend(WORKLOADS);
    r.push(CLAIM_TEMPLATES);
    r
}

/// The verbs every watched resource needs: a watcher lists, then watches.
pub const VERBS: [&str; 2] = ["list", "watch"];

/// One RBAC rule, as a ClusterRole or Role writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

/// The RBAC the code needs (`vramgate cluster rbac`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rbac {
    /// Cluster-wide: `serve --cluster`.
    pub cluster_role: Vec<PolicyRule>,
    /// In the ConfigMap's namespace, for its name only: `serve --config-map`.
    pub config_map_role: Vec<PolicyRule>,
}

fn rules(resources: &[Resource]) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in resources {
        let list = by_group.entry(r.group).or_default();
        if !list.iter().any(|p| p == r.plural) {
            list.push(r.plural.to_owned());
        }
    }
    by_group
        .into_iter()
        .map(|(g, mut res)| {
            res.sort();
            PolicyRule {
                api_groups: vec![g.to_owned()],
                resources: res,
                verbs: VERBS.iter().map(|v| (*v).to_owned()).collect(),
            }
        })
        .collect()
}

/// The rules derived from [`resources`] and [`CONFIG_MAPS`]: one per API group, verbs
/// [`VERBS`].
#[must_use]
pub fn rbac() -> Rbac {
    Rbac { cluster_role: rules(&resources()), config_map_role: rules(&[CONFIG_MAPS]) }
}

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

    fn node_watch_ok(&self) {
        self.nodes_failing_since_ms.store(HEALTHY, Ordering::Relaxed);
        self.last_sync_unix_bits.store(unix_now().to_bits(), Ordering::Relaxed);
    }

    fn node_watch_failed(&self) {
        // Only the first failure of a run sets the start of staleness.
        let now = self.millis_since_created();
        let _ = self.nodes_failing_since_ms.compare_exchange(HEALTHY, now, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// How the watchers run.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Watch Nodes, Pods and workloads (`--cluster`).
    pub inventory: bool,
    /// `(namespace, name)` of the config's ConfigMap (`--config-map`).
    pub config_map: Option<(String, String)>,
    /// Live-cost recomputation interval.
    pub tick: Duration,
    /// The ConfigMap's config text `serve` started with (not counted as a reload when the
    /// watch first lists it).
    pub config_map_text: Option<String>,
}

/// Reads the config from `namespace/name`'s [`CONFIG_MAP_KEY`] (a list by name: the same
/// `list` verb the watch needs). Returns the text.
///
/// # Errors
/// The ConfigMap or its key is missing, or the API server cannot be reached.
pub async fn read_config_map(client: Client, namespace: &str, name: &str) -> anyhow::Result<String> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let list = api
        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
        .await
        .with_context(|| format!("cannot read ConfigMap {namespace}/{name}"))?;
    let cm = list.items.into_iter().next().with_context(|| format!("ConfigMap {namespace}/{name} does not exist"))?;
    config_map_text(&cm).with_context(|| format!("ConfigMap {namespace}/{name} has no key {CONFIG_MAP_KEY}"))
}

fn config_map_text(cm: &ConfigMap) -> Option<String> {
    cm.data.as_ref()?.get(CONFIG_MAP_KEY).cloned()
}

/// One watcher's output, tagged with where it comes from.
enum Msg {
    // Boxed: a Pod is a few kilobytes on the stack.
    Node(Box<watcher::Result<Event<Node>>>),
    Pod(Box<watcher::Result<Event<Pod>>>),
    Workload(Resource, watcher::Result<Event<PartialObjectMeta<DynamicObject>>>),
    /// A resource watched whole: a scale parent or a ResourceClaimTemplate.
    Whole(Resource, Box<watcher::Result<Event<DynamicObject>>>),
    ConfigMap(watcher::Result<Event<ConfigMap>>),
}

fn change<K, R>(event: Event<K>, mut read: impl FnMut(&K) -> R) -> Change<R> {
    match event {
        Event::Apply(k) => Change::Apply(read(&k)),
        Event::Delete(k) => Change::Delete(read(&k)),
        Event::Init => Change::Init,
        Event::InitApply(k) => Change::InitApply(read(&k)),
        Event::InitDone => Change::InitDone,
    }
}

/// The watchers' own state: one task owns it, so no locks.
#[derive(Default)]
struct Model {
    nodes: Table<NodeRecord>,
    pods: Table<PodRecord>,
    /// One table per workload kind (each watch relists its own).
    workloads: BTreeMap<String, Table<WorkloadRecord>>,
    /// Resources watched whole, by resource label.
    objects: BTreeMap<String, Table<ObjectRecord>>,
    cumulative: Cumulative,
    watches: BTreeMap<String, WatchHealth>,
    /// When the published snapshot (`ClusterStatus::live`) was taken.
    last_tick: Option<Instant>,
    config_text: Option<String>,
}

/// Runs the watchers until `stop` turns true. Errors are logged, counted and retried from a
/// fresh list after a wait of [`RETRY_FIRST`] doubling to [`RETRY_MAX`]; they never end the
/// task.
pub async fn run(client: Client, state: AppState, opts: ClusterOptions, mut stop: watch::Receiver<bool>) {
    let status = state.cluster();
    let mut streams: SelectAll<BoxStream<'static, Msg>> = SelectAll::new();
    if opts.inventory {
        status.enabled.store(true, Ordering::Relaxed);
        streams.push(
            watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
                .map(|r| Msg::Node(Box::new(r)))
                .boxed(),
        );
        streams.push(
            watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()).map(|r| Msg::Pod(Box::new(r))).boxed(),
        );
        for r in WORKLOADS.into_iter().chain([CLAIM_TEMPLATES]) {
            if watched_whole(&r) || r == CLAIM_TEMPLATES {
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.api_resource());
                streams.push(watcher(api, watcher::Config::default()).map(move |m| Msg::Whole(r, Box::new(m))).boxed());
            } else {
                let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client.clone(), &r.api_resource());
                streams.push(watcher(api, watcher::Config::default()).map(move |m| Msg::Workload(r, m)).boxed());
            }
        }
    }
    let mut model = Model::default();
    if let Some((ns, name)) = &opts.config_map {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        streams.push(watcher(api, cfg).map(Msg::ConfigMap).boxed());
        model.config_text.clone_from(&opts.config_map_text);
    }
    if streams.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(opts.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = super::listener::stopped(&mut stop) => return,
            _ = ticks.tick() => tick(&mut model, &state),
            msg = streams.next() => match msg {
                Some(msg) => handle(&mut model, &state, msg),
                None => return,
            },
        }
    }
}

/// First wait before a failed watch starts over; doubled after each failure up to
/// [`RETRY_MAX`], back to this after an event.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two attempts (kube-runtime's default backoff caps at 30 s too).
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// Wait before asking again for a resource the API server does not serve (a CRD not
/// installed): a CRD installed later is picked up within this, at one request per resource.
pub const RETRY_ABSENT: Duration = Duration::from_secs(300);

/// Whether a watcher error says the resource is not served (404).
fn is_not_found(e: &watcher::Error) -> bool {
    matches!(
        e,
        watcher::Error::InitialListFailed(kube::Error::Api(s)) | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            if s.is_not_found()
    )
}

/// A watcher that starts over from a fresh list after each error (after a growing wait).
/// kube-runtime's own retry resumes the watch where it was, and a resumed watch on a quiet
/// resource yields nothing, so recovery would go unnoticed until the next change; a relist
/// yields the whole set at once, which both refreshes the state and proves the API server
/// answers again.
fn watcher<K>(api: Api<K>, cfg: watcher::Config) -> BoxStream<'static, watcher::Result<Event<K>>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    struct Retry<K: 'static> {
        api: Api<K>,
        cfg: watcher::Config,
        inner: Option<BoxStream<'static, watcher::Result<Event<K>>>>,
        wait: Option<Duration>,
        next_wait: Duration,
    }
    let start = Retry { api, cfg, inner: None, wait: None, next_wait: RETRY_FIRST };
    futures::stream::unfold(start, |mut s| async move {
        loop {
            let inner = match &mut s.inner {
                Some(inner) => inner,
                None => {
                    if let Some(wait) = s.wait.take() {
                        tokio::time::sleep(wait).await;
                    }
                    s.inner.insert(kube::runtime::watcher(s.api.clone(), s.cfg.clone()).boxed())
                }
            };
            match inner.next().await {
                Some(Ok(event)) => {
                    s.next_wait = RETRY_FIRST;
                    return Some((Ok(event), s));
                }
                Some(Err(e)) => {
                    s.inner = None;
                    if is_not_found(&e) {
                        s.wait = Some(RETRY_ABSENT);
                    } else {
                        s.wait = Some(s.next_wait);
                        s.next_wait = (s.next_wait * 2).min(RETRY_MAX);
                    }
                    return Some((Err(e), s));
                }
                None => s.inner = None,
            }
        }
    })
    .boxed()
}

/// Records a watch result's health; returns the event when there is one. `Init` is emitted
/// before the list request is made, so it proves nothing; every other event came from the
/// API server.
fn health<K>(model: &mut Model, resource: &str, result: watcher::Result<Event<K>>) -> Option<Event<K>> {
    let h = model.watches.entry(resource.to_owned()).or_default();
    match result {
        Ok(event @ Event::Init) => Some(event),
        Ok(event) => {
            if !h.up && !h.absent {
                tracing::info!(resource, "watch healthy");
            }
            h.up = true;
            h.absent = false;
            Some(event)
        }
        Err(e) => {
            if is_not_found(&e) {
                // Not a failure: the kind is not installed. Not counted as an error.
                if !h.absent {
                    tracing::info!(
                        resource,
                        "not served by the API server (CRD not installed?); asking again every 5 minutes"
                    );
                }
                h.absent = true;
                h.up = false;
            } else {
                h.errors += 1;
                if h.up || h.errors == 1 {
                    tracing::warn!(resource, error = %e, "watch failed; retrying with backoff, decisions keep the last known state");
                } else {
                    tracing::debug!(resource, error = %e, "watch still failing");
                }
                h.up = false;
                h.absent = false;
            }
            None
        }
    }
}

fn handle(model: &mut Model, state: &AppState, msg: Msg) {
    let settings = state.settings();
    let status = state.cluster();
    match msg {
        Msg::Node(result) => {
            let result = *result;
            let failed = result.is_err();
            let Some(event) = health(model, &NODES.label(), result) else {
                if failed {
                    status.node_watch_failed();
                }
                publish_watches(model, state);
                return;
            };
            if !matches!(event, Event::Init) {
                status.node_watch_ok();
            }
            model.nodes.apply(change(event, |n| NodeRecord::from_node(n, &settings.extract)));
            if model.nodes.is_synced() {
                let inventory = Inventory::build(model.nodes.iter(), &settings.catalog);
                for p in inventory.unknown() {
                    let known_before = status.inventory().is_some_and(|i| i.pools.contains_key(&p.gpu));
                    if !known_before {
                        tracing::warn!(product = %p.gpu, nodes = p.nodes, "GPU product not in the catalog: add it to the config's gpus (gfd_products)");
                    }
                }
                status.inventory.store(Some(Arc::new(inventory)));
            }
        }
        Msg::Pod(result) => {
            let result = *result;
            let Some(event) = health(model, &PODS.label(), result) else { return publish_watches(model, state) };
            // Only pods with GPUs are kept: a GPU-less pod is removed if it was there.
            match change(event, |p| PodRecord::from_pod(p, &settings.extract)) {
                Change::Apply(r) if r.gpus == 0 => model.pods.apply(Change::Delete(r)),
                Change::InitApply(r) if r.gpus == 0 => {}
                c => model.pods.apply(c),
            }
        }
        Msg::Workload(r, result) => {
            let Some(event) = health(model, &r.label(), result) else { return publish_watches(model, state) };
            let kind = r.kind;
            let table = model.workloads.entry(r.label()).or_default();
            table.apply(change(event, |m: &PartialObjectMeta<DynamicObject>| {
                WorkloadRecord::from_meta(kind, &m.metadata)
            }));
        }
        Msg::Whole(r, result) => {
            let Some(event) = health(model, &r.label(), *result) else { return publish_watches(model, state) };
            let label = r.label();
            // A relist's objects become visible at its end: publish only then and on changes.
            let visible = !matches!(event, Event::Init | Event::InitApply(_));
            if r != CLAIM_TEMPLATES {
                let table = model.workloads.entry(label.clone()).or_default();
                table.apply(change(event.clone(), |o: &DynamicObject| WorkloadRecord::from_meta(r.kind, &o.metadata)));
            }
            let table = model.objects.entry(label.clone()).or_default();
            table.apply(change(event, |o: &DynamicObject| {
                ObjectRecord::from_value(&label, serde_json::to_value(o).unwrap_or_default())
            }));
            if visible {
                publish_objects(model, state);
            }
        }
        Msg::ConfigMap(result) => {
            let Some(event) = health(model, &CONFIG_MAPS.label(), result) else { return publish_watches(model, state) };
            match event {
                Event::Apply(cm) | Event::InitApply(cm) => {
                    let source = format!(
                        "ConfigMap {}/{}",
                        cm.metadata.namespace.as_deref().unwrap_or(""),
                        cm.metadata.name.as_deref().unwrap_or("")
                    );
                    apply_config_map(model, state, &source, &cm);
                }
                Event::Delete(_) => tracing::warn!("config ConfigMap deleted; keeping the config in force"),
                Event::Init | Event::InitDone => {}
            }
        }
    }
    publish_watches(model, state);
}

fn apply_config_map(model: &mut Model, state: &AppState, source: &str, cm: &ConfigMap) {
    let text = config_map_text(cm);
    if text == model.config_text {
        return; // unchanged (or what serve read at start)
    }
    let loaded = match &text {
        Some(t) => reload::parse_config(t.as_bytes()),
        None => Err(vec![format!("no key {CONFIG_MAP_KEY}")]),
    };
    model.config_text = text;
    reload::put_in_force(state, source, loaded);
}

/// Publishes the whole-object tables as one [`ClusterObjects`] (reviews load it lock-free).
fn publish_objects(model: &Model, state: &AppState) {
    let templates = model.objects.get(&CLAIM_TEMPLATES.label());
    let mut objects =
        ClusterObjects { claim_templates_synced: templates.is_some_and(Table::is_synced), ..ClusterObjects::default() };
    for (label, table) in &model.objects {
        for o in table.iter() {
            let key = (o.namespace.clone(), o.name.clone());
            if *label == CLAIM_TEMPLATES.label() {
                objects.claim_templates.insert(key, ClaimTemplate::from_value(&o.object));
            } else {
                objects.parents.insert((label.clone(), key.0, key.1), Arc::clone(&o.object));
            }
        }
    }
    state.cluster().objects.store(Arc::new(objects));
}

fn publish_watches(model: &Model, state: &AppState) {
    let status = state.cluster();
    let live = status.live();
    if live.watches != model.watches {
        let mut next = (*live).clone();
        next.watches.clone_from(&model.watches);
        status.live.store(Arc::new(next));
    }
}

/// Integrates the cost since the last tick at the last snapshot's rates, then takes a new
/// snapshot.
fn tick(model: &mut Model, state: &AppState) {
    let status = state.cluster();
    if !status.is_enabled() {
        return;
    }
    let now = Instant::now();
    if let Some(at) = model.last_tick {
        model.cumulative.advance(&status.live().snapshot, now.duration_since(at).as_secs_f64());
    }
    let settings = state.settings();
    let inventory = status.inventory().unwrap_or_default();
    let workloads: Vec<&Table<WorkloadRecord>> = model.workloads.values().collect();
    let snap = ledger::snapshot(&inventory, &model.pods, &workloads, &settings.catalog, &settings.cluster.team_label);
    status.live.store(Arc::new(Live {
        snapshot: snap,
        cumulative: model.cumulative.clone(),
        watches: model.watches.clone(),
    }));
    model.last_tick = Some(now);
}
