//! `hacmp sim SCENARIO.toml`: a whole cluster in one process.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hacmp_model::event::NodeId;
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::exec::sim::SimExecutor;
use hacmp_node::exec::Executor;
use hacmp_node::journal::{EventEntry, Journal};
use hacmp_sim::cluster::Cluster;
use hacmp_sim::scenario::{self, Ending, Scenario};

use crate::bundle::{init_logging, load};
use crate::exit;
use crate::timeline::Digest;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SimFormat {
    Human,
    Json,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// The scenario (TOML): the site, a timeline of happenings, overrides.
    pub scenario: PathBuf,
    /// Run the commands for real (in real time) instead of simulating them.
    #[arg(long)]
    pub real: bool,
    /// human (a timeline, one column per node) or json (every event and record).
    #[arg(long, value_enum, default_value = "human")]
    pub format: SimFormat,
    /// Also draw the run as a swimlane picture.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Fit the timeline to this many columns (default: the terminal's; in
    /// a file or pipe, columns of 24 characters).
    #[arg(long, value_name = "COLUMNS")]
    pub width: Option<usize>,
    /// Write the timeline as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Chrome trace-event file (Perfetto, chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write the journal (JSON lines) into this directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The line of a scenario's happening or override, and what to call it.
fn place(text: &str, at: hacmp_sim::names::Place) -> (usize, String) {
    use hacmp_sim::names::Place;
    let (table, n, what) = match at {
        Place::Happening(i) => ("[[at]]", i, format!("happening {}", i + 1)),
        Place::Override(i) => ("[[override]]", i, format!("override {}", i + 1)),
        Place::Monitor => ("monitor", 0, "monitor".to_string()),
    };
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(table))
        .nth(n)
        .map_or(1, |(i, _)| i + 1);
    (line, what)
}

/// The version of `hacmp sim --format json`'s layout.
pub const SIM_JSON_FORMAT: u32 = 1;

pub fn run(args: &SimArgs) -> u8 {
    init_logging(args.verbose, false, args.real);
    let text = match hacmp_compiler::input::read_text(&args.scenario, hacmp_compiler::input::CONFIG)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", args.scenario.display());
            return exit::USAGE;
        }
    };
    let mut sc = match Scenario::from_toml(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", crate::located::toml(&args.scenario, &text, &e));
            return exit::FINDINGS;
        }
    };
    let invalid = sc.validate();
    if !invalid.is_empty() {
        for (i, e) in &invalid {
            let (line, what) = place(&text, hacmp_sim::names::Place::Happening(*i));
            eprintln!("error: {}:{line}:1: {what}: {e}", args.scenario.display());
        }
        return exit::FINDINGS;
    }
    let source = match sc.source(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}:1:1: {e}", args.scenario.display());
            return exit::FINDINGS;
        }
    };
    let loaded = match load(&source, None, None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return e.code;
        }
    };
    // The sites a scenario deploys, compiled now: a bad one is an error
    // before anything runs.
    let dir = args.scenario.parent().unwrap_or(std::path::Path::new("."));
    for p in sc.timeline.iter().filter_map(|h| h.deploy.clone()) {
        match load(&dir.join(&p), None, None) {
            Ok(l) => {
                sc.deploys.insert(p, Arc::new(l.bundle));
            }
            Err(e) => {
                eprintln!(
                    "error: {}: deploy `{}`: {e}",
                    args.scenario.display(),
                    p.display()
                );
                return e.code;
            }
        }
    }
    let wrong = hacmp_sim::names::scenario(&sc, &loaded.bundle);
    if !wrong.is_empty() {
        for (at, e) in &wrong {
            let (line, what) = place(&text, *at);
            eprintln!("error: {}:{line}:1: {what}: {e}", args.scenario.display());
        }
        return exit::FINDINGS;
    }
    let rt = if args.real {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        // Simulated time: deterministic, and as fast as the machine allows.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    // The journal's clock is the runtime's, made inside it: simulated
    // time starts from nothing real (a journal made before the runtime
    // counted the real time between the two, which shifted the whole
    // timeline under load).
    let clock = rt.enter();
    let journal = match &args.state_dir {
        Some(d) => match Journal::in_dir(d) {
            Ok(j) => j.keeping_all(),
            Err(e) => {
                eprintln!(
                    "error: cannot write the journal into `{}`: {e}",
                    d.display()
                );
                return exit::USAGE;
            }
        },
        None => Journal::in_memory(),
    };
    drop(clock);
    // The timeline alone needs each event's digest, not its records: a run
    // of a thousand nodes keeps a few lines per event, not millions of
    // records (the other outputs show every record).
    let digested = (matches!(args.format, SimFormat::Human)
        && args.html.is_none()
        && args.trace.is_none()
        && args.svg.is_none())
    .then(|| {
        let d = Arc::new(std::sync::Mutex::new(Digested::default()));
        let to = d.clone();
        let real = args.real;
        journal.hand_over(move |mut e| {
            if !real {
                simulated_only(&mut e);
            }
            to.lock().unwrap_or_else(|p| p.into_inner()).add(e);
        });
        d
    });
    // The site's settle interval, unless the scenario says otherwise: joins
    // started together run in node order, as on the real cluster.
    let settle = sc.settle.unwrap_or(loaded.bundle.site.cluster.settle).0;
    let (ending, happened, events) = rt.block_on(async {
        let exec: Arc<dyn Executor> = if args.real {
            Arc::new(RealExecutor::new())
        } else {
            Arc::new(SimExecutor::new(
                sc.overrides.clone(),
                sc.duration.map_or(Duration::from_millis(100), |d| d.0),
            ))
        };
        let root = if args.real { loaded.root.clone() } else { None };
        let mut cluster =
            Cluster::new(Arc::new(loaded.bundle), exec, journal.clone(), root, settle);
        let (ending, happened) = scenario::run(&mut cluster, &sc, args.real).await;
        let mut events = journal.take_events();
        let mut open = journal.open_events();
        cluster.shutdown().await;
        if !args.real {
            for e in events.iter_mut().chain(&mut open) {
                simulated_only(e);
            }
        }
        if let Some(d) = &digested {
            let mut d = d.lock().unwrap_or_else(|p| p.into_inner());
            d.sort();
            for e in open {
                d.add(e);
            }
        } else {
            events.extend(open);
        }
        (ending, happened, events)
    });
    match args.format {
        SimFormat::Human => {
            let style = crate::timeline::Style::for_stdout(args.width);
            let text = match &digested {
                Some(d) => {
                    let d = d.lock().unwrap_or_else(|p| p.into_inner());
                    let after =
                        hacmp_node::resources::view::after_events_seen(&d.skeletons, &d.seen);
                    crate::timeline::render_digests(&d.digests, &after, &happened, style)
                }
                None => crate::timeline::render_with(&events, &happened, style),
            };
            crate::print_out(&text);
        }
        SimFormat::Json => {
            // Each event with its groups as it left them (state and node).
            let after = hacmp_node::resources::view::after_events(&events);
            let mut evs = serde_json::to_value(&events).unwrap_or_default();
            if let Some(list) = evs.as_array_mut() {
                for (v, e) in list.iter_mut().zip(&events) {
                    if let (Some(g), Some(o)) = (after.get(&e.seq), v.as_object_mut()) {
                        o.insert("groups".into(), serde_json::json!(g));
                    }
                }
            }
            let v = serde_json::json!({
                "format": SIM_JSON_FORMAT,
                "simulated": !args.real,
                "events": evs,
                "happenings": happened.iter().map(|(t, n, w)| serde_json::json!({"t_ms": t, "node": n, "what": w})).collect::<Vec<_>>(),
                "ending": match &ending { Ending::Idle => "idle", Ending::Stuck(_) => "stuck" },
            });
            crate::print_out(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
        }
    }
    if let Some(p) = &args.html {
        let title = format!("hacmp sim {}", args.scenario.display());
        if let Err(e) = hacmp_compiler::input::write(
            p,
            crate::html::render(&title, &events, &happened).as_bytes(),
        ) {
            eprintln!("error: cannot write `{}`: {e}", p.display());
            return exit::USAGE;
        }
    }
    if let Some(p) = &args.trace {
        let clock = crate::trace::Clock::Journal;
        if let Err(e) = hacmp_compiler::input::write(
            p,
            crate::trace::render(&events, &happened, clock).as_bytes(),
        ) {
            eprintln!("error: cannot write `{}`: {e}", p.display());
            return exit::USAGE;
        }
    }
    if let Some(p) = &args.svg {
        if let Err(e) =
            hacmp_compiler::input::write(p, crate::svg::render(&events, &happened).as_bytes())
        {
            eprintln!("error: cannot write `{}`: {e}", p.display());
            return exit::USAGE;
        }
    }
    match ending {
        Ending::Idle => exit::OK,
        Ending::Stuck(report) => {
            eprintln!("the cluster did not settle:\n{report}");
            exit::FINDINGS
        }
    }
}

/// Simulated time only: the same scenario gives the same bytes. Nodes
/// that act at the same simulated instant are listed in node order (each
/// node's own records keep their order).
fn simulated_only(e: &mut EventEntry) {
    e.records.sort_by_key(|r| (r.t_ms, r.node));
    e.queued_at.clear();
    for r in &mut e.records {
        r.wall_ms = 0;
        r.mono_us = 0;
    }
}

/// The ended events of a run whose only output is the timeline: their
/// digests, and what the groups line needs.
#[derive(Default)]
struct Digested {
    digests: Vec<Digest>,
    /// Each event with its resource records only.
    skeletons: Vec<EventEntry>,
    /// Every node with a record in any event.
    seen: BTreeSet<NodeId>,
    seqs: BTreeSet<u64>,
}

impl Digested {
    fn add(&mut self, mut e: EventEntry) {
        // An event that ended after the open ones were listed (`--real`:
        // the journal's closer runs on another thread) is drawn as ended.
        if !self.seqs.insert(e.seq) {
            return;
        }
        self.seen.extend(e.records.iter().map(|r| r.node));
        self.digests.push(Digest::of(&e));
        // The groups line reads the groups' own transitions only.
        e.records.retain(|r| r.is_group_change());
        e.records.shrink_to_fit();
        self.skeletons.push(e);
    }

    /// In order, as the journal gives its ended events.
    fn sort(&mut self) {
        self.digests.sort_by_key(|d| d.seq);
        self.skeletons.sort_by_key(|e| e.seq);
    }
}
