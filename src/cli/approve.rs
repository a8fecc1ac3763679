//! `shipdeck approve ID`: an approval from another terminal.

use super::setup::{config_or_demo, who};
use super::{Cli, EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, eprint_error, term};

pub(crate) async fn run_approve(
    cli: &Cli,
    id: &str,
    demo: bool,
    comment: Option<&str>,
    ledger: Option<&std::path::Path>,
    yes: bool,
) -> i32 {
    let (cfg, world) = match config_or_demo(cli, demo, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let l = match ledger.map_or_else(
        || super::setup::state_for(&cfg).map(|(l, _)| l),
        |p| super::setup::usable_ledger(p.to_path_buf()).map(crate::ledger::Ledger::new),
    ) {
        Ok(l) => l,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    // In team mode the operator is the STS caller: without one, nothing is
    // read or written, and the refusal says why (exit 2).
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
    let records = match super::audit::read_warned(&l) {
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
    let now = chrono::Utc::now();
    // What is being approved, before anything is written.
    let approvers =
        crate::approvals::current(&records, id, &req.digest, &env.gate, &req.policy, now);
    let slots = crate::approvals::requirement(&env.gate, req.change_type.as_deref(), req.hotfix);
    let filled = crate::approvals::fill(&slots, &cfg.roles, &approvers);
    let from = req.source(&cfg).unwrap_or_else(|| "?".to_string());
    let kind = match (req.change_type.as_deref(), req.skipped.is_empty()) {
        (Some(t), true) => t.to_string(),
        (Some(t), false) => format!("{t}, skips {}", req.skipped.join(", ")),
        (None, false) => format!("skips {}", req.skipped.join(", ")),
        (None, true) => "-".to_string(),
    };
    let change = records
        .iter()
        .rev()
        .find(|r| r.draft.promotion.as_deref() == Some(id) && r.draft.change_record.is_some())
        .and_then(|r| r.draft.change_record.clone());
    term::outln(&format!(
        "promotion {id}: {} {from} → {}\n  digest      {}\n  initiator   {}\n  type        {kind}\n  change      {}\n  requested   {} ago\n  approvals   {}",
        req.service,
        req.env,
        req.digest,
        req.initiator,
        change.as_deref().unwrap_or("-"),
        humantime::format_duration(std::time::Duration::from_secs(
            (now - req.at).to_std().unwrap_or_default().as_secs()
        )),
        filled.summary(),
    ));
    term::outln(&change_text(&cfg, world, &req).await);
    if crate::approvals::policy_hash(&env.gate) != req.policy {
        eprint_error(&format!(
            "the gate policy of {} changed since promotion {id} was requested; an approval would not count: the initiator starts it again",
            req.env
        ));
        return EXIT_DEGRADED;
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
    // Refusals first: nobody is asked to confirm what would not count.
    if let Err(e) = crate::approvals::precheck(&records, id, &me, &env.gate, &cfg.roles, now) {
        eprint_error(&e.to_string());
        return EXIT_DEGRADED;
    }
    if !yes {
        if !super::release::interactive() {
            eprint_error("approving needs a confirmation: run it in a terminal, or pass --yes");
            return EXIT_USAGE;
        }
        if !super::release::yes(&format!("Approve {id}? [y/N] ")) {
            term::outln("not approved");
            return EXIT_DEGRADED;
        }
    }
    match crate::approvals::approve(&l, id, &me, comment, &env.gate, &cfg.roles, now) {
        Ok((req, rec)) => {
            let roles = if rec.draft.roles.is_empty() {
                String::new()
            } else {
                format!(" as {}", rec.draft.roles.join(", "))
            };
            term::outln(&format!(
                "{me} approved {} of {} into {} ({}){roles}, record {}",
                req.promotion,
                req.service,
                req.env,
                req.digest.get(..19).unwrap_or(&req.digest),
                rec.id
            ));
            // Where it stands now, from the ledger as written.
            if let Ok(records) = l.read()
                && let Some(now_filled) = crate::approvals::progress(&records, &cfg, id, now)
            {
                term::outln(&format!("  approvals   {}", now_filled.summary()));
            }
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}

/// What the approved promotion changes in the target: the same words the
/// initiator's plan showed, in the target platform's words, from a reading of
/// the target now (when it cannot be read, that is said instead, and the
/// approval can still be given).
async fn change_text(
    cfg: &crate::config::Config,
    world: Option<super::setup::Demo>,
    req: &crate::approvals::Request,
) -> String {
    let Some(env) = cfg.env_index(&req.env) else {
        return String::new();
    };
    let Some(svc) = crate::release::service_config(cfg, env, &req.service) else {
        return format!(
            "  diff        \"{}\" is not configured in {}; the digest above is what would be deployed",
            req.service, req.env
        );
    };
    let digest = crate::model::Digest::parse(&req.digest).ok();
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::SystemClock);
    let reading = match super::provider_for(cfg, world, clock) {
        Ok((p, _)) => match super::release::read_service(&p, cfg, env, &req.service).await {
            Ok((now, _)) => Ok((now, release_of(&p, cfg, env, req).await)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.clone()),
    };
    match reading {
        Ok((now, release)) => {
            let target = &cfg.environments[env];
            let mut lines = crate::platforms::deploy_words(
                target,
                svc,
                Some(&now),
                digest.as_ref(),
                release.as_deref(),
            )
            .diff;
            // The traffic steps and their pauses, as the plan showed them.
            lines.extend(crate::release::plan::traffic_lines(
                &now.deployment_config.strategy,
                &target.rollout,
            ));
            let mut text = format!("  diff        {}", lines.join("\n              "));
            // Where the digest was built from, and its signature and scan.
            if let (Some(d), Some(image)) = (digest.as_ref(), now.image.as_ref()) {
                for l in super::supply::approve_lines(cfg, env, &now, &image.pinned_to(d)).await {
                    text.push('\n');
                    text.push_str(&l);
                }
            }
            text
        }
        Err(e) => format!(
            "  diff        cannot read {} now ({e}); the digest above is what would be deployed",
            req.env
        ),
    }
}

/// The release name (tag, version label) of the digest asked for, as the stage
/// before the target names it while it still runs that digest.
async fn release_of(
    provider: &crate::provider::AnyProvider,
    cfg: &crate::config::Config,
    env: crate::config::EnvId,
    req: &crate::approvals::Request,
) -> Option<String> {
    let (source, _) = super::release::read_service(provider, cfg, env.previous()?, &req.service)
        .await
        .ok()?;
    if source.digest.as_ref().map(crate::model::Digest::as_str) != Some(req.digest.as_str()) {
        return None;
    }
    source.image.as_ref()?.release_name()
}
