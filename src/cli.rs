//! The command line: clap definitions and the dispatch of each subcommand.

pub mod approve;
pub mod audit;
pub use audit::{AuditArgs, AuditCommand};
pub mod config_check;
pub mod console;
pub mod error;
pub mod secret;
pub mod setup;
pub mod smoke;
pub mod status;
pub mod team;
pub mod unlock;

pub use setup::{
    build_provider, known_service, ledger_for, load_config, lock_dir, operator, secrets_for_run,
    who,
};
pub(crate) use setup::{config_or_demo, provider_for};
pub mod promote;
pub mod release;
pub mod rollback;
pub mod step;
mod supply;
pub mod term;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::{self};

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
    /// Neither read nor write the cache files (ECS task definitions and
    /// Lambda versions are then read afresh by this run).
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// What to do (the console opens when none is given).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Runtime worker threads for this command. The console's loop runs on
    /// the main thread and its readings are I/O or, on the simulator, a few
    /// milliseconds each: one worker serves them, and every reading is then
    /// built in one malloc arena (2 MiB less RSS at 2,000 services × 3).
    /// One-shot commands keep two, to decode answers side by side.
    pub fn worker_threads(&self) -> usize {
        match &self.command {
            None
            | Some(Command::Demo {
                status: false,
                reset: false,
                ..
            }) => 1,
            Some(_) => 2,
        }
    }
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
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=20000))]
        services: Option<u16>,
        /// Generate N environments (a wide board) instead of dev, staging, prod.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
        envs: Option<u16>,
        /// Rehearse a game day: arm a scripted scenario in the demo world
        /// (a world running another one starts afresh). `--scenario list` describes them.
        #[arg(long, value_name = "NAME", value_parser = scenario_name, conflicts_with_all = ["services", "envs"])]
        scenario: Option<String>,
        /// Restore the demo world to its initial state (with --scenario: armed
        /// with it), say so, and exit. The demo ledger is kept.
        #[arg(long, conflicts_with_all = ["services", "envs", "status"])]
        reset: bool,
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
    /// Decide at a paused step of a canary or linear rollout: continue (with
    /// four eyes where the policy asks) or roll back (the console's `c`/`r`).
    Step(step::StepArgs),
    /// Set up the team's DynamoDB table ([team] backend = "dynamodb").
    Team {
        /// Team action.
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// Move a local ledger into the team table.
    Ledger {
        /// Ledger action.
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// List promotions waiting for approval (for approvers on any machine).
    Approvals {
        /// The demo's promotions.
        #[arg(long)]
        demo: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
        /// Approve without the question (the summary is still printed).
        #[arg(long)]
        yes: bool,
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
    /// Print JSON (schema version 2, see docs/status.md).
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
    /// With --demo: the demo world with this game-day scenario armed.
    #[arg(long, value_name = "NAME", requires = "demo", value_parser = scenario_name)]
    pub scenario: Option<String>,
}

/// `shipdeck team …`.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create the [team] table (on-demand billing, point-in-time recovery) and
    /// print the IAM policy the team needs.
    Init,
    /// Check that the table answers, has shipdeck's keys, and verifies.
    Check,
}

/// `shipdeck ledger …`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Copy a local ledger file into the empty team table, hashes verified first.
    Migrate {
        /// The ledger file to copy.
        #[arg(long, value_name = "PATH")]
        from_file: PathBuf,
    },
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
        "Config file: {cfg}\nLog file:    {log}\n\nExit codes: 0 healthy/ok, 1 degraded or failed, 2 usage or config error,\n3 unknown (something could not be read; never reported as healthy),\n4 unrecorded (an outcome seen but not written to the ledger), 5 in progress\n(status: a rollout in flight or paused), 128 + signal when a signal stopped it."
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

/// The command line as shell completions see it: environment and service
/// arguments offer the names of the configuration (the user's, else the
/// demo's), `--scenario` the built-in scenarios, instead of file names. The
/// names are those of when the script was printed: `source <(shipdeck
/// completions bash)` in the shell's rc file keeps them current.
pub fn completion_command(cli: &Cli) -> clap::Command {
    let cfg = load_config(cli).or_else(|_| config::demo()).ok();
    let envs: Vec<String> = cfg
        .iter()
        .flat_map(|c| c.environments.iter().map(|e| e.name.clone()))
        .collect();
    let mut services: Vec<String> = Vec::new();
    for e in cfg.iter().flat_map(|c| c.environments.iter()) {
        for s in e.services.iter() {
            if !services.contains(&s.name) {
                services.push(s.name.clone());
            }
        }
    }
    let mut scenarios: Vec<String> = crate::platforms::sim::SCENARIOS
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect();
    scenarios.push("list".to_string());
    offer_names(
        command(),
        &[
            (&envs, ENV_ARGS),
            (&services, SERVICE_ARGS),
            (&scenarios, &["scenario"]),
        ],
    )
}

/// Arguments that name an environment, by their id.
const ENV_ARGS: &[&str] = &["env", "envs", "to", "from"];
/// Arguments that name a service, by their id.
const SERVICE_ARGS: &[&str] = &["service", "services"];

/// `cmd` and its subcommands with each argument listed in `names` offering
/// those values to completions.
fn offer_names(mut cmd: clap::Command, names: &[(&Vec<String>, &[&str])]) -> clap::Command {
    let ids: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        if let Some((values, _)) = names
            .iter()
            .find(|(v, ids)| !v.is_empty() && ids.contains(&id.as_str()))
        {
            // clap keeps `&'static str` names (without its `string`
            // feature): the one-shot `completions` command leaks its few.
            let values: Vec<&'static str> = values.iter().map(|v| &*v.clone().leak()).collect();
            cmd = cmd.mut_arg(&id, |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(values))
            });
        }
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(&sub, |c| offer_names(c, names));
    }
    cmd
}

/// `--scenario NAME`: one of the built-in scenarios, or `list`.
pub(crate) fn scenario_name(s: &str) -> Result<String, String> {
    let names: Vec<&str> = crate::platforms::sim::SCENARIOS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    if s == "list" || names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown scenario \"{s}\" (known: {}; `--scenario list` describes them)",
            names.join(", ")
        ))
    }
}

/// `shipdeck demo --scenario list`: each scenario and what it rehearses.
fn list_scenarios() -> i32 {
    for (name, _) in crate::platforms::sim::SCENARIOS {
        let about = crate::platforms::sim::FleetFile::demo_scenario(name)
            .ok()
            .and_then(|f| f.scenario)
            .map(|s| s.description)
            .unwrap_or_default();
        term::outln(&format!(
            "{name}\n  {}\n",
            about.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    term::outln(
        "Run one: shipdeck demo --scenario NAME (or promote/rollback/status --demo --scenario NAME)",
    );
    EXIT_OK
}

/// `shipdeck demo --reset`: the shared world back to its initial state.
fn reset_demo(cfg: &crate::config::Config, demo: setup::Demo) -> i32 {
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::SystemClock);
    if setup::demo_world_path().is_none() {
        eprint_error(
            "no data directory on this platform: the demo world is not kept, nothing to reset",
        );
        return EXIT_USAGE;
    }
    match provider_for(cfg, Some(demo), clock) {
        Ok((provider, note)) => {
            // The reset is claimed only once the initial world is on disk.
            if let crate::provider::AnyProvider::Sim(sim) = &provider
                && let Some(why) = sim.world_unsaved()
            {
                eprint_error(&format!(
                    "the demo world was not reset: it could not be written ({why})"
                ));
                return EXIT_DEGRADED;
            }
            term::outln(&note.unwrap_or_else(|| "demo world reset".to_string()));
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e);
            EXIT_USAGE
        }
    }
}

fn eprint_error(msg: &str) {
    term::error(msg);
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match &cli.command {
        Some(Command::Secret { command }) => secret::run_secret(command),
        Some(Command::Team {
            command: TeamCommand::Init,
        }) => team::run_init(&cli),
        Some(Command::Team {
            command: TeamCommand::Check,
        }) => team::run_check(&cli),
        Some(Command::Ledger {
            command: LedgerCommand::Migrate { from_file },
        }) => team::run_migrate(&cli, from_file),
        Some(Command::Approvals { demo, json }) => team::run_approvals(&cli, *demo, *json),
        Some(Command::Audit(args)) => audit::run_audit(&cli, args),
        Some(Command::Unlock {
            env,
            service,
            yes,
            demo,
        }) => unlock::run_unlock(&cli, env, service, *yes, *demo).await,
        Some(Command::Approve {
            id,
            demo,
            comment,
            ledger,
            yes,
        }) => {
            approve::run_approve(&cli, id, *demo, comment.as_deref(), ledger.as_deref(), *yes).await
        }
        Some(Command::Promote { args, common }) => {
            let (cfg, fleet) = match config_or_demo(&cli, common.demo, common.scenario.as_deref()) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match who(&cfg).await {
                Ok(me) => promote::promote(&cfg, fleet, &me, args, common).await,
                Err(e) => {
                    eprint_error(&e);
                    EXIT_USAGE
                }
            }
        }
        Some(Command::Rollback {
            service,
            env,
            common,
        }) => {
            let (cfg, fleet) = match config_or_demo(&cli, common.demo, common.scenario.as_deref()) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match who(&cfg).await {
                Ok(me) => rollback::rollback(&cfg, fleet, &me, service, env, common).await,
                Err(e) => {
                    eprint_error(&e);
                    EXIT_USAGE
                }
            }
        }
        Some(Command::Step(args)) => {
            let (cfg, fleet) = match config_or_demo(&cli, args.demo, None) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match who(&cfg).await {
                Ok(me) => step::step(&cfg, fleet, &me, args).await,
                Err(e) => {
                    eprint_error(&e);
                    EXIT_USAGE
                }
            }
        }
        Some(Command::Smoke {
            env,
            json,
            deadline,
        }) => smoke::run_smoke(&cli, env, *json, *deadline).await,
        Some(Command::Completions { shell }) => {
            let mut cmd = completion_command(&cli);
            clap_complete::generate(*shell, &mut cmd, "shipdeck", &mut std::io::stdout());
            EXIT_OK
        }
        Some(Command::Config {
            command: ConfigCommand::Check,
        }) => config_check::config_check(&cli),
        Some(Command::Status(args)) => {
            if args.demo {
                match setup::shop_demo(args.scenario.as_deref(), false) {
                    Ok((cfg, demo)) => status::run_status(Ok(cfg), args, Some(demo)).await,
                    Err(e) => {
                        eprint_error(&e);
                        EXIT_USAGE
                    }
                }
            } else {
                status::run_status(load_config(&cli), args, None).await
            }
        }
        Some(Command::Demo {
            status,
            json,
            services,
            envs,
            scenario,
            reset,
        }) => {
            if scenario.as_deref() == Some("list") {
                return list_scenarios();
            }
            let size = match (services, envs) {
                (None, None) => None,
                (s, e) => Some((s.unwrap_or(20), e.unwrap_or(3))),
            };
            let made = match size {
                None => setup::shop_demo(scenario.as_deref(), *reset),
                Some((services, envs)) => setup::generated_demo(services, envs),
            };
            let (cfg, fleet) = match made {
                Ok(x) => x,
                Err(e) => {
                    eprint_error(&e);
                    return EXIT_USAGE;
                }
            };
            if *reset {
                return reset_demo(&cfg, fleet);
            }
            let mut cfg = cfg;
            cfg.read_only |= cli.read_only;
            if *status {
                let args = StatusArgs {
                    json: *json,
                    ..StatusArgs::default()
                };
                status::run_status(Ok(cfg), &args, Some(fleet)).await
            } else {
                console::run_console(Ok(cfg), Some(fleet)).await
            }
        }
        None => console::run_console(load_config(&cli), None).await,
    }
}
