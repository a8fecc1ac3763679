//! `shipdeck smoke ENV`: an environment's smoke checks, one verdict each.

use super::setup::{config_or_usage, secrets_for_run};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};

pub(crate) async fn run_smoke(
    cli: &Cli,
    env: &str,
    json: bool,
    deadline: std::time::Duration,
) -> i32 {
    let cfg = match config_or_usage(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(env_cfg) = cfg.env(env) else {
        eprint_error(&format!(
            "unknown environment \"{env}\"; known: {}",
            cfg.env_names().join(", ")
        ));
        return EXIT_USAGE;
    };
    if env_cfg.smoke.is_empty() {
        eprint_error(&format!(
            "environment \"{env}\" has no smoke checks; add [[environment.smoke]] tables"
        ));
        return EXIT_USAGE;
    }
    let client = match crate::health::client() {
        Ok(c) => c,
        Err(e) => {
            eprint_error(&e);
            return EXIT_DEGRADED;
        }
    };
    let secrets = secrets_for_run();
    let results = crate::health::run_smoke(&client, &env_cfg.smoke, &secrets, deadline).await;
    let failed = results.iter().filter(|r| !r.passed).count();
    let text = if json {
        term::json(&results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    } else {
        let mut out = String::new();
        for r in &results {
            out.push_str(&format!(
                "{} {}: {}\n",
                if r.passed { "✓" } else { "✗" },
                r.name,
                r.reason
            ));
        }
        out.push_str(&format!(
            "{} passed, {failed} failed\n",
            results.len() - failed
        ));
        out
    };
    if json {
        term::out_styled(&text);
    } else {
        term::out(&text);
    }
    if failed == 0 { EXIT_OK } else { EXIT_DEGRADED }
}
