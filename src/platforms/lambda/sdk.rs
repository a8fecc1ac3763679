//! [`LambdaApi`] through the AWS SDK, every call under the environment's
//! call budget and counted.

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::api::{AliasUpdate, Code, LambdaApi, LatestCode};
use super::package::{self, PackageError};
use super::read::{self, API, AliasView, Artifacts, Latest};
use super::routing::weight_f64;
use super::snapshot::Artifact;
use crate::aws::{Calls, classify};
use crate::config::EnvConfig;
use crate::provider::ProviderError;

/// One environment's Lambda.
#[derive(Debug, Clone)]
pub struct SdkLambda {
    /// The client.
    pub client: Client,
    /// The environment's call budget.
    pub calls: Calls,
    /// The environment (its name and in-flight limit).
    pub env: EnvConfig,
    /// Versions' artifacts once read.
    pub artifacts: Artifacts,
}

fn latest_of(
    c: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> LatestCode {
    LatestCode {
        latest: Latest {
            state: c.state().map(|s| s.as_str().to_string()),
            last_update: c.last_update_status().map(|s| {
                (
                    s.as_str().to_string(),
                    c.last_update_status_reason().map(str::to_string),
                )
            }),
            package: c.package_type().map(|p| p.as_str().to_string()),
        },
        code_sha256: c.code_sha256().map(str::to_string),
        revision_id: c.revision_id().map(str::to_string),
    }
}

impl LambdaApi for SdkLambda {
    async fn alias(&self, function: &str, alias: &str) -> Result<AliasView, ProviderError> {
        read::alias(&self.client, &self.calls, &self.env, function, alias).await
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
    ) -> Result<AliasView, ProviderError> {
        let what = format!("{function}:{alias}");
        let weights: HashMap<String, f64> = update
            .weighted
            .iter()
            .map(|(v, w)| (v.clone(), weight_f64(*w)))
            .collect();
        let routing = AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(weights))
            .build();
        self.calls
            .call(&self.env, API, "UpdateAlias", || async {
                self.client
                    .update_alias()
                    .function_name(function)
                    .name(alias)
                    .function_version(&update.version)
                    .routing_config(routing.clone())
                    .description(&update.description)
                    .set_revision_id(update.revision_id.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:UpdateAlias", &what))
            })
            .await?;
        // What the alias is now, read back rather than assumed.
        self.alias(function, alias).await
    }

    async fn latest(&self, function: &str) -> Result<LatestCode, ProviderError> {
        let out = self
            .calls
            .call(&self.env, API, "GetFunctionConfiguration", || async {
                self.client
                    .get_function_configuration()
                    .function_name(function)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:GetFunctionConfiguration", function))
            })
            .await?;
        Ok(latest_of(&out))
    }

    async fn update_code(&self, function: &str, code: &Code) -> Result<LatestCode, ProviderError> {
        self.calls
            .call(&self.env, API, "UpdateFunctionCode", || async {
                let call = self.client.update_function_code().function_name(function);
                let call = match code {
                    Code::Image { repository, digest } => {
                        call.image_uri(Code::image_uri(repository, digest))
                    }
                    Code::Zip(bytes) => call.zip_file(aws_smithy_types::Blob::new(bytes.clone())),
                };
                call.send()
                    .await
                    .map_err(|e| classify(&e, "lambda:UpdateFunctionCode", function))
            })
            .await?;
        self.latest(function).await
    }

    async fn publish(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
    ) -> Result<Artifact, ProviderError> {
        let out = self
            .calls
            .call(&self.env, API, "PublishVersion", || async {
                self.client
                    .publish_version()
                    .function_name(function)
                    .code_sha256(code_sha256)
                    .set_revision_id(revision_id.map(str::to_string))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:PublishVersion", function))
            })
            .await?;
        let version = out
            .version()
            .and_then(super::routing::number)
            .ok_or_else(|| ProviderError::Other {
                message: format!(
                    "lambda:PublishVersion answered {function} without a version number"
                ),
            })?;
        self.artifact(function, version).await
    }

    async fn artifact(&self, function: &str, version: u32) -> Result<Artifact, ProviderError> {
        read::artifact(
            &self.client,
            &self.calls,
            &self.env,
            &self.artifacts,
            function,
            version,
        )
        .await
    }

    async fn package(
        &self,
        function: &str,
        version: u32,
        limit: u64,
    ) -> Result<Vec<u8>, ProviderError> {
        let what = format!("{function}:{version}");
        let out = self
            .calls
            .call(&self.env, API, "GetFunction", || async {
                self.client
                    .get_function()
                    .function_name(function)
                    .qualifier(version.to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "lambda:GetFunction", &what))
            })
            .await?;
        let what = format!("{what} in {}", self.env.name);
        let Some(location) = out
            .code()
            .and_then(|c| c.location())
            .filter(|l| !l.is_empty())
        else {
            return Err(PackageError::NoLocation { what }.into());
        };
        Ok(package::download(location, &what, limit, package::DOWNLOAD).await?)
    }
}
