//! The evidence pack as Markdown, ready to append to a release-notes file.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{Note, Report, VERIFY_LINE};

/// Text from a record made safe for a Markdown line or table cell: one line
/// (breaks folded visibly, control characters gone), and every character
/// that could end a cell, open a code span, a link, emphasis or HTML
/// escaped with a backslash.
pub fn escape(text: &str) -> String {
    let one = crate::model::text::fold_line(text);
    let mut out = String::with_capacity(one.len());
    for c in one.chars() {
        if matches!(c, '\\' | '`' | '|' | '*' | '[' | ']' | '<' | '>' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A duration in words people read: `4m 10s`, `850ms`, `2h 3m`.
pub fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .skip_while(|(n, _)| *n == 0)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    parts.join(" ")
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn or_unknown(v: Option<&String>) -> String {
    v.map_or_else(|| "not recorded".to_string(), |s| escape(s))
}

/// A digest's short form (the first 12 hex digits).
fn short(d: &str) -> String {
    escape(
        d.strip_prefix("sha256:")
            .and_then(|h| h.get(..12))
            .unwrap_or(d),
    )
}

/// A hash cited in a code span: hex only, anything else escaped as text.
fn hash(h: &str) -> String {
    if h.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("`{h}`")
    } else {
        escape(h)
    }
}

/// The whole report as Markdown: a `##` heading, one `###` section each.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, r);
    moved(&mut out, r);
    who(&mut out, r);
    gate(&mut out, r);
    rollout(&mut out, r);
    outcome(&mut out, r);
    cited(&mut out, r);
    out
}

fn heading(out: &mut String, r: &Report) {
    let m = &r.moved;
    let stages = match (&m.from_env, &m.to_env) {
        (Some(f), Some(t)) => format!("{} → {}", escape(f), escape(t)),
        (None, Some(t)) => format!("→ {}", escape(t)),
        (Some(f), None) => format!("{} →", escape(f)),
        (None, None) => "stages not recorded".to_string(),
    };
    let digest = m
        .to_digest
        .as_deref()
        .map_or_else(|| "no digest".to_string(), short);
    let _ = writeln!(
        out,
        "## {} {stages} · {digest} · {}\n",
        or_unknown(m.service.as_ref()),
        escape(&r.outcome.said)
    );
    let _ = writeln!(out, "Promotion {}.\n", escape(&r.promotion));
}

fn moved(out: &mut String, r: &Report) {
    let m = &r.moved;
    out.push_str("### What moved\n\n");
    let _ = writeln!(out, "- Service: {}", or_unknown(m.service.as_ref()));
    let from = m.from_env.as_ref().map_or_else(
        || "the stage before (not recorded)".to_string(),
        |f| escape(f),
    );
    let _ = writeln!(out, "- Stages: {from} → {}", or_unknown(m.to_env.as_ref()));
    let _ = writeln!(
        out,
        "- Digest: {} (was {})",
        or_unknown(m.to_digest.as_ref()),
        or_unknown(m.from_digest.as_ref())
    );
    let _ = writeln!(
        out,
        "- Revision: {} → {}",
        or_unknown(m.from_revision.as_ref()),
        m.to_revision
            .as_ref()
            .map_or_else(|| "no new revision recorded".to_string(), |t| escape(t))
    );
    let commit = match (&m.commit, &m.from_commit) {
        (Some(c), Some(w)) => format!("{} (was {})", escape(c), escape(w)),
        (Some(c), None) => escape(c),
        (None, _) => "not known (the image has no commit label)".to_string(),
    };
    let _ = writeln!(out, "- Commit: {commit}");
    let _ = writeln!(
        out,
        "- Source: {}",
        m.source.as_ref().map_or_else(
            || "not known (the image has no source label)".to_string(),
            |s| escape(s)
        )
    );
    supply(out, m.supply.as_ref());
    if let Some(c) = &m.change {
        let _ = writeln!(out, "- Change the platform made: {}", escape(c));
    }
    if m.hotfix {
        let skipped = if m.skipped.is_empty() {
            "a stage skipped".to_string()
        } else {
            format!(
                "skipped {}",
                m.skipped
                    .iter()
                    .map(|s| escape(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(out, "- Hotfix: {skipped}");
    }
    out.push('\n');
}

/// The supply-chain lines: what the gate judged of the digest, or that
/// nothing was recorded.
fn supply(out: &mut String, s: Option<&crate::supply::SupplyRecord>) {
    let Some(s) = s else {
        out.push_str("- Supply chain: not recorded (no registry reading at the gate)\n");
        return;
    };
    let _ = writeln!(
        out,
        "- Signature: {}",
        s.key.as_ref().map_or_else(
            || "none verified".to_string(),
            |k| match &s.key_id {
                Some(id) => format!("verified with key {} ({})", escape(k), escape(id)),
                None => format!("verified with key {}", escape(k)),
            }
        )
    );
    let _ = writeln!(
        out,
        "- Scan: {}",
        s.scan
            .as_ref()
            .map_or_else(|| "none recorded".to_string(), |k| escape(k))
    );
    for a in &s.allowed {
        let _ = writeln!(
            out,
            "- Allowed: {} until {}: {}",
            escape(&a.cve),
            escape(&a.expires),
            escape(&a.reason)
        );
    }
    if let Some(c) = &s.created {
        let _ = writeln!(out, "- Built: {}", escape(c));
    }
}

fn who(out: &mut String, r: &Report) {
    let w = &r.who;
    out.push_str("### Who and why\n\n");
    let _ = writeln!(out, "- Initiator: {}", or_unknown(w.initiator.as_ref()));
    let _ = writeln!(
        out,
        "- Change record: {}{}",
        or_unknown(w.change_record.as_ref()),
        w.change_type
            .as_ref()
            .map(|t| format!(" (type: {})", escape(t)))
            .unwrap_or_default()
    );
    for reason in &w.reasons {
        let _ = writeln!(out, "- Reason: {}", escape(reason));
    }
    if w.approvers.is_empty() {
        out.push_str("- Approvals: none recorded\n");
    } else {
        out.push_str("- Approvals:\n");
        for a in &w.approvers {
            let roles = if a.roles.is_empty() {
                "no role recorded".to_string()
            } else {
                a.roles
                    .iter()
                    .map(|s| escape(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let counted = match a.counted {
                Some(false) => ", not counted by the gate",
                _ => "",
            };
            let _ = writeln!(
                out,
                "  - {} ({roles}) at {} (record {}{counted})",
                escape(&a.name),
                time(a.at),
                a.seq
            );
        }
    }
    if w.checklist.is_empty() {
        out.push_str("- Checklist ticked: none recorded\n");
    } else {
        out.push_str("- Checklist ticked:\n");
        for c in &w.checklist {
            let _ = writeln!(out, "  - [x] {}", escape(c));
        }
    }
    out.push('\n');
}

fn gate(out: &mut String, r: &Report) {
    out.push_str("### Gate\n\n");
    if r.gate.is_empty() {
        out.push_str("No gate evaluation recorded.\n");
    } else {
        let seq = r.gate.first().map_or(0, |g| g.seq);
        let _ = writeln!(out, "As evaluated in record {seq}:\n");
        out.push_str("| Check | Verdict | Reason |\n|---|---|---|\n");
        for g in &r.gate {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape(&g.check),
                escape(&g.verdict),
                escape(&g.reason)
            );
        }
    }
    if r.overrides.is_empty() {
        out.push_str("\nOverrides: none.\n\n");
    } else {
        out.push_str("\nOverrides:\n\n");
        for o in &r.overrides {
            let _ = writeln!(
                out,
                "- {} by {} at {} (record {})",
                escape(&o.reasons.join("; ")),
                escape(&o.operator),
                time(o.at),
                o.seq
            );
        }
        out.push('\n');
    }
}

/// A rollout note's words: its outcome, then its reasons.
fn detail(n: &Note) -> String {
    let words: Vec<String> = n
        .outcome
        .iter()
        .chain(&n.reasons)
        .map(|s| escape(s))
        .collect();
    if words.is_empty() {
        "-".to_string()
    } else {
        words.join("; ")
    }
}

fn rollout(out: &mut String, r: &Report) {
    out.push_str("### Rollout\n\n");
    if r.rollout.is_empty() {
        out.push_str("Nothing was deployed.\n\n");
        return;
    }
    out.push_str("| Seq | At | Record | By | Decision, rule or outcome |\n|---|---|---|---|---|\n");
    for n in &r.rollout {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            n.seq,
            time(n.at),
            escape(&n.kind),
            escape(&n.operator),
            detail(n)
        );
    }
    out.push('\n');
}

fn outcome(out: &mut String, r: &Report) {
    let o = &r.outcome;
    out.push_str("### Outcome\n\n");
    let _ = writeln!(out, "- Result: {}", escape(&o.said));
    let _ = writeln!(out, "- Start: {}", time(o.start));
    let _ = writeln!(
        out,
        "- End: {}",
        o.end
            .map_or_else(|| "not yet (in progress)".to_string(), time)
    );
    let _ = writeln!(
        out,
        "- Duration: {}\n",
        o.duration_ms
            .map_or_else(|| "not over".to_string(), human_duration)
    );
}

fn cited(out: &mut String, r: &Report) {
    out.push_str("### Records cited\n\n| Seq | Kind | At | Hash |\n|---|---|---|---|\n");
    for c in &r.cited {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.seq,
            escape(&c.kind),
            time(c.at),
            hash(&c.hash)
        );
    }
    let _ = writeln!(out, "\n{VERIFY_LINE}");
}
