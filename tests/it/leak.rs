//! A canary secret must not appear on screen, in logs, in JSON or in errors.

use assert_cmd::Command;

use crate::support::http::Server;

const CANARY: &str = "canary-9b1e44d2f0";

fn write_config(dir: &std::path::Path, server: &Server) -> std::path::PathBuf {
    let fleet = std::fs::read_to_string("tests/configs/good/healthy-fleet.toml").unwrap();
    std::fs::write(dir.join("fleet.toml"), fleet).unwrap();
    let cfg = format!(
        r#"provider = "simulated"
[simulator]
fleet = "fleet.toml"
health = "probe"

[[environment]]
name = "dev"
region = "us-east-1"
cluster = "dev"
[[environment.service]]
name = "api"
ecs_service = "api-dev"
health = {{ url = "{echo}", headers = {{ X-Token = "${{secret:CANARY}}" }} }}
[[environment.smoke]]
name = "echo"
url = "{echo}"
[[environment.smoke]]
name = "token in url"
url = "{query}"

[[environment]]
name = "prod"
region = "us-east-1"
cluster = "prod"
[[environment.service]]
name = "api"
ecs_service = "api-prod"
health = {{ url = "{ok}", headers = {{ X-Token = "${{secret:MISSING_ONE}}" }} }}
"#,
        echo = server.url("/echo-token"),
        ok = server.url("/ok"),
        query = server.url(&format!("/wrong?token={CANARY}")),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn canary_secret_never_leaks() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server);
    let log = dir.path().join("trace.log");
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("shipdeck")
            .unwrap()
            .env("SHIPDECK_SECRET_CANARY", CANARY)
            .env("SHIPDECK_LOG_FILE", &log)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(&config)
            .args(["--log-level", "trace"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, json, err) = run(&["status", "--json"]);
    assert_eq!(code, Some(1), "the echo endpoint answers 500: degraded");
    // The probe really ran with the secret: the server echoed it and we redacted it.
    assert!(json.contains("token was [REDACTED]"), "{json}");
    // The error path: a missing secret is named, with both ways to provide it.
    assert!(json.contains("SHIPDECK_SECRET_MISSING_ONE"), "{json}");
    let (_, table, err2) = run(&["status"]);
    let (smoke_code, smoke, err3) = run(&["smoke", "dev"]);
    assert_eq!(smoke_code, Some(1));
    assert!(
        smoke.contains("token=[REDACTED]") || !smoke.contains("token="),
        "{smoke}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("health probed"),
        "trace log written: {logged}"
    );
    for (what, text) in [
        ("json", &json),
        ("stderr", &err),
        ("table", &table),
        ("stderr", &err2),
        ("smoke", &smoke),
        ("stderr", &err3),
        ("log", &logged),
    ] {
        assert!(!text.contains(CANARY), "canary leaked into {what}:\n{text}");
    }
}

#[test]
fn smoke_command_reports_each_check() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "provider = \"simulated\"\n[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"dev\"\n[[environment.service]]\nname = \"api\"\n\
         [[environment.smoke]]\nname = \"home\"\nurl = \"{}\"\nbody_contains = \"Welcome\"\n",
        server.url("/home")
    );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"))
        .arg("--config")
        .arg(&path)
        .args(["smoke", "dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("✓ home: answered 200 in "), "{text}");
    assert!(text.ends_with("1 passed, 0 failed\n"), "{text}");
    Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"))
        .arg("--config")
        .arg(&path)
        .args(["smoke", "qa"])
        .assert()
        .code(2);
}

#[test]
fn secret_set_list_rm_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("SHIPDECK_CLI_{}", std::process::id());
    let cmd = || {
        let mut c = Command::cargo_bin("shipdeck").unwrap();
        c.env("XDG_DATA_HOME", dir.path())
            .env("HOME", dir.path())
            .env("SHIPDECK_LOG_FILE", dir.path().join("l.log"));
        c
    };
    let set = cmd()
        .args(["secret", "set", &name])
        .write_stdin("s3cret-value\n")
        .output()
        .unwrap();
    if set.status.code() != Some(0) && String::from_utf8_lossy(&set.stderr).contains("keyring") {
        eprintln!(
            "SKIPPED: the kernel refuses keyrings here: {}",
            String::from_utf8_lossy(&set.stderr)
        );
        return;
    }
    assert_eq!(
        set.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(!String::from_utf8_lossy(&set.stdout).contains("s3cret-value"));
    let list = cmd().args(["secret", "list"]).output().unwrap();
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.lines().any(|l| l == name), "{listed}");
    assert!(!listed.contains("s3cret-value"), "names only");
    cmd().args(["secret", "rm", &name]).assert().code(0);
    cmd().args(["secret", "rm", &name]).assert().code(1);
    // Never from the command line: an extra argument is a usage error.
    cmd()
        .args(["secret", "set", &name, "value-on-argv"])
        .assert()
        .code(2);
    cmd()
        .args(["secret", "set", &name])
        .write_stdin("")
        .assert()
        .code(1);
}
