//! `jobset.x-k8s.io/v1alpha2 JobSet`: one group per `spec.replicatedJobs[i]`, of
//! `replicas` (default 1) Jobs, each running `min(parallelism, completions)` pods (the
//! `batch/v1 Job` rule). The group's role is the replicated Job's `name`, and `replicas` is
//! the field that scales it (by a whole Job's pods at a time).

use crate::json::Object;

use super::fields::{self, Errors, child};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup, batch};

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let replicated_jobs = fields::spec_items(root, "replicatedJobs", "replicated Job", errs);
    let mut out = Vec::with_capacity(replicated_jobs.len());
    for (i, rj_ptr, rj) in replicated_jobs {
        let role = fields::required_string(rj, "name", &rj_ptr, errs)
            .map_or_else(|| format!("replicatedJob-{i}"), str::to_owned);
        let replicas = fields::count(rj, "replicas", &rj_ptr, 1, errs);
        // template is a JobTemplateSpec: its spec is a JobSpec holding the pod template.
        let Some(job) = fields::required_object(rj, "template", &rj_ptr, errs) else {
            continue;
        };
        let job_ptr = child(&rj_ptr, "template");
        let Some(job_spec) = fields::required_object(job, "spec", &job_ptr, errs) else {
            continue;
        };
        let job_spec_ptr = child(&job_ptr, "spec");
        let per_job = batch::job_pods(job_spec, &job_spec_ptr, errs);
        let scale = Scale::replicas(replicas, per_job, child(&rj_ptr, "replicas"));
        out.extend(podspec::template_group(&role, scale, job_spec, &job_spec_ptr, cfg, errs));
    }
    out
}
