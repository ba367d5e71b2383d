//! A watch's view of one resource, kept from watcher events.

use std::collections::BTreeMap;

/// A record with a stable identity (the object's `metadata.uid`, or its name).
pub trait Keyed {
    fn key(&self) -> &str;
}

/// One watcher event, carrying a record instead of the API object. Mirrors
/// `kube_runtime::watcher::Event` so the shell maps one onto the other.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<R> {
    /// Added or modified.
    Apply(R),
    /// Deleted.
    Delete(R),
    /// A (re)list starts: `InitApply`s follow, then `InitDone`.
    Init,
    /// One object of the (re)list.
    InitApply(R),
    /// The (re)list is complete: its objects replace the previous set; anything not listed
    /// is gone.
    InitDone,
}

/// The current set of records of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Table<R> {
    live: BTreeMap<String, R>,
    /// Objects of a relist in progress, swapped in at `InitDone`.
    relist: Option<BTreeMap<String, R>>,
    /// Whether one complete list has been seen.
    synced: bool,
}

impl<R> Default for Table<R> {
    fn default() -> Self {
        Self { live: BTreeMap::new(), relist: None, synced: false }
    }
}

impl<R: Keyed> Table<R> {
    /// Applies one change. Until the first `InitDone` the table is empty and unsynced; during
    /// a relist the previous set stays visible (decisions keep their last known inventory).
    pub fn apply(&mut self, change: Change<R>) {
        match change {
            Change::Apply(r) => {
                self.live.insert(r.key().to_owned(), r);
            }
            Change::Delete(r) => {
                self.live.remove(r.key());
            }
            Change::Init => self.relist = Some(BTreeMap::new()),
            Change::InitApply(r) => {
                self.relist.get_or_insert_with(BTreeMap::new).insert(r.key().to_owned(), r);
            }
            Change::InitDone => {
                self.live = self.relist.take().unwrap_or_default();
                self.synced = true;
            }
        }
    }

    /// Whether one complete list has been applied.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The records, by key.
    pub fn iter(&self) -> impl Iterator<Item = &R> {
        self.live.values()
    }

    /// The record with `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&R> {
        self.live.get(key)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.live.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct R(&'static str, u32);
    impl Keyed for R {
        fn key(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn a_relist_replaces_the_set_at_init_done_and_keeps_the_old_one_visible_until_then() {
        let mut t = Table::default();
        assert!(!t.is_synced());
        t.apply(Change::Init);
        t.apply(Change::InitApply(R("a", 1)));
        assert!(t.is_empty(), "nothing visible before the first list completes");
        t.apply(Change::InitApply(R("b", 1)));
        t.apply(Change::InitDone);
        assert!(t.is_synced());
        assert_eq!(t.len(), 2);
        t.apply(Change::Apply(R("a", 2)));
        assert_eq!(t.get("a"), Some(&R("a", 2)));
        // A relist after a watch error: b was deleted while the watch was down.
        t.apply(Change::Init);
        t.apply(Change::InitApply(R("a", 3)));
        assert_eq!(t.len(), 2, "old set visible during the relist");
        t.apply(Change::InitDone);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![&R("a", 3)]);
        t.apply(Change::Delete(R("a", 3)));
        assert!(t.is_empty());
    }
}
