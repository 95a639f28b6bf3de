//! `hacmp explain CODE`: what a diagnostic code means, with a wrong and a
//! right example, and the diagnostic the wrong one gets.

use clap::Args;
use hacmp_compiler::{explain, lint_texts, render, Code, LintOptions};

use crate::exit;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A code such as R002 or P004; `list` lists them all.
    pub code: String,
}

/// The text printed for a code.
pub fn text(code: Code) -> String {
    let e = explain(code);
    let mut s = format!(
        "{code} ({}): {}\n\n",
        code.severity().as_str(),
        code.title()
    );
    s.push_str(&wrap(e.text, 78));
    s.push_str("\n\nWrong (");
    s.push_str(e.wrong.0);
    s.push_str("):\n");
    s.push_str(&indent(e.wrong.1));
    // Codes about file contents show what the linter says of the example.
    if !matches!(
        code,
        Code::R005 | Code::P007 | Code::P008 | Code::F001 | Code::F002 | Code::N001
    ) {
        let opts = LintOptions {
            fs_checks: false,
            ..LintOptions::default()
        };
        let l = lint_texts(&[(e.wrong.0, e.wrong.1.as_bytes())], &opts);
        let shown: Vec<_> = l
            .diagnostics
            .iter()
            .filter(|d| d.code == code)
            .cloned()
            .collect();
        if !shown.is_empty() {
            s.push_str("\nThe linter says:\n");
            s.push_str(&indent(
                &render::human(&l.sources, &shown, false)
                    .lines()
                    .filter(|l| !l.contains(" in 1 file"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
    }
    s.push_str("\nRight (");
    s.push_str(e.right.0);
    s.push_str("):\n");
    s.push_str(&indent(e.right.1));
    s
}

fn indent(t: &str) -> String {
    let mut out = String::new();
    for l in t.lines() {
        out.push_str("    ");
        out.push_str(l);
        out.push('\n');
    }
    if t.ends_with("\n\n") || t.is_empty() {
        out.push_str("    \n");
    }
    out
}

fn wrap(t: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for w in t.split_whitespace() {
        if line + w.len() + 1 > width && line > 0 {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(w);
        line += w.len();
    }
    out
}

pub fn run(args: &ExplainArgs) -> u8 {
    if args.code.eq_ignore_ascii_case("list") {
        for c in Code::ALL {
            println!("{c}  {:<7}  {}", c.severity().as_str(), c.title());
        }
        return exit::OK;
    }
    match args.code.parse::<Code>() {
        Ok(c) => {
            print!("{}", text(c));
            exit::OK
        }
        Err(()) => {
            eprintln!(
                "error: unknown code `{}`; `hacmp explain list` lists them",
                args.code
            );
            exit::USAGE
        }
    }
}
