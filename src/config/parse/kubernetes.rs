//! Kubernetes services: `[environment.kubernetes]` (the kubeconfig context,
//! the stage's namespace, where Argo CD keeps its Applications, and the
//! GitOps repository, `[environment.kubernetes.git]`) and
//! `[environment.service.kubernetes]` (the workload, its Application, and the
//! one value in the repository that pins its image).

use super::super::kubernetes::{
    DEFAULT_ARGOCD_NAMESPACE, GitRepoConfig, HelmValue, ImageSetting, KubeEnv, KubeService,
    Workload,
};
use super::super::walk::{Ctx, Table};

const ENV_KEYS: &[&str] = &[
    "context",
    "kubeconfig",
    "namespace",
    "argocd_namespace",
    "git",
];
const GIT_KEYS: &[&str] = &["url", "branch", "refresh"];
const SERVICE_KEYS: &[&str] = &[
    "rollout",
    "deployment",
    "container",
    "application",
    "kustomization",
    "image",
    "helm_values",
    "value_path",
    "value",
];

/// A Kubernetes name (RFC 1123 label, as namespaces and most objects need):
/// lower-case letters, digits and '-', at most 63, starting and ending with
/// a letter or digit. Subdomain names may also hold '.', up to 253.
fn valid_k8s_name(s: &str, dots: bool) -> bool {
    let max = if dots { 253 } else { 63 };
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A name key that must be a Kubernetes name, reported where it is not.
fn name_key(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str, dots: bool) -> Option<String> {
    let v = t.str(ctx, key)?;
    if valid_k8s_name(&v, dots) {
        return Some(v);
    }
    ctx.report(
        t.value_span(key),
        format!(
            "{} > {key} is not a Kubernetes name: \"{}\"",
            t.path,
            v.escape_debug()
        ),
        "use lower-case letters, digits and '-', starting and ending with a letter or digit",
    );
    None
}

/// A path inside the repository: relative, no `..`, no controls.
fn repo_path(ctx: &mut Ctx<'_>, t: &Table<'_>, key: &str) -> Option<String> {
    let p = t.path(ctx, key)?;
    let bad =
        p.starts_with('/') || p.split(['/', '\\']).any(|part| part == "..") || p.ends_with('/');
    if bad {
        ctx.report(
            t.value_span(key),
            format!("{} > {key} must be a file inside the repository: \"{p}\"", t.path),
            "write the path from the repository's root, such as \"overlays/prod/kustomization.yaml\"",
        );
        return None;
    }
    Some(p)
}

/// `[environment.kubernetes]`.
pub(super) fn parse_env_kubernetes(ctx: &mut Ctx<'_>, env: &Table<'_>) -> Option<KubeEnv> {
    let t = env.table(ctx, "kubernetes", format!("{} > kubernetes", env.path))?;
    t.check_keys(ctx, ENV_KEYS);
    let context = t.str(ctx, "context").filter(|c| {
        let ok = !c.trim().is_empty() && !c.chars().any(char::is_control);
        if !ok {
            ctx.report(
                t.value_span("context"),
                format!("{} > context is empty or holds control characters", t.path),
                "write the context's name as `kubectl config get-contexts` lists it, or leave it out for the current one",
            );
        }
        ok
    });
    let kubeconfig = t.path(ctx, "kubeconfig").map(std::path::PathBuf::from);
    let namespace = if t.has("namespace") {
        name_key(ctx, &t, "namespace", false)
    } else {
        t.missing(
            ctx,
            "namespace",
            "add namespace = \"shop-staging\" (the stage's namespace)",
        );
        None
    };
    let argocd_namespace = if t.has("argocd_namespace") {
        name_key(ctx, &t, "argocd_namespace", false)
    } else {
        Some(DEFAULT_ARGOCD_NAMESPACE.to_string())
    };
    let git = t
        .table(ctx, "git", format!("{} > git", t.path))
        .and_then(|g| parse_git(ctx, &g));
    Some(KubeEnv {
        context,
        kubeconfig,
        namespace: namespace?,
        argocd_namespace: argocd_namespace?,
        git,
    })
}

/// `[environment.kubernetes.git]`.
fn parse_git(ctx: &mut Ctx<'_>, g: &Table<'_>) -> Option<GitRepoConfig> {
    g.check_keys(ctx, GIT_KEYS);
    let url = g.req_str(
        ctx,
        "url",
        "add url = \"git@github.com:acme/deploy.git\" (what `git clone` takes)",
    )?;
    // An argv, never a shell: still, a URL that git would read as an option
    // (`--upload-pack=…`) or that holds controls is refused here.
    if url.trim().is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
        ctx.report(
            g.value_span("url"),
            format!("{} > url is not a repository address: \"{}\"", g.path, url.escape_debug()),
            "write what `git clone` takes: git@host:org/repo.git, https://host/org/repo.git or a path",
        );
        return None;
    }
    let branch = g.str(ctx, "branch").unwrap_or_else(|| "main".to_string());
    let branch_ok = !branch.is_empty()
        && !branch.starts_with('-')
        && !branch.contains("..")
        && !branch
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if !branch_ok {
        ctx.report(
            g.value_span("branch"),
            format!(
                "{} > branch is not a branch name: \"{}\"",
                g.path,
                branch.escape_debug()
            ),
            "write the branch Argo CD follows, such as \"main\"",
        );
        return None;
    }
    Some(GitRepoConfig {
        url,
        branch,
        refresh: g.bool(ctx, "refresh", true),
    })
}

/// `[environment.service.kubernetes]` of a service on Kubernetes (optional:
/// the workload is a Rollout named as the service by default).
pub(super) fn parse_service_kubernetes(
    ctx: &mut Ctx<'_>,
    svc: &Table<'_>,
    name: &str,
    env: Option<&KubeEnv>,
    env_has_kubernetes: bool,
) -> Option<KubeService> {
    let Some(env) = env else {
        if env_has_kubernetes {
            return None;
        }
        ctx.report(
            svc.value_span("platform").or_else(|| svc.value_span("name")),
            format!(
                "{} runs on platform \"kubernetes\" but its environment has no [kubernetes]",
                svc.path
            ),
            "add [environment.kubernetes] with namespace = \"…\" (and context = \"…\" for a kubeconfig context)",
        );
        return None;
    };
    let Some(t) = svc.table(ctx, "kubernetes", format!("{} > kubernetes", svc.path)) else {
        return Some(KubeService {
            workload: Workload::Rollout,
            name: name.to_string(),
            container: None,
            application: None,
            image: None,
        });
    };
    t.check_keys(ctx, SERVICE_KEYS);
    let (workload, wname) = match (t.has("rollout"), t.has("deployment")) {
        (true, true) => {
            ctx.report(
                t.value_span("deployment"),
                format!("{} names both a rollout and a deployment", t.path),
                "a service is one workload: keep rollout = \"…\" or deployment = \"…\"",
            );
            return None;
        }
        (_, true) => (Workload::Deployment, name_key(ctx, &t, "deployment", true)?),
        (true, _) => (Workload::Rollout, name_key(ctx, &t, "rollout", true)?),
        (false, false) => (Workload::Rollout, name.to_string()),
    };
    let container = t.str(ctx, "container");
    let application = if t.has("application") {
        Some(name_key(ctx, &t, "application", true)?)
    } else {
        None
    };
    let image = parse_image(ctx, &t)?;
    if image.is_some() && env.git.is_none() {
        ctx.report(
            t.key_span("kustomization").or_else(|| t.key_span("helm_values")),
            format!(
                "{} says which value pins its image, but its environment has no [kubernetes.git] to commit to",
                t.path
            ),
            "add [environment.kubernetes.git] with url and branch",
        );
        return None;
    }
    Some(KubeService {
        workload,
        name: wname,
        container,
        application,
        image,
    })
}

/// The one value a promotion changes: a kustomization's `images:` entry, or
/// a path in a Helm values file. `Some(None)`: the service is not promoted
/// by commit.
#[allow(clippy::option_option)]
fn parse_image(ctx: &mut Ctx<'_>, t: &Table<'_>) -> Option<Option<ImageSetting>> {
    match (t.has("kustomization"), t.has("helm_values")) {
        (true, true) => {
            ctx.report(
                t.value_span("helm_values"),
                format!("{} names both a kustomization and a Helm values file", t.path),
                "the image is pinned in one place: keep kustomization = \"…\" or helm_values = \"…\"",
            );
            None
        }
        (true, false) => {
            for k in ["value_path", "value"] {
                if t.has(k) {
                    ctx.report(
                        t.key_span(k),
                        format!("{} > {k} applies to helm_values only", t.path),
                        "a kustomization's entry is found by image = \"…\"",
                    );
                }
            }
            let file = repo_path(ctx, t, "kustomization");
            let image = t.req_str(
                ctx,
                "image",
                "add image = \"ghcr.io/acme/search\" (the `name:` of the kustomization's images entry)",
            );
            Some(Some(ImageSetting::Kustomize {
                file: file?,
                image: image?,
            }))
        }
        (false, true) => {
            if t.has("image") {
                ctx.report(
                    t.key_span("image"),
                    format!("{} > image applies to a kustomization only", t.path),
                    "a Helm value is found by value_path = \"image.digest\"",
                );
            }
            let file = repo_path(ctx, t, "helm_values");
            let path = t.req_str(
                ctx,
                "value_path",
                "add value_path = \"image.digest\" (the keys from the top, with dots)",
            );
            let path: Option<Vec<String>> = path.and_then(|p| {
                let parts: Vec<String> = p.split('.').map(str::to_string).collect();
                if parts.iter().any(|k| k.trim().is_empty()) {
                    ctx.report(
                        t.value_span("value_path"),
                        format!("{} > value_path has an empty key: \"{p}\"", t.path),
                        "write the keys from the top with single dots: \"image.digest\"",
                    );
                    None
                } else {
                    Some(parts)
                }
            });
            let value = match t.choice(ctx, "value", &["digest", "reference"]).as_deref() {
                Some("reference") => HelmValue::Reference,
                _ => HelmValue::Digest,
            };
            Some(Some(ImageSetting::Helm {
                file: file?,
                path: path?,
                value,
            }))
        }
        (false, false) => {
            for k in ["image", "value_path", "value"] {
                if t.has(k) {
                    ctx.report(
                        t.key_span(k),
                        format!(
                            "{} > {k} needs kustomization = \"…\" or helm_values = \"…\"",
                            t.path
                        ),
                        "say which file pins the image",
                    );
                }
            }
            Some(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_k8s_name;
    use crate::config::kubernetes::{HelmValue, ImageSetting, Workload};

    fn parse(env: &str, svc: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "[[environment]]\nname = \"prod\"\nplatform = \"kubernetes\"\n{env}\n\
             [[environment.service]]\nname = \"search\"\n{svc}\n"
        );
        crate::config::parse_str(&text, "k.toml", None).map_err(|e| e.to_string())
    }

    const ENV: &str = "[environment.kubernetes]\ncontext = \"prod-eu\"\nnamespace = \"shop-prod\"\n\
        [environment.kubernetes.git]\nurl = \"git@github.com:acme/deploy.git\"\n";

    #[test]
    fn a_stage_and_its_services_read_with_their_defaults() {
        let cfg = parse(ENV, "[environment.service.kubernetes]\nkustomization = \"overlays/prod/kustomization.yaml\"\nimage = \"ghcr.io/acme/search\"\napplication = \"search-prod\"").unwrap();
        let env = cfg.env("prod").unwrap();
        let k = env.kubernetes.as_deref().unwrap();
        assert_eq!(
            (
                k.context.as_deref(),
                k.namespace.as_str(),
                k.argocd_namespace.as_str()
            ),
            (Some("prod-eu"), "shop-prod", "argocd")
        );
        let git = k.git.as_ref().unwrap();
        assert_eq!((git.branch.as_str(), git.refresh), ("main", true));
        let s = env.services[0].kubernetes.as_deref().unwrap();
        assert_eq!(
            (s.workload, s.name.as_str(), s.application.as_deref()),
            (Workload::Rollout, "search", Some("search-prod"))
        );
        assert_eq!(
            s.image,
            Some(ImageSetting::Kustomize {
                file: "overlays/prod/kustomization.yaml".into(),
                image: "ghcr.io/acme/search".into()
            })
        );
        let cfg = parse(ENV, "[environment.service.kubernetes]\ndeployment = \"search-api\"\nhelm_values = \"charts/search/values-prod.yaml\"\nvalue_path = \"image.digest\"\nvalue = \"reference\"").unwrap();
        let s = cfg.env("prod").unwrap().services[0]
            .kubernetes
            .clone()
            .unwrap();
        assert_eq!(s.workload, Workload::Deployment);
        assert_eq!(
            s.image,
            Some(ImageSetting::Helm {
                file: "charts/search/values-prod.yaml".into(),
                path: vec!["image".into(), "digest".into()],
                value: HelmValue::Reference
            })
        );
    }

    #[test]
    fn every_mistake_is_named_with_its_place() {
        let cases = [
            ("[environment.kubernetes]\ncontext = \"x\"", "", "namespace"),
            (
                "[environment.kubernetes]\nnamespace = \"Shop_Prod\"",
                "",
                "not a Kubernetes name",
            ),
            ("", "", "no [kubernetes]"),
            (
                ENV,
                "[environment.service.kubernetes]\nrollout = \"a\"\ndeployment = \"b\"",
                "both a rollout and a deployment",
            ),
            (
                ENV,
                "[environment.service.kubernetes]\nkustomization = \"/etc/passwd\"\nimage = \"x\"",
                "inside the repository",
            ),
            (
                ENV,
                "[environment.service.kubernetes]\nkustomization = \"../up.yaml\"\nimage = \"x\"",
                "inside the repository",
            ),
            (
                ENV,
                "[environment.service.kubernetes]\nkustomization = \"k.yaml\"",
                "image",
            ),
            (
                ENV,
                "[environment.service.kubernetes]\nhelm_values = \"v.yaml\"\nvalue_path = \"image..digest\"",
                "empty key",
            ),
            (
                ENV,
                "[environment.service.kubernetes]\nimage = \"x\"",
                "needs kustomization",
            ),
            (
                "[environment.kubernetes]\nnamespace = \"shop\"",
                "[environment.service.kubernetes]\nkustomization = \"k.yaml\"\nimage = \"x\"",
                "no [kubernetes.git]",
            ),
            (
                "[environment.kubernetes]\nnamespace = \"shop\"\n[environment.kubernetes.git]\nurl = \"--upload-pack=evil\"",
                "",
                "not a repository address",
            ),
            (
                "[environment.kubernetes]\nnamespace = \"shop\"\n[environment.kubernetes.git]\nurl = \"r\"\nbranch = \"a..b\"",
                "",
                "not a branch name",
            ),
            (
                "[environment.kubernetes]\nnamespace = \"shop\"\nnamspace = \"x\"",
                "",
                "namspace",
            ),
        ];
        for (env, svc, want) in cases {
            let err = parse(env, svc).expect_err(want);
            assert!(err.contains(want), "{want:?} in {err}");
            assert!(err.contains("k.toml:"), "a place: {err}");
        }
    }

    #[test]
    fn kubernetes_names_are_lower_case_labels() {
        assert!(valid_k8s_name("shop-prod", false));
        assert!(!valid_k8s_name("Shop", false));
        assert!(!valid_k8s_name("-x", false));
        assert!(!valid_k8s_name("x-", false));
        assert!(!valid_k8s_name("a.b", false));
        assert!(valid_k8s_name("a.b", true));
        assert!(!valid_k8s_name(&"a".repeat(64), false));
    }
}
