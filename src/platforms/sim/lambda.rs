//! A simulated AWS Lambda: functions with `$LATEST`, immutable published
//! versions and aliases with routing weights, behind [`LambdaApi`] so the
//! Lambda platform's steps drive it exactly as they drive the SDK.
//!
//! It keeps the real API's rules where emulators are lax (moto stores any
//! weight and ignores every precondition): `UpdateAlias` honours the
//! alias's revision id and refuses a bad routing; `PublishVersion` honours
//! the expected `CodeSha256` and the function's revision id, and answers
//! the last version when nothing changed since; `UpdateFunctionCode` is
//! `InProgress` for `update_delay` of simulated time, during which the
//! function refuses another update and a publish. The refusals read as the
//! SDK's errors read once classified (`crate::aws::classify`).
//!
//! Time comes from the injected clock only: an update settles when a call
//! finds the clock past its end, at the end's time, so the same clock and
//! calls always give the same answers. Revision ids are minted from the
//! seed, so they are deterministic too.

mod calls;
mod function;
mod persist;
mod refusals;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use function::{Alias, Function, Ids, Update};
use refusals::{
    check_alias_name, check_code_sha256, check_function_name, conflict, in_progress, not_found,
    refused, shown,
};

use crate::clock::Clock;
use crate::model::Health;
use crate::platforms::lambda::digest::zip_code_sha256;
use crate::platforms::lambda::read::AliasView;
use crate::platforms::lambda::snapshot::LambdaReading;
use crate::provider::ProviderError;

/// The region and account the simulated ARNs name.
const ARN_PREFIX: &str = "arn:aws:lambda:eu-west-1:123456789012:function:";
/// Newest events kept per function.
const EVENTS_KEPT: usize = 50;
/// The name `$LATEST` goes by.
const LATEST: &str = "$LATEST";

/// How a function's code is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Package {
    /// A container image: `CodeSha256` is the manifest digest in hex.
    Image,
    /// A zip package: `CodeSha256` is the base64 of its SHA-256.
    Zip,
}

impl Package {
    /// `PackageType` as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "Image",
            Self::Zip => "Zip",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    ids: Ids,
    functions: BTreeMap<String, Function>,
    /// Images pushed: (repository, digest hex).
    images: BTreeSet<(String, String)>,
    /// Zip packages kept, by their `CodeSha256`: what a version's
    /// `Code.Location` serves.
    #[serde(default)]
    packages: BTreeMap<String, Vec<u8>>,
    calls: u64,
    /// Calls served, by operation.
    #[serde(default)]
    ops: BTreeMap<String, u64>,
}

/// The simulated Lambda of one environment. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct SimLambda {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    update_delay: Duration,
}

impl SimLambda {
    /// No functions yet; updates take `update_delay` of `clock`'s time;
    /// revision ids come from `seed`.
    pub fn new(seed: u64, clock: Arc<dyn Clock>, update_delay: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                ids: Ids { seed, next: 0 },
                functions: BTreeMap::new(),
                images: BTreeSet::new(),
                packages: BTreeMap::new(),
                calls: 0,
                ops: BTreeMap::new(),
            })),
            clock,
            update_delay,
        }
    }

    /// Adds function `name` holding `code_sha256` (as the API spells it
    /// for `package`), publishes it as version 1 and points a new alias
    /// `alias` at it.
    pub fn with_function(
        self,
        name: &str,
        package: Package,
        code_sha256: &str,
        alias: &str,
    ) -> Result<Self, ProviderError> {
        const OP: &str = "CreateFunction";
        check_function_name(OP, name)?;
        check_alias_name(OP, name, alias)?;
        check_code_sha256(OP, name, package, code_sha256)?;
        let (mut st, now) = self.enter();
        if st.functions.contains_key(name) {
            return Err(conflict(
                OP,
                name,
                "ResourceConflictException",
                &format!("Function already exist: {name}"),
            ));
        }
        let mut f = Function {
            name: name.to_string(),
            package,
            code_sha256: code_sha256.to_string(),
            state: "Active".to_string(),
            update: Update::Successful,
            revision_id: st.ids.mint(),
            versions: Vec::new(),
            aliases: BTreeMap::new(),
            events: VecDeque::new(),
            seq: 0,
            fail_next: None,
            corrupt_downloads: false,
        };
        f.event(now, format!("function created ({})", package.as_str()));
        let v = f.publish(now);
        f.aliases.insert(
            alias.to_string(),
            Alias {
                version: v.to_string(),
                weighted: None,
                description: String::new(),
                revision_id: st.ids.mint(),
            },
        );
        f.event(now, format!("alias {alias} created → version {v}"));
        st.functions.insert(name.to_string(), f);
        drop(st);
        Ok(self)
    }

    /// As [`with_function`](Self::with_function), with each further code
    /// of `codes` put into `$LATEST` and published in order (versions 2, 3,
    /// …), and the alias on the last: a function with a past, told by one
    /// event dated `since`.
    pub fn with_versions(
        self,
        name: &str,
        package: Package,
        codes: &[String],
        alias: &str,
        since: DateTime<Utc>,
    ) -> Result<Self, ProviderError> {
        const OP: &str = "PublishVersion";
        let Some((first, rest)) = codes.split_first() else {
            return Err(refused(
                OP,
                name,
                "ValidationException",
                "no code to publish",
            ));
        };
        let sim = self.with_function(name, package, first, alias)?;
        let (mut st, now) = sim.enter();
        let State { ids, functions, .. } = &mut *st;
        let f = function_mut(functions, name)?;
        let mut last = None;
        for code in rest {
            check_code_sha256(OP, name, package, code)?;
            f.code_sha256.clone_from(code);
            f.revision_id = ids.mint();
            last = Some(f.publish(now));
        }
        let v = last.unwrap_or(1);
        if let Some(a) = f.aliases.get_mut(alias) {
            a.version = v.to_string();
            a.revision_id = ids.mint();
        }
        f.events.clear();
        f.event(
            since,
            format!(
                "function created ({}); versions 1 to {v} published, alias {alias} → version {v}",
                package.as_str()
            ),
        );
        drop(st);
        Ok(sim)
    }

    /// Makes image `digest` of `repository` available, as a push to the
    /// registry does: `UpdateFunctionCode` refuses an image never pushed.
    pub fn push_image(&self, repository: &str, digest: &crate::model::Digest) {
        let hex = digest.as_str().trim_start_matches("sha256:").to_string();
        self.lock().images.insert((repository.to_string(), hex));
    }

    /// Keeps zip package `bytes`, as an upload does, and answers their
    /// `CodeSha256`: a function or version created with it then has a
    /// package to download whose SHA-256 is its digest.
    pub fn put_package(&self, bytes: &[u8]) -> String {
        let sha = zip_code_sha256(bytes);
        self.lock().packages.insert(sha.clone(), bytes.to_vec());
        sha
    }

    /// API calls served (for counting a reading's or a promotion's calls).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Calls of one operation served (`UpdateFunctionCode`, `GetFunction`, …).
    pub fn calls_of(&self, op: &str) -> u64 {
        self.lock().ops.get(op).copied().unwrap_or(0)
    }

    /// A fault: every download of `function`'s packages answers bytes that
    /// differ from the package's (a corrupted copy on the way).
    pub fn corrupt_downloads(&self, function: &str) -> Result<(), ProviderError> {
        let (mut st, _) = self.enter();
        function_mut(&mut st.functions, function)?.corrupt_downloads = true;
        Ok(())
    }

    /// The function's versions as `ListVersionsByFunction` names them:
    /// `$LATEST`, then the published ones in order.
    pub fn versions(&self, function: &str) -> Result<Vec<String>, ProviderError> {
        let (st, _) = self.enter();
        let f = function_of(&st, function)?;
        Ok(std::iter::once(LATEST.to_string())
            .chain(f.versions.iter().map(|v| v.number.to_string()))
            .collect())
    }

    /// A fault: someone changes the alias by hand (the console, the CLI),
    /// under the same rules as any `UpdateAlias`, keeping its description.
    /// Its revision id changes, so a change read before it is refused.
    pub fn change_alias_by_hand(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        weighted: Option<(&str, f64)>,
    ) -> Result<AliasView, ProviderError> {
        let (mut st, now) = self.enter();
        let description = function_of(&st, function)?
            .aliases
            .get(alias)
            .map(|a| a.description.clone())
            .unwrap_or_default();
        let change = calls::Change {
            version: version.to_string(),
            weighted: weighted.map(|(v, w)| (v.to_string(), w)),
            description,
            revision_id: None,
            by: "by hand",
        };
        calls::set_alias(&mut st, now, function, alias, change)
    }

    /// A fault: the next `UpdateFunctionCode` of `function` ends `Failed`
    /// with `reason` once its time is up (its code stays what it was).
    pub fn fail_next_update(&self, function: &str, reason: &str) -> Result<(), ProviderError> {
        let (mut st, _) = self.enter();
        function_mut(&mut st.functions, function)?.fail_next = Some(reason.to_string());
        Ok(())
    }

    /// A fault: someone else puts `code_sha256` into `$LATEST` (an update
    /// that has finished), so a publish expecting other code is refused.
    pub fn change_code_underneath(
        &self,
        function: &str,
        code_sha256: &str,
    ) -> Result<(), ProviderError> {
        const OP: &str = "UpdateFunctionCode";
        let (mut st, now) = self.enter();
        let State { ids, functions, .. } = &mut *st;
        let f = function_mut(functions, function)?;
        check_code_sha256(OP, function, f.package, code_sha256)?;
        if f.in_progress() {
            return Err(in_progress(OP, f));
        }
        f.code_sha256 = code_sha256.to_string();
        f.update = Update::Successful;
        f.revision_id = ids.mint();
        f.event(
            now,
            format!("$LATEST changed outside shipdeck: CodeSha256 {code_sha256}"),
        );
        Ok(())
    }

    /// What a reading of `function` and its `alias` finds, at `now`: the
    /// alias's routing, the artifacts of the versions it names, `$LATEST`'s
    /// state and the function's events (newest first). No plan, no health
    /// probe, no CodeDeploy, no metrics: those are the platform's to add.
    pub fn reading(
        &self,
        function: &str,
        alias: &str,
        now: DateTime<Utc>,
    ) -> Result<LambdaReading, ProviderError> {
        let (st, _) = self.enter();
        let f = function_of(&st, function)?;
        let a = alias_of(f, alias)?;
        // Every published version: a simulated reading costs no call, and
        // drift and the rollback dialog then know each version's digest, as
        // they do for the simulator's ECS services.
        let named: Vec<u32> = std::iter::once(a.version.as_str())
            .chain(a.weighted.as_ref().map(|(v, _)| v.as_str()))
            .filter_map(number)
            .collect();
        let artifacts = (1..=u32::try_from(f.versions.len()).unwrap_or(u32::MAX))
            .chain(named)
            .filter_map(|n| f.artifact(n))
            .fold(Vec::new(), |mut all: Vec<_>, x| {
                if !all
                    .iter()
                    .any(|y: &super::super::lambda::snapshot::Artifact| y.version == x.version)
                {
                    all.push(x);
                }
                all
            });
        let code = f.latest_code();
        Ok(LambdaReading {
            function: function.to_string(),
            alias: alias.to_string(),
            alias_version: a.version.clone(),
            weighted: a.weighted.clone(),
            description: a.description.clone(),
            state: code.latest.state,
            last_update: code.latest.last_update,
            artifacts,
            plan: Vec::new(),
            codedeploy: None,
            health: Health::NotConfigured,
            events: f.events.iter().cloned().collect(),
            metrics: Vec::new(),
            at: now,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state for a simulator.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call's entry: the clock's time, with updates due by then settled.
    fn enter(&self) -> (MutexGuard<'_, State>, DateTime<Utc>) {
        let now = self.clock.now();
        let mut st = self.lock();
        let State { ids, functions, .. } = &mut *st;
        for f in functions.values_mut() {
            f.settle(now, ids);
        }
        (st, now)
    }
}

/// A published version's number as the API writes it (digits, no leading zero).
fn number(version: &str) -> Option<u32> {
    let canonical = !version.is_empty()
        && version.len() <= 10
        && version.bytes().all(|b| b.is_ascii_digit())
        && (version == "0" || !version.starts_with('0'));
    canonical.then(|| version.parse().ok()).flatten()
}

fn function_of<'a>(st: &'a State, name: &str) -> Result<&'a Function, ProviderError> {
    st.functions
        .get(name)
        .ok_or_else(|| not_found(name, &format!("Function not found: {ARN_PREFIX}{name}")))
}

fn function_mut<'a>(
    functions: &'a mut BTreeMap<String, Function>,
    name: &str,
) -> Result<&'a mut Function, ProviderError> {
    functions
        .get_mut(name)
        .ok_or_else(|| not_found(name, &format!("Function not found: {ARN_PREFIX}{name}")))
}

fn alias_of<'a>(f: &'a Function, alias: &str) -> Result<&'a Alias, ProviderError> {
    f.aliases.get(alias).ok_or_else(|| {
        not_found(
            &format!("{}:{alias}", f.name),
            &format!("Alias not found: {}:{alias}", f.arn()),
        )
    })
}
