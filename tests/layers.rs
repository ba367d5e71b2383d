//! The module layers ARCHITECTURE.md draws, checked on the source: every `crate::…`,
//! `super::…` and `self::…` path in `src/**/*.rs` (comments and string literals left out) is
//! resolved to the file that defines the module it names, and
//!
//! - no file imports a module of a higher layer than its own ([`LAYERS`], lowest first);
//! - no files import each other in a cycle. A folder's `mod.rs` (and `lib.rs`) is the folder's
//!   facade: it declares, re-exports and dispatches to the files below it, which import the
//!   folder's shared types from it; its edges down into its own folder are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a file may import its own layer and those below it.
const LAYERS: [&[&str]; 11] = [
    &["estimate"],
    &["pointer", "json"],
    &["contract", "request"],
    &["workload"],
    &["cluster"],
    &["config"],
    &["admission"],
    &["check", "policy_test"],
    &["audit"],
    &["server"],
    &["cli", "main"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// A source file and the module path it defines (`src/cluster/mod.rs` -> `cluster`).
#[derive(Debug, Clone)]
struct File {
    path: PathBuf,
    module: Vec<String>,
    facade: bool,
}

fn files(root: &Path) -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(root).unwrap();
            let mut module: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            let last = module.pop().unwrap();
            let stem = last.trim_end_matches(".rs");
            let facade = matches!(stem, "mod" | "lib");
            if !matches!(stem, "mod" | "lib") {
                module.push(stem.to_owned());
            }
            File { path, module, facade }
        })
        .collect()
}

/// `text` without comments, string and char literals (replaced by a space).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(hashes) = raw_string_hashes(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes; // r, hashes, quote
            i += body + rest[body..].find(&close).map_or(rest.len() - body, |e| e + close.len());
            out.push(' ');
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).unwrap();
            out.push(' ');
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"`: how many `#`s (the `b` is left as code, harmlessly).
fn raw_string_hashes(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('r')?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    rest[hashes..].starts_with('"').then_some(hashes)
}

/// `'x'`, `'\n'`, `'\''`, `'\u{1F600}'`: its length; `None` for a lifetime.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        return s[2..].find('\'').map(|e| e + 3);
    }
    let (at, close) = chars.next()?;
    (close == '\'').then_some(at + 1)
}

/// Every path in `code` that starts with `crate`, `super` or `self` (the brace groups of
/// `use` expanded), as written (`["super", "dra", "resolve"]`), with its byte offset.
fn paths(code: &str, crate_name: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if matches!(word, "crate" | "super" | "self") || word == crate_name {
            let first = if word == crate_name { "crate" } else { word };
            let mut found = Vec::new();
            i = tree(code, i, vec![first.to_owned()], &mut found);
            out.extend(found.into_iter().map(|p| (start, p)));
        }
    }
    out
}

/// Reads `::a::b`, `::{x, y::z}` after `prefix` starting at `at`; pushes the paths; returns
/// where it stopped.
fn tree(code: &str, mut at: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let b = code.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        let i = skip_ws(at);
        if !code[i..].starts_with("::") {
            out.push(prefix);
            return at;
        }
        let j = skip_ws(i + 2);
        if b.get(j) == Some(&b'{') {
            let mut k = j + 1;
            loop {
                k = skip_ws(k);
                if b.get(k) == Some(&b'}') {
                    return k + 1;
                }
                let start = k;
                while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'*') {
                    k += 1;
                }
                let word = code[start..k].to_owned();
                let mut p = prefix.clone();
                if word != "self" && !word.is_empty() {
                    p.push(word);
                }
                k = tree(code, k, p, out);
                // ` as alias`, then `,` or `}`.
                while k < b.len() && b[k] != b',' && b[k] != b'}' {
                    k += 1;
                }
                if b.get(k) == Some(&b',') {
                    k += 1;
                }
                if k >= b.len() {
                    return k;
                }
            }
        }
        let start = j;
        let mut k = j;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        if k == start {
            out.push(prefix);
            return k;
        }
        prefix.push(code[start..k].to_owned());
        at = k;
    }
}

/// The inline modules (`mod tests { … }`) open at each byte offset of `code`.
fn inline_modules(code: &str) -> Vec<(usize, Vec<String>)> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut marks = Vec::new();
    let mut pending: Option<String> = None;
    let mut word = String::new();
    let mut last_word = String::new();
    for (at, c) in code.char_indices() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            if last_word == "mod" {
                pending = Some(word.clone());
            }
            last_word = std::mem::take(&mut word);
        }
        match c {
            '{' => {
                depth += 1;
                if let Some(name) = pending.take() {
                    open.push((name, depth));
                    marks.push((at, open.iter().map(|(n, _)| n.clone()).collect()));
                }
            }
            '}' => {
                if open.last().is_some_and(|(_, d)| *d == depth) {
                    open.pop();
                    marks.push((at, open.iter().map(|(n, _)| n.clone()).collect()));
                }
                depth = depth.saturating_sub(1);
            }
            ';' => pending = None,
            _ => {}
        }
    }
    marks
}

/// The file defining the longest module prefix of `path`.
fn resolve<'f>(files: &'f [File], path: &[String]) -> Option<&'f File> {
    (0..=path.len()).rev().find_map(|n| files.iter().find(|f| f.module == path[..n] && !is_main(f)))
}

fn is_main(f: &File) -> bool {
    f.path.ends_with("main.rs") && f.module == ["main"]
}

/// Edges between files: `(from, to)` as indices into `files`.
fn edges(files: &[File]) -> BTreeSet<(usize, usize)> {
    let mut out = BTreeSet::new();
    for (from, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(&f.path).unwrap();
        let code = code_only(&text);
        let marks = inline_modules(&code);
        // `vramgate::` in main.rs is the library, which it sits above.
        let crate_name = if is_main(f) { "vramgate" } else { "crate" };
        for (at, p) in paths(&code, crate_name) {
            let inline = marks.iter().take_while(|(m, _)| *m <= at).last().map_or(&[][..], |(_, m)| m.as_slice());
            let mut abs = f.module.clone();
            abs.extend(inline.iter().cloned());
            let mut rest: &[String] = &p;
            match rest[0].as_str() {
                "crate" => {
                    abs.clear();
                    rest = &rest[1..];
                }
                "self" => rest = &rest[1..],
                _ => {
                    while rest.first().is_some_and(|s| s == "super") {
                        abs.pop();
                        rest = &rest[1..];
                    }
                }
            }
            abs.extend(rest.iter().cloned());
            if let Some(to) = resolve(files, &abs) {
                let to = files.iter().position(|g| g.path == to.path).unwrap();
                let down_into_own_folder = f.facade && files[to].module.starts_with(&f.module);
                if to != from && !down_into_own_folder {
                    out.insert((from, to));
                }
            }
        }
    }
    out
}

fn src() -> (Vec<File>, BTreeSet<(usize, usize)>) {
    let files = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let edges = edges(&files);
    (files, edges)
}

fn name(f: &File) -> String {
    f.path.to_string_lossy().split("/src/").last().unwrap().to_owned()
}

#[test]
fn every_top_level_module_has_a_layer() {
    let (files, _) = src();
    for f in &files {
        if let Some(top) = f.module.first() {
            assert!(layer_of(top).is_some(), "{}: module `{top}` is in no layer of tests/layers.rs", name(f));
        }
    }
    // The resolver sees the imports it must: a known edge of each kind.
    let (_, edges) = src();
    let has = |a: &str, b: &str| edges.iter().any(|(x, y)| name(&files[*x]) == a && name(&files[*y]) == b);
    assert!(has("admission/decide/mod.rs", "workload/mod.rs"), "crate:: paths");
    assert!(has("workload/jobset.rs", "workload/batch.rs"), "super::{{…, batch}} groups");
    assert!(has("admission/review.rs", "admission/scale.rs"), "inline super::scale:: paths");
    assert!(has("server/state.rs", "server/status.rs"), "super:: paths in server/");
}

#[test]
fn no_file_imports_a_higher_layer() {
    let (files, edges) = src();
    let mut bad = Vec::new();
    for (a, b) in &edges {
        let (fa, fb) = (&files[*a], &files[*b]);
        let (Some(ta), Some(tb)) = (fa.module.first(), fb.module.first()) else { continue };
        let (la, lb) = (layer_of(ta).unwrap_or(usize::MAX), layer_of(tb).unwrap_or(usize::MAX));
        if lb > la {
            bad.push(format!("{} (layer {ta}) imports {} (layer {tb})", name(fa), name(fb)));
        }
    }
    assert!(bad.is_empty(), "imports from a lower layer into a higher one:\n{}", bad.join("\n"));
}

#[test]
fn no_files_import_each_other_in_a_cycle() {
    let (files, edges) = src();
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (a, b) in &edges {
        next.entry(*a).or_default().push(*b);
    }
    // Depth-first search; a back edge closes a cycle, reported file by file.
    fn visit(
        n: usize,
        next: &BTreeMap<usize, Vec<usize>>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[n] = 1;
        stack.push(n);
        for &m in next.get(&n).map_or(&[][..], Vec::as_slice) {
            if state[m] == 1 {
                let from = stack.iter().position(|&s| s == m).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if state[m] == 0
                && let Some(c) = visit(m, next, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; files.len()];
    for n in 0..files.len() {
        if state[n] == 0
            && let Some(cycle) = visit(n, &next, &mut state, &mut Vec::new())
        {
            let names: Vec<String> = cycle.iter().map(|&i| name(&files[i])).collect();
            panic!("a cycle of imports between files: {}", names.join(" -> "));
        }
    }
}

/// The cluster watchers keep whole exactly the kinds whose `/scale` admission judges.
#[test]
fn the_kinds_watched_whole_are_those_whose_scale_admission_judges() {
    for k in &vramgate::workload::KINDS {
        let judged = vramgate::admission::scale::scaled_field(k.group, k.plural);
        assert_eq!(judged.is_some(), k.scale_subresource, "{k:?}");
        if let Some((kind, _, _)) = judged {
            assert_eq!(kind, k.kind_name);
        }
    }
}
