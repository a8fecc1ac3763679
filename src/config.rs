//! Configuration: where it is found, what it holds, and how it is validated.
//!
//! Parsing goes through `toml_edit`'s span-preserving document so that every
//! problem is reported with `file:line:col`, and *all* problems are reported at
//! once (serde would stop at the first).

pub mod approvals;
pub mod aws;
mod checks;
pub mod fly;
pub mod kubernetes;
pub mod lambda;
mod metric;
/// `[notify]`: notification sinks and routes (issue 32).
pub mod notify;
mod parse;
mod policy;
pub mod proxy;
pub mod registry;
mod signals;
pub mod supply;
mod walk;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use checks::AutoCheck;
pub use metric::{MAX_EXPRESSION_NESTING, MetricSource, ProxyMetric};
pub use policy::{
    AbortRule, Condition, DEFAULT_MIN_BASELINE, FreezeKind, FreezeWindow, GatePolicy, Missing,
    OnAbort, RolloutPolicy,
};
pub use signals::{
    AlertConfig, DEFAULT_SIGNAL_TIMEOUT, PromQuery, ServiceSignals, SignalEndpoint, SignalKind,
    promql_problem, valid_label_name,
};
pub use walk::Problem;

/// Default interval between two readings of an environment.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Largest configuration file read (a real one is a few KiB).
pub const CONFIG_LIMIT: u64 = 1024 * 1024;
/// Default health stability window.
pub const DEFAULT_STABILITY_WINDOW: Duration = Duration::from_secs(30);

/// An environment, by its place in the promotion order: how shipdeck refers
/// to an environment inside the program. Names are for people, at the edges
/// (the screen, the ledger, the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EnvId(pub usize);

impl EnvId {
    /// Its position in the promotion order.
    pub fn index(self) -> usize {
        self.0
    }

    /// The stage before it, if any.
    pub fn previous(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }
}

impl std::fmt::Display for EnvId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl std::ops::Index<EnvId> for Vec<EnvConfig> {
    type Output = EnvConfig;

    fn index(&self, id: EnvId) -> &EnvConfig {
        &self[id.0]
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// File it was read from (for messages).
    pub source: PathBuf,
    /// Interval between readings of each environment.
    pub refresh_interval: Duration,
    /// Global read-only switch.
    pub read_only: bool,
    /// Whether `$SHIPDECK_OPERATOR` may set the operator's identity.
    pub allow_operator_override: bool,
    /// Colour theme.
    pub theme: Theme,
    /// Where the audit ledger lives (platform data dir when unset).
    pub ledger_path: Option<PathBuf>,
    /// Where ECS task definitions are kept between runs. Not a file key: the
    /// command line sets it (the platform cache dir, unless `--no-cache`);
    /// unset, they are kept in memory only.
    pub cache_file: Option<PathBuf>,
    /// Which backend serves the environments.
    pub provider: ProviderKind,
    /// Environments in promotion order.
    pub environments: Vec<EnvConfig>,
    /// Team mode (`[team] backend = "dynamodb"`): ledger, locks and
    /// approvals in a shared table. `None`: the local file (the default).
    pub team: Option<crate::team::TeamConfig>,
    /// The team's roles (`[team.roles]`), for the gates' approval matrices.
    pub roles: approvals::Roles,
    /// The change types a promotion may be (`[team] change_types`; the five
    /// of [`approvals::DEFAULT_CHANGE_TYPES`] when unset).
    pub change_types: Vec<String>,
    /// Key bindings: action name and the keys bound to it, with the line they came from.
    pub keys: Vec<KeyBinding>,
    /// Old spellings that still work, each with where it is and the new one.
    pub notes: Vec<String>,
    /// `[notify]`: notification sinks and the operations route.
    pub notify: std::sync::Arc<notify::NotifyConfig>,
    /// `[registry]`: which registries are read, and how.
    pub registry: std::sync::Arc<registry::RegistryConfig>,
    /// `[supply_chain]`: keys, severity, allowed CVEs, provenance.
    pub supply: std::sync::Arc<supply::SupplyPolicy>,
}

/// One user-configured key binding, validated for syntax only; the console checks
/// that the action exists and that keys do not clash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBinding {
    /// Action name, e.g. `refresh`.
    pub action: String,
    /// Key descriptions, e.g. `ctrl-r`, `F5`, `R`.
    pub keys: Vec<String>,
    /// Where it was written, `file:line:col`.
    pub location: String,
}

/// Colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Light text on dark background.
    #[default]
    Dark,
    /// Dark text on light background.
    Light,
}

/// Where environment data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// ECS and CloudWatch through the standard AWS credential chain.
    Aws,
    /// The built-in simulated fleet; `fleet` is a fleet file, or the built-in demo fleet.
    Simulated {
        /// Fleet description file, relative paths resolved against the config file.
        fleet: Option<PathBuf>,
        /// Seed for the simulator's randomness.
        seed: u64,
        /// Probe the configured health endpoints for real instead of simulating health.
        probe_health: bool,
    },
}

/// The platform an environment's services run on (a service may differ from
/// its environment). The registry, `crate::platforms`, maps each kind to its
/// implementation; nothing else branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PlatformKind {
    /// ECS services, read with CloudWatch (or their simulation).
    #[default]
    Ecs,
    /// Two colours behind a reverse proxy, switched by shipdeck.
    Proxy,
    /// An AWS Lambda function and the alias that serves its traffic.
    Lambda,
    /// An app's machines on Fly.io, updated one by one through the Machines API.
    Fly,
    /// An Argo Rollout or a Deployment on Kubernetes, promoted by a commit to
    /// the stage's GitOps repository that Argo CD applies.
    Kubernetes,
}

impl PlatformKind {
    /// Every kind, in the order `platform = …` lists them.
    pub const ALL: [Self; 5] = [
        Self::Ecs,
        Self::Proxy,
        Self::Lambda,
        Self::Fly,
        Self::Kubernetes,
    ];

    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ecs => "ecs",
            Self::Proxy => "proxy",
            Self::Lambda => "lambda",
            Self::Fly => "fly",
            Self::Kubernetes => "kubernetes",
        }
    }

    /// From the configuration's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How a mutating action on an environment is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm {
    /// Press Enter in the dialog.
    #[default]
    Enter,
    /// Type the environment's name.
    Type,
}

/// One environment (stage) of the promotion chain.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// Unique name, e.g. `staging`.
    pub name: String,
    /// `[environment.aws]`: how it reaches its AWS account (region, profile,
    /// endpoints); absent where nothing in it calls AWS.
    pub aws: Option<std::sync::Arc<aws::AwsAccess>>,
    /// `[environment.ecs]`: the cluster, when any of its services runs on ECS.
    pub ecs: Option<std::sync::Arc<aws::EcsEnv>>,
    /// Mutating actions disabled.
    pub read_only: bool,
    /// API calls to this environment in flight at once (halved while throttled).
    pub max_in_flight: usize,
    /// Production: visually distinct, stricter defaults.
    pub production: bool,
    /// Confirmation style for mutating actions.
    pub confirm: Confirm,
    /// Accent colour for the column (a ratatui colour name).
    pub color: Option<String>,
    /// Services deployed here.
    pub services: std::sync::Arc<Vec<ServiceConfig>>,
    /// The services by name (built on first lookup).
    pub service_index: crate::index::NameIndex,
    /// Gate evaluated before a promotion *into* this environment.
    pub gate: GatePolicy,
    /// How deploys into this environment are watched and aborted.
    pub rollout: RolloutPolicy,
    /// Smoke checks run against this environment.
    pub smoke: Vec<SmokeCheck>,
    /// `provider = "proxy"`: the reverse proxy that switches between two
    /// colours (`None`: the configuration's provider, ECS or the simulator).
    pub proxy: Option<std::sync::Arc<proxy::ProxyEnv>>,
    /// `[environment.fly]`: the Machines API and its token, when any of its
    /// services runs on Fly.
    pub fly: Option<std::sync::Arc<fly::FlyEnv>>,
    /// `[environment.kubernetes]`: the cluster, namespace and GitOps
    /// repository, when any of its services runs on Kubernetes.
    pub kubernetes: Option<std::sync::Arc<kubernetes::KubeEnv>>,
    /// The platform its services run on, unless a service says otherwise.
    pub platform: PlatformKind,
    /// `notify = ["sink", …]`: where this environment's notifications go.
    pub notify: Vec<String>,
}

/// One service as deployed in one environment.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// shipdeck's name, the same across environments.
    pub name: String,
    /// `[environment.service.ecs]`: its ECS service and container, when it
    /// runs on ECS.
    pub ecs: Option<std::sync::Arc<aws::EcsService>>,
    /// `[environment.service.lambda]`: its function, alias and steps, when it
    /// runs on Lambda.
    pub lambda: Option<std::sync::Arc<lambda::LambdaService>>,
    /// `[environment.service.fly]`: its app, process group and pace, when it
    /// runs on Fly.
    pub fly: Option<std::sync::Arc<fly::FlyService>>,
    /// `[environment.service.kubernetes]`: its workload, Application and
    /// the value that pins its image, when it runs on Kubernetes.
    pub kubernetes: Option<std::sync::Arc<kubernetes::KubeService>>,
    /// CloudWatch alarm names.
    pub alarms: Vec<String>,
    /// CloudWatch alarm name prefixes.
    pub alarm_prefixes: Vec<String>,
    /// Health endpoint.
    pub health: Option<HealthCheck>,
    /// CloudWatch metrics to chart and to judge a rollout by.
    pub metrics: Vec<MetricConfig>,
    /// In a proxy environment: its colours, deploy command and readiness.
    pub proxy: Option<std::sync::Arc<proxy::ProxyService>>,
    /// Prometheus and Alertmanager: where its `promql` metrics and its
    /// alerts are read, and the alerts it watches as alarms.
    pub signals: ServiceSignals,
    /// The platform it runs on (its environment's unless it says).
    pub platform: PlatformKind,
}

/// HTTP health endpoint of a service.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// URL to probe.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Status that counts as healthy.
    pub expected_status: u16,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Interval between probes.
    pub interval: Duration,
    /// How long it must stay healthy to count as stable.
    pub stability_window: Duration,
    /// Extra headers; values may reference secrets as `${secret:NAME}`.
    pub headers: Vec<(String, String)>,
}

/// What a metric means for a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricRole {
    /// Shown only.
    Chart,
    /// 5xx or error rate, compared to its baseline.
    ErrorRate,
    /// p95 latency in milliseconds, compared to the SLO.
    LatencyP95,
}

/// A CloudWatch metric of a service.
#[derive(Debug, Clone)]
pub struct MetricConfig {
    /// Short label.
    pub label: String,
    /// Name an expression of the same service refers to it by.
    pub id: Option<String>,
    /// What CloudWatch computes.
    pub source: MetricSource,
    /// Role in abort decisions.
    pub role: MetricRole,
}

/// One smoke check.
#[derive(Debug, Clone)]
pub struct SmokeCheck {
    /// Name shown with its verdict.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Expected status.
    pub expected_status: u16,
    /// Substring the body must contain.
    pub body_contains: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file at the path.
    #[error("{path}: config file not found ({origin})\n  help: {help}")]
    NotFound {
        /// Path looked at.
        path: String,
        /// Where the path came from.
        origin: &'static str,
        /// How to fix it.
        help: String,
    },
    /// The file exists but cannot be read.
    #[error("{path}: cannot read config file: {source}")]
    Unreadable {
        /// Path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more problems; each is printed on its own.
    #[error("{}", format_problems(.0))]
    Invalid(Vec<Problem>),
    /// The process environment would break the provider (e.g. an AWS variable
    /// with a control character, which the SDK's request signer cannot take).
    #[error("{0}\nnothing was started")]
    Environment(String),
}

fn format_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&p.to_string());
        out.push('\n');
    }
    let n = problems.len();
    out.push_str(&format!(
        "{n} problem{} found; nothing was started",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Where a configuration path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `--config PATH`.
    Flag,
    /// `$SHIPDECK_CONFIG`.
    EnvVar,
    /// The platform config directory.
    Default,
}

impl ConfigOrigin {
    fn describe(self) -> &'static str {
        match self {
            Self::Flag => "given with --config",
            Self::EnvVar => "given in $SHIPDECK_CONFIG",
            Self::Default => "the default location",
        }
    }
}

/// Finds the configuration path: `--config`, then `$SHIPDECK_CONFIG`, then the platform config dir.
pub fn locate(flag: Option<&Path>, env_var: Option<&str>) -> Option<(PathBuf, ConfigOrigin)> {
    if let Some(p) = flag {
        return Some((p.to_path_buf(), ConfigOrigin::Flag));
    }
    if let Some(v) = env_var.filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(v), ConfigOrigin::EnvVar));
    }
    crate::paths::default_config_file().map(|p| (p, ConfigOrigin::Default))
}

/// Reads and validates a configuration file.
pub fn load(path: &Path, origin: ConfigOrigin) -> Result<Config, ConfigError> {
    let text = match crate::paths::read_regular(path, CONFIG_LIMIT) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let help = match origin {
                ConfigOrigin::Default => format!(
                    "copy config.example.toml to {} and edit it, or try `shipdeck demo`",
                    path.display()
                ),
                _ => "check the path, or run `shipdeck demo` to try shipdeck without a config"
                    .to_string(),
            };
            return Err(ConfigError::NotFound {
                path: path.display().to_string(),
                origin: origin.describe(),
                help,
            });
        }
        Err(source) => {
            return Err(ConfigError::Unreadable {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let display = path.display().to_string();
    let Ok(text) = String::from_utf8(text) else {
        return Err(ConfigError::Invalid(vec![Problem {
            file: display,
            line: 1,
            col: 1,
            message: "the file is not valid UTF-8".to_string(),
            help: "save the file as UTF-8 text".to_string(),
        }]));
    };
    parse_str(&text, &display, path.parent())
}

/// Validates configuration text. `base` resolves relative paths in the file.
pub fn parse_str(text: &str, file: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
    parse::parse(text, file, base).map_err(ConfigError::Invalid)
}

/// The `source` of the built-in demo configuration.
pub const DEMO_SOURCE: &str = "<built-in demo config>";

/// The built-in demo configuration, served by the simulated fleet.
pub fn demo() -> Result<Config, ConfigError> {
    parse_str(
        include_str!("../assets/demo-config.toml"),
        DEMO_SOURCE,
        None,
    )
}

/// The `source` of the configuration `shipdeck demo --services N` generates.
pub const GENERATED_DEMO_SOURCE: &str = "<generated demo config>";

impl Config {
    /// Whether this is the built-in demo configuration (`shipdeck demo`).
    pub fn is_builtin_demo(&self) -> bool {
        self.source.as_os_str() == DEMO_SOURCE
    }

    /// Whether this is a demo (built in or generated): its commands need `--demo`.
    pub fn is_demo(&self) -> bool {
        self.is_builtin_demo() || self.source.as_os_str() == GENERATED_DEMO_SOURCE
    }

    /// `" --demo"` for a demo configuration, so that printed commands work as shown.
    pub fn demo_flag(&self) -> &'static str {
        if self.is_demo() { " --demo" } else { "" }
    }

    /// The id of an environment, by name.
    pub fn env_index(&self, name: &str) -> Option<EnvId> {
        self.environments
            .iter()
            .position(|e| e.name == name)
            .map(EnvId)
    }

    /// An environment's configuration, by id.
    pub fn env_at(&self, id: EnvId) -> Option<&EnvConfig> {
        self.environments.get(id.0)
    }

    /// Every environment's id, in promotion order.
    pub fn env_ids(&self) -> impl Iterator<Item = EnvId> + use<> {
        (0..self.environments.len()).map(EnvId)
    }

    /// Looks an environment up by name.
    pub fn env(&self, name: &str) -> Option<&EnvConfig> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// Every service name, in first-seen order across environments.
    pub fn service_names(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut names: Vec<String> = Vec::new();
        for env in &self.environments {
            for s in env.services.iter() {
                if seen.insert(s.name.as_str()) {
                    names.push(s.name.clone());
                }
            }
        }
        names
    }

    /// Environment names in promotion order.
    pub fn env_names(&self) -> Vec<String> {
        self.environments.iter().map(|e| e.name.clone()).collect()
    }
}

impl EnvConfig {
    /// Looks a service up by shipdeck name.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.service_index
            .position(&self.services, name, |s| s.name.as_str())
            .and_then(|i| self.services.get(i))
    }
}

impl Config {
    /// Whether health comes from real HTTP probes (always on AWS; opt-in on the simulator).
    pub fn probes_health(&self) -> bool {
        match self.provider {
            ProviderKind::Aws => true,
            ProviderKind::Simulated { probe_health, .. } => probe_health,
        }
    }
}
