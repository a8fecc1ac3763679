//! The human table of a status report: plain or coloured, every cell through
//! the sanitiser as it is painted.

use std::fmt::Write as _;

use super::{Presence, Severity, StatusReport, Verdict, problems::named};
use crate::model::drift::Behind;
use crate::model::{AlarmSummary, Freshness, Health, Pinning, RolloutState, Sources, sanitize};

/// Text styling for the table: ANSI colour or plain.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Emit ANSI colour codes.
    pub color: bool,
}

#[derive(Clone, Copy)]
enum Tone {
    Good,
    Bad,
    Warn,
    Dim,
    Plain,
}

impl Style {
    /// Every piece of the table passes through here, so through the sanitiser.
    fn paint(self, tone: Tone, text: &str) -> String {
        let text = sanitize(text);
        if !self.color {
            return text;
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31;1",
            Tone::Warn => "33",
            Tone::Dim => "2",
            Tone::Plain => return text,
        };
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    }
}

fn rollout_cell(r: RolloutState) -> (Tone, String) {
    match r {
        RolloutState::Completed => (Tone::Good, "✓ completed".into()),
        RolloutState::InProgress => (Tone::Warn, "◐ in progress".into()),
        RolloutState::Failed => (Tone::Bad, "✗ failed".into()),
        RolloutState::RolledBack => (Tone::Bad, "✗ rolled back".into()),
        RolloutState::Unknown => (Tone::Warn, "? unknown".into()),
    }
}

fn alarm_cell(a: AlarmSummary) -> (Tone, String) {
    match a {
        AlarmSummary::None => (Tone::Dim, "- none".into()),
        AlarmSummary::Ok => (Tone::Good, "✓ ok".into()),
        AlarmSummary::Alarm { count } => (Tone::Bad, format!("✗ {count} ALARM")),
        AlarmSummary::Unknown { count } => (Tone::Warn, format!("? {count} no data")),
        AlarmSummary::Unreadable => (Tone::Warn, "? unknown".into()),
    }
}

/// Health badge text and tone.
pub fn health_label(h: &Health) -> (String, bool) {
    match h {
        Health::NotConfigured => ("- none".into(), true),
        Health::Unknown => ("? unknown".into(), true),
        Health::Healthy {
            status, latency, ..
        } => (format!("✓ {status} {}ms", latency.as_millis()), true),
        Health::Unhealthy {
            status: Some(s), ..
        } => (format!("✗ {s}"), false),
        Health::Unhealthy { status: None, .. } => ("✗ down".into(), false),
    }
}

fn health_cell(h: &Health) -> (Tone, String) {
    let (text, good) = health_label(h);
    let tone = match h {
        Health::NotConfigured => Tone::Dim,
        Health::Unknown => Tone::Warn,
        _ if good => Tone::Good,
        _ => Tone::Bad,
    };
    (tone, text)
}

fn behind_cell(b: Behind, promotable: bool) -> (Tone, String) {
    let tone = match b {
        Behind::Behind { .. } | Behind::Diverged | Behind::Differs | Behind::RollingOut => {
            Tone::Warn
        }
        Behind::UpToDate => Tone::Good,
        _ => Tone::Dim,
    };
    let mark = if promotable { "↑ " } else { "" };
    (tone, format!("{mark}{}", b.label()))
}

fn freshness_cell(f: &Freshness, sources: &Sources) -> (Tone, String) {
    let blind: Vec<&str> = [("alarms", &sources.alarms), ("metrics", &sources.metrics)]
        .into_iter()
        .filter(|(_, s)| s.error().is_some())
        .map(|(n, _)| n)
        .collect();
    match f {
        Freshness::Ready { .. } if !blind.is_empty() => (
            Tone::Warn,
            format!("? services read; {} unreadable", blind.join(", ")),
        ),
        Freshness::Ready { .. } => (Tone::Good, "✓ read".into()),
        Freshness::Loading | Freshness::Unknown => (Tone::Warn, "… loading".into()),
        Freshness::Stale { error, .. } => (Tone::Warn, format!("! stale: {error}")),
        Freshness::Failed { error } => (Tone::Bad, format!("✗ unreadable: {error}")),
    }
}

/// Renders a table of cells with padded columns; every cell is (tone, text).
fn table(style: Style, header: &[&str], rows: &[Vec<(Tone, String)>]) -> String {
    // Widths are measured on what will be printed: the sanitised text.
    let rows: Vec<Vec<(Tone, String)>> = rows
        .iter()
        .map(|r| r.iter().map(|(t, s)| (*t, sanitize(s))).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, (_, text)) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(text.chars().count());
            }
        }
    }
    let mut out = String::new();
    let last = header.len().saturating_sub(1);
    let line = |cells: Vec<(Tone, String)>, out: &mut String| {
        for (i, (tone, text)) in cells.into_iter().enumerate() {
            let pad = widths[i].saturating_sub(text.chars().count());
            out.push_str(&style.paint(tone, &text));
            if i < last {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(
        header
            .iter()
            .map(|h| (Tone::Plain, (*h).to_string()))
            .collect(),
        &mut out,
    );
    for row in rows {
        line(row.clone(), &mut out);
    }
    out
}

/// Renders the human table.
pub fn render_table(report: &StatusReport, style: Style) -> String {
    let env_rows: Vec<Vec<(Tone, String)>> = report
        .environments
        .iter()
        .map(|e| {
            let name = if e.production {
                format!("{} [PROD]", e.name)
            } else {
                e.name.clone()
            };
            vec![
                (Tone::Plain, name),
                (Tone::Plain, e.platform.clone()),
                (Tone::Plain, e.location.clone()),
                freshness_cell(&e.freshness, &e.sources),
            ]
        })
        .collect();
    let mut out = table(
        style,
        &["ENVIRONMENT", "PLATFORM", "WHERE", "DATA"],
        &env_rows,
    );
    for e in &report.environments {
        for w in &e.warnings {
            let _ = writeln!(
                out,
                "{}",
                style.paint(Tone::Warn, &format!("! {}: {w}", e.name))
            );
        }
    }
    out.push('\n');
    let mut rows = Vec::new();
    for svc in &report.services {
        for (i, c) in svc.cells.iter().enumerate() {
            let name = if i == 0 {
                svc.name.clone()
            } else {
                String::new()
            };
            let mut row = vec![(Tone::Plain, name), (Tone::Plain, c.env.clone())];
            match c.presence {
                Presence::Deployed => {
                    let digest = match (&c.short_digest, c.pinning) {
                        (Some(d), Some(Pinning::ResolvedFromTasks)) => {
                            (Tone::Plain, format!("{d}*"))
                        }
                        (Some(d), _) => (Tone::Plain, d.clone()),
                        (None, _) => (Tone::Warn, "? unpinned".to_string()),
                    };
                    row.push(digest);
                    row.push((
                        Tone::Plain,
                        // The revision within its family: `3`, `green`.
                        c.revision
                            .as_deref()
                            .and_then(|r| r.rsplit([':', '@']).next())
                            .map_or("-".into(), str::to_string),
                    ));
                    row.push(match &c.shift_cell {
                        Some(cell) => (Tone::Warn, cell.clone()),
                        None => rollout_cell(c.rollout.unwrap_or(RolloutState::Unknown)),
                    });
                    // No counts where the platform counts nothing (Lambda).
                    let tasks = match (c.running, c.desired) {
                        (Some(r), Some(d)) => format!("{r}/{d}"),
                        _ => "-".to_string(),
                    };
                    let tone = if c.running == c.desired {
                        Tone::Plain
                    } else {
                        Tone::Warn
                    };
                    row.push((tone, tasks));
                    row.push(alarm_cell(c.alarms.unwrap_or(AlarmSummary::None)));
                    row.push(health_cell(
                        c.health.as_ref().unwrap_or(&Health::NotConfigured),
                    ));
                    row.push(behind_cell(c.behind, c.promotable));
                }
                other => {
                    let text = match other {
                        Presence::NotConfigured => {
                            (Tone::Dim, "- not in this environment".to_string())
                        }
                        Presence::Missing => (Tone::Bad, "✗ service not found".to_string()),
                        _ => (Tone::Bad, "✗ no data".to_string()),
                    };
                    row.push(text);
                    for _ in 0..6 {
                        row.push((Tone::Plain, String::new()));
                    }
                }
            }
            rows.push(row);
        }
    }
    out.push_str(&table(
        style,
        &[
            "SERVICE", "ENV", "DIGEST", "REV", "ROLLOUT", "TASKS", "ALARMS", "HEALTH", "BEHIND",
        ],
        &rows,
    ));
    // Trailing spaces from empty cells would make the output ragged for diff tools.
    let mut trimmed = String::with_capacity(out.len());
    for l in out.lines() {
        trimmed.push_str(l.trim_end());
        trimmed.push('\n');
    }
    for svc in &report.services {
        for c in &svc.cells {
            // The platform's own lines, where they add to the columns.
            let d = &c.detail;
            if !d.title.is_empty() {
                let _ = writeln!(trimmed, "\n{}/{} {}:", c.env, svc.name, sanitize(&d.title));
                for l in &d.lines {
                    let tone = if l.warn { Tone::Warn } else { Tone::Plain };
                    let line = sanitize(&format!("{} {}", l.label, l.text));
                    let _ = writeln!(trimmed, "  {}", style.paint(tone, &line));
                }
            }
        }
    }
    let of = |severity: Severity| {
        let list: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .collect();
        named(&list)
    };
    let verdict = report.verdict();
    let summary = match verdict {
        // Each degraded cell (or environment) and why, not "see the rows".
        Verdict::Degraded => style.paint(
            Tone::Bad,
            &format!("✗ degraded: {}", of(Severity::Degraded)),
        ),
        Verdict::InProgress => style.paint(
            Tone::Warn,
            &format!("◐ in progress: {}", of(Severity::InProgress)),
        ),
        Verdict::Unknown => style.paint(
            Tone::Warn,
            &format!(
                "? unknown: {} thing(s) could not be read; nothing is shown as healthy",
                report.unknowns.len()
            ),
        ),
        Verdict::Healthy => style.paint(Tone::Good, "✓ all healthy"),
    };
    let _ = writeln!(
        trimmed,
        "\n{summary}   (* digest resolved from running tasks, ↑ promotable)"
    );
    for u in &report.unknowns {
        let _ = writeln!(trimmed, "{}", style.paint(Tone::Warn, &format!("  ? {u}")));
    }
    // Rollouts in flight beside worse news: still named, one a line.
    if verdict != Verdict::InProgress {
        for p in report
            .problems
            .iter()
            .filter(|p| p.severity == Severity::InProgress)
        {
            let line = format!("  ◐ {}: {}", p.place(), p.reason);
            let _ = writeln!(trimmed, "{}", style.paint(Tone::Warn, &line));
        }
    }
    trimmed
}
