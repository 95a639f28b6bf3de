//! `hacmp move GROUP [--to NODE]`: an operator's move of a resource group,
//! queued as TE_RG_MOVE at the node holding it (release there, barrier,
//! acquire on the new node); waits for the event and says where the group
//! ended, or why it did not move.
//!
//! Exit statuses: 0 moved (or queued, with `--no-wait`); 1 refused (the
//! reason is said), or the event ended without moving the group; 2 usage
//! or etcd unreachable.

use std::time::{Duration, Instant};

use clap::Args;
use hacmp_runtime::event::node_list;
use hacmp_runtime::gs::actions::{move_progress, Progress};
use hacmp_runtime::resources::Place;

use crate::exit;
use crate::ops::{failed, with_operator, Etcd};

#[derive(Args, Debug)]
pub struct MoveArgs {
    /// The resource group.
    pub group: String,
    /// The node to move it to, by number or name (default: the next node
    /// its policy picks among the others up).
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,
    /// Return once the move is queued.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the move's event to end.
    #[arg(long, default_value = "5m", value_parser = crate::ops::parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub etcd: Etcd,
}

fn shown(p: &Place) -> String {
    match p {
        Place::Online { nodes } => format!("on node {}", node_list(nodes.iter().copied())),
        Place::Offline => "offline".into(),
        Place::Stopped { by } => format!("stopped (node {by} stopped without takeover)"),
    }
}

pub fn move_group(args: &MoveArgs) -> u8 {
    let queued = with_operator(&args.etcd, async |op| {
        op.move_group(&args.group, args.to.as_deref())
            .await
            .map_err(failed)
    });
    let m = match queued {
        Ok(m) => m,
        Err(f) => return f.report(),
    };
    println!(
        "queued TE_RG_MOVE at node {}: `{}` off node {}{}",
        m.from,
        m.group,
        m.from,
        m.to.map(|t| format!(" to node {t}")).unwrap_or_default()
    );
    if args.no_wait {
        return exit::OK;
    }
    let t0 = Instant::now();
    let mut seq = None;
    crate::ops::until_done(&args.etcd, args.wait, "the move", |s| {
        match move_progress(s, &m.group) {
            Progress::Running { seq: n } => {
                seq = Some(n);
                return None;
            }
            Progress::Queued => return None,
            Progress::Idle => {}
        }
        let placement = s.placement.clone().unwrap_or_default();
        let now = placement.get(&m.group);
        let event = seq.map_or_else(
            || "TE_RG_MOVE".to_string(),
            |n| match s.outcomes.get(&n) {
                Some(o) => format!("TE_RG_MOVE #{n} {}", o.as_str()),
                None => format!("TE_RG_MOVE #{n}"),
            },
        );
        let moved = !now.holds(m.from)
            && matches!(now, Place::Online { .. })
            && m.to.is_none_or(|t| now.holds(t));
        Some(if moved {
            println!(
                "`{}` is {} ({event} after {})",
                m.group,
                shown(now),
                hacmp_stdlib::Duration(t0.elapsed())
            );
            exit::OK
        } else {
            eprintln!(
                "error: `{}` did not move: it is {} after {event} (see `hacmp status` and the event's journal)",
                m.group,
                shown(now)
            );
            exit::FINDINGS
        })
    })
}
