//! A shift from start to end: each planned step applied (with its
//! read-back), held, and, where the rollout pauses for a person, marked
//! paused in the alias until someone decides — from this process or any
//! other, since the decision is an alias change every process can read
//! ([`decide`]). The runner adopts what it reads: a step continued
//! elsewhere, a rollback, a finish, or a change by hand (then it stops and
//! touches nothing).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api::LambdaApi;
use super::marker::Marker;
use super::read::AliasView;
use super::routing;
use super::steps::{self, Expected, StepError};
use crate::config::lambda::StepPlan;
use crate::model::shift::Decision;

/// One shift of an alias's traffic from version `from` to `to`.
#[derive(Debug, Clone)]
pub struct Shift {
    /// shipdeck's id of the promotion (in the marker).
    pub run: String,
    /// The function.
    pub function: String,
    /// The alias.
    pub alias: String,
    /// The version the alias names before.
    pub from: u32,
    /// The version the traffic moves to.
    pub to: u32,
    /// The steps; the last is all of it.
    pub plan: StepPlan,
    /// Every step before the last waits for a person.
    pub pause: bool,
}

impl Shift {
    fn of(&self) -> u32 {
        u32::try_from(self.plan.steps.len()).unwrap_or(u32::MAX)
    }

    /// The marker of step `step` (1-based).
    fn marker(&self, step: u32, paused: bool, at: DateTime<Utc>) -> Marker {
        let weight = self
            .plan
            .steps
            .get(step.saturating_sub(1) as usize)
            .map_or(0, |s| s.weight);
        Marker {
            run: self.run.clone(),
            from: self.from,
            to: self.to,
            step,
            of: self.of(),
            weight,
            paused,
            at: at.timestamp(),
        }
    }

    /// How the alias reads at step `step` of this shift (0: not started).
    fn expected(&self, step: u32) -> Expected {
        let weighted = self
            .plan
            .steps
            .get(step.saturating_sub(1) as usize)
            .filter(|_| step > 0)
            .map(|s| (self.to.to_string(), s.weight));
        Expected {
            version: self.from.to_string(),
            weighted,
        }
    }

    fn versions(&self) -> Vec<String> {
        vec![self.from.to_string(), self.to.to_string()]
    }
}

/// How a shift ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The alias names the new version, weights cleared.
    Finished(AliasView),
    /// The alias is back on the old version (a rollback, from here or elsewhere).
    RolledBack,
}

/// What the runner tells its watcher as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Step `n` of `of` applied: `weight` hundredths on the new version.
    Step {
        /// The step, 1-based.
        n: u32,
        /// How many.
        of: u32,
        /// Its weight.
        weight: u32,
    },
    /// Step `n` waits for a person.
    Paused(u32),
}

/// How the runner keeps time: its clock and its sleep (the real ones, or
/// the simulator's).
pub struct Time<N, S> {
    /// Now.
    pub now: N,
    /// Waits.
    pub sleep: S,
    /// How often a holding or paused shift re-reads the alias.
    pub poll: Duration,
}

/// Runs `shift` on `api` from its first step to its end.
pub async fn run<A, N, S, F>(
    api: &A,
    shift: &Shift,
    time: &Time<N, S>,
    progress: impl Fn(Progress),
) -> Result<Ended, StepError>
where
    A: LambdaApi,
    N: Fn() -> DateTime<Utc>,
    S: Fn(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let of = shift.of();
    let weight = |n: u32| {
        shift
            .plan
            .steps
            .get((n as usize).saturating_sub(1))
            .map_or(0, |s| s.weight)
    };
    let hold_of = |n: u32| {
        shift
            .plan
            .steps
            .get((n as usize).saturating_sub(1))
            .map_or(Duration::ZERO, |s| s.hold)
    };
    // The steps applied so far; `continued`: the latest was applied by
    // someone's continue (from any process), not by this runner.
    let mut step: u32 = 0;
    let mut continued = false;
    loop {
        if !continued {
            // The next step; the last one finishes.
            if step + 1 >= of {
                let done = steps::finish(
                    api,
                    &shift.function,
                    &shift.alias,
                    shift.to,
                    &shift.expected(step),
                    (time.now)().timestamp(),
                )
                .await?;
                return Ok(Ended::Finished(done));
            }
            let marker = shift.marker(step + 1, false, (time.now)());
            steps::step(
                api,
                &shift.function,
                &shift.alias,
                &marker,
                &shift.expected(step),
                &shift.versions(),
            )
            .await?;
            step += 1;
            progress(Progress::Step {
                n: step,
                of,
                weight: weight(step),
            });
        }
        continued = false;
        // Hold the step, watching the alias.
        let mut held = Duration::ZERO;
        while held < hold_of(step) {
            let slice = time.poll.min(hold_of(step).saturating_sub(held));
            (time.sleep)(slice).await;
            held += slice;
            match adopt(api, shift, step).await? {
                Seen::Same => {}
                Seen::Ended(e) => return Ok(e),
                // Continued elsewhere before the hold ended: hold its step.
                Seen::AtStep(n) => {
                    step = n;
                    held = Duration::ZERO;
                    progress(Progress::Step {
                        n,
                        of,
                        weight: weight(n),
                    });
                }
            }
        }
        if !shift.pause {
            continue;
        }
        // Wait for a person: the marker says so to every process.
        let paused = shift.marker(step, true, (time.now)());
        steps::step(
            api,
            &shift.function,
            &shift.alias,
            &paused,
            &shift.expected(step),
            &shift.versions(),
        )
        .await?;
        progress(Progress::Paused(step));
        loop {
            (time.sleep)(time.poll).await;
            match adopt(api, shift, step).await? {
                Seen::Same => {}
                Seen::Ended(e) => return Ok(e),
                // Someone continued: they applied step `n`; hold it, then
                // pause again.
                Seen::AtStep(n) => {
                    step = n;
                    continued = true;
                    progress(Progress::Step {
                        n,
                        of,
                        weight: weight(n),
                    });
                    break;
                }
            }
        }
    }
}

/// What a re-read of the alias says about the shift at `step`.
enum Seen {
    /// As the runner left it (paused or not).
    Same,
    /// Moved on to step `n` by someone's continue.
    AtStep(u32),
    /// Over: finished or rolled back.
    Ended(Ended),
}

async fn adopt<A: LambdaApi>(api: &A, shift: &Shift, step: u32) -> Result<Seen, StepError> {
    let a = api.alias(&shift.function, &shift.alias).await?;
    let on = routing::number(&a.version);
    if a.weighted.is_none() && on == Some(shift.from) {
        return Ok(Seen::Ended(Ended::RolledBack));
    }
    if a.weighted.is_none() && on == Some(shift.to) {
        return Ok(Seen::Ended(Ended::Finished(a)));
    }
    let marker = Marker::read(&a.description).filter(|m| m.run == shift.run);
    match marker {
        Some(m) if m.step == step && shift.expected(step).matches(&a) => Ok(Seen::Same),
        Some(m) if m.step > step && m.step <= shift.of() && shift.expected(m.step).matches(&a) => {
            Ok(Seen::AtStep(m.step))
        }
        _ => Err(StepError::ChangedOutside {
            function: shift.function.clone(),
            alias: shift.alias.clone(),
            what: "its traffic or its shipdeck marker is not where this shift left it".into(),
        }),
    }
}

/// A person's decision on run `run` of `function`'s `alias`, from any
/// process: the shift is the one the alias's marker carries (its versions),
/// stepped by `plan`, pausing where `pause` says.
#[allow(clippy::too_many_arguments)] // the shift's parts, as the seam hands them
pub async fn decide_run<A, N>(
    api: &A,
    function: &str,
    alias: &str,
    run: &str,
    plan: StepPlan,
    pause: bool,
    decision: Decision,
    now: N,
) -> Result<String, StepError>
where
    A: LambdaApi,
    N: Fn() -> DateTime<Utc>,
{
    let a = api.alias(function, alias).await?;
    let Some(m) = Marker::read(&a.description).filter(|m| m.run == run) else {
        return Err(StepError::Provider(
            crate::provider::ProviderError::Conflict {
                message: format!(
                    "alias {function}:{alias} carries no step of {run} waiting for a decision"
                ),
            },
        ));
    };
    let shift = Shift {
        run: m.run,
        function: function.to_string(),
        alias: alias.to_string(),
        from: m.from,
        to: m.to,
        plan,
        pause,
    };
    decide(api, &shift, decision, now).await
}

/// A person's decision at a paused step, from any process: continue applies
/// the next step (or the last), rollback sends all traffic back.
pub async fn decide<A, N>(
    api: &A,
    shift: &Shift,
    decision: Decision,
    now: N,
) -> Result<String, StepError>
where
    A: LambdaApi,
    N: Fn() -> DateTime<Utc>,
{
    let a = api.alias(&shift.function, &shift.alias).await?;
    let Some(m) = Marker::read(&a.description).filter(|m| m.run == shift.run && m.paused) else {
        return Err(StepError::ChangedOutside {
            function: shift.function.clone(),
            alias: shift.alias.clone(),
            what: "no step of this shift waits for a decision".into(),
        });
    };
    match decision {
        Decision::Rollback => {
            steps::rollback(
                api,
                &shift.function,
                &shift.alias,
                shift.from,
                now().timestamp(),
            )
            .await?;
            Ok(format!(
                "{}:{} is back on version {} with no weights",
                shift.function, shift.alias, shift.from
            ))
        }
        Decision::Continue if m.step + 1 >= shift.of() => {
            steps::finish(
                api,
                &shift.function,
                &shift.alias,
                shift.to,
                &shift.expected(m.step),
                now().timestamp(),
            )
            .await?;
            Ok(format!(
                "{}:{} now names version {} with all the traffic",
                shift.function, shift.alias, shift.to
            ))
        }
        Decision::Continue => {
            let next = shift.marker(m.step + 1, false, now());
            steps::step(
                api,
                &shift.function,
                &shift.alias,
                &next,
                &shift.expected(m.step),
                &shift.versions(),
            )
            .await?;
            Ok(format!(
                "step {} of {}: {} on version {}",
                next.step,
                next.of,
                crate::model::strategy::percent(next.weight),
                shift.to
            ))
        }
    }
}
