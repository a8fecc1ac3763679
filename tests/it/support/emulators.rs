//! Local AWS API emulators from the project's virtualenv (`scripts/test` installs
//! them from scripts/requirements-emulators.txt): moto for ECS and STS, LocalStack
//! for CloudWatch. Each binds 127.0.0.1 on a free port and is stopped on drop,
//! also when the test panics.

use crate::support::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator process group.
pub struct Emulator {
    child: Child,
    /// Base URL.
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let pid = self.child.id();
        // The whole group: LocalStack may start helpers.
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{pid}")])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pid}")])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The virtualenv's bin directory; `None` (tests skip, loudly) only when
/// SHIPDECK_SKIP_EMULATORS=1, otherwise a missing install fails the test.
pub fn venv_bin() -> Option<PathBuf> {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin");
    if bin.join("moto_server").exists() && bin.join("python").exists() {
        return Some(bin);
    }
    if std::env::var("SHIPDECK_SKIP_EMULATORS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: emulators not installed and SHIPDECK_SKIP_EMULATORS=1");
        return None;
    }
    panic!(
        "the AWS emulators are not installed in {}: run scripts/test (it creates the virtualenv), \
         or set SHIPDECK_SKIP_EMULATORS=1 to skip these tests",
        bin.display()
    );
}

/// GETs `path` and returns the status code and body, or `None` when nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text))
}

fn spawn(mut cmd: Command, port: u16, ready: impl Fn(u16) -> bool, name: &str) -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    // Private state per instance: parallel LocalStacks must not share their database.
    let child = cmd
        .current_dir(dir.path())
        .env("FILESYSTEM_ROOT", dir.path().join("fs"))
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut emu = Emulator {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if ready(port) {
            return emu;
        }
        if let Ok(Some(status)) = emu.child.try_wait() {
            panic!(
                "{name} exited ({status}) before it was ready:\n{}",
                std::fs::read_to_string(&emu.log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} not ready after 60 s:\n{}",
            std::fs::read_to_string(&emu.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// moto's server: ECS and STS.
pub fn moto(bin: &std::path::Path) -> Emulator {
    let port = free_port();
    let mut cmd = Command::new(bin.join("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    spawn(cmd, port, |p| get(p, "/moto-api/").is_some(), "moto")
}

/// moto for Lambda: image functions' `CodeSha256` is the image's real
/// digest only when moto looks the image up in its own ECR.
pub fn moto_lambda(bin: &std::path::Path) -> Emulator {
    let port = free_port();
    let mut cmd = Command::new(bin.join("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_LAMBDA_STUB_ECR", "false");
    spawn(cmd, port, |p| get(p, "/moto-api/").is_some(), "moto")
}

/// [`moto_lambda`] whose CodeDeploy stamps times as the API does (epoch
/// seconds, not moto's ISO text, which the Rust SDK cannot read):
/// tests/support/moto_codedeploy.py says why.
pub fn moto_codedeploy(bin: &std::path::Path) -> Emulator {
    let port = free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_codedeploy.py");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(script)
        .arg(port.to_string())
        .env("MOTO_LAMBDA_STUB_ECR", "false");
    spawn(cmd, port, |p| get(p, "/moto-api/").is_some(), "moto-cd")
}

/// [`moto_lambda`] that can enforce IAM (the fixture's `enforce-iam`):
/// tests/support/moto_iam.py says what it mends in moto's signature check.
pub fn moto_iam(bin: &std::path::Path) -> Emulator {
    let port = free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_iam.py");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(script)
        .arg(port.to_string())
        .env("MOTO_LAMBDA_STUB_ECR", "false");
    spawn(cmd, port, |p| get(p, "/moto-api/").is_some(), "moto-iam")
}

/// CloudWatch metric math in front of `upstream` (LocalStack): a small
/// stand-in, because neither emulator computes expressions
/// (tests/support/cloudwatch_math.py says what it does).
pub fn cloudwatch_math(bin: &std::path::Path, upstream: &str) -> Emulator {
    let port = free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/cloudwatch_math.py");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(script).arg(upstream).arg(port.to_string());
    spawn(
        cmd,
        port,
        |p| get(p, "/_localstack/health").is_some_and(|(c, _)| c == 200),
        "cloudwatch-math",
    )
}

/// moto serving one request at a time (tests/support/moto_serial.py says
/// why): for tests that race conditional writes.
/// With a `plan` such as `"throttle=3,conflict=4,lost=5"` it also injects
/// DynamoDB write faults ("" for none; tests/support/moto_serial.py says how).
pub fn moto_faults(bin: &std::path::Path, plan: &str) -> Emulator {
    let port = free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_serial.py");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(script)
        .arg(port.to_string())
        .env("SHIPDECK_FAULTS", plan);
    spawn(cmd, port, |p| get(p, "/moto-api/").is_some(), "moto-serial")
}

/// LocalStack's community core in host mode, CloudWatch only.
pub fn localstack(bin: &std::path::Path) -> Emulator {
    localstack_serving(bin, &["cloudwatch"])
}

/// LocalStack with CloudWatch and CloudWatch Logs. Logs runs on LocalStack's
/// fork of moto, kept apart from moto[server]'s (scripts/install-emulators
/// says why) and put first on its path.
pub fn localstack_logs(bin: &std::path::Path) -> Emulator {
    localstack_serving(bin, &["cloudwatch", "logs"])
}

fn localstack_serving(bin: &std::path::Path, services: &[&str]) -> Emulator {
    let port = free_port();
    let mut cmd = Command::new(bin.join("python"));
    if services.contains(&"logs") {
        let fork = bin.join("../localstack-moto");
        assert!(
            fork.join("moto").is_dir(),
            "LocalStack's moto fork is not installed in {}: run scripts/install-emulators",
            fork.display()
        );
        cmd.env("PYTHONPATH", fork);
    }
    let wanted: Vec<String> = services.iter().map(|s| format!("\"{s}\": \"")).collect();
    cmd.args(["-m", "localstack.runtime.main"])
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("SERVICES", services.join(","))
        .env("DNS_ADDRESS", "0")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        .env("DISABLE_EVENTS", "1");
    spawn(
        cmd,
        port,
        // Each service named, and not as "disabled".
        |p| {
            get(p, "/_localstack/health").is_some_and(|(c, body)| {
                c == 200
                    && wanted.iter().all(|w| {
                        body.contains(&format!("{w}available"))
                            || body.contains(&format!("{w}running"))
                    })
            })
        },
        "localstack",
    )
}
