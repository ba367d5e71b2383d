//! Every annotation value parser on one arbitrary string: `parse_count`,
//! `parse_architecture`, the output-annotation parsers, and `parse_fields` with the string under
//! every input key (alone, and next to a valid model). Never a panic; what parses renders back
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use vramgate::admission::Decision;
use vramgate::estimate::units::{MAX_COUNT, parse_count, render_count};
use vramgate::request::{self, INPUT_KEYS, OUTPUT_KEYS, parse_architecture, render_architecture};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = std::str::from_utf8(data) else { return };

    if let Ok(n) = parse_count(v) {
        assert!(n.is_finite() && n > 0.0 && n <= MAX_COUNT, "{v:?} -> {n}");
        assert_eq!(parse_count(&render_count(n)), Ok(n), "{v:?}");
    }
    if let Ok(a) = parse_architecture(v) {
        assert_eq!(parse_architecture(&render_architecture(&a)), Ok(a), "{v:?}");
    }
    if let Ok(mib) = request::parse_output_memory_mib(v) {
        assert_eq!(request::parse_output_memory_mib(&request::render_output_memory_mib(mib)), Ok(mib), "{v:?}");
    }
    if let Ok(n) = request::parse_output_gpus(v) {
        assert_eq!(request::parse_output_gpus(&request::render_output_gpus(n)), Ok(n), "{v:?}");
    }
    if let Ok(x) = request::parse_output_amount(v) {
        let back = request::parse_output_amount(&request::render_output_amount(x)).expect("renders back");
        assert_eq!(back.map(f64::to_bits), x.map(f64::to_bits), "{v:?}");
    }
    if let Some(d) = Decision::parse(v) {
        assert_eq!(d.as_str(), v);
    }

    for key in INPUT_KEYS.iter().chain(OUTPUT_KEYS) {
        for with_model in [false, true] {
            let mut fields = BTreeMap::new();
            if with_model && *key != "model" {
                fields.insert("model".to_string(), "llama-2-7b".to_string());
            }
            fields.insert((*key).to_string(), v.to_string());
            if let Err(problems) = request::parse_fields(&fields) {
                assert!(!problems.is_empty());
                for p in problems {
                    assert!(!p.message.is_empty(), "{p:?}");
                }
            }
        }
    }
});
