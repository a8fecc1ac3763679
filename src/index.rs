//! A lookup by name over a list that keeps its order: built on first use, so
//! that finding one of 20,000 services is constant-time instead of a scan (a
//! scan per lookup made every view of a large fleet quadratic).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Position of each item by name. A cache, not data: it compares equal to any
/// other, and a lookup that finds the list changed falls back to a scan.
#[derive(Debug, Clone, Default)]
pub struct NameIndex(OnceLock<HashMap<String, usize>>);

impl PartialEq for NameIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl NameIndex {
    /// Where the item called `name` is in `items`.
    pub fn position<T>(&self, items: &[T], name: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
        let map = self.0.get_or_init(|| {
            items
                .iter()
                .enumerate()
                .map(|(i, it)| (key(it).to_string(), i))
                .collect()
        });
        match map.get(name) {
            Some(i) if items.get(*i).is_some_and(|it| key(it) == name) => Some(*i),
            _ => items.iter().position(|it| key(it) == name),
        }
    }
}
