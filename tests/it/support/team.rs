//! The binary in team mode against a table on an emulator: the release-test
//! configuration with a `[team]` section, and the command with test
//! credentials and its own data directory.

use std::path::{Path, PathBuf};

/// The release-test configuration over the simulated fleet, written into
/// `dir`, with its ledger, locks and approvals in the team table `table` at `url`.
pub fn config_file_at(dir: &Path, url: &str, table: &str) -> PathBuf {
    let base = std::fs::read_to_string("tests/configs/good/release.toml").unwrap();
    let fleet = std::fs::read_to_string("tests/configs/good/release-fleet.toml").unwrap();
    std::fs::write(dir.join("release-fleet.toml"), fleet).unwrap();
    let text = format!(
        "{base}\n[team]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\nlease = \"5s\"\n"
    );
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The binary with `cfg`, as `operator`, with test credentials and its own
/// data directory under `dir` (spawned as is: the races start several).
pub fn process(dir: &Path, cfg: &Path, operator: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    c.env_remove("SHIPDECK_CONFIG")
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("SHIPDECK_LOG_FILE", dir.join("log"))
        .env("SHIPDECK_OPERATOR", operator)
        .arg("--config")
        .arg(cfg);
    c
}
