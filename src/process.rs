//! Running the user's own programs (`git`, deploy commands): a child in
//! its own process group is stopped whole (ssh and credential helpers
//! with it), and its output is read bounded, the rest drained so it never
//! blocks on a full pipe.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Stops a child's process group when dropped while armed (its future was
/// cancelled, or its deadline passed): nothing it started outlives it.
pub struct GroupGuard(pub Option<u32>);

impl GroupGuard {
    /// Stops the group now; the guard is disarmed.
    pub fn stop(&mut self) {
        stop_group(self.0.take());
    }

    /// The child ended by itself: nothing to stop.
    pub fn disarm(&mut self) {
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
