//! Lambda behind the [`Provider`] trait: readings through the SDK (and
//! CloudWatch's alarms and metrics in the same reading), a promotion run in
//! this process (publish, then the shift's steps), a rollback in one call,
//! and a person's decision at a pause from any process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::package::{self, Origin};
use super::read::{self, Artifacts};
use super::runner::{self, Ended, Progress, Shift, Time};
use super::sdk::SdkLambda;
use super::snapshot::{LambdaReading, service_snapshot};
use super::steps::{self, StepError, Wait};
use crate::aws::Calls;
use crate::config::{EnvConfig, ServiceConfig};
use crate::model::{
    Deployment, DeploymentRole, Digest, EnvSnapshot, Health, Revision, RevisionInfo, RolloutState,
};
use crate::provider::{DeployStarted, Provider, ProviderError, ReadScope};

/// How long a code update may take before the run says so.
const UPDATE_WAIT: Wait = Wait {
    limit: Duration::from_mins(5),
    every: Duration::from_secs(2),
};
/// How often a holding or paused shift re-reads its alias.
const POLL: Duration = Duration::from_secs(2);
/// Services read at once in a reading (the environment's in-flight limit
/// bounds the calls themselves).
const SERVICES_IN_FLIGHT: usize = 16;

/// A promotion run by this process, as the readings show it.
#[derive(Debug, Clone, Default)]
struct Run {
    id: String,
    from: Option<Revision>,
    /// The version it published, once it has.
    to: Option<Revision>,
    /// What it did, in order (the ledger records each).
    steps: Vec<String>,
    /// How it ended, when it did: `Ok` finished or rolled back.
    ended: Option<Result<(), String>>,
    /// The alias was changed by it (a failure after this is not "nothing changed").
    touched: bool,
    /// It stopped because someone changed the alias: the reading shows
    /// that change, and nothing is said failed (a failure would be rolled
    /// back over the person's change).
    outside: bool,
    started: chrono::DateTime<Utc>,
}

/// The process's Lambda.
#[derive(Debug, Default)]
pub struct LambdaProvider {
    apis: Mutex<HashMap<String, Arc<SdkLambda>>>,
    /// Each environment's CloudWatch client, built with its Lambda client
    /// from the same session (a session loads profiles and credentials: once).
    cloudwatch: Mutex<HashMap<String, aws_sdk_cloudwatch::Client>>,
    /// Each environment's CodeDeploy client, from the same session.
    codedeploy: super::codedeploy::Clients,
    runs: Arc<Mutex<HashMap<(String, String), Run>>>,
}

/// The process's Lambda provider: runs in flight are kept here, so every
/// reading shows their steps.
pub fn provider() -> &'static LambdaProvider {
    static P: OnceLock<LambdaProvider> = OnceLock::new();
    P.get_or_init(LambdaProvider::default)
}

fn lambda_of(svc: &ServiceConfig) -> Result<&crate::config::lambda::LambdaService, ProviderError> {
    svc.lambda.as_deref().ok_or_else(|| ProviderError::Other {
        message: format!("{} has no [environment.service.lambda]", svc.name),
    })
}

impl LambdaProvider {
    /// The environment's Lambda client, built on first use.
    async fn api(&self, env: &EnvConfig) -> Arc<SdkLambda> {
        if let Some(a) = self
            .apis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&env.name)
        {
            return a.clone();
        }
        let sdk = crate::aws::session(env.aws.as_deref(), None).await;
        self.cloudwatch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(env.name.clone())
            .or_insert_with(|| {
                crate::aws_client!(
                    aws_sdk_cloudwatch,
                    &sdk,
                    crate::aws::endpoint(env, "cloudwatch")
                )
            });
        self.codedeploy.build(env, &sdk);
        let api = Arc::new(SdkLambda {
            client: crate::aws_client!(aws_sdk_lambda, &sdk, crate::aws::endpoint(env, "lambda")),
            calls: Calls::default(),
            env: env.clone(),
            artifacts: Artifacts::for_env(env),
        });
        self.apis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(env.name.clone())
            .or_insert(api)
            .clone()
    }

    /// The Lambda of every environment this process has reached.
    fn reached(&self) -> Vec<Arc<SdkLambda>> {
        let apis = self.apis.lock().unwrap_or_else(PoisonError::into_inner);
        apis.values().cloned().collect()
    }

    fn run(&self, env: &str, service: &str) -> Option<Run> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(env.to_string(), service.to_string()))
            .cloned()
    }

    /// Reads every Lambda service of `env`: one pass over the functions,
    /// then each alias and the versions it names, several services at once
    /// (the environment's in-flight limit bounds the calls), in order.
    async fn read(&self, env: &EnvConfig, scope: ReadScope) -> Result<EnvSnapshot, ProviderError> {
        use futures::StreamExt;
        let api = self.api(env).await;
        let latest = read::functions(&api.client, &api.calls, env, &api.artifacts).await?;
        let mut services = Vec::new();
        let mut warnings = Vec::new();
        let now = Utc::now();
        // Made first, run a few at a time, answered in order.
        let reads: Vec<_> = env
            .services
            .iter()
            .filter_map(|svc| {
                let l = svc.lambda.as_deref()?;
                Some(self.read_service(&api, env, svc, l, &latest, now))
            })
            .collect();
        let mut reads = futures::stream::iter(reads).buffered(SERVICES_IN_FLIGHT);
        while let Some(read) = reads.next().await {
            match read? {
                Ok(snap) => services.push(snap),
                Err(warning) => warnings.push(warning),
            }
        }
        drop(reads);
        // CloudWatch: the alarms and metrics these services watch, within
        // its own budget, as for ECS.
        let client = self
            .cloudwatch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&env.name)
            .cloned()
            .ok_or_else(|| ProviderError::Other {
                message: format!("no CloudWatch client for {}", env.name),
            })?;
        let cw = crate::signals::cloudwatch::read(&api.calls, &client, env, scope, now).await;
        warnings.extend(cw.sources.failed());
        for snap in &mut services {
            let Some(cfg) = env.service(&snap.name) else {
                continue;
            };
            (snap.alarms, snap.alarms_unknown) = cw.alarms_of(cfg);
            snap.metrics = cw.metrics_of(cfg, scope);
        }
        let sources = cw.sources;
        Ok(EnvSnapshot {
            env: env.name.clone(),
            read_at: now,
            services,
            warnings,
            sources,
            index: crate::model::ServiceIndex::default(),
        })
    }

    /// One service's reading: its alias, the versions it names, CodeDeploy
    /// where it manages the alias, and this process's run; `Ok(Err(_))` is
    /// a warning (the function or alias does not exist).
    async fn read_service(
        &self,
        api: &SdkLambda,
        env: &EnvConfig,
        svc: &ServiceConfig,
        l: &crate::config::lambda::LambdaService,
        latest: &HashMap<String, read::Latest>,
        now: DateTime<Utc>,
    ) -> Result<Result<crate::model::ServiceSnapshot, String>, ProviderError> {
        let alias = match read::alias(&api.client, &api.calls, env, &l.function, &l.alias).await {
            Ok(a) => a,
            Err(ProviderError::NotFound { .. }) => {
                return Ok(Err(format!(
                    "service \"{}\": function {} or its alias {} not found",
                    svc.name, l.function, l.alias
                )));
            }
            Err(e) => return Err(e),
        };
        let mut artifacts = Vec::new();
        for v in std::iter::once(&alias.version).chain(alias.weighted.as_ref().map(|(v, _)| v)) {
            if let Some(n) = super::routing::number(v) {
                artifacts.push(
                    read::artifact(&api.client, &api.calls, env, &api.artifacts, &l.function, n)
                        .await?,
                );
            }
        }
        let state = latest.get(&l.function).cloned().unwrap_or(read::Latest {
            state: None,
            last_update: None,
            package: None,
        });
        let mut snap = service_snapshot(
            &svc.name,
            LambdaReading {
                function: l.function.clone(),
                alias: l.alias.clone(),
                alias_version: alias.version,
                weighted: alias.weighted,
                description: alias.description,
                state: state.state,
                last_update: state.last_update,
                artifacts,
                plan: l.steps.weights(),
                codedeploy: self.codedeploy.view(api, l).await,
                health: if svc.health.is_some() {
                    Health::Unknown
                } else {
                    Health::NotConfigured
                },
                events: Vec::new(),
                metrics: Vec::new(),
                at: now,
            },
        );
        self.with_run(env, svc, &mut snap);
        Ok(Ok(
            snap.placed_in(env.aws.as_deref().map(|a| a.region.as_str()))
        ))
    }

    /// This process's run of the service, put into its reading: the steps it
    /// took (for the ledger), and how it ended when it failed.
    fn with_run(
        &self,
        env: &EnvConfig,
        svc: &ServiceConfig,
        snap: &mut crate::model::ServiceSnapshot,
    ) {
        let Some(run) = self.run(&env.name, &svc.name) else {
            return;
        };
        if let Some(d) = snap.deployments.iter_mut().find(|d| d.id == run.id) {
            d.steps.clone_from(&run.steps);
            return;
        }
        // What the run stands for: the version it published, else the one it
        // started from.
        let deployment = |id: String, role, rollout, reason: String| Deployment {
            id,
            role,
            task_definition: run
                .to
                .clone()
                .or_else(|| run.from.clone())
                .unwrap_or_else(|| Revision::labelled(&svc.name, "new")),
            rollout,
            reason: Some(reason),
            steps: run.steps.clone(),
            nothing_changed: !run.touched,
            shift: None,
            running: 0,
            desired: 1,
            pending: u32::from(rollout == RolloutState::InProgress),
            failed_tasks: 0,
            created_at: run.started,
            updated_at: Utc::now(),
        };
        match &run.ended {
            // Still publishing: the alias is not shifting yet. Under the run's
            // id only once its version is known, so that a watch never takes
            // the old version for the one it promoted.
            None => {
                let id = if run.to.is_some() {
                    run.id.clone()
                } else {
                    format!("{}-publishing", run.id)
                };
                let d = deployment(
                    id,
                    DeploymentRole::Primary,
                    RolloutState::InProgress,
                    "publishing the promoted artifact".to_string(),
                );
                snap.deployments.insert(0, d);
            }
            // Stopped by a change someone made: the run's version is no
            // longer the primary one, which the watch reads as changed
            // outside (never rolled back over).
            Some(Err(why)) if run.outside => snap.deployments.push(deployment(
                run.id.clone(),
                DeploymentRole::Active,
                RolloutState::InProgress,
                why.clone(),
            )),
            Some(Err(why)) => {
                let d = deployment(
                    run.id.clone(),
                    DeploymentRole::Primary,
                    RolloutState::Failed,
                    why.clone(),
                );
                snap.deployments.insert(0, d);
            }
            Some(Ok(())) => {}
        }
    }
}

fn note(
    runs: &Mutex<HashMap<(String, String), Run>>,
    key: &(String, String),
    f: impl FnOnce(&mut Run),
) {
    if let Some(r) = runs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(key)
    {
        f(r);
    }
}

impl Provider for LambdaProvider {
    async fn read_env(
        &self,
        env: &EnvConfig,
        scope: ReadScope,
    ) -> Result<EnvSnapshot, ProviderError> {
        self.read(env, scope).await
    }

    async fn history(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        _current: &Revision,
    ) -> Result<Vec<RevisionInfo>, ProviderError> {
        let l = lambda_of(service)?;
        let api = self.api(env).await;
        let mut out = Vec::new();
        for n in read::versions(&api.client, &api.calls, env, &l.function).await? {
            let a = read::artifact(&api.client, &api.calls, env, &api.artifacts, &l.function, n)
                .await?;
            out.push(RevisionInfo {
                task_definition: Revision::numbered(&l.function, n, &a.arn),
                digest: a.digest.ok(),
                active: true,
            });
        }
        Ok(out)
    }

    async fn deploy(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        digest: &Digest,
    ) -> Result<DeployStarted, ProviderError> {
        let l = lambda_of(service)?.clone();
        let api = self.api(env).await;
        let alias = read::alias(&api.client, &api.calls, env, &l.function, &l.alias).await?;
        // CodeDeploy's alias (its weights are its shift): refused, with the command to use.
        let by_hand = super::codedeploy::ByHand::Promote;
        let refused = self.codedeploy.refusal(&api, &l, &alias.version, by_hand);
        if let Some(no) = refused.await {
            return Err(no);
        }
        let from = steps::shift_start(&l.function, &l.alias, &alias)?;
        // A zip's package comes from the stage whose alias serves the digest.
        let repository = read::image_repository(&api.client, &api.calls, env, &l.function).await?;
        let origin = if let Some(repository) = repository {
            Origin::Image(repository)
        } else {
            let stages = package::stages(self.reached(), &env.name, &service.name);
            package::locate(stages, &l.function, digest).await?
        };
        let key = (env.name.clone(), service.name.clone());
        let id = format!(
            "lambda-{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let from_rev = Revision::numbered(&l.function, from, "");
        {
            let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
            if runs.get(&key).is_some_and(|r| r.ended.is_none()) {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "a promotion of {} in {} is already running",
                        service.name, env.name
                    ),
                });
            }
            runs.insert(
                key.clone(),
                Run {
                    id: id.clone(),
                    from: Some(from_rev.clone()),
                    started: Utc::now(),
                    ..Run::default()
                },
            );
        }
        let runs = self.runs.clone();
        let digest = digest.clone();
        let pause = env.rollout.pause_steps;
        let run_id = id.clone();
        tokio::spawn(async move {
            let result: Result<(), StepError> = async {
                let code = origin.code(&digest, package::PACKAGE_LIMIT).await?;
                let published = steps::publish(
                    &*api,
                    &l.function,
                    &code,
                    &digest,
                    UPDATE_WAIT,
                    tokio::time::sleep,
                )
                .await?;
                note(&runs, &key, |r| {
                    r.steps.push(format!(
                        "published version {} with {digest}",
                        published.version
                    ));
                    r.to = Some(Revision::numbered(
                        &l.function,
                        published.version,
                        &published.arn,
                    ));
                });
                let shift = Shift {
                    run: run_id.clone(),
                    function: l.function.clone(),
                    alias: l.alias.clone(),
                    from,
                    to: published.version,
                    plan: l.steps.clone(),
                    pause,
                };
                let time = Time {
                    now: Utc::now,
                    sleep: tokio::time::sleep,
                    poll: POLL,
                };
                // The steps and pauses show in the reading's shift, which the
                // watch records; the run notes only that the alias moved.
                let ended = runner::run(&*api, &shift, &time, |p| {
                    if matches!(p, Progress::Step { .. }) {
                        note(&runs, &key, |r| r.touched = true);
                    }
                })
                .await?;
                note(&runs, &key, |r| {
                    r.steps.push(match ended {
                        Ended::Finished(_) => {
                            format!("alias {} names version {}", shift.alias, shift.to)
                        }
                        Ended::RolledBack => {
                            format!("alias {} is back on version {from}", shift.alias)
                        }
                    });
                });
                Ok(())
            }
            .await;
            note(&runs, &key, |r| {
                r.outside = matches!(result, Err(StepError::ChangedOutside { .. }));
                r.ended = Some(result.map_err(|e| e.to_string()));
            });
        });
        Ok(DeployStarted {
            service: service.name.clone(),
            from: Some(from_rev),
            to: None,
            change: None,
            deployment_id: Some(id),
        })
    }

    async fn rollback(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        to: &Revision,
    ) -> Result<DeployStarted, ProviderError> {
        let l = lambda_of(service)?;
        let Some(n) = to.number() else {
            return Err(ProviderError::Other {
                message: format!("{to} is not a Lambda version"),
            });
        };
        let api = self.api(env).await;
        let before = read::alias(&api.client, &api.calls, env, &l.function, &l.alias).await?;
        let by_hand = super::codedeploy::ByHand::Rollback { to: n };
        let refused = self.codedeploy.refusal(&api, l, &before.version, by_hand);
        if let Some(no) = refused.await {
            return Err(no);
        }
        steps::rollback(&*api, &l.function, &l.alias, n, Utc::now().timestamp())
            .await
            .map_err(ProviderError::from)?;
        Ok(DeployStarted {
            service: service.name.clone(),
            from: super::routing::number(&before.version)
                .map(|v| Revision::numbered(&l.function, v, "")),
            to: Some(Revision::numbered(&l.function, n, &to.arn)),
            change: None,
            deployment_id: None,
        })
    }

    async fn decide_step(
        &self,
        env: &EnvConfig,
        service: &ServiceConfig,
        shift: &crate::model::Shift,
        decision: crate::model::Decision,
    ) -> Result<String, ProviderError> {
        let l = lambda_of(service)?;
        let api = self.api(env).await;
        let (plan, pause) = (l.steps.clone(), env.rollout.pause_steps);
        let (function, alias, run) = (&l.function, &l.alias, &shift.deployment);
        runner::decide_run(&*api, function, alias, run, plan, pause, decision, Utc::now)
            .await
            .map_err(ProviderError::from)
    }
}
