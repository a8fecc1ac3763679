//! The stage's GitOps repository, in a clone shipdeck keeps (never the user's
//! working copy), changed with the user's own `git`.
//!
//! Every git call is an argv (no shell), with `GIT_TERMINAL_PROMPT=0`, its
//! own process group stopped at a deadline (a hung remote never hangs
//! shipdeck), bounded output read as outside text, and the checkout's file
//! lock held, so two shipdeck processes never change one checkout at once.
//! A promotion is one commit that changes one value, pushed as a fast
//! forward: a push the remote rejects is rebased once when the value was not
//! touched meanwhile, and refused naming who changed it when it was. It never
//! force-pushes, and after a failure nothing of it stays in the checkout.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::edit;

mod error;
mod exec;

use crate::config::kubernetes::{GitRepoConfig, ImageSetting};
use crate::model::text::sanitize;
pub use error::{Author, CommitRequest, Committed, GitOpsError, Promotion};

/// How long one git command may take unless the caller says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(1);
/// Bytes of a command's stdout kept (a file read with `git show`).
const STDOUT_KEPT: usize = 4 * 1024 * 1024;
/// Bytes of a command's stderr kept.
const STDERR_KEPT: usize = 64 * 1024;
/// Characters of a command's stderr shown in an error.
const STDERR_SHOWN: usize = 500;
/// The largest file a promotion edits.
const FILE_LIMIT: u64 = 1024 * 1024;
/// How long a held checkout is waited for before it is reported in use.
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// How often it is tried meanwhile.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// A clone of one branch of the GitOps repository, in a directory shipdeck
/// owns (under its cache dir): cloned when missing, reset to the remote's
/// branch before every use.
#[derive(Clone)]
pub struct Checkout {
    dir: PathBuf,
    url: String,
    branch: String,
    timeout: Duration,
    program: OsString,
    env: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("dir", &self.dir)
            .field("url", &crate::secrets::redact_urls(&self.url))
            .field("branch", &self.branch)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Checkout {
    /// The checkout of `repo` in `dir` (not created until used).
    pub fn new(dir: impl Into<PathBuf>, repo: &GitRepoConfig) -> Self {
        Self {
            dir: dir.into(),
            url: repo.url.clone(),
            branch: repo.branch.clone(),
            timeout: DEFAULT_TIMEOUT,
            program: OsString::from("git"),
            env: Vec::new(),
        }
    }

    /// Each git command's deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The git program to run (default `git` on PATH).
    pub fn with_program(mut self, program: impl Into<OsString>) -> Self {
        self.program = program.into();
        self
    }

    /// Sets an environment variable for every git command (tests: a home
    /// and a global config of their own).
    #[cfg(test)]
    pub(crate) fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Where the clone is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Clones the branch when the clone is missing, else fetches it and
    /// resets the clone to it, removing anything else.
    pub async fn sync(&self) -> Result<(), GitOpsError> {
        let _held = self.lock().await?;
        self.sync_held().await
    }

    /// The value at the head of the remote's branch (after a sync).
    pub async fn value(&self, setting: &ImageSetting) -> Result<Option<String>, GitOpsError> {
        let file = relative(setting.file())?;
        let _held = self.lock().await?;
        self.sync_held().await?;
        let text = self.read_file(&file)?;
        Ok(edit::get(&text, setting)?)
    }

    /// Commits the value and pushes the commit to the branch; see the
    /// module's notes. On any failure the checkout is left reset to the
    /// remote's branch.
    pub async fn commit_value(&self, req: &CommitRequest) -> Result<Promotion, GitOpsError> {
        check_request(req)?;
        let file = relative(req.setting.file())?;
        let _held = self.lock().await?;
        self.sync_held().await?;
        let done = self.commit_held(req, &file).await;
        if done.is_err()
            && let Err(e) = self.reset_to_origin().await
        {
            tracing::warn!(error = %e, dir = %self.dir.display(), "GitOps checkout not reset after a failed promotion; the next sync resets it");
        }
        done
    }

    async fn commit_held(&self, req: &CommitRequest, file: &str) -> Result<Promotion, GitOpsError> {
        let parent = self.rev_parse("HEAD").await?;
        let text = self.read_file(file)?;
        let before = edit::get(&text, &req.setting)?;
        if before.as_deref() == Some(req.value.as_str()) {
            return Ok(Promotion::AlreadySet { commit: parent });
        }
        let changed = edit::set(&text, &req.setting, &req.value)?;
        std::fs::write(self.dir.join(file), changed).map_err(|e| GitOpsError::File {
            file: file.to_string(),
            why: e.to_string(),
        })?;
        self.ok("stage the changed file", &["add", "--", file], &[])
            .await?;
        let env = self.identity(&req.author).await;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.ok(
            "commit the change",
            &["commit", "--quiet", "-m", &req.message, "--", file],
            &env,
        )
        .await?;
        let commit = self.rev_parse("HEAD").await?;
        if self.push().await? {
            return Ok(Promotion::Committed(Committed {
                commit,
                parent,
                before,
                rebased: false,
            }));
        }
        // Someone pushed meanwhile (the fetch was done by `push`).
        let upstream = self.rev_parse(&self.tracking()).await?;
        let Some(theirs) = self.show_file(&upstream, file).await? else {
            return Err(GitOpsError::FileMissing {
                file: file.to_string(),
                branch: self.branch.clone(),
            });
        };
        let now = edit::get(&theirs, &req.setting)?;
        if now != before {
            let (by, commit) = self.last_change(&parent, &upstream, file).await?;
            return Err(GitOpsError::Changed {
                by,
                commit,
                value: now.map(|v| sanitize(&v)),
                file: file.to_string(),
                branch: self.branch.clone(),
            });
        }
        self.ok(
            "rebase the commit onto the branch",
            &["rebase", "--quiet", &upstream],
            &env,
        )
        .await?;
        let commit = self.rev_parse("HEAD").await?;
        let parent = self.rev_parse("HEAD^").await?;
        if self.push().await? {
            return Ok(Promotion::Committed(Committed {
                commit,
                parent,
                before,
                rebased: true,
            }));
        }
        Err(GitOpsError::RejectedTwice {
            branch: self.branch.clone(),
        })
    }

    /// Pushes HEAD to the branch: `true` when pushed, `false` when the
    /// remote's branch moved meanwhile (fetched); any other failure is the
    /// push's error.
    async fn push(&self) -> Result<bool, GitOpsError> {
        let dest = format!("HEAD:refs/heads/{}", self.branch);
        let out = self
            .run(
                "push the commit",
                &["push", "--quiet", "origin", &dest],
                &[],
            )
            .await?;
        if out.status.success() {
            return Ok(true);
        }
        let failed = self.failed("push the commit", &out);
        if self.fetch().await.is_err() {
            return Err(failed);
        }
        let tracking = self.tracking();
        let ancestor = self
            .run(
                "compare the commit with the branch",
                &["merge-base", "--is-ancestor", &tracking, "HEAD"],
                &[],
            )
            .await?;
        match ancestor.status.code() {
            // The branch did not move: the push failed for its own reasons.
            Some(0) => Err(failed),
            Some(1) => Ok(false),
            _ => Err(self.failed("compare the commit with the branch", &ancestor)),
        }
    }

    /// `Name <email>` and the commit of the newest change to `file` in
    /// `parent..upstream` (or, after a rewritten branch, up to `upstream`).
    async fn last_change(
        &self,
        parent: &str,
        upstream: &str,
        file: &str,
    ) -> Result<(String, String), GitOpsError> {
        let range = format!("{parent}..{upstream}");
        for rev in [range.as_str(), upstream] {
            let out = self
                .ok(
                    "find who changed the file",
                    &["log", "-1", "--format=%an%x00%ae%x00%H", rev, "--", file],
                    &[],
                )
                .await?;
            let mut parts = out.stdout.trim_end().splitn(3, '\0');
            if let (Some(name), Some(email), Some(commit)) =
                (parts.next(), parts.next(), parts.next())
            {
                return Ok((sanitize(&format!("{name} <{email}>")), sanitize(commit)));
            }
        }
        Ok(("someone".to_string(), sanitize(upstream)))
    }

    /// The author's and, when the user's git has no identity, the
    /// committer's variables.
    async fn identity(&self, author: &Author) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("GIT_AUTHOR_NAME", author.name.clone()),
            ("GIT_AUTHOR_EMAIL", author.email.clone()),
        ];
        let mut known = true;
        for key in ["user.name", "user.email"] {
            let set = self
                .run("read the git identity", &["config", "--get", key], &[])
                .await
                .is_ok_and(|o| o.status.success() && !o.stdout.trim().is_empty());
            known &= set;
        }
        if !known {
            env.push(("GIT_COMMITTER_NAME", author.name.clone()));
            env.push(("GIT_COMMITTER_EMAIL", author.email.clone()));
        }
        env
    }

    async fn sync_held(&self) -> Result<(), GitOpsError> {
        if !self.dir.join(".git").exists() {
            return self.clone_fresh().await;
        }
        let url = self
            .ok(
                "read the checkout's remote",
                &["config", "--get", "remote.origin.url"],
                &[],
            )
            .await?;
        if url.stdout.trim_end_matches(['\n', '\r']) != self.url {
            return Err(self.checkout_err(
                "it is a clone of another repository (the configuration changed?); remove it and shipdeck clones again",
            ));
        }
        self.fetch().await?;
        self.reset_to_origin().await
    }

    async fn clone_fresh(&self) -> Result<(), GitOpsError> {
        let nonempty = std::fs::read_dir(&self.dir).is_ok_and(|mut d| d.next().is_some());
        if nonempty {
            return Err(self.checkout_err(
                "it exists and is not a clone shipdeck made; remove it or choose another directory",
            ));
        }
        let parent = self
            .dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| self.checkout_err(&e.to_string()))?;
        let args: Vec<&OsStr> = vec![
            OsStr::new("clone"),
            OsStr::new("--quiet"),
            OsStr::new("--single-branch"),
            OsStr::new("--branch"),
            OsStr::new(&self.branch),
            OsStr::new("--"),
            OsStr::new(&self.url),
            self.dir.as_os_str(),
        ];
        let out = match self
            .run_in(parent, "clone the GitOps repository", &args, &[])
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&self.dir);
                return Err(e);
            }
        };
        if out.status.success() {
            Ok(())
        } else {
            // It was empty or absent: nothing of the user's is removed.
            let _ = std::fs::remove_dir_all(&self.dir);
            Err(self.failed("clone the GitOps repository", &out))
        }
    }

    async fn fetch(&self) -> Result<(), GitOpsError> {
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking());
        self.ok(
            "fetch the GitOps branch",
            &["fetch", "--quiet", "--no-tags", "origin", &refspec],
            &[],
        )
        .await
        .map(drop)
    }

    /// Drops whatever is local: a rebase in progress, commits, changes,
    /// untracked files.
    async fn reset_to_origin(&self) -> Result<(), GitOpsError> {
        let git = self.dir.join(".git");
        if git.join("rebase-merge").exists() || git.join("rebase-apply").exists() {
            let _ = self
                .run("stop the rebase", &["rebase", "--abort"], &[])
                .await;
        }
        let tracking = self.tracking();
        self.ok(
            "reset the checkout to the branch",
            &["reset", "--quiet", "--hard", &tracking],
            &[],
        )
        .await?;
        self.ok("clean the checkout", &["clean", "-ffdxq"], &[])
            .await
            .map(drop)
    }

    fn tracking(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    async fn rev_parse(&self, rev: &str) -> Result<String, GitOpsError> {
        let out = self
            .ok(
                "read a commit id",
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{rev}^{{commit}}"),
                ],
                &[],
            )
            .await?;
        Ok(sanitize(out.stdout.trim()))
    }

    /// The file's text at `rev`, `None` when it is not there.
    async fn show_file(&self, rev: &str, file: &str) -> Result<Option<String>, GitOpsError> {
        let object = format!("{rev}:{file}");
        let exists = self
            .run("look for the file", &["cat-file", "-e", &object], &[])
            .await?;
        if !exists.status.success() {
            return Ok(None);
        }
        let out = self.ok("read the file", &["show", &object], &[]).await?;
        if out.stdout_cut {
            return Err(GitOpsError::File {
                file: file.to_string(),
                why: format!("larger than {} KiB", STDOUT_KEPT / 1024),
            });
        }
        Ok(Some(out.stdout))
    }

    /// The file's text in the checkout.
    fn read_file(&self, file: &str) -> Result<String, GitOpsError> {
        let bad = |why: String| GitOpsError::File {
            file: file.to_string(),
            why,
        };
        let path = self.dir.join(file);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GitOpsError::FileMissing {
                    file: file.to_string(),
                    branch: self.branch.clone(),
                });
            }
            Err(e) => return Err(bad(e.to_string())),
            Ok(m) if !m.file_type().is_file() => {
                return Err(bad("not a regular file (a link or a directory)".to_string()));
            }
            Ok(_) => {}
        }
        // A directory on the way that is a link could lead out of the clone.
        let (Ok(real), Ok(root)) = (path.canonicalize(), self.dir.canonicalize()) else {
            return Err(bad("its path cannot be resolved".to_string()));
        };
        if !real.starts_with(&root) {
            return Err(bad("its path leads out of the repository".to_string()));
        }
        let bytes = crate::paths::read_regular(&path, FILE_LIMIT)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| GitOpsError::FileMissing {
                file: file.to_string(),
                branch: self.branch.clone(),
            })?;
        String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".to_string()))
    }
}

/// A file path inside the repository: relative, no `..`, written with `/`.
fn relative(file: &str) -> Result<String, GitOpsError> {
    let path = Path::new(file);
    let plain = !file.is_empty()
        && !file.contains('\\')
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        Ok(file.trim_start_matches("./").to_string())
    } else {
        Err(GitOpsError::BadRequest {
            why: format!(
                "{} is not a path inside the repository (relative, without ..)",
                sanitize(file)
            ),
        })
    }
}

fn check_branch(branch: &str) -> Result<(), GitOpsError> {
    if !crate::model::gitref::valid_branch(branch) {
        return Err(GitOpsError::BadRequest {
            why: format!("{:?} is not a branch name", sanitize(branch)),
        });
    }
    Ok(())
}

fn check_request(req: &CommitRequest) -> Result<(), GitOpsError> {
    let a = &req.author;
    let bad =
        |s: &str| s.trim().is_empty() || s.chars().any(|c| c.is_control() || c == '<' || c == '>');
    if bad(&a.name) || bad(&a.email) {
        return Err(GitOpsError::BadRequest {
            why: "the author's name and email must be non-empty, on one line, without < or >"
                .to_string(),
        });
    }
    if req.message.trim().is_empty() {
        return Err(GitOpsError::BadRequest {
            why: "the commit message is empty".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
