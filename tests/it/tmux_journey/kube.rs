//! The demo's service on Kubernetes with Argo Rollouts, search, through
//! the console.

use std::time::Duration;

use super::{WAIT, approve_demo, console_and_shell, go_and_deploy, launch, prod_cell, prod_wizard};

/// search @ prod promoted from staging: the wizard names the one value the
/// commit changes and the Rollout's steps; two people approve; alice
/// confirms by typing "prod"; Argo CD syncs the commit and the Rollout
/// pauses at 20 %, then at 50 %, each time continued by bob from his shell
/// (alice started it: four eyes); the promotion succeeds on the new digest.
/// The detail pane's steps read whole at 120×40 and at 80×24.
#[test]
fn the_demos_kubernetes_search_is_promoted_through_two_pauses_each_continued_by_a_second_person() {
    let Some((tmux, shell, data)) = console_and_shell("kube") else {
        return;
    };
    // search @ prod: the fifth row, the third column.
    let mut keys = vec!["j"; 4];
    keys.extend(["l", "l", "p"]);
    let (digest, id) = prod_wizard(&tmux, &keys, "search");
    let screen = tmux.screen();
    assert!(screen.contains("+ digest sha256:"), "{screen}");
    assert!(
        screen.contains("one value: overlays/prod/kustomization.yaml"),
        "{screen}"
    );
    assert!(
        screen.contains("canary 20% · pause · 50% · pause"),
        "{screen}"
    );
    approve_demo(data.path(), "bob", &id);
    go_and_deploy(&tmux, data.path(), &id, "search");

    let screen = tmux.wait_for("PAUSED at step 1 of 3 (20%)", Duration::from_mins(2));
    assert!(screen.contains("Deploy search · prod [PROD]"), "{screen}");
    let continue_as_bob = || {
        launch(&shell, "step continue search --env prod --demo --yes");
        // The command line itself says `EXIT=$?`: wait for the answer.
        let said = shell.wait_for("EXIT=0", WAIT);
        shell.run("clear");
        said
    };
    let said = continue_as_bob();
    assert!(said.contains("pause at 20%"), "{said}");
    tmux.wait_for("PAUSED at step 2 of 3 (50%)", Duration::from_mins(2));
    let said = continue_as_bob();
    assert!(said.contains("pause at 50%"), "{said}");
    tmux.wait_for("deploy of search in prod succeeded", Duration::from_mins(3));
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Deploy search · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶search").starts_with(&digest),
        "prod runs {digest}:\n{screen}"
    );

    // The detail pane: the Rollout's steps, its Application, whole…
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("Detail · search @ prod", WAIT);
    for want in [
        "20% · pause · 50% · pause",
        "search-prod Synced at",
        "phase",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
    // …and at 80×24.
    tmux.resize(80, 24);
    tmux.wait_for("Detail · search @ prod", WAIT);
    // The pane scrolls to the Rollout's lines; each reads whole.
    let mut screen = tmux.screen();
    for _ in 0..30 {
        if screen.lines().any(|l| l.contains("steps ")) {
            break;
        }
        tmux.send(&["j"]);
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux.screen();
    }
    let steps = screen
        .lines()
        .find(|l| l.contains("steps "))
        .unwrap_or_else(|| panic!("no steps line at 80×24:\n{screen}"));
    assert!(
        steps.contains("20% · pause · 50% · pause"),
        "cut off at 80×24:\n{screen}"
    );
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
}
