//! What every part of the runtime speaks of, with no behaviour of its own
//! beyond pure functions: the leaf the other runtime crates build on.
//!
//! ```text
//!   event          EventKind · EventRequest · QueuedEvent · NodeId · Outcome
//!   manager_state  ManagerState (the redbook's states of a cluster manager)
//!   claimed        ClaimedEvent: the next event, its membership, its placement
//!   groups         where resource groups are, and their states (data)
//!   placement      where they go: one pure function of the site
//!   identity       what a node presents when it joins
//!   clock          the machine's wall and monotonic clocks
//! ```

mod claimed;
pub mod clock;
pub mod event;
mod groups;
mod identity;
pub mod manager_state;
pub mod placement;

pub use claimed::ClaimedEvent;
pub use event::{EventKind, EventRequest, NodeId, Outcome, QueuedEvent};
pub use identity::Identity;
pub use manager_state::ManagerState;
