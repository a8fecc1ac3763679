//! `shipdeck config check`: the console's validation, and a summary.

use crate::config::ProviderKind;

use super::setup::{config_or_usage, keymap_or_usage};
use super::{Cli, EXIT_OK, EXIT_USAGE, term};

pub(crate) fn config_check(cli: &Cli) -> i32 {
    let cfg = match config_or_usage(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = keymap_or_usage(&cfg) {
        return code;
    }
    // The file's own ledger_path was judged with the file; the default one,
    // in the data dir, is judged here (team mode keeps no ledger file).
    if cfg.team.is_none()
        && let Some(path) = cfg
            .ledger_path
            .clone()
            .or_else(|| super::setup::default_ledger().ok())
        && let Err(e) = super::setup::usable_ledger(path)
    {
        term::errln(&e);
        return EXIT_USAGE;
    }
    let mut out = String::new();
    out.push_str(&format!("{}: OK\n", cfg.source.display()));
    let provider = match &cfg.provider {
        ProviderKind::Aws => "aws (standard credential chain)".to_string(),
        ProviderKind::Simulated { fleet, seed, .. } => format!(
            "simulated ({}, seed {seed})",
            fleet
                .as_ref()
                .map_or("built-in demo fleet".to_string(), |p| p
                    .display()
                    .to_string())
        ),
    };
    out.push_str(&format!("provider: {provider}\n"));
    out.push_str(&format!(
        "refresh every {}{}\n",
        humantime::format_duration(cfg.refresh_interval),
        if cfg.read_only { ", READ-ONLY" } else { "" }
    ));
    out.push_str("promotion order: ");
    out.push_str(&cfg.env_names().join(" -> "));
    out.push('\n');
    for env in &cfg.environments {
        let g = &env.gate;
        let (platforms, places) = crate::platforms::summary(env);
        out.push_str(&format!(
            "  {}{}: {platforms} {places}{}, {} service{}, gate: {} check{}, {} approval{}{}{}{}\n",
            env.name,
            if env.production { " [PROD]" } else { "" },
            env.aws
                .as_ref()
                .and_then(|a| a.profile.as_ref())
                .map_or(String::new(), |p| format!(" (profile {p})")),
            env.services.len(),
            if env.services.len() == 1 { "" } else { "s" },
            g.checks.len(),
            if g.checks.len() == 1 { "" } else { "s" },
            g.approvals_required,
            if g.approvals_required == 1 { "" } else { "s" },
            if g.four_eyes { ", four eyes" } else { "" },
            if g.change_record.is_some() {
                ", change record"
            } else {
                ""
            },
            if g.freeze.is_empty() {
                String::new()
            } else {
                format!(", {} freeze window(s)", g.freeze.len())
            },
        ));
    }
    let log = crate::logging::log_path()
        .map_or_else(|| "(none)".to_string(), |p| p.display().to_string());
    out.push_str(&format!("log file: {log}\n"));
    // Old spellings work; each is named with the new one.
    for note in &cfg.notes {
        out.push_str(&format!("note: {}\n", crate::model::sanitize(note)));
    }
    term::out(&out);
    EXIT_OK
}
