//! Per-minute points from a proxy's counters: 5xx per 100 requests and
//! requests per second, both colours together. Counters come from each
//! reading; the newest point covers the minute so far.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::driver::{Counters, Traffic};
use crate::config::ProxyMetric;

/// Points kept per metric (as many as CloudWatch readings carry).
const POINTS: usize = 30;
const MINUTE: Duration = Duration::from_mins(1);

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    requests: u64,
    errors: u64,
    /// The 5xx count was known for every interval in the bucket.
    errors_known: bool,
    seconds: f64,
}

impl Bucket {
    fn point(&self, what: ProxyMetric) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)] // request counts of a minute
        match what {
            // No request: no error rate (unknown, not zero).
            ProxyMetric::ErrorPercent => (self.requests > 0 && self.errors_known)
                .then(|| self.errors as f64 * 100.0 / self.requests as f64),
            ProxyMetric::RequestsPerSecond => {
                (self.seconds > 0.0).then(|| self.requests as f64 / self.seconds)
            }
        }
    }
}

/// One service's counters over time.
#[derive(Debug, Default)]
pub struct Meter {
    last: Option<(Instant, Counters)>,
    started: Option<Instant>,
    current: Bucket,
    done: VecDeque<Bucket>,
}

fn total(t: &Traffic) -> Option<Counters> {
    match t {
        Traffic::PerColour { blue, green } => Some(Counters {
            requests: blue.requests + green.requests,
            errors_5xx: blue.errors_5xx.zip(green.errors_5xx).map(|(a, b)| a + b),
            rate: None,
        }),
        Traffic::Total(c) => Some(c.clone()),
        Traffic::NotAvailable(_) | Traffic::Unreadable(_) => None,
    }
}

impl Meter {
    /// Takes in the counters of a reading at `now`. Unreadable counters leave
    /// a gap (the interval is not counted); a counter that went down (the proxy
    /// restarted) starts afresh.
    pub fn take(&mut self, traffic: &Traffic, now: Instant) {
        let Some(c) = total(traffic) else {
            self.last = None;
            return;
        };
        if let Some((at, prev)) = self.last.take()
            && c.requests >= prev.requests
        {
            let start = *self.started.get_or_insert(at);
            if now.duration_since(start) >= MINUTE {
                self.done.push_back(self.current);
                while self.done.len() > POINTS {
                    self.done.pop_front();
                }
                self.current = Bucket {
                    errors_known: true,
                    ..Bucket::default()
                };
                self.started = Some(at);
            } else if self.current.seconds == 0.0 {
                self.current.errors_known = true;
            }
            self.current.requests += c.requests - prev.requests;
            self.current.seconds += now.duration_since(at).as_secs_f64();
            match (c.errors_5xx, prev.errors_5xx) {
                (Some(e), Some(p)) if e >= p => self.current.errors += e - p,
                _ => self.current.errors_known = false,
            }
        }
        self.last = Some((now, c));
    }

    /// The points of `what`, oldest first; a minute without a value is NaN
    /// (unknown), and so is everything before the first two readings.
    pub fn points(&self, what: ProxyMetric) -> Vec<f64> {
        self.done
            .iter()
            .chain(std::iter::once(&self.current).filter(|b| b.seconds > 0.0))
            .map(|b| b.point(what).unwrap_or(f64::NAN))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_colour(blue: (u64, u64), green: (u64, u64)) -> Traffic {
        Traffic::PerColour {
            blue: Counters {
                requests: blue.0,
                errors_5xx: Some(blue.1),
                rate: None,
            },
            green: Counters {
                requests: green.0,
                errors_5xx: Some(green.1),
                rate: None,
            },
        }
    }

    #[test]
    fn points_per_minute_from_counters() {
        let mut m = Meter::default();
        let t0 = Instant::now();
        m.take(&per_colour((100, 0), (0, 0)), t0);
        assert!(
            m.points(ProxyMetric::ErrorPercent).is_empty(),
            "one reading says nothing"
        );
        m.take(&per_colour((200, 0), (0, 0)), t0 + Duration::from_secs(10));
        assert_eq!(m.points(ProxyMetric::ErrorPercent), [0.0]);
        assert_eq!(m.points(ProxyMetric::RequestsPerSecond), [10.0]);
        // After the switch green answers, one in five with a 5xx.
        m.take(
            &per_colour((200, 0), (100, 20)),
            t0 + Duration::from_secs(20),
        );
        let p = m.points(ProxyMetric::ErrorPercent);
        assert!((p[0] - 10.0).abs() < 1e-9, "{p:?}");
        // A new minute starts a new point.
        m.take(
            &per_colour((200, 0), (200, 70)),
            t0 + Duration::from_secs(70),
        );
        let p = m.points(ProxyMetric::ErrorPercent);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!((p[1] - 50.0).abs() < 1e-9, "{p:?}");
        // Unreadable counters leave a gap; a restarted proxy starts afresh.
        m.take(
            &Traffic::Unreadable("down".into()),
            t0 + Duration::from_secs(80),
        );
        m.take(&per_colour((1, 0), (0, 0)), t0 + Duration::from_secs(90));
        m.take(&per_colour((1, 0), (0, 0)), t0 + Duration::from_secs(100));
        let p = m.points(ProxyMetric::ErrorPercent);
        assert!(p.last().unwrap().is_nan(), "no request: unknown, {p:?}");
    }
}
