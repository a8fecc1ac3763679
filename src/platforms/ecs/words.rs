//! ECS's own words: the task definition a service runs (the detail pane's
//! `task def` line), what a promotion changes in it and does (a copy of the
//! task definition with only the image changed, then `UpdateService`), and
//! what a rollback does, how a service rolls out and what rolls it back by
//! itself. The simulator, which simulates ECS, says the same.

use std::sync::LazyLock;

use crate::config::ServiceConfig;
use crate::model::{
    DeployWords, DeploymentConfig, DetailLine, Digest, ImageRef, PlatformDetail, Revision,
    ServiceSnapshot, Shared, sanitize,
};

/// The task definition a service is set to, in full (its ARN), for the
/// detail pane; `-` while it is not known.
pub fn detail(task_definition: Option<&Revision>) -> PlatformDetail {
    // Every reading of every service carries it: the label is shared.
    static LABEL: LazyLock<Shared> = LazyLock::new(|| "task def".into());
    PlatformDetail {
        lines: vec![DetailLine::new(
            LABEL.clone(),
            task_definition.map_or_else(|| "-".into(), |t| t.arn.clone()),
        )],
        ..PlatformDetail::default()
    }
}

/// What a promotion of `digest` into the service does on ECS: the
/// task-definition change, and the two steps of registering and deploying
/// it. `now` is the target's reading (the copy's base); `release` the
/// promoted digest's release name, shown beside it.
pub fn deploy(
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
    release: Option<&str>,
) -> DeployWords {
    let revision = now.and_then(|s| s.task_definition.as_ref());
    let image = now.and_then(|s| s.image.as_ref());
    let base = revision.map_or_else(|| "the current revision".to_string(), ToString::to_string);
    DeployWords {
        diff: revision_diff(revision, super::container(svc), image, digest, release),
        steps: vec![
            format!("1. register a copy of {base} with the image"),
            format!("   {}", new_image(image, digest)),
            format!(
                "2. update ECS service {} to the new revision",
                super::service_name(svc)
            ),
        ],
        watch_step: "3.".to_string(),
    }
}

/// What confirming a rollback to `to` does on ECS, in one sentence.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    format!(
        "ECS service {} is updated to {to}, then watched like a deploy.",
        super::service_name(svc)
    )
}

/// What rolls an ECS deployment back by itself: its deployment circuit
/// breaker (tasks that fail to start) or its CloudWatch-alarm rollback.
pub const SELF_ROLLBACK: Option<&str> = Some("ECS's circuit breaker or alarm rollback");

/// How the service rolls out and what protects the rollout, for the detail
/// pane's `strategy` line: `rolling · circuit breaker on (rolls back) ·
/// alarm rollback off`.
pub fn strategy(c: &DeploymentConfig) -> String {
    format!(
        "{} · circuit breaker {} · alarm rollback {}",
        c.strategy,
        match (c.circuit_breaker, c.circuit_breaker_rollback) {
            (true, true) => "on (rolls back)",
            (true, false) => "on",
            _ => "off",
        },
        if c.alarm_rollback { "on" } else { "off" }
    )
}

/// The image a promotion's new revision runs: the target's repository
/// (`target_image`) at `digest`.
pub fn new_image(target_image: Option<&ImageRef>, digest: Option<&Digest>) -> String {
    match (target_image, digest) {
        (Some(img), Some(d)) => img.pinned_to(d).to_string(),
        (None, Some(d)) => format!("<repository>@{d}"),
        (_, None) => "(source unpinned: no digest)".to_string(),
    }
}

/// The task-definition change a promotion makes, line by line: a copy of the
/// target's `revision` in which only `container`'s image differs, and the
/// releases' names (`release`: the promoted digest's) beside the digests.
pub fn revision_diff(
    revision: Option<&Revision>,
    container: &str,
    target_image: Option<&ImageRef>,
    digest: Option<&Digest>,
    release: Option<&str>,
) -> Vec<String> {
    let base = revision.map_or_else(|| "(unknown)".to_string(), ToString::to_string);
    let next = revision.map_or_else(
        || "a new revision".to_string(),
        |r| format!("{}:<next>", r.family),
    );
    let old = target_image.map_or_else(|| "(unknown)".to_string(), ToString::to_string);
    let mut lines = vec![
        format!("task definition {base} → {next} (a copy of {base})"),
        format!("container \"{container}\" image:"),
        format!("- {old}"),
        format!("+ {}", new_image(target_image, digest)),
    ];
    let was = target_image.and_then(ImageRef::release_name);
    if was.is_some() || release.is_some() {
        let name = |n: Option<&str>| n.map_or_else(|| "(no name known)".to_string(), sanitize);
        lines.push(format!(
            "release {} → {} (names only: the digest is what is deployed)",
            name(was.as_deref()),
            name(release)
        ));
    }
    lines.push("everything else unchanged".to_string());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text: &str, version: Option<&str>) -> ImageRef {
        let mut img = ImageRef::parse(text).unwrap();
        img.version = version.map(str::to_string);
        img
    }

    #[test]
    fn the_diff_names_the_releases_beside_the_digests() {
        let old = Digest::of_bytes(b"old");
        let new = Digest::of_bytes(b"new");
        let now = image(&format!("r.io/shop/api:2.4.1@{old}"), Some("2.4.1"));
        let rev = Revision::parse("shop-api:3");
        let diff = revision_diff(rev.as_ref(), "api", Some(&now), Some(&new), Some("2.5.0"));
        assert_eq!(diff[2], format!("- r.io/shop/api:2.4.1@{old}"));
        // The digest is what is written: no tag in the new image.
        assert_eq!(diff[3], format!("+ r.io/shop/api@{new}"));
        assert_eq!(
            diff[4],
            "release 2.4.1 → 2.5.0 (names only: the digest is what is deployed)"
        );
        assert_eq!(diff[5], "everything else unchanged");
        // A name not known is said so; none known at all, no line.
        let bare = image(&format!("r.io/shop/api@{old}"), None);
        let diff = revision_diff(rev.as_ref(), "api", Some(&bare), Some(&new), Some("2.5.0"));
        assert!(
            diff[4].starts_with("release (no name known) → 2.5.0"),
            "{diff:?}"
        );
        let diff = revision_diff(rev.as_ref(), "api", Some(&bare), Some(&new), None);
        assert_eq!(diff.len(), 5);
        assert_eq!(diff[4], "everything else unchanged");
        // A label from outside reaches the screen sanitised.
        let diff = revision_diff(
            rev.as_ref(),
            "api",
            Some(&now),
            Some(&new),
            Some("6\u{1b}[2J"),
        );
        assert!(!diff[4].contains('\u{1b}'), "{diff:?}");
    }
}
