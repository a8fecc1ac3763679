//! Simulated canary and linear rollouts: the new revision's tasks start beside
//! the old ones, then the traffic moves to them in steps (each held for its
//! interval, or paused for a person when the environment's policy says so),
//! the last step bakes, and only then do the old tasks drain. A rollback
//! during the shift sends all traffic back to the old tasks at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::service::{METRIC_POINTS, SimDeployment, SimService, chrono_dur};
use crate::config::{MetricRole, MetricSource, ServiceConfig};
use crate::model::shift::{RevisionSeries, planned_weights};
use crate::model::strategy::percent;
use crate::model::{Decision, DeploymentRole, Pause, RolloutState, Shift, Strategy};

/// Where a simulated stepped rollout stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimShift {
    kind: String,
    weights: Vec<u32>,
    /// 1-based; 0 while the new tasks start.
    step: u32,
    started: Vec<DateTime<Utc>>,
    interval: Duration,
    bake: Duration,
    /// Hold every step but the last for a decision.
    pause: bool,
    /// The pause waiting now.
    hook: Option<String>,
    baking_since: Option<DateTime<Utc>>,
}

impl SimShift {
    /// The shift `strategy` makes, if it steps.
    pub(super) fn plan(strategy: &Strategy, pause: bool) -> Option<Self> {
        let (kind, interval, bake) = match strategy {
            Strategy::Canary {
                canary_bake, bake, ..
            } => ("canary", *canary_bake, *bake),
            Strategy::Linear { interval, bake, .. } => ("linear", *interval, *bake),
            // Blue/green behind an ALB's weights: all at once, then the bake
            // with blue warm (a rollback switches the weights back).
            Strategy::BlueGreen { bake } => ("blue/green", Duration::ZERO, *bake),
            _ => return None,
        };
        let weights = planned_weights(strategy).unwrap_or_else(|| vec![crate::model::shift::ALL]);
        Some(Self {
            kind: kind.to_string(),
            weights,
            step: 0,
            started: Vec::new(),
            interval,
            bake,
            pause,
            hook: None,
            baking_since: None,
        })
    }

    fn steps(&self) -> u32 {
        u32::try_from(self.weights.len()).unwrap_or(u32::MAX)
    }

    fn weight(&self) -> u32 {
        self.step
            .checked_sub(1)
            .and_then(|i| self.weights.get(i as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Moves to the next step at `now`: pauses there when the policy says so
    /// (the last step never pauses: it bakes).
    fn next(&mut self, id: &str, now: DateTime<Utc>) -> String {
        self.step += 1;
        self.started.push(now);
        if self.step >= self.steps() {
            self.baking_since = Some(now);
        } else if self.pause {
            self.hook = Some(format!(
                "hook-{}-{}",
                id.rsplit('/').next().unwrap_or(id),
                self.step
            ));
        }
        format!(
            "shifted {} of production traffic to the new revision (step {} of {})",
            percent(self.weight()),
            self.step,
            self.steps()
        )
    }

    /// One simulated second: `ready` once every new task runs. Returns an
    /// event to tell, and whether the shift is over (the old tasks may drain).
    fn advance(&mut self, id: &str, ready: bool, now: DateTime<Utc>) -> (Option<String>, bool) {
        if self.step == 0 {
            return (ready.then(|| self.next(id, now)), false);
        }
        if self.hook.is_some() {
            return (None, false);
        }
        if self.step < self.steps() {
            let since = self.started.last().copied().unwrap_or(now);
            if now - since >= chrono_dur(self.interval) {
                return (Some(self.next(id, now)), false);
            }
            return (None, false);
        }
        let since = *self.baking_since.get_or_insert(now);
        (None, now - since >= chrono_dur(self.bake))
    }

    /// How a reading shows it.
    pub(super) fn view(&self, deployment: &str) -> Shift {
        let (stage, ends_at) = match (self.step, self.baking_since) {
            (0, _) => ("SCALE_UP", None),
            (_, Some(b)) => ("BAKE_TIME", Some(b + chrono_dur(self.bake))),
            _ if self.hook.is_some() => ("PRODUCTION_TRAFFIC_SHIFT", None),
            _ => (
                "PRODUCTION_TRAFFIC_SHIFT",
                self.started.last().map(|s| *s + chrono_dur(self.interval)),
            ),
        };
        Shift {
            kind: self.kind.clone(),
            deployment: deployment.to_string(),
            new_weight: self.weight(),
            weights: self.weights.clone(),
            step: self.step,
            started: self.started.clone(),
            stage: stage.to_string(),
            ends_at,
            pause: self.hook.as_ref().map(|h| Pause {
                hook: h.clone(),
                expires_at: None,
                timeout_action: None,
            }),
            revisions: Vec::new(),
        }
    }
}

impl SimService {
    /// How a reading shows the stepped deployment `d`: its shift, with the
    /// error-rate and latency metrics read for each revision apart, as two
    /// target groups would count them. The new tasks answer with what their
    /// deploy brought (a game day's faults triggered by it); the old tasks
    /// keep what they had before it.
    pub(super) fn shift_view(
        &self,
        shift: &SimShift,
        d: &SimDeployment,
        cfg: &ServiceConfig,
        now: DateTime<Utc>,
        metrics_error: Option<&str>,
    ) -> Shift {
        let mut view = shift.view(&d.id);
        if !self
            .deployments
            .iter()
            .any(|o| o.role == DeploymentRole::Active && o.running > 0)
        {
            return view;
        }
        // The old tasks serve the bulk: the service's own numbers without
        // what the deploy brought. The new ones: noise of their own, and
        // every fault.
        let mut new = self.clone();
        new.ecs_service = format!("{}#{}", self.ecs_service, d.revision);
        let mut old = self.clone();
        old.shifts.retain(|f| f.from < d.created_at);
        // Points before the deploy's minute: the new revision did not run.
        let minutes = now.timestamp().div_euclid(60) - d.created_at.timestamp().div_euclid(60);
        let first = usize::try_from(METRIC_POINTS - 1 - minutes).unwrap_or(0);
        let finite = |p: &f64| p.is_finite().then_some(*p);
        view.revisions = cfg
            .metrics
            .iter()
            .filter(|m| {
                matches!(m.role, MetricRole::ErrorRate | MetricRole::LatencyP95)
                    && matches!(m.source, MetricSource::Stat { .. })
            })
            .map(|m| {
                if let Some(e) = metrics_error {
                    return RevisionSeries {
                        label: m.label.clone(),
                        new: Vec::new(),
                        old: Vec::new(),
                        error: Some(e.to_string()),
                    };
                }
                let (n, o) = (
                    new.metric_series(m, &cfg.metrics, now),
                    old.metric_series(m, &cfg.metrics, now),
                );
                RevisionSeries {
                    label: m.label.clone(),
                    new: n
                        .points
                        .iter()
                        .enumerate()
                        .map(|(i, p)| if i < first { None } else { finite(p) })
                        .collect(),
                    old: o.points.iter().map(finite).collect(),
                    error: n.error.or(o.error),
                }
            })
            .collect();
        view
    }
}

/// The primary deployment, moving traffic in steps now.
fn is_shifting(d: &SimDeployment) -> bool {
    d.role == DeploymentRole::Primary && d.rollout == RolloutState::InProgress && d.shift.is_some()
}

impl SimService {
    /// The stepped part of a rollout's second: returns whether old tasks may
    /// drain (always, for a rollout that does not step).
    pub(super) fn advance_shift(
        &mut self,
        primary: &mut SimDeployment,
        now: DateTime<Utc>,
    ) -> bool {
        let ready = primary.running >= primary.desired;
        let Some(shift) = primary.shift.as_mut() else {
            return true;
        };
        let (said, done) = shift.advance(&primary.id, ready, now);
        if let Some(msg) = said {
            primary.reason = Some(format!("ECS deployment in progress: {msg}."));
            primary.updated_at = now;
            let name = self.ecs_service.clone();
            self.event(now, "shift", &format!("(service {name}) {msg}."));
        }
        if done {
            for d in self
                .deployments
                .iter_mut()
                .filter(|d| d.role == DeploymentRole::Active)
            {
                d.running = 0;
            }
        }
        done
    }

    /// The stepped deployment in flight, if there is one.
    fn shifting(&mut self) -> Option<&mut SimDeployment> {
        self.deployments.iter_mut().find(|d| is_shifting(d))
    }

    /// Whether a stepped deployment is in flight and the old revision still
    /// serves the rest of the traffic (a rollback is then a switch back).
    pub(super) fn shift_in_flight(&self) -> Option<u32> {
        self.deployments
            .iter()
            .any(is_shifting)
            .then(|| {
                self.deployments
                    .iter()
                    .find(|d| d.role == DeploymentRole::Active && d.running > 0)
                    .map(|d| d.revision)
            })
            .flatten()
    }

    /// A person's decision at a pause.
    pub(super) fn decide(
        &mut self,
        decision: Decision,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let name = self.ecs_service.clone();
        let d = self
            .shifting()
            .ok_or_else(|| format!("no stepped deployment of {name} is in flight"))?;
        let id = d.id.clone();
        let shift = d.shift.as_mut().ok_or_else(|| "no shift".to_string())?;
        match decision {
            Decision::Continue => {
                if shift.hook.take().is_none() {
                    return Err(format!(
                        "step {} of {} of {name} is not paused: there is nothing to continue",
                        shift.step,
                        shift.steps()
                    ));
                }
                let msg = shift.next(&id, now);
                d.reason = Some(format!("ECS deployment in progress: {msg}."));
                d.updated_at = now;
                self.event(now, "shift", &format!("(service {name}) {msg}."));
                Ok(msg)
            }
            Decision::Rollback => self.switch_back(now, "by a decision at a pause"),
        }
    }

    /// Sends all traffic back to the old revision's tasks at once: the old
    /// deployment is primary again, the new one is rolled back.
    pub(super) fn switch_back(&mut self, now: DateTime<Utc>, why: &str) -> Result<String, String> {
        let name = self.ecs_service.clone();
        let old = self
            .shift_in_flight()
            .ok_or_else(|| format!("{name} has no old revision serving beside the new one"))?;
        let family = self.family.clone();
        let mut step = String::new();
        for d in &mut self.deployments {
            if d.role == DeploymentRole::Primary {
                if let Some(s) = &d.shift {
                    step = format!(
                        " at step {} of {} ({})",
                        s.step,
                        s.steps(),
                        percent(s.weight())
                    );
                }
                d.role = DeploymentRole::Inactive;
                d.rollout = RolloutState::RolledBack;
                d.running = 0;
                d.reason = Some(format!(
                    "rolled back{step} {why}: all traffic is back on {family}:{old}"
                ));
                d.updated_at = now;
            } else if d.role == DeploymentRole::Active && d.revision == old {
                d.role = DeploymentRole::Primary;
                d.rollout = RolloutState::Completed;
                d.running = d.desired;
                d.reason = Some("ECS deployment completed.".to_string());
                d.updated_at = now;
            }
        }
        self.current = old;
        let msg = format!("rolled back{step} {why}: 100% of the traffic is on {family}:{old}");
        self.event(now, "rollback", &format!("(service {name}) {msg}."));
        Ok(msg)
    }

    /// The deployment a switch back made primary (its id).
    pub(super) fn primary_id(&self) -> Option<String> {
        self.deployments
            .iter()
            .find(|d| d.role == DeploymentRole::Primary)
            .map(|d| d.id.clone())
    }
}

impl super::SimFleet {
    /// A decision at a paused step, as `ContinueServiceDeployment` would take it.
    pub(super) fn decide_sync(
        &self,
        env: &crate::config::EnvConfig,
        cfg: &crate::config::ServiceConfig,
        decision: Decision,
    ) -> Result<String, crate::provider::ProviderError> {
        let _lock = self.world.as_ref().map(|w| w.lock());
        let mut st = self.enter(&env.name)?;
        let now = st.time;
        let svc = st.service_mut(&env.name, crate::platforms::ecs::service_name(cfg))?;
        let said = svc
            .decide(decision, now)
            .map_err(|message| crate::provider::ProviderError::Conflict { message })?;
        self.save(&st);
        Ok(said)
    }
}
