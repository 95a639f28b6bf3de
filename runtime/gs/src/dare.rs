//! Dynamic reconfiguration in the group (DARE, redbook 2.3): where a new
//! bundle waits while it is deployed, and the switch of a member to it.
//!
//! - `hacmp deploy` stages the bundle under `s/dare/<hash>` and queues
//!   TE_DARE_TOPOLOGY then TE_DARE_RESOURCE (both name the hash).
//! - In reconfig_topology_start every member reads the staged bundle and
//!   checks it can run it (its commands, with the same content); one that
//!   cannot fails the event, which is then abandoned: nobody switches.
//! - After the barrier, in reconfig_topology_complete, each member switches:
//!   one transaction, guarded by its incarnation, writes its alive record
//!   with the new hash, the group's identity, and `s/bundle` (the bundle
//!   the group runs, which `hacmp bundle fetch` reads). A member that dies
//!   before it switches is out of the group: the cluster runs one bundle.
//! - TE_DARE_RESOURCE then moves groups as the new bundle's placement
//!   demands (nothing, if the switch did not happen).

use super::protocol::{json, keys, Incarnation};
use super::state::AliveRecord;
use super::store::{Compare, Op, Revision, Txn};
use hacmp_model::Identity;

/// The bundle the group runs (JSON), for operators and restarted nodes.
pub const BUNDLE: &str = "s/bundle";

/// A bundle larger than this is not kept in the store (etcd's request
/// limit is 1.5 MiB): such a site cannot be deployed while it runs.
pub const MAX_BUNDLE: usize = 1 << 20;

/// Where a bundle being deployed waits.
pub fn staged(hash: &str) -> String {
    format!("s/dare/{hash}")
}

/// Stages a bundle for a deploy.
pub fn stage(hash: &str, bundle: Vec<u8>) -> Txn {
    Txn::new().then(Op::put(staged(hash), bundle))
}

/// A member switches to the bundle `identity` names.
pub fn switch(me: &Incarnation, record: &AliveRecord, identity: &Identity, bundle: Vec<u8>) -> Txn {
    Txn::new()
        .when(me.guard())
        .then(Op::put_leased(keys::alive(me.node), json(record), me.lease))
        .then(Op::put_leased(keys::IDENTITY, json(identity), me.lease))
        .then(Op::put(BUNDLE, bundle))
        .then(Op::delete(staged(&identity.hash)))
}

/// Publishes the bundle of the group's identity, read at `identity`'s
/// revision: no switch happened meanwhile.
pub fn publish(identity: Revision, bundle: Vec<u8>) -> Txn {
    Txn::new()
        .when(Compare::Modified(keys::IDENTITY.into(), identity))
        .then(Op::put(BUNDLE, bundle))
}
