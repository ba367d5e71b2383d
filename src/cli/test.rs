//! `vramgate test DIR`: runs the policy test cases of every `vramgate-test.yaml` under `DIR`
//! (the pure part, parsing and comparing, is `crate::policy_test`). One line per case, PASS or
//! FAIL, with a field-by-field diff under a failure; exit 0 when all pass, 1 when any fails,
//! 2 when a case file, manifest or config cannot be used.

use super::settings_or_report;
use crate::admission::exempt::UserInfo;
use crate::policy_test::{CASE_FILE, compare, judge, parse_case_file, pick_object, render_mismatches};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A directory searched (8 levels deep) for `vramgate-test.yaml` files, or one case file.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Deepest directory searched below `DIR`.
const MAX_DEPTH: usize = 8;

fn case_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            if depth < MAX_DEPTH {
                case_files(&path, depth + 1, out)?;
            }
        } else if e.file_name() == CASE_FILE {
            out.push(path);
        }
    }
    Ok(())
}

pub(super) fn run(a: TestArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut files = Vec::new();
    if a.dir.is_file() {
        files.push(a.dir.clone());
    } else if let Err(e) = case_files(&a.dir, 0, &mut files) {
        eprintln!("error: {}: {e}", a.dir.display());
        return Ok(2);
    }
    if files.is_empty() {
        eprintln!("error: {}: no {CASE_FILE} found (searched {MAX_DEPTH} levels deep)", a.dir.display());
        return Ok(2);
    }
    let (mut passed, mut failed, mut unusable) = (0, 0, 0);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                unusable += 1;
                continue;
            }
        };
        let cases = match parse_case_file(&text) {
            Ok(c) => c,
            Err(problems) => {
                for p in problems {
                    eprintln!("error: {}: {p}", file.display());
                }
                unusable += 1;
                continue;
            }
        };
        let base = file.parent().unwrap_or(Path::new("."));
        for case in &cases.cases {
            let config = case.config.as_ref().or(cases.config.as_ref()).map(|c| base.join(c));
            let Some(settings) = settings_or_report(config.as_deref()) else {
                writeln!(out, "ERROR {}: config unusable", case.name)?;
                unusable += 1;
                continue;
            };
            let manifest = base.join(&case.manifest);
            let object = std::fs::read_to_string(&manifest)
                .map_err(|e| e.to_string())
                .and_then(|t| crate::check::documents(&t))
                .and_then(|objs| pick_object(&objs, case.document).cloned());
            let object = match object {
                Ok(o) => o,
                Err(e) => {
                    writeln!(out, "ERROR {}: {}: {e}", case.name, manifest.display())?;
                    unusable += 1;
                    continue;
                }
            };
            let namespace =
                case.namespace.as_deref().or(cases.namespace.as_deref()).unwrap_or(crate::check::DEFAULT_NAMESPACE);
            let user = case.user.as_ref().map(|u| UserInfo { username: u.clone(), groups: case.groups.clone() });
            let actual = judge(&object, &settings, namespace, user.as_ref());
            let mismatches = compare(&case.expect, &actual);
            if mismatches.is_empty() {
                writeln!(out, "PASS  {}", case.name)?;
                passed += 1;
            } else {
                writeln!(out, "FAIL  {} ({})", case.name, file.display())?;
                write!(out, "{}", render_mismatches(&mismatches))?;
                failed += 1;
            }
        }
    }
    writeln!(
        out,
        "{passed} passed, {failed} failed{}",
        if unusable > 0 { format!(", {unusable} unusable") } else { String::new() }
    )?;
    Ok(if unusable > 0 { 2 } else { i32::from(failed > 0) })
}
