//! The proxy platform's own section of the configuration: what a proxy
//! environment is configured with (the proxy), and per service
//! its two colours, how the idle colour is deployed, and when it is ready.

use std::time::Duration;

use super::SmokeCheck;

/// The two colours of the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// Blue.
    Blue,
    /// Green.
    Green,
}

impl Colour {
    /// Both, in order.
    pub const BOTH: [Self; 2] = [Self::Blue, Self::Green];

    /// "blue" or "green".
    pub fn name(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }

    /// The other colour.
    pub fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }

    /// The colour as a revision of `service` (`api@green`): what a proxy
    /// environment deploys to and rolls back to.
    pub fn revision_of(self, service: &str) -> crate::model::Revision {
        crate::model::Revision::labelled(service, self.name())
    }

    /// The colour a revision is, when it is one.
    pub fn of(rev: &crate::model::Revision) -> Option<Self> {
        rev.label().and_then(Self::parse)
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "blue" => Some(Self::Blue),
            "green" => Some(Self::Green),
            _ => None,
        }
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How shipdeck reaches and switches the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyKind {
    /// HAProxy's runtime API: `host:port` or a unix socket path.
    Haproxy {
        /// Stats socket address.
        socket: String,
    },
    /// Caddy's admin API.
    Caddy {
        /// Admin endpoint, e.g. `http://127.0.0.1:2019`.
        admin: String,
    },
    /// An AWS Application Load Balancer: each service's listener rule
    /// forwards to two target groups with weights; a switch is one `ModifyRule`.
    Alb {
        /// AWS region.
        region: String,
        /// AWS profile (standard credential chain when unset).
        profile: Option<String>,
        /// Endpoint override (an emulator).
        endpoint_url: Option<String>,
    },
    /// nginx: an upstream include per service, then `nginx -t` and `nginx -s reload`.
    Nginx {
        /// The nginx command and its leading arguments (`-p`, `-c`), without `-t`/`-s`.
        command: Vec<String>,
        /// `stub_status` URL, for request counts.
        stub_status: Option<String>,
    },
}

impl ProxyKind {
    /// "haproxy", "caddy" or "nginx".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Haproxy { .. } => "haproxy",
            Self::Caddy { .. } => "caddy",
            Self::Alb { .. } => "alb",
            Self::Nginx { .. } => "nginx",
        }
    }
}

/// `[environment.proxy]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEnv {
    /// Which proxy and how to reach its admin interface.
    pub kind: ProxyKind,
    /// The public address through the proxy (confirming a switch, and health).
    /// Optional for an ALB (often unreachable from the operator's machine):
    /// the rule's weights read back confirm the switch, and health is the live
    /// colour's own answer.
    pub url: Option<String>,
}

/// A service's weighted forward on an ALB listener rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbRule {
    /// Listener rule ARN.
    pub rule: String,
    /// Blue's target group ARN.
    pub blue: String,
    /// Green's target group ARN.
    pub green: String,
    /// The new colour's share (percent) at each step before all of it; empty:
    /// all at once.
    pub steps: Vec<u32>,
    /// How long each of those steps holds before the next.
    pub step_interval: std::time::Duration,
}

impl AlbRule {
    /// A colour's target group.
    pub fn target_group(&self, c: Colour) -> &str {
        match c {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }

    /// The colour of a target group ARN.
    pub fn colour_of(&self, arn: &str) -> Option<Colour> {
        Colour::BOTH
            .into_iter()
            .find(|c| self.target_group(*c) == arn)
    }
}

/// A smoke check of a colour: a path against the colour's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourSmoke {
    /// Name shown with its verdict.
    pub name: String,
    /// Path, e.g. `/api/items`.
    pub path: String,
    /// Expected status.
    pub expected_status: u16,
    /// Substring the body must contain.
    pub body_contains: Option<String>,
}

/// A service behind the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyService {
    /// HAProxy backend, nginx upstream, or the `@id` of Caddy's reverse_proxy handler.
    pub backend: String,
    /// nginx only: the upstream include file shipdeck writes.
    pub include: Option<std::path::PathBuf>,
    /// ALB only: the listener rule and the blue and green target groups (ARNs).
    pub alb: Option<AlbRule>,
    /// Blue's address, e.g. `http://127.0.0.1:5001`.
    pub blue: String,
    /// Green's address.
    pub green: String,
    /// Health and version path, e.g. `/api/system/status`.
    pub status_path: String,
    /// JSON pointer to the digest in the status answer, e.g. `/build/digest`.
    pub digest_pointer: String,
    /// The command that deploys a colour: argv with `{colour}` and `{digest}`
    /// placeholders, never run through a shell.
    pub deploy: Vec<String>,
    /// Longest the deploy command may run.
    pub deploy_timeout: Duration,
    /// How long the idle colour must answer 200 without a break before it is ready.
    pub stability_window: Duration,
    /// Longest shipdeck waits for the idle colour to become ready.
    pub ready_timeout: Duration,
    /// How long after the switch the old colour is kept warm and watched.
    pub keep_warm: Duration,
    /// Basic tests run against the idle colour before the switch.
    pub smoke: Vec<ColourSmoke>,
}

impl ProxyService {
    /// A colour's address.
    pub fn address(&self, c: Colour) -> &str {
        match c {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }

    /// A colour's status URL.
    pub fn status_url(&self, c: Colour) -> String {
        format!(
            "{}{}",
            self.address(c).trim_end_matches('/'),
            self.status_path
        )
    }

    /// The colour whose address is `host:port` (as a proxy names its servers).
    pub fn colour_of_authority(&self, authority: &str) -> Option<Colour> {
        Colour::BOTH
            .into_iter()
            .find(|c| authority_of(self.address(*c)).as_deref() == Some(authority))
    }

    /// A colour's smoke checks, as absolute checks.
    pub fn smoke_checks(&self, c: Colour) -> Vec<SmokeCheck> {
        self.smoke
            .iter()
            .map(|s| SmokeCheck {
                name: s.name.clone(),
                method: "GET".to_string(),
                url: format!("{}{}", self.address(c).trim_end_matches('/'), s.path),
                expected_status: s.expected_status,
                body_contains: s.body_contains.clone(),
                timeout: Duration::from_secs(5),
            })
            .collect()
    }
}

/// `host:port` of an http URL (port defaulted by scheme).
pub fn authority_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}
