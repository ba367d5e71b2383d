//! The periodic audit's metrics families, encoded from the last report at each scrape.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::admission::OTHER_LABEL;
use crate::audit::AuditReport;

/// The last audit, encoded at each scrape (`vramgate_audit_*`), so a namespace's series
/// disappears once it has nothing to report.
///
/// `namespace` is bounded by `metrics.max_namespaces`: the namespaces with the most findings
/// (then the most waste, then by name) keep their name, the rest are summed under `other`.
/// `reason` is the closed set of [`crate::admission::decide::Reason`].
#[derive(Debug, Clone)]
pub struct AuditCollector {
    /// The last report and the Unix time it was finished (shared by the registered clone).
    last: Arc<arc_swap::ArcSwapOption<(AuditReport, f64)>>,
    max_namespaces: usize,
}

impl AuditCollector {
    #[must_use]
    pub fn new(max_namespaces: usize) -> Self {
        Self { last: Arc::new(arc_swap::ArcSwapOption::empty()), max_namespaces }
    }

    /// Publishes a report finished at `finished_unix_seconds`.
    pub fn set(&self, report: AuditReport, finished_unix_seconds: f64) {
        self.last.store(Some(Arc::new((report, finished_unix_seconds))));
    }

    /// The last audit's findings by (namespace label, reason) and waste by namespace label,
    /// namespaces capped.
    #[must_use]
    pub fn series(&self) -> Option<AuditSeries> {
        let last = self.last.load_full()?;
        let (report, finished) = &*last;
        let by = crate::audit::by_namespace(report);
        let mut rank: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
        for ((ns, _), n) in &by.findings {
            rank.entry(ns).or_default().0 += n;
        }
        for (ns, w) in &by.overprovisioned_usd_per_hour {
            rank.entry(ns).or_default().1 += w;
        }
        let mut ranked: Vec<(&str, (u64, f64))> = rank.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(b.1.1.total_cmp(&a.1.1)).then(a.0.cmp(b.0)));
        let kept: std::collections::BTreeSet<&str> =
            ranked.iter().take(self.max_namespaces).map(|(ns, _)| *ns).collect();
        let label = |ns: &str| if kept.contains(ns) { ns.to_owned() } else { OTHER_LABEL.to_owned() };
        let mut findings = BTreeMap::new();
        for ((ns, reason), n) in &by.findings {
            *findings.entry((label(ns), *reason)).or_default() += n;
        }
        let mut waste = BTreeMap::new();
        for (ns, w) in &by.overprovisioned_usd_per_hour {
            *waste.entry(label(ns)).or_default() += w;
        }
        Some(AuditSeries { findings, overprovisioned_usd_per_hour: waste, finished_unix_seconds: *finished })
    }
}

/// The series of the last audit, namespaces capped.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSeries {
    /// Objects denied or warned about, by (namespace label, reason).
    pub findings: BTreeMap<(String, &'static str), u64>,
    pub overprovisioned_usd_per_hour: BTreeMap<String, f64>,
    pub finished_unix_seconds: f64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    namespace: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

impl Collector for AuditCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(AuditSeries { findings, overprovisioned_usd_per_hour: waste, finished_unix_seconds: at }) =
            self.series()
        else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "vramgate_audit_findings",
            "Existing workloads the validating webhook would deny or warn about if they were created now \
             (the periodic audit, audit.interval_seconds), by namespace and reason.",
            None,
            MetricType::Gauge,
        )?;
        for ((namespace, reason), n) in findings {
            let labels = FindingLabels { namespace, reason: reason.to_owned() };
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "vramgate_audit_overprovisioned_usd_per_hour",
            "Dollars per hour of the GPUs existing workloads ask for beyond the fewest they fit on (the last \
             audit), by namespace.",
            None,
            MetricType::Gauge,
        )?;
        for (namespace, usd) in waste {
            ConstGauge::new(usd).encode(family.encode_family(&NamespaceLabels { namespace })?)?;
        }
        let family = encoder.encode_descriptor(
            "vramgate_audit_last_run_timestamp_seconds",
            "Unix time the last audit finished.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(at).encode(family)
    }
}
