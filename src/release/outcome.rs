//! How a promotion or rollback ended: one value that the ledger, the exit
//! code and the screen all read.

use serde::{Deserialize, Serialize};

/// How a promotion or rollback ended. The ledger, the exit code and the screen
/// all read this one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The gate said no; nothing was changed.
    NoGo,
    /// The operator backed out; nothing was changed.
    Cancelled,
    /// Issued and not watched (the CLI without `--wait`).
    Issued,
    /// The provider refused, or the lock or the record could not be taken.
    NotIssued,
    /// Watched to success (and marked stable).
    Succeeded,
    /// Over unsuccessfully (ECS rolled back by itself, the rollback failed…).
    Failed,
    /// Aborted and left as it is (no rollback, or none possible).
    Aborted,
    /// Aborted, then rolled back successfully.
    RolledBack,
    /// The watch could not see enough to tell.
    Unknown,
    /// What was switched was changed by hand since (the live colour, the
    /// listener's weights, the primary deployment): never a success.
    ChangedOutside,
    /// The outcome was observed, but the ledger could not record it: never
    /// "succeeded". The record is kept locally and written late.
    Unrecorded,
    /// The command stopped watching (a signal); the deploy goes on unwatched.
    Interrupted,
}

impl Outcome {
    /// The snake_case name, in the ledger (`outcome`) and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoGo => "no_go",
            Self::Cancelled => "cancelled",
            Self::Issued => "issued",
            Self::NotIssued => "not_issued",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
            Self::RolledBack => "rolled_back",
            Self::Unknown => "unknown",
            Self::ChangedOutside => "changed_outside",
            Self::Unrecorded => "unrecorded",
            Self::Interrupted => "interrupted",
        }
    }

    /// How a person reads it: the headline of the watch, the CLI's last line.
    pub fn headline(self) -> &'static str {
        match self {
            Self::NoGo => "NO-GO",
            Self::Cancelled => "CANCELLED",
            Self::Issued => "ISSUED",
            Self::NotIssued => "NOT ISSUED",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Aborted => "ABORTED",
            Self::RolledBack => "ROLLED BACK",
            Self::Unknown => "UNKNOWN",
            Self::ChangedOutside => "CHANGED OUTSIDE SHIPDECK",
            Self::Unrecorded => "UNRECORDED",
            Self::Interrupted => "INTERRUPTED",
        }
    }

    /// Exit code: 0 success (or issued), 3 unknown, 4 unrecorded, 130 stopped
    /// watching on SIGINT (the CLI says 128 + the signal for the others), 1
    /// anything else.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Issued | Self::Succeeded => 0,
            Self::Unknown => 3,
            Self::Unrecorded => 4,
            Self::Interrupted => 130,
            _ => 1,
        }
    }

    /// Whether it ended well.
    pub fn is_success(self) -> bool {
        self.exit_code() == 0
    }
}
