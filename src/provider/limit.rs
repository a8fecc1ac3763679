//! How many calls to one environment's APIs are in flight at once: up to a
//! configured maximum, halved when the API throttles, grown back by one after
//! each run of successes (additive increase, multiplicative decrease). A
//! throttled call is retried after the wait the API asked for, so a burst of
//! throttling slows a reading down instead of failing it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::ProviderError;

/// Throttled calls are retried this many times before the error stands.
const THROTTLE_RETRIES: u32 = 6;
/// Wait before retrying a throttled call when the API did not say.
const THROTTLE_WAIT: Duration = Duration::from_millis(500);
/// Longest wait between throttled retries.
const THROTTLE_WAIT_MAX: Duration = Duration::from_secs(8);

#[derive(Debug)]
struct State {
    limit: usize,
    successes: usize,
}

/// The in-flight limit of one environment. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Limiter {
    max: usize,
    state: Arc<Mutex<State>>,
    in_flight: Arc<AtomicUsize>,
    lowest: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

/// A slot taken; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    in_flight: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.freed.notify_waiters();
    }
}

impl Limiter {
    /// A limiter allowing up to `max` calls at once (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            state: Arc::new(Mutex::new(State {
                limit: max,
                successes: 0,
            })),
            in_flight: Arc::new(AtomicUsize::new(0)),
            lowest: Arc::new(AtomicUsize::new(max)),
            freed: Arc::new(Notify::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    /// The lowest the limit went (for tests and logs).
    pub fn lowest(&self) -> usize {
        self.lowest.load(Ordering::SeqCst)
    }

    /// The configured maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Waits for a free slot under the current limit.
    pub async fn slot(&self) -> Slot {
        loop {
            let freed = self.freed.notified();
            let limit = self.limit();
            let now = self.in_flight.load(Ordering::SeqCst);
            if now < limit
                && self
                    .in_flight
                    .compare_exchange(now, now + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                return Slot {
                    in_flight: self.in_flight.clone(),
                    freed: self.freed.clone(),
                };
            }
            freed.await;
        }
    }

    /// The API throttled: halve the limit (not below one).
    pub fn throttled(&self) {
        let mut s = self.state();
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        self.lowest.fetch_min(s.limit, Ordering::SeqCst);
    }

    /// A call went through: after `limit` of them in a row, allow one more.
    pub fn succeeded(&self) {
        let mut s = self.state();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < self.max {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            self.freed.notify_waiters();
        }
    }

    /// Runs one API call under the limit; a throttled answer lowers the limit
    /// and is retried after the wait the API asked for (or a growing one).
    pub async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut wait = THROTTLE_WAIT;
        let mut attempt = 0;
        loop {
            let result = {
                let _slot = self.slot().await;
                f().await
            };
            match result {
                Err(ProviderError::Throttled { retry_after, .. }) if attempt < THROTTLE_RETRIES => {
                    self.throttled();
                    attempt += 1;
                    tokio::time::sleep(retry_after.unwrap_or(wait).min(THROTTLE_WAIT_MAX)).await;
                    wait = (wait * 2).min(THROTTLE_WAIT_MAX);
                }
                other => {
                    if other.is_ok() {
                        self.succeeded();
                    }
                    return other;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test(start_paused = true)]
    async fn throttling_lowers_the_limit_and_success_restores_it() {
        let l = Limiter::new(8);
        let peak = Arc::new(AtomicUsize::new(0));
        let throttle_left = Arc::new(AtomicU32::new(12));
        let mut calls = Vec::new();
        for _ in 0..64 {
            let (l, peak, left) = (l.clone(), peak.clone(), throttle_left.clone());
            calls.push(tokio::spawn(async move {
                l.call(|| {
                    let (l, peak, left) = (l.clone(), peak.clone(), left.clone());
                    async move {
                        peak.fetch_max(l.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                        {
                            return Err(ProviderError::Throttled {
                                message: "Rate exceeded".into(),
                                retry_after: Some(Duration::from_millis(100)),
                            });
                        }
                        Ok(())
                    }
                })
                .await
            }));
        }
        for c in calls {
            assert!(c.await.unwrap().is_ok(), "every call completes");
        }
        assert!(peak.load(Ordering::SeqCst) <= 8, "never over the maximum");
        assert!(
            l.lowest() < 8,
            "throttling lowered the limit: {}",
            l.lowest()
        );
        assert_eq!(l.limit(), 8, "and it recovered");
    }
}
