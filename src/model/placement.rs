//! Where a service's units run, as its platform places them.

use serde::{Deserialize, Serialize};

use super::Shared;

/// One unit of a service and the region it runs in, as the platform said it:
/// outside text (sanitise before it is shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The unit in the platform's words (a machine id, a service's name).
    pub unit: Shared,
    /// The region code (`fra`, `eu-central-1`).
    pub region: Shared,
}

impl Placement {
    /// A unit in a region.
    pub fn new(unit: impl Into<Shared>, region: impl Into<Shared>) -> Self {
        Self {
            unit: unit.into(),
            region: region.into(),
        }
    }
}
