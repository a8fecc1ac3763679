//! `[registry]`: which registries shipdeck reads, and how it reaches them.

use std::collections::BTreeMap;

/// The `[registry]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Host patterns (`127.0.0.1:5000`, `*.dkr.ecr.*.amazonaws.com`) whose
    /// images are read for every digest shown (labels, signatures). A gate
    /// check that needs the registry reads it wherever the image is.
    pub read: Vec<String>,
    /// Hosts reached over plain HTTP (a registry on this machine).
    pub insecure: Vec<String>,
    /// `[registry.auth]`: host → name of the secret (keyring, or
    /// `$SHIPDECK_SECRET_<NAME>`) whose value is `user:password`. It wins
    /// over ECR and the Docker configuration for that host.
    pub auth: BTreeMap<String, String>,
    /// `[registry.ecr]`: how ECR's `GetAuthorizationToken` is called.
    pub ecr: EcrConfig,
}

/// `[registry.ecr]`: the AWS profile and endpoint used to get ECR tokens
/// (the region comes from the registry's host name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcrConfig {
    /// A profile of `~/.aws/config`; the standard chain when absent.
    pub profile: Option<String>,
    /// ECR's endpoint (an emulator); AWS when absent.
    pub endpoint_url: Option<String>,
}

impl RegistryConfig {
    /// Whether images on `image`'s registry are read for every digest shown
    /// (`read` patterns, `*` and `?` globs).
    pub fn reads(&self, image: &crate::model::ImageRef) -> bool {
        let host = crate::registry::host_of(image);
        self.read
            .iter()
            .any(|p| wildmatch::WildMatch::new(p).matches(host))
    }
}
