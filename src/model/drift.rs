//! Drift: which digest runs in each stage and how far each stage lags the one before.

use serde::{Deserialize, Serialize};

use super::{Digest, EnvSnapshot, Pinning, RevisionInfo, ServiceSnapshot};

/// How far a stage is behind the stage before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Behind {
    /// First stage: nothing before it.
    FirstStage,
    /// Runs the same digest as the previous stage.
    UpToDate,
    /// The previous stage deployed `count` newer digests since this stage's one.
    Behind {
        /// Number of promotions missing.
        count: usize,
    },
    /// Runs a digest the previous stage never ran (a hotfix, or history lost).
    Diverged,
    /// Runs another digest than the previous stage, which has no revision
    /// history in this reading (`status` and the board do not pay for
    /// histories on ECS): behind or diverged, but how far is not known.
    Differs,
    /// Cannot tell: a digest is unknown or a reading is missing.
    Unknown,
    /// Runs the previous stage's digest, but its rollout is still in flight
    /// (rolling, or traffic moving in steps, perhaps paused for a decision):
    /// on its way to up to date, not there.
    RollingOut,
}

impl Behind {
    /// Short label for tables.
    pub fn label(self) -> String {
        match self {
            Self::FirstStage => "-".to_string(),
            Self::UpToDate => "up to date".to_string(),
            Self::Behind { count } => format!("{count} behind"),
            Self::Diverged => "diverged".to_string(),
            Self::Differs => "differs".to_string(),
            Self::Unknown => "?".to_string(),
            Self::RollingOut => "rolling out".to_string(),
        }
    }
}

/// One service in one environment, as drift sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftCell {
    /// Environment name.
    pub env: String,
    /// Digest running there, if known.
    pub digest: Option<Digest>,
    /// True when the image is tag-only with no resolvable digest.
    pub unpinned: bool,
    /// Lag behind the previous stage.
    pub behind: Behind,
    /// True when the previous stage runs a newer, pinned digest that could be promoted here.
    pub promotable: bool,
}

/// A service across all environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftRow {
    /// shipdeck service name.
    pub service: String,
    /// One cell per environment, in promotion order; `None` where the environment
    /// does not run the service or has no reading.
    pub cells: Vec<Option<DriftCell>>,
}

/// Ordered digests a stage has run, oldest first, consecutive repeats removed.
fn digest_sequence(history: &[RevisionInfo], current: Option<&Digest>) -> Vec<Digest> {
    let mut seq: Vec<Digest> = Vec::new();
    for d in history
        .iter()
        .filter_map(|r| r.digest.as_ref())
        .chain(current)
    {
        if seq.last() != Some(d) {
            seq.push(d.clone());
        }
    }
    seq
}

/// Lag of `this` behind `prev`. A stage whose rollout is still in flight is
/// never up to date: it is [`Behind::RollingOut`] until the rollout ends.
pub fn behind(prev: &ServiceSnapshot, this: &ServiceSnapshot) -> Behind {
    match lag(prev, this) {
        Behind::UpToDate if this.rollout_in_flight() => Behind::RollingOut,
        b => b,
    }
}

/// Lag of `this` behind `prev` by digests alone.
fn lag(prev: &ServiceSnapshot, this: &ServiceSnapshot) -> Behind {
    let (Some(prev_digest), Some(this_digest)) = (&prev.digest, &this.digest) else {
        return Behind::Unknown;
    };
    if prev_digest == this_digest {
        return Behind::UpToDate;
    }
    if prev.history.is_empty() {
        return Behind::Differs;
    }
    let seq = digest_sequence(&prev.history, Some(prev_digest));
    // The newest position of this stage's digest in the previous stage's sequence.
    match seq.iter().rposition(|d| d == this_digest) {
        Some(pos) => {
            // Distinct digests the previous stage ran after ours.
            let mut newer: Vec<&Digest> = seq[pos + 1..].iter().collect();
            newer.sort();
            newer.dedup();
            newer.retain(|d| *d != this_digest);
            if newer.is_empty() {
                Behind::UpToDate
            } else {
                Behind::Behind { count: newer.len() }
            }
        }
        None => Behind::Diverged,
    }
}

/// Computes drift rows for the given services over environments in promotion order.
/// `envs[i]` is `None` when environment `i` has no reading yet.
pub fn drift(
    services: &[String],
    env_names: &[String],
    envs: &[Option<&EnvSnapshot>],
) -> Vec<DriftRow> {
    services
        .iter()
        .map(|svc| drift_row(svc, env_names, envs))
        .collect()
}

/// Whether two readings of one service give the same drift (digest, pinning,
/// the revision history the next stage is compared against, and whether a
/// rollout is in flight).
pub fn same_for_drift(a: Option<&ServiceSnapshot>, b: Option<&ServiceSnapshot>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.digest == b.digest
                && a.pinning == b.pinning
                && a.history == b.history
                && a.rollout_in_flight() == b.rollout_in_flight()
        }
        _ => false,
    }
}

/// The drift row of one service (see [`drift`]).
pub fn drift_row(svc: &str, env_names: &[String], envs: &[Option<&EnvSnapshot>]) -> DriftRow {
    {
        {
            let snaps: Vec<Option<&ServiceSnapshot>> = envs
                .iter()
                .map(|e| e.and_then(|e| e.service(svc)))
                .collect();
            let cells = snaps
                .iter()
                .enumerate()
                .map(|(i, snap)| {
                    let snap = (*snap)?;
                    let prev = if i == 0 { None } else { Some(snaps[i - 1]) };
                    let behind = match prev {
                        None => Behind::FirstStage,
                        Some(None) => Behind::Unknown,
                        Some(Some(p)) => behind(p, snap),
                    };
                    let promotable = matches!(
                        behind,
                        Behind::Behind { .. } | Behind::Diverged | Behind::Differs
                    ) && prev
                        .flatten()
                        .is_some_and(|p| p.digest.is_some() && p.pinning != Pinning::Unpinned);
                    Some(DriftCell {
                        env: env_names.get(i).cloned().unwrap_or_default(),
                        digest: snap.digest.clone(),
                        unpinned: snap.pinning == Pinning::Unpinned,
                        behind,
                        promotable,
                    })
                })
                .collect();
            DriftRow {
                service: svc.to_string(),
                cells,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Revision;
    use chrono::{TimeZone, Utc};

    fn dg(label: &str) -> Digest {
        Digest::of_bytes(label.as_bytes())
    }

    fn snap(history: &[&str], current: Option<&str>) -> ServiceSnapshot {
        let history = history
            .iter()
            .enumerate()
            .map(|(i, l)| RevisionInfo {
                task_definition: Revision {
                    family: "api".into(),
                    id: crate::model::RevisionId::Number(u32::try_from(i + 1).unwrap()),
                    arn: format!("arn:api:{}", i + 1).into(),
                },
                digest: Some(dg(l)),
                active: true,
            })
            .collect::<Vec<_>>()
            .into();
        ServiceSnapshot {
            digest: current.map(dg),
            pinning: if current.is_some() {
                Pinning::Pinned
            } else {
                Pinning::Unpinned
            },
            history,
            ..ServiceSnapshot::bare("api", "api")
        }
    }

    #[test]
    fn up_to_date_when_same_digest() {
        assert_eq!(
            behind(&snap(&["a", "b"], Some("b")), &snap(&["b"], Some("b"))),
            Behind::UpToDate
        );
    }

    fn rolling(mut s: ServiceSnapshot, rollout: crate::model::RolloutState) -> ServiceSnapshot {
        let t = Utc.timestamp_opt(0, 0).unwrap();
        s.deployments = vec![crate::model::Deployment {
            id: "ecs-svc/1".into(),
            role: crate::model::DeploymentRole::Primary,
            task_definition: Revision::parse("api:2").unwrap(),
            rollout,
            reason: None,
            steps: vec![],
            nothing_changed: false,
            shift: None,
            running: 1,
            desired: 2,
            pending: 1,
            failed_tasks: 0,
            created_at: t,
            updated_at: t,
        }];
        s
    }

    #[test]
    fn a_stage_mid_rollout_is_not_up_to_date() {
        use crate::model::RolloutState;
        let prev = snap(&["a", "b"], Some("b"));
        let done = rolling(snap(&["b"], Some("b")), RolloutState::Completed);
        assert_eq!(behind(&prev, &done), Behind::UpToDate);
        let rolling_now = rolling(snap(&["b"], Some("b")), RolloutState::InProgress);
        assert_eq!(behind(&prev, &rolling_now), Behind::RollingOut);
        assert_eq!(Behind::RollingOut.label(), "rolling out");
        // A canary paused for a decision: traffic in steps, still in flight.
        let mut paused = rolling(snap(&["b"], Some("b")), RolloutState::Completed);
        // (From its JSON, so that fields added to a shift leave this test be.)
        let shift: crate::model::Shift = serde_json::from_value(serde_json::json!({
            "kind": "canary", "deployment": "arn:sd/1", "new_weight": 1000,
            "weights": [1000, 10_000], "step": 1, "stage": "PRODUCTION_TRAFFIC_SHIFT",
            "pause": {"hook": "hook-1"}
        }))
        .unwrap();
        paused.deployments[0].shift = Some(Box::new(shift));
        assert_eq!(behind(&prev, &paused), Behind::RollingOut);
        // Behind stays behind while rolling (the digest says how far).
        let older = rolling(snap(&["a"], Some("a")), RolloutState::InProgress);
        assert_eq!(behind(&prev, &older), Behind::Behind { count: 1 });
        // The console recomputes the row when the rollout lands.
        assert!(!same_for_drift(Some(&rolling_now), Some(&done)));
        let names = vec!["staging".to_string(), "prod".to_string()];
        let t = Utc.timestamp_opt(0, 0).unwrap();
        let env = |name: &str, s: ServiceSnapshot| EnvSnapshot {
            env: name.into(),
            read_at: t,
            services: vec![s],
            warnings: vec![],
            sources: crate::model::Sources::default(),
            index: crate::model::ServiceIndex::default(),
        };
        let (a, b) = (env("staging", prev.clone()), env("prod", rolling_now));
        let rows = drift(&["api".to_string()], &names, &[Some(&a), Some(&b)]);
        let cell = rows[0].cells[1].as_ref().unwrap();
        assert_eq!(cell.behind, Behind::RollingOut);
        assert!(!cell.promotable, "its digest is on its way already");
    }

    #[test]
    fn counts_distinct_newer_digests() {
        let prev = snap(&["a", "b", "c", "c", "d"], Some("d"));
        assert_eq!(
            behind(&prev, &snap(&["a"], Some("a"))),
            Behind::Behind { count: 3 }
        );
        assert_eq!(
            behind(&prev, &snap(&["c"], Some("c"))),
            Behind::Behind { count: 1 }
        );
    }

    #[test]
    fn redeploy_of_older_digest_counts_once() {
        // prev went a -> b -> a -> c; this runs b: newer than b are a and c.
        let prev = snap(&["a", "b", "a", "c"], Some("c"));
        assert_eq!(
            behind(&prev, &snap(&[], Some("b"))),
            Behind::Behind { count: 2 }
        );
    }

    #[test]
    fn diverged_and_unknown() {
        let prev = snap(&["a", "b"], Some("b"));
        assert_eq!(behind(&prev, &snap(&[], Some("hotfix"))), Behind::Diverged);
        assert_eq!(behind(&prev, &snap(&[], None)), Behind::Unknown);
        assert_eq!(
            behind(&snap(&[], None), &snap(&[], Some("a"))),
            Behind::Unknown
        );
    }

    #[test]
    fn drift_rows_mark_promotable_and_unpinned() {
        let t = Utc.timestamp_opt(0, 0).unwrap();
        let env = |name: &str, s: ServiceSnapshot| EnvSnapshot {
            env: name.into(),
            read_at: t,
            services: vec![s],
            warnings: vec![],
            sources: crate::model::Sources::default(),
            index: crate::model::ServiceIndex::default(),
        };
        let dev = env("dev", snap(&["a", "b", "c"], Some("c")));
        let staging = env("staging", snap(&["a", "b"], Some("b")));
        let prod = env("prod", snap(&[], None));
        let names = vec!["dev".to_string(), "staging".to_string(), "prod".to_string()];
        let rows = drift(
            &["api".to_string(), "gone".to_string()],
            &names,
            &[Some(&dev), Some(&staging), Some(&prod)],
        );
        let cells: Vec<_> = rows[0].cells.iter().map(|c| c.clone().unwrap()).collect();
        assert_eq!(cells[0].behind, Behind::FirstStage);
        assert!(!cells[0].promotable);
        assert_eq!(cells[1].behind, Behind::Behind { count: 1 });
        assert!(cells[1].promotable);
        assert_eq!(cells[2].behind, Behind::Unknown);
        assert!(cells[2].unpinned);
        assert!(rows[1].cells.iter().all(Option::is_none));
        // A missing reading in the middle makes the next stage unknown, not up to date.
        let rows = drift(
            &["api".to_string()],
            &names,
            &[Some(&dev), None, Some(&staging)],
        );
        assert_eq!(rows[0].cells[2].as_ref().unwrap().behind, Behind::Unknown);
    }
}
