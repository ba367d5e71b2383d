//! What vramgate knows about the cluster it admits into. Pure: the shell
//! (`crate::server::cluster`) watches the API server and feeds the changes in; everything here
//! is data in, data out.
//!
//! - [`records`] — the few fields of a Node, Pod or workload that matter; `read.rs` reads them
//!   from the API objects (`k8s-openapi` types and object metadata; the `server` feature).
//! - [`Table`] — a watch's view of one resource: applies watcher changes, swapping the whole
//!   set atomically on a relist (as `kube-runtime`'s reflector store does).
//! - [`inventory`] — GPU nodes grouped by catalog GPU type: what the cluster could ever
//!   provide, and the product labels the catalog does not know.
//! - [`ledger`] — live cost: GPUs held by running pods of workloads vramgate admitted, their
//!   estimated cost per hour and the cumulative cost, plus the fleet's capacity and
//!   allocation by GPU type.
//! - [`resources`] — every resource the shell lists and watches, and the RBAC that follows
//!   (`vramgate cluster rbac`); the workload kinds from [`crate::workload::KINDS`].
//! - [`objects`] — whole objects reviews read: the parents of `/scale` requests and the
//!   ResourceClaimTemplates of Dynamic Resource Allocation claims.

pub mod inventory;
pub mod ledger;
pub mod objects;
#[cfg(feature = "server")]
mod read;
pub mod records;
pub mod resources;
mod table;

pub use inventory::{ClusterView, GpuPool, Inventory};
pub use ledger::{Capacity, CostKey, Cumulative, Running, Snapshot};
pub use objects::{ClaimTemplate, ClusterObjects, DeviceCount, DeviceRequest, ObjectRecord};
pub use records::{Admission, Meta, NodeRecord, OwnerRef, PodPhase, PodRecord, WorkloadRecord};
pub use table::{Change, Keyed, Table};
