//! The JSON patch that sets the engine's max-model-len flag where the container gives it:
//! [`Site`] (recorded while the flags are read, `keys.rs`) and [`max_model_len_patch`].

use serde::Serialize;

use super::Serving;

/// Where a patch of max-model-len writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Site {
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
