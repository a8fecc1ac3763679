//! The promotion wizard, its confirmation, the rollback dialog, the deploy watch
//! and the interrupted-actions dialog.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::overlays::centered;
use super::wrap::{wrap_all, wrap_line};
use super::{Theme, Tone, fit};
use crate::app::App;
use crate::app::flow::{Field, Flow, RollbackDialog, Row, Wizard};
use crate::app::keys::Action;
use crate::config::Confirm;
use crate::config::EnvId;
use crate::gate::Verdict;

pub(super) fn boxed(
    frame: &mut Frame<'_>,
    rect: Rect,
    title: String,
    lines: Vec<Line<'_>>,
    theme: &Theme,
) {
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Span::styled(
            title,
            theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
        ));
    let rows = fit_rows(lines, rect, theme);
    frame.render_widget(Paragraph::new(rows).block(block), rect);
}

/// `lines` wrapped into `rect` (each under its own indent, as `height`
/// counts them). A box taller than the screen gives up its blank rows first,
/// then says how many rows it cannot show: the last line (the keys) stays.
fn fit_rows(mut lines: Vec<Line<'_>>, rect: Rect, theme: &Theme) -> Vec<Line<'static>> {
    let inner = usize::from(rect.width.saturating_sub(2));
    let room = usize::from(rect.height.saturating_sub(2));
    let Some(keys) = lines.pop() else {
        return Vec::new();
    };
    let tail = wrap_all(&[keys], inner);
    let mut head = wrap_all(&lines, inner);
    if head.len() + tail.len() <= room {
        head.extend(tail);
        return head;
    }
    // Blank rows go first, the last ones first, only as many as needed.
    while head.len() + tail.len() > room {
        match head.iter().rposition(|l| l.width() == 0) {
            Some(i) => drop(head.remove(i)),
            None => break,
        }
    }
    let keep = room.saturating_sub(tail.len());
    if head.len() > keep {
        let hidden = head.len() + 1 - keep;
        head.truncate(keep.saturating_sub(1));
        head.push(Line::styled(
            format!("… {hidden} more rows: a taller terminal shows them"),
            theme.tone(Tone::Warn),
        ));
    }
    head.extend(tail);
    head
}

/// Rows `lines` take when wrapped at `inner` columns, plus the border.
fn height(lines: &[Line<'_>], inner: usize) -> u16 {
    u16::try_from(wrap_all(lines, inner).len() + 2).unwrap_or(u16::MAX)
}

fn verdict_span(v: Verdict, overridden: bool, theme: &Theme) -> Span<'static> {
    if overridden && v == Verdict::Pass {
        return Span::styled("! ", theme.tone(Tone::Warn));
    }
    Span::styled(format!("{} ", v.mark()), theme.tone(verdict_tone(v)))
}

/// A verdict's colour, wherever one is shown: only a pass is good.
pub(super) fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Pass => Tone::Good,
        Verdict::Fail => Tone::Bad,
        Verdict::Pending | Verdict::Unknown => Tone::Warn,
    }
}

pub(super) fn prod_tag(app: &App, env: EnvId) -> &'static str {
    if app.env_cfg(env).is_some_and(|e| e.production) {
        " [PROD]"
    } else {
        ""
    }
}

/// Draws the flow on screen, if any.
pub(super) fn render_flow(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    match &app.flow {
        Some(Flow::Wizard(w)) => {
            render_wizard(frame, area, app, w, theme);
            if let Some(typed) = &w.confirming {
                render_confirm(frame, area, app, w, typed, theme);
            }
        }
        Some(Flow::Rollback(d)) => render_rollback(frame, area, app, d, theme),
        Some(Flow::Watch(v)) if !v.minimised => {
            super::watch::render_watch(frame, area, app, v, theme);
        }
        Some(Flow::Interrupted(d)) => {
            let mut lines = Vec::new();
            if let Some(first) = d.items.first() {
                lines.push(Line::styled(
                    format!(
                        "A {} of {} in {} never finished.",
                        first.what(),
                        first.service,
                        first.env
                    ),
                    theme.tone(Tone::Warn),
                ));
                lines.push(Line::raw(format!(
                    "Last record: {} by {} at {}",
                    first.last.kind.as_str(),
                    first.last.draft.operator,
                    first.last.at.format("%Y-%m-%d %H:%M:%S UTC")
                )));
                if let Some(to) = &first.last.draft.to_revision {
                    lines.push(Line::raw(format!("Target revision: {to}")));
                }
                lines.push(Line::raw(""));
                let k = |a| app.keymap.first(a);
                lines.push(Line::raw(format!(
                    "{} resume watching · {} roll back (opens the dialog) · {} dismiss",
                    k(Action::Resume),
                    k(Action::RollBackInterrupted),
                    k(Action::Skip)
                )));
                if d.items.len() > 1 {
                    lines.push(Line::styled(
                        format!("{} more after this one", d.items.len() - 1),
                        theme.tone(Tone::Dim),
                    ));
                }
            }
            let h = height(&lines, usize::from(area.width.min(84).saturating_sub(2)));
            boxed(
                frame,
                centered(area, 84, h),
                " Interrupted ".to_string(),
                lines,
                theme,
            );
        }
        _ => {}
    }
}

fn render_wizard(frame: &mut Frame<'_>, area: Rect, app: &App, w: &Wizard, theme: &Theme) {
    let p = &w.plan;
    let policy = &app.cfg.environments[p.target].gate;
    let width = area.width.saturating_sub(4).min(110);
    let inner = usize::from(width.saturating_sub(2));
    let mut lines: Vec<Line<'_>> = Vec::new();
    let digest = p.digest.as_ref().map_or_else(
        || "unpinned (no digest)".to_string(),
        |d| d.short().to_string(),
    );
    lines.push(Line::from(vec![
        Span::styled("Digest ", theme.tone(Tone::Dim)),
        Span::styled(digest, Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "  from {} ({})  into {} (now {}, {})",
            p.source_name,
            p.source_revision
                .as_ref()
                .map_or_else(|| "?".to_string(), ToString::to_string),
            p.target_name,
            p.target_revision
                .as_ref()
                .map_or_else(|| "?".to_string(), ToString::to_string),
            p.target_digest
                .as_ref()
                .map_or_else(|| "no digest".to_string(), |d| d.short().to_string()),
        )),
    ]));
    if p.hotfix {
        let skipped = if p.skipped.is_empty() {
            "a stage".to_string()
        } else {
            p.skipped.join(", ")
        };
        let needs = if policy.matrix.is_empty() {
            "a reason and one extra approval are required"
        } else {
            "a reason, and a change type the matrix lets skip"
        };
        lines.push(Line::styled(
            format!("HOTFIX PATH: skips {skipped}; {needs}"),
            theme.tone(Tone::Warn),
        ));
    }
    let typed = !policy.matrix.is_empty() || p.change_type.is_some();
    if typed {
        lines.push(Line::from(vec![
            Span::styled("Change type ", theme.tone(Tone::Dim)),
            Span::styled(
                p.change_type
                    .as_deref()
                    .unwrap_or("none chosen")
                    .to_string(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!("  ({} for the next)", app.keymap.first(Action::ChangeType)),
                theme.tone(Tone::Dim),
            ),
        ]));
    }
    let rows = w.rows(policy);
    // On short terminals the inputs and hints matter more than passed checks.
    // The approvals and the keys, made before they are counted.
    let approvals = w.requested.then(|| {
        Line::from(vec![
            Span::raw("Approvals for "),
            Span::styled(&w.promotion, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!(
                ": {}  ·  approvers run: shipdeck approve {}{}",
                w.gate
                    .checks
                    .iter()
                    .find(|c| c.name == "approvals")
                    .map_or_else(
                        || format!("{} so far", w.approvers.len()),
                        |c| c.reason.clone()
                    ),
                if app.cfg.is_demo() { "--demo " } else { "" },
                w.promotion
            )),
        ])
    });
    let k = |a| app.keymap.first(a);
    let keys = if w.editing.is_some() {
        format!("type · {} keep · {} undo", k(Action::Keep), k(Action::Undo))
    } else {
        format!(
            "{}/{} move · {} tick · {} edit · {} deploy… · {} change source (hotfix) · {}{} smoke · {} back out",
            k(Action::WizardDown),
            k(Action::WizardUp),
            k(Action::Tick),
            k(Action::Edit),
            k(Action::Go),
            k(Action::Hotfix),
            // The change type's key where the matrix asks for one.
            if typed {
                format!("{} change type · ", k(Action::ChangeType))
            } else {
                String::new()
            },
            k(Action::WizardSmoke),
            k(Action::Back)
        )
    };
    let diff = p.diff();
    // Everything at full length, wrapped as it would be drawn: the header so
    // far, the diff (with the images' labels), the gate with every check, the
    // inputs, the approvals and the keys, inside the border. A line that
    // wraps counts every row it takes.
    let diff_rows: usize = diff
        .iter()
        .map(|d| wrap_all(&[Line::raw(format!("  {d}"))], inner).len())
        .sum();
    let check_rows: usize = w
        .gate
        .checks
        .iter()
        .map(|c| wrap_line(&check_line(c, theme), inner, 29).len())
        .sum();
    let full = wrap_all(&lines, inner).len()
        + diff_rows
        + 2
        + check_rows
        + if rows.is_empty() { 0 } else { rows.len() + 2 }
        + approvals
            .as_ref()
            .map_or(0, |a| 1 + wrap_all(std::slice::from_ref(a), inner).len())
        + 1
        + wrap_all(&[Line::raw(keys.clone())], inner).len();
    // Inside its border. First the passed checks fold into one line; only
    // if that is not enough are the diff's lines cut to one row each.
    let passed_rows: usize = w
        .gate
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Pass)
        .map(|c| wrap_line(&check_line(c, theme), inner, 29).len())
        .sum();
    let fits = |rows: usize| rows + 2 <= usize::from(area.height);
    let fold = !fits(full);
    let compact = fold && !fits(full - passed_rows + 1);
    // A short terminal keeps what is replaced and by what (`- `, `+ `), else
    // the first two lines.
    let changes = diff.iter().any(|d| changed(d).is_some());
    for (i, d) in diff.into_iter().enumerate() {
        let tone = changed(&d);
        let kept = if changes { tone.is_some() } else { i < 2 };
        if compact && !kept {
            continue;
        }
        let tone = tone.unwrap_or(Tone::Dim);
        // A short terminal keeps the box whole and cuts these lines (the
        // digest heads the wizard, and the confirmation says the rest).
        let d = if compact {
            fit(&d, inner.saturating_sub(2))
        } else {
            d
        };
        lines.push(Line::styled(format!("  {d}"), theme.tone(tone)));
    }
    let passed = w
        .gate
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Pass)
        .count();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::raw("Gate: "),
        if w.gate.go {
            Span::styled("GO", theme.tone(Tone::Good).add_modifier(Modifier::BOLD))
        } else {
            Span::styled("NO-GO", theme.tone(Tone::Bad).add_modifier(Modifier::BOLD))
        },
        Span::styled(
            format!("  {passed} of {} checks passed", w.gate.checks.len()),
            theme.tone(Tone::Dim),
        ),
    ]));
    if fold && passed > 0 {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled("✓ ", theme.tone(Tone::Good)),
            Span::styled(
                format!("{passed} passed (a taller terminal lists them)"),
                theme.tone(Tone::Dim),
            ),
        ]));
    }
    for c in w
        .gate
        .checks
        .iter()
        .filter(|c| !fold || c.verdict != Verdict::Pass)
    {
        // The reason in full, wrapped under itself.
        lines.extend(wrap_line(&check_line(c, theme), inner, 29));
    }
    if !rows.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Your input", theme.tone(Tone::Dim)));
    }
    for (i, row) in rows.iter().enumerate() {
        let marker = if i == w.focus { "▶ " } else { "  " };
        let text = match row {
            Row::Checklist(n) => format!(
                "[{}] {}",
                if w.answers.ticked.get(*n).copied().unwrap_or(false) {
                    "x"
                } else {
                    " "
                },
                policy.checklist.get(*n).map_or("", String::as_str)
            ),
            Row::Text(f @ Field::ChangeRecord) => format!("Change record: {}", w.shown(f)),
            Row::Text(f @ Field::HotfixReason) => format!("Hotfix reason: {}", w.shown(f)),
            Row::Text(f @ Field::Override(name)) => {
                format!("Override {name} (reason): {}", w.shown(f))
            }
        };
        let style = if i == w.focus {
            theme.selected()
        } else {
            Style::default()
        };
        lines.push(Line::styled(format!("{marker}{text}"), style));
    }
    if let Some(a) = approvals {
        lines.push(Line::raw(""));
        lines.push(a);
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(keys, theme.tone(Tone::Dim)));
    let h = height(&lines, inner);
    let title = format!(
        " Promote {} · {} → {}{} · {} ",
        p.service,
        p.source_name,
        p.target_name,
        prod_tag(app, p.target),
        w.promotion
    );
    boxed(frame, centered(area, width, h), title, lines, theme);
}

/// A gate check as the wizard shows it: verdict, name, the reason in full.
fn check_line(c: &crate::gate::Check, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::raw("  "),
        verdict_span(c.verdict, c.overridden, theme),
        Span::raw(format!("{:<24} ", c.name)),
        Span::styled(c.reason.clone(), theme.tone(Tone::Dim)),
    ])
}

/// A diff line's tone when it says what is replaced (`- `) or by what (`+ `).
fn changed(line: &str) -> Option<Tone> {
    if line.starts_with("- ") {
        Some(Tone::Bad)
    } else if line.starts_with("+ ") {
        Some(Tone::Good)
    } else {
        None
    }
}

fn confirm_prompt(app: &App, mode: Confirm, env: &str, typed: &str, verb: &str) -> String {
    let accept = app.keymap.first(Action::Accept);
    match mode {
        Confirm::Type => format!("Type \"{env}\" and press {accept} to {verb}: {typed}▏"),
        Confirm::Enter => format!(
            "Press {accept} to {verb} · {} to go back",
            app.keymap.first(Action::Cancel)
        ),
    }
}

fn render_confirm(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    w: &Wizard,
    typed: &str,
    theme: &Theme,
) {
    let p = &w.plan;
    let env = &app.cfg.environments[p.target];
    let base = p
        .target_revision
        .as_ref()
        .map_or_else(|| "the current revision".to_string(), ToString::to_string);
    let on_abort = match env.rollout.on_abort {
        crate::config::OnAbort::Rollback => format!("shipdeck rolls back to {base} automatically"),
        crate::config::OnAbort::Prompt => format!("shipdeck asks whether to roll back to {base}"),
    };
    let inner = usize::from(area.width.min(96).saturating_sub(2));
    let mut lines = vec![Line::raw(format!(
        "This will, in {}{}:",
        p.target_name,
        prod_tag(app, p.target)
    ))];
    // What the platform does, in its words, then the traffic's steps.
    lines.extend(p.words.steps.iter().map(|s| Line::raw(format!("  {s}"))));
    lines.extend(p.traffic.iter().map(|s| Line::raw(format!("     {s}"))));
    lines.push(Line::raw(format!(
        "  {} watch it for up to {}, until stable for {}; it aborts when",
        p.words.watch_step,
        humantime::format_duration(env.rollout.timeout),
        humantime::format_duration(env.rollout.stability_window)
    )));
    // Every rule the watch will run, as it will run it, with health and alarms.
    let before = app
        .envs
        .get(p.target.index())
        .and_then(|e| e.snapshot.as_ref())
        .and_then(|s| s.service(&p.service));
    lines.extend(
        crate::release::evidence::watch_lines(&app.cfg, p.target, &p.service, before)
            .iter()
            .map(|l| Line::raw(format!("     · {}", crate::model::sanitize(l)))),
    );
    lines.extend([
        Line::raw(format!("If the watch aborts, {on_abort}.")),
        Line::raw(""),
        Line::styled(
            confirm_prompt(app, env.confirm, &p.target_name, typed, "deploy"),
            theme.tone(Tone::Warn).add_modifier(Modifier::BOLD),
        ),
    ]);
    let h = height(&lines, inner);
    boxed(
        frame,
        centered(area, 96, h),
        format!(" Confirm deploy to {} ", p.target_name),
        lines,
        theme,
    );
}

fn render_rollback(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    d: &RollbackDialog,
    theme: &Theme,
) {
    let env = &app.cfg.environments[d.env];
    let t = &d.target;
    let mut lines = vec![
        Line::raw(format!(
            "Now:   {}  {}",
            d.current
                .as_ref()
                .map_or_else(|| "?".to_string(), ToString::to_string),
            d.current_digest
                .as_ref()
                .map_or_else(|| "no digest".to_string(), |x| x.short().to_string())
        )),
        Line::from(vec![
            Span::raw(format!(
                "After: {}  {}  ",
                t.revision,
                t.digest
                    .as_ref()
                    .map_or_else(|| "no digest".to_string(), |x| x.short().to_string())
            )),
            if t.verified && !t.roll_forward {
                Span::styled(
                    format!(
                        "stable since {}",
                        t.stable_at.map_or_else(String::new, |a| a
                            .format("%Y-%m-%d %H:%M UTC")
                            .to_string())
                    ),
                    theme.tone(Tone::Good),
                )
            } else {
                Span::styled(t.label(), theme.tone(Tone::Warn))
            },
        ]),
    ];
    if d.during_bake {
        lines.push(Line::styled(
            "A blue/green bake is under way: traffic shifts back to the previous revision.",
            theme.tone(Tone::Warn),
        ));
    }
    lines.push(Line::raw(crate::release::rollback_effect(
        &app.cfg.environments[d.env],
        &d.service,
        t,
    )));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        confirm_prompt(app, env.confirm, &env.name, &d.typed, "roll back"),
        theme.tone(Tone::Warn).add_modifier(Modifier::BOLD),
    ));
    let h = height(&lines, usize::from(area.width.min(96).saturating_sub(2)));
    boxed(
        frame,
        centered(area, 96, h),
        format!(
            " Roll back {} in {}{} ",
            d.service,
            env.name,
            prod_tag(app, d.env)
        ),
        lines,
        theme,
    );
}
