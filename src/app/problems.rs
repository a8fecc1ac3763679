//! Problems first: what the console counts in its header (alarms firing,
//! cells that fail or cannot be read, stages behind, rollouts in flight) and
//! which rows the problems-only view (`!`) keeps.

use crate::config::EnvId;
use crate::model::drift::{Behind, DriftCell};
use crate::model::{AlarmSummary, Freshness, ServiceSnapshot};

use super::App;

/// The header's counts and what they were counted from.
#[derive(Debug, Clone)]
pub struct Memo {
    readings: u64,
    views: Vec<u8>,
    counts: ProblemCounts,
}

/// The problems of the whole board, by kind: one count per cell
/// (service × environment) that has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProblemCounts {
    /// Cells with an alarm in ALARM.
    pub firing: usize,
    /// Cells otherwise failing: health down, a failed or ECS-rolled-back
    /// rollout, a configured service not found.
    pub failing: usize,
    /// Cells not known: the environment unreadable or stale, or something of
    /// the service could not be read (unknown is never counted as fine).
    pub unknown: usize,
    /// Stages behind the one before (or diverged, or differing).
    pub behind: usize,
    /// Rollouts in flight, paused for a decision or not.
    pub in_progress: usize,
    /// Cells of environments not read yet.
    pub loading: usize,
}

impl ProblemCounts {
    /// Whether nothing at all is counted: every cell read, healthy, up to date.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }
}

/// What one cell has, as the header counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cell {
    firing: bool,
    failing: bool,
    unknown: bool,
    behind: bool,
    in_progress: bool,
    loading: bool,
}

impl Cell {
    fn any(self) -> bool {
        self != Self::default()
    }

    fn add_to(self, c: &mut ProblemCounts) {
        c.firing += usize::from(self.firing);
        c.failing += usize::from(self.failing);
        c.unknown += usize::from(self.unknown);
        c.behind += usize::from(self.behind);
        c.in_progress += usize::from(self.in_progress);
        c.loading += usize::from(self.loading);
    }
}

/// What a service reading shows, in the header's terms.
fn of_service(s: &ServiceSnapshot, drift: Option<&DriftCell>, allow_no_data: bool) -> Cell {
    Cell {
        firing: matches!(s.alarm_summary(), AlarmSummary::Alarm { .. }),
        failing: s.rollout().is_bad() || s.health.is_bad(),
        unknown: s.has_unknown(allow_no_data),
        behind: drift.is_some_and(|d| {
            matches!(
                d.behind,
                Behind::Behind { .. } | Behind::Diverged | Behind::Differs
            )
        }),
        in_progress: s.rollout_in_flight() && !s.rollout().is_bad(),
        loading: false,
    }
}

/// An environment as the problem view judges its cells.
#[derive(Clone, Copy)]
enum EnvView<'a> {
    /// Stale or unreadable: every cell unknown.
    Unknown,
    /// Not read yet.
    Loading,
    /// Read and current, with whether INSUFFICIENT_DATA may pass.
    Read(&'a crate::model::EnvSnapshot, bool),
}

impl App {
    /// How the cells of environment `env` can be judged: the one decision
    /// behind a cell's problems and the header's counts. Old data is not
    /// counted as current: an environment that is stale or unreadable has
    /// every cell unknown.
    fn env_view(&self, env: EnvId) -> Option<EnvView<'_>> {
        let cfg = self.env_cfg(env)?;
        let e = &self.envs[env];
        Some(match (&e.freshness, &e.snapshot) {
            (Freshness::Failed { .. } | Freshness::Stale { .. }, _) => EnvView::Unknown,
            (_, None) => EnvView::Loading,
            (_, Some(snap)) => EnvView::Read(snap, cfg.gate.allow_insufficient_data),
        })
    }

    /// The problems of one cell.
    fn cell_problems(&self, env: EnvId, service: &str, drift: Option<&DriftCell>) -> Cell {
        let Some(view) = self.env_view(env) else {
            return Cell::default();
        };
        // A reading of the service says it is configured here: one lookup, not two.
        let read = self.envs[env]
            .snapshot
            .as_ref()
            .and_then(|snap| snap.service(service));
        if read.is_none() && self.env_cfg(env).and_then(|c| c.service(service)).is_none() {
            return Cell::default();
        }
        match (view, read) {
            (EnvView::Unknown, _) => Cell {
                unknown: true,
                ..Cell::default()
            },
            (EnvView::Read(_, allow), Some(s)) => of_service(s, drift, allow),
            (EnvView::Loading, _) => Cell {
                loading: true,
                ..Cell::default()
            },
            // Listed in the configuration, not found in the cluster.
            (EnvView::Read(..), None) => Cell {
                failing: true,
                ..Cell::default()
            },
        }
    }

    /// Whether `service` has a problem in any environment shown: the rows the
    /// problems-only view keeps.
    pub fn is_problem_row(&self, service: &str) -> bool {
        let drift = self.drift_row(service);
        let cell = |env: EnvId| {
            let drift = drift
                .and_then(|d| d.cells.get(env.index()))
                .and_then(Option::as_ref);
            self.cell_problems(env, service, drift).any()
        };
        match self.env_scope {
            Some(env) => cell(env),
            None => self.cfg.env_ids().any(cell),
        }
    }

    /// `!`: shows only the rows with a problem, or every row again, keeping
    /// the selected service selected where it is still shown.
    pub fn toggle_problems(&mut self) {
        let selected = self.selected_service().map(str::to_string);
        self.problems_only = !self.problems_only;
        let rows = self.visible_services();
        let shown = rows.len();
        let row = selected
            .and_then(|s| rows.iter().position(|r| *r == s))
            .unwrap_or(0);
        self.row = row;
        let text = match (self.problems_only, shown) {
            (true, 0) => format!(
                "no problems: nothing firing, failing, unknown, behind or in progress ({} shows every row)",
                self.keymap.label(super::keys::Action::Problems)
            ),
            (true, n) => format!(
                "showing the {n} row(s) with a problem ({} shows every row)",
                self.keymap.label(super::keys::Action::Problems)
            ),
            (false, _) => "showing every row".to_string(),
        };
        self.say(super::Level::Info, text);
    }

    /// The problems of the whole board, for the header (every service, every
    /// environment, whatever the filter shows). Drawn at every frame, so it
    /// walks the readings and the drift rows as they lie, looking nothing up
    /// by name: the same counts as [`Self::is_problem_row`]'s cells.
    pub fn problem_counts(&self) -> ProblemCounts {
        // Every frame draws the header; with thousands of cells counting
        // them was the idle console's largest cost. The counts depend only on
        // the readings (and their drift) and on each environment's view, so
        // they are kept until either changes.
        let views: Vec<u8> = self
            .cfg
            .env_ids()
            .map(|env| match self.env_view(env) {
                None => 0,
                Some(EnvView::Unknown) => 1,
                Some(EnvView::Loading) => 2,
                Some(EnvView::Read(..)) => 3,
            })
            .collect();
        if let Some(m) = self.problem_memo.borrow().as_ref()
            && m.readings == self.readings
            && m.views == views
        {
            return m.counts;
        }
        let counts = self.count_problems();
        *self.problem_memo.borrow_mut() = Some(Memo {
            readings: self.readings,
            views,
            counts,
        });
        counts
    }

    fn count_problems(&self) -> ProblemCounts {
        let mut counts = ProblemCounts::default();
        let mut current = Vec::with_capacity(self.envs.len());
        for env in self.cfg.env_ids() {
            let configured = self.env_cfg(env).map_or(0, |c| c.services.len());
            let view = self.env_view(env);
            current.push(matches!(view, Some(EnvView::Read(..))));
            match view {
                None => {}
                Some(EnvView::Unknown) => counts.unknown += configured,
                Some(EnvView::Loading) => counts.loading += configured,
                Some(EnvView::Read(snap, allow)) => {
                    counts.failing += configured.saturating_sub(snap.services.len());
                    for s in &snap.services {
                        of_service(s, None, allow).add_to(&mut counts);
                    }
                }
            }
        }
        for row in &self.drift {
            for (cell, read) in row.cells.iter().zip(&current) {
                let behind = cell.as_ref().is_some_and(|c| {
                    matches!(
                        c.behind,
                        Behind::Behind { .. } | Behind::Diverged | Behind::Differs
                    )
                });
                counts.behind += usize::from(behind && *read);
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::app::keys::{Key, KeyMap};
    use crate::app::{Msg, update};
    use crate::clock::{Clock, ManualClock};
    use crate::provider::{Provider, ProviderError, ReadScope};

    /// The demo read once, with prod's answer replaced by `prod` when given.
    async fn demo(prod: Option<ProviderError>) -> (App, crate::platforms::sim::SimFleet) {
        let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
        let cfg = crate::config::demo().unwrap();
        let sim = crate::platforms::sim::SimFleet::demo(7, Arc::new(clock.clone())).unwrap();
        // An alarm without data, unknown (the demo's staging search had one
        // while it ran on ECS; on Kubernetes it watches no CloudWatch alarm).
        sim.inject(crate::platforms::sim::Fault::SetAlarm {
            env: "staging".into(),
            alarm: "shop-notifications-staging-p95".into(),
            state: crate::model::AlarmState::InsufficientData,
        });
        let mut app = App::new(&cfg, KeyMap::default(), "alice".into(), clock.now());
        let mut prod = prod;
        for cmd in update(&mut app, Msg::Tick(clock.now())) {
            if let crate::app::Command::PollEnv { env, request } = cmd {
                let down = if env.index() == 2 { prod.take() } else { None };
                let result = match down {
                    Some(e) => Err(e),
                    None => {
                        sim.read_env(&cfg.environments[env], ReadScope::CONSOLE)
                            .await
                    }
                };
                let at = clock.now();
                update(
                    &mut app,
                    Msg::EnvPolled {
                        env,
                        request,
                        at,
                        result,
                    },
                );
            }
        }
        (app, sim)
    }

    /// The counts cell by cell, through the rows' own test.
    fn by_cell(app: &App) -> ProblemCounts {
        let mut c = ProblemCounts::default();
        for svc in &app.services {
            let drift = app.drift_row(svc);
            for env in app.cfg.env_ids() {
                let cell = drift
                    .and_then(|d| d.cells.get(env.index()))
                    .and_then(Option::as_ref);
                app.cell_problems(env, svc, cell).add_to(&mut c);
            }
        }
        c
    }

    #[tokio::test]
    async fn the_demo_counts_its_problems_and_shows_only_their_rows() {
        let (mut app, _) = demo(None).await;
        let c = app.problem_counts();
        assert_eq!(
            c,
            ProblemCounts {
                firing: 1,
                unknown: 1,
                behind: 8,
                ..ProblemCounts::default()
            }
        );
        assert_eq!(c, by_cell(&app));
        // web and auth run the same release everywhere, all healthy.
        update(&mut app, Msg::Key(Key::ch('!')));
        assert!(app.problems_only);
        assert_eq!(
            app.visible_services(),
            [
                "api",
                "checkout",
                "payments",
                "search",
                "notifications",
                "storefront",
                "thumbnailer",
                "edge"
            ]
        );
        update(&mut app, Msg::Key(Key::ch('!')));
        assert_eq!(app.visible_services().len(), 10);
    }

    #[tokio::test]
    async fn an_unreadable_environment_is_unknown_in_every_row_never_fine() {
        let down = ProviderError::Network {
            message: "cannot connect".into(),
        };
        let (mut app, _) = demo(Some(down)).await;
        let c = app.problem_counts();
        assert_eq!(c, by_cell(&app));
        assert_eq!((c.unknown, c.firing), (10 + 1, 0), "{c:?}");
        app.toggle_problems();
        assert_eq!(app.visible_services().len(), 10);
        // Nothing read yet: loading, never "no problems".
        let cfg = crate::config::demo().unwrap();
        let fresh = App::new(&cfg, KeyMap::default(), "a".into(), app.now);
        assert_eq!(fresh.problem_counts().loading, 30);
        assert!(!fresh.problem_counts().is_clear());
    }

    #[tokio::test]
    async fn a_rollout_in_flight_counts_as_in_progress_not_behind() {
        let (mut app, sim) = demo(None).await;
        // Counted once before: the kept counts must follow the new reading.
        let before = app.problem_counts();
        let cfg = app.cfg.clone();
        let staging = app.envs[1].snapshot.clone().unwrap();
        let digest = staging.service("api").unwrap().digest.clone().unwrap();
        let prod = &cfg.environments[2];
        sim.deploy(prod, prod.service("api").unwrap(), &digest)
            .await
            .unwrap();
        let request = app.envs[2].in_flight.unwrap_or(99);
        app.envs[2].in_flight = Some(request);
        let result = sim.read_env(prod, ReadScope::CONSOLE).await;
        let at = app.now;
        update(
            &mut app,
            Msg::EnvPolled {
                env: EnvId(2),
                request,
                at,
                result,
            },
        );
        let c = app.problem_counts();
        assert_ne!(c, before);
        assert_eq!((c.in_progress, c.behind), (1, 7), "{c:?}");
        assert_eq!(c, by_cell(&app));
        // No reading for a long while: stale is unknown, and the kept counts
        // follow the view, not only the readings.
        let later = app.now + chrono::Duration::minutes(30);
        update(&mut app, Msg::Tick(later));
        let stale = app.problem_counts();
        assert!(stale.unknown > 0, "{stale:?}");
        assert_eq!(stale, by_cell(&app));
    }

    /// A reading that changes a cell's verdict but no digest (a rollout
    /// that failed in place, a health endpoint that went down) changes the
    /// header's counts too: they were kept until the drift changed, so the
    /// header said "no problems" beside a failed row.
    #[tokio::test]
    async fn a_failure_without_a_new_digest_reaches_the_header() {
        let (mut app, sim) = demo(None).await;
        let before = app.problem_counts();
        let cfg = app.cfg.clone();
        let prod = &cfg.environments[2];
        let mut snap = sim.read_env(prod, ReadScope::CONSOLE).await.unwrap();
        let api = snap.services.iter_mut().find(|s| s.name == "api").unwrap();
        api.deployments[0].rollout = crate::model::RolloutState::Failed;
        let request = app.envs[2].in_flight.unwrap_or(99);
        app.envs[2].in_flight = Some(request);
        let at = app.now;
        update(
            &mut app,
            Msg::EnvPolled {
                env: EnvId(2),
                request,
                at,
                result: Ok(snap),
            },
        );
        let c = app.problem_counts();
        assert_eq!(c.failing, before.failing + 1, "{c:?}");
        assert_eq!(c, by_cell(&app));
    }
}
