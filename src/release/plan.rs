//! What a promotion would change: the plan, checked for what cannot be
//! promoted, and what the operator answered.

use super::gate_entries;
use crate::config::{Config, EnvId, ServiceConfig};
use crate::gate::GateResult;
use crate::ledger::{Draft, RecordKind};
use crate::model::{Digest, ImageRef, Revision, ServiceSnapshot, sanitize};

/// What a promotion of one service from `source` into `target` would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// shipdeck service name.
    pub service: String,
    /// Source environment index (promotion order).
    pub source: EnvId,
    /// Source environment name.
    pub source_name: String,
    /// Target environment index.
    pub target: EnvId,
    /// Target environment name.
    pub target_name: String,
    /// ECS service in the target.
    pub ecs_service: String,
    /// Container whose image changes.
    pub container: String,
    /// Digest to promote (`None`: the source is unpinned).
    pub digest: Option<Digest>,
    /// Revision the source runs.
    pub source_revision: Option<Revision>,
    /// Revision the target runs now (the copy's base and the rollback target).
    pub target_revision: Option<Revision>,
    /// Digest the target runs now.
    pub target_digest: Option<Digest>,
    /// Image the target runs now.
    pub target_image: Option<ImageRef>,
    /// The promoted digest's release name as the source names it (its tag, its
    /// version label): shown beside the digest, never instead of it.
    pub release: Option<String>,
    /// A stage is skipped (needs a reason and one more approval).
    pub hotfix: bool,
    /// Behind a reverse proxy: what the cutover runbook will do (the plan's
    /// text then describes it instead of a task-definition copy).
    pub cutover: Option<Vec<String>>,
    /// A stepped strategy's traffic steps and pauses (empty when it does not step).
    pub traffic: Vec<String>,
}

/// Why a promotion cannot even be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Index of an environment by name, with a clear error.
pub fn env_index(cfg: &Config, name: &str) -> Result<EnvId, PlanError> {
    cfg.env_index(name).ok_or_else(|| {
        PlanError(format!(
            "no environment \"{name}\" in the configuration (have: {})",
            cfg.environments
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The service's configuration in environment `env`.
pub fn service_config<'a>(cfg: &'a Config, env: EnvId, service: &str) -> Option<&'a ServiceConfig> {
    cfg.environments
        .get(env.index())?
        .services
        .iter()
        .find(|s| s.name == service)
}

/// Plans promoting `service` into environment `target` from `source`
/// (normally the stage before it; an earlier stage makes it a hotfix).
pub fn plan(
    cfg: &Config,
    service: &str,
    source: EnvId,
    target: EnvId,
    source_snap: Option<&ServiceSnapshot>,
    target_snap: Option<&ServiceSnapshot>,
) -> Result<Plan, PlanError> {
    let name = |i: EnvId| {
        cfg.env_at(i)
            .map_or_else(|| i.to_string(), |e| e.name.clone())
    };
    if target.previous().is_none() {
        return Err(PlanError(format!(
            "\"{}\" is the first stage: nothing promotes into it",
            name(target)
        )));
    }
    if source >= target {
        return Err(PlanError(format!(
            "promotions go forward: \"{}\" comes after \"{}\" in the chain",
            name(source),
            name(target)
        )));
    }
    let Some(target_cfg) = service_config(cfg, target, service) else {
        return Err(PlanError(format!(
            "service \"{service}\" is not configured in \"{}\"",
            name(target)
        )));
    };
    if service_config(cfg, source, service).is_none() {
        return Err(PlanError(format!(
            "service \"{service}\" is not configured in \"{}\"",
            name(source)
        )));
    }
    let Some(src) = source_snap else {
        return Err(PlanError(format!(
            "no reading of {service} in \"{}\" yet; wait for it or check the environment",
            name(source)
        )));
    };
    if let Some(why) = target_snap.and_then(|t| t.deployment_config.strategy.refusal(&t.name)) {
        return Err(PlanError(format!("nothing was changed: {why}")));
    }
    if let (Some(d), Some(t)) = (&src.digest, target_snap.and_then(|t| t.digest.as_ref()))
        && d == t
    {
        return Err(PlanError(format!(
            "\"{}\" already runs {} ({}); nothing to promote",
            name(target),
            d.short(),
            service
        )));
    }
    Ok(Plan {
        service: service.to_string(),
        source,
        source_name: name(source),
        target,
        target_name: name(target),
        ecs_service: target_cfg.ecs_service.clone(),
        container: target_cfg.container.clone(),
        digest: src.digest.clone(),
        source_revision: src.task_definition.clone(),
        target_revision: target_snap.and_then(|t| t.task_definition.clone()),
        target_digest: target_snap.and_then(|t| t.digest.clone()),
        target_image: target_snap.and_then(|t| t.image.clone()),
        release: src.image.as_ref().and_then(ImageRef::release_name),
        hotfix: target.previous() != Some(source),
        cutover: cfg
            .env_at(target)
            .and_then(|e| cutover_lines(e, target_cfg, target_snap, src.digest.as_ref())),
        traffic: match (cfg.env_at(target), target_snap) {
            (Some(e), Some(t)) => traffic_lines(&t.deployment_config.strategy, &e.rollout),
            _ => Vec::new(),
        },
    })
}

/// The traffic steps a promotion takes under `strategy`, and who decides at
/// each pause: the one text of it, for the plan, the wizard and the CLI.
pub fn traffic_lines(
    strategy: &crate::model::Strategy,
    rollout: &crate::config::RolloutPolicy,
) -> Vec<String> {
    use crate::model::shift::{ALL, planned_weights};
    let Some(weights) = planned_weights(strategy).or_else(|| {
        matches!(strategy, crate::model::Strategy::BlueGreen { .. }).then(|| vec![ALL])
    }) else {
        return Vec::new();
    };
    let n = weights.len();
    let mut out = vec![format!("traffic moves in {n} step(s): {strategy}")];
    for (i, w) in weights.iter().enumerate() {
        let held = if i + 1 == n {
            "then bakes".to_string()
        } else if rollout.pause_steps {
            match rollout.step_approvals {
                0 => "held until someone continues".to_string(),
                k => format!("held until {k} other person(s) continue (not the initiator)"),
            }
        } else {
            "moves on by itself".to_string()
        };
        out.push(format!(
            "  step {}: {} on the new revision, {held}",
            i + 1,
            crate::model::strategy::percent(*w)
        ));
    }
    out.push("the abort rules are watched at every step; an abort sends all traffic back".into());
    out
}

/// What a promotion into a proxy environment does, step by step: the one text
/// of it, for the plan, the wizard, the confirmation and `approve`. `None` for
/// an environment that is not behind a proxy.
pub fn cutover_lines(
    env: &crate::config::EnvConfig,
    svc: &crate::config::ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> Option<Vec<String>> {
    let (proxy, p) = (env.proxy.as_deref()?, svc.proxy.as_deref()?);
    let view = now.and_then(|s| s.proxy.as_ref());
    let Some(live) = view.map(|v| v.live) else {
        return Some(vec![
            "the live colour is unknown (no reading of the proxy): nothing can be planned"
                .to_string(),
        ]);
    };
    let idle = live.other();
    let idle_now = view
        .and_then(|v| v.colour(idle))
        .and_then(|c| c.digest.as_ref())
        .map_or_else(|| "unknown".to_string(), |d| d.short().to_string());
    let digest_text = digest.map_or_else(|| "(no digest)".to_string(), ToString::to_string);
    let command: Vec<String> = p
        .deploy
        .iter()
        .map(|a| {
            crate::model::text::sanitize(
                &a.replace("{colour}", idle.name())
                    .replace("{digest}", &digest_text),
            )
        })
        .collect();
    let window = humantime::format_duration(p.stability_window);
    Some(vec![
        format!("1. deploy {idle} (serves {idle_now} now) with {digest_text}:"),
        format!("   run {}", command.join(" ")),
        format!(
            "2. verify that {idle} serves it; probe it until it answers 200 for {window}{}",
            if p.smoke.is_empty() {
                String::new()
            } else {
                format!(", then run {} smoke check(s)", p.smoke.len())
            }
        ),
        format!(
            "3. check that {live} is still live, then switch {} \"{}\" from {live} to {idle} in one step",
            proxy.kind.name(),
            crate::model::text::sanitize(&p.backend)
        ),
        format!(
            "4. confirm {} that requests reach {idle}; keep {live} warm for {}",
            proxy.url.as_deref().map_or_else(
                || "by reading the proxy back".to_string(),
                |u| format!("through {}", crate::model::text::sanitize(u))
            ),
            humantime::format_duration(p.keep_warm)
        ),
        format!("a rollback switches back to {live} in one step"),
    ])
}

impl Plan {
    /// The digest as the ledger writes it (empty when the source is unpinned):
    /// the one place a plan's digest becomes text.
    pub fn digest_text(&self) -> String {
        self.digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The image the new revision will run: the target's repository at the digest.
    pub fn new_image(&self) -> String {
        new_image(self.target_image.as_ref(), self.digest.as_ref())
    }

    /// The task-definition change, line by line: only the image may differ.
    pub fn diff(&self) -> Vec<String> {
        if let Some(lines) = &self.cutover {
            return lines.clone();
        }
        let mut lines = revision_diff(
            self.target_revision.as_ref(),
            &self.container,
            self.target_image.as_ref(),
            self.digest.as_ref(),
            self.release.as_deref(),
        );
        lines.extend(self.traffic.iter().cloned());
        lines
    }
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
/// releases' names (`release`: the promoted digest's) beside the digests. The
/// one text of it, for the plan, the wizard and `approve`.
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

impl Plan {
    /// The record that asks for approvals (`PromotionStarted`), with the policy hash
    /// that voids approvals given under another policy.
    pub fn request_draft(&self, operator: &str, promotion: &str, policy_hash: &str) -> Draft {
        Draft {
            policy: Some(policy_hash.to_string()),
            ..self.draft(operator, promotion)
        }
    }

    /// What confirming a GO gate writes, in order, before the deploy:
    /// `PromotionStarted` (unless approvals were requested already), `GateEvaluated`,
    /// one `Override` per overridden check. Also returns the draft the deploy's
    /// own records start from (change record, approvers, hotfix reason).
    #[allow(clippy::too_many_arguments)]
    pub fn confirmation_records(
        &self,
        gate: &GateResult,
        answers: &Answers,
        approvers: &[String],
        operator: &str,
        promotion: &str,
        policy_hash: &str,
        requested: bool,
    ) -> (Draft, Vec<(RecordKind, Draft)>) {
        let mut base = self.request_draft(operator, promotion, policy_hash);
        base.change_record =
            Some(answers.change_record.trim().to_string()).filter(|c| !c.is_empty());
        base.approvers = approvers.to_vec();
        if self.hotfix {
            base.reasons.push(format!(
                "hotfix from {}: {}",
                self.source_name,
                answers.hotfix_reason.trim()
            ));
        }
        let mut out = Vec::new();
        if !requested {
            out.push((RecordKind::PromotionStarted, base.clone()));
        }
        let mut evaluated = base.clone();
        evaluated.gate = gate_entries(gate);
        evaluated.outcome = Some("go".to_string());
        out.push((RecordKind::GateEvaluated, evaluated));
        for c in gate.checks.iter().filter(|c| c.overridden) {
            let mut d = base.clone();
            d.reasons = vec![format!("{}: {}", c.name, c.reason)];
            out.push((RecordKind::Override, d));
        }
        (base, out)
    }

    /// The ledger draft every record of this promotion starts from.
    pub fn draft(&self, operator: &str, promotion: &str) -> Draft {
        Draft {
            operator: operator.to_string(),
            env: Some(self.target_name.clone()),
            service: Some(self.service.clone()),
            promotion: Some(promotion.to_string()),
            from_digest: self.target_digest.as_ref().map(ToString::to_string),
            to_digest: self.digest.as_ref().map(ToString::to_string),
            from_revision: self.target_revision.as_ref().map(ToString::to_string),
            hotfix: self.hotfix,
            ..Draft::default()
        }
    }
}

/// What the operator filled in the wizard (or on the command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Checklist items ticked, by index.
    pub ticked: Vec<bool>,
    /// Change-record id.
    pub change_record: String,
    /// Hotfix reason.
    pub hotfix_reason: String,
    /// Break-glass overrides: check name and reason.
    pub overrides: Vec<(String, String)>,
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
