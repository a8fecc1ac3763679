//! Readings kept by image (`host/repository@sha256:…`): in memory, and on
//! disk as one JSON file per image, written atomically (a temporary file,
//! then a rename). A file that cannot be read or parsed is ignored (and
//! replaced by the next reading), never a panic. Failures are kept in
//! memory only, for [`FAILURE_TTL`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Reading, RegistryError};

/// How long a failed reading is remembered (a board refresh does not ask
/// a registry that is down again); `recheck` asks anyway.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The largest cache file read back.
const FILE_MAX: u64 = 64 * 1024 * 1024;

/// The readings kept.
#[derive(Debug)]
pub(super) struct Cache {
    dir: Option<PathBuf>,
    readings: Mutex<HashMap<String, Reading>>,
    failures: Mutex<HashMap<String, (Instant, RegistryError)>>,
    tmp_seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cache {
    pub(super) fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            readings: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            tmp_seq: AtomicU64::new(0),
        }
    }

    /// The file of `key`: the digest's hex, then a hash of the repository
    /// (the same digest in two repositories has its own signatures).
    fn file(&self, key: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let (name, digest) = key.rsplit_once('@')?;
        let hex = digest.strip_prefix("sha256:")?;
        let repo = crate::model::Digest::of_bytes(name.as_bytes());
        Some(dir.join(format!("{hex}-{}.json", repo.short())))
    }

    /// The reading of `key`: memory, else disk (then kept in memory).
    pub(super) fn get(&self, key: &str) -> Option<Reading> {
        if let Some(r) = lock(&self.readings).get(key) {
            return Some(r.clone());
        }
        let path = self.file(key)?;
        let text = crate::paths::read_regular(&path, FILE_MAX).ok()??;
        let reading: Reading = match serde_json::from_slice(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring a corrupt registry cache file");
                return None;
            }
        };
        if reading.image != key {
            return None;
        }
        lock(&self.readings).insert(key.to_string(), reading.clone());
        Some(reading)
    }

    /// Keeps `reading` in memory and on disk; a disk that refuses is logged.
    pub(super) fn put(&self, key: &str, reading: &Reading) {
        lock(&self.readings).insert(key.to_string(), reading.clone());
        lock(&self.failures).remove(key);
        let Some(path) = self.file(key) else { return };
        if let Err(e) = self.write(&path, reading) {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the registry cache");
        }
    }

    fn write(&self, path: &std::path::Path, reading: &Reading) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec(reading).map_err(std::io::Error::other)?;
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{seq}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// A failure of `key` seen less than [`FAILURE_TTL`] ago.
    pub(super) fn failure(&self, key: &str) -> Option<RegistryError> {
        let mut failures = lock(&self.failures);
        match failures.get(key) {
            Some((at, e)) if at.elapsed() < FAILURE_TTL => Some(e.clone()),
            Some(_) => {
                failures.remove(key);
                None
            }
            None => None,
        }
    }

    /// Forgets a failure of `key`.
    pub(super) fn forget_failure(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    /// Remembers that reading `key` failed.
    pub(super) fn fail(&self, key: &str, e: &RegistryError) {
        lock(&self.failures).insert(key.to_string(), (Instant::now(), e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(key: &str) -> Reading {
        Reading {
            image: key.to_string(),
            labels: super::super::Labels {
                revision: Some("abc".into()),
                ..Default::default()
            },
            signatures: vec![],
            attestations: vec![b"{}".to_vec()],
            read_at: chrono::Utc::now(),
        }
    }

    const KEY: &str = "127.0.0.1:5000/team/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_reading_survives_a_restart_and_a_corrupt_file_is_ignored_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(Some(dir.path().to_path_buf()));
        let r = reading(KEY);
        c.put(KEY, &r);
        let again = Cache::new(Some(dir.path().to_path_buf()));
        assert_eq!(again.get(KEY), Some(r.clone()));
        let file = again.file(KEY).unwrap();
        std::fs::write(&file, b"{\"image\": 3, trunc").unwrap();
        let fresh = Cache::new(Some(dir.path().to_path_buf()));
        assert_eq!(fresh.get(KEY), None);
        fresh.put(KEY, &r);
        assert_eq!(Cache::new(Some(dir.path().to_path_buf())).get(KEY), Some(r));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_file_of_another_image_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(Some(dir.path().to_path_buf()));
        let file = c.file(KEY).unwrap();
        std::fs::write(
            &file,
            serde_json::to_vec(&reading("elsewhere/x@sha256:00")).unwrap(),
        )
        .unwrap();
        assert_eq!(c.get(KEY), None);
    }

    #[test]
    fn failures_are_remembered_for_a_while() {
        let c = Cache::new(None);
        let e = RegistryError::Timeout {
            host: "h".into(),
            secs: 10,
        };
        c.fail(KEY, &e);
        assert_eq!(c.failure(KEY), Some(e));
        c.put(KEY, &reading(KEY));
        assert_eq!(c.failure(KEY), None);
    }
}
