//! Fly's own words: what a promotion changes (the machines' image, canary
//! first, then the rest), what a rollback does, where an environment's apps
//! are reached.

use super::api::{EventView, MachineView, RunView};
use super::snapshot::Judged;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{DeployWords, DetailLine, Digest, Revision, ServiceSnapshot};

/// Where an environment's Fly apps are reached: the Machines API's host.
pub fn location(env: &EnvConfig) -> String {
    let url = env
        .fly
        .as_ref()
        .map_or(crate::config::fly::DEFAULT_API_URL, |f| f.api_url.as_str());
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
        })
        .unwrap_or_else(|| url.to_string());
    format!("fly {host}")
}

/// Fly never rolls a deploy back by itself.
pub const SELF_ROLLBACK: Option<&str> = None;

/// How a service on Fly rolls out.
pub fn strategy(c: &crate::model::DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// What promoting `digest` into `svc` does: the image the machines run now
/// with its commit and source labels, the one they will run, each machine
/// with its region, the regions counted, and the steps at this service's pace.
pub fn deploy(
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let Some(f) = svc.fly.as_deref() else {
        return DeployWords {
            diff: vec![format!("{} has no [environment.service.fly]", svc.name)],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let app = crate::model::sanitize(&f.app);
    let provenance = now
        .and_then(|s| s.image.as_ref())
        .and_then(crate::model::ImageRef::provenance)
        .map_or_else(String::new, |p| format!(" · {p}"));
    let current = now
        .and_then(|s| s.digest.as_ref())
        .map_or_else(|| "its current image".to_string(), ToString::to_string);
    let new = digest.map_or_else(|| "the promoted image".to_string(), ToString::to_string);
    let mut diff = vec![
        format!("- machines of {app} run {current}{provenance}"),
        format!("+ machines of {app} run {new}"),
    ];
    if let Some(places) = now.and_then(|s| s.regions.as_deref())
        && !places.is_empty()
    {
        let machines: Vec<String> = places
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    short_id(&p.unit),
                    crate::model::sanitize(&p.region)
                )
            })
            .collect();
        diff.push(format!("  machines: {}", machines.join(", ")));
        diff.push(format!("  regions: {}", regions(places)));
    }
    let total = now.map_or(0, |s| s.desired as usize);
    let batch = f.max_unavailable.size(total);
    let hold = humantime::format_duration(f.hold);
    DeployWords {
        diff,
        steps: vec![
            format!(
                "1. lease every machine of {app} (a concurrent deploy is refused, naming who holds it)"
            ),
            format!(
                "2. update one started machine (the canary) and wait for it to start with its checks passing, then hold {}",
                humantime::format_duration(f.canary_hold)
            ),
            format!(
                "3. update the rest {} at a time, holding {hold} after each batch and judging the abort rules between them",
                if batch == 1 {
                    "one".to_string()
                } else {
                    batch.to_string()
                }
            ),
        ],
        watch_step: "4.".to_string(),
    }
}

/// `fra ×2, ams ×2`: each region with its machines, in the order first seen.
pub(crate) fn regions(places: &[crate::model::Placement]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for p in places {
        let r = crate::model::sanitize(&p.region);
        match counts.iter_mut().find(|(c, _)| *c == r) {
            Some((_, n)) => *n += 1,
            None => counts.push((r, 1)),
        }
    }
    counts
        .iter()
        .map(|(r, n)| format!("{r} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What rolling `svc` back to `to` does.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    svc.fly.as_deref().map_or_else(
        || format!("{} has no [environment.service.fly]", svc.name),
        |f| {
            format!(
                "every machine of {} that runs another image is updated back to {to}, under its lease, then watched like a deploy.",
                f.app
            )
        },
    )
}

/// How a service on Fly rolls out, in the deployment config's words.
pub const STRATEGY: &str = "canary machine, then batches (Machines API)";

/// The first 12 characters of a machine id (they are 14 hex).
pub(crate) fn short_id(id: &str) -> String {
    crate::model::sanitize(id).chars().take(12).collect()
}

/// `148ed726c5d9 fra started 1111aaaa2222 v12 checks 1/1 ✓`: one machine
/// (its id and digest short, so that the line fits the detail pane), warned when a check is critical, its host is not `ok` or it
/// is cordoned.
pub(crate) fn machine_line(j: &Judged<'_>) -> DetailLine {
    let m = j.m;
    let digest = j
        .digest
        .as_ref()
        .map_or_else(|| "digest unknown".to_string(), |d| d.short().to_string());
    let release = m
        .release_version()
        .map_or_else(String::new, |v| format!(" v{}", crate::model::sanitize(v)));
    let checks = if j.reported == 0 && j.defined == 0 {
        String::new()
    } else {
        let mark = if j.critical.is_some() {
            " ✗"
        } else if j.checks_ok() && j.reported > 0 && j.known {
            // A host that is not ok may report stale results: no ✓ then.
            " ✓"
        } else {
            ""
        };
        format!(" checks {}/{}{mark}", j.passing, j.reported.max(j.defined))
    };
    let mut notes = Vec::new();
    if let Some(c) = j.critical {
        notes.push(format!(
            "check {} critical: {}",
            crate::model::sanitize(&c.name),
            super::http::clip(&c.output)
        ));
    }
    if !j.known {
        notes.push(match m.host_status.as_deref() {
            Some(h) if h != "ok" => format!("host {}: not read whole", crate::model::sanitize(h)),
            _ => "config incomplete: not read whole".to_string(),
        });
    }
    if m.cordoned {
        notes.push("cordoned".to_string());
    }
    if m.state == "failed" {
        notes.push("failed".to_string());
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    let text = format!(
        "{} {} {} {digest}{release}{checks}{notes}",
        short_id(&m.id),
        crate::model::sanitize(&m.region),
        crate::model::sanitize(&m.state),
    );
    DetailLine::new("machine", text)
        .warn_if(j.critical.is_some() || !j.known || m.cordoned || m.state == "failed")
}

/// The detail pane's lines: why the service is unknown, the canary of a
/// run in flight, each machine (the image and its labels are the pane's own
/// `image` line, from the snapshot's image).
pub(crate) fn detail_lines(
    judged: &[Judged<'_>],
    run: Option<&RunView>,
    unknown: Option<&str>,
) -> Vec<DetailLine> {
    let mut lines = Vec::new();
    if let Some(why) = unknown {
        lines.push(DetailLine::new("unknown", why.to_string()).warn_if(true));
    }
    if let Some(run) = run.filter(|r| r.ended.is_none())
        && let Some(c) = &run.canary
    {
        let region = judged
            .iter()
            .find(|j| &j.m.id == c)
            .map_or_else(String::new, |j| {
                format!(" ({})", crate::model::sanitize(&j.m.region))
            });
        lines.push(DetailLine::new(
            "canary",
            format!(
                "{}{region} · {} of {} machines updated",
                short_id(c),
                run.updated.len(),
                run.total
            ),
        ));
    }
    lines.extend(judged.iter().map(machine_line));
    lines
}

/// Why the machines have not settled, or are not known: `1 machine
/// replacing`, `check health critical on 148ed726c5d9 (fra)`, `host of
/// 3d8d413b29d0 unreachable`; `None` when they have.
pub(crate) fn not_settled(
    app: &str,
    group: Option<&str>,
    judged: &[Judged<'_>],
    unknown: &[&Judged<'_>],
    failing: &[&Judged<'_>],
) -> Option<String> {
    let mut why = Vec::new();
    if judged.is_empty() {
        why.push(format!(
            "{} has no machines{}",
            crate::model::sanitize(app),
            group.map_or_else(String::new, |g| format!(
                " in process group {}",
                crate::model::sanitize(g)
            ))
        ));
    }
    for j in unknown {
        why.push(match j.m.host_status.as_deref() {
            Some(h) if h != "ok" => format!(
                "machine {} ({}) is on a host {}: its state is not known",
                short_id(&j.m.id),
                crate::model::sanitize(&j.m.region),
                crate::model::sanitize(h)
            ),
            _ if j.digest.is_none() => format!(
                "machine {} ({}) names no image digest",
                short_id(&j.m.id),
                crate::model::sanitize(&j.m.region)
            ),
            _ => format!(
                "machine {} ({}): its config could not be fully read",
                short_id(&j.m.id),
                crate::model::sanitize(&j.m.region)
            ),
        });
    }
    let transient: Vec<&Judged<'_>> = judged.iter().filter(|j| j.transient).collect();
    if !transient.is_empty() {
        let states: Vec<String> = transient
            .iter()
            .map(|j| {
                format!(
                    "{} {}",
                    short_id(&j.m.id),
                    crate::model::sanitize(&j.m.state)
                )
            })
            .collect();
        why.push(format!("machines on their way: {}", states.join(", ")));
    }
    for j in failing {
        why.push(match j.critical {
            Some(c) => format!(
                "check {} critical on {} ({}): {}",
                crate::model::sanitize(&c.name),
                short_id(&j.m.id),
                crate::model::sanitize(&j.m.region),
                super::http::clip(&c.output)
            ),
            None => format!(
                "checks of {} ({}) not passing yet ({}/{})",
                short_id(&j.m.id),
                crate::model::sanitize(&j.m.region),
                j.passing,
                j.reported.max(j.defined)
            ),
        });
    }
    for j in judged.iter().filter(|j| j.m.state == "failed") {
        why.push(format!(
            "machine {} ({}) failed",
            short_id(&j.m.id),
            crate::model::sanitize(&j.m.region)
        ));
    }
    let mut digests: Vec<String> = judged
        .iter()
        .filter_map(|j| j.digest.as_ref().map(|d| d.short().to_string()))
        .collect();
    digests.sort();
    digests.dedup();
    if digests.len() > 1 {
        why.push(format!(
            "machines run {} images: {}",
            digests.len(),
            digests.join(", ")
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// One machine event for the timeline: `148ed726c5d9 (fra) exit (exit code
/// 1, out of memory) by flyd`.
pub(crate) fn event(m: &MachineView, e: &EventView) -> String {
    let exit = e.request.get("exit_event");
    let code = exit
        .and_then(|x| x.get("exit_code"))
        .and_then(serde_json::Value::as_i64);
    let oom = exit
        .and_then(|x| x.get("oom_killed"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut tail = Vec::new();
    if let Some(c) = code {
        tail.push(format!("exit code {c}"));
    }
    if oom {
        tail.push("out of memory".to_string());
    }
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!(" ({})", tail.join(", "))
    };
    let source = if e.source.is_empty() {
        String::new()
    } else {
        format!(" by {}", crate::model::sanitize(&e.source))
    };
    format!(
        "{} ({}) {} {}{tail}{source}",
        short_id(&m.id),
        crate::model::sanitize(&m.region),
        crate::model::sanitize(&e.kind),
        crate::model::sanitize(&e.status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_diff_names_the_labels_each_machine_its_region_and_the_pace() {
        let cfg = crate::config::parse_str(
            r#"
[[environment]]
name = "prod"
platform = "fly"
[environment.fly]
token = "${secret:FLY_API_TOKEN}"
max_unavailable = 2
canary_hold = "5m"
hold = "1m"
[[environment.service]]
name = "edge"
[environment.service.fly]
app = "edge-prod"
"#,
            "t.toml",
            None,
        )
        .unwrap();
        let svc = &cfg.environments[0].services[0];
        let old = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
        let new = Digest::parse(&format!("sha256:{}", "2".repeat(64))).unwrap();
        let mut now = ServiceSnapshot::bare("edge", "edge-prod");
        now.digest = Some(old.clone());
        now.desired = 4;
        now.image = Some(crate::model::ImageRef {
            registry: Some("registry.fly.io".into()),
            repository: "edge-prod".into(),
            tag: None,
            digest: Some(old.clone()),
            version: None,
            revision: Some("9f8e7d6c5b4a3928".into()),
            source: Some("https://github.com/acme/edge".into()),
            created: None,
        });
        now.regions = Some(
            [
                ("148ed726c5d910", "fra"),
                ("148ed726c5d911", "fra"),
                ("3d8d413b29d089", "ams"),
                ("3d8d413b29d090", "ams"),
            ]
            .into_iter()
            .map(|(u, r)| crate::model::Placement::new(u, r))
            .collect(),
        );
        let w = deploy(svc, Some(&now), Some(&new));
        assert_eq!(
            w.diff,
            [
                format!("- machines of edge-prod run {old} · commit 9f8e7d6 · github.com/acme/edge"),
                format!("+ machines of edge-prod run {new}"),
                "  machines: 148ed726c5d9 (fra), 148ed726c5d9 (fra), 3d8d413b29d0 (ams), 3d8d413b29d0 (ams)".to_string(),
                "  regions: fra ×2, ams ×2".to_string(),
            ]
        );
        let steps = w.steps.join("\n");
        assert!(steps.contains("then hold 5m"), "{steps}");
        assert!(
            steps.contains("update the rest 2 at a time, holding 1m"),
            "{steps}"
        );
    }
}
