//! The GPU a job is judged on: node selector or affinity, MIG slices, memory labels, the
//! annotation or default, and the choice from the cluster's inventory.

use super::shape::scaling_step;
use super::vocabulary::Findings;
use super::vocabulary::{GpuSource, Reason};
use crate::cluster::{ClusterView, GpuPool};
use crate::config::{GpuChoice as Choose, Policy, Settings};
use crate::estimate::units::MIB;
use crate::estimate::{self, Fit, GpuSpec, Job, memory};
use crate::request::PREFIX;
use crate::workload::Workload;
use std::borrow::Cow;

/// The GPU a job is judged on.
pub(super) struct GpuChoice<'a> {
    /// Borrowed from the catalog unless adjusted (a MIG slice, a `gpu.memory` label).
    pub(super) spec: Cow<'a, GpuSpec>,
    pub(super) source: GpuSource,
    /// Advice about how it was chosen (mismatches, several candidates).
    pub(super) notes: Vec<String>,
}

/// Memory of a MIG profile such as `3g.40gb`: the number before `gb`, in 10^9 bytes. NVIDIA's
/// MIG user guide names profiles by compute slices (`3g`) and memory in GB; the driver reports
/// a little more than n x 10^9 bytes for each (e.g. 9.5 GiB = 10.2e9 for `1g.10gb`), so this is
/// a lower bound. Returns (compute slices, bytes).
pub(super) fn mig_profile(profile: &str) -> Option<(u32, u64)> {
    let (g, mem) = profile.split_once('.')?;
    let slices: u32 = g.strip_suffix('g')?.parse().ok()?;
    let gb: u64 = mem.to_ascii_lowercase().strip_suffix("gb")?.parse().ok()?;
    (slices > 0 && gb > 0).then_some((slices, gb.saturating_mul(1_000_000_000)))
}

/// A MIG slice as a GPU: the parent's memory replaced by the slice's, and compute and price
/// scaled by the compute slices out of 7 (A100/H100 have 7 GPCs for MIG; NVIDIA MIG user
/// guide).
pub(super) fn mig_slice(parent: &GpuSpec, profile: &str) -> Option<GpuSpec> {
    let (slices, bytes) = mig_profile(profile)?;
    let share = f64::from(slices.min(7)) / 7.0;
    let mut s = parent.clone();
    s.name = format!("{} MIG {profile}", parent.name);
    s.aliases.clear();
    s.gfd_products.clear();
    s.memory_bytes = bytes.min(parent.memory_bytes);
    s.dense_bf16_flops *= share;
    s.dense_fp16_flops *= share;
    s.dense_fp8_flops *= share;
    s.dense_fp32_flops *= share;
    s.usd_per_hour *= share;
    Some(s)
}

/// GPU Feature Discovery decorates a MIG node's product label (`NVIDIA-A100-SXM4-80GB-MIG-3g.40gb`);
/// the parent product is what precedes `-MIG-`.
pub(super) fn strip_mig_suffix(product: &str) -> &str {
    match product.to_ascii_uppercase().find("-MIG-") {
        Some(i) => &product[..i],
        None => product,
    }
}

pub(super) fn resolve_gpu<'s>(
    w: &Workload,
    annotated: Option<&str>,
    policy: &Policy,
    settings: &'s Settings,
    f: &mut Findings,
) -> Option<GpuChoice<'s>> {
    let catalog = &settings.catalog;
    let mut notes = Vec::new();
    // The fallback GPU: the annotation, else the namespace default.
    let fallback = match annotated {
        Some(name) => match catalog.find(name) {
            Some(g) => Some((Cow::Borrowed(g), GpuSource::Annotation)),
            None => {
                f.breach(
                    Reason::UnknownGpu,
                    format!(
                        "{PREFIX}gpu: '{name}' is not in the GPU catalog; closest: {} (vramgate catalog lists all)",
                        catalog.suggest(name).join(", ")
                    ),
                );
                None
            }
        },
        None => catalog.find(&policy.default_gpu).map(|g| (Cow::Borrowed(g), GpuSource::Default)),
    };

    let mut chosen: Vec<(Cow<'s, GpuSpec>, GpuSource)> = Vec::new();
    let mut failed = false;
    for g in w.gpu_pods() {
        let base: Option<(Cow<'s, GpuSpec>, GpuSource)> = if g.gpu_products.is_empty() {
            match (g.gpu_memory_mib, &fallback) {
                (Some(mib), Some((spec, _))) => {
                    let mut s = GpuSpec::clone(spec);
                    s.memory_bytes = mib.saturating_mul(MIB);
                    s.name = format!("{} ({mib} MiB)", spec.name);
                    Some((Cow::Owned(s), GpuSource::GpuMemoryLabel))
                }
                (None, Some(fb)) => Some(fb.clone()),
                (_, None) => None,
            }
        } else {
            let mut specs = Vec::new();
            for p in &g.gpu_products {
                let parent = if g.mig.is_empty() { p.as_str() } else { strip_mig_suffix(p) };
                match catalog.find_gfd_product(parent) {
                    Some(s) => specs.push(s),
                    None => {
                        failed = true;
                        f.breach(
                            Reason::UnknownGpu,
                            format!(
                                "{}: nvidia.com/gpu.product '{p}' is not in the GPU catalog; add it to the config's gpus (gfd_products: [{p}])",
                                g.role
                            ),
                        );
                    }
                }
            }
            specs.sort_by_key(|s| s.memory_bytes);
            if specs.len() > 1 && specs.iter().any(|s| s.name != specs[0].name) {
                notes.push(format!(
                    "{}: may land on {}; judged on the smallest, {}",
                    g.role,
                    specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" or "),
                    specs[0].name
                ));
            }
            if let (Some(s), Some(name)) = (specs.first(), annotated)
                && catalog.find(name).is_some_and(|a| a.name != s.name)
            {
                notes.push(format!("{PREFIX}gpu={name} ignored: {}'s node selector asks for {}", g.role, s.name));
            }
            specs.into_iter().next().map(|s| (Cow::Borrowed(s), GpuSource::NodeSelector))
        };
        let Some((mut spec, source)) = base else {
            failed = true;
            continue;
        };
        if let Some((profile, _)) =
            g.mig.iter().filter(|(_, n)| *n > 0).min_by_key(|(p, _)| mig_profile(p).map(|x| x.1))
        {
            match mig_slice(&spec, profile) {
                Some(s) => spec = Cow::Owned(s),
                None => {
                    failed = true;
                    f.breach(
                        Reason::UnknownGpu,
                        format!("{}: MIG profile '{profile}' is not of the form <n>g.<m>gb (e.g. 3g.40gb)", g.role),
                    );
                    continue;
                }
            }
        }
        chosen.push((spec, source));
    }
    if failed || chosen.is_empty() {
        return None;
    }
    chosen.sort_by_key(|(s, _)| s.memory_bytes);
    if chosen.iter().any(|(s, _)| s.name != chosen[0].0.name) {
        notes.push(format!("pod groups use different GPUs; judged on the smallest, {}", chosen[0].0.name));
    }
    let (spec, source) = chosen.swap_remove(0);
    Some(GpuChoice { spec, source, notes })
}

/// GPUs on one node when no inventory says: 8, the count on NVIDIA's HGX/DGX A100, H100 and
/// H200 systems (NVIDIA DGX H100/H200 user guide), the largest common GPU server.
pub(super) const TYPICAL_GPUS_PER_NODE: u32 = 8;

/// The most GPUs advice may name for `w` on `gpu`, and whether `w` is one pod that nothing
/// scales (a bare Pod): such a pod runs on one node, so advice never asks it for more GPUs
/// than a node holds (the inventory's largest node of that type, else
/// [`TYPICAL_GPUS_PER_NODE`]).
pub(super) fn advice_max_gpus(cluster: Option<ClusterView<'_>>, gpu: &str, w: &Workload, max_gpus: u32) -> (u32, bool) {
    let max_gpus = cluster_max_gpus(cluster, gpu, max_gpus);
    let one_pod = scaling_step(w).is_none() && w.gpu_pods().map(|g| g.pods).sum::<u64>() == 1;
    if !one_pod {
        return (max_gpus, false);
    }
    let per_node = match cluster.and_then(|v| v.inventory.pool(gpu)) {
        Some(p) => u32::try_from(p.max_gpus_per_node).unwrap_or(u32::MAX),
        None => TYPICAL_GPUS_PER_NODE,
    };
    (max_gpus.min(per_node), true)
}

/// The most GPUs of type `gpu` a plan may propose: the configured `max_gpus`, and with an
/// inventory no more than the cluster has of that type.
pub(super) fn cluster_max_gpus(cluster: Option<ClusterView<'_>>, gpu: &str, max_gpus: u32) -> u32 {
    match cluster.and_then(|v| v.inventory.pool(gpu)) {
        Some(p) => max_gpus.min(u32::try_from(p.gpus).unwrap_or(u32::MAX)),
        None => max_gpus,
    }
}

/// Whether no GPU pod group constrains its GPU type (no product, memory label or MIG).
pub(super) fn w_unconstrained(w: &Workload) -> bool {
    w.gpu_pods().all(|g| g.gpu_products.is_empty() && g.gpu_memory_mib.is_none() && g.mig.is_empty())
}

/// The GPU type for a job that names none, from the cluster's inventory under the
/// namespace's `gpu_choice`: among the types whose nodes can hold its pods and that have
/// enough GPUs, the smallest (least memory, then cheapest per hour) or the cheapest
/// (estimated cost, else price per hour) it fits on. When it fits on none, the largest such
/// type, so the denial names the best the cluster can do. `None` when the inventory has no
/// GPU type of the catalog.
pub(super) fn choose_from_inventory<'s>(
    job: &Job,
    w: &Workload,
    devices: u64,
    view: ClusterView<'_>,
    policy: &Policy,
    settings: &'s Settings,
) -> Option<GpuChoice<'s>> {
    let per_pod = w.gpu_pods().map(|g| g.gpus_per_pod).max().unwrap_or(0);
    let pools: Vec<(&GpuPool, &GpuSpec)> =
        view.inventory.full_gpu_pools().filter_map(|p| Some((p, settings.catalog.find(&p.gpu)?))).collect();
    let roomy: Vec<&(&GpuPool, &GpuSpec)> =
        pools.iter().filter(|(p, _)| per_pod <= p.max_gpus_per_node && devices <= p.gpus).collect();
    let total_bytes = memory::per_gpu(job).total_bytes;
    let fits = |g: &GpuSpec| estimate::validate(job, g).is_ok() && Fit::judge(total_bytes, g.memory_bytes) == Fit::Fits;
    let cost = |g: &GpuSpec| estimate::compute::compute(job, g).map_or(g.usd_per_hour * devices as f64, |c| c.cost_usd);
    let fitting: Vec<&GpuSpec> = roomy.iter().map(|(_, g)| *g).filter(|g| fits(g)).collect();
    let picked = match policy.gpu_choice {
        Choose::Smallest => fitting
            .iter()
            .copied()
            .min_by(|a, b| a.memory_bytes.cmp(&b.memory_bytes).then(a.usd_per_hour.total_cmp(&b.usd_per_hour))),
        // Each type's cost once (an estimate of its compute), not once per comparison.
        Choose::Cheapest => fitting
            .iter()
            .map(|g| (cost(g), *g))
            .min_by(|(ca, a), (cb, b)| ca.total_cmp(cb).then(a.memory_bytes.cmp(&b.memory_bytes)))
            .map(|(_, g)| g),
    };
    let (spec, note) = match picked {
        Some(g) => (
            g,
            format!(
                "no GPU type named: judged on {}, the {} type in the cluster that fits",
                g.name,
                policy.gpu_choice.as_str()
            ),
        ),
        None => {
            let largest = roomy
                .iter()
                .map(|(_, g)| *g)
                .max_by_key(|g| g.memory_bytes)
                .or_else(|| pools.iter().map(|(_, g)| *g).max_by_key(|g| g.memory_bytes))?;
            (
                largest,
                format!("no GPU type named and none in the cluster fits: judged on the largest, {}", largest.name),
            )
        }
    };
    Some(GpuChoice { spec: Cow::Borrowed(spec), source: GpuSource::Inventory, notes: vec![note] })
}
