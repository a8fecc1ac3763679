//! Running the user's own programs (`git`, deploy commands): a child in
//! its own process group is stopped whole (ssh and credential helpers
//! with it), and its output is read bounded, the rest drained so it never
//! blocks on a full pipe.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;

use crate::model::text::fold_line;

/// Longest a killed child is waited for.
const REAP_AFTER_KILL: Duration = Duration::from_secs(2);

/// Stops a child's process group when dropped while armed (its future was
/// cancelled, or its deadline passed): nothing it started outlives it.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Stops the group now; the guard is disarmed.
    fn stop(&mut self) {
        stop_group(self.0.take());
    }

    /// The child ended by itself: nothing to stop.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        stop_group(self.0.take());
    }
}

/// Kills the process group led by `leader` (a child spawned with
/// `process_group(0)`); nothing for none, or for pid 0 or 1.
#[cfg(unix)]
pub fn stop_group(leader: Option<u32>) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(pid) = leader
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 1)
        .and_then(Pid::from_raw)
    else {
        return;
    };
    if let Err(e) = kill_process_group(pid, Signal::KILL) {
        tracing::debug!(error = %e, "process group not signalled");
    }
}

/// Kills the process group led by `leader` (nothing to do off Unix).
#[cfg(not(unix))]
pub fn stop_group(_leader: Option<u32>) {}

/// A stream's text up to `limit` bytes (and whether it said more), the
/// rest read and dropped.
pub async fn bounded(stream: Option<impl AsyncRead + Unpin>, limit: usize) -> (String, bool) {
    let Some(mut s) = stream else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let _ = (&mut s).take(take).read_to_end(&mut kept).await;
    let cut = kept.len() > limit;
    if cut {
        kept.truncate(limit);
        let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

/// What a child said by the time it ended.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, up to the limit asked for.
    pub stdout: String,
    /// Whether stdout said more than was kept.
    pub stdout_cut: bool,
    /// Its stderr, up to the limit asked for.
    pub stderr: String,
}

/// Why a bounded run has no [`Finished`].
#[derive(Debug)]
pub enum RunError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It could not be waited for; its group was stopped.
    Wait(std::io::Error),
    /// The deadline passed; its group was stopped and it was reaped.
    Timeout,
}

/// Runs `cmd` to its end or to `deadline`: stdin closed, its own process
/// group (stopped whole at the deadline, or when this future is dropped),
/// stdout and stderr read bounded to `stdout_kept` and `stderr_kept` bytes.
///
/// # Errors
/// It could not be started or waited for, or the deadline passed.
pub async fn run_bounded(
    cmd: &mut Command,
    deadline: Instant,
    stdout_kept: usize,
    stderr_kept: usize,
) -> Result<Finished, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group: ssh or a credential helper it starts is stopped with it.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    // Declared after `child`, so dropped first: the group is stopped while
    // its leader is not yet reaped.
    let mut group = GroupGuard(child.id());
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let run = async {
        let ((stdout, stdout_cut), (stderr, _)) =
            tokio::join!(bounded(out, stdout_kept), bounded(err, stderr_kept));
        child.wait().await.map(|status| Finished {
            status,
            stdout,
            stdout_cut,
            stderr,
        })
    };
    match tokio::time::timeout_at(deadline, run).await {
        Ok(Ok(out)) => {
            // Reaped: its group id may be reused from now on.
            group.disarm();
            Ok(out)
        }
        // Not reaped: the group's id is still its own, and it is stopped
        // as the guard drops.
        Ok(Err(e)) => Err(RunError::Wait(e)),
        Err(_) => {
            group.stop();
            let _ = child.start_kill();
            let _ = tokio::time::timeout(REAP_AFTER_KILL, child.wait()).await;
            Err(RunError::Timeout)
        }
    }
}

/// A child's stderr as an error shows it: the password of `url` (if it is
/// a URL with one) replaced, on one line, sanitised, at most `limit`
/// characters, and "(no message)" when it said nothing.
pub fn shown(stderr: &str, url: &str, limit: usize) -> String {
    let mut text = stderr.trim().to_string();
    if let Ok(u) = url::Url::parse(url)
        && let Some(password) = u.password()
        && !password.is_empty()
    {
        text = text.replace(password, "***");
    }
    let folded = fold_line(&text);
    let mut out: String = folded.chars().take(limit).collect();
    if folded.chars().count() > limit {
        out.push('…');
    }
    if out.is_empty() {
        out = "(no message)".to_string();
    }
    out
}
