//! The workload extractor on arbitrary JSON: bytes that parse as JSON ->
//! `workload::extract(&value, &Default::default())`. Never a panic; errors name a field; the
//! pointers a workload hands to the patcher resolve in the object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vramgate::workload::{self, Extracted};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    match workload::extract(&(&value).into(), &Default::default()) {
        Ok(Extracted::Workload(w)) => {
            let _ = w.total_gpus();
            for g in &w.groups {
                assert!(
                    value.pointer(&g.pod_template_pointer).is_some(),
                    "{} does not resolve",
                    g.pod_template_pointer
                );
                for p in &g.gpu_limit_pointers {
                    assert!(value.pointer(p).is_some(), "{p} does not resolve");
                }
                if g.replicas_pointer.is_none() {
                    assert_eq!(g.pods_per_replica, 0, "pods per replica without a replicas field");
                }
            }
        }
        Ok(Extracted::Unsupported { .. }) => {}
        Err(errors) => {
            assert!(!errors.is_empty(), "an error result names at least one problem");
            for e in errors {
                assert!(!e.message.is_empty());
            }
        }
    }
});
