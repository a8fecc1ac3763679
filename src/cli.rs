//! The command line: clap definitions and the dispatch of each subcommand.

pub mod error;
pub mod promote;
pub mod release;
pub mod rollback;
pub mod term;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::app::keys::KeyMap;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, ConfigError, ProviderKind};
use crate::provider::AnyProvider;
use crate::sim::{FleetFile, SimFleet};
use crate::status::{self, Filter, Style};
use crate::ui::Theme;

/// Exit code: everything healthy / command succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: something is degraded, or the action failed.
pub const EXIT_DEGRADED: i32 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: nothing is known to be bad, but something could not be seen
/// (alarms unreadable or missing, INSUFFICIENT_DATA, a watch that could not verify).
pub const EXIT_UNKNOWN: i32 = 3;

/// Terminal release console for ECS: see which image digest runs in every stage,
/// promote it through gates, watch the deploy, and roll back with one key.
#[derive(Debug, Parser)]
#[command(name = "shipdeck", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: $SHIPDECK_CONFIG, then the platform config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log level written to the log file (default: $RUST_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: Option<String>,
    /// Disable every mutating action.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// What to do (the console opens when none is given).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run shipdeck against the built-in simulated fleet (no AWS account needed).
    Demo {
        /// Print the status table once instead of opening the console.
        #[arg(long)]
        status: bool,
        /// With --status: print JSON.
        #[arg(long, requires = "status")]
        json: bool,
        /// Generate a fleet of N services per environment instead of the shop demo.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=5000))]
        services: Option<u16>,
    },
    /// Print every service's digest, rollout, alarms, health and drift per environment.
    Status(StatusArgs),
    /// Inspect the configuration.
    Config {
        /// Config action.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage secrets in the OS keyring (values are never printed).
    Secret {
        /// Secret action.
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Run an environment's smoke checks and print each verdict.
    Smoke {
        /// Environment name.
        env: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Deadline for the whole run.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        deadline: std::time::Duration,
    },
    /// Promote a service's digest into an environment through its gate (the wizard's twin).
    Promote {
        /// What to promote where.
        #[command(flatten)]
        args: promote::PromoteArgs,
        /// Confirmation, waiting and output.
        #[command(flatten)]
        common: release::Common,
    },
    /// Roll a service back to its previous stable revision (the `r` key's twin).
    Rollback {
        /// Service (shipdeck name).
        service: String,
        /// Environment.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Confirmation, waiting and output.
        #[command(flatten)]
        common: release::Common,
    },
    /// Approve a promotion waiting for approval, by the id its wizard shows.
    Approve {
        /// Promotion id (e.g. P7K3QX).
        id: String,
        /// Approve a promotion started in `shipdeck demo`.
        #[arg(long)]
        demo: bool,
        /// A comment kept with the approval.
        #[arg(long)]
        comment: Option<String>,
        /// Ledger file (default: ledger_path from the config, else the platform data dir).
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
    },
    /// Break a stale promotion lock (after confirmation; recorded in the ledger).
    Unlock {
        /// Environment.
        #[arg(long)]
        env: String,
        /// Service.
        #[arg(long)]
        service: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// A lock of `shipdeck demo` (the demo's own ledger and locks).
        #[arg(long)]
        demo: bool,
    },
    /// List audit records, or verify the ledger's hash chain.
    Audit(AuditArgs),
    /// Print shell completions.
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Options of `shipdeck status`.
#[derive(Debug, Args, Default)]
pub struct StatusArgs {
    /// Use the built-in simulated fleet instead of the configuration.
    #[arg(long)]
    pub demo: bool,
    /// Print JSON (schema version 1, see README).
    #[arg(long)]
    pub json: bool,
    /// Only these environments (repeatable).
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Only these services (repeatable).
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Never colour the output (NO_COLOR is honoured too).
    #[arg(long)]
    pub no_color: bool,
}

/// Options of `shipdeck audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Verify instead of listing.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Ledger file (default: ledger_path from the config, else the platform data dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// The demo's ledger (what `shipdeck demo` recorded).
    #[arg(long, global = true, conflicts_with = "ledger")]
    pub demo: bool,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only records newer than this: a duration ("24h") or a time ("2026-11-20T10:00:00Z").
    #[arg(long)]
    pub since: Option<String>,
    /// Only this record type (e.g. deploy_issued, approval).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Print JSON lines of the records.
    #[arg(long)]
    pub json: bool,
}

/// `shipdeck audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exit 1 and name the first broken line.
    Verify,
}

/// `shipdeck secret …`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret; the value is read from a hidden prompt, or from stdin when piped.
    Set {
        /// Name, e.g. API_HEALTH_TOKEN (referenced as ${secret:API_HEALTH_TOKEN}).
        name: String,
    },
    /// Delete a secret.
    Rm {
        /// Name.
        name: String,
    },
    /// List stored secret names (never values).
    List,
}

/// `shipdeck config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print a summary.
    Check,
}

/// Builds the clap command with run-time facts (log path) in the help.
pub fn command() -> clap::Command {
    let log = crate::logging::log_path().map_or_else(
        || "(no state directory)".to_string(),
        |p| p.display().to_string(),
    );
    let cfg = config::locate(None, None).map_or_else(
        || "(no config directory)".to_string(),
        |(p, _)| p.display().to_string(),
    );
    Cli::command().after_help(format!(
        "Config file: {cfg}\nLog file:    {log}\n\nExit codes: 0 healthy/ok, 1 degraded or failed, 2 usage or config error,\n3 unknown (something could not be read; never reported as healthy)."
    ))
}

/// Parses the process arguments (exits on --help, --version and usage errors with code 2).
pub fn parse() -> Cli {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors echo what was typed: through the sanitiser like everything else.
            let text = e.render().to_string();
            if e.use_stderr() {
                term::err(&text);
            } else {
                term::out(&text);
            }
            std::process::exit(e.exit_code());
        }
    }
}

/// Loads the configuration, or prints why not and gives exit code 2.
fn config_or_usage(cli: &Cli) -> Result<Config, i32> {
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
    if matches!(cfg.provider, ProviderKind::Aws) {
        crate::aws::check_environment().map_err(ConfigError::Environment)?;
    }
    Ok(cfg)
}

fn demo_seed(cfg: &Config) -> u64 {
    match cfg.provider {
        ProviderKind::Simulated { seed, .. } => seed,
        ProviderKind::Aws => 1,
    }
}

/// The simulator on an in-memory fleet (the demo), or the provider the configuration asks for.
fn provider_for(
    cfg: &Config,
    fleet: Option<FleetFile>,
    clock: Arc<dyn Clock>,
) -> Result<AnyProvider, String> {
    match fleet {
        Some(f) => Ok(AnyProvider::Sim(SimFleet::new(&f, demo_seed(cfg), clock))),
        None => build_provider(cfg, clock),
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
            let known: Vec<&str> = file.environments.iter().map(|e| e.name.as_str()).collect();
            for env in &cfg.environments {
                if !known.contains(&env.name.as_str()) {
                    return Err(format!(
                        "{}: environment \"{}\" is not in the simulated fleet (it has: {})",
                        cfg.source.display(),
                        env.name,
                        known.join(", ")
                    ));
                }
            }
            Ok(AnyProvider::Sim(SimFleet::new(&file, *seed, clock)))
        }
        ProviderKind::Aws => Ok(AnyProvider::Aws(crate::aws::AwsProvider::new(cfg))),
    }
}

fn eprint_error(msg: &str) {
    term::error(msg);
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match &cli.command {
        Some(Command::Secret { command }) => run_secret(command),
        Some(Command::Audit(args)) => run_audit(&cli, args),
        Some(Command::Unlock {
            env,
            service,
            yes,
            demo,
        }) => run_unlock(&cli, env, service, *yes, *demo).await,
        Some(Command::Approve {
            id,
            demo,
            comment,
            ledger,
        }) => run_approve(&cli, id, *demo, comment.as_deref(), ledger.as_deref()).await,
        Some(Command::Promote { args, common }) => {
            let (cfg, fleet) = match config_or_demo(&cli, common.demo) {
                Ok(x) => x,
                Err(code) => return code,
            };
            promote::promote(&cfg, fleet, &who(&cfg).await, args, common).await
        }
        Some(Command::Rollback {
            service,
            env,
            common,
        }) => {
            let (cfg, fleet) = match config_or_demo(&cli, common.demo) {
                Ok(x) => x,
                Err(code) => return code,
            };
            rollback::rollback(&cfg, fleet, &who(&cfg).await, service, env, common).await
        }
        Some(Command::Smoke {
            env,
            json,
            deadline,
        }) => run_smoke(&cli, env, *json, *deadline).await,
        Some(Command::Completions { shell }) => {
            let mut cmd = command();
            clap_complete::generate(*shell, &mut cmd, "shipdeck", &mut std::io::stdout());
            EXIT_OK
        }
        Some(Command::Config {
            command: ConfigCommand::Check,
        }) => config_check(&cli),
        Some(Command::Status(args)) => {
            if args.demo {
                match demo_setup(None) {
                    Ok((cfg, fleet)) => run_status(Ok(cfg), args, Some(fleet)).await,
                    Err(e) => {
                        eprint_error(&e);
                        EXIT_USAGE
                    }
                }
            } else {
                run_status(load_config(&cli), args, None).await
            }
        }
        Some(Command::Demo {
            status,
            json,
            services,
        }) => {
            let (cfg, fleet) = match demo_setup(*services) {
                Ok(x) => x,
                Err(e) => {
                    eprint_error(&e);
                    return EXIT_USAGE;
                }
            };
            let mut cfg = cfg;
            cfg.read_only |= cli.read_only;
            if *status {
                let args = StatusArgs {
                    json: *json,
                    ..StatusArgs::default()
                };
                run_status(Ok(cfg), &args, Some(fleet)).await
            } else {
                run_console(Ok(cfg), Some(fleet)).await
            }
        }
        None => run_console(load_config(&cli), None).await,
    }
}

fn secret_store() -> Result<crate::secrets::KeyringStore, crate::secrets::SecretError> {
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

fn run_secret(command: &SecretCommand) -> i32 {
    use crate::secrets::{SecretStore, valid_name};
    let name = match command {
        SecretCommand::Set { name } | SecretCommand::Rm { name } => Some(name.as_str()),
        SecretCommand::List => None,
    };
    if let Some(n) = name.filter(|n| !valid_name(n)) {
        eprint_error(&format!(
            "secret name \"{n}\" is not allowed: use letters, digits and '_' (e.g. API_TOKEN)"
        ));
        return EXIT_USAGE;
    }
    let store = match secret_store() {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let result = match command {
        SecretCommand::Set { name } => read_secret_value(name).and_then(|v| {
            store.set(name, &v).map_err(|e| e.to_string())?;
            Ok(format!(
                "stored secret \"{name}\" in the OS keyring; reference it as ${{secret:{name}}}\n"
            ))
        }),
        SecretCommand::Rm { name } => match store.remove(name) {
            Ok(true) => Ok(format!("deleted secret \"{name}\"\n")),
            Ok(false) => Err(format!(
                "no secret named \"{name}\"; `shipdeck secret list` shows the stored names"
            )),
            Err(e) => Err(e.to_string()),
        },
        SecretCommand::List => store.names().map_err(|e| e.to_string()).map(|names| {
            let mut out = String::new();
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            out
        }),
    };
    match result {
        Ok(text) => {
            term::out(&text);
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e);
            EXIT_DEGRADED
        }
    }
}

/// Reads a secret value from a hidden prompt (terminal) or stdin (pipe); never from argv.
fn read_secret_value(name: &str) -> Result<String, String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value for {name} (input hidden): "))
            .map_err(|e| format!("cannot read the value: {e}"))?
    } else {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        s.strip_suffix('\n')
            .map_or(s.as_str(), |t| t.strip_suffix('\r').unwrap_or(t))
            .to_string()
    };
    if value.is_empty() {
        return Err("the value is empty; nothing was stored".to_string());
    }
    Ok(value)
}

async fn run_smoke(cli: &Cli, env: &str, json: bool, deadline: std::time::Duration) -> i32 {
    let cfg = match config_or_usage(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(env_cfg) = cfg.env(env) else {
        eprint_error(&format!(
            "unknown environment \"{env}\"; known: {}",
            cfg.env_names().join(", ")
        ));
        return EXIT_USAGE;
    };
    if env_cfg.smoke.is_empty() {
        eprint_error(&format!(
            "environment \"{env}\" has no smoke checks; add [[environment.smoke]] tables"
        ));
        return EXIT_USAGE;
    }
    let client = match crate::health::client() {
        Ok(c) => c,
        Err(e) => {
            eprint_error(&e);
            return EXIT_DEGRADED;
        }
    };
    let secrets = secrets_for_run();
    let results = crate::health::run_smoke(&client, &env_cfg.smoke, &secrets, deadline).await;
    let failed = results.iter().filter(|r| !r.passed).count();
    let text = if json {
        term::json(&results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    } else {
        let mut out = String::new();
        for r in &results {
            out.push_str(&format!(
                "{} {}: {}\n",
                if r.passed { "✓" } else { "✗" },
                r.name,
                r.reason
            ));
        }
        out.push_str(&format!(
            "{} passed, {failed} failed\n",
            results.len() - failed
        ));
        out
    };
    if json {
        term::out_styled(&text);
    } else {
        term::out(&text);
    }
    if failed == 0 { EXIT_OK } else { EXIT_DEGRADED }
}

/// The ledger file: `--ledger`, else the config's `ledger_path`, else the data dir.
fn ledger_path(cli: &Cli, flag: Option<&std::path::Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let explicit = cli.config.is_some() || std::env::var_os("SHIPDECK_CONFIG").is_some();
    match load_config(cli) {
        Ok(cfg) => ledger_for(&cfg),
        Err(e) if explicit => Err(e.to_string()),
        Err(_) => default_ledger(),
    }
}

/// The configuration's ledger: `ledger_path`, else the platform data dir.
pub fn ledger_for(cfg: &Config) -> Result<PathBuf, String> {
    cfg.ledger_path.clone().map_or_else(default_ledger, Ok)
}

fn default_ledger() -> Result<PathBuf, String> {
    crate::paths::data_dir()
        .map(|d| d.join("ledger.jsonl"))
        .ok_or_else(|| "no data directory on this platform; pass --ledger PATH".to_string())
}

fn parse_since(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        // Far enough back to overflow a date is a typo, not "everything".
        return chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| {
                format!("--since \"{s}\" reaches further back than a date can go; use e.g. \"30d\" or a time such as \"2026-11-20T10:00:00Z\"")
            });
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("--since \"{s}\" is neither a duration (\"24h\") nor a time (\"2026-11-20T10:00:00Z\")"))
}

fn run_audit(cli: &Cli, args: &AuditArgs) -> i32 {
    use crate::ledger::{Ledger, verify_text};
    let path = match if args.demo {
        demo_setup(None).and_then(|(cfg, _)| ledger_for(&cfg))
    } else {
        ledger_path(cli, args.ledger.as_deref())
    } {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    if matches!(args.command, Some(AuditCommand::Verify)) {
        let text = match Ledger::new(&path).text() {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => {
                eprint_error(&e.to_string());
                return EXIT_DEGRADED;
            }
        };
        return match verify_text(&text) {
            Ok(n) => {
                term::outln(&format!(
                    "{}: OK, {n} records, hash chain intact",
                    path.display()
                ));
                EXIT_OK
            }
            Err(b) => {
                term::outln(&format!(
                    "{}:{}: BROKEN: {}",
                    path.display(),
                    b.line,
                    b.problem
                ));
                EXIT_DEGRADED
            }
        };
    }
    let since = match args
        .since
        .as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
    {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let records = match Ledger::new(&path).read_all() {
        Ok(c) => {
            if let Some(w) = c.torn_warning() {
                term::errln(&format!("warning: {}: {w}", path.display()));
            }
            c.records
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let mut out = String::new();
    for r in records.iter().filter(|r| {
        args.env
            .as_ref()
            .is_none_or(|e| r.draft.env.as_ref() == Some(e))
            && args
                .service
                .as_ref()
                .is_none_or(|s| r.draft.service.as_ref() == Some(s))
            && since.is_none_or(|t| r.at >= t)
            && args.kind.as_ref().is_none_or(|k| r.kind.as_str() == k)
    }) {
        if args.json {
            out.push_str(&term::json_line(r).unwrap_or_default());
        } else {
            let kind = r.kind.as_str();
            out.push_str(&format!(
                "{} {:<6} {:<22} {:<10} {:<8} {:<12} {}",
                r.at.format("%Y-%m-%d %H:%M:%S"),
                r.seq,
                kind,
                r.draft.operator,
                r.draft.env.as_deref().unwrap_or("-"),
                r.draft.service.as_deref().unwrap_or("-"),
                [
                    r.draft
                        .to_digest
                        .as_deref()
                        .map(|d| format!("→ {}", d.get(7..19).unwrap_or(d))),
                    r.draft.outcome.clone(),
                    (!r.draft.reasons.is_empty()).then(|| r.draft.reasons.join("; ")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ")
            ));
        }
        out.push('\n');
    }
    if args.json {
        term::out_styled(&out);
    } else {
        term::out(&out);
    }
    EXIT_OK
}

/// The operator for records: `$SHIPDECK_OPERATOR` where allowed, else (with the
/// AWS provider) the caller identity from STS, else the OS user.
pub async fn who(cfg: &Config) -> String {
    if let Some(o) = operator_override(cfg) {
        return o;
    }
    if matches!(cfg.provider, ProviderKind::Aws) {
        let p = crate::aws::AwsProvider::new(cfg);
        match tokio::time::timeout(std::time::Duration::from_secs(8), p.caller_identity()).await {
            Ok(Ok(arn)) => return crate::model::sanitize(&arn),
            Ok(Err(e)) => tracing::warn!(error = %e, "caller identity unknown; using the OS user"),
            Err(_) => tracing::warn!("caller identity timed out; using the OS user"),
        }
    }
    operator()
}

fn operator_override(cfg: &Config) -> Option<String> {
    if cfg.allow_operator_override
        && let Some(o) = std::env::var("SHIPDECK_OPERATOR")
            .ok()
            .filter(|o| !o.trim().is_empty())
    {
        return Some(crate::model::sanitize(o.trim()));
    }
    None
}

/// The demo configuration and fleet (`--demo`), or the configured ones.
fn config_or_demo(cli: &Cli, demo: bool) -> Result<(Config, Option<FleetFile>), i32> {
    if demo {
        let (mut cfg, fleet) = demo_setup(None).map_err(|e| {
            eprint_error(&e);
            EXIT_USAGE
        })?;
        cfg.read_only |= cli.read_only;
        Ok((cfg, Some(fleet)))
    } else {
        config_or_usage(cli).map(|c| (c, None))
    }
}

async fn run_approve(
    cli: &Cli,
    id: &str,
    demo: bool,
    comment: Option<&str>,
    ledger: Option<&std::path::Path>,
) -> i32 {
    let cfg = match config_or_demo(cli, demo) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    let path = match ledger
        .map(std::path::Path::to_path_buf)
        .map_or_else(|| ledger_for(&cfg), Ok)
    {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let l = crate::ledger::Ledger::new(&path);
    let records = match l.read() {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let Some(req) = crate::approvals::find(&records, id) else {
        eprint_error(&crate::approvals::ApprovalError::NotFound(id.to_string()).to_string());
        return EXIT_DEGRADED;
    };
    let Some(env) = cfg.env(&req.env) else {
        eprint_error(&format!(
            "promotion {id} targets \"{}\", which this configuration does not define",
            req.env
        ));
        return EXIT_USAGE;
    };
    let me = who(&cfg).await;
    match crate::approvals::approve(&l, id, &me, comment, &env.gate, chrono::Utc::now()) {
        Ok((req, rec)) => {
            term::outln(&format!(
                "{me} approved {} of {} into {} ({}), record {}",
                req.promotion,
                req.service,
                req.env,
                req.digest.get(..19).unwrap_or(&req.digest),
                rec.id
            ));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
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

/// Where promotion locks live: beside the ledger, so a shared ledger means shared locks.
pub fn lock_dir(ledger: &std::path::Path) -> PathBuf {
    ledger
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("locks")
}

async fn run_unlock(cli: &Cli, env: &str, service: &str, yes: bool, demo: bool) -> i32 {
    let cfg = match config_or_demo(cli, demo) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    if let Err(e) = known_service(&cfg, env, service) {
        eprint_error(&e);
        return EXIT_USAGE;
    }
    let ledger = match ledger_for(&cfg) {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let dir = lock_dir(&ledger);
    let now = chrono::Utc::now();
    let info = match crate::lock::holder(&dir, env, service) {
        Ok(Some(info)) => info,
        Ok(None) => {
            term::outln(&format!("{service} in {env} is not locked"));
            return EXIT_OK;
        }
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let Some(why) = crate::lock::staleness(&info, now) else {
        eprint_error(&format!(
            "{service} in {env} is held by {} (pid {} on {}) since {} and is not stale; it is not broken",
            info.owner,
            info.pid,
            info.host,
            info.since.format("%Y-%m-%d %H:%M:%S UTC")
        ));
        return EXIT_DEGRADED;
    };
    term::outln(&format!(
        "lock on {service} in {env}: {} (pid {} on {}) for a {} since {}\nstale because {why}",
        info.owner,
        info.pid,
        info.host,
        info.purpose,
        info.since.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprint_error("confirmation needed: run in a terminal, or pass --yes");
            return EXIT_USAGE;
        }
        term::out(&format!("type the service name ({service}) to break it: "));
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() || answer.trim() != service {
            term::outln("not broken");
            return EXIT_DEGRADED;
        }
    }
    let me = who(&cfg).await;
    // Record first: the audit trail must hold the break before it happens.
    let draft = crate::ledger::Draft {
        operator: me.clone(),
        env: Some(env.to_string()),
        service: Some(service.to_string()),
        reasons: vec![format!(
            "broke stale lock of {} (pid {} on {}, since {}): {why}",
            info.owner, info.pid, info.host, info.since
        )],
        ..crate::ledger::Draft::default()
    };
    if let Err(e) = crate::ledger::Ledger::new(&ledger).append(
        crate::ledger::RecordKind::LockBroken,
        draft,
        now,
    ) {
        eprint_error(&e.to_string());
        return EXIT_DEGRADED;
    }
    match crate::lock::break_stale(&dir, env, service, &info) {
        Ok(()) => {
            term::outln(&format!(
                "lock broken by {me}; recorded in {}",
                ledger.display()
            ));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e.to_string());
            EXIT_DEGRADED
        }
    }
}

/// Who is operating: the OS user (the audit issue adds the AWS caller identity).
pub fn operator() -> String {
    whoami::username()
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown-user".to_string())
}

/// The demo configuration and its fleet: the shop, or a generated fleet of `services`.
fn demo_setup(services: Option<u16>) -> Result<(Config, FleetFile), String> {
    let (mut cfg, fleet) = demo_files(services)?;
    // The demo keeps its own audit trail, apart from real promotions.
    if cfg.ledger_path.is_none() {
        cfg.ledger_path = crate::paths::data_dir().map(|d| d.join("demo-ledger.jsonl"));
    }
    Ok((cfg, fleet))
}

fn demo_files(services: Option<u16>) -> Result<(Config, FleetFile), String> {
    match services {
        None => Ok((
            config::demo().map_err(|e| e.to_string())?,
            FleetFile::demo().map_err(|e| e.to_string())?,
        )),
        Some(n) => {
            let (cfg_text, fleet_text) = crate::sim::scaled(usize::from(n));
            let cfg = config::parse_str(&cfg_text, config::GENERATED_DEMO_SOURCE, None)
                .map_err(|e| e.to_string())?;
            let fleet = FleetFile::parse(&fleet_text, "<generated demo fleet>")
                .map_err(|e| e.to_string())?;
            Ok((cfg, fleet))
        }
    }
}

async fn run_console(cfg: Result<Config, ConfigError>, fleet: Option<FleetFile>) -> i32 {
    // Everything that can be wrong is checked before the terminal switches to the TUI.
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            term::errln(&e.to_string());
            return EXIT_USAGE;
        }
    };
    let keymap = match keymap_or_usage(&cfg) {
        Ok(k) => k,
        Err(code) => return code,
    };
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprint_error(
            "the console needs an interactive terminal; use `shipdeck status` in scripts and pipes",
        );
        return EXIT_USAGE;
    }
    let provider = match provider_for(&cfg, fleet, Arc::new(SystemClock)) {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::new(cfg.theme, no_color);
    tracing::info!(config = %cfg.source.display(), "console started");
    let me = who(&cfg).await;
    let exec = match ledger_for(&cfg) {
        Ok(path) => crate::release::exec::Executor::new(
            provider.clone(),
            cfg.environments.clone(),
            crate::ledger::Ledger::new(&path),
            lock_dir(&path),
            me.clone(),
            Arc::new(SystemClock),
        )
        .for_demo(cfg.is_demo()),
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let console = crate::runtime::Console {
        cfg,
        provider,
        exec,
        keymap,
        operator: me,
        theme,
        secrets: secrets_for_run(),
    };
    match crate::runtime::run_console(console).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "console failed");
            eprint_error(&format!("the console stopped: {e}"));
            EXIT_DEGRADED
        }
    }
}

/// The key map of the configuration, validated the one way both the console
/// and `config check` use; problems are printed and give exit code 2.
fn keymap_or_usage(cfg: &Config) -> Result<KeyMap, i32> {
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

fn config_check(cli: &Cli) -> i32 {
    let cfg = match config_or_usage(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = keymap_or_usage(&cfg) {
        return code;
    }
    let mut out = String::new();
    out.push_str(&format!("{}: OK\n", cfg.source.display()));
    let provider = match &cfg.provider {
        ProviderKind::Aws => "aws (standard credential chain)".to_string(),
        ProviderKind::Simulated { fleet, seed, .. } => format!(
            "simulated ({}, seed {seed})",
            fleet
                .as_ref()
                .map_or("built-in demo fleet".to_string(), |p| p
                    .display()
                    .to_string())
        ),
    };
    out.push_str(&format!("provider: {provider}\n"));
    out.push_str(&format!(
        "refresh every {}{}\n",
        humantime::format_duration(cfg.refresh_interval),
        if cfg.read_only { ", READ-ONLY" } else { "" }
    ));
    out.push_str("promotion order: ");
    out.push_str(&cfg.env_names().join(" -> "));
    out.push('\n');
    for env in &cfg.environments {
        let g = &env.gate;
        out.push_str(&format!(
            "  {}{}: {} / {}{}, {} service{}, gate: {} check{}, {} approval{}{}{}{}\n",
            env.name,
            if env.production { " [PROD]" } else { "" },
            env.region,
            env.cluster,
            env.profile
                .as_ref()
                .map_or(String::new(), |p| format!(" (profile {p})")),
            env.services.len(),
            if env.services.len() == 1 { "" } else { "s" },
            g.checks.len(),
            if g.checks.len() == 1 { "" } else { "s" },
            g.approvals_required,
            if g.approvals_required == 1 { "" } else { "s" },
            if g.four_eyes { ", four eyes" } else { "" },
            if g.change_record.is_some() {
                ", change record"
            } else {
                ""
            },
            if g.freeze.is_empty() {
                String::new()
            } else {
                format!(", {} freeze window(s)", g.freeze.len())
            },
        ));
    }
    let log = crate::logging::log_path()
        .map_or_else(|| "(none)".to_string(), |p| p.display().to_string());
    out.push_str(&format!("log file: {log}\n"));
    term::out(&out);
    EXIT_OK
}

async fn run_status(
    cfg: Result<Config, ConfigError>,
    args: &StatusArgs,
    fleet: Option<FleetFile>,
) -> i32 {
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            term::errln(&e.to_string());
            return EXIT_USAGE;
        }
    };
    let known_envs = cfg.env_names();
    for e in &args.envs {
        if !known_envs.contains(e) {
            eprint_error(&format!(
                "unknown environment \"{e}\" in --env; known: {}",
                known_envs.join(", ")
            ));
            return EXIT_USAGE;
        }
    }
    let known_services = cfg.service_names();
    for s in &args.services {
        if !known_services.contains(s) {
            eprint_error(&format!(
                "unknown service \"{s}\" in --service; known: {}",
                known_services.join(", ")
            ));
            return EXIT_USAGE;
        }
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = match provider_for(&cfg, fleet, clock.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprint_error(&e);
            return EXIT_USAGE;
        }
    };
    let mut readings = status::read_all(&cfg, &provider).await;
    if cfg.probes_health() {
        let secrets = secrets_for_run();
        match crate::health::client() {
            Ok(client) => {
                status::probe_all(&cfg, &mut readings, &client, &secrets, clock.as_ref()).await;
            }
            Err(e) => tracing::warn!(error = %e, "health probes skipped"),
        }
    }
    for (env, r) in cfg.environments.iter().zip(&readings) {
        match r {
            Ok(s) => {
                tracing::debug!(env = %env.name, services = s.services.len(), "environment read");
            }
            Err(e) => tracing::warn!(env = %env.name, error = %e, "environment read failed"),
        }
    }
    let filter = Filter {
        envs: args.envs.clone(),
        services: args.services.clone(),
    };
    let mut report = status::build(&cfg, &readings, &filter, clock.now());
    if let AnyProvider::Aws(p) = &provider {
        let api_calls = p.accounting();
        tracing::debug!(?api_calls, "AWS API calls of this reading");
        report.diagnostics = Some(status::Diagnostics { api_calls });
    }
    let text = if args.json {
        match term::json(&report) {
            Ok(s) => s,
            Err(e) => {
                eprint_error(&format!("cannot encode the report: {e}"));
                return EXIT_DEGRADED;
            }
        }
    } else {
        let color = !args.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        status::render_table(&report, Style { color })
    };
    // The table's cells were sanitised as they were painted; JSON is escaped.
    term::out_styled(&text);
    match report.verdict() {
        status::Verdict::Healthy => EXIT_OK,
        status::Verdict::Degraded => EXIT_DEGRADED,
        status::Verdict::Unknown => EXIT_UNKNOWN,
    }
}
