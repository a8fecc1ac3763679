//! How a promotion or rollback ended: one value that the ledger, the exit
//! code and the screen all read.

use serde::{Deserialize, Serialize};

use super::{Step, Watch};

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
    /// Over unsuccessfully (the platform rolled back by itself, the rollback
    /// failed…).
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

    /// The headline with why in short: `ROLLED BACK (aborted: rule …)`.
    pub fn said(self, cause: Option<&str>) -> String {
        match cause.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => format!("{} ({c})", self.headline()),
            None => self.headline().to_string(),
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

impl Watch {
    /// Why this watch ended as `outcome`, in short, for the headline and the
    /// CLI's last line: the rule or check that aborted it, what failed, what
    /// could not be seen, what was changed by hand. `None` where the outcome
    /// says it all (a success). The outcome is the claimed one, so an
    /// unrecorded ending says what the watch saw and that the ledger lacks it.
    pub fn cause(&self, outcome: Outcome) -> Option<String> {
        let abort = self.after_abort.as_deref();
        let step = match &self.outcome {
            Some(Step::Failed(w) | Step::Abort(w) | Step::Unknown(w) | Step::ChangedOutside(w)) => {
                Some(w.as_str())
            }
            Some(Step::Succeeded | Step::Continue) | None => None,
        };
        // What went wrong, with the abort an automatic rollback followed.
        let what = match (abort, step) {
            (Some(a), Some(s)) => Some(format!("aborted: {a}; then the rollback: {s}")),
            (Some(a), None) => Some(format!("aborted: {a}")),
            (None, s) => s.map(str::to_string),
        };
        match outcome {
            Outcome::Succeeded
            | Outcome::Issued
            | Outcome::NoGo
            | Outcome::Cancelled
            | Outcome::Interrupted => None,
            Outcome::RolledBack => abort.map(|a| format!("aborted: {a}")),
            Outcome::Unrecorded => {
                let seen = match (&self.outcome, abort) {
                    (Some(Step::Succeeded), Some(a)) => {
                        format!("the watch saw the rollback succeed (aborted: {a})")
                    }
                    (Some(Step::Succeeded), None) => {
                        format!("the watch saw the {} succeed", self.kind.noun())
                    }
                    _ => format!(
                        "the watch saw: {}",
                        what.unwrap_or_else(|| "its ending".to_string())
                    ),
                };
                Some(format!("{seen}; the ledger could not record it"))
            }
            Outcome::Failed
            | Outcome::Aborted
            | Outcome::Unknown
            | Outcome::ChangedOutside
            | Outcome::NotIssued => what,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::EnvId;
    use crate::release::OpKind;

    const RULE: &str = "rule \"5xx %\": 5xx % above 5 for 1 point(s) of 1 min: 35";

    fn watch(kind: OpKind, step: Option<Step>, after_abort: Option<&str>) -> Watch {
        let cfg = crate::config::demo().unwrap();
        let mut w = Watch::new(
            &cfg,
            kind,
            EnvId(2),
            "api",
            "P1",
            None,
            None,
            chrono::DateTime::UNIX_EPOCH,
        );
        w.automatic = after_abort.is_some();
        w.after_abort = after_abort.map(str::to_string);
        w.outcome = step;
        w
    }

    #[test]
    fn a_rollback_after_an_abort_names_the_rule_that_aborted() {
        let w = watch(OpKind::Rollback, Some(Step::Succeeded), Some(RULE));
        let said = Outcome::RolledBack.said(w.cause(Outcome::RolledBack).as_deref());
        assert_eq!(said, format!("ROLLED BACK (aborted: {RULE})"));
    }

    #[test]
    fn a_rollback_that_failed_after_an_abort_names_both() {
        let w = watch(
            OpKind::Rollback,
            Some(Step::Failed(crate::model::detail::rolled_back_by_itself(
                "the deployment",
                None,
            ))),
            Some(RULE),
        );
        let cause = w.cause(Outcome::Failed).unwrap();
        assert!(
            cause.starts_with(&format!(
                "aborted: {RULE}; then the rollback: the platform rolled the deployment back"
            )),
            "{cause}"
        );
    }

    #[rstest::rstest]
    #[case::failed(Outcome::Failed, Step::Failed("rollout failed: no capacity".into()), "FAILED (rollout failed: no capacity)")]
    #[case::unknown(Outcome::Unknown, Step::Unknown("could not verify within 10m: alarms unreadable".into()), "UNKNOWN (could not verify within 10m: alarms unreadable)")]
    #[case::outside(Outcome::ChangedOutside, Step::ChangedOutside("blue is live, not green".into()), "CHANGED OUTSIDE SHIPDECK (blue is live, not green)")]
    #[case::left(Outcome::Aborted, Step::Abort("health failing for 15s: 503".into()), "ABORTED (health failing for 15s: 503)")]
    fn each_ending_says_why_in_short(
        #[case] outcome: Outcome,
        #[case] step: Step,
        #[case] want: &str,
    ) {
        let w = watch(OpKind::Deploy, Some(step), None);
        assert_eq!(outcome.said(w.cause(outcome).as_deref()), want);
    }

    #[test]
    fn an_unrecorded_ending_says_what_was_seen_and_that_the_ledger_lacks_it() {
        let w = watch(OpKind::Rollback, Some(Step::Succeeded), Some(RULE));
        let said = Outcome::Unrecorded.said(w.cause(Outcome::Unrecorded).as_deref());
        assert!(
            said.starts_with("UNRECORDED (the watch saw the rollback succeed (aborted: rule"),
            "{said}"
        );
        assert!(said.ends_with("the ledger could not record it)"), "{said}");
        let w = watch(OpKind::Deploy, Some(Step::Succeeded), None);
        let said = Outcome::Unrecorded.said(w.cause(Outcome::Unrecorded).as_deref());
        assert_eq!(
            said,
            "UNRECORDED (the watch saw the deploy succeed; the ledger could not record it)"
        );
    }

    #[test]
    fn a_success_is_said_alone() {
        let w = watch(OpKind::Deploy, Some(Step::Succeeded), None);
        assert_eq!(w.cause(Outcome::Succeeded), None);
        assert_eq!(Outcome::Succeeded.said(None), "SUCCEEDED");
        assert_eq!(Outcome::Failed.said(Some("  ")), "FAILED");
    }
}
