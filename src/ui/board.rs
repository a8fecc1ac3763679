//! The board: services × environments. Only the visible rows are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::{Theme, Tone, age, fit};
use crate::app::{App, EnvState, Pane};
use crate::config::EnvConfig;
use crate::config::EnvId;
use crate::model::drift::{Behind, DriftCell};
use crate::model::{
    AlarmSummary, Freshness, Health, Pinning, RolloutState, ServiceSnapshot, sanitize,
};

/// Lines per service row.
const ROW_HEIGHT: u16 = 2;
/// Lines of the environment header.
const HEADER_HEIGHT: u16 = 3;
/// Narrowest column that takes a full cell (digest, revision, rollout, tasks;
/// alarms, health, drift).
const FULL_MIN: usize = 18;
/// Narrowest column that takes a compact cell (short digest and rollout;
/// alarms, health and drift as symbols).
const COMPACT_MIN: usize = 9;
/// Width of a compact column when the columns scroll sideways.
const SCROLL_W: usize = 11;

/// How the environment columns fit across the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// Width of each column.
    pub width: usize,
    /// Cells drawn compact.
    pub compact: bool,
    /// First column shown (of the visible environments).
    pub first: usize,
    /// Columns shown.
    pub shown: usize,
}

/// Fits `n` environment columns (one space apart) in `avail` cells with the
/// `selected` one on screen: full cells when they fit, else compact cells,
/// else compact columns scrolled sideways (the service column stays pinned).
pub fn columns(avail: usize, n: usize, selected: usize) -> Columns {
    let n = n.max(1);
    let width = (avail / n).saturating_sub(1);
    if width >= COMPACT_MIN {
        return Columns {
            width,
            compact: width < FULL_MIN,
            first: 0,
            shown: n,
        };
    }
    let shown = (avail / (SCROLL_W + 1)).clamp(1, n);
    Columns {
        width: (avail / shown).saturating_sub(1),
        compact: true,
        first: selected.saturating_sub(shown - 1).min(n - shown),
        shown,
    }
}

pub(super) fn render_board(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let all_envs = app.visible_envs();
    let services = app.visible_services();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(app.focus == Pane::Board))
        .title(" Board · services × environments ");
    let inner = block.inner(area);
    // Only the rows on screen are measured and laid out.
    let visible_rows = usize::from(inner.height.saturating_sub(HEADER_HEIGHT) / ROW_HEIGHT).max(1);
    // Stateless scrolling: keep the selection on screen.
    let offset = app.row.saturating_sub(visible_rows - 1);
    let on_screen = || services.iter().skip(offset).take(visible_rows);
    // A narrow terminal gives the environments more room.
    let name_max = if inner.width < 100 { 14 } else { 20 };
    let longest = app.longest_name.clamp(7, name_max);
    let name_w = u16::try_from(longest).unwrap_or(20) + 1;
    let selected = all_envs.iter().position(|e| *e == app.col).unwrap_or(0);
    let cols = columns(
        usize::from(inner.width.saturating_sub(name_w + 1)),
        all_envs.len(),
        selected,
    );
    let envs: Vec<EnvId> = all_envs
        .iter()
        .copied()
        .skip(cols.first)
        .take(cols.shown)
        .collect();
    let col_w = cols.width;
    let hidden_left = cols.first;
    let hidden_right = all_envs.len().saturating_sub(cols.first + cols.shown);
    let mut corner = vec![Line::from(Span::styled("SERVICE", theme.tone(Tone::Dim)))];
    if hidden_left > 0 {
        corner.push(Line::from(Span::styled(
            format!("◀ +{hidden_left}"),
            theme.tone(Tone::Warn),
        )));
    }
    if hidden_right > 0 {
        corner.push(Line::from(Span::styled(
            format!("+{hidden_right} ▶"),
            theme.tone(Tone::Warn),
        )));
    }

    let header_cells =
        std::iter::once(Cell::from(Text::from(corner))).chain(envs.iter().map(|&i| {
            Cell::from(env_header(
                &app.envs[i],
                &app.cfg.environments[i],
                app,
                (col_w, cols.compact),
                theme,
            ))
        }));
    let header = Row::new(header_cells).height(HEADER_HEIGHT);

    let rows: Vec<Row<'_>> = on_screen()
        .enumerate()
        .map(|(k, svc)| {
            let r = offset + k;
            let drift_row = app.drift_row(svc);
            let selected_row = r == app.row;
            let name_style = if selected_row {
                theme.tone(Tone::Plain).add_modifier(Modifier::BOLD)
            } else {
                theme.tone(Tone::Plain)
            };
            let marker = if selected_row { "▶" } else { " " };
            let mut cells = vec![Cell::from(Span::styled(
                fit(&format!("{marker}{svc}"), usize::from(name_w)),
                name_style,
            ))];
            for &i in &envs {
                let drift_cell = drift_row
                    .and_then(|d| d.cells.get(i.index()))
                    .and_then(Option::as_ref);
                let text = if cols.compact {
                    compact_cell(app, i, svc, drift_cell, theme)
                } else {
                    service_cell(app, i, svc, drift_cell, col_w, theme)
                };
                let mut cell = Cell::from(text);
                if selected_row && i == app.col {
                    cell = cell.style(theme.selected());
                }
                cells.push(cell);
            }
            Row::new(cells).height(ROW_HEIGHT)
        })
        .collect();

    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(name_w))
        .chain(
            envs.iter()
                .map(|_| Constraint::Length(u16::try_from(col_w).unwrap_or(0))),
        )
        .collect();
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    if services.is_empty() {
        let text = if app.problems_only && app.filter.is_empty() {
            format!(
                "no problems: nothing firing, failing, unknown, behind or in progress ({} shows every row)",
                app.keymap.label(crate::app::keys::Action::Problems)
            )
        } else if app.problems_only {
            format!("no service with a problem matches \"{}\"", app.filter)
        } else {
            format!("no service matches \"{}\"", app.filter)
        };
        table = table.footer(Row::new(vec![Cell::from(Span::styled(
            fit(&text, usize::from(inner.width)),
            theme.tone(Tone::Warn),
        ))]));
    }
    frame.render_widget(table, area);
}

/// Problems first: the header's counts (`✗1 firing · ?1 unknown · ↑5 behind ·
/// ◐1 in progress`) and whether only problem rows are shown, in the longest
/// form that fits `room` cells. Symbols go with every count: never colour alone.
pub(super) fn problem_spans(app: &App, room: usize, theme: &Theme) -> Vec<Span<'static>> {
    let c = app.problem_counts();
    // (count, symbol, word, short symbol, tone)
    let kinds = [
        (c.firing, "✗", "firing", "A✗", Tone::Bad),
        (c.failing, "✗", "failing", "✗", Tone::Bad),
        (c.unknown, "?", "unknown", "?", Tone::Warn),
        (c.behind, "↑", "behind", "↑", Tone::Warn),
        (c.in_progress, "◐", "in progress", "◐", Tone::Warn),
        (c.loading, "…", "loading", "…", Tone::Dim),
    ];
    let shown: Vec<_> = kinds.iter().filter(|k| k.0 > 0).collect();
    // Counts as words with dots, or with spaces for the first `words` kinds
    // and symbols alone for the rest (`A✗1` is an alarm, as on the board).
    let counts = |dots: bool, words: usize| -> Vec<(String, Tone)> {
        if shown.is_empty() {
            return vec![(" · ✓ no problems".to_string(), Tone::Good)];
        }
        shown
            .iter()
            .enumerate()
            .map(|(i, (n, sym, word, short, tone))| {
                let lead = if i == 0 || dots { " · " } else { " " };
                let text = if i < words {
                    format!("{lead}{sym}{n} {word}")
                } else {
                    format!("{lead}{short}{n}")
                };
                (text, *tone)
            })
            .collect()
    };
    let key = app.keymap.label(crate::app::keys::Action::Problems);
    let rows = app.problems_only.then(|| app.visible_services().len());
    let only = |long: bool| -> Vec<(String, Tone)> {
        let Some(shown) = rows else {
            return Vec::new();
        };
        let total = app.services.len();
        vec![(
            if long {
                format!(" · problems only: {shown} of {total} rows ({key} shows all)")
            } else {
                format!(" · problems only {shown}/{total}")
            },
            Tone::Warn,
        )]
    };
    let width = |t: &[(String, Tone)]| t.iter().map(|(s, _)| s.chars().count()).sum::<usize>();
    // The longest that fits: every word, then fewer words, then a shorter
    // "problems only".
    let all = shown.len();
    let forms = [true, false].into_iter().flat_map(|long| {
        [(true, all)]
            .into_iter()
            .chain((0..=all).rev().map(|words| (false, words)))
            .map(move |(dots, words)| (dots, words, long))
    });
    let chosen = forms
        .map(|(dots, words, long)| [counts(dots, words), only(long)].concat())
        .find(|t| width(t) <= room)
        .unwrap_or_else(|| [counts(false, 0), only(false)].concat());
    chosen
        .into_iter()
        .map(|(text, tone)| {
            let style = theme.tone(tone);
            if text.contains("problems only") {
                Span::styled(text, style.add_modifier(Modifier::BOLD))
            } else {
                Span::styled(text, style)
            }
        })
        .collect()
}

fn env_header<'a>(
    env: &EnvState,
    cfg: &EnvConfig,
    app: &App,
    (width, compact): (usize, bool),
    theme: &Theme,
) -> Text<'a> {
    let accent = theme.env_accent(cfg.color.as_deref());
    let mut name = cfg.name.clone();
    if cfg.production {
        name.push_str(" ▲PROD");
    }
    if cfg.read_only {
        name.push_str(" RO");
    }
    let source_problem = [
        ("alarms", &env.alarms_freshness),
        ("metrics", &env.metrics_freshness),
    ]
    .into_iter()
    .find_map(|(name, f)| match f {
        Freshness::Stale { last_good, error } => Some(format!(
            "! {name} STALE {} · {}",
            age(app.now, *last_good),
            sanitize(error)
        )),
        Freshness::Failed { error } => Some(format!("✗ {name} UNREADABLE · {}", sanitize(error))),
        _ => None,
    });
    let (tone, fresh) = match &env.freshness {
        Freshness::Unknown | Freshness::Loading => (Tone::Warn, "… loading".to_string()),
        // ECS answered but another source did not: the header names it.
        Freshness::Ready { .. } if source_problem.is_some() => {
            (Tone::Bad, source_problem.clone().unwrap_or_default())
        }
        Freshness::Ready { at } => (Tone::Good, format!("✓ read {} ago", age(app.now, *at))),
        Freshness::Stale { last_good, error } => (
            Tone::Bad,
            format!("! STALE {} · {}", age(app.now, *last_good), sanitize(error)),
        ),
        Freshness::Failed { error } => (Tone::Bad, format!("✗ FAILED · {}", sanitize(error))),
    };
    // A narrow column keeps the verdict and drops the detail (the detail
    // pane and the timeline have it).
    let fresh = if compact {
        match &env.freshness {
            Freshness::Ready { at } if source_problem.is_none() => {
                format!("✓ {}", age(app.now, *at))
            }
            _ => fresh
                .split(" · ")
                .next()
                .unwrap_or_default()
                .replace(" ago", "")
                .replace("read ", ""),
        }
    } else {
        fresh
    };
    let mut style = accent;
    if cfg.production {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    Text::from(vec![
        Line::from(Span::styled(fit(&name, width), style)),
        Line::from(Span::styled(
            // Where the environment's own platform runs (an ECS region and
            // cluster, a proxy's address), in the platform's words.
            fit(
                &sanitize(&crate::platforms::location(cfg, cfg.platform)),
                width,
            ),
            theme.tone(Tone::Dim),
        )),
        Line::from(Span::styled(fit(&fresh, width), theme.tone(tone))),
    ])
}

/// Symbol and tone of a rollout state.
pub(super) fn rollout_badge(r: RolloutState) -> (&'static str, Tone) {
    match r {
        RolloutState::Completed => ("✓", Tone::Good),
        RolloutState::InProgress => ("◐", Tone::Warn),
        RolloutState::Failed => ("✗", Tone::Bad),
        RolloutState::RolledBack => ("✗↩", Tone::Bad),
        RolloutState::Unknown => ("?", Tone::Warn),
    }
}

fn alarm_badge(a: AlarmSummary) -> (String, Tone) {
    match a {
        AlarmSummary::None => ("A-".into(), Tone::Dim),
        AlarmSummary::Ok => ("A✓".into(), Tone::Good),
        AlarmSummary::Alarm { count } => (format!("A✗{count}"), Tone::Bad),
        AlarmSummary::Unknown { count } => (format!("A?{count}"), Tone::Warn),
        AlarmSummary::Unreadable => ("A?".into(), Tone::Warn),
    }
}

/// Health badge with latency.
pub(super) fn health_badge(h: &Health) -> (String, Tone) {
    match h {
        Health::NotConfigured => ("H-".into(), Tone::Dim),
        Health::Unknown => ("H?".into(), Tone::Warn),
        Health::Healthy { latency, .. } => (format!("H✓{}ms", latency.as_millis()), Tone::Good),
        Health::Unhealthy {
            status: Some(s), ..
        } => (format!("H✗{s}"), Tone::Bad),
        Health::Unhealthy { status: None, .. } => ("H✗down".into(), Tone::Bad),
    }
}

fn behind_badge(c: Option<&DriftCell>) -> (String, Tone) {
    let Some(c) = c else {
        return (String::new(), Tone::Dim);
    };
    let mark = if c.promotable { "↑" } else { "" };
    match c.behind {
        Behind::FirstStage => (String::new(), Tone::Dim),
        Behind::UpToDate => ("=".into(), Tone::Good),
        Behind::Behind { count } => (format!("{mark}{count} behind"), Tone::Warn),
        Behind::Diverged => (format!("{mark}diverged"), Tone::Warn),
        Behind::Differs => (format!("{mark}differs"), Tone::Warn),
        Behind::Unknown => ("?".into(), Tone::Dim),
        // Its digest is on its way: never "=" before the rollout lands.
        Behind::RollingOut => ("rolling out".into(), Tone::Warn),
    }
}

/// The cell of a service the environment has no reading of (yet).
fn missing_cell<'a>(app: &App, env: EnvId, svc: &str, theme: &Theme) -> Text<'a> {
    let e = &app.envs[env];
    let (text, tone) = match (&e.snapshot, &e.freshness) {
        (None, Freshness::Failed { .. }) => ("✗ no data", Tone::Bad),
        (None, _) => ("reading…", Tone::Dim),
        (Some(_), _) if app_lists(app, env, svc) => ("✗ not found", Tone::Bad),
        (Some(_), _) => ("- not here", Tone::Dim),
    };
    Text::from(Span::styled(text, theme.tone(tone)))
}

/// A cell in a narrow column: short digest and rollout; alarms, health and
/// drift as symbols (the detail pane has the rest).
fn compact_cell<'a>(
    app: &App,
    env: EnvId,
    svc: &str,
    drift: Option<&DriftCell>,
    theme: &Theme,
) -> Text<'a> {
    let e = &app.envs[env];
    let Some(s) = e.snapshot.as_ref().and_then(|s| s.service(svc)) else {
        return missing_cell(app, env, svc, theme);
    };
    let stale = !e.freshness.is_fresh();
    let dim = |t: Tone| if stale { Tone::Dim } else { t };
    let (digest, dtone) = match &s.digest {
        Some(d) => (d.short()[..6].to_string(), Tone::Plain),
        None if s.image.is_none() => ("?none".to_string(), Tone::Warn),
        None => ("?unpin".to_string(), Tone::Warn),
    };
    let (rsym, rtone) = rollout_badge(s.rollout());
    let (alarm, atone) = alarm_badge(s.alarm_summary());
    let (health, htone) = health_badge(&s.health);
    let health: String = health.chars().take(2).collect();
    let (behind, btone) = match drift.map(|c| (c.behind, c.promotable)) {
        Some((Behind::UpToDate, _)) => ("=".to_string(), Tone::Good),
        Some((Behind::Behind { count }, up)) => {
            (format!("{}{count}", if up { "↑" } else { "" }), Tone::Warn)
        }
        Some((Behind::Diverged | Behind::Differs, _)) => ("≠".to_string(), Tone::Warn),
        Some((Behind::Unknown, _)) => ("?".to_string(), Tone::Dim),
        Some((Behind::RollingOut, _)) => ("◐".to_string(), Tone::Warn),
        Some((Behind::FirstStage, _)) | None => (String::new(), Tone::Dim),
    };
    Text::from(vec![
        Line::from(vec![
            Span::styled(if stale { "~" } else { "" }, theme.tone(Tone::Warn)),
            Span::styled(digest, theme.tone(dim(dtone))),
            Span::raw(" "),
            Span::styled(rsym, theme.tone(dim(rtone))),
        ]),
        Line::from(vec![
            Span::styled(alarm, theme.tone(dim(atone))),
            Span::styled(health, theme.tone(dim(htone))),
            Span::styled(behind, theme.tone(dim(btone))),
        ]),
    ])
}

fn service_cell<'a>(
    app: &App,
    env: EnvId,
    svc: &str,
    drift: Option<&DriftCell>,
    width: usize,
    theme: &Theme,
) -> Text<'a> {
    let e = &app.envs[env];
    let snap: Option<&ServiceSnapshot> = e.snapshot.as_ref().and_then(|s| s.service(svc));
    let Some(s) = snap else {
        return missing_cell(app, env, svc, theme);
    };
    let stale = !e.freshness.is_fresh();
    let digest_len = if width >= 26 { 12 } else { 8 };
    let (digest, dtone) = match (&s.digest, s.pinning) {
        (Some(d), Pinning::ResolvedFromTasks) => {
            (format!("{}*", &d.short()[..digest_len]), Tone::Plain)
        }
        (Some(d), _) => (d.short()[..digest_len].to_string(), Tone::Plain),
        // No image was read at all (an app that could not be read): not a
        // tag-only image, just unknown.
        (None, _) if s.image.is_none() => ("?no digest".to_string(), Tone::Warn),
        (None, _) => ("?unpinned".to_string(), Tone::Warn),
    };
    let rev = match &s.task_definition {
        None => " - ".to_string(),
        // A revision named by its digest (Fly's) says nothing more: once.
        Some(r)
            if s.digest.as_ref().is_some_and(|d| {
                r.label()
                    .is_some_and(|l| l == d.short().to_string().as_str())
            }) =>
        {
            " ".to_string()
        }
        Some(r) => format!(" {} ", r.short()),
    };
    let (rsym, rtone) = rollout_badge(s.rollout());
    let tasks_tone = if s.running == s.desired {
        Tone::Plain
    } else {
        Tone::Warn
    };
    let (alarm, atone) = alarm_badge(s.alarm_summary());
    let (health, htone) = health_badge(&s.health);
    let shift = crate::release::step::in_flight(s);
    let (behind, btone) = match drift {
        // The shift's own words follow and say more.
        Some(c) if c.behind == Behind::RollingOut && shift.is_some() => (String::new(), Tone::Dim),
        _ => behind_badge(drift),
    };
    // Stale data is dimmed and marked, never shown as if it were current.
    let dim = |t: Tone| if stale { Tone::Dim } else { t };
    // Running of desired, where the platform counts something (not a
    // Lambda alias).
    let counted = app
        .env_cfg(env)
        .and_then(|e| crate::platforms::units(e, svc))
        .map(|_| format!(" {}/{}", s.running, s.desired));
    let mut line1 = Line::from(vec![
        Span::styled(if stale { "~" } else { "" }, theme.tone(Tone::Warn)),
        Span::styled(digest, theme.tone(dim(dtone))),
        Span::styled(rev, theme.tone(Tone::Dim)),
        Span::styled(rsym, theme.tone(dim(rtone))),
        Span::styled(counted.unwrap_or_default(), theme.tone(dim(tasks_tone))),
    ]);
    // The release's name beside its digest, where it fits (the digest stays).
    if let Some(name) = release_beside(s, width.saturating_sub(line1.width())) {
        line1
            .spans
            .insert(2, Span::styled(name, theme.tone(dim(Tone::Plain))));
    }
    let build = |behind: &str, narrow: bool| {
        let mut line2 = Line::from(vec![
            Span::styled(alarm.clone(), theme.tone(dim(atone))),
            Span::raw(" "),
            Span::styled(health.clone(), theme.tone(dim(htone))),
        ]);
        if !behind.is_empty() {
            line2.push_span(Span::raw(" "));
            line2.push_span(Span::styled(behind.to_string(), theme.tone(dim(btone))));
        }
        // A stepped rollout: where its traffic stands.
        if let Some(sh) = &shift {
            line2.push_span(Span::styled(
                format!(
                    " {}",
                    if narrow {
                        sh.short_cell()
                    } else {
                        sh.cell(app.now)
                    }
                ),
                theme.tone(dim(if sh.pause.is_some() {
                    Tone::Bad
                } else {
                    Tone::Warn
                })),
            ));
        }
        // The platform's mark (behind a proxy: the idle colour, warm or not).
        if let Some(b) = &s.detail.badge {
            let (mark, tone) = if b.ok {
                ("✓", Tone::Good)
            } else {
                ("✗", Tone::Bad)
            };
            line2.push_span(Span::styled(
                format!(" {}{mark}", b.text),
                theme.tone(dim(tone)),
            ));
        }
        line2
    };
    let mut line2 = build(&behind, false);
    // A narrow column keeps every mark: "↑1 behind" becomes "↑1", then a
    // shift says only its mark and share (the header, the detail pane and
    // the watch say the words).
    let short = behind.strip_suffix(" behind").unwrap_or(&behind);
    if line2.width() > width {
        line2 = build(short, false);
    }
    if line2.width() > width && shift.is_some() {
        line2 = build(short, true);
    }
    Text::from(vec![line1, line2])
}

/// Shortest release name worth showing cut (`2.5…`); shorter room drops it.
const RELEASE_MIN: usize = 4;

/// ` 2.5.0`: the release name of a cell's image in `room` cells (with its
/// leading space), cut with `…` when it does not fit, dropped when even
/// [`RELEASE_MIN`] characters do not.
fn release_beside(s: &ServiceSnapshot, room: usize) -> Option<String> {
    let name = s.image.as_ref()?.release_name()?;
    let room = room.checked_sub(1)?;
    (room >= RELEASE_MIN.min(name.chars().count())).then(|| format!(" {}", fit(&name, room)))
}

/// The detail pane's `release` line: the tag and the version label, each
/// said when it is not known (the digest stays the identity).
pub(super) fn release_detail(s: &ServiceSnapshot) -> String {
    let img = s.image.as_ref();
    let tag = img.and_then(|i| i.tag.as_deref()).map(sanitize);
    let version = img.and_then(|i| i.version.as_deref()).map(sanitize);
    match (tag, version) {
        (Some(t), Some(v)) => format!("tag {t} · version {v}"),
        (Some(t), None) => format!("tag {t} · no version label"),
        (None, Some(v)) => format!("version {v} · no tag (pinned by digest)"),
        (None, None) => "no tag, no version label: the digest is its only name".to_string(),
    }
}

fn app_lists(app: &App, env: EnvId, svc: &str) -> bool {
    app.env_cfg(env).is_some_and(|e| e.service(svc).is_some())
}
