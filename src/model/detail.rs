//! What a platform says in its own words: the lines it shows of a service
//! beyond the cells every platform fills (an ECS task definition's ARN, a
//! proxy's colours and counters), and what a promotion will do there.
//!
//! Platforms fill these; the console, `status` and the CLI show them without
//! knowing which platform wrote them. What generic code must *decide* on (is
//! there a warm revision to go back to?) never hides in the text: it is a
//! field of its own ([`DetailBadge::ok`], [`DetailLine::warn`]).

use serde::{Deserialize, Serialize};

use super::Shared;

/// A platform's own lines about one service, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformDetail {
    /// What the lines are about, in a few words (`behind haproxy`): `status`
    /// prints them under `env/service {title}:`. Empty when they add nothing
    /// to the table's columns; they show in the console's detail pane then.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Labelled lines, in order (the detail pane shows each as `label  text`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<DetailLine>,
    /// A few characters for the board's cell, with their verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<DetailBadge>,
}

impl PlatformDetail {
    /// Nothing to show.
    pub fn is_empty(&self) -> bool {
        self.title.is_empty() && self.lines.is_empty() && self.badge.is_none()
    }
}

/// One labelled line of a platform's detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailLine {
    /// A short label (`task def`, `idle`).
    pub label: Shared,
    /// What it says.
    pub text: Shared,
    /// Worth a look (an idle colour that does not answer, counters that
    /// cannot be read): shown in the warning tone. The text says it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warn: bool,
}

impl DetailLine {
    /// A plain line.
    pub fn new(label: impl Into<Shared>, text: impl Into<Shared>) -> Self {
        Self {
            label: label.into(),
            text: text.into(),
            warn: false,
        }
    }

    /// The same line, in the warning tone when `warn`.
    #[must_use]
    pub fn warn_if(mut self, warn: bool) -> Self {
        self.warn = warn;
        self
    }
}

/// A platform's mark on the board's cell: a word and its verdict, which the
/// board shows with `✓` or `✗` (never colour alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailBadge {
    /// The word (the idle colour's name).
    pub text: String,
    /// What it stands for is good (a warm colour a rollback switches to);
    /// false when it is bad or not known.
    pub ok: bool,
}

/// What a promotion will do on the service's platform, in the platform's
/// words: the wizard, the confirmation, `promote` and `approve` show these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployWords {
    /// What changes, line by line (the wizard's diff, `approve`'s). Lines
    /// that start with `- ` and `+ ` are what is replaced and by what.
    pub diff: Vec<String>,
    /// What confirming does, step by step (the confirmation dialog's list).
    pub steps: Vec<String>,
    /// How the watch that follows the steps is introduced in that list (`3.`
    /// after two numbered steps, `then` after steps that end in a sentence).
    pub watch_step: String,
}

/// A deployment its platform rolled back by itself, in generic words, with
/// the platform's own name for what did it where it has one (`by`, from
/// [`crate::platforms::self_rollback`]): `the platform rolled the deployment
/// back by itself (ECS's circuit breaker or alarm rollback)`. `what` is the
/// deployment as the sentence's reader knows it (`the source's latest
/// deployment`).
pub fn rolled_back_by_itself(what: &str, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("the platform rolled {what} back by itself ({by})"),
        None => format!("the platform rolled {what} back by itself"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platforms_words_pass_the_one_sanitiser_with_the_reading() {
        let mut svc = super::super::ServiceSnapshot::bare("api", "api");
        svc.detail = PlatformDetail {
            title: "behind \u{1b}[2Jhaproxy".into(),
            lines: vec![
                DetailLine::new("idle\u{7}", "blue · answered \u{1b}]0;owned\u{7}500")
                    .warn_if(true),
            ],
            badge: Some(DetailBadge {
                text: "blue\u{202e}".into(),
                ok: false,
            }),
        };
        let reading = super::super::EnvSnapshot {
            env: "prod".into(),
            read_at: chrono::DateTime::default(),
            services: vec![svc],
            warnings: Vec::new(),
            sources: super::super::Sources::default(),
            index: super::super::ServiceIndex::default(),
        }
        .sanitized();
        let d = &reading.services[0].detail;
        let texts = [
            d.title.as_str(),
            &*d.lines[0].label,
            &*d.lines[0].text,
            d.badge.as_ref().map_or("", |b| b.text.as_str()),
        ];
        for t in texts {
            assert!(
                !t.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{t:?}"
            );
        }
        // What generic code decides on is untouched.
        assert!(d.lines[0].warn);
        assert_eq!(d.badge.as_ref().map(|b| b.ok), Some(false));
    }
}
