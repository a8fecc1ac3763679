//! What the journeys share: another person's shell, and reading a screen.

use crate::support::Succeed;

/// `shipdeck approve --demo` as `who`, from another process; what it printed.
pub(super) fn approve_demo(data: &std::path::Path, who: &str, id: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .args(["approve", "--demo", "--yes", id])
        .env("XDG_DATA_HOME", data)
        .env("SHIPDECK_OPERATOR", who)
        .env("SHIPDECK_LOG_FILE", data.join("approve.log"))
        .succeed();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `shipdeck ARGS` as `who` from another process over `dir`'s data, cache
/// and Docker configuration; whether it succeeded, and all it printed.
pub(super) fn run_as(
    dir: &std::path::Path,
    cfg: &std::path::Path,
    who: &str,
    args: &[&str],
) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("SHIPDECK_CONFIG")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("DOCKER_CONFIG", dir.join("docker"))
        .env("SHIPDECK_OPERATOR", who)
        .env("SHIPDECK_LOG_FILE", dir.join(format!("{who}.log")))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The text after `label` on the first screen line containing it, up to the next blank.
pub(super) fn word_after<'a>(screen: &'a str, label: &str) -> &'a str {
    let line = screen.lines().find(|l| l.contains(label)).unwrap();
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.split_whitespace().next().unwrap()
}

/// The board cell under the prod column header on the row containing `row`.
pub(super) fn prod_cell(screen: &str, row: &str) -> String {
    let header = screen.lines().find(|l| l.contains("prod ▲PROD")).unwrap();
    let col = header[..header.find("prod ▲PROD").unwrap()].chars().count();
    let line = screen
        .lines()
        .find(|l| l.contains(row))
        .unwrap_or_else(|| panic!("no row {row}:\n{screen}"));
    line.chars()
        .skip(col)
        .collect::<String>()
        .trim()
        .to_string()
}
