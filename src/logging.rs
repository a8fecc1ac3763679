//! Logging goes to a file; the terminal belongs to the UI.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use tracing_subscriber::EnvFilter;

/// Where logs go: `$SHIPDECK_LOG_FILE`, else the platform state dir.
pub fn log_path() -> Option<PathBuf> {
    std::env::var_os("SHIPDECK_LOG_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(crate::paths::log_file)
}

/// Installs a file logger at `level` (or `RUST_LOG` when no level is given).
/// Returns the path written to, or why logging is off; never prints.
pub fn init(level: Option<&str>, path: Option<&Path>) -> Result<PathBuf, String> {
    let path = path.ok_or_else(|| "no state directory for the log file".to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let filter = match level {
        Some(l) => EnvFilter::try_new(format!("shipdeck={l},warn")),
        None => {
            EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("shipdeck=info,warn"))
        }
    }
    .map_err(|e| format!("bad log level: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| format!("logger already set: {e}"))?;
    Ok(path.to_path_buf())
}
