//! The fleet's apps on Fly (`[[environment.fly]]`): how each is declared,
//! and the simulated Machines API of each environment built from them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::super::fly::{SeedMachine, SimFly};
use crate::clock::Clock;
use crate::model::Digest;

/// How long an update takes to start its simulated machine.
const START_DELAY: Duration = Duration::from_secs(3);
/// How long a started machine takes to report its checks.
const CHECK_DELAY: Duration = Duration::from_secs(2);
/// Who the demo's Fly token belongs to (the owner of shipdeck's leases).
pub(super) const OWNER: &str = "shipdeck@demo.shop.example";

/// One app of the simulated fleet on Fly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFly {
    /// The app's name (the configuration's `app`).
    pub app: String,
    /// Image repository (`registry.fly.io/edge`); a release's digest is
    /// sha256("repository:release"), as for the simulated ECS services.
    pub repository: String,
    /// Releases deployed in order; the machines run the last.
    pub releases: Vec<String>,
    /// Its machines, by region.
    pub machines: Vec<FleetRegion>,
    /// The checks each machine's config defines.
    #[serde(default = "health")]
    pub checks: Vec<String>,
    /// The process group of its machines.
    #[serde(default = "app_group")]
    pub group: String,
    /// Where its source lives (the images' `org.opencontainers.image.source`).
    #[serde(default)]
    pub source: Option<String>,
    /// Its health endpoint's typical latency in ms (and its p95's scale).
    #[serde(default)]
    pub latency_ms: Option<u32>,
}

/// Machines of an app in one region.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetRegion {
    /// Fly's region code (`fra`).
    pub region: String,
    /// How many machines.
    pub count: usize,
}

fn health() -> Vec<String> {
    vec!["health".to_string()]
}

fn app_group() -> String {
    "app".to_string()
}

impl FleetFly {
    /// The digest of a release.
    pub(super) fn digest_of(&self, release: &str) -> Digest {
        Digest::of_bytes(format!("{}:{release}", self.repository).as_bytes())
    }

    /// The image reference of a release, tagged with it.
    pub(super) fn image_of(&self, release: &str) -> String {
        format!("{}:{release}@{}", self.repository, self.digest_of(release))
    }

    /// The commit a release was built from (its images' revision label).
    fn commit_of(&self, release: &str) -> String {
        Digest::of_bytes(format!("commit:{}:{release}", self.repository).as_bytes())
            .as_str()
            .trim_start_matches("sha256:")[..40]
            .to_string()
    }

    /// The OCI labels of a release's image.
    fn labels_of(&self, release: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (
                "org.opencontainers.image.revision".to_string(),
                self.commit_of(release),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                release.to_string(),
            ),
        ]);
        if let Some(s) = &self.source {
            labels.insert("org.opencontainers.image.source".to_string(), s.clone());
        }
        labels
    }

    /// Why the entry cannot be simulated, if it cannot.
    pub(in crate::platforms::sim) fn check(&self, env: &str) -> Result<(), String> {
        let what = format!("Fly app \"{}\" in environment \"{env}\"", self.app);
        if self.releases.is_empty() {
            return Err(format!("{what} has no releases"));
        }
        let count: usize = self.machines.iter().map(|m| m.count).sum();
        if count == 0 || count > 1000 {
            return Err(format!(
                "{what} must have from 1 to 1000 machines, found {count}"
            ));
        }
        if let Some(r) = self
            .machines
            .iter()
            .find(|m| m.region.is_empty() || !m.region.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(format!(
                "{what}: region \"{}\" must be a Fly region code such as \"fra\"",
                r.region
            ));
        }
        crate::model::ImageRef::parse(&format!("{}:{}", self.repository, self.releases[0]))
            .map(drop)
            .map_err(|e| format!("{what}: {e}"))
    }
}

/// The simulated Machines API of each environment and the apps it holds.
#[derive(Debug, Default)]
pub(in crate::platforms::sim) struct SimMachines {
    pub(super) envs: BTreeMap<String, EnvMachines>,
    /// The runs of this process.
    pub(super) runs: super::runs::Runs,
    /// Since when the apps' machines run (their health's start).
    pub(super) since: DateTime<Utc>,
}

/// One environment's simulated Machines API.
#[derive(Debug, Clone)]
pub(super) struct EnvMachines {
    pub(super) api: SimFly,
    /// The fleet's entries, by app.
    pub(super) declared: BTreeMap<String, FleetFly>,
}

/// How long ago the fleet's machines got their image: a week, older than
/// anything else in the demo, so their launch events sit below the rest of
/// the timeline.
const AGE: Duration = Duration::from_hours(7 * 24);

impl SimMachines {
    /// Every environment's apps from the fleet, their machines on the last
    /// release; every release's image of every app is in every
    /// environment's registry, as images built for earlier stages are.
    pub(in crate::platforms::sim) fn build(
        fleet: &super::super::FleetFile,
        seed: u64,
        clock: &Arc<dyn Clock>,
    ) -> Self {
        let all: Vec<&FleetFly> = fleet
            .environments
            .iter()
            .flat_map(|e| e.fly.iter())
            .collect();
        let since = clock.now() - chrono::Duration::from_std(AGE).unwrap_or_default();
        let mut envs = BTreeMap::new();
        for (i, e) in fleet.environments.iter().enumerate() {
            if e.fly.is_empty() {
                continue;
            }
            let api = SimFly::new(
                seed.wrapping_add(i as u64),
                clock.clone(),
                START_DELAY,
                CHECK_DELAY,
                OWNER,
            );
            for f in &all {
                for r in &f.releases {
                    // Checked when the fleet was read.
                    let _ = api.push_image(&f.image_of(r), f.labels_of(r));
                }
            }
            let mut declared = BTreeMap::new();
            for f in &e.fly {
                let Some(last) = f.releases.last() else {
                    continue;
                };
                let machines: Vec<SeedMachine> = f
                    .machines
                    .iter()
                    .flat_map(|r| std::iter::repeat_n(r, r.count))
                    .map(|r| SeedMachine {
                        region: r.region.clone(),
                        image: f.image_of(last),
                        checks: f.checks.clone(),
                        state: "started".to_string(),
                        group: f.group.clone(),
                        release: f.releases.len().to_string(),
                    })
                    .collect();
                if api.seed_app(&f.app, &machines, since).is_ok() {
                    declared.insert(f.app.clone(), f.clone());
                }
            }
            envs.insert(e.name.clone(), EnvMachines { api, declared });
        }
        Self {
            envs,
            runs: super::runs::Runs::default(),
            since,
        }
    }
}
