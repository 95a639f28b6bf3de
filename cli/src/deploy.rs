//! `hacmp deploy SITE --etcd ...`: changes the site of a running cluster
//! (DARE). Lints and compiles the new site, shows what it changes from the
//! bundle the group runs and which groups it would move, and on
//! confirmation queues the reconfiguration, then waits until every member
//! runs the new bundle. `hacmp bundle fetch` writes the bundle a group runs.
//!
//! Exit statuses: 0 deployed (or nothing to deploy with `--dry-run`); 1 the
//! new site has errors, the group refused, a member could not prepare (the
//! cluster stays on its bundle), not signed for a signed cluster, or not
//! confirmed; 2 usage, an unreadable key, or etcd unreachable.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use hacmp_compiler::diff::{diff, Difference};
use hacmp_compiler::Bundle;
use hacmp_gs::state::GroupState;
use hacmp_model::event::EventKind;
use hacmp_node::resources::{place, MembershipChange, Place, Placement};

use crate::exit;
use crate::ops::{failed, with_operator, Etcd};

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The new site file (or a compiled bundle).
    pub site: PathBuf,
    #[command(flatten)]
    pub etcd: Etcd,
    /// Deploy without asking (for scripts).
    #[arg(long)]
    pub yes: bool,
    /// Show what would change, and stop there.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once the reconfiguration is queued.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for every member to switch.
    #[arg(long, default_value = "5m", value_parser = crate::ops::parse_duration)]
    pub wait: Duration,
    #[command(flatten)]
    pub sign: crate::key::SignArgs,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    #[command(flatten)]
    pub etcd: Etcd,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    pub output: PathBuf,
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// What the change moves: groups whose place under the new site, with the
/// cluster's members and placement now, differs from where they are.
pub fn moves(new: &Bundle, placement: &Placement, members: &BTreeSet<u32>) -> Vec<String> {
    if new.site.resources.is_empty() && placement.groups.is_empty() {
        return Vec::new();
    }
    let after = place(
        &new.site.resources,
        placement,
        members,
        MembershipChange::Reconfigure,
        None,
    );
    let show = |p: &Place| match p {
        Place::Online { nodes } => format!(
            "on node {}",
            hacmp_model::event::node_list(nodes.iter().copied())
        ),
        Place::Offline => "offline".to_string(),
        Place::Stopped { by } => format!("stopped (node {by} stopped without takeover)"),
    };
    let names: BTreeSet<&String> = placement.groups.keys().chain(after.groups.keys()).collect();
    names
        .into_iter()
        .filter_map(|g| {
            let (b, a) = (placement.get(g), after.get(g));
            let gone = !after.groups.contains_key(g);
            (b != a || gone).then(|| {
                if gone {
                    format!("{g}: {} → removed", show(b))
                } else {
                    format!("{g}: {} → {}", show(b), show(a))
                }
            })
        })
        .collect()
}

/// The changes between two bundles, or what can be said without the old
/// one (files that differ).
fn changes(old: Option<&Bundle>, new: &Bundle, s: &GroupState) -> Vec<String> {
    match old {
        Some(old) => diff(old, new).iter().map(Difference::to_string).collect(),
        None => {
            let files = s
                .identity
                .as_ref()
                .map(|i| i.value.differing(&hacmp_model::Identity::of(new)))
                .unwrap_or_default();
            let mut v = vec![
                "(the group does not keep its bundle: only files can be compared)".to_string(),
            ];
            v.extend(files.into_iter().map(|f| format!("~ file {f}")));
            v
        }
    }
}

fn pending(s: &GroupState, hash: &str) -> bool {
    let ours = |k: &EventKind| matches!(k, EventKind::Dare { bundle, .. } if bundle == hash);
    s.queue.values().any(|q| ours(&q.request.kind))
        || s.current.as_ref().is_some_and(|c| {
            ours(&c.value.event.request.kind) && !s.outcomes.contains_key(&c.value.seq)
        })
}

fn switched(s: &GroupState, hash: &str) -> bool {
    s.identity.as_ref().is_some_and(|i| i.value.hash == hash)
        && s.members()
            .iter()
            .all(|n| s.alive.get(n).is_some_and(|a| a.record.hash == hash))
}

pub fn deploy(args: &DeployArgs) -> u8 {
    let mut new = match crate::bundle::load(&args.site, None, None) {
        Ok(l) => l.bundle,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return e.code;
        }
    };
    let signed = match args.sign.sign(&mut new) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for name in ["TE_DARE_TOPOLOGY", "TE_DARE_RESOURCE"] {
        if new.rule(name, 0).is_none() {
            eprintln!("error: the new site's rules have no {name} rule: a deploy runs through it (keep the standard rules)");
            return exit::FINDINGS;
        }
    }
    let read = with_operator(&args.etcd, async |op| {
        let s = op.state().await.map_err(failed)?;
        let old = op.running_bundle().await.map_err(failed)?;
        Ok((s, old))
    });
    let (s, old) = match read {
        Ok(x) => x,
        Err(f) => return f.report(),
    };
    let old: Option<Bundle> = old
        .and_then(|b| serde_json::from_slice::<Bundle>(&b).ok())
        .filter(|b| b.verify() && s.identity.as_ref().is_some_and(|i| i.value.hash == b.hash));
    let Some(running) = s.identity.as_ref().map(|i| i.value.hash.clone()) else {
        eprintln!(
            "error: no node of cluster {} is up: start the nodes with the new site instead",
            args.etcd.cluster
        );
        return exit::FINDINGS;
    };
    if running == new.hash {
        println!(
            "the cluster already runs bundle {}: nothing to deploy",
            short(&new.hash)
        );
        return exit::OK;
    }
    let mut out = format!(
        "deploy bundle {} over {} (cluster {}, members {}), {}:\n",
        short(&new.hash),
        short(&running),
        args.etcd.cluster,
        hacmp_model::event::node_list(s.members().iter().copied()),
        signed.unwrap_or_else(|| match &new.signature {
            Some(s) => s.to_string(),
            None => "not signed".into(),
        })
    );
    for c in changes(old.as_ref(), &new, &s) {
        out.push_str(&format!("  {c}\n"));
    }
    let placement = s.placement.clone().unwrap_or_default();
    let moved = moves(&new, &placement, s.members());
    if moved.is_empty() {
        out.push_str("groups: none moves\n");
    } else {
        out.push_str("groups that move:\n");
        for m in &moved {
            out.push_str(&format!("  {m}\n"));
        }
    }
    crate::print_out(&out);
    // The nodes would refuse it; said here before anything is staged.
    let refused = new.signature.is_none()
        && old
            .as_ref()
            .is_some_and(|o| !o.site.cluster.unsigned_bundles);
    if refused {
        eprintln!(
            "{}: cluster {} runs signed bundles only: give --key FILE (or HACMP_KEY); `hacmp key new NAME` makes a key",
            if args.dry_run { "warning" } else { "error" },
            args.etcd.cluster
        );
    }
    if args.dry_run {
        return exit::OK;
    }
    if refused {
        return exit::FINDINGS;
    }
    if !args.yes {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            eprintln!("error: not confirmed: give --yes to deploy without a terminal");
            return exit::FINDINGS;
        }
        eprint!("deploy? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("not deployed");
            return exit::FINDINGS;
        }
    }
    let json = match serde_json::to_vec(&new) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let t0 = Instant::now();
    let hash = new.hash.clone();
    let queued = with_operator(&args.etcd, async |op| {
        op.deploy(&hash, json).await.map_err(failed)
    });
    match queued {
        Ok(d) => println!(
            "queued TE_DARE_TOPOLOGY and TE_DARE_RESOURCE at node {} (reconfiguration to bundle {})",
            d.location,
            short(&hash)
        ),
        Err(f) => return f.report(),
    }
    if args.no_wait {
        return exit::OK;
    }
    crate::ops::until_done(&args.etcd, args.wait, "the reconfiguration", |s| {
        if pending(s, &hash) {
            return None;
        }
        Some(if switched(s, &hash) {
            println!(
                "every member ({}) runs bundle {} after {}",
                hacmp_model::event::node_list(s.members().iter().copied()),
                short(&hash),
                hacmp_stdlib::Duration(t0.elapsed())
            );
            exit::OK
        } else {
            eprintln!(
                "error: the reconfiguration did not complete: the cluster stays on bundle {} (see `hacmp status` and the journals of the reconfiguration events)",
                short(&s.identity.as_ref().map_or(running.clone(), |i| i.value.hash.clone()))
            );
            exit::FINDINGS
        })
    })
}

pub fn fetch(args: &FetchArgs) -> u8 {
    let got = with_operator(&args.etcd, async |op| {
        op.running_bundle().await.map_err(failed)
    });
    let bytes = match got {
        Ok(Some(b)) => b,
        Ok(None) => {
            eprintln!("error: cluster {} keeps no bundle (no node is up, or its bundle is larger than a deploy can carry)", args.etcd.cluster);
            return exit::FINDINGS;
        }
        Err(f) => return f.report(),
    };
    match serde_json::from_slice::<Bundle>(&bytes) {
        Ok(b) if b.verify() => {
            if let Err(e) = hacmp_compiler::input::write(&args.output, &bytes) {
                eprintln!("error: cannot write `{}`: {e}", args.output.display());
                return exit::USAGE;
            }
            println!(
                "wrote `{}`: bundle {}",
                args.output.display(),
                short(&b.hash)
            );
            exit::OK
        }
        _ => {
            eprintln!(
                "error: the bundle kept by cluster {} does not match its hash",
                args.etcd.cluster
            );
            exit::FINDINGS
        }
    }
}
