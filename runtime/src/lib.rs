//! The runtime: executes compiled recovery programs across a cluster.
//!
//! ```text
//!            ┌──────────── GroupServices (in-process | etcd) ────────────┐
//!            │ membership · queue · next event · barriers · operator     │
//!            └───────▲──────────────▲──────────────▲─────────────────────┘
//!                    │              │              │
//!               Manager(1)     Manager(2)     Manager(n)   one per node: states,
//!                    │              │              │        node sets, groups,
//!               Executor        Executor       Executor     failure policies
//!             (real | sim)                                  → Journal
//! ```

pub mod cluster;
pub mod deadman;
pub mod em;
pub mod env;
pub mod event;
pub mod exec;
pub mod faultsim;
pub mod gs;
pub mod journal;
pub mod manager;
pub mod metrics;
pub mod names;
pub mod resources;
pub mod scenario;
pub mod state;
pub mod topology;
pub mod warden;

pub use event::{EventKind, EventRequest, NodeId, Outcome};
pub use manager::{Exit, JournalMode, Manager, ManagerConfig, Stop};
