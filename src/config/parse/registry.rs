//! `[registry]`.

use super::super::registry::RegistryConfig;
use super::super::walk::{Ctx, Table};

/// `[registry]`, checked.
pub(in crate::config) fn parse_registry(ctx: &mut Ctx<'_>, root: &Table<'_>) -> RegistryConfig {
    let Some(_t) = root.table(ctx, "registry", "[registry]".to_string()) else {
        return RegistryConfig::default();
    };
    RegistryConfig::default()
}
