//! Pod-spec reading shared by every kind: the GPUs (full and MIG) a pod asks for, the fields
//! that hold those counts, and the GPU product / memory its node selection pins it to.
//!
//! The per-pod GPU count follows Kubernetes' effective pod request (see "Pod-level resource
//! requests with init and sidecar containers" in the Kubernetes docs): the larger of the sum
//! over app containers and restartable sidecars (init containers with `restartPolicy:
//! Always`), and the largest plain init container plus the sidecars started before it. Plain
//! init containers run one at a time before the app starts, so their GPUs are reused, not
//! added; sidecars keep running, so theirs are.

use std::collections::{BTreeMap, BTreeSet};

use crate::json::{Json, Object};

use super::fields::{self, Errors, child, field, index};
use super::{DraClaim, ExtractConfig, PodGroup};

/// GPU-relevant node labels published by NVIDIA GPU feature discovery.
pub const PRODUCT_LABEL: &str = "nvidia.com/gpu.product";
const MEMORY_LABEL: &str = "nvidia.com/gpu.memory";

/// Largest float that still holds every whole number exactly; a GPU count beyond it written
/// as a float has lost digits, so it is refused rather than guessed.
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// How a group scales: its pod count and the field that drives it.
pub(super) struct Scale {
    pub(super) pods: u64,
    pub(super) replicas_pointer: Option<String>,
    pub(super) pods_per_replica: u64,
    pub(super) replicas_bounds: Option<(u64, u64)>,
}

impl Scale {
    /// A group nothing scales (a Pod, a Ray head): always one pod.
    pub(super) fn single() -> Self {
        Self { pods: 1, replicas_pointer: None, pods_per_replica: 0, replicas_bounds: None }
    }

    /// `replicas` units of `per_replica` pods each, scaled by the field at `pointer`.
    pub(super) fn replicas(replicas: u64, per_replica: u64, pointer: String) -> Self {
        Self {
            pods: replicas.saturating_mul(per_replica),
            replicas_pointer: Some(pointer),
            pods_per_replica: per_replica,
            replicas_bounds: None,
        }
    }

    /// The same scale, with the workload's own bounds on its replicas field.
    pub(super) fn bounded(self, bounds: Option<(u64, u64)>) -> Self {
        Self { replicas_bounds: bounds, ..self }
    }
}

/// Builds the group of `holder.template` (a PodTemplateSpec, required): `holder` is the
/// replica spec / task / group object at pointer `holder_ptr`.
pub(super) fn template_group(
    role: &str,
    scale: Scale,
    holder: &Object<'_>,
    holder_ptr: &str,
    cfg: &ExtractConfig,
    errs: &mut Errors,
) -> Option<PodGroup> {
    template_group_at(role, scale, holder, "template", holder_ptr, cfg, errs)
}

/// Like [`template_group`], for a template under another key (LeaderWorkerSet's
/// `leaderTemplate` / `workerTemplate`).
pub(super) fn template_group_at(
    role: &str,
    scale: Scale,
    holder: &Object<'_>,
    key: &str,
    holder_ptr: &str,
    cfg: &ExtractConfig,
    errs: &mut Errors,
) -> Option<PodGroup> {
    let template = fields::required_object(holder, key, holder_ptr, errs)?;
    let template_ptr = child(holder_ptr, key);
    let spec = fields::required_object(template, "spec", &template_ptr, errs)?;
    Some(group(role, scale, spec, &child(&template_ptr, "spec"), None, cfg, errs))
}

/// GPU requests of one container.
#[derive(Debug, Default)]
struct ContainerGpus {
    full: u64,
    /// Pointers to the full-GPU quantities that make up `full`.
    pointers: Vec<String>,
    mig: BTreeMap<String, u64>,
    /// Accelerator-like resources not configured as GPUs: name → quantity as written.
    unseen: BTreeMap<String, String>,
}

/// Builds a group from a pod spec object at `spec_ptr`: what one pod asks for, `scale` pods
/// of it. `extra` names `spec[extra]`, a single container object (KServe's predictor `model`)
/// read as one more app container; with it, `containers` may be absent.
pub(super) fn group(
    role: &str,
    scale: Scale,
    spec: &Object<'_>,
    spec_ptr: &str,
    extra: Option<&str>,
    cfg: &ExtractConfig,
    errs: &mut Errors,
) -> PodGroup {
    let mut app = containers(spec, "containers", spec_ptr, false, cfg, errs);
    let init = containers(spec, "initContainers", spec_ptr, true, cfg, errs);
    let extra = extra.and_then(|key| Some((key, fields::opt_object(spec, key, spec_ptr, errs)?)));
    if let Some((key, c)) = extra {
        app.push((false, container_gpus(c, &child(spec_ptr, key), cfg, errs)));
    }
    if field(spec, "containers").is_none() && extra.is_none() {
        errs.push(child(spec_ptr, "containers"), "containers is required: a pod needs at least one container");
    }

    let full_app: Vec<u64> = app.iter().map(|(_, c)| c.full).collect();
    let full_init: Vec<(bool, u64)> = init.iter().map(|(s, c)| (*s, c.full)).collect();
    let (gpus_per_pod, winner) = effective_request(&full_app, &full_init);
    let gpu_pointers = winning_pointers(&app, &init, winner);

    let profiles: BTreeSet<&String> = app.iter().chain(init.iter()).flat_map(|(_, c)| c.mig.keys()).collect();
    let mut mig = Vec::new();
    for profile in profiles {
        let per = |c: &ContainerGpus| c.mig.get(profile).copied().unwrap_or(0);
        let a: Vec<u64> = app.iter().map(|(_, c)| per(c)).collect();
        let i: Vec<(bool, u64)> = init.iter().map(|(s, c)| (*s, per(c))).collect();
        let (n, _) = effective_request(&a, &i);
        if n > 0 {
            mig.push((profile.clone(), n));
        }
    }

    // A pod gets either whole GPUs or MIG slices: the device plugin's "mixed" strategy can
    // expose both, but the memory estimate per device would be meaningless for the pod.
    if gpus_per_pod > 0 && !mig.is_empty() {
        let profiles: Vec<String> = mig.iter().map(|(p, _)| format!("{}{p}", cfg.mig_resource_prefix)).collect();
        errs.push(
            spec_ptr,
            format!(
                "the pod asks for {gpus_per_pod} full GPU(s) and for MIG devices ({}); \
                 use either full GPUs or MIG devices in one pod, not both",
                profiles.join(", ")
            ),
        );
    }

    let (gpu_products, gpu_memory_mib) = node_constraints(spec, spec_ptr, errs);
    let dra_claims = pod_claims(spec, spec_ptr, errs);
    // Reported per name, the largest any one container asks for: enough to name them.
    let mut unseen: BTreeMap<String, String> = BTreeMap::new();
    for (_, c) in app.iter().chain(init.iter()) {
        for (name, q) in &c.unseen {
            unseen.entry(name.clone()).or_insert_with(|| q.clone());
        }
    }
    let gpu_product = match gpu_products.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    PodGroup {
        role: role.to_owned(),
        pods: scale.pods,
        replicas_pointer: scale.replicas_pointer,
        pods_per_replica: scale.pods_per_replica,
        replicas_bounds: scale.replicas_bounds,
        gpus_per_pod,
        mig,
        gpu_limit_pointers: gpu_pointers,
        pod_template_pointer: spec_ptr.to_owned(),
        gpu_product,
        gpu_products,
        gpu_memory_mib,
        dra_claims,
        unseen_resources: unseen.into_iter().collect(),
        // Filled by `extract` once every group is read (`record_object_fields`).
        product_in_affinity: false,
        has_node_selector: false,
        replicas_written: None,
        completions_written: None,
    }
}

/// The pod's `spec.resourceClaims` (Kubernetes API, PodSpec; Dynamic Resource Allocation, GA
/// in Kubernetes 1.34): each names a `resourceClaimTemplateName` or a `resourceClaimName`.
fn pod_claims(spec: &Object<'_>, spec_ptr: &str, errs: &mut Errors) -> Vec<DraClaim> {
    let Some(list) = fields::opt_array(spec, "resourceClaims", spec_ptr, errs) else {
        return Vec::new();
    };
    let list_ptr = child(spec_ptr, "resourceClaims");
    let mut out = Vec::new();
    for (_, c_ptr, c) in fields::object_items(list, &list_ptr, "resource claim", errs) {
        let name = fields::opt_string(c, "name", &c_ptr, errs).unwrap_or("").to_owned();
        let template = fields::opt_string(c, "resourceClaimTemplateName", &c_ptr, errs).map(str::to_owned);
        let claim = fields::opt_string(c, "resourceClaimName", &c_ptr, errs).map(str::to_owned);
        out.push(DraClaim { name, template, claim, pointer: c_ptr });
    }
    out
}

/// Whether a resource name looks like an accelerator: `*/gpu`, `*/gpu.*`, `*/gpu-*`,
/// `*/mig-*`, or any resource of `nvidia.com`, `amd.com`, `gpu.intel.com` or `habana.ai`
/// (the device plugins' resource names: NVIDIA `nvidia.com/gpu` and `nvidia.com/gpu.shared`
/// for time-slicing, AMD `amd.com/gpu`, Intel `gpu.intel.com/i915` and `gpu.intel.com/xe`,
/// Habana `habana.ai/gaudi`). Core resources (`cpu`, `memory`, `hugepages-*`) have no `/`.
#[must_use]
pub fn looks_like_accelerator(name: &str) -> bool {
    let Some((domain, res)) = name.split_once('/') else { return false };
    res == "gpu"
        || res.starts_with("gpu.")
        || res.starts_with("gpu-")
        || res.starts_with("mig-")
        || matches!(domain, "nvidia.com" | "amd.com" | "gpu.intel.com" | "habana.ai")
}

/// Which side of the effective-request rule decided the pod's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Winner {
    /// App containers plus all sidecars.
    Steady,
    /// The init container at this index, plus the sidecars started before it.
    Init(usize),
}

/// Kubernetes' effective request for one resource. `init` is in start order, `true` marking a
/// restartable sidecar. Ties go to the steady state, whose containers run longest.
fn effective_request(app: &[u64], init: &[(bool, u64)]) -> (u64, Winner) {
    let mut sidecars = 0u64;
    let mut best = (0u64, None);
    for (i, &(is_sidecar, n)) in init.iter().enumerate() {
        let during = if is_sidecar {
            sidecars = sidecars.saturating_add(n);
            sidecars
        } else {
            n.saturating_add(sidecars)
        };
        if during > best.0 {
            best = (during, Some(i));
        }
    }
    let steady = app.iter().fold(sidecars, |acc, &n| acc.saturating_add(n));
    match best {
        (during, Some(i)) if during > steady => (during, Winner::Init(i)),
        _ => (steady, Winner::Steady),
    }
}

fn winning_pointers(app: &[(bool, ContainerGpus)], init: &[(bool, ContainerGpus)], winner: Winner) -> Vec<String> {
    let take = |c: &ContainerGpus| (c.full > 0).then(|| c.pointers.clone());
    let from_init = |i: usize, sidecar: bool| match winner {
        Winner::Steady => sidecar,
        Winner::Init(w) => i == w || (sidecar && i < w),
    };
    let mut out = Vec::new();
    for (i, (sidecar, c)) in init.iter().enumerate() {
        if from_init(i, *sidecar) {
            out.extend(take(c).into_iter().flatten());
        }
    }
    if winner == Winner::Steady {
        for (_, c) in app {
            out.extend(take(c).into_iter().flatten());
        }
    }
    out
}

/// Reads `spec[key]` (a container list). For init containers the bool marks sidecars.
fn containers(
    spec: &Object<'_>,
    key: &str,
    spec_ptr: &str,
    init: bool,
    cfg: &ExtractConfig,
    errs: &mut Errors,
) -> Vec<(bool, ContainerGpus)> {
    let Some(list) = fields::opt_array(spec, key, spec_ptr, errs) else {
        return Vec::new();
    };
    let list_ptr = child(spec_ptr, key);
    if !init && list.is_empty() {
        errs.push(&list_ptr, "containers must list at least one container, got an empty list");
    }
    let mut out = Vec::with_capacity(list.len());
    for (_, c_ptr, c) in fields::object_items(list, &list_ptr, "container", errs) {
        let sidecar = init && fields::opt_string(c, "restartPolicy", &c_ptr, errs) == Some("Always");
        out.push((sidecar, container_gpus(c, &c_ptr, cfg, errs)));
    }
    out
}

/// What a resource name is, for GPU purposes.
enum Resource<'a> {
    Full,
    Mig(&'a str),
    Other,
}

fn classify<'a>(name: &'a str, cfg: &ExtractConfig) -> Resource<'a> {
    if cfg.gpu_resource_names.iter().any(|g| g == name) {
        Resource::Full
    } else if let Some(profile) = name.strip_prefix(cfg.mig_resource_prefix.as_str()) {
        Resource::Mig(profile)
    } else {
        Resource::Other
    }
}

fn container_gpus(c: &Object<'_>, c_ptr: &str, cfg: &ExtractConfig, errs: &mut Errors) -> ContainerGpus {
    let mut out = ContainerGpus::default();
    let Some(resources) = fields::opt_object(c, "resources", c_ptr, errs) else {
        return out;
    };
    let r_ptr = child(c_ptr, "resources");
    let limits = fields::opt_object(resources, "limits", &r_ptr, errs);
    let requests = fields::opt_object(resources, "requests", &r_ptr, errs);
    let l_ptr = child(&r_ptr, "limits");
    let q_ptr = child(&r_ptr, "requests");

    for (name, v) in limits.into_iter().chain(requests).flat_map(|m| m.iter()) {
        if matches!(classify(name, cfg), Resource::Other) && looks_like_accelerator(name) {
            let q = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            if q != "0" {
                out.unseen.entry(name.to_owned()).or_insert(q);
            }
        }
    }

    // Every GPU-like name either side mentions, once each.
    let names: BTreeSet<&str> = limits
        .into_iter()
        .chain(requests)
        .flat_map(|m| m.keys())
        .filter(|k| !matches!(classify(k, cfg), Resource::Other))
        .collect();
    for name in names {
        let kind = classify(name, cfg);
        let unit = match kind {
            Resource::Mig(_) => "MIG devices",
            _ => "GPUs",
        };
        let read = |m: Option<&Object<'_>>, base: &str, errs: &mut Errors| {
            let v = m.and_then(|m| field(m, name))?;
            let path = child(base, name);
            let n = quantity(v, name, unit, &path, errs)?;
            Some((n, path))
        };
        let limit = read(limits, &l_ptr, errs);
        let request = read(requests, &q_ptr, errs);
        // Kubernetes takes extended resources from limits (requests default to them) and
        // requires the two to be equal when both are given.
        let n = match (&limit, &request) {
            (Some((l, _)), Some((q, q_path))) if l != q => {
                errs.push(
                    q_path.clone(),
                    format!(
                        "{name} request ({q}) must equal its limit ({l}): Kubernetes does not \
                         overcommit extended resources"
                    ),
                );
                *l
            }
            (Some((l, _)), _) => *l,
            (None, Some((q, _))) => *q,
            (None, None) => continue,
        };
        match kind {
            Resource::Full => {
                out.full = out.full.saturating_add(n);
                out.pointers.extend(limit.into_iter().chain(request).map(|(_, p)| p));
            }
            Resource::Mig(profile) => {
                if profile.is_empty() {
                    let path = limit.or(request).map(|(_, p)| p).unwrap_or_default();
                    errs.push(path, format!("{name} names no MIG profile (expected e.g. {name}3g.40gb)"));
                } else if n > 0 {
                    let slot = out.mig.entry(profile.to_owned()).or_insert(0);
                    *slot = slot.saturating_add(n);
                }
            }
            Resource::Other => {}
        }
    }
    out
}

/// A device count: a non-negative JSON integer (or a float with no fractional part, as a
/// YAML `8.0` decodes), or a string of decimal digits. Kubernetes would also take quantity
/// spellings such as `1e1` or `1k`; nobody counts GPUs that way, so such a value is far more
/// likely a mistake than intent, and the error says how to write it.
fn quantity(v: &Json<'_>, name: &str, unit: &str, path: &str, errs: &mut Errors) -> Option<u64> {
    let parsed = match v {
        Json::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= MAX_EXACT_FLOAT)
                // The filter above makes this cast exact.
                .map(|f| f as u64)
        }),
        Json::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<u64>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        errs.push(
            path,
            format!(
                "{name} must be a whole number of {unit}, got {}; write a plain count such as 1 \
                 or \"8\"",
                v.describe()
            ),
        );
    }
    parsed
}

/// GPU products and the least GPU memory the pod's node selection allows.
///
/// `nodeSelector` must match; of the required node affinity, any one `nodeSelectorTerm` must
/// match, and within a term all expressions must. So a term constrains the product only when
/// one of its expressions is `In`; if any term leaves the product open, the affinity does.
fn node_constraints(spec: &Object<'_>, spec_ptr: &str, errs: &mut Errors) -> (Vec<String>, Option<u64>) {
    let selector = fields::string_map(spec, "nodeSelector", spec_ptr, errs);
    let terms = required_terms(spec, spec_ptr, errs);

    let selected_product = selector.get(PRODUCT_LABEL);
    let affinity_products = terms.as_ref().and_then(|ts| {
        ts.iter()
            .map(|t| t.products.clone())
            .collect::<Option<Vec<BTreeSet<String>>>>()
            .map(|sets| sets.into_iter().flatten().collect::<BTreeSet<String>>())
    });
    let products: Vec<String> = match (selected_product, affinity_products) {
        // Both must hold; if they disagree nothing can schedule, which is the scheduler's
        // message to give, so no product is claimed.
        (Some(p), Some(set)) => set.contains(p).then(|| p.clone()).into_iter().collect(),
        (Some(p), None) => vec![p.clone()],
        (None, Some(set)) => set.into_iter().collect(),
        (None, None) => Vec::new(),
    };

    let memory = match selector.get(MEMORY_LABEL) {
        Some(m) => {
            let path = child(&child(spec_ptr, "nodeSelector"), MEMORY_LABEL);
            mib(m, &path, errs)
        }
        None => terms.and_then(|ts| {
            ts.iter().map(|t| t.memory_floor).collect::<Option<Vec<u64>>>().and_then(|floors| floors.into_iter().min())
        }),
    };
    (products, memory)
}

/// What one required `nodeSelectorTerm` says about GPUs; `None` means "any".
struct Term {
    products: Option<BTreeSet<String>>,
    memory_floor: Option<u64>,
}

/// The required node-affinity terms, or `None` when there are none (no constraint).
fn required_terms(spec: &Object<'_>, spec_ptr: &str, errs: &mut Errors) -> Option<Vec<Term>> {
    let mut ptr = spec_ptr.to_owned();
    let mut obj = spec;
    for key in ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"] {
        obj = fields::opt_object(obj, key, &ptr, errs)?;
        ptr = child(&ptr, key);
    }
    let list = fields::opt_array(obj, "nodeSelectorTerms", &ptr, errs)?;
    let list_ptr = child(&ptr, "nodeSelectorTerms");
    let terms: Vec<Term> = fields::object_items(list, &list_ptr, "node selector term", errs)
        .into_iter()
        .map(|(_, t_ptr, t)| term(t, &t_ptr, errs))
        .collect();
    // An empty term list matches no node; treat it as saying nothing about GPUs.
    (!terms.is_empty()).then_some(terms)
}

fn term(t: &Object<'_>, t_ptr: &str, errs: &mut Errors) -> Term {
    let mut out = Term { products: None, memory_floor: None };
    let Some(exprs) = fields::opt_array(t, "matchExpressions", t_ptr, errs) else {
        return out;
    };
    let list_ptr = child(t_ptr, "matchExpressions");
    for (_, e_ptr, e) in fields::object_items(exprs, &list_ptr, "match expression", errs) {
        let key = fields::opt_string(e, "key", &e_ptr, errs);
        let op = fields::opt_string(e, "operator", &e_ptr, errs);
        if !matches!(key, Some(PRODUCT_LABEL | MEMORY_LABEL)) {
            continue;
        }
        let values = string_list(e, &e_ptr, errs);
        match (key, op) {
            (Some(PRODUCT_LABEL), Some("In")) => {
                let set: BTreeSet<String> = values.into_iter().map(|(v, _)| v.to_owned()).collect();
                // Expressions of one term all apply: intersect.
                out.products = Some(match out.products.take() {
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                    None => set,
                });
            }
            (Some(MEMORY_LABEL), Some(op @ ("In" | "Gt"))) => {
                let parsed: Vec<u64> = values.into_iter().filter_map(|(v, p)| mib(v, &p, errs)).collect();
                // `In` allows any listed size (the floor is the smallest); `Gt v` means more
                // than v MiB.
                let floor = if op == "In" {
                    parsed.into_iter().min()
                } else {
                    parsed.into_iter().max().map(|v| v.saturating_add(1))
                };
                out.memory_floor = out.memory_floor.max(floor);
            }
            _ => {}
        }
    }
    out
}

/// The `values` of a match expression, each with its pointer.
fn string_list<'a>(e: &'a Object<'a>, e_ptr: &str, errs: &mut Errors) -> Vec<(&'a str, String)> {
    let Some(values) = fields::opt_array(e, "values", e_ptr, errs) else {
        return Vec::new();
    };
    let v_ptr = child(e_ptr, "values");
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let p = index(&v_ptr, i);
        match v.as_str() {
            Some(s) => out.push((s, p)),
            None => errs.push(p, format!("a value must be a string, got {}", v.describe())),
        }
    }
    out
}

/// A `nvidia.com/gpu.memory` label value: MiB as decimal digits.
fn mib(v: &str, path: &str, errs: &mut Errors) -> Option<u64> {
    let parsed = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse::<u64>().ok()).flatten();
    if parsed.is_none() {
        errs.push(
            path,
            format!(
                "{MEMORY_LABEL} must be the GPU memory in MiB as digits (e.g. \"81920\"), got {}",
                Json::from(v).describe()
            ),
        );
    }
    parsed
}
