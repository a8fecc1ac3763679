//! A promotion as a commit: the one value that pins a service's image in the
//! stage's GitOps repository (`edit`, pure), changed in a clone shipdeck
//! keeps and pushed with the user's own `git` (`git`).

pub mod edit;
pub mod git;

pub use edit::{EditError, Shape};
pub use git::{Author, Checkout, CommitRequest, Committed, GitOpsError, Promotion};
