//! `hacmp compile`: write the checked IR bundle of a site.

use std::path::PathBuf;

use clap::Args;
use hacmp_compiler::lint;

use crate::exit;
use crate::lint::{print, LintArgs};

#[derive(Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub lint: LintArgs,
    /// Where to write the bundle (JSON).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub sign: crate::key::SignArgs,
}

pub fn run(args: &CompileArgs) -> u8 {
    if args.lint.no_fs {
        eprintln!(
            "error: a bundle needs the recovery programs: `--no-fs` cannot be used with `compile`"
        );
        return exit::USAGE;
    }
    let inputs = match args.lint.inputs() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return e.code;
        }
    };
    let mut l = match lint(&inputs, &args.lint.options(true)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let Some(mut bundle) = l.take_bundle() else {
        print(&l, &args.lint);
        eprintln!(
            "error: not writing `{}`: the site has errors",
            args.output.display()
        );
        return exit::FINDINGS;
    };
    if !l.diagnostics.is_empty() {
        print(&l, &args.lint);
    }
    let signed = match args.sign.sign(&mut bundle) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: not writing `{}`: {e}", args.output.display());
            return exit::USAGE;
        }
    };
    // Compact: a bundle stays near the size of its sources.
    let mut json = match serde_json::to_vec(&bundle) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: cannot serialise the bundle: {e}");
            return exit::USAGE;
        }
    };
    json.push(b'\n');
    if let Err(e) = hacmp_compiler::input::write(&args.output, &json) {
        eprintln!("error: cannot write `{}`: {e}", args.output.display());
        return exit::USAGE;
    }
    eprintln!(
        "wrote `{}`: {} rules, {} programs, hash {}{}",
        args.output.display(),
        bundle.rules.len(),
        bundle.programs.len(),
        &bundle.hash[..16],
        signed.map_or_else(|| ", not signed".to_string(), |s| format!(", {s}"))
    );
    exit::OK
}
