//! The Fly.io Machines platform's own section of the configuration: where
//! the Machines API is and which secret holds its token
//! (`[environment.fly]`), and which app (and process group) a service is
//! (`[environment.service.fly]`), with the pace of a promotion: the canary
//! machine's hold, how many machines after it are updated at once, and the
//! holds between them.

use std::time::Duration;

/// The Machines API's public address (fly-go's default when
/// `FLY_FLAPS_BASE_URL` is unset).
pub const DEFAULT_API_URL: &str = "https://api.machines.dev";

/// `[environment.fly]`: how an environment reaches the Machines API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlyEnv {
    /// The API's base URL, without a trailing slash (`/v1/apps/…` follows).
    pub api_url: String,
    /// The token, as a `${secret:NAME}` reference (never the value itself).
    pub token: String,
}

/// How many machines after the canary are updated at once (flyctl's
/// `--max-unavailable`): a count, or a share of the group rounded up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Batch {
    /// This many machines at once (at least one).
    Count(u32),
    /// This share of the group's machines, in (0, 1), rounded up.
    Fraction(f64),
}

impl Eq for Batch {}

impl Batch {
    /// Machines per batch out of `total`: at least one, at most `total`.
    pub fn size(self, total: usize) -> usize {
        let n = match self {
            Self::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Self::Fraction(f) => {
                // A share of a group of at most a few thousand machines: the
                // product is small and non-negative.
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let n = (total as f64 * f).ceil() as usize;
                n
            }
        };
        n.clamp(1, total.max(1))
    }
}

/// `[environment.service.fly]`: one service on Fly, with the pace of its
/// promotions (the environment's `[environment.fly]` defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlyService {
    /// The Fly app (default: the service's name).
    pub app: String,
    /// The process group (`fly_process_group`), when the service is one
    /// group of the app; else every machine of the app but release-command
    /// and console machines.
    pub group: Option<String>,
    /// Where the machines pull a promoted digest from (`repo`, as in
    /// `repo@sha256:…`), when not the repository the source stage's image
    /// was read from.
    pub image_repository: Option<String>,
    /// Machines updated at once after the canary.
    pub max_unavailable: Batch,
    /// How long the canary is watched, healthy, before the rest.
    pub canary_hold: Duration,
    /// How long each later batch is watched before the next.
    pub hold: Duration,
    /// How long one machine may take to start with its checks passing.
    pub wait_timeout: Duration,
    /// How long a check may stay critical before its machine has failed.
    pub checks_grace: Duration,
    /// How long each machine's lease lives unless refreshed.
    pub lease_ttl: Duration,
}

/// The defaults of the pace, where neither the service nor its environment
/// says (one machine at a time, as the runbook's "then the rest").
pub const DEFAULT_CANARY_HOLD: Duration = Duration::from_mins(5);
/// The hold between batches after the canary.
pub const DEFAULT_HOLD: Duration = Duration::from_mins(1);
/// flyctl's `DefaultWaitTimeout`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_mins(5);
/// How long a critical check is given to recover.
pub const DEFAULT_CHECKS_GRACE: Duration = Duration::from_secs(30);
/// A lease's life, refreshed every third of it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_mins(1);

#[cfg(test)]
mod tests {
    use super::Batch;

    #[test]
    fn a_batch_is_a_count_or_a_share_rounded_up_never_zero_nor_more_than_the_group() {
        assert_eq!(Batch::Count(1).size(4), 1);
        assert_eq!(Batch::Count(2).size(4), 2);
        assert_eq!(Batch::Count(9).size(4), 4);
        assert_eq!(Batch::Fraction(0.33).size(10), 4);
        assert_eq!(Batch::Fraction(0.01).size(3), 1);
        assert_eq!(Batch::Count(3).size(0), 1);
    }
}
