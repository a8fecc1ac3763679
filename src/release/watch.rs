//! The deploy watch: one observation at a time, until the deploy or rollback
//! succeeds, fails, aborts on a criterion, or ends unknown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{AbortRule, Config, EnvId, RolloutPolicy};
use crate::ledger::Draft;
use crate::model::{AlarmState, Digest, Health, Revision, RolloutState, ServiceSnapshot};
use crate::provider::RollbackStyle;

use super::rules::{self, Verdict};
use super::service_config;

/// What a `Step` record says when a step pauses for a person (after the
/// step's label: "step 1 of 2 (10%) paused: awaiting a decision"); the
/// notifications find a pause by it.
pub const PAUSED: &str = "paused: awaiting a decision";

mod after_abort;
mod blind;
mod follow;
mod outside;

/// How long past its timeout a watch without readings waits before it gives up.
pub const SILENT_GRACE: Duration = Duration::from_secs(30);
/// Health failing this long during a watch aborts it (single failed probes do not).
pub const HEALTH_ABORT_AFTER: Duration = Duration::from_secs(15);

/// Deploy or rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// A promotion's deploy.
    Deploy,
    /// A rollback (by hand, or automatic after an abort).
    Rollback,
}

impl OpKind {
    /// "deploy" or "rollback".
    pub fn noun(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
        }
    }
}

/// What one observation of a watched service says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep watching.
    Continue,
    /// Rollout completed, stable for the window, alarms OK.
    Succeeded,
    /// Over, unsuccessfully, and nothing more to do (e.g. the platform rolled
    /// the deployment back by itself).
    Failed(String),
    /// An abort criterion hit: roll back (or ask).
    Abort(String),
    /// The timeout passed while a watched source could not be read: the outcome
    /// is unknown. Never a success, never marked stable; nothing is rolled back
    /// on a guess.
    Unknown(String),
    /// What was switched is no longer as shipdeck left it (the live colour,
    /// the listener's weights, the primary deployment changed by hand since
    /// the switch): never a success, never marked stable, and nothing rolled
    /// back over a person's change. Says what was found.
    ChangedOutside(String),
}

/// A deploy or rollback being watched until it succeeds or an abort criterion hits.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Deploy or rollback.
    pub kind: OpKind,
    /// Rollback started automatically after an abort.
    pub automatic: bool,
    /// The abort this automatic rollback follows (its reason).
    pub after_abort: Option<String>,
    /// Environment index.
    pub env: EnvId,
    /// Environment name.
    pub env_name: String,
    /// shipdeck service name.
    pub service: String,
    /// Promotion id (records group by it).
    pub promotion: String,
    /// Revision before.
    pub from: Option<Revision>,
    /// Digest before.
    pub from_digest: Option<Digest>,
    /// Revision it converges to: known once issued where the platform says
    /// at once, else adopted from the first reading that shows the promoted
    /// digest (and change) with its revision; never made up.
    pub to: Option<Revision>,
    /// Digest it converges to.
    pub to_digest: Option<Digest>,
    /// The platform's name for the change it made (a git commit a GitOps
    /// controller applies), followed with the digest until the revision is
    /// known.
    pub change: Option<String>,
    /// Provider deployment id.
    pub deployment_id: Option<String>,
    /// How the service's platform rolls back (what an abort's rollback issues).
    pub rollback: RollbackStyle,
    /// What the service's platform calls rolling a deployment back by itself
    /// (`ECS's circuit breaker or alarm rollback`), named when it does.
    pub self_rollback: Option<&'static str>,
    /// What the platform counts running (`tasks`), or `None` where it counts
    /// nothing (a Lambda alias): the progress line says no counts then.
    pub units: Option<&'static str>,
    /// The platform accepted the command: readings count from here.
    pub(super) issued: bool,
    /// When the command was issued.
    pub issued_at: DateTime<Utc>,
    /// Abort criteria.
    pub policy: RolloutPolicy,
    /// Alarms already in ALARM before (reported, not an abort reason).
    pub firing_before: Vec<String>,
    /// Every alarm watched before: one that disappears (deleted, renamed)
    /// makes the watch blind, even when a prefix still matches others.
    pub alarms_before: Vec<String>,
    /// Abort rules over this service's metrics, each with its baseline (the
    /// metric's mean before the deploy, when there was data).
    pub rules: Vec<(AbortRule, Option<f64>)>,
    /// Each rule's live value, and when the current step was first seen.
    pub seen: super::evidence::Seen,
    /// Whether the service has a health endpoint.
    pub health_configured: bool,
    /// Whether the service watches any alarm (by name or prefix).
    pub alarms_configured: bool,
    /// INSUFFICIENT_DATA may pass (the environment's gate allows it); otherwise
    /// it is unknown and the watch cannot succeed on it.
    pub allow_no_data: bool,
    /// What the latest reading could not tell (unreadable alarms, missing
    /// metrics, unknown health): while not empty the watch cannot succeed.
    pub blind: Vec<String>,
    /// When the rollout completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Health good since.
    pub healthy_since: Option<DateTime<Utc>>,
    /// Health failing since.
    pub unhealthy_since: Option<DateTime<Utc>>,
    /// One line of current progress (its counters change every reading).
    pub progress: String,
    /// Where the watch is (issuing, a rollout state, stabilising…): logs record
    /// changes of stage, not every counter.
    pub stage: &'static str,
    /// Outcome once over.
    pub outcome: Option<Step>,
    /// How many of the provider's named rollout steps were seen (proxy
    /// cutovers name theirs).
    pub steps_seen: usize,
    /// Steps seen in the latest reading and not yet recorded.
    pub new_steps: Vec<String>,
    /// A stepped rollout's traffic shift, as the latest reading saw it.
    pub shift: Option<crate::model::Shift>,
    /// Its step and whether it was paused, to tell a change.
    shift_key: Option<(u32, bool)>,
    /// The timeout counts from here: the issue, then each new step, and
    /// never while a step waits for a person.
    clock_from: DateTime<Utc>,
    /// The gate's `after_stable` checklist items: due once a deploy is stable.
    pub after_stable: Vec<String>,
    /// Change record, approvers and hotfix mark, carried onto every record.
    pub carried: Draft,
}

impl Watch {
    /// Starts watching `kind` of `service` in environment `env`; `before` is the
    /// service's reading when the command was confirmed (baselines come from it).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &Config,
        kind: OpKind,
        env: EnvId,
        service: &str,
        promotion: &str,
        before: Option<&ServiceSnapshot>,
        to_digest: Option<Digest>,
        now: DateTime<Utc>,
    ) -> Self {
        let env_cfg = cfg.environments.get(env.index());
        let svc = service_config(cfg, env, service);
        let policy = env_cfg.map_or_else(RolloutPolicy::defaults, |e| e.rollout.clone());
        // The same rules the confirmation listed.
        let rules = super::evidence::watched_rules(cfg, env, service, before);
        Self {
            kind,
            automatic: false,
            after_abort: None,
            env,
            env_name: env_cfg.map_or_else(String::new, |e| e.name.clone()),
            service: service.to_string(),
            promotion: promotion.to_string(),
            from: before.and_then(|b| b.task_definition.clone()),
            from_digest: before.and_then(|b| b.digest.clone()),
            to: None,
            to_digest,
            change: None,
            deployment_id: None,
            rollback: env_cfg.map_or(RollbackStyle::Revisions, |e| {
                super::rollback::rollback_style(e, service)
            }),
            self_rollback: env_cfg.and_then(|e| {
                crate::platforms::self_rollback(crate::platforms::kind_of(e, service))
            }),
            units: env_cfg.map_or(Some("tasks"), |e| crate::platforms::units(e, service)),
            issued: false,
            issued_at: now,
            policy,
            firing_before: before
                .map(|b| {
                    b.alarms
                        .iter()
                        .filter(|a| a.state == AlarmState::Alarm)
                        .map(|a| a.name.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            alarms_before: before
                .map(|b| b.alarms.iter().map(|a| a.name.to_string()).collect())
                .unwrap_or_default(),
            rules,
            seen: super::evidence::Seen::default(),
            health_configured: svc.is_some_and(|s| s.health.is_some()),
            alarms_configured: svc.is_some_and(crate::config::ServiceConfig::watches_alarms),
            allow_no_data: env_cfg.is_some_and(|e| e.gate.allow_insufficient_data),
            blind: Vec::new(),
            completed_at: None,
            healthy_since: None,
            unhealthy_since: None,
            progress: "issuing…".to_string(),
            stage: "issuing",
            outcome: None,
            steps_seen: 0,
            new_steps: Vec::new(),
            shift: None,
            shift_key: None,
            clock_from: now,
            after_stable: match kind {
                OpKind::Deploy => env_cfg
                    .map(|e| e.gate.after_stable.clone())
                    .unwrap_or_default(),
                OpKind::Rollback => Vec::new(),
            },
            carried: Draft::default(),
        }
    }

    /// The command was accepted: watch for this revision and deployment.
    pub fn started(&mut self, to: Revision, deployment_id: Option<String>) {
        self.accepted(Some(to), None, deployment_id);
    }

    /// Seconds counted towards the timeout: since the issue or the latest
    /// step (a step waiting for a person holds it at zero).
    pub fn timeout_clock(&self, now: DateTime<Utc>) -> i64 {
        (now - self.clock_from).num_seconds().max(0)
    }

    /// Whether the watch is over.
    pub fn is_over(&self) -> bool {
        self.outcome.is_some()
    }

    fn end(&mut self, step: Step) -> Step {
        self.outcome = Some(step.clone());
        step
    }

    fn changed_outside(&mut self, found: String) -> Step {
        // The outcome's own line says it: no stage change to log twice.
        self.progress = format!("changed outside shipdeck: {found}");
        self.end(Step::ChangedOutside(found))
    }

    /// Looks at one reading of the service; returns what it means.
    pub fn observe(&mut self, s: &ServiceSnapshot, now: DateTime<Utc>) -> Step {
        if self.is_over() || !self.issued {
            return Step::Continue;
        }
        if let Some(step) = self.failed_unchanged(s) {
            return step;
        }
        self.adopt(s);
        let to = self.to.clone();
        let deployment = s
            .deployments
            .iter()
            .find(|d| self.deployment_id.as_deref() == Some(d.id.as_str()))
            .or_else(|| {
                let to = to.as_ref()?;
                s.deployments.iter().find(|d| {
                    d.role == crate::model::DeploymentRole::Primary
                        && d.task_definition.same_revision(to)
                })
            });
        if let Some(d) = deployment
            && d.steps.len() > self.steps_seen
        {
            self.new_steps
                .extend(d.steps.iter().skip(self.steps_seen).cloned());
            self.steps_seen = d.steps.len();
        }
        match deployment.and_then(|d| d.shift.as_deref()) {
            Some(sh) => self.take_shift(sh, now),
            None => self.shift = None,
        }
        let elapsed = (now - self.clock_from).to_std().unwrap_or_default();
        let rollout = match (deployment, &to) {
            // The platform has not reported the revision yet: what was
            // promoted is followed, and nothing completes without it.
            (_, None) => {
                self.following(s);
                RolloutState::InProgress
            }
            (Some(d), Some(to)) => {
                self.stage = d.rollout.label();
                self.progress = format!(
                    "{}{}{}{}",
                    d.rollout.label(),
                    self.units
                        .map(|_| format!(": {} of {} running", d.running, d.desired))
                        .unwrap_or_default(),
                    d.shift
                        .as_deref()
                        .map(|sh| format!(" · {}", sh.cell(now)))
                        .unwrap_or_default(),
                    d.reason
                        .as_deref()
                        .map(|r| format!(" · {r}"))
                        .unwrap_or_default()
                );
                match d.rollout {
                    RolloutState::Failed => {
                        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
                        // Failed before it changed what serves traffic (a proxy
                        // cutover whose new colour never got ready): nothing to
                        // roll back, and a rollback would touch what must not be.
                        if d.nothing_changed {
                            return self.end(Step::Failed(format!(
                                "{why} (nothing was changed: nothing to roll back)"
                            )));
                        }
                        return self.end(Step::Abort(format!("rollout failed: {why}")));
                    }
                    RolloutState::RolledBack if self.shift_key.is_some() => {
                        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
                        return self.end(Step::Failed(format!(
                            "the stepped deployment was rolled back: {why}"
                        )));
                    }
                    RolloutState::RolledBack => {
                        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
                        return self.end(Step::Failed(format!(
                            "{}: {why}",
                            crate::model::detail::rolled_back_by_itself(
                                "the deployment",
                                self.self_rollback
                            )
                        )));
                    }
                    r => {
                        // Replaced since the switch (by hand, or a proxy
                        // switched back): said, never watched on to success.
                        if let Some(found) = outside::replaced(d, s, to) {
                            return self.changed_outside(found);
                        }
                        r
                    }
                }
            }
            // The deployment left the platform's list: done when the service
            // is on our revision and its platform says it converged (the
            // platform's answer; unknown never is).
            (None, Some(to))
                if s.task_definition
                    .as_ref()
                    .is_some_and(|t| t.same_revision(to))
                    && s.convergence.is_converged() =>
            {
                RolloutState::Completed
            }
            // The deployment left the list and the service runs another
            // revision: deployed outside this watch.
            (None, Some(to)) if let Some(found) = outside::not_serving(s, to) => {
                return self.changed_outside(found);
            }
            (None, Some(_)) => RolloutState::InProgress,
        };
        if rollout == RolloutState::Completed && self.completed_at.is_none() {
            self.completed_at = Some(now);
        }
        // From completion to the success itself, what serves must still be
        // what was switched to: each reading re-reads it.
        if self.completed_at.is_some()
            && let Some(to) = &to
            && let Some(found) = outside::not_serving(s, to)
        {
            return self.changed_outside(found);
        }
        self.blind = self.blind_spots(s);
        self.seen.observe(&self.rules, s, self.shift.as_ref(), now);
        let mut rule_abort = None;
        for (rule, base) in &self.rules {
            let m = s.metrics.iter().find(|m| m.label == rule.metric);
            let points = m.filter(|m| m.error.is_none()).map(|m| m.points.as_slice());
            let verdict = match &rule.compare_to {
                // The new revision's target group against the old one's.
                Some(other) => {
                    let o = s
                        .metrics
                        .iter()
                        .find(|m| m.label == *other && m.error.is_none())
                        .map(|m| m.points.as_slice());
                    rules::evaluate_against(rule, points, o)
                }
                None => rules::evaluate(rule, *base, points),
            };
            match verdict {
                Verdict::Pass => {}
                Verdict::Breach(why) | Verdict::AbortOnMissing(why) => {
                    rule_abort.get_or_insert(why);
                }
                Verdict::Unknown(why) => {
                    self.blind.push(match m.and_then(|m| m.error.as_deref()) {
                        Some(err) => {
                            format!("metric \"{}\" unreadable: {err} ({why})", rule.metric)
                        }
                        None => why,
                    });
                }
            }
        }
        // Alarms that fire now and did not before the deploy.
        let firing: Vec<&str> = s
            .alarms
            .iter()
            .filter(|a| {
                a.state == AlarmState::Alarm && !self.firing_before.iter().any(|f| **f == *a.name)
            })
            .map(|a| &*a.name)
            .collect();
        if self.policy.abort_on_alarm && !firing.is_empty() {
            return self.end(Step::Abort(format!(
                "alarm in ALARM: {}",
                firing.join(", ")
            )));
        }
        // Health.
        match &s.health {
            Health::Unhealthy { reason, .. } => {
                self.healthy_since = None;
                let since = *self.unhealthy_since.get_or_insert(now);
                if self.policy.abort_on_health
                    && (now - since).to_std().unwrap_or_default() >= HEALTH_ABORT_AFTER
                {
                    return self.end(Step::Abort(format!(
                        "health failing for {}s: {reason}",
                        (now - since).num_seconds()
                    )));
                }
            }
            Health::Healthy { .. } => {
                self.unhealthy_since = None;
                self.healthy_since.get_or_insert(now);
            }
            Health::Unknown | Health::NotConfigured => {
                self.unhealthy_since = None;
            }
        }
        // Metric rules (the runbooks' abort criteria).
        if let Some(why) = rule_abort {
            return self.end(Step::Abort(why));
        }
        if !self.blind.is_empty() {
            // Unknown is never fine: wait, saying why, until the data returns or
            // the timeout ends the watch as unknown.
            self.stage = "cannot verify";
            self.progress = format!(
                "{}; cannot verify: {}",
                if self.completed_at.is_some() {
                    "completed"
                } else {
                    rollout.label()
                },
                self.blind.join("; ")
            );
            if elapsed >= self.policy.timeout {
                return self.end(Step::Unknown(format!(
                    "could not verify within {}: {}",
                    humantime::format_duration(self.policy.timeout),
                    self.blind.join("; ")
                )));
            }
            return Step::Continue;
        }
        // Success: completed, then stable for the window.
        if let Some(done) = self.completed_at {
            let stable_from = if self.health_configured {
                self.healthy_since.map(|h| h.max(done))
            } else {
                Some(done)
            };
            let window = self.policy.stability_window;
            match stable_from {
                Some(from) if (now - from).to_std().unwrap_or_default() >= window => {
                    return self.end(Step::Succeeded);
                }
                Some(from) => {
                    self.stage = "stabilising";
                    self.progress = format!(
                        "completed; stable for {}s of {}s",
                        (now - from).num_seconds(),
                        window.as_secs()
                    );
                }
                None => {
                    self.stage = "waiting for health";
                    self.progress = "completed; waiting for the health endpoint".to_string();
                }
            }
        }
        if elapsed >= self.policy.timeout {
            let never = if to.is_none() {
                format!(
                    ": the platform never reported a revision for {}",
                    self.followed()
                )
            } else {
                String::new()
            };
            return self.end(Step::Abort(format!(
                "not stable within {}{never}",
                humantime::format_duration(self.policy.timeout)
            )));
        }
        Step::Continue
    }

    /// Takes in a stepped rollout's shift: a new step (or a pause) is logged
    /// and recorded, and restarts the timeout, which never runs out while a
    /// step waits for a person.
    fn take_shift(&mut self, sh: &crate::model::Shift, now: DateTime<Utc>) {
        let key = (sh.step, sh.pause.is_some());
        if self.shift_key != Some(key) {
            if sh.step > 0 {
                self.new_steps.push(if sh.pause.is_some() {
                    format!("{} {PAUSED}", sh.step_label())
                } else {
                    format!("traffic at {}", sh.step_label())
                });
            }
            self.shift_key = Some(key);
            self.clock_from = now;
        }
        if sh.pause.is_some() {
            self.clock_from = now;
        }
        self.shift = Some(sh.clone());
    }

    /// Carries the change record, approvers, reasons and hotfix mark of `base` onto this watch's records.
    pub fn carry(&mut self, base: &Draft) {
        self.carried = Draft {
            change_record: base.change_record.clone(),
            approvers: base.approvers.clone(),
            hotfix: base.hotfix,
            policy: base.policy.clone(),
            ..Draft::default()
        };
    }

    /// Without any reading: ends the watch once it is past its timeout by
    /// [`SILENT_GRACE`] (a reading would have ended it at the timeout itself).
    pub fn silent(&mut self, now: DateTime<Utc>) -> Step {
        if self.is_over() || !self.issued {
            return Step::Continue;
        }
        let elapsed = (now - self.clock_from).to_std().unwrap_or_default();
        if elapsed < self.policy.timeout + SILENT_GRACE {
            return Step::Continue;
        }
        self.end(Step::Abort(format!(
            "not stable within {}: the environment stopped answering",
            humantime::format_duration(self.policy.timeout)
        )))
    }

    /// The ledger draft of this watch's records.
    pub fn draft(&self, operator: &str) -> Draft {
        Draft {
            change_record: self.carried.change_record.clone(),
            approvers: self.carried.approvers.clone(),
            hotfix: self.carried.hotfix,
            policy: self.carried.policy.clone(),
            operator: operator.to_string(),
            env: Some(self.env_name.clone()),
            service: Some(self.service.clone()),
            promotion: Some(self.promotion.clone()),
            from_digest: self.from_digest.as_ref().map(ToString::to_string),
            to_digest: self.to_digest.as_ref().map(ToString::to_string),
            from_revision: self.from.as_ref().map(ToString::to_string),
            to_revision: self.to.as_ref().map(ToString::to_string),
            change: self.change.clone(),
            duration_ms: None,
            ..Draft::default()
        }
    }
}
