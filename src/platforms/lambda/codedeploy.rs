//! CodeDeploy where it shifts a Lambda alias (SAM's `DeploymentPreference`):
//! its deployment in flight, read for the board and the detail pane, and the
//! one refusal of a promotion or a rollback by hand, with the command to use.
//!
//! shipdeck never drives CodeDeploy. A deployment group that manages an alias
//! owns it: CodeDeploy checks the alias against its AppSpec's
//! `CurrentVersion`, so an alias moved under it fails its next deployment,
//! and a move in the middle of one fights it. So a reading shows CodeDeploy's
//! deployment and its traffic (the alias's own weights, which CodeDeploy
//! moves), and promoting or rolling back is refused with the `sam` or
//! `aws deploy` command that does it.
//!
//! Reading costs one `ListDeployments` per managed service (in-flight
//! statuses only), and one `BatchGetDeployments` while one is in flight, under
//! the environment's call budget as API `codedeploy`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus};

use super::sdk::SdkLambda;
use super::snapshot::{CodeDeployView, CodeDeployment};
use crate::aws::{Calls, classify};
use crate::config::EnvConfig;
use crate::config::lambda::{CodeDeployGroup, LambdaService};
use crate::provider::ProviderError;

/// The API name CodeDeploy's calls are limited and counted under.
pub const API: &str = "codedeploy";

/// The statuses of a deployment still in flight.
const IN_FLIGHT: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];
/// The most deployments one `BatchGetDeployments` takes.
const BATCH: usize = 25;

/// What a person asked shipdeck to do by hand to a CodeDeploy-managed alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByHand {
    /// Promote a new version into it.
    Promote,
    /// Point it back at an earlier version.
    Rollback {
        /// The version asked for.
        to: u32,
    },
}

/// Each environment's CodeDeploy client, built from the session its Lambda
/// client is built from.
#[derive(Debug, Default)]
pub struct Clients {
    by_env: Mutex<HashMap<String, Client>>,
}

impl Clients {
    /// Builds `env`'s client from `sdk` unless it exists, with the
    /// `codedeploy` endpoint override when there is one.
    pub fn build(&self, env: &EnvConfig, sdk: &aws_config::SdkConfig) {
        self.by_env
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(env.name.clone())
            .or_insert_with(|| {
                crate::aws_client!(aws_sdk_codedeploy, sdk, crate::aws::endpoint(env, API))
            });
    }

    fn get(&self, env: &str) -> Option<Client> {
        self.by_env
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(env)
            .cloned()
    }
}

/// The newest deployment of `cd` in flight, if one is; its AppSpec's
/// versions when it names `l`'s function and alias.
pub async fn in_flight(
    client: &Client,
    calls: &Calls,
    env: &EnvConfig,
    l: &LambdaService,
    cd: &CodeDeployGroup,
) -> Result<Option<CodeDeployment>, ProviderError> {
    let what = format!("{}/{}", cd.application, cd.group);
    let listed = calls
        .call(env, API, "ListDeployments", || async {
            client
                .list_deployments()
                .application_name(&cd.application)
                .deployment_group_name(&cd.group)
                .set_include_only_statuses(Some(IN_FLIGHT.to_vec()))
                .send()
                .await
                .map_err(|e| classify(&e, "codedeploy:ListDeployments", &what))
        })
        .await?;
    // CodeDeploy runs one deployment of a group at a time; a few more may
    // wait. The order of the list is not promised: the newest is picked by
    // its creation time below.
    let ids: Vec<String> = listed.deployments().iter().take(BATCH).cloned().collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let got = calls
        .call(env, API, "BatchGetDeployments", || async {
            client
                .batch_get_deployments()
                .set_deployment_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(|e| classify(&e, "codedeploy:BatchGetDeployments", &what))
        })
        .await?;
    Ok(got
        .deployments_info()
        .iter()
        .max_by_key(|d| d.create_time().map(|t| (t.secs(), t.subsec_nanos())))
        .map(|d| deployment_of(d, l)))
}

fn deployment_of(d: &DeploymentInfo, l: &LambdaService) -> CodeDeployment {
    let appspec = d.revision().and_then(|r| {
        r.app_spec_content()
            .and_then(|a| a.content())
            .or_else(|| r.string().and_then(|s| s.content()))
    });
    CodeDeployment {
        id: d.deployment_id().unwrap_or("(no id)").to_string(),
        status: d
            .status()
            .map_or_else(|| "(no status)".to_string(), |s| s.as_str().to_string()),
        versions: appspec.and_then(|a| appspec_versions(a, &l.function, &l.alias)),
    }
}

impl Clients {
    /// What the reading shows of the group managing `l`'s alias: `None` when
    /// none does. A group that cannot be read is said with its reason
    /// (unknown), never taken for "nothing in flight", and never fails the
    /// whole reading.
    pub async fn view(&self, api: &SdkLambda, l: &LambdaService) -> Option<CodeDeployView> {
        let cd = l.codedeploy.as_ref()?;
        let deployment = match self.get(&api.env.name) {
            Some(c) => in_flight(&c, &api.calls, &api.env, l, cd)
                .await
                .map_err(|e| e.to_string()),
            None => Err(format!("no CodeDeploy client for {}", api.env.name)),
        };
        Some(CodeDeployView {
            group: format!("{}/{}", cd.application, cd.group),
            deployment,
        })
    }

    /// Why shipdeck will not do `by_hand` to `l`'s alias (now on `current`),
    /// when CodeDeploy manages it: the reason and the command to use instead,
    /// naming the deployment in flight when one is. `None` when no group
    /// manages it. The one refusal of a promotion and a rollback.
    pub async fn refusal(
        &self,
        api: &SdkLambda,
        l: &LambdaService,
        current: &str,
        by_hand: ByHand,
    ) -> Option<ProviderError> {
        let cd = l.codedeploy.as_ref()?;
        let view = self.view(api, l).await?;
        Some(ProviderError::Other {
            message: super::words::codedeploy_refusal(l, cd, current, &view.deployment, by_hand),
        })
    }
}

/// `CurrentVersion` → `TargetVersion` of a Lambda AppSpec (JSON or YAML)
/// whose `Name` is `function` (by name or ARN) and whose `Alias` is `alias`;
/// `None` when it names another function or alias, or lacks a version.
pub fn appspec_versions(appspec: &str, function: &str, alias: &str) -> Option<(String, String)> {
    let name = field(appspec, "Name")?;
    if function_name(name) != function_name(function) || field(appspec, "Alias")? != alias {
        return None;
    }
    Some((
        crate::model::sanitize(field(appspec, "CurrentVersion")?),
        crate::model::sanitize(field(appspec, "TargetVersion")?),
    ))
}

/// `thumbs` of `thumbs`, `arn:aws:lambda:…:function:thumbs` or `…:thumbs:live`.
fn function_name(name_or_arn: &str) -> &str {
    name_or_arn
        .split_once(":function:")
        .map_or(name_or_arn, |(_, rest)| {
            rest.split(':').next().unwrap_or(rest)
        })
}

/// The first value of `key` in JSON (`"Key": "v"`, `"Key": 3`) or YAML
/// (`Key: v`, `Key: 'v'`): a Lambda AppSpec names one function, so the
/// first is the one. Not a parser: enough for the four keys read here.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = text[from..].find(key).map(|i| from + i) {
        from = at + key.len();
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = text[from..]
            .strip_prefix(['"', '\''])
            .unwrap_or(&text[from..]);
        let Some(rest) = rest.trim_start_matches([' ', '\t']).strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next(),
            _ => rest
                .split([',', '}', '\n', '\r', '#'])
                .next()
                .map(str::trim),
        };
        return value.filter(|v| !v.is_empty());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"version": 0.0, "Resources": [{"thumbs": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "thumbs", "Alias": "live", "CurrentVersion": "12", "TargetVersion": 13}}}]}"#;

    const YAML: &str = "version: 0.0\nResources:\n  - ThumbsFunction:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: arn:aws:lambda:eu-west-1:1:function:thumbs\n        Alias: 'live'\n        CurrentVersion: \"12\" # before\n        TargetVersion: 13\nHooks:\n  - BeforeAllowTraffic: CodeDeployHook_pre\n";

    #[test]
    fn an_appspec_names_its_versions_in_json_or_yaml() {
        let v = Some(("12".to_string(), "13".to_string()));
        assert_eq!(appspec_versions(JSON, "thumbs", "live"), v);
        assert_eq!(appspec_versions(YAML, "thumbs", "live"), v);
        assert_eq!(
            appspec_versions(JSON, "arn:aws:lambda:eu-west-1:1:function:thumbs", "live"),
            v
        );
    }

    #[test]
    fn an_appspec_for_another_function_or_alias_names_nothing() {
        assert_eq!(appspec_versions(JSON, "resize", "live"), None);
        assert_eq!(appspec_versions(YAML, "thumbs", "beta"), None);
        assert_eq!(
            appspec_versions("{\"Name\": \"thumbs\"}", "thumbs", "live"),
            None
        );
        assert_eq!(appspec_versions("", "thumbs", "live"), None);
        // `FunctionName` is not `Name`.
        assert_eq!(
            field("{\"FunctionName\": \"x\", \"Name\": \"y\"}", "Name"),
            Some("y")
        );
    }
}
