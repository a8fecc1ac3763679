//! The approval matrix through the console: a feature promotion into prod
//! waits for a developer and someone from the business, and the approvals
//! pane (`A`) says what is still open until carol, the business, approves.

use std::path::{Path, PathBuf};

use super::{WAIT, launch, run_as};
use crate::support::tmux::Tmux;

/// The release-test configuration with roles for people by name (file
/// mode) and prod's feature row: a developer and the business.
fn config(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string("tests/configs/good/release.toml").unwrap();
    let fleet = std::fs::read_to_string("tests/configs/good/release-fleet.toml").unwrap();
    std::fs::write(dir.join("release-fleet.toml"), fleet).unwrap();
    let text = format!(
        "{base}\n[team.roles]\ndeveloper = [\"alice\", \"bob\", \"dave\"]\nbusiness = [\"carol\"]\n"
    )
    .replace(
        "change_record_pattern = \"^CHG-[0-9]+$\"",
        "change_record_pattern = \"^CHG-[0-9]+$\"\n\n[environment.gate.approvals]\nfeature = \"1 developer, 1 business\"",
    );
    let path = dir.join("shipdeck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// alice's feature promotion of api into prod, with `last` at the end.
fn promote_feature(last: &str) -> [&str; 10] {
    [
        "promote",
        "api",
        "--to",
        "prod",
        "--change",
        "CHG-42",
        "--change-type",
        "feature",
        "--yes",
        last,
    ]
}

#[test]
fn a_feature_into_prod_needs_the_business_until_carol_approves() {
    let Some(tmux) = Tmux::start("matrix", 120, 40) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={} SHIPDECK_OPERATOR=carol; clear",
        dir.path().join("data").display()
    ));
    launch(&tmux, &format!("--config {}", cfg.display()));
    tmux.wait_for("✓ read", WAIT);

    // The wizard into prod asks for a change type; `c` picks the next one,
    // and the feature row's slots show.
    tmux.send(&["l", "l", "p"]);
    let screen = tmux.wait_for("Promote api · staging → prod", WAIT);
    assert!(screen.contains("Change type none chosen"), "{screen}");
    assert!(
        screen.contains("choose one: feature, bugfix, hotfix"),
        "{screen}"
    );
    tmux.send(&["c"]);
    let screen = tmux.wait_for("Change type feature", WAIT);
    assert!(
        screen.contains("0 of 2 approvals · needs 1 developer, 1 business"),
        "{screen}"
    );
    tmux.send(&["Escape"]);
    tmux.wait_gone("Promote api", WAIT);

    // alice asks for a feature promotion from her terminal.
    let (ok, said) = run_as(dir.path(), &cfg, "alice", &promote_feature("--json"));
    assert!(!ok, "NO-GO until approved: {said}");
    let report: serde_json::Value =
        serde_json::from_str(said.lines().next().unwrap_or("{}")).unwrap_or_default();
    let id = report["promotion"].as_str().map_or_else(
        || {
            said.split_whitespace()
                .skip_while(|w| *w != "promotion")
                .nth(1)
                .unwrap_or_default()
                .to_string()
        },
        str::to_string,
    );
    assert_eq!(id.len(), 6, "{said}");

    // carol's console: the approvals pane.
    tmux.send(&["A"]);
    let screen = tmux.wait_for("needs 1 developer, 1 business", WAIT);
    assert!(screen.contains(&id), "{screen}");
    assert!(screen.contains("type feature · change CHG-42"), "{screen}");

    // bob, a developer, approves: the business slot is still open.
    let (ok, said) = run_as(dir.path(), &cfg, "bob", &["approve", "--yes", &id]);
    assert!(ok, "{said}");
    assert!(said.contains("as developer"), "{said}");
    let screen = tmux.wait_for("1 of 2 approvals (developer: bob) · needs 1 business", WAIT);
    assert!(!screen.contains("needs 1 developer"), "{screen}");
    // dave, another developer, fills nothing.
    let (ok, said) = run_as(dir.path(), &cfg, "dave", &["approve", "--yes", &id]);
    assert!(!ok && said.contains("fills no open slot"), "{said}");
    // At 80×24 what is open reads whole.
    tmux.resize(80, 24);
    let screen = tmux.wait_for("needs 1 business", WAIT);
    assert!(
        screen.lines().any(|l| l.contains("1 of 2 approvals")),
        "{screen}"
    );
    tmux.resize(120, 40);

    // carol, the business, approves; nothing is open any more.
    let (ok, said) = run_as(dir.path(), &cfg, "carol", &["approve", "--yes", &id]);
    assert!(ok, "{said}");
    let screen = tmux.wait_for("2 of 2 approvals (developer: bob; business: carol)", WAIT);
    assert!(!screen.contains("needs 1 business"), "{screen}");
    tmux.send(&["Escape"]);
    tmux.wait_gone("Waiting for approval", WAIT);
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);

    // And alice's promotion goes through.
    let (ok, said) = run_as(dir.path(), &cfg, "alice", &promote_feature("--wait"));
    assert!(ok, "{said}");
}
