//! What a promotion does to a group of machines, call by call, on any
//! [`FlyApi`]: choose the machines and refuse before any write (a host not
//! ok, a machine mid-change, a mix, no started machine to canary), take
//! every lease or none (a lease held elsewhere names its holder), update one
//! machine under its lease, wait for it to start with its checks passing,
//! and release the leases. The runner ([`super::runner`]) strings them
//! together.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api::{FlyApi, Lease, LeaseError, MachineView, UpdateBody};
use crate::config::fly::FlyService;
use crate::model::Revision;
use crate::model::text::fold_line;
use crate::provider::ProviderError;

/// The metadata key an update writes: the run that put the image there.
pub const RUN_KEY: &str = "shipdeck_run";
/// The metadata key an update writes: the digest the machine ran before
/// shipdeck's run (so a later process knows the way back).
pub const FROM_KEY: &str = "shipdeck_from";

/// Process groups that are not the app's service (flyctl's `ListActive`).
const NOT_SERVING: [&str; 2] = ["fly_app_release_command", "fly_app_console"];

/// The revision a Fly service runs when its machines run `digest`: the
/// reading's ([`super::snapshot::revision`]), so that a deploy's answer and
/// the readings name the same one.
pub fn revision(f: &FlyService, digest: &str) -> Revision {
    match crate::model::Digest::parse(digest) {
        Ok(d) => super::snapshot::revision(&f.app, f.group.as_deref(), &d),
        Err(_) => Revision::labelled(
            &super::snapshot::family(&f.app, f.group.as_deref()),
            &fold_line(digest),
        ),
    }
}

/// The machines of `group` (every serving machine when `None`), alive,
/// sorted by id.
pub fn members(machines: &[MachineView], group: Option<&str>) -> Vec<MachineView> {
    let mut out: Vec<MachineView> = machines
        .iter()
        .filter(|m| !matches!(m.state.as_str(), "destroyed" | "destroying"))
        .filter(|m| !m.group().is_some_and(|g| NOT_SERVING.contains(&g)))
        .filter(|m| group.is_none_or(|g| m.group() == Some(g)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A machine as people name it: `148ed726c5d918 (fra)`.
pub fn named(m: &MachineView) -> String {
    format!("{} ({})", fold_line(&m.id), fold_line(&m.region))
}

/// One machine a run updates, as it was before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its id.
    pub id: String,
    /// Its region.
    pub region: String,
    /// It was stopped (autostop): updated without being started.
    pub stopped: bool,
}

impl Target {
    fn of(m: &MachineView) -> Self {
        Self {
            id: m.id.clone(),
            region: m.region.clone(),
            stopped: matches!(m.state.as_str(), "stopped" | "suspended"),
        }
    }
}

/// What a run will do: the machines, in the order they are updated (a
/// promotion's first is its canary), and the digest they ran before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every machine of the group (each is leased).
    pub group: Vec<String>,
    /// The machines to update, in order.
    pub order: Vec<Target>,
    /// The digest the group ran (a promotion's is one digest).
    pub from: Option<String>,
}

fn refuse(app: &str, why: &str) -> ProviderError {
    ProviderError::Conflict {
        message: format!("{}: {why}; nothing was changed", fold_line(app)),
    }
}

/// A machine whose state cannot be trusted: its host is not ok, or its
/// config was not read whole (and an update must send it whole).
fn unknown(m: &MachineView) -> Option<String> {
    if m.is_known() {
        return None;
    }
    match m.host_status.as_deref() {
        Some(h) if h != "ok" => Some(format!(
            "machine {} is on a host that is {}: its state is unknown",
            named(m),
            fold_line(h)
        )),
        _ => Some(format!(
            "machine {}'s config could not be read whole",
            named(m)
        )),
    }
}

/// A promotion of `digest` into the group as read (`machines`, from
/// [`members`]): refused before any write unless every host is ok, no
/// machine is changing, all run one digest, and one is started to be the
/// canary (the lowest id of the started ones); the rest follow by id.
pub fn promotion(app: &str, machines: &[MachineView], digest: &str) -> Result<Plan, ProviderError> {
    if machines.is_empty() {
        return Err(refuse(app, "the group has no machine to update"));
    }
    for m in machines {
        if let Some(why) = unknown(m) {
            return Err(refuse(app, &why));
        }
        if m.is_transient() || m.state == "failed" {
            return Err(refuse(
                app,
                &format!(
                    "machine {} is {}: a change is in flight",
                    named(m),
                    fold_line(&m.state)
                ),
            ));
        }
    }
    let mut runs: BTreeMap<&str, usize> = BTreeMap::new();
    for m in machines {
        *runs
            .entry(m.digest().unwrap_or("no known image"))
            .or_default() += 1;
    }
    if runs.len() > 1 {
        let said: Vec<String> = runs
            .iter()
            .map(|(d, n)| format!("{n} run {}", fold_line(d)))
            .collect();
        return Err(refuse(
            app,
            &format!(
                "a deploy is in flight: of {} machines, {}",
                machines.len(),
                said.join(", ")
            ),
        ));
    }
    let from = machines.first().and_then(MachineView::digest);
    let Some(from) = from else {
        return Err(refuse(app, "the image its machines run is unknown"));
    };
    if from == digest {
        return Err(refuse(app, &format!("every machine already runs {digest}")));
    }
    let Some(canary) = machines.iter().find(|m| m.state == "started") else {
        return Err(refuse(app, "no machine is started to be the canary"));
    };
    let mut order = vec![Target::of(canary)];
    order.extend(
        machines
            .iter()
            .filter(|m| m.id != canary.id)
            .map(Target::of),
    );
    Ok(Plan {
        group: machines.iter().map(|m| m.id.clone()).collect(),
        order,
        from: Some(from.to_string()),
    })
}

/// A way back to `digest`: every machine that does not run it, by id, no
/// canary. Machines mid-change are updated back too (a rollback is what a
/// person or an abort wants, whatever happened); a host that is not ok is
/// still refused (its config is not known whole).
pub fn way_back(app: &str, machines: &[MachineView], digest: &str) -> Result<Plan, ProviderError> {
    for m in machines {
        if let Some(why) = unknown(m) {
            return Err(refuse(app, &why));
        }
    }
    let from = machines
        .iter()
        .filter_map(MachineView::digest)
        .find(|d| *d != digest)
        .map(str::to_string);
    Ok(Plan {
        group: machines.iter().map(|m| m.id.clone()).collect(),
        order: machines
            .iter()
            .filter(|m| m.digest() != Some(digest))
            .map(Target::of)
            .collect(),
        from,
    })
}

/// The leases a run holds, by machine id.
pub type Leases = BTreeMap<String, Lease>;

/// When a lease lapses, as a person reads it.
fn until(expires_at: i64) -> String {
    DateTime::<Utc>::from_timestamp(expires_at, 0).map_or_else(
        || "an unknown time".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Takes the lease of every machine of `ids` (sorted), saying what for;
/// all or none: a lease held elsewhere releases the ones taken and is
/// refused naming the machine, its region, the holder and until when.
pub async fn lease_all<A: FlyApi>(
    api: &A,
    app: &str,
    machines: &[MachineView],
    ids: &[String],
    ttl: Duration,
    description: &str,
) -> Result<Leases, ProviderError> {
    let mut taken = Leases::new();
    for id in ids {
        match api.acquire_lease(app, id, ttl, description).await {
            Ok(l) => {
                taken.insert(id.clone(), l);
            }
            Err(e) => {
                release_all(api, app, &taken).await;
                let region = machines
                    .iter()
                    .find(|m| &m.id == id)
                    .map_or_else(|| "?".to_string(), |m| fold_line(&m.region));
                return Err(held(api, app, id, &region, e).await);
            }
        }
    }
    Ok(taken)
}

/// A lease that could not be taken, in words: who holds it and until when
/// (asked of the API when the refusal did not say).
async fn held<A: FlyApi>(
    api: &A,
    app: &str,
    id: &str,
    region: &str,
    e: LeaseError,
) -> ProviderError {
    let (mut owner, mut expires_at, mut description, message) = match e {
        LeaseError::Held {
            owner,
            expires_at,
            description,
            message,
            ..
        } => (owner, expires_at, description, message),
        LeaseError::Api(
            p @ (ProviderError::Throttled { .. }
            | ProviderError::Auth { .. }
            | ProviderError::Network { .. }),
        ) => return p,
        LeaseError::Api(other) => {
            return ProviderError::Conflict {
                message: format!(
                    "{}: the lease of machine {} ({region}) could not be taken: {}; nothing was changed",
                    fold_line(app),
                    fold_line(id),
                    fold_line(&other.to_string())
                ),
            };
        }
    };
    if (owner.is_empty() || expires_at == 0)
        && let Ok(Some(l)) = api.lease(app, id).await
    {
        owner = l.owner;
        expires_at = l.expires_at;
        description = l.description;
    }
    let holder = if owner.is_empty() {
        format!("someone (the API said: {})", fold_line(&message))
    } else {
        fold_line(&owner)
    };
    let what = if description.is_empty() {
        String::new()
    } else {
        format!(" (\"{}\")", fold_line(&description))
    };
    ProviderError::Conflict {
        message: format!(
            "{}: machine {} ({region}) is leased by {holder}{what} until {}: another deploy holds it; nothing was changed",
            fold_line(app),
            fold_line(id),
            until(expires_at)
        ),
    }
}

/// Releases every lease of `leases` (a lease already gone is fine), each
/// tried a few times; what could not be released lapses at its expiry.
pub async fn release_all<A: FlyApi>(api: &A, app: &str, leases: &Leases) -> Vec<String> {
    let mut kept = Vec::new();
    for (id, l) in leases {
        let mut tries = 0;
        loop {
            tries += 1;
            match api.release_lease(app, id, &l.nonce).await {
                Ok(()) | Err(ProviderError::NotFound { .. }) => break,
                Err(e) if tries < 3 && e.is_transient() => {}
                Err(e) => {
                    tracing::warn!(app, machine = %id, error = %e, "a lease was not released; it lapses at its expiry");
                    kept.push(id.clone());
                    break;
                }
            }
        }
    }
    kept
}

/// Refreshes every lease of `leases`: `Err` names the machine whose lease
/// was lost (refused, or answered with another nonce).
pub async fn refresh_all<A: FlyApi>(
    api: &A,
    app: &str,
    leases: &mut Leases,
    ttl: Duration,
) -> Result<(), String> {
    for (id, l) in leases.iter_mut() {
        match api.refresh_lease(app, id, &l.nonce, ttl).await {
            Ok(new) if new.nonce == l.nonce => *l = new,
            Ok(_) => {
                return Err(format!(
                    "the lease of machine {} was lost (a refresh answered another nonce)",
                    fold_line(id)
                ));
            }
            Err(LeaseError::Held { owner, .. }) => {
                return Err(format!(
                    "the lease of machine {} was lost{}",
                    fold_line(id),
                    if owner.is_empty() {
                        String::new()
                    } else {
                        format!(" to {}", fold_line(&owner))
                    }
                ));
            }
            Err(LeaseError::Api(e)) => {
                return Err(format!(
                    "the lease of machine {} could not be refreshed: {}",
                    fold_line(id),
                    fold_line(&e.to_string())
                ));
            }
        }
    }
    Ok(())
}

/// The body of an update of `m` to `image`: its whole config as read, only
/// the image and shipdeck's metadata changed, at the instance it was read.
pub fn update_body(
    m: &MachineView,
    image: &str,
    run: &str,
    from: Option<&str>,
    skip_launch: bool,
) -> Result<UpdateBody, String> {
    let mut config = m.config.clone();
    let Some(obj) = config.as_object_mut() else {
        return Err(format!("machine {}'s config is not an object", named(m)));
    };
    obj.insert("image".to_string(), serde_json::Value::from(image));
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(RUN_KEY.to_string(), serde_json::Value::from(run));
        // A pause's markers never travel with a config to its next instance.
        meta.remove(super::marker::PAUSE_KEY);
        meta.remove(super::marker::DECISION_KEY);
        match from {
            Some(f) => meta.insert(FROM_KEY.to_string(), serde_json::Value::from(f)),
            None => meta.remove(FROM_KEY),
        };
    }
    Ok(UpdateBody {
        config,
        current_version: Some(m.instance_id.clone()).filter(|v| !v.is_empty()),
        skip_launch,
    })
}

/// Why a machine did not come up on the new image.
pub fn exit_of(m: &MachineView) -> String {
    let exit = m.events.iter().find(|e| e.kind == "exit");
    let code = exit
        .and_then(|e| e.request.get("exit_event"))
        .and_then(|x| x.get("exit_code"))
        .and_then(serde_json::Value::as_i64);
    let oom = exit
        .and_then(|e| e.request.get("exit_event"))
        .and_then(|x| x.get("oom_killed"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    match (code, oom) {
        (_, true) => format!(
            "machine {} is {} after it ran out of memory",
            named(m),
            fold_line(&m.state)
        ),
        (Some(c), false) => format!(
            "machine {} is {}: it exited with code {c}",
            named(m),
            fold_line(&m.state)
        ),
        (None, false) => format!(
            "machine {} is {} instead of started",
            named(m),
            fold_line(&m.state)
        ),
    }
}

/// How many checks a machine's config defines (its own, and its services').
pub fn configured_checks(m: &MachineView) -> usize {
    let own = m
        .config
        .get("checks")
        .and_then(serde_json::Value::as_object)
        .map_or(0, serde_json::Map::len);
    let services = m
        .config
        .get("services")
        .and_then(serde_json::Value::as_array)
        .map_or(0, |s| {
            s.iter()
                .filter_map(|s| s.get("checks").and_then(serde_json::Value::as_array))
                .map(Vec::len)
                .sum()
        });
    own + services
}

/// The checks a machine reports, without flyctl's compat checks.
pub fn checks(m: &MachineView) -> impl Iterator<Item = &super::api::CheckView> {
    m.checks
        .iter()
        .filter(|c| !c.name.starts_with("bg_deployments_compat"))
}

/// How a machine's checks read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    /// Every check reports passing (or none is configured).
    Passing(usize),
    /// Not yet: results missing, or one warning or critical.
    Pending,
    /// These checks are critical, with what they saw.
    Critical(Vec<(String, String)>),
}

/// Reads `m`'s checks.
pub fn read_checks(m: &MachineView) -> Checks {
    let configured = configured_checks(m);
    let seen: Vec<_> = checks(m).collect();
    let critical: Vec<(String, String)> = seen
        .iter()
        .filter(|c| c.status == "critical")
        .map(|c| (fold_line(&c.name), fold_line(&c.output)))
        .collect();
    if !critical.is_empty() {
        return Checks::Critical(critical);
    }
    if seen.len() < configured || seen.iter().any(|c| c.status != "passing") {
        return Checks::Pending;
    }
    Checks::Passing(seen.len())
}

/// A step as the ledger records it.
pub fn step_line(t: &Target, digest: &str, rollback: bool, checks: usize, canary: bool) -> String {
    let what = match (rollback, canary) {
        (true, _) => "back to ",
        (false, true) => "(canary) → ",
        (false, false) => "→ ",
    };
    let state = if t.stopped {
        "stopped (autostop), not started".to_string()
    } else {
        format!("started · checks {checks}/{checks} passing")
    };
    format!(
        "machine {} ({}) {what}{} · {state}",
        fold_line(&t.id),
        fold_line(&t.region),
        fold_line(digest)
    )
}

#[cfg(test)]
#[path = "steps_tests.rs"]
pub(crate) mod tests;
