//! The cluster's GPUs by catalog type, from its Nodes' GPU Feature Discovery labels.
//!
//! Mapping rule (the same as admission's, [`GpuCatalog::find_gfd_product`]): a node's
//! `nvidia.com/gpu.product` maps to the catalog entry that lists it in `gfd_products`, else
//! to the one whose name normalises to it; anything else is an *unknown product*, reported
//! (metrics, logs, `/readyz`) and never guessed. A MIG node is a pool per profile named like
//! admission names a MIG slice (`A100-80GB MIG 3g.40gb`): GPU Feature Discovery's single
//! strategy appends `-MIG-<profile>` to the product and counts slices as `nvidia.com/gpu`;
//! the mixed strategy exposes `nvidia.com/mig-<profile>` resources.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::records::NodeRecord;
use crate::estimate::catalog::GpuCatalog;

/// The pool name of GPU nodes without a product label (no GPU Feature Discovery).
pub const UNLABELED: &str = "unlabeled";

/// The nodes of one GPU type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuPool {
    /// Catalog name (`H100-80GB`, `A100-80GB MIG 3g.40gb`), or the raw product label of an
    /// unknown product, or [`UNLABELED`].
    pub gpu: String,
    /// Whether `gpu` is a catalog entry (or a MIG slice of one).
    pub known: bool,
    /// The `nvidia.com/gpu.product` values seen on these nodes (what a node selector must
    /// name).
    pub products: BTreeSet<String>,
    pub nodes: u64,
    /// GPUs (or MIG devices) allocatable in all.
    pub gpus: u64,
    /// The most any one node offers: the most one pod can get.
    pub max_gpus_per_node: u64,
}

impl GpuPool {
    fn new(gpu: String, known: bool) -> Self {
        Self { gpu, known, products: BTreeSet::new(), nodes: 0, gpus: 0, max_gpus_per_node: 0 }
    }

    fn add(&mut self, product: Option<&str>, gpus: u64) {
        if let Some(p) = product {
            self.products.insert(p.to_owned());
        }
        self.nodes += 1;
        self.gpus = self.gpus.saturating_add(gpus);
        self.max_gpus_per_node = self.max_gpus_per_node.max(gpus);
    }

    /// Whether this is a MIG slice pool.
    #[must_use]
    pub fn is_mig(&self) -> bool {
        self.gpu.contains(" MIG ")
    }
}

/// The cluster's GPU pools and the GPU nodes whose type is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// By pool name.
    pub pools: BTreeMap<String, GpuPool>,
    /// Node name → pool name, for attributing pods to GPU types.
    pub node_pool: BTreeMap<String, String>,
}

/// `NVIDIA-A100-SXM4-80GB-MIG-3g.40gb` → (`NVIDIA-A100-SXM4-80GB`, `3g.40gb`).
fn split_mig(product: &str) -> Option<(&str, &str)> {
    let i = product.to_ascii_uppercase().find("-MIG-")?;
    Some((&product[..i], &product[i + 5..]))
}

impl Inventory {
    /// Groups `nodes` with GPUs by type.
    #[must_use]
    pub fn build<'a>(nodes: impl IntoIterator<Item = &'a NodeRecord>, catalog: &GpuCatalog) -> Self {
        let mut inv = Self::default();
        for n in nodes.into_iter().filter(|n| n.has_gpus()) {
            let product = n.product.as_deref();
            let (pool, known) = match product {
                None => (UNLABELED.to_owned(), false),
                Some(p) => match split_mig(p) {
                    Some((parent, profile)) => match catalog.find_gfd_product(parent) {
                        Some(g) => (format!("{} MIG {profile}", g.name), true),
                        None => (p.to_owned(), false),
                    },
                    None => match catalog.find_gfd_product(p) {
                        Some(g) => (g.name.clone(), true),
                        None => (p.to_owned(), false),
                    },
                },
            };
            if n.gpus > 0 {
                inv.pools.entry(pool.clone()).or_insert_with(|| GpuPool::new(pool.clone(), known)).add(product, n.gpus);
                inv.node_pool.insert(n.name.clone(), pool.clone());
            }
            // Mixed-strategy MIG devices: a pool per profile of the parent GPU.
            for (profile, count) in &n.mig {
                let name = format!("{pool} MIG {profile}");
                let known = known && !pool.contains(" MIG ");
                inv.pools.entry(name.clone()).or_insert_with(|| GpuPool::new(name, known)).add(product, *count);
                inv.node_pool.entry(n.name.clone()).or_insert_with(|| pool.clone());
            }
        }
        inv
    }

    /// The pool of catalog GPU `gpu` (a catalog name, as admission names it).
    #[must_use]
    pub fn pool(&self, gpu: &str) -> Option<&GpuPool> {
        self.pools.get(gpu).filter(|p| p.known)
    }

    /// Known full-GPU pools (not MIG): the types a job without one may be given.
    pub fn full_gpu_pools(&self) -> impl Iterator<Item = &GpuPool> {
        self.pools.values().filter(|p| p.known && !p.is_mig())
    }

    /// Pools whose product the catalog does not know (unlabeled nodes included).
    pub fn unknown(&self) -> impl Iterator<Item = &GpuPool> {
        self.pools.values().filter(|p| !p.known)
    }

    /// "H100-80GB: 64 GPUs on 8 nodes, A100-80GB: 16 GPUs on 2 nodes", largest first; "no
    /// GPU nodes" when empty.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut pools: Vec<&GpuPool> = self.pools.values().filter(|p| p.known).collect();
        if pools.is_empty() {
            let unknown: Vec<&str> = self.unknown().map(|p| p.gpu.as_str()).collect();
            if unknown.is_empty() {
                return "no GPU nodes".to_owned();
            }
            return format!(
                "no GPU nodes of a known type (products {}: add them to the config's gpus with gfd_products)",
                unknown.join(", ")
            );
        }
        pools.sort_by(|a, b| b.gpus.cmp(&a.gpus).then_with(|| a.gpu.cmp(&b.gpu)));
        let mut s = String::new();
        for (i, p) in pools.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{}: {} GPUs on {} node{}", p.gpu, p.gpus, p.nodes, if p.nodes == 1 { "" } else { "s" });
        }
        s
    }
}

/// The inventory as a decision sees it: the last known one, and how old it is.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView<'a> {
    pub inventory: &'a Inventory,
    /// Seconds since the node watch started failing; `None` while it is healthy.
    pub stale_seconds: Option<u64>,
    /// Beyond this, what the inventory says is advice, not a reason to deny
    /// (`cluster.inventory_max_stale_seconds`).
    pub max_stale_seconds: u64,
    /// Watched parents of `/scale` requests and ResourceClaimTemplates; `None`: not watched.
    pub objects: Option<&'a super::ClusterObjects>,
}

impl ClusterView<'_> {
    /// Whether the inventory is recent enough to deny on: current, or stale for less than
    /// `max_stale_seconds`.
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        self.stale_seconds.is_none_or(|s| s < self.max_stale_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, product: Option<&str>, gpus: u64) -> NodeRecord {
        NodeRecord {
            name: name.into(),
            product: product.map(Into::into),
            memory_mib: None,
            gpus,
            mig: BTreeMap::new(),
            unschedulable: false,
        }
    }

    #[test]
    fn nodes_group_by_catalog_type_and_unknown_products_stay_apart() {
        let catalog = GpuCatalog::builtin();
        let nodes = [
            node("a", Some("NVIDIA-H100-80GB-HBM3"), 8),
            node("b", Some("NVIDIA-H100-80GB-HBM3"), 4),
            node("c", Some("NVIDIA-A100-SXM4-80GB-MIG-3g.40gb"), 14),
            node("d", Some("Acme-Tensor-9000"), 2),
            node("e", None, 1),
            node("cpu", None, 0),
        ];
        let inv = Inventory::build(&nodes, &catalog);
        let h100 = inv.pool("H100-80GB").expect("H100 pool");
        assert_eq!((h100.nodes, h100.gpus, h100.max_gpus_per_node), (2, 12, 8));
        assert_eq!(h100.products.iter().collect::<Vec<_>>(), ["NVIDIA-H100-80GB-HBM3"]);
        assert_eq!(inv.pool("A100-80GB MIG 3g.40gb").map(|p| p.gpus), Some(14));
        assert!(inv.pool("A100-80GB").is_none(), "a MIG node offers slices, not full A100s");
        let unknown: Vec<&str> = inv.unknown().map(|p| p.gpu.as_str()).collect();
        assert_eq!(unknown, ["Acme-Tensor-9000", UNLABELED]);
        assert!(!inv.node_pool.contains_key("cpu"));
        assert_eq!(inv.full_gpu_pools().map(|p| p.gpu.as_str()).collect::<Vec<_>>(), ["H100-80GB"]);
        assert_eq!(inv.summary(), "A100-80GB MIG 3g.40gb: 14 GPUs on 1 node, H100-80GB: 12 GPUs on 2 nodes");
    }

    #[test]
    fn mixed_strategy_mig_devices_form_a_pool_per_profile() {
        let catalog = GpuCatalog::builtin();
        let mut n = node("m", Some("NVIDIA-A100-SXM4-80GB"), 0);
        n.mig.insert("3g.40gb".into(), 2);
        n.mig.insert("1g.10gb".into(), 1);
        let inv = Inventory::build([&n], &catalog);
        assert_eq!(inv.pool("A100-80GB MIG 3g.40gb").map(|p| p.gpus), Some(2));
        assert_eq!(inv.pool("A100-80GB MIG 1g.10gb").map(|p| p.gpus), Some(1));
        assert!(inv.pool("A100-80GB").is_none());
        assert_eq!(inv.node_pool.get("m").map(String::as_str), Some("A100-80GB"));
    }
}
