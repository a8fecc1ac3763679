//! Running git: one argv at a time, bounded in time and output, in its own
//! process group (stopped whole at the deadline or when dropped), under
//! the checkout's file lock.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::process::Command;

use super::{
    Checkout, GitOpsError, LOCK_POLL, LOCK_WAIT, REAP_AFTER_KILL, STDERR_KEPT, STDERR_SHOWN,
    STDOUT_KEPT, check_branch,
};
use crate::model::text::{fold_line, sanitize};
use crate::process::{GroupGuard, bounded};

/// What a finished git command said.
pub(super) struct Out {
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stdout_cut: bool,
    pub(super) stderr: String,
}

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
        let mut text = stderr.trim().to_string();
        if let Ok(url) = url::Url::parse(&self.url)
            && let Some(password) = url.password()
            && !password.is_empty()
        {
            text = text.replace(password, "***");
        }
        let folded = fold_line(&text);
        let mut out: String = folded.chars().take(STDERR_SHOWN).collect();
        if folded.chars().count() > STDERR_SHOWN {
            out.push('…');
        }
        if out.is_empty() {
            out = "(no message)".to_string();
        }
        out
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
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Its own group: ssh or a credential helper it starts is stopped with it.
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                GitOpsError::GitMissing {
                    why: sanitize(&e.to_string()),
                }
            } else {
                GitOpsError::Failed {
                    what,
                    code: None,
                    stderr: sanitize(&format!("git could not be started: {e}")),
                }
            }
        })?;
        // Declared after `child`, so dropped first: the group is stopped
        // while its leader is not yet reaped.
        let mut group = GroupGuard(child.id());
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let run = async {
            let ((stdout, stdout_cut), (stderr, _)) =
                tokio::join!(bounded(out, STDOUT_KEPT), bounded(err, STDERR_KEPT));
            child.wait().await.map(|status| Out {
                status,
                stdout,
                stdout_cut,
                stderr,
            })
        };
        let finished = tokio::time::timeout(self.timeout, run).await;
        match finished {
            Ok(Ok(out)) => {
                // Reaped: its group id may be reused from now on.
                group.disarm();
                Ok(out)
            }
            Ok(Err(e)) => Err(GitOpsError::Failed {
                what,
                code: None,
                stderr: sanitize(&e.to_string()),
            }),
            Err(_) => {
                // Not yet reaped, so the group's id is still its own.
                group.stop();
                let _ = child.start_kill();
                let _ = tokio::time::timeout(REAP_AFTER_KILL, child.wait()).await;
                Err(GitOpsError::Timeout {
                    what,
                    after: self.timeout,
                })
            }
        }
    }
}
