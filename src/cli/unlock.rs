//! `shipdeck unlock`: break a stale promotion lock, after confirmation, recorded first.

use std::io::IsTerminal;

use super::setup::{config_or_demo, known_service, state_for, who};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};

pub(crate) async fn run_unlock(cli: &Cli, env: &str, service: &str, yes: bool, demo: bool) -> i32 {
    let cfg = match config_or_demo(cli, demo, None) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    if let Err(e) = known_service(&cfg, env, service) {
        eprint_error(&e);
        return EXIT_USAGE;
    }
    let (ledger, locks) = match state_for(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    // In team mode the operator is the STS caller: without one, the table is
    // not touched, and the refusal says why (exit 2).
    let early = match &cfg.team {
        Some(_) => match who(&cfg).await {
            Ok(me) => Some(me),
            Err(e) => {
                eprint_error(&e);
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let now = chrono::Utc::now();
    let info = match locks.holder(env, service) {
        Ok(Some(info)) => info,
        Ok(None) => {
            term::outln(&format!("{service} in {env} is not locked"));
            return EXIT_OK;
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let Some(why) = crate::lock::staleness(&info, now) else {
        eprint_error(&format!(
            "{service} in {env} is held by {} (pid {} on {}) since {} and is not stale; it is not broken",
            info.owner,
            info.pid,
            info.host,
            info.since.format("%Y-%m-%d %H:%M:%S UTC")
        ));
        return EXIT_DEGRADED;
    };
    term::outln(&format!(
        "lock on {service} in {env}: {} (pid {} on {}) for a {} since {}\nstale because {why}",
        info.owner,
        info.pid,
        info.host,
        info.purpose,
        info.since.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprint_error("confirmation needed: run in a terminal, or pass --yes");
            return EXIT_USAGE;
        }
        term::out(&format!("type the service name ({service}) to break it: "));
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() || answer.trim() != service {
            term::outln("not broken");
            return EXIT_DEGRADED;
        }
    }
    let me = match early {
        Some(me) => me,
        None => match who(&cfg).await {
            Ok(me) => me,
            Err(e) => {
                eprint_error(&e);
                return EXIT_USAGE;
            }
        },
    };
    // Record first: the audit trail must hold the break before it happens.
    let draft = crate::ledger::Draft {
        operator: me.clone(),
        env: Some(env.to_string()),
        service: Some(service.to_string()),
        reasons: vec![format!(
            "broke stale lock of {} (pid {} on {}, since {}): {why}",
            info.owner, info.pid, info.host, info.since
        )],
        ..crate::ledger::Draft::default()
    };
    if let Err(e) = ledger.append(crate::ledger::RecordKind::LockBroken, draft, now) {
        eprint_error(&e.to_string());
        return EXIT_DEGRADED;
    }
    match locks.break_stale(env, service, &info) {
        Ok(()) => {
            term::outln(&format!(
                "lock broken by {me}; recorded in {}",
                ledger.path().display()
            ));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}
