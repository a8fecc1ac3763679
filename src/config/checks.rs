//! The automatic checks a gate can evaluate, by their configuration names.

/// Automatic gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoCheck {
    /// The source's latest deployment completed.
    RolloutCompleted,
    /// The source's alarms are not in ALARM.
    AlarmsOk,
    /// The source's health endpoint is healthy-stable.
    HealthyStable,
    /// Smoke checks pass.
    Smoke,
    /// The digest soaked long enough in the source.
    Soak,
    /// The target is not in a freeze window.
    Freeze,
    /// No other promotion of the service into the target is in flight.
    NotInFlight,
    /// The digest is pinned.
    Pinned,
    /// The target's reading is fresh.
    Fresh,
    /// Every unit of the service in the target runs in a region the
    /// environment allows (`[environment.gate] allowed_regions`).
    AllowedRegions,
}

impl AutoCheck {
    /// All checks with their configuration names.
    pub const ALL: [(Self, &'static str); 10] = [
        (Self::RolloutCompleted, "rollout_completed"),
        (Self::AlarmsOk, "alarms_ok"),
        (Self::HealthyStable, "healthy_stable"),
        (Self::Smoke, "smoke"),
        (Self::Soak, "soak"),
        (Self::Freeze, "freeze"),
        (Self::NotInFlight, "not_in_flight"),
        (Self::Pinned, "pinned"),
        (Self::Fresh, "fresh"),
        (Self::AllowedRegions, "allowed_regions"),
    ];

    /// The checks a gate evaluates when `checks` is not written: all of them
    /// but `allowed_regions`, which joins only where a region list is set.
    pub fn defaults() -> Vec<Self> {
        Self::ALL
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| *c != Self::AllowedRegions)
            .collect()
    }

    /// Configuration name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("?", |(_, n)| n)
    }
}
