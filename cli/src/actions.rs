//! Operators' actions on resource groups, each queued as TE_RG_MOVE
//! (release, barrier, acquire) and waited for:
//! - `hacmp move GROUP [--to NODE]`: off the node holding it; says where
//!   the group ended, or why it did not move;
//! - `hacmp offline GROUP` / `hacmp online GROUP`: an operator's word the
//!   placement keeps, through failures, joins and a restart of the whole
//!   cluster, until the group is brought online;
//! - `hacmp cleanup GROUP [--node N]`: the steps of a group in error on a
//!   node tried again (acquired again where it is placed, released again
//!   where it is not); says the state it is left in.
//!
//! Exit statuses: 0 done (or queued, with `--no-wait`); 1 refused (the
//! reason is said), or the event ended without doing it; 2 usage or etcd
//! unreachable.

use std::time::{Duration, Instant};

use clap::Args;
use hacmp_gs::actions::{action_progress, Progress};
use hacmp_model::event::node_list;
use hacmp_model::placement::Place;

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
    #[command(flatten)]
    pub wait: crate::ops::WaitArgs,
    #[command(flatten)]
    pub etcd: Etcd,
}

#[derive(Args, Debug)]
pub struct IntentArgs {
    /// The resource group.
    pub group: String,
    #[command(flatten)]
    pub wait: crate::ops::WaitArgs,
    #[command(flatten)]
    pub etcd: Etcd,
}

/// `hacmp offline GROUP` (`offline`) or `hacmp online GROUP`.
pub fn intent(args: &IntentArgs, offline: bool) -> u8 {
    let at = match queue(&args.etcd, async |op| {
        op.group_intent(&args.group, offline).await
    }) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let word = if offline { "offline" } else { "online" };
    println!("queued TE_RG_MOVE at node {at}: `{}` {word}", args.group);
    if args.wait.no_wait {
        return exit::OK;
    }
    crate::ops::until_done(&args.etcd, args.wait.wait, "the change", |s| {
        if action_progress(s, &args.group) != Progress::Idle {
            return None;
        }
        let placement = s.placement.clone().unwrap_or_default();
        let now = placement.get(&args.group);
        let done = placement.offline.contains(&args.group) == offline
            && (!offline || *now == Place::Offline);
        Some(if done {
            println!(
                "`{}` is {}{}",
                args.group,
                shown(now),
                if offline {
                    " (by an operator's word, until `hacmp online`)"
                } else if *now == Place::Offline {
                    ": no node of its list may hold it now"
                } else {
                    ""
                }
            );
            exit::OK
        } else {
            eprintln!(
                "error: `{}` is {} after the event (see `hacmp status` and the event's journal)",
                args.group,
                shown(now)
            );
            exit::FINDINGS
        })
    })
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// The resource group.
    pub group: String,
    /// The node where it is in error (needed when it is on several).
    #[arg(long)]
    pub node: Option<u32>,
    /// How long to wait for its event to end.
    #[arg(long, default_value = "5m", value_parser = crate::ops::parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub etcd: Etcd,
}

pub fn cleanup(args: &CleanupArgs) -> u8 {
    let at = match queue(&args.etcd, async |op| {
        op.cleanup_group(&args.group, args.node).await
    }) {
        Ok(x) => x,
        Err(code) => return code,
    };
    println!(
        "queued TE_RG_MOVE at node {at}: `{}` cleaned up there",
        args.group
    );
    let ended = crate::ops::until_done(&args.etcd, args.wait, "the cleanup", |s| {
        (action_progress(s, &args.group) == Progress::Idle).then_some(exit::OK)
    });
    if ended != exit::OK {
        return ended;
    }
    // Its state on that node, as the node publishes it: within a second
    // of any change (the manager's STATUS_LATEST), so an error still shown
    // after three is the state the cleanup left.
    use hacmp_model::placement::RgState;
    let until = Instant::now() + Duration::from_secs(3);
    let state = loop {
        let read = with_operator(&args.etcd, async |op| op.statuses().await.map_err(failed));
        let state = match read {
            Ok(st) => st
                .iter()
                .find(|s| s.node == at)
                .and_then(|s| s.groups.get(&args.group).copied())
                .unwrap_or(RgState::Offline),
            Err(f) => return f.report(),
        };
        if state != RgState::Error || Instant::now() >= until {
            break state;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if state == RgState::Error {
        eprintln!(
            "error: `{}` is still in error on node {at} (see `hacmp status` and the event's journal)",
            args.group
        );
        return exit::FINDINGS;
    }
    println!("`{}` is {} on node {at}", args.group, state.as_str());
    exit::OK
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Args, Debug)]
pub struct MaintenanceArgs {
    /// on: nothing starts, stops, moves or monitors the groups; off: they
    /// are managed again.
    #[arg(value_enum)]
    pub mode: OnOff,
    /// The resource group (every group when absent).
    pub group: Option<String>,
    /// How long to wait for its event to end.
    #[arg(long, default_value = "5m", value_parser = crate::ops::parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub etcd: Etcd,
}

pub fn maintenance(args: &MaintenanceArgs) -> u8 {
    let on = args.mode == OnOff::On;
    let groups = match queue(&args.etcd, async |op| {
        op.maintenance(args.group.as_deref(), on).await
    }) {
        Ok(x) => x,
        Err(code) => return code,
    };
    println!(
        "queued TE_RG_MOVE: maintenance {} for {}",
        if on { "on" } else { "off" },
        groups.join(", ")
    );
    crate::ops::until_done(&args.etcd, args.wait, "the change", |s| {
        if groups
            .iter()
            .any(|g| action_progress(s, g) != Progress::Idle)
        {
            return None;
        }
        let placement = s.placement.clone().unwrap_or_default();
        let wrong: Vec<&String> = groups
            .iter()
            .filter(|g| placement.maintenance.contains(*g) != on)
            .collect();
        Some(if wrong.is_empty() {
            for g in &groups {
                println!(
                    "`{g}` is {}, {}",
                    shown(placement.get(g)),
                    if on {
                        "in maintenance: left alone until `hacmp maintenance off`"
                    } else {
                        "managed again"
                    }
                );
            }
            exit::OK
        } else {
            eprintln!("error: the change did not take for {wrong:?} (see `hacmp status`)");
            exit::FINDINGS
        })
    })
}

/// Queues an operator's action; a refusal or an unreachable etcd is said
/// and becomes the exit status.
fn queue<T>(
    e: &Etcd,
    f: impl AsyncFnOnce(
        std::sync::Arc<hacmp_gs::operator::Operator<hacmp_etcd::EtcdStore>>,
    ) -> Result<T, hacmp_gs::GsError>,
) -> Result<T, u8> {
    with_operator(e, async |op| f(op).await.map_err(failed)).map_err(|f| f.report())
}

pub(crate) fn shown(p: &Place) -> String {
    match p {
        Place::Online { nodes } => format!("on node {}", node_list(nodes.iter().copied())),
        Place::Offline => "offline".into(),
        Place::Stopped { by } => format!("stopped (node {by} stopped without takeover)"),
    }
}

pub fn move_group(args: &MoveArgs) -> u8 {
    let m = match queue(&args.etcd, async |op| {
        op.move_group(&args.group, args.to.as_deref()).await
    }) {
        Ok(x) => x,
        Err(code) => return code,
    };
    println!(
        "queued TE_RG_MOVE at node {}: `{}` off node {}{}",
        m.from,
        m.group,
        m.from,
        m.to.map(|t| format!(" to node {t}")).unwrap_or_default()
    );
    if args.wait.no_wait {
        return exit::OK;
    }
    let t0 = Instant::now();
    let mut seq = None;
    crate::ops::until_done(&args.etcd, args.wait.wait, "the move", |s| {
        match action_progress(s, &m.group) {
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
