//! The Kubernetes platform's own section of the configuration: which cluster
//! and namespace an environment is (`[environment.kubernetes]`, read through
//! a kubeconfig context the standard way), the GitOps repository a promotion
//! commits to (`[environment.kubernetes.git]`), and which workload a service
//! is, with the Argo CD Application that syncs it and the one value in the
//! repository that pins its image (`[environment.service.kubernetes]`).

use std::path::PathBuf;

/// Where Argo CD keeps its Applications unless an environment says.
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";

/// `[environment.kubernetes]`: how an environment reaches its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeEnv {
    /// The kubeconfig context; `None`: the kubeconfig's current context, or
    /// the pod's own service account when running in a cluster.
    pub context: Option<String>,
    /// A kubeconfig file; `None`: `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The stage's namespace (one per stage).
    pub namespace: String,
    /// Where the Argo CD Applications live.
    pub argocd_namespace: String,
    /// The GitOps repository a promotion commits to, when promotions are
    /// commits (without it the environment is read, never promoted into).
    pub git: Option<GitRepoConfig>,
}

/// `[environment.kubernetes.git]`: the stage's GitOps repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRepoConfig {
    /// What `git clone` takes: a URL (SSH or HTTPS, with the user's own keys
    /// and credential helpers) or a path.
    pub url: String,
    /// The branch Argo CD follows.
    pub branch: String,
    /// Ask Argo CD to refresh the Application after a push (its
    /// `argocd.argoproj.io/refresh` annotation), instead of waiting for its
    /// poll.
    pub refresh: bool,
}

/// What a service is in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// An Argo Rollout (`argoproj.io/v1alpha1`, kind `Rollout`).
    Rollout,
    /// A plain Deployment (`apps/v1`).
    Deployment,
}

impl Workload {
    /// Its kind, as Kubernetes writes it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Rollout => "Rollout",
            Self::Deployment => "Deployment",
        }
    }
}

/// `[environment.service.kubernetes]`: one service on Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeService {
    /// A Rollout or a Deployment.
    pub workload: Workload,
    /// The workload's name (default: the service's name).
    pub name: String,
    /// The container whose image is the service's (default: the first).
    pub container: Option<String>,
    /// The Argo CD Application that syncs it, when one does.
    pub application: Option<String>,
    /// The one value in the GitOps repository that pins its image, when the
    /// service is promoted by commit.
    pub image: Option<ImageSetting>,
}

/// The one value a promotion changes in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSetting {
    /// A kustomization's `images:` entry whose `name` is `image`: its
    /// `digest` is set.
    Kustomize {
        /// The kustomization file, relative to the repository's root.
        file: String,
        /// The entry's `name` (the image as the manifests write it).
        image: String,
    },
    /// A value in a Helm values file, at a dotted path (`image.digest`).
    Helm {
        /// The values file, relative to the repository's root.
        file: String,
        /// The keys from the top, one per level.
        path: Vec<String>,
        /// What is written there.
        value: HelmValue,
    },
}

impl ImageSetting {
    /// The file it changes.
    pub fn file(&self) -> &str {
        match self {
            Self::Kustomize { file, .. } | Self::Helm { file, .. } => file,
        }
    }
}

/// What a Helm value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelmValue {
    /// The digest alone (`sha256:…`), for a chart that writes
    /// `repository@digest` itself.
    Digest,
    /// The whole reference (`repo@sha256:…`).
    Reference,
}
