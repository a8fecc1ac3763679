//! Proxy environments against real HAProxy, Caddy and nginx on 127.0.0.1:
//! the cutover runbook under load, green never ready, a bad nginx config, a
//! proxy switched by hand. `scripts/test` installs the three proxies.

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::support::Succeed;
use crate::support::proxies::{self, Backends, Kind, Load, Proxy};
use crate::support::{emulators, tmux};

struct Setup {
    dir: tempfile::TempDir,
    backends: Backends,
    proxy: Proxy,
    config: PathBuf,
}

fn setup(kind: Kind, extra_service: &str) -> Setup {
    assert!(
        proxies::installed(kind.program()) && proxies::installed("python3"),
        "{} (and python3) must be installed for the proxy tests: run scripts/test, which installs them",
        kind.program()
    );
    let dir = tempfile::tempdir().unwrap();
    let backends = Backends::start(dir.path());
    let proxy = Proxy::start(kind, dir.path(), &backends);
    let config = proxies::config(dir.path(), &proxy, &backends, extra_service);
    Setup {
        dir,
        backends,
        proxy,
        config,
    }
}

impl Setup {
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("SHIPDECK_OPERATOR", "alice")
            .env("SHIPDECK_LOG_FILE", d.join("shipdeck.log"))
            .arg("--config")
            .arg(&self.config)
            .timeout(Duration::from_mins(2));
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, Value, String) {
        let out = self.cmd().args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let v = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: stdout {stdout}\nstderr {stderr}"));
        (out.status.code().unwrap_or(-1), v, stderr)
    }

    fn promote(&self) -> (i32, Value, String) {
        self.run(&[
            "promote", "api", "--to", "edge", "--yes", "--wait", "--json",
        ])
    }

    fn rollback(&self) -> (i32, Value, String) {
        self.run(&[
            "rollback", "api", "--env", "edge", "--yes", "--wait", "--json",
        ])
    }

    fn ledger(&self) -> Vec<Value> {
        let path = self.dir.path().join("data/shipdeck/ledger.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
            .collect()
    }

    fn steps(&self) -> Vec<String> {
        self.ledger()
            .iter()
            .filter(|r| r["kind"] == "step")
            .map(|r| r["reasons"][0].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.ledger()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect()
    }

    /// The colour that answers through the proxy now.
    fn serving(&self) -> String {
        let body = reqwest_get(&self.proxy.url("/"));
        body.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

fn reqwest_get(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Promote into the proxy environment and roll back, with requests flowing
/// through the proxy the whole time: none may fail.
fn cutover_under_load(kind: Kind) {
    let s = setup(kind, "");
    assert_eq!(s.serving(), "blue");
    let load = Load::start(
        s.proxy.url("/"),
        4,
        500_000,
        Duration::from_mins(3),
        // nginx and Caddy reload: keep-alive clients would see idle
        // connections closed (2 in 22,320 through Caddy when tried). Caddy
        // 2.6 also resets a few new connections while it swaps its config:
        // the load sends those GETs once more, as browsers do, and counts them.
        kind != Kind::Haproxy,
    );
    let (code, report, stderr) = s.promote();
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    // The irreversible step is offered once green is stable, not before.
    assert!(
        stderr.contains("now due (after stable): Run irreversible migrations"),
        "{stderr}"
    );
    assert!(
        !report["checks"].to_string().contains("migrations"),
        "{report}"
    );
    assert_eq!(report["to_revision"], "api@green", "{report}");
    assert_eq!(s.serving(), "green");
    let (code, report, stderr) = s.rollback();
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["to_revision"], "api@blue", "{report}");
    assert_eq!(s.serving(), "blue");
    let r = load.finish();
    assert_eq!(
        r.failed,
        0,
        "{} of {} requests failed through {}: {:?}",
        r.failed,
        r.ok + r.failed,
        kind.program(),
        &r.failures[..r.failures.len().min(5)]
    );
    if kind != Kind::Caddy {
        assert_eq!(
            r.retried,
            0,
            "{:?}",
            &r.retry_reasons[..r.retry_reasons.len().min(5)]
        );
    }
    assert!(r.first_green.is_some(), "the load never reached green");
    assert!(
        r.first_blue_after_green.is_some(),
        "the load never came back to blue"
    );
    let steps = s.steps();
    for want in [
        "deploying green",
        "verifying that green",
        "probing green",
        "smoke check",
        "checking that blue is still live",
        "switching",
        "confirming that requests reach green",
    ] {
        assert!(
            steps.iter().any(|x| x.contains(want)),
            "no step \"{want}\" in {steps:?}"
        );
    }
    let kinds = s.kinds();
    assert!(kinds.contains(&"deploy_succeeded".to_string()), "{kinds:?}");
    assert!(
        kinds.contains(&"rollback_succeeded".to_string()),
        "{kinds:?}"
    );
    let ms = |prefix: &str| {
        steps
            .iter()
            .find(|x| x.starts_with(prefix))
            .and_then(|x| x.split(" in ").nth(1))
            .and_then(|x| x.split(' ').next())
            .unwrap_or("?")
            .to_string()
    };
    #[allow(clippy::cast_precision_loss)]
    let rps = (r.ok + r.failed) as f64 / r.elapsed.as_secs_f64();
    println!(
        "{}: {} requests in {:.1}s ({rps:.0}/s), 0 failed, {} retried once after a reset ({:?}), through a cutover and a rollback; switch {} ms, switch back {} ms",
        kind.program(),
        r.ok,
        r.elapsed.as_secs_f64(),
        r.retried,
        r.retry_reasons.first(),
        ms("switched to green"),
        ms(&format!("switched {} from green", kind.program())),
    );
}

#[test]
fn haproxy_cutover_under_load() {
    cutover_under_load(Kind::Haproxy);
}

#[test]
fn caddy_cutover_under_load() {
    cutover_under_load(Kind::Caddy);
}

#[test]
fn nginx_cutover_under_load() {
    cutover_under_load(Kind::Nginx);
}

/// A promotion that ends before the switch: the proxy still serves blue, every
/// request through it succeeded, and nothing was rolled back.
fn never_switched(s: &Setup, why: &str) -> String {
    let load = Load::start(s.proxy.url("/"), 2, 100_000, Duration::from_mins(2), true);
    let (code, report, stderr) = s.promote();
    let r = load.finish();
    assert_eq!(code, 1, "{report}\n{stderr}");
    assert_eq!(report["outcome"], "failed", "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(why), "{reason}");
    assert!(reason.contains("nothing to roll back"), "{reason}");
    assert_eq!(r.failed, 0, "{:?}", &r.failures[..r.failures.len().min(5)]);
    assert!(r.first_green.is_none(), "green took traffic");
    assert_eq!(s.serving(), "blue");
    let kinds = s.kinds();
    assert!(kinds.contains(&"deploy_failed".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"rollback_issued".to_string()), "{kinds:?}");
    assert!(
        !s.steps().iter().any(|x| x.starts_with("switching")),
        "{:?}",
        s.steps()
    );
    assert!(!stderr.contains("now due"), "{stderr}");
    stderr
}

#[test]
fn green_answering_500_is_never_switched_to() {
    let s = setup(Kind::Haproxy, "");
    s.backends.set("green", 500, false);
    let progress = never_switched(&s, "green not ready within 10s");
    assert!(progress.contains("step: probing green"), "{progress}");
}

#[test]
fn green_flapping_inside_its_window_is_never_switched_to() {
    let s = setup(Kind::Haproxy, "");
    // 500 two seconds in three: never 3 s of 200 in a row, and a probe a
    // second (slower under load) cannot step over the 500s.
    s.backends.set("green", 200, true);
    let progress = never_switched(&s, "break(s)");
    assert!(
        progress.contains("| green broke its window: answered 500"),
        "{progress}"
    );
}

#[test]
fn a_failing_deploy_command_stops_before_the_proxy() {
    let s = setup(Kind::Caddy, "");
    std::fs::write(s.dir.path().join("fail-deploy"), "").unwrap();
    let progress = never_switched(&s, "the deploy command failed");
    // The command's output streams to the watch.
    assert!(
        progress.contains("| deploy: pulling image sha256:"),
        "{progress}"
    );
    assert!(
        progress.contains("| deploy: error: image pull failed"),
        "{progress}"
    );
    // A credential the command printed never reaches the screen.
    assert!(progress.contains("registry.example.com"), "{progress}");
    assert!(!progress.contains("hunter2"), "{progress}");
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S …": the state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// A deploy command that outlives its timeout is stopped with everything it
/// started: its process group is killed, not only the command.
#[test]
fn a_deploy_command_timing_out_is_stopped_with_its_children() {
    let s = setup(Kind::Haproxy, "");
    let pidfile = s.dir.path().join("child.pid");
    let config = std::fs::read_to_string(&s.config).unwrap();
    let deploy = config
        .lines()
        .find(|l| l.starts_with("deploy = "))
        .unwrap()
        .to_string();
    std::fs::write(
        &s.config,
        config.replace(
            &deploy,
            &format!(
                "deploy = [\"sh\", \"-c\", \"sleep 300 & echo $! > {}; sleep 300\"]\ndeploy_timeout = \"10s\"",
                pidfile.display()
            ),
        ),
    )
    .unwrap();
    let (code, report, stderr) = s.promote();
    assert_eq!(code, 1, "{report}\n{stderr}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("did not finish within 10s"), "{reason}");
    let child = std::fs::read_to_string(&pidfile).unwrap();
    let child = child.trim();
    assert!(!child.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ended(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "the deploy command's child {child} still runs after its timeout"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.serving(), "blue");
}

#[test]
fn a_proxy_switched_by_hand_stops_shipdeck_before_it_touches_it() {
    let s = setup(Kind::Haproxy, "");
    std::thread::scope(|scope| {
        let promote = scope.spawn(|| s.promote());
        // Inside green's 3 s readiness window, someone switches by hand.
        std::thread::sleep(Duration::from_millis(1500));
        s.proxy.switch_by_hand(&s.backends, "green");
        let (code, report, _) = promote.join().unwrap();
        assert_eq!(code, 1, "{report}");
        let reason = report["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("switched by hand"), "{reason}");
        assert!(
            reason.contains("stopped before touching the proxy"),
            "{reason}"
        );
    });
    // The hand's switch stands: shipdeck neither switched nor rolled back.
    assert_eq!(s.serving(), "green");
    assert!(!s.kinds().contains(&"rollback_issued".to_string()));
}

#[test]
fn nginx_never_reloads_a_config_that_fails_its_test() {
    let s = setup(Kind::Nginx, "");
    // Break the main configuration: `nginx -t` now fails whatever shipdeck writes.
    let conf = s.dir.path().join("nginx.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        good.replace(
            "worker_processes 1;",
            "worker_processes 1;\nbogus_directive on;",
        ),
    )
    .unwrap();
    let include = s.dir.path().join("api-upstream.conf");
    let before = std::fs::read_to_string(&include).unwrap();
    let (code, report, _) = s.promote();
    assert_eq!(code, 1, "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("nginx -t"), "{reason}");
    assert!(reason.contains("previous include was restored"), "{reason}");
    assert_eq!(std::fs::read_to_string(&include).unwrap(), before);
    std::fs::write(&conf, good).unwrap();
    assert_eq!(
        s.serving(),
        "blue",
        "nginx still runs the old configuration"
    );
}

#[test]
fn nginx_include_that_cannot_be_written_changes_nothing() {
    let s = setup(Kind::Nginx, "");
    // The include's directory refuses the temporary file beside it.
    let include = s.dir.path().join("api-upstream.conf");
    let before = std::fs::read_to_string(&include).unwrap();
    std::fs::create_dir(s.dir.path().join(".api-upstream.conf.shipdeck-tmp")).unwrap();
    let (code, report, _) = s.promote();
    assert_eq!(code, 1, "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot write the nginx include"),
        "{reason}"
    );
    assert!(reason.contains("nothing was reloaded"), "{reason}");
    assert_eq!(std::fs::read_to_string(&include).unwrap(), before);
    assert_eq!(s.serving(), "blue");
}

#[test]
fn status_shows_both_colours_and_an_unreachable_proxy_as_unknown() {
    let s = setup(Kind::Haproxy, "");
    let (code, v, _) = s.run(&["status", "--json"]);
    assert_eq!(code, 0, "{v}");
    let text = v.to_string();
    assert!(text.contains("api@blue"), "{text}");
    // The proxy's admin socket gone: nothing about edge is known.
    std::fs::remove_file(s.dir.path().join("admin.sock")).unwrap();
    let (code, v, _) = s.run(&["status", "--json"]);
    assert_ne!(code, 0, "{v}");
    let text = v.to_string();
    assert!(text.contains("haproxy proxy"), "{text}");
    assert!(!text.contains("api@blue"), "{text}");
}

#[test]
fn green_failing_after_the_switch_is_switched_back_automatically() {
    let s = setup(Kind::Haproxy, "keep_warm = \"60s\"\n");
    let load = Load::start(s.proxy.url("/"), 2, 200_000, Duration::from_mins(2), false);
    std::thread::scope(|scope| {
        let promote = scope.spawn(|| s.promote());
        // Green takes the traffic, then starts failing while blue is kept warm.
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while s.serving() != "green" {
            assert!(std::time::Instant::now() < until, "green never went live");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(2));
        s.backends.set("green", 500, false);
        let (code, report, stderr) = promote.join().unwrap();
        assert_eq!(code, 1, "{report}\n{stderr}");
        assert_eq!(report["outcome"], "rolled_back", "{report}\n{stderr}");
        let reason = report["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("health failing"), "{reason}");
    });
    let r = load.finish();
    assert_eq!(s.serving(), "blue");
    let kinds = s.kinds();
    for k in ["aborted", "rollback_issued", "rollback_succeeded"] {
        assert!(kinds.contains(&k.to_string()), "{kinds:?}");
    }
    // Only the status path fails on green: the load (GET /) never failed.
    assert_eq!(r.failed, 0, "{:?}", &r.failures[..r.failures.len().min(5)]);
}

/// Issue 26, D5: someone switches back to blue by hand while blue is kept
/// warm. What was switched is re-read: the run ends as changed outside
/// shipdeck, says what it found, marks nothing stable, claims no success
/// and rolls nothing back over the person's change.
#[test]
fn a_switch_back_by_hand_during_keep_warm_ends_changed_outside() {
    let s = setup(Kind::Haproxy, "keep_warm = \"90s\"\n");
    let switched_by_hand = std::thread::scope(|scope| {
        let promote = scope.spawn(|| s.promote());
        // Green is live and blue kept warm (the watch recorded that step).
        let until = std::time::Instant::now() + Duration::from_mins(1);
        while !s.steps().iter().any(|x| x.contains("kept warm for 1m 30s")) {
            assert!(
                std::time::Instant::now() < until && !promote.is_finished(),
                "never kept blue warm: {:?}",
                s.steps()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(s.serving(), "green");
        s.proxy.switch_by_hand(&s.backends, "blue");
        let at = std::time::Instant::now();
        let (code, report, stderr) = promote.join().unwrap();
        assert_eq!(code, 1, "{report}\n{stderr}");
        assert_eq!(report["outcome"], "changed_outside", "{report}\n{stderr}");
        let reason = report["reason"].as_str().unwrap_or_default();
        assert!(
            reason.to_lowercase().contains("changed outside shipdeck")
                && reason.contains(
                    "api@blue is the primary deployment now, not api@green: haproxy sends the traffic to blue since shipdeck switched it to green"
                ),
            "{reason}"
        );
        at.elapsed()
    });
    // Found while blue was still kept warm, not at the end of keep_warm
    // (a generous bound: a reading comes every second).
    assert!(
        switched_by_hand < Duration::from_mins(1),
        "{switched_by_hand:?}"
    );
    // The hand's switch stands.
    assert_eq!(s.serving(), "blue");
    let kinds = s.kinds();
    for never in [
        "deploy_succeeded",
        "revision_marked_stable",
        "rollback_issued",
    ] {
        assert!(!kinds.contains(&never.to_string()), "{kinds:?}");
    }
    // No record says green is live after the hand switched back.
    assert!(
        !s.steps().iter().any(|x| x.starts_with("green live")),
        "{:?}",
        s.steps()
    );
}

#[test]
fn a_read_only_proxy_environment_refuses_before_touching_anything() {
    let s = setup(Kind::Haproxy, "");
    let out = s
        .cmd()
        .args([
            "--read-only",
            "promote",
            "api",
            "--to",
            "edge",
            "--yes",
            "--wait",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read-only"),
        "{out:?}"
    );
    assert_eq!(s.serving(), "blue");
    assert!(s.kinds().iter().all(|k| k != "deploy_issued"));
    // The cutover runs in shipdeck's process: without --wait it is refused.
    let out = s
        .cmd()
        .args(["promote", "api", "--to", "edge", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --wait"),
        "{out:?}"
    );
    assert!(s.kinds().is_empty(), "{:?}", s.kinds());
}

/// The console against real HAProxy: a proxy environment next to the demo's
/// ECS stages; promote into it, watch the cutover, roll back with `r`.
#[test]
fn console_promotes_into_haproxy_and_rolls_back_with_r() {
    let Some(tmux) = tmux::Tmux::start("proxy", 140, 45) else {
        panic!("tmux must be installed for the journeys: run scripts/test");
    };
    let s = setup(Kind::Haproxy, "");
    let config = proxies::demo_config(s.dir.path(), &s.proxy, &s.backends);
    let wait = Duration::from_secs(30);
    tmux.wait_for("PROMPT$", wait);
    tmux.run(&format!(
        "export XDG_DATA_HOME={0}/data XDG_STATE_HOME={0}/state SHIPDECK_OPERATOR=alice SHIPDECK_LOG_FILE={0}/console.log; clear",
        s.dir.path().display()
    ));
    tmux.run(&format!(
        "{} --config {}; echo EXIT=$?",
        env!("CARGO_BIN_EXE_shipdeck"),
        config.display()
    ));
    // Blue is live, serving the old digest.
    tmux.wait_for("000000000000 blue", wait);
    // api @ edge, the fourth column: p plans the cutover.
    tmux.send(&["l", "l", "l"]);
    tmux.send(&["p"]);
    let screen = tmux.wait_for("Promote api · prod → edge", wait);
    assert!(
        screen.contains("switch haproxy \"api\" from blue to green in one step"),
        "{screen}"
    );
    tmux.wait_for("Gate: GO", wait);
    tmux.send(&["g"]);
    tmux.wait_for("Press enter to deploy", wait);
    tmux.send(&["Enter"]);
    tmux.wait_for("Deploy api · edge", wait);
    tmux.wait_for("step: probing green", wait);
    tmux.wait_for("deploy: green restarted with sha256:", wait);
    tmux.wait_for("deploy of api in edge succeeded", Duration::from_mins(2));
    assert_eq!(s.serving(), "green");
    tmux.send(&["Enter"]);
    tmux.wait_gone("Deploy api · edge", wait);
    tmux.wait_for(" green ✓", wait);

    tmux.send(&["r"]);
    let screen = tmux.wait_for("Roll back api in edge", wait);
    assert!(
        screen.contains("switches back to api@blue in one step"),
        "{screen}"
    );
    tmux.send(&["Enter"]);
    tmux.wait_for("rollback of api in edge succeeded", Duration::from_mins(2));
    assert_eq!(s.serving(), "blue");
    tmux.send(&["Enter"]);
    tmux.wait_gone("Rollback api · edge", wait);
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", wait);
    assert!(!tmux.alternate_on());
    let kinds = s.kinds();
    for k in [
        "deploy_issued",
        "step",
        "deploy_succeeded",
        "rollback_issued",
        "rollback_succeeded",
    ] {
        assert!(kinds.contains(&k.to_string()), "{kinds:?}");
    }
}

#[test]
fn a_5xx_rule_over_haproxy_counters_switches_back() {
    let rule = "keep_warm = \"60s\"\n\
        [[environment.service.metric]]\nlabel = \"5xx %\"\nproxy = \"5xx_percent\"\nrole = \"error_rate\"\n\
        [[environment.rollout.rule]]\nname = \"5xx above 5 %\"\nmetric = \"5xx %\"\nabove = 5.0\nfor = \"1m\"\n";
    let s = setup(Kind::Haproxy, rule);
    let load = Load::start(s.proxy.url("/"), 2, 200_000, Duration::from_mins(2), false);
    std::thread::scope(|scope| {
        let promote = scope.spawn(|| s.promote());
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while s.serving() != "green" {
            assert!(std::time::Instant::now() < until, "green never went live");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Green's app fails; its status path (health) still answers 200.
        s.backends.fail_all("green");
        let (code, report, stderr) = promote.join().unwrap();
        assert_eq!(code, 1, "{report}\n{stderr}");
        assert_eq!(report["outcome"], "rolled_back", "{report}\n{stderr}");
        let reason = report["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("rule \"5xx above 5 %\""), "{reason}");
    });
    let r = load.finish();
    assert_eq!(s.serving(), "blue");
    assert!(
        r.failed > 0,
        "green's 500s reached the load before the switch back"
    );
    let after = reqwest_get(&s.proxy.url("/"));
    assert!(after.starts_with("blue"), "{after}");
}

fn alb_fixture(url: &str, args: &[&str]) -> Value {
    let bin = emulators::venv_bin().unwrap();
    let out = std::process::Command::new(bin.join("python"))
        .arg(format!(
            "{}/tests/support/alb_fixture.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(url)
        .args(args)
        .succeed();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// An "edge" environment behind an ALB on moto (rule and target groups from
/// the fixture), `extra` appended to its service.
fn alb_config(
    dir: &std::path::Path,
    moto: &str,
    [rule, blue, green]: [&str; 3],
    backends: &Backends,
    extra: &str,
) -> std::path::PathBuf {
    let config = dir.join("shipdeck.toml");
    std::fs::write(
        &config,
        format!(
            r#"{staging}
[[environment]]
name = "edge"
provider = "proxy"
[environment.proxy]
kind = "alb"
region = "us-east-1"
endpoint_url = "{moto}"
[environment.gate]
checks = ["rollout_completed", "not_in_flight", "pinned", "fresh"]
[environment.rollout]
stability_window = "2s"
timeout = "2m"
[[environment.service]]
name = "api"
listener_rule = "{rule}"
blue_target_group = "{blue}"
green_target_group = "{green}"
blue = "http://127.0.0.1:{bp}"
green = "http://127.0.0.1:{gp}"
deploy = {deploy}
stability_window = "2s"
ready_timeout = "10s"
keep_warm = "1s"
{extra}
"#,
            staging = proxies::staging(),
            bp = backends.blue,
            gp = backends.green,
            deploy = backends.deploy_command(),
        ),
    )
    .unwrap();
    config
}

/// The binary with `config`, state under `dir`, AWS credentials for moto.
fn shipdeck_in(
    dir: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env_remove("SHIPDECK_CONFIG")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("SHIPDECK_OPERATOR", "alice")
        .env("SHIPDECK_LOG_FILE", dir.join("shipdeck.log"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .arg("--config")
        .arg(config)
        .args(args)
        .timeout(Duration::from_mins(2))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout, stderr)
}

/// An ALB on moto with a service shifting in steps (`extra`), and its
/// promotion running in a thread.
struct AlbShift {
    moto: emulators::Emulator,
    ids: [String; 3],
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    promote: std::thread::JoinHandle<(Option<i32>, String, String)>,
    _backends: Backends,
}

impl AlbShift {
    fn start(bin: &std::path::Path, extra: &str) -> Self {
        let moto = emulators::moto(bin);
        let fx = alb_fixture(&moto.url, &["create"]);
        let ids = ["rule", "blue", "green"].map(|k| fx[k].as_str().unwrap().to_string());
        let dir = tempfile::tempdir().unwrap();
        let backends = Backends::start(dir.path());
        let config = alb_config(
            dir.path(),
            &moto.url,
            [&ids[0], &ids[1], &ids[2]].map(String::as_str),
            &backends,
            extra,
        );
        let promote = {
            let (d, c) = (dir.path().to_path_buf(), config.clone());
            std::thread::spawn(move || {
                shipdeck_in(
                    &d,
                    &c,
                    &["promote", "api", "--to", "edge", "--yes", "--wait"],
                )
            })
        };
        Self {
            moto,
            ids,
            dir,
            config,
            promote,
            _backends: backends,
        }
    }
}

/// ALB weights in configured steps: the promotion gives green 25 % (read
/// back from moto while it holds), then all of it.
#[test]
fn alb_weights_shift_in_configured_steps_then_switch() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let s = AlbShift::start(&bin, "weights = [\"25%\"]\nstep_interval = \"4s\"");
    let (moto, promote) = (&s.moto, s.promote);
    let [rule, blue, green] = [&s.ids[0], &s.ids[1], &s.ids[2]].map(String::as_str);
    let until = std::time::Instant::now() + Duration::from_mins(2);
    let mut split = false;
    while !promote.is_finished() && std::time::Instant::now() < until {
        let w = alb_fixture(&moto.url, &["weights", rule]);
        split |= (w[green].as_i64(), w[blue].as_i64()) == (Some(25), Some(75));
        std::thread::sleep(Duration::from_millis(300));
    }
    let (code, out, err) = promote.join().unwrap();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(split, "green never held 25 %:\n{err}");
    assert!(
        err.contains("shifting alb weights: green 25%, blue 75% (step 1 of 2)")
            && err.contains("switching alb from blue to green"),
        "{err}"
    );
    let w = alb_fixture(&moto.url, &["weights", rule]);
    assert_eq!(
        (w[green].as_i64(), w[blue].as_i64()),
        (Some(100), Some(0)),
        "{w}"
    );
}

/// While the weights are split, another process cannot read the rule as one
/// live colour: its rollback is refused and changes nothing. Weights switched
/// by hand mid-shift stop the promotion's run instead of being shifted on.
#[test]
fn mid_shift_another_process_is_refused_and_a_hand_switch_stops_the_shift() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let s = AlbShift::start(&bin, "weights = [\"10%\", \"50%\"]\nstep_interval = \"8s\"");
    let (moto, promote, dir, config) = (&s.moto, s.promote, &s.dir, &s.config);
    let [rule, blue, green] = [&s.ids[0], &s.ids[1], &s.ids[2]].map(String::as_str);
    let until = std::time::Instant::now() + Duration::from_mins(1);
    loop {
        let w = alb_fixture(&moto.url, &["weights", rule]);
        if w[green].as_i64() == Some(10) {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "green never got 10 %: {w}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out, err) = shipdeck_in(
        dir.path(),
        config,
        &["rollback", "api", "--env", "edge", "--yes", "--wait"],
    );
    assert_ne!(code, Some(0), "{out}\n{err}");
    assert!(err.contains("a shift in progress"), "{err}");
    let w = alb_fixture(&moto.url, &["weights", rule]);
    assert_eq!(
        w[green].as_i64(),
        Some(10),
        "the refused rollback changed nothing: {w}"
    );
    // By hand: all traffic back on blue. What the run left is re-read: the
    // promotion ends as changed outside shipdeck, with what was found, and
    // nothing is rolled back over the hand's change.
    alb_fixture(&moto.url, &["whole", rule, blue]);
    let (code, out, err) = promote.join().unwrap();
    assert_eq!(code, Some(1), "{out}\n{err}");
    let said = format!("{out}\n{err}");
    assert!(
        said.to_lowercase().contains("changed outside shipdeck")
            && said.contains(
                "the weights were changed outside this run: green has 0%, blue 100% (this run left green at 10%)"
            ),
        "{said}"
    );
    assert!(!said.contains("rolling back"), "{said}");
    let w = alb_fixture(&moto.url, &["weights", rule]);
    assert_eq!(
        (w[blue].as_i64(), w[green].as_i64()),
        (Some(100), Some(0)),
        "{w}"
    );
}

/// Blue/green on ALB listener weights, against moto: the live colour is read
/// from the rule's weights, a promotion switches them in one ModifyRule
/// (verified by reading the rule back from moto), and a rollback restores them.
#[test]
fn alb_weights_switch_with_a_promotion_and_back_with_a_rollback() {
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto(&bin);
    let fx = alb_fixture(&moto.url, &["create"]);
    let (rule, blue, green) = (
        fx["rule"].as_str().unwrap(),
        fx["blue"].as_str().unwrap(),
        fx["green"].as_str().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let backends = Backends::start(dir.path());
    let config = alb_config(dir.path(), &moto.url, [rule, blue, green], &backends, "");
    let run = |args: &[&str]| shipdeck_in(dir.path(), &config, args);
    let weights = || alb_fixture(&moto.url, &["weights", rule]);
    assert_eq!(weights()[blue], 100);
    let (code, out, err) = run(&["status", "--env", "edge"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("edge/api behind alb") && out.contains("live blue"),
        "{out}"
    );

    let (code, out, err) = run(&[
        "promote", "api", "--to", "edge", "--yes", "--wait", "--json",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        err.contains("step: switching alb from blue to green"),
        "{err}"
    );
    let w = weights();
    assert_eq!(
        (w[green].as_i64(), w[blue].as_i64()),
        (Some(100), Some(0)),
        "{w}"
    );

    let (code, out, err) = run(&[
        "rollback", "api", "--env", "edge", "--yes", "--wait", "--json",
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        err.contains("switches back to api@blue in one step"),
        "{err}"
    );
    let w = weights();
    assert_eq!(
        (w[blue].as_i64(), w[green].as_i64()),
        (Some(100), Some(0)),
        "{w}"
    );
}

/// A ModifyRule that fails (a target group that does not exist, a rule
/// deleted underneath) changes nothing, and says so.
#[tokio::test]
async fn a_failed_modify_rule_leaves_the_weights_as_they_were() {
    use aws_sdk_elasticloadbalancingv2 as elb;
    use shipdeck::config::proxy::AlbRule;
    use shipdeck::platforms::proxy::{Colour, ProxyService};
    let Some(bin) = emulators::venv_bin() else {
        return;
    };
    let moto = emulators::moto(&bin);
    let fx = alb_fixture(&moto.url, &["create"]);
    let rule = fx["rule"].as_str().unwrap().to_string();
    let (blue, green) = (fx["blue"].as_str().unwrap(), fx["green"].as_str().unwrap());
    let client = elb::Client::from_conf(
        elb::Config::builder()
            .behavior_version_latest()
            .region(elb::config::Region::new("us-east-1"))
            .endpoint_url(&moto.url)
            .credentials_provider(elb::config::Credentials::new(
                "test", "test", None, None, "t",
            ))
            .build(),
    );
    let svc = |green_tg: &str, rule: &str| ProxyService {
        backend: "api".into(),
        include: None,
        alb: Some(AlbRule {
            rule: rule.into(),
            blue: blue.into(),
            green: green_tg.into(),
            steps: Vec::new(),
            step_interval: Duration::from_secs(1),
        }),
        blue: "http://127.0.0.1:1".into(),
        green: "http://127.0.0.1:2".into(),
        status_path: "/s".into(),
        digest_pointer: "/d".into(),
        deploy: vec!["x".into()],
        deploy_timeout: Duration::from_secs(10),
        stability_window: Duration::from_secs(1),
        ready_timeout: Duration::from_secs(10),
        keep_warm: Duration::from_secs(1),
        smoke: Vec::new(),
    };
    assert_eq!(
        shipdeck::platforms::proxy::alb::live(&client, &svc(green, &rule)).await,
        Ok(Colour::Blue)
    );
    let missing = green.replace("api-green", "api-gone");
    let err =
        shipdeck::platforms::proxy::alb::switch(&client, &svc(&missing, &rule), Colour::Green)
            .await
            .unwrap_err();
    assert!(
        err.contains("ModifyRule failed") && err.contains("the weights are as they were"),
        "{err}"
    );
    let w = alb_fixture(&moto.url, &["weights", &rule]);
    assert_eq!(
        (w[blue].as_i64(), w[green].as_i64()),
        (Some(100), Some(0)),
        "{w}"
    );
    // The rule deleted underneath: the switch fails and says so.
    alb_fixture(&moto.url, &["delete", &rule]);
    let err = shipdeck::platforms::proxy::alb::switch(&client, &svc(green, &rule), Colour::Green)
        .await
        .unwrap_err();
    assert!(err.contains("ModifyRule failed"), "{err}");
    let err = shipdeck::platforms::proxy::alb::live(&client, &svc(green, &rule))
        .await
        .unwrap_err();
    assert!(
        err.contains("DescribeRules") || err.contains("not found"),
        "{err}"
    );
}
