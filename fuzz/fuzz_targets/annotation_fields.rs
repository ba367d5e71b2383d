//! `request::parse_fields` on a map built from the input, then the engine on what parses.
//!
//! Input: lines of `key=value`. A key that is an input or output key is used as is; a key that
//! starts with `!` is used verbatim without it (an unknown key); any other key picks one of
//! [`INPUT_KEYS`] by its hash, so mutations mostly exercise the values of real keys. The GPU is
//! the `gpu` field's catalog entry (else H100-80GB) and the count the `gpus` field (else 8),
//! as at admission. Never a panic; errors name their field; the output annotations of an
//! estimate read back as what was estimated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use vramgate::estimate::units::MIB;
use vramgate::estimate::{self, GpuCatalog};
use vramgate::request::{self, INPUT_KEYS, OUTPUT_KEYS};

fn key_of(k: &str) -> String {
    if let Some(raw) = k.strip_prefix('!') {
        return raw.to_string();
    }
    if INPUT_KEYS.contains(&k) || OUTPUT_KEYS.contains(&k) {
        return k.to_string();
    }
    let h = k.bytes().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(usize::from(b)));
    INPUT_KEYS[h % INPUT_KEYS.len()].to_string()
}

fn fields_of(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (key_of(k), v.to_string())).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let fields = fields_of(text);
    let req = match request::parse_fields(&fields) {
        Ok(r) => r,
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(!p.message.is_empty(), "{p:?}");
            }
            return;
        }
    };
    let catalog = GpuCatalog::builtin();
    let Some(gpu) = req.gpu.as_deref().and_then(|g| catalog.find(g)).or_else(|| catalog.find("H100-80GB")) else {
        panic!("H100-80GB is in the built-in catalog");
    };
    let mut job = req.job;
    job.gpus = req.gpus.unwrap_or(8);
    match estimate::estimate(&job, gpu) {
        Ok(e) => {
            let total = e.per_gpu.total_bytes;
            let mib = request::output_memory_mib(total);
            let back = request::parse_output_memory_mib(&request::render_output_memory_mib(mib)).expect("reads back");
            assert_eq!(back, mib);
            let bytes = u128::from(back) * u128::from(MIB);
            assert!(bytes >= u128::from(total) && bytes - u128::from(total) < u128::from(MIB), "{total} -> {back}Mi");
            assert_eq!(request::parse_output_gpus(&request::render_output_gpus(e.min_gpus)), Ok(e.min_gpus));
            for x in [e.gpu_hours, e.cost_usd] {
                let back = request::parse_output_amount(&request::render_output_amount(x)).expect("amount reads back");
                assert_eq!(back.map(f64::to_bits), x.filter(|x| x.is_finite()).map(f64::to_bits));
            }
        }
        Err(invalid) => {
            assert!(!invalid.0.is_empty());
        }
    }
});
