//! Typed, error-collecting reads of JSON fields, and RFC 6901 pointer building.
//!
//! Every reader takes the pointer of the object it reads from, so an error names the exact
//! field. JSON `null` is read as "absent" throughout, because that is how Kubernetes decodes
//! it (and how a YAML key with an empty value arrives, e.g. `cpu:`).

use std::collections::BTreeMap;

use crate::json::{Json, Object};

use super::WorkloadError;

/// Upper bound for replica-like counts. Kubernetes stores them as int32; a billion pods is
/// already far beyond any cluster, and the bound keeps products of two counts inside u64.
pub(super) const MAX_COUNT: u64 = 1_000_000_000;

/// Errors of one object, collected rather than returned at the first.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<WorkloadError>);

impl Errors {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(WorkloadError { path: path.into(), message: message.into() });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_vec(self) -> Vec<WorkloadError> {
        self.0
    }
}

/// `base` + `/` + `token`, escaping `~` and `/` as RFC 6901 requires (so
/// `nvidia.com/gpu` becomes `nvidia.com~1gpu`).
pub(super) fn child(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    crate::pointer::push_escaped(&mut out, token);
    out
}

/// `base` + `/` + array index.
pub(super) fn index(base: &str, i: usize) -> String {
    format!("{base}/{i}")
}

/// A field, with `null` read as absent.
pub(super) fn field<'a>(obj: &'a Object<'a>, key: &str) -> Option<&'a Json<'a>> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional field of the type `get` extracts; a wrong type is an error (saying it must be
/// `expected`) and reads as absent.
fn typed<'a, T>(
    obj: &'a Object<'a>,
    key: &str,
    base: &str,
    expected: &str,
    get: impl FnOnce(&'a Json<'a>) -> Option<T>,
    errs: &mut Errors,
) -> Option<T> {
    let v = field(obj, key)?;
    let t = get(v);
    if t.is_none() {
        errs.push(child(base, key), format!("{key} must be {expected}, got {}", v.describe()));
    }
    t
}

/// Whether a required field is present; its absence is reported.
fn present(obj: &Object<'_>, key: &str, base: &str, errs: &mut Errors) -> bool {
    let here = field(obj, key).is_some();
    if !here {
        errs.push(child(base, key), format!("{key} is required"));
    }
    here
}

/// An optional object field; a wrong type is an error and reads as absent.
pub(super) fn opt_object<'a>(obj: &'a Object<'a>, key: &str, base: &str, errs: &mut Errors) -> Option<&'a Object<'a>> {
    typed(obj, key, base, "an object", Json::as_object, errs)
}

/// A required object field: absence is an error too.
pub(super) fn required_object<'a>(
    obj: &'a Object<'a>,
    key: &str,
    base: &str,
    errs: &mut Errors,
) -> Option<&'a Object<'a>> {
    present(obj, key, base, errs).then(|| opt_object(obj, key, base, errs)).flatten()
}

/// An optional array field; a wrong type is an error and reads as absent.
pub(super) fn opt_array<'a>(obj: &'a Object<'a>, key: &str, base: &str, errs: &mut Errors) -> Option<&'a [Json<'a>]> {
    typed(obj, key, base, "a list", Json::as_array, errs)
}

/// A required array field: absence is an error too.
pub(super) fn required_array<'a>(
    obj: &'a Object<'a>,
    key: &str,
    base: &str,
    errs: &mut Errors,
) -> Option<&'a [Json<'a>]> {
    present(obj, key, base, errs).then(|| opt_array(obj, key, base, errs)).flatten()
}

/// The object items of `list` (at `list_ptr`) with their index and pointer; an item that is not
/// an object is reported as "a `what` must be an object" and skipped.
pub(super) fn object_items<'a>(
    list: &'a [Json<'a>],
    list_ptr: &str,
    what: &str,
    errs: &mut Errors,
) -> Vec<(usize, String, &'a Object<'a>)> {
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let ptr = index(list_ptr, i);
        match v.as_object() {
            Some(m) => out.push((i, ptr, m)),
            None => errs.push(ptr, format!("a {what} must be an object, got {}", v.describe())),
        }
    }
    out
}

/// The object items of the required list `spec[key]` of a workload (`root`), each with its
/// index and pointer: a JobSet's replicated Jobs, a Volcano Job's tasks. A missing `spec` or
/// list is an error and reads as empty.
pub(super) fn spec_items<'a>(
    root: &'a Object<'a>,
    key: &str,
    what: &str,
    errs: &mut Errors,
) -> Vec<(usize, String, &'a Object<'a>)> {
    let Some(spec) = required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let Some(list) = required_array(spec, key, "/spec", errs) else {
        return Vec::new();
    };
    object_items(list, &child("/spec", key), what, errs)
}

/// An optional string field; a wrong type is an error and reads as absent.
pub(super) fn opt_string<'a>(obj: &'a Object<'a>, key: &str, base: &str, errs: &mut Errors) -> Option<&'a str> {
    typed(obj, key, base, "a string", Json::as_str, errs)
}

/// A required string field.
pub(super) fn required_string<'a>(obj: &'a Object<'a>, key: &str, base: &str, errs: &mut Errors) -> Option<&'a str> {
    present(obj, key, base, errs).then(|| opt_string(obj, key, base, errs)).flatten()
}

/// An optional string field naming something, or `fallback` when absent or empty (Kubernetes
/// operators name unnamed groups by index).
pub(super) fn name_or(
    obj: &Object<'_>,
    key: &str,
    base: &str,
    fallback: impl FnOnce() -> String,
    errs: &mut Errors,
) -> String {
    opt_string(obj, key, base, errs).filter(|n| !n.is_empty()).map_or_else(fallback, str::to_owned)
}

/// An optional boolean field.
pub(super) fn opt_bool(obj: &Object<'_>, key: &str, base: &str, errs: &mut Errors) -> Option<bool> {
    typed(obj, key, base, "true or false", Json::as_bool, errs)
}

/// An optional count (replicas, parallelism, size, ...): a JSON integer from 0 to
/// [`MAX_COUNT`]. Like Kubernetes' int32 fields, `3.0` and `"3"` are rejected: the API server
/// would refuse them, so accepting them here would approve an object that can never run.
pub(super) fn opt_count(obj: &Object<'_>, key: &str, base: &str, errs: &mut Errors) -> Option<u64> {
    opt_count_up_to(obj, key, base, MAX_COUNT, errs)
}

/// [`opt_count`] with another upper bound, for fields whose documented default is larger
/// (KubeRay's `maxReplicas` defaults to the int32 maximum).
pub(super) fn opt_count_up_to(obj: &Object<'_>, key: &str, base: &str, max: u64, errs: &mut Errors) -> Option<u64> {
    let v = field(obj, key)?;
    if let Some(c) = v.as_u64().filter(|&c| c <= max) {
        return Some(c);
    }
    errs.push(child(base, key), format!("{key} must be a whole number from 0 to {max}, got {}", v.describe()));
    None
}

/// A count with the kind's default when absent. A bad value was reported; it reads as the
/// default so the rest of the object is still checked.
pub(super) fn count(obj: &Object<'_>, key: &str, base: &str, default: u64, errs: &mut Errors) -> u64 {
    opt_count(obj, key, base, errs).unwrap_or(default)
}

/// A `map[string]string` field such as labels or annotations.
pub(super) fn string_map(obj: &Object<'_>, key: &str, base: &str, errs: &mut Errors) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(m) = opt_object(obj, key, base, errs) else {
        return out;
    };
    let here = child(base, key);
    for (k, v) in m {
        match v {
            Json::String(s) => {
                out.insert(k.to_owned(), s.to_string());
            }
            // Kubernetes drops a null map value on decode; it is not an error.
            Json::Null => {}
            other => errs.push(child(&here, k), format!("{k} must be a string, got {}", other.describe())),
        }
    }
    out
}
