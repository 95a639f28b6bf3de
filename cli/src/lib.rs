//! The command-line front ends. Each subcommand is a module with an `Args`
//! struct and a `run` function returning the exit status.

pub mod bundle;
pub mod compile;
pub mod daemon;
pub mod em;
pub mod explain;
pub mod faults;
pub mod init;
pub mod lint;
pub mod ops;
pub mod run;
pub mod sim;
pub mod svg;
pub mod timeline;

/// Exit statuses shared by every command.
pub mod exit {
    /// Nothing wrong.
    pub const OK: u8 = 0;
    /// The input has errors (or warnings under `--deny-warnings`).
    pub const FINDINGS: u8 = 1;
    /// Usage or I/O problem.
    pub const USAGE: u8 = 2;
}

/// Writes to standard output; a pipe closed early (`hacmp sim … | head`)
/// ends the output quietly instead of a panic.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
