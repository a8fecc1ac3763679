//! The escape-code corpus: OSC title, OSC 52, CSI clear and cursor moves, bare
//! ESC, C1 controls, NUL, BEL, CR and a bidi override, put into an alarm name and
//! reason, service events (the ECS service name), a health body, configuration
//! values and a file name. No command's output and no console frame may carry
//! a raw control byte to the terminal; JSON keeps the exact text, escaped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

use crate::support::http::{CORPUS, Server};
use crate::support::tmux::Tmux;

/// The corpus as a TOML basic-string body: every control character escaped.
fn toml_escaped(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '"' || c == '\\' || c == '\u{202e}' {
                format!("\\u{:04X}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The corpus without NUL, which no file name can hold.
fn for_file_name() -> String {
    CORPUS.replace(['\u{0}', '/'], "")
}

struct World {
    _dir: tempfile::TempDir,
    /// A directory whose name carries the corpus, holding the config.
    cfg_dir: PathBuf,
    _server: Server,
}

impl World {
    fn new() -> Self {
        let server = Server::start();
        let dir = tempfile::tempdir().unwrap();
        let cfg_dir = dir.path().join(format!("cfg{}", for_file_name()));
        std::fs::create_dir(&cfg_dir).unwrap();
        let c = toml_escaped(CORPUS);
        let config = format!(
            r#"provider = "simulated"
ledger_path = "ledger.jsonl"

[simulator]
fleet = "fleet.toml"
health = "probe"

[[environment]]
name = "dev"
region = "eu-west-1"
cluster = "shop-dev{c}"

[[environment.service]]
name = "api"
ecs_service = "api-dev{c}"
alarms = ["api-dev-5xx{c}"]
health = {{ url = "{corpus}" }}

[[environment.smoke]]
name = "home{c}"
url = "{corpus}"

[[environment]]
name = "prod"
region = "eu-west-1"
cluster = "shop-prod{c}"

[[environment.service]]
name = "api"
ecs_service = "api-prod{c}"
alarms = ["api-prod-5xx{c}"]
health = {{ url = "{ok}" }}

[environment.gate]
checks = ["alarms_ok", "pinned", "fresh"]
approvals_required = 0
"#,
            corpus = server.url("/corpus"),
            ok = server.url("/ok"),
        );
        let fleet = format!(
            r#"[[environment]]
name = "dev"

[[environment.service]]
ecs_service = "api-dev{c}"
family = "api"
repository = "registry.example.com/team/api"
releases = ["1.0", "1.1"]
latency_ms = 20
alarms = [{{ name = "api-dev-5xx{c}", state = "ALARM", reason = "Threshold{c}crossed" }}]

[[environment]]
name = "prod"

[[environment.service]]
ecs_service = "api-prod{c}"
family = "api"
repository = "registry.example.com/team/api"
releases = ["1.0"]
latency_ms = 20
alarms = [{{ name = "api-prod-5xx{c}", state = "OK" }}]
"#
        );
        std::fs::write(cfg_dir.join("config.toml"), config).unwrap();
        std::fs::write(cfg_dir.join("fleet.toml"), fleet).unwrap();
        Self {
            _dir: dir,
            cfg_dir,
            _server: server,
        }
    }

    fn config(&self) -> PathBuf {
        self.cfg_dir.join("config.toml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("shipdeck").unwrap();
        cmd.env_remove("SHIPDECK_CONFIG")
            .env_remove("NO_COLOR")
            .env("SHIPDECK_LOG_FILE", self.cfg_dir.join("log"))
            .env("SHIPDECK_OPERATOR", "alice")
            .arg("--config")
            .arg(self.config())
            .args(args)
            .timeout(Duration::from_mins(1));
        cmd
    }
}

/// No byte a terminal would act on: C0 controls but newline, DEL, C1 controls
/// (UTF-8 0xC2 0x80..0x9F) and the bidi override.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n') || c == '\u{202e}';
        assert!(
            !bad,
            "{what}: raw {c:?} at byte {i} reaches the terminal:\n{}",
            text.escape_debug()
        );
    }
}

fn run_clean(w: &World, args: &[&str]) -> (Option<i32>, String) {
    let out = w.cmd(args).output().unwrap();
    assert_clean(&format!("{args:?} stdout"), &out.stdout);
    assert_clean(&format!("{args:?} stderr"), &out.stderr);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn every_command_prints_the_corpus_only_sanitised() {
    let w = World::new();
    let nasty_arg = format!("x{}", for_file_name());
    let (code, out) = run_clean(&w, &["status"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("shop-dev"), "{out}");
    run_clean(&w, &["status", "--json"]);
    let (code, out) = run_clean(&w, &["config", "check"]);
    assert_eq!(code, Some(0), "{out}");
    // The gate prints the firing alarm's name.
    let (code, out) = run_clean(&w, &["promote", "api", "--to", "prod", "--yes"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("in ALARM: api-dev-5xx"), "{out}");
    run_clean(&w, &["promote", "api", "--to", "prod", "--yes", "--json"]);
    run_clean(&w, &["rollback", "api", "--env", "dev", "--yes"]);
    run_clean(&w, &["smoke", "dev"]);
    run_clean(&w, &["smoke", "dev", "--json"]);
    let (_, out) = run_clean(&w, &["audit"]);
    assert!(!out.is_empty());
    run_clean(&w, &["audit", "--json"]);
    run_clean(&w, &["audit", "verify"]);
    run_clean(&w, &["unlock", "--env", "prod", "--service", "api"]);
    // Errors that echo what was typed.
    run_clean(&w, &["approve", &nasty_arg]);
    let (code, _) = run_clean(&w, &["status", "--env", &nasty_arg]);
    assert_eq!(code, Some(2));
    let (code, _) = run_clean(&w, &["promote", &nasty_arg, "--to", "prod"]);
    assert_eq!(code, Some(2));
    let (code, _) = run_clean(&w, &["status", &format!("--{nasty_arg}")]);
    assert_eq!(code, Some(2));
    // A config path that does not exist, and one that is not a file.
    let mut cmd = Command::cargo_bin("shipdeck").unwrap();
    let out = cmd
        .env("SHIPDECK_LOG_FILE", w.cfg_dir.join("log"))
        .arg("--config")
        .arg(w.cfg_dir.join(format!("missing{}.toml", for_file_name())))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_clean("missing config", &out.stderr);
    let out = Command::cargo_bin("shipdeck")
        .unwrap()
        .env("SHIPDECK_LOG_FILE", w.cfg_dir.join("log"))
        .arg("--config")
        .arg(&w.cfg_dir)
        .arg("config")
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_clean("directory as config", &out.stderr);
}

#[test]
fn json_keeps_the_exact_text_escaped() {
    let w = World::new();
    let out = w.cmd(&["status", "--json"]).output().unwrap();
    assert_clean("status --json", &out.stdout);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let firing = v["services"][0]["cells"][0]["alarms_firing"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(firing.starts_with("api-dev-5xx"), "{firing:?}");
    // The report sanitises names before they enter it; what it holds is exact.
    assert!(!firing.chars().any(char::is_control), "{firing:?}");
}

fn tmux_option(tmux_socket: &str, format: &str) -> String {
    let out = std::process::Command::new("tmux")
        .args([
            "-L",
            tmux_socket,
            "display-message",
            "-p",
            "-t",
            "main",
            format,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn capture_with_escapes(tmux_socket: &str) -> Vec<u8> {
    std::process::Command::new("tmux")
        .args(["-L", tmux_socket, "capture-pane", "-e", "-p", "-t", "main"])
        .output()
        .unwrap()
        .stdout
}

/// Our own SGR colour codes are fine; anything else a terminal would act on is not.
fn assert_only_sgr(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            assert_eq!(chars.next(), Some('['), "{what}: ESC not starting CSI");
            let mut params = String::new();
            loop {
                let n = chars.next().unwrap();
                if n.is_ascii_digit() || n == ';' || n == ':' {
                    params.push(n);
                } else {
                    assert_eq!(n, 'm', "{what}: CSI {params}{n} is not a colour");
                    break;
                }
            }
        } else {
            assert!(
                !(c.is_control() && c != '\n') && c != '\u{202e}',
                "{what}: raw {c:?} in the pane:\n{}",
                text.escape_debug()
            );
        }
    }
}

#[test]
fn the_console_frame_carries_no_raw_control_bytes() {
    let w = World::new();
    let Some(tmux) = Tmux::start("escapes", 120, 40) else {
        return;
    };
    tmux.wait_for("PROMPT$", Duration::from_secs(20));
    let socket = tmux.socket().to_string();
    let raw = w.cfg_dir.parent().unwrap().join("raw.log");
    let title_before = tmux_option(&socket, "#{pane_title}");
    // Every byte the console writes to its terminal, as written.
    let status = std::process::Command::new("tmux")
        .args(["-L", &socket, "pipe-pane", "-o", "-t", "main"])
        .arg(format!("cat > {}", shell_quote(&raw)))
        .status()
        .unwrap();
    assert!(status.success());
    // The shell would act on the corpus in a typed path: reach the directory
    // through a plain symlink (the file-name case is covered by the CLI test).
    let plain = w.cfg_dir.parent().unwrap().join("plain");
    std::os::unix::fs::symlink(&w.cfg_dir, &plain).unwrap();
    let bin = env!("CARGO_BIN_EXE_shipdeck");
    tmux.run(&format!(
        "SHIPDECK_OPERATOR=alice SHIPDECK_LOG_FILE={} {bin} --config {}; echo EXIT=$?",
        shell_quote(&plain.join("log")),
        shell_quote(&plain.join("config.toml"))
    ));
    tmux.wait_for("Board · services", Duration::from_secs(20));
    tmux.wait_for("A✗1", Duration::from_secs(20));
    // Health probes (the corpus body) and the detail pane (alarm name, reason).
    std::thread::sleep(Duration::from_secs(3));
    tmux.send(&["Enter"]);
    tmux.wait_for("Detail · api @ dev", Duration::from_secs(20));
    tmux.wait_for("H✗500", Duration::from_secs(20));
    let screen = tmux.screen();
    assert!(screen.contains("api-dev-5xx"), "{screen}");
    assert!(
        !screen.contains("pwned"),
        "an OSC payload was drawn:\n{screen}"
    );
    assert_only_sgr("capture-pane -e", &capture_with_escapes(&socket));
    tmux.send(&["q"]);
    tmux.wait_for("EXIT=0", Duration::from_secs(20));
    assert_eq!(
        tmux_option(&socket, "#{pane_title}"),
        title_before,
        "the pane title was changed"
    );
    let bytes = std::fs::read(&raw).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for (seq, what) in [
        ("\u{1b}]", "an OSC sequence"),
        ("\u{7}", "BEL"),
        ("\u{0}", "NUL"),
        ("\u{9b}", "C1 CSI"),
        ("\u{9d}", "C1 OSC"),
        ("\u{202e}", "a bidi override"),
        ("cHduZWQ=", "an OSC 52 payload"),
    ] {
        assert!(!text.contains(seq), "{what} reached the terminal");
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}
