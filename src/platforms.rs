//! The platforms shipdeck deploys to, each in its own folder behind the
//! [`crate::provider::Provider`] trait: ECS (with CloudWatch), blue/green
//! behind a reverse proxy, and the simulated world of the demo and the tests.

pub mod ecs;
pub mod proxy;
pub mod sim;
