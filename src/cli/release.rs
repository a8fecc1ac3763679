//! What `shipdeck promote` and `shipdeck rollback` share: their options, their
//! report, the prompts, and the driver that runs the release engine's effects
//! and follows its watch (the console's flows are the other driver).

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::error::CliError;
use super::term;
use crate::clock::{Clock, SystemClock};
use crate::config::EnvId;
use crate::config::{Config, Confirm};
use crate::gate::{Check, Verdict};
use crate::model::ServiceSnapshot;
use crate::provider::{AnyProvider, ReadScope, read_with_timeout};
use crate::release::exec::Executor;
use crate::release::{self, Effect, Next, Outcome, Watch};

/// Options shared by promote and rollback.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Watch until it succeeds, or aborts (and rolls back).
    #[arg(long)]
    pub wait: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Use the built-in demo configuration and its shared simulated world.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: run in a world with this game-day scenario armed (see
    /// `shipdeck demo --scenario list`).
    #[arg(long, value_name = "NAME", requires = "demo", value_parser = crate::cli::scenario_name)]
    pub scenario: Option<String>,
}

/// What `promote` or `rollback` did, printed at the end (text or JSON).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `promote` or `rollback`.
    pub action: &'static str,
    /// Service.
    pub service: String,
    /// Target environment.
    pub env: String,
    /// Source environment of a promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// Promotion id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
    /// Revision before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<String>,
    /// Revision after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<String>,
    /// Digest deployed (or rolled back to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Whether the gate said GO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<bool>,
    /// The gate's checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// The engine's outcome (`Outcome::as_str`).
    pub outcome: Outcome,
    /// Why, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why in short, as the last line and the console's headline name it
    /// (the rule that aborted, what failed, what could not be seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The signal that stopped the watch (the exit code is 128 + it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl Report {
    /// Prints the report; the exit code is the outcome's.
    pub fn print(&self, json: bool) -> i32 {
        if json {
            match term::json(self) {
                Ok(text) => term::out_styled(&text),
                Err(e) => term::error(&format!("cannot encode the report: {e}")),
            }
        } else {
            if self.go == Some(false) {
                term::out(&checks_text(&self.checks));
            }
            // The last line is the outcome and why in short, as the console's
            // headline says it; the whole reason goes just before it when it
            // says more.
            let cause = self.cause.as_deref().or(self.reason.as_deref());
            if let Some(reason) = self.reason.as_deref().filter(|r| Some(*r) != cause) {
                term::outln(&format!("  {reason}"));
            }
            term::outln(&format!("{}: {}", self.action, self.outcome.said(cause)));
        }
        match (self.outcome, self.signal) {
            (Outcome::Interrupted, Some(n)) => 128 + n,
            (outcome, _) => outcome.exit_code(),
        }
    }

    /// Takes the engine's outcome and its reason, and from `watch` why in short.
    pub fn ended(mut self, (outcome, why): (Outcome, String), watch: &Watch) -> Self {
        self.outcome = outcome;
        self.reason = Some(why);
        self.cause = watch.cause(outcome);
        self
    }
}

/// The gate's checks, one line each.
pub fn checks_text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match (c.verdict, c.overridden) {
            (Verdict::Pass, true) => "!",
            (Verdict::Pass, false) => "✓",
            (Verdict::Fail, _) => "✗",
            (Verdict::Pending, _) => "◐",
            (Verdict::Unknown, _) => "?",
        };
        out.push_str(&format!("  {mark} {:<24} {}\n", c.name, c.reason));
    }
    out
}

/// Progress goes to stderr so that stdout stays the report (and JSON stays clean).
pub fn say(text: &str) {
    term::errln(text);
}

/// Whether the operator can be asked.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a question on the terminal.
pub fn ask(prompt: &str) -> Option<String> {
    term::err(prompt);
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

/// A yes/no question; anything but yes is no.
pub fn yes(prompt: &str) -> bool {
    matches!(ask(prompt).as_deref(), Some("y" | "Y" | "yes"))
}

/// Asks for the confirmation the environment wants; `--yes` skips it.
pub fn confirmed(cfg: &Config, env: EnvId, yes_flag: bool, what: &str) -> Result<bool, CliError> {
    if yes_flag {
        return Ok(true);
    }
    if !interactive() {
        return Err(CliError::usage(format!(
            "{what} needs a confirmation: run it in a terminal, or pass --yes"
        )));
    }
    let e = &cfg.environments[env];
    Ok(match e.confirm {
        Confirm::Type => {
            ask(&format!("Type \"{}\" to confirm: ", e.name)).as_deref() == Some(e.name.as_str())
        }
        Confirm::Enter => yes("Proceed? [y/N] "),
    })
}

/// A reading of one service with the sources of its environment that could
/// not be read (as gate reasons), or a clear error.
pub async fn read_service(
    provider: &AnyProvider,
    cfg: &Config,
    env: EnvId,
    service: &str,
) -> Result<(ServiceSnapshot, Vec<String>), CliError> {
    let e = &cfg.environments[env];
    // Metrics too: the watch takes its error-rate baseline from this reading.
    let snap = read_with_timeout(provider, e, ReadScope::CONSOLE)
        .await
        .map_err(|err| CliError::failed(format!("reading \"{}\" failed: {err}", e.name)))?;
    let s = snap.service(service).cloned().ok_or_else(|| {
        CliError::failed(format!(
            "service \"{service}\" not found in \"{}\"{}",
            e.name,
            if snap.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", snap.warnings.join("; "))
            }
        ))
    })?;
    Ok((s, release::stale_sources(&e.name, &snap.sources)))
}

/// The CLI's driver of the release engine: runs its effects in order and
/// follows its watch, as the console's flows do on screen.
pub struct Driver<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// The cloud.
    pub provider: AnyProvider,
    /// Locks, records, provider calls.
    pub exec: Executor,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The operator asked (and confirmed) to abort the deploy being watched.
    pub abort: Arc<AtomicBool>,
    /// The operator stopped watching (the deploy goes on, unwatched): the
    /// signal that stopped it (0 while watching).
    pub detach: Arc<AtomicI32>,
    /// The signal that ended the watch, for the exit code (128 + it).
    pub signal: Option<i32>,
    /// Ctrl-C is turned into `abort`/`detach` while watching (the binary;
    /// tests set the flags themselves).
    ctrl_c: bool,
}

impl Drop for Driver<'_> {
    /// Whatever the command's end, what it learned about task definitions is kept.
    fn drop(&mut self) {
        self.provider.save_cache();
    }
}

impl<'a> Driver<'a> {
    /// A driver for a mutation in `env`; refused (exit 2) where the engine refuses.
    pub fn new(
        cfg: &'a Config,
        fleet: Option<super::setup::Demo>,
        operator: &str,
        env: EnvId,
    ) -> Result<Self, CliError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (provider, note) =
            super::provider_for(cfg, fleet, clock.clone()).map_err(CliError::usage)?;
        if let Some(n) = note {
            term::errln(&n);
        }
        if let Some(w) = provider.cache_warning() {
            term::errln(&format!("warning: {w}"));
        }
        let (ledger, locks) = super::setup::state_for(cfg).map_err(CliError::usage)?;
        let exec = Executor::new(
            provider.clone(),
            cfg.environments.clone(),
            ledger,
            locks,
            operator.to_string(),
            clock.clone(),
        )
        .for_demo(cfg.is_demo());
        // Records an earlier run observed but could not write go in first.
        if let Some(note) = exec.flush_pending() {
            term::errln(&note);
        }
        // Every reader of the ledger warns about a torn tail (D17); only a
        // file can have one, so the team table is not read again for it.
        if exec.ledger().team_store().is_none() {
            let _ = super::audit::read_warned(exec.ledger());
        }
        let mut driver = Self::with(cfg, provider, exec, clock, env)?;
        driver.ctrl_c = true;
        Ok(driver)
    }

    /// A driver over a given provider and executor (the tests drive the same
    /// code in-process); refused (exit 2) where the engine refuses.
    pub fn with(
        cfg: &'a Config,
        provider: AnyProvider,
        exec: Executor,
        clock: Arc<dyn Clock>,
        env: EnvId,
    ) -> Result<Self, CliError> {
        if let Some(why) = release::refusal(cfg.read_only, &cfg.environments[env]) {
            return Err(CliError::usage(why));
        }
        Ok(Self {
            cfg,
            provider,
            exec,
            clock,
            abort: Arc::new(AtomicBool::new(false)),
            detach: Arc::new(AtomicI32::new(0)),
            signal: None,
            ctrl_c: false,
        })
    }

    /// Signals while watching. Ctrl-C (SIGINT) on a terminal asks whether to
    /// abort (and roll back) or keep watching; without one it stops watching.
    /// SIGTERM and SIGHUP stop watching. Stopping leaves the deploy running
    /// (the console offers to resume it) and exits 128 + the signal.
    /// Installed only for the watch, so a signal at an earlier prompt still
    /// just ends the command.
    fn on_signals(&self) {
        let (abort, detach) = (self.abort.clone(), self.detach.clone());
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if !interactive() {
                    detach.store(SIGINT, Ordering::SeqCst);
                    continue;
                }
                let answer = tokio::task::spawn_blocking(|| {
                    yes("\nCtrl-C: abort the deploy and roll back? [y/N] (n keeps watching) ")
                })
                .await
                .unwrap_or(false);
                if answer {
                    abort.store(true, Ordering::SeqCst);
                }
            }
        });
        #[cfg(unix)]
        for (kind, number) in [
            (tokio::signal::unix::SignalKind::terminate(), SIGTERM),
            (tokio::signal::unix::SignalKind::hangup(), SIGHUP),
        ] {
            let detach = self.detach.clone();
            match tokio::signal::unix::signal(kind) {
                Ok(mut stream) => {
                    tokio::spawn(async move {
                        while stream.recv().await.is_some() {
                            detach.store(number, Ordering::SeqCst);
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, number, "signal handler not installed"),
            }
        }
    }

    /// Runs effects in order; an issue's answer goes back to `watch`, and what
    /// it leads to runs too. A record that cannot be written before an issue
    /// stops everything (nothing was deployed); after it, it is reported, kept
    /// to be written late, and the ending it closes is claimed only as the
    /// ledger allows ([`Watch::claim`]).
    pub async fn run(
        &mut self,
        watch: &mut Watch,
        effects: Vec<Effect>,
    ) -> Result<Option<(Outcome, String)>, CliError> {
        self.run_then(watch, effects, None).await
    }

    /// [`run`](Self::run), with the ending the engine already reported beside
    /// these effects (the records among them close it).
    async fn run_then(
        &mut self,
        watch: &mut Watch,
        effects: Vec<Effect>,
        ended: Option<(Outcome, String)>,
    ) -> Result<Option<(Outcome, String)>, CliError> {
        let operator = self.exec.operator().to_string();
        let mut queue: VecDeque<Effect> = effects.into();
        let mut outcome = ended;
        let mut written = release::Written::default();
        let mut closing = Vec::new();
        while let Some(effect) = queue.pop_front() {
            if let Effect::Record { kind, draft } = effect {
                if queue.iter().any(|e| matches!(e, Effect::Issue { .. })) {
                    if let Err(e) = self.exec.record(kind, draft) {
                        return Err(CliError::failed(format!("{e}; nothing was deployed")));
                    }
                } else {
                    closing.push((kind, draft));
                }
                continue;
            }
            // Records before a lock's release are written while it is held.
            self.write_closing(&mut closing, &mut written).await;
            match effect {
                Effect::Record { .. } => {}
                Effect::Release { env, service } => {
                    self.exec.release(env, &service);
                }
                Effect::Issue {
                    env,
                    service,
                    issue,
                    draft,
                } => {
                    let result = self
                        .exec
                        .issue(env, &service, &issue, draft)
                        .await
                        .map(|(started, _)| started);
                    let mut next = watch.on_issued(result, &operator);
                    show(&next);
                    queue.extend(std::mem::take(&mut next.effects));
                    outcome = next.outcome.or(outcome);
                }
            }
        }
        self.write_closing(&mut closing, &mut written).await;
        Ok(outcome.map(|end| watch.claim(end, &written)))
    }

    /// Appends the records gathered so far (kept to be written late when the
    /// ledger refuses them), saying what could not be written.
    async fn write_closing(
        &self,
        closing: &mut Vec<(crate::ledger::RecordKind, crate::ledger::Draft)>,
        written: &mut release::Written,
    ) {
        if closing.is_empty() {
            return;
        }
        let (now, _) = self.exec.record_closing(std::mem::take(closing)).await;
        for (kind, e) in &now.failed {
            say(&format!("AUDIT: {} not written: {e}", kind.as_str()));
        }
        if let Some(Err(e)) = &now.kept {
            say(&format!(
                "AUDIT: could not keep it to write later either: {e}"
            ));
        }
        written.recorded.extend(now.recorded);
        written.failed.extend(now.failed);
        if now.kept.is_some() {
            written.kept = now.kept;
        }
    }

    /// Follows the watch to its end, asking where the engine asks.
    pub async fn follow(&mut self, watch: &mut Watch) -> Result<(Outcome, String), CliError> {
        let operator = self.exec.operator().to_string();
        let every = self
            .cfg
            .refresh_interval
            .clamp(Duration::from_secs(1), crate::app::WATCH_POLL);
        let mut seen_events = std::collections::HashSet::new();
        loop {
            tokio::time::sleep(every).await;
            let env = &self.cfg.environments[watch.env];
            let on_abort = env.rollout.on_abort;
            let now = self.clock.now();
            let signal = self.detach.swap(0, Ordering::SeqCst);
            if signal != 0 {
                let (kind, draft) = watch.interrupted(&operator, signal_name(signal));
                if let Err(e) = self.exec.record(kind, draft) {
                    say(&format!("AUDIT: {e}"));
                }
                self.exec.release(watch.env, &watch.service);
                self.signal = Some(signal);
                return Ok((
                    Outcome::Interrupted,
                    format!(
                        "stopped watching on {}: the {} goes on unwatched and its outcome is not recorded; `shipdeck` (the console) offers to resume watching it",
                        signal_name(signal),
                        watch.kind.noun()
                    ),
                ));
            }
            if self.abort.swap(false, Ordering::SeqCst) {
                let next = watch.abort_by_hand(&operator, now);
                show(&next);
                if let Some(outcome) = self.run_then(watch, next.effects, next.outcome).await? {
                    return Ok(outcome);
                }
                continue;
            }
            let mut next = match read_with_timeout(&self.provider, env, ReadScope::CONSOLE).await {
                Ok(snap) => match snap.service(&watch.service) {
                    Some(s) => {
                        show_events(s, watch.issued_at, &mut seen_events);
                        watch.on_reading(s, now, &operator, on_abort)
                    }
                    None => watch.on_silence(now, &operator, on_abort),
                },
                Err(e) => {
                    say(&format!("reading failed (will retry): {e}"));
                    watch.on_silence(now, &operator, on_abort)
                }
            };
            show(&next);
            if let Some(why) = next.ask.take() {
                let roll = interactive() && yes(&format!("{why}: roll back now? [y/N] "));
                let effects = std::mem::take(&mut next.effects);
                self.run(watch, effects).await?;
                next = watch.decide(roll, &operator, self.clock.now());
                show(&next);
            }
            let ended = next.outcome.take();
            if let Some(outcome) = self.run_then(watch, next.effects, ended).await? {
                return Ok(outcome);
            }
        }
    }

    /// Runs the effects that start a deploy or rollback, then follows it
    /// (`--wait`), or leaves it issued and unwatched.
    pub async fn start(
        &mut self,
        mut watch: Watch,
        effects: Vec<Effect>,
        wait: bool,
        report: Report,
    ) -> Result<Report, CliError> {
        let mut report = report;
        // From the issue on: a signal between the issue and the first reading
        // stops the watch as well, never the process unrecorded.
        if wait && self.ctrl_c {
            self.on_signals();
        }
        if let Some(end) = self.run(&mut watch, effects).await? {
            return Ok(report.ended(end, &watch));
        }
        report.to_revision = watch.to.as_ref().map(ToString::to_string);
        if !wait {
            self.exec.release(watch.env, &watch.service);
            report.outcome = Outcome::Issued;
            report.reason =
                Some("not watched (no --wait); the outcome is not recorded".to_string());
            return Ok(report);
        }
        let end = self.follow(&mut watch).await?;
        report.signal = self.signal;
        Ok(report.ended(end, &watch))
    }
}

/// Prints the service's events since the action was issued, oldest first, once
/// each: the CLI's twin of the console's timeline (a proxy cutover's command
/// output and steps, ECS's service events).
fn show_events(
    s: &crate::model::ServiceSnapshot,
    since: chrono::DateTime<chrono::Utc>,
    seen: &mut std::collections::HashSet<String>,
) {
    for ev in s.events.iter().rev() {
        if ev.at >= since && seen.insert(ev.id.to_string()) {
            say(&format!("  | {}", ev.message));
        }
    }
}

/// SIGINT, SIGHUP and SIGTERM: the exit code is 128 plus the number.
const SIGINT: i32 = 2;
const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

fn signal_name(n: i32) -> &'static str {
    match n {
        SIGHUP => "SIGHUP",
        SIGTERM => "SIGTERM",
        _ => "SIGINT",
    }
}

/// Prints the engine's log lines as progress.
fn show(next: &Next) {
    for line in &next.log {
        say(&format!("  {line}"));
    }
}
