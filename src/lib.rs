//! vramgate: GPU memory, GPU count and cost of LLM jobs, checked at Kubernetes admission.
//!
//! Modules in reading order: [`estimate`] is the pure engine; [`request`] turns `vramgate.io/`
//! keys into a job; [`workload`] reads Kubernetes objects (a borrowed [`json::Json`]);
//! [`admission`] decides; [`config`] holds policy; [`server`] and [`cli`] are the imperative
//! shell.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod check;
#[cfg(feature = "server")]
pub mod cli;
pub mod cluster;
pub mod config;
pub use request::contract;
pub mod estimate;
pub mod json;
pub mod pointer;
pub mod policy_test;
pub mod request;
#[cfg(feature = "server")]
pub mod server;
pub mod workload;
