//! The answers of a Kubernetes API server played by `tower_test::mock` (kube-rs's own way of
//! testing clients), shared by the cluster watchers' tests and the audit's.

use axum::http::Response;
use kube::client::Body;
use serde_json::{Value, json};

/// What the fake API server answers for a collection.
#[derive(Clone)]
pub enum Listed {
    Items(Vec<Value>),
    Status(u16),
}

/// A response with `content-type: application/json`.
pub fn json_reply(code: u16, body: Vec<u8>) -> Response<Body> {
    Response::builder().status(code).header("content-type", "application/json").body(Body::from(body)).unwrap()
}

/// A `Status` failure object for `code`, with the reason the API server gives it.
pub fn status_json(code: u16) -> Value {
    let reason = match code {
        404 => "NotFound",
        403 => "Forbidden",
        _ => "InternalError",
    };
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("fake API server: {code}"), "reason": reason, "code": code
    })
}

/// A `Status` failure answered with `code`.
pub fn status_reply(code: u16) -> Response<Body> {
    json_reply(code, serde_json::to_vec(&status_json(code)).unwrap())
}

/// The answer to a list request: the items as a `List`, the failure scripted, or a 404 (as for
/// a CRD not installed) where nothing is scripted.
pub fn list_reply(listed: Option<&Listed>) -> Response<Body> {
    match listed {
        Some(Listed::Items(items)) => json_reply(
            200,
            serde_json::to_vec(&json!({
                "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "100"}, "items": items
            }))
            .unwrap(),
        ),
        Some(Listed::Status(code)) => status_reply(*code),
        None => status_reply(404),
    }
}
