//! End-to-end journeys through the real binary in tmux.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod tmux;
}

use std::time::Duration;

use support::tmux::Tmux;

const WAIT: Duration = Duration::from_secs(20);

fn launch(tmux: &Tmux, args: &str) {
    let bin = env!("CARGO_BIN_EXE_shipdeck");
    let log = std::env::temp_dir().join(format!("shipdeck-tmux-{}.log", std::process::id()));
    tmux.run(&format!(
        "SHIPDECK_LOG_FILE={} {bin} {args}; echo EXIT=$?",
        log.display()
    ));
}

#[test]
fn demo_board_navigate_help_quit_restores_terminal() {
    let Some(tmux) = Tmux::start("journey", 120, 40) else {
        return;
    };
    tmux.wait_for("PROMPT$", WAIT);
    launch(&tmux, "demo");
    tmux.wait_for("Board · services × environments", WAIT);
    // Data arrives from the simulator.
    tmux.wait_for("✓ read", WAIT);
    assert!(tmux.alternate_on(), "the console uses the alternate screen");

    tmux.send(&["j"]);
    tmux.wait_for("▶web", WAIT);
    tmux.send(&["?"]);
    tmux.wait_for("Keys in the board", WAIT);
    tmux.send(&["Escape"]);
    let screen = tmux.wait_gone("Keys in the board", WAIT);
    assert!(
        screen.contains("▶web"),
        "the board is back with the selection kept:\n{screen}"
    );

    tmux.send(&["l", "l", "Enter"]);
    tmux.wait_for("Detail · web @ prod", WAIT);

    tmux.send(&["q"]);
    let screen = tmux.wait_for("EXIT=0", WAIT);
    assert!(
        !tmux.alternate_on(),
        "alternate screen left on after quit:\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.starts_with("PROMPT$")),
        "the shell prompt is back:\n{screen}"
    );
    assert!(
        !screen.contains("Board · services"),
        "the console's screen is gone:\n{screen}"
    );
}

#[test]
fn read_only_flag_shows_in_the_status_bar_and_refuses_promote() {
    let Some(tmux) = Tmux::start("readonly", 120, 40) else {
        return;
    };
    tmux.wait_for("PROMPT$", WAIT);
    launch(&tmux, "demo --read-only");
    tmux.wait_for("READ-ONLY", WAIT);
    tmux.send(&["p"]);
    tmux.wait_for("cannot promote: read-only mode", WAIT);
    tmux.send(&["C-c"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
}

#[test]
fn tiny_terminal_gets_a_message_and_quits_cleanly() {
    let Some(tmux) = Tmux::start("tiny", 60, 15) else {
        return;
    };
    tmux.wait_for("PROMPT$", WAIT);
    launch(&tmux, "demo");
    tmux.wait_for("need at least 80×24", WAIT);
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
}

/// The text after `label` on the first screen line containing it, up to the next blank.
fn word_after<'a>(screen: &'a str, label: &str) -> &'a str {
    let line = screen.lines().find(|l| l.contains(label)).unwrap();
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.split_whitespace().next().unwrap()
}

/// The board cell under the prod column header on the row containing `row`.
fn prod_cell(screen: &str, row: &str) -> String {
    let header = screen.lines().find(|l| l.contains("prod ▲PROD")).unwrap();
    let col = header[..header.find("prod ▲PROD").unwrap()].chars().count();
    let line = screen.lines().find(|l| l.contains(row)).unwrap();
    line.chars()
        .skip(col)
        .collect::<String>()
        .trim()
        .to_string()
}

#[test]
fn promote_staging_to_prod_then_roll_back_with_r() {
    let Some(tmux) = Tmux::start("promote", 120, 40) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_shipdeck");
    let approve = |who: &str, id: &str| {
        let out = std::process::Command::new(bin)
            .args(["approve", "--demo", "--yes", id])
            .env("XDG_DATA_HOME", data.path())
            .env("SHIPDECK_OPERATOR", who)
            .env("SHIPDECK_LOG_FILE", data.path().join("approve.log"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={} SHIPDECK_OPERATOR=alice; clear",
        data.path().display()
    ));
    launch(&tmux, "demo");
    tmux.wait_for("✓ read", WAIT);

    // p on api @ prod: the wizard promotes staging's digest.
    tmux.send(&["l", "l", "p"]);
    let screen = tmux.wait_for("Promote api · staging → prod [PROD]", WAIT);
    let digest = word_after(&screen, "Digest ").to_string();
    let id = word_after(&screen, "Approvals for ")
        .trim_end_matches(':')
        .to_string();
    tmux.send(&["Space", "j", "Space", "j", "Enter"]);
    tmux.send(&["-l", "CHG-1234"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("change record CHG-1234", WAIT);
    approve("bob", &id);
    approve("carol", &id);
    tmux.wait_for("2 of 2 approvals (bob, carol)", WAIT);
    tmux.wait_for("Gate: GO", WAIT);

    // GO: the confirmation wants the environment's name typed.
    tmux.send(&["g"]);
    tmux.wait_for("Type \"prod\" and press enter to deploy", WAIT);
    tmux.send(&["Enter"]);
    tmux.wait_for("type \"prod\" exactly to confirm", WAIT);
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("Deploy api · prod [PROD]", WAIT);
    tmux.wait_for("deploy of api in prod succeeded", Duration::from_mins(2));
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Deploy api · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶api").starts_with(&digest),
        "prod runs {digest}:\n{screen}"
    );

    // r: back to the previous revision, also typed.
    tmux.send(&["r"]);
    let screen = tmux.wait_for("Roll back api in prod [PROD]", WAIT);
    let after = screen.lines().find(|l| l.contains("After:")).unwrap();
    let previous = after.split_whitespace().nth(3).unwrap().to_string();
    assert_ne!(previous, digest);
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("Rollback api · prod [PROD]", WAIT);
    tmux.wait_for("rollback of api in prod succeeded", Duration::from_mins(2));
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Rollback api · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶api").starts_with(&previous),
        "prod runs {previous} again:\n{screen}"
    );

    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
    // Everything it did is in the demo's audit trail, and the chain holds.
    let verify = std::process::Command::new(bin)
        .args(["audit", "verify", "--ledger"])
        .arg(data.path().join("shipdeck/demo-ledger.jsonl"))
        .env("SHIPDECK_LOG_FILE", data.path().join("verify.log"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.contains("demo-ledger.jsonl: OK"),
        "{said}"
    );
}

#[test]
fn promote_asks_on_the_terminal_without_yes() {
    let Some(tmux) = Tmux::start("ask", 120, 40) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/good/release.toml");
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={} SHIPDECK_OPERATOR=alice",
        data.path().display()
    ));
    launch(
        &tmux,
        &format!("--config {} promote api --to prod --wait", config.display()),
    );
    tmux.wait_for("Change record id:", WAIT);
    tmux.run("CHG-42");
    // prod needs an approval from someone else first: the command says how.
    let screen = tmux.wait_for("EXIT=1", WAIT);
    assert!(screen.contains("waits for approvals"), "{screen}");
    let id = screen
        .lines()
        .find_map(|l| l.split("shipdeck approve ").nth(1))
        .unwrap()
        .split('`')
        .next()
        .unwrap()
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(&config)
        .args(["approve", "--yes", &id])
        .env("XDG_DATA_HOME", data.path())
        .env("SHIPDECK_OPERATOR", "bob")
        .env("SHIPDECK_LOG_FILE", data.path().join("approve.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.run("clear");
    launch(
        &tmux,
        &format!("--config {} promote api --to prod --wait", config.display()),
    );
    tmux.wait_for("Change record id:", WAIT);
    tmux.run("CHG-42");
    tmux.wait_for("Type \"prod\" to confirm:", WAIT);
    tmux.run("prod");
    let screen = tmux.wait_for("promote: ", Duration::from_mins(2));
    assert!(screen.contains("promote: succeeded"), "{screen}");
    tmux.wait_for("EXIT=0", WAIT);
}
