//! The registry's word in the CLI: what `promote` reads for its gate and
//! plan, and what `approve` shows of the digest it approves.

use crate::config::Config;
use crate::supply::gather::{fill_labels, gather, pinned_image};

/// What the registry holds for the digest to promote, its signatures read
/// afresh, where the target's gate has a supply-chain check or `[registry]
/// read` names its registry; both images' labels put into the readings
/// where the platform did not give them.
pub(crate) async fn read_registry(
    cfg: &Config,
    target: crate::config::EnvId,
    src: &mut crate::model::ServiceSnapshot,
    dst: &mut crate::model::ServiceSnapshot,
) -> Option<(crate::model::Digest, crate::supply::gather::Evidence)> {
    let (promoted, running) =
        crate::supply::gather::promotion_reads(cfg, target, Some(src), Some(dst));
    let registries = registries(cfg);
    let mut evidence = None;
    if let Some(image) = promoted
        && let Some(digest) = image.digest.clone()
    {
        super::release::say(&format!("reading {} from its registry…", digest.short()));
        let e = gather(&registries, &cfg.supply, &image, true).await;
        if let (Ok(r), Some(i)) = (&e.reading, src.image.as_mut()) {
            fill_labels(i, &r.labels);
        }
        evidence = Some((digest, e));
    }
    if let Some(image) = running
        && let Ok(r) = registries.read(&image, false).await
        && let Some(i) = dst.image.as_mut()
    {
        fill_labels(i, &r.labels);
    }
    evidence
}

/// Registries as the configuration says, with the run's secrets.
fn registries(cfg: &Config) -> crate::registry::Registries {
    crate::registry::Registries::new(
        cfg.registry.clone(),
        crate::paths::cache_dir().map(|d| d.join("registry")),
        super::secrets_for_run(),
    )
}

/// What `approve` shows of the digest: where it was built from (commit,
/// source, build time, a compare link against what `target` runs) and, where
/// the target's gate checks them, its signature, scan and provenance as
/// judged now. Empty when the registry is not one shipdeck reads.
pub(crate) async fn approve_lines(
    cfg: &Config,
    env: crate::config::EnvId,
    target: &crate::model::ServiceSnapshot,
    promoted: &crate::model::ImageRef,
) -> Vec<String> {
    let gate_checks: Vec<crate::config::AutoCheck> = cfg.environments[env]
        .gate
        .checks
        .iter()
        .copied()
        .filter(|c| c.reads_registry())
        .collect();
    let Some(digest) = promoted.digest.clone() else {
        return Vec::new();
    };
    if gate_checks.is_empty() && !cfg.registry.reads(promoted) {
        return Vec::new();
    }
    let registries = registries(cfg);
    let evidence = gather(&registries, &cfg.supply, promoted, true).await;
    // What the target runs, by its labels, for the commits' compare.
    let mut was = target.image.clone();
    if let Some(w) = was.as_mut()
        && let Some(p) = pinned_image(target)
        && cfg.registry.reads(&p)
        && let Ok(r) = registries.read(&p, false).await
    {
        fill_labels(w, &r.labels);
    }
    let mut image = promoted.clone();
    let mut lines = Vec::new();
    match &evidence.reading {
        Ok(r) => fill_labels(&mut image, &r.labels),
        Err(why) => lines.push(format!("  registry    unknown: {why}")),
    }
    if let Some(l) = crate::release::plan::labels_line(was.as_ref(), Some(&image)) {
        lines.push(format!("  built from  {l}"));
    }
    let a = evidence.assess(&digest, &cfg.supply, chrono::Utc::now());
    for c in gate_checks {
        if let Some(f) = a.finding(c) {
            lines.push(format!(
                "  {:<11} {} {}",
                c.name(),
                f.verdict.mark(),
                f.reason
            ));
        }
    }
    lines
}
