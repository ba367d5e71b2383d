//! Containers and GPUs (effective requests, quantities, MIG, extra resource names) and the GPU
//! product and memory read from node selection.

use super::*;

// ---------------------------------------------------------------- containers and GPUs

#[test]
fn init_and_sidecar_containers_follow_the_kubernetes_effective_request() {
    /// (init containers as (restartPolicy Always?, GPUs), app containers' GPUs, expected).
    type Case<'a> = (&'a [(bool, u64)], &'a [u64], u64);
    let cases: &[Case] = &[
        // A plain init container's GPUs are reused by the app: max, not sum.
        (&[(false, 4)], &[2], 4),
        (&[(false, 1)], &[2, 3], 5),
        // A sidecar keeps running: its GPUs add to the app's.
        (&[(true, 1)], &[2], 3),
        // The plain init container runs alongside sidecars started before it.
        (&[(true, 1), (false, 4)], &[2], 5),
        // ... but not alongside sidecars started after it.
        (&[(false, 4), (true, 1)], &[2], 4),
        (&[(true, 2), (true, 2)], &[0], 4),
        (&[], &[1, 1, 1], 3),
    ];
    for (init, app, want) in cases {
        let init: Vec<Value> = init
            .iter()
            .enumerate()
            .map(|(i, (sidecar, g))| {
                let mut c = json!({"name": format!("init{i}"),
                                   "resources": {"limits": {"nvidia.com/gpu": g}}});
                if *sidecar {
                    c["restartPolicy"] = json!("Always");
                }
                c
            })
            .collect();
        let app: Vec<Value> =
            app.iter().map(|g| json!({"name": "c", "resources": {"limits": {"nvidia.com/gpu": g}}})).collect();
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
                         "spec": {"initContainers": init, "containers": app}});
        assert_eq!(workload(&obj).groups[0].gpus_per_pod, *want, "{obj}");
    }
}

#[test]
fn gpu_pointers_name_the_containers_that_decide_the_count() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "initContainers": [
            {"name": "side", "restartPolicy": "Always", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "big", "resources": {"limits": {"nvidia.com/gpu": 8}}}],
        "containers": [
            {"name": "app", "resources": {"limits": {"nvidia.com/gpu": 2}}},
            {"name": "cpu"}]}});
    let g = &workload(&obj).groups[0];
    assert_eq!(g.gpus_per_pod, 9);
    assert_eq!(
        g.gpu_limit_pointers,
        [
            "/spec/initContainers/0/resources/limits/nvidia.com~1gpu",
            "/spec/initContainers/1/resources/limits/nvidia.com~1gpu",
        ]
    );

    let steady = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "initContainers": [{"name": "side", "restartPolicy": "Always",
                            "resources": {"limits": {"nvidia.com/gpu": 1}}}],
        "containers": [{"name": "app", "resources": {"limits": {"nvidia.com/gpu": 2}}}]}});
    assert_eq!(
        workload(&steady).groups[0].gpu_limit_pointers,
        [
            "/spec/initContainers/0/resources/limits/nvidia.com~1gpu",
            "/spec/containers/0/resources/limits/nvidia.com~1gpu",
        ]
    );
}

#[test]
fn gpu_quantities_accept_whole_numbers_and_strings_of_digits() {
    let cases: Vec<(Value, u64)> = vec![
        (json!(8), 8),
        (json!("1"), 1),
        (json!("08"), 8),
        (json!(2.0), 2),
        (json!(0), 0),
        (json!(u64::MAX), u64::MAX),
    ];
    for (v, want) in cases {
        let w = workload(&pod_with_limits(json!({"nvidia.com/gpu": v})));
        assert_eq!(w.groups[0].gpus_per_pod, want, "{v}");
    }
}

#[test]
fn gpu_quantities_that_are_not_whole_counts_are_errors_naming_path_and_value() {
    let path = "/spec/containers/0/resources/limits/nvidia.com~1gpu";
    let cases: Vec<(Value, &str)> = vec![
        (json!("1.5"), "'1.5'"),
        (json!("abc"), "'abc'"),
        (json!("-1"), "'-1'"),
        (json!("1e400"), "'1e400'"),
        (json!("NaN"), "'NaN'"),
        (json!(""), "''"),
        (json!(" 1"), "' 1'"),
        (json!("99999999999999999999999"), "'99999999999999999999999'"),
        (json!(1.5), "1.5"),
        (json!(-1), "-1"),
        (json!(1e300), "1e+300"),
        (json!(true), "true"),
        (json!([1]), "an array"),
        (json!({"n": 1}), "an object"),
    ];
    for (v, shown) in cases {
        let errs = errors(&pod_with_limits(json!({"nvidia.com/gpu": v})));
        assert_error(&errs, path, &["nvidia.com/gpu must be a whole number of GPUs", shown]);
    }
}

#[test]
fn requests_alone_count_and_requests_differing_from_limits_are_errors() {
    let only_requests = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"nvidia.com/gpu": "2"}}}]}});
    let g = &workload(&only_requests).groups[0];
    assert_eq!(g.gpus_per_pod, 2);
    assert_eq!(g.gpu_limit_pointers, ["/spec/containers/0/resources/requests/nvidia.com~1gpu"]);

    let differ = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}, "requests": {"nvidia.com/gpu": 4}}}]}});
    assert_error(
        &errors(&differ),
        "/spec/containers/0/resources/requests/nvidia.com~1gpu",
        &["request (4)", "limit (8)"],
    );
}

#[test]
fn null_resource_values_are_tolerated_like_kubernetes_does() {
    let w = workload(&pod_with_limits(json!({"cpu": null, "memory": null, "nvidia.com/gpu": null})));
    assert_eq!(w.groups[0].gpus_per_pod, 0);
    assert!(w.groups[0].gpu_limit_pointers.is_empty());
}

#[test]
fn mig_devices_are_counted_per_profile() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "a", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1, "nvidia.com/mig-1g.10gb": "2"}}},
        {"name": "b", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1}}}]}});
    let w = workload(&obj);
    let g = &w.groups[0];
    assert_eq!(g.gpus_per_pod, 0);
    assert_eq!(g.mig, [("1g.10gb".to_owned(), 2), ("3g.40gb".to_owned(), 2)]);
    assert!(g.uses_gpus());
    assert_eq!(w.gpu_pods().count(), 1);
    assert_eq!(w.total_gpus(), 0);
}

#[test]
fn mixing_mig_and_full_gpus_in_one_pod_is_an_error() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
        "containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "b", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1}}}]}}}});
    assert_error(&errors(&obj), "/spec/template/spec", &["1 full GPU", "nvidia.com/mig-3g.40gb", "not both"]);
}

#[test]
fn mig_quantities_are_validated_too() {
    let errs = errors(&pod_with_limits(json!({"nvidia.com/mig-2g.20gb": "half"})));
    assert_error(
        &errs,
        "/spec/containers/0/resources/limits/nvidia.com~1mig-2g.20gb",
        &["whole number of MIG devices", "'half'"],
    );
    let errs = errors(&pod_with_limits(json!({"nvidia.com/mig-": 1})));
    assert_error(&errs, "/spec/containers/0/resources/limits/nvidia.com~1mig-", &["no MIG profile"]);
}

#[test]
fn extra_gpu_resource_names_come_from_the_config() {
    let cfg = ExtractConfig {
        gpu_resource_names: vec!["nvidia.com/gpu".into(), "amd.com/gpu".into()],
        ..ExtractConfig::default()
    };
    let obj = pod_with_limits(json!({"amd.com/gpu": 2, "nvidia.com/gpu": 1}));
    let Ok(Extracted::Workload(w)) = extract(&(&obj).into(), &cfg) else {
        panic!("expected a workload");
    };
    assert_eq!(w.groups[0].gpus_per_pod, 3);
    assert_eq!(
        w.groups[0].gpu_limit_pointers,
        ["/spec/containers/0/resources/limits/amd.com~1gpu", "/spec/containers/0/resources/limits/nvidia.com~1gpu",]
    );
    // With the default config the AMD resource is just another resource.
    assert_eq!(workload(&obj).groups[0].gpus_per_pod, 1);
}

#[test]
fn ten_thousand_containers_are_summed_without_trouble() {
    let containers: Vec<Value> =
        (0..10_000).map(|i| json!({"name": format!("c{i}"), "resources": {"limits": {"nvidia.com/gpu": 1}}})).collect();
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": containers}});
    let g = &workload(&obj).groups[0];
    assert_eq!(g.gpus_per_pod, 10_000);
    assert_eq!(g.gpu_limit_pointers.len(), 10_000);
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {
        "parallelism": 1_000_000_000,
        "template": {"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": u64::MAX}}},
            {"name": "b", "resources": {"limits": {"nvidia.com/gpu": u64::MAX}}}]}}}});
    let w = workload(&obj);
    assert_eq!(w.groups[0].gpus_per_pod, u64::MAX);
    assert_eq!(w.total_gpus(), u64::MAX);
}

// ---------------------------------------------------------------- node selection

#[test]
fn gpu_product_and_memory_come_from_node_selector_and_required_affinity() {
    let affinity = |exprs: Value| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": exprs}]}}})
    };
    let h100 = "NVIDIA-H100-80GB-HBM3";
    let a100 = "NVIDIA-A100-SXM4-80GB";
    /// (name, extra pod-spec fields, product, products, memory floor).
    type Case<'a> = (&'a str, Value, Option<&'a str>, Vec<&'a str>, Option<u64>);
    let cases: Vec<Case> = vec![
        (
            "node selector",
            json!({"nodeSelector": {"nvidia.com/gpu.product": h100, "nvidia.com/gpu.memory": "81559"}}),
            Some(h100),
            vec![h100],
            Some(81559),
        ),
        (
            "affinity with one value",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100]}]))}),
            Some(h100),
            vec![h100],
            None,
        ),
        (
            "affinity with several values",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100, a100]},
                {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40000"]}]))}),
            None,
            vec![a100, h100],
            Some(40001),
        ),
        (
            "selector narrows affinity",
            json!({"nodeSelector": {"nvidia.com/gpu.product": a100},
                   "affinity": affinity(json!([
                       {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100, a100]}]))}),
            Some(a100),
            vec![a100],
            None,
        ),
        (
            "other operators leave the product open",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": [a100]},
                {"key": "nvidia.com/gpu.memory", "operator": "In", "values": ["81920", "40960"]}]))}),
            None,
            vec![],
            Some(40960),
        ),
        ("no constraint", json!({}), None, vec![], None),
    ];
    for (name, extra, product, products, memory) in cases {
        let mut spec = json!({"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let g = workload(&json!({"apiVersion": "v1", "kind": "Pod", "spec": spec})).groups[0].clone();
        assert_eq!(g.gpu_product.as_deref(), product, "{name}");
        assert_eq!(g.gpu_products, products, "{name}");
        assert_eq!(g.gpu_memory_mib, memory, "{name}");
    }
}

#[test]
fn any_affinity_term_without_a_product_leaves_the_product_open() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "containers": [{"name": "c"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["X"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}});
    assert!(workload(&obj).groups[0].gpu_products.is_empty());
}

#[test]
fn bad_gpu_memory_labels_are_errors() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "containers": [{"name": "c"}], "nodeSelector": {"nvidia.com/gpu.memory": "80GB"}}});
    assert_error(&errors(&obj), "/spec/nodeSelector/nvidia.com~1gpu.memory", &["MiB", "'80GB'"]);
}
