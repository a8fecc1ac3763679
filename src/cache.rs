//! Immutable platform facts kept between runs: what an ECS task-definition
//! revision runs, what a published Lambda version holds. Each use names its
//! entries' type, which says what the file is ([`Cached::KIND`]), the shape
//! of its entries ([`Cached::SCHEMA`]) and how a warning names it
//! ([`Cached::WHAT`]).
//!
//! The cache is kept in memory and in one file in the platform cache dir
//! ([`crate::paths::cache_file`]). Only facts that never change may be kept
//! (a revision's content, never whether it is still active). A corrupt,
//! foreign, oversized or unreadable file is ignored with one warning and
//! rewritten; the number of entries is bounded, the oldest going first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest cache file read.
const CACHE_LIMIT: u64 = 64 * 1024 * 1024;

/// What one kind of cached fact declares about its file.
pub trait Cached: Clone + Serialize + DeserializeOwned {
    /// What the file says it is; a file saying anything else is foreign.
    const KIND: &'static str;
    /// The entries' shape; bumped when it changes, and a file of another
    /// version is rebuilt.
    const SCHEMA: u32;
    /// How a warning names the cache: "task-definition cache".
    const WHAT: &'static str;
    /// Entries kept at most; beyond it the oldest is forgotten.
    const ENTRIES: usize = 20_000;
}

#[derive(Debug, Serialize, Deserialize)]
struct File<V> {
    kind: String,
    schema: u32,
    entries: Vec<(String, V)>,
}

/// Facts by key, in the order they were learned, and the file they are kept in.
#[derive(Debug)]
pub struct DiskCache<V> {
    entries: HashMap<String, (u64, V)>,
    next: u64,
    path: Option<PathBuf>,
    dirty: bool,
    /// Why the file could not be used, once (taken by whoever reports it).
    warning: Option<String>,
}

impl<V> Default for DiskCache<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            next: 0,
            path: None,
            dirty: false,
            warning: None,
        }
    }
}

impl<V: Cached> DiskCache<V> {
    /// An empty cache kept in memory only.
    pub fn memory() -> Self {
        Self::default()
    }

    /// The cache stored at `path`, loaded now. A file that cannot be used
    /// leaves the cache empty with a warning; it is rewritten on save.
    pub fn at(path: PathBuf) -> Self {
        let mut cache = Self::default();
        match load::<V>(&path) {
            Ok(entries) => {
                for (key, value) in entries {
                    cache.insert(key, value);
                }
                cache.dirty = false;
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "{} ignored", V::WHAT);
                cache.warning = Some(format!(
                    "{} {} ignored ({why}); it is rebuilt",
                    V::WHAT,
                    path.display()
                ));
                cache.dirty = true;
            }
        }
        cache.path = Some(path);
        cache
    }

    /// A fact, if known.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// Whether a fact is known.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Learns a fact; beyond [`Cached::ENTRIES`] the oldest is forgotten.
    pub fn insert(&mut self, key: String, value: V) {
        if self.entries.len() >= V::ENTRIES
            && !self.entries.contains_key(&key)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (self.next, value));
        self.next += 1;
        self.dirty = true;
    }

    /// Facts known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The warning about an unusable file, once.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// Writes the file if anything changed: the whole cache to a temporary
    /// file beside it, then renamed over it (a reader sees the old or the new
    /// file, never half of one).
    pub fn save(&mut self) -> Result<(), String> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let mut entries: Vec<(&String, &(u64, V))> = self.entries.iter().collect();
        entries.sort_by_key(|(_, (n, _))| *n);
        let file = File {
            kind: V::KIND.to_string(),
            schema: V::SCHEMA,
            entries: entries
                .into_iter()
                .map(|(key, (_, value))| (key.clone(), value.clone()))
                .collect(),
        };
        let text = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("{}: {e}", path.display())
        })?;
        self.dirty = false;
        Ok(())
    }
}

fn load<V: Cached>(path: &Path) -> Result<Vec<(String, V)>, String> {
    let bytes = match crate::paths::read_regular(path, CACHE_LIMIT) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let file: File<V> = serde_json::from_slice(&bytes).map_err(|e| format!("unreadable: {e}"))?;
    if file.kind != V::KIND {
        return Err(format!("not a shipdeck cache (kind \"{}\")", file.kind));
    }
    if file.schema != V::SCHEMA {
        return Err(format!(
            "schema version {} where {} is expected",
            file.schema,
            V::SCHEMA
        ));
    }
    Ok(file.entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Fact(u32);

    impl Cached for Fact {
        const KIND: &'static str = "shipdeck-test-cache";
        const SCHEMA: u32 = 1;
        const WHAT: &'static str = "test cache";
        const ENTRIES: usize = 3;
    }

    #[test]
    fn the_oldest_entry_goes_first_beyond_the_bound_and_the_order_survives_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let mut c = DiskCache::<Fact>::at(path.clone());
        for n in 1..=4 {
            c.insert(format!("k{n}"), Fact(n));
        }
        assert_eq!(c.len(), 3);
        assert!(!c.contains("k1"), "the oldest went first");
        c.save().unwrap();
        let mut again = DiskCache::<Fact>::at(path);
        again.insert("k5".into(), Fact(5));
        assert!(!again.contains("k2"), "loaded in the order learned");
        assert_eq!(again.get("k4"), Some(&Fact(4)));
    }

    #[test]
    fn another_kinds_file_is_foreign() {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        struct Other(u32);
        impl Cached for Other {
            const KIND: &'static str = "shipdeck-other-cache";
            const SCHEMA: u32 = 1;
            const WHAT: &'static str = "other cache";
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let mut c = DiskCache::<Fact>::at(path.clone());
        c.insert("k".into(), Fact(1));
        c.save().unwrap();
        let mut other = DiskCache::<Other>::at(path);
        assert!(other.is_empty());
        let w = other.take_warning().unwrap();
        assert!(
            w.starts_with("other cache ") && w.contains("ignored"),
            "{w}"
        );
    }

    #[test]
    fn a_memory_cache_writes_nothing() {
        let mut c = DiskCache::<Fact>::memory();
        c.insert("k".into(), Fact(1));
        assert_eq!(c.save(), Ok(()));
        assert!(c.take_warning().is_none());
    }
}
