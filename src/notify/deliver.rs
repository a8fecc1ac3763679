//! Bounded delivery: a few attempts with a doubling backoff, each within its
//! own timeout, and never past the end the process set itself
//! ([`super::shutdown`]). What still fails is a [`Failure`] with its kind of
//! error, never a URL or a secret.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Attempts per message and sink.
pub const ATTEMPTS: u32 = 4;
/// The wait after the first failed attempt; it doubles after each.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// One attempt (connect, send, status) must not take longer than this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// What an attempt needs at least to be worth making.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// Why one attempt failed: worth another try, or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// A timeout, a refused connection, a 5xx or 429, throttling.
    Retry(String),
    /// The receiver refused the message itself (a 4xx, a missing topic,
    /// no permission): trying again would not help.
    Permanent(String),
}

/// A message that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Attempts made.
    pub attempts: u32,
    /// The last error's kind (`HTTP 500`, `timed out`…).
    pub kind: String,
}

/// The wait before attempt `n + 1` after attempt `n` (1-based) failed.
pub fn backoff(n: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
        .min(MAX_BACKOFF)
}

/// When this process must be done sending (set once it is ending); `None`
/// while it runs.
#[derive(Debug, Clone, Default)]
pub struct Deadline(Arc<Mutex<Option<Instant>>>);

impl Deadline {
    /// Sets the end (the earliest one wins).
    pub fn set(&self, at: Instant) {
        let mut d = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *d = Some(d.map_or(at, |x| x.min(at)));
    }

    /// Time left, when an end is set.
    pub fn left(&self) -> Option<Duration> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// What the process's end leaves for one attempt: `None` when nothing.
fn budget(deadline: &Deadline) -> Option<Duration> {
    match deadline.left() {
        None => Some(ATTEMPT_TIMEOUT),
        Some(left) if left >= MIN_ATTEMPT => Some(left.min(ATTEMPT_TIMEOUT)),
        Some(_) => None,
    }
}

const ENDED: &str = "the process ended before it was delivered";

/// Runs `attempt` (given its timeout) up to [`ATTEMPTS`] times with
/// [`backoff`] between: the number of attempts it took, or the failure.
pub async fn with_retries<F, Fut>(deadline: &Deadline, mut attempt: F) -> Result<u32, Failure>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<(), AttemptError>>,
{
    let mut n = 0;
    loop {
        let Some(within) = budget(deadline) else {
            return Err(Failure {
                attempts: n,
                kind: ENDED.to_string(),
            });
        };
        n += 1;
        let result = match tokio::time::timeout(within, attempt(within)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptError::Retry("timed out".to_string())),
        };
        let kind = match result {
            Ok(()) => return Ok(n),
            Err(AttemptError::Permanent(kind)) => {
                return Err(Failure { attempts: n, kind });
            }
            Err(AttemptError::Retry(kind)) => kind,
        };
        if n >= ATTEMPTS {
            return Err(Failure { attempts: n, kind });
        }
        let wait = backoff(n);
        if deadline
            .left()
            .is_some_and(|left| left < wait + MIN_ATTEMPT)
        {
            return Err(Failure {
                attempts: n,
                kind: format!("{kind}; {ENDED}"),
            });
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_from_a_quarter_second_and_is_capped() {
        let waits: Vec<u128> = (1..=6).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 2000, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_their_bound() {
        let calls = AtomicU32::new(0);
        let r = with_retries(&Deadline::default(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(AttemptError::Retry("HTTP 503".to_string())) }
        })
        .await;
        assert_eq!(
            r,
            Err(Failure {
                attempts: ATTEMPTS,
                kind: "HTTP 503".to_string()
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_refusal_is_not_retried_and_a_success_ends_at_once() {
        let calls = AtomicU32::new(0);
        let r = with_retries(&Deadline::default(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(AttemptError::Permanent("HTTP 404".to_string())) }
        })
        .await;
        assert_eq!(r.map_err(|f| f.attempts), Err(1));
        let calls = AtomicU32::new(0);
        let r = with_retries(&Deadline::default(), |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(AttemptError::Retry("timed out".to_string()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(r, Ok(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_times_out_and_counts() {
        let r = with_retries(&Deadline::default(), |_| std::future::pending()).await;
        assert_eq!(
            r,
            Err(Failure {
                attempts: ATTEMPTS,
                kind: "timed out".to_string()
            })
        );
    }

    #[tokio::test]
    async fn nothing_is_attempted_once_the_process_has_ended() {
        let d = Deadline::default();
        d.set(Instant::now());
        let r = with_retries(&d, |_| async { Ok(()) }).await;
        assert_eq!(r.map_err(|f| f.attempts), Err(0));
    }
}
