//! Task definitions are immutable: what a revision's containers run is read
//! once per ARN and kept, in memory and in one file in the platform cache dir
//! (the core [`crate::cache`]), so a warm `status` describes no task
//! definition at all. Only immutable content is kept: whether a revision is
//! still ACTIVE is always asked afresh (a deregistration must never hide
//! behind the cache). A corrupt, foreign or unreadable file is ignored with
//! one warning and rewritten.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::Revision;

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

impl crate::cache::Cached for TaskDefInfo {
    const KIND: &'static str = "shipdeck-task-definition-cache";
    /// 2: each container's log configuration is kept (an entry of version 1,
    /// without it, would say "no awslogs configuration" of a revision that has one).
    const SCHEMA: u32 = 2;
    const WHAT: &'static str = "task-definition cache";
}

/// Task definitions by ARN, in the order they were learned.
pub type TaskDefCache = crate::cache::DiskCache<TaskDefInfo>;

/// The default cache file: the platform cache dir (`~/.cache/shipdeck` on Linux).
pub fn default_path() -> Option<PathBuf> {
    crate::paths::cache_file(crate::paths::TASK_DEFINITION_CACHE)
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
