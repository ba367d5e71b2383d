//! Serving metrics (issue 15): what the admitted inference servers (Deployments,
//! StatefulSets, InferenceServices, LeaderWorkerSets: `cluster::ledger::SERVING_KINDS`) hold
//! now and cost per hour, by namespace and GPU type, from the live cost's last snapshot
//! (`cluster::ledger::Snapshot::serving`). Encoded at each scrape, so a series disappears with
//! the servers it counts.
//!
//! Labels: `namespace` bounded by `metrics.max_namespaces` through the same labeller as the
//! other families (a namespace keeps one label everywhere); `gpu` is a node pool name from
//! GPU Feature Discovery labels, which tenants do not write. Deployments that would not start
//! are counted by the review families (`vramgate_reviews_total` by kind, decision and reason).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::status::ClusterStatus;

/// The bounded `namespace` label of the other families.
pub(super) type NamespaceLabel = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ServingLabels {
    namespace: String,
    gpu: String,
}

/// Encodes the serving families from the cluster's live state.
pub(super) struct ServingCollector {
    cluster: Arc<ClusterStatus>,
    namespace: NamespaceLabel,
}

impl ServingCollector {
    pub(super) fn new(cluster: Arc<ClusterStatus>, namespace: NamespaceLabel) -> Self {
        Self { cluster, namespace }
    }
}

impl std::fmt::Debug for ServingCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCollector").finish_non_exhaustive()
    }
}

impl Collector for ServingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !self.cluster.is_enabled() {
            return Ok(());
        }
        let live = self.cluster.live();
        // Series sharing a bounded label are summed.
        let mut serving: BTreeMap<ServingLabels, (u64, f64)> = BTreeMap::new();
        for (k, r) in &live.snapshot.serving {
            let labels = ServingLabels { namespace: (self.namespace)(&k.namespace), gpu: k.gpu.clone() };
            let sum = serving.entry(labels).or_default();
            sum.0 = sum.0.saturating_add(r.gpus);
            sum.1 += r.usd_per_hour;
        }
        if serving.is_empty() {
            return Ok(());
        }
        let gpus = serving.iter().map(|(k, r)| (k, ConstGauge::new(i64::try_from(r.0).unwrap_or(i64::MAX))));
        gauge_family(
            &mut encoder,
            "vramgate_serving_running_gpus",
            "GPUs held by running pods of admitted inference servers (Deployment, StatefulSet, InferenceService, LeaderWorkerSet), by namespace and GPU type",
            gpus,
        )?;
        let usd = serving.iter().map(|(k, r)| (k, ConstGauge::new(r.1)));
        gauge_family(
            &mut encoder,
            "vramgate_serving_running_cost_usd_per_hour",
            "Estimated cost per hour in US dollars of those GPUs at the configured prices",
            usd,
        )
    }
}

fn gauge_family<'a, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    mut series: impl Iterator<Item = (&'a ServingLabels, M)>,
) -> Result<(), std::fmt::Error> {
    let Some(first) = series.next() else { return Ok(()) };
    let mut family = encoder.encode_descriptor(name, help, None, first.1.metric_type())?;
    for (labels, metric) in std::iter::once(first).chain(series) {
        metric.encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ledger::{Running, ServingKey, Snapshot};
    use crate::server::status::Live;
    use prometheus_client::registry::Registry;

    #[test]
    fn serving_gpus_and_cost_are_exported_by_bounded_namespace_and_gpu_and_summed_under_other() {
        let status = Arc::new(ClusterStatus::default());
        let mut registry = Registry::default();
        // A cap of one namespace: the second is labelled `other`.
        let seen = std::sync::Mutex::new(Vec::<String>::new());
        let namespace: NamespaceLabel = Arc::new(move |ns: &str| {
            let mut seen = seen.lock().unwrap();
            if seen.is_empty() || seen[0] == ns {
                seen.push(ns.to_owned());
                ns.to_owned()
            } else {
                "other".to_owned()
            }
        });
        registry.register_collector(Box::new(ServingCollector::new(status.clone(), namespace)));
        let text = |r: &Registry| {
            let mut s = String::new();
            prometheus_client::encoding::text::encode(&mut s, r).unwrap();
            s
        };
        assert!(!text(&registry).contains("vramgate_serving"), "nothing without --cluster");

        status.set_enabled();
        let mut snapshot = Snapshot::default();
        let key = |ns: &str| ServingKey { namespace: ns.into(), gpu: "H100-80GB".into() };
        snapshot.serving.insert(key("a"), Running { gpus: 2, usd_per_hour: 5.0 });
        snapshot.serving.insert(key("b"), Running { gpus: 1, usd_per_hour: 2.5 });
        snapshot.serving.insert(key("c"), Running { gpus: 4, usd_per_hour: 10.0 });
        status.set_live(Live { snapshot, ..Live::default() });
        let out = text(&registry);
        assert!(out.contains(r#"vramgate_serving_running_gpus{namespace="a",gpu="H100-80GB"} 2"#), "{out}");
        assert!(out.contains(r#"vramgate_serving_running_gpus{namespace="other",gpu="H100-80GB"} 5"#), "{out}");
        assert!(
            out.contains(r#"vramgate_serving_running_cost_usd_per_hour{namespace="other",gpu="H100-80GB"} 12.5"#),
            "{out}"
        );
    }
}
