//! What a run shares with the rest of the process: its view, its leases,
//! a stop, the adoption of its leases by a way back, a person's decision.

use std::sync::{Mutex, PoisonError};

use super::super::api::RunView;
use super::super::steps::{Leases, Target};
use crate::model::Decision;
use crate::model::text::fold_line;

/// How a stop asks the run to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A way back takes the run's leases over: end after the call in flight,
    /// release nothing.
    Adopt,
    /// The process ends: release every lease, leave the machines as they are.
    Release,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every machine runs the digest; the leases are released.
    Finished,
    /// It failed (why); its leases were kept for a way back, then released.
    Failed(String),
    /// A way back took its leases over.
    Adopted,
    /// Stopped by the process's end; the leases are released.
    Released,
}

pub(super) struct State {
    pub(super) view: RunView,
    pub(super) leases: Leases,
    pub(super) touched: Vec<Target>,
    pub(super) stop: Option<Stop>,
    pub(super) decision: Option<Decision>,
    pub(super) finished: bool,
}

/// What a run shares with the rest of the process.
pub struct Control {
    state: Mutex<State>,
    done: tokio::sync::Notify,
    on_view: Box<dyn Fn(&RunView) + Send + Sync>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("view", &self.view())
            .finish_non_exhaustive()
    }
}

/// What a way back takes over from a run it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adopted {
    /// The leases the run held (none when it had released them).
    pub leases: Leases,
    /// The machines it sent an update to, in order, as they were before.
    pub touched: Vec<Target>,
}

impl Control {
    /// The control of a run holding `leases`, whose view starts as `view`;
    /// every change of the view is handed to `on_view`.
    pub fn new(
        view: RunView,
        leases: Leases,
        on_view: impl Fn(&RunView) + Send + Sync + 'static,
    ) -> Self {
        on_view(&view);
        Self {
            state: Mutex::new(State {
                view,
                leases,
                touched: Vec::new(),
                stop: None,
                decision: None,
                finished: false,
            }),
            done: tokio::sync::Notify::new(),
            on_view: Box::new(on_view),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run as it stands.
    pub fn view(&self) -> RunView {
        self.lock().view.clone()
    }

    /// The run no longer uses its leases (released, or left to an adopter).
    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Asks the run to stop after the call in flight.
    pub fn stop(&self, how: Stop) {
        let mut s = self.lock();
        if s.stop != Some(Stop::Adopt) {
            s.stop = Some(how);
        }
    }

    /// Stops the run and waits until it has, then takes its leases and
    /// what it touched (nothing to take when it had released them).
    pub async fn adopt(&self) -> Adopted {
        self.stop(Stop::Adopt);
        loop {
            let done = self.done.notified();
            {
                let mut s = self.lock();
                if s.finished {
                    return Adopted {
                        leases: std::mem::take(&mut s.leases),
                        touched: s.touched.clone(),
                    };
                }
            }
            done.await;
        }
    }

    /// A person's decision at the run's pause: `Err` when it waits for none.
    pub fn decide(&self, d: Decision) -> Result<(), String> {
        let mut s = self.lock();
        if s.view.paused_since.is_none() || s.finished || s.view.ended.is_some() {
            return Err(format!(
                "run {} waits for no decision",
                fold_line(&s.view.id)
            ));
        }
        s.decision = Some(d);
        Ok(())
    }

    pub(super) fn note(&self, f: impl FnOnce(&mut RunView)) {
        let view = {
            let mut s = self.lock();
            f(&mut s.view);
            s.view.clone()
        };
        (self.on_view)(&view);
    }

    pub(super) fn finish(&self, release: bool) -> Leases {
        let leases = {
            let mut s = self.lock();
            s.finished = true;
            if release {
                std::mem::take(&mut s.leases)
            } else {
                Leases::new()
            }
        };
        self.done.notify_waiters();
        leases
    }
}
