//! Each data source of a reading has its own state: a reading that failed is not
//! a reading of "nothing". What CloudWatch could not tell is *unknown*, never
//! "none" and never healthy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Alarm, AlarmState, Health, RolloutState, ServiceSnapshot};

/// How one data source fared in one reading of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SourceState {
    /// Nothing in the configuration needs this source.
    #[default]
    NotUsed,
    /// Read completely.
    Ready,
    /// Could not be read (in whole or in part): its data is unknown.
    Failed {
        /// Why, for a person.
        error: String,
    },
}

impl SourceState {
    /// The error, when the source failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Failed { error } => Some(error),
            Self::NotUsed | Self::Ready => None,
        }
    }
}

/// The sources of a reading besides ECS itself (which fails the whole reading).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sources {
    /// CloudWatch alarms.
    pub alarms: SourceState,
    /// CloudWatch metrics.
    pub metrics: SourceState,
}

impl Sources {
    /// Sources that failed, as "alarms: …" lines.
    pub fn failed(&self) -> Vec<String> {
        [("alarms", &self.alarms), ("metrics", &self.metrics)]
            .into_iter()
            .filter_map(|(name, s)| s.error().map(|e| format!("{name} unreadable: {e}")))
            .collect()
    }
}

/// What CloudWatch said about the alarms of one environment: every alarm found
/// (by name or by prefix) and, if a call failed, why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmReading {
    /// Alarms found, by name (a prefix is a range of this map).
    pub found: BTreeMap<super::Shared, Alarm>,
    /// The first error, if any call failed: then what was not found is unknown.
    pub error: Option<String>,
}

impl AlarmReading {
    /// Alarms read without error.
    pub fn of(alarms: impl IntoIterator<Item = Alarm>) -> Self {
        let mut r = Self::default();
        for a in alarms {
            r.add(a);
        }
        r
    }

    /// Adds an alarm found (the first answer for a name wins).
    pub fn add(&mut self, alarm: Alarm) {
        self.found.entry(alarm.name.clone()).or_insert(alarm);
    }

    /// The alarms whose names start with `prefix`, in name order.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Alarm> + 'a {
        self.found
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(n, _)| n.starts_with(prefix))
            .map(|(_, a)| a)
    }

    /// The source state this reading amounts to, for an environment that
    /// watches `any` alarm at all.
    pub fn state(&self, any: bool) -> SourceState {
        match (&self.error, any) {
            (Some(e), _) => SourceState::Failed { error: e.clone() },
            (None, true) => SourceState::Ready,
            (None, false) => SourceState::NotUsed,
        }
    }

    /// The alarms one service watches (by name and prefix), and why they are not
    /// fully known when they are not: the reading failed, a named alarm does not
    /// exist, or a prefix matches no alarm. Both providers decide this here.
    pub fn watched(&self, names: &[String], prefixes: &[String]) -> (Vec<Alarm>, Option<String>) {
        // By name and by prefix range: a service's alarms cost a few lookups,
        // not a scan of every alarm of the environment.
        // A service watches a handful: a sorted, deduplicated Vec, not a map.
        let mut picked: Vec<&Alarm> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for n in names {
            match self.found.get(n.as_str()) {
                Some(a) => picked.push(a),
                None => missing.push(format!("alarm \"{n}\" not found in CloudWatch")),
            }
        }
        for p in prefixes {
            let before = picked.len();
            picked.extend(self.with_prefix(p));
            if picked.len() == before {
                missing.push(format!("no alarm in CloudWatch starts with \"{p}\""));
            }
        }
        picked.sort_by(|a, b| a.name.cmp(&b.name));
        picked.dedup_by(|a, b| a.name == b.name);
        // Clones of shared text: reference counts, not copies.
        let alarms: Vec<Alarm> = picked.into_iter().cloned().collect();
        if names.is_empty() && prefixes.is_empty() {
            return (alarms, None);
        }
        if let Some(e) = &self.error {
            return (alarms, Some(format!("alarms unreadable: {e}")));
        }
        let why = (!missing.is_empty()).then(|| missing.join("; "));
        (alarms, why)
    }
}

impl ServiceSnapshot {
    /// What about this service is unknown, each with its reason: unreadable or
    /// missing alarms, INSUFFICIENT_DATA (unless allowed), an unknown health or
    /// rollout state. Empty means everything shown was actually read.
    pub fn unknowns(&self, allow_insufficient_data: bool) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = &self.alarms_unknown {
            out.push(why.clone());
        }
        let no_data: Vec<&str> = self
            .alarms
            .iter()
            .filter(|a| a.state == AlarmState::InsufficientData)
            .map(|a| &*a.name)
            .collect();
        if !no_data.is_empty() && !allow_insufficient_data {
            out.push(format!(
                "INSUFFICIENT_DATA (unknown, not OK): {}",
                no_data.join(", ")
            ));
        }
        if self.health == Health::Unknown {
            out.push("health not read yet".to_string());
        }
        if self.rollout() == RolloutState::Unknown {
            out.push("rollout state unknown".to_string());
        }
        out
    }

    /// Whether [`Self::unknowns`] would name anything, without building the
    /// reasons: the console counts this for every cell at every frame.
    pub fn has_unknown(&self, allow_insufficient_data: bool) -> bool {
        self.alarms_unknown.is_some()
            || (!allow_insufficient_data
                && self
                    .alarms
                    .iter()
                    .any(|a| a.state == AlarmState::InsufficientData))
            || self.health == Health::Unknown
            || self.rollout() == RolloutState::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn alarm(name: &str, state: AlarmState) -> Alarm {
        Alarm {
            name: name.into(),
            state,
            reason: "".into(),
            updated_at: Utc.timestamp_opt(0, 0).unwrap(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn nothing_configured_is_none_not_unknown() {
        let r = AlarmReading {
            found: BTreeMap::new(),
            error: Some("down".into()),
        };
        assert_eq!(r.watched(&[], &[]), (Vec::new(), None));
        assert_eq!(r.state(false).error(), Some("down"));
    }

    #[test]
    fn unreadable_missing_and_empty_prefixes_are_unknown() {
        let down = AlarmReading {
            found: BTreeMap::new(),
            error: Some("connection refused".into()),
        };
        let (a, why) = down.watched(&s(&["x"]), &[]);
        assert!(a.is_empty());
        assert_eq!(
            why.as_deref(),
            Some("alarms unreadable: connection refused")
        );
        let up = AlarmReading {
            found: AlarmReading::of([alarm("api-5xx", AlarmState::Ok)]).found,
            error: None,
        };
        assert_eq!(up.watched(&s(&["api-5xx"]), &s(&["api-"])).1, None);
        assert_eq!(
            up.watched(&s(&["api-p95"]), &[]).1.as_deref(),
            Some("alarm \"api-p95\" not found in CloudWatch")
        );
        assert_eq!(
            up.watched(&[], &s(&["web-"])).1.as_deref(),
            Some("no alarm in CloudWatch starts with \"web-\"")
        );
    }

    #[test]
    fn has_unknown_agrees_with_the_reasons() {
        use crate::model::{Deployment, DeploymentRole, Revision};
        let t = Utc.timestamp_opt(0, 0).unwrap();
        let deployed = |rollout| Deployment {
            id: "d".into(),
            role: DeploymentRole::Primary,
            task_definition: Revision::parse("api:1").unwrap(),
            rollout,
            reason: None,
            steps: vec![],
            nothing_changed: false,
            shift: None,
            running: 1,
            desired: 1,
            pending: 0,
            failed_tasks: 0,
            created_at: t,
            updated_at: t,
        };
        let mut cases = Vec::new();
        for rollout in [RolloutState::Completed, RolloutState::Unknown] {
            for health in [Health::NotConfigured, Health::Unknown] {
                for state in [AlarmState::Ok, AlarmState::InsufficientData] {
                    for why in [None, Some("alarms unreadable: down".to_string())] {
                        let mut snap = ServiceSnapshot::bare("api", "api");
                        snap.deployments = vec![deployed(rollout)];
                        snap.health = health.clone();
                        snap.alarms = vec![alarm("api-5xx", state)];
                        snap.alarms_unknown = why;
                        cases.push(snap);
                    }
                }
            }
        }
        for snap in &cases {
            for allow in [false, true] {
                assert_eq!(
                    snap.has_unknown(allow),
                    !snap.unknowns(allow).is_empty(),
                    "{snap:?} allow {allow}"
                );
            }
        }
        assert!(cases.iter().any(|c| !c.has_unknown(false)));
    }
}
