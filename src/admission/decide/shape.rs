//! What a workload asks for, read off its pod groups: the devices it holds at once, and the
//! group a patch or a plan scales in whole replicas.

use crate::workload::{PodGroup, Workload};

/// Full GPUs plus MIG devices the pods hold at once.
pub(super) fn devices_requested(w: &Workload) -> u64 {
    w.groups.iter().fold(0u64, |acc, g| {
        let per_pod = g.gpus_per_pod.saturating_add(g.mig.iter().map(|(_, n)| *n).sum::<u64>());
        acc.saturating_add(g.pods.saturating_mul(per_pod))
    })
}

/// The group a patch scales: the one with a replicas field holding the most GPUs (Masters and
/// Launchers excluded).
#[derive(Debug, Clone, Copy)]
pub(super) struct Step<'w> {
    pub(super) group: &'w PodGroup,
    /// GPUs added per replica.
    pub(super) step: u32,
    /// GPUs of every other group.
    pub(super) others: u64,
}

pub(super) fn scaling_step(w: &Workload) -> Option<Step<'_>> {
    let total = devices_requested(w);
    // A PyTorchJob's Master and an MPIJob's Launcher are one pod by definition: never scaled.
    let singleton = |g: &PodGroup| g.role.eq_ignore_ascii_case("master") || g.role.eq_ignore_ascii_case("launcher");
    let group = w
        .gpu_pods()
        .filter(|g| g.replicas_pointer.is_some() && g.pods_per_replica > 0 && g.mig.is_empty() && !singleton(g))
        .max_by_key(|g| (g.total_gpus(), g.gpus_per_pod))?;
    // Groups that share the replicas field (a LeaderWorkerSet's leader and workers) scale
    // together: one replica adds each one's pods.
    let pointer = group.replicas_pointer.as_deref();
    let (mut step, mut scaled) = (0u64, 0u64);
    for g in w.groups.iter().filter(|g| g.replicas_pointer.as_deref() == pointer) {
        if !g.mig.is_empty() {
            return None;
        }
        step = step.saturating_add(g.pods_per_replica.saturating_mul(g.gpus_per_pod));
        scaled = scaled.saturating_add(g.total_gpus());
    }
    let step = u32::try_from(step).ok().filter(|s| *s > 0)?;
    Some(Step { group, step, others: total.saturating_sub(scaled) })
}
