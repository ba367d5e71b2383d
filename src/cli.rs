//! Command-line interface: `estimate`, `check`, `serve`, `config check` and `catalog`.
//!
//! Arguments are parsed in two steps, as ripgrep does: clap reads raw strings, then the same
//! [`crate::request::parse_fields`] the webhook uses validates them, so a flag and an annotation
//! with the same name accept exactly the same values. This is the imperative shell: it reads
//! files and prints; the decisions are in the pure modules.

use crate::estimate::units::Gib;
use crate::estimate::*;
use crate::request;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Debug, Parser)]
#[command(name = "vramgate", version, about = "GPU memory, GPU count and cost of LLM jobs, checked before they queue")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Estimate per-GPU memory, GPU count, compute and cost of one job.
    Estimate(Box<EstimateArgs>),
    /// Decide manifests offline, exactly as the validating webhook would (as a CREATE).
    Check(CheckArgs),
    /// Run the admission webhook (HTTPS) and its probe and metrics port (plain HTTP).
    Serve(ServeArgs),
    /// Validate the config file that `serve` and `check` read.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the GPU catalog and the model presets.
    Catalog(CatalogArgs),
    /// What `serve --cluster` needs from the cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Print, as YAML, the RBAC rules the code uses: `clusterRole` for `serve --cluster`,
    /// `configMapRole` (in the ConfigMap's namespace, for its name) for `serve --config-map`.
    Rbac,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifests: multi-document YAML or JSON files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// Config file (the one `serve` reads); built-in defaults without it.
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Namespace of objects whose manifest names none (as `kubectl apply -n`).
    #[arg(long, short = 'n', default_value = crate::check::DEFAULT_NAMESPACE)]
    pub namespace: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file: policy, GPU catalog and prices (re-read when it changes).
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE", required_unless_present_any = ["dev", "config_map"])]
    pub config: Option<std::path::PathBuf>,
    /// Config from a ConfigMap's `config.yaml` key instead of a file, as NAMESPACE/NAME:
    /// read at start through the API server, then watched (a change that does not validate
    /// is logged and the last good config stays in force).
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with = "config", value_parser = parse_config_map)]
    pub config_map: Option<(String, String)>,
    /// Watch the cluster (in-cluster service account, else KUBECONFIG): the GPU inventory
    /// from Nodes' GPU Feature Discovery labels for decisions, and the live cost of running
    /// admitted jobs for metrics. Needs the RBAC of `vramgate cluster rbac`.
    #[arg(long)]
    pub cluster: bool,
    /// PEM certificate chain served on --listen (re-read when it changes).
    #[arg(long, value_name = "FILE", required_unless_present = "dev", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", required_unless_present = "dev", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Local use: a self-signed certificate for localhost (written to a temporary directory
    /// that is logged) and built-in defaults unless --config is given.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub dev: bool,
    /// HTTPS address of POST /validate and POST /mutate.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Plain-HTTP address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub metrics_listen: std::net::SocketAddr,
    /// Seconds between checks of the certificate and config files for changes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reload_interval: u64,
    /// Mutual TLS: PEM CA bundle that webhook clients' certificates must chain to; clients
    /// without such a certificate are refused at the handshake. Overrides the config's
    /// server.client_ca_file. Read at start.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<std::path::PathBuf>,
}

/// `NAMESPACE/NAME`, each a DNS name.
fn parse_config_map(s: &str) -> Result<(String, String), String> {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    match s.split_once('/') {
        Some((ns, name)) if ok(ns) && ok(name) => Ok((ns.to_owned(), name.to_owned())),
        _ => Err(format!("'{s}' is not NAMESPACE/NAME (lowercase DNS names, e.g. vramgate/vramgate-config)")),
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file; every problem is printed with its key's path.
    Check {
        #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
        config: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Every flag is named like its `vramgate.io/` annotation key and accepts the same values.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Preset name or Hugging Face id (`vramgate catalog` lists them), e.g. llama-2-7b.
    #[arg(long)]
    pub model: Option<String>,
    /// Parameter count only ("7B", "350M", "6.74e9"); the estimate is coarse.
    #[arg(long)]
    pub parameters: Option<String>,
    /// layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000[,head-dim=,tied=,mlp=,experts=,experts-per-token=]
    #[arg(long)]
    pub architecture: Option<String>,
    /// Path to a Hugging Face config.json.
    #[arg(long, value_name = "FILE")]
    pub hf_config: Option<std::path::PathBuf>,
    /// training | inference
    #[arg(long)]
    pub workload: Option<String>,
    /// fp32 (32-true), bf16-mixed, fp16-mixed, bf16-true, fp16-true, fp8-mixed
    #[arg(long)]
    pub precision: Option<String>,
    /// adamw, adamw-fused, adam, sgd, sgd-momentum, adafactor, adamw-8bit, lion
    #[arg(long)]
    pub optimizer: Option<String>,
    /// full, lora, qlora
    #[arg(long)]
    pub fine_tuning: Option<String>,
    #[arg(long)]
    pub lora_rank: Option<String>,
    /// attention, all-linear, or q_proj,k_proj,...
    #[arg(long)]
    pub lora_targets: Option<String>,
    /// Sequences per GPU per step (training) or concurrent sequences (inference).
    #[arg(long)]
    pub micro_batch_size: Option<String>,
    /// Tokens per sequence (training) or context length (inference).
    #[arg(long)]
    pub sequence_length: Option<String>,
    /// true | false
    #[arg(long)]
    pub activation_checkpointing: Option<String>,
    /// sdpa | eager
    #[arg(long)]
    pub attention: Option<String>,
    /// ddp, zero1, zero2, zero3, fsdp, fsdp-shard-grad-op, fsdp-hybrid
    #[arg(long)]
    pub strategy: Option<String>,
    /// GPUs per full copy of the model states with fsdp-hybrid.
    #[arg(long)]
    pub hybrid_shard_group: Option<String>,
    #[arg(long)]
    pub tensor_parallel: Option<String>,
    #[arg(long)]
    pub pipeline_parallel: Option<String>,
    /// none, optimizer, optimizer-and-parameters
    #[arg(long)]
    pub offload: Option<String>,
    /// auto, fp32, bf16, fp16, fp8, int8
    #[arg(long)]
    pub kv_cache_dtype: Option<String>,
    /// none, int8, int4, nf4
    #[arg(long)]
    pub weight_quantization: Option<String>,
    /// Tokens of the whole run ("2T").
    #[arg(long)]
    pub training_tokens: Option<String>,
    /// Assumed model FLOPs utilisation (default 0.40).
    #[arg(long)]
    pub mfu: Option<String>,
    /// Catalog GPU name (default H100-80GB).
    #[arg(long)]
    pub gpu: Option<String>,
    /// GPUs the job spreads over (default 1).
    #[arg(long)]
    pub gpus: Option<String>,
    /// YAML or JSON file extending or overriding the GPU catalog: `gpus: [{name, memory_bytes,
    /// dense_bf16_flops, dense_fp16_flops, dense_fp32_flops, bf16_supported, usd_per_hour, ...}]`.
    /// An entry named like a built-in GPU overrides only the fields it gives (e.g. `{name:
    /// H100-80GB, usd_per_hour: 6.88}`), as in the config file's `gpus`.
    #[arg(long, value_name = "FILE")]
    pub gpu_catalog: Option<std::path::PathBuf>,
    /// GPU types the cheapest-plan search may use: the job's GPU (default), or "all".
    #[arg(long, default_value = "job")]
    pub plan_gpus: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Exit codes: 0 fits or warn, 1 does not fit, 2 unusable input.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cli.command {
        Command::Estimate(a) => run_estimate(*a, out),
        Command::Catalog(a) => run_catalog(a, out),
        Command::Check(a) => run_check(a, out),
        Command::Serve(a) => run_serve(a),
        Command::Config(ConfigCommand::Check { config }) => run_config_check(&config, out),
        Command::Cluster(ClusterCommand::Rbac) => {
            write!(out, "{}", serde_yaml_ng::to_string(&crate::cluster::resources::rbac())?)?;
            Ok(0)
        }
    }
}

/// Loads `path`, or the built-in defaults without one; prints every problem and returns
/// `None` when the file is unusable.
fn settings_or_report(path: Option<&std::path::Path>) -> Option<crate::config::Settings> {
    let Some(path) = path else { return Some(crate::config::Settings::default()) };
    match crate::config::load_file(path) {
        Ok(s) => Some(s),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {}: {e}", path.display());
            }
            None
        }
    }
}

fn run_config_check(path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(s) = settings_or_report(Some(path)) else { return Ok(2) };
    writeln!(
        out,
        "{}: valid; default mode {}, {} namespace override(s), {} GPUs in the catalog, default GPU {}",
        path.display(),
        s.defaults.mode.as_str(),
        s.namespaces.len(),
        s.catalog.all().len(),
        s.defaults.default_gpu
    )?;
    Ok(0)
}

fn run_serve(a: ServeArgs) -> anyhow::Result<i32> {
    let tls = match (a.dev, a.tls_cert, a.tls_key) {
        (true, _, _) => crate::server::TlsSource::Dev { dir: std::env::temp_dir().join("vramgate-dev-tls") },
        (false, Some(cert), Some(key)) => crate::server::TlsSource::Files { cert, key },
        _ => anyhow::bail!("--tls-cert and --tls-key are required without --dev"),
    };
    if let Some(p) = &a.config
        && settings_or_report(Some(p)).is_none()
    {
        return Ok(2);
    }
    let opts = crate::server::ServeOptions {
        listen: a.listen,
        metrics_listen: a.metrics_listen,
        tls,
        config_path: a.config,
        reload_interval: std::time::Duration::from_secs(a.reload_interval),
        client_ca: a.client_ca,
        cluster: a.cluster,
        config_map: a.config_map,
        ..crate::server::ServeOptions::default()
    };
    match crate::server::run(opts) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}

fn run_check(a: CheckArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(settings) = settings_or_report(a.config.as_deref()) else { return Ok(2) };
    let mut results = Vec::new();
    let mut unusable = false;
    for path in &a.files {
        let (source, text) = if path.as_os_str() == "-" {
            let mut t = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut t) {
                Ok(_) => ("-".to_string(), t),
                Err(e) => {
                    eprintln!("error: standard input: {e}");
                    unusable = true;
                    continue;
                }
            }
        } else {
            match std::fs::read_to_string(path) {
                Ok(t) => (path.display().to_string(), t),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    unusable = true;
                    continue;
                }
            }
        };
        match crate::check::documents(&text) {
            Ok(objs) => results.extend(crate::check::check_objects(&source, &objs, &settings, &a.namespace)),
            Err(e) => {
                eprintln!("error: {source}: {e}");
                unusable = true;
            }
        }
    }
    match a.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&results)?)?,
        Output::Table => write_check_table(&results, out)?,
    }
    Ok(if unusable { 2 } else { crate::check::exit_code(&results) })
}

fn write_check_table(results: &[crate::check::CheckResult], out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<[String; 8]> = results
        .iter()
        .map(|r| {
            let e = &r.evaluation;
            let est = e.estimate.as_ref().map(|x| &x.estimate);
            [
                r.source.clone(),
                e.kind.clone(),
                format!("{}/{}", e.namespace, e.name.as_deref().unwrap_or("-")),
                e.decision.as_str().to_string(),
                e.gpus_requested.to_string(),
                e.gpu.clone().unwrap_or_else(|| "-".into()),
                est.map_or_else(|| "-".into(), |x| Gib(x.per_gpu.total_bytes).to_string()),
                est.and_then(|x| x.cost_usd).map_or_else(|| "-".into(), |c| format!("${c:.0}")),
            ]
        })
        .collect();
    let header = ["SOURCE", "KIND", "NAMESPACE/NAME", "DECISION", "GPUS", "GPU", "MEM/GPU", "COST"].map(String::from);
    let mut width = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 8]| {
        cells.iter().zip(width).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&header))?;
    for (row, r) in rows.iter().zip(results) {
        writeln!(out, "{}", line(row))?;
        for m in &r.evaluation.messages {
            writeln!(out, "    - {m}")?;
        }
    }
    Ok(())
}

fn fields(a: &EstimateArgs) -> anyhow::Result<BTreeMap<String, String>> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.insert(k.to_string(), v.clone());
        }
    };
    put("model", &a.model);
    put("parameters", &a.parameters);
    put("architecture", &a.architecture);
    put("workload", &a.workload);
    put("precision", &a.precision);
    put("optimizer", &a.optimizer);
    put("fine-tuning", &a.fine_tuning);
    put("lora-rank", &a.lora_rank);
    put("lora-targets", &a.lora_targets);
    put("micro-batch-size", &a.micro_batch_size);
    put("sequence-length", &a.sequence_length);
    put("activation-checkpointing", &a.activation_checkpointing);
    put("attention", &a.attention);
    put("strategy", &a.strategy);
    put("hybrid-shard-group", &a.hybrid_shard_group);
    put("tensor-parallel", &a.tensor_parallel);
    put("pipeline-parallel", &a.pipeline_parallel);
    put("offload", &a.offload);
    put("kv-cache-dtype", &a.kv_cache_dtype);
    put("weight-quantization", &a.weight_quantization);
    put("training-tokens", &a.training_tokens);
    put("mfu", &a.mfu);
    put("gpu", &a.gpu);
    put("gpus", &a.gpus);
    if let Some(p) = &a.hf_config {
        let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("--hf-config {}: {e}", p.display()))?;
        f.insert("hf-config".to_string(), text);
    }
    Ok(f)
}

/// The `--gpu-catalog` file's shape: the config file's `gpus` list alone.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    gpus: Vec<crate::config::GpuEntry>,
}

/// The built-in catalog merged with `path`'s entries, by the config file's rules
/// ([`crate::config::catalog_with`]).
pub fn load_catalog(path: Option<&std::path::Path>) -> anyhow::Result<GpuCatalog> {
    let Some(p) = path else { return Ok(GpuCatalog::builtin()) };
    let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("--gpu-catalog {}: {e}", p.display()))?;
    let file: CatalogFile =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow::anyhow!("--gpu-catalog {}: {e}", p.display()))?;
    crate::config::catalog_with(&file.gpus).map_err(|errs| {
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("--gpu-catalog {}: {}", p.display(), all.join("; "))
    })
}

fn run_estimate(a: EstimateArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let catalog = match load_catalog(a.gpu_catalog.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let f = match fields(&a) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let req = match request::parse_fields(&f) {
        Ok(r) => r,
        Err(problems) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    let gpu_name = req.gpu.clone().unwrap_or_else(|| crate::config::DEFAULT_GPU.to_string());
    let Some(gpu) = catalog.find(&gpu_name) else {
        eprintln!("error: --gpu: unknown GPU '{gpu_name}'; closest: {}", catalog.suggest(&gpu_name).join(", "));
        return Ok(2);
    };
    let mut job = req.job;
    job.gpus = req.gpus.unwrap_or(1);
    let gpus: Vec<&GpuSpec> = match a.plan_gpus.as_str() {
        "job" => vec![gpu],
        "all" => catalog.all().iter().collect(),
        other => {
            let mut v = Vec::new();
            for n in other.split(',') {
                match catalog.find(n) {
                    Some(g) => v.push(g),
                    None => {
                        eprintln!(
                            "error: --plan-gpus: unknown GPU '{n}'; accepted: job, all, or a comma list of catalog names"
                        );
                        return Ok(2);
                    }
                }
            }
            v
        }
    };
    let search = PlanSearch { gpus, gpu_step: 1, max_gpus: 4096, change_strategy: true, change_checkpointing: true };
    let r = match report(&job, gpu, &search) {
        Ok(r) => r,
        Err(InvalidJob(problems)) => {
            for p in problems {
                eprintln!("error: --{}: {}", p.field, p.message);
            }
            return Ok(2);
        }
    };
    match a.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        Output::Table => write_table(&r, &job, out)?,
    }
    Ok(if r.estimate.decision == Fit::DoesNotFit { 1 } else { 0 })
}

fn write_table(r: &Report, job: &Job, out: &mut dyn Write) -> std::io::Result<()> {
    let e = &r.estimate;
    let m = &e.per_gpu;
    writeln!(
        out,
        "model      {} ({:.2}B parameters{})",
        e.model,
        e.params as f64 / 1e9,
        if e.coarse { ", coarse" } else { "" }
    )?;
    writeln!(
        out,
        "job        {} {} {}, micro-batch {} x {} tokens, checkpointing {}, {} on {} x {}",
        e.workload,
        job.precision,
        if e.workload == WorkloadKind::Training { job.optimizer.as_str() } else { "" },
        job.micro_batch_size,
        job.sequence_length,
        if job.activation_checkpointing { "on" } else { "off" },
        e.strategy,
        e.gpus,
        e.gpu
    )?;
    writeln!(out)?;
    writeln!(out, "per GPU                        bytes          GiB")?;
    let rows = [
        ("weights", m.weights_bytes),
        ("gradients", m.gradients_bytes),
        ("optimizer states", m.optimizer_states_bytes),
        ("optimizer temporaries", m.optimizer_temporaries_bytes),
        ("activations", m.activations_bytes),
        ("logits and loss", m.logits_bytes),
        ("KV cache", m.kv_cache_bytes),
        ("buffers", m.buffers_bytes),
        ("tensors peak", m.tensors_peak_bytes),
        ("framework overhead", m.framework_overhead_bytes),
        ("total", m.total_bytes),
    ];
    for (name, b) in rows {
        writeln!(out, "  {name:<24} {b:>15} {:>10.2}", b as f64 / (1u64 << 30) as f64)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "decision   {} ({} of {} on {})",
        e.decision.as_str(),
        Gib(m.total_bytes),
        Gib(e.gpu_memory_bytes),
        e.gpu
    )?;
    match e.min_gpus {
        Some(n) => writeln!(out, "min GPUs   {n} with {}", e.strategy)?,
        None => writeln!(out, "min GPUs   none: {} does not fit {} at any GPU count", e.strategy, e.gpu)?,
    }
    if let (Some(f), Some(h), Some(c)) = (e.flops, e.gpu_hours, e.cost_usd) {
        writeln!(out, "compute    {f:.3e} FLOPs, {h:.0} GPU-hours at {:.0}% MFU, ${c:.0}", e.mfu * 100.0)?;
    }
    if let Some(p) = &r.cheapest_plan {
        writeln!(
            out,
            "fits with  {} x {} using {}{} ({} per GPU{})",
            p.gpus,
            p.gpu,
            p.strategy,
            if p.activation_checkpointing && !job.activation_checkpointing {
                " and activation checkpointing"
            } else {
                ""
            },
            Gib(p.per_gpu_total_bytes),
            p.cost_usd.map(|c| format!(", ${c:.0}")).unwrap_or_default()
        )?;
    } else if e.decision != Fit::Fits {
        writeln!(out, "fits with  nothing found within 4096 GPUs")?;
    }
    for n in &e.notes {
        writeln!(out, "note       {n}")?;
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct CatalogJson<'a> {
    gpus: &'a [GpuSpec],
    models: Vec<ModelJson>,
}

#[derive(serde::Serialize)]
struct ModelJson {
    name: &'static str,
    hf_ids: &'static [&'static str],
    params: u64,
    architecture: Architecture,
    source: &'static str,
}

fn run_catalog(a: CatalogArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let catalog = GpuCatalog::builtin();
    let models: Vec<ModelJson> = presets::presets()
        .iter()
        .map(|p| ModelJson {
            name: p.name,
            hf_ids: p.hf_ids,
            params: p.arch.param_count(),
            architecture: p.arch.clone(),
            source: p.source,
        })
        .collect();
    match a.output {
        Output::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&CatalogJson { gpus: catalog.all(), models })?)?
        }
        Output::Table => {
            writeln!(
                out,
                "{:<12} {:>10} {:>12} {:>6} {:>9}  price source",
                "GPU", "memory", "bf16 TFLOPS", "bf16", "$/hour"
            )?;
            for g in catalog.all() {
                writeln!(
                    out,
                    "{:<12} {:>10} {:>12.0} {:>6} {:>9.2}  {} ({})",
                    g.name,
                    Gib(g.memory_bytes).to_string(),
                    g.dense_bf16_flops / 1e12,
                    if g.bf16_supported { "yes" } else { "no" },
                    g.usd_per_hour,
                    g.price_source,
                    g.price_date
                )?;
            }
            writeln!(out)?;
            writeln!(out, "{:<16} {:>8}  Hugging Face ids", "model", "params")?;
            for m in &models {
                writeln!(out, "{:<16} {:>7.2}B  {}", m.name, m.params as f64 / 1e9, m.hf_ids.join(", "))?;
            }
        }
    }
    Ok(0)
}
