//! The steps against a fake Machines API: which machines, in which order,
//! what a held lease says, what is released. The fake is shared with the
//! runner's tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::platforms::fly::api::{CheckView, EventView, ImageRefView};

/// `sha256:` and 64 times `c`.
pub(crate) fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// One machine of group `app` running `digest`, with a `health` check.
pub(crate) fn machine(id: &str, region: &str, digest: &str, state: &str) -> MachineView {
    MachineView {
        id: id.to_string(),
        name: format!("edge-{id}"),
        state: state.to_string(),
        region: region.to_string(),
        instance_id: format!("{id}-i0"),
        host_status: Some("ok".to_string()),
        image_ref: Some(ImageRefView {
            registry: "registry.fly.io".to_string(),
            repository: "edge".to_string(),
            digest: digest.to_string(),
            ..ImageRefView::default()
        }),
        config: serde_json::json!({
            "image": format!("registry.fly.io/edge@{digest}"),
            "metadata": {"fly_process_group": "app", "fly_release_version": "12"},
            "checks": {"health": {"type": "http", "port": 8080, "path": "/health"}},
            "guest": {"cpus": 1},
        }),
        checks: vec![CheckView {
            name: "health".to_string(),
            status: "passing".to_string(),
            output: "HTTP GET /health: 200 OK".to_string(),
            updated_at: None,
        }],
        ..MachineView::default()
    }
}

/// The state of the fake.
#[derive(Debug, Default)]
pub(crate) struct FakeState {
    pub machines: BTreeMap<String, MachineView>,
    pub leases: BTreeMap<String, Lease>,
    /// Every call, in order: `lease m1`, `update m1 nonce-1`, …
    pub log: Vec<String>,
    /// Machines updated to this digest exit with code 1.
    pub fail_start: Option<String>,
    /// Machines updated to this digest report `health` critical.
    pub critical: Option<String>,
    /// A refresh answers another nonce.
    pub steal_on_refresh: bool,
    /// Held by someone else: machine → owner.
    pub held: BTreeMap<String, String>,
    pub n: u64,
}

/// A Machines API in memory, every call logged.
#[derive(Debug, Default)]
pub(crate) struct Fake(pub Mutex<FakeState>);

impl Fake {
    pub(crate) fn with(machines: Vec<MachineView>) -> Self {
        let f = Self::default();
        {
            let mut s = f.0.lock().unwrap();
            for m in machines {
                s.machines.insert(m.id.clone(), m);
            }
        }
        f
    }

    pub(crate) fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().log.clone()
    }

    pub(crate) fn digests(&self) -> Vec<(String, String)> {
        let s = self.0.lock().unwrap();
        s.machines
            .values()
            .map(|m| (m.id.clone(), m.digest().unwrap_or("").to_string()))
            .collect()
    }
}

fn not_found(id: &str) -> ProviderError {
    ProviderError::NotFound {
        what: "machine".to_string(),
        name: id.to_string(),
    }
}

impl FlyApi for Fake {
    async fn list(&self, _app: &str) -> Result<Vec<MachineView>, ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push("list".to_string());
        Ok(s.machines.values().cloned().collect())
    }

    async fn get(&self, _app: &str, id: &str) -> Result<MachineView, ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("get {id}"));
        s.machines.get(id).cloned().ok_or_else(|| not_found(id))
    }

    async fn acquire_lease(
        &self,
        _app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, LeaseError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("lease {id}"));
        if let Some(owner) = s.held.get(id) {
            return Err(LeaseError::Held {
                machine: id.to_string(),
                owner: owner.clone(),
                expires_at: 1_767_225_600,
                description: String::new(),
                message: format!("machine ID {id} lease currently held by {owner}"),
            });
        }
        s.n += 1;
        let lease = Lease {
            nonce: format!("nonce-{id}-{}", s.n),
            expires_at: i64::try_from(ttl.as_secs()).unwrap(),
            owner: "me@acme.dev".to_string(),
            description: description.to_string(),
            version: String::new(),
        };
        s.leases.insert(id.to_string(), lease.clone());
        Ok(lease)
    }

    async fn refresh_lease(
        &self,
        _app: &str,
        id: &str,
        nonce: &str,
        _ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("refresh {id} {nonce}"));
        let steal = s.steal_on_refresh;
        let Some(l) = s.leases.get_mut(id) else {
            return Err(LeaseError::Api(not_found(id)));
        };
        if steal {
            l.nonce = format!("{}-stolen", l.nonce);
        }
        Ok(l.clone())
    }

    async fn lease(&self, _app: &str, id: &str) -> Result<Option<Lease>, ProviderError> {
        let s = self.0.lock().unwrap();
        Ok(s.leases.get(id).cloned())
    }

    async fn release_lease(&self, _app: &str, id: &str, nonce: &str) -> Result<(), ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("release {id} {nonce}"));
        match s.leases.get(id) {
            Some(l) if l.nonce == nonce => {
                s.leases.remove(id);
                Ok(())
            }
            Some(_) => Err(ProviderError::Conflict {
                message: "wrong nonce".to_string(),
            }),
            None => Err(ProviderError::NotFound {
                what: "lease".to_string(),
                name: id.to_string(),
            }),
        }
    }

    async fn update(
        &self,
        _app: &str,
        id: &str,
        nonce: &str,
        body: &UpdateBody,
    ) -> Result<MachineView, ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("update {id} {nonce}"));
        if s.leases.get(id).map(|l| l.nonce.as_str()) != Some(nonce) {
            return Err(ProviderError::Conflict {
                message: format!("machine {id}: no lease with nonce {nonce}"),
            });
        }
        s.n += 1;
        let n = s.n;
        let (fail, critical) = (s.fail_start.clone(), s.critical.clone());
        let m = s.machines.get_mut(id).ok_or_else(|| not_found(id))?;
        if body.current_version.as_deref() != Some(m.instance_id.as_str()) {
            return Err(ProviderError::Conflict {
                message: "stale current_version".to_string(),
            });
        }
        let image = body.config["image"].as_str().unwrap_or("").to_string();
        let digest = image.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap();
        m.config = body.config.clone();
        m.image_ref.as_mut().unwrap().digest.clone_from(&digest);
        m.instance_id = format!("{id}-i{n}");
        m.checks[0].status = "passing".to_string();
        m.checks[0].output = "HTTP GET /health: 200 OK".to_string();
        m.events.clear();
        if body.skip_launch {
            m.state = "stopped".to_string();
        } else if fail.as_deref() == Some(digest.as_str()) {
            m.state = "stopped".to_string();
            m.events.push(EventView {
                kind: "exit".to_string(),
                status: "stopped".to_string(),
                request: serde_json::json!({"exit_event": {"exit_code": 1, "oom_killed": false}}),
                ..EventView::default()
            });
        } else {
            m.state = "started".to_string();
            if critical.as_deref() == Some(digest.as_str()) {
                m.checks[0].status = "critical".to_string();
                m.checks[0].output = "HTTP GET /health: 503 Service Unavailable".to_string();
            }
        }
        Ok(m.clone())
    }

    async fn wait(
        &self,
        _app: &str,
        id: &str,
        instance_id: &str,
        state: &str,
        _timeout: Duration,
    ) -> Result<bool, ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("wait {id}"));
        let m = s.machines.get(id).ok_or_else(|| not_found(id))?;
        Ok(m.instance_id == instance_id && m.state == state)
    }

    async fn set_metadata(
        &self,
        _app: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("metadata {id} {key}"));
        let m = s.machines.get_mut(id).ok_or_else(|| not_found(id))?;
        m.config["metadata"][key] = value.into();
        Ok(())
    }

    async fn delete_metadata(&self, _app: &str, id: &str, key: &str) -> Result<(), ProviderError> {
        let mut s = self.0.lock().unwrap();
        s.log.push(format!("unmetadata {id} {key}"));
        let m = s.machines.get_mut(id).ok_or_else(|| not_found(id))?;
        if let Some(meta) = m.config["metadata"].as_object_mut() {
            meta.remove(key);
        }
        Ok(())
    }
}

fn four() -> Vec<MachineView> {
    vec![
        machine("m3", "ams", &d('a'), "started"),
        machine("m1", "fra", &d('a'), "started"),
        machine("m4", "ams", &d('a'), "started"),
        machine("m2", "fra", &d('a'), "started"),
    ]
}

#[test]
fn the_canary_is_the_first_started_machine_by_id_and_the_rest_follow_by_id() {
    let mut ms = four();
    ms[1].state = "stopped".to_string(); // m1 stopped by autostop
    let plan = promotion("edge", &members(&ms, Some("app")), &d('b')).unwrap();
    let order: Vec<&str> = plan.order.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(order, ["m2", "m1", "m3", "m4"]);
    assert!(plan.order[1].stopped, "m1 is updated without being started");
    assert_eq!(plan.group, ["m1", "m2", "m3", "m4"]);
    assert_eq!(plan.from.as_deref(), Some(d('a').as_str()));
}

#[test]
fn a_promotion_is_refused_before_any_write_naming_what_is_wrong() {
    let mut mixed = four();
    mixed[2] = machine("m4", "ams", &d('b'), "started");
    let e = promotion("edge", &members(&mixed, None), &d('c')).unwrap_err();
    assert!(
        e.to_string()
            .contains("a deploy is in flight: of 4 machines, 3 run"),
        "{e}"
    );
    assert!(e.to_string().contains("nothing was changed"), "{e}");

    let mut host = four();
    host[0].host_status = Some("unreachable".to_string());
    let e = promotion("edge", &members(&host, None), &d('b')).unwrap_err();
    assert!(
        e.to_string()
            .contains("machine m3 (ams) is on a host that is unreachable"),
        "{e}"
    );

    let mut moving = four();
    moving[3].state = "replacing".to_string();
    let e = promotion("edge", &members(&moving, None), &d('b')).unwrap_err();
    assert!(
        e.to_string().contains("machine m2 (fra) is replacing"),
        "{e}"
    );

    let mut idle = four();
    for m in &mut idle {
        m.state = "stopped".to_string();
    }
    let e = promotion("edge", &members(&idle, None), &d('b')).unwrap_err();
    assert!(
        e.to_string()
            .contains("no machine is started to be the canary"),
        "{e}"
    );

    let e = promotion("edge", &members(&four(), None), &d('a')).unwrap_err();
    assert!(e.to_string().contains("every machine already runs"), "{e}");
}

#[test]
fn release_command_and_console_machines_and_other_groups_are_not_members() {
    let mut ms = four();
    let mut release = machine("m0", "fra", &d('z'), "started");
    release.config["metadata"]["fly_process_group"] = "fly_app_release_command".into();
    let mut worker = machine("m5", "fra", &d('z'), "started");
    worker.config["metadata"]["fly_process_group"] = "worker".into();
    let mut gone = machine("m6", "fra", &d('z'), "destroyed");
    gone.config["metadata"]["fly_process_group"] = "app".into();
    ms.extend([release, worker, gone]);
    let ids: Vec<String> = members(&ms, Some("app"))
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
    assert_eq!(
        members(&ms, None).len(),
        5,
        "every serving group without a group"
    );
}

#[test]
fn a_way_back_updates_every_machine_not_on_the_digest_with_no_canary() {
    let mut ms = four();
    ms[1] = machine("m1", "fra", &d('b'), "started");
    ms[3] = machine("m2", "fra", &d('b'), "replacing");
    let plan = way_back("edge", &members(&ms, None), &d('a')).unwrap();
    let order: Vec<&str> = plan.order.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(order, ["m1", "m2"]);
    assert_eq!(plan.from.as_deref(), Some(d('b').as_str()));
}

#[test]
fn an_update_sends_the_whole_config_with_only_the_image_and_shipdecks_metadata_changed() {
    let mut m = machine("m1", "fra", &d('a'), "started");
    m.config["metadata"]["shipdeck_pause"] = "run=fly-0 step=1/4 at=1".into();
    let image = format!("registry.fly.io/edge@{}", d('b'));
    let body = update_body(&m, &image, "fly-1", Some(&d('a')), false).unwrap();
    assert_eq!(body.config["image"], image.as_str());
    assert_eq!(body.config["guest"], m.config["guest"]);
    assert_eq!(body.config["checks"], m.config["checks"]);
    assert_eq!(body.config["metadata"]["fly_release_version"], "12");
    assert_eq!(body.config["metadata"][RUN_KEY], "fly-1");
    assert_eq!(body.config["metadata"][FROM_KEY], d('a').as_str());
    assert!(
        body.config["metadata"].get("shipdeck_pause").is_none(),
        "markers stay behind"
    );
    assert_eq!(body.current_version.as_deref(), Some("m1-i0"));
    assert!(!body.skip_launch);
}

#[tokio::test]
async fn a_held_lease_releases_the_leases_taken_and_names_the_holder_region_and_expiry() {
    let fake = Fake::with(four());
    fake.0
        .lock()
        .unwrap()
        .held
        .insert("m3".to_string(), "ci@acme.dev".to_string());
    let ms = members(&fake.list("edge").await.unwrap(), None);
    let ids: Vec<String> = ms.iter().map(|m| m.id.clone()).collect();
    let e = lease_all(
        &fake,
        "edge",
        &ms,
        &ids,
        Duration::from_secs(30),
        "shipdeck",
    )
    .await
    .unwrap_err();
    let said = e.to_string();
    assert!(matches!(e, ProviderError::Conflict { .. }));
    for part in [
        "machine m3 (ams)",
        "ci@acme.dev",
        "2026-01-01 00:00:00 UTC",
        "nothing was changed",
    ] {
        assert!(said.contains(part), "{part} in {said}");
    }
    let log = fake.log();
    assert!(
        log.contains(&"release m1 nonce-m1-1".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"release m2 nonce-m2-2".to_string()),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.starts_with("update")), "{log:?}");
    assert!(
        fake.0.lock().unwrap().leases.is_empty(),
        "every lease taken was released"
    );
}

#[tokio::test]
async fn a_refresh_that_answers_another_nonce_is_a_lost_lease() {
    let fake = Fake::with(four());
    let ms = members(&fake.list("edge").await.unwrap(), None);
    let ids = vec!["m1".to_string()];
    let mut leases = lease_all(&fake, "edge", &ms, &ids, Duration::from_secs(30), "x")
        .await
        .unwrap();
    assert!(
        refresh_all(&fake, "edge", &mut leases, Duration::from_secs(30))
            .await
            .is_ok()
    );
    fake.0.lock().unwrap().steal_on_refresh = true;
    let e = refresh_all(&fake, "edge", &mut leases, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(e.contains("the lease of machine m1 was lost"), "{e}");
}

#[test]
fn the_revision_is_the_app_and_group_labelled_with_the_short_digest() {
    let f = crate::config::fly::FlyService {
        app: "edge-prod".to_string(),
        group: Some("app".to_string()),
        image_repository: None,
        max_unavailable: crate::config::fly::Batch::Count(1),
        canary_hold: Duration::ZERO,
        hold: Duration::ZERO,
        wait_timeout: Duration::ZERO,
        checks_grace: Duration::ZERO,
        lease_ttl: Duration::ZERO,
    };
    assert_eq!(
        revision(&f, &d('b')).to_string(),
        "edge-prod.app@bbbbbbbbbbbb"
    );
}

#[test]
fn an_exit_names_its_code_and_checks_name_what_is_critical() {
    let mut m = machine("m1", "fra", &d('a'), "stopped");
    m.events.push(EventView {
        kind: "exit".to_string(),
        request: serde_json::json!({"exit_event": {"exit_code": 3}}),
        ..EventView::default()
    });
    assert_eq!(
        exit_of(&m),
        "machine m1 (fra) is stopped: it exited with code 3"
    );
    let mut c = machine("m1", "fra", &d('a'), "started");
    c.checks[0].status = "critical".to_string();
    c.checks[0].output = "503\u{1b}[31m".to_string();
    assert_eq!(
        read_checks(&c),
        Checks::Critical(vec![("health".to_string(), "503".to_string())]),
        "outside text, sanitised"
    );
    c.checks.clear();
    assert_eq!(
        read_checks(&c),
        Checks::Pending,
        "no result yet where one is configured"
    );
}
