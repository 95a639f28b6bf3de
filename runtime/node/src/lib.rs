//! One node of the cluster: its cluster manager, the executors that run
//! recovery commands, its resource groups, its journal and its metrics.
//! The daemon (`hacmpd`) and the simulators build nodes from this crate;
//! what a node does to its machine is in `hacmp-linux`.
//!
//! ```text
//!            ┌──────────── GroupServices (hacmp-gs: in-process | etcd) ──┐
//!            │ membership · queue · next event · barriers · operator     │
//!            └───────▲──────────────▲──────────────▲─────────────────────┘
//!                    │              │              │
//!               Manager(1)     Manager(2)     Manager(n)   one per node: states,
//!                    │              │              │        node sets, groups,
//!               Executor        Executor       Executor     failure policies
//!             (real | sim)    NodeResources ── Agent        → Journal, metrics
//! ```
//!
//! `manager` runs the events; `exec` runs commands (`real`: processes,
//! `sim`: simulated); `resources` brings resource groups up and down
//! through an `Agent`; `env` is what a command's environment says;
//! `journal` records every step; `metrics` counts them.

pub mod build;
mod env;
pub mod exec;
pub mod journal;
pub mod manager;
pub mod metrics;
pub mod resources;

pub use build::NodeBuilder;
pub use manager::{Exit, JournalMode, Manager, ManagerConfig, Stop};
