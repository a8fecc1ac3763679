//! The simulated Machines API's state: apps, machines, leases, images and
//! faults, and how a machine moves on with the clock after an update
//! (`replacing` → `started` → checks `passing`), as the stub
//! `tests/support/fly_machines.py` moves it on its timers.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::Digest;
use crate::platforms::fly::api::{CheckView, EventView, ImageRefView, Lease, MachineView};

/// Newest events kept per machine, as the stub keeps them.
const EVENTS_KEPT: usize = 20;
/// The alphabet of instance ids (Crockford's base 32, as ULIDs).
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fault of the simulated Machines API (the stub's `/_stub/fault` kinds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlyFault {
    /// A machine updated to `digest` goes `stopped` with an exit event
    /// (exit code 1), never `started`.
    FailStart {
        /// The image digest that fails.
        digest: String,
    },
    /// Once a machine updated to `digest` has started, its check `check`
    /// goes `critical` `after` its first result.
    CheckCritical {
        /// The image digest whose machines fail the check.
        digest: String,
        /// The check's name.
        check: String,
        /// What the check says (the HTTP failure when not given).
        output: Option<String>,
        /// How long the check passes first.
        after: Duration,
    },
    /// The host of `machine` (of `app`, or of any app) is `status`
    /// (`unreachable`, `unknown`): its config cannot be read.
    Host {
        /// The app, or any.
        app: Option<String>,
        /// The machine.
        machine: String,
        /// `unreachable` or `unknown`.
        status: String,
    },
}

/// Something that happens to a machine at a time, for the instance that
/// was current when it was scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Due {
    pub(super) at: DateTime<Utc>,
    pub(super) instance_id: String,
    pub(super) what: Next,
}

/// What comes next for a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Next {
    /// The update's start (or, with `skip_launch`, its stop).
    Start { skip_launch: bool },
    /// The first results of its checks.
    Checks,
    /// Check `check` goes critical.
    Critical { check: String, output: String },
}

/// One machine and what is due to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Machine {
    pub(super) view: MachineView,
    #[serde(default)]
    pub(super) due: Vec<Due>,
}

/// One app: its machines in order, and their leases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct App {
    pub(super) machines: Vec<Machine>,
    pub(super) leases: BTreeMap<String, Lease>,
}

/// Everything the simulated API holds; kept whole in the demo's world file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// What ids, instance ids and nonces are minted from.
    pub(super) seed: u64,
    pub(super) next: u64,
    /// Who the token belongs to: the owner of the leases it takes.
    pub(super) owner: String,
    pub(super) apps: BTreeMap<String, App>,
    /// Images the registry holds (`registry/repository@digest`), with labels.
    pub(super) images: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) faults: Vec<FlyFault>,
    /// How long an update takes to start its machine.
    pub(super) start_delay: Duration,
    /// How long a started machine takes to report its checks.
    pub(super) check_delay: Duration,
    /// Calls served, by operation.
    #[serde(default)]
    pub(super) ops: BTreeMap<String, u64>,
}

/// An image reference split as the stub splits it: `repo[:tag]@sha256:hex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ImageParts {
    pub(super) registry: String,
    pub(super) repository: String,
    pub(super) tag: String,
    pub(super) digest: String,
}

impl ImageParts {
    /// `reference` split, or why it is not `repository@sha256:<hex>`.
    pub(super) fn parse(reference: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid image reference {reference:?}: expected repository@sha256:<digest>")
        };
        let (name, digest) = reference.rsplit_once('@').ok_or_else(bad)?;
        let hex = digest.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex.is_empty()
            || hex.len() > 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || name.is_empty()
            || name.contains(char::is_whitespace)
        {
            return Err(bad());
        }
        // A tag follows the last ':' after the last '/'.
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
            None => (name, ""),
        };
        let (first, rest) = repo.split_once('/').unwrap_or((repo, ""));
        let (registry, repository) = if !rest.is_empty()
            && (first.contains('.') || first.contains(':') || first == "localhost")
        {
            (first, rest)
        } else {
            ("docker.io", repo)
        };
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: digest.to_string(),
        })
    }

    /// The registry's key of the image.
    pub(super) fn key(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

/// What a check's HTTP request saw.
pub(super) fn check_output(config: &Value, name: &str, passing: bool) -> String {
    match config
        .get("checks")
        .and_then(|c| c.get(name))
        .and_then(|c| c.get("path"))
        .and_then(Value::as_str)
    {
        Some(path) if passing => format!("HTTP GET {path}: 200 OK"),
        Some(path) => format!("HTTP GET {path}: 503 Service Unavailable"),
        None if passing => "sim: passing".to_string(),
        None => "sim: critical".to_string(),
    }
}

/// RFC 3339 to the second, as the API writes times.
pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A machine event at `t`.
pub(super) fn event(kind: &str, status: &str, source: &str, t: DateTime<Utc>) -> EventView {
    EventView {
        kind: kind.to_string(),
        status: status.to_string(),
        source: source.to_string(),
        timestamp: t.timestamp_millis(),
        request: Value::Null,
    }
}

impl State {
    /// A new deterministic value: `n` characters from the seed and a counter.
    fn mint(&mut self, what: &str) -> String {
        self.next += 1;
        Digest::of_bytes(format!("{}:{what}:{}", self.seed, self.next).as_bytes())
            .as_str()
            .trim_start_matches("sha256:")
            .to_string()
    }

    /// A new instance id (26 characters of Crockford's base 32, as a ULID).
    pub(super) fn instance_id(&mut self) -> String {
        self.mint("instance")
            .bytes()
            .take(26)
            .map(|b| {
                let v = if b.is_ascii_digit() {
                    b - b'0'
                } else {
                    b - b'a' + 10
                };
                char::from(CROCKFORD[usize::from(v) * 2 % CROCKFORD.len()])
            })
            .collect()
    }

    /// A new lease nonce (12 hex digits, as the stub's).
    pub(super) fn nonce(&mut self) -> String {
        self.mint("nonce")[..12].to_string()
    }

    /// A machine id for the `i`th machine of `app` (14 hex digits, as Fly's).
    pub(super) fn machine_id(&self, app: &str, i: usize) -> String {
        Digest::of_bytes(format!("{}:{app}:machine:{i}", self.seed).as_bytes())
            .as_str()
            .trim_start_matches("sha256:")[..14]
            .to_string()
    }

    /// The `image_ref` the registry gives `reference`.
    pub(super) fn image_ref(&self, reference: &ImageParts) -> ImageRefView {
        ImageRefView {
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            tag: reference.tag.clone(),
            digest: reference.digest.clone(),
            labels: self
                .images
                .get(&reference.key())
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// A machine's config as Fly would hold it after `fly deploy`.
    pub(super) fn config(image: &str, group: &str, release: &str, checks: &[String]) -> Value {
        let checks: serde_json::Map<String, Value> = checks
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    json!({"type": "http", "port": 8080, "path": format!("/{c}"),
                           "interval": "15s", "timeout": "2s"}),
                )
            })
            .collect();
        json!({
            "image": image,
            "metadata": {"fly_process_group": group, "fly_release_version": release},
            "checks": checks,
            "services": [{"protocol": "tcp", "internal_port": 8080,
                          "ports": [{"port": 443, "handlers": ["tls", "http"]}]}],
            "env": {},
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        })
    }

    /// The check-critical faults that hit `m`'s digest.
    fn critical_for(&self, m: &MachineView) -> Vec<(String, Option<String>, Duration)> {
        let digest = m.digest().unwrap_or_default();
        self.faults
            .iter()
            .filter_map(|f| match f {
                FlyFault::CheckCritical {
                    digest: d,
                    check,
                    output,
                    after,
                } if d == digest => Some((check.clone(), output.clone(), *after)),
                _ => None,
            })
            .collect()
    }

    fn fails_to_start(&self, m: &MachineView) -> bool {
        let digest = m.digest().unwrap_or_default();
        self.faults
            .iter()
            .any(|f| matches!(f, FlyFault::FailStart { digest: d } if d == digest))
    }

    /// The host status a fault gives machine `id` of `app`, if one does.
    pub(super) fn host(&self, app: &str, id: &str) -> Option<&str> {
        self.faults.iter().find_map(|f| match f {
            FlyFault::Host {
                app: a,
                machine,
                status,
            } if machine == id && a.as_deref().is_none_or(|a| a == app) => Some(status.as_str()),
            _ => None,
        })
    }

    /// Moves every machine on to `now`: what was due by then happens, in
    /// order, at the time it was due.
    pub(super) fn settle(&mut self, now: DateTime<Utc>) {
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for app in names {
            let count = self.apps.get(&app).map_or(0, |a| a.machines.len());
            for i in 0..count {
                while let Some(m) = self.apps.get_mut(&app).and_then(|a| a.machines.get_mut(i)) {
                    m.due.sort_by_key(|d| d.at);
                    if m.due.first().is_none_or(|d| d.at > now) {
                        break;
                    }
                    let due = m.due.remove(0);
                    if due.instance_id != m.view.instance_id {
                        continue;
                    }
                    let view = m.view.clone();
                    let (view, more) = self.happen(view, &due);
                    if let Some(m) = self.apps.get_mut(&app).and_then(|a| a.machines.get_mut(i)) {
                        m.view = view;
                        m.due.extend(more);
                    }
                }
            }
            // Leases that lapsed are gone.
            if let Some(a) = self.apps.get_mut(&app) {
                a.leases.retain(|_, l| l.expires_at > now.timestamp());
            }
        }
    }

    /// What `due` does to machine `m`, and what it makes due next.
    fn happen(&self, mut m: MachineView, due: &Due) -> (MachineView, Vec<Due>) {
        let t = due.at;
        let mut more = Vec::new();
        let instance_id = m.instance_id.clone();
        let mut later = |after: Duration, what: Next| {
            more.push(Due {
                at: t + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX),
                instance_id: instance_id.clone(),
                what,
            });
        };
        match &due.what {
            Next::Start { skip_launch } if m.state == "replacing" => {
                m.updated_at = Some(iso(t));
                if *skip_launch {
                    m.state = "stopped".to_string();
                    push_event(&mut m, event("update", "stopped", "flyd", t));
                } else if self.fails_to_start(&m) {
                    m.state = "stopped".to_string();
                    push_event(&mut m, event("start", "started", "flyd", t));
                    let mut exit = event("exit", "stopped", "flyd", t);
                    exit.request = json!({"exit_event": {
                        "exit_code": 1, "guest_exit_code": 1, "oom_killed": false,
                        "requested_stop": false, "restarting": false, "exited_at": iso(t)}});
                    push_event(&mut m, exit);
                } else {
                    m.state = "started".to_string();
                    push_event(&mut m, event("start", "started", "flyd", t));
                    later(self.check_delay, Next::Checks);
                }
            }
            Next::Checks if m.state == "started" => {
                let critical = self.critical_for(&m);
                let names: Vec<String> = m
                    .config
                    .get("checks")
                    .and_then(Value::as_object)
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                m.checks = names
                    .iter()
                    .map(|name| {
                        let fault = critical.iter().find(|(c, _, _)| c == name);
                        let bad = fault.is_some_and(|(_, _, after)| after.is_zero());
                        if let Some((_, output, after)) = fault
                            && !bad
                        {
                            let output = output
                                .clone()
                                .unwrap_or_else(|| check_output(&m.config, name, false));
                            later(
                                *after,
                                Next::Critical {
                                    check: name.clone(),
                                    output,
                                },
                            );
                        }
                        CheckView {
                            name: name.clone(),
                            status: if bad { "critical" } else { "passing" }.to_string(),
                            output: match fault {
                                Some((_, Some(o), _)) if bad => o.clone(),
                                _ => check_output(&m.config, name, !bad),
                            },
                            updated_at: Some(iso(t)),
                        }
                    })
                    .collect();
            }
            Next::Critical { check, output } if m.state == "started" => {
                for c in m.checks.iter_mut().filter(|c| c.name == *check) {
                    c.status = "critical".to_string();
                    c.output.clone_from(output);
                    c.updated_at = Some(iso(t));
                }
            }
            _ => {}
        }
        (m, more)
    }
}

/// Adds `e` as the newest event, keeping the newest [`EVENTS_KEPT`].
pub(super) fn push_event(m: &mut MachineView, e: EventView) {
    m.events.insert(0, e);
    m.events.truncate(EVENTS_KEPT);
}
