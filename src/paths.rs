//! Platform directories (config, state, data) from the `directories` crate.

use std::path::{Path, PathBuf};

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

/// Directory for caches (`~/.cache/shipdeck` on Linux).
pub fn cache_dir() -> Option<PathBuf> {
    dirs().map(|d| d.cache_dir().to_path_buf())
}

/// The task-definition cache's file name in [`cache_dir`] (ECS).
pub const TASK_DEFINITION_CACHE: &str = "task-definitions.json";
/// The Lambda version cache's file name in [`cache_dir`], beside ECS's.
pub const LAMBDA_VERSION_CACHE: &str = "lambda-versions.json";

/// A cache file named `name` in [`cache_dir`] (see [`crate::cache`]).
pub fn cache_file(name: &str) -> Option<PathBuf> {
    cache_dir().map(|d| d.join(name))
}

/// The log file.
pub fn log_file() -> Option<PathBuf> {
    state_dir().map(|d| d.join("shipdeck.log"))
}

/// Reads a file that must be a regular file, at most `limit` bytes. A device
/// (`/dev/zero`, `/dev/full`), FIFO or directory where a file is meant would
/// hang or grow memory without bound; it is refused before it is opened.
/// `Ok(None)` when the file does not exist.
pub fn read_regular(path: &std::path::Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    if !is_regular_or_absent(path)? {
        return Err(not_regular(path));
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB; is this the right file?", limit / 1024),
        ));
    }
    Ok(Some(bytes))
}

/// Whether `path` is a regular file (following symlinks), or does not exist.
pub fn is_regular_or_absent(path: &std::path::Path) -> std::io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.is_file()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// What `path` is when it exists and is not a regular file (following
/// symlinks): "a directory", "a character device", "a FIFO (named pipe)", …
/// `None` when it is a regular file, does not exist, or cannot be looked at
/// (opening it then says why).
pub fn irregular_kind(path: &std::path::Path) -> Option<&'static str> {
    let m = std::fs::metadata(path).ok()?;
    let t = m.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Why `path` cannot be a ledger file, when it exists and is not a regular
/// file (a device or FIFO would swallow the records or block the writer), as
/// "is a character device, not a regular file". The configuration and the
/// command line refuse it as a usage error (exit 2), before anything is done.
pub fn unusable_ledger(path: &std::path::Path) -> Option<String> {
    irregular_kind(path).map(|kind| match kind {
        "not a regular file" => kind.to_string(),
        _ => format!("is {kind}, not a regular file"),
    })
}

/// The error for a path that is not a regular file.
pub fn not_regular(path: &std::path::Path) -> std::io::Error {
    let kind = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => "a directory",
        _ => "not a regular file (a device, pipe or socket)",
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it is {kind}; point it at a regular file"),
    )
}

/// `~/…` against the home directory (as the AWS SDK and kubectl expand
/// it); any other path as it is.
pub fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}
