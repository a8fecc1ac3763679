//! Kubernetes with Argo Rollouts and GitOps as a platform: a service is an
//! Argo Rollout or a Deployment in the stage's namespace, optionally synced
//! by an Argo CD Application. It is read by watches (`watch`: one reflector
//! per kind and namespace; a reading costs no request), built by the one
//! snapshot builder (`snapshot`, shared with the simulator), and promoted
//! by a commit to the stage's GitOps repository (`gitops`), made with the
//! user's own `git`, which Argo CD applies; a pause is decided by the
//! patches `kubectl argo rollouts promote` and `abort` send; a rollback is
//! an abort mid-canary and a commit of the previous stable digest.

pub mod gitops;
pub mod objects;
pub mod provider;
pub mod read;
pub mod snapshot;
pub mod watch;
pub mod words;

/// What Kubernetes can do beyond reading and deploying.
pub const CAPABILITIES: crate::provider::Capabilities = crate::provider::Capabilities {
    // A Rollout's pause step waits for a person.
    pauses: true,
    // Argo CD and Argo Rollouts do the work: a promotion goes on without
    // shipdeck once the commit is pushed.
    runs_in_process: false,
    // The ReplicaSets are in the watches already.
    history_costs_calls: false,
    // A rollback is a commit of an earlier digest (a GitOps revert), so
    // Argo CD's self-heal keeps it.
    rollback: crate::provider::RollbackStyle::Redeploy,
    units: Some("pods"),
    places: false,
    // Readings come from the stage's watches: free, and a second fresh.
    watched: true,
};
