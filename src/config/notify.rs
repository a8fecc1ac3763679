//! `[notify]` and `[[notify.sink]]`: where notifications of releases go
//! (issue 32). A webhook's URL is a secret and is named here, never written;
//! an SNS topic is reached like every other AWS API (region, profile, an
//! emulator's endpoint).

use super::aws::AwsAccess;

/// How a sink's message body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// Slack-compatible: `{"text": "…"}`.
    #[default]
    Slack,
    /// shipdeck's own JSON (`schema`, `event`, `dedupe_key`, `env`, …).
    Shipdeck,
}

impl BodyFormat {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Shipdeck => "shipdeck",
        }
    }
}

/// Where a sink delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// An HTTP POST to a URL kept in the keyring.
    Webhook {
        /// The secret's name (`shipdeck secret set NAME`), never the URL.
        url_secret: String,
    },
    /// `Publish` to an SNS topic.
    Sns {
        /// The topic.
        topic_arn: String,
        /// Region (from the ARN unless given), profile, endpoint.
        access: AwsAccess,
    },
}

/// One `[[notify.sink]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// Its name, as routes name it.
    pub name: String,
    /// Where it delivers.
    pub kind: SinkKind,
    /// How its bodies are written.
    pub format: BodyFormat,
    /// `file:line:col` of its table, for messages.
    pub location: String,
}

impl Sink {
    /// `webhook` or `sns`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Sns { .. } => "sns",
        }
    }
}

/// `[notify]`: the sinks and the operations route. Each environment's own
/// route is `EnvConfig::notify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Every sink, in the file's order.
    pub sinks: Vec<Sink>,
    /// The operations route (freeze overrides, hotfixes): sink names.
    pub operations: Vec<String>,
}

impl NotifyConfig {
    /// The sink called `name`.
    pub fn sink(&self, name: &str) -> Option<&Sink> {
        self.sinks.iter().find(|s| s.name == name)
    }

    /// No sink is configured: nothing is ever sent.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Every sink's name, for hints.
    pub fn names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| s.name.as_str()).collect()
    }
}
