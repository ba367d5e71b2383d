//! Checks shared by the review targets: what every answer to any body must satisfy.

use base64::Engine as _;
use serde_json::Value;
use vramgate::admission::{self, Answer, Decision, Endpoint};
use vramgate::config::Settings;

#[derive(serde::Deserialize)]
struct Sent {
    request: Option<SentRequest>,
}

#[derive(serde::Deserialize)]
struct SentRequest {
    uid: Option<String>,
}

/// Answers `body` on `endpoint` and checks the invariants of ARCHITECTURE.md: a 200 or a 400,
/// a JSON body, a 200 echoes the request's uid and carries a record, a 400 names its problem,
/// the mutating endpoint never denies, the validating one denies exactly when it decided
/// `deny`. Returns the answer and its body as JSON.
pub fn checked_answer(settings: &Settings, endpoint: Endpoint, body: &[u8]) -> (Answer, Value) {
    let a = admission::review(settings, None, endpoint, body);
    let v: Value = serde_json::from_slice(&a.body).expect("every answer body is JSON");
    match a.status {
        200 => {
            // A 200 answers JSON (RFC 8259: UTF-8; a lone surrogate escape is grammatical,
            // though serde_json will not decode one into a string, so unread fields may hold
            // one) whose request has a uid.
            let text = std::str::from_utf8(body).expect("a 200 answers a UTF-8 body");
            let sent: Sent = serde_json::from_str(text).expect("a 200 answers a JSON body");
            let uid = sent.request.and_then(|r| r.uid).expect("a 200 answers a review with a uid");
            let uid = uid.as_str();
            assert!(!uid.is_empty());
            assert_eq!(v["response"]["uid"].as_str(), Some(uid), "a 200 echoes the uid");
            assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(v["kind"], "AdmissionReview");
            let record = a.record.as_ref().expect("a 200 has a record");
            let allowed = v["response"]["allowed"].as_bool().expect("allowed is a boolean");
            match endpoint {
                Endpoint::Mutate => {
                    assert!(allowed, "the mutating endpoint never denies: {v}");
                    if let Some(p) = v["response"]["patch"].as_str() {
                        assert_eq!(v["response"]["patchType"], "JSONPatch");
                        let bytes = base64::engine::general_purpose::STANDARD.decode(p).expect("patch is base64");
                        let _: Value = serde_json::from_slice(&bytes).expect("patch is JSON");
                    }
                }
                Endpoint::Validate => {
                    assert_eq!(allowed, record.decision != Decision::Deny, "{v}");
                    assert!(v["response"].get("patch").is_none(), "the validating endpoint never patches");
                    if !allowed {
                        assert_eq!(v["response"]["status"]["code"], 403);
                    }
                }
            }
            if let Some(w) = v["response"]["warnings"].as_array() {
                assert!(w.len() <= vramgate::admission::review::MAX_WARNINGS);
                for line in w {
                    let line = line.as_str().expect("a warning is a string");
                    assert!(line.chars().count() <= vramgate::admission::review::MAX_WARNING_CHARS, "{line}");
                }
            }
        }
        400 => {
            assert!(a.record.is_none(), "a 400 has no record");
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "a 400 names its problem: {v}");
        }
        other => panic!("status {other} is neither 200 nor 400"),
    }
    (a, v)
}
