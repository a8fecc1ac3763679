//! `shipdeck approve ID`: an approval from another terminal.

use super::setup::{config_or_demo, who};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};

pub(crate) async fn run_approve(
    cli: &Cli,
    id: &str,
    demo: bool,
    comment: Option<&str>,
    ledger: Option<&std::path::Path>,
) -> i32 {
    let cfg = match config_or_demo(cli, demo, None) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    let l = match ledger.map_or_else(
        || super::setup::state_for(&cfg).map(|(l, _)| l),
        |p| Ok(crate::ledger::Ledger::new(p)),
    ) {
        Ok(l) => l,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let records = match l.read() {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let Some(req) = crate::approvals::find(&records, id) else {
        eprint_error(&crate::approvals::ApprovalError::NotFound(id.to_string()).to_string());
        return EXIT_DEGRADED;
    };
    let Some(env) = cfg.env(&req.env) else {
        eprint_error(&format!(
            "promotion {id} targets \"{}\", which this configuration does not define",
            req.env
        ));
        return EXIT_USAGE;
    };
    let me = who(&cfg).await;
    match crate::approvals::approve(&l, id, &me, comment, &env.gate, chrono::Utc::now()) {
        Ok((req, rec)) => {
            term::outln(&format!(
                "{me} approved {} of {} into {} ({}), record {}",
                req.promotion,
                req.service,
                req.env,
                req.digest.get(..19).unwrap_or(&req.digest),
                rec.id
            ));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}
