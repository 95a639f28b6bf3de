//! `hacmp sim` at scale: the rwho site with N nodes, all started at once
//! (N joins, each run on every node already in), a user event and a crash.
//! Each size runs the `hacmp` binary once, as a user runs it: wall time,
//! peak RSS (the child's, from the kernel) and time per node-event. The
//! baseline of the same run is the smallest size: its time per node-event
//! against the largest's shows what grows faster than the node-events.
//! Targets at 1,000 nodes: at most 1 GiB peak RSS and 10 s.
//!
//!   cargo bench -p hacmp-cli --bench sim [-- NODES...]

#[path = "../tests/common/mod.rs"]
mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A copy of the rwho example with nodes 1 to `n` and its scenario.
fn scenario(dir: &Path, n: u32) -> std::path::PathBuf {
    let site = dir.join(format!("rwho{n}"));
    common::copy_tree(&common::repo().join("examples/rwho"), &site);
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    let extra: String = (5..=n)
        .map(|k| format!("[[node]]\nnumber = {k}\nname = \"node{k}\"\n\n"))
        .collect();
    std::fs::write(
        site.join("site.toml"),
        text.replace("[paths]", &format!("{extra}[paths]")),
    )
    .unwrap();
    let nodes: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
    // Joins take 600 ms each (three steps of 200 ms): the user event and
    // the crash come after the last.
    let after = n as u64 + 60;
    let sc = format!(
        "site = \"site.toml\"\nduration = \"200ms\"\n[[at]]\ntime = \"0s\"\nstart = [{}]\n[[at]]\ntime = \"{after}s\"\nraise = {{ event = \"UE_PGMRWHO_DOWN\", location = 3 }}\n[[at]]\ntime = \"{}s\"\ncrash = 2\n",
        nodes.join(", "),
        after + 100
    );
    let p = site.join("big.toml");
    std::fs::write(&p, sc).unwrap();
    p
}

/// Runs `hacmp sim` on it: seconds and peak RSS in MiB.
fn run(scenario: &Path) -> (f64, f64) {
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_hacmp"))
        .arg("sim")
        .arg(scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "hacmp sim {}: {st}", scenario.display());
    // (Reaped here: `child` is dropped without a wait.)
    drop(child);
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let mut sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![100, 1000];
    }
    // The user event is raised at node 3 and node 2 crashes.
    sizes.retain(|n| {
        let ok = *n >= 3;
        if !ok {
            eprintln!("{n} nodes: too few (the scenario needs nodes 2 and 3); skipped");
        }
        ok
    });
    let dir = tempfile::tempdir().unwrap();
    println!("hacmp sim: N nodes started at once, a user event, a crash (one run each)");
    println!(
        "{:>6} {:>12} {:>8} {:>12} {:>20}",
        "nodes", "node-events", "s", "peak MiB", "µs per node-event"
    );
    let mut rows = Vec::new();
    for n in sizes {
        let sc = scenario(dir.path(), n);
        let (secs, mib) = run(&sc);
        // Join k runs on k nodes; the user event on n, the node-down on
        // the n - 1 left.
        let node_events = (n as u64 * (n as u64 + 1)) / 2 + 2 * n as u64 - 1;
        let per = secs * 1e6 / node_events as f64;
        println!("{n:>6} {node_events:>12} {secs:>8.2} {mib:>12.0} {per:>20.1}");
        rows.push((n, secs, mib, per));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if first.0 != last.0 {
            println!(
                "µs per node-event at {} nodes ÷ at {}: {:.2}",
                last.0,
                first.0,
                last.3 / first.3
            );
        }
    }
    if let Some(r) = rows.iter().find(|r| r.0 == 1000) {
        println!(
            "1000 nodes: {:.2}x of the 10 s target, {:.2}x of the 1 GiB target",
            r.1 / 10.0,
            r.2 / 1024.0
        );
    }
}
