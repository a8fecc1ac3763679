//! The AWS sections of the configuration: how an environment reaches its AWS
//! account (`[environment.aws]`, shared by every AWS API shipdeck calls:
//! ECS, CloudWatch, CloudWatch Logs, STS, Lambda and CodeDeploy), and the
//! ECS platform's own keys (`[environment.ecs]`, `[environment.service.ecs]`).
//!
//! Before these sections existed the same keys were written flat on every
//! environment and service (`region`, `cluster`, `ecs_service`, …). The flat
//! spelling still reads into these types, and `config check` names the new one.

use std::collections::BTreeMap;

/// The APIs whose endpoint `[environment.aws.endpoints]` may override.
pub const AWS_APIS: &[&str] = &["ecs", "cloudwatch", "logs", "sts", "lambda", "codedeploy"];

/// `[environment.aws]`: the region, profile and endpoints of an environment's
/// AWS account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAccess {
    /// The region, such as `eu-west-1`.
    pub region: String,
    /// A profile of `~/.aws/config`; the standard chain when absent.
    pub profile: Option<String>,
    /// One endpoint for every API (an emulator); AWS when absent.
    pub endpoint_url: Option<String>,
    /// Per-API endpoints (`ecs`, `cloudwatch`, …), which win over `endpoint_url`.
    pub endpoints: BTreeMap<String, String>,
}

impl AwsAccess {
    /// Where `api` (one of [`AWS_APIS`]) is reached: its own endpoint, else
    /// the shared one, else AWS (`None`). CloudWatch Logs lives where
    /// CloudWatch does unless it has its own.
    pub fn endpoint(&self, api: &str) -> Option<&str> {
        self.endpoints
            .get(api)
            .or_else(|| {
                (api == "logs")
                    .then(|| self.endpoints.get("cloudwatch"))
                    .flatten()
            })
            .or(self.endpoint_url.as_ref())
            .map(String::as_str)
    }
}

/// `[environment.ecs]`: the ECS platform's keys of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsEnv {
    /// The cluster's name or ARN.
    pub cluster: String,
}

/// `[environment.service.ecs]`: the ECS platform's keys of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsService {
    /// The ECS service's name in the cluster (default: shipdeck's name).
    pub service: String,
    /// The container whose image is the release (default: shipdeck's name).
    pub container: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_endpoint_wins_over_the_shared_one_and_logs_follow_cloudwatch() {
        let mut a = AwsAccess {
            region: "eu-west-1".into(),
            profile: None,
            endpoint_url: Some("http://shared".into()),
            endpoints: BTreeMap::new(),
        };
        assert_eq!(a.endpoint("ecs"), Some("http://shared"));
        a.endpoints.insert("cloudwatch".into(), "http://cw".into());
        assert_eq!(a.endpoint("cloudwatch"), Some("http://cw"));
        assert_eq!(a.endpoint("logs"), Some("http://cw"));
        assert_eq!(a.endpoint("ecs"), Some("http://shared"));
        a.endpoint_url = None;
        assert_eq!(a.endpoint("sts"), None);
    }

    #[test]
    fn codedeploy_has_its_own_endpoint() {
        let text = "[[environment]]\nname = \"prod\"\nplatform = \"lambda\"\n[environment.aws]\nregion = \"us-east-1\"\n\
                    endpoints = { lambda = \"http://lambda\", codedeploy = \"http://cd\" }\n\
                    [[environment.service]]\nname = \"thumbs\"\n[environment.service.lambda]\nalias = \"live\"\n";
        let cfg = crate::config::parse_str(text, "t.toml", None).unwrap();
        let aws = cfg.environments[0].aws.as_deref().unwrap();
        assert_eq!(aws.endpoint("codedeploy"), Some("http://cd"));
        assert_eq!(aws.endpoint("lambda"), Some("http://lambda"));
    }
}
