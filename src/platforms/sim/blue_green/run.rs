//! A simulated cutover or switch back, step by step on the injected clock,
//! in the words and order of the proxy's own runbook
//! (`crate::platforms::proxy::runbook`), so the watch records the same steps.

use crate::platforms::proxy::logs::OUTPUT;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::service::chrono_dur;
use super::{DEPLOY_TAKES, SimBlueGreen};
use crate::config::proxy::{Colour, ProxyService};
use crate::model::{Deployment, DeploymentRole, Digest, RolloutState};

/// A colour's stability window when the configuration does not say.
const WINDOW: Duration = Duration::from_secs(30);
/// How long a colour may take to get ready when the configuration does not say.
const READY_TIMEOUT: Duration = Duration::from_mins(5);
/// How long the old colour is kept warm when the configuration does not say.
const KEEP_WARM: Duration = Duration::from_mins(10);

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) enum Stage {
    /// The deploy command runs until then.
    Deploying { until: DateTime<Utc> },
    /// Probing the new colour, at most until then.
    Probing { deadline: DateTime<Utc> },
    /// Switched; the old colour is kept warm and watched until then.
    KeepWarm { until: DateTime<Utc> },
    /// Nothing more to do.
    Over,
}

/// A found change made outside shipdeck since the run switched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct Outside {
    /// The colour that takes the traffic.
    pub(in crate::platforms::sim) colour: Colour,
    /// What was found, said.
    pub(in crate::platforms::sim) found: String,
}

/// One cutover or switch back of a simulated blue/green service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::platforms::sim) struct SimRun {
    pub(in crate::platforms::sim) id: String,
    pub(in crate::platforms::sim) from: Colour,
    pub(in crate::platforms::sim) to: Colour,
    pub(in crate::platforms::sim) state: RolloutState,
    pub(in crate::platforms::sim) stage: Stage,
    pub(in crate::platforms::sim) step: String,
    pub(in crate::platforms::sim) steps: Vec<String>,
    /// The proxy was switched by this run.
    pub(in crate::platforms::sim) switched: bool,
    pub(in crate::platforms::sim) reason: Option<String>,
    pub(in crate::platforms::sim) started: DateTime<Utc>,
    pub(in crate::platforms::sim) updated: DateTime<Utc>,
    pub(in crate::platforms::sim) outside: Option<Outside>,
    /// The deploy command fails (a game-day `rollout_fails`).
    pub(in crate::platforms::sim) deploy_fails: bool,
    /// The digest a cutover deploys (none: a switch back).
    digest: Option<Digest>,
    /// The proxy's kind, as the configuration names it.
    kind: String,
    window: Duration,
    ready_timeout: Duration,
    keep_warm: Duration,
    smoke: usize,
    breaks: u32,
    last_failure: Option<String>,
    /// The new colour answered at the last probe.
    #[serde(default)]
    was_answering: bool,
    /// Said since the last step, for the events (a broken window).
    #[serde(default)]
    pub(in crate::platforms::sim) said: Vec<String>,
}

impl SimRun {
    /// A cutover from `from` to `to` with `digest`, configured by `svc`.
    pub(in crate::platforms::sim) fn cutover(
        id: &str,
        from: Colour,
        to: Colour,
        digest: &Digest,
        svc: Option<&ProxyService>,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let step = format!("deploying {to} with {}", digest.short());
        Self {
            id: id.to_string(),
            from,
            to,
            state: RolloutState::InProgress,
            stage: Stage::Deploying {
                until: now + chrono_dur(DEPLOY_TAKES),
            },
            step: step.clone(),
            steps: vec![step],
            switched: false,
            reason: None,
            started: now,
            updated: now,
            outside: None,
            deploy_fails: false,
            digest: Some(digest.clone()),
            kind: kind.to_string(),
            window: svc.map_or(WINDOW, |s| s.stability_window),
            ready_timeout: svc.map_or(READY_TIMEOUT, |s| s.ready_timeout),
            keep_warm: svc.map_or(KEEP_WARM, |s| s.keep_warm),
            smoke: svc.map_or(0, |s| s.smoke.len()),
            breaks: 0,
            last_failure: None,
            was_answering: false,
            said: Vec::new(),
        }
    }

    /// A switch back from `live` to `target`, done and confirmed at once (the
    /// caller checked that `target` answers).
    pub(in crate::platforms::sim) fn switch_back(
        id: &str,
        live: Colour,
        target: Colour,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let first = if live == target {
            format!("{target} is already live: nothing to switch")
        } else {
            format!("switched {kind} from {live} to {target} in 0 ms")
        };
        let last = format!("switched back: {target} serves again");
        Self {
            id: id.to_string(),
            from: live,
            to: target,
            state: RolloutState::Completed,
            stage: Stage::Over,
            step: last.clone(),
            steps: vec![first, last],
            switched: true,
            reason: None,
            started: now,
            updated: now,
            outside: None,
            deploy_fails: false,
            digest: None,
            kind: kind.to_string(),
            window: WINDOW,
            ready_timeout: READY_TIMEOUT,
            keep_warm: KEEP_WARM,
            smoke: 0,
            breaks: 0,
            last_failure: None,
            was_answering: false,
            said: Vec::new(),
        }
    }

    /// A cutover (not a switch back).
    pub(in crate::platforms::sim) fn is_cutover(&self) -> bool {
        self.digest.is_some()
    }

    fn set_step(&mut self, step: String, t: DateTime<Utc>) {
        self.steps.push(step.clone());
        self.step = step;
        self.updated = t;
    }

    fn fail(&mut self, why: String, t: DateTime<Utc>) {
        self.state = RolloutState::Failed;
        self.reason = Some(why);
        self.stage = Stage::Over;
        self.updated = t;
    }

    /// Runs the steps due by `t` against the service `svc` (its colours and
    /// the proxy's live colour).
    pub(in crate::platforms::sim) fn advance(&mut self, svc: &mut SimBlueGreen, t: DateTime<Utc>) {
        let (from, to) = (self.from, self.to);
        loop {
            if self.state != RolloutState::InProgress {
                return;
            }
            match self.stage {
                Stage::Deploying { until } => {
                    if t < until {
                        return;
                    }
                    if self.deploy_fails {
                        self.fail(
                            "the deploy command failed (exit status: 1); the proxy was not touched"
                                .to_string(),
                            t,
                        );
                        return;
                    }
                    let short = self.digest.as_ref().map_or("", Digest::short).to_string();
                    self.said.push(format!("{OUTPUT}{to} started with {short}"));
                    self.set_step(format!("verifying that {to} serves {short}"), t);
                    let window = humantime::format_duration(self.window);
                    self.set_step(format!("probing {to} until it answers 200 for {window}"), t);
                    self.stage = Stage::Probing {
                        deadline: t + chrono_dur(self.ready_timeout),
                    };
                }
                Stage::Probing { deadline } => {
                    let c = svc.colour(to);
                    let answering = c.answering_at(t);
                    let ready = c
                        .answering_since
                        .is_some_and(|s| (t - s).to_std().unwrap_or_default() >= self.window);
                    if !answering {
                        if self.was_answering {
                            self.breaks += 1;
                            self.said
                                .push(format!("{to} broke its window: answered 503"));
                        }
                        self.last_failure = Some("answered 503".to_string());
                    }
                    self.was_answering = answering;
                    if !ready {
                        if t >= deadline {
                            let last = self
                                .last_failure
                                .as_ref()
                                .map_or_else(String::new, |l| format!("last failure: {l}; "));
                            self.fail(
                                format!(
                                    "{to} not ready within {}: it never answered 200 for {} without a break ({last}{} break(s)); the proxy was not touched",
                                    humantime::format_duration(self.ready_timeout),
                                    humantime::format_duration(self.window),
                                    self.breaks
                                ),
                                t,
                            );
                        }
                        return;
                    }
                    if self.smoke > 0 {
                        self.set_step(
                            format!("running {} smoke check(s) against {to}", self.smoke),
                            t,
                        );
                    }
                    self.set_step(format!("checking that {from} is still live"), t);
                    if svc.live != from {
                        self.fail(
                            format!(
                                "the proxy was switched by hand: {} is live, shipdeck expected {from}; it stopped before touching the proxy",
                                svc.live
                            ),
                            t,
                        );
                        return;
                    }
                    let kind = self.kind.clone();
                    self.set_step(format!("switching {kind} from {from} to {to}"), t);
                    svc.live = to;
                    self.switched = true;
                    self.set_step(format!("confirming that requests reach {to}"), t);
                    let warm = humantime::format_duration(self.keep_warm);
                    self.set_step(
                        format!("switched to {to} in 0 ms; {from} kept warm for {warm}, watched"),
                        t,
                    );
                    self.stage = Stage::KeepWarm {
                        until: t + chrono_dur(self.keep_warm),
                    };
                }
                Stage::KeepWarm { until } => {
                    if svc.live != to {
                        let c = svc.live;
                        let found = format!(
                            "{} sends the traffic to {c} since shipdeck switched it to {to}",
                            self.kind
                        );
                        self.set_step(format!("stopped: {found}"), t);
                        self.state = RolloutState::Completed;
                        self.stage = Stage::Over;
                        self.outside = Some(Outside { colour: c, found });
                        return;
                    }
                    if t < until {
                        return;
                    }
                    let warm = humantime::format_duration(self.keep_warm);
                    self.set_step(
                        format!("{to} live; {from} was kept warm for {warm} and stays as it is"),
                        t,
                    );
                    self.state = RolloutState::Completed;
                    self.stage = Stage::Over;
                }
                Stage::Over => return,
            }
        }
    }

    /// As deployments, the way the proxy's runs show theirs: the new colour
    /// primary, the old one active while in flight; after a change found
    /// outside shipdeck (`found` by this reading, or by the run itself),
    /// what serves is primary and this run is not.
    pub(in crate::platforms::sim) fn deployments(
        &self,
        service: &str,
        found: Option<&Outside>,
    ) -> Vec<Deployment> {
        let done = self.state == RolloutState::Completed;
        let mut out = vec![Deployment {
            id: self.id.clone(),
            role: DeploymentRole::Primary,
            task_definition: self.to.revision_of(service),
            rollout: self.state,
            reason: Some(self.reason.clone().unwrap_or_else(|| self.step.clone())),
            steps: self.steps.clone(),
            nothing_changed: self.state == RolloutState::Failed && !self.switched,
            shift: None,
            running: u32::from(done),
            desired: 1,
            pending: u32::from(!done),
            failed_tasks: 0,
            created_at: self.started,
            updated_at: self.updated,
        }];
        let settled = |id: String, c: Colour, reason: String| Deployment {
            id,
            role: DeploymentRole::Primary,
            task_definition: c.revision_of(service),
            rollout: RolloutState::Completed,
            reason: Some(reason),
            steps: Vec::new(),
            nothing_changed: false,
            shift: None,
            running: 1,
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: self.updated,
            updated_at: self.updated,
        };
        if let Some(o) = found.or(self.outside.as_ref()) {
            out[0].role = if self.state == RolloutState::InProgress {
                DeploymentRole::Active
            } else {
                DeploymentRole::Inactive
            };
            out.insert(
                0,
                settled(format!("{service}-{}", o.colour), o.colour, o.found.clone()),
            );
            return out;
        }
        if self.state == RolloutState::InProgress {
            let mut old = settled(
                format!("{service}-{}", self.from),
                self.from,
                "live until the switch".to_string(),
            );
            old.role = DeploymentRole::Active;
            old.created_at = self.started;
            out.push(old);
        }
        out
    }
}
