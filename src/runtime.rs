//! The console's runtime: one task owns the model and `select!`s over terminal
//! events, a slow tick and effect results. Effects run on tokio tasks.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind, KeyModifiers};
use futures::{FutureExt, Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::keys::{Key, KeyCode, KeyMap};
use crate::app::{App, Command, Msg, update};
use crate::config::{Config, EnvConfig, EnvId};
use crate::provider::AnyProvider;
use crate::release::exec::Executor;
use crate::secrets::Secrets;
use crate::ui::{self, Theme};

mod signals;

use signals::stop_signals;
pub use signals::{Ended, StopSignal};

/// The slow tick: clocks, ages and poll scheduling. A quarter of a second,
/// so that a watched environment ([`crate::provider::WATCHED_POLL`]) is
/// read on time; the screen is still redrawn only when something on it
/// changed (ages: once a second).
pub const TICK: Duration = Duration::from_millis(250);
/// Effect results waiting to be applied; pollers wait when it is full.
const CHANNEL_CAPACITY: usize = 256;

/// Restores the terminal when dropped, on every exit path (ratatui's panic hook covers panics).
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Translates a terminal event into a message; `None` for events shipdeck ignores.
pub fn translate(event: &Event) -> Option<Msg> {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => {
            use crossterm::event::KeyCode as C;
            let code = match k.code {
                C::Char(c) => KeyCode::Char(if k.modifiers.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                }),
                C::Enter => KeyCode::Enter,
                C::Esc => KeyCode::Esc,
                C::Tab => KeyCode::Tab,
                C::BackTab => KeyCode::BackTab,
                C::Backspace => KeyCode::Backspace,
                C::Up => KeyCode::Up,
                C::Down => KeyCode::Down,
                C::Left => KeyCode::Left,
                C::Right => KeyCode::Right,
                C::PageUp => KeyCode::PageUp,
                C::PageDown => KeyCode::PageDown,
                C::Home => KeyCode::Home,
                C::End => KeyCode::End,
                C::F(n) => KeyCode::F(n),
                _ => return None,
            };
            Some(Msg::Key(Key {
                code,
                ctrl: k.modifiers.contains(KeyModifiers::CONTROL),
                alt: k.modifiers.contains(KeyModifiers::ALT),
            }))
        }
        Event::Resize(..) => Some(Msg::Resized),
        _ => None,
    }
}

/// Deadline of a smoke run started from the console.
pub const SMOKE_DEADLINE: Duration = Duration::from_mins(1);

/// One probing loop per configured health endpoint, sharing a bound on requests in flight.
fn spawn_probers(
    tasks: &mut JoinSet<()>,
    cfg: &Config,
    client: &reqwest::Client,
    secrets: &Secrets,
    tx: &mpsc::Sender<Msg>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(crate::health::PROBES_IN_FLIGHT));
    for (env, e) in cfg.env_ids().zip(&cfg.environments) {
        for s in e.services.iter() {
            let Some(check) = s.health.clone() else {
                continue;
            };
            let (client, secrets, tx, permits) =
                (client.clone(), secrets.clone(), tx.clone(), permits.clone());
            let service = s.name.clone();
            tasks.spawn(async move {
                let mut every = tokio::time::interval(check.interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    every.tick().await;
                    let Ok(permit) = permits.acquire().await else {
                        return;
                    };
                    let result = crate::health::probe(&client, &check, &secrets, Utc::now).await;
                    drop(permit);
                    if tx
                        .send(Msg::HealthProbed {
                            env,
                            service: service.clone(),
                            result,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    }
}

/// Runs an effect command (ledger writes, deploys, lock releases, ledger
/// reads) and returns the message that answers it. The console runs these on
/// its executor task, in the order they were sent.
pub async fn execute(exec: &mut Executor, cmd: Command) -> Option<Msg> {
    match cmd {
        Command::Issue {
            op,
            env,
            service,
            issue,
            draft,
        } => {
            let result = exec
                .issue(env, &service, &issue, draft)
                .await
                .map(|(started, _)| Box::new(started));
            if let Err((e, _)) = &result {
                tracing::warn!(env = env.index(), service, error = %e, "deploy or rollback not issued");
            }
            Some(Msg::Issued { op, result })
        }
        Command::Record { kind, draft } => {
            Some(Msg::Recorded(exec.record(kind, draft).map(Box::new)))
        }
        Command::RecordClosing { op, items } => {
            let (written, records) = exec.record_closing(items).await;
            Some(Msg::Closed {
                op,
                written,
                records,
            })
        }
        Command::DecideStep {
            env,
            service,
            shift,
            decision,
            to_digest,
            hold,
            cut_hold,
        } => Some(Msg::StepDecided(
            exec.decide_step(
                env, &service, &shift, decision, to_digest, "", hold, cut_hold,
            )
            .await
            .map(|(_, said)| said),
        )),
        Command::Release { env, service } => {
            exec.release(env, &service);
            None
        }
        Command::ReadLedger { env, service } => {
            let lock = if service.is_empty() {
                None
            } else {
                exec.holder(env, &service)
            };
            Some(Msg::LedgerRead {
                records: exec.read_new(),
                lock,
            })
        }
        Command::PollEnv { .. }
        | Command::RunSmoke { .. }
        | Command::ReadSupply { .. }
        | Command::ReadHistory { .. }
        | Command::ReadLogs { .. }
        | Command::Quit => None,
    }
}

/// Runs `Command::ReadHistory`: one service's revision history, as a message.
pub async fn read_history(
    provider: &AnyProvider,
    envs: &[EnvConfig],
    env: EnvId,
    service: String,
    current: crate::model::Revision,
) -> Msg {
    let result = match envs
        .get(env.index())
        .and_then(|e| Some((e, e.service(&service)?)))
    {
        Some((e, svc)) => crate::provider::history_with_timeout(provider, e, svc, &current).await,
        None => Err(crate::provider::ProviderError::NotFound {
            what: "service".to_string(),
            name: service.clone(),
        }),
    };
    if let Err(e) = &result {
        tracing::warn!(env = env.index(), service, error = %e, "revision history not read");
    }
    Msg::HistoryRead {
        env,
        service,
        current,
        result,
    }
}

/// Everything the console runs with.
pub struct Console {
    /// The configuration.
    pub cfg: Config,
    /// The cloud.
    pub provider: AnyProvider,
    /// Locks, records, provider calls: moved onto the executor task.
    pub exec: Executor,
    /// Key bindings.
    pub keymap: KeyMap,
    /// Who is operating.
    pub operator: String,
    /// Colours.
    pub theme: Theme,
    /// Secrets for health probes and smoke checks.
    pub secrets: Secrets,
    /// Shown in the status bar at start (e.g. the demo world's scenario).
    pub notice: Option<String>,
}

/// Runs the console until the user quits or a signal stops it. The terminal
/// is restored on return, whichever way it ends.
pub async fn run_console(console: Console) -> std::io::Result<Ended> {
    // Before the terminal is taken: from here on a signal is a message, not a
    // death that leaves the terminal raw.
    let signals = stop_signals()?;
    let mut terminal = ratatui::try_init()?;
    let _guard = RestoreGuard;
    let events = EventStream::new().filter_map(|ev| async move {
        match ev {
            Ok(e) => translate(&e).map(Ok),
            Err(e) => Some(Err(e)),
        }
    });
    run_loop_until(&mut terminal, Box::pin(events), signals, console).await
}

/// Registry readings gathered at once.
const REGISTRY_READS: usize = 4;

/// Longest the executor may take to write what was queued before a quit.
const DRAIN_ON_QUIT: Duration = Duration::from_secs(5);

/// The console's loop over any terminal and any stream of input messages (the
/// tests drive it with a `TestBackend` and a channel), with no signals.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    events: S,
    console: Console,
) -> std::io::Result<()>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Msg>> + Unpin,
{
    run_loop_until(terminal, events, futures::stream::pending(), console)
        .await
        .map(|_| ())
}

/// What the loop waits for next. It lives for one turn of the loop: boxing
/// the message would cost an allocation for every one.
#[allow(clippy::large_enum_variant)]
enum Next {
    /// A message for `update`.
    Msg(Msg),
    /// A signal: leave as a quit would.
    Stop(StopSignal),
}

/// "deploy of api in prod" when a deploy or rollback is being watched.
fn watched(app: &App) -> Option<String> {
    match &app.flow {
        Some(crate::app::Flow::Watch(v)) if crate::app::flow::watch_running(app) => Some(format!(
            "{} of {} in {}",
            v.watch.kind.noun(),
            v.watch.service,
            v.watch.env_name
        )),
        _ => None,
    }
}

/// The console's loop over any terminal, stream of input messages and stream
/// of stop signals. One task owns the model; effects that touch the cloud or
/// the disk run on an executor task fed through an ordered channel, so the
/// screen keeps drawing and answering keys while a deploy call hangs. A signal
/// leaves the way a quit does: records already queued are written first.
pub async fn run_loop_until<B, S, G>(
    terminal: &mut Terminal<B>,
    mut events: S,
    mut signals: G,
    console: Console,
) -> std::io::Result<Ended>
where
    B: Backend,
    S: Stream<Item = std::io::Result<Msg>> + Unpin,
    G: Stream<Item = StopSignal> + Unpin,
{
    let Console {
        cfg,
        provider,
        mut exec,
        keymap,
        operator,
        theme,
        secrets,
        notice,
    } = console;
    let draw_err = |e: B::Error| std::io::Error::other(e.to_string());
    let mut app = App::new(&cfg, keymap, operator, Utc::now());
    if let Some(n) = notice {
        app.notify(n);
    }
    // One read of the ledger at start: stable revisions for rollback, and the
    // promotions a crash cut off, shown and never silently forgotten. Later
    // reads follow it from where this one ended.
    match exec.read_new() {
        Ok(records) => app.load_records(records),
        Err(e) => {
            tracing::warn!(error = %e, "audit ledger unreadable at start-up");
            app.say_warning(format!("audit ledger unreadable: {e}"));
        }
    }
    if let Some(w) = provider.cache_warning() {
        tracing::warn!(warning = %w, "task-definition cache");
        app.say_warning(w);
    }
    // The first frame is painted before any network call returns.
    terminal
        .draw(|f| ui::render(f, &app, &theme))
        .map_err(draw_err)?;
    app.dirty = false;

    let envs: Arc<Vec<EnvConfig>> = Arc::new(cfg.environments.clone());
    let registries = crate::registry::Registries::new(
        cfg.registry.clone(),
        crate::paths::cache_dir().map(|d| d.join("registry")),
        secrets.clone(),
    );
    // A board of hundreds of new digests is read a few at a time.
    let registry_slots = Arc::new(tokio::sync::Semaphore::new(REGISTRY_READS));
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_CAPACITY);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tasks = JoinSet::new();
    let client = match crate::health::client() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "health probes and smoke checks unavailable");
            None
        }
    };
    if let (true, Some(client)) = (cfg.probes_health(), &client) {
        spawn_probers(&mut tasks, &cfg, client, &secrets, &tx);
    }
    // The executor: effects in the order they were sent, answers as messages.
    let (effects, mut queued) = mpsc::unbounded_channel::<Command>();
    let answers = tx.clone();
    let executor = tokio::spawn(async move {
        while let Some(cmd) = queued.recv().await {
            if let Some(m) = execute(&mut exec, cmd).await
                && answers.send(m).await.is_err()
            {
                break;
            }
        }
    });

    let mut ended = Ended::Closed;
    loop {
        let next = tokio::select! {
            // A signal first: a closed terminal also ends the input stream.
            biased;
            Some(signal) = signals.next() => Next::Stop(signal),
            ev = events.next() => match ev {
                Some(Ok(m)) => Next::Msg(m),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "terminal event stream failed");
                    break;
                }
                None => break,
            },
            _ = tick.tick() => Next::Msg(Msg::Tick(Utc::now())),
            Some(m) = rx.recv() => Next::Msg(m),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let mut cmds: std::collections::VecDeque<Command> = match next {
            Next::Msg(msg) => {
                let mut cmds: std::collections::VecDeque<Command> = update(&mut app, msg).into();
                // Coalesce bursts: apply everything already waiting before drawing once.
                while let Ok(m) = rx.try_recv() {
                    cmds.extend(update(&mut app, m));
                }
                cmds
            }
            Next::Stop(signal) => {
                let interrupted = watched(&app);
                tracing::warn!(
                    signal = signal.name(),
                    interrupted = interrupted.as_deref().unwrap_or("nothing"),
                    "console stopped by a signal; a watch left shows as interrupted at the next start"
                );
                ended = Ended::Signalled {
                    signal,
                    interrupted,
                };
                // The same way out as a quit: a wizard's promotion is closed in
                // the ledger, a running watch is recorded as interrupted, and
                // what was queued is written before leaving.
                let mut out = crate::app::flow::interrupt(&app, signal.name());
                out.extend(crate::app::flow::quit(&mut app));
                out.into()
            }
        };
        while let Some(cmd) = cmds.pop_front() {
            match cmd {
                Command::Issue { .. }
                | Command::DecideStep { .. }
                | Command::Record { .. }
                | Command::RecordClosing { .. }
                | Command::Release { .. }
                | Command::ReadLedger { .. } => {
                    // In order, off this loop: the record is durable before the deploy.
                    if effects.send(cmd).is_err() {
                        tracing::error!("the executor stopped; effect dropped");
                    }
                }
                Command::Quit => {
                    // Records queued before the quit (a closed wizard) are written first.
                    for c in cmds.drain(..) {
                        if matches!(c, Command::Record { .. } | Command::RecordClosing { .. }) {
                            let _ = effects.send(c);
                        }
                    }
                    drop(effects);
                    let _ = tokio::time::timeout(DRAIN_ON_QUIT, executor).await;
                    tasks.abort_all();
                    if ended == Ended::Closed {
                        tracing::info!("console closed by the user");
                    }
                    return Ok(ended);
                }
                Command::RunSmoke { env } => {
                    let (Some(env_cfg), Some(client)) =
                        (envs.get(env.index()).cloned(), client.clone())
                    else {
                        continue;
                    };
                    let (tx, secrets) = (tx.clone(), secrets.clone());
                    tasks.spawn(async move {
                        let results = crate::health::run_smoke(
                            &client,
                            &env_cfg.smoke,
                            &secrets,
                            SMOKE_DEADLINE,
                        )
                        .await;
                        let _ = tx
                            .send(Msg::SmokeFinished {
                                env,
                                at: Utc::now(),
                                results,
                            })
                            .await;
                    });
                }
                Command::ReadSupply { image, recheck } => {
                    let (registries, policy, tx) =
                        (registries.clone(), cfg.supply.clone(), tx.clone());
                    let slots = registry_slots.clone();
                    tasks.spawn(async move {
                        let Some(digest) = image.digest.clone() else {
                            return;
                        };
                        let _slot = slots.acquire().await;
                        let evidence =
                            crate::supply::gather::gather(&registries, &policy, &image, recheck)
                                .await;
                        let _ = tx
                            .send(Msg::SupplyRead {
                                digest,
                                recheck,
                                evidence: Box::new(evidence),
                            })
                            .await;
                    });
                }
                Command::ReadHistory {
                    env,
                    service,
                    current,
                } => {
                    let (provider, envs, tx) = (provider.clone(), envs.clone(), tx.clone());
                    tasks.spawn(async move {
                        let msg = read_history(&provider, &envs, env, service, current).await;
                        let _ = tx.send(msg).await;
                    });
                }
                Command::ReadLogs {
                    request,
                    env,
                    service,
                    query,
                } => {
                    let (provider, envs, tx) = (provider.clone(), envs.clone(), tx.clone());
                    tasks.spawn(async move {
                        let result = crate::provider::read_logs(
                            &provider,
                            &envs,
                            env.index(),
                            &service,
                            &query,
                        )
                        .await;
                        if let Err(e) = &result {
                            tracing::warn!(env = env.index(), service, error = %e, "logs not read");
                        }
                        let at = Utc::now();
                        let _ = tx
                            .send(Msg::LogsRead {
                                request,
                                at,
                                result,
                            })
                            .await;
                    });
                }
                Command::PollEnv { env, request } => {
                    let Some(env_cfg) = envs.get(env.index()).cloned() else {
                        continue;
                    };
                    let provider = provider.clone();
                    let tx = tx.clone();
                    tasks.spawn(async move {
                        let started = std::time::Instant::now();
                        let result = crate::provider::read_with_timeout(
                            &provider,
                            &env_cfg,
                            crate::provider::ReadScope::CONSOLE,
                        )
                        .await;
                        match &result {
                            Err(e) => {
                                tracing::warn!(env = env.index(), error = %e, "environment read failed");
                            }
                            Ok(snap) => tracing::info!(
                                env = env.index(),
                                services = snap.services.len(),
                                millis = started.elapsed().as_millis(),
                                "environment read"
                            ),
                        }
                        // The receiver is gone only when the console is closing.
                        let _ = tx
                            .send(Msg::EnvPolled {
                                env,
                                request,
                                at: Utc::now(),
                                result,
                            })
                            .await;
                    });
                }
            }
        }
        if app.dirty {
            terminal
                .draw(|f| ui::render(f, &app, &theme))
                .map_err(draw_err)?;
            app.dirty = false;
        }
    }
    executor.abort();
    tasks.abort_all();
    // A closed terminal ends the input and sends SIGHUP: say which ended it.
    match signals.next().now_or_never().flatten() {
        Some(signal) => Ok(Ended::Signalled {
            signal,
            interrupted: watched(&app),
        }),
        None => Ok(Ended::Closed),
    }
}
