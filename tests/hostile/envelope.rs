//! Hostile AdmissionReview envelopes: every malformed envelope is an answer naming what is wrong, never a panic.

use super::*;

fn envelope_cases() -> Vec<(&'static str, Vec<u8>, Want)> {
    let valid = bytes(&valid_review());
    let text = String::from_utf8(valid.clone()).unwrap();
    let object_at = text.find("\"object\"").unwrap();
    vec![
        ("not JSON", b"hello, webhook".to_vec(), Want::Error("not an AdmissionReview JSON object")),
        ("empty body", vec![], Want::Error("EOF while parsing")),
        ("truncated JSON", valid[..valid.len() / 2].to_vec(), Want::Error("EOF while parsing")),
        ("trailing garbage", [valid.clone(), b"}".to_vec()].concat(), Want::Error("trailing characters")),
        ("JSON null", b"null".to_vec(), Want::Error("not an AdmissionReview JSON object")),
        ("JSON string", b"\"AdmissionReview\"".to_vec(), Want::Error("not an AdmissionReview JSON object")),
        ("empty object", b"{}".to_vec(), Want::Error("apiVersion is missing")),
        (
            "wrong apiVersion",
            bytes(&with(valid_review(), "/apiVersion", json!("admission.k8s.io/v2"))),
            Want::Error("apiVersion 'admission.k8s.io/v2' is not served"),
        ),
        (
            "v1beta1 review",
            bytes(&with(valid_review(), "/apiVersion", json!("admission.k8s.io/v1beta1"))),
            Want::Error("admissionReviewVersions: [v1]"),
        ),
        (
            "wrong kind",
            bytes(&with(valid_review(), "/kind", json!("AdmissionRequest"))),
            Want::Error("kind 'AdmissionRequest' is not accepted"),
        ),
        ("missing request", bytes(&without(valid_review(), "", "request")), Want::Error("request is missing")),
        (
            "missing uid",
            bytes(&without(valid_review(), "/request", "uid")),
            Want::Error("request.uid is missing or empty"),
        ),
        ("empty uid", bytes(&with(valid_review(), "/request/uid", json!(""))), Want::Error("request.uid is missing")),
        ("uid a number", bytes(&with(valid_review(), "/request/uid", json!(42))), Want::Error("invalid type")),
        (
            "missing operation",
            bytes(&without(valid_review(), "/request", "operation")),
            Want::Error("request.operation is missing"),
        ),
        (
            "unknown operation",
            bytes(&with(valid_review(), "/request/operation", json!("PATCH"))),
            Want::Error("request.operation 'PATCH' is not accepted"),
        ),
        (
            "missing object on CREATE",
            bytes(&without(valid_review(), "/request", "object")),
            Want::Error("request.object is missing"),
        ),
        (
            "null object on CREATE",
            bytes(&with(valid_review(), "/request/object", Value::Null)),
            Want::Error("request.object is missing"),
        ),
        (
            "duplicated request key in the envelope",
            format!(r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{}},{}"#, &text[1..])
                .into_bytes(),
            Want::Error("duplicate field `apiVersion`"),
        ),
        (
            "duplicated uid",
            format!("{}\"uid\":\"other\",{}", &text[..object_at], &text[object_at..]).into_bytes(),
            Want::Error("duplicate field `uid`"),
        ),
        (
            // `spec` is read (built); a duplicate key is built before the last one wins.
            "deeply nested JSON in a member the object's readers read",
            text.replacen("\"object\":{", &format!("\"object\":{{\"spec\":{},", nested(100_000)), 1).into_bytes(),
            Want::Error("recursion limit exceeded"),
        ),
        (
            // serde_json skips unread values iteratively: no recursion, no stack to overflow,
            // linear time. Only values vramgate builds are held to the depth limit of 128.
            "deeply nested JSON in a member no reader reads is skipped",
            text.replacen("\"object\":{", &format!("\"object\":{{\"status\":{},", nested(100_000)), 1).into_bytes(),
            Want::Admit(Decision::Allow, Reason::Fits),
        ),
        (
            "a number beyond f64 (1e400) in the object",
            text.replacen("\"parallelism\":2", "\"parallelism\":1e400", 1).into_bytes(),
            Want::Error("number out of range"),
        ),
        (
            "invalid UTF-8 in a skipped field",
            text.replacen("\"username\":\"alice\"", "\"username\":\"al\u{1}ice\"", 1)
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect(),
            Want::Error("not UTF-8"),
        ),
        (
            "a lone surrogate escape in an annotation",
            text.replacen("llama-2-13b", "llama\\ud800", 1).into_bytes(),
            Want::Error("hex escape"),
        ),
        (
            "DELETE without an object",
            bytes(&with(without(valid_review(), "/request", "object"), "/request/operation", json!("DELETE"))),
            Want::Admit(Decision::Skip, Reason::Operation),
        ),
        (
            "object that is a string",
            bytes(&with(valid_review(), "/request/object", json!("a Job, honest"))),
            // Not an object vramgate can read and no annotations: Kubernetes' own validation
            // refuses it (a 400 here could admit it where failurePolicy is Ignore).
            Want::Admit(Decision::Skip, Reason::NotAnnotated),
        ),
    ]
}

#[test]
fn malformed_reviews_get_the_status_and_message_they_deserve() {
    let cases = envelope_cases();
    assert!(cases.len() >= 25);
    for (name, body, want) in cases {
        check(name, &body, want);
    }
}
