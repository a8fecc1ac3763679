//! `provenance`: the digest names the commit it was built from (the
//! `org.opencontainers.image.revision` label) and, where
//! `[supply_chain.provenance]` says so, `git` found that commit on the
//! configured branch.

use super::Finding;
use crate::config::supply::SupplyPolicy;
use crate::gate::Verdict;
use crate::model::text::clip;
use crate::registry::Labels;

/// Characters of a commit shown in a reason.
const SHORT_COMMIT: usize = 12;

/// The commit as a reason shows it: sanitised, its first few characters.
pub(super) fn short_commit(commit: &str) -> String {
    crate::model::sanitize(commit)
        .chars()
        .take(SHORT_COMMIT)
        .collect()
}

/// Judges the labels (and `git`'s answer, when the policy asks for a branch).
pub(super) fn judge(
    labels: &Labels,
    policy: &SupplyPolicy,
    on_branch: Option<&Result<bool, String>>,
) -> Finding {
    let Some(commit) = labels
        .revision
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    else {
        return Finding::new(Verdict::Fail, "no org.opencontainers.image.revision label");
    };
    let short = short_commit(commit);
    let Some(rule) = &policy.provenance else {
        let from = labels
            .source
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map_or_else(
                || " (no org.opencontainers.image.source label)".to_string(),
                |s| format!(" of {}", clip(s, 200)),
            );
        return Finding::new(Verdict::Pass, format!("built from commit {short}{from}"));
    };
    let branch = crate::model::sanitize(&rule.branch);
    let repo = clip(&crate::secrets::redact_urls(&rule.repository), 200);
    match on_branch {
        Some(Ok(true)) => Finding::new(
            Verdict::Pass,
            format!("built from commit {short}, on {branch} of {repo}"),
        ),
        Some(Ok(false)) => Finding::new(
            Verdict::Fail,
            format!("commit {short} is not on {branch} of {repo}"),
        ),
        Some(Err(why)) => Finding::new(
            Verdict::Unknown,
            format!(
                "whether commit {short} is on {branch} of {repo} cannot be told: {}",
                clip(why, 300)
            ),
        ),
        None => Finding::new(
            Verdict::Pending,
            format!("checking the branch: is commit {short} on {branch} of {repo}"),
        ),
    }
}
