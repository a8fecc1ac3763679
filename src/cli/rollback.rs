//! `shipdeck rollback`: the `r` key as a command, driving the same engine.

use super::error::CliError;
use super::release::{Common, Driver, Report, confirmed, read_service, say};
use crate::config::Config;
use crate::release::{self, Outcome};

/// Runs `shipdeck rollback`.
pub async fn rollback(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    service: &str,
    env: &str,
    common: &Common,
) -> i32 {
    match run(cfg, fleet, operator, service, env, common).await {
        Ok(report) => report.print(common.json),
        Err(e) => e.report(),
    }
}

async fn run(
    cfg: &Config,
    fleet: Option<super::setup::Demo>,
    operator: &str,
    service: &str,
    env_name: &str,
    common: &Common,
) -> Result<Report, CliError> {
    let env = release::env_index(cfg, env_name).map_err(CliError::usage)?;
    super::known_service(cfg, env_name, service).map_err(CliError::usage)?;
    let driver = Driver::new(cfg, fleet, operator, env)?;
    drive(driver, operator, service, env_name, common).await
}

/// `rollback` over a given driver: the command's whole logic.
pub async fn drive(
    mut driver: Driver<'_>,
    operator: &str,
    service: &str,
    env_name: &str,
    common: &Common,
) -> Result<Report, CliError> {
    let cfg = driver.cfg;
    let env = release::env_index(cfg, env_name).map_err(CliError::usage)?;
    let (mut snap, _) = read_service(&driver.provider, cfg, env, service).await?;
    // Readings leave revision histories out where they cost API calls; a
    // rollback reads the one it needs.
    if snap.history.is_empty()
        && let (Some(current), Some(svc)) = (
            snap.task_definition.clone(),
            cfg.environments[env].service(service),
        )
    {
        snap.history = crate::provider::history_with_timeout(
            &driver.provider,
            &cfg.environments[env],
            svc,
            &current,
        )
        .await
        .map_err(|e| {
            CliError::failed(format!(
                "reading the revisions of \"{service}\" in \"{env_name}\" failed: {e}"
            ))
        })?;
    }
    let records = driver.exec.read().map_err(CliError::failed)?;
    let style = release::rollback_style(&cfg.environments[env], service);
    let target =
        release::rollback_target(&records, env_name, &snap, style).map_err(CliError::failed)?;
    say(&format!(
        "roll back {service} in {env_name}: {} ({}) → {} ({}) [{}]",
        snap.task_definition
            .as_ref()
            .map_or_else(|| "?".to_string(), ToString::to_string),
        snap.digest.as_ref().map_or("no digest", |d| d.short()),
        target.revision,
        target.digest.as_ref().map_or("no digest", |d| d.short()),
        target.label()
    ));
    say(&release::rollback_effect(
        &cfg.environments[env],
        service,
        &target,
    ));
    let (watch, effects) = release::start_rollback(
        cfg,
        env,
        service,
        Some(&snap),
        &target,
        operator,
        driver.clock.now(),
    );
    let report = Report {
        action: "rollback",
        service: service.to_string(),
        env: env_name.to_string(),
        from_env: None,
        promotion: Some(watch.promotion.clone()),
        from_revision: snap.task_definition.as_ref().map(ToString::to_string),
        to_revision: Some(target.revision.to_string()),
        digest: target.digest.as_ref().map(ToString::to_string),
        go: None,
        checks: Vec::new(),
        outcome: Outcome::Cancelled,
        reason: None,
        cause: None,
        signal: None,
    };
    if !confirmed(cfg, env, common.yes, "a rollback")? {
        return Ok(report);
    }
    driver.start(watch, effects, common.wait, report).await
}
