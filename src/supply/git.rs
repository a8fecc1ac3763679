//! Whether a commit is on a branch of the source repository, asked of the
//! user's own `git`: always an argv (never a shell), `GIT_TERMINAL_PROMPT=0`,
//! in a process group of its own that is killed at the deadline.
//!
//! A local repository is asked directly; for a URL, a bare partial clone of
//! the branch (`--filter=blob:none`) is kept under the cache directory,
//! fetched for every recheck and for every commit it lacks.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use crate::model::gitref::{valid_branch, valid_commit};
use crate::model::text::{clip, sanitize};
use crate::process::{Finished as Out, RunError, run_bounded, shown};

/// Bytes of git's stderr kept.
const STDERR_KEPT: usize = 16 * 1024;
/// Characters of git's stderr shown in a reason.
const STDERR_SHOWN: usize = 300;

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
    recheck: bool,
) -> Result<bool, GitError> {
    // On the heap: callers' futures stay small.
    Box::pin(ask(repo, branch, commit, cache_dir, timeout, recheck)).await
}

/// When this process last fetched each clone. Questions about one clone
/// wait for each other (two fetches into one clone fail on git's ref
/// locks), and a question that is not a recheck shares a fetch made less
/// than [`FETCH_SHARED`] ago: a board of many new digests fetches once.
static FETCHED: std::sync::LazyLock<tokio::sync::Mutex<HashMap<PathBuf, Instant>>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

/// How long a fetch answers the questions that are not rechecks.
const FETCH_SHARED: Duration = Duration::from_mins(1);

async fn ask(
    repo: &str,
    branch: &str,
    commit: &str,
    cache_dir: &Path,
    timeout: Duration,
    recheck: bool,
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
        repo,
    };
    // The lock on the fetches, held while git reads the clone: no fetch
    // rewrites it meanwhile.
    let (dir, _held) = if is_url(repo) {
        let dir = clone_dir(repo, cache_dir);
        let mut last = tokio::time::timeout_at(git.deadline, FETCHED.lock())
            .await
            .map_err(|_| GitError::Timeout {
                what: "fetch",
                after: timeout,
            })?;
        // A commit the clone does not have yet is always fetched for.
        let shared = !recheck
            && dir.join("HEAD").is_file()
            && last.get(&dir).is_some_and(|at| at.elapsed() < FETCH_SHARED)
            && git.knows(&dir, commit).await?;
        if !shared {
            Box::pin(git.fetch(repo, branch, &dir)).await?;
            last.insert(dir.clone(), Instant::now());
        }
        (dir, Some(last))
    } else {
        (PathBuf::from(repo), None)
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
    if !git.knows(&dir, commit).await? {
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

/// Where the bare clone of `url` lives under `cache_dir`.
fn clone_dir(url: &str, cache_dir: &Path) -> PathBuf {
    use sha2::Digest as _;
    let name = crate::model::digest::hex_lower(&sha2::Sha256::digest(url.as_bytes()));
    cache_dir.join(format!("{}.git", name.get(..24).unwrap_or(&name)))
}

/// Runs git under one deadline.
struct Git<'a> {
    deadline: Instant,
    timeout: Duration,
    /// The repository asked, whose password git's messages never show.
    repo: &'a str,
}

impl Git<'_> {
    /// The bare partial clone of `url`'s `branch` at `dir`, made when
    /// missing, and fetched.
    async fn fetch(&self, url: &str, branch: &str, dir: &Path) -> Result<(), GitError> {
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        if dir.join("HEAD").is_file() {
            let mut args: Vec<OsString> = vec!["-C".into(), dir.as_os_str().to_owned()];
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
            return Ok(());
        }
        let cache_dir = dir.parent().unwrap_or(dir);
        std::fs::create_dir_all(cache_dir).map_err(|e| GitError::Failed {
            what: "clone",
            code: "not started".to_string(),
            stderr: sanitize(&format!("cannot create {}: {e}", cache_dir.display())),
        })?;
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
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
        if std::fs::rename(&tmp, dir).is_err() {
            // Another shipdeck made it meanwhile: theirs is as good.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Ok(())
    }

    /// Whether the repository at `dir` holds `commit`.
    async fn knows(&self, dir: &Path, commit: &str) -> Result<bool, GitError> {
        let args: Vec<OsString> = vec![
            "-C".into(),
            dir.as_os_str().to_owned(),
            "cat-file".into(),
            "-e".into(),
            format!("{commit}^{{commit}}").into(),
        ];
        Ok(self.run("cat-file", &args).await?.status.success())
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
        GitError::Failed {
            what,
            code: out
                .status
                .code()
                .map_or_else(|| "killed".to_string(), |c| format!("exit {c}")),
            stderr: shown(&out.stderr, self.repo, STDERR_SHOWN),
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
            .env("LC_ALL", "C");
        match run_bounded(&mut cmd, self.deadline, 0, STDERR_KEPT).await {
            Ok(out) => Ok(out),
            Err(RunError::Spawn(e)) => Err(GitError::Missing(sanitize(&e.to_string()))),
            Err(RunError::Wait(e)) => Err(GitError::Failed {
                what,
                code: "not awaited".to_string(),
                stderr: sanitize(&e.to_string()),
            }),
            Err(RunError::Timeout) => Err(GitError::Timeout {
                what,
                after: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
