//! Hostile fields and annotations of the object: each case gets the status and message it deserves, and none admits a job the clean version denies.

use super::*;

/// Hostile annotations and fields, each with what the job that fits must get. Applied to the
/// job that is denied, each must leave it denied ([`a_bad_field_never_admits_a_job_that_was_denied`]).
fn object_cases() -> Vec<(&'static str, Make, Want)> {
    const MALFORMED: &str = "must be";
    vec![
        ("parameters 1e400B", |o| use_parameters(o, "1e400B"), Want::Deny("it is not finite")),
        ("parameters NaN", |o| use_parameters(o, "NaN"), Want::Deny("'NaN' is not a count")),
        ("parameters inf", |o| use_parameters(o, "inf"), Want::Deny("'inf' is not a count")),
        ("parameters negative", |o| use_parameters(o, "-7B"), Want::Deny("it must be greater than zero")),
        ("parameters zero", |o| use_parameters(o, "0"), Want::Deny("it must be greater than zero")),
        ("two model keys", |o| set_ann(o, "parameters", "13B"), Want::Deny("give only one of")),
        ("training-tokens NaN", |o| set_ann(o, "training-tokens", "NaN"), Want::Deny("'NaN' is not a count")),
        ("training-tokens inf", |o| set_ann(o, "training-tokens", "inf"), Want::Deny("'inf' is not a count")),
        ("training-tokens 1e400", |o| set_ann(o, "training-tokens", "1e400"), Want::Deny("it is not finite")),
        ("training-tokens 2^64+1", |o| set_ann(o, "training-tokens", "18446744073709551617"), Want::Deny("10^18")),
        ("mfu NaN", |o| set_ann(o, "mfu", "NaN"), Want::Deny("accepted: a fraction in (0, 1]")),
        ("mfu inf", |o| set_ann(o, "mfu", "inf"), Want::Deny("accepted: a fraction in (0, 1]")),
        ("mfu zero", |o| set_ann(o, "mfu", "0"), Want::Deny("accepted: a fraction in (0, 1]")),
        ("mfu negative", |o| set_ann(o, "mfu", "-0.4"), Want::Deny("accepted: a fraction in (0, 1]")),
        ("micro-batch-size zero", |o| set_ann(o, "micro-batch-size", "0"), Want::Deny("from 1 to 1000000")),
        ("micro-batch-size negative", |o| set_ann(o, "micro-batch-size", "-1"), Want::Deny("from 1 to 1000000")),
        (
            "micro-batch-size 2^64+1",
            |o| set_ann(o, "micro-batch-size", "18446744073709551617"),
            Want::Deny("from 1 to 1000000"),
        ),
        ("sequence-length 2^63", |o| set_ann(o, "sequence-length", "9223372036854775808"), Want::Deny("from 1 to")),
        ("gpus annotation zero", |o| set_ann(o, "gpus", "0"), Want::Deny("vramgate.io/gpus")),
        ("gpus annotation disagrees with the pods", |o| set_ann(o, "gpus", "1"), Want::Deny("the pod spec decides")),
        (
            "annotation value of 1 MiB",
            |o| set_ann(o, "optimizer", &"a".repeat(1 << 20)),
            Want::Deny("value is 1048576 bytes; at most 1024"),
        ),
        (
            "hf-config of 1 MiB",
            |mut o| {
                ann(&mut o).remove("vramgate.io/model");
                set_ann(o, "hf-config", &format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20)))
            },
            Want::Deny("at most 262144"),
        ),
        (
            "Cyrillic o in vramgate.io/model",
            |mut o| {
                let v = ann(&mut o).remove("vramgate.io/model").unwrap();
                ann(&mut o).insert("vramgate.io/m\u{43e}del".into(), v);
                create(&o)
            },
            Want::Deny("vramgate.io/m\\u{43e}del: unknown key"),
        ),
        ("key in upper case", |o| set_ann(o, "Precision", "fp32"), Want::Deny("vramgate.io/Precision: unknown key")),
        ("key with a trailing space", |o| set_ann(o, "model ", "gpt2"), Want::Deny("unknown key")),
        ("empty key", |o| set_ann(o, "", "gpt2"), Want::Deny("vramgate.io/: unknown key")),
        (
            "a key of 1 MiB",
            |o| set_ann(o, &"k".repeat(1 << 20), "x"),
            Want::Deny("vramgate.io/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk: unknown key"),
        ),
        (
            "fullwidth letters in a value",
            |o| set_ann(o, "precision", "\u{ff46}\u{ff50}32"),
            Want::Deny("vramgate.io/precision: '\\u{ff46}\\u{ff50}32' is not accepted"),
        ),
        (
            "annotation value a number",
            |o| insert(o, ann, "vramgate.io/micro-batch-size", json!(1)),
            Want::Deny("micro-batch-size must be a string"),
        ),
        (
            "output annotations that claim a small job",
            |o| {
                let mut o = o;
                for (k, v) in [("decision", "allow"), ("estimated-gpus", "1"), ("estimated-memory-per-gpu", "1Mi")] {
                    ann(&mut o).insert(format!("vramgate.io/{k}"), json!(v));
                }
                create(&o)
            },
            Want::Admit(Decision::Allow, Reason::Fits),
        ),
        (
            "duplicated annotation key: the object's own value is last and wins",
            |o| duplicated_strategy(o, "zero3"),
            Want::Admit(Decision::Allow, Reason::Fits),
        ),
        (
            "object of another kind than request.kind: the object is judged",
            |o| {
                let mut r = review_of(&o, "CREATE", "research");
                r["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
                bytes(&r)
            },
            Want::Admit(Decision::Allow, Reason::Fits),
        ),
        ("GPU limit 1.5", |o| set_limit(o, json!("1.5")), Want::Deny(MALFORMED)),
        ("GPU limit abc", |o| set_limit(o, json!("abc")), Want::Deny(MALFORMED)),
        ("GPU limit negative", |o| set_limit(o, json!(-4)), Want::Deny(MALFORMED)),
        ("GPU limit a fraction", |o| set_limit(o, json!(0.5)), Want::Deny(MALFORMED)),
        ("GPU limit 2^63", |o| set_limit(o, json!(1u64 << 63)), Want::Deny("GPUs the pods ask for")),
        ("GPU limit 2^64+1", |o| set_limit(o, json!(18446744073709551617.0)), Want::Deny(MALFORMED)),
        ("replicas 2^63", |o| set_parallelism(o, json!(1u64 << 63)), Want::Deny("parallelism must be")),
        ("replicas 2^64+1", |o| set_parallelism(o, json!(18446744073709551617.0)), Want::Deny("parallelism must be")),
        ("replicas negative", |o| set_parallelism(o, json!(-1)), Want::Deny("parallelism must be")),
        ("replicas a string", |o| set_parallelism(o, json!("2")), Want::Deny("parallelism must be")),
        ("MIG and full GPUs in one pod", |o| insert(o, limits, "nvidia.com/mig-3g.40gb", json!(1)), Want::Deny("MIG")),
        (
            "a confusable GPU product",
            |mut o| {
                o["spec"]["template"]["spec"]["nodeSelector"] =
                    json!({"nvidia.com/gpu.product": "NVIDIA-H1OO-80GB-HBM3"});
                create(&o)
            },
            Want::Deny("is not in the GPU catalog"),
        ),
    ]
}

#[test]
fn hostile_annotations_and_fields_get_the_status_and_message_they_deserve() {
    let cases = object_cases();
    assert!(cases.len() >= 40);
    check("the job that fits", &create(&fits()), Want::Admit(Decision::Allow, Reason::Fits));
    for (name, make, want) in cases {
        check(name, &make(fits()), want);
    }
}

#[test]
fn a_bad_field_never_admits_a_job_that_was_denied() {
    let clean = check("the job too big", &create(&too_big()), Want::Deny("needs"));
    assert_eq!(clean.record.unwrap().reason, Reason::DoesNotFit);
    for (name, make, _) in object_cases() {
        let a = admission::review(&Settings::default(), None, Endpoint::Validate, &make(too_big()));
        assert_eq!(a.status, 200, "{name}");
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["response"]["allowed"], false, "{name}: the clean job is denied, so this one must be: {v}");
        assert_eq!(a.record.unwrap().decision, Decision::Deny, "{name}");
    }
}
