//! Running git: one argv at a time, bounded in time and output, in its own
//! process group (stopped whole at the deadline or when dropped), under
//! the checkout's file lock.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::{
    Checkout, GitOpsError, LOCK_POLL, LOCK_WAIT, STDERR_KEPT, STDERR_SHOWN, STDOUT_KEPT,
    check_branch,
};
use crate::model::text::sanitize;
use crate::process::{RunError, run_bounded, shown};

/// What a finished git command said.
pub(super) use crate::process::Finished as Out;

/// The checkout's lock, held until dropped.
pub(super) struct Held {
    _file: std::fs::File,
}

impl Checkout {
    /// Takes the checkout's lock, waiting a moment for it: another process
    /// (or a command this one is starting, which holds a copy of the lock
    /// between its fork and its exec) may be about to release it.
    pub(super) async fn lock(&self) -> Result<Held, GitOpsError> {
        let until = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            match self.try_lock() {
                Err(GitOpsError::Locked { .. }) if tokio::time::Instant::now() < until => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                other => return other,
            }
        }
    }

    /// Takes the checkout's lock (a file beside it, `<dir>.lock`, locked with
    /// the operating system's advisory lock: a crashed holder releases it).
    pub(super) fn try_lock(&self) -> Result<Held, GitOpsError> {
        check_branch(&self.branch)?;
        if self.url.is_empty() || self.url.starts_with('-') {
            return Err(GitOpsError::BadRequest {
                why: "the repository URL is empty or starts with '-'".to_string(),
            });
        }
        let mut name = self.dir.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| self.checkout_err(&e.to_string()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.checkout_err(&format!("its lock file: {e}")))?;
        match file.try_lock() {
            Ok(()) => Ok(Held { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(GitOpsError::Locked {
                dir: self.dir.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(self.checkout_err(&format!("its lock file: {e}")))
            }
        }
    }

    pub(super) fn checkout_err(&self, why: &str) -> GitOpsError {
        GitOpsError::Checkout {
            dir: self.dir.display().to_string(),
            why: why.to_string(),
        }
    }

    /// Runs git in the checkout; a non-zero exit is an error.
    pub(super) async fn ok(
        &self,
        what: &'static str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Out, GitOpsError> {
        let out = self.run(what, args, env).await?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failed(what, &out))
        }
    }

    pub(super) fn failed(&self, what: &'static str, out: &Out) -> GitOpsError {
        GitOpsError::Failed {
            what,
            code: out.status.code(),
            stderr: self.shown(&out.stderr),
        }
    }

    /// Git's stderr as an error shows it: without the URL's credentials,
    /// sanitised, on one line, clipped.
    pub(super) fn shown(&self, stderr: &str) -> String {
        shown(stderr, &self.url, STDERR_SHOWN)
    }

    /// Runs git in the checkout.
    pub(super) async fn run(
        &self,
        what: &'static str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Out, GitOpsError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.run_in(&self.dir, what, &args, env).await
    }

    /// Runs git in `cwd`: argv, no prompt, its own process group stopped at
    /// the deadline, output bounded.
    pub(super) async fn run_in(
        &self,
        cwd: &Path,
        what: &'static str,
        args: &[&OsStr],
        env: &[(&str, &str)],
    ) -> Result<Out, GitOpsError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .current_dir(cwd)
            .env("GIT_TERMINAL_PROMPT", "0");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        match run_bounded(&mut cmd, deadline, STDOUT_KEPT, STDERR_KEPT).await {
            Ok(out) => Ok(out),
            Err(RunError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(GitOpsError::GitMissing {
                    why: sanitize(&e.to_string()),
                })
            }
            Err(RunError::Spawn(e)) => Err(GitOpsError::Failed {
                what,
                code: None,
                stderr: sanitize(&format!("git could not be started: {e}")),
            }),
            Err(RunError::Wait(e)) => Err(GitOpsError::Failed {
                what,
                code: None,
                stderr: sanitize(&e.to_string()),
            }),
            Err(RunError::Timeout) => Err(GitOpsError::Timeout {
                what,
                after: self.timeout,
            }),
        }
    }
}
