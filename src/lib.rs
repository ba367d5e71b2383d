//! vramgate: GPU memory, GPU count and cost of LLM jobs, checked at Kubernetes admission.
//!
//! Modules in reading order: [`estimate`] is the pure engine.
#![forbid(unsafe_code)]

pub mod cli;
pub mod estimate;
pub mod request;
pub mod workload;
