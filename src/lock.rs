//! Promotion locks: at most one promotion or rollback per service and environment,
//! across processes on this machine or on a shared filesystem.
//!
//! A lock is a file created with `create_new` (O_EXCL), holding who, which pid on
//! which host, since when. A stale lock (its pid is dead on this host, or it is
//! older than the timeout) is never broken silently: [`break_stale`] needs the
//! caller to have confirmed it, and the caller records it in the ledger.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A lock older than this counts as stale even if its process looks alive.
pub const STALE_AFTER: Duration = Duration::from_hours(2);

/// What a lock file says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Operator holding it.
    pub owner: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When it was taken.
    pub since: DateTime<Utc>,
    /// What it is for ("promotion", "rollback").
    pub purpose: String,
    /// Team locks: until when the lease runs (its holder renews it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}) for a {} since {}",
            self.owner,
            self.pid,
            self.host,
            self.purpose,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("{service} in {env} is locked by {info}")]
    Held {
        /// Environment.
        env: String,
        /// Service.
        service: String,
        /// The holder.
        info: Box<LockInfo>,
    },
    /// The lock file exists but cannot be read as a lock.
    #[error("lock file {path} is unreadable: {why}")]
    Corrupt {
        /// File.
        path: String,
        /// Problem.
        why: String,
    },
    /// I/O failure.
    #[error("lock file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Error.
        source: std::io::Error,
    },
}

/// This machine's host name.
pub fn host() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown-host".to_string())
}

fn lock_path(dir: &Path, env: &str, service: &str) -> PathBuf {
    dir.join(format!("{env}--{service}.lock"))
}

/// A held lock; released (file removed) when dropped.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    info: LockInfo,
    /// Team mode: the table, and the flag that keeps the lease renewed.
    team: Option<(crate::team::TeamStore, String, String, Arc<AtomicBool>)>,
}

impl LockGuard {
    /// What this lock says.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some((store, env, service, alive)) = &self.team {
            alive.store(false, Ordering::SeqCst);
            if let Err(e) = crate::team::locks::release(store, env, service, &self.info) {
                tracing::warn!(error = %e, "team lock not released; its lease will lapse");
            }
            return;
        }
        // Only remove the file if it is still ours (it may have been broken and retaken).
        if read(&self.path).ok().flatten().as_ref() == Some(&self.info) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read(path: &Path) -> Result<Option<LockInfo>, LockError> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| LockError::Corrupt {
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LockError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Who holds the lock of `service` in `env`, if anyone.
pub fn holder(dir: &Path, env: &str, service: &str) -> Result<Option<LockInfo>, LockError> {
    read(&lock_path(dir, env, service))
}

/// Takes the lock for `service` in `env`, or says who holds it.
pub fn acquire(
    dir: &Path,
    env: &str,
    service: &str,
    owner: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<LockGuard, LockError> {
    let path = lock_path(dir, env, service);
    let io = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let info = LockInfo {
        owner: owner.to_string(),
        pid: std::process::id(),
        host: host(),
        since: now,
        purpose: purpose.to_string(),
        lease_until: None,
    };
    // Write the whole lock beside it, then link it into place: link() is atomic and
    // fails if the lock exists, so nobody ever sees a half-written lock (and it
    // works on NFS, unlike O_EXCL on old servers).
    let tmp = dir.join(format!(
        ".{env}--{service}.{}.{}.tmp",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or(0)
    ));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        let text = serde_json::to_string(&info).map_err(|e| io(std::io::Error::other(e)))?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(LockGuard {
            path,
            info,
            team: None,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let info = read(&path)?.ok_or_else(|| LockError::Corrupt {
                path: path.display().to_string(),
                why: "it vanished while being read; try again".to_string(),
            })?;
            Err(LockError::Held {
                env: env.to_string(),
                service: service.to_string(),
                info: Box::new(info),
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// Why a held lock is stale, if it is: its lease lapsed (team locks), its
/// process is gone from this host, or it is too old.
pub fn staleness(info: &LockInfo, now: DateTime<Utc>) -> Option<String> {
    if let Some(until) = info.lease_until {
        return (until < now).then(|| {
            format!(
                "its lease lapsed at {} (the holder stopped renewing it)",
                until.format("%Y-%m-%d %H:%M:%S UTC")
            )
        });
    }
    if info.host == host() && !process_alive(info.pid) {
        return Some(format!(
            "process {} on {} is no longer running",
            info.pid, info.host
        ));
    }
    let age = (now - info.since).to_std().unwrap_or_default();
    (age > STALE_AFTER).then(|| {
        format!(
            "it is {} old",
            humantime::format_duration(Duration::from_secs(age.as_secs()))
        )
    })
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without a portable check, assume alive; the age rule still applies.
        true
    }
}

/// Removes a stale lock the operator confirmed breaking; refuses if the lock
/// changed since it was shown (someone else took it meanwhile).
pub fn break_stale(
    dir: &Path,
    env: &str,
    service: &str,
    confirmed: &LockInfo,
) -> Result<(), LockError> {
    let path = lock_path(dir, env, service);
    match read(&path)? {
        Some(current) if &current == confirmed => {
            std::fs::remove_file(&path).map_err(|source| LockError::Io {
                path: path.display().to_string(),
                source,
            })
        }
        Some(current) => Err(LockError::Held {
            env: env.to_string(),
            service: service.to_string(),
            info: Box::new(current),
        }),
        None => Ok(()),
    }
}

/// Where locks live: lock files in a directory (one machine, or a shared
/// filesystem), or the team's DynamoDB table.
#[derive(Debug, Clone)]
pub enum LockStore {
    /// Lock files.
    Dir(PathBuf),
    /// The team table.
    Team(crate::team::TeamStore),
}

impl From<PathBuf> for LockStore {
    fn from(dir: PathBuf) -> Self {
        Self::Dir(dir)
    }
}

impl LockStore {
    fn team_err(e: &crate::team::TeamError) -> LockError {
        LockError::Io {
            path: format!("dynamodb://{}", e.table),
            source: std::io::Error::other(e.message.clone()),
        }
    }

    /// Who holds the lock of `service` in `env`, if anyone.
    pub fn holder(&self, env: &str, service: &str) -> Result<Option<LockInfo>, LockError> {
        match self {
            Self::Dir(dir) => holder(dir, env, service),
            Self::Team(store) => {
                crate::team::locks::holder(store, env, service).map_err(|e| Self::team_err(&e))
            }
        }
    }

    /// Takes the lock, or says who holds it.
    pub fn acquire(
        &self,
        env: &str,
        service: &str,
        owner: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<LockGuard, LockError> {
        let store = match self {
            Self::Dir(dir) => return acquire(dir, env, service, owner, purpose, now),
            Self::Team(store) => store,
        };
        let info = LockInfo {
            owner: owner.to_string(),
            pid: std::process::id(),
            host: host(),
            since: now,
            purpose: purpose.to_string(),
            lease_until: Some(
                now + chrono::Duration::from_std(store.cfg.lease).unwrap_or_default(),
            ),
        };
        // Throttling and unknown outcomes are retried; a put that landed but
        // whose answer was lost comes back as ours.
        match crate::team::retrying(|| crate::team::locks::acquire(store, env, service, &info)) {
            Ok(Ok(())) => {
                let alive = Arc::new(AtomicBool::new(true));
                crate::team::locks::keep_renewed(store, env, service, &info, alive.clone());
                Ok(LockGuard {
                    path: PathBuf::from(format!("dynamodb://{}", store.table())),
                    info,
                    team: Some((store.clone(), env.to_string(), service.to_string(), alive)),
                })
            }
            Ok(Err(Some(holder))) => Err(LockError::Held {
                env: env.to_string(),
                service: service.to_string(),
                info: Box::new(holder),
            }),
            Ok(Err(None)) => Err(LockError::Corrupt {
                path: format!("dynamodb://{}", store.table()),
                why: "the lock is held but its item did not come back; try again".to_string(),
            }),
            Err(e) => Err(Self::team_err(&e)),
        }
    }

    /// Removes a stale lock the operator confirmed breaking; refuses if it
    /// changed since it was shown.
    pub fn break_stale(
        &self,
        env: &str,
        service: &str,
        confirmed: &LockInfo,
    ) -> Result<(), LockError> {
        match self {
            Self::Dir(dir) => break_stale(dir, env, service, confirmed),
            Self::Team(store) => {
                match crate::team::locks::release(store, env, service, confirmed) {
                    Ok(true) => Ok(()),
                    Ok(false) => match self.holder(env, service)? {
                        Some(current) => Err(LockError::Held {
                            env: env.to_string(),
                            service: service.to_string(),
                            info: Box::new(current),
                        }),
                        None => Ok(()),
                    },
                    Err(e) => Err(Self::team_err(&e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let g = acquire(dir.path(), "prod", "api", "alice", "promotion", now).unwrap();
        let err = acquire(dir.path(), "prod", "api", "bob", "rollback", now).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("api in prod is locked by alice (pid "),
            "{msg}"
        );
        assert!(msg.contains("for a promotion since"), "{msg}");
        assert!(
            acquire(dir.path(), "staging", "api", "bob", "promotion", now).is_ok(),
            "other env is free"
        );
        drop(g);
        assert!(acquire(dir.path(), "prod", "api", "bob", "rollback", now).is_ok());
    }

    #[test]
    fn stale_locks_are_detected_and_broken_only_as_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let dead = LockInfo {
            owner: "carol".into(),
            pid: u32::MAX - 7,
            host: host(),
            since: now,
            purpose: "promotion".into(),
            lease_until: None,
        };
        std::fs::write(
            lock_path(dir.path(), "prod", "api"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        assert!(staleness(&dead, now).unwrap().contains("no longer running"));
        let mut old = dead.clone();
        old.host = "elsewhere".into();
        old.since = now - chrono::Duration::hours(3);
        assert!(staleness(&old, now).unwrap().contains("old"));
        let alive = LockInfo {
            pid: std::process::id(),
            ..dead.clone()
        };
        assert_eq!(staleness(&alive, now), None);
        // Breaking with the wrong picture of the lock is refused.
        assert!(break_stale(dir.path(), "prod", "api", &alive).is_err());
        break_stale(dir.path(), "prod", "api", &dead).unwrap();
        assert!(acquire(dir.path(), "prod", "api", "bob", "promotion", now).is_ok());
    }
}
