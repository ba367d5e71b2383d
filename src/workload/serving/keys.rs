//! What the server's image tag, environment and flags say, as the serving keys: each value
//! with its source, flags not in the tables listed, what the engine would refuse a problem,
//! and where the max-model-len flag sits for the patch (`patch.rs`).

use super::command::{Arg, Entry, Env, image_engine};
use super::flags::{self, Takes};
use super::patch::Site;
use super::{Engine, Problem, Serving, Sourced, err};

/// The engine version from the image tag, when the image is the engine's own and the tag
/// is a release (`v0.6.4`, `0.6.4.post1`, `v0.4.1-cu124`, `2.4.0`); else unknown, said so.
pub(super) fn version(image: &str, engine: Engine, c_ptr: &str, s: &mut Serving) {
    let pointer = format!("{c_ptr}/image");
    if image.is_empty() {
        return;
    }
    if image_engine(image) != Some(engine) {
        s.notes.push(format!(
            "engine version unknown: image '{image}' is not {}'s own; set vramgate.io/engine-version",
            engine.as_str()
        ));
        return;
    }
    let without_digest = image.split('@').next().unwrap_or("");
    let last = without_digest.rsplit('/').next().unwrap_or("");
    let tag = last.split_once(':').map(|(_, t)| t);
    let parsed = tag.and_then(|t| {
        let t = t.strip_prefix('v').unwrap_or(t);
        let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let parts: Vec<&str> = t[..end].split('.').filter(|p| !p.is_empty()).collect();
        let tail = &t[end..];
        let ok_tail = tail.is_empty()
            || tail.starts_with('-')
            || tail.starts_with('+')
            || tail.starts_with("post")
            || tail.starts_with("rc");
        (parts.len() >= 2 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) && ok_tail)
            .then(|| parts.iter().take(3).copied().collect::<Vec<_>>().join("."))
    });
    match (tag, parsed) {
        (Some(t), Some(v)) => {
            s.keys.insert("engine-version".into(), Sourced { value: v, pointer, via: format!("image tag {t}") });
        }
        (Some(t), None) => s.notes.push(format!(
            "engine version unknown: image tag '{t}' is not a release number; set vramgate.io/engine-version"
        )),
        (None, _) => s.notes.push(format!(
            "engine version unknown: image '{image}' has no tag (a digest or the default 'latest'); \
             set vramgate.io/engine-version"
        )),
    }
}

/// A variable as the script wrote it: `$NAME`, or a substitution as is.
fn shown_var(v: &str) -> String {
    if v.starts_with('$') || v.starts_with('`') { v.to_owned() } else { format!("${v}") }
}

/// TGI reads each of its flags from the variable of the same name (clap `env`); a flag on the
/// command line wins, so these are read first.
pub(super) fn read_env_keys(env: &Env, s: &mut Serving) {
    if s.engine != Engine::Tgi {
        return;
    }
    for (flag, f) in flags::tgi_env_flags() {
        let name = flags::env_name(flag);
        let Some((value, e_ptr)) = env.get(&name) else { continue };
        let key = f.key.unwrap_or_default();
        let Some(value) = value else {
            s.problems.push(Problem {
                key: Some(key.to_owned()),
                path: e_ptr.clone(),
                message: format!("{name} comes from valueFrom, which vramgate cannot read; set vramgate.io/{key}"),
            });
            continue;
        };
        let value_ptr = format!("{e_ptr}/value");
        match flags::map_value(f.map, &name, value) {
            Ok(Some(v)) => {
                s.keys.insert(
                    key.to_owned(),
                    Sourced { value: v, pointer: value_ptr.clone(), via: format!("env {name}") },
                );
                if key == "max-model-len" {
                    s.site = Site::Env { pointer: value_ptr };
                }
            }
            Ok(None) => {}
            Err(m) => s.problems.push(Problem { key: Some(key.to_owned()), path: value_ptr, message: m }),
        }
    }
}

/// The ways the engine's argument parser (argparse; clap for TGI) refuses a command line: the
/// server exits at start, so each is a problem naming the argument and the parser's words.
enum Refusal<'t> {
    /// A bare word where no positional argument is taken.
    Unrecognised(&'t str),
    /// A switch (`store_true`) given a value with `=`.
    SwitchWithValue { name: &'t str, value: &'t str },
    /// A flag that takes a value, last or followed by another flag.
    MissingValue(&'t str),
}

impl Refusal<'_> {
    fn message(&self, engine: Engine) -> String {
        let engine = engine.as_str();
        match self {
            Refusal::Unrecognised(t) => {
                format!("'{t}' is an argument {engine} does not take (it would exit with \"unrecognized arguments\")")
            }
            Refusal::SwitchWithValue { name, value } => {
                format!("{name} is a switch and takes no value, got '{value}': {engine} would refuse it")
            }
            Refusal::MissingValue(name) => {
                format!("{name} needs a value: {engine} would refuse it (\"expected one argument\")")
            }
        }
    }
}

/// Records what the engine would refuse, at the argument's pointer.
fn refuse(s: &mut Serving, pointer: &str, r: Refusal<'_>) {
    s.problems.push(err(pointer, r.message(s.engine)));
}

/// Reads the server's arguments (argparse / clap rules: `--flag=value` or `--flag value`, the
/// last occurrence wins).
pub(super) fn read_flags(entry: &Entry, s: &mut Serving) {
    let args = entry.args.get(entry.start..).unwrap_or_default();
    let canonical = s.engine.max_model_len_flag();
    let mut positional: Option<Sourced> = None;
    let mut mml_site = None;
    let via = |a: &Arg, text: &str| match a.word {
        Some((k, _, _)) => format!("shell word {k}: {text}"),
        None => text.to_owned(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(t) = a.text.as_deref() else {
            // Unknown, and not a value of a flag read: listed, said, not fatal.
            let var = shown_var(a.unknown_var.as_deref().unwrap_or_default());
            s.unknown_flags.push(Sourced {
                value: var.clone(),
                pointer: a.pointer.clone(),
                via: format!("value unknown: {var}"),
            });
            continue;
        };
        let is_flag = t.starts_with('-') && t.len() > 1 && t.parse::<f64>().is_err();
        if !is_flag {
            if entry.positional_model && positional.is_none() && s.unknown_flags.is_empty() {
                positional = Some(Sourced { value: t.to_owned(), pointer: a.pointer.clone(), via: via(a, t) });
            } else {
                refuse(s, &a.pointer, Refusal::Unrecognised(t));
            }
            continue;
        }
        let (raw_name, inline) = match t.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (t, None),
        };
        let name = flags::normalise(s.engine, raw_name);
        let Some(flag) = flags::lookup(s.engine, entry.kserve, &name) else {
            // Unknown: kept and listed. A following bare word is taken as its value.
            let mut shown = t.to_owned();
            if inline.is_none()
                && let Some(next) = args.get(i).and_then(|n| n.text.as_deref()).filter(|n| !n.starts_with('-'))
                && !(entry.positional_model && positional.is_none() && i == 1)
            {
                shown = format!("{t} {next}");
                i += 1;
            }
            s.unknown_flags.push(Sourced { value: shown.clone(), pointer: a.pointer.clone(), via: via(a, &shown) });
            continue;
        };
        let (value, value_arg, joined) = match (flag.takes, inline) {
            (Takes::Switch(_), Some(v)) => {
                refuse(s, &a.pointer, Refusal::SwitchWithValue { name: &name, value: v });
                continue;
            }
            (Takes::Switch(on), None) => (on.to_string(), a, true),
            (Takes::Value, Some(v)) => (v.to_owned(), a, true),
            (Takes::Value, None) => match args.get(i) {
                Some(next) if next.text.as_deref().is_some_and(|n| !n.starts_with('-') || n.parse::<f64>().is_ok()) => {
                    i += 1;
                    (next.text.clone().unwrap_or_default(), next, false)
                }
                Some(next) if next.text.is_none() => {
                    i += 1;
                    let var = shown_var(next.unknown_var.as_deref().unwrap_or_default());
                    s.problems.push(Problem {
                        key: flag.key.map(str::to_owned),
                        path: next.pointer.clone(),
                        message: format!("{name}'s value comes from {var}, which has no literal value in the container's env; vramgate cannot read it{}", flag.key.map(|k| format!(": set vramgate.io/{k}")).unwrap_or_default()),
                    });
                    if flag.key == Some("max-model-len") {
                        mml_site = Some(Site::None);
                    }
                    continue;
                }
                _ => {
                    refuse(s, &a.pointer, Refusal::MissingValue(&name));
                    continue;
                }
            },
        };
        let Some(key) = flag.key else {
            s.ignored_flags.push(if joined || matches!(flag.takes, Takes::Switch(_)) {
                t.to_owned()
            } else {
                format!("{t} {value}")
            });
            continue;
        };
        let shown = if joined { t.to_owned() } else { format!("{t} {value}") };
        match flags::map_value(flag.map, &name, &value) {
            Ok(Some(v)) => {
                s.keys.insert(
                    key.to_owned(),
                    Sourced { value: v, pointer: value_arg.pointer.clone(), via: via(a, &shown) },
                );
            }
            Ok(None) => {
                s.keys.remove(key);
                s.notes.push(format!("{shown}: the model's own value applies"));
            }
            Err(m) => {
                s.problems.push(Problem { key: Some(key.to_owned()), path: value_arg.pointer.clone(), message: m })
            }
        }
        if key == "max-model-len" {
            mml_site = Some(match (&entry.script, value_arg.word) {
                (Some((ptr, script, _)), Some((_, start, end))) => Site::ShellWord {
                    pointer: ptr.clone(),
                    script: script.clone(),
                    start,
                    end,
                    flag: joined.then(|| canonical.to_owned()),
                },
                _ if joined => Site::Joined { pointer: value_arg.pointer.clone(), flag: canonical.to_owned() },
                _ => Site::Element { pointer: value_arg.pointer.clone() },
            });
        }
    }
    if let Some(p) = positional {
        // `vllm serve MODEL`: the positional model wins over `--model` (vllm/entrypoints/cli/serve.py).
        s.keys.insert("model".into(), p);
    }
    s.site = match mml_site {
        Some(site) => site,
        None if matches!(s.site, Site::Env { .. }) => s.site.clone(),
        None => match (&entry.script, &entry.append) {
            (Some((ptr, script, at)), _) => {
                Site::ShellAppend { pointer: ptr.clone(), script: script.clone(), at: *at, flag: canonical.to_owned() }
            }
            (None, Site::Append { pointer, exists, .. }) => {
                Site::Append { pointer: pointer.clone(), exists: *exists, flag: canonical.to_owned() }
            }
            _ => Site::None,
        },
    };
}
