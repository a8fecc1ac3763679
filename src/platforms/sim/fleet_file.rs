//! The fleet description a simulator starts from (`assets/demo-fleet.toml`).

use std::time::Duration;

use serde::Deserialize;

use crate::model::Digest;

use super::script::{FaultEntry, ScriptedFault, line_of};

/// Largest fleet file read (20,000 services fit in a few MiB).
const FLEET_LIMIT: u64 = 64 * 1024 * 1024;

/// Oldest a simulated release may be.
const MAX_AGE: Duration = Duration::from_hours(10 * 365 * 24);
/// Longest simulated blue/green bake.
const MAX_BAKE: Duration = Duration::from_hours(24);

/// A whole simulated fleet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Environments by name.
    #[serde(rename = "environment", default)]
    pub environments: Vec<FleetEnv>,
    /// What a game-day scenario rehearses (shown when it starts).
    #[serde(default)]
    pub scenario: Option<ScenarioInfo>,
    /// Faults as written (`[[fault]]`), with their place in the file.
    #[serde(rename = "fault", default)]
    pub fault_entries: Vec<toml::Spanned<FaultEntry>>,
    /// The faults, checked against the environments.
    #[serde(skip)]
    pub faults: Vec<ScriptedFault>,
}

/// A scenario's name and what it rehearses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Short name.
    pub name: String,
    /// What happens and what a release captain should see.
    pub description: String,
}

/// One simulated environment (cluster).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetEnv {
    /// Must match an environment name of the configuration.
    pub name: String,
    /// The environment's endpoint refuses connections (to try failure handling).
    #[serde(default)]
    pub unreachable: bool,
    /// Its CloudWatch (alarms, metrics) refuses connections while ECS answers.
    #[serde(default)]
    pub cloudwatch_unreachable: bool,
    /// Services running in the cluster.
    #[serde(rename = "service", default)]
    pub services: Vec<FleetService>,
    /// Services on the proxy platform: two colours behind a reverse proxy.
    #[serde(default)]
    pub blue_green: Vec<super::FleetBlueGreen>,
    /// Functions on Lambda, each an alias over published versions.
    #[serde(default)]
    pub lambda: Vec<super::FleetLambda>,
    /// Apps on Fly.io Machines, each machines by region.
    #[serde(default)]
    pub fly: Vec<super::FleetFly>,
    /// Argo Rollouts on Kubernetes, each synced by an Argo CD Application.
    #[serde(default)]
    pub kubernetes: Vec<super::FleetKube>,
}

/// How the image of a simulated service is referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FleetPinning {
    /// `repo@sha256:…` in the task definition.
    #[default]
    Digest,
    /// Tag only; the running tasks report the digest.
    Tasks,
    /// Tag only and nothing reports a digest.
    None,
}

/// One simulated ECS service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetService {
    /// ECS service name (matched against `ecs_service` in the configuration).
    pub ecs_service: String,
    /// Task-definition family (defaults to the service name).
    pub family: Option<String>,
    /// Image repository without tag or digest.
    pub repository: String,
    /// Releases deployed in order; the last one runs now. Each becomes a revision.
    /// `1.2@sha256:…` names the image's digest (one pushed to a real
    /// registry); otherwise the digest is derived from repository and release.
    pub releases: Vec<String>,
    /// Tag used when the image is not pinned.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// How the image is referenced.
    #[serde(default)]
    pub pinning: FleetPinning,
    /// Desired task count.
    #[serde(default = "default_desired")]
    pub desired: u32,
    /// How long ago the current release was deployed.
    #[serde(default = "default_age", with = "humantime_serde_compat")]
    pub age: Duration,
    /// Health endpoint's typical latency in ms; absent means no health endpoint.
    pub latency_ms: Option<u32>,
    /// Probability per simulated second that the health endpoint starts failing.
    #[serde(default)]
    pub flakiness: f64,
    /// Health endpoint down from the start.
    #[serde(default)]
    pub health_down: bool,
    /// Alarms and their initial state.
    #[serde(default)]
    pub alarms: Vec<FleetAlarm>,
    /// "rolling", "blue_green", "canary", "linear" or "code_deploy".
    #[serde(default)]
    pub strategy: Option<String>,
    /// Canary: the share of the traffic at its step; linear: the share added
    /// at each step (percent).
    #[serde(default)]
    pub percent: Option<f64>,
    /// Canary: how long its step lasts; linear: the time between steps.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub interval: Option<Duration>,
    /// Blue/green bake time.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub bake: Option<Duration>,
    /// Deployment circuit breaker with rollback.
    #[serde(default = "default_true")]
    pub circuit_breaker: bool,
    /// The container's log driver: `awslogs` (the default: its lines can be
    /// followed), another driver's name, or `none` for no log configuration.
    #[serde(default = "default_log_driver")]
    pub log_driver: String,
}

impl FleetService {
    /// The strategy ECS would report for it (the file was validated on load).
    pub fn deployment_strategy(&self) -> crate::model::Strategy {
        use crate::model::Strategy;
        match self.strategy.as_deref() {
            Some("blue_green") => Strategy::BlueGreen {
                bake: self.bake.unwrap_or(Duration::from_mins(5)),
            },
            Some("canary") => Strategy::Canary {
                percent_hundredths: Strategy::hundredths(self.percent.or(Some(10.0))),
                canary_bake: self.interval.unwrap_or(Duration::from_mins(5)),
                bake: self.bake.unwrap_or_default(),
            },
            Some("linear") => Strategy::Linear {
                step_hundredths: Strategy::hundredths(self.percent.or(Some(10.0))),
                interval: self.interval.unwrap_or(Duration::from_mins(1)),
                bake: self.bake.unwrap_or_default(),
            },
            Some("code_deploy") => Strategy::CodeDeploy,
            _ => Strategy::Rolling,
        }
    }
}

/// An alarm of a simulated service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetAlarm {
    /// Alarm name.
    pub name: String,
    /// "OK", "ALARM" or "INSUFFICIENT_DATA".
    #[serde(default = "default_alarm_state")]
    pub state: String,
    /// Reason text.
    #[serde(default)]
    pub reason: Option<String>,
}

fn default_tag() -> String {
    "latest".to_string()
}
fn default_desired() -> u32 {
    2
}
fn default_age() -> Duration {
    Duration::from_hours(48)
}
fn default_true() -> bool {
    true
}
fn default_log_driver() -> String {
    "awslogs".to_string()
}
fn default_alarm_state() -> String {
    "OK".to_string()
}

/// Durations as humantime strings ("30h").
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| serde::de::Error::custom(format!("bad duration \"{s}\": {e}")))
    }

    pub mod option {
        use super::{Deserialize, Deserializer, Duration};

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let Some(s) = Option::<String>::deserialize(d)? else {
                return Ok(None);
            };
            humantime::parse_duration(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("bad duration \"{s}\": {e}")))
        }
    }
}

/// The built-in game-day scenarios: name and the faults appended to the demo fleet.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "bad-release",
        include_str!("../../../assets/scenarios/bad-release.toml"),
    ),
    (
        "slow-release",
        include_str!("../../../assets/scenarios/slow-release.toml"),
    ),
    (
        "flaky-health",
        include_str!("../../../assets/scenarios/flaky-health.toml"),
    ),
    (
        "region-outage",
        include_str!("../../../assets/scenarios/region-outage.toml"),
    ),
    (
        "lambda-errors",
        include_str!("../../../assets/scenarios/lambda-errors.toml"),
    ),
    (
        "fly-canary-critical",
        include_str!("../../../assets/scenarios/fly-canary-critical.toml"),
    ),
    (
        "kube-analysis-fails",
        include_str!("../../../assets/scenarios/kube-analysis-fails.toml"),
    ),
];

/// Why a fleet file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// TOML or schema error, with position.
    #[error("{file}: {message}")]
    Parse {
        /// File name.
        file: String,
        /// toml's message, which includes line and column.
        message: String,
    },
    /// A semantic problem.
    #[error("{file}: {message}")]
    Invalid {
        /// File name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read.
    #[error("{file}: cannot read fleet file: {source}")]
    Io {
        /// File name.
        file: String,
        /// I/O error.
        source: std::io::Error,
    },
}

impl FleetFile {
    /// The built-in demo fleet.
    pub fn demo() -> Result<Self, FleetError> {
        Self::parse(
            include_str!("../../../assets/demo-fleet.toml"),
            "<built-in demo fleet>",
        )
    }

    /// The built-in demo fleet with a game-day scenario's faults armed.
    pub fn demo_scenario(name: &str) -> Result<Self, FleetError> {
        let Some((_, text)) = SCENARIOS.iter().find(|(n, _)| *n == name) else {
            return Err(FleetError::Invalid {
                file: "<built-in scenarios>".to_string(),
                message: format!(
                    "unknown scenario \"{name}\" (known: {})",
                    SCENARIOS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let demo = include_str!("../../../assets/demo-fleet.toml");
        Self::parse(
            &format!("{demo}\n{text}"),
            &format!("<built-in demo fleet + scenario {name}>"),
        )
    }

    /// Reads a fleet file from disk.
    pub fn load(path: &std::path::Path) -> Result<Self, FleetError> {
        let io = |source| FleetError::Io {
            file: path.display().to_string(),
            source,
        };
        let bytes = crate::paths::read_regular(path, FLEET_LIMIT)
            .map_err(io)?
            .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8",
            ))
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a fleet description.
    pub fn parse(text: &str, file: &str) -> Result<Self, FleetError> {
        let mut fleet: Self = toml::from_str(text).map_err(|e| FleetError::Parse {
            file: match e.span() {
                Some(span) => format!("{file}:{}", line_of(text, span.start)),
                None => file.to_string(),
            },
            message: e.message().trim().to_string(),
        })?;
        let invalid = |message: String| FleetError::Invalid {
            file: file.to_string(),
            message,
        };
        for env in &fleet.environments {
            for f in &env.lambda {
                f.check(&env.name).map_err(invalid)?;
            }
            for f in &env.fly {
                f.check(&env.name).map_err(invalid)?;
            }
            for (i, k) in env.kubernetes.iter().enumerate() {
                k.check(&env.name).map_err(invalid)?;
                if env.kubernetes[..i].iter().any(|o| o.name() == k.name()) {
                    return Err(invalid(format!(
                        "Kubernetes rollout \"{}\" is named twice in environment \"{}\" of the fleet",
                        k.name(),
                        env.name
                    )));
                }
            }
            for (i, b) in env.blue_green.iter().enumerate() {
                b.check(&env.name).map_err(invalid)?;
                let taken = env.blue_green[..i].iter().any(|o| o.backend == b.backend)
                    || env.services.iter().any(|s| s.ecs_service == b.backend);
                if taken {
                    return Err(invalid(format!(
                        "\"{}\" is named twice in environment \"{}\" of the fleet",
                        b.backend, env.name
                    )));
                }
            }
            for s in &env.services {
                for rel in &s.releases {
                    if let Some((_, d)) = rel.split_once('@')
                        && Digest::parse(d).is_err()
                    {
                        return Err(invalid(format!(
                            "release \"{rel}\" of \"{}\" names a digest that is not sha256:<64 hex>",
                            s.ecs_service
                        )));
                    }
                }
                if s.releases.is_empty() {
                    return Err(invalid(format!(
                        "service \"{}\" in environment \"{}\" has no releases",
                        s.ecs_service, env.name
                    )));
                }
                if s.age > MAX_AGE {
                    return Err(invalid(format!(
                        "age of \"{}\" must be at most 10 years, found \"{}\"",
                        s.ecs_service,
                        humantime::format_duration(s.age)
                    )));
                }
                if s.bake.is_some_and(|b| b > MAX_BAKE) {
                    return Err(invalid(format!(
                        "bake of \"{}\" must be at most 24 hours",
                        s.ecs_service
                    )));
                }
                if !(0.0..=1.0).contains(&s.flakiness) {
                    return Err(invalid(format!(
                        "flakiness of \"{}\" must be between 0 and 1, found \"{}\"",
                        s.ecs_service, s.flakiness
                    )));
                }
                crate::model::ImageRef::parse(&format!("{}:{}", s.repository, s.tag))
                    .map_err(|e| invalid(format!("service \"{}\": {e}", s.ecs_service)))?;
                for a in &s.alarms {
                    if !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&a.state.as_str()) {
                        return Err(invalid(format!(
                            "alarm \"{}\" has unknown state \"{}\" (use OK, ALARM or INSUFFICIENT_DATA)",
                            a.name, a.state
                        )));
                    }
                }
                if let Some(st) = &s.strategy
                    && !["rolling", "blue_green", "canary", "linear", "code_deploy"]
                        .contains(&st.as_str())
                {
                    return Err(invalid(format!(
                        "strategy of \"{}\" must be \"rolling\", \"blue_green\", \"canary\", \"linear\" or \"code_deploy\", found \"{st}\"",
                        s.ecs_service
                    )));
                }
                if s.percent.is_some_and(|p| !(1.0..=100.0).contains(&p)) {
                    return Err(invalid(format!(
                        "percent of \"{}\" must be between 1 and 100",
                        s.ecs_service
                    )));
                }
                if s.interval.is_some_and(|b| b > MAX_BAKE) {
                    return Err(invalid(format!(
                        "interval of \"{}\" must be at most 24 hours",
                        s.ecs_service
                    )));
                }
            }
        }
        let mut faults = Vec::new();
        for (i, entry) in fleet.fault_entries.iter().enumerate() {
            let fault = entry
                .get_ref()
                .check(&fleet.environments, i)
                .map_err(|message| FleetError::Invalid {
                    file: format!("{file}:{}", line_of(text, entry.span().start)),
                    message,
                })?;
            faults.push(fault);
        }
        fleet.faults = faults;
        Ok(fleet)
    }
}

/// A generated configuration and fleet with `services` services in dev, staging
/// and prod, for trying (and measuring) shipdeck at size.
pub fn scaled(services: usize) -> (String, String) {
    scaled_with(&["dev", "staging", "prod"], services)
}

/// Like [`scaled`] over `envs` environments (`env-01`…, the last one
/// production): a board wider than any terminal.
pub fn scaled_wide(envs: usize, services: usize) -> (String, String) {
    if envs == 3 {
        return scaled(services);
    }
    let names: Vec<String> = (1..=envs.max(1)).map(|e| format!("env-{e:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    scaled_with(&refs, services)
}

/// [`scaled_wide`] parsed: one service per environment is written and read,
/// then copied `services` times with its names and figures changed the way
/// the text would have them. Reading 6,000 services of TOML costs a new user
/// a quarter of a second and tens of MiB before the first frame; this costs
/// milliseconds.
pub fn scaled_parsed(
    envs: usize,
    services: usize,
    source: &str,
) -> Result<(crate::config::Config, FleetFile), String> {
    let (cfg, template) = scaled_template(envs, services, source)?;
    Ok((cfg, grow(template, services)))
}

impl FleetFile {
    /// Whether the fleet has every environment `cfg` needs simulated: each
    /// with a service on ECS (the simulator is the ECS of simulated stages).
    /// A service on another platform is simulated where the fleet declares it
    /// (`[[environment.blue_green]]`) and served by its own platform otherwise
    /// (a real proxy beside simulated stages).
    pub fn covers(&self, cfg: &crate::config::Config) -> Result<(), String> {
        let known: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
        for env in cfg
            .environments
            .iter()
            .filter(|e| e.services.iter().any(|s| s.ecs.is_some()))
        {
            if !known.contains(&env.name.as_str()) {
                return Err(format!(
                    "{}: environment \"{}\" is not in the simulated fleet (it has: {})",
                    cfg.source.display(),
                    env.name,
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// As [`scaled_parsed`], with the fleet left as its template of one service
/// per environment, for [`grow`] to copy when the fleet is first used (the
/// console's first frame needs only the configuration).
pub fn scaled_template(
    envs: usize,
    services: usize,
    source: &str,
) -> Result<(crate::config::Config, FleetFile), String> {
    let (cfg_text, fleet_text) = scaled_wide(envs, 1);
    let mut cfg = crate::config::parse_str(&cfg_text, source, None).map_err(|e| e.to_string())?;
    let fleet =
        FleetFile::parse(&fleet_text, "<generated demo fleet>").map_err(|e| e.to_string())?;
    for cfg_env in &mut cfg.environments {
        let env = cfg_env.name.clone();
        let Some(svc) = cfg_env.services.first().cloned() else {
            return Err("the generated configuration has no service to copy".to_string());
        };
        cfg_env.services = (0..services)
            .map(|i| {
                let name = format!("svc-{i:04}");
                let mut s = svc.clone();
                s.ecs = Some(std::sync::Arc::new(crate::config::aws::EcsService {
                    service: format!("{name}-{env}"),
                    container: name.clone(),
                }));
                s.alarm_prefixes = vec![format!("{name}-{env}-")];
                if let Some(h) = &mut s.health {
                    h.url = format!("https://{name}.example/healthz");
                }
                s.name = name;
                s
            })
            .collect::<Vec<_>>()
            .into();
    }
    Ok((cfg, fleet))
}

/// The generated fleet from its template ([`scaled_template`]): each
/// environment's one service copied `services` times.
pub fn grow(mut fleet: FleetFile, services: usize) -> FleetFile {
    for (e, fleet_env) in fleet.environments.iter_mut().enumerate() {
        let env = fleet_env.name.clone();
        let Some(sim) = fleet_env.services.first().cloned() else {
            continue;
        };
        fleet_env.services = (0..services)
            .map(|i| {
                let name = format!("svc-{i:04}");
                let mut f = sim.clone();
                f.ecs_service = format!("{name}-{env}");
                f.family = Some(name.clone());
                f.repository = format!("registry.example.com/scale/{name}");
                f.releases = (1..=release_count(i, e))
                    .map(|r| format!("1.{r}"))
                    .collect();
                f.latency_ms = Some(latency_of(i));
                f.alarms = vec![FleetAlarm {
                    name: format!("{name}-{env}-5xx"),
                    state: alarm_state_of(i).to_string(),
                    reason: None,
                }];
                f
            })
            .collect();
    }
    fleet
}

/// Releases of service `i` at stage `e`: later stages lag, every third
/// service one release behind per stage.
fn release_count(i: usize, e: usize) -> usize {
    3 - if i.is_multiple_of(3) { e.min(2) } else { 0 }
}

fn latency_of(i: usize) -> u32 {
    20 + u32::try_from(i % 80).unwrap_or(0)
}

fn alarm_state_of(i: usize) -> &'static str {
    if i % 97 == 5 { "ALARM" } else { "OK" }
}

fn scaled_with(envs: &[&str], services: usize) -> (String, String) {
    use std::fmt::Write as _;
    let mut cfg = String::from("provider = \"simulated\"\nrefresh_interval = \"5s\"\n");
    let mut fleet = String::new();
    let final_stage = envs.len().saturating_sub(1);
    for (e, env) in envs.iter().enumerate() {
        let _ = write!(
            cfg,
            "\n[[environment]]\nname = \"{env}\"\nregion = \"eu-west-1\"\ncluster = \"scale-{env}\"\n{}",
            if e == final_stage && e > 0 {
                "production = true\n"
            } else {
                ""
            }
        );
        let _ = write!(fleet, "\n[[environment]]\nname = \"{env}\"\n");
        for i in 0..services {
            let name = format!("svc-{i:04}");
            let _ = write!(
                cfg,
                "\n[[environment.service]]\nname = \"{name}\"\necs_service = \"{name}-{env}\"\nalarm_prefixes = [\"{name}-{env}-\"]\nhealth = {{ url = \"https://{name}.example/healthz\" }}\n"
            );
            let list: Vec<String> = (1..=release_count(i, e))
                .map(|r| format!("\"1.{r}\""))
                .collect();
            let _ = write!(
                fleet,
                "\n[[environment.service]]\necs_service = \"{name}-{env}\"\nfamily = \"{name}\"\nrepository = \"registry.example.com/scale/{name}\"\nreleases = [{}]\ndesired = 2\nlatency_ms = {}\nalarms = [{{ name = \"{name}-{env}-5xx\", state = \"{}\" }}]\n",
                list.join(", "),
                latency_of(i),
                alarm_state_of(i)
            );
        }
    }
    (cfg, fleet)
}
