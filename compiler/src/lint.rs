//! The lint stage: read a site's files, check everything, keep what checked
//! into IR. `compile` is lint plus the refusal to build on errors.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hacmp_grammar::span::Span;
use hacmp_grammar::{parse_rp, parse_rules};

use crate::check_rp::check_rp;
use crate::check_rules::RulesCheck;
use crate::code::{Code, Severity};
use crate::diagnostic::{Diagnostic, Summary};
use crate::fscheck::{check_command, resolve, safety, Problem};
use crate::ir::{sha256_hex, Bundle, Command, Program, Rule};
use crate::site::{parse_site, Site};
use crate::source::{FileId, SourceMap};

#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Staging root for the absolute paths inside the files.
    pub root: Option<PathBuf>,
    /// Read the programs and commands the rules name, and check them.
    pub fs_checks: bool,
    /// Site configuration file.
    pub site: Option<PathBuf>,
    /// Building a bundle: what it cannot do without is an error.
    pub compiling: bool,
}

impl LintOptions {
    pub fn new() -> Self {
        LintOptions {
            fs_checks: true,
            ..LintOptions::default()
        }
    }
}

/// A problem that stops the lint before it starts (exit status 2).
#[derive(Debug)]
pub struct InputError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for InputError {}

/// Everything a lint found and built.
#[derive(Debug, Default)]
pub struct Lint {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub site: Site,
    pub rules: Vec<Rule>,
    pub programs: BTreeMap<String, Program>,
    /// SHA-256 of each file read, by its path in the site.
    pub hashes: BTreeMap<String, String>,
    /// Every rule and program was lowered to IR.
    pub complete: bool,
}

impl Lint {
    pub fn summary(&self) -> Summary {
        Summary::of(&self.diagnostics, self.sources.len())
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The bundle, when there are no errors.
    pub fn bundle(&self) -> Option<Bundle> {
        if self.has_errors() || !self.complete {
            return None;
        }
        Some(Bundle::new(
            self.site.clone(),
            self.rules.clone(),
            self.programs.clone(),
            self.hashes.clone(),
        ))
    }

    /// Diagnostics in file order, then by position.
    pub fn sort(&mut self) {
        self.diagnostics
            .sort_by(|a, b| (a.file, a.span.start, a.code).cmp(&(b.file, b.span.start, b.code)));
    }
}

struct Linter<'a> {
    opts: &'a LintOptions,
    root: Option<PathBuf>,
    lint: Lint,
    /// Commands already checked on disk, with what was found.
    checked: HashMap<PathBuf, Vec<Problem>>,
}

/// Lints rules files and `.rp` files (told apart by the `.rp` ending).
pub fn lint(inputs: &[PathBuf], opts: &LintOptions) -> Result<Lint, InputError> {
    let mut l = Linter {
        opts,
        root: opts.root.clone(),
        lint: Lint {
            complete: true,
            ..Lint::default()
        },
        checked: HashMap::new(),
    };
    if let Some(site_path) = &opts.site {
        let bytes = read(site_path)?;
        l.load_site(site_path, &bytes);
    }
    for input in inputs {
        let bytes = read(input)?;
        let name = input.display().to_string();
        if input.extension().is_some_and(|e| e == "rp") {
            l.rp(&name, &name, &bytes, None);
        } else {
            l.rules(&name, &bytes);
        }
    }
    l.lint.sort();
    Ok(l.lint)
}

/// Lints texts held in memory (tests, editors): `(name, bytes)` pairs, rules
/// files and `.rp` files told apart by the name.
pub fn lint_texts(inputs: &[(&str, &[u8])], opts: &LintOptions) -> Lint {
    let mut l = Linter {
        opts,
        root: opts.root.clone(),
        lint: Lint {
            complete: true,
            ..Lint::default()
        },
        checked: HashMap::new(),
    };
    for (name, bytes) in inputs {
        if name.ends_with(".rp") {
            l.rp(name, name, bytes, None);
        } else if name.ends_with(".toml") {
            l.load_site(Path::new(name), bytes);
        } else {
            l.rules(name, bytes);
        }
    }
    l.lint.sort();
    l.lint
}

fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|error| InputError {
        path: path.to_path_buf(),
        error,
    })
}

impl Linter<'_> {
    fn load_site(&mut self, path: &Path, bytes: &[u8]) {
        let name = path.display().to_string();
        let Some(file) = self.text_file(&name, bytes) else {
            self.lint.complete = false;
            return;
        };
        match parse_site(&self.lint.sources, file) {
            Ok(mut site) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                if self.root.is_none() {
                    self.root = site.root.as_ref().map(|r| dir.join(r));
                }
                site.root = self.root.clone();
                site.rules_file = site.rules_file.map(|r| dir.join(r));
                self.lint.site = site;
            }
            Err(d) => {
                self.lint.complete = false;
                self.lint.diagnostics.extend(d);
            }
        }
    }

    /// Adds a file to the source map; reports F002 when it is not UTF-8.
    fn text_file(&mut self, name: &str, bytes: &[u8]) -> Option<FileId> {
        match hacmp_grammar::as_text(bytes) {
            Ok(t) => Some(self.lint.sources.add(name, t)),
            Err(e) => {
                let good = String::from_utf8_lossy(&bytes[..e.span.start]).into_owned();
                let id = self.lint.sources.add(name, good);
                self.lint.diagnostics.push(
                    Diagnostic::new(
                        Code::F002,
                        id,
                        Span {
                            end: e.span.start,
                            ..e.span
                        },
                        format!(
                            "`{name}` is not UTF-8 text: byte {} is not valid",
                            e.span.start
                        ),
                    )
                    .label("the text stops being valid UTF-8 here")
                    .help("convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"),
                );
                None
            }
        }
    }

    fn rules(&mut self, name: &str, bytes: &[u8]) {
        self.lint.hashes.insert(name.to_string(), sha256_hex(bytes));
        let Ok(text) = parse_rules(bytes) else {
            self.text_file(name, bytes);
            self.lint.complete = false;
            return;
        };
        let file = self
            .lint
            .sources
            .add(name, String::from_utf8_lossy(bytes).into_owned());
        let catalog = self.lint.site.full_catalog();
        let check = RulesCheck {
            file,
            catalog: &catalog,
            compiling: self.opts.compiling,
        };
        let (rules, diags) = check.check(&text);
        self.lint.diagnostics.extend(diags);
        let mut seen: HashMap<String, ()> = HashMap::new();
        for r in &rules {
            match &r.rule {
                Some(rule) => self.lint.rules.push(rule.clone()),
                None => self.lint.complete = false,
            }
            let Some((path, span)) = &r.program else {
                continue;
            };
            if seen.insert(path.clone(), ()).is_some() || !self.opts.fs_checks {
                if !self.opts.fs_checks {
                    // Without the file system the programs are unknown: a
                    // lint, but no bundle.
                    self.lint.complete = false;
                }
                continue;
            }
            let on_disk = resolve(self.root.as_deref(), path);
            match std::fs::read(&on_disk) {
                Ok(b) => {
                    let display = on_disk.display().to_string();
                    self.rp(path, &display, &b, Some(&on_disk));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.lint.complete = false;
                    let under = self
                        .root
                        .as_ref()
                        .map(|r| format!(" under `{}`", r.display()))
                        .unwrap_or_default();
                    self.lint.diagnostics.push(
                        Diagnostic::new(Code::R005, file, *span, format!("recovery program `{path}` does not exist{under}"))
                            .label("no such file")
                            .help("stage the file, or lint with `--root DIR` (the staging tree) or `--no-fs`"),
                    );
                }
                Err(e) => {
                    self.lint.complete = false;
                    self.lint.diagnostics.push(
                        Diagnostic::new(
                            Code::F001,
                            file,
                            *span,
                            format!("recovery program `{path}` cannot be read: {e}"),
                        )
                        .label("unreadable"),
                    );
                }
            }
        }
    }

    /// `key`: the program's path in the site; `display`: where it was read.
    fn rp(&mut self, key: &str, display: &str, bytes: &[u8], on_disk: Option<&Path>) {
        self.lint.hashes.insert(key.to_string(), sha256_hex(bytes));
        let Some(file) = self.text_file(display, bytes) else {
            self.lint.complete = false;
            return;
        };
        let parsed = parse_rp(bytes).unwrap_or_default();
        let (checked, diags) = check_rp(key, file, &parsed, &self.lint.site.scripts);
        self.lint.diagnostics.extend(diags);
        if !checked.ok {
            self.lint.complete = false;
        }
        if self.opts.fs_checks {
            if let Some(meta) = on_disk.and_then(|p| std::fs::metadata(p).ok()) {
                if let Some(why) = safety(&meta) {
                    let first = parsed
                        .file
                        .statements
                        .first()
                        .map(|s| s.span)
                        .unwrap_or_default();
                    self.lint.diagnostics.push(
                        Diagnostic::new(Code::P008, file, first, format!("recovery program `{key}` {why}"))
                            .label("this program runs as root on every node")
                            .help("make it owned by root and writable only by its owner: `chown root FILE; chmod go-w FILE`"),
                    );
                }
            }
            for (command, span) in &checked.commands {
                self.command_files(file, command, *span);
            }
        }
        self.lint.programs.insert(key.to_string(), checked.program);
    }

    fn command_files(&mut self, file: FileId, command: &Command, span: Span) {
        let mut paths: Vec<(String, String)> = Vec::new();
        match command {
            Command::Exec { argv } => {
                paths.push((argv[0].clone(), format!("command `{}`", argv[0])))
            }
            Command::Script { name } => {
                if let Some(s) = self.lint.site.scripts.get(name) {
                    paths.push((
                        s.path.clone(),
                        format!("event script `{name}` (`{}`)", s.path),
                    ));
                    for (what, c) in [
                        ("notify", &s.notify),
                        ("pre-event", &s.pre),
                        ("post-event", &s.post),
                        ("recovery", &s.recovery),
                    ] {
                        if let Some(first) = c.as_ref().and_then(|c| c.split_whitespace().next()) {
                            paths.push((
                                first.to_string(),
                                format!("{what} command `{first}` of event script `{name}`"),
                            ));
                        }
                    }
                }
            }
        }
        for (path, what) in paths {
            let on_disk = resolve(self.root.as_deref(), &path);
            let problems = match self.checked.get(&on_disk) {
                Some(p) => p.clone(),
                None => {
                    let p = check_command(&on_disk);
                    if let Ok(bytes) = std::fs::read(&on_disk) {
                        self.lint.hashes.insert(path.clone(), sha256_hex(&bytes));
                    }
                    self.checked.insert(on_disk.clone(), p.clone());
                    p
                }
            };
            for p in problems {
                let under = self
                    .root
                    .as_ref()
                    .map(|r| format!(" under `{}`", r.display()))
                    .unwrap_or_default();
                let d = match p {
                    Problem::Missing => Diagnostic::new(Code::P007, file, span, format!("{what} does not exist{under}"))
                        .label("no such file")
                        .help("install it, or lint with `--root DIR` (the staging tree) or `--no-fs`"),
                    Problem::NotAFile => Diagnostic::new(Code::P007, file, span, format!("{what} is not a file")).label("not a file"),
                    Problem::NotExecutable => Diagnostic::new(Code::P007, file, span, format!("{what} is not executable"))
                        .label("not executable")
                        .help("`chmod 755` it"),
                    Problem::Unsafe(why) => Diagnostic::new(Code::P008, file, span, format!("{what} {why}"))
                        .label("runs as root on every node")
                        .help("make it owned by root and writable only by its owner: `chown root FILE; chmod go-w FILE`"),
                    Problem::Unreadable(e) => Diagnostic::new(Code::F001, file, span, format!("{what} cannot be examined: {e}")).label("unreadable"),
                };
                self.lint.diagnostics.push(d);
            }
        }
    }
}

/// `--nodes`: the same site staged under several roots. Lints it as staged
/// for the first root and reports (N001) every file whose content differs
/// between roots or is missing under some.
pub fn lint_nodes(
    inputs: &[PathBuf],
    roots: &[PathBuf],
    opts: &LintOptions,
) -> Result<Lint, InputError> {
    let in_root = |root: &Path, p: &Path| -> PathBuf {
        if p.is_absolute() {
            resolve(Some(root), &p.display().to_string())
        } else {
            root.join(p)
        }
    };
    let mut per_root = Vec::new();
    for root in roots {
        let files: Vec<PathBuf> = inputs.iter().map(|p| in_root(root, p)).collect();
        let o = LintOptions {
            root: Some(root.clone()),
            ..opts.clone()
        };
        per_root.push(lint(&files, &o)?);
    }
    let mut first = per_root.remove(0);
    let lints: Vec<&Lint> = std::iter::once(&first).chain(per_root.iter()).collect();
    // Every file any root's site names, hashed as found under each root (a
    // file one root's programs no longer name is still compared).
    let mut names: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (i, l) in lints.iter().enumerate() {
        names.extend(l.hashes.keys().map(|p| relative_key(p, &roots[i])));
    }
    let all: BTreeMap<String, Vec<Option<String>>> = names
        .into_iter()
        .map(|name| {
            let hashes = roots
                .iter()
                .map(|r| std::fs::read(in_root(r, Path::new(&name))).ok().map(|b| sha256_hex(&b)))
                .collect();
            (name, hashes)
        })
        .collect();
    let mut diffs = Vec::new();
    for (path, hashes) in &all {
        if hashes.iter().all(|h| *h == hashes[0]) {
            continue;
        }
        let mut groups: Vec<(&Option<String>, Vec<String>)> = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            let name = roots[i].display().to_string();
            match groups.iter_mut().find(|(g, _)| *g == h) {
                Some((_, names)) => names.push(name),
                None => groups.push((h, vec![name])),
            }
        }
        let parts: Vec<String> = groups
            .iter()
            .map(|(h, names)| match h {
                Some(h) => format!("{} ({})", names.join(", "), &h[..12]),
                None => format!("{} (missing)", names.join(", ")),
            })
            .collect();
        diffs.push((path.clone(), parts.join(" ≠ ")));
    }
    // Problems found only in some roots' copies are reported too.
    let key = |l: &Lint, d: &Diagnostic, root: &Path| {
        let r = root.display().to_string();
        (d.code, d.message.replace(&r, ""), relative_key(&l.sources.get(d.file).name, root), d.span.line, d.span.col)
    };
    let known: std::collections::HashSet<_> = first.diagnostics.iter().map(|d| key(&first, d, &roots[0])).collect();
    let mut extra = Vec::new();
    for (i, l) in per_root.iter().enumerate() {
        for d in &l.diagnostics {
            if !known.contains(&key(l, d, &roots[i + 1])) {
                extra.push((l.sources.get(d.file).name.clone(), l.sources.get(d.file).text.clone(), d.clone()));
            }
        }
    }
    for (name, text, mut d) in extra {
        let id = first.sources.add(name, text);
        d.file = id;
        d.secondary.clear();
        first.diagnostics.push(d);
    }
    for (path, how) in diffs {
        let id = first.sources.add(path.clone(), String::new());
        first.diagnostics.push(
            Diagnostic::new(Code::N001, id, Span { start: 0, end: 0, line: 1, col: 1 }, format!("`{path}` differs between nodes: {how}"))
                .help("every node must hold the same rules file, programs and commands; copy one version to all"),
        );
    }
    first.sort();
    Ok(first)
}

/// A file's path in the site, whatever root it was read under.
fn relative_key(path: &str, root: &Path) -> String {
    let r = root.display().to_string();
    match path.strip_prefix(&r) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => path.to_string(),
    }
}
