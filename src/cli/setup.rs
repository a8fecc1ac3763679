//! What several commands share: configuration and demo lookup, the provider,
//! the ledger path, the operator's identity, the key map.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::keys::KeyMap;
use crate::clock::Clock;
use crate::config::{self, Config, ConfigError, ProviderKind};
use crate::platforms::sim::{FleetFile, SimFleet};
use crate::provider::AnyProvider;

use super::{Cli, EXIT_USAGE, eprint_error, term};

/// Loads the configuration, or prints why not and gives exit code 2.
pub(crate) fn config_or_usage(cli: &Cli) -> Result<Config, i32> {
    load_config(cli).map_err(|e| {
        term::errln(&e.to_string());
        EXIT_USAGE
    })
}

/// Loads the configuration named by the flags and environment.
pub fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    let env_var = std::env::var("SHIPDECK_CONFIG").ok();
    let Some((path, origin)) = config::locate(cli.config.as_deref(), env_var.as_deref()) else {
        return Err(ConfigError::NotFound {
            path: "(none)".to_string(),
            origin: "no config directory on this platform",
            help: "pass --config PATH or set SHIPDECK_CONFIG".to_string(),
        });
    };
    let mut cfg = config::load(&path, origin)?;
    cfg.read_only |= cli.read_only;
    if !cli.no_cache {
        cfg.cache_file = crate::platforms::ecs::cache::default_path();
        // Lambda's published versions, beside the task definitions.
        if let Some(f) = &cfg.cache_file {
            crate::platforms::lambda::artifacts::keep_in(
                f.with_file_name(crate::paths::LAMBDA_VERSION_CACHE),
            );
        }
    }
    // What the SDK would read and panic on (a control character reaching a
    // request header) is refused first, for ECS as for the team's table.
    if matches!(cfg.provider, ProviderKind::Aws) || cfg.team.is_some() {
        crate::aws::check_environment().map_err(ConfigError::Environment)?;
        crate::aws::check_credential_files().map_err(ConfigError::Environment)?;
    }
    // Notifications (issue 32): this process sends what it appends.
    if !cfg.notify.is_empty() {
        crate::notify::install(&cfg, secrets_for_run());
    }
    Ok(cfg)
}

pub(crate) fn demo_seed(cfg: &Config) -> u64 {
    match cfg.provider {
        ProviderKind::Simulated { seed, .. } => seed,
        ProviderKind::Aws => 1,
    }
}

/// The demo's simulated fleet and how its world is kept.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The fleet a new world starts from.
    pub fleet: FleetFile,
    /// Shared with every other demo process through the data dir (the shop
    /// demo), or this process's own (generated fleets).
    pub shared: bool,
    /// The game-day scenario asked for.
    pub scenario: Option<String>,
    /// Start the world afresh.
    pub reset: bool,
    /// `fleet` is a template of one service per environment, grown to this
    /// many when the simulator is first used (generated fleets).
    pub grow: Option<usize>,
}

impl Demo {
    /// This process's own world over `fleet`.
    pub fn own(fleet: FleetFile) -> Self {
        Self {
            fleet,
            shared: false,
            scenario: None,
            reset: false,
            grow: None,
        }
    }
}

/// Where the shared demo world is kept.
pub(crate) fn demo_world_path() -> Option<PathBuf> {
    crate::paths::data_dir().map(|d| d.join("demo-world.json"))
}

/// The simulator for the demo, or the provider the configuration asks for;
/// with a note for the user about the demo world, when there is one to give.
pub(crate) fn provider_for(
    cfg: &Config,
    demo: Option<Demo>,
    clock: Arc<dyn Clock>,
) -> Result<(AnyProvider, Option<String>), String> {
    let Some(demo) = demo else {
        return build_provider(cfg, clock).map(|p| (p, None));
    };
    let seed = demo_seed(cfg);
    let path = demo_world_path().filter(|_| demo.shared);
    let Some(path) = path else {
        return Ok((
            AnyProvider::Sim(SimFleet::deferred(demo.fleet, demo.grow, seed, clock)),
            None,
        ));
    };
    let (sim, opened) = SimFleet::open_world(
        &demo.fleet,
        seed,
        clock,
        path.clone(),
        crate::platforms::sim::demo_version(),
        demo.scenario.clone(),
        demo.reset,
    );
    let note = world_note(&sim, &path, &opened, demo.fleet.scenario.as_ref());
    Ok((AnyProvider::Sim(sim), note))
}

/// What to tell the user about the demo world just opened.
fn world_note(
    sim: &SimFleet,
    path: &std::path::Path,
    opened: &crate::platforms::sim::Opened,
    asked: Option<&crate::platforms::sim::ScenarioInfo>,
) -> Option<String> {
    use crate::platforms::sim::Opened;
    let running = sim.scenario();
    let about = || {
        asked.map_or_else(String::new, |s| {
            format!(
                ": {}",
                s.description
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
    };
    let what = match &running {
        Some(s) => format!("scenario {s}"),
        None => "no scenario".to_string(),
    };
    match opened {
        Opened::Continued => running
            .map(|s| format!("demo world runs scenario {s} (`shipdeck demo --reset` ends it)")),
        Opened::Created => running.map(|s| format!("demo scenario {s} armed{}", about())),
        Opened::Restarted => Some(format!(
            "demo world restarted from its initial state with {what}{}",
            about()
        )),
        Opened::Reset => Some(format!(
            "demo world reset to its initial state with {what} ({}); the demo ledger is kept{}",
            path.display(),
            about()
        )),
        Opened::Replaced(why) => Some(format!(
            "demo world {} could not be used ({why}); replaced by the initial world with {what}",
            path.display()
        )),
    }
}

/// Builds the provider the configuration asks for.
pub fn build_provider(cfg: &Config, clock: Arc<dyn Clock>) -> Result<AnyProvider, String> {
    match &cfg.provider {
        ProviderKind::Simulated { fleet, seed, .. } => {
            let file = match fleet {
                Some(path) => FleetFile::load(path),
                None => FleetFile::demo(),
            }
            .map_err(|e| e.to_string())?;
            file.covers(cfg)?;
            Ok(AnyProvider::Sim(SimFleet::new(&file, *seed, clock)))
        }
        ProviderKind::Aws => {
            let p = crate::platforms::ecs::AwsProvider::new(cfg);
            Ok(AnyProvider::Aws(match &cfg.cache_file {
                Some(path) => p.with_cache_file(path.clone()),
                None => p,
            }))
        }
    }
}

pub(crate) fn secret_store() -> Result<crate::secrets::KeyringStore, crate::secrets::SecretError> {
    let index = crate::paths::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("secret-names.json");
    crate::secrets::KeyringStore::new(index)
}

/// Secrets for probes: environment variables, then the keyring when the machine has one.
pub fn secrets_for_run() -> crate::secrets::Secrets {
    use crate::secrets::{MemoryStore, Redactor, SecretStore, Secrets};
    let store: Arc<dyn SecretStore> = match secret_store() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!(error = %e, "OS keyring unavailable; only SHIPDECK_SECRET_* variables are used");
            Arc::new(MemoryStore::default())
        }
    };
    Secrets::new(store, Redactor::default())
}

/// The configuration's ledger: `ledger_path`, else the platform data dir.
/// A device or FIFO there is refused (the callers make it a usage error).
pub fn ledger_for(cfg: &Config) -> Result<PathBuf, String> {
    let path = cfg.ledger_path.clone().map_or_else(default_ledger, Ok)?;
    usable_ledger(path)
}

/// `path`, unless it is a device, FIFO or directory.
pub(crate) fn usable_ledger(path: PathBuf) -> Result<PathBuf, String> {
    match crate::paths::unusable_ledger(&path) {
        Some(why) => Err(format!(
            "audit ledger {} {why}; point it at a regular file (it is created when first written)",
            path.display()
        )),
        None => Ok(path),
    }
}

pub(crate) fn default_ledger() -> Result<PathBuf, String> {
    crate::paths::data_dir()
        .map(|d| d.join("ledger.jsonl"))
        .ok_or_else(|| "no data directory on this platform; pass --ledger PATH".to_string())
}

/// The operator for records: `$SHIPDECK_OPERATOR` where allowed; in team mode
/// the STS caller ARN, or an error (team mode acts for no one it cannot name);
/// else (with the AWS provider) the caller identity from STS, else the OS user.
pub async fn who(cfg: &Config) -> Result<String, String> {
    if let Some(o) = operator_override(cfg) {
        return Ok(o);
    }
    if let Some(team) = &cfg.team {
        return crate::team::caller_arn(team).await.map_err(|e| {
            format!(
                "team mode needs to know who you are, and cannot: {e}; nothing was done (check your AWS credentials for the team table)"
            )
        });
    }
    Ok(who_solo(cfg).await)
}

async fn who_solo(cfg: &Config) -> String {
    // Only where something is read from AWS: a configuration of Kubernetes
    // or Fly stages alone has no AWS identity to ask for.
    if matches!(cfg.provider, ProviderKind::Aws) && cfg.environments.iter().any(|e| e.aws.is_some())
    {
        let p = crate::platforms::ecs::AwsProvider::new(cfg);
        match tokio::time::timeout(std::time::Duration::from_secs(8), p.caller_identity()).await {
            Ok(Ok(arn)) => return crate::model::sanitize(&arn),
            Ok(Err(e)) => tracing::warn!(error = %e, "caller identity unknown; using the OS user"),
            Err(_) => tracing::warn!("caller identity timed out; using the OS user"),
        }
    }
    operator()
}

pub(crate) fn operator_override(cfg: &Config) -> Option<String> {
    if cfg.allow_operator_override
        && let Some(o) = std::env::var("SHIPDECK_OPERATOR")
            .ok()
            .filter(|o| !o.trim().is_empty())
    {
        return Some(crate::model::sanitize(o.trim()));
    }
    None
}

/// The demo configuration and shared world (`--demo`, with a scenario), or
/// the configured ones.
pub(crate) fn config_or_demo(
    cli: &Cli,
    demo: bool,
    scenario: Option<&str>,
) -> Result<(Config, Option<Demo>), i32> {
    if demo {
        let (mut cfg, demo) = shop_demo(scenario, false).map_err(|e| {
            eprint_error(&e);
            EXIT_USAGE
        })?;
        cfg.read_only |= cli.read_only;
        Ok((cfg, Some(demo)))
    } else {
        config_or_usage(cli).map(|c| (c, None))
    }
}

/// The shop demo's configuration and its shared world, with a scenario.
pub(crate) fn shop_demo(scenario: Option<&str>, reset: bool) -> Result<(Config, Demo), String> {
    let (cfg, fleet) = demo_setup()?;
    let fleet = match scenario {
        Some(name) => FleetFile::demo_scenario(name).map_err(|e| e.to_string())?,
        None => fleet,
    };
    Ok((
        cfg,
        Demo {
            fleet,
            shared: true,
            scenario: scenario.map(str::to_string),
            reset,
            grow: None,
        },
    ))
}

/// Checks that `env` exists and lists `service`: a typo is a usage error (exit
/// 2) in every command, never "not locked" or "not found" at run time.
pub fn known_service(cfg: &Config, env: &str, service: &str) -> Result<(), String> {
    let Some(e) = cfg.env(env) else {
        return Err(format!(
            "unknown environment \"{env}\"; known: {}",
            cfg.env_names().join(", ")
        ));
    };
    if e.service(service).is_none() {
        let names: Vec<&str> = e.services.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "unknown service \"{service}\" in \"{env}\"; known there: {}",
            names.join(", ")
        ));
    }
    Ok(())
}

/// The configuration's ledger and locks: the team's DynamoDB table
/// (`[team] backend = "dynamodb"`), or the ledger file and the lock
/// directory beside it.
pub fn state_for(cfg: &Config) -> Result<(crate::ledger::Ledger, crate::lock::LockStore), String> {
    if let Some(team) = &cfg.team {
        let store = crate::team::TeamStore::open(team.clone())?;
        return Ok((
            crate::ledger::Ledger::team(store.clone()),
            crate::lock::LockStore::Team(store),
        ));
    }
    let path = ledger_for(cfg)?;
    Ok((
        crate::ledger::Ledger::new(&path),
        crate::lock::LockStore::Dir(lock_dir(&path)),
    ))
}

/// The ledger `--ledger` names, else the configuration's (the team table in
/// team mode), else the file in the platform data dir.
pub(crate) fn ledger_of(
    cli: &Cli,
    flag: Option<&std::path::Path>,
) -> Result<crate::ledger::Ledger, String> {
    if let Some(p) = flag {
        return usable_ledger(p.to_path_buf()).map(crate::ledger::Ledger::new);
    }
    let explicit = cli.config.is_some() || std::env::var_os("SHIPDECK_CONFIG").is_some();
    match load_config(cli) {
        Ok(cfg) => state_for(&cfg).map(|(l, _)| l),
        Err(e) if explicit => Err(e.to_string()),
        Err(_) => default_ledger()
            .and_then(usable_ledger)
            .map(crate::ledger::Ledger::new),
    }
}

/// Where promotion locks live: beside the ledger, so a shared ledger means shared locks.
pub fn lock_dir(ledger: &std::path::Path) -> PathBuf {
    ledger
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("locks")
}

/// Who is operating: the OS user (the audit issue adds the AWS caller identity).
pub fn operator() -> String {
    whoami::username()
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown-user".to_string())
}

/// The shop demo's configuration and fleet.
pub(crate) fn demo_setup() -> Result<(Config, FleetFile), String> {
    Ok((
        demo_ledger(config::demo().map_err(|e| e.to_string())?),
        FleetFile::demo().map_err(|e| e.to_string())?,
    ))
}

/// The demo keeps its own audit trail, apart from real promotions.
fn demo_ledger(mut cfg: Config) -> Config {
    if cfg.ledger_path.is_none() {
        cfg.ledger_path = crate::paths::data_dir().map(|d| d.join("demo-ledger.jsonl"));
    }
    cfg
}

/// A generated fleet of `services` per environment in `envs` environments:
/// the configuration in full, the fleet as a template grown at first use.
pub(crate) fn generated_demo(services: u16, envs: u16) -> Result<(Config, Demo), String> {
    let (cfg, template) = crate::platforms::sim::scaled_template(
        usize::from(envs),
        usize::from(services),
        config::GENERATED_DEMO_SOURCE,
    )?;
    Ok((
        demo_ledger(cfg),
        Demo {
            grow: Some(usize::from(services)),
            ..Demo::own(template)
        },
    ))
}

/// The key map of the configuration, validated the one way both the console
/// and `config check` use; problems are printed and give exit code 2.
pub(crate) fn keymap_or_usage(cfg: &Config) -> Result<KeyMap, i32> {
    KeyMap::from_config(&cfg.keys).map_err(|errors| {
        for e in &errors {
            term::errln(e);
        }
        term::errln(&format!(
            "{} problem(s) in [keys]; nothing was started",
            errors.len()
        ));
        EXIT_USAGE
    })
}
