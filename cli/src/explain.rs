//! `hacmp explain CODE`: what a diagnostic code means, with a wrong and a
//! right example, and the diagnostic the wrong one gets.

use clap::Args;
use hacmp_compiler::{explain, lint_texts, render, Code, LintOptions};

use crate::exit;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A code such as R002 or P004; `list` lists them all; `all` explains
    /// them all.
    pub code: String,
    /// Markdown, one section per code with its anchor (how
    /// docs/diagnostics.md is made: `hacmp explain all --markdown`).
    #[arg(long)]
    pub markdown: bool,
}

/// The diagnostics page: every code under a heading of its own (anchor
/// `#r016`), which SARIF's `helpUri` points at with `--docs-url`.
pub fn page() -> String {
    let mut s = String::from(
        "# Diagnostic codes\n\n\
         Every code `hacmp lint` reports, with a wrong and a right example. \
         Made by `hacmp explain all --markdown` (a test keeps it current); \
         `hacmp explain CODE` prints one section. With `--docs-url` set to \
         where a site publishes this page, SARIF rules link to each code's \
         section.\n\n",
    );
    for c in Code::ALL {
        s.push_str(&format!(
            "- [{c}](#{}) ({}): {}\n",
            c.as_str().to_ascii_lowercase(),
            c.severity().as_str(),
            c.title()
        ));
    }
    for c in Code::ALL {
        s.push('\n');
        s.push_str(&markdown(*c));
    }
    s
}

/// One code's section of the page.
pub fn markdown(code: Code) -> String {
    let full = text(code);
    let examples: String = full
        .find("Wrong (")
        .map_or("", |i| &full[i..])
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    format!(
        "## {code}\n\n**{}** ({})\n\n{}\n\n```text\n{}```\n",
        code.title(),
        code.severity().as_str(),
        wrap(explain(code).text, 78),
        examples
    )
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
    if args.code.eq_ignore_ascii_case("all") {
        if args.markdown {
            print!("{}", page());
        } else {
            for c in Code::ALL {
                println!("{}", text(*c));
            }
        }
        return exit::OK;
    }
    if args.code.eq_ignore_ascii_case("list") {
        for c in Code::ALL {
            println!("{c}  {:<7}  {}", c.severity().as_str(), c.title());
        }
        return exit::OK;
    }
    match args.code.parse::<Code>() {
        Ok(c) => {
            if args.markdown {
                print!("{}", markdown(c));
            } else {
                print!("{}", text(c));
            }
            exit::OK
        }
        Err(()) => {
            let names: Vec<String> = Code::ALL.iter().map(|c| c.to_string()).collect();
            let upper = args.code.to_ascii_uppercase();
            let near = hacmp_compiler::suggest(&upper, names.iter().map(String::as_str))
                .map(|s| format!(": did you mean `{s}`?"))
                .unwrap_or_default();
            eprintln!(
                "error: unknown code `{}`{near} (`hacmp explain list` lists them)",
                args.code
            );
            exit::USAGE
        }
    }
}
