//! The promotion wizard, the rollback dialog and the deploy watch: pure state and
//! key handling. Nothing here calls the cloud; deploys and rollbacks leave as
//! [`Command::Issue`], and only from a confirmation dialog.

use chrono::{DateTime, Utc};

use super::keys::{Key, KeyCode};
use super::timeline::EntryKind;
use super::{App, Command, Level};
use crate::config::{Confirm, OnAbort};
use crate::gate::{GateResult, Verdict};
use crate::ledger::{Record, RecordKind};
use crate::model::{Digest, Freshness, ServiceSnapshot, TaskDefRef};
use crate::release::exec::Issue;
use crate::release::{self, Answers, OpKind, Plan, RollbackTarget, Step, Watch};

/// Longest text typed into a wizard field.
const FIELD_MAX: usize = 128;
/// Readings older than this many refresh intervals never pass a gate.
const FRESH_INTERVALS: i32 = 3;

/// A text field of the wizard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Change-record id.
    ChangeRecord,
    /// Hotfix reason.
    HotfixReason,
    /// Override reason for a failed automatic check.
    Override(String),
}

/// A focusable row of the wizard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// Checklist item by index.
    Checklist(usize),
    /// A text field.
    Text(Field),
}

/// The promotion wizard.
#[derive(Debug, Clone, PartialEq)]
pub struct Wizard {
    /// What would change.
    pub plan: Plan,
    /// Promotion id (shown; approvers use it).
    pub promotion: String,
    /// Hash of the target's gate policy (approvals under another one do not count).
    pub policy_hash: String,
    /// Whether the request is in the ledger (approvals can arrive).
    pub requested: bool,
    /// What the captain filled in.
    pub answers: Answers,
    /// Focused row.
    pub focus: usize,
    /// Field being typed into, with the text before editing.
    pub editing: Option<(Field, String)>,
    /// Latest gate evaluation.
    pub gate: GateResult,
    /// Valid approvers.
    pub approvers: Vec<String>,
    /// Who else holds the target's lock.
    pub lock: Option<String>,
    /// In the confirmation dialog, with what was typed.
    pub confirming: Option<String>,
}

/// The rollback dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackDialog {
    /// Environment index.
    pub env: usize,
    /// Service.
    pub service: String,
    /// Revision now.
    pub current: Option<TaskDefRef>,
    /// Digest now.
    pub current_digest: Option<Digest>,
    /// Where it goes.
    pub target: RollbackTarget,
    /// What was typed (type-to-confirm environments).
    pub typed: String,
    /// An ECS blue/green bake is under way (rollback shifts traffic back).
    pub during_bake: bool,
}

/// Where a watched operation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Watching (or waiting for the command to be accepted).
    Watching,
    /// Aborted; the policy says ask: roll back?
    Deciding(String),
    /// The captain asked to abort; confirm?
    ConfirmAbort,
    /// Over.
    Done,
}

/// A deploy or rollback on screen.
#[derive(Debug, Clone)]
pub struct WatchView {
    /// Operation id (matches `Msg::Issued`).
    pub op: u64,
    /// The watch.
    pub watch: Watch,
    /// Phase.
    pub phase: Phase,
    /// Hidden behind the board (`w` shows it again).
    pub minimised: bool,
    /// Lines for the log, oldest first.
    pub log: Vec<(DateTime<Utc>, String)>,
}

/// A promotion or rollback a previous run left unfinished.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedDialog {
    /// The unfinished actions.
    pub items: Vec<crate::stable::Interrupted>,
}

/// The mutating flow on screen, if any.
#[derive(Debug, Clone)]
pub enum Flow {
    /// The promotion wizard.
    Wizard(Box<Wizard>),
    /// The rollback dialog.
    Rollback(Box<RollbackDialog>),
    /// A watched deploy or rollback.
    Watch(Box<WatchView>),
    /// Unfinished actions found at start-up.
    Interrupted(Box<InterruptedDialog>),
}

impl Wizard {
    /// Focusable rows, in display order.
    pub fn rows(&self, policy: &crate::config::GatePolicy) -> Vec<Row> {
        let mut rows: Vec<Row> = (0..policy.checklist.len()).map(Row::Checklist).collect();
        if policy.change_record.is_some() {
            rows.push(Row::Text(Field::ChangeRecord));
        }
        if self.plan.hotfix {
            rows.push(Row::Text(Field::HotfixReason));
        }
        if policy.allow_override {
            for c in &self.gate.checks {
                if c.automatic && (c.verdict == Verdict::Fail || c.overridden) {
                    rows.push(Row::Text(Field::Override(c.name.clone())));
                }
            }
        }
        rows
    }

    fn text(&self, f: &Field) -> String {
        match f {
            Field::ChangeRecord => self.answers.change_record.clone(),
            Field::HotfixReason => self.answers.hotfix_reason.clone(),
            Field::Override(name) => self
                .answers
                .overrides
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
        }
    }

    fn set_text(&mut self, f: &Field, text: String) {
        match f {
            Field::ChangeRecord => self.answers.change_record = text,
            Field::HotfixReason => self.answers.hotfix_reason = text,
            Field::Override(name) => {
                self.answers.overrides.retain(|(n, _)| n != name);
                if !text.trim().is_empty() {
                    self.answers.overrides.push((name.clone(), text));
                }
            }
        }
    }

    /// The text shown for a field (with the cursor while typing).
    pub fn shown(&self, f: &Field) -> String {
        match &self.editing {
            Some((e, _)) if e == f => format!("{}▏", self.text(f)),
            _ => self.text(f),
        }
    }
}

/// Whether an environment's reading is current enough for a gate.
pub fn is_fresh(app: &App, env: usize) -> bool {
    let Some(e) = app.envs.get(env) else {
        return false;
    };
    match e.freshness {
        Freshness::Ready { at } => {
            let limit = super::chrono_dur(app.refresh_interval) * FRESH_INTERVALS;
            app.now - at <= limit.max(chrono::Duration::seconds(30))
        }
        _ => false,
    }
}

fn snap<'a>(app: &'a App, env: usize, service: &str) -> Option<&'a ServiceSnapshot> {
    app.envs.get(env)?.snapshot.as_ref()?.service(service)
}

/// Re-evaluates the wizard's gate from the current readings and records.
pub fn refresh_gate(app: &mut App) {
    let Some(Flow::Wizard(w)) = &app.flow else {
        return;
    };
    let p = &w.plan;
    let approvers = if w.requested {
        crate::approvals::current(
            &app.records,
            &w.promotion,
            &p.digest
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            &app.cfg.environments[p.target].gate,
            &w.policy_hash,
            app.now,
        )
    } else {
        Vec::new()
    };
    let gate = release::gate_for(
        &app.cfg,
        p,
        &release::Observed {
            source: snap(app, p.source, &p.service),
            source_fresh: is_fresh(app, p.source),
            target_fresh: is_fresh(app, p.target),
            stale: app
                .envs
                .get(p.source)
                .and_then(|e| e.snapshot.as_ref())
                .map(|s| release::stale_sources(&p.source_name, &s.sources))
                .unwrap_or_default(),
            smoke: app.smoke_results.get(&p.source).map(|(_, r)| r.as_slice()),
            now: app.now,
            in_flight: w.lock.clone(),
            approvers: &approvers,
            initiator: &app.operator,
        },
        &w.answers,
    );
    if let Some(Flow::Wizard(w)) = &mut app.flow {
        w.gate = gate;
        w.approvers = approvers;
        let n = w.rows(&app.cfg.environments[w.plan.target].gate).len();
        w.focus = w.focus.min(n.saturating_sub(1));
    }
}

fn next_op(app: &mut App) -> u64 {
    let op = app.next_request;
    app.next_request += 1;
    op
}

fn busy(app: &App) -> Option<String> {
    match &app.flow {
        Some(Flow::Watch(v)) if v.phase != Phase::Done => Some(format!(
            "a {} of {} in {} is being watched; press {} to show it",
            v.watch.kind.noun(),
            v.watch.service,
            v.watch.env_name,
            app.keymap.label(super::keys::Action::ShowWatch)
        )),
        _ => None,
    }
}

/// `p` on a cell: opens the wizard promoting the previous stage's digest into it.
pub fn open_wizard(app: &mut App) -> Vec<Command> {
    if let Some(why) = super::mutation_blocked(app).or_else(|| busy(app)) {
        app.say(Level::Warn, format!("cannot promote: {why}"));
        return Vec::new();
    }
    let Some(service) = app.selected_service().map(str::to_string) else {
        return Vec::new();
    };
    let target = app.col;
    let source = target.saturating_sub(1);
    start_wizard(app, &service, source, target, Answers::default())
}

fn start_wizard(
    app: &mut App,
    service: &str,
    source: usize,
    target: usize,
    answers: Answers,
) -> Vec<Command> {
    let plan = match release::plan(
        &app.cfg,
        service,
        source,
        target,
        snap(app, source, service),
        snap(app, target, service),
    ) {
        Ok(p) => p,
        Err(e) => {
            app.say(Level::Warn, format!("cannot promote: {e}"));
            return Vec::new();
        }
    };
    let policy = &app.cfg.environments[target].gate;
    let digest = plan
        .digest
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let promotion = crate::approvals::new_id(&plan.target_name, service, &digest, app.now);
    let policy_hash = crate::approvals::policy_hash(policy);
    // Approvers need the id now: the request is in the ledger before anyone can approve.
    let requested =
        crate::gate::approvals_required(policy, plan.hotfix) > 0 && plan.digest.is_some();
    let mut answers = answers;
    answers.ticked.resize(policy.checklist.len(), false);
    app.ledger_asked = Some(app.now);
    let mut cmds = vec![Command::ReadLedger {
        env: target,
        service: service.to_string(),
    }];
    if requested {
        cmds.push(Command::Record {
            kind: RecordKind::PromotionStarted,
            draft: plan.request_draft(&app.operator, &promotion, &policy_hash),
        });
    }
    app.flow = Some(Flow::Wizard(Box::new(Wizard {
        plan,
        promotion,
        policy_hash,
        requested,
        answers,
        focus: 0,
        editing: None,
        gate: GateResult {
            checks: Vec::new(),
            go: false,
        },
        approvers: Vec::new(),
        lock: None,
        confirming: None,
    })));
    refresh_gate(app);
    cmds
}

fn close_wizard(app: &mut App, w: &Wizard, why: &str) -> Vec<Command> {
    app.flow = None;
    app.say(
        Level::Info,
        format!("promotion {} closed: {why}", w.promotion),
    );
    if w.requested {
        let mut d = w.plan.draft(&app.operator, &w.promotion);
        d.reasons.push(why.to_string());
        d.outcome = Some("cancelled".to_string());
        return vec![Command::Record {
            kind: RecordKind::Aborted,
            draft: d,
        }];
    }
    Vec::new()
}

fn printable(key: Key) -> Option<char> {
    match key.code {
        KeyCode::Char(c) if !key.ctrl && !key.alt && !c.is_control() => Some(c),
        _ => None,
    }
}

/// Keys while the wizard is open.
pub fn wizard_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Wizard(w)) = &app.flow else {
        return Vec::new();
    };
    let mut w = (**w).clone();
    let policy = app.cfg.environments[w.plan.target].gate.clone();
    let confirm_mode = app.cfg.environments[w.plan.target].confirm;
    let mut cmds = Vec::new();
    if let Some(typed) = w.confirming.clone() {
        match key.code {
            KeyCode::Esc => w.confirming = None,
            KeyCode::Enter => {
                let ok = confirm_mode == Confirm::Enter || typed == w.plan.target_name;
                if ok {
                    return confirm_promotion(app, &w);
                }
                app.say(
                    Level::Warn,
                    format!("type \"{}\" exactly to confirm", w.plan.target_name),
                );
            }
            KeyCode::Backspace => {
                let mut t = typed;
                t.pop();
                w.confirming = Some(t);
            }
            _ => {
                if let (Some(c), Confirm::Type) = (printable(key), confirm_mode)
                    && typed.chars().count() < FIELD_MAX
                {
                    w.confirming = Some(format!("{typed}{c}"));
                }
            }
        }
        app.flow = Some(Flow::Wizard(Box::new(w)));
        return cmds;
    }
    if let Some((field, before)) = w.editing.clone() {
        let mut text = w.text(&field);
        match key.code {
            KeyCode::Enter => w.editing = None,
            KeyCode::Esc => {
                text = before;
                w.editing = None;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            _ => {
                if let Some(c) = printable(key)
                    && text.chars().count() < FIELD_MAX
                {
                    text.push(c);
                }
            }
        }
        w.set_text(&field, crate::model::sanitize(&text));
        app.flow = Some(Flow::Wizard(Box::new(w)));
        refresh_gate(app);
        return cmds;
    }
    let rows = w.rows(&policy);
    let focused = rows.get(w.focus).cloned();
    match key.code {
        KeyCode::Esc => return close_wizard(app, &w, "backed out in the wizard"),
        KeyCode::Up | KeyCode::Char('k') => w.focus = w.focus.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
            w.focus = (w.focus + 1).min(rows.len().saturating_sub(1));
        }
        KeyCode::Char(' ' | 'x') | KeyCode::Enter => match focused {
            Some(Row::Checklist(i)) => {
                if let Some(t) = w.answers.ticked.get_mut(i) {
                    *t = !*t;
                }
            }
            Some(Row::Text(f)) => w.editing = Some((f.clone(), w.text(&f))),
            None => {}
        },
        KeyCode::Char('s') => {
            let env = w.plan.source;
            if app.has_smoke.get(env).copied().unwrap_or(false) && !app.smoke_running.contains(&env)
            {
                app.smoke_running.push(env);
                cmds.push(Command::RunSmoke { env });
                app.say(
                    Level::Info,
                    format!("running smoke checks of {}…", w.plan.source_name),
                );
            } else {
                app.say(
                    Level::Info,
                    format!("no smoke checks to run in {}", w.plan.source_name),
                );
            }
        }
        KeyCode::Char('h') if w.plan.target < 2 => {
            app.say(
                Level::Info,
                format!(
                    "no stage to skip: {} only promotes from {}",
                    w.plan.target_name, w.plan.source_name
                ),
            );
        }
        KeyCode::Char('h') => {
            // Cycle the source through earlier stages: skipping one is the hotfix path.
            let source = if w.plan.source == 0 {
                w.plan.target - 1
            } else {
                w.plan.source - 1
            };
            let (service, target, answers) =
                (w.plan.service.clone(), w.plan.target, w.answers.clone());
            let mut out = close_wizard(app, &w, "source changed");
            out.extend(start_wizard(app, &service, source, target, answers));
            return out;
        }
        KeyCode::Char('g') => {
            if w.gate.go {
                w.confirming = Some(String::new());
            } else {
                let open: Vec<&str> = w
                    .gate
                    .checks
                    .iter()
                    .filter(|c| c.verdict != Verdict::Pass)
                    .map(|c| c.name.as_str())
                    .collect();
                app.say(
                    Level::Warn,
                    format!("NO-GO: not passed: {}", open.join(", ")),
                );
            }
        }
        _ => {}
    }
    app.flow = Some(Flow::Wizard(Box::new(w)));
    refresh_gate(app);
    cmds
}

/// The confirmation said yes: re-check the gate, write the records, issue the deploy.
fn confirm_promotion(app: &mut App, w: &Wizard) -> Vec<Command> {
    refresh_gate(app);
    let gate = match &app.flow {
        Some(Flow::Wizard(now)) => now.gate.clone(),
        _ => w.gate.clone(),
    };
    if !gate.go {
        app.say(
            Level::Warn,
            "the gate changed to NO-GO while confirming; nothing was deployed",
        );
        if let Some(Flow::Wizard(x)) = &mut app.flow {
            x.confirming = None;
        }
        return Vec::new();
    }
    let Some(digest) = w.plan.digest.clone() else {
        return Vec::new();
    };
    let (base, records) = w.plan.confirmation_records(
        &gate,
        &w.answers,
        &w.approvers,
        &app.operator,
        &w.promotion,
        &w.policy_hash,
        w.requested,
    );
    let mut cmds: Vec<Command> = records
        .into_iter()
        .map(|(kind, draft)| Command::Record { kind, draft })
        .collect();
    let op = next_op(app);
    let mut watch = Watch::new(
        &app.cfg,
        OpKind::Deploy,
        w.plan.target,
        &w.plan.service,
        &w.promotion,
        snap(app, w.plan.target, &w.plan.service),
        Some(digest.clone()),
        app.now,
    );
    watch.carry(&base);
    cmds.push(Command::Issue {
        op,
        env: w.plan.target,
        service: w.plan.service.clone(),
        issue: Issue::Deploy(digest.clone()),
        draft: base,
    });
    let text = format!(
        "deploy of {} {} to {} confirmed by {}",
        w.plan.service,
        digest.short(),
        w.plan.target_name,
        app.operator
    );
    start_view(app, op, watch, &text);
    cmds
}

fn start_view(app: &mut App, op: u64, watch: Watch, text: &str) {
    let (env_name, service) = (watch.env_name.clone(), watch.service.clone());
    app.timeline.push(
        format!("op:{op}:start"),
        app.now,
        &env_name,
        Some(&service),
        EntryKind::Action,
        text,
        false,
    );
    app.flow = Some(Flow::Watch(Box::new(WatchView {
        op,
        watch,
        phase: Phase::Watching,
        minimised: false,
        log: vec![(app.now, text.to_string())],
    })));
    app.say(Level::Info, text.to_string());
}

/// `r` on a cell: opens the rollback dialog.
pub fn open_rollback(app: &mut App) {
    if let Some(why) = super::mutation_blocked(app).or_else(|| busy(app)) {
        app.say(Level::Warn, format!("cannot roll back: {why}"));
        return;
    }
    let Some(service) = app.selected_service().map(str::to_string) else {
        return;
    };
    rollback_dialog(app, app.col, &service);
}

fn rollback_dialog(app: &mut App, env: usize, service: &str) {
    let Some(s) = snap(app, env, service).cloned() else {
        app.say(
            Level::Warn,
            format!("cannot roll back: no reading of {service} yet"),
        );
        return;
    };
    let env_name = app.envs[env].name.clone();
    match release::rollback_target(&app.records, &env_name, &s) {
        Ok(target) => {
            let during_bake = matches!(
                s.deployment_config.strategy,
                crate::model::Strategy::BlueGreen { .. }
            ) && s.rollout() == crate::model::RolloutState::InProgress;
            app.flow = Some(Flow::Rollback(Box::new(RollbackDialog {
                env,
                service: service.to_string(),
                current: s.task_definition.clone(),
                current_digest: s.digest.clone(),
                target,
                typed: String::new(),
                during_bake,
            })));
        }
        Err(e) => app.say(Level::Warn, format!("cannot roll back: {e}")),
    }
}

/// Keys in the rollback dialog.
pub fn rollback_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Rollback(d)) = &app.flow else {
        return Vec::new();
    };
    let mut d = (**d).clone();
    let env_name = app.envs[d.env].name.clone();
    let mode = app.cfg.environments[d.env].confirm;
    match key.code {
        KeyCode::Esc => {
            app.flow = None;
            app.say(Level::Info, "rollback cancelled; nothing changed");
            return Vec::new();
        }
        KeyCode::Enter => {
            if mode == Confirm::Enter || d.typed == env_name {
                return confirm_rollback(app, &d);
            }
            app.say(
                Level::Warn,
                format!("type \"{env_name}\" exactly to confirm"),
            );
        }
        KeyCode::Backspace => {
            d.typed.pop();
        }
        _ => {
            if let (Some(c), Confirm::Type) = (printable(key), mode)
                && d.typed.chars().count() < FIELD_MAX
            {
                d.typed.push(c);
            }
        }
    }
    app.flow = Some(Flow::Rollback(Box::new(d)));
    Vec::new()
}

fn confirm_rollback(app: &mut App, d: &RollbackDialog) -> Vec<Command> {
    let env_name = app.envs[d.env].name.clone();
    let id = crate::approvals::new_id(
        &env_name,
        &d.service,
        &d.target.revision.to_string(),
        app.now,
    );
    let (watch, draft) = release::rollback_start(
        &app.cfg,
        d.env,
        &d.service,
        &id,
        snap(app, d.env, &d.service),
        &d.target,
        &app.operator,
        app.now,
    );
    let op = next_op(app);
    let text = format!(
        "rollback of {} in {env_name} to {} confirmed by {}",
        d.service, d.target.revision, app.operator
    );
    start_view(app, op, watch, &text);
    vec![Command::Issue {
        op,
        env: d.env,
        service: d.service.clone(),
        issue: Issue::Rollback(d.target.revision.clone()),
        draft,
    }]
}

/// The provider accepted (or refused) a deploy or rollback.
pub fn on_issued(
    app: &mut App,
    op: u64,
    result: Result<Box<crate::provider::DeployStarted>, (String, bool)>,
) -> Vec<Command> {
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    if v.op != op {
        return Vec::new();
    }
    let now = app.now;
    match result {
        Ok(started) => {
            v.log.push((
                now,
                format!(
                    "{} accepted: {} → {}",
                    v.watch.kind.noun(),
                    started
                        .from
                        .as_ref()
                        .map_or_else(|| "?".to_string(), ToString::to_string),
                    started.to
                ),
            ));
            let started = *started;
            v.watch.started(started.to, started.deployment_id);
            Vec::new()
        }
        Err((e, closed)) => {
            v.phase = Phase::Done;
            v.watch.outcome = Some(Step::Failed(e.clone()));
            v.log.push((now, format!("not issued: {e}")));
            let mut cmds = Vec::new();
            if !closed && v.watch.kind == OpKind::Deploy {
                let mut d = v.watch.draft(&app.operator);
                d.reasons.push(e.clone());
                d.outcome = Some("not issued".to_string());
                cmds.push(Command::Record {
                    kind: RecordKind::Aborted,
                    draft: d,
                });
            }
            app.say(Level::Warn, format!("nothing was changed: {e}"));
            cmds
        }
    }
}

/// A new reading of the watched environment arrived.
pub fn on_reading(app: &mut App, env: usize) -> Vec<Command> {
    let now = app.now;
    let Some(Flow::Watch(v)) = &app.flow else {
        return Vec::new();
    };
    if v.watch.env != env || v.phase != Phase::Watching {
        return Vec::new();
    }
    let Some(s) = snap(app, env, &v.watch.service).cloned() else {
        return Vec::new();
    };
    let on_abort = app.cfg.environments[env].rollout.on_abort;
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    let before = v.watch.stage;
    let step = v.watch.observe(&s, now);
    if v.watch.stage != before {
        v.log.push((now, v.watch.progress.clone()));
    }
    finish(app, env, &step, on_abort)
}

/// Every tick: a watch whose environment stopped answering still ends at its timeout.
pub fn on_tick(app: &mut App) -> Vec<Command> {
    let now = app.now;
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    if v.phase != Phase::Watching {
        return Vec::new();
    }
    let env = v.watch.env;
    let step = v.watch.silent(now);
    if step == Step::Continue {
        return Vec::new();
    }
    let on_abort = app.cfg.environments[env].rollout.on_abort;
    finish(app, env, &step, on_abort)
}

/// Records and follows up the end of a watch (`step` is not `Continue`).
fn finish(app: &mut App, env: usize, step: &Step, on_abort: OnAbort) -> Vec<Command> {
    let (now, operator) = (app.now, app.operator.clone());
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    if *step == Step::Continue {
        return Vec::new();
    }
    let mut cmds: Vec<Command> = release::closing_records(&v.watch, step, &operator, now)
        .into_iter()
        .map(|(kind, draft)| Command::Record { kind, draft })
        .collect();
    let (env_name, service) = (v.watch.env_name.clone(), v.watch.service.clone());
    let what = v.watch.kind.noun();
    let release = Command::Release {
        env,
        service: service.clone(),
    };
    let text = match (step, v.watch.kind) {
        (Step::Abort(why), OpKind::Deploy) => {
            if on_abort == OnAbort::Rollback {
                let text = format!("ABORTED: {why}; rolling back automatically");
                v.log.push((now, text.clone()));
                cmds.extend(auto_rollback(app, why));
                app.say(Level::Warn, text);
                return cmds;
            }
            v.phase = Phase::Deciding(why.clone());
            format!("ABORTED: {why}; roll back now? (y/n)")
        }
        (Step::Succeeded, _) => {
            v.phase = Phase::Done;
            cmds.push(release);
            format!(
                "{what} of {service} in {env_name} succeeded: {} is stable (marked in the ledger)",
                v.watch
                    .to
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            )
        }
        (Step::Unknown(why), _) => {
            v.phase = Phase::Done;
            cmds.push(release);
            format!(
                "{what} of {service} in {env_name}: outcome UNKNOWN ({why}); nothing was rolled back and nothing marked stable: check the service"
            )
        }
        (Step::Failed(why) | Step::Abort(why), _) => {
            v.phase = Phase::Done;
            cmds.push(release);
            format!("{what} FAILED: {why}; check the service")
        }
        (Step::Continue, _) => return cmds,
    };
    v.log.push((now, text.clone()));
    let bad = !matches!(step, Step::Succeeded);
    app.timeline.push(
        format!("op:{}:end", v.op),
        now,
        &env_name,
        Some(&service),
        EntryKind::Action,
        &text,
        bad,
    );
    app.say(if bad { Level::Warn } else { Level::Info }, text);
    cmds
}

/// After an aborted deploy: roll back to the revision that ran before it.
fn auto_rollback(app: &mut App, why: &str) -> Vec<Command> {
    let op = next_op(app);
    let (now, operator) = (app.now, app.operator.clone());
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    let Some((rb, from, draft)) = v.watch.rollback_after_abort(&operator, why, now) else {
        v.phase = Phase::Done;
        v.log.push((
            now,
            "no previous revision known: cannot roll back".to_string(),
        ));
        return vec![Command::Release {
            env: v.watch.env,
            service: v.watch.service.clone(),
        }];
    };
    v.op = op;
    v.watch = rb;
    v.phase = Phase::Watching;
    vec![Command::Issue {
        op,
        env: v.watch.env,
        service: v.watch.service.clone(),
        issue: Issue::Rollback(from),
        draft,
    }]
}

/// Keys while the watch view is shown.
pub fn watch_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Watch(v)) = &mut app.flow else {
        return Vec::new();
    };
    match (&v.phase, key.code) {
        (Phase::Deciding(why), KeyCode::Char('y')) => {
            let why = why.clone();
            return auto_rollback(app, &why);
        }
        (Phase::Deciding(_), KeyCode::Char('n')) => {
            v.phase = Phase::Done;
            v.log
                .push((app.now, "left as it is: no rollback".to_string()));
            return vec![Command::Release {
                env: v.watch.env,
                service: v.watch.service.clone(),
            }];
        }
        (Phase::Watching, KeyCode::Char('a')) if v.watch.kind == OpKind::Deploy => {
            v.phase = Phase::ConfirmAbort;
        }
        (Phase::ConfirmAbort, KeyCode::Enter | KeyCode::Char('y')) => {
            let why = format!("aborted by hand by {}", app.operator);
            let mut d = v.watch.draft(&app.operator);
            d.reasons.push(why.clone());
            d.outcome = Some("aborted".to_string());
            v.watch.outcome = Some(Step::Abort(why.clone()));
            v.log
                .push((app.now, format!("ABORTED: {why}; rolling back")));
            let mut cmds = vec![Command::Record {
                kind: RecordKind::Aborted,
                draft: d,
            }];
            cmds.extend(auto_rollback(app, &why));
            return cmds;
        }
        (Phase::ConfirmAbort, KeyCode::Esc | KeyCode::Char('n')) => v.phase = Phase::Watching,
        (Phase::Done, KeyCode::Esc | KeyCode::Enter) => app.flow = None,
        (_, KeyCode::Esc) => v.minimised = true,
        _ => {}
    }
    Vec::new()
}

/// Keys in the interrupted-actions dialog.
pub fn interrupted_key(app: &mut App, key: Key) -> Vec<Command> {
    let Some(Flow::Interrupted(d)) = &app.flow else {
        return Vec::new();
    };
    let Some(first) = d.items.first().cloned() else {
        app.flow = None;
        return Vec::new();
    };
    let rest: Vec<_> = d.items[1..].to_vec();
    let env = app.envs.iter().position(|e| e.name == first.env);
    let next = |app: &mut App| {
        app.flow = (!rest.is_empty()).then(|| {
            Flow::Interrupted(Box::new(InterruptedDialog {
                items: rest.clone(),
            }))
        });
    };
    match key.code {
        KeyCode::Esc => next(app),
        KeyCode::Char('w') => {
            let Some(env) = env else {
                app.say(
                    Level::Warn,
                    format!("environment \"{}\" is not configured", first.env),
                );
                return Vec::new();
            };
            let last = &first.last;
            // A deploy's revision is only known once ECS accepted it: find it by digest.
            let to = last
                .draft
                .to_revision
                .as_deref()
                .and_then(parse_rev)
                .or_else(|| {
                    let digest = last.draft.to_digest.as_deref()?;
                    snap(app, env, &first.service)?
                        .history
                        .iter()
                        .rev()
                        .find(|h| h.digest.as_ref().is_some_and(|d| d.as_str() == digest))
                        .map(|h| h.task_definition.clone())
                });
            let Some(to) = to else {
                app.say(
                    Level::Warn,
                    "no revision to watch: nothing was deployed, or no reading yet (try again in a moment)",
                );
                return Vec::new();
            };
            let kind = if last.kind == RecordKind::RollbackIssued {
                OpKind::Rollback
            } else {
                OpKind::Deploy
            };
            let mut watch = Watch::new(
                &app.cfg,
                kind,
                env,
                &first.service,
                last.draft.promotion.as_deref().unwrap_or("resumed"),
                None,
                last.draft
                    .to_digest
                    .as_deref()
                    .and_then(|d| Digest::parse(d).ok()),
                app.now,
            );
            watch.from = last.draft.from_revision.as_deref().and_then(parse_rev);
            watch.from_digest = last
                .draft
                .from_digest
                .as_deref()
                .and_then(|d| Digest::parse(d).ok());
            watch.started(to, None);
            let op = next_op(app);
            let text = format!(
                "resumed watching {} of {} in {}",
                last.kind.as_str(),
                first.service,
                first.env
            );
            start_view(app, op, watch, &text);
        }
        KeyCode::Char('r') => {
            let Some(env) = env else {
                return Vec::new();
            };
            if snap(app, env, &first.service).is_none() {
                app.say(
                    Level::Info,
                    "waiting for the first reading; try again in a moment",
                );
                return Vec::new();
            }
            rollback_dialog(app, env, &first.service);
        }
        _ => {}
    }
    Vec::new()
}

fn parse_rev(s: &str) -> Option<TaskDefRef> {
    let (family, rev) = s.rsplit_once(':')?;
    Some(TaskDefRef {
        family: family.to_string(),
        revision: rev.parse().ok()?,
        arn: s.to_string(),
    })
}

/// A record this process wrote.
pub fn on_recorded(app: &mut App, result: Result<Box<Record>, String>) {
    match result {
        Ok(r) => {
            if !app.records.iter().any(|x| x.seq == r.seq) {
                app.records.push(*r);
            }
            refresh_gate(app);
        }
        Err(e) => app.say(Level::Warn, format!("AUDIT: {e}")),
    }
}

/// Whether a deploy or rollback is being watched.
pub fn watch_running(app: &App) -> bool {
    matches!(&app.flow, Some(Flow::Watch(v)) if v.phase != Phase::Done)
}

/// Leaves the console; a promotion waiting in the wizard is closed in the ledger first.
pub fn quit(app: &mut App) -> Vec<Command> {
    app.quitting = true;
    let mut cmds = match &app.flow {
        Some(Flow::Wizard(w)) => {
            let w = (**w).clone();
            close_wizard(app, &w, "console closed with the wizard open")
        }
        _ => Vec::new(),
    };
    cmds.push(Command::Quit);
    cmds
}
