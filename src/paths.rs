//! Platform directories (config, state, data) from the `directories` crate.

use std::path::PathBuf;

use directories::ProjectDirs;

fn dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("dev", "shipdeck", "shipdeck")
}

/// `~/.config/shipdeck/config.toml` on Linux, the platform equivalent elsewhere.
pub fn default_config_file() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("config.toml"))
}

/// Directory for logs and other state (`~/.local/state/shipdeck` on Linux).
pub fn state_dir() -> Option<PathBuf> {
    dirs().map(|d| {
        d.state_dir().map_or_else(
            || d.data_local_dir().to_path_buf(),
            std::path::Path::to_path_buf,
        )
    })
}

/// Directory for the audit ledger and records (`~/.local/share/shipdeck` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    dirs().map(|d| d.data_dir().to_path_buf())
}

/// The log file.
pub fn log_file() -> Option<PathBuf> {
    state_dir().map(|d| d.join("shipdeck.log"))
}
