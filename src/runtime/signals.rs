//! The signals that end the console, and how it ended. Taken before the
//! terminal is, so that SIGTERM, SIGINT and SIGHUP restore it instead of
//! leaving it raw in the alternate screen.

/// A signal that ends the console (in raw mode Ctrl-C is a key, not SIGINT:
/// these come from `kill`, a closed terminal or a service manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM.
    Term,
    /// SIGINT.
    Int,
    /// SIGHUP.
    Hup,
}

impl StopSignal {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Term => "SIGTERM",
            Self::Int => "SIGINT",
            Self::Hup => "SIGHUP",
        }
    }

    /// The exit code a shell gives a process this signal ended: 128 + its number.
    pub fn exit_code(self) -> i32 {
        128 + match self {
            Self::Term => 15,
            Self::Int => 2,
            Self::Hup => 1,
        }
    }
}

/// How the console ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The user quit, or the terminal's input ended.
    Closed,
    /// A signal stopped it, after what was queued was written.
    Signalled {
        /// Which.
        signal: StopSignal,
        /// The deploy or rollback that was being watched ("deploy of api in
        /// prod"): its ledger ends at its issue record, so the next start
        /// offers to resume watching it.
        interrupted: Option<String>,
    },
}

/// SIGTERM, SIGINT and SIGHUP as a stream. Once this is called they no longer
/// end the process on their own: the console ends itself and restores the terminal.
#[cfg(unix)]
pub(super) fn stop_signals() -> std::io::Result<futures::stream::BoxStream<'static, StopSignal>> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::hangup())?,
    );
    Ok(Box::pin(futures::stream::unfold(
        handlers,
        |(mut term, mut int, mut hup)| async move {
            let which = tokio::select! {
                Some(()) = term.recv() => StopSignal::Term,
                Some(()) = int.recv() => StopSignal::Int,
                Some(()) = hup.recv() => StopSignal::Hup,
                else => return None,
            };
            Some((which, (term, int, hup)))
        },
    )))
}

/// No such signals here.
#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps)]
pub(super) fn stop_signals() -> std::io::Result<futures::stream::BoxStream<'static, StopSignal>> {
    Ok(Box::pin(futures::stream::pending()))
}
