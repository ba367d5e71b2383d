//! Which server a container runs, and where its own arguments are: `command` and `args`
//! (Kubernetes' `$(VAR)` expansion from the literal `env`), the image's entrypoint when
//! `command` is absent, and `sh -c` scripts (`shell.rs`) whose first server command is read.

use std::collections::BTreeMap;

use crate::json::Json;

use super::patch::Site;
use super::{Engine, Problem, err, shell};
use crate::workload::WorkloadKind;

/// One argument of the container's argv, with its origin.
#[derive(Debug, Clone)]
pub(super) struct Arg {
    /// The text after expansion; `None` when it holds a variable with no literal value.
    pub(super) text: Option<String>,
    /// Pointer to the array element (or to the script holding the word).
    pub(super) pointer: String,
    /// For a word of a script: its index, span, and the script.
    pub(super) word: Option<(usize, usize, usize)>,
    /// The variable whose value is unknown, when `text` is `None`.
    pub(super) unknown_var: Option<String>,
}

/// The literal environment of a container: name -> (value, pointer); `None` for a value from
/// `valueFrom` (Secret, ConfigMap, field reference).
pub(super) type Env = BTreeMap<String, (Option<String>, String)>;

/// The server a container runs and the arguments it is given (`None`: no known server):
/// its `command` and `args` after Kubernetes' `$(VAR)` expansion, else the image's own
/// entrypoint. `problems` gets what cannot be read on the way.
pub(super) fn server_entry(
    c: &Json<'_>,
    c_ptr: &str,
    kind: WorkloadKind,
    image: &str,
    env: &Env,
    problems: &mut Vec<Problem>,
) -> Option<Entry> {
    let array = |key: &str, problems: &mut Vec<Problem>| -> Option<Vec<Arg>> {
        let list = c.get(key)?.as_array()?;
        let ptr = format!("{c_ptr}/{key}");
        Some(
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    let pointer = format!("{ptr}/{i}");
                    match v.as_str() {
                        Some(s) => kubernetes_expand(s, env, pointer),
                        None => {
                            problems.push(err(&pointer, format!("an argument must be a string, got {}", v.describe())));
                            Arg { text: None, pointer, word: None, unknown_var: None }
                        }
                    }
                })
                .collect(),
        )
    };
    let command = array("command", problems);
    let args = array("args", problems);
    let image_engine = image_engine(image);
    let kserve_model = kind == WorkloadKind::InferenceService && c_ptr.ends_with("/model");

    // Kubernetes: `command` replaces the image's ENTRYPOINT (and drops its CMD); `args` alone
    // follow the image's ENTRYPOINT ("Define a Command and Arguments for a Container").
    let args_ptr = format!("{c_ptr}/args");
    let entry = match (command, args) {
        (Some(mut cmd), args) => {
            let exists = args.is_some();
            cmd.extend(args.unwrap_or_default());
            find_server(cmd, env, problems).map(|mut e| {
                if e.script.is_none() {
                    e.append = Site::Append { pointer: args_ptr, exists, flag: String::new() };
                }
                e
            })
        }
        (None, Some(args)) => {
            // The image's ENTRYPOINT: KServe's huggingface runtime (`python -m
            // huggingfaceserver`, vLLM backend), vLLM's image (`vllm serve` since v0.9.0,
            // earlier `python3 -m vllm.entrypoints.openai.api_server`: docker/Dockerfile),
            // TGI's (`text-generation-launcher`: its Dockerfile). SGLang's image has none.
            let engine = if kserve_model { Some(Engine::Vllm) } else { image_engine.filter(|e| *e != Engine::Sglang) };
            engine.map(|engine| Entry {
                engine,
                start: 0,
                positional_model: engine == Engine::Vllm && !kserve_model,
                append: Site::Append { pointer: args_ptr, exists: true, flag: String::new() },
                script: None,
                kserve: kserve_model,
                args,
            })
        }
        (None, None) => {
            // The image's default command: TGI's launcher runs from its environment alone
            // (MODEL_ID ...); vLLM's entrypoint would serve its default model.
            let engine = if kserve_model { Some(Engine::Vllm) } else { image_engine.filter(|e| *e == Engine::Tgi) };
            engine.map(|engine| Entry {
                engine,
                start: 0,
                positional_model: false,
                append: Site::Append { pointer: args_ptr, exists: false, flag: String::new() },
                script: None,
                kserve: kserve_model,
                args: Vec::new(),
            })
        }
    };
    let entry = entry?;
    // KServe's huggingfaceserver with `--backend=huggingface` runs Transformers, not vLLM.
    if entry.kserve {
        let texts: Vec<&str> = entry.args.iter().filter_map(|a| a.text.as_deref()).collect();
        let hf = texts.windows(2).any(|w| matches!(w, ["--backend", "huggingface"]))
            || texts.iter().any(|t| matches!(*t, "--backend=huggingface"));
        if hf {
            return None;
        }
    }
    Some(entry)
}

/// Where the server's own arguments begin, and how to add one.
pub(super) struct Entry {
    pub(super) engine: Engine,
    /// Index in argv of the first argument after the server's executable.
    pub(super) start: usize,
    /// `vllm serve MODEL`: the first bare word is the model.
    pub(super) positional_model: bool,
    pub(super) append: Site,
    /// For a `sh -c` script: (pointer, script text, byte after the server's last word).
    pub(super) script: Option<(String, String, usize)>,
    /// KServe's huggingfaceserver: `--model_id`, `--model_name` and vLLM's flags.
    pub(super) kserve: bool,
    /// The argv (or the script's words) the server's arguments are read from.
    pub(super) args: Vec<Arg>,
}

/// Kubernetes' own expansion of `$(VAR)` in command and args from the container's
/// environment (`$$` escapes; an unknown reference stays as written): Kubernetes API,
/// Container.args, "Variable references $(VAR_NAME) are expanded using the container's
/// environment".
fn kubernetes_expand(s: &str, env: &Env, pointer: String) -> Arg {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(close) = tail.strip_prefix("$(").and_then(|t| t.find(')')) {
            let name = &tail[2..2 + close];
            match env.get(name) {
                Some((Some(v), _)) => out.push_str(v),
                Some((None, _)) => {
                    return Arg {
                        text: None,
                        pointer,
                        word: None,
                        unknown_var: Some(format!("$({name}) (valueFrom)")),
                    };
                }
                None => out.push_str(&tail[..close + 3]),
            }
            rest = &tail[close + 3..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Arg { text: Some(out), pointer, word: None, unknown_var: None }
}

pub(super) fn read_env(c: &Json<'_>, c_ptr: &str) -> Env {
    let mut env = Env::new();
    for (i, e) in c.get("env").and_then(Json::as_array).unwrap_or_default().iter().enumerate() {
        let Some(name) = e.get("name").and_then(Json::as_str) else { continue };
        let value = if e.get("valueFrom").is_some_and(|v| !v.is_null()) {
            None
        } else {
            Some(e.get("value").and_then(Json::as_str).unwrap_or("").to_owned())
        };
        // A later entry with the same name wins, as in the kubelet.
        env.insert(name.to_owned(), (value, format!("{c_ptr}/env/{i}")));
    }
    env
}

/// The engine an image runs by its repository's last path segment: `vllm/vllm-openai`,
/// `lmsysorg/sglang`, `ghcr.io/huggingface/text-generation-inference`.
pub(super) fn image_engine(image: &str) -> Option<Engine> {
    let repo = image.split('@').next().unwrap_or("");
    let last = repo.rsplit('/').next().unwrap_or("");
    let name = last.split(':').next().unwrap_or("");
    match name {
        "vllm-openai" | "vllm" => Some(Engine::Vllm),
        "sglang" => Some(Engine::Sglang),
        "text-generation-inference" => Some(Engine::Tgi),
        _ => None,
    }
}

/// Finds the server in an argv (directly, or in a `sh -c` / `bash -c` script).
fn find_server(argv: Vec<Arg>, env: &Env, problems: &mut Vec<Problem>) -> Option<Entry> {
    let text = |i: usize| argv.get(i).and_then(|a| a.text.as_deref());
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
    let prog = base(text(0)?);
    if matches!(prog.as_str(), "sh" | "bash" | "dash" | "ash" | "zsh") {
        // `sh [-opts] -c SCRIPT [name [args...]]`: the first operand after an option word
        // holding `c` is the script (POSIX sh, "-c").
        let mut i = 1;
        while let Some(t) = text(i) {
            if t.starts_with('-') && !t.starts_with("--") {
                i += 1;
                if t.contains('c') {
                    let a = argv.get(i)?;
                    let script = a.text.as_deref()?;
                    return server_in_script(script, &a.pointer, env, problems);
                }
            } else {
                break;
            }
        }
        return None;
    }
    let words: Vec<String> = argv.iter().map(|a| a.text.clone().unwrap_or_default()).collect();
    let (engine, start, positional_model, kserve) = server_at(&words)?;
    Some(Entry { engine, start, positional_model, append: Site::None, script: None, kserve, args: argv })
}

/// Recognises a server invocation at the start of `words`: (engine, index of its first
/// argument, positional model, KServe).
fn server_at(words: &[String]) -> Option<(Engine, usize, bool, bool)> {
    let base = |i: usize| words.get(i).map(|s| s.rsplit('/').next().unwrap_or(s));
    let w0 = base(0)?;
    if w0 == "vllm" && base(1) == Some("serve") {
        return Some((Engine::Vllm, 2, true, false));
    }
    if w0 == "text-generation-launcher" {
        return Some((Engine::Tgi, 1, false, false));
    }
    if w0.starts_with("python") {
        // `python [-u|-O|-X opt ...] -m MODULE args`.
        let mut i = 1;
        while let Some(w) = words.get(i) {
            if w == "-m" {
                let module = words.get(i + 1)?;
                return match module.as_str() {
                    "vllm.entrypoints.openai.api_server" | "vllm.entrypoints.api_server" => {
                        Some((Engine::Vllm, i + 2, false, false))
                    }
                    "sglang.launch_server" => Some((Engine::Sglang, i + 2, false, false)),
                    "huggingfaceserver" => Some((Engine::Vllm, i + 2, false, true)),
                    _ => None,
                };
            }
            if !w.starts_with('-') {
                return None;
            }
            i += if w == "-X" || w == "-W" { 2 } else { 1 };
        }
    }
    None
}

/// The server's command in a script: the first simple command (after `exec` and variable
/// assignments) that runs one; its words become arguments pointing into the script.
fn server_in_script(script: &str, pointer: &str, env: &Env, problems: &mut Vec<Problem>) -> Option<Entry> {
    let commands = match shell::commands(script) {
        Ok(c) => c,
        Err(e) => {
            // Only a problem when the script plausibly runs a server.
            if ["vllm", "sglang", "text-generation-launcher", "huggingfaceserver"].iter().any(|n| script.contains(n)) {
                problems.push(err(pointer, format!("the script cannot be read: {e}")));
            }
            return None;
        }
    };
    for words in &commands {
        let mut assigned: BTreeMap<String, String> = BTreeMap::new();
        let mut k = 0;
        let lookup = |assigned: &BTreeMap<String, String>, v: &str| {
            assigned.get(v).cloned().or_else(|| env.get(v).and_then(|(val, _)| val.clone()))
        };
        // Leading `NAME=value` words and `exec`.
        while let Some(w) = words.get(k) {
            let t = w.expand(|v| lookup(&assigned, v)).unwrap_or_default();
            if t == "exec" {
                k += 1;
                continue;
            }
            match t.split_once('=') {
                Some((n, v)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    assigned.insert(n.to_owned(), v.to_owned());
                    k += 1;
                }
                _ => break,
            }
        }
        let texts: Vec<String> =
            words[k..].iter().map(|w| w.expand(|v| lookup(&assigned, v)).unwrap_or_default()).collect();
        let Some((engine, start, positional_model, kserve)) = server_at(&texts) else {
            continue;
        };
        let end = words.last().map_or(script.len(), |w| w.end);
        let args: Vec<Arg> = words[k..]
            .iter()
            .enumerate()
            .map(|(i, w)| match w.expand(|v| lookup(&assigned, v)) {
                Ok(t) => Arg {
                    text: Some(t),
                    pointer: pointer.to_owned(),
                    word: Some((k + i, w.start, w.end)),
                    unknown_var: None,
                },
                Err(v) => Arg {
                    text: None,
                    pointer: pointer.to_owned(),
                    word: Some((k + i, w.start, w.end)),
                    unknown_var: Some(v),
                },
            })
            .collect();
        let script = Some((pointer.to_owned(), script.to_owned(), end));
        return Some(Entry { engine, start, positional_model, append: Site::None, script, kserve, args });
    }
    None
}
