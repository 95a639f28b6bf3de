use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hacmp_cli::{compile, em, explain, faults, init, lint, ops, run, sim};

/// Cluster manager tools: check, compile and run the rules and recovery
/// programs of a cluster.
#[derive(Parser, Debug)]
#[command(name = "hacmp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check rules files and recovery programs (same as `hacmp-lint`).
    Lint(lint::LintArgs),
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
    /// Play seeded fault schedules against the group protocol and check its invariants.
    Faults(faults::FaultsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Lint(a) => lint::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Init(a) => init::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Run(a) => run::run(a),
        Command::Test(a) => em::test(a),
        Command::Plan(a) => em::plan(a),
        Command::Observe(a) => em::observe(a),
        Command::Status(a) => ops::status(a),
        Command::Resume(a) => ops::resume(a),
        Command::Raise(a) => ops::raise(a),
        Command::Faults(a) => faults::run(a),
    };
    ExitCode::from(code)
}
