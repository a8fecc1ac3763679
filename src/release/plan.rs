//! What a promotion would change: the plan, checked for what cannot be
//! promoted, and what the operator answered.

use super::gate_entries;
use crate::config::{Config, EnvId, ServiceConfig};
use crate::gate::GateResult;
use crate::ledger::{Draft, RecordKind};
use crate::model::{DeployWords, Digest, ImageRef, Revision, ServiceSnapshot};

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
    /// Digest to promote (`None`: the source is unpinned).
    pub digest: Option<Digest>,
    /// Revision the source runs.
    pub source_revision: Option<Revision>,
    /// Revision the target runs now (what the change starts from, and the
    /// rollback target).
    pub target_revision: Option<Revision>,
    /// Digest the target runs now.
    pub target_digest: Option<Digest>,
    /// Image the target runs now.
    pub target_image: Option<ImageRef>,
    /// The promoted digest's release name as the source names it (its tag, its
    /// version label): shown beside the digest, never instead of it.
    pub release: Option<String>,
    /// A stage is skipped (needs a reason, and one more approval or the
    /// matrix's leave to skip).
    pub hotfix: bool,
    /// The stages skipped, in chain order (empty unless `hotfix`).
    pub skipped: Vec<String>,
    /// The change type chosen (`feature`, `hotfix`…): the matrix row the
    /// gate reads. Set with [`Plan::with_change_type`].
    pub change_type: Option<String>,
    /// What the promotion changes and does, in the target platform's words.
    pub words: DeployWords,
    /// A stepped strategy's traffic steps and pauses (empty when it does not step).
    pub traffic: Vec<String>,
    /// The images' commit and source labels, old → new, when either knows
    /// them ([`labels_line`]).
    pub labels: Option<String>,
    /// The digest's supply-chain evidence as judged for the gate (`None`:
    /// not read). Set with [`Plan::with_supply`]; the records keep it.
    pub supply: Option<crate::supply::SupplyRecord>,
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
    let release = src.image.as_ref().and_then(ImageRef::release_name);
    Ok(Plan {
        service: service.to_string(),
        source,
        source_name: name(source),
        target,
        target_name: name(target),
        digest: src.digest.clone(),
        source_revision: src.task_definition.clone(),
        target_revision: target_snap.and_then(|t| t.task_definition.clone()),
        target_digest: target_snap.and_then(|t| t.digest.clone()),
        target_image: target_snap.and_then(|t| t.image.clone()),
        words: cfg.env_at(target).map_or_else(DeployWords::default, |e| {
            crate::platforms::deploy_words(
                e,
                target_cfg,
                target_snap,
                src.digest.as_ref(),
                release.as_deref(),
            )
        }),
        release,
        labels: labels_line(
            target_snap.and_then(|t| t.image.as_ref()),
            src.image.as_ref(),
        ),
        hotfix: target.previous() != Some(source),
        skipped: (source.index() + 1..target.index())
            .filter_map(|i| cfg.environments.get(i).map(|e| e.name.clone()))
            .collect(),
        change_type: None,
        supply: None,
        traffic: match (cfg.env_at(target), target_snap) {
            (Some(e), Some(t)) => traffic_lines(&t.deployment_config.strategy, &e.rollout),
            _ => Vec::new(),
        },
    })
}

/// The plan's line of OCI labels (`org.opencontainers.image.revision`,
/// `…source`): `commit 1a2b3c4 → 9f8e7d6 · source github.com/acme/edge`;
/// `None` when neither image has them. Names for people only.
pub fn labels_line(was: Option<&ImageRef>, now: Option<&ImageRef>) -> Option<String> {
    let commit = |i: Option<&ImageRef>| i.and_then(ImageRef::commit);
    let (old, new) = (commit(was), commit(now));
    let mut parts = Vec::new();
    if old.is_some() || new.is_some() {
        let name = |c: Option<String>| c.unwrap_or_else(|| "(no label)".to_string());
        parts.push(format!("commit {} → {}", name(old), name(new)));
    }
    if let Some(s) = now.and_then(ImageRef::source_name) {
        parts.push(format!("source {s}"));
    }
    if let Some(b) = now.and_then(ImageRef::built) {
        parts.push(format!("built {b}"));
    }
    if let (Some(w), Some(n)) = (was, now)
        && let Some(link) = ImageRef::compare_link(w, n)
    {
        parts.push(format!("compare {link}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
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

impl Plan {
    /// The digest as the ledger writes it (empty when the source is unpinned):
    /// the one place a plan's digest becomes text.
    pub fn digest_text(&self) -> String {
        self.digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// What the promotion changes, line by line: the platform's words, the
    /// images' commit and source labels where known, then the traffic steps
    /// where the strategy moves traffic in steps.
    pub fn diff(&self) -> Vec<String> {
        let mut lines = self.words.diff.clone();
        lines.extend(self.labels.iter().cloned());
        lines.extend(self.traffic.iter().cloned());
        lines
    }
}

impl Plan {
    /// The record that asks for approvals (`PromotionStarted`), with the policy hash
    /// that voids approvals given under another policy.
    /// It names the artifact's commit and source where the images' labels
    /// say them (the runbooks' "record the artifact and its commit"); the
    /// deploy's records start from it and carry them too.
    pub fn request_draft(&self, operator: &str, promotion: &str, policy_hash: &str) -> Draft {
        Draft {
            policy: Some(policy_hash.to_string()),
            reasons: self.labels.iter().cloned().collect(),
            supply: self.supply.clone(),
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
            change_type: self.change_type.clone(),
            skipped: self.skipped.clone(),
            from_env: Some(self.source_name.clone()),
            ..Draft::default()
        }
    }

    /// The plan with the digest's supply-chain evidence, for its records.
    #[must_use]
    pub fn with_supply(mut self, supply: Option<crate::supply::SupplyRecord>) -> Self {
        self.supply = supply;
        self
    }

    /// The plan for a change of type `change_type` (`None`: none chosen).
    #[must_use]
    pub fn with_change_type(mut self, change_type: Option<String>) -> Self {
        self.change_type = change_type;
        self
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
    /// The change type chosen (the wizard's `c`, `--change-type`).
    pub change_type: Option<String>,
    /// Break-glass overrides: check name and reason.
    pub overrides: Vec<(String, String)>,
}
