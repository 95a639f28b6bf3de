//! The simulators' tests, in one binary: clusters on the in-memory store
//! with simulated and real commands, scenarios, the fault simulation.

mod common;

mod actions;
mod conformance;
mod faults;
mod real_processes;
mod resources;
mod rwho_e2e;
mod signed;
