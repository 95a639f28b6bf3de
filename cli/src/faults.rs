//! `hacmp faults`: the deterministic fault simulation of the group
//! protocol, over many seeds or one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use hacmp_sim::faultsim::{self, Schedule};

use crate::exit;

#[derive(Args, Debug)]
pub struct FaultsArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Replay one seed: its schedule, what happened, what broke.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Report failing seeds without minimising their schedules.
    #[arg(long)]
    pub no_minimize: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// With `--seed`: the nodes' log too (`-v` info, `-vv` debug), in
    /// simulated time.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

pub fn run(args: &FaultsArgs) -> u8 {
    if let Some(seed) = args.seed {
        if args.verbose > 0 {
            crate::bundle::init_logging(args.verbose, false, false);
        }
        let s = Schedule::generate(seed);
        // Written at once at the end: `| head` must not panic on a closed
        // pipe.
        let mut out = s.describe();
        let r = faultsim::run(&s);
        for l in &r.trace {
            out.push_str(&format!("  {l}\n"));
        }
        if r.violations.is_empty() {
            out.push_str(&format!(
                "seed {seed}: {} events; every invariant held\n",
                r.events
            ));
            crate::print_out(&out);
            return exit::OK;
        }
        for v in &r.violations {
            out.push_str(&format!("VIOLATION {v}\n"));
        }
        crate::print_out(&out);
        return exit::FINDINGS;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let next = AtomicU64::new(args.from);
    let end = args.from + args.seeds;
    let events = AtomicU64::new(0);
    let resource_failures = AtomicU64::new(0);
    let failed: Mutex<Vec<(u64, Vec<String>)>> = Mutex::new(Vec::new());
    let t = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1) {
            sc.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                let r = faultsim::run(&Schedule::generate(seed));
                events.fetch_add(r.events as u64, Ordering::Relaxed);
                resource_failures.fetch_add(r.resource_failures as u64, Ordering::Relaxed);
                if !r.violations.is_empty() {
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((seed, r.violations));
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort();
    let mut out = format!(
        "{} seeds ({}..{}) in {secs:.1} s: {:.0} seeds/s, {} events ({} failed resource steps, each an unexpected status), {} failing",
        args.seeds,
        args.from,
        end - 1,
        args.seeds as f64 / secs.max(1e-9),
        events.load(Ordering::Relaxed),
        resource_failures.load(Ordering::Relaxed),
        failed.len()
    );
    out.push('\n');
    for (seed, violations) in &failed {
        out.push_str(&format!("\nseed {seed}:\n"));
        for v in violations {
            out.push_str(&format!("  {v}\n"));
        }
        if !args.no_minimize {
            let m = faultsim::minimize(&Schedule::generate(*seed));
            out.push_str("  minimised schedule:\n");
            for l in m.describe().lines() {
                out.push_str(&format!("    {l}\n"));
            }
        }
        out.push_str(&format!("  replay: hacmp faults --seed {seed}\n"));
    }
    crate::print_out(&out);
    if failed.is_empty() {
        exit::OK
    } else {
        exit::FINDINGS
    }
}
