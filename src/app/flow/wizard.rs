//! The promotion wizard: the plan and its gate, re-evaluated live, the
//! checklist, text fields, approvals arriving, and the confirmation dialog.

use super::super::keys::{Action, Context, Key, KeyCode};
use super::{
    App, Command, FIELD_MAX, Flow, action, blocked, commands, is_fresh, printable, snap,
    watch::start_view,
};
use crate::app::Level;
use crate::config::EnvId;
use crate::config::{Confirm, GatePolicy};
use crate::gate::{GateResult, Verdict};
use crate::release::{self, Answers, Promotion};

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

/// The promotion wizard: the engine's [`Promotion`] plus what is on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Wizard {
    /// The promotion: plan, id, policy hash, request.
    pub release: Promotion,
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
    /// The change record the request in the ledger holds (empty: none), so
    /// that approvers see the one typed here.
    pub change_sent: String,
    /// `g` on a NO-GO gate: the ledger is re-read before the gate answers.
    pub go_asked: GoAsked,
}

/// Where a `g` on a NO-GO gate stands: the gate answers on a fresh read of
/// the ledger (approvals and locks from other terminals), not the last poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GoAsked {
    /// Not asked.
    #[default]
    No,
    /// Asked; the ledger is being read.
    Reading,
    /// The fresh read arrived: the gate answers now.
    Read,
}

impl std::ops::Deref for Wizard {
    type Target = Promotion;

    fn deref(&self) -> &Promotion {
        &self.release
    }
}

impl Wizard {
    /// Focusable rows, in display order.
    pub fn rows(&self, policy: &GatePolicy) -> Vec<Row> {
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

/// Re-evaluates the wizard's gate from the current readings and records.
pub fn refresh_gate(app: &mut App) {
    let Some(Flow::Wizard(w)) = &app.flow else {
        return;
    };
    let p = &w.plan;
    let approvers = w.release.approvers(&app.cfg, &app.records, app.now);
    let supply = p
        .digest
        .as_ref()
        .and_then(|d| app.supply.assessment(d).cloned());
    let gate = w.release.gate(
        &app.cfg,
        &release::Observed {
            source: snap(app, p.source, &p.service),
            target: snap(app, p.target, &p.service),
            source_fresh: is_fresh(app, p.source),
            target_fresh: is_fresh(app, p.target),
            stale: app
                .envs
                .get(p.source.index())
                .and_then(|e| e.snapshot.as_ref())
                .map(|s| release::stale_sources(&p.source_name, &s.sources))
                .unwrap_or_default(),
            smoke: app.smoke_results.get(&p.source).map(|(_, r)| r.as_slice()),
            now: app.now,
            in_flight: w.lock.clone(),
            approvers: &approvers,
            initiator: &app.operator,
            supply: supply.as_ref(),
        },
        &w.answers,
    );
    let mut answer = None;
    if let Some(Flow::Wizard(w)) = &mut app.flow {
        w.gate = gate;
        w.approvers = approvers;
        let n = w.rows(&app.cfg.environments[w.plan.target].gate).len();
        w.focus = w.focus.min(n.saturating_sub(1));
        // `g` waited for a fresh read of the ledger: the gate answers now.
        if w.go_asked == GoAsked::Read && w.editing.is_none() {
            w.go_asked = GoAsked::No;
            if w.gate.go {
                w.confirming = Some(String::new());
            } else {
                answer = Some(format!("NO-GO: {}", Promotion::no_go(&w.gate)));
            }
        }
    }
    if let Some(text) = answer {
        app.say(Level::Warn, text);
    }
}

/// The ledger was read afresh: a `g` waiting for it is answered by the
/// [`refresh_gate`] that follows the read.
pub fn on_ledger_read(app: &mut App) {
    if let Some(Flow::Wizard(w)) = &mut app.flow
        && w.go_asked == GoAsked::Reading
    {
        w.go_asked = GoAsked::Read;
    }
}

/// The request in the ledger restated with the change record typed in the
/// wizard (same promotion id, digest and policy), so that `approvals` and
/// `approve` show approvers what they approve: the request was written when
/// the wizard opened, before anything was typed.
fn amend_request(app: &App, w: &mut Wizard) -> Option<Command> {
    let typed = w.answers.change_record.trim().to_string();
    if !w.release.requested || typed.is_empty() || typed == w.change_sent {
        return None;
    }
    let mut draft = w
        .plan
        .request_draft(&app.operator, &w.promotion, &w.policy_hash);
    draft.change_record = Some(typed.clone());
    draft.reasons = vec![format!(
        "request restated with the change record {typed} typed in the wizard"
    )];
    w.change_sent = typed;
    Some(Command::Record {
        kind: crate::ledger::RecordKind::PromotionStarted,
        draft,
    })
}

/// `p` on a cell: opens the wizard promoting the previous stage's digest into it.
pub fn open_wizard(app: &mut App) -> Vec<Command> {
    if let Some(why) = blocked(app) {
        app.say(Level::Warn, format!("cannot promote: {why}"));
        return Vec::new();
    }
    let Some(service) = app.selected_service().map(str::to_string) else {
        return Vec::new();
    };
    let target = app.col;
    let source = target.previous().unwrap_or(target);
    start(app, &service, source, target, Answers::default())
}

fn start(
    app: &mut App,
    service: &str,
    source: EnvId,
    target: EnvId,
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
        Ok(p) => p.with_change_type(answers.change_type.clone()),
        Err(e) => {
            app.say(Level::Warn, format!("cannot promote: {e}"));
            return Vec::new();
        }
    };
    let checklist = app.cfg.environments[target].gate.checklist.len();
    let (promotion, mut effects) = Promotion::open(&app.cfg, plan, &app.operator, app.now, None);
    let mut answers = answers;
    answers.ticked.resize(checklist, false);
    // A change record already typed (the hotfix path reopens the wizard) goes
    // into the request approvers see, as the CLI's `--change` does.
    let change = answers.change_record.trim().to_string();
    let mut change_sent = String::new();
    for e in &mut effects {
        if let release::Effect::Record { kind, draft } = e
            && *kind == crate::ledger::RecordKind::PromotionStarted
            && !change.is_empty()
        {
            draft.change_record = Some(change.clone());
            change_sent.clone_from(&change);
        }
    }
    app.ledger_asked = Some(app.now);
    let mut cmds = vec![Command::ReadLedger {
        env: target,
        service: service.to_string(),
    }];
    cmds.extend(commands(app, effects));
    app.flow = Some(Flow::Wizard(Box::new(Wizard {
        release: promotion,
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
        change_sent,
        go_asked: GoAsked::No,
    })));
    // The promotion's registry reads go out before the gate first answers:
    // signatures read for an earlier promotion never count for this one.
    let (promoted, running) = crate::supply::gather::promotion_reads(
        &app.cfg,
        target,
        snap(app, source, service),
        snap(app, target, service),
    );
    cmds.extend(crate::app::supply::promotion_requests(
        app, promoted, running,
    ));
    refresh_gate(app);
    cmds
}

/// A registry reading arrived: the plan's labels line and supply record
/// follow it, and the gate is evaluated again.
pub fn on_supply(app: &mut App) {
    let Some(Flow::Wizard(w)) = &app.flow else {
        return;
    };
    let p = &w.plan;
    let image = |env| snap(app, env, &p.service).and_then(|s| s.image.clone());
    let labels = release::plan::labels_line(image(p.target).as_ref(), image(p.source).as_ref());
    let record = p
        .digest
        .as_ref()
        .and_then(|d| app.supply.assessment(d))
        .map(|a| a.record.clone());
    if let Some(Flow::Wizard(w)) = &mut app.flow {
        w.release.plan.labels = labels;
        w.release.plan.supply = record;
    }
    refresh_gate(app);
}

/// Closes the wizard; a request in the ledger is closed with `why`.
pub(super) fn close(app: &mut App, w: &Wizard, why: &str) -> Vec<Command> {
    app.flow = None;
    app.say(
        Level::Info,
        format!("promotion {} closed: {why}", w.promotion),
    );
    let effects = w.release.cancel(&app.operator, why);
    commands(app, effects)
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
        match action(app, key, Context::Confirm) {
            Some(Action::Cancel) => w.confirming = None,
            Some(Action::Accept) => {
                let ok = confirm_mode == Confirm::Enter || typed == w.plan.target_name;
                if ok {
                    return confirm(app, &w);
                }
                app.say(
                    Level::Warn,
                    format!("type \"{}\" exactly to confirm", w.plan.target_name),
                );
            }
            _ if key.code == KeyCode::Backspace => {
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
    // Any other key than the one that asked moves on from a `g` still waiting.
    w.go_asked = GoAsked::No;
    if let Some((field, before)) = w.editing.clone() {
        let mut text = w.text(&field);
        match action(app, key, Context::Editing) {
            Some(Action::Keep) => w.editing = None,
            Some(Action::Undo) => {
                text = before;
                w.editing = None;
            }
            _ if key.code == KeyCode::Backspace => {
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
        if w.editing.is_none() && field == Field::ChangeRecord {
            cmds.extend(amend_request(app, &mut w));
        }
        app.flow = Some(Flow::Wizard(Box::new(w)));
        refresh_gate(app);
        return cmds;
    }
    let rows = w.rows(&policy);
    let focused = rows.get(w.focus).cloned();
    match action(app, key, Context::Wizard) {
        Some(Action::Back) => return close(app, &w, "backed out in the wizard"),
        Some(Action::WizardUp) => w.focus = w.focus.saturating_sub(1),
        Some(Action::WizardDown) => {
            w.focus = (w.focus + 1).min(rows.len().saturating_sub(1));
        }
        Some(Action::Tick | Action::Edit) => match focused {
            Some(Row::Checklist(i)) => {
                if let Some(t) = w.answers.ticked.get_mut(i) {
                    *t = !*t;
                }
            }
            Some(Row::Text(f)) => w.editing = Some((f.clone(), w.text(&f))),
            None => {}
        },
        Some(Action::WizardSmoke) => {
            let env = w.plan.source;
            if app.has_smoke(env) && !app.smoke_running.contains(&env) {
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
        Some(Action::Hotfix) if w.plan.target.index() < 2 => {
            app.say(
                Level::Info,
                format!(
                    "no stage to skip: {} only promotes from {}",
                    w.plan.target_name, w.plan.source_name
                ),
            );
        }
        Some(Action::Hotfix) => {
            // Cycle the source through earlier stages: skipping one is the hotfix path.
            let source = match (w.plan.source.previous(), w.plan.target.previous()) {
                (Some(earlier), _) => earlier,
                (None, Some(before_target)) => before_target,
                (None, None) => w.plan.source,
            };
            let (service, target, answers) =
                (w.plan.service.clone(), w.plan.target, w.answers.clone());
            let mut out = close(app, &w, "source changed");
            out.extend(start(app, &service, source, target, answers));
            return out;
        }
        Some(Action::ChangeType) => {
            // The next change type (none → the first → … → the last → none
            // where nothing requires one). The request approvers see names
            // it, so a new type is a new request.
            let types = &app.cfg.change_types;
            let at = w
                .plan
                .change_type
                .as_ref()
                .and_then(|t| types.iter().position(|c| c == t));
            let next = match at {
                Some(i) if i + 1 < types.len() => types.get(i + 1).cloned(),
                Some(_) if policy.matrix.is_empty() => None,
                _ => types.first().cloned(),
            };
            let (service, source, target) = (w.plan.service.clone(), w.plan.source, w.plan.target);
            let mut answers = w.answers.clone();
            answers.change_type = next;
            let mut out = close(app, &w, "change type changed");
            out.extend(start(app, &service, source, target, answers));
            return out;
        }
        Some(Action::Go) => {
            if w.gate.go {
                w.confirming = Some(String::new());
            } else {
                // Approvals and locks from other terminals arrive through the
                // ledger: the gate answers on a fresh read, not the last poll.
                w.go_asked = GoAsked::Reading;
                app.ledger_asked = Some(app.now);
                cmds.push(Command::ReadLedger {
                    env: w.plan.target,
                    service: w.plan.service.clone(),
                });
                app.say(
                    Level::Info,
                    "re-reading the ledger for approvals before the gate answers…",
                );
            }
        }
        _ => {}
    }
    app.flow = Some(Flow::Wizard(Box::new(w)));
    refresh_gate(app);
    cmds
}

/// The confirmation said yes: re-check the gate, then the engine writes the
/// records and issues the deploy.
fn confirm(app: &mut App, w: &Wizard) -> Vec<Command> {
    refresh_gate(app);
    let (gate, approvers) = match &app.flow {
        Some(Flow::Wizard(now)) => (now.gate.clone(), now.approvers.clone()),
        _ => (w.gate.clone(), w.approvers.clone()),
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
    let before = snap(app, w.plan.target, &w.plan.service).cloned();
    let (watch, effects) = match w.release.confirm(
        &app.cfg,
        &gate,
        &w.answers,
        &approvers,
        before.as_ref(),
        &app.operator,
        app.now,
    ) {
        Ok(x) => x,
        Err(e) => {
            app.say(Level::Warn, format!("nothing was deployed: {e}"));
            return Vec::new();
        }
    };
    let text = format!(
        "deploy of {} {} to {} confirmed by {}",
        w.plan.service,
        w.plan.digest.as_ref().map_or("", |d| d.short()),
        w.plan.target_name,
        app.operator
    );
    start_view(app, watch, &text);
    commands(app, effects)
}
