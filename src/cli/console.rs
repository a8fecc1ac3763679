//! The console (`shipdeck`, `shipdeck demo`): checked before the terminal is taken.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::ui::Theme;

use super::setup::{keymap_or_usage, provider_for, secrets_for_run, who};
use super::{EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};

pub(crate) async fn run_console(
    cfg: Result<Config, ConfigError>,
    fleet: Option<super::setup::Demo>,
) -> i32 {
    // Everything that can be wrong is checked before the terminal switches to the TUI.
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            term::errln(&e.to_string());
            return EXIT_USAGE;
        }
    };
    let keymap = match keymap_or_usage(&cfg) {
        Ok(k) => k,
        Err(code) => return code,
    };
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprint_error(
            "the console needs an interactive terminal; use `shipdeck status` in scripts and pipes",
        );
        return EXIT_USAGE;
    }
    let (provider, notice) = match provider_for(&cfg, fleet, Arc::new(SystemClock)) {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::new(cfg.theme, no_color);
    tracing::info!(config = %cfg.source.display(), "console started");
    let me = match who(&cfg).await {
        Ok(me) => me,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let exec = match super::setup::state_for(&cfg) {
        Ok((ledger, locks)) => crate::release::exec::Executor::new(
            provider.clone(),
            cfg.environments.clone(),
            ledger,
            locks,
            me.clone(),
            Arc::new(SystemClock),
        )
        .for_demo(cfg.is_demo()),
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    // Records an earlier run observed but could not write go in first.
    let notice = match (notice, exec.flush_pending()) {
        (Some(n), Some(late)) => Some(format!("{n}; {late}")),
        (n, late) => n.or(late),
    };
    let console = crate::runtime::Console {
        cfg,
        provider: provider.clone(),
        exec,
        keymap,
        operator: me,
        theme,
        secrets: secrets_for_run(),
        notice,
    };
    let result = crate::runtime::run_console(console).await;
    provider.save_cache();
    match result {
        Ok(crate::runtime::Ended::Closed) => EXIT_OK,
        Ok(crate::runtime::Ended::Signalled {
            signal,
            interrupted,
        }) => {
            // The terminal is the shell's again: this is said on it.
            let what = interrupted.map_or_else(String::new, |w| {
                format!("; the {w} goes on unwatched: start shipdeck again to resume watching it")
            });
            term::errln(&format!("shipdeck: stopped by {}{what}", signal.name()));
            signal.exit_code()
        }
        Err(e) => {
            tracing::error!(error = %e, "console failed");
            eprint_error(&format!("the console stopped: {e}"));
            EXIT_DEGRADED
        }
    }
}
