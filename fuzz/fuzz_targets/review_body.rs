//! The whole review path: raw body bytes -> `admission::review` -> response bytes, on both
//! endpoints, under the default settings. Never a panic; always a 200 or a 400 with a JSON
//! body; a 200 echoes the uid; the same bytes give the same answer.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vramgate::admission::{self, Endpoint};
use vramgate::config::Settings;

fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(Settings::default)
}

fuzz_target!(|data: &[u8]| {
    let s = settings();
    let (validated, _) = common::checked_answer(s, Endpoint::Validate, data);
    assert_eq!(
        admission::review(s, None, Endpoint::Validate, data),
        validated,
        "the answer is a pure function of the body"
    );
    common::checked_answer(s, Endpoint::Mutate, data);
});
