//! Hostile input (issue 5): malformed and adversarial reviews, each with the HTTP status and
//! the message it must get, through `admission::review` and, for the transport-level ones,
//! through the webhook router without a socket. None may panic, hang, return 500, or admit a
//! job that the same job without the bad field would have been denied: every annotation and
//! field case is also applied to a job that is denied, and must leave it denied.
//!
//! Decisions written down here (and in docs/fuzzing.md):
//! - **The object decides, not `request.kind`.** The object is what gets admitted, so it is
//!   judged by its own `apiVersion`/`kind`; `request.kind` only labels metrics. A review whose
//!   `request.kind` disagrees is answered 200 and judged on the object: a 400 would let the
//!   object in unjudged wherever the webhook's `failurePolicy` is `Ignore`.
//! - **Duplicate JSON keys:** inside the object, the last one wins (serde_json's rule, and the
//!   Go decoder's the API server uses, so the webhook judges what the API server stores);
//!   duplicate fields of the review envelope itself are a 400 (serde's `duplicate field`).
//! - **Invalid UTF-8 anywhere in the body** is a 400, even in fields vramgate does not read
//!   (found by the `review_body` fuzz target).
//! - **Members no reader reads** (not on `admission::review::read_member`'s allow-list) are
//!   syntax-checked and skipped, never built, at any size or depth (issue 12); of the members
//!   read, more than `server.max_object_nodes` values per object is a 400 naming the limit.
//!   Deep nesting is a 400 only in members that are read.

use crate::common::objects::{UID, gpu_job, review_of};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use vramgate::admission::review::read_member;
use vramgate::admission::{self, Answer, Decision, Endpoint, Reason};
use vramgate::config::Settings;
use vramgate::json;
use vramgate::server::{AppState, MAX_BODY_BYTES, webhook_router};

const A100: &str = "NVIDIA-A100-SXM4-80GB";

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A batch/v1 Job `train` of `parallelism` pods with `gpus` each.
fn job(annotations: Value, parallelism: u64, gpus: u64, product: Option<&str>) -> Value {
    gpu_job("train", annotations, parallelism, gpus, product)
}

/// Fits 2 x 4 H100s: Llama 2 13B, bf16-mixed, ZeRO-3.
fn fits() -> Value {
    job(
        json!({
            "vramgate.io/model": "llama-2-13b",
            "vramgate.io/precision": "bf16-mixed",
            "vramgate.io/strategy": "zero3",
            "vramgate.io/micro-batch-size": "1",
            "vramgate.io/sequence-length": "2048",
            "vramgate.io/training-tokens": "20B"
        }),
        2,
        4,
        None,
    )
}

/// Denied (does not fit): Llama 2 13B in fp32 with DDP on 8 A100-80GB.
fn too_big() -> Value {
    job(
        json!({
            "vramgate.io/model": "llama-2-13b",
            "vramgate.io/precision": "fp32",
            "vramgate.io/strategy": "ddp",
            "vramgate.io/micro-batch-size": "1",
            "vramgate.io/sequence-length": "2048",
            "vramgate.io/training-tokens": "20B"
        }),
        1,
        8,
        Some(A100),
    )
}

/// What a case must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// 400 whose `error` contains the text.
    Error(&'static str),
    /// 200, denied, the 403 message contains the text.
    Deny(&'static str),
    /// 200, admitted with warnings that contain the text.
    Warn(&'static str),
    /// 200, admitted with this decision and reason.
    Admit(Decision, Reason),
}

/// The text a user reads: a 400's error, a denial's message, or the warnings joined.
fn message(v: &Value) -> String {
    if let Some(e) = v["error"].as_str() {
        return e.to_string();
    }
    if let Some(m) = v["response"]["status"]["message"].as_str() {
        return m.to_string();
    }
    let lines: Vec<&str> = v["response"]["warnings"].as_array().map_or(vec![], |w| {
        w.iter().map(|l| l.as_str().unwrap().trim_start_matches("vramgate: ").trim_start_matches('…')).collect()
    });
    lines.join(" ")
}

/// Answers `body` on the validating endpoint (and the mutating one, which must answer the same
/// status and never deny) and checks `want`. Returns the validating answer.
fn check(name: &str, body: &[u8], want: Want) -> Answer {
    let started = Instant::now();
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, body);
    let m = admission::review(&Settings::default(), None, Endpoint::Mutate, body);
    assert!(started.elapsed() < Duration::from_secs(5), "{name}: took {:?}", started.elapsed());
    let v: Value = serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
    let mv: Value = serde_json::from_slice(&m.body).unwrap_or_else(|e| panic!("{name}: mutate body is not JSON: {e}"));
    assert_eq!(m.status, a.status, "{name}: both endpoints answer the same status");
    if m.status == 200 {
        assert_eq!(mv["response"]["allowed"], true, "{name}: the mutating endpoint never denies");
        assert_eq!(mv["response"]["uid"], UID, "{name}");
    }
    let text = message(&v);
    match want {
        Want::Error(s) => {
            assert_eq!(a.status, 400, "{name}: {v}");
            assert!(a.record.is_none(), "{name}");
            assert!(text.contains(s), "{name}: {text:?} should contain {s:?}");
        }
        Want::Deny(s) => {
            assert_eq!(a.status, 200, "{name}: {v}");
            assert_eq!(v["response"]["uid"], UID, "{name}");
            assert_eq!(v["response"]["allowed"], false, "{name}: {v}");
            assert_eq!(v["response"]["status"]["code"], 403, "{name}");
            assert!(text.contains(s), "{name}: {text:?} should contain {s:?}");
        }
        Want::Warn(s) => {
            assert_eq!(a.status, 200, "{name}: {v}");
            assert_eq!(v["response"]["allowed"], true, "{name}: {v}");
            assert_eq!(a.record.as_ref().unwrap().decision, Decision::Warn, "{name}: {v}");
            assert!(text.contains(s), "{name}: {text:?} should contain {s:?}");
        }
        Want::Admit(d, r) => {
            assert_eq!(a.status, 200, "{name}: {v}");
            assert_eq!(v["response"]["uid"], UID, "{name}");
            assert_eq!(v["response"]["allowed"], true, "{name}: {v}");
            let rec = a.record.as_ref().unwrap();
            assert_eq!((rec.decision, rec.reason), (d, r), "{name}: {v}");
        }
    }
    a
}

// ------------------------------------------------------------------ the envelope

fn valid_review() -> Value {
    review_of(&fits(), "CREATE", "research")
}

fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    *v.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
    v
}

fn without(mut v: Value, parent: &str, key: &str) -> Value {
    v.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key);
    v
}

/// `depth` nested arrays around `null`.
fn nested(depth: usize) -> String {
    format!("{}null{}", "[".repeat(depth), "]".repeat(depth))
}

// The envelope cases: in hostile/envelope.rs.
mod envelope;

// ------------------------------------------------------------------ the object: fields and annotations

/// Builds a review body from a (clean) object.
type Make = fn(Value) -> Vec<u8>;

fn ann(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    obj["metadata"]["annotations"].as_object_mut().unwrap()
}

fn limits(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].as_object_mut().unwrap()
}

/// The CREATE review (namespace `research`) of `obj`, as bytes.
fn create(obj: &Value) -> Vec<u8> {
    bytes(&review_of(obj, "CREATE", "research"))
}

/// The review of `obj` with `key: value` inserted in the map `at` returns (annotations, limits).
fn insert(
    mut obj: Value,
    at: fn(&mut Value) -> &mut serde_json::Map<String, Value>,
    key: &str,
    value: Value,
) -> Vec<u8> {
    at(&mut obj).insert(key.to_owned(), value);
    create(&obj)
}

fn set_ann(obj: Value, key: &str, value: &str) -> Vec<u8> {
    insert(obj, ann, &format!("vramgate.io/{key}"), json!(value))
}

fn use_parameters(mut obj: Value, value: &str) -> Vec<u8> {
    ann(&mut obj).remove("vramgate.io/model");
    set_ann(obj, "parameters", value)
}

fn set_limit(obj: Value, value: Value) -> Vec<u8> {
    insert(obj, limits, "nvidia.com/gpu", value)
}

fn set_parallelism(mut obj: Value, value: Value) -> Vec<u8> {
    obj["spec"]["parallelism"] = value;
    create(&obj)
}

/// The review of `obj` as text, with `"vramgate.io/strategy":"<first>",` inserted before the
/// object's own strategy annotation: the key twice, the object's own value last.
fn duplicated_strategy(obj: Value, first: &str) -> Vec<u8> {
    let text = String::from_utf8(create(&obj)).unwrap();
    let at = text.find("\"vramgate.io/strategy\"").unwrap();
    format!("{}\"vramgate.io/strategy\":\"{first}\",{}", &text[..at], &text[at..]).into_bytes()
}

// The object cases: in hostile/objects.rs.
mod objects;

#[test]
fn a_job_whose_pods_ask_for_no_gpu_is_warned_not_denied() {
    // Zero GPUs is not a malformed field: such a job holds no GPU, so there is nothing to deny
    // (an UPDATE that adds GPUs later is judged again). The only hostile edits excluded from
    // `a_bad_field_never_admits_a_job_that_was_denied`.
    for (name, body) in [
        ("GPU limit zero", set_limit(too_big(), json!(0))),
        ("GPU limit null", set_limit(too_big(), Value::Null)),
        ("parallelism zero", set_parallelism(too_big(), json!(0))),
    ] {
        check(name, &body, Want::Warn("pods ask for no GPU"));
    }
}

#[test]
fn duplicated_annotation_keys_take_the_last_value_in_both_orders() {
    // The denied job's own `ddp` last: denied, whatever came first.
    check("zero3 then ddp", &duplicated_strategy(too_big(), "zero3"), Want::Deny("needs"));
    // `zero3` last: judged with zero3 (the first, ddp, is dropped), so it fits.
    let mut zero3 = too_big();
    ann(&mut zero3).insert("vramgate.io/strategy".into(), json!("zero3"));
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, &duplicated_strategy(zero3, "ddp"));
    let rec = a.record.unwrap();
    assert_ne!(rec.reason, Reason::DoesNotFit, "ddp first, zero3 last: judged on zero3");
}

#[test]
fn the_object_is_judged_not_the_kind_the_request_names() {
    // A job that is too big, announced as a Pod, a ConfigMap or nothing: denied all the same.
    for kind in [json!({"group": "", "version": "v1", "kind": "Pod"}), json!({"kind": "ConfigMap"}), Value::Null] {
        let mut r = review_of(&too_big(), "CREATE", "research");
        r["request"]["kind"] = kind.clone();
        check(&format!("request.kind {kind}"), &bytes(&r), Want::Deny("needs"));
    }
    // And a ConfigMap announced as a Job is not read as one.
    let mut r =
        review_of(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}), "CREATE", "research");
    r["request"]["kind"] = json!({"group": "batch", "version": "v1", "kind": "Job"});
    check("ConfigMap announced as a Job", &bytes(&r), Want::Admit(Decision::Skip, Reason::UnsupportedKind));
}

#[test]
fn ten_thousand_containers_are_answered_in_bounded_time() {
    let mut obj = fits();
    let one = obj["spec"]["template"]["spec"]["containers"][0].clone();
    let containers: Vec<Value> = (0..10_000)
        .map(|i| {
            let mut c = one.clone();
            c["name"] = json!(format!("c{i}"));
            c["resources"]["limits"]["nvidia.com/gpu"] = json!(1);
            c
        })
        .collect();
    obj["spec"]["template"]["spec"]["containers"] = json!(containers);
    let body = create(&obj);
    // 50,000 values vramgate reads: past the default `server.max_object_nodes` (issue 12).
    check("10,000 containers", &body, Want::Error("limit server.max_object_nodes"));
    let settings = Settings::from_yaml("server: {max_object_nodes: 100000}\n").unwrap();
    let started = Instant::now();
    // Under a higher limit, 2 pods x 10,000 GPUs: counted, estimated, and warned about as
    // over-provisioned.
    let a = admission::review(&settings, None, Endpoint::Validate, &body);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(a.record.map(|r| r.decision), Some(Decision::Warn), "{v}");
    assert!(message(&v).contains("asks for 20000 GPUs"), "{v}");
}

#[test]
fn invalid_utf8_in_a_field_vramgate_skips_is_a_400_not_a_200() {
    // Regression: fuzz/artifacts/review_body/crash-c7519bc4... (a RayJob review with 0xA0 in
    // a volume name) was answered 200: serde skips unread fields without checking their bytes.
    let text = String::from_utf8(bytes(&valid_review())).unwrap();
    for field in ["\"volumes\":[{\"name\":\"x\"}]", "\"managedFields\":[\"x\"]", "\"unknownField\":\"x\""] {
        let good = text.replacen("\"spec\":{", &format!("\"spec\":{{{field},"), 1);
        let bad: Vec<u8> =
            good.replacen("\"x\"", "\"\u{1}\"", 1).bytes().map(|b| if b == 1 { 0xa0 } else { b }).collect();
        check(field, good.as_bytes(), Want::Admit(Decision::Allow, Reason::Fits));
        check(field, &bad, Want::Error("not UTF-8"));
    }
}

// ------------------------------------------------------------------ through the router

/// Name, body, declared `Content-Length`, status, text of the error.
type RouterCase = (&'static str, Vec<u8>, Option<u64>, StatusCode, &'static str);

async fn route(endpoint: &str, body: Vec<u8>, declared: Option<u64>) -> (StatusCode, Value) {
    let mut request =
        Request::builder().method(Method::POST).uri(endpoint).header(header::CONTENT_TYPE, "application/json");
    if let Some(n) = declared {
        request = request.header(header::CONTENT_LENGTH, n);
    }
    let router = webhook_router(AppState::new(Settings::default()));
    let response = router.oneshot(request.body(Body::from(body)).unwrap()).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, v)
}

#[tokio::test]
async fn transport_level_hostility_through_the_router() {
    let valid = bytes(&valid_review());
    let ten_mib = {
        let text = String::from_utf8(valid.clone()).unwrap();
        text.replacen("\"userInfo\":{", &format!("\"userInfo\":{{\"pad\":\"{}\",", "x".repeat(10 << 20)), 1)
            .into_bytes()
    };
    let just_under = {
        let text = String::from_utf8(valid.clone()).unwrap();
        let pad = MAX_BODY_BYTES - valid.len() - "\"pad\":\"\",".len();
        text.replacen("\"userInfo\":{", &format!("\"userInfo\":{{\"pad\":\"{}\",", "x".repeat(pad)), 1).into_bytes()
    };
    assert_eq!(just_under.len(), MAX_BODY_BYTES);
    let deep = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CREATE","object":{{"spec":{}}}}}}}"#,
        nested(1_000_000)
    )
    .into_bytes();
    let cases: Vec<RouterCase> = vec![
        ("not JSON", b"<xml/>".to_vec(), None, StatusCode::BAD_REQUEST, "not an AdmissionReview JSON object"),
        ("truncated", valid[..100].to_vec(), None, StatusCode::BAD_REQUEST, "EOF while parsing"),
        ("10 MiB body", ten_mib.clone(), None, StatusCode::PAYLOAD_TOO_LARGE, "larger than the limit"),
        ("10 MiB declared", ten_mib, Some(10 << 20), StatusCode::PAYLOAD_TOO_LARGE, "larger than the limit"),
        ("7 MiB exactly", just_under, None, StatusCode::OK, ""),
        ("deep nesting", deep.clone(), None, StatusCode::BAD_REQUEST, "recursion limit exceeded"),
        (
            "invalid UTF-8",
            [b"{\"apiVersion\":\"\xff".as_slice(), b"\"}"].concat(),
            None,
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            "v1beta1",
            bytes(&with(valid_review(), "/apiVersion", json!("admission.k8s.io/v1beta1"))),
            None,
            StatusCode::BAD_REQUEST,
            "v1beta1",
        ),
    ];
    for endpoint in ["/validate", "/mutate"] {
        for (name, body, declared, status, text) in &cases {
            let started = Instant::now();
            let (got, v) = route(endpoint, body.clone(), *declared).await;
            assert!(started.elapsed() < Duration::from_secs(5), "{name}: {:?}", started.elapsed());
            assert_eq!(got, *status, "{endpoint} {name}: {v}");
            if got == StatusCode::OK {
                assert_eq!(v["response"]["uid"], UID, "{name}");
            } else {
                let e = v["error"].as_str().unwrap_or_default();
                assert!(e.contains(text), "{endpoint} {name}: {e:?} should contain {text:?}");
            }
        }
    }
}

// ------------------------------------------------------------------ memory (issue 12, item 1)

/// The review of `obj` with a member `x` added to its `spec` holding `[unread,unread,...]`: the
/// body just under the 7 MiB limit, as in issue 12; and the text of its `request.object`.
fn with_unread_member(obj: &Value, unread: &str) -> (Vec<u8>, String) {
    let text = String::from_utf8(create(obj)).unwrap();
    let fixed = text.len() + r#""x":[],"#.len();
    let n = (MAX_BODY_BYTES - 1024 - fixed) / (unread.len() + 1);
    let x = format!("\"x\":[{}],", vec![unread; n].join(","));
    let body = with_first_in_spec(&text, &x);
    assert!(body.len() < MAX_BODY_BYTES && body.len() > MAX_BODY_BYTES - 4096, "{}", body.len());
    // The review's first `"spec":{` is its object's (`kind` and `metadata` have none), so this
    // is the body's `request.object`, without parsing 7 MiB again.
    let object = with_first_in_spec(&obj.to_string(), &x);
    assert!(body.contains(&object), "the object text is the review's");
    (body.into_bytes(), object)
}

/// `json` with `member` written first in its first `"spec":{`.
fn with_first_in_spec(json: &str, member: &str) -> String {
    json.replacen("\"spec\":{", &format!("\"spec\":{{{member}"), 1)
}

/// `obj` parsed as the review path parses `request.object`, and how many values it built.
fn built_values(obj_text: &str, limit: usize) -> Result<usize, String> {
    let budget = json::Budget::new(limit);
    json::parse(obj_text, read_member, &budget).map(|doc| doc.node_count()).map_err(|e| format!("{e:?}"))
}

#[test]
fn a_7_mib_array_in_a_member_vramgate_never_reads_builds_nothing_and_is_decided_normally() {
    let clean = built_values(&fits().to_string(), usize::MAX).unwrap();
    assert!(clean < 40, "the job that fits builds {clean} values");
    for (shape, unread) in [("[0,0,...]", "0"), ("[{},{},...]", "{}")] {
        let (body, object) = with_unread_member(&fits(), unread);
        // One answer (`check` times two against a bound meant for small bodies; this is 7 MiB
        // through an unoptimised build).
        let a = admission::review(&Settings::default(), None, Endpoint::Validate, &body);
        let rec = a.record.unwrap_or_else(|| panic!("{shape}: {}", String::from_utf8_lossy(&a.body)));
        assert_eq!((a.status, rec.decision, rec.reason), (200, Decision::Allow, Reason::Fits), "{shape}");
        // Old code (a deny-list of a few known members) built every element: ~3.5 million.
        assert_eq!(built_values(&object, usize::MAX).unwrap(), clean, "{shape}: the unread array costs no value");
    }
}

#[test]
fn an_object_over_the_value_limit_in_members_vramgate_reads_is_a_400_naming_the_limit() {
    let limit = Settings::default().server.max_object_nodes;
    let mut many_annotations = fits();
    for i in 0..200_000 {
        ann(&mut many_annotations).insert(format!("example.com/a{i}"), json!(""));
    }
    let mut many_containers = fits();
    many_containers["spec"]["template"]["spec"]["containers"] =
        json!((0..30_000).map(|i| json!({"name": format!("c{i}")})).collect::<Vec<_>>());
    let mut many_values = fits();
    many_values["spec"]["template"]["spec"]["affinity"] = json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "nvidia.com/gpu.product", "operator": "In", "values": vec![0; 1_000_000]}]}]}}});
    let wanted = format!("request.object has more than {limit} JSON values");
    for (name, obj) in
        [("200,000 annotations", &many_annotations), ("30,000 containers", &many_containers), ("values", &many_values)]
    {
        let a = check(name, &create(obj), Want::Error("limit server.max_object_nodes"));
        let text = message(&serde_json::from_slice(&a.body).unwrap());
        assert!(text.contains(&wanted), "{name}: {text}");
        assert!(text.len() < 300, "{name}: {text}");
    }
    // The old object is bounded alike, and named.
    let mut update = review_of(&fits(), "UPDATE", "research");
    update["request"]["oldObject"] = many_annotations;
    check("oldObject", &bytes(&update), Want::Error("request.oldObject has more than"));
}

#[test]
fn the_value_limit_is_exact_and_configurable() {
    let obj = fits();
    let n = built_values(&obj.to_string(), usize::MAX).unwrap();
    let body = create(&obj);
    for (limit, status) in [(n, 200), (n - 1, 400)] {
        let mut s = Settings::from_yaml(&format!("server: {{max_object_nodes: {}}}\n", 100)).unwrap();
        s.server.max_object_nodes = limit;
        assert_eq!(admission::review(&s, None, Endpoint::Validate, &body).status, status, "limit {limit}, {n} values");
    }
    let err = Settings::from_yaml("server: {max_object_nodes: 10}\n").unwrap_err();
    assert!(format!("{err:?}").contains("server.max_object_nodes"), "{err:?}");
}

#[test]
fn a_denial_with_5000_per_container_errors_has_a_short_status_message() {
    let mut obj = too_big();
    obj["spec"]["template"]["spec"]["containers"] = json!(
        (0..5_000)
            .map(|i| json!({"name": format!("c{i}"), "resources": {"limits": {"nvidia.com/gpu": "x"}}}))
            .collect::<Vec<_>>()
    );
    let settings = Settings::from_yaml("server: {max_object_nodes: 100000}\n").unwrap();
    let a = admission::review(&settings, None, Endpoint::Validate, &create(&obj));
    assert_eq!(a.status, 200);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let m = v["response"]["status"]["message"].as_str().unwrap();
    // Old code joined all 5,000 (about 400 KB).
    assert!(m.len() <= 4 * 1024, "{} bytes", m.len());
    assert!(m.contains("/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu"), "{m}");
    assert!(m.ends_with("and 4990 more problems; run vramgate check on the manifest for all"), "{m}");
    // The evaluation itself keeps every problem.
    let e = vramgate::admission::evaluate(
        &vramgate::json::Json::from(&obj),
        &vramgate::admission::decide::Context {
            settings: &settings,
            namespace: None,
            operation: vramgate::admission::decide::Operation::Create,
            old_object: None,
            endpoint: Endpoint::Validate,
            cluster: None,
        },
    );
    assert_eq!(e.messages.len(), 5_000);
}

/// Every object of the real fixtures and examples, as `check` reads them.
fn fixture_objects() -> Vec<(String, Value)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut out = Vec::new();
    for dir in ["tests/fixtures/admission", "tests/fixtures/manifests", "tests/fixtures/cluster", "deploy/examples"] {
        let mut paths: Vec<_> =
            std::fs::read_dir(format!("{root}/{dir}")).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e != "md")) {
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in vramgate::check::documents(&text).unwrap_or_default() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                // A review or request carries its objects.
                let request = doc.get("request").unwrap_or(&doc);
                for key in ["object", "oldObject"] {
                    if let Some(o) = request.get(key).filter(|o| o.is_object()) {
                        out.push((format!("{name} {key}"), o.clone()));
                    }
                }
                if doc.get("spec").is_some() {
                    out.push((name, doc));
                }
            }
        }
    }
    out
}

#[test]
fn fixtures_evaluate_the_same_parsed_with_the_allow_list_or_whole() {
    use vramgate::admission::decide::{Context, Operation};
    let objects = fixture_objects();
    assert!(objects.len() >= 20, "{}", objects.len());
    let settings = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    let mut largest = 0;
    for (name, obj) in objects {
        // As found, and annotated (so that every reader runs on it, patches included).
        let mut annotated = obj.clone();
        if let Some(m) = annotated.get_mut("metadata").and_then(Value::as_object_mut) {
            let a = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = a.as_object_mut() {
                for (k, v) in fits()["metadata"]["annotations"].as_object().unwrap() {
                    a.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
        for obj in [&obj, &annotated] {
            let text = obj.to_string();
            let budget = json::Budget::new(usize::MAX);
            let pruned = json::parse(&text, read_member, &budget).unwrap();
            largest = largest.max(pruned.node_count());
            let whole = vramgate::json::Json::from(obj);
            for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
                for (operation, old) in [(Operation::Create, None), (Operation::Update, Some(&pruned))] {
                    let ctx = |old| Context {
                        settings: &settings,
                        namespace: Some("research"),
                        operation,
                        old_object: old,
                        endpoint,
                        cluster: None,
                    };
                    let whole_old = old.map(|_| &whole);
                    assert_eq!(
                        vramgate::admission::evaluate(&pruned, &ctx(old)),
                        vramgate::admission::evaluate(&whole, &ctx(whole_old)),
                        "{name} ({endpoint:?}, {operation:?}): a reader uses a member read_member skips"
                    );
                }
            }
        }
    }
    // The default value limit is far above what real objects build.
    assert!(largest * 10 < Settings::default().server.max_object_nodes, "largest fixture builds {largest}");
}
