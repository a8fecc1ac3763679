//! What a reading cannot tell that a watch needs: while anything is listed,
//! the watch cannot succeed (unknown is never fine).

use crate::model::{AlarmState, Health, ServiceSnapshot};

use super::Watch;

impl Watch {
    /// What this reading of the service cannot tell that the watch needs.
    pub(super) fn blind_spots(&self, s: &ServiceSnapshot) -> Vec<String> {
        let mut out = Vec::new();
        if self.alarms_configured && self.policy.abort_on_alarm {
            if let Some(why) = &s.alarms_unknown {
                out.push(why.clone());
            } else {
                out.extend(
                    self.alarms_before
                        .iter()
                        .filter(|n| !s.alarms.iter().any(|a| *a.name == ***n))
                        .map(|n| format!("alarm \"{n}\" is no longer found in its source")),
                );
            }
            let no_data: Vec<&str> = s
                .alarms
                .iter()
                .filter(|a| a.state == AlarmState::InsufficientData)
                .map(|a| &*a.name)
                .collect();
            if !no_data.is_empty() && !self.allow_no_data {
                out.push(format!(
                    "INSUFFICIENT_DATA (unknown, not OK): {}",
                    no_data.join(", ")
                ));
            }
        }
        if self.health_configured && s.health == Health::Unknown {
            out.push("health not known".to_string());
        }
        // Success needs what serves re-read, not assumed.
        if self.completed_at.is_some() && s.task_definition.is_none() {
            out.push("what the service runs now is not known".to_string());
        }
        out
    }
}
