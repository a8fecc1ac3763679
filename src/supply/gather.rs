//! Gathering a digest's supply-chain evidence, for the console and the CLI
//! alike: what the registry holds for it and, where
//! `[supply_chain.provenance]` names a branch, whether `git` finds its
//! commit there. The judging is [`super::assess`]'s.

use chrono::{DateTime, Utc};

use crate::config::supply::SupplyPolicy;
use crate::model::{Digest, ImageRef, ServiceSnapshot};
use crate::registry::{Reading, Registries};

use super::Assessment;

/// How long one digest's reading may take in all (each call is bounded on
/// its own, and a reading makes a few).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);
/// How long the branch check may take.
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What was gathered for one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The registry's reading, or why there is none (sanitised).
    pub reading: Result<Reading, String>,
    /// `git`'s answer on the branch (`None`: not asked: no branch
    /// configured, or no commit label to ask about).
    pub on_branch: Option<Result<bool, String>>,
}

impl Evidence {
    /// The evidence judged for `digest` under `policy` at `now`.
    pub fn assess(&self, digest: &Digest, policy: &SupplyPolicy, now: DateTime<Utc>) -> Assessment {
        super::assess(
            digest,
            self.reading.as_ref().map_err(String::as_str),
            policy,
            self.on_branch.as_ref(),
            now,
        )
    }
}

/// Reads `image` (pinned by digest) from its registry (`recheck`: its
/// signatures and attestations afresh, as a gate does), then asks `git`
/// about its commit where the policy names a branch.
pub async fn gather(
    registries: &Registries,
    policy: &SupplyPolicy,
    image: &ImageRef,
    recheck: bool,
) -> Evidence {
    let reading = match tokio::time::timeout(READ_TIMEOUT, registries.read(image, recheck)).await {
        Ok(r) => r.map_err(|e| crate::model::sanitize(&e.to_string())),
        Err(_) => Err(format!(
            "reading {} took longer than {} s",
            crate::model::sanitize(crate::registry::host_of(image)),
            READ_TIMEOUT.as_secs()
        )),
    };
    let commit = reading
        .as_ref()
        .ok()
        .and_then(|r| r.labels.revision.clone());
    let on_branch = match (&policy.provenance, commit) {
        (Some(p), Some(commit)) => {
            let dir = crate::paths::cache_dir().map(|d| d.join("provenance"));
            Some(match dir {
                Some(dir) => super::git::on_branch(&p.repository, &p.branch, &commit, &dir, GIT_TIMEOUT, recheck)
                    .await
                    .map_err(|e| crate::model::sanitize(&e.to_string())),
                None => Err("no cache directory for the source repository's clone (set XDG_CACHE_HOME or HOME)".to_string()),
            })
        }
        _ => None,
    };
    Evidence { reading, on_branch }
}

/// The image a service runs, pinned by the digest it runs (the one a
/// promotion deploys; `None`: no digest).
pub fn pinned_image(s: &ServiceSnapshot) -> Option<ImageRef> {
    let image = s.image.as_ref()?;
    match &s.digest {
        Some(d) => Some(image.pinned_to(d)),
        None => image.digest.is_some().then(|| image.clone()),
    }
}

/// What a promotion into `target` reads from registries: the digest to
/// promote (its signatures afresh) where the target's gate checks the
/// supply chain or `[registry] read` names its registry; the image the
/// target runs, for its labels, where `[registry] read` names its.
pub fn promotion_reads(
    cfg: &crate::config::Config,
    target: crate::config::EnvId,
    source: Option<&ServiceSnapshot>,
    now_running: Option<&ServiceSnapshot>,
) -> (Option<ImageRef>, Option<ImageRef>) {
    let gate_reads = cfg
        .environments
        .get(target.index())
        .is_some_and(|e| e.gate.reads_registry());
    let promoted = source
        .and_then(pinned_image)
        .filter(|i| gate_reads || cfg.registry.reads(i));
    let running = now_running
        .and_then(pinned_image)
        .filter(|i| cfg.registry.reads(i));
    (promoted, running)
}

/// An image's labels filled from the registry's where the platform gave
/// none (the platform's own word wins).
pub fn fill_labels(image: &mut ImageRef, labels: &crate::registry::Labels) {
    if image.revision.is_none() {
        image.revision.clone_from(&labels.revision);
    }
    if image.source.is_none() {
        image.source.clone_from(&labels.source);
    }
    if image.created.is_none() {
        image.created.clone_from(&labels.created);
    }
    if image.version.is_none() {
        image.version.clone_from(&labels.version);
    }
}
