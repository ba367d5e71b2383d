//! The admission decision: an AdmissionReview body in, a response body out.
//!
//! **Pure.** No I/O, clock, environment or logging: [`review`] maps bytes and [`Settings`] to
//! an [`Answer`], and the server (the imperative shell) writes it to the socket and turns its
//! [`Record`] into metrics. `vramgate check` calls [`decide::evaluate`] on manifests, so the
//! webhook and the CLI make the same decision.

pub mod decide;
mod dra;
pub mod patch;
pub mod review;
pub mod scale;

pub use decide::{Decision, Evaluation, Reason, evaluate};
pub use review::review;

use crate::cluster::ClusterView;
use crate::config::Settings;

/// Which webhook path a review came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /validate`: allow, warn or deny; never patches.
    Validate,
    /// `POST /mutate`: records the estimate in annotations and, where policy allows, patches
    /// the GPU count or type to a plan that fits.
    Mutate,
}

impl Endpoint {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// What the server sends back: an HTTP status and a JSON body, plus what happened, for
/// metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// 200 for every review answered (allowed or not); 400 for a body that is not a usable
    /// AdmissionReview.
    pub status: u16,
    /// `application/json` bytes: an AdmissionReview, or `{"error": "..."}` with a 400.
    pub body: Vec<u8>,
    /// `None` for a 400.
    pub record: Option<Record>,
}

/// One answered review, as metrics see it. Labels are bounded: no job names.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub endpoint: Endpoint,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: String,
    /// The object's kind (`PyTorchJob`), as the request's `kind.kind` says.
    pub kind: String,
    pub decision: Decision,
    pub reason: Reason,
    pub dry_run: bool,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    /// Catalog GPU name the job was judged on; `""` when none (no GPUs, skipped).
    pub gpu: String,
    /// Full GPUs the object asks for.
    pub gpus_requested: u64,
    /// Fewest GPUs of that type with which the job's own strategy fits.
    pub gpus_needed: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub cost_usd: Option<f64>,
    /// Dollars spent on GPUs requested beyond `gpus_needed` (cost x surplus / requested).
    pub overprovisioned_cost_usd: Option<f64>,
}

impl Record {
    /// Whether this review admits a job into the cluster's spend: counted once per object,
    /// by the validating webhook (it runs after every mutation and sees the final object),
    /// never for a dry run, never for a denial.
    #[must_use]
    pub fn counts_as_admission(&self) -> bool {
        self.endpoint == Endpoint::Validate
            && !self.dry_run
            && matches!(self.decision, Decision::Allow | Decision::Warn)
            && !self.gpu.is_empty()
    }
}

/// Answers one review body under `settings`, without cluster knowledge (as `check` does).
#[must_use]
pub fn answer(settings: &Settings, endpoint: Endpoint, body: &[u8]) -> Answer {
    review(settings, None, endpoint, body)
}

/// [`answer`], judged also against the cluster's last known GPU inventory when there is one
/// (`serve --cluster`): GPU types the cluster lacks, pods larger than its nodes, jobs larger
/// than its fleet, and a GPU type chosen for a job that names none.
#[must_use]
pub fn answer_in(settings: &Settings, cluster: Option<ClusterView<'_>>, endpoint: Endpoint, body: &[u8]) -> Answer {
    review(settings, cluster, endpoint, body)
}
