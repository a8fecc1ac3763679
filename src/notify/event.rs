//! What a ledger record is worth telling people: a pure function from a
//! record (and the ledger before it) to the events it gives, each with the
//! text a person reads and the key a receiver drops repeats by.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::ledger::{Record, RecordKind};

pub use crate::release::watch::PAUSED;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A promotion waits for approvals (its open slots named).
    WaitingForApproval,
    /// Someone approved a promotion.
    ApprovalGiven,
    /// A stepped rollout paused for a person's decision.
    StepPaused,
    /// A deploy was aborted (the rule and its numbers).
    Aborted,
    /// A rollback ended (succeeded, failed, or unverified).
    RolledBack,
    /// A deploy failed without an abort of shipdeck's.
    Failed,
    /// A deploy's watch could not tell: its outcome is unknown.
    Unverified,
    /// A deploy succeeded (with its duration).
    Succeeded,
    /// A freeze was overridden (operations route).
    FreezeOverride,
    /// A hotfix promotion (operations route).
    Hotfix,
}

impl EventKind {
    /// The snake_case name in bodies and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingForApproval => "waiting_for_approval",
            Self::ApprovalGiven => "approval_given",
            Self::StepPaused => "step_paused",
            Self::Aborted => "aborted",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
            Self::Unverified => "unverified",
            Self::Succeeded => "succeeded",
            Self::FreezeOverride => "freeze_override",
            Self::Hotfix => "hotfix",
        }
    }

    /// Sent to the operations route rather than the environment's.
    pub fn operations(self) -> bool {
        matches!(self, Self::FreezeOverride | Self::Hotfix)
    }

    /// Bad news (drawn so in Slack's text).
    fn bad(self) -> bool {
        matches!(
            self,
            Self::Aborted | Self::RolledBack | Self::Failed | Self::Unverified
        )
    }
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The record's hash (with `#event` after the first event of a record
    /// that gives several): a receiver drops a key it has seen.
    pub dedupe_key: String,
    /// The record's id.
    pub record: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Environment.
    pub env: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// Promotion id.
    pub promotion: Option<String>,
    /// Who acted.
    pub operator: String,
    /// One line for a person (not yet sanitised or redacted: the body does).
    pub text: String,
}

/// What a record is judged with: the configuration and the ledger up to and
/// including it (for the open slots, and to tell a promotion's first hotfix
/// or freeze override from a repeat), and now.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// The records before it (the record itself may be among them).
    pub records: &'a [Record],
    /// Now.
    pub now: DateTime<Utc>,
}

/// The events `record` (whose hash is `hash`) gives. `NotificationFailed`
/// records never give one.
pub fn events_for(record: &Record, hash: &str, ctx: &Context<'_>) -> Vec<Event> {
    let d = &record.draft;
    let what = subject(record);
    let mut out: Vec<(EventKind, String)> = Vec::new();
    match record.kind {
        RecordKind::NotificationFailed => return Vec::new(),
        RecordKind::PromotionStarted => {
            if let Some(needs) = open_slots(record, ctx) {
                out.push((
                    EventKind::WaitingForApproval,
                    format!(
                        "{what}: promotion {} by {} waits for approval: {needs} (`shipdeck approve {}`)",
                        d.promotion.as_deref().unwrap_or("?"),
                        d.operator,
                        d.promotion.as_deref().unwrap_or("?"),
                    ),
                ));
            }
        }
        RecordKind::Approval => {
            let roles = if d.roles.is_empty() {
                String::new()
            } else {
                format!(" as {}", d.roles.join(", "))
            };
            let standing = d
                .promotion
                .as_deref()
                .and_then(|p| crate::approvals::progress(ctx.records, ctx.cfg, p, ctx.now))
                .map(|f| format!(": {}", f.summary()))
                .unwrap_or_default();
            out.push((
                EventKind::ApprovalGiven,
                format!(
                    "{what}: {} approved promotion {}{roles}{standing}",
                    d.operator,
                    d.promotion.as_deref().unwrap_or("?")
                ),
            ));
        }
        RecordKind::Step => {
            if let Some(r) = d.reasons.iter().find(|r| r.contains(PAUSED)) {
                out.push((EventKind::StepPaused, format!("{what}: {r}")));
            }
        }
        // A request closed before anything was issued (backed out, the
        // source or change type changed) is no abort.
        RecordKind::Aborted
            if d.outcome.as_deref() == Some(crate::release::Outcome::Cancelled.as_str()) => {}
        RecordKind::Aborted => out.push((
            EventKind::Aborted,
            format!("{what}: deploy aborted: {}", reasons(record)),
        )),
        RecordKind::RollbackSucceeded
        | RecordKind::RollbackFailed
        | RecordKind::RollbackUnverified => {
            let how = match record.kind {
                RecordKind::RollbackSucceeded => "rolled back",
                RecordKind::RollbackFailed => "rollback FAILED",
                _ => "rollback outcome UNKNOWN",
            };
            let to = d
                .to_revision
                .as_deref()
                .map(|r| format!(" to {r}"))
                .unwrap_or_default();
            let why = if d.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", reasons(record))
            };
            out.push((EventKind::RolledBack, format!("{what}: {how}{to}{why}")));
        }
        RecordKind::DeployFailed => out.push((
            EventKind::Failed,
            format!("{what}: deploy failed: {}", reasons(record)),
        )),
        RecordKind::DeployUnverified => out.push((
            EventKind::Unverified,
            format!(
                "{what}: deploy outcome UNKNOWN (the watch could not see enough): {}",
                reasons(record)
            ),
        )),
        RecordKind::DeploySucceeded => {
            let took = d
                .duration_ms
                .map(|ms| format!(" in {}", duration(ms)))
                .unwrap_or_default();
            let rev = d
                .to_revision
                .as_deref()
                .map(|r| format!(" as {r}"))
                .unwrap_or_default();
            out.push((
                EventKind::Succeeded,
                format!(
                    "{what}: {} is live{rev}, deployed{took}",
                    short(d.to_digest.as_deref())
                ),
            ));
        }
        _ => {}
    }
    if let Some(text) = freeze_override(record, ctx) {
        out.push((EventKind::FreezeOverride, format!("{what}: {text}")));
    }
    if is_hotfix(record) && first_of_promotion(record, ctx, is_hotfix) {
        let skipped = if d.skipped.is_empty() {
            String::new()
        } else {
            format!(", skipping {}", d.skipped.join(", "))
        };
        let why = d
            .reasons
            .iter()
            .find(|r| r.starts_with("hotfix"))
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        out.push((
            EventKind::Hotfix,
            format!("{what}: hotfix by {}{skipped}{why}", d.operator),
        ));
    }
    let many = out.len() > 1;
    out.into_iter()
        .enumerate()
        .map(|(i, (kind, text))| Event {
            kind,
            dedupe_key: if many && i > 0 {
                format!("{hash}#{}", kind.as_str())
            } else {
                hash.to_string()
            },
            record: record.id.clone(),
            at: record.at,
            env: d.env.clone(),
            service: d.service.clone(),
            promotion: d.promotion.clone(),
            operator: d.operator.clone(),
            text: if kind.bad() {
                format!("✗ {text}")
            } else {
                text
            },
        })
        .collect()
}

/// `api → prod` (or the environment alone).
fn subject(r: &Record) -> String {
    match (&r.draft.service, &r.draft.env) {
        (Some(s), Some(e)) => format!("{s} → {e}"),
        (None, Some(e)) => e.clone(),
        (Some(s), None) => s.clone(),
        (None, None) => "shipdeck".to_string(),
    }
}

fn reasons(r: &Record) -> String {
    if r.draft.reasons.is_empty() {
        "no reason recorded".to_string()
    } else {
        r.draft.reasons.join("; ")
    }
}

/// `sha256:0123456789ab` of a digest, or "the new image".
fn short(digest: Option<&str>) -> String {
    match digest {
        Some(d) => d.get(..19).unwrap_or(d).to_string(),
        None => "the new image".to_string(),
    }
}

/// `4m 12s`, `850ms`.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// The open slots of a promotion that waits for approvals (`needs 1
/// developer, 1 business`); `None` when its gate asks for none.
fn open_slots(record: &Record, ctx: &Context<'_>) -> Option<String> {
    let id = record.draft.promotion.as_deref()?;
    let fill = crate::approvals::progress(ctx.records, ctx.cfg, id, ctx.now)?;
    let needs = fill.needs();
    (!needs.is_empty()).then_some(needs)
}

fn is_hotfix(r: &Record) -> bool {
    r.draft.hotfix
        || r.draft.change_type.as_deref() == Some("hotfix")
        || !r.draft.skipped.is_empty()
}

fn overrode_freeze(r: &Record) -> bool {
    match r.kind {
        RecordKind::Override => r.draft.reasons.iter().any(|x| x.starts_with("freeze")),
        RecordKind::GateEvaluated => r
            .draft
            .gate
            .iter()
            .any(|g| g.check == "freeze" && g.verdict == "overridden"),
        _ => false,
    }
}

/// The freeze override a record shows, once per promotion (the gate's
/// record and the override's own both show it; the first one tells).
fn freeze_override(r: &Record, ctx: &Context<'_>) -> Option<String> {
    if !overrode_freeze(r) || !first_of_promotion(r, ctx, overrode_freeze) {
        return None;
    }
    let why = r
        .draft
        .reasons
        .iter()
        .find(|x| x.starts_with("freeze"))
        .cloned()
        .or_else(|| {
            r.draft
                .gate
                .iter()
                .find(|g| g.check == "freeze")
                .map(|g| format!("freeze: {}", g.reason))
        })
        .unwrap_or_else(|| "freeze".to_string());
    Some(format!("{} overrode the freeze ({why})", r.draft.operator))
}

/// No earlier record of the same promotion matches `test`.
fn first_of_promotion(r: &Record, ctx: &Context<'_>, test: fn(&Record) -> bool) -> bool {
    let Some(p) = r.draft.promotion.as_deref() else {
        return true;
    };
    !ctx.records
        .iter()
        .any(|x| x.seq < r.seq && x.draft.promotion.as_deref() == Some(p) && test(x))
}

#[cfg(test)]
mod tests;
