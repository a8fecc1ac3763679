//! Promotions and rollbacks, shared by the console and the scriptable twins
//! (`shipdeck promote`, `shipdeck rollback`).
//!
//! Pure parts: [`Plan`] (what a promotion would change), [`gate_for`] (the gate
//! input assembled from readings), [`rollback_target`] and [`Watch`] (the deploy
//! watch and its abort criteria). Effects live in [`exec::Executor`].

pub mod exec;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, MetricRole, RolloutPolicy, ServiceConfig};
use crate::gate::{self, GateInput, GateResult};
use crate::health::SmokeResult;
use crate::ledger::{Draft, GateEntry, Record, RecordKind};
use crate::model::{
    AlarmState, Digest, Health, ImageRef, RolloutState, ServiceSnapshot, TaskDefRef,
};

/// How long past its timeout a watch without readings waits before it gives up.
pub const SILENT_GRACE: Duration = Duration::from_secs(30);
/// Health failing this long during a watch aborts it (single failed probes do not).
pub const HEALTH_ABORT_AFTER: Duration = Duration::from_secs(15);

/// What a promotion of one service from `source` into `target` would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// shipdeck service name.
    pub service: String,
    /// Source environment index (promotion order).
    pub source: usize,
    /// Source environment name.
    pub source_name: String,
    /// Target environment index.
    pub target: usize,
    /// Target environment name.
    pub target_name: String,
    /// ECS service in the target.
    pub ecs_service: String,
    /// Container whose image changes.
    pub container: String,
    /// Digest to promote (`None`: the source is unpinned).
    pub digest: Option<Digest>,
    /// Revision the source runs.
    pub source_revision: Option<TaskDefRef>,
    /// Revision the target runs now (the copy's base and the rollback target).
    pub target_revision: Option<TaskDefRef>,
    /// Digest the target runs now.
    pub target_digest: Option<Digest>,
    /// Image the target runs now.
    pub target_image: Option<ImageRef>,
    /// A stage is skipped (needs a reason and one more approval).
    pub hotfix: bool,
}

/// Why a promotion cannot even be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Index of an environment by name, with a clear error.
pub fn env_index(cfg: &Config, name: &str) -> Result<usize, PlanError> {
    cfg.environments
        .iter()
        .position(|e| e.name == name)
        .ok_or_else(|| {
            PlanError(format!(
                "no environment \"{name}\" in the configuration (have: {})",
                cfg.environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The service's configuration in environment `env`.
pub fn service_config<'a>(cfg: &'a Config, env: usize, service: &str) -> Option<&'a ServiceConfig> {
    cfg.environments
        .get(env)?
        .services
        .iter()
        .find(|s| s.name == service)
}

/// Plans promoting `service` into environment `target` from `source`
/// (normally the stage before it; an earlier stage makes it a hotfix).
pub fn plan(
    cfg: &Config,
    service: &str,
    source: usize,
    target: usize,
    source_snap: Option<&ServiceSnapshot>,
    target_snap: Option<&ServiceSnapshot>,
) -> Result<Plan, PlanError> {
    let name = |i: usize| {
        cfg.environments
            .get(i)
            .map_or_else(|| format!("#{i}"), |e| e.name.clone())
    };
    if target == 0 {
        return Err(PlanError(format!(
            "\"{}\" is the first stage: nothing promotes into it",
            name(target)
        )));
    }
    if source >= target {
        return Err(PlanError(format!(
            "promotions go forward: \"{}\" comes after \"{}\" in the chain",
            name(source),
            name(target)
        )));
    }
    let Some(target_cfg) = service_config(cfg, target, service) else {
        return Err(PlanError(format!(
            "service \"{service}\" is not configured in \"{}\"",
            name(target)
        )));
    };
    if service_config(cfg, source, service).is_none() {
        return Err(PlanError(format!(
            "service \"{service}\" is not configured in \"{}\"",
            name(source)
        )));
    }
    let Some(src) = source_snap else {
        return Err(PlanError(format!(
            "no reading of {service} in \"{}\" yet; wait for it or check the environment",
            name(source)
        )));
    };
    if let (Some(d), Some(t)) = (&src.digest, target_snap.and_then(|t| t.digest.as_ref()))
        && d == t
    {
        return Err(PlanError(format!(
            "\"{}\" already runs {} ({}); nothing to promote",
            name(target),
            d.short(),
            service
        )));
    }
    Ok(Plan {
        service: service.to_string(),
        source,
        source_name: name(source),
        target,
        target_name: name(target),
        ecs_service: target_cfg.ecs_service.clone(),
        container: target_cfg.container.clone(),
        digest: src.digest.clone(),
        source_revision: src.task_definition.clone(),
        target_revision: target_snap.and_then(|t| t.task_definition.clone()),
        target_digest: target_snap.and_then(|t| t.digest.clone()),
        target_image: target_snap.and_then(|t| t.image.clone()),
        hotfix: source + 1 != target,
    })
}

impl Plan {
    /// The image the new revision will run: the target's repository at the digest.
    pub fn new_image(&self) -> String {
        match (&self.target_image, &self.digest) {
            (Some(img), Some(d)) => img.pinned_to(d).to_string(),
            (None, Some(d)) => format!("<repository>@{d}"),
            (_, None) => "(source unpinned: no digest)".to_string(),
        }
    }

    /// The task-definition change, line by line: only the image may differ.
    pub fn diff(&self) -> Vec<String> {
        let base = self
            .target_revision
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), ToString::to_string);
        let next = self.target_revision.as_ref().map_or_else(
            || "a new revision".to_string(),
            |r| format!("{}:<next>", r.family),
        );
        let old = self
            .target_image
            .as_ref()
            .map_or_else(|| "(unknown)".to_string(), ToString::to_string);
        let new = self.new_image();
        vec![
            format!("task definition {base} → {next} (a copy of {base})"),
            format!("container \"{}\" image:", self.container),
            format!("- {old}"),
            format!("+ {new}"),
            "everything else unchanged".to_string(),
        ]
    }

    /// The record that asks for approvals (`PromotionStarted`), with the policy hash
    /// that voids approvals given under another policy.
    pub fn request_draft(&self, operator: &str, promotion: &str, policy_hash: &str) -> Draft {
        Draft {
            policy: Some(policy_hash.to_string()),
            ..self.draft(operator, promotion)
        }
    }

    /// What confirming a GO gate writes, in order, before the deploy:
    /// `PromotionStarted` (unless approvals were requested already), `GateEvaluated`,
    /// one `Override` per overridden check. Also returns the draft the deploy's
    /// own records start from (change record, approvers, hotfix reason).
    #[allow(clippy::too_many_arguments)]
    pub fn confirmation_records(
        &self,
        gate: &GateResult,
        answers: &Answers,
        approvers: &[String],
        operator: &str,
        promotion: &str,
        policy_hash: &str,
        requested: bool,
    ) -> (Draft, Vec<(RecordKind, Draft)>) {
        let mut base = self.request_draft(operator, promotion, policy_hash);
        base.change_record =
            Some(answers.change_record.trim().to_string()).filter(|c| !c.is_empty());
        base.approvers = approvers.to_vec();
        if self.hotfix {
            base.reasons.push(format!(
                "hotfix from {}: {}",
                self.source_name,
                answers.hotfix_reason.trim()
            ));
        }
        let mut out = Vec::new();
        if !requested {
            out.push((RecordKind::PromotionStarted, base.clone()));
        }
        let mut evaluated = base.clone();
        evaluated.gate = gate_entries(gate);
        evaluated.outcome = Some("go".to_string());
        out.push((RecordKind::GateEvaluated, evaluated));
        for c in gate.checks.iter().filter(|c| c.overridden) {
            let mut d = base.clone();
            d.reasons = vec![format!("{}: {}", c.name, c.reason)];
            out.push((RecordKind::Override, d));
        }
        (base, out)
    }

    /// The ledger draft every record of this promotion starts from.
    pub fn draft(&self, operator: &str, promotion: &str) -> Draft {
        Draft {
            operator: operator.to_string(),
            env: Some(self.target_name.clone()),
            service: Some(self.service.clone()),
            promotion: Some(promotion.to_string()),
            from_digest: self.target_digest.as_ref().map(ToString::to_string),
            to_digest: self.digest.as_ref().map(ToString::to_string),
            from_revision: self.target_revision.as_ref().map(ToString::to_string),
            hotfix: self.hotfix,
            ..Draft::default()
        }
    }
}

/// Whether a health reading has been good for `window` (`None`: nothing to tell).
pub fn healthy_stable(h: &Health, window: Duration) -> Option<bool> {
    match h {
        Health::Healthy { healthy_for, .. } => Some(*healthy_for >= window),
        Health::Unhealthy { .. } => Some(false),
        Health::Unknown | Health::NotConfigured => None,
    }
}

/// How long `digest` has run in a service: since its deployment began, once completed.
pub fn soaked_for(s: &ServiceSnapshot, digest: &Digest, now: DateTime<Utc>) -> Option<Duration> {
    if s.digest.as_ref() != Some(digest) {
        return None;
    }
    let primary = s
        .deployments
        .iter()
        .find(|d| d.role == crate::model::DeploymentRole::Primary)?;
    match primary.rollout {
        RolloutState::Completed => Some((now - primary.created_at).to_std().unwrap_or_default()),
        RolloutState::InProgress => Some(Duration::ZERO),
        _ => None,
    }
}

/// What the operator filled in the wizard (or on the command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Checklist items ticked, by index.
    pub ticked: Vec<bool>,
    /// Change-record id.
    pub change_record: String,
    /// Hotfix reason.
    pub hotfix_reason: String,
    /// Break-glass overrides: check name and reason.
    pub overrides: Vec<(String, String)>,
}

/// Readings a gate looks at, besides the plan.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The service in the source.
    pub source: Option<&'a ServiceSnapshot>,
    /// Source reading current.
    pub source_fresh: bool,
    /// Target reading current.
    pub target_fresh: bool,
    /// Other sources the gate reads that are not current ([`stale_sources`]).
    pub stale: Vec<String>,
    /// Smoke results of the source, if run.
    pub smoke: Option<&'a [SmokeResult]>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who holds the target's lock, if anyone.
    pub in_flight: Option<String>,
    /// Distinct valid approvers.
    pub approvers: &'a [String],
    /// Who runs the promotion.
    pub initiator: &'a str,
}

/// Evaluates the target's gate for `plan`.
pub fn gate_for(cfg: &Config, plan: &Plan, obs: &Observed<'_>, answers: &Answers) -> GateResult {
    let Some(target) = cfg.environments.get(plan.target) else {
        return GateResult {
            checks: Vec::new(),
            go: false,
        };
    };
    let source_env = cfg.environments.get(plan.source);
    let window = service_config(cfg, plan.source, &plan.service)
        .and_then(|s| s.health.as_ref())
        .map_or(crate::config::DEFAULT_STABILITY_WINDOW, |h| {
            h.stability_window
        });
    let change = answers.change_record.trim();
    let reason = answers.hotfix_reason.trim();
    gate::evaluate(&GateInput {
        policy: &target.gate,
        source: obs.source,
        source_fresh: obs.source_fresh,
        target_fresh: obs.target_fresh,
        stale: &obs.stale,
        digest: plan.digest.as_ref(),
        source_healthy_stable: obs.source.and_then(|s| healthy_stable(&s.health, window)),
        smoke: obs.smoke,
        smoke_configured: source_env.is_some_and(|e| !e.smoke.is_empty()),
        soaked_for: match (obs.source, plan.digest.as_ref()) {
            (Some(s), Some(d)) => soaked_for(s, d, obs.now),
            _ => None,
        },
        now: obs.now,
        in_flight: obs.in_flight.clone(),
        ticked: &answers.ticked,
        approvers: obs.approvers,
        initiator: obs.initiator,
        change_record: (!change.is_empty()).then_some(change),
        hotfix_reason: (!reason.is_empty()).then_some(reason),
        hotfix: plan.hotfix,
        overrides: &answers.overrides,
    })
}

/// The sources of the promotion's source environment that a gate reads and
/// that are not current, as reasons (`alarms of staging: …`).
pub fn stale_sources(env: &str, sources: &crate::model::Sources) -> Vec<String> {
    sources
        .alarms
        .error()
        .map(|e| format!("alarms of {env} unreadable: {e}"))
        .into_iter()
        .collect()
}

/// Gate checks as ledger entries.
pub fn gate_entries(result: &GateResult) -> Vec<GateEntry> {
    result
        .checks
        .iter()
        .map(|c| GateEntry {
            check: c.name.clone(),
            verdict: if c.overridden {
                "overridden".to_string()
            } else {
                format!("{:?}", c.verdict).to_lowercase()
            },
            reason: c.reason.clone(),
        })
        .collect()
}

/// Where a rollback would go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    /// The revision.
    pub revision: TaskDefRef,
    /// Its digest, if known.
    pub digest: Option<Digest>,
    /// From shipdeck's stable records (true) or only the newest older ACTIVE revision.
    pub verified: bool,
    /// When it was marked stable.
    pub stable_at: Option<DateTime<Utc>>,
}

/// The rollback target of a service: the previous stable revision from the
/// records, else the newest older revision that is still ACTIVE (unverified).
pub fn rollback_target(
    records: &[Record],
    env: &str,
    snap: &ServiceSnapshot,
) -> Result<RollbackTarget, PlanError> {
    let Some(current) = &snap.task_definition else {
        return Err(PlanError(format!(
            "the revision {} runs in \"{env}\" is unknown; nothing to roll back from",
            snap.name
        )));
    };
    let find = |rev: u32| {
        snap.history.iter().find(|h| {
            h.task_definition.family == current.family && h.task_definition.revision == rev
        })
    };
    if let Some(s) = crate::stable::previous_stable(records, env, &snap.name, &current.to_string())
        && let Some((family, rev)) = s.revision.rsplit_once(':')
        && let Ok(rev) = rev.parse::<u32>()
    {
        let known = find(rev);
        if known.is_none_or(|h| h.active) {
            return Ok(RollbackTarget {
                revision: known.map_or_else(
                    || TaskDefRef {
                        family: family.to_string(),
                        revision: rev,
                        arn: s.revision.clone(),
                    },
                    |h| h.task_definition.clone(),
                ),
                digest: Digest::parse(&s.digest).ok(),
                verified: true,
                stable_at: Some(s.at),
            });
        }
    }
    snap.history
        .iter()
        .filter(|h| {
            h.active
                && h.task_definition.family == current.family
                && h.task_definition.revision < current.revision
        })
        .max_by_key(|h| h.task_definition.revision)
        .map(|h| RollbackTarget {
            revision: h.task_definition.clone(),
            digest: h.digest.clone(),
            verified: false,
            stable_at: None,
        })
        .ok_or_else(|| {
            PlanError(format!(
                "no known stable revision of {} in \"{env}\" and no older ACTIVE revision than {current}: nothing to roll back to",
                snap.name
            ))
        })
}

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
    /// Over, unsuccessfully, and nothing more to do (e.g. ECS rolled back by itself).
    Failed(String),
    /// An abort criterion hit: roll back (or ask).
    Abort(String),
    /// The timeout passed while a watched source could not be read: the outcome
    /// is unknown. Never a success, never marked stable; nothing is rolled back
    /// on a guess.
    Unknown(String),
}

/// A deploy or rollback being watched until it succeeds or an abort criterion hits.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Deploy or rollback.
    pub kind: OpKind,
    /// Rollback started automatically after an abort.
    pub automatic: bool,
    /// Environment index.
    pub env: usize,
    /// Environment name.
    pub env_name: String,
    /// shipdeck service name.
    pub service: String,
    /// Promotion id (records group by it).
    pub promotion: String,
    /// Revision before.
    pub from: Option<TaskDefRef>,
    /// Digest before.
    pub from_digest: Option<Digest>,
    /// Revision it converges to (known once issued).
    pub to: Option<TaskDefRef>,
    /// Digest it converges to.
    pub to_digest: Option<Digest>,
    /// Provider deployment id.
    pub deployment_id: Option<String>,
    /// When the command was issued.
    pub issued_at: DateTime<Utc>,
    /// Abort criteria.
    pub policy: RolloutPolicy,
    /// Alarms already in ALARM before (reported, not an abort reason).
    pub firing_before: Vec<String>,
    /// Every alarm watched before: one that disappears (deleted, renamed)
    /// makes the watch blind, even when a prefix still matches others.
    pub alarms_before: Vec<String>,
    /// Label of the error-rate metric and its baseline.
    pub error_rate: Option<(String, f64)>,
    /// Label of the error-rate metric, baseline or not.
    pub error_label: Option<String>,
    /// Label of the p95 latency metric.
    pub latency_label: Option<String>,
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
    /// Change record, approvers and hotfix mark, carried onto every record.
    pub carried: Draft,
}

fn mean(points: &[f64]) -> Option<f64> {
    let finite: Vec<f64> = points.iter().copied().filter(|p| p.is_finite()).collect();
    #[allow(clippy::cast_precision_loss)] // a handful of datapoints
    (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64)
}

fn series<'a>(s: &'a ServiceSnapshot, label: &str) -> Option<&'a [f64]> {
    s.metrics
        .iter()
        .find(|m| m.label == label)
        .map(|m| m.points.as_slice())
}

impl Watch {
    /// Starts watching `kind` of `service` in environment `env`; `before` is the
    /// service's reading when the command was confirmed (baselines come from it).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &Config,
        kind: OpKind,
        env: usize,
        service: &str,
        promotion: &str,
        before: Option<&ServiceSnapshot>,
        to_digest: Option<Digest>,
        now: DateTime<Utc>,
    ) -> Self {
        let env_cfg = cfg.environments.get(env);
        let svc = service_config(cfg, env, service);
        let role_label = |role: MetricRole| {
            svc.and_then(|s| s.metrics.iter().find(|m| m.role == role))
                .map(|m| m.label.clone())
        };
        let error_label = role_label(MetricRole::ErrorRate);
        let error_rate = error_label.clone().and_then(|label| {
            let base = before.and_then(|b| series(b, &label)).and_then(mean)?;
            Some((label, base))
        });
        Self {
            kind,
            automatic: false,
            env,
            env_name: env_cfg.map_or_else(String::new, |e| e.name.clone()),
            service: service.to_string(),
            promotion: promotion.to_string(),
            from: before.and_then(|b| b.task_definition.clone()),
            from_digest: before.and_then(|b| b.digest.clone()),
            to: None,
            to_digest,
            deployment_id: None,
            issued_at: now,
            policy: env_cfg.map_or_else(RolloutPolicy::defaults, |e| e.rollout.clone()),
            firing_before: before
                .map(|b| {
                    b.alarms
                        .iter()
                        .filter(|a| a.state == AlarmState::Alarm)
                        .map(|a| a.name.clone())
                        .collect()
                })
                .unwrap_or_default(),
            alarms_before: before
                .map(|b| b.alarms.iter().map(|a| a.name.clone()).collect())
                .unwrap_or_default(),
            error_rate,
            error_label,
            latency_label: role_label(MetricRole::LatencyP95),
            health_configured: svc.is_some_and(|s| s.health.is_some()),
            alarms_configured: svc
                .is_some_and(|s| !s.alarms.is_empty() || !s.alarm_prefixes.is_empty()),
            allow_no_data: env_cfg.is_some_and(|e| e.gate.allow_insufficient_data),
            blind: Vec::new(),
            completed_at: None,
            healthy_since: None,
            unhealthy_since: None,
            progress: "issuing…".to_string(),
            stage: "issuing",
            outcome: None,
            carried: Draft::default(),
        }
    }

    /// The command was accepted: watch for this revision and deployment.
    pub fn started(&mut self, to: TaskDefRef, deployment_id: Option<String>) {
        self.progress = format!("rolling out {to}");
        self.stage = "issued";
        self.to = Some(to);
        self.deployment_id = deployment_id;
    }

    /// Whether the watch is over.
    pub fn is_over(&self) -> bool {
        self.outcome.is_some()
    }

    fn end(&mut self, step: Step) -> Step {
        self.outcome = Some(step.clone());
        step
    }

    /// Looks at one reading of the service; returns what it means.
    pub fn observe(&mut self, s: &ServiceSnapshot, now: DateTime<Utc>) -> Step {
        if self.is_over() {
            return Step::Continue;
        }
        let Some(to) = self.to.clone() else {
            return Step::Continue;
        };
        let elapsed = (now - self.issued_at).to_std().unwrap_or_default();
        let deployment = s
            .deployments
            .iter()
            .find(|d| self.deployment_id.as_deref() == Some(d.id.as_str()))
            .or_else(|| {
                s.deployments.iter().find(|d| {
                    d.role == crate::model::DeploymentRole::Primary
                        && d.task_definition.same_revision(&to)
                })
            });
        let rollout = match deployment {
            Some(d) => {
                self.stage = d.rollout.label();
                self.progress = format!(
                    "{}: {} of {} running{}",
                    d.rollout.label(),
                    d.running,
                    d.desired,
                    d.reason
                        .as_deref()
                        .map(|r| format!(" · {r}"))
                        .unwrap_or_default()
                );
                match d.rollout {
                    RolloutState::Failed => {
                        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
                        return self.end(Step::Abort(format!("rollout failed: {why}")));
                    }
                    RolloutState::RolledBack => {
                        let why = d.reason.clone().unwrap_or_else(|| "no reason given".into());
                        return self.end(Step::Failed(format!(
                            "ECS rolled the deployment back by itself (circuit breaker): {why}"
                        )));
                    }
                    r => r,
                }
            }
            // The deployment left ECS's list: done if the service is on our revision.
            None if s
                .task_definition
                .as_ref()
                .is_some_and(|t| t.same_revision(&to))
                && s.running >= s.desired =>
            {
                RolloutState::Completed
            }
            None if s
                .task_definition
                .as_ref()
                .is_some_and(|t| !t.same_revision(&to)) =>
            {
                return self.end(Step::Failed(format!(
                    "the service moved to {} while watching (another deploy?)",
                    s.task_definition
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string)
                )));
            }
            None => RolloutState::InProgress,
        };
        if rollout == RolloutState::Completed && self.completed_at.is_none() {
            self.completed_at = Some(now);
        }
        self.blind = self.blind_spots(s);
        // Alarms that fire now and did not before the deploy.
        let firing: Vec<&str> = s
            .alarms
            .iter()
            .filter(|a| a.state == AlarmState::Alarm && !self.firing_before.contains(&a.name))
            .map(|a| a.name.as_str())
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
        // Error rate against its baseline, over the configured window (1 point a minute).
        if let (Some(max), Some((label, base))) =
            (self.policy.max_error_rate_increase, self.error_rate.clone())
            && let Some(points) = series(s, &label)
        {
            let n = usize::try_from(self.policy.error_rate_window.as_secs() / 60)
                .unwrap_or(1)
                .max(1);
            let recent = &points[points.len().saturating_sub(n)..];
            if let Some(now_rate) = mean(recent) {
                let increase = (now_rate - base) / base.max(1e-9);
                if base > 0.0 && increase > max {
                    return self.end(Step::Abort(format!(
                        "{label} rose {:.0} % over its baseline ({base:.2} → {now_rate:.2}; limit {:.0} %)",
                        increase * 100.0,
                        max * 100.0
                    )));
                }
            }
        }
        if let (Some(slo), Some(label)) = (self.policy.p95_latency_slo, self.latency_label.clone())
            && let Some(last) = series(s, &label).and_then(|p| p.last().copied())
        {
            #[allow(clippy::cast_precision_loss)]
            let slo_ms = slo.as_millis() as f64;
            if last.is_finite() && last > slo_ms {
                return self.end(Step::Abort(format!(
                    "{label} is {last:.0} ms, over the {slo_ms:.0} ms SLO"
                )));
            }
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
            return self.end(Step::Abort(format!(
                "not stable within {}",
                humantime::format_duration(self.policy.timeout)
            )));
        }
        Step::Continue
    }

    /// What this reading of the service cannot tell that the watch needs.
    fn blind_spots(&self, s: &ServiceSnapshot) -> Vec<String> {
        let mut out = Vec::new();
        if self.alarms_configured && self.policy.abort_on_alarm {
            if let Some(why) = &s.alarms_unknown {
                out.push(why.clone());
            } else {
                out.extend(
                    self.alarms_before
                        .iter()
                        .filter(|n| !s.alarms.iter().any(|a| a.name == **n))
                        .map(|n| format!("alarm \"{n}\" is no longer found in CloudWatch")),
                );
            }
            let no_data: Vec<&str> = s
                .alarms
                .iter()
                .filter(|a| a.state == AlarmState::InsufficientData)
                .map(|a| a.name.as_str())
                .collect();
            if !no_data.is_empty() && !self.allow_no_data {
                out.push(format!(
                    "INSUFFICIENT_DATA (unknown, not OK): {}",
                    no_data.join(", ")
                ));
            }
        }
        if self.health_configured && s.health == Health::Unknown {
            out.push("health not known".to_string());
        }
        let rules = [
            self.policy
                .max_error_rate_increase
                .and(self.error_label.as_deref()),
            self.policy
                .p95_latency_slo
                .and(self.latency_label.as_deref()),
        ];
        for label in rules.into_iter().flatten() {
            match s.metrics.iter().find(|m| m.label == label) {
                Some(m) if m.error.is_some() => out.push(format!(
                    "metric \"{label}\" unreadable: {}",
                    m.error.as_deref().unwrap_or_default()
                )),
                Some(m) if m.points.iter().any(|p| p.is_finite()) => {}
                _ => out.push(format!("metric \"{label}\" has no datapoints")),
            }
        }
        out
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
        if self.is_over() || self.to.is_none() {
            return Step::Continue;
        }
        let elapsed = (now - self.issued_at).to_std().unwrap_or_default();
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
            duration_ms: None,
            ..Draft::default()
        }
    }
}

/// A confirmed rollback of `service` in environment `env` to `target`: the watch
/// (with `before` as its baseline) and the `RollbackIssued` draft.
#[allow(clippy::too_many_arguments)]
pub fn rollback_start(
    cfg: &Config,
    env: usize,
    service: &str,
    promotion: &str,
    before: Option<&ServiceSnapshot>,
    target: &RollbackTarget,
    operator: &str,
    now: DateTime<Utc>,
) -> (Watch, Draft) {
    let watch = Watch::new(
        cfg,
        OpKind::Rollback,
        env,
        service,
        promotion,
        before,
        target.digest.clone(),
        now,
    );
    let mut draft = watch.draft(operator);
    draft.to_revision = Some(target.revision.to_string());
    draft.reasons.push(if target.verified {
        "rollback to the previous stable revision".to_string()
    } else {
        "rollback to the newest older ACTIVE revision (unverified: no stable record)".to_string()
    });
    (watch, draft)
}

/// The ledger records that close a watch with `step` (plus the stable mark on success).
pub fn closing_records(
    w: &Watch,
    step: &Step,
    operator: &str,
    now: DateTime<Utc>,
) -> Vec<(RecordKind, Draft)> {
    let mut d = w.draft(operator);
    d.duration_ms = u64::try_from((now - w.issued_at).num_milliseconds()).ok();
    let deploy = w.kind == OpKind::Deploy;
    match step {
        Step::Continue => Vec::new(),
        Step::Succeeded => {
            d.outcome = Some("succeeded".to_string());
            let mut out = vec![(
                if deploy {
                    RecordKind::DeploySucceeded
                } else {
                    RecordKind::RollbackSucceeded
                },
                d.clone(),
            )];
            if d.to_revision.is_some() && d.to_digest.is_some() {
                out.push((
                    RecordKind::RevisionMarkedStable,
                    Draft {
                        operator: d.operator.clone(),
                        env: d.env.clone(),
                        service: d.service.clone(),
                        promotion: d.promotion.clone(),
                        to_revision: d.to_revision.clone(),
                        to_digest: d.to_digest.clone(),
                        ..Draft::default()
                    },
                ));
            }
            out
        }
        Step::Unknown(why) => {
            d.outcome = Some("unknown".to_string());
            d.reasons.push(why.clone());
            let kind = if deploy {
                RecordKind::DeployUnverified
            } else {
                RecordKind::RollbackUnverified
            };
            vec![(kind, d)]
        }
        Step::Failed(why) | Step::Abort(why) => {
            let aborted = deploy && matches!(step, Step::Abort(_));
            d.outcome = Some(if aborted { "aborted" } else { "failed" }.to_string());
            d.reasons.push(why.clone());
            let kind = match (deploy, aborted) {
                (true, true) => RecordKind::Aborted,
                (true, false) => RecordKind::DeployFailed,
                (false, _) => RecordKind::RollbackFailed,
            };
            vec![(kind, d)]
        }
    }
}

impl Watch {
    /// After an aborted deploy: the watch of the rollback to the revision that ran
    /// before, the revision, and its `RollbackIssued` draft. `None` when that
    /// revision is unknown.
    pub fn rollback_after_abort(
        &self,
        operator: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Option<(Self, TaskDefRef, Draft)> {
        let from = self.from.clone()?;
        let mut rb = self.clone();
        rb.kind = OpKind::Rollback;
        rb.automatic = true;
        rb.from.clone_from(&self.to);
        rb.from_digest.clone_from(&self.to_digest);
        rb.to = None;
        rb.to_digest.clone_from(&self.from_digest);
        rb.deployment_id = None;
        rb.issued_at = now;
        rb.completed_at = None;
        rb.healthy_since = None;
        rb.unhealthy_since = None;
        rb.outcome = None;
        // Alarms that fired during the bad deploy must not abort the way back.
        rb.firing_before = Vec::new();
        rb.policy.abort_on_alarm = false;
        rb.error_rate = None;
        rb.error_label = None;
        rb.blind = Vec::new();
        rb.progress = "issuing rollback…".to_string();
        rb.stage = "issuing";
        let mut draft = rb.draft(operator);
        draft.to_revision = Some(from.to_string());
        draft
            .reasons
            .push(format!("automatic rollback after abort: {why}"));
        Some((rb, from, draft))
    }
}

#[cfg(test)]
mod tests;
