//! `[registry]`: which registries shipdeck reads, and how it reaches them.

/// The `[registry]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Host patterns (`127.0.0.1:5000`, `*.dkr.ecr.*.amazonaws.com`) whose
    /// images are read for every digest shown (labels, signatures). A gate
    /// check that needs the registry reads it wherever the image is.
    pub read: Vec<String>,
    /// Hosts reached over plain HTTP (a registry on this machine).
    pub insecure: Vec<String>,
}
