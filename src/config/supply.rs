//! `[supply_chain]`: the keys a signature must verify with, the severity a
//! scan may not reach, the CVEs allowed for a while, and where a commit
//! must have landed.

/// The `[supply_chain]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupplyPolicy {}
