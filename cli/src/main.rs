use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hacmp_cli::{
    actions, compile, deploy, em, explain, faults, history, init, key, lint, nodes, ops, run, sim,
    trace,
};

/// Cluster manager tools: check, compile and run the rules and recovery
/// programs of a cluster.
#[derive(Parser, Debug)]
#[command(name = "hacmp", version, after_help = hacmp_cli::exit::TABLE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check rules files and recovery programs (same as `hacmp-lint`).
    Lint(lint::LintCmd),
    /// Write the checked IR bundle of a site (refuses on errors).
    Compile(compile::CompileArgs),
    /// Explain a diagnostic code, with a wrong and a right example.
    Explain(explain::ExplainArgs),
    /// Write a starter site that lints clean.
    Init(init::InitArgs),
    /// Simulate a whole cluster in one process from a scenario.
    Sim(sim::SimArgs),
    /// Run one event for real on this machine, as a one-node cluster.
    Run(run::RunArgs),
    /// Unit tests for rules: observation series, expected events and arm states.
    Test(em::TestArgs),
    /// Sample this machine once and show what every rule would do now.
    Plan(em::PlanArgs),
    /// Feed an observation of a resource variable to the running daemons.
    Observe(em::ObserveArgs),
    /// Show a running cluster: nodes, the current event, who waits where, the queue.
    Status(ops::StatusArgs),
    /// Resume an event stopped by a failed command.
    Resume(ops::ResumeArgs),
    /// Raise an event in a running cluster.
    Raise(ops::RaiseArgs),
    /// Move a resource group to another node (TE_RG_MOVE), and say where it ended.
    Move(actions::MoveArgs),
    /// Take a resource group offline until `hacmp online` (kept through failures and restarts).
    Offline(actions::IntentArgs),
    /// Bring a resource group taken offline back where its policy puts it.
    Online(actions::IntentArgs),
    /// Try a resource group's steps again on the node where it is in error.
    Cleanup(actions::CleanupArgs),
    /// Maintenance on|off [GROUP]: nothing starts, stops, moves or monitors the groups while on.
    Maintenance(actions::MaintenanceArgs),
    /// Stop a node from any node (graceful, takeover or forced): its daemon stays up until `hacmp start`.
    Stop(nodes::StopArgs),
    /// Bring a node stopped by `hacmp stop` back into the cluster (a node-up).
    Start(nodes::StartArgs),
    /// Change the site of a running cluster (DARE): show what changes, then switch every member.
    Deploy(deploy::DeployArgs),
    /// Signing keys for deploys: `hacmp key new NAME`.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// The bundle a running cluster keeps: `hacmp bundle fetch --output FILE`.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Play seeded fault schedules against the group protocol and check its invariants.
    Faults(faults::FaultsArgs),
    /// The cluster's events from the nodes' journals, newest first, as a table.
    History(history::HistoryArgs),
    /// Read daemons' journals: `hacmp journal trace STATE_DIR...`.
    Journal(trace::JournalArgs),
    /// Print shell completions for `hacmp` or another binary (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
        /// The binary: hacmp, hacmpd, hacmp-lint or hacmp-httpd.
        #[arg(long, default_value = "hacmp")]
        bin: String,
    },
    /// Write the manual pages of every binary and command (roff) into a directory.
    Man {
        /// Where to write `hacmp.1`, `hacmp-lint.1`, …
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum BundleCommand {
    /// Write the bundle a running cluster runs (to start a node with it).
    Fetch(deploy::FetchArgs),
}

/// Completions of one binary.
fn completions(shell: clap_complete::Shell, bin: &str) -> u8 {
    use clap::CommandFactory;
    let mut all = vec![Cli::command()];
    all.extend(hacmp_cli::bins::others().into_iter().map(|(c, _)| c));
    let Some(mut cmd) = all.into_iter().find(|c| c.get_name() == bin) else {
        eprintln!("error: no binary `{bin}` (hacmp, hacmpd, hacmp-lint, hacmp-httpd)");
        return hacmp_cli::exit::USAGE;
    };
    // Into a buffer: a closed pipe must not panic the generator.
    let mut buf = Vec::new();
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    hacmp_cli::print_out(&String::from_utf8_lossy(&buf));
    hacmp_cli::exit::OK
}

/// Writes `hacmp.1` and one page per command.
fn man(out: &std::path::Path) -> u8 {
    use clap::CommandFactory;
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create `{}`: {e}", out.display());
        return hacmp_cli::exit::USAGE;
    }
    let cmd = Cli::command();
    let mut pages = vec![("hacmp".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("hacmp-{}", sub.get_name());
        // clap names are 'static; this runs once, for a handful of pages.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        pages.push((name, sub.clone().name(static_name)));
    }
    let mut pages: Vec<(String, clap::Command, &str)> =
        pages.into_iter().map(|(n, c)| (n, c, "1")).collect();
    // The other binaries' own pages (`hacmp-lint`'s is the `lint` command's).
    for (c, section) in hacmp_cli::bins::others() {
        pages.push((c.get_name().to_string(), c, section));
    }
    for (name, c, section) in pages {
        let mut buf = Vec::new();
        let path = out.join(format!("{name}.{section}"));
        let written = clap_mangen::Man::new(c)
            .section(section)
            .render(&mut buf)
            .and_then(|()| hacmp_compiler::input::write(&path, &buf));
        if let Err(e) = written {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return hacmp_cli::exit::USAGE;
        }
    }
    hacmp_cli::exit::OK
}

fn main() -> ExitCode {
    if let Err(e) = hacmp_cli::config::apply() {
        eprintln!("error: {e}");
        return ExitCode::from(hacmp_cli::exit::USAGE);
    }
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Lint(a) => lint::run_cmd(a),
        Command::Compile(a) => compile::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Init(a) => init::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Run(a) => run::run(a),
        Command::Test(a) => em::test(a),
        Command::Plan(a) => em::plan(a),
        Command::Observe(a) => em::observe(a),
        Command::Status(a) => ops::status(a),
        Command::Deploy(a) => deploy::deploy(a),
        Command::Move(a) => actions::move_group(a),
        Command::Offline(a) => actions::intent(a, true),
        Command::Online(a) => actions::intent(a, false),
        Command::Cleanup(a) => actions::cleanup(a),
        Command::Maintenance(a) => actions::maintenance(a),
        Command::Stop(a) => nodes::stop(a),
        Command::Start(a) => nodes::start(a),
        Command::Bundle(BundleCommand::Fetch(a)) => deploy::fetch(a),
        Command::Key(k) => key::run(k),
        Command::Resume(a) => ops::resume(a),
        Command::Raise(a) => ops::raise(a),
        Command::Faults(a) => faults::run(a),
        Command::Journal(a) => trace::journal(a),
        Command::History(a) => history::run(a),
        Command::Completions { shell, bin } => completions(*shell, bin),
        Command::Man { out } => man(out),
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every argument says what it is for in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for s in c.get_subcommands() {
                if s.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", s.get_name()));
                }
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "hacmp", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
