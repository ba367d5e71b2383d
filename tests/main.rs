//! The one integration-test binary (issue 13): every file beside this one is a module of it, so a
//! change in `src/` relinks one test executable instead of ten. Helpers that two modules share
//! live in `common/`. Run one module with `cargo test --test integration tls::`.

mod common;

mod admission;
mod audit;
mod calculator;
mod calibration;
mod cli;
mod cluster;
mod engine;
mod exemptions;
mod faults;
mod hostile;
mod layers;
mod plans;
mod plugin;
mod policy_tests;
mod properties;
mod server;
mod serving_admission;
mod serving_calibration;
mod tls;
