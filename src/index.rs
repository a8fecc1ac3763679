//! A lookup by name over a list that keeps its order: built on first use, so
//! that finding one of 20,000 services is constant-time instead of a scan (a
//! scan per lookup made every view of a large fleet quadratic).

use std::hash::BuildHasher;
use std::sync::OnceLock;

use rustc_hash::{FxBuildHasher, FxHashMap};

/// Position of each item by the hash of its name. A cache, not data: it
/// compares equal to any other, and a lookup whose hit is not the name asked
/// for (the list changed, or two names share a hash) falls back to a scan.
///
/// Keyed by hash rather than by name so that indexing a reading of thousands
/// of services copies no names: it is rebuilt for every reading.
#[derive(Debug, Clone, Default)]
pub struct NameIndex(OnceLock<FxHashMap<u64, usize>>);

impl PartialEq for NameIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl NameIndex {
    /// Where the (first) item called `name` is in `items`.
    pub fn position<T>(&self, items: &[T], name: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
        let map = self.0.get_or_init(|| {
            let mut map = FxHashMap::with_capacity_and_hasher(items.len(), FxBuildHasher);
            for (i, it) in items.iter().enumerate() {
                map.entry(hash(key(it))).or_insert(i);
            }
            map
        });
        match map.get(&hash(name)) {
            Some(i) if items.get(*i).is_some_and(|it| key(it) == name) => Some(*i),
            _ => items.iter().position(|it| key(it) == name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    fn names(list: &[&'static str]) -> Vec<&'static str> {
        list.to_vec()
    }

    fn key<'a>(s: &'a &str) -> &'a str {
        s
    }

    #[test]
    fn finds_the_first_of_each_name_and_misses_the_absent() {
        let items = names(&["api", "web", "api", "jobs"]);
        let idx = NameIndex::default();
        assert_eq!(idx.position(&items, "api", key), Some(0));
        assert_eq!(idx.position(&items, "web", key), Some(1));
        assert_eq!(idx.position(&items, "jobs", key), Some(3));
        assert_eq!(idx.position(&items, "nope", key), None);
    }

    #[test]
    fn a_list_that_changed_under_the_index_is_scanned() {
        let idx = NameIndex::default();
        assert_eq!(idx.position(&names(&["a", "b"]), "b", key), Some(1));
        // Built for the list above; the list now differs.
        let moved = names(&["b", "a", "c"]);
        assert_eq!(idx.position(&moved, "b", key), Some(0));
        assert_eq!(idx.position(&moved, "c", key), Some(2));
    }
}
