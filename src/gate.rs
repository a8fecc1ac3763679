//! The gate engine: pure. Everything it needs arrives in [`GateInput`]; it reads
//! no clock and does no I/O.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{AutoCheck, FreezeKind, FreezeWindow, GatePolicy};
use crate::health::SmokeResult;
use crate::model::{AlarmState, Digest, Placement, RolloutState, ServiceSnapshot};

/// A check's verdict. Only `Pass` lets a gate say GO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Satisfied.
    Pass,
    /// Not satisfied.
    Fail,
    /// Not yet (waiting for time, approvals, input).
    Pending,
    /// Cannot be told.
    Unknown,
}

impl Verdict {
    /// Its mark in a line of text: `✓`, `✗`, `◐` (pending), `?` (unknown).
    pub fn mark(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Fail => "✗",
            Self::Pending => "◐",
            Self::Unknown => "?",
        }
    }
}

/// One evaluated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Name (`alarms_ok`, `approvals`, `checklist: …`).
    pub name: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Why, for a person.
    pub reason: String,
    /// An automatic check (the only kind that can be overridden).
    pub automatic: bool,
    /// Passed by break-glass override.
    pub overridden: bool,
}

/// Everything a gate looks at.
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    /// The target environment's gate policy.
    pub policy: &'a GatePolicy,
    /// The service in the source stage.
    pub source: Option<&'a ServiceSnapshot>,
    /// What the source's platform calls rolling a deployment back by itself
    /// (`ECS's circuit breaker or alarm rollback`), named when it did.
    pub source_self_rollback: Option<&'a str>,
    /// The source reading is current.
    pub source_fresh: bool,
    /// The target reading is current.
    pub target_fresh: bool,
    /// Other sources the gate reads that are not current (e.g. the source's
    /// alarms), each with its reason.
    pub stale: &'a [String],
    /// The digest to promote (`None` when unpinned).
    pub digest: Option<&'a Digest>,
    /// Source healthy-stable for its window (`None`: no health endpoint or no data).
    pub source_healthy_stable: Option<bool>,
    /// Smoke results of the source (`None`: not run yet).
    pub smoke: Option<&'a [SmokeResult]>,
    /// Whether the source has smoke checks configured.
    pub smoke_configured: bool,
    /// How long the digest has run in the source (`None`: unknown).
    pub soaked_for: Option<Duration>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who else is promoting this service into the target, if anyone.
    pub in_flight: Option<String>,
    /// Checklist items ticked, by index.
    pub ticked: &'a [bool],
    /// Distinct valid approvers (already filtered for digest, policy and expiry).
    pub approvers: &'a [String],
    /// Who started the promotion.
    pub initiator: &'a str,
    /// Change-record id entered.
    pub change_record: Option<&'a str>,
    /// Hotfix path (a stage is skipped): needs a reason and one more approval.
    pub hotfix_reason: Option<&'a str>,
    /// Is this a hotfix?
    pub hotfix: bool,
    /// The stages the hotfix path skips.
    pub skipped: &'a [String],
    /// The change type chosen (`None`: none).
    pub change_type: Option<&'a str>,
    /// The change types there are.
    pub change_types: &'a [String],
    /// The team's roles, for the approval matrix.
    pub roles: &'a crate::config::approvals::Roles,
    /// Break-glass overrides: check name and written reason.
    pub overrides: &'a [(String, String)],
    /// Where the service's units run in the target, as read (`None`: not read).
    pub target_regions: Option<&'a [Placement]>,
    /// Whether the target's platform places units by region at all
    /// ([`crate::provider::Capabilities::places`]).
    pub target_places: bool,
    /// The target's platform (`proxy`), named where it has no regions.
    pub target_platform: &'a str,
    /// What the target's placements are, plural (`machines`, `services`).
    pub target_units: &'a str,
    /// The digest's supply-chain evidence judged (`None`: the registry has
    /// not been read yet).
    pub supply: Option<&'a crate::supply::Assessment>,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateResult {
    /// Every check, automatic first.
    pub checks: Vec<Check>,
    /// GO only when every check passes.
    pub go: bool,
}

/// Whether `now` falls inside a freeze window (in the window's time zone; `to` exclusive).
pub fn in_freeze(w: &FreezeWindow, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&w.timezone);
    match &w.kind {
        FreezeKind::Weekly { days, from, to } => {
            let t = local.time();
            days.contains(&local.weekday()) && *from <= t && t < *to
        }
        FreezeKind::Dates { start, end } => {
            let d = local.date_naive();
            *start <= d && d <= *end
        }
    }
}

fn check(name: &str, verdict: Verdict, reason: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        verdict,
        reason: reason.into(),
        automatic: true,
        overridden: false,
    }
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn automatic(c: AutoCheck, i: &GateInput<'_>) -> Check {
    let name = c.name();
    match c {
        AutoCheck::RolloutCompleted => match i.source.map(ServiceSnapshot::rollout) {
            Some(RolloutState::Completed) => check(
                name,
                Verdict::Pass,
                "the source's latest deployment completed",
            ),
            Some(RolloutState::InProgress) => {
                check(name, Verdict::Pending, "the source is still rolling out")
            }
            Some(RolloutState::Failed) => {
                check(name, Verdict::Fail, "the source's latest deployment failed")
            }
            Some(RolloutState::RolledBack) => check(
                name,
                Verdict::Fail,
                crate::model::detail::rolled_back_by_itself(
                    "the source's latest deployment",
                    i.source_self_rollback,
                ),
            ),
            Some(RolloutState::Unknown) | None => check(
                name,
                Verdict::Unknown,
                "the source's rollout state is unknown",
            ),
        },
        AutoCheck::AlarmsOk => {
            let Some(s) = i.source else {
                return check(name, Verdict::Unknown, "no reading of the source");
            };
            let firing: Vec<&str> = s
                .alarms
                .iter()
                .filter(|a| a.state == AlarmState::Alarm)
                .map(|a| &*a.name)
                .collect();
            let unknown: Vec<&str> = s
                .alarms
                .iter()
                .filter(|a| a.state == AlarmState::InsufficientData)
                .map(|a| &*a.name)
                .collect();
            if !firing.is_empty() {
                check(
                    name,
                    Verdict::Fail,
                    format!("in ALARM: {}", firing.join(", ")),
                )
            } else if let Some(why) = &s.alarms_unknown {
                // Not a reading of "nothing": unreadable or missing alarms fail the check.
                check(name, Verdict::Fail, why.clone())
            } else if !unknown.is_empty() && !i.policy.allow_insufficient_data {
                check(
                    name,
                    Verdict::Unknown,
                    format!(
                        "insufficient data (unknown, not OK): {}",
                        unknown.join(", ")
                    ),
                )
            } else {
                check(
                    name,
                    Verdict::Pass,
                    format!("{} alarm(s), none in ALARM", s.alarms.len()),
                )
            }
        }
        AutoCheck::HealthyStable => match i.source_healthy_stable {
            Some(true) => check(
                name,
                Verdict::Pass,
                "the source's health endpoint is stable",
            ),
            Some(false) => check(
                name,
                Verdict::Pending,
                "the source's health endpoint has not been stable for its window yet",
            ),
            None => check(name, Verdict::Unknown, "no health reading of the source"),
        },
        AutoCheck::Smoke => match (i.smoke_configured, i.smoke) {
            (false, _) => check(name, Verdict::Pass, "no smoke checks configured"),
            (true, None) => check(name, Verdict::Pending, "smoke checks not run yet"),
            (true, Some(results)) => {
                let failed: Vec<&str> = results
                    .iter()
                    .filter(|r| !r.passed)
                    .map(|r| r.name.as_str())
                    .collect();
                if failed.is_empty() {
                    check(
                        name,
                        Verdict::Pass,
                        format!("{} smoke check(s) passed", results.len()),
                    )
                } else {
                    check(
                        name,
                        Verdict::Fail,
                        format!("failed: {}", failed.join(", ")),
                    )
                }
            }
        },
        AutoCheck::Soak => match i.soaked_for {
            _ if i.policy.soak.is_zero() => check(name, Verdict::Pass, "no soak time required"),
            Some(d) if d >= i.policy.soak => check(
                name,
                Verdict::Pass,
                format!("soaked {} (≥ {})", fmt_dur(d), fmt_dur(i.policy.soak)),
            ),
            Some(d) => check(
                name,
                Verdict::Pending,
                format!("soaked {} of {}", fmt_dur(d), fmt_dur(i.policy.soak)),
            ),
            None => check(
                name,
                Verdict::Unknown,
                "unknown how long the digest has run in the source",
            ),
        },
        AutoCheck::Freeze => match i.policy.freeze.iter().find(|w| in_freeze(w, i.now)) {
            Some(w) => check(
                name,
                Verdict::Fail,
                format!("inside freeze \"{}\" ({})", w.name, w.timezone),
            ),
            None => check(name, Verdict::Pass, "no freeze window now"),
        },
        AutoCheck::NotInFlight => match &i.in_flight {
            Some(holder) => check(name, Verdict::Fail, format!("already in flight: {holder}")),
            None => check(
                name,
                Verdict::Pass,
                "nobody else is promoting this service here",
            ),
        },
        AutoCheck::Pinned => match i.digest {
            Some(d) => check(name, Verdict::Pass, format!("digest {}", d.short())),
            None => check(
                name,
                Verdict::Fail,
                "the source image is unpinned (tag only, no digest): cannot promote",
            ),
        },
        AutoCheck::AllowedRegions => allowed_regions(name, i),
        AutoCheck::Signed | AutoCheck::Scanned | AutoCheck::Provenance => {
            let Some(a) = i.supply else {
                return check(name, Verdict::Pending, "reading the registry");
            };
            if i.digest != Some(&a.digest) {
                return check(
                    name,
                    Verdict::Unknown,
                    format!(
                        "the registry was read for {}, not the digest promoted",
                        a.digest.short()
                    ),
                );
            }
            match a.finding(c) {
                Some(f) => check(name, f.verdict, f.reason.clone()),
                None => check(name, Verdict::Unknown, "not a supply-chain check"),
            }
        }
        AutoCheck::Fresh => {
            let mut stale: Vec<String> = Vec::new();
            if !i.source_fresh {
                stale.push("the source's reading".to_string());
            }
            if !i.target_fresh {
                stale.push("the target's reading".to_string());
            }
            stale.extend(i.stale.iter().cloned());
            if stale.is_empty() {
                check(
                    name,
                    Verdict::Pass,
                    "source and target readings are current",
                )
            } else {
                check(
                    name,
                    Verdict::Fail,
                    format!(
                        "not current: {}; stale data never passes a gate",
                        stale.join("; ")
                    ),
                )
            }
        }
    }
}

/// The noun for one of `units` (`machines` → `machine`).
fn one_of(units: &str) -> &str {
    units.strip_suffix('s').unwrap_or(units)
}

/// Placements listed by name in a reason before "and N more".
const PLACEMENTS_NAMED: usize = 5;

/// `allowed_regions`: every unit of the service in the target runs in an
/// allowed region. Unknown where the platform places units and they are not
/// read; a pass, saying why, where there is no policy or no region.
fn allowed_regions(name: &str, i: &GateInput<'_>) -> Check {
    let allowed = &i.policy.allowed_regions;
    if allowed.is_empty() {
        return check(name, Verdict::Pass, "no region policy");
    }
    if !i.target_places {
        return check(
            name,
            Verdict::Pass,
            format!(
                "the service runs on {}, which has no regions",
                i.target_platform
            ),
        );
    }
    let Some(placed) = i.target_regions else {
        return check(
            name,
            Verdict::Unknown,
            format!("the target's {} are not read", i.target_units),
        );
    };
    let list = format!("[{}]", allowed.join(", "));
    // Outside text: sanitised before it is said.
    let region = |p: &Placement| crate::model::sanitize(p.region.trim()).to_ascii_lowercase();
    let outside: Vec<String> = placed
        .iter()
        .filter(|p| !allowed.contains(&region(p)))
        .map(|p| {
            format!(
                "{} {} runs in {}",
                one_of(i.target_units),
                crate::model::sanitize(&p.unit),
                region(p)
            )
        })
        .collect();
    if !outside.is_empty() {
        let more = outside.len().saturating_sub(PLACEMENTS_NAMED);
        let mut said = outside
            .into_iter()
            .take(PLACEMENTS_NAMED)
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            let _ = write!(said, " and {more} more");
        }
        return check(
            name,
            Verdict::Fail,
            format!("{said}, outside allowed_regions {list}"),
        );
    }
    if placed.is_empty() {
        return check(
            name,
            Verdict::Pass,
            format!("no {} run in the target", i.target_units),
        );
    }
    let mut regions: Vec<String> = Vec::new();
    for r in placed.iter().map(region) {
        if !regions.contains(&r) {
            regions.push(r);
        }
    }
    let units = if placed.len() == 1 {
        one_of(i.target_units)
    } else {
        i.target_units
    };
    check(
        name,
        Verdict::Pass,
        format!("{} {units} in {}", placed.len(), regions.join(", ")),
    )
}

/// Approvals a gate needs for a change of `change_type`: its matrix row's,
/// or the policy's count plus one on the hotfix path.
pub fn approvals_required(policy: &GatePolicy, change_type: Option<&str>, hotfix: bool) -> u32 {
    crate::approvals::requirement(policy, change_type, hotfix)
        .iter()
        .map(|s| s.count)
        .sum()
}

/// The matrix's checks: a change type chosen, and one that may skip a stage
/// where the hotfix path skips one. None without a matrix.
fn matrix_checks(i: &GateInput<'_>) -> Vec<Check> {
    if i.policy.matrix.is_empty() {
        return Vec::new();
    }
    let manual = |name: &str, verdict, reason: String| Check {
        name: name.to_string(),
        verdict,
        reason,
        automatic: false,
        overridden: false,
    };
    let mut out = Vec::new();
    let (v, r) = match i.change_type {
        None => (
            Verdict::Pending,
            format!("choose one: {}", i.change_types.join(", ")),
        ),
        Some(t) if !i.change_types.iter().any(|c| c == t) => (
            Verdict::Fail,
            format!(
                "\"{t}\" is not a change type (have: {})",
                i.change_types.join(", ")
            ),
        ),
        Some(t) => match i.policy.matrix.iter().find(|r| r.change_type == t) {
            Some(row) => (
                Verdict::Pass,
                format!(
                    "{t}: needs {}",
                    crate::config::approvals::slots_words(&row.slots)
                ),
            ),
            // A type the matrix leaves out needs what the gate asks of
            // anyone (approvals_required), said in numbers.
            None => (
                Verdict::Pass,
                format!(
                    "{t}: not in the matrix: {} approval(s) from anyone (approvals_required)",
                    i.policy.approvals_required + u32::from(i.hotfix)
                ),
            ),
        },
    };
    out.push(manual("change_type", v, r));
    if i.hotfix {
        let row = i
            .change_type
            .and_then(|t| i.policy.matrix.iter().find(|r| r.change_type == t));
        let skipped = if i.skipped.is_empty() {
            "a stage".to_string()
        } else {
            i.skipped.join(", ")
        };
        let (v, r) = match (i.change_type, row) {
            (_, Some(row)) if row.may_skip_stage => (
                Verdict::Pass,
                format!("{} may skip {skipped} here", row.change_type),
            ),
            (None, _) => (
                Verdict::Pending,
                format!("skips {skipped}: choose a change type the matrix lets skip a stage"),
            ),
            (Some(t), _) => {
                let may: Vec<&str> = i
                    .policy
                    .matrix
                    .iter()
                    .filter(|r| r.may_skip_stage)
                    .map(|r| r.change_type.as_str())
                    .collect();
                (
                    Verdict::Fail,
                    format!(
                        "a {t} may not skip {skipped} here ({})",
                        if may.is_empty() {
                            "no change type may".to_string()
                        } else {
                            format!("only {} may", may.join(", "))
                        }
                    ),
                )
            }
        };
        out.push(manual("skip_stage", v, r));
    }
    out
}

/// Evaluates the gate.
pub fn evaluate(i: &GateInput<'_>) -> GateResult {
    let mut checks: Vec<Check> = i.policy.checks.iter().map(|c| automatic(*c, i)).collect();
    for c in &mut checks {
        if c.verdict == Verdict::Fail
            && let Some((_, why)) = i
                .overrides
                .iter()
                .find(|(n, r)| *n == c.name && !r.trim().is_empty())
        {
            if i.policy.allow_override {
                c.verdict = Verdict::Pass;
                c.overridden = true;
                c.reason = format!("OVERRIDDEN ({why}): {}", c.reason);
            } else {
                c.reason.push_str(" (overrides are not allowed here)");
            }
        }
    }
    let manual = |name: String, verdict, reason: String| Check {
        name,
        verdict,
        reason,
        automatic: false,
        overridden: false,
    };
    for (n, item) in i.policy.checklist.iter().enumerate() {
        let ticked = i.ticked.get(n).copied().unwrap_or(false);
        let (v, r) = if ticked {
            (Verdict::Pass, "ticked")
        } else {
            (Verdict::Pending, "not ticked yet")
        };
        checks.push(manual(format!("checklist: {item}"), v, r.to_string()));
    }
    checks.extend(matrix_checks(i));
    let slots = crate::approvals::requirement(i.policy, i.change_type, i.hotfix);
    if !slots.is_empty() {
        // The one decision: who fills which slot (a person once, never the
        // initiator under four eyes).
        let counted: Vec<String> = i
            .approvers
            .iter()
            .filter(|a| !(i.policy.four_eyes && crate::approvals::same_person(a, i.initiator)))
            .cloned()
            .collect();
        let fill = crate::approvals::fill(&slots, i.roles, &counted);
        let extra = if i.hotfix && slots.iter().all(|s| s.role.is_none()) {
            ", one extra for the hotfix path"
        } else {
            ""
        };
        let (v, r) = if fill.done() {
            (Verdict::Pass, fill.summary())
        } else {
            (Verdict::Pending, format!("{}{extra}", fill.summary()))
        };
        checks.push(manual("approvals".to_string(), v, r));
    }
    if let Some(re) = &i.policy.change_record {
        let (v, r) = match i.change_record.map(str::trim).filter(|c| !c.is_empty()) {
            None => (Verdict::Pending, "enter the change-record id".to_string()),
            Some(c) if re.is_match(c) => (Verdict::Pass, format!("change record {c}")),
            Some(c) => (
                Verdict::Fail,
                format!("\"{c}\" does not match {}", re.as_str()),
            ),
        };
        checks.push(manual("change_record".to_string(), v, r));
    }
    if i.hotfix {
        let (v, r) = match i.hotfix_reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => (Verdict::Pass, format!("hotfix: {r}")),
            None => (
                Verdict::Pending,
                "the hotfix path skips a stage: write a reason".to_string(),
            ),
        };
        checks.push(manual("hotfix_reason".to_string(), v, r));
    }
    let go = checks.iter().all(|c| c.verdict == Verdict::Pass);
    GateResult { checks, go }
}

#[cfg(test)]
mod matrix_tests;
#[cfg(test)]
mod supply_tests;
#[cfg(test)]
mod tests;
