//! `shipdeck audit [verify]`: the records, filtered, or the whole chain checked.

use super::setup::{demo_setup, ledger_for};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};
use crate::ledger::RecordKind;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Options of `shipdeck audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Verify instead of listing.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Ledger file (default: ledger_path from the config, else the platform data dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// The demo's ledger (what `shipdeck demo` recorded).
    #[arg(long, global = true, conflicts_with = "ledger")]
    pub demo: bool,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only records newer than this: a duration ("24h") or a time ("2026-11-20T10:00:00Z").
    #[arg(long)]
    pub since: Option<String>,
    /// Only this record type (e.g. deploy_issued, approval); another name
    /// is a usage error that lists them.
    #[arg(long = "type", value_name = "TYPE",
          value_parser = clap::builder::PossibleValuesParser::new(record_types()))]
    pub kind: Option<String>,
    /// Print JSON lines of the records.
    #[arg(long)]
    pub json: bool,
}

/// `shipdeck audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exit 1 and name the first broken line. In
    /// team mode the head item must name the last record too (a cut tail).
    Verify,
    /// Print the ledger as JSON lines, hashes included (verifiable with
    /// `shipdeck audit verify --ledger FILE`).
    Export,
    /// The evidence pack of one promotion (or of every promotion started
    /// since a time): what moved, who and why, the gate, the rollout, the
    /// outcome and the hashes of the records it cites.
    Report {
        /// The promotion id (`shipdeck audit --type promotion_started` lists them).
        #[arg(required_unless_present = "since")]
        promotion: Option<String>,
        /// markdown (for release notes) or json (schema 1).
        #[arg(long, value_name = "FORMAT", default_value = "markdown",
              value_parser = ["markdown", "json"])]
        format: String,
        /// Every promotion started since: a duration ("7d") or a time.
        #[arg(long, conflicts_with = "promotion")]
        since: Option<String>,
    },
}

/// The record type after `k` (`None`: the first), each once: `audit --type`
/// takes exactly these names. A match, so that a new kind of record cannot
/// be left out of the list.
fn next_kind(k: Option<RecordKind>) -> Option<RecordKind> {
    use RecordKind as K;
    match k {
        None => Some(K::PromotionStarted),
        Some(K::PromotionStarted) => Some(K::GateEvaluated),
        Some(K::GateEvaluated) => Some(K::Approval),
        Some(K::Approval) => Some(K::Override),
        Some(K::Override) => Some(K::DeployIssued),
        Some(K::DeployIssued) => Some(K::DeploySucceeded),
        Some(K::DeploySucceeded) => Some(K::DeployFailed),
        Some(K::DeployFailed) => Some(K::Aborted),
        Some(K::Aborted) => Some(K::RollbackIssued),
        Some(K::RollbackIssued) => Some(K::RollbackSucceeded),
        Some(K::RollbackSucceeded) => Some(K::RollbackFailed),
        Some(K::RollbackFailed) => Some(K::DeployUnverified),
        Some(K::DeployUnverified) => Some(K::RollbackUnverified),
        Some(K::RollbackUnverified) => Some(K::RevisionMarkedStable),
        Some(K::RevisionMarkedStable) => Some(K::LockBroken),
        Some(K::LockBroken) => Some(K::LedgerRepaired),
        Some(K::LedgerRepaired) => Some(K::Step),
        Some(K::Step) => Some(K::StepDecision),
        Some(K::StepDecision) => Some(K::WatchInterrupted),
        Some(K::WatchInterrupted) => Some(K::NotificationFailed),
        Some(K::NotificationFailed) => None,
    }
}

/// Every record type's name, in the ledger's words (`audit --type`'s values).
pub fn record_types() -> Vec<&'static str> {
    std::iter::successors(next_kind(None), |k| next_kind(Some(*k)))
        .map(RecordKind::as_str)
        .collect()
}

/// The columns of the `audit` table, titled; each as wide as its widest cell.
const AUDIT_HEADER: [&str; 7] = ["AT", "SEQ", "KIND", "OPERATOR", "ENV", "SERVICE", "DETAIL"];

/// Columns `text` takes on a terminal.
fn columns(text: &str) -> usize {
    ratatui::text::Span::raw(text).width()
}

/// The `audit` table: a header line, then one aligned row per record.
fn table(rows: &[[String; 7]]) -> String {
    let mut widths = AUDIT_HEADER.map(columns);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(columns(cell));
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&AUDIT_HEADER.map(str::to_string)).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(w.saturating_sub(columns(cell)) + 1));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One record as a row of the `audit` table.
fn row(r: &crate::ledger::Record) -> [String; 7] {
    let detail = [
        r.draft
            .to_digest
            .as_deref()
            .map(|d| format!("→ {}", d.get(7..19).unwrap_or(d))),
        r.draft.outcome.clone(),
        // Folded here too: records written before reasons were
        // folded at write time still show on one line.
        (!r.draft.reasons.is_empty()).then(|| {
            r.draft
                .reasons
                .iter()
                .map(|x| crate::model::text::fold_line(x))
                .collect::<Vec<_>>()
                .join("; ")
        }),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    [
        r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
        r.seq.to_string(),
        r.kind.as_str().to_string(),
        crate::model::text::fold_line(&r.draft.operator),
        crate::model::text::fold_line(r.draft.env.as_deref().unwrap_or("-")),
        crate::model::text::fold_line(r.draft.service.as_deref().unwrap_or("-")),
        detail,
    ]
}

pub(crate) fn parse_since(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        // Far enough back to overflow a date is a typo, not "everything".
        return chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| {
                format!("--since \"{s}\" reaches further back than a date can go; use e.g. \"30d\" or a time such as \"2026-11-20T10:00:00Z\"")
            });
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("--since \"{s}\" is neither a duration (\"24h\") nor a time (\"2026-11-20T10:00:00Z\")"))
}

/// Every complete record of `ledger`, with the warning about a torn final
/// line on stderr: the one way the commands that read the ledger (`audit`,
/// `approvals`, `approve`) read it, so that each of them warns.
pub(crate) fn read_warned(
    ledger: &crate::ledger::Ledger,
) -> Result<Vec<crate::ledger::Record>, crate::ledger::LedgerError> {
    let c = ledger.read_all()?;
    if let Some(w) = c.torn_warning() {
        term::errln(&format!("warning: {}: {w}", ledger.path().display()));
    }
    Ok(c.records)
}

pub(crate) fn run_audit(cli: &Cli, args: &AuditArgs) -> i32 {
    use crate::ledger::Ledger;
    let ledger = match if args.demo {
        demo_setup()
            .and_then(|(cfg, _)| ledger_for(&cfg))
            .map(Ledger::new)
    } else {
        super::setup::ledger_of(cli, args.ledger.as_deref())
    } {
        Ok(l) => l,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let path = ledger.path().to_path_buf();
    if matches!(args.command, Some(AuditCommand::Export)) {
        return match ledger.text() {
            Ok(t) => {
                term::out_styled(&t.unwrap_or_default());
                EXIT_OK
            }
            Err(e) => {
                eprint_error(&e.to_string());
                EXIT_DEGRADED
            }
        };
    }
    if matches!(args.command, Some(AuditCommand::Verify)) {
        let verdict = match ledger.verify() {
            Ok(v) => v,
            Err(e) => {
                eprint_error(&e.to_string());
                return EXIT_DEGRADED;
            }
        };
        return match verdict {
            Ok(n) => {
                term::outln(&format!(
                    "{}: OK, {n} records, hash chain intact",
                    path.display()
                ));
                EXIT_OK
            }
            Err(b) => {
                term::outln(&format!(
                    "{}:{}: BROKEN: {}",
                    path.display(),
                    b.line,
                    b.problem
                ));
                let text = ledger.text().ok().flatten().unwrap_or_default();
                term::outln(&format!("  {}", record_at(&text, b.line)));
                EXIT_DEGRADED
            }
        };
    }
    if let Some(AuditCommand::Report {
        promotion,
        format,
        since,
    }) = &args.command
    {
        return run_report(&ledger, promotion.as_deref(), format, since.as_deref());
    }
    let since = match args
        .since
        .as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
    {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let records = match read_warned(&ledger) {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let chosen = records.iter().filter(|r| {
        args.env
            .as_ref()
            .is_none_or(|e| r.draft.env.as_ref() == Some(e))
            && args
                .service
                .as_ref()
                .is_none_or(|s| r.draft.service.as_ref() == Some(s))
            && since.is_none_or(|t| r.at >= t)
            && args.kind.as_ref().is_none_or(|k| r.kind.as_str() == k)
    });
    let out = if args.json {
        chosen
            .map(|r| term::json_line(r).unwrap_or_default() + "\n")
            .collect::<String>()
    } else {
        let rows: Vec<[String; 7]> = chosen.map(row).collect();
        if rows.is_empty() {
            String::new()
        } else {
            table(&rows)
        }
    };
    if args.json {
        term::out_styled(&out);
    } else {
        term::out(&out);
    }
    EXIT_OK
}

/// The record at 1-based `line` of the ledger text, named as a report cites
/// it (seq, kind, promotion, the hash its line carries), so that a reader
/// can match a break to the record a report cites.
fn record_at(text: &str, line: usize) -> String {
    let Some(raw) = text.split_terminator('\n').nth(line.saturating_sub(1)) else {
        return format!("line {line} is past the end of the ledger");
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return format!(
            "line {line} is not a readable record (it would be record seq {line} if nothing before it is missing)"
        );
    };
    let r = &v["record"];
    let word = |x: &serde_json::Value| {
        x.as_str()
            .map(crate::model::text::fold_line)
            .or_else(|| x.as_u64().map(|n| n.to_string()))
            .unwrap_or_else(|| "?".to_string())
    };
    format!(
        "the record there: seq {}, kind {}, promotion {}, recorded hash {}",
        word(&r["seq"]),
        word(&r["kind"]),
        r.get("promotion").map_or_else(|| "-".to_string(), word),
        word(&v["hash"]),
    )
}

/// Every complete record of the ledger text with the hash its line carries,
/// once the whole chain verifies (a report never cites a broken chain).
fn links(text: &str) -> Result<Vec<crate::report::Link>, String> {
    #[derive(serde::Deserialize)]
    struct Line {
        hash: String,
        record: crate::ledger::Record,
    }
    // A torn final line was never acknowledged: left out, as `audit` does.
    let keep = if text.is_empty() || text.ends_with('\n') {
        text
    } else {
        &text[..text.rfind('\n').map_or(0, |i| i + 1)]
    };
    crate::ledger::verify_text(keep).map_err(|b| {
        format!(
            "the ledger is broken at line {}: {}; {}; run `shipdeck audit verify`",
            b.line,
            b.problem,
            record_at(keep, b.line)
        )
    })?;
    keep.split_terminator('\n')
        .map(|l| {
            serde_json::from_str::<Line>(l)
                .map(|x| crate::report::Link {
                    record: x.record,
                    hash: x.hash,
                })
                .map_err(|e| format!("unreadable ledger line: {e}"))
        })
        .collect()
}

/// `shipdeck audit report`: one promotion's evidence pack, or every
/// promotion's started since a time.
fn run_report(
    ledger: &crate::ledger::Ledger,
    promotion: Option<&str>,
    format: &str,
    since: Option<&str>,
) -> i32 {
    let from = match since
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let text = match ledger.text() {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    if !text.is_empty() && !text.ends_with('\n') {
        term::errln(&format!(
            "warning: {}: the final line is torn (a write cut off by a crash); it is not cited",
            ledger.path().display()
        ));
    }
    let links = match links(&text) {
        Ok(l) => l,
        Err(e) => {
            eprint_error(&e);
            return EXIT_DEGRADED;
        }
    };
    let reports = match (promotion, from) {
        (Some(id), _) => match crate::report::build(&links, id) {
            Ok(r) => vec![r],
            Err(e) => {
                eprint_error(&e.to_string());
                return EXIT_USAGE;
            }
        },
        (None, Some(from)) => crate::report::since(&links, from),
        (None, None) => {
            eprint_error(
                "name a promotion, or pass --since; `shipdeck audit --type promotion_started` lists them",
            );
            return EXIT_USAGE;
        }
    };
    if format == "json" {
        // One report: one pretty document; --since: one document per line.
        let out: String = if promotion.is_some() {
            reports
                .iter()
                .map(|r| term::json(r).unwrap_or_default())
                .collect()
        } else {
            reports
                .iter()
                .map(|r| term::json_line(r).unwrap_or_default() + "\n")
                .collect()
        };
        term::out_styled(&out);
    } else {
        let out = reports
            .iter()
            .map(crate::report::markdown)
            .collect::<Vec<_>>()
            .join("\n");
        term::out(&out);
    }
    EXIT_OK
}
