//! Operators' actions on nodes, from any node (the original's C-SPOC):
//! - `hacmp stop NODE [--mode graceful|takeover|forced]`: the node leaves
//!   the cluster in the mode chosen now; its daemon stays up, out of the
//!   cluster, until `hacmp start NODE` (kept across restarts of it);
//! - `hacmp start NODE`: the node joins again (a node-up).
//!
//! Each waits until the node is out (or in) and says where its groups are.
//! Exit statuses: 0 done (or asked, with `--no-wait`); 1 refused (the reason
//! is said), or the node did not get there in time; 2 usage or etcd
//! unreachable.

use std::time::Instant;

use clap::{Args, ValueEnum};
use hacmp_gs::control::{node_progress, NodeProgress, StopMode};
use hacmp_gs::state::GroupState;

use crate::exit;
use crate::ops::{failed, with_operator, Etcd};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Mode {
    /// The node releases its groups; the others leave them stopped.
    Graceful,
    /// The node releases its groups; the others take them over.
    Takeover,
    /// The node stops at once; the others take over as for a failure.
    Forced,
}

impl Mode {
    fn stop(self) -> StopMode {
        match self {
            Mode::Graceful => StopMode::Graceful,
            Mode::Takeover => StopMode::Takeover,
            Mode::Forced => StopMode::Forced,
        }
    }
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// The node, by number or name.
    pub node: String,
    /// How it leaves (redbook 5.3).
    #[arg(long, value_enum, default_value = "graceful")]
    pub mode: Mode,
    #[command(flatten)]
    pub wait: crate::ops::WaitArgs,
    #[command(flatten)]
    pub etcd: Etcd,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// The node, by number or name.
    pub node: String,
    #[command(flatten)]
    pub wait: crate::ops::WaitArgs,
    #[command(flatten)]
    pub etcd: Etcd,
}

pub fn stop(args: &StopArgs) -> u8 {
    let mode = args.mode.stop();
    let asked = with_operator(&args.etcd, async |op| {
        let s = op.state().await.map_err(failed)?;
        let n = op.stop_node(&args.node, mode).await.map_err(failed)?;
        Ok((n, held_by(&s, n)))
    });
    let (n, held) = match asked {
        Ok(x) => x,
        Err(f) => return f.report(),
    };
    println!(
        "stopping node {n} ({}): it leaves the cluster; its daemon stays up until `hacmp start {n}`",
        mode.as_str()
    );
    if args.wait.no_wait {
        return exit::OK;
    }
    let t0 = Instant::now();
    crate::ops::until_shown(&args.etcd, args.wait.wait, "the stop", |s, st| {
        match node_progress(s, st, n) {
            NodeProgress::Stopped => {}
            NodeProgress::Down => {
                eprintln!("error: node {n}'s daemon ended while it was stopping (see its journal)");
                return Some(exit::FINDINGS);
            }
            NodeProgress::Member | NodeProgress::Moving => return None,
        }
        println!(
            "node {n} is stopped (after {}); its groups:",
            hacmp_stdlib::Duration(t0.elapsed())
        );
        groups_now(s, &held);
        Some(exit::OK)
    })
}

pub fn start(args: &StartArgs) -> u8 {
    let (n, daemon) = match with_operator(&args.etcd, async |op| {
        let n = op.start_node(&args.node).await.map_err(failed)?;
        let (s, st) = (op.state().await, op.statuses().await);
        let down = s.ok().zip(st.ok()).map(|(s, st)| node_progress(&s, &st, n));
        Ok((n, down != Some(NodeProgress::Down)))
    }) {
        Ok(x) => x,
        Err(f) => return f.report(),
    };
    if !daemon {
        // The word is taken back; there is nobody to wait for.
        println!("node {n} may join again: its hacmpd is not running; it joins the cluster when it starts");
        return exit::OK;
    }
    println!("starting node {n}: it joins the cluster (node-up)");
    if args.wait.no_wait {
        return exit::OK;
    }
    let t0 = Instant::now();
    crate::ops::until_shown(&args.etcd, args.wait.wait, "the start", |s, st| {
        match node_progress(s, st, n) {
            NodeProgress::Member if !s.joining().contains(&n) => {}
            NodeProgress::Down => {
                eprintln!("error: node {n}'s daemon ended while it was starting (see its journal)");
                return Some(exit::FINDINGS);
            }
            _ => return None,
        }
        println!(
            "node {n} is up (after {}); its groups:",
            hacmp_stdlib::Duration(t0.elapsed())
        );
        groups_now(s, &held_by(s, n));
        Some(exit::OK)
    })
}

/// The groups node `n` holds now.
fn held_by(s: &GroupState, n: u32) -> Vec<String> {
    s.placement
        .as_ref()
        .map(|p| {
            p.groups
                .iter()
                .filter(|(_, place)| place.holds(n))
                .map(|(g, _)| g.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn groups_now(s: &GroupState, groups: &[String]) {
    if groups.is_empty() {
        println!("  none");
    }
    let placement = s.placement.clone().unwrap_or_default();
    for g in groups {
        println!("  `{g}` {}", crate::actions::shown(placement.get(g)));
    }
}
