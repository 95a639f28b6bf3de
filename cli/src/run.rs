//! `hacmp run RULES --event NAME --location N`: one event for real on this
//! machine, as a one-node cluster, with live progress and the journal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hacmp_gs::Decision;
use hacmp_model::{EventRequest, Outcome};
use hacmp_node::exec::real::RealExecutor;
use hacmp_node::journal::{Journal, RecordKind};
use hacmp_sim::cluster::Cluster;
use tokio::signal::unix::{signal, SignalKind};

use crate::bundle::{init_logging, load};
use crate::exit;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A rules file, a site file (`*.toml`) or a compiled bundle (`*.json`).
    pub site: PathBuf,
    /// The event to run, as the rules name it.
    #[arg(long)]
    pub event: String,
    /// The event's node; this machine plays that node.
    #[arg(long)]
    pub location: u32,
    /// The event's state qualifier (a rule handles one name and state).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub state: i64,
    /// Site configuration, when SITE is a rules file.
    #[arg(long, value_name = "FILE")]
    pub site_file: Option<PathBuf>,
    /// Staging root of the absolute paths.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Where the journal goes.
    #[arg(long, value_name = "DIR", default_value = "hacmp-state")]
    pub state_dir: PathBuf,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

pub fn run(args: &RunArgs) -> u8 {
    init_logging(args.verbose.max(1), false, true);
    let loaded = match load(&args.site, args.site_file.as_deref(), args.root.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return e.code;
        }
    };
    let b = &loaded.bundle;
    let named = hacmp_sim::names::event(b, &args.event, args.state).and_then(|()| {
        if b.site.nodes.is_empty() {
            Ok(())
        } else {
            hacmp_sim::names::node(b, args.location)
        }
    });
    if let Err(e) = named {
        eprintln!("error: {e}");
        return exit::USAGE;
    }
    let journal = match Journal::in_dir(&args.state_dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!(
                "error: cannot write the journal into `{}`: {e}",
                args.state_dir.display()
            );
            return exit::USAGE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let grace = loaded.bundle.site.defaults.kill_grace.0;
    let outcome = rt.block_on(async {
        let exec = Arc::new(RealExecutor::new());
        let mut c = Cluster::new(
            Arc::new(loaded.bundle),
            exec.clone(),
            journal.clone(),
            loaded.root.clone(),
            Duration::ZERO,
        );
        c.remind_after(Duration::from_secs(30));
        if let Err(e) = c.start_member(args.location).await {
            eprintln!("error: {e}");
            return None;
        }
        let mut feed = journal.subscribe();
        let req = EventRequest {
            name: args.event.clone(),
            state: args.state,
            location: args.location,
            kind: hacmp_model::EventKind::User,
            em: None,
        };
        if let Err(e) = c.raise(req).await {
            eprintln!("error: {e}");
            return None;
        }
        let op = c.operator();
        let progress = tokio::spawn(async move {
            while let Ok(f) = feed.recv().await {
                let r = &f.record;
                let line = match r.kind {
                    RecordKind::CommandStart => format!(
                        "▶ {} ({}, group {})",
                        r.command.as_deref().unwrap_or(""),
                        r.nodeset.as_deref().unwrap_or(""),
                        r.group.unwrap_or(0)
                    ),
                    RecordKind::CommandEnd => format!(
                        "{} {} → {}",
                        if r.ok == Some(false) { "✗" } else { "■" },
                        r.command.as_deref().unwrap_or(""),
                        r.detail
                            .clone()
                            .unwrap_or_else(|| format!("exit {}", r.status.unwrap_or(0)))
                    ),
                    RecordKind::BarrierDone | RecordKind::CbarrierDone => {
                        format!("╪ {} passed", r.detail.as_deref().unwrap_or(""))
                    }
                    RecordKind::Failure => {
                        let line = format!(
                            "✗ {}: {}",
                            r.command.as_deref().unwrap_or(""),
                            r.detail.as_deref().unwrap_or("")
                        );
                        eprintln!("{:>8} ms  {line}", r.t_ms);
                        if r.detail
                            .as_deref()
                            .is_some_and(|d| d.contains("policy wait"))
                        {
                            let d = ask();
                            if let Err(e) = op.resume(f.seq, Some(r.node), d).await {
                                eprintln!("error: {e}");
                            }
                        }
                        continue;
                    }
                    _ => continue,
                };
                eprintln!("{:>8} ms  {line}", r.t_ms);
            }
        });
        // SIGTERM or SIGINT: the commands get TERM, then KILL after the
        // grace period; nothing outlives this command.
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return None;
        };
        let interrupted = tokio::select! {
            _ = c.wait_idle() => false,
            _ = term.recv() => true,
            _ = int.recv() => true,
        };
        if interrupted {
            eprintln!("interrupted: stopping the running commands");
            exec.terminate_all(grace).await;
            c.shutdown().await;
            progress.abort();
            return Some(Outcome::Interrupted);
        }
        let ev = journal
            .events()
            .into_iter()
            .rev()
            .find(|e| e.name == args.event);
        c.shutdown().await;
        progress.abort();
        ev.and_then(|e| e.outcome)
    });
    match outcome {
        Some(Outcome::Completed) => {
            eprintln!(
                "event `{}` completed; journal in `{}`",
                args.event,
                args.state_dir.join("journal.jsonl").display()
            );
            exit::OK
        }
        Some(o) => {
            eprintln!(
                "event `{}` {}; journal in `{}`",
                args.event,
                o.as_str(),
                args.state_dir.join("journal.jsonl").display()
            );
            exit::FINDINGS
        }
        None => exit::USAGE,
    }
}

/// Asks the operator at the terminal; without one, skips the rest.
fn ask() -> Decision {
    if !std::io::stdin().is_terminal() {
        eprintln!("no terminal to ask: skipping the rest of the event");
        return Decision::Skip;
    }
    loop {
        eprint!("resume how? [c]ontinue as if it succeeded, [r]erun, [s]kip the rest: ");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
            return Decision::Skip;
        }
        match line.trim() {
            "c" | "continue" => return Decision::Continue,
            "r" | "rerun" => return Decision::Rerun,
            "s" | "skip" => return Decision::Skip,
            _ => {}
        }
    }
}
