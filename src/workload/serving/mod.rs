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
//!
//! One concern a file: `command.rs` finds the server a container runs and its arguments
//! (command, args, image entrypoint, `sh -c` scripts through `shell.rs`); `keys.rs` reads
//! its image tag, environment and flags (tables in `flags.rs`) into the serving keys;
//! `patch.rs` writes max-model-len back; `merge.rs` puts the annotations over the keys.

mod command;
mod flags;
mod keys;
mod merge;
mod patch;
mod shell;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::json::Json;

use super::{PodGroup, WorkloadKind};
#[cfg(test)]
use merge::merge;
pub use merge::{Merged, merged_fields};
use patch::Site;
pub use patch::{JsonPatchOp, max_model_len_patch};

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
    let env = command::read_env(c, c_ptr);
    let mut problems = Vec::new();
    let entry = command::server_entry(c, c_ptr, kind, image, &env, &mut problems)?;
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
    keys::version(image, entry.engine, c_ptr, &mut s);
    keys::read_env_keys(&env, &mut s);
    keys::read_flags(&entry, &mut s);
    if entry.engine == Engine::Tgi && !s.keys.contains_key("tensor-parallel") {
        s.notes.push("TGI without --num-shard / NUM_SHARD shards over every GPU the container sees".into());
    }
    Some(s)
}

fn err(path: &str, message: String) -> Problem {
    Problem { key: None, path: path.to_owned(), message }
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
