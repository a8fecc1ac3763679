//! The simulated Lambda's state as the demo's world file keeps it, so every
//! process sharing the world sees the same functions and aliases: a shift
//! paused in one console is continued from another shell, as on AWS.

use serde::Deserialize;

use super::{SimLambda, State};

impl SimLambda {
    /// Its whole state, to be kept in the world file.
    pub fn export(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&*self.lock()).ok()
    }

    /// Takes `saved` (an [`export`](Self::export), maybe from another
    /// process) as its state. A state that does not read is left out: the
    /// world file names the fleet it comes from, so that is a bug, and the
    /// functions keep what this process knows.
    pub fn import(&self, saved: &serde_json::Value) {
        match State::deserialize(saved) {
            Ok(st) => *self.lock() = st,
            Err(e) => {
                tracing::warn!(error = %e, "simulated Lambda state in the world file ignored");
            }
        }
    }

    /// Sets an alias's description as a fleet is built (a stamp of when it
    /// began to serve its version); nothing when there is no such alias.
    pub fn describe_alias(&self, function: &str, alias: &str, description: String) {
        if let Some(a) = self
            .lock()
            .functions
            .get_mut(function)
            .and_then(|f| f.aliases.get_mut(alias))
        {
            a.description = description;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::super::Package;
    use super::SimLambda;
    use crate::clock::ManualClock;
    use crate::platforms::lambda::api::LambdaApi;

    #[tokio::test]
    async fn an_exported_state_is_the_same_functions_in_another_process() {
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
        ));
        let sha = "a".repeat(64);
        let one = SimLambda::new(1, clock.clone(), std::time::Duration::from_secs(1))
            .with_function("f", Package::Image, &sha, "live")
            .unwrap();
        let other = SimLambda::new(2, clock, std::time::Duration::from_secs(1));
        assert!(other.alias("f", "live").await.is_err());
        other.import(&one.export().unwrap());
        assert_eq!(
            other.alias("f", "live").await.unwrap(),
            one.alias("f", "live").await.unwrap()
        );
        // Garbage is ignored, not taken.
        other.import(&serde_json::json!({"functions": 3}));
        assert!(other.alias("f", "live").await.is_ok());
    }
}
