//! The least time a paused step is held before a person moves the traffic
//! on: the step's own duration in the policy ("10% for 1m"), counted from
//! when the step began. Continuing sooner cuts the hold short, which takes
//! an explicit confirmation and is said on the record.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ledger::{Record, RecordKind};
use crate::model::{Shift, Strategy};

/// `28s`, `1m`, `1m5s`, `2h3m`: a duration as a countdown says it.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// A step's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The policy's least time at the step.
    pub min: Duration,
    /// When the step began, when that is known.
    pub since: Option<DateTime<Utc>>,
}

/// What is left of a hold at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldLeft {
    /// Held for the whole of it.
    Over,
    /// This much is left.
    Left(Duration),
    /// When the step began is unknown: it cannot be said to be over.
    Unknown,
}

/// A hold in numbers and words, for `--json` and the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldView {
    /// The policy's least time at the step, in seconds.
    pub min_secs: u64,
    /// Held so far, in seconds (`None`: when the step began is unknown).
    pub held_secs: Option<u64>,
    /// Left of it, in seconds (`None`: unknown).
    pub left_secs: Option<u64>,
    /// Whether it is over.
    pub over: bool,
    /// `held 28s of 1m: 32s left`.
    pub said: String,
}

impl Hold {
    /// The hold of `shift`'s current step under `strategy`; `since_seen`
    /// is when the step began as known elsewhere (the ledger's step record,
    /// or a watch's first sight of it) where the platform names no step
    /// times. `None` where the policy holds no step (no canary or linear
    /// step, or the last step, which bakes instead).
    pub fn of(
        strategy: &Strategy,
        shift: &Shift,
        since_seen: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        if shift.step == 0 || shift.step >= shift.steps() {
            return None;
        }
        let min = crate::model::shift::step_hold(strategy)?;
        let since = shift
            .step
            .checked_sub(1)
            .and_then(|i| shift.started.get(i as usize))
            .copied()
            .or(since_seen);
        Some(Self { min, since })
    }

    /// Held so far at `now`, in whole seconds (so that held and left add
    /// up to the hold on screen).
    pub fn held(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.since.map(|s| {
            Duration::from_secs(u64::try_from((now - s).num_seconds()).unwrap_or_default())
        })
    }

    /// What is left at `now`.
    pub fn left(&self, now: DateTime<Utc>) -> HoldLeft {
        match self.held(now) {
            None => HoldLeft::Unknown,
            Some(h) if h >= self.min => HoldLeft::Over,
            Some(h) => HoldLeft::Left(self.min.saturating_sub(h)),
        }
    }

    /// `held 28s of 1m: 32s left`, `held 1m4s of 1m: over`.
    pub fn countdown(&self, now: DateTime<Utc>) -> String {
        let of = short(self.min);
        match (self.held(now), self.left(now)) {
            (Some(h), HoldLeft::Left(l)) => {
                format!("held {} of {of}: {} left", short(h), short(l))
            }
            (Some(h), _) => format!("held {} of {of}: over", short(h)),
            (None, _) => format!("held ? of {of}: when the step began is unknown"),
        }
    }

    /// `the hold has 32s left of 1m`, while it is not over.
    pub fn not_over(&self, now: DateTime<Utc>) -> Option<String> {
        let of = short(self.min);
        match self.left(now) {
            HoldLeft::Over => None,
            HoldLeft::Left(l) => Some(format!("the hold has {} left of {of}", short(l))),
            HoldLeft::Unknown => Some(format!(
                "the hold of {of} cannot be told over: when the step began is unknown"
            )),
        }
    }

    /// What the record says when `operator` continues before the hold ends.
    pub fn cut_reason(&self, operator: &str, now: DateTime<Utc>) -> Option<String> {
        let of = short(self.min);
        match self.left(now) {
            HoldLeft::Over => None,
            HoldLeft::Left(l) => Some(format!(
                "hold cut short by {operator} with {} of {of} left",
                short(l)
            )),
            HoldLeft::Unknown => Some(format!(
                "hold cut short by {operator}: the {of} hold could not be told over (when the step began is unknown)"
            )),
        }
    }

    /// The numbers and words at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> HoldView {
        let left = self.left(now);
        HoldView {
            min_secs: self.min.as_secs(),
            held_secs: self.held(now).map(|h| h.as_secs()),
            left_secs: match left {
                HoldLeft::Over => Some(0),
                HoldLeft::Left(l) => Some(l.as_secs()),
                HoldLeft::Unknown => None,
            },
            over: left == HoldLeft::Over,
            said: self.countdown(now),
        }
    }
}

/// When the current step of `shift` began, as the ledger says: the first
/// step record of the newest deploy of `service` in `env` that names it (a
/// watch writes one when it sees the step).
pub fn step_began(
    records: &[Record],
    env: &str,
    service: &str,
    shift: &Shift,
) -> Option<DateTime<Utc>> {
    let (promotion, _) = crate::release::step::started_by(records, env, service)?;
    let label = shift.step_label();
    records
        .iter()
        .find(|r| {
            r.kind == RecordKind::Step
                && r.draft.promotion.as_deref() == Some(promotion.as_str())
                && r.draft.env.as_deref() == Some(env)
                && r.draft.service.as_deref() == Some(service)
                && r.draft.reasons.iter().any(|x| x.contains(&label))
        })
        .map(|r| r.at)
}
