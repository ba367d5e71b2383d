//! The estimate's memory terms, one by one, for `vramgate estimate --explain` and for any
//! output (plan, webhook message) that wants to say why: each term's bytes per GPU, its bytes
//! per model parameter, its formula in words and numbers, the source it follows, and whether
//! the engine can justify it (docs/memory-model.md, "Explain").
//!
//! Pure: built by [`super::memory::breakdown`] from the numbers the engine used.

use serde::{Deserialize, Serialize};

/// One memory term of one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// What the bytes are ("weights", "gradients", "DDP gradient buckets", ...).
    pub name: String,
    /// Bytes on one GPU.
    pub bytes: u64,
    /// `bytes` over the model's parameter count (all parameters, not only this GPU's share).
    pub bytes_per_parameter: f64,
    /// How the bytes are computed, in words with the numbers filled in.
    pub formula: String,
    /// The paper, vendor document or framework source line the term follows.
    pub source: String,
    /// True when the engine cannot tell whether the job really allocates it (it depends on
    /// something the job's description does not say). Such a term never turns a decision into
    /// a denial by itself: see [`super::Fit::judge_with_uncertain`].
    pub uncertain: bool,
}

/// Collects terms; `params` is the model's parameter count for the per-parameter column.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    params: f64,
    /// Whether terms are kept. Off, `add` and `push` do nothing and never call their formula:
    /// the plan search and the webhook read only the totals, and formatting every term's
    /// formula was most of an estimate's cost (docs/performance.md, "the review path's 60x regression").
    explain: bool,
    pub(crate) list: Vec<Term>,
}

impl Terms {
    /// Terms of a model of `params` parameters; `explain`: keep them (else only the totals are
    /// wanted and the terms are dropped unbuilt).
    pub(crate) fn new(params: u64, explain: bool) -> Terms {
        Terms { params: params.max(1) as f64, explain, list: Vec::new() }
    }

    /// Adds a term unless it is zero bytes; `formula` is called only when terms are kept.
    pub(crate) fn add(&mut self, name: &str, bytes: f64, formula: impl FnOnce() -> String, source: &str) {
        self.push(name, bytes, formula, source, false);
    }

    pub(crate) fn push(
        &mut self,
        name: &str,
        bytes: f64,
        formula: impl FnOnce() -> String,
        source: &str,
        uncertain: bool,
    ) {
        let b = sat(bytes);
        if b == 0 || !self.explain {
            return;
        }
        let formula = formula();
        self.list.push(Term {
            name: name.to_string(),
            bytes: b,
            bytes_per_parameter: b as f64 / self.params,
            formula,
            source: source.to_string(),
            uncertain,
        });
    }
}

/// Bytes as a whole number, saturating: negative, NaN and overflow clamp to 0 / `u64::MAX`.
pub(crate) fn sat(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 { if x >= u64::MAX as f64 { u64::MAX } else { x as u64 } } else { 0 }
}

/// A count for a formula: 4096, 6.74e9.
pub(crate) fn n(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:.3e}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// Bytes for a formula, in GiB.
pub(crate) fn gib(x: f64) -> String {
    format!("{:.2} GiB", x / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_is_built_only_when_terms_are_kept() {
        let mut built = false;
        let mut totals_only = Terms::new(1_000, false);
        totals_only.add(
            "weights",
            2_000.0,
            || {
                built = true;
                "1,000 parameters x 2 B".into()
            },
            "source",
        );
        assert!(!built, "the formula of a term nobody keeps must not be formatted");
        assert!(totals_only.list.is_empty());

        let mut kept = Terms::new(1_000, true);
        kept.add("weights", 2_000.0, || "1,000 parameters x 2 B".into(), "source");
        kept.add("empty", 0.0, || unreachable!("a zero-byte term is dropped unbuilt"), "source");
        assert_eq!(kept.list.len(), 1);
        assert_eq!(kept.list[0].formula, "1,000 parameters x 2 B");
        assert_eq!(kept.list[0].bytes_per_parameter, 2.0);
    }
}
