//! `vramgate audit`: what the validating webhook would say now about the workloads already in
//! the cluster, read-only through a kubeconfig. The listing is `crate::server::audit`'s (the
//! periodic in-cluster audit lists the same way); the judging is the pure `crate::audit`.

use super::settings_or_report;
use crate::audit::{AuditReport, JUDGED_AS};
use clap::{Args, ValueEnum};
use std::io::Write;

#[derive(Debug, Args)]
#[command(after_help = "Every object is judged as if it were CREATEd now, at the validating webhook, with the \
config given (as `check` does); the cluster is only read (list). Kinds whose CRD is not installed are \
skipped, each with a line on standard error.\n\n\
Exit status: 0 nothing would be denied or warned about (over-provisioning below the policy's \
overprovision_factor is reported but is not a finding that fails); 1 something would be denied or \
warned about; 2 unusable config or kubeconfig, or a kind that could not be listed (forbidden, API \
server error): the audit is incomplete.")]
pub struct AuditArgs {
    /// Config file (the one `serve` reads); built-in defaults without it.
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Kubeconfig file; without it, KUBECONFIG or ~/.kube/config (in a pod: its service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context; without it, the current context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Audit one namespace; without it (and without -A), the context's namespace, as kubectl.
    #[arg(long, short = 'n', value_name = "NAMESPACE", conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Audit every namespace.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// table, json, or policy-reports: a YAML List of one wgpolicyk8s.io/v1alpha2 PolicyReport
    /// per namespace (`... | kubectl apply -f -` where the PolicyReport CRD is installed).
    #[arg(long, value_enum, default_value_t = AuditOutput::Table)]
    pub output: AuditOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutput {
    Table,
    Json,
    PolicyReports,
}

pub(super) fn run(a: AuditArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(settings) = settings_or_report(a.config.as_deref()) else { return Ok(2) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listed = runtime.block_on(async {
        let config = match kube_config(&a).await {
            Ok(c) => c,
            Err(e) => return Err(e),
        };
        let namespace = if a.all_namespaces {
            None
        } else {
            Some(a.namespace.clone().unwrap_or_else(|| config.default_namespace.clone()))
        };
        let client = kube::Client::try_from(config)?;
        Ok((crate::server::audit::list_workloads(&client, namespace.as_deref()).await, namespace))
    });
    let (listing, namespace) = match listed {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot configure a Kubernetes client: {e:#}");
            return Ok(2);
        }
    };
    for u in &listing.unlisted {
        let what = if u.incomplete { "error" } else { "skipped" };
        eprintln!("{what}: {}: {}", u.resource, u.reason);
    }
    let report = crate::audit::audit(&listing.objects, &settings, None, listing.unlisted);
    match a.output {
        AuditOutput::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        AuditOutput::Table => write_table(&report, namespace.as_deref(), a.config.as_deref(), out)?,
        AuditOutput::PolicyReports => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let items = crate::audit::policy_report::policy_reports(&report, now);
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            write!(out, "{}", serde_yaml_ng::to_string(&list)?)?;
        }
    }
    Ok(crate::audit::exit_code(&report))
}

async fn kube_config(a: &AuditArgs) -> anyhow::Result<kube::Config> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions { context: a.context.clone(), ..KubeConfigOptions::default() };
    Ok(match (&a.kubeconfig, &a.context) {
        (Some(path), _) => kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &options).await?,
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await?,
        (None, None) => kube::Config::infer().await?,
    })
}

fn write_table(
    r: &AuditReport,
    namespace: Option<&str>,
    config: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "judged as a {JUDGED_AS} at the validating webhook, {}, config {}",
        namespace.map_or_else(|| "all namespaces".to_owned(), |n| format!("namespace {n}")),
        config.map_or_else(|| "(built-in defaults)".to_owned(), |p| p.display().to_string()),
    )?;
    if !r.findings.is_empty() {
        let header = ["NAMESPACE", "KIND", "NAME", "DECISION", "REASON", "GPUS", "NEEDED", "GPU", "WASTE/HOUR"]
            .map(String::from);
        let rows: Vec<[String; 9]> = r
            .findings
            .iter()
            .map(|f| {
                [
                    f.namespace.clone(),
                    f.kind.clone(),
                    f.name.clone(),
                    f.decision.as_str().to_owned(),
                    f.reason.as_str().to_owned(),
                    f.gpus.to_string(),
                    f.gpus_needed.map_or_else(|| "-".into(), |n| n.to_string()),
                    f.gpu.clone().unwrap_or_else(|| "-".into()),
                    match (f.overprovisioned_gpus, f.overprovisioned_usd_per_hour) {
                        (0, _) => "-".into(),
                        (_, Some(usd)) => format!("${usd:.2}"),
                        (n, None) => format!("{n} GPUs (no price)"),
                    },
                ]
            })
            .collect();
        let mut width = header.clone().map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String; 9]| {
            cells
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(out, "{}", line(&header))?;
        for (row, f) in rows.iter().zip(&r.findings) {
            writeln!(out, "{}", line(row))?;
            for m in &f.messages {
                writeln!(out, "    - {m}")?;
            }
        }
    }
    let s = &r.summary;
    writeln!(
        out,
        "{} objects, {} judged, {} skipped (no GPUs, not annotated, or judged with their owner); {} would be denied, \
         {} warned about; {} over-provisioned, ${:.2}/hour of GPUs beyond what they need",
        s.objects, s.judged, s.skipped, s.denied, s.warned, s.overprovisioned, s.overprovisioned_usd_per_hour
    )?;
    for u in &r.unlisted {
        writeln!(out, "{}: {}: {}", if u.incomplete { "not listed" } else { "skipped" }, u.resource, u.reason)?;
    }
    Ok(())
}
