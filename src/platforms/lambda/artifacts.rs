//! Published versions' artifacts, read once: a published version never
//! changes, so what it holds is kept in memory for the process and, where
//! the command line allows it, on disk between runs (the core
//! [`crate::cache`], one file beside the task-definition cache), as ECS
//! keeps task definitions. `$LATEST` is never a version and never kept.
//!
//! On disk a version is keyed by its ARN (region, account, function and
//! number), prefixed by the Lambda endpoint where one is configured (every
//! emulator answers the same account). A function's ARN is learned from the
//! reading's `ListFunctions`, from a configured ARN, or from an artifact read
//! in this process; a version of a function whose ARN is not known yet is
//! kept in memory only. Only a digest that was read is kept on disk: a
//! `CodeSha256` that could not be read as one is asked again next run.
//! A function deleted and created again under its name numbers its versions
//! from 1 again, under the same ARNs: `--no-cache` (or removing the file)
//! forgets what the old one held.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use super::snapshot::Artifact;
use crate::cache::{Cached, DiskCache};
use crate::config::EnvConfig;
use crate::model::Digest;

/// A published version as the disk keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// The version's ARN.
    pub arn: String,
    /// `Image` or `Zip`.
    pub package: String,
    /// The artifact's digest.
    pub digest: Digest,
}

impl Cached for StoredVersion {
    const KIND: &'static str = "shipdeck-lambda-version-cache";
    const SCHEMA: u32 = 1;
    const WHAT: &'static str = "Lambda version cache";
}

/// The process's version cache file, shared by every environment.
type Disk = Arc<Mutex<DiskCache<StoredVersion>>>;

fn disk_slot() -> &'static Mutex<Option<Disk>> {
    static DISK: OnceLock<Mutex<Option<Disk>>> = OnceLock::new();
    DISK.get_or_init(|| Mutex::new(None))
}

fn disk() -> Option<Disk> {
    disk_slot()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Keeps the process's published versions in `path` between runs, loaded
/// now (the command line calls this unless `--no-cache`). Environments
/// whose Lambda was already set up keep what they had.
pub fn keep_in(path: PathBuf) {
    *disk_slot().lock().unwrap_or_else(PoisonError::into_inner) =
        Some(Arc::new(Mutex::new(DiskCache::at(path))));
}

/// Writes the version cache if it learned anything (errors are only logged:
/// a cache that cannot be written costs requests, not correctness).
pub fn save() {
    if let Some(d) = disk()
        && let Err(e) = d.lock().unwrap_or_else(PoisonError::into_inner).save()
    {
        tracing::warn!(error = %e, "Lambda version cache not written");
    }
}

/// Why the version cache file could not be used, once.
pub fn take_warning() -> Option<String> {
    disk().and_then(|d| {
        d.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_warning()
    })
}

#[derive(Debug, Default)]
struct Known {
    /// By the function as configured (name or ARN) and version.
    versions: HashMap<(String, u32), Artifact>,
    /// A function's ARN (unqualified), by the name it is configured with.
    arns: HashMap<String, String>,
}

/// One environment's versions' artifacts: this process's, and the disk's
/// where one is kept.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    known: Arc<Mutex<Known>>,
    disk: Option<Disk>,
    /// What sets the environment's Lambda apart beyond the ARN: its
    /// endpoint, where one is configured.
    scope: String,
}

impl Artifacts {
    /// `env`'s store, kept on disk when the process keeps versions there
    /// ([`keep_in`]).
    pub fn for_env(env: &EnvConfig) -> Self {
        Self {
            known: Arc::default(),
            disk: disk(),
            scope: crate::aws::endpoint(env, "lambda")
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// This store on `disk` (for tests: a second process is a second store
    /// over the same file).
    pub fn on_disk(env: &EnvConfig, disk: Arc<Mutex<DiskCache<StoredVersion>>>) -> Self {
        Self {
            disk: Some(disk),
            ..Self::for_env(env)
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes `function`'s ARN (from `ListFunctions`).
    pub fn note_arn(&self, function: &str, arn: &str) {
        if self.disk.is_some() {
            self.known()
                .arns
                .insert(function.to_string(), unqualified(arn).to_string());
        }
    }

    /// The disk's key of `function`'s `version`, when its ARN is known.
    fn key(&self, function: &str, version: u32) -> Option<String> {
        let arn = if function.starts_with("arn:") {
            unqualified(function).to_string()
        } else {
            self.known().arns.get(function)?.clone()
        };
        Some(if self.scope.is_empty() {
            format!("{arn}:{version}")
        } else {
            format!("{} {arn}:{version}", self.scope)
        })
    }

    /// A version's artifact, if known here or on disk.
    pub fn get(&self, function: &str, version: u32) -> Option<Artifact> {
        if let Some(a) = self.known().versions.get(&(function.to_string(), version)) {
            return Some(a.clone());
        }
        let disk = self.disk.as_ref()?;
        let key = self.key(function, version)?;
        let stored = disk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()?;
        let a = Artifact {
            version,
            arn: stored.arn,
            package: stored.package,
            digest: Ok(stored.digest),
        };
        self.known()
            .versions
            .insert((function.to_string(), version), a.clone());
        Some(a)
    }

    /// Learns a version's artifact, as read.
    pub fn put(&self, function: &str, a: Artifact) {
        if let Some(disk) = &self.disk {
            // The answer names the version's ARN: the function's is learned
            // from it even without a `ListFunctions` first (history, promote).
            let suffix = format!(":{}", a.version);
            if let Some(f) = a.arn.strip_suffix(&suffix)
                && f.starts_with("arn:")
            {
                self.known()
                    .arns
                    .entry(function.to_string())
                    .or_insert_with(|| f.to_string());
            }
            if let (Ok(digest), Some(key)) = (&a.digest, self.key(function, a.version)) {
                disk.lock().unwrap_or_else(PoisonError::into_inner).insert(
                    key,
                    StoredVersion {
                        arn: a.arn.clone(),
                        package: a.package.clone(),
                        digest: digest.clone(),
                    },
                );
            }
        }
        self.known()
            .versions
            .insert((function.to_string(), a.version), a);
    }
}

/// `arn:aws:lambda:r:a:function:name` of a function's ARN, with or without
/// a version or alias after it.
fn unqualified(arn: &str) -> &str {
    match arn.match_indices(':').nth(6) {
        Some((i, _)) => &arn[..i],
        None => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(endpoint: Option<&str>) -> EnvConfig {
        let aws = endpoint.map_or(String::new(), |u| format!("endpoint_url = \"{u}\"\n"));
        let text = format!(
            "[[environment]]\nname = \"prod\"\n[environment.aws]\nregion = \"us-east-1\"\n{aws}\
             [environment.ecs]\ncluster = \"c\"\n[[environment.service]]\nname = \"x\"\n"
        );
        crate::config::parse_str(&text, "t.toml", None)
            .unwrap()
            .environments
            .remove(0)
    }

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:thumbs";

    fn artifact(version: u32, digest: Result<Digest, String>) -> Artifact {
        Artifact {
            version,
            arn: format!("{ARN}:{version}"),
            package: "Image".into(),
            digest,
        }
    }

    fn digest(n: u32) -> Digest {
        Digest::parse(&format!("sha256:{n:064}")).unwrap()
    }

    #[test]
    fn a_second_process_finds_a_version_by_its_functions_arn_and_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lambda-versions.json");
        let on = |url: Option<&str>| {
            Artifacts::on_disk(&env(url), Arc::new(Mutex::new(DiskCache::at(path.clone()))))
        };
        let first = on(Some("http://127.0.0.1:5000"));
        first.put("thumbs", artifact(3, Ok(digest(3))));
        first.put("thumbs", artifact(4, Err("no CodeSha256".into())));
        first.disk.as_ref().unwrap().lock().unwrap().save().unwrap();

        let second = on(Some("http://127.0.0.1:5000"));
        assert_eq!(second.get("thumbs", 3), None, "no ARN known yet: asked");
        second.note_arn("thumbs", ARN);
        assert_eq!(second.get("thumbs", 3), Some(artifact(3, Ok(digest(3)))));
        assert_eq!(
            second.get("thumbs", 4),
            None,
            "an unread digest is asked again"
        );
        let by_arn = on(Some("http://127.0.0.1:5000"));
        assert_eq!(by_arn.get(ARN, 3).map(|a| a.version), Some(3));
        let elsewhere = on(Some("http://127.0.0.1:6000"));
        elsewhere.note_arn("thumbs", ARN);
        assert_eq!(elsewhere.get("thumbs", 3), None, "another endpoint's");
        let aws = on(None);
        aws.note_arn("thumbs", &format!("{ARN}:live"));
        assert_eq!(aws.get("thumbs", 3), None, "AWS's own");
    }

    #[test]
    fn a_memory_store_keeps_versions_for_the_process_only() {
        let a = Artifacts::default();
        a.note_arn("thumbs", ARN);
        a.put("thumbs", artifact(1, Err("bad".into())));
        assert_eq!(a.get("thumbs", 1).map(|x| x.version), Some(1));
        assert!(a.known().arns.is_empty(), "nothing to key on disk");
    }

    #[test]
    fn an_arn_loses_its_qualifier() {
        assert_eq!(unqualified(&format!("{ARN}:13")), ARN);
        assert_eq!(unqualified(ARN), ARN);
        assert_eq!(unqualified("thumbs"), "thumbs");
    }
}
