//! What a promotion asks of the repository, what it did, and why it could
//! not.

use std::time::Duration;

use super::super::edit::EditError;
use crate::config::kubernetes::ImageSetting;

/// Who a promotion's commit is by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The person's name.
    pub name: String,
    /// Their email.
    pub email: String,
}

/// One promotion: set `setting` to `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    /// The value in the repository.
    pub setting: ImageSetting,
    /// What it becomes (`sha256:…` or `repo@sha256:…`).
    pub value: String,
    /// The commit message.
    pub message: String,
    /// The commit's author.
    pub author: Author,
}

/// A pushed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The commit, as pushed.
    pub commit: String,
    /// Its parent (the branch's head it was made on, after a rebase the new one).
    pub parent: String,
    /// The value before it (`None`: no value yet).
    pub before: Option<String>,
    /// Whether it was rebased onto commits pushed meanwhile.
    pub rebased: bool,
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promotion {
    /// One commit changing the value, pushed.
    Committed(Committed),
    /// The value already was the one asked: nothing was committed.
    AlreadySet {
        /// The branch's head, which has it.
        commit: String,
    },
}

/// Why the repository could not be read or changed. Git's own words are
/// outside text: sanitised, folded onto one line and clipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitOpsError {
    /// No `git` to run.
    #[error(
        "git could not be run ({why}); shipdeck promotes with your own git: install it or put it on PATH"
    )]
    GitMissing {
        /// The operating system's words.
        why: String,
    },
    /// A git command failed.
    #[error("could not {what}: git exited with {}: {stderr}", exit_words(*code))]
    Failed {
        /// What it was doing, in words.
        what: &'static str,
        /// Its exit code (`None`: killed by a signal).
        code: Option<i32>,
        /// Its stderr, folded and clipped.
        stderr: String,
    },
    /// A git command did not finish in time and was stopped.
    #[error("could not {what}: git did not finish within {}s and was stopped (is the remote reachable?)", after.as_secs())]
    Timeout {
        /// What it was doing, in words.
        what: &'static str,
        /// Its deadline.
        after: Duration,
    },
    /// The file to change is not in the branch.
    #[error("{file} is not in the GitOps repository's branch {branch}")]
    FileMissing {
        /// The file.
        file: String,
        /// The branch.
        branch: String,
    },
    /// The file cannot be read or written.
    #[error("{file} in the GitOps checkout: {why}")]
    File {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
    /// The value cannot be read or written in the file's text.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Someone else changed the value since it was read: nothing was pushed.
    #[error("{file} was changed on {branch} by {by} in {commit} (its value is now {}); nothing was pushed: look before promoting again", value.as_deref().unwrap_or("unset"))]
    Changed {
        /// The author of the newest commit that changed the file, `Name <email>`.
        by: String,
        /// That commit.
        commit: String,
        /// The value it has now (`None`: unset).
        value: Option<String>,
        /// The file.
        file: String,
        /// The branch.
        branch: String,
    },
    /// The rebased commit was rejected too.
    #[error(
        "the push to {branch} was rejected twice (the branch keeps moving); nothing was pushed, try again"
    )]
    RejectedTwice {
        /// The branch.
        branch: String,
    },
    /// Another shipdeck process is using the checkout.
    #[error(
        "the GitOps checkout {dir} is in use by another shipdeck process; try again when it is done"
    )]
    Locked {
        /// The checkout.
        dir: String,
    },
    /// The checkout's directory cannot be used.
    #[error("the GitOps checkout {dir}: {why}")]
    Checkout {
        /// The checkout.
        dir: String,
        /// Why.
        why: String,
    },
    /// The request cannot be committed as asked.
    #[error("cannot commit: {why}")]
    BadRequest {
        /// Why.
        why: String,
    },
}

pub(super) fn exit_words(code: Option<i32>) -> String {
    code.map_or_else(|| "a signal".to_string(), |c| format!("code {c}"))
}
