//! The simulators: a whole cluster in one process on the in-memory store
//! (`cluster`), scenarios that drive it (`scenario`, names checked by
//! `names`), and the deterministic fault simulation with its checker
//! (`faultsim`). The nodes run the same protocol and managers as `hacmpd`;
//! only the store, the executor and the resource agent are simulated.
//!
//! ```text
//!   Scenario ──▶ Cluster ── Manager(n) ── SimExecutor · SimAgent
//!                   │
//!                 MemStore ◀── faultsim::World (faults, one thread, paused clock)
//!                                   └── check: invariants on every commit
//! ```

pub mod cluster;
pub mod faultsim;
pub mod names;
pub mod scenario;
