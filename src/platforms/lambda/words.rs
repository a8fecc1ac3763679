//! Lambda's own words: what a promotion changes (the alias's version, the
//! new version from the promoted artifact, the steps), what a rollback does,
//! where a function runs.

use super::codedeploy::ByHand;
use super::snapshot::CodeDeployment;
use crate::config::lambda::{CodeDeployGroup, LambdaService};
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{DeployWords, Digest, Revision, ServiceSnapshot, sanitize};

/// Where an environment's Lambda functions run: their region.
pub fn location(env: &EnvConfig) -> String {
    env.aws
        .as_ref()
        .map_or_else(|| "lambda".to_string(), |a| format!("lambda {}", a.region))
}

/// A Lambda function never rolls a shift back by itself (a CodeDeploy
/// deployment may, and shipdeck does not drive those).
pub const SELF_ROLLBACK: Option<&str> = None;

/// How a service on Lambda rolls out.
pub fn strategy(c: &crate::model::DeploymentConfig) -> String {
    c.strategy.to_string()
}

/// What promoting `digest` into `svc` does.
pub fn deploy(
    svc: &ServiceConfig,
    now: Option<&ServiceSnapshot>,
    digest: Option<&Digest>,
) -> DeployWords {
    let Some(l) = svc.lambda.as_deref() else {
        return DeployWords {
            diff: vec![format!("{} has no [environment.service.lambda]", svc.name)],
            steps: Vec::new(),
            watch_step: "then".to_string(),
        };
    };
    let current = now
        .and_then(|s| s.task_definition.as_ref())
        .map_or_else(|| "its current version".to_string(), ToString::to_string);
    let new = digest.map_or_else(|| "the promoted artifact".to_string(), ToString::to_string);
    let mut diff = vec![
        format!("- alias {}:{} → {current}", l.function, l.alias),
        format!("+ a new version of {} with {new}", l.function),
        format!("  traffic: {}", l.steps.describe()),
    ];
    // Said before anyone approves: the promotion itself will be refused.
    if let Some(cd) = &l.codedeploy {
        diff.push(format!(
            "  CodeDeploy ({}/{}) shifts this alias: shipdeck refuses to shift it by hand; deploy with `sam deploy`",
            cd.application, cd.group
        ));
    }
    DeployWords {
        diff,
        steps: vec![
            format!("1. update {}'s code to {new} and wait for it", l.function),
            "2. publish it as a version, only while it still holds that code".to_string(),
            format!(
                "3. shift alias {} to it: {}, each step read back first",
                l.alias,
                l.steps.describe()
            ),
        ],
        watch_step: "4.".to_string(),
    }
}

/// What rolling `svc` back to `to` does.
pub fn rollback(svc: &ServiceConfig, to: &Revision) -> String {
    svc.lambda.as_deref().map_or_else(
        || format!("{} has no [environment.service.lambda]", svc.name),
        |l| {
            format!(
                "alias {}:{} points at {to} again with its weights cleared (one UpdateAlias), then watched like a deploy.",
                l.function, l.alias
            )
        },
    )
}

/// Why shipdeck will not do `by_hand` to `l`'s alias (on version `current`)
/// while CodeDeploy's group `cd` manages it, and the command that does it:
/// stopping the deployment in flight (CodeDeploy then shifts the traffic
/// back itself), or a deployment through CodeDeploy.
pub fn codedeploy_refusal(
    l: &LambdaService,
    cd: &CodeDeployGroup,
    current: &str,
    deployment: &Result<Option<CodeDeployment>, String>,
    by_hand: ByHand,
) -> String {
    let current = sanitize(current);
    let managed = format!(
        "alias {}:{} is shifted by CodeDeploy ({}/{})",
        l.function, l.alias, cd.application, cd.group
    );
    let why = "shipdeck does not move an alias CodeDeploy manages, since CodeDeploy checks the alias against its AppSpec and fails a deployment that finds it moved";
    let target = match by_hand {
        ByHand::Promote => "the new TargetVersion".to_string(),
        ByHand::Rollback { to } => format!("TargetVersion {to}"),
    };
    let through = format!(
        "`sam deploy`{}, or `aws deploy create-deployment --application-name {} --deployment-group-name {}` with an AppSpec naming function {}, alias {}, CurrentVersion {current} and {target}",
        match by_hand {
            ByHand::Promote => "",
            ByHand::Rollback { .. } => " of the earlier build",
        },
        cd.application,
        cd.group,
        l.function,
        l.alias
    );
    let stop = |id: &str| {
        format!("`aws deploy stop-deployment --deployment-id {id} --auto-rollback-enabled`")
    };
    match (deployment, by_hand) {
        (Ok(Some(d)), _) => {
            let id = sanitize(&d.id);
            let what = match by_hand {
                ByHand::Promote => format!(
                    "Let it finish, or stop it with {}; then deploy with {through}",
                    stop(&id)
                ),
                ByHand::Rollback { .. } => format!(
                    "Stop it, and CodeDeploy shifts the traffic back to the version it started from: {}",
                    stop(&id)
                ),
            };
            format!(
                "{managed}, and its deployment {id} is {}{}: {why}. {what}",
                sanitize(&d.status),
                d.versions_text()
                    .map_or_else(String::new, |v| format!(" ({v})")),
            )
        }
        (Ok(None), ByHand::Promote) => format!("{managed}: {why}. Deploy with {through}"),
        (Ok(None), ByHand::Rollback { .. }) => {
            format!(
                "{managed}, with no deployment in flight: {why}. Roll back through CodeDeploy: {through}"
            )
        }
        (Err(e), _) => format!(
            "{managed}, whose deployments could not be read ({}): {why}. Look for one in flight with `aws deploy list-deployments --application-name {} --deployment-group-name {} --include-only-statuses Created Queued InProgress Baking Ready` and stop it with {}; with none in flight, deploy through CodeDeploy: {through}",
            sanitize(e),
            cd.application,
            cd.group,
            stop("ID")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lambda::StepPlan;

    fn service() -> (LambdaService, CodeDeployGroup) {
        let cd = CodeDeployGroup {
            application: "thumbs-app".into(),
            group: "thumbs-live".into(),
        };
        let l = LambdaService {
            function: "thumbs".into(),
            alias: "live".into(),
            steps: StepPlan::all_at_once(),
            codedeploy: Some(cd.clone()),
        };
        (l, cd)
    }

    #[test]
    fn a_refusal_names_the_deployment_in_flight_and_how_to_stop_it() {
        let (l, cd) = service();
        let d = Ok(Some(CodeDeployment {
            id: "d-ABC123".into(),
            status: "InProgress".into(),
            versions: Some(("12".into(), "13".into())),
        }));
        let promote = codedeploy_refusal(&l, &cd, "12", &d, ByHand::Promote);
        assert!(
            promote.starts_with("alias thumbs:live is shifted by CodeDeploy (thumbs-app/thumbs-live), and its deployment d-ABC123 is InProgress (12 → 13): "),
            "{promote}"
        );
        assert!(promote.contains("`sam deploy`"), "{promote}");
        let rollback = codedeploy_refusal(&l, &cd, "12", &d, ByHand::Rollback { to: 12 });
        assert!(
            rollback.ends_with(
                "`aws deploy stop-deployment --deployment-id d-ABC123 --auto-rollback-enabled`"
            ),
            "{rollback}"
        );
    }

    #[test]
    fn with_nothing_in_flight_or_unread_a_refusal_names_a_codedeploy_deployment() {
        let (l, cd) = service();
        let rollback = codedeploy_refusal(&l, &cd, "13", &Ok(None), ByHand::Rollback { to: 12 });
        assert!(
            rollback.ends_with("`aws deploy create-deployment --application-name thumbs-app --deployment-group-name thumbs-live` with an AppSpec naming function thumbs, alias live, CurrentVersion 13 and TargetVersion 12"),
            "{rollback}"
        );
        let unread = codedeploy_refusal(&l, &cd, "13", &Err("timed out".into()), ByHand::Promote);
        assert!(
            unread.contains("could not be read (timed out)")
                && unread.contains("aws deploy list-deployments"),
            "{unread}"
        );
    }
}
