//! What a promotion or a way back decides before it changes anything, for
//! the Machines API and the simulator alike: from the group's machines and
//! this process's run on the service, whether it goes forward (a canary,
//! holds) or back (every machine not on the digest, or only those a run
//! from it touched, adopting its leases), and the leases it takes.

use chrono::{DateTime, Utc};

use super::api::{FlyApi, MachineView, RunView};
use super::runner::{Control, Pace, Spec};
use super::steps::{self, Leases, Plan};
use crate::config::fly::FlyService;
use crate::model::text::fold_line;
use crate::provider::ProviderError;

/// What was decided, with the leases taken for it.
#[derive(Debug)]
pub struct Chosen {
    /// The machines and the order they are updated in.
    pub plan: Plan,
    /// It is a way back: no canary, no holds, no pause.
    pub rollback: bool,
    /// The leases held for it, by machine.
    pub leases: Leases,
}

/// Reads the group and decides: a way back (adopting this process's run
/// from `digest`, or over a mixed group or machines marked with it), or a
/// promotion; then takes the leases it needs. Refusals change nothing.
pub async fn choose<A: FlyApi>(
    api: &A,
    f: &FlyService,
    running: Option<&Control>,
    (env, service): (&str, &str),
    digest: &str,
    run_id: &str,
    back: bool,
) -> Result<Chosen, ProviderError> {
    let description = format!("shipdeck {run_id} {env}/{service} → {digest}");
    let ttl = f.lease_ttl;
    // This process's run: a way back from it adopts it; anything else waits
    // for it to end.
    if let Some(ctl) = running {
        let view = ctl.view();
        if view.from.as_deref() == Some(digest) && !view.rollback {
            let adopted = ctl.adopt().await;
            let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
            let mut plan = match steps::way_back(&f.app, &machines, digest) {
                Ok(plan) => plan,
                Err(e) => {
                    steps::release_all(api, &f.app, &adopted.leases).await;
                    return Err(e);
                }
            };
            let touched: Vec<&str> = adopted.touched.iter().map(|t| t.id.as_str()).collect();
            plan.order.retain(|t| touched.contains(&t.id.as_str()));
            let mut leases = adopted.leases;
            let missing: Vec<String> = plan
                .order
                .iter()
                .map(|t| t.id.clone())
                .filter(|id| !leases.contains_key(id))
                .collect();
            if !missing.is_empty() {
                match steps::lease_all(api, &f.app, &machines, &missing, ttl, &description).await {
                    Ok(more) => leases.extend(more),
                    Err(e) => {
                        steps::release_all(api, &f.app, &leases).await;
                        return Err(e);
                    }
                }
            }
            // Leases of machines it will not update are not kept.
            let spare: Leases = leases
                .iter()
                .filter(|(id, _)| !plan.order.iter().any(|t| &&t.id == id))
                .map(|(id, l)| (id.clone(), l.clone()))
                .collect();
            steps::release_all(api, &f.app, &spare).await;
            leases.retain(|id, _| !spare.contains_key(id));
            return Ok(Chosen {
                plan,
                rollback: true,
                leases,
            });
        }
        if !ctl.is_finished() {
            return Err(ProviderError::Conflict {
                message: format!(
                    "{}: a run of this shipdeck ({}) is still going; nothing was changed",
                    fold_line(&f.app),
                    view.id
                ),
            });
        }
    }
    let machines = steps::members(&api.list(&f.app).await?, f.group.as_deref());
    let mixed_with_it = machines.iter().any(|m| m.digest() == Some(digest))
        && machines.iter().any(|m| m.digest() != Some(digest));
    let marked = !machines.is_empty()
        && machines
            .iter()
            .all(|m| m.metadata(steps::FROM_KEY) == Some(digest));
    // The engine says when it rolls back; a group half on the digest, or
    // marked as coming from it, is a way back too (a run this process no
    // longer holds, cut off).
    let rollback = back || mixed_with_it || marked;
    let plan = if rollback {
        steps::way_back(&f.app, &machines, digest)?
    } else {
        steps::promotion(&f.app, &machines, digest)?
    };
    let ids: Vec<String> = if rollback {
        plan.order.iter().map(|t| t.id.clone()).collect()
    } else {
        plan.group.clone()
    };
    let leases = steps::lease_all(api, &f.app, &machines, &ids, ttl, &description).await?;
    Ok(Chosen {
        plan,
        rollback,
        leases,
    })
}

impl Chosen {
    /// The run it starts: `id` moves the machines to `digest`, pulled as
    /// `image`, at the service's pace; a promotion pauses after its canary
    /// where the stage's `pause_steps` asks, a way back never does.
    pub fn spec(
        &self,
        id: &str,
        f: &FlyService,
        digest: &str,
        image: String,
        pause_steps: bool,
    ) -> Spec {
        Spec {
            id: id.to_string(),
            app: f.app.clone(),
            digest: digest.to_string(),
            image,
            from: self.plan.from.clone(),
            rollback: self.rollback,
            pause: pause_steps && !self.rollback,
            pace: Pace::of(f),
            order: self.plan.order.clone(),
            group: self.plan.group.len(),
        }
    }
}

/// What a run of `spec` says before it has done anything, `started` then.
pub fn first_view(spec: &Spec, started: DateTime<Utc>) -> RunView {
    RunView {
        id: spec.id.clone(),
        from: spec.from.clone(),
        to: spec.digest.clone(),
        rollback: spec.rollback,
        canary: None,
        updated: Vec::new(),
        total: spec.order.len(),
        paused_since: None,
        steps: Vec::new(),
        ended: None,
        started,
    }
}

/// `registry/repository` of a machine's image.
fn repository_of(m: &MachineView) -> Option<String> {
    let i = m.image_ref.as_ref()?;
    if i.repository.is_empty() {
        return None;
    }
    Some(if i.registry.is_empty() {
        i.repository.clone()
    } else {
        format!("{}/{}", i.registry, i.repository)
    })
}

/// Where the machines pull `digest` from: the service's `image_repository`,
/// else a machine of the group that runs it, else the repository a reading
/// of another stage saw it in (`seen`); on the way back to a digest the group ran
/// before, else the repository the group pulls from now (where it was
/// promoted from before, as the machines' images come from one place).
pub fn repository(
    f: &FlyService,
    machines: &[MachineView],
    digest: &str,
    seen: Option<String>,
    back: bool,
) -> Result<String, ProviderError> {
    if let Some(r) = &f.image_repository {
        return Ok(r.clone());
    }
    if let Some(r) = machines
        .iter()
        .filter(|m| m.digest() == Some(digest))
        .find_map(repository_of)
    {
        return Ok(r);
    }
    if let Some(r) = seen {
        return Ok(r);
    }
    if back && let Some(r) = machines.iter().find_map(repository_of) {
        return Ok(r);
    }
    Err(ProviderError::Other {
        message: format!(
            "{}: no repository is known for {digest} (no reading of another stage showed it): set image_repository in [environment.service.fly]; nothing was changed",
            fold_line(&f.app)
        ),
    })
}
