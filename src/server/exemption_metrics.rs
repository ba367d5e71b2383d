//! `vramgate_exemptions_total{namespace,outcome}`: every `vramgate.io/exempt` annotation the
//! validating webhook saw, by what became of it (`admission::exempt::Outcome`: honoured,
//! refused, unneeded). `namespace` is the reviews' capped namespace label; `outcome` a closed
//! set; so the family holds at most (`metrics.max_namespaces` + 1) x 3 series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::admission::exempt::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExemptionLabels {
    namespace: String,
    outcome: &'static str,
}

/// The family, registered in the process's registry.
#[derive(Debug)]
pub(super) struct ExemptionCounter(Family<ExemptionLabels, Counter>);

impl ExemptionCounter {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let family = Family::<ExemptionLabels, Counter>::default();
        registry.register(
            "vramgate_exemptions",
            "vramgate.io/exempt annotations seen by the validating webhook, by namespace and outcome \
             (honoured: a denial allowed with a warning; refused: not allowed here, still denied; \
             unneeded: not denied)",
            family.clone(),
        );
        Self(family)
    }

    /// Counts one exemption; `namespace` is already a bounded label value.
    pub(super) fn inc(&self, namespace: String, outcome: Outcome) {
        self.0.get_or_create(&ExemptionLabels { namespace, outcome: outcome.as_str() }).inc();
    }
}
