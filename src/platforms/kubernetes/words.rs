//! Kubernetes' own words: a Rollout's steps, the detail pane's lines (phase,
//! steps with the current one marked, weights, ReplicaSets, the Argo CD
//! Application), what a promotion commits and what a rollback does.

use super::objects::{CanaryStep, Rollout};
use super::snapshot::{AppRead, KubeReading};
use crate::config::kubernetes::{HelmValue, ImageSetting};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{DeployWords, DetailLine, Digest, Revision, ServiceSnapshot, sanitize};

/// Where an environment's services run: `k8s CONTEXT/NAMESPACE`.
pub fn location(env: &EnvConfig) -> String {
    env.kubernetes.as_deref().map_or_else(
        || "kubernetes (no [environment.kubernetes])".to_string(),
        |k| {
            format!(
                "k8s {}/{}",
                k.context.as_deref().unwrap_or("current-context"),
                k.namespace
            )
        },
    )
}

/// Argo Rollouts never rolls back by itself unless an analysis aborts it:
/// that is an abort, which the reading shows as failed.
pub const SELF_ROLLBACK: Option<&str> = Some("an Argo Rollouts analysis");

/// How a service rolls out, in the deployment config's words.
pub fn strategy(c: &crate::model::DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// One step in a few words: `20%`, `pause`, `pause 30s`, `analysis errors`.
pub fn step_words(step: Option<&CanaryStep>) -> Option<String> {
    let s = step?;
    if let Some(w) = s.set_weight {
        return Some(format!("{w}%"));
    }
    if let Some(p) = &s.pause {
        return Some(match &p.duration {
            None => "pause".to_string(),
            Some(serde_json::Value::String(d)) => format!("pause {}", sanitize(d)),
            Some(serde_json::Value::Number(n)) => format!("pause {n}s"),
            Some(_) => "pause ?".to_string(),
        });
    }
    if let Some(a) = &s.analysis {
        let names: Vec<String> = a
            .templates
            .iter()
            .map(|t| sanitize(&t.template_name))
            .collect();
        return Some(
            format!("analysis {}", names.join(","))
                .trim_end()
                .to_string(),
        );
    }
    Some(
        s.other
            .keys()
            .next()
            .map_or_else(|| "empty step".to_string(), |k| sanitize(k)),
    )
}

/// How a Rollout rolls out: `canary 20% · pause · 50% · pause`.
pub fn strategy_of(ro: Option<&Rollout>) -> String {
    let Some(ro) = ro else {
        return "rolling update (Deployment)".to_string();
    };
    if let Some(c) = &ro.spec.strategy.canary {
        if c.steps.is_empty() {
            return "canary, no steps (Argo Rollouts)".to_string();
        }
        let steps: Vec<String> = c.steps.iter().filter_map(|s| step_words(Some(s))).collect();
        return format!("canary {}", steps.join(" · "));
    }
    if ro.spec.strategy.blue_green.is_some() {
        return "blue/green (Argo Rollouts)".to_string();
    }
    "Argo Rollout, strategy not read".to_string()
}

/// The detail pane's lines.
pub fn detail_lines(
    r: &KubeReading<'_>,
    ro: Option<&Rollout>,
    app: &AppRead<'_>,
) -> Vec<DetailLine> {
    let mut out = Vec::new();
    if let Some(ro) = ro {
        let st = ro.status.clone().unwrap_or_default();
        let phase = st.phase.as_deref().unwrap_or("not reported");
        let msg = st.message.as_deref().filter(|m| !m.is_empty());
        out.push(
            DetailLine::new(
                "phase",
                match msg {
                    Some(m) => format!("{phase}: {m}"),
                    None => phase.to_string(),
                },
            )
            .warn_if(phase == "Degraded" || st.abort),
        );
        if let Some(c) = &ro.spec.strategy.canary {
            let at = usize::try_from(st.current_step_index.unwrap_or(0).max(0)).unwrap_or(0);
            let steps: Vec<String> = c
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let w = step_words(Some(s)).unwrap_or_default();
                    if i == at { format!("[{w}]") } else { w }
                })
                .collect();
            if !steps.is_empty() {
                out.push(DetailLine::new("steps", steps.join(" · ")));
            }
            if let Some(w) = st.canary.as_ref().and_then(|c| c.weights.as_ref()) {
                out.push(DetailLine::new(
                    "weights",
                    format!("canary {}% · stable {}%", w.canary.weight, w.stable.weight),
                ));
            }
            if let Some(a) = st
                .canary
                .as_ref()
                .and_then(|c| c.current_step_analysis_run_status.as_ref())
            {
                out.push(
                    DetailLine::new(
                        "analysis",
                        format!(
                            "{} {}{}",
                            a.name,
                            a.status,
                            a.message
                                .as_deref()
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        ),
                    )
                    .warn_if(a.status == "Failed" || a.status == "Error"),
                );
            }
        }
        if let Some(bg) = &st.blue_green {
            out.push(DetailLine::new(
                "blue/green",
                format!(
                    "active {} · preview {}",
                    bg.active_selector.as_deref().unwrap_or("?"),
                    bg.preview_selector.as_deref().unwrap_or("none")
                ),
            ));
        }
        out.push(DetailLine::new(
            "sets",
            format!(
                "stable {} · canary {}",
                st.stable_rs.as_deref().unwrap_or("?"),
                st.current_pod_hash
                    .as_deref()
                    .filter(|h| st.stable_rs.as_deref() != Some(*h))
                    .unwrap_or("none")
            ),
        ));
        for p in &st.pause_conditions {
            out.push(DetailLine::new(
                "paused",
                format!(
                    "{} since {}",
                    p.reason,
                    p.start_time.as_deref().unwrap_or("?")
                ),
            ));
        }
        if st.abort {
            out.push(
                DetailLine::new("aborted", st.aborted_at.unwrap_or_else(|| "yes".into()))
                    .warn_if(true),
            );
        }
    }
    match app {
        AppRead::None => {}
        AppRead::Missing(name) => out.push(
            DetailLine::new("argo cd", format!("Application {name} not found")).warn_if(true),
        ),
        AppRead::Found(a) => {
            let st = a.status.clone().unwrap_or_default();
            let sync = st.sync.clone().unwrap_or_default();
            let health = st.health.clone().unwrap_or_default();
            let rev = sync
                .revision
                .as_deref()
                .map_or("?", |r| &r[..r.len().min(12)]);
            out.push(
                DetailLine::new(
                    "argo cd",
                    format!(
                        "{} {} at {rev} · {}",
                        a.metadata.name.as_deref().unwrap_or("?"),
                        if sync.status.is_empty() {
                            "Unknown"
                        } else {
                            &sync.status
                        },
                        if health.status.is_empty() {
                            "health ?"
                        } else {
                            &health.status
                        }
                    ),
                )
                .warn_if(sync.status != "Synced" || health.status == "Degraded"),
            );
            if let Some(op) = &st.operation_state {
                out.push(
                    DetailLine::new(
                        "sync op",
                        format!(
                            "{}{}",
                            op.phase,
                            op.message
                                .as_deref()
                                .filter(|m| !m.is_empty())
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        ),
                    )
                    .warn_if(op.phase == "Failed" || op.phase == "Error"),
                );
            }
            for c in &st.conditions {
                out.push(
                    DetailLine::new("argo cd", format!("{}: {}", c.kind, c.message)).warn_if(true),
                );
            }
        }
    }
    let _ = r;
    out
}

/// The value a promotion writes for `digest`.
pub fn value_for(
    setting: &ImageSetting,
    repository: Option<&str>,
    digest: &Digest,
) -> Option<String> {
    match setting {
        ImageSetting::Kustomize { .. }
        | ImageSetting::Helm {
            value: HelmValue::Digest,
            ..
        } => Some(digest.to_string()),
        ImageSetting::Helm {
            value: HelmValue::Reference,
            ..
        } => repository.map(|r| format!("{r}@{digest}")),
    }
}

/// Where the value is, in words: `overlays/prod/kustomization.yaml
/// images[ghcr.io/acme/search].digest`.
pub fn setting_words(setting: &ImageSetting) -> String {
    match setting {
        ImageSetting::Kustomize { file, image } => format!("{file} images[{image}].digest"),
        ImageSetting::Helm { file, path, .. } => format!("{file} {}", path.join(".")),
    }
}

/// What promoting `digest` into `svc` does: the one value committed, the
/// commit, Argo CD's sync, the Rollout's steps.
pub fn deploy(
    env: &EnvConfig,
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let (Some(k), Some(ke)) = (svc.kubernetes.as_deref(), env.kubernetes.as_deref()) else {
        return DeployWords {
            diff: vec![format!(
                "{} has no [environment.service.kubernetes]",
                svc.name
            )],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let (Some(setting), Some(git)) = (k.image.as_ref(), ke.git.as_ref()) else {
        return DeployWords {
            diff: vec![format!(
                "{} in {} is read only: no GitOps value pins its image (kustomization or helm_values)",
                svc.name, env.name
            )],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let current = now
        .and_then(|s| s.digest.as_ref())
        .map_or_else(|| "its current digest".to_string(), ToString::to_string);
    let new = digest.map_or_else(|| "the promoted digest".to_string(), ToString::to_string);
    let at = sanitize(&setting_words(setting));
    // The digests first: a short terminal keeps the `-`/`+` lines, cut at
    // its width.
    let mut diff = vec![
        format!("- digest {current}"),
        format!("+ digest {new}"),
        format!("  one value: {at}"),
        format!(
            "  committed to {} branch {}",
            sanitize(&git.url),
            sanitize(&git.branch)
        ),
    ];
    if let Some(s) = now {
        diff.push(format!(
            "  {}: {}",
            k.workload.kind().to_lowercase(),
            s.deployment_config.strategy
        ));
    }
    let app = k.application.as_deref();
    DeployWords {
        diff,
        steps: vec![
            format!(
                "1. commit that one value to {} as you (git's own keys), naming the promotion and change, and push (a concurrent commit that left it alone is rebased once)",
                sanitize(&git.branch)
            ),
            match app {
                Some(a) if git.refresh => {
                    format!("2. ask Argo CD to refresh {a}, and wait for it to sync the commit")
                }
                Some(a) => format!("2. wait for Argo CD to sync the commit ({a})"),
                None => "2. wait for the cluster to apply the commit".to_string(),
            },
            format!(
                "3. follow the {} {} step by step; a pause waits for {}",
                k.workload.kind(),
                k.name,
                match env.rollout.step_approvals {
                    0 => "someone to continue".to_string(),
                    1 => "one person other than you to continue".to_string(),
                    n => format!("{n} people other than you to continue"),
                }
            ),
        ],
        watch_step: "4.".to_string(),
    }
}

/// What a rollback does.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    svc.kubernetes.as_deref().map_or_else(
        || format!("{} has no [environment.service.kubernetes]", svc.name),
        |k| {
            format!(
                "a canary mid-way is aborted at once (traffic back to stable), then a commit restores {to}'s digest in git, so Argo CD's self-heal keeps it; once Argo CD applies it, the canary's steps are skipped (promote --full) and {} {} is watched like a deploy.",
                k.workload.kind(),
                k.name
            )
        },
    )
}

/// The hook that names a Rollout's pause at step `index` (0-based): the
/// shift's, and what a decision names.
pub fn pause_hook(name: &str, index: usize) -> String {
    format!("rollout/{name}/{index}")
}

/// Whether a continue decided on the pause `seen` (the hook the person
/// read) may be applied now that Rollout `name` stands at step `index`,
/// `paused` or not: never past a step the person did not see.
pub fn still_paused_there(
    name: &str,
    seen: Option<&str>,
    index: usize,
    paused: bool,
    phase: &str,
) -> Result<(), crate::provider::ProviderError> {
    if paused && seen == Some(pause_hook(name, index).as_str()) {
        return Ok(());
    }
    Err(crate::provider::ProviderError::Conflict {
        message: format!(
            "{name} is no longer paused at the step you saw (now: step {} {phase}); nothing was changed",
            index + 1
        ),
    })
}

/// What a continue did, in words: the pause's weight, with Argo's own step
/// number beside it.
pub fn continued(name: &str, weight: Option<i32>, index: usize, steps: usize) -> String {
    let at = weight.map_or_else(String::new, |w| format!(" at {w}%"));
    format!(
        "continued {name} past its pause{at} (Argo step {} of {steps}): pauseConditions cleared, spec.paused false",
        index + 1
    )
}

/// What a roll back at a pause did, in words.
pub fn aborted(name: &str) -> String {
    format!("aborted {name}: all traffic back on the stable ReplicaSet")
}
