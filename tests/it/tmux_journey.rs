//! End-to-end journeys through the real binary in tmux.

use std::time::Duration;

use crate::support::Succeed;
use crate::support::tmux::Tmux;
use people::{approve_demo, prod_cell, run_as, word_after};

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

/// Opens the prod wizard for `service` with `keys`, ticks both checklist
/// items and enters a change record; the digest and the promotion id it shows.
fn prod_wizard(tmux: &Tmux, keys: &[&str], service: &str) -> (String, String) {
    tmux.send(keys);
    tmux.wait_for(&format!("Promote {service} · staging → prod [PROD]"), WAIT);
    // The approvals line comes once the request is written, a moment after
    // the wizard opens.
    let screen = tmux.wait_for("Approvals for ", WAIT);
    let digest = word_after(&screen, "Digest ").to_string();
    let id = word_after(&screen, "Approvals for ")
        .trim_end_matches(':')
        .to_string();
    tmux.send(&["Space", "j", "Space", "j", "Enter"]);
    tmux.send(&["-l", "CHG-1234"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("Change record: CHG-1234", WAIT);
    (digest, id)
}

/// alice's console (120×40) and bob's shell (120×20) over one demo data
/// dir, the console showing the demo's first reading; `None` without tmux.
fn console_and_shell(name: &str) -> Option<(Tmux, Tmux, tempfile::TempDir)> {
    let tmux = Tmux::start(name, 120, 40)?;
    let shell = Tmux::start(&format!("{name}-2"), 120, 20)?;
    let data = tempfile::tempdir().unwrap();
    for (t, who) in [(&tmux, "alice"), (&shell, "bob")] {
        t.wait_for("PROMPT$", WAIT);
        t.run(&format!(
            "export XDG_DATA_HOME={} SHIPDECK_OPERATOR={who}; clear",
            data.path().display()
        ));
    }
    launch(&tmux, "demo");
    tmux.wait_for("✓ read", WAIT);
    Some((tmux, shell, data))
}

/// With the prod wizard open on promotion `id`: carol approves (beside
/// whoever approved already), the gate says GO, and alice deploys,
/// confirming with "prod"; the watch of `service` opens.
fn go_and_deploy(tmux: &Tmux, data: &std::path::Path, id: &str, service: &str) {
    approve_demo(data, "carol", id);
    tmux.wait_for("Gate: GO", WAIT);
    tmux.send(&["g"]);
    tmux.wait_for("Type \"prod\" and press enter to deploy", WAIT);
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for(&format!("Deploy {service} · prod [PROD]"), WAIT);
}

#[test]
fn promote_staging_to_prod_then_roll_back_with_r() {
    let Some(tmux) = Tmux::start("promote", 120, 40) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_shipdeck");
    let approve = |who: &str, id: &str| {
        approve_demo(data.path(), who, id);
    };
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={} SHIPDECK_OPERATOR=alice; clear",
        data.path().display()
    ));
    launch(&tmux, "demo");
    tmux.wait_for("✓ read", WAIT);

    // p on api @ prod: the wizard promotes staging's digest.
    let (digest, id) = prod_wizard(&tmux, &["l", "l", "p"], "api");
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
    std::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"))
        .arg("--config")
        .arg(&config)
        .args(["approve", "--yes", &id])
        .env("XDG_DATA_HOME", data.path())
        .env("SHIPDECK_OPERATOR", "bob")
        .env("SHIPDECK_LOG_FILE", data.path().join("approve.log"))
        .succeed();
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
    assert!(screen.contains("promote: SUCCEEDED"), "{screen}");
    tmux.wait_for("EXIT=0", WAIT);
}

/// `shipdeck demo`: promote the canary service (notifications) into prod, see
/// its first step held for a decision, refuse the initiator's own continue,
/// continue from a second shell as someone else, and see the deploy finish.
#[test]
fn a_canary_into_prod_pauses_and_a_second_shell_continues_it() {
    let Some((tmux, shell, data)) = console_and_shell("canary") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_shipdeck");

    // notifications @ prod: the sixth row, the third column.
    let (digest, id) = prod_wizard(
        &tmux,
        &["j", "j", "j", "j", "j", "l", "l", "p"],
        "notifications",
    );
    // The approver sees the traffic steps and who decides at the pause.
    let said = approve_demo(data.path(), "bob", &id);
    assert!(
        said.contains("step 1: 10% on the new revision, held until 1 other person(s) continue"),
        "{said}"
    );
    go_and_deploy(&tmux, data.path(), &id, "notifications");

    // The first step: 10 % on the new revision, held for a decision, with
    // what to decide on: the hold's minute counting down, new beside old.
    let screen = tmux.wait_for("PAUSED at step 1 of 2 (10%)", Duration::from_mins(1));
    assert!(screen.contains("⏸ step 1: 10% new"), "{screen}");
    assert!(screen.contains("of 1m: "), "{screen}");
    assert!(screen.contains("· step 2: 100% new · next"), "{screen}");
    assert!(screen.contains("new vs old, over the "), "{screen}");
    assert!(screen.contains("5xx %     new "), "{screen}");
    // alice started it: continuing during the hold asks first, then her
    // own continue is refused (four eyes).
    tmux.send(&["c"]);
    tmux.wait_for("continue anyway? c again continues", WAIT);
    tmux.send(&["c"]);
    tmux.wait_for("four eyes: alice started this promotion", WAIT);

    // bob, in another shell, sees the evidence and is asked to cut the
    // hold short, then to confirm the decision.
    launch(
        &shell,
        "step continue notifications --env prod --demo --reason 'canary clean'",
    );
    let asked = shell.wait_for("continue anyway? [y/N]", WAIT);
    assert!(asked.contains("5xx %     new "), "{asked}");
    shell.run("y");
    shell.wait_for("Type \"prod\" to confirm:", WAIT);
    shell.run("prod");
    let said = shell.wait_for("EXIT=0", WAIT);
    assert!(said.contains("step continue: applied"), "{said}");
    assert!(said.contains("step 2 of 2"), "{said}");

    tmux.wait_for("traffic at step 2 of 2 (100%)", WAIT);
    tmux.wait_for(
        "deploy of notifications in prod succeeded",
        Duration::from_mins(3),
    );
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Deploy notifications · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶notifications").starts_with(&digest),
        "prod runs {digest}:\n{screen}"
    );
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);

    // The decision is in the audit trail, by bob, with his reason.
    let out = std::process::Command::new(bin)
        .args(["audit", "--demo", "--type", "step_decision", "--json"])
        .env("XDG_DATA_HOME", data.path())
        .env("SHIPDECK_LOG_FILE", data.path().join("audit.log"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"operator\":\"bob\"") && text.contains("canary clean"),
        "{text}"
    );
    assert!(text.contains("hold cut short by bob with "), "{text}");
}

/// `shipdeck demo --scenario bad-release`: promote api into prod; the watch
/// lists each rule live, the error rate crosses its limit, the watch aborts
/// on that rule, rolls back, and the headline says ROLLED BACK naming it.
#[test]
fn a_bad_release_crosses_its_rule_live_and_is_rolled_back() {
    let Some(tmux) = Tmux::start("bad-release", 120, 40) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!(
        "export XDG_DATA_HOME={} SHIPDECK_OPERATOR=alice; clear",
        data.path().display()
    ));
    launch(&tmux, "demo --scenario bad-release");
    tmux.wait_for("✓ read", WAIT);
    let (_, id) = prod_wizard(&tmux, &["l", "l", "p"], "api");
    approve_demo(data.path(), "bob", &id);
    approve_demo(data.path(), "carol", &id);
    tmux.wait_for("Gate: GO", WAIT);
    tmux.send(&["g"]);
    // The confirmation lists the rule before anything is done.
    tmux.wait_for("rule \"error rate above 5 %\": 5xx % above 5 for 1m", WAIT);
    tmux.send(&["-l", "prod"]);
    tmux.send(&["Enter"]);
    tmux.wait_for("Deploy api · prod [PROD]", WAIT);
    // Live, within its limit; then the release fails and it crosses.
    tmux.wait_for("✓ error rate above 5 % · 5xx % ", WAIT);
    let screen = tmux.wait_for(
        "✗ error rate above 5 % · 5xx % 35 (limit 5)",
        Duration::from_mins(1),
    );
    assert!(screen.contains(": aborts"), "{screen}");
    let screen = tmux.wait_for("ROLLED BACK", Duration::from_mins(2));
    assert!(
        screen.contains("ROLLED BACK (aborted: rule \"error rate above 5 %\""),
        "{screen}"
    );
    assert!(
        screen.contains("the deploy's rules when it aborted:"),
        "{screen}"
    );
    tmux.send(&["Enter"]);
    tmux.wait_gone("Rollback api · prod", WAIT);
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
    assert!(!tmux.alternate_on());
}

/// A script that runs `shipdeck demo` with its pid in `pid`, then prints how
/// it ended and the terminal's modes (`TTY:icanon TTY:echo`), from a plain
/// `sh` that, unlike an interactive bash, repairs nothing after its child.
fn signal_script(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("console.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
export XDG_DATA_HOME='{data}' SHIPDECK_OPERATOR=alice SHIPDECK_LOG_FILE='{data}/console.log'
rm -f '{data}/pid'
sh -c 'echo $$ > "$0"; exec "$@"' '{data}/pid' '{bin}' demo
echo "EXIT=$?"
stty -a | tr ' ;' '\n\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sed 's/^/TTY:/' | tr '\n' ' '
echo
"#,
            data = dir.display(),
            bin = env!("CARGO_BIN_EXE_shipdeck"),
        ),
    )
    .unwrap();
    script
}

/// The console's pid, once the script wrote it.
fn console_pid(dir: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let pid = std::fs::read_to_string(dir.join("pid")).unwrap_or_default();
        if !pid.trim().is_empty() {
            return pid.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no pid written");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill(signal: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}").as_str(), pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// After the console ended, the terminal is the shell's again: main screen,
/// cursor shown, canonical mode and echo on, the board gone.
fn assert_terminal_restored(tmux: &Tmux, screen: &str) {
    assert!(!tmux.alternate_on(), "alternate screen left on:\n{screen}");
    assert!(tmux.cursor_visible(), "cursor left hidden:\n{screen}");
    let modes = screen
        .lines()
        .find(|l| l.contains("TTY:"))
        .unwrap_or_else(|| panic!("no terminal modes printed:\n{screen}"));
    for mode in ["icanon", "echo"] {
        let words: Vec<&str> = modes.split_whitespace().collect();
        assert!(
            words.contains(&format!("TTY:{mode}").as_str())
                && !words.contains(&format!("TTY:-{mode}").as_str()),
            "{mode} is off after the console:\n{screen}"
        );
    }
    assert!(
        !screen.contains("Board · services"),
        "the console's screen is still there:\n{screen}"
    );
}

/// SIGTERM, SIGINT (from `kill`, not the Ctrl-C key) and SIGHUP end the
/// console cleanly: the terminal is restored and the exit code is 128 + the signal.
#[test]
fn signals_end_the_console_and_restore_the_terminal() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let Some(tmux) = Tmux::start(&format!("signal-{signal}"), 120, 40) else {
            return;
        };
        let data = tempfile::tempdir().unwrap();
        let script = signal_script(data.path());
        tmux.wait_for("PROMPT$", WAIT);
        tmux.run(&format!("clear; sh {}", script.display()));
        tmux.wait_for("✓ read", WAIT);
        assert!(tmux.alternate_on(), "the console uses the alternate screen");
        kill(signal, &console_pid(data.path()));
        let screen = tmux.wait_for("TTY:", WAIT);
        assert!(
            screen.contains(&format!("EXIT={code}")),
            "SIG{signal} exits {code}:\n{screen}"
        );
        assert!(
            screen.contains(&format!("shipdeck: stopped by SIG{signal}")),
            "{screen}"
        );
        assert_terminal_restored(&tmux, &screen);
    }
}

/// A rollback being watched when SIGTERM arrives goes on unwatched, is said so
/// on the restored terminal, and the next start offers to resume watching it.
#[test]
fn a_watch_stopped_by_sigterm_is_offered_for_resuming_at_the_next_start() {
    let Some(tmux) = Tmux::start("signal-watch", 120, 40) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let script = signal_script(data.path());
    tmux.wait_for("PROMPT$", WAIT);
    tmux.run(&format!("clear; sh {}", script.display()));
    tmux.wait_for("✓ read", WAIT);
    // r on api @ staging: back to the older revision, watched.
    tmux.send(&["l", "r"]);
    tmux.wait_for("Roll back api in staging", WAIT);
    tmux.send(&["Enter"]);
    tmux.wait_for("Rollback api · staging", WAIT);
    tmux.wait_for("rollback accepted", WAIT);
    kill("TERM", &console_pid(data.path()));
    let screen = tmux.wait_for("TTY:", WAIT);
    assert!(screen.contains("EXIT=143"), "{screen}");
    let said: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("stopped by SIGTERM; the rollback of api in staging goes on unwatched"),
        "{screen}"
    );
    assert_terminal_restored(&tmux, &screen);
    // Recorded as interrupted, by the signal's name.
    let ledger = std::fs::read_to_string(data.path().join("shipdeck/demo-ledger.jsonl")).unwrap();
    let last = ledger.lines().last().unwrap();
    assert!(
        last.contains("\"kind\":\"watch_interrupted\"")
            && last.contains("watch stopped by SIGTERM"),
        "{last}"
    );

    // The action stays open: the next start offers to watch it again.
    tmux.run(&format!("clear; sh {}", script.display()));
    tmux.wait_for("A rollback of api in staging never finished.", WAIT);
    tmux.send(&["w"]);
    tmux.wait_for("resumed watching rollback_issued of api in staging", WAIT);
    // Ctrl-C in raw mode is a key: the console quits as the user asked, exit 0.
    tmux.send(&["C-c"]);
    let screen = tmux.wait_for("TTY:", WAIT);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert_terminal_restored(&tmux, &screen);
}

/// The demo's Lambda service, thumbnailer, promoted into prod: the alias's
/// traffic moves in four steps of 25 %, each held for a person; the
/// initiator's own continue is refused (four eyes), and another person
/// continues from a second shell, through the same demo world.
#[test]
fn a_lambda_shift_into_prod_pauses_and_a_second_shell_continues_each_step() {
    let Some((tmux, shell, data)) = console_and_shell("lambda") else {
        return;
    };

    // thumbnailer @ prod: the ninth row, the third column.
    let keys = ["j", "j", "j", "j", "j", "j", "j", "j", "l", "l", "p"];
    let (digest, id) = prod_wizard(&tmux, &keys, "thumbnailer");
    let screen = tmux.screen();
    assert!(
        screen.contains("alias thumbnailer-prod:live → thumbnailer-prod:2"),
        "{screen}"
    );
    assert!(
        screen.contains("traffic: 25% → 50% → 75% → 100%, 30s each"),
        "{screen}"
    );
    approve_demo(data.path(), "bob", &id);
    go_and_deploy(&tmux, data.path(), &id, "thumbnailer");

    // The first step: 25 % on the new version, held for a decision.
    // The pause comes once the step's 30 s hold is over, with the rules
    // and the new version's numbers to decide on.
    let screen = tmux.wait_for("PAUSED at step 1 of 4 (25%)", Duration::from_mins(1));
    assert!(screen.contains("⏸ step 1: 25% new"), "{screen}");
    assert!(
        screen.contains("✓ Lambda errors above 2 % · errors % "),
        "{screen}"
    );
    // alice started it: her own continue is refused (four eyes).
    tmux.send(&["c"]);
    tmux.wait_for("four eyes: alice started this promotion", WAIT);

    // bob continues each step from his shell: the world file carries the
    // alias, so his process sees the pause alice's console holds.
    for (step, next) in [(1, 2), (2, 3), (3, 4)] {
        tmux.wait_for(
            &format!("PAUSED at step {step} of 4"),
            Duration::from_mins(1),
        );
        shell.run("clear");
        launch(
            &shell,
            "step continue thumbnailer --env prod --demo --yes --cut-hold --reason 'looks clean'",
        );
        let said = shell.wait_for("EXIT=0", WAIT);
        assert!(said.contains("step continue: applied"), "{said}");
        assert!(
            said.contains("new thumbnailer-prod:3 · rest on thumbnailer-prod:2")
                || said.contains("new thumbnailer-prod:3 ("),
            "{said}"
        );
        if next < 4 {
            assert!(said.contains(&format!("step {next} of 4")), "{said}");
        } else {
            assert!(
                said.contains("thumbnailer-prod:live now names version 3 with all the traffic"),
                "{said}"
            );
        }
    }
    tmux.wait_for(
        "deploy of thumbnailer in prod succeeded",
        Duration::from_mins(3),
    );
    tmux.send(&["Enter"]);
    let screen = tmux.wait_gone("Deploy thumbnailer · prod", WAIT);
    assert!(
        prod_cell(&screen, "▶thumbnailer").starts_with(&digest),
        "prod runs {digest}:\n{screen}"
    );
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", WAIT);
}

mod fly;
mod kube;
mod matrix;
mod people;
mod supply;
