//! The one plan search: a configuration that fits, chosen under an explicit [`Objective`].
//!
//! `vramgate estimate`, `vramgate check` and both webhooks (the advice a denial names and the
//! mutating webhook's patch) call [`search`], so the same job under the same objective gets
//! the same plan whichever door it came in by. Pure.
//!
//! Candidates, for each allowed GPU type (README, "Plans and objectives"):
//! - training: the job's strategy and (if settings may change) its ZeRO or FSDP family,
//!   activation checkpointing as given or on, the micro-batch as given or halved (for an
//!   activation-bound job, keeping the global batch with gradient accumulation), and for
//!   LoRA under mixed precision, 16-bit base weights (`bf16-true`/`fp16-true`);
//! - inference: tensor parallelism (the GPUs of one replica) and weight quantisation (int8,
//!   int4); never a training setting;
//! - the GPU count: the fewest in the search's count lattice with which the candidate fits
//!   and runs within `max_plan_hours` (under `time`, at least the GPUs the job asks for).

use super::compute;
use super::gpu::GpuSpec;
use super::job::Job;
use super::memory;
use super::options::{FineTuningKind, Precision, Strategy, UnknownChoice, WeightQuantization, WorkloadKind, choice};
use super::{Estimate, Fit, fewest, validate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest wall-clock time of a plan, unless the config says otherwise: 2,160 hours (90 days).
/// A plan that would run longer is no plan (the search adds GPUs to meet it, or proposes
/// nothing); 90 days is the longest published dense pre-training run we know of at its scale
/// (Llama 3.1 405B: 54 days, Dubey et al. 2024, section 3.3.4) with a margin.
pub const DEFAULT_MAX_PLAN_HOURS: f64 = 2160.0;

choice!(
    /// What the plan search minimises.
    #[derive(Default)]
    Objective, "objective", {
    /// Fewest GPUs, then lowest cost, then shortest time.
    Gpus => ["gpus"],
    /// Lowest estimated cost (GPU-hours x price; the price per hour without a token count),
    /// then fewest GPUs, then shortest time.
    #[default]
    Cost => ["cost"],
    /// Shortest wall-clock time at the GPUs the job asks for (or the fewest that fit, if more),
    /// then lowest cost, then fewest GPUs. Without a token count, as `gpus`.
    Time => ["time"],
});

/// A configuration that fits, and what it changes. Training fields are `None` for inference
/// (and left out of its JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The objective it was chosen under.
    pub objective: Objective,
    pub gpu: String,
    pub gpus: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_checkpointing: Option<bool>,
    pub micro_batch_size: u32,
    /// Gradient-accumulation steps for each step of the job's own micro-batch when the plan
    /// lowers the micro-batch: `job micro-batch / plan micro-batch`, which keeps the sequences
    /// each GPU sees per optimizer step (so the global batch, at the same data-parallel size).
    /// `None` when the micro-batch is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_accumulation_steps: Option<u32>,
    pub precision: Precision,
    pub tensor_parallel: u32,
    pub weight_quantization: WeightQuantization,
    /// The settings it changes, as `(key, value)` of the `vramgate.io/` contract, in a fixed
    /// order; the GPU count and type are `gpus` and `gpu`.
    pub changes: Vec<(String, String)>,
    pub per_gpu_total_bytes: u64,
    pub gpu_hours: Option<f64>,
    /// Wall-clock hours on `gpus` GPUs at the job's MFU (`compute.rs`); never above the
    /// search's `max_plan_hours`.
    pub wall_hours: Option<f64>,
    pub cost_usd: Option<f64>,
    /// What it costs per hour to hold the plan's GPUs.
    pub usd_per_hour: f64,
}

/// The GPU counts a search may propose: `base + k x step` for `k` in `min_steps..=max_steps`,
/// at most `max_gpus`. `step` 0: only `base`. With `base` 0, counts are also multiples of the
/// candidate's tensor x pipeline degree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuCounts {
    pub base: u32,
    pub step: u32,
    pub min_steps: u32,
    pub max_steps: u32,
    pub max_gpus: u32,
}

impl GpuCounts {
    /// Any multiple of `step` from `step` up to `max_gpus`.
    pub fn multiples(step: u32, max_gpus: u32) -> Self {
        Self { base: 0, step: step.max(1), min_steps: 1, max_steps: u32::MAX, max_gpus }
    }
}

/// Which plans the search may propose.
#[derive(Debug, Clone)]
pub struct PlanSearch<'a> {
    /// GPU types allowed (the job's own first: on a tie it is kept).
    pub gpus: Vec<&'a GpuSpec>,
    pub counts: GpuCounts,
    pub objective: Objective,
    /// Longest wall-clock time of a plan ([`DEFAULT_MAX_PLAN_HOURS`]).
    pub max_plan_hours: f64,
    /// Whether the plan may change the job's settings (training: strategy, checkpointing,
    /// micro-batch, LoRA base precision; inference: tensor parallelism, weight quantisation).
    /// The mutating webhook's patch may not: it changes only GPU count and type.
    pub change_settings: bool,
}

/// One setting of the job a candidate may change.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    strategy: Strategy,
    checkpointing: bool,
    micro_batch: u32,
    precision: Precision,
    tensor_parallel: u32,
    quantization: WeightQuantization,
}

impl Variant {
    fn of(job: &Job) -> Self {
        Self {
            strategy: job.strategy,
            checkpointing: job.activation_checkpointing,
            micro_batch: job.micro_batch_size,
            precision: job.precision,
            tensor_parallel: job.tensor_parallel,
            quantization: job.weight_quantization,
        }
    }
    fn apply(self, j: &mut Job) {
        j.strategy = self.strategy;
        j.activation_checkpointing = self.checkpointing;
        j.micro_batch_size = self.micro_batch;
        j.precision = self.precision;
        j.tensor_parallel = self.tensor_parallel;
        j.weight_quantization = self.quantization;
    }
}

/// Whether activations (with logits) outweigh the model states on one GPU: then a smaller
/// micro-batch is worth proposing.
pub fn activation_bound(job: &Job) -> bool {
    let m = memory::per_gpu(job);
    m.activations_bytes.saturating_add(m.logits_bytes)
        >= m.weights_bytes
            .saturating_add(m.gradients_bytes)
            .saturating_add(m.optimizer_states_bytes)
            .saturating_add(m.optimizer_temporaries_bytes)
}

/// The job's own settings first, then every change allowed, each dimension's own value first.
fn variants(job: &Job, change: bool) -> Vec<Variant> {
    let own = Variant::of(job);
    if !change {
        return vec![own];
    }
    let mut out = Vec::new();
    match job.workload {
        WorkloadKind::Inference => {
            // Tensor parallelism over 1..8 GPUs of one node (NVLink domain of an HGX board),
            // never below the job's own degree; quantisation only ever coarser.
            let mut tps = vec![job.tensor_parallel];
            tps.extend([2, 4, 8].into_iter().filter(|t| *t > job.tensor_parallel));
            let mut quants = vec![job.weight_quantization];
            match job.weight_quantization {
                WeightQuantization::None => quants.extend([WeightQuantization::Int8, WeightQuantization::Int4]),
                WeightQuantization::Int8 => quants.push(WeightQuantization::Int4),
                _ => {}
            }
            for &quantization in &quants {
                for &tensor_parallel in &tps {
                    out.push(Variant { tensor_parallel, quantization, ..own });
                }
            }
        }
        WorkloadKind::Training => {
            let mut strategies = vec![job.strategy];
            let family = if matches!(job.strategy, Strategy::Fsdp | Strategy::FsdpShardGradOp | Strategy::FsdpHybrid) {
                &[Strategy::FsdpShardGradOp, Strategy::Fsdp][..]
            } else {
                &[Strategy::Zero1, Strategy::Zero2, Strategy::Zero3][..]
            };
            strategies.extend(family.iter().copied().filter(|s| *s != job.strategy));
            let mut checkpointing = vec![job.activation_checkpointing];
            if !job.activation_checkpointing {
                checkpointing.push(true);
            }
            // Halvings of the micro-batch that divide it, for an activation-bound job.
            let mut micro = vec![job.micro_batch_size];
            if activation_bound(job) {
                let mut b = job.micro_batch_size;
                while b > 1 && b.is_multiple_of(2) {
                    b /= 2;
                    micro.push(b);
                }
            }
            // LoRA under mixed precision keeps fp32 base weights (PEFT loads them as given;
            // AMP does not cast parameters): 16-bit base weights halve them.
            let mut precisions = vec![job.precision];
            if job.fine_tuning.kind == FineTuningKind::Lora {
                match job.precision {
                    Precision::Bf16Mixed => precisions.push(Precision::Bf16True),
                    Precision::Fp16Mixed => precisions.push(Precision::Fp16True),
                    _ => {}
                }
            }
            for &precision in &precisions {
                for &micro_batch in &micro {
                    for &checkpointing in &checkpointing {
                        for &strategy in &strategies {
                            out.push(Variant { strategy, checkpointing, micro_batch, precision, ..own });
                        }
                    }
                }
            }
        }
    }
    out
}

/// The `(key, value)` changes of `v` against `job`, in contract key order.
fn changes(job: &Job, v: &Variant) -> Vec<(String, String)> {
    let mut c = Vec::new();
    changed(&mut c, "precision", job.precision, v.precision);
    changed(&mut c, "micro-batch-size", job.micro_batch_size, v.micro_batch);
    changed(&mut c, "activation-checkpointing", job.activation_checkpointing, v.checkpointing);
    changed(&mut c, "strategy", job.strategy, v.strategy);
    changed(&mut c, "tensor-parallel", job.tensor_parallel, v.tensor_parallel);
    changed(&mut c, "weight-quantization", job.weight_quantization, v.quantization);
    c
}

/// Records `key` with the new value when it differs from the job's own.
fn changed<T: PartialEq + fmt::Display>(c: &mut Vec<(String, String)>, key: &str, own: T, new: T) {
    if new != own {
        c.push((key.to_string(), new.to_string()));
    }
}

/// What a plan is ranked by: cost (the estimated cost, else the price per hour), wall-clock
/// hours (`f64::INFINITY` unknown) and GPUs.
fn keys(p: &Plan) -> [f64; 3] {
    let cost = p.cost_usd.unwrap_or(p.usd_per_hour);
    let time = p.wall_hours.unwrap_or(f64::INFINITY);
    let gpus = f64::from(p.gpus);
    match p.objective {
        Objective::Gpus => [gpus, cost, time],
        Objective::Cost => [cost, gpus, time],
        Objective::Time if p.wall_hours.is_some() => [time, cost, gpus],
        Objective::Time => [gpus, cost, time],
    }
}

/// Whether `a` ranks strictly before `b` under their objective (a tie within a relative 1e-9
/// keeps `b`, the earlier candidate). The one ranking every plan search uses.
pub fn ranks_before(a: &Plan, b: &Plan) -> bool {
    for (x, y) in keys(a).into_iter().zip(keys(b)) {
        if x == y {
            continue;
        }
        let tol = 1e-9 * x.abs().max(y.abs());
        if x.is_finite() && y.is_finite() && (x - y).abs() <= tol {
            continue;
        }
        return x < y;
    }
    false
}

/// Whether `job` (at `job.gpus`) fits `gpu` and runs within `max_hours`; `totals` holds the
/// candidate's per-GPU memory by count.
fn feasible(job: &Job, gpu: &GpuSpec, totals: &mut Totals, max_hours: f64) -> bool {
    validate(job, gpu).is_ok()
        && Fit::judge(totals.of(job), gpu.memory_bytes) == Fit::Fits
        && compute::compute(job, gpu).is_none_or(|c| c.wall_hours <= max_hours)
}

/// Per-GPU totals of one candidate by GPU count, computed once: the memory does not depend on
/// the GPU type, and every type's search visits the same counts (the largest, then halvings),
/// so the search over the catalog computes each count's memory once instead of once per type.
#[derive(Default)]
struct Totals(Vec<(u32, u64)>);

impl Totals {
    fn of(&mut self, job: &Job) -> u64 {
        if let Some(&(_, bytes)) = self.0.iter().find(|(gpus, _)| *gpus == job.gpus) {
            return bytes;
        }
        let bytes = memory::per_gpu(job).total_bytes;
        self.0.push((job.gpus, bytes));
        bytes
    }
}

/// The plan for `job` as it stands (settings, GPU type and count).
fn plan_of(job: &Job, original: &Job, v: &Variant, gpu: &GpuSpec, objective: Objective, total_bytes: u64) -> Plan {
    let c = compute::compute(job, gpu);
    let training = job.workload == WorkloadKind::Training;
    Plan {
        objective,
        gpu: gpu.name.clone(),
        gpus: job.gpus,
        strategy: training.then_some(job.strategy),
        activation_checkpointing: training.then_some(job.activation_checkpointing),
        micro_batch_size: job.micro_batch_size,
        gradient_accumulation_steps: (job.micro_batch_size != original.micro_batch_size)
            .then(|| original.micro_batch_size / job.micro_batch_size.max(1)),
        precision: job.precision,
        tensor_parallel: job.tensor_parallel,
        weight_quantization: job.weight_quantization,
        changes: changes(original, v),
        per_gpu_total_bytes: total_bytes,
        gpu_hours: c.map(|c| c.gpu_hours),
        wall_hours: c.map(|c| c.wall_hours),
        cost_usd: c.map(|c| c.cost_usd),
        usd_per_hour: gpu.usd_per_hour * f64::from(job.gpus),
    }
}

/// Least common multiple (saturating): the counts that are whole pods and whole model replicas.
fn lcm(a: u32, b: u32) -> u32 {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    (a / x.max(1)).saturating_mul(b)
}

/// The best plan for `job` under `s`: `None` when no candidate fits within the counts and the
/// time cap.
pub fn search(job: &Job, s: &PlanSearch<'_>) -> Option<Plan> {
    let mut best: Option<Plan> = None;
    // One copy of the job for the whole search: each candidate sets every field it changes.
    let mut j = job.clone();
    for v in variants(job, s.change_settings) {
        v.apply(&mut j);
        let mut totals = Totals::default();
        let c = s.counts;
        let step = if c.base == 0 {
            lcm(c.step.max(1), j.tensor_parallel.max(1).saturating_mul(j.pipeline_parallel.max(1)))
        } else {
            c.step
        };
        let count = |k: u32| -> Option<u32> {
            let n = u64::from(c.base) + u64::from(k) * u64::from(step);
            u32::try_from(n).ok().filter(|n| *n >= 1 && *n <= c.max_gpus)
        };
        let max_k = c.max_gpus.saturating_sub(c.base).checked_div(step).map_or(c.min_steps, |k| c.max_steps.min(k));
        if max_k < c.min_steps {
            continue;
        }
        for gpu in &s.gpus {
            let span = u64::from(max_k - c.min_steps) + 1;
            let Some(i) = fewest(span, |i| {
                count(c.min_steps + i as u32 - 1).is_some_and(|n| {
                    j.gpus = n;
                    feasible(&j, gpu, &mut totals, s.max_plan_hours)
                })
            }) else {
                continue;
            };
            let mut k = c.min_steps + i as u32 - 1;
            // Under `time`, no fewer GPUs than the job asks for (more only shortens the run
            // by the count; the search does not add GPUs beyond those asked for or needed).
            if s.objective == Objective::Time && step > 0 && job.gpus > c.base {
                let asked = ((job.gpus - c.base) / step).min(max_k);
                if asked > k {
                    k = asked;
                }
            }
            let Some(n) = count(k) else { continue };
            j.gpus = n;
            let p = plan_of(&j, job, &v, gpu, s.objective, totals.of(&j));
            if best.as_ref().is_none_or(|b| ranks_before(&p, b)) {
                best = Some(p);
            }
        }
    }
    best
}

/// Why [`search`] found nothing, when it is the time cap: the plan it would propose without
/// the cap, and the shortest time that plan could run in on the most GPUs the search allows.
pub fn over_time_limit(job: &Job, s: &PlanSearch<'_>) -> Option<(Plan, f64)> {
    let uncapped = PlanSearch { max_plan_hours: f64::INFINITY, ..s.clone() };
    let p = search(job, &uncapped)?;
    let shortest = p.gpu_hours? / f64::from(s.counts.max_gpus.max(1));
    Some((p, shortest))
}

/// A wall-clock time as people say it: hours up to two days, then days up to a year, then years.
pub fn hours_text(hours: f64) -> String {
    if hours < 48.0 {
        format!("{hours:.1} h")
    } else if hours < 24.0 * 365.0 {
        format!("{:.1} days", hours / 24.0)
    } else {
        format!("{:.1} years", hours / (24.0 * 365.0))
    }
}

/// Notes on what the job's precision means when it has no effect on memory (QLoRA) or when
/// a LoRA job keeps fp32 base weights; pushed onto [`Estimate::notes`].
pub fn precision_notes(job: &Job) -> Vec<String> {
    if job.workload != WorkloadKind::Training {
        return Vec::new();
    }
    match (job.fine_tuning.kind, job.precision) {
        (FineTuningKind::Qlora, p) => vec![format!(
            "qlora: precision {p} sets only the matmuls' compute dtype (bnb_4bit_compute_dtype), which the time and \
             cost use; memory follows QLoRA's own layout whatever the precision: NF4 base weights, fp32 adapters, \
             norms, embeddings and activations (peft prepare_model_for_kbit_training)"
        )],
        (FineTuningKind::Lora, Precision::Bf16Mixed | Precision::Fp16Mixed | Precision::Fp32) => vec![format!(
            "lora: precision {} keeps the frozen base weights in fp32 ({} bytes each); bf16-true (or fp16-true) \
             loads them in 16 bits, as the usual PEFT set-up does, and halves them",
            job.precision,
            job.precision.weight_bytes()
        )],
        _ => Vec::new(),
    }
}

/// An estimate plus, when the job does not fit as asked, the plan that does.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub estimate: Estimate,
    /// Renamed from `cheapest_plan` (still read, never written): the plan is the best under
    /// its objective, not always the cheapest.
    pub plan: Option<Plan>,
}

impl<'de> Deserialize<'de> for Report {
    /// What [`Report`]'s `Serialize` writes; an inference report without `strategy` reads
    /// back with the job's default (ddp, unused for inference), and `cheapest_plan` as `plan`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Repr {
            #[serde(flatten)]
            estimate: Estimate,
            #[serde(alias = "cheapest_plan")]
            plan: Option<Plan>,
        }
        let mut v = serde_json::Value::deserialize(d)?;
        if let Some(m) = v.as_object_mut() {
            m.entry("strategy").or_insert_with(|| Strategy::Ddp.as_str().into());
        }
        let r: Repr = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
        Ok(Report { estimate: r.estimate, plan: r.plan })
    }
}

impl Serialize for Report {
    /// The estimate's fields and `plan`; for inference without the training `strategy`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Repr<'a> {
            #[serde(flatten)]
            estimate: &'a Estimate,
            plan: &'a Option<Plan>,
        }
        let mut v = serde_json::to_value(Repr { estimate: &self.estimate, plan: &self.plan })
            .map_err(serde::ser::Error::custom)?;
        if self.estimate.workload == WorkloadKind::Inference
            && let Some(m) = v.as_object_mut()
        {
            m.remove("strategy");
        }
        v.serialize(s)
    }
}

/// [`super::estimate`], then [`search`] when the job does not fit as asked.
pub fn report(job: &Job, gpu: &GpuSpec, s: &PlanSearch<'_>) -> Result<Report, super::InvalidJob> {
    let estimate = super::estimate(job, gpu)?;
    let plan = if estimate.decision == Fit::Fits { None } else { search(job, s) };
    Ok(Report { estimate, plan })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::presets::find_preset;
    use crate::estimate::{GpuCatalog, Model, ModelSource};

    #[test]
    fn the_objective_defaults_to_cost_and_an_unknown_one_lists_the_three() {
        assert_eq!(Objective::default(), Objective::Cost);
        assert_eq!(" TIME ".parse::<Objective>(), Ok(Objective::Time));
        assert_eq!(
            "speed".parse::<Objective>().unwrap_err().to_string(),
            "unknown objective 'speed'; accepted: gpus, cost, time"
        );
        assert_eq!(serde_json::to_value(Objective::Gpus).unwrap(), serde_json::json!("gpus"));
    }

    #[test]
    fn the_memory_of_a_count_is_computed_once_and_is_the_engines() {
        let p = find_preset("llama-2-13b").unwrap();
        let mut job = Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()));
        job.strategy = Strategy::Zero3;
        let mut totals = Totals::default();
        for gpus in [8, 2, 8, 4, 2] {
            job.gpus = gpus;
            assert_eq!(totals.of(&job), memory::per_gpu(&job).total_bytes, "{gpus} GPUs");
        }
        assert_eq!(totals.0.iter().map(|(gpus, _)| *gpus).collect::<Vec<_>>(), [8, 2, 4]);
        // ZeRO-3 shards the states: more GPUs, less memory each, so the memo is keyed right.
        assert!(totals.0[0].1 < totals.0[2].1 && totals.0[2].1 < totals.0[1].1);
    }

    #[test]
    fn an_inference_report_reads_back_and_cheapest_plan_is_read_as_plan() {
        let p = find_preset("llama-3.1-70b").unwrap();
        let mut job = Job::new(Model::from_arch(p.name, ModelSource::Preset, p.arch.clone()));
        (job.workload, job.gpus) = (WorkloadKind::Inference, 4);
        let cat = GpuCatalog::builtin();
        let g = cat.find("H100-80GB").unwrap();
        let s = PlanSearch {
            gpus: vec![g],
            counts: GpuCounts::multiples(1, 64),
            objective: Objective::Gpus,
            max_plan_hours: DEFAULT_MAX_PLAN_HOURS,
            change_settings: true,
        };
        let r = report(&job, g, &s).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("strategy").is_none() && json["plan"].is_object(), "{json}");
        assert_eq!(serde_json::from_value::<Report>(json.clone()).unwrap(), r);
        let mut old = json;
        let plan = old.as_object_mut().unwrap().remove("plan").unwrap();
        old["cheapest_plan"] = plan;
        assert_eq!(serde_json::from_value::<Report>(old).unwrap().plan, r.plan);
    }
}
