//! The detail pane for the selected cell.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::board::{health_badge, rollout_badge};
use super::wrap::{render_scrolled, scroll_hint, wrap_all};
use super::{Theme, Tone, age};
use crate::app::keys::Action;
use crate::app::{App, EnvState, Pane};
use crate::model::{AlarmState, DeploymentRole, Freshness, Health, Pinning, sanitize};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of the last `width` values, scaled to their range.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = tail
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    tail.iter()
        .map(|v| {
            if !v.is_finite() || hi <= lo {
                return BARS[0];
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = (((v - lo) / (hi - lo)) * 7.0).round() as usize;
            BARS[i.min(7)]
        })
        .collect()
}

fn heading(text: &str, theme: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        text.to_string(),
        theme.tone(Tone::Plain).add_modifier(Modifier::BOLD),
    ))
}

/// A labelled value, in full: the pane wraps it under its label.
fn kv(k: &str, v: &str, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<9}"), theme.tone(Tone::Dim)),
        Span::raw(v.to_string()),
    ])
}

/// What the registry holds for the cell's digest, judged: `signed`,
/// `scanned`, `provenance` where `[supply_chain]` has keys, else only
/// whether it could be read. Nothing while nobody asked the registry.
fn supply_lines(app: &App, s: &crate::model::ServiceSnapshot, theme: &Theme) -> Vec<Line<'static>> {
    use crate::config::AutoCheck;
    let Some(d) = &s.digest else {
        return Vec::new();
    };
    if app.supply.reading(d) && app.supply.evidence(d).is_none() {
        return vec![kv("registry", "reading…", theme)];
    }
    let (Some(e), Some(a)) = (app.supply.evidence(d), app.supply.judged(d)) else {
        return Vec::new();
    };
    if let Err(why) = &e.reading {
        return vec![
            kv("registry", &format!("unknown: {why}"), theme).style(theme.tone(Tone::Bad)),
        ];
    }
    if app.cfg.supply.keys.is_empty() {
        return Vec::new();
    }
    [AutoCheck::Signed, AutoCheck::Scanned, AutoCheck::Provenance]
        .into_iter()
        .filter_map(|c| Some((c.name(), a.finding(c)?.clone())))
        .map(|(name, f)| {
            let tone = super::flow::verdict_tone(f.verdict);
            Line::from(vec![
                Span::styled(format!("{name:<9} "), theme.tone(Tone::Dim)),
                Span::styled(
                    format!("{} {}", f.verdict.mark(), f.reason),
                    theme.tone(tone),
                ),
            ])
        })
        .collect()
}

/// Why a source could not be read, when it could not.
fn failure(f: &Freshness) -> Option<&str> {
    match f {
        Freshness::Stale { error, .. } | Freshness::Failed { error } => Some(error),
        _ => None,
    }
}

/// A cell with no reading: why, in full (an outage's reason is what the
/// person acts on; the column header has room for its first words only).
fn no_reading(app: &App, env: Option<&EnvState>, theme: &Theme) -> Vec<Line<'static>> {
    let name = app.env_cfg(app.col).map_or("-", |e| e.name.as_str());
    let Some(env) = env else {
        return vec![Line::styled("no data for this cell", theme.tone(Tone::Dim))];
    };
    let mut lines = match &env.freshness {
        Freshness::Failed { error } => vec![
            Line::styled(
                format!("✗ {name} UNREADABLE: nothing has been read from it yet"),
                theme.tone(Tone::Bad).add_modifier(Modifier::BOLD),
            ),
            kv("reason", &sanitize(error), theme),
            Line::styled(
                "  every cell here is unknown, never healthy, until a reading succeeds",
                theme.tone(Tone::Dim),
            ),
        ],
        Freshness::Unknown | Freshness::Loading => {
            vec![Line::styled(
                format!("reading {name}…"),
                theme.tone(Tone::Warn),
            )]
        }
        Freshness::Ready { .. } | Freshness::Stale { .. } => vec![Line::styled(
            format!("no data for this cell: the last reading of {name} did not hold this service"),
            theme.tone(Tone::Dim),
        )],
    };
    if let Some(at) = env.next_poll.filter(|_| env.in_flight.is_none()) {
        let wait = (at - app.now).num_seconds().max(0);
        let now = app.keymap.first(Action::Refresh);
        lines.push(kv(
            "next try",
            &format!("in {wait}s ({now} reads now)"),
            theme,
        ));
    } else if env.in_flight.is_some() {
        lines.push(kv("next try", "reading now…", theme));
    }
    lines
}

/// Where `r` would go from here, or why that is not known yet.
fn rollback_line(app: &App, s: &crate::model::ServiceSnapshot, theme: &Theme) -> Line<'static> {
    use crate::app::histories::HistoryState;
    let env_name = app.env_cfg(app.col).map_or("", |e| e.name.as_str());
    let text = match app.histories.state(app.col, &s.name, !s.history.is_empty()) {
        HistoryState::Reading => "reading the revisions…".to_string(),
        HistoryState::NotRead => "not read yet".to_string(),
        HistoryState::Failed(e) => format!("unknown: {}", sanitize(e)),
        HistoryState::Known => match crate::release::rollback_target(
            &app.records,
            env_name,
            s,
            app.env_cfg(app.col)
                .map_or(crate::provider::RollbackStyle::Revisions, |e| {
                    crate::release::rollback_style(e, &s.name)
                }),
        ) {
            Ok(t) => format!(
                "{} · {} · {}",
                t.revision,
                t.digest.as_ref().map_or("no digest", |d| d.short()),
                match t.stable_at {
                    Some(at) if !t.roll_forward => format!("stable {} ago", age(app.now, at)),
                    _ => t.short_label(),
                }
            ),
            Err(e) => e.0,
        },
    };
    kv("rollback", &text, theme)
}

pub(super) fn render_detail(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let env = app.envs.get(app.col.index());
    let svc = app.selected_service().unwrap_or("-");
    let title = format!(
        " Detail · {svc} @ {} ",
        app.env_cfg(app.col).map_or("-", |e| e.name.as_str())
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(app.focus == Pane::Detail))
        .title(title)
        .title_top(Line::styled(super::logs::hint(app), theme.tone(Tone::Dim)).right_aligned());
    let width = usize::from(area.width.saturating_sub(11)).max(8);
    let mut lines: Vec<Line<'static>> = Vec::new();
    match app.selected_snapshot() {
        None => lines.extend(no_reading(app, env, theme)),
        Some(s) => {
            if let Some(e) = env.filter(|e| !e.freshness.is_fresh()) {
                lines.push(Line::styled(
                    format!(
                        "! data is not current ({})",
                        failure(&e.freshness).map_or_else(|| "loading".to_string(), sanitize)
                    ),
                    theme.tone(Tone::Bad),
                ));
            }
            lines.push(kv("service", &s.ecs_service, theme));
            // The reference, then its commit and source labels where known.
            lines.push(kv(
                "image",
                &s.image.as_ref().map_or("-".into(), |i| {
                    i.provenance()
                        .map_or_else(|| i.to_string(), |p| format!("{i} · {p}"))
                }),
                theme,
            ));
            let digest = match (&s.digest, s.pinning) {
                (Some(d), Pinning::ResolvedFromTasks) => format!("{d} (from running tasks)"),
                (Some(d), _) => d.to_string(),
                (None, _) if s.image.is_none() => {
                    "unknown: no image was read, cannot be promoted".into()
                }
                (None, _) => "unknown: tag-only image, cannot be promoted".into(),
            };
            lines.push(kv("digest", &digest, theme));
            lines.extend(supply_lines(app, s, theme));
            lines.push(kv("release", &super::board::release_detail(s), theme));
            // What the platform shows of it, in its own words.
            for l in &s.detail.lines {
                let line = kv(&l.label, &l.text, theme);
                lines.push(if l.warn {
                    line.style(theme.tone(Tone::Warn))
                } else {
                    line
                });
            }
            lines.push(rollback_line(app, s, theme));
            // How it rolls out, and what guards that, in its platform's words.
            let strategy = app.env_cfg(app.col).map_or_else(
                || s.deployment_config.strategy.to_string(),
                |e| {
                    crate::platforms::strategy_words(
                        crate::platforms::kind_of(e, &s.name),
                        &s.deployment_config,
                    )
                },
            );
            lines.push(kv("strategy", &strategy, theme));
            if let Some(sh) = crate::release::step::in_flight(s) {
                lines.push(heading("traffic shift", theme));
                lines.push(Line::styled(
                    format!("  {} · stage {}", sh.cell(app.now), sanitize(&sh.stage)),
                    theme.tone(Tone::Warn),
                ));
                for l in sh.lines() {
                    lines.push(Line::raw(format!("  {l}")));
                }
                if sh.pause.is_some() {
                    lines.push(Line::styled(
                        format!(
                            "  paused: c in the deploy watch continues, r rolls back (`shipdeck step continue|rollback{}`)",
                            if app.cfg.is_demo() { " --demo" } else { "" }
                        ),
                        theme.tone(Tone::Bad),
                    ));
                }
            }
            lines.push(heading("deployments", theme));
            for d in &s.deployments {
                let (sym, tone) = rollout_badge(d.rollout);
                let role = match d.role {
                    DeploymentRole::Primary => "PRIMARY",
                    DeploymentRole::Active => "ACTIVE ",
                    DeploymentRole::Inactive => "INACTIVE",
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("  {role} {} ", d.task_definition)),
                    Span::styled(format!("{sym} {}", d.rollout.label()), theme.tone(tone)),
                    Span::raw(
                        app.env_cfg(app.col)
                            .and_then(|e| crate::platforms::units(e, &s.name))
                            .map_or_else(
                                || " ".to_string(),
                                |_| format!(" {}/{} ", d.running, d.desired),
                            ),
                    ),
                    Span::styled(
                        format!(
                            "{} · {} ago",
                            sanitize(d.reason.as_deref().unwrap_or("")),
                            age(app.now, d.updated_at)
                        ),
                        theme.tone(Tone::Dim),
                    ),
                ]));
            }
            lines.push(heading("alarms", theme));
            let stale = s
                .alarms_unknown
                .as_ref()
                .and_then(|_| env.and_then(|e| e.last_good_alarms.get(&s.name)));
            if let Some(why) = &s.alarms_unknown {
                lines.push(Line::styled(
                    format!("  ? UNKNOWN: {}", sanitize(why)),
                    theme.tone(Tone::Warn),
                ));
                if let Some(since) = env.and_then(|e| match &e.alarms_freshness {
                    crate::model::Freshness::Stale { last_good, .. } => Some(*last_good),
                    _ => None,
                }) && stale.is_some()
                {
                    lines.push(Line::styled(
                        format!(
                            "  last read {} ago (stale, not the current state):",
                            age(app.now, since)
                        ),
                        theme.tone(Tone::Dim),
                    ));
                }
            } else if s.alarms.is_empty() {
                lines.push(Line::styled("  none watched", theme.tone(Tone::Dim)));
            }
            for a in stale.map_or(s.alarms.as_slice(), Vec::as_slice) {
                let (sym, tone, label) = match a.state {
                    AlarmState::Ok => ("✓", Tone::Good, "OK"),
                    AlarmState::Alarm => ("✗", Tone::Bad, "ALARM"),
                    AlarmState::InsufficientData => ("?", Tone::Warn, "NO DATA"),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {sym} {label:<7} "), theme.tone(tone)),
                    Span::raw(format!("{} ", sanitize(&a.name))),
                    Span::styled(
                        format!(
                            "{} ago · {}",
                            age(app.now, a.updated_at),
                            sanitize(&a.reason)
                        ),
                        theme.tone(Tone::Dim),
                    ),
                ]));
            }
            let (badge, tone) = health_badge(&s.health);
            let mut health = vec![
                Span::styled("health   ", theme.tone(Tone::Dim)),
                Span::styled(badge, theme.tone(tone)),
            ];
            match &s.health {
                Health::Healthy { healthy_for, .. } => {
                    let since =
                        app.now - chrono::Duration::from_std(*healthy_for).unwrap_or_default();
                    health.push(Span::raw(format!(" · stable for {}", age(app.now, since))));
                }
                Health::Unhealthy { reason, .. } => health.push(Span::styled(
                    format!(" · {}", sanitize(reason)),
                    theme.tone(Tone::Bad),
                )),
                _ => {}
            }
            lines.push(Line::from(health));
            let latencies = app.latencies(app.col, svc);
            if !latencies.is_empty() {
                #[allow(clippy::cast_precision_loss)]
                let values: Vec<f64> = latencies.iter().map(|v| *v as f64).collect();
                lines.push(kv("latency", &sparkline(&values, width), theme));
            }
            if let Some((p50, p95)) = app
                .trackers
                .get(&(app.col, svc.to_string()))
                .and_then(|t| t.percentiles(app.now))
            {
                let text = format!(
                    "p50 {}ms · p95 {}ms (probes in the stability window)",
                    p50.as_millis(),
                    p95.as_millis()
                );
                lines.push(kv("probes", &text, theme));
            }
            for m in &s.metrics {
                let label = Span::styled(format!("{:<9}", m.label), theme.tone(Tone::Dim));
                if let Some(e) = &m.error {
                    lines.push(Line::from(vec![
                        label,
                        Span::styled(
                            format!("? UNKNOWN: {}", sanitize(e)),
                            theme.tone(Tone::Warn),
                        ),
                    ]));
                    continue;
                }
                let last = m.points.last().map_or("-".into(), |v| format!("{v:.1}"));
                lines.push(Line::from(vec![
                    label,
                    Span::raw(sparkline(&m.points, width.saturating_sub(8))),
                    Span::raw(format!(" {last}")),
                ]));
            }
            if let Some(e) = env.and_then(|e| failure(&e.metrics_freshness)) {
                lines.push(Line::from(vec![
                    Span::styled("metrics  ", theme.tone(Tone::Dim)),
                    Span::styled(
                        // The error names its source: CloudWatch, Prometheus, …
                        format!("? UNKNOWN: metrics unreadable: {}", sanitize(e)),
                        theme.tone(Tone::Warn),
                    ),
                ]));
            }
        }
    }
    let rows = wrap_all(&lines, usize::from(area.width.saturating_sub(2)));
    let hint = if app.focus == Pane::Detail {
        scroll_hint(app)
    } else {
        format!("{} to scroll", app.keymap.first(Action::NextPane))
    };
    render_scrolled(frame, area, block, rows, &app.views.detail, &hint, theme);
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparkline_scales_and_handles_flat_and_nan() {
        assert_eq!(sparkline(&[0.0, 7.0], 10), "▁█");
        assert_eq!(sparkline(&[3.0, 3.0, 3.0], 10), "▁▁▁");
        assert_eq!(sparkline(&[1.0, f64::NAN], 10), "▁▁");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0, 4.0], 2).chars().count(), 2);
        assert_eq!(sparkline(&[], 5), "");
    }
}
