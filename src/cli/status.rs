//! `shipdeck status`: read every environment, print the table or JSON.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::status::{self, Filter, Style};

use super::setup::{provider_for, secrets_for_run};
use super::{EXIT_DEGRADED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, StatusArgs, eprint_error, term};

pub(crate) async fn run_status(
    cfg: Result<Config, ConfigError>,
    args: &StatusArgs,
    fleet: Option<super::setup::Demo>,
) -> i32 {
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            term::errln(&e.to_string());
            return EXIT_USAGE;
        }
    };
    let known_envs = cfg.env_names();
    for e in &args.envs {
        if !known_envs.contains(e) {
            eprint_error(&format!(
                "unknown environment \"{e}\" in --env; known: {}",
                known_envs.join(", ")
            ));
            return EXIT_USAGE;
        }
    }
    let known_services = cfg.service_names();
    for s in &args.services {
        if !known_services.contains(s) {
            eprint_error(&format!(
                "unknown service \"{s}\" in --service; known: {}",
                known_services.join(", ")
            ));
            return EXIT_USAGE;
        }
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = match provider_for(&cfg, fleet, clock.clone()) {
        Ok((p, note)) => {
            if let Some(n) = note {
                term::errln(&n);
            }
            p
        }
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let mut readings = status::read_all(&cfg, &provider).await;
    if let Some(w) = provider.cache_warning() {
        term::errln(&format!("warning: {w}"));
    }
    provider.save_cache();
    if cfg.probes_health() {
        let secrets = secrets_for_run();
        match crate::health::client() {
            Ok(client) => {
                status::probe_all(&cfg, &mut readings, &client, &secrets, clock.as_ref()).await;
            }
            Err(e) => tracing::warn!(error = %e, "health probes skipped"),
        }
    }
    for (env, r) in cfg.environments.iter().zip(&readings) {
        match r {
            Ok(s) => {
                tracing::debug!(env = %env.name, services = s.services.len(), "environment read");
            }
            Err(e) => tracing::warn!(env = %env.name, error = %e, "environment read failed"),
        }
    }
    let filter = Filter {
        envs: args.envs.clone(),
        services: args.services.clone(),
    };
    let mut report = status::build(&cfg, &readings, &filter, clock.now());
    // Notifications not delivered lately (issue 32), from the ledger.
    if !cfg.notify.is_empty()
        && let Ok(records) =
            super::setup::state_for(&cfg).and_then(|(l, _)| l.read().map_err(|e| e.to_string()))
    {
        for (env, w) in crate::notify::failures::status_warnings(&records, clock.now()) {
            match report
                .environments
                .iter_mut()
                .find(|e| Some(&e.name) == env.as_ref())
            {
                Some(e) => e.warnings.push(w),
                None => term::errln(&format!("warning: {w}")),
            }
        }
    }
    if let Some(api_calls) = provider.accounting() {
        tracing::debug!(?api_calls, "API calls of this reading");
        report.diagnostics = Some(status::Diagnostics { api_calls });
    }
    let text = if args.json {
        match term::json(&report) {
            Ok(s) => s,
            Err(e) => {
                eprint_error(&format!("cannot encode the report: {e}"));
                return EXIT_DEGRADED;
            }
        }
    } else {
        let color = !args.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        status::render_table(&report, Style { color })
    };
    // The table's cells were sanitised as they were painted; JSON is escaped.
    term::out_styled(&text);
    match report.verdict() {
        status::Verdict::Healthy => EXIT_OK,
        status::Verdict::Degraded => EXIT_DEGRADED,
        status::Verdict::Unknown => EXIT_UNKNOWN,
        status::Verdict::InProgress => status::EXIT_IN_PROGRESS,
    }
}
