//! The GPU catalog's lookup: `GpuCatalog` resolves user-written names and GPU Feature
//! Discovery `nvidia.com/gpu.product` labels to the entries of the built-in table
//! (`catalog_table.rs`, [`builtin_gpus`]), merges config-file overrides, and suggests near
//! names on a miss (edit distance by `strsim`).

// A sibling file, not `catalog/table.rs`: `src/estimate/` stays flat, as the purity guard
// (`tests/engine.rs`) reads it.
#[path = "catalog_table.rs"]
mod table;

pub use table::builtin_gpus;

use super::gpu::GpuSpec;

/// Bytes in a GiB, to compare a catalog entry's memory with a product label's `<n>GB`.
const GIB: f64 = (1u64 << 30) as f64;

/// Canonical lookup key: lower-case, with `-`, `_` and spaces removed and one leading
/// `nvidia` or `tesla` stripped, so `NVIDIA-A100_80GB` and `a100-80gb` are the same key.
fn normalize(s: &str) -> String {
    let squashed: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).flat_map(char::to_lowercase).collect();
    for prefix in ["nvidia", "tesla"] {
        if let Some(rest) = squashed.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    squashed
}

/// Form-factor tokens in a product name (`SXM4`, `PCIe`); see [`GpuCatalog::find_gfd_product`].
fn form_factor(token: &str) -> Option<&'static str> {
    let t = token.to_ascii_lowercase();
    if t == "pcie" {
        Some("pcie")
    } else if t.starts_with("sxm") && t[3..].chars().all(|c| c.is_ascii_digit()) {
        Some("sxm")
    } else {
        None
    }
}

/// Memory-technology tokens in a product name (`HBM3`, `HBM3e`, `HBM2e`).
fn is_memory_tech(token: &str) -> bool {
    matches!(token.to_ascii_lowercase().as_str(), "hbm2" | "hbm2e" | "hbm3" | "hbm3e")
}

/// A `<n>GB` memory-size token, e.g. `80GB` -> 80.
fn memory_gb(token: &str) -> Option<u64> {
    let t = token.to_ascii_lowercase();
    let digits = t.strip_suffix("gb")?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(['-', '_', ' ']).filter(|t| !t.is_empty())
}

/// A product name with its form-factor and memory-technology tokens removed, normalised;
/// plus the form factors it named and the memory size it named.
fn strip_product(s: &str) -> (String, Vec<&'static str>, Option<u64>) {
    let mut kept = Vec::new();
    let mut forms = Vec::new();
    let mut gb = None;
    for t in tokens(s) {
        if let Some(f) = form_factor(t) {
            forms.push(f);
        } else if is_memory_tech(t) {
            // dropped
        } else {
            if let Some(n) = memory_gb(t) {
                gb = Some(n);
            }
            kept.push(t);
        }
    }
    (normalize(&kept.concat()), forms, gb)
}

/// Ranks `candidates` (a display name and its lookup keys, already normalised the same way as
/// `query`) by closeness to `query`: candidates with a key that contains the query, or that
/// the query contains (keys of 4+ characters), first; then by edit distance to the nearest
/// key; returns up to 3 distinct display names. Candidates farther than `max(3, len/2)` edits
/// and not related by containment are dropped, so nonsense input gets no suggestions.
pub(crate) fn closest<'a>(query: &str, candidates: impl IntoIterator<Item = (&'a str, Vec<String>)>) -> Vec<&'a str> {
    if query.is_empty() {
        return Vec::new();
    }
    let limit = 3.max(query.chars().count() / 2);
    let mut scored: Vec<(bool, usize, &'a str)> = candidates
        .into_iter()
        .filter_map(|(display, keys)| {
            let related =
                keys.iter().any(|k| k.contains(query) || (k.chars().count() >= 4 && query.contains(k.as_str())));
            let dist = keys.iter().map(|k| strsim::levenshtein(query, k)).min()?;
            (related || dist <= limit).then_some((!related, dist, display))
        })
        .collect();
    scored.sort();
    let mut out: Vec<&'a str> = Vec::new();
    for (_, _, d) in scored {
        if !out.contains(&d) {
            out.push(d);
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// The GPUs vramgate can resolve: the built-in list, possibly merged with config overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCatalog {
    gpus: Vec<GpuSpec>,
}

impl Default for GpuCatalog {
    /// The built-in catalog.
    fn default() -> Self {
        Self::builtin()
    }
}

impl GpuCatalog {
    /// The built-in catalog, [`builtin_gpus`].
    pub fn builtin() -> Self {
        Self::from_specs(builtin_gpus())
    }

    /// A catalog of exactly these specs, in this order.
    pub fn from_specs(gpus: Vec<GpuSpec>) -> Self {
        Self { gpus }
    }

    /// Applies config-file entries: an override whose name equals an existing entry's name
    /// (case-insensitively, and ignoring `-`, `_`, spaces and a leading `nvidia`/`tesla`, as
    /// [`find`](Self::find) does) replaces that entry in place; any other is appended.
    pub fn merge(&mut self, overrides: Vec<GpuSpec>) {
        for spec in overrides {
            let key = normalize(&spec.name);
            match self.gpus.iter_mut().find(|g| normalize(&g.name) == key) {
                Some(existing) => *existing = spec,
                None => self.gpus.push(spec),
            }
        }
    }

    /// Every entry, in catalog order.
    pub fn all(&self) -> &[GpuSpec] {
        &self.gpus
    }

    /// The entry whose name or alias matches `name` case-insensitively, ignoring `-`, `_`,
    /// spaces and a leading `nvidia`/`tesla` (`a100-80gb`, `A100_80GB`, `nvidia-a100-80gb`
    /// all find `A100-80GB`). Names are tried before aliases, so an appended override named
    /// like a built-in alias wins over that alias.
    pub fn find(&self, name: &str) -> Option<&GpuSpec> {
        // The canonical spelling (what configs and resolved plans carry) needs no normalising.
        if let Some(g) = self.gpus.iter().find(|g| g.name == name) {
            return Some(g);
        }
        let key = normalize(name);
        if key.is_empty() {
            return None;
        }
        self.gpus
            .iter()
            .find(|g| normalize(&g.name) == key)
            .or_else(|| self.gpus.iter().find(|g| g.aliases.iter().any(|a| normalize(a) == key)))
    }

    /// The entry for a GPU Feature Discovery `nvidia.com/gpu.product` node label value.
    ///
    /// Rule, in order; the first step that matches decides:
    /// 1. the label equals one of an entry's `gfd_products` exactly, then case-insensitively;
    /// 2. the label matches an entry's name, alias or `gfd_products` under the
    ///    [`find`](Self::find) normalisation;
    /// 3. form-factor tokens (`SXM`, `SXM2`, `SXM4`, `SXM5`, `PCIe`) and memory-technology
    ///    tokens (`HBM2`, `HBM2e`, `HBM3`, `HBM3e`) are removed from the label and from every
    ///    entry's names, aliases and `gfd_products`, and the results compared normalised. A
    ///    candidate is kept only if (a) when the label names a form factor and the entry's
    ///    names mention any form factor, one of them is the label's, and (b) when the label
    ///    has a `<n>GB` token, the entry's `memory_bytes` is within 10 % of n GiB. The match
    ///    is accepted only if exactly one entry is left.
    ///
    /// Anything else is `None`: the function never guesses. In particular labels that GFD
    /// decorates for MIG (`…-MIG-1g.10gb`) or time-slicing (`…-SHARED`) return `None`, since
    /// such a slice does not have the whole GPU's memory or compute.
    pub fn find_gfd_product(&self, label: &str) -> Option<&GpuSpec> {
        if let Some(g) = self
            .gpus
            .iter()
            .find(|g| g.gfd_products.iter().any(|p| p == label))
            .or_else(|| self.gpus.iter().find(|g| g.gfd_products.iter().any(|p| p.eq_ignore_ascii_case(label))))
        {
            return Some(g);
        }

        let key = normalize(label);
        if key.is_empty() {
            return None;
        }
        if let Some(g) = self.gpus.iter().find(|g| keys(g).any(|k| normalize(k) == key)) {
            return Some(g);
        }

        let (stripped, label_forms, label_gb) = strip_product(label);
        if stripped.is_empty() {
            return None;
        }
        let mut found: Option<&GpuSpec> = None;
        for g in &self.gpus {
            if !keys(g).any(|k| strip_product(k).0 == stripped) {
                continue;
            }
            let entry_forms: Vec<&str> = keys(g).flat_map(|k| strip_product(k).1).collect();
            if !label_forms.is_empty()
                && !entry_forms.is_empty()
                && !label_forms.iter().any(|f| entry_forms.contains(f))
            {
                continue;
            }
            if let Some(gb) = label_gb {
                let ratio = g.memory_bytes as f64 / GIB / gb as f64;
                if !(0.9..=1.1).contains(&ratio) {
                    continue;
                }
            }
            if found.is_some() {
                return None; // ambiguous
            }
            found = Some(g);
        }
        found
    }

    /// Up to 3 catalog names closest to `name` (for "unknown GPU, did you mean …" errors):
    /// names whose name or alias contains the normalised query first, then by edit distance.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let query = normalize(name);
        closest(&query, self.gpus.iter().map(|g| (g.name.as_str(), keys(g).map(normalize).collect())))
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// An entry's name, aliases and GFD product labels.
fn keys(g: &GpuSpec) -> impl Iterator<Item = &str> {
    std::iter::once(g.name.as_str())
        .chain(g.aliases.iter().map(String::as_str))
        .chain(g.gfd_products.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> GpuCatalog {
        GpuCatalog::builtin()
    }

    #[test]
    fn builtin_entries_are_consistent() {
        // Which GPUs the table holds, and their figures, are in tests/golden/catalog.json.
        let gpus = builtin_gpus();
        for g in &gpus {
            assert!(g.memory_bytes > 8 << 30, "{}", g.name);
            assert!(g.dense_fp16_flops > 0.0, "{}", g.name);
            assert!(g.dense_fp32_flops > 0.0, "{}", g.name);
            assert!(g.dense_fp16_flops > g.dense_fp32_flops, "{}", g.name);
            assert_eq!(g.bf16_supported, g.dense_bf16_flops > 0.0, "{}", g.name);
            assert_eq!(g.fp8_supported, g.dense_fp8_flops > 0.0, "{}", g.name);
            if g.fp8_supported {
                assert!(g.dense_fp8_flops >= g.dense_bf16_flops, "{}", g.name);
            }
            assert!(g.usd_per_hour > 0.0, "{}", g.name);
            assert!(!g.price_source.is_empty(), "{}", g.name);
            assert_eq!(g.price_date.len(), 7, "{}", g.name);
            assert!(!g.spec_source.is_empty(), "{}", g.name);
            // Every NVIDIA GPU has its GFD product label; AMD's have none (catalog_table.rs).
            assert_eq!(g.gfd_products.is_empty(), g.spec_source.starts_with("AMD "), "{}", g.name);
        }
    }

    #[test]
    fn lookup_keys_are_unambiguous() {
        let gpus = builtin_gpus();
        let mut seen = std::collections::HashMap::new();
        for g in &gpus {
            for k in keys(g) {
                if let Some(other) = seen.insert(normalize(k), g.name.clone()) {
                    assert_eq!(other, g.name, "key {k} is shared");
                }
            }
        }
    }

    #[test]
    fn known_figures() {
        // The figures themselves are in tests/golden/catalog.json; here, what follows from them.
        let c = cat();
        let h100 = c.find("H100").unwrap();
        assert_eq!(h100.name, "H100-80GB");
        let a100 = c.find("A100-80GB").unwrap();
        assert!((a100.usd_per_hour - 4.10).abs() < 0.01);
        // 8 GPUs cost about the $33/h the Llama 2 paper's example assumes.
        assert!((a100.usd_per_hour * 8.0 - 33.0).abs() < 0.5);
        let v100 = c.find("V100-16GB").unwrap();
        assert!(!v100.bf16_supported);
        let t4 = c.find("t4").unwrap();
        assert!(!t4.bf16_supported);
        for name in ["H100-80GB", "H200", "B200", "L4", "L40S", "RTX-4090"] {
            assert!(c.find(name).unwrap().fp8_supported, "{name}");
        }
        for name in ["A100-80GB", "A100-40GB", "V100-32GB", "T4", "A10G"] {
            assert!(!c.find(name).unwrap().fp8_supported, "{name}");
        }
    }

    #[test]
    fn find_normalises() {
        let c = cat();
        for q in ["a100-80gb", "A100_80GB", "nvidia-a100-80gb", "NVIDIA A100 80GB", "A100-SXM4-80GB"] {
            assert_eq!(c.find(q).map(|g| g.name.as_str()), Some("A100-80GB"), "{q}");
        }
        for q in ["H100", "h100-sxm", "h100-80gb-hbm3", "nvidia_h100"] {
            assert_eq!(c.find(q).map(|g| g.name.as_str()), Some("H100-80GB"), "{q}");
        }
        assert_eq!(c.find("tesla-t4").unwrap().name, "T4");
        assert_eq!(c.find("h100 pcie").unwrap().name, "H100-PCIe");
        assert!(c.find("A100").is_none(), "ambiguous between 40 and 80 GB");
        assert!(c.find("").is_none());
        assert!(c.find("nvidia").is_none());
        assert!(c.find("MI325X").is_none());
    }

    #[test]
    fn gfd_labels_resolve() {
        let c = cat();
        let cases = [
            ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
            ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
            ("NVIDIA-A100-SXM4-40GB", "A100-40GB"),
            ("NVIDIA-A100-PCIE-40GB", "A100-40GB"),
            ("NVIDIA-A100-80GB-PCIe", "A100-80GB"),
            ("A100-SXM4-40GB", "A100-40GB"),
            ("Tesla-V100-SXM2-16GB", "V100-16GB"),
            ("Tesla-V100-SXM2-32GB", "V100-32GB"),
            ("Tesla-T4", "T4"),
            ("NVIDIA-A10G", "A10G"),
            ("NVIDIA-L4", "L4"),
            ("NVIDIA-L40S", "L40S"),
            ("NVIDIA-H100-PCIe", "H100-PCIe"),
            ("NVIDIA-H200", "H200"),
            ("NVIDIA-B200", "B200"),
            ("NVIDIA-GeForce-RTX-4090", "RTX-4090"),
            // case-insensitive exact
            ("nvidia-h100-80gb-hbm3", "H100-80GB"),
            // suffix stripping, unique, memory consistent
            ("NVIDIA-H200-141GB-HBM3e", "H200"),
            ("NVIDIA-H100-SXM5-80GB-HBM3", "H100-80GB"),
            ("NVIDIA-H100-PCIe-80GB-HBM2e", "H100-PCIe"),
            // normalised match on a catalog name or alias
            ("NVIDIA-H100-SXM5-80GB", "H100-80GB"),
            ("NVIDIA-H100-PCIe-80GB", "H100-PCIe"),
            ("A100-80GB", "A100-80GB"),
        ];
        for (label, want) in cases {
            assert_eq!(c.find_gfd_product(label).map(|g| g.name.as_str()), Some(want), "{label}");
        }
    }

    #[test]
    fn gfd_never_guesses() {
        let c = cat();
        for label in [
            "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb",
            "NVIDIA-A100-SXM4-80GB-SHARED",
            // (NVIDIA-H100-NVL is a catalog product since issue 14.)
            "NVIDIA-H200-NVL",
            // ambiguous once HBM2e is dropped: SXM or PCIe
            "NVIDIA-H100-80GB-HBM2e",
            "NVIDIA-H200-96GB",
            // names a form factor the entry does not have
            "Tesla-V100-PCIE-16GB",
            "NVIDIA-A100",
            "",
            "NVIDIA",
        ] {
            assert!(c.find_gfd_product(label).is_none(), "{label}");
        }
    }

    #[test]
    fn gfd_memory_must_agree() {
        let mut x = cat().find("A100-40GB").unwrap().clone();
        x.name = "X-80GB".into();
        x.aliases = vec![];
        x.gfd_products = vec![];
        let c = GpuCatalog::from_specs(vec![x]);
        // Only a 40 GiB entry is named like this label: memory disagrees, so no match.
        assert!(c.find_gfd_product("NVIDIA-X-80GB-HBM3").is_none());
        assert!(c.find_gfd_product("NVIDIA-X-80GB").is_some());
    }

    #[test]
    fn merge_replaces_and_appends() {
        let mut c = cat();
        let n = c.all().len();
        let mut h100 = c.find("H100-80GB").unwrap().clone();
        h100.name = "h100-80gb".into();
        h100.usd_per_hour = 2.0;
        let mut mi = h100.clone();
        mi.name = "MI325X".into();
        mi.aliases = vec![];
        mi.gfd_products = vec![];
        c.merge(vec![h100, mi]);
        assert_eq!(c.all().len(), n + 1);
        assert_eq!(c.find("H100").unwrap().usd_per_hour, 2.0);
        assert_eq!(c.find("mi325x").unwrap().name, "MI325X");
        assert_eq!(c.all().last().unwrap().name, "MI325X");
    }

    #[test]
    fn names_beat_aliases() {
        let mut c = cat();
        let mut other = c.find("T4").unwrap().clone();
        other.name = "H100".into();
        other.aliases = vec![];
        other.gfd_products = vec![];
        c.merge(vec![other]);
        assert_eq!(c.find("H100").unwrap().name, "H100");
        assert_eq!(c.find("H100-SXM").unwrap().name, "H100-80GB");
    }

    #[test]
    fn from_specs_is_exact() {
        let c = GpuCatalog::from_specs(vec![]);
        assert!(c.all().is_empty());
        assert!(c.find("H100").is_none());
        assert!(c.suggest("H100").is_empty());
    }

    #[test]
    fn suggestions() {
        let c = cat();
        // Names containing the query come first, then the closest others, 3 at most.
        assert_eq!(c.suggest("A100"), ["A100-40GB", "A100-80GB", "A10G"]);
        assert_eq!(c.suggest("H10O")[0], "H100-80GB");
        assert_eq!(c.suggest("L40")[..2], ["L40", "L40S"]);
        // At most 3, closest first.
        assert_eq!(c.suggest("x"), ["B200", "H100-80GB", "H200"]);
        assert!(c.suggest("completely-unrelated-accelerator").is_empty());
    }
}
