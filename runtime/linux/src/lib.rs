//! What a node does to its Linux machine: the resource agent (service
//! addresses through rtnetlink, file systems through mount(2), gratuitous
//! ARP and unsolicited neighbour advertisements), the adapters watched
//! through the kernel with their heartbeats (topology), the warden that
//! fences a frozen daemon, and the dead man's switch.
//!
//! ```text
//!   hacmpd ── LinuxAgent (resources: ip · mount · announce) ──▶ kernel
//!        │ ── topology::spawn (netlink links · heartbeat) ──▶ topology events
//!        │ ── warden (a process of its own: Arm / Disarm) ──▶ kills, addresses down
//!        └─── deadman (/dev/watchdog)
//! ```
//!
//! Only this crate links rtnetlink: the simulators never touch the machine.

pub mod deadman;
pub mod resources;
pub mod topology;
pub mod warden;
