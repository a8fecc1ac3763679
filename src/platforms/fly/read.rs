//! One reading of an environment's Fly services: one `GET
//! /v1/apps/{app}/machines` per app (a process group is filtered here, so
//! two services of one app cost one request), several apps at once within
//! the environment's in-flight limit, each service built by the one
//! snapshot builder. An app that cannot be read is that service unknown,
//! with its reason; a token the API refuses fails the whole reading (every
//! app would answer the same).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::api::{FlyApi, MachineView, RunView};
use super::snapshot::{FlyReading, service_snapshot, unreadable};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{Health, ServiceSnapshot};
use crate::provider::ProviderError;

/// Process groups that are never a service's machines (flyctl `ListActive`).
const NOT_SERVING: &[&str] = &["fly_app_release_command", "fly_app_console"];

/// The machines of `group` (every group when `None`) that serve: not
/// destroyed, not a release command's or a console's, in id order.
pub fn machines_of(list: &[MachineView], group: Option<&str>) -> Vec<MachineView> {
    let mut out: Vec<MachineView> = list
        .iter()
        .filter(|m| !matches!(m.state.as_str(), "destroyed" | "destroying"))
        .filter(|m| !m.group().is_some_and(|g| NOT_SERVING.contains(&g)))
        // A machine whose host is not ok comes without its config, so its
        // group is not known: kept, so that the service is unknown rather
        // than green without it.
        .filter(|m| group.is_none_or(|g| m.group() == Some(g) || unplaced(m)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A machine whose config did not come (its host is not ok).
fn unplaced(m: &MachineView) -> bool {
    m.config.is_null() && m.host_status.as_deref().is_some_and(|h| h != "ok")
}

/// What a service's health is before it is probed.
fn unprobed(svc: &ServiceConfig) -> Health {
    if svc.health.is_some() {
        Health::Unknown
    } else {
        Health::NotConfigured
    }
}

/// Reads every Fly service of `env` through `api`, in configuration order;
/// `run` gives this process's run on a service, if any.
pub async fn read<A: FlyApi>(
    api: &A,
    env: &EnvConfig,
    run: impl Fn(&ServiceConfig) -> Option<RunView>,
    at: DateTime<Utc>,
) -> Result<Vec<ServiceSnapshot>, ProviderError> {
    use futures::StreamExt;
    let services: Vec<(&ServiceConfig, &crate::config::fly::FlyService)> = env
        .services
        .iter()
        .filter_map(|s| Some((s, s.fly.as_deref()?)))
        .collect();
    let mut apps: Vec<&str> = services.iter().map(|(_, f)| f.app.as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    // Made first, then run a few at a time: a stream over a closure
    // borrowing the apps would not be provably Send.
    let reads: Vec<_> = apps
        .into_iter()
        .map(|app| async move { (app, api.list(app).await) })
        .collect();
    let lists: HashMap<&str, Result<Vec<MachineView>, ProviderError>> =
        futures::stream::iter(reads)
            .buffer_unordered(env.max_in_flight.max(1))
            .collect()
            .await;
    // A refused token is refused for every app: said once, for the reading.
    if let Some(Err(e @ ProviderError::Auth { .. })) = lists
        .values()
        .find(|r| matches!(r, Err(ProviderError::Auth { .. })))
    {
        return Err(e.clone());
    }
    let mut out = Vec::with_capacity(services.len());
    for (svc, f) in services {
        let snap = match lists.get(f.app.as_str()) {
            Some(Ok(list)) => {
                let machines = machines_of(list, f.group.as_deref());
                let batch = f.max_unavailable.size(machines.len());
                // This process's run, else one paused elsewhere.
                let run = run(svc).or_else(|| super::marker::paused_run(&machines));
                service_snapshot(
                    &svc.name,
                    FlyReading {
                        app: f.app.clone(),
                        group: f.group.clone(),
                        machines,
                        run,
                        batch,
                        health: unprobed(svc),
                        at,
                    },
                )
            }
            Some(Err(e)) => unreadable(
                &svc.name,
                &f.app,
                f.group.as_deref(),
                &why(e, &f.app),
                unprobed(svc),
                at,
            ),
            None => unreadable(
                &svc.name,
                &f.app,
                f.group.as_deref(),
                "not read",
                unprobed(svc),
                at,
            ),
        };
        out.push(snap);
    }
    Ok(out)
}

/// Why an app could not be read, for its service's line.
fn why(e: &ProviderError, app: &str) -> String {
    match e {
        ProviderError::NotFound { .. } => format!("app {app} not found"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(id: &str, state: &str, group: &str) -> MachineView {
        MachineView {
            id: id.into(),
            state: state.into(),
            config: serde_json::json!({"metadata": {"fly_process_group": group}}),
            ..MachineView::default()
        }
    }

    #[test]
    fn a_group_is_its_serving_machines_in_id_order() {
        let list = vec![
            machine("b", "started", "app"),
            machine("a", "stopped", "app"),
            machine("c", "destroyed", "app"),
            machine("d", "started", "fly_app_release_command"),
            machine("e", "started", "fly_app_console"),
            machine("f", "started", "worker"),
        ];
        let ids = |ms: Vec<MachineView>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(machines_of(&list, Some("app"))), ["a", "b"]);
        assert_eq!(ids(machines_of(&list, None)), ["a", "b", "f"]);
        assert_eq!(ids(machines_of(&list, Some("worker"))), ["f"]);
        assert!(machines_of(&list, Some("web")).is_empty());
        // Its host unreachable, its config not sent: kept in every group.
        let mut off_host = machine("g", "started", "app");
        off_host.config = serde_json::Value::Null;
        off_host.host_status = Some("unreachable".into());
        assert_eq!(ids(machines_of(&[off_host], Some("web"))), ["g"]);
    }
}
