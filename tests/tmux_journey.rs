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
