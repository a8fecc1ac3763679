//! Whether a commit is on a branch of the source repository, asked of the
//! user's own `git`: always an argv (never a shell), `GIT_TERMINAL_PROMPT=0`,
//! in a process group of its own that is killed at the deadline.
//!
//! A local repository is asked directly; for a URL, a bare partial clone of
//! the branch (`--filter=blob:none`) is kept under the cache directory and
//! fetched before every question.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use crate::model::text::clip;

/// Bytes of git's stderr kept.
const STDERR_KEPT: usize = 16 * 1024;
/// Longest a killed git is waited for.
const REAP_AFTER_KILL: Duration = Duration::from_secs(2);

/// Why `git` could not tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// The commit is not 7 to 64 hex characters.
    #[error("\"{0}\" is not a commit id (7 to 64 hex characters)")]
    BadCommit(String),
    /// The branch name is not one git accepts.
    #[error("\"{0}\" is not a branch name")]
    BadBranch(String),
    /// `git` is not installed (or not on `PATH`).
    #[error("git cannot be run: {0}")]
    Missing(String),
    /// The repository has no such branch.
    #[error("the repository has no branch \"{0}\"")]
    NoBranch(String),
    /// A git command failed.
    #[error("git {what} failed ({code}): {stderr}")]
    Failed {
        /// Which step (`fetch`, `merge-base`).
        what: &'static str,
        /// Its exit code, or how it ended.
        code: String,
        /// Its stderr: sanitised, clipped, credentials removed.
        stderr: String,
    },
    /// The deadline passed; git was stopped.
    #[error("git {what} did not finish within {}s", .after.as_secs())]
    Timeout {
        /// Which step.
        what: &'static str,
        /// The whole question's deadline.
        after: Duration,
    },
}

/// Whether `repo` is a URL (`scheme://…` or scp-like `user@host:path`)
/// rather than a local path.
pub fn is_url(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    // `host:path` as scp writes it: a colon before any slash, not a
    // Windows drive letter.
    match (repo.find(':'), repo.find('/')) {
        (Some(c), slash) => c > 1 && slash.is_none_or(|s| c < s),
        _ => false,
    }
}

/// Whether git would accept `b` as a branch name (a conservative subset of
/// `git check-ref-format --branch`).
pub fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= 200
        && !b.starts_with('-')
        && !b.starts_with('/')
        && !b.ends_with('/')
        && !b.ends_with('.')
        && !b.to_ascii_lowercase().ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && b != "@"
        && b.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c))
}

/// Whether `c` is 7 to 64 hex characters.
pub fn valid_commit(c: &str) -> bool {
    (7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `commit` is on `branch` of `repo` (a local path or a URL). An
/// unknown commit is not on the branch. URLs are fetched into a bare
/// partial clone under `cache_dir`. Everything together must finish within
/// `timeout`; git is killed at the deadline.
///
/// # Errors
/// The commit or branch is malformed, git is missing, fails or is too
/// slow, or the branch does not exist.
pub async fn on_branch(
    repo: &str,
    branch: &str,
    commit: &str,
    cache_dir: &Path,
    timeout: Duration,
) -> Result<bool, GitError> {
    // On the heap: callers' futures stay small.
    Box::pin(ask(repo, branch, commit, cache_dir, timeout)).await
}

async fn ask(
    repo: &str,
    branch: &str,
    commit: &str,
    cache_dir: &Path,
    timeout: Duration,
) -> Result<bool, GitError> {
    let commit = commit.trim();
    if !valid_commit(commit) {
        return Err(GitError::BadCommit(clip(commit, 80)));
    }
    if !valid_branch(branch) {
        return Err(GitError::BadBranch(clip(branch, 80)));
    }
    let git = Git {
        deadline: Instant::now() + timeout,
        timeout,
        secret: password_of(repo),
    };
    let dir = if is_url(repo) {
        Box::pin(git.fetch(repo, branch, cache_dir)).await?
    } else {
        PathBuf::from(repo)
    };
    let branch_ref = format!("refs/heads/{branch}");
    let dir_arg = dir.clone().into_os_string();
    let c = |args: &[&str]| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["-C".into(), dir_arg.clone()];
        v.extend(args.iter().map(OsString::from));
        v
    };
    let has_branch = git
        .run(
            "rev-parse",
            &c(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{branch_ref}^{{commit}}"),
            ]),
        )
        .await?;
    if !has_branch.status.success() {
        if has_branch.status.code() == Some(1) {
            return Err(GitError::NoBranch(clip(branch, 80)));
        }
        return Err(git.failed("rev-parse", &has_branch));
    }
    let known = git
        .run(
            "cat-file",
            &c(&["cat-file", "-e", &format!("{commit}^{{commit}}")]),
        )
        .await?;
    if !known.status.success() {
        return Ok(false);
    }
    let out = git
        .run(
            "merge-base",
            &c(&["merge-base", "--is-ancestor", commit, &branch_ref]),
        )
        .await?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(git.failed("merge-base", &out)),
    }
}

fn password_of(repo: &str) -> Option<String> {
    url::Url::parse(repo)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
}

/// A finished command.
struct Out {
    status: ExitStatus,
    stderr: String,
}

/// Runs git under one deadline.
struct Git {
    deadline: Instant,
    timeout: Duration,
    secret: Option<String>,
}

impl Git {
    /// The bare partial clone of `url`'s `branch` under `cache_dir`, made
    /// when missing and fetched.
    async fn fetch(&self, url: &str, branch: &str, cache_dir: &Path) -> Result<PathBuf, GitError> {
        use sha2::Digest as _;
        let name = crate::model::digest::hex_lower(&sha2::Sha256::digest(url.as_bytes()));
        let dir = cache_dir.join(format!("{}.git", name.get(..24).unwrap_or(&name)));
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        if dir.join("HEAD").is_file() {
            let mut args: Vec<OsString> = vec!["-C".into(), dir.clone().into_os_string()];
            args.extend(
                [
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--filter=blob:none",
                    "--",
                    url,
                    &refspec,
                ]
                .iter()
                .map(OsString::from),
            );
            let out = self.run("fetch", &args).await?;
            if !out.status.success() {
                return Err(self.fetch_failed(&out, branch));
            }
            return Ok(dir);
        }
        std::fs::create_dir_all(cache_dir).map_err(|e| GitError::Failed {
            what: "clone",
            code: "not started".to_string(),
            stderr: crate::model::sanitize(&format!("cannot create {}: {e}", cache_dir.display())),
        })?;
        let tmp = cache_dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut args: Vec<OsString> = [
            "clone",
            "--quiet",
            "--bare",
            "--filter=blob:none",
            "--single-branch",
            "--no-tags",
            "--branch",
            branch,
            "--",
            url,
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(tmp.clone().into_os_string());
        let out = self.run("clone", &args).await;
        let out = match out {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(self.fetch_failed(&o, branch));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        drop(out);
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another shipdeck made it meanwhile: theirs is as good.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Ok(dir)
    }

    fn fetch_failed(&self, out: &Out, branch: &str) -> GitError {
        let e = self.failed("fetch", out);
        let lower = out.stderr.to_ascii_lowercase();
        if lower.contains("couldn't find remote ref") || lower.contains("not found in upstream") {
            GitError::NoBranch(clip(branch, 80))
        } else {
            e
        }
    }

    fn failed(&self, what: &'static str, out: &Out) -> GitError {
        let mut text = out.stderr.trim().to_string();
        if let Some(p) = &self.secret {
            text = text.replace(p.as_str(), "***");
        }
        let text = if text.is_empty() {
            "(no message)".to_string()
        } else {
            clip(&text, 300)
        };
        GitError::Failed {
            what,
            code: out
                .status
                .code()
                .map_or_else(|| "killed".to_string(), |c| format!("exit {c}")),
            stderr: text,
        }
    }

    /// Runs `git ARGS` (on the heap: the callers' futures stay small).
    async fn run(&self, what: &'static str, args: &[OsString]) -> Result<Out, GitError> {
        Box::pin(self.run_here(what, args)).await
    }

    /// Runs `git ARGS`: no shell, no prompt, no lazy fetches, its own
    /// process group killed at the deadline.
    async fn run_here(&self, what: &'static str, args: &[OsString]) -> Result<Out, GitError> {
        if Instant::now() >= self.deadline {
            return Err(GitError::Timeout {
                what,
                after: self.timeout,
            });
        }
        let mut cmd = Command::new("git");
        cmd.args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_LAZY_FETCH", "1")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| GitError::Missing(crate::model::sanitize(&e.to_string())))?;
        let mut group = crate::process::GroupGuard(child.id());
        let stderr = child.stderr.take();
        let run = async {
            let (err, _) = crate::process::bounded(stderr, STDERR_KEPT).await;
            child.wait().await.map(|status| Out {
                status,
                stderr: err,
            })
        };
        match tokio::time::timeout_at(self.deadline, run).await {
            Ok(Ok(out)) => {
                group.disarm();
                Ok(out)
            }
            Ok(Err(e)) => {
                group.disarm();
                Err(GitError::Failed {
                    what,
                    code: "not awaited".to_string(),
                    stderr: crate::model::sanitize(&e.to_string()),
                })
            }
            Err(_) => {
                group.stop();
                let _ = child.start_kill();
                let _ = tokio::time::timeout(REAP_AFTER_KILL, child.wait()).await;
                Err(GitError::Timeout {
                    what,
                    after: self.timeout,
                })
            }
        }
    }
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
