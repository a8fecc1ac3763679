//! How ECS rolls a service out: rolling, blue/green, canary, linear, or a
//! controller shipdeck does not drive (CodeDeploy).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_secs;

/// Deployment strategy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Strategy {
    /// ECS rolling update.
    #[default]
    Rolling,
    /// ECS native blue/green with a bake time.
    BlueGreen {
        /// How long green bakes while blue stays warm.
        #[serde(with = "duration_secs")]
        bake: Duration,
    },
    /// ECS native canary: `percent` of the traffic for `canary_bake`, then all of it.
    Canary {
        /// Traffic on the new revision during the canary, in hundredths of a percent.
        percent_hundredths: u32,
        /// How long the canary step lasts.
        #[serde(with = "duration_secs")]
        canary_bake: Duration,
        /// How long the old revision stays warm after the shift.
        #[serde(with = "duration_secs")]
        bake: Duration,
    },
    /// ECS native linear: `step` more of the traffic every `interval`.
    Linear {
        /// Traffic shifted per step, in hundredths of a percent.
        step_hundredths: u32,
        /// Time between two steps.
        #[serde(with = "duration_secs")]
        interval: Duration,
        /// How long the old revision stays warm after the shift.
        #[serde(with = "duration_secs")]
        bake: Duration,
    },
    /// The service's deployment controller is CodeDeploy: ECS refuses
    /// `UpdateService` with a new task definition, so shipdeck does not
    /// promote or roll it back (it says so before any change).
    CodeDeploy,
    /// Another controller (external).
    Other {
        /// The controller's name as reported.
        name: String,
    },
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rolling => f.write_str("rolling"),
            Self::BlueGreen { bake } => {
                write!(f, "blue/green (bake {})", humantime::format_duration(*bake))
            }
            Self::Canary {
                percent_hundredths,
                canary_bake,
                bake,
            } => write!(
                f,
                "canary {} for {}, then all (bake {})",
                percent(*percent_hundredths),
                humantime::format_duration(*canary_bake),
                humantime::format_duration(*bake)
            ),
            Self::Linear {
                step_hundredths,
                interval,
                bake,
            } => write!(
                f,
                "linear {} every {} (bake {})",
                percent(*step_hundredths),
                humantime::format_duration(*interval),
                humantime::format_duration(*bake)
            ),
            Self::CodeDeploy => f.write_str("CodeDeploy (deployment controller CODE_DEPLOY)"),
            Self::Other { name } => write!(f, "{name}"),
        }
    }
}

/// `10%`, `5.5%` from hundredths of a percent.
pub(crate) fn percent(hundredths: u32) -> String {
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

impl Strategy {
    /// Hundredths of a percent from ECS's double (bounded to 0–100 %).
    pub fn hundredths(percent: Option<f64>) -> u32 {
        let p = percent
            .filter(|p| p.is_finite())
            .unwrap_or(0.0)
            .clamp(0.0, 100.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // bounded above
        let h = (p * 100.0).round() as u32;
        h
    }

    /// Why shipdeck will not deploy or roll back a service with this strategy,
    /// if it will not: the one refusal of the plan, the rollback and the CLI.
    pub fn refusal(&self, service: &str) -> Option<String> {
        matches!(self, Self::CodeDeploy).then(|| {
            format!(
                "{service} is deployed by CodeDeploy (deployment controller CODE_DEPLOY): ECS refuses a new task definition through UpdateService for it, and shipdeck does not drive CodeDeploy; deploy it with a CodeDeploy deployment (an AppSpec naming the task definition), or move the service to the ECS deployment controller"
            )
        })
    }
}
