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
    /// A valid cosign signature over the exact digest by a trusted key
    /// (`[supply_chain] keys`).
    Signed,
    /// A signed vulnerability scan of the digest with nothing at or above
    /// `[supply_chain] severity` but what the allow-list lets through.
    Scanned,
    /// The digest names the commit it was built from (and, where
    /// `[supply_chain.provenance]` says, that commit is on its branch).
    Provenance,
}

impl AutoCheck {
    /// All checks with their configuration names.
    pub const ALL: [(Self, &'static str); 13] = [
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
        (Self::Signed, "signed"),
        (Self::Scanned, "scanned"),
        (Self::Provenance, "provenance"),
    ];

    /// The checks a gate evaluates when `checks` is not written: all of them
    /// but `allowed_regions`, which joins only where a region list is set,
    /// and the supply-chain checks, which need `[supply_chain]` and are
    /// asked for by name.
    pub fn defaults() -> Vec<Self> {
        Self::ALL
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| !c.opt_in())
            .collect()
    }

    /// Checks a gate evaluates only where `checks` names them.
    pub fn opt_in(self) -> bool {
        matches!(
            self,
            Self::AllowedRegions | Self::Signed | Self::Scanned | Self::Provenance
        )
    }

    /// Whether the check reads the registry (`signed`, `scanned`,
    /// `provenance`).
    pub fn reads_registry(self) -> bool {
        matches!(self, Self::Signed | Self::Scanned | Self::Provenance)
    }

    /// Configuration name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("?", |(_, n)| n)
    }
}
