//! `vramgate check`: decide manifests offline, as the validating webhook would.

use super::{Output, settings_or_report};
use crate::estimate::units::Gib;
use clap::Args;
use std::io::Write;

/// What `vramgate check --help` prints after the flags.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  everything is admitted (allow, warn or skip)
  1  something is denied
  2  unusable input: a file that cannot be read or is not YAML/JSON, or a bad config

Examples:
  vramgate check deploy/examples/*.yaml
  vramgate check --config config.yaml -n research job.yaml --output json
  kubectl get pytorchjobs -A -o yaml | vramgate check -";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifests: multi-document YAML or JSON files; `-` reads standard input.
    #[arg(required_unless_present = "filename", value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// A manifest, as `kubectl apply -f` names it (repeatable; `-` reads standard input);
    /// checked after the FILE arguments.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Vec<std::path::PathBuf>,
    /// Config file (the one `serve` reads); built-in defaults without it.
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Namespace of objects whose manifest names none (as `kubectl apply -n`).
    #[arg(long, short = 'n', default_value = crate::check::DEFAULT_NAMESPACE)]
    pub namespace: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Judge as sent by this user (the review's `userInfo.username`): who may exempt an object
    /// where `policy.exemptions` names users or groups.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Groups of `--as` (repeat the flag for several).
    #[arg(long = "as-group", value_name = "GROUP", requires = "as_user")]
    pub as_groups: Vec<String>,
}

pub(super) fn run(a: CheckArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(settings) = settings_or_report(a.config.as_deref()) else { return Ok(2) };
    let user = a
        .as_user
        .as_ref()
        .map(|u| crate::admission::exempt::UserInfo { username: u.clone(), groups: a.as_groups.clone() });
    let mut results = Vec::new();
    let mut unusable = false;
    for path in a.files.iter().chain(&a.filename) {
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
            Ok(objs) => {
                results.extend(crate::check::check_objects_as(&source, &objs, &settings, &a.namespace, user.as_ref()))
            }
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
                // An inference server: what it reserves per GPU (gpu-memory-utilization x the
                // GPU's memory) and its price per hour (serving has no run length).
                match (est, &e.serving) {
                    (Some(x), _) => Gib(x.per_gpu.total_bytes).to_string(),
                    (None, Some(s)) => Gib(s.serving.budget_bytes).to_string(),
                    (None, None) => "-".into(),
                },
                match (est.and_then(|x| x.cost_usd), &e.serving) {
                    (Some(c), _) => format!("${c:.0}"),
                    (None, Some(s)) => format!("${:.2}/h", s.usd_per_hour),
                    (None, None) => "-".into(),
                },
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
