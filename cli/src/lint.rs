//! `hacmp lint` / `hacmp-lint`: check a site before deploying it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hacmp_compiler::{lint, lint_nodes, render, Lint, LintOptions};

use crate::exit;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug, Clone)]
pub struct LintArgs {
    /// Rules files (each checked with every `.rp` it names), `.rp` files,
    /// or a site file (`*.toml`, with its rules file). With `--site` and no
    /// file, the site's rules file.
    pub files: Vec<PathBuf>,
    /// Resolve the absolute paths inside the files under this staging tree.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Site configuration: event-script definitions, catalog extensions.
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// Skip every file-system check (programs and commands are not read).
    #[arg(long)]
    pub no_fs: bool,
    /// Exit with status 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// human (ariadne, colour on a terminal), json (one object), sarif (SARIF 2.1.0).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// The https address where the site publishes docs/diagnostics.md:
    /// SARIF rules link to each code's anchor there (else `hacmp:explain/CODE`).
    #[arg(long, value_name = "URL", value_parser = docs_url)]
    pub docs_url: Option<String>,
    /// Colour in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    /// The same site staged for several nodes: report every file that
    /// differs between these roots.
    #[arg(long, value_name = "ROOT", num_args = 1.., conflicts_with = "root")]
    pub nodes: Vec<PathBuf>,
}

impl LintArgs {
    pub fn options(&self, compiling: bool) -> LintOptions {
        LintOptions {
            root: self.root.clone(),
            fs_checks: !self.no_fs,
            site: self.site(),
            compiling,
            diagnostics_only: false,
        }
    }

    /// The site file: `--site`, or a `*.toml` among the files; with no
    /// file at all, `./site.toml`, else `/etc/hacmp/site.toml`.
    pub fn site(&self) -> Option<PathBuf> {
        self.site.clone().or_else(|| {
            let given = self
                .files
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == "toml"))
                .cloned();
            if given.is_some() || !self.files.is_empty() {
                return given;
            }
            DEFAULT_SITES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
    }

    /// The files to lint: those given, or the site's rules file.
    pub fn inputs(&self) -> Result<Vec<PathBuf>, crate::bundle::LoadError> {
        let files: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|f| f.extension().is_none_or(|e| e != "toml"))
            .cloned()
            .collect();
        if !files.is_empty() {
            return Ok(files);
        }
        let Some(site) = &self.site() else {
            return Err(crate::bundle::LoadError::io(
                "nothing to lint: give a rules file or `.rp` files, or `--site FILE` (no ./site.toml or /etc/hacmp/site.toml here)".into(),
            ));
        };
        crate::bundle::rules_of_site(site).map(|r| vec![r])
    }
}

/// Where a site file is looked for when none is named.
const DEFAULT_SITES: &[&str] = &["site.toml", "/etc/hacmp/site.toml"];

fn docs_url(s: &str) -> Result<String, String> {
    let ok = s.starts_with("https://") || s.starts_with("http://");
    if ok && s.len() > "https://".len() && !s.chars().any(char::is_whitespace) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not an http(s) address (e.g. https://git.example.com/hacmp/blob/main/docs/diagnostics.md)"
        ))
    }
}

/// Prints a lint in the chosen format.
pub fn print(l: &Lint, args: &LintArgs) {
    print_diagnostics(&l.sources, &l.diagnostics, args);
}

/// Prints diagnostics in the chosen format.
fn print_diagnostics(
    sources: &hacmp_compiler::source::SourceMap,
    diagnostics: &[hacmp_compiler::Diagnostic],
    args: &LintArgs,
) {
    let (format, color) = (args.format, args.color);
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => crate::colour(std::io::stdout().is_terminal()),
    };
    let text = match format {
        Format::Human => render::human(sources, diagnostics, color),
        Format::Json => render::json(sources, diagnostics),
        Format::Sarif => render::sarif(sources, diagnostics, args.docs_url.as_deref()),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub fn run(args: &LintArgs) -> u8 {
    let inputs = match args.inputs() {
        Ok(i) => i,
        Err(e) => {
            // A site file that is not TOML is a finding like any other: in
            // JSON or SARIF when asked, so a pipeline sees it.
            match (&e.located, args.format) {
                (Some(l), Format::Json | Format::Sarif) => print_diagnostics(&l.0, &l.1, args),
                _ => eprintln!("error: {e}"),
            }
            return e.code;
        }
    };
    let opts = LintOptions {
        diagnostics_only: true,
        ..args.options(false)
    };
    let result = if args.nodes.is_empty() {
        lint(&inputs, &opts)
    } else {
        lint_nodes(&inputs, &args.nodes, &opts)
    };
    let l = match result {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    print(&l, args);
    let s = l.summary();
    if s.errors > 0 || (args.deny_warnings && s.warnings > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// `hacmp lint` and `hacmp-lint`: the checks, and optionally what the site
/// changes from a running cluster's bundle.
#[derive(Args, Debug)]
pub struct LintCmd {
    #[command(flatten)]
    pub lint: LintArgs,
    /// Compare the site with this bundle (the running cluster's, from
    /// `hacmp bundle fetch`): what changes, and which groups would move
    /// with every node of the running site up.
    #[arg(long, value_name = "BUNDLE")]
    pub against: Option<PathBuf>,
}

pub fn run_cmd(c: &LintCmd) -> u8 {
    let code = run(&c.lint);
    let Some(against) = &c.against else {
        return code;
    };
    if code != exit::OK {
        return code;
    }
    let Some(site) = c.lint.site().or_else(|| {
        c.lint
            .files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "toml"))
            .cloned()
    }) else {
        eprintln!("error: --against compares a site: give the site file");
        return exit::USAGE;
    };
    let load = |p: &std::path::Path| crate::bundle::load(p, None, c.lint.root.as_deref());
    let (new, old) = match (load(&site), load(against)) {
        (Ok(n), Ok(o)) => (n.bundle, o.bundle),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return e.code;
        }
    };
    crate::print_out(&against_report(&old, &new));
    exit::OK
}

/// What `new` changes from `old`, and the groups that move with every node
/// of `old` up and its groups where `old` puts them at start.
pub fn against_report(old: &hacmp_compiler::Bundle, new: &hacmp_compiler::Bundle) -> String {
    use hacmp_node::resources::{place, MembershipChange, Placement};
    let mut out = format!(
        "against bundle {} (this site is bundle {}):\n",
        &old.hash[..12.min(old.hash.len())],
        &new.hash[..12.min(new.hash.len())]
    );
    let changes = hacmp_compiler::diff::diff(old, new);
    if changes.is_empty() {
        out.push_str("  nothing changes\n");
    }
    for d in &changes {
        out.push_str(&format!("  {d}\n"));
    }
    // Where the running site puts its groups with all its nodes joined in
    // order.
    let mut live = std::collections::BTreeSet::new();
    let mut p = Placement::default();
    for n in old.site.nodes.iter().map(|n| n.number) {
        live.insert(n);
        p = place(
            &old.site.resources,
            &p,
            &live,
            MembershipChange::Join(n),
            None,
        );
    }
    let moved = crate::deploy::moves(new, &p, &live);
    if moved.is_empty() {
        out.push_str("groups: none moves (every node of the running site up)\n");
    } else {
        out.push_str("groups that move (every node of the running site up):\n");
        for m in moved {
            out.push_str(&format!("  {m}\n"));
        }
    }
    out
}
