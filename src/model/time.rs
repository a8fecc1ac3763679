//! Time in the model: how current a reading is, and durations as JSON numbers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How current an environment's data is. The screen never shows old data as current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Freshness {
    /// Never asked.
    Unknown,
    /// First reading under way.
    Loading,
    /// Last reading succeeded at `at`.
    Ready {
        /// Time of the reading.
        at: DateTime<Utc>,
    },
    /// Last reading failed; older good data is still shown, marked stale.
    Stale {
        /// Time of the last good reading.
        last_good: DateTime<Utc>,
        /// The error of the latest attempt.
        error: String,
    },
    /// No good reading at all yet, and the latest attempt failed.
    Failed {
        /// The error.
        error: String,
    },
}

impl Freshness {
    /// Next freshness after a successful reading.
    pub fn on_success(&self, at: DateTime<Utc>) -> Self {
        Self::Ready { at }
    }

    /// Next freshness after a failed reading: stale if there was good data, failed otherwise.
    pub fn on_failure(&self, error: String) -> Self {
        match self {
            Self::Ready { at } => Self::Stale {
                last_good: *at,
                error,
            },
            Self::Stale { last_good, .. } => Self::Stale {
                last_good: *last_good,
                error,
            },
            Self::Unknown | Self::Loading | Self::Failed { .. } => Self::Failed { error },
        }
    }

    /// Whether the data can be trusted as current (gates require this).
    pub fn is_fresh(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }
}

/// Serde helper: durations as whole seconds.
pub mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serialises as seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    /// Deserialises from seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Serde helper: durations as whole milliseconds.
pub mod duration_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serialises as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Deserialises from milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A std duration as a chrono one (saturating: a huge duration is "forever").
pub fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
