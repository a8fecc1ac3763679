//! The commands a proxy environment runs (the deploy command, nginx's test and
//! reload): each leads a process group of its own, and at its deadline the
//! whole group is stopped, so nothing it started outlives it.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Colour, Ctx};
use crate::model::Digest;
use crate::model::text::sanitize;

/// Longest a stopped command is waited for once its group was killed.
const REAP_AFTER_KILL: Duration = Duration::from_secs(2);
/// Bytes of a command's stderr kept for an error message.
const STDERR_KEPT: u64 = 64 * 1024;
/// Characters of one line of the deploy command's output shown as an event.
const LINE_KEPT: usize = 500;

/// A command running as the leader of a process group of its own. A leader
/// that is not yet reaped keeps its pid, and so the group's id, from being
/// reused: the group is signalled only before it is reaped, at the command's
/// deadline or when this is dropped with the command still running (a
/// cancelled runbook).
pub(in crate::platforms::proxy) struct Group {
    child: Child,
    /// The group's id (the leader's pid) until the leader is reaped.
    leader: Option<i32>,
}

impl Group {
    /// Spawns `cmd` as the leader of a new process group.
    pub(in crate::platforms::proxy) fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        // Its own group: a grandchild it starts can be found and stopped with
        // it, and a Ctrl-C meant for shipdeck's terminal does not reach it.
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd.kill_on_drop(true).spawn()?;
        // Pid 1 as a group would mean "every process": never signalled.
        let leader = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 1);
        Ok(Self { child, leader })
    }

    /// Waits for the leader to exit, and reaps it.
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.leader = None;
        }
        status
    }

    /// Kills every process of the group (SIGKILL), then reaps the leader.
    async fn stop(&mut self) {
        self.kill_group();
        let _ = tokio::time::timeout(REAP_AFTER_KILL, self.wait()).await;
    }

    fn kill_group(&mut self) {
        if let Some(pgid) = self.leader.take() {
            kill_group(pgid);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // `kill_on_drop` stops the leader; this stops what it started.
        self.kill_group();
    }
}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(group) = Pid::from_raw(pgid) else {
        return;
    };
    match kill_process_group(group, Signal::KILL) {
        Ok(()) => tracing::info!(pgid, "process group stopped"),
        Err(e) => tracing::warn!(pgid, error = %e, "process group not stopped"),
    }
}

/// No process groups here: `kill_on_drop` stops the command itself.
#[cfg(not(unix))]
fn kill_group(_pgid: i32) {}

/// Everything a stream says, until it ends.
async fn drain(stream: Option<impl AsyncRead + Unpin>) {
    if let Some(mut s) = stream {
        let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
    }
}

/// Runs `cmd` (argv, no shell) to its end within `within`: its status and the
/// start of its stderr, or `None` when the deadline passed and its whole group
/// was stopped.
pub(in crate::platforms::proxy) async fn output_within(
    cmd: &mut Command,
    within: Duration,
) -> std::io::Result<Option<(ExitStatus, String)>> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = Group::spawn(cmd)?;
    let (out, err) = (group.child.stdout.take(), group.child.stderr.take());
    let run = async {
        let mut kept = Vec::new();
        let read_err = async {
            if let Some(mut e) = err {
                let _ = (&mut e).take(STDERR_KEPT).read_to_end(&mut kept).await;
                drain(Some(e)).await;
            }
        };
        // The pipes first: until the leader is reaped its group id is its own.
        tokio::join!(drain(out), read_err);
        group
            .wait()
            .await
            .map(|s| (s, String::from_utf8_lossy(&kept).into_owned()))
    };
    if let Ok(done) = tokio::time::timeout(within, run).await {
        return done.map(Some);
    }
    group.stop().await;
    Ok(None)
}

/// Runs the deploy command (argv, no shell), streaming its output as events.
/// At `deploy_timeout` the command and every process it started are stopped.
pub(super) async fn deploy_command(
    ctx: &Ctx,
    id: &str,
    to: Colour,
    digest: &Digest,
) -> Result<(), String> {
    let argv: Vec<String> = ctx
        .svc
        .deploy
        .iter()
        .map(|a| {
            a.replace("{colour}", to.name())
                .replace("{digest}", digest.as_str())
        })
        .collect();
    let (program, rest) = argv
        .split_first()
        .ok_or_else(|| "no deploy command is configured".to_string())?;
    let mut group = Group::spawn(
        Command::new(program)
            .args(rest)
            .env("SHIPDECK_COLOUR", to.name())
            .env("SHIPDECK_DIGEST", digest.as_str())
            .env("SHIPDECK_ENV", &ctx.env)
            .env("SHIPDECK_SERVICE", &ctx.service)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|e| format!("cannot run the deploy command {}: {e}", sanitize(program)))?;
    let out = group.child.stdout.take();
    let err = group.child.stderr.take();
    let pump = |stream: Option<Box<dyn AsyncRead + Unpin + Send>>| {
        let ctx = ctx.clone();
        let id = id.to_string();
        async move {
            let Some(s) = stream else { return };
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Outside text: sanitised, credentials in URLs redacted, bounded.
                let line: String = crate::secrets::redact_urls(&sanitize(&line))
                    .chars()
                    .take(LINE_KEPT)
                    .collect();
                let said = format!("{}{line}", crate::platforms::proxy::logs::OUTPUT);
                ctx.update(&id, |r| r.event(said));
            }
        }
    };
    let run = async {
        // The pipes first: until the leader is reaped its group id is its own.
        tokio::join!(
            pump(out.map(|o| Box::new(o) as Box<dyn AsyncRead + Unpin + Send>)),
            pump(err.map(|e| Box::new(e) as Box<dyn AsyncRead + Unpin + Send>)),
        );
        group.wait().await
    };
    match tokio::time::timeout(ctx.svc.deploy_timeout, run).await {
        Err(_) => {
            group.stop().await;
            Err(format!(
                "the deploy command did not finish within {}; it was stopped, with every process it started",
                humantime::format_duration(ctx.svc.deploy_timeout)
            ))
        }
        Ok(Err(e)) => Err(format!("the deploy command could not be waited for: {e}")),
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!(
            "the deploy command failed ({s}); the proxy was not touched"
        )),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Whether process `pid` has ended (gone, or a zombie not yet reaped).
    fn ended(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_is_stopped_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 300 & echo $! > {}; sleep 300", pidfile.display());
        let out = output_within(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert!(out.is_none(), "{out:?}");
        let child = std::fs::read_to_string(&pidfile).unwrap();
        let child = child.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ended(child) {
            assert!(
                std::time::Instant::now() < deadline,
                "{child} outlived the command's deadline"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_command_within_its_deadline_gives_its_status_and_stderr() {
        let (status, stderr) = output_within(
            Command::new("sh").args(["-c", "echo out; echo oops >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(stderr, "oops\n");
    }
}
