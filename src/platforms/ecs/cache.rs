//! Task definitions are immutable: what a revision's containers run is read
//! once per ARN and kept, in memory and in one file in the platform cache dir,
//! so a warm `status` describes no task definition at all. Only immutable
//! content is kept: whether a revision is still ACTIVE is always asked afresh
//! (a deregistration must never hide behind the cache). A corrupt, foreign or
//! unreadable file is ignored with one warning and rewritten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Revision;

/// Revisions kept at most; the oldest entries go first.
pub const CACHE_ENTRIES: usize = 20_000;
/// Largest cache file read.
const CACHE_LIMIT: u64 = 64 * 1024 * 1024;
/// What the file says it is; anything else is foreign.
const KIND: &str = "shipdeck-task-definition-cache";
/// Bumped when the entries' shape changes; another version is rebuilt.
/// 2: each container's log configuration is kept (an entry of version 1,
/// without it, would say "no awslogs configuration" of a revision that has one).
const SCHEMA: u32 = 2;

/// What was learned from a task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefInfo {
    /// Family, revision and ARN.
    pub task_def: Revision,
    /// Image per container name.
    pub images: Vec<(String, String)>,
    /// Log configuration per container name (`logConfiguration`).
    #[serde(default)]
    pub logs: Vec<crate::model::logs::LogConfig>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    kind: String,
    schema: u32,
    entries: Vec<(String, TaskDefInfo)>,
}

/// Task definitions by ARN, in the order they were learned.
#[derive(Debug, Default)]
pub struct TaskDefCache {
    entries: HashMap<String, (u64, TaskDefInfo)>,
    next: u64,
    path: Option<PathBuf>,
    dirty: bool,
    /// Why the file could not be used, once (taken by whoever reports it).
    warning: Option<String>,
}

impl TaskDefCache {
    /// An empty cache kept in memory only.
    pub fn memory() -> Self {
        Self::default()
    }

    /// The cache stored at `path`, loaded now. A file that cannot be used
    /// leaves the cache empty with a warning; it is rewritten on save.
    pub fn at(path: PathBuf) -> Self {
        let mut cache = Self::default();
        match load(&path) {
            Ok(entries) => {
                for (arn, info) in entries {
                    cache.insert(arn, info);
                }
                cache.dirty = false;
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "task-definition cache ignored");
                cache.warning = Some(format!(
                    "task-definition cache {} ignored ({why}); it is rebuilt",
                    path.display()
                ));
                cache.dirty = true;
            }
        }
        cache.path = Some(path);
        cache
    }

    /// A revision, if known.
    pub fn get(&self, arn: &str) -> Option<&TaskDefInfo> {
        self.entries.get(arn).map(|(_, i)| i)
    }

    /// Whether a revision is known.
    pub fn contains(&self, arn: &str) -> bool {
        self.entries.contains_key(arn)
    }

    /// Learns a revision; beyond [`CACHE_ENTRIES`] the oldest is forgotten.
    pub fn insert(&mut self, arn: String, info: TaskDefInfo) {
        if self.entries.len() >= CACHE_ENTRIES
            && !self.entries.contains_key(&arn)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(arn, (self.next, info));
        self.next += 1;
        self.dirty = true;
    }

    /// Revisions known.
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
        let mut entries: Vec<(&String, &(u64, TaskDefInfo))> = self.entries.iter().collect();
        entries.sort_by_key(|(_, (n, _))| *n);
        let file = File {
            kind: KIND.to_string(),
            schema: SCHEMA,
            entries: entries
                .into_iter()
                .map(|(arn, (_, info))| (arn.clone(), info.clone()))
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

fn load(path: &Path) -> Result<Vec<(String, TaskDefInfo)>, String> {
    let bytes = match crate::paths::read_regular(path, CACHE_LIMIT) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let file: File = serde_json::from_slice(&bytes).map_err(|e| format!("unreadable: {e}"))?;
    if file.kind != KIND {
        return Err(format!("not a shipdeck cache (kind \"{}\")", file.kind));
    }
    if file.schema != SCHEMA {
        return Err(format!(
            "schema version {} where {SCHEMA} is expected",
            file.schema
        ));
    }
    Ok(file.entries)
}

/// The default cache file: the platform cache dir (`~/.cache/shipdeck` on Linux).
pub fn default_path() -> Option<PathBuf> {
    crate::paths::cache_dir().map(|d| d.join("task-definitions.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rev: u32) -> TaskDefInfo {
        TaskDefInfo {
            task_def: Revision {
                family: "api".into(),
                id: crate::model::RevisionId::Number(rev),
                arn: format!("arn:aws:ecs:r:1:task-definition/api:{rev}").into(),
            },
            images: vec![("app".into(), format!("repo@sha256:{rev:064}"))],
            logs: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let mut c = TaskDefCache::at(path.clone());
        assert!(c.take_warning().is_none(), "a missing file is just empty");
        c.insert("a1".into(), info(1));
        c.save().unwrap();
        let mut again = TaskDefCache::at(path.clone());
        assert_eq!(again.get("a1"), Some(&info(1)));
        assert!(again.take_warning().is_none());
        for bad in [
            &b"{\"kind\":"[..],
            b"garbage",
            br#"{"kind":"other","schema":1,"entries":[]}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            let mut c = TaskDefCache::at(path.clone());
            assert!(c.is_empty());
            assert!(c.take_warning().unwrap().contains("ignored"));
            assert!(c.take_warning().is_none(), "warned once");
            c.save().unwrap();
            assert!(
                TaskDefCache::at(path.clone()).take_warning().is_none(),
                "rewritten"
            );
        }
    }
}
