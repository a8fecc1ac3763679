//! The demo's service on Fly.io Machines, edge, through the console.

use std::time::Duration;

use super::{WAIT, approve_demo, console_and_shell, go_and_deploy, launch, prod_cell, prod_wizard};

/// The detail pane's machine lines (`machine  <id>  <region>  <state>  <digest> …`).
fn machine_lines(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains("machine ") && l.contains(" checks "))
        .map(str::to_string)
        .collect()
}

/// edge @ prod promoted from staging: the wizard names the machines, their
/// regions and the commit; a second person approves; alice confirms by
/// typing "prod"; the canary machine in fra is updated first and held, a
/// second shell continues it, the rest follow; then `r` redeploys the
/// image prod ran before onto every machine. The detail pane reads whole at
/// 120×40 and at 80×24.
#[test]
fn the_demos_fly_edge_is_promoted_canary_first_then_rolled_back_with_r() {
    let Some((tmux, shell, data)) = console_and_shell("fly") else {
        return;
    };
    // edge @ prod: the tenth row, the third column.
    let mut keys = vec!["j"; 9];
    keys.extend(["l", "l", "p"]);
    let (digest, id) = prod_wizard(&tmux, &keys, "edge");
    let screen = tmux.screen();
    assert!(screen.contains("machines of edge-prod run"), "{screen}");
    assert!(screen.contains("regions: fra ×2, ams ×2"), "{screen}");
    assert!(screen.contains("source github.com/acme/edge"), "{screen}");
    approve_demo(data.path(), "bob", &id);
    go_and_deploy(&tmux, data.path(), &id, "edge");

    // The canary: one machine in fra on the new image, the rest waiting.
    let screen = tmux.wait_for("◐ canary 25% · fra", Duration::from_mins(1));
    assert!(screen.contains("Deploy edge · prod [PROD]"), "{screen}");
    // Held 30 s, then a person decides: bob, from his shell, through the
    // demo world (alice started it: four eyes).
    tmux.wait_for("PAUSED at step 1 of 4 (25%)", Duration::from_mins(2));
    launch(
        &shell,
        "step continue edge --env prod --demo --yes --cut-hold --reason 'canary clean'",
    );
    // The command line itself says `EXIT=$?`: wait for the answer.
    let said = shell.wait_for("EXIT=0", WAIT);
    assert!(said.contains("step continue: applied"), "{said}");
    tmux.wait_for("deploy of edge in prod succeeded", Duration::from_mins(3));
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Deploy edge · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶edge").starts_with(&digest),
        "prod runs {digest}:\n{screen}"
    );

    // r: the image prod ran before, deployed again onto every machine.
    tmux.send(&["r"]);
    let screen = tmux.wait_for("Roll back edge in prod [PROD]", WAIT);
    let after = screen.lines().find(|l| l.contains("After:")).unwrap();
    let previous = after
        .split_whitespace()
        .find(|w| w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .or_else(|| {
            after
                .split(['@', ' '])
                .find(|w| w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .unwrap_or_else(|| panic!("no digest after \"After:\":\n{screen}"))
        .to_string();
    assert!(!digest.starts_with(&previous[..12]), "{screen}");
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("Rollback edge · prod [PROD]", WAIT);
    tmux.wait_for("rollback of edge in prod succeeded", Duration::from_mins(2));
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Rollback edge · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶edge").starts_with(&previous[..12]),
        "prod runs {previous} again:\n{screen}"
    );

    // Every machine back on the old image, each line whole at 120×40…
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("Detail · edge @ prod", WAIT);
    let lines = machine_lines(&screen);
    assert_eq!(lines.len(), 4, "{screen}");
    for l in &lines {
        assert!(l.contains(&previous[..12]), "{l}\n{screen}");
        assert!(l.contains("checks 1/1 ✓"), "{l}\n{screen}");
    }
    // …and at 80×24, where each machine's line folds whole under its
    // label once the pane is scrolled to them.
    tmux.resize(80, 24);
    tmux.wait_for("↓", WAIT);
    tmux.send(&["j", "j", "j", "j", "j", "j", "j"]);
    let screen = tmux.wait_for("↑ 7 above", WAIT);
    let folded: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(&previous[..12]) && l.contains("checks 1/1 ✓"))
        .collect();
    assert!(folded.len() >= 3, "cut off at 80×24:\n{screen}");
    assert!(folded.iter().all(|l| !l.contains('…')), "{screen}");
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
}
