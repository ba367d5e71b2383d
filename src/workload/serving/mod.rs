//! Inference servers in pod templates: which container runs vLLM, SGLang or TGI, and the
//! `vramgate.io/*` serving keys its command line, environment and image tag amount to (the same
//! keys and value syntax as the annotations; README "Serving deployments").
//!
//! **Pure.** Every value read records where it came from (a JSON pointer, and for a `sh -c`
//! script the word), so a message can point at it. What cannot be read (a `$(cat f)` in a
//! script, a variable set from a Secret) is a problem that says so; flags not in the tables
//! below are listed, never dropped and never fatal; a flag the engine itself would refuse (a
//! value missing, a stray argument, a `--dtype` it does not know) is a problem naming it.
//!
//! Precedence, lowest first: the engine's own default (only TGI's `--num-shard`, which
//! defaults to every visible GPU), the environment, the command line; annotations on the
//! object override all of it (`admission::decide::screen`).

mod flags;
mod shell;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::json::Json;

use super::{PodGroup, WorkloadKind};
use flags::Takes;

/// The serving engines recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Vllm,
    Sglang,
    Tgi,
}

impl Engine {
    /// The `vramgate.io/engine` value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
            Engine::Tgi => "tgi",
        }
    }

    /// The engine's flag that sets the longest request it accepts: vLLM `--max-model-len`,
    /// SGLang `--context-length`, TGI `--max-total-tokens`.
    #[must_use]
    pub fn max_model_len_flag(self) -> &'static str {
        match self {
            Engine::Vllm => "--max-model-len",
            Engine::Sglang => "--context-length",
            Engine::Tgi => "--max-total-tokens",
        }
    }
}

/// A value read from the object, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced {
    pub value: String,
    /// RFC 6901 pointer to the field holding it (an `args` element, an `env[i].value`, the
    /// `image`, a `sh -c` script).
    pub pointer: String,
    /// How it was read there, for messages: `--max-model-len=8192`, `env MODEL_ID`,
    /// `image tag v0.6.4`, `shell word 5`.
    pub via: String,
}

impl Sourced {
    /// `pointer (via)`, for messages.
    #[must_use]
    pub fn at(&self) -> String {
        format!("{} ({})", self.pointer, self.via)
    }
}

/// The server a workload runs, as read from one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serving {
    pub engine: Engine,
    /// Pointer to the container (`/spec/template/spec/containers/0`).
    pub container_pointer: String,
    /// The serving keys (names without the `vramgate.io/` prefix, values in the annotation
    /// syntax), each with its source; always `workload` = `serving` and `engine`.
    pub keys: BTreeMap<String, Sourced>,
    /// Flags the tables do not know: kept, listed, not used (`--port=8000`).
    pub unknown_flags: Vec<Sourced>,
    /// Flags known and read but not part of the estimate (`--host`, `--served-model-name`).
    pub ignored_flags: Vec<String>,
    /// What the engine would refuse, or what vramgate cannot read; each at its field.
    pub problems: Vec<Problem>,
    /// Facts worth saying that are not problems (engine version unknown from `latest`).
    pub notes: Vec<String>,
    /// Where the max-model-len flag sits (or where it would go), for
    /// [`max_model_len_patch`].
    #[serde(skip)]
    site: Site,
}

impl Serving {
    /// The serving keys as plain `key -> value` (as `request::fields_from_annotations` gives).
    #[must_use]
    pub fn fields(&self) -> BTreeMap<String, String> {
        self.keys.iter().map(|(k, s)| (k.clone(), s.value.clone())).collect()
    }
}

/// What the engine would refuse, or what vramgate cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The serving key it is about, when one: an annotation of that key settles it (the value
    /// vramgate could not read is then given).
    pub key: Option<String>,
    /// RFC 6901 pointer to the field.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Where a patch of max-model-len writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Site {
    /// The whole array element at the pointer is the value (`["--max-model-len", "8192"]`).
    Element { pointer: String },
    /// The array element at the pointer is `--flag=value`.
    Joined { pointer: String, flag: String },
    /// An `env[i].value` (TGI `MAX_TOTAL_TOKENS`).
    Env { pointer: String },
    /// A word of the `sh -c` script at the pointer, byte span `start..end`; `flag` when the
    /// word is `--flag=value`.
    ShellWord { pointer: String, script: String, start: usize, end: usize, flag: Option<String> },
    /// Absent: append `--flag=N` to the array at the pointer (`exists`: the array is there,
    /// else it is created).
    Append { pointer: String, exists: bool, flag: String },
    /// Absent from a script: insert ` --flag=N` at byte `at` (the end of the server's words).
    ShellAppend { pointer: String, script: String, at: usize, flag: String },
    /// Not patchable (values that came through a variable vramgate cannot follow).
    #[default]
    None,
}

/// One RFC 6902 operation (`op` is `replace` or `add`); the shell turns it into the
/// webhook's patch type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonPatchOp {
    pub op: &'static str,
    pub path: String,
    pub value: serde_json::Value,
}

/// The JSON-patch operations that set the engine's max-model-len flag to `n` in the serving
/// container: the existing value replaced where it is (an args element, `--flag=value`, a
/// `sh -c` word, TGI's `MAX_TOTAL_TOKENS` env), else `--flag=n` appended to the arguments (or
/// inserted after the server's last word in a script).
///
/// # Errors
/// When the value came through something a patch cannot rewrite faithfully (a variable
/// whose value is not literal).
pub fn max_model_len_patch(serving: &Serving, n: u64) -> Result<Vec<JsonPatchOp>, String> {
    let replace = |path: &str, value: String| JsonPatchOp { op: "replace", path: path.to_owned(), value: value.into() };
    Ok(match &serving.site {
        Site::Element { pointer } | Site::Env { pointer } => vec![replace(pointer, n.to_string())],
        Site::Joined { pointer, flag } => vec![replace(pointer, format!("{flag}={n}"))],
        Site::ShellWord { pointer, script, start, end, flag } => {
            let word = flag.as_ref().map_or_else(|| n.to_string(), |f| format!("{f}={n}"));
            vec![replace(pointer, format!("{}{word}{}", &script[..*start], &script[*end..]))]
        }
        Site::ShellAppend { pointer, script, at, flag } => {
            vec![replace(pointer, format!("{} {flag}={n}{}", &script[..*at], &script[*at..]))]
        }
        Site::Append { pointer, exists: true, flag } => {
            vec![JsonPatchOp { op: "add", path: format!("{pointer}/-"), value: format!("{flag}={n}").into() }]
        }
        Site::Append { pointer, exists: false, flag } => {
            vec![JsonPatchOp { op: "add", path: pointer.clone(), value: serde_json::json!([format!("{flag}={n}")]) }]
        }
        Site::None => {
            return Err(format!(
                "{}'s {} comes through a value vramgate cannot rewrite; set it in the container's args",
                serving.container_pointer,
                serving.engine.max_model_len_flag()
            ));
        }
    })
}

/// One argument of the container's argv, with its origin.
#[derive(Debug, Clone)]
struct Arg {
    /// The text after expansion; `None` when it holds a variable with no literal value.
    text: Option<String>,
    /// Pointer to the array element (or to the script holding the word).
    pointer: String,
    /// For a word of a script: its index, span, and the script.
    word: Option<(usize, usize, usize)>,
    /// The variable whose value is unknown, when `text` is `None`.
    unknown_var: Option<String>,
}

/// The literal environment of a container: name -> (value, pointer); `None` for a value from
/// `valueFrom` (Secret, ConfigMap, field reference).
type Env = BTreeMap<String, (Option<String>, String)>;

/// Finds the first container, in group order, that runs a known server, and reads it.
/// InferenceService predictors add their `model` container (KServe's huggingface runtime).
pub(super) fn detect(obj: &Json<'_>, kind: WorkloadKind, groups: &[PodGroup]) -> Option<Serving> {
    let mut seen = Vec::new();
    for g in groups {
        if seen.contains(&g.pod_template_pointer) {
            continue;
        }
        seen.push(g.pod_template_pointer.clone());
        let mut candidates: Vec<String> = Vec::new();
        if kind == WorkloadKind::InferenceService {
            candidates.push(format!("{}/model", g.pod_template_pointer));
        }
        let list = format!("{}/containers", g.pod_template_pointer);
        let n = obj.pointer(&list).and_then(Json::as_array).map_or(0, <[Json<'_>]>::len);
        candidates.extend((0..n).map(|i| format!("{list}/{i}")));
        for c_ptr in candidates {
            let Some(c) = obj.pointer(&c_ptr).filter(|c| c.as_object().is_some()) else {
                continue;
            };
            if let Some(mut s) = read_container(c, &c_ptr, kind) {
                if kind == WorkloadKind::InferenceService {
                    kserve_fields(obj, &g.pod_template_pointer, &mut s);
                }
                check_gpus(&mut s, groups, g);
                return Some(s);
            }
        }
    }
    None
}

/// Reads one container; `None` when it runs no known server.
fn read_container(c: &Json<'_>, c_ptr: &str, kind: WorkloadKind) -> Option<Serving> {
    let image = c.get("image").and_then(Json::as_str).unwrap_or("");
    let env = read_env(c, c_ptr);
    let mut problems = Vec::new();
    let array = |key: &str, problems: &mut Vec<Problem>| -> Option<Vec<Arg>> {
        let list = c.get(key)?.as_array()?;
        let ptr = format!("{c_ptr}/{key}");
        Some(
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    let pointer = format!("{ptr}/{i}");
                    match v.as_str() {
                        Some(s) => kubernetes_expand(s, &env, pointer),
                        None => {
                            problems.push(err(&pointer, format!("an argument must be a string, got {}", v.describe())));
                            Arg { text: None, pointer, word: None, unknown_var: None }
                        }
                    }
                })
                .collect(),
        )
    };
    let command = array("command", &mut problems);
    let args = array("args", &mut problems);
    let image_engine = image_engine(image);
    let kserve_model = kind == WorkloadKind::InferenceService && c_ptr.ends_with("/model");

    // Kubernetes: `command` replaces the image's ENTRYPOINT (and drops its CMD); `args` alone
    // follow the image's ENTRYPOINT ("Define a Command and Arguments for a Container").
    let args_ptr = format!("{c_ptr}/args");
    let entry = match (command, args) {
        (Some(mut cmd), args) => {
            let exists = args.is_some();
            cmd.extend(args.unwrap_or_default());
            find_server(cmd, &env, &mut problems).map(|mut e| {
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
    let mut s = Serving {
        engine: entry.engine,
        container_pointer: c_ptr.to_owned(),
        keys: BTreeMap::new(),
        unknown_flags: Vec::new(),
        ignored_flags: Vec::new(),
        problems,
        notes: Vec::new(),
        site: Site::None,
    };
    let src = |value: &str, pointer: &str, via: &str| Sourced {
        value: value.to_owned(),
        pointer: pointer.to_owned(),
        via: via.to_owned(),
    };
    s.keys.insert("workload".into(), src("serving", c_ptr, "server command"));
    s.keys.insert("engine".into(), src(entry.engine.as_str(), c_ptr, "server command"));
    version(image, entry.engine, c_ptr, &mut s);
    read_env_keys(&env, &mut s);
    read_flags(&entry, &mut s);
    if entry.engine == Engine::Tgi && !s.keys.contains_key("tensor-parallel") {
        s.notes.push("TGI without --num-shard / NUM_SHARD shards over every GPU the container sees".into());
    }
    Some(s)
}

/// Where the server's own arguments begin, and how to add one.
struct Entry {
    engine: Engine,
    /// Index in argv of the first argument after the server's executable.
    start: usize,
    /// `vllm serve MODEL`: the first bare word is the model.
    positional_model: bool,
    append: Site,
    /// For a `sh -c` script: (pointer, script text, byte after the server's last word).
    script: Option<(String, String, usize)>,
    /// KServe's huggingfaceserver: `--model_id`, `--model_name` and vLLM's flags.
    kserve: bool,
    /// The argv (or the script's words) the server's arguments are read from.
    args: Vec<Arg>,
}

/// A variable as the script wrote it: `$NAME`, or a substitution as is.
fn shown_var(v: &str) -> String {
    if v.starts_with('$') || v.starts_with('`') { v.to_owned() } else { format!("${v}") }
}

fn err(path: &str, message: String) -> Problem {
    Problem { key: None, path: path.to_owned(), message }
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

fn read_env(c: &Json<'_>, c_ptr: &str) -> Env {
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
fn image_engine(image: &str) -> Option<Engine> {
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

/// The engine version from the image tag, when the image is the engine's own and the tag
/// is a release (`v0.6.4`, `0.6.4.post1`, `v0.4.1-cu124`, `2.4.0`); else unknown, said so.
fn version(image: &str, engine: Engine, c_ptr: &str, s: &mut Serving) {
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

/// TGI reads each of its flags from the variable of the same name (clap `env`); a flag on the
/// command line wins, so these are read first.
fn read_env_keys(env: &Env, s: &mut Serving) {
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

/// Reads the server's arguments (argparse / clap rules: `--flag=value` or `--flag value`, the
/// last occurrence wins).
fn read_flags(entry: &Entry, s: &mut Serving) {
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
                s.problems.push(err(
                    &a.pointer,
                    format!(
                        "'{t}' is an argument {} does not take (it would exit with \"unrecognized arguments\")",
                        s.engine.as_str()
                    ),
                ));
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
                s.problems.push(err(
                    &a.pointer,
                    format!("{name} is a switch and takes no value, got '{v}': {} would refuse it", s.engine.as_str()),
                ));
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
                    s.problems.push(err(
                        &a.pointer,
                        format!(
                            "{name} needs a value: {} would refuse it (\"expected one argument\")",
                            s.engine.as_str()
                        ),
                    ));
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

/// KServe InferenceService: the model from `storageUri` (`hf://org/name`) when no flag
/// names it, and the multi-node `workerSpec`'s parallel sizes (KServe
/// `pkg/apis/serving/v1beta1/component.go`, WorkerSpec).
fn kserve_fields(obj: &Json<'_>, predictor: &str, s: &mut Serving) {
    let uri_ptr = format!("{predictor}/model/storageUri");
    if !s.keys.contains_key("model")
        && let Some(uri) = obj.pointer(&uri_ptr).and_then(Json::as_str)
    {
        match uri.strip_prefix("hf://") {
            Some(id) => {
                let id = id.split(':').next().unwrap_or(id);
                s.keys.insert(
                    "model".into(),
                    Sourced { value: id.to_owned(), pointer: uri_ptr, via: format!("storageUri {uri}") },
                );
            }
            None => s.problems.push(Problem {
                key: Some("model".into()),
                path: uri_ptr,
                message: format!(
                    "the model is read from storage ({uri}), which does not name its architecture: \
                     set vramgate.io/model, vramgate.io/architecture or vramgate.io/hf-config"
                ),
            }),
        }
    }
    for (field, key) in [("tensorParallelSize", "tensor-parallel"), ("pipelineParallelSize", "pipeline-parallel")] {
        let ptr = format!("{predictor}/workerSpec/{field}");
        if let Some(v) = obj.pointer(&ptr) {
            let value = v.as_u64().map_or_else(|| v.to_string(), |n| n.to_string());
            s.keys.insert(key.into(), Sourced { value, pointer: ptr, via: format!("workerSpec.{field}") });
        }
    }
}

/// The GPUs one copy of the server holds (a pod; a LeaderWorkerSet's leader and workers
/// together) against tensor-parallel x pipeline-parallel; TGI's default `--num-shard` is
/// every GPU the container sees (launcher/src/main.rs, `num_cuda_devices`).
fn check_gpus(s: &mut Serving, groups: &[PodGroup], g: &PodGroup) {
    let lws = groups.iter().any(|x| x.role == "worker") && groups.iter().any(|x| x.role == "leader");
    let gpus: u64 = if lws {
        groups.iter().map(|x| x.pods_per_replica.saturating_mul(x.gpus_per_pod)).fold(0, u64::saturating_add)
    } else {
        g.gpus_per_pod
    };
    if gpus == 0 {
        return;
    }
    if s.engine == Engine::Tgi && !s.keys.contains_key("tensor-parallel") {
        s.keys.insert(
            "tensor-parallel".into(),
            Sourced {
                value: g.gpus_per_pod.to_string(),
                pointer: s.container_pointer.clone(),
                via: "TGI default: every GPU of the pod".into(),
            },
        );
    }
    let read = |k: &str| s.keys.get(k).and_then(|v| v.value.parse::<u64>().ok());
    let (tp, pp) = (read("tensor-parallel").unwrap_or(1), read("pipeline-parallel").unwrap_or(1));
    let need = tp.saturating_mul(pp);
    if need > gpus {
        let at = s
            .keys
            .get("tensor-parallel")
            .or_else(|| s.keys.get("pipeline-parallel"))
            .map_or_else(|| s.container_pointer.clone(), |v| v.pointer.clone());
        let scope = if lws { "each leader-worker group holds" } else { "the pod asks for" };
        s.problems.push(Problem {
            key: Some("tensor-parallel".into()),
            path: at,
            message: format!(
                "tensor-parallel {tp} x pipeline-parallel {pp} needs {need} GPUs, {scope} {gpus}: {} would not start",
                s.engine.as_str()
            ),
        });
    }
}

/// The fields a workload is judged by: the serving keys read from its container, each
/// overridden by an annotation of the same key, with the problems of the keys no annotation
/// settles. An object annotated `vramgate.io/workload` other than `serving` is not judged as a
/// server: its annotations alone count. Until the contract defines the serving keys (the
/// `engine` key), the annotations alone count too.
#[must_use]
pub fn merged_fields(serving: Option<&Serving>, annotated: &BTreeMap<String, String>) -> Merged {
    if crate::request::INPUT_KEYS.contains(&"engine") { merge(serving, annotated) } else { merge(None, annotated) }
}

/// [`merged_fields`] whatever the contract defines.
fn merge(serving: Option<&Serving>, annotated: &BTreeMap<String, String>) -> Merged {
    let unmerged = || Merged { fields: annotated.clone(), read: BTreeMap::new(), problems: Vec::new() };
    let Some(s) = serving else { return unmerged() };
    if annotated.get("workload").is_some_and(|w| w.trim() != "serving") {
        return unmerged();
    }
    // The model is given by exactly one key (`request::resolve_model`): an annotated one of
    // them replaces the container's model.
    let model_annotated = MODEL_KEYS.iter().any(|k| annotated.contains_key(*k));
    let settled = |k: &str| annotated.contains_key(k) || (k == "model" && model_annotated);
    let read: BTreeMap<String, Sourced> =
        s.keys.iter().filter(|(k, _)| !settled(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut fields: BTreeMap<String, String> = read.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
    fields.extend(annotated.iter().map(|(k, v)| (k.clone(), v.clone())));
    let problems = s.problems.iter().filter(|p| p.key.as_deref().is_none_or(|k| !settled(k))).cloned().collect();
    Merged { fields, read, problems }
}

/// The keys that give the model, exactly one of which a request takes.
const MODEL_KEYS: [&str; 4] = ["model", "parameters", "architecture", "hf-config"];

/// What [`merged_fields`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Key -> value, annotations over what the container says.
    pub fields: BTreeMap<String, String>,
    /// The keys taken from the container, with their sources (for messages).
    pub read: BTreeMap<String, Sourced>,
    pub problems: Vec<Problem>,
}
