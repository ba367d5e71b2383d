//! The cluster families (`serve --cluster`), rendered at each scrape from the watchers' state.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::labels::Bounds;
use crate::server::status::ClusterStatus;

/// The cluster families (`serve --cluster`), encoded at each scrape from the watchers' last
/// [`Live`] state, so a series disappears when what it counts does (a finished job's team,
/// a drained node pool) instead of lingering at its last value.
///
/// `namespace` and `team` are bounded as the review families' are (a team is a workload's
/// label value: any tenant's text); series that share bounded labels are summed. `gpu` and
/// `product` come from node labels (GPU Feature Discovery), which tenants do not write, and
/// grow only with the node pools.
#[derive(Debug)]
pub(super) struct ClusterCollector(pub(super) Arc<ClusterStatus>, pub(super) Arc<Bounds>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabels {
    product: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct CostLabels {
    namespace: String,
    team: String,
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

fn family<S: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (S, M)>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let metric_type = EncodeMetric::metric_type(&series.peek().expect("peeked").1);
    let mut family = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for ClusterCollector {
    #[allow(clippy::cast_precision_loss)] // GPU counts far below 2^53
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = &self.0;
        if !status.is_enabled() {
            return Ok(());
        }
        let live = status.live();
        let snap = &live.snapshot;
        let gpu = |g: &String| GpuLabels { gpu: g.clone() };
        let e = &mut encoder;
        family(
            e,
            "vramgate_cluster_nodes",
            "GPU nodes by GPU type (catalog name, or the raw product label of an unknown product)",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.nodes as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_gpus",
            "Allocatable GPUs by GPU type: what the cluster could provide",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.gpus as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_gpus_allocated",
            "GPUs requested by pods bound to nodes of the type and not terminated",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.allocated as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_unknown_gpu_products",
            "GPU nodes whose nvidia.com/gpu.product is not in the catalog, by product",
            None,
            snap.unknown_products
                .iter()
                .map(|(p, n)| (ProductLabels { product: p.clone() }, ConstGauge::new(*n as i64))),
        )?;
        let bounds = &self.1;
        let cost = |k: &crate::cluster::CostKey| CostLabels {
            namespace: bounds.namespaces.label(&k.namespace),
            team: bounds.teams.label(&k.team),
            gpu: k.gpu.clone(),
        };
        let mut running: BTreeMap<CostLabels, (u64, f64)> = BTreeMap::new();
        for (k, r) in &snap.running {
            let sum = running.entry(cost(k)).or_default();
            sum.0 = sum.0.saturating_add(r.gpus);
            sum.1 += r.usd_per_hour;
        }
        let mut spent: BTreeMap<CostLabels, f64> = BTreeMap::new();
        for (k, usd) in &live.cumulative.usd {
            *spent.entry(cost(k)).or_default() += usd;
        }
        family(
            e,
            "vramgate_running_gpus",
            "GPUs held by running pods of workloads vramgate admitted, by namespace, team and GPU type",
            None,
            running.iter().map(|(k, r)| (k.clone(), ConstGauge::new(r.0 as i64))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd_per_hour",
            "Estimated cost per hour in US dollars of those GPUs at the configured prices",
            None,
            running.iter().map(|(k, r)| (k.clone(), ConstGauge::new(r.1))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd",
            "Estimated US dollars spent by running pods of admitted workloads since this process started",
            None,
            spent.into_iter().map(|(k, usd)| (k, ConstCounter::new(usd))),
        )?;
        single(
            e,
            "vramgate_inventory_stale",
            "Seconds the GPU inventory has been stale (0 while the node watch is healthy)",
            Some(&Unit::Seconds),
            Some(ConstGauge::new(status.stale_seconds().unwrap_or(0) as f64)),
        )?;
        single(
            e,
            "vramgate_inventory_last_sync_timestamp",
            "Unix time the GPU inventory was last known current",
            Some(&Unit::Seconds),
            status.last_sync_unix().map(ConstGauge::new),
        )?;
        let watches = || live.watches.iter().filter(|(_, h)| !h.absent);
        family(
            e,
            "vramgate_cluster_watch_up",
            "1 while the watch of a resource is healthy, 0 while it fails (not exported for resources the API server does not serve)",
            None,
            watches().map(|(r, h)| (ResourceLabels { resource: r.clone() }, ConstGauge::new(i64::from(h.up)))),
        )?;
        family(
            e,
            "vramgate_cluster_watch_errors",
            "Errors of the watch of a resource, each retried with backoff (a resource the API server does not serve is not an error)",
            None,
            live.watches.iter().map(|(r, h)| (ResourceLabels { resource: r.clone() }, ConstCounter::new(h.errors))),
        )?;
        Ok(())
    }
}

/// A family of one series without labels; nothing when `metric` is `None`.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: Option<M>,
) -> Result<(), std::fmt::Error> {
    let Some(metric) = metric else { return Ok(()) };
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}
