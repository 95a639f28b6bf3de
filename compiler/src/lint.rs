//! The lint stage: read a site's files, check everything, keep what checked
//! into IR. `compile` is lint plus the refusal to build on errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use hacmp_grammar::span::Span;
use hacmp_grammar::{parse_rp, parse_rules};

mod cross;

use crate::check_rp::check_rp;
use crate::check_rules::RulesCheck;
use crate::code::{Code, Severity};
use crate::diagnostic::{Diagnostic, Summary};
use crate::digest::sha256_hex;
use crate::fscheck::{check_command, resolve, safety, Problem};
use crate::ir::{Bundle, Command, Program, Rule};
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
    /// Only the diagnostics are wanted: the rules are checked and not kept,
    /// so that a lint needs little more memory than its input.
    pub diagnostics_only: bool,
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
        self.bundles().then(|| {
            Bundle::new(
                self.site.clone(),
                self.rules.clone(),
                self.programs.clone(),
                self.hashes.clone(),
            )
        })
    }

    /// The bundle, moved out of the lint (which keeps its sources and
    /// diagnostics): a large site is not held twice.
    pub fn take_bundle(&mut self) -> Option<Bundle> {
        self.bundles().then(|| {
            Bundle::new(
                std::mem::take(&mut self.site),
                std::mem::take(&mut self.rules),
                std::mem::take(&mut self.programs),
                std::mem::take(&mut self.hashes),
            )
        })
    }

    fn bundles(&self) -> bool {
        !self.has_errors() && self.complete
    }

    /// Diagnostics in file order, then by position.
    pub fn sort(&mut self) {
        self.diagnostics
            .sort_by_key(|a| (a.file, a.span.start, a.code));
    }
}

struct Linter<'a> {
    opts: &'a LintOptions,
    root: Option<PathBuf>,
    lint: Lint,
    /// Commands already checked on disk, with what was found.
    checked: HashMap<String, Vec<Problem>>,
    /// Names of the rules read (for the cross-checks).
    names: HashSet<String>,
    /// The site file, when one was read.
    site_file: Option<FileId>,
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
        names: HashSet::new(),
        site_file: None,
    };
    if let Some(site_path) = &opts.site {
        let bytes = read(site_path, crate::input::CONFIG)?;
        l.load_site(site_path, &bytes);
        l.input_safety(site_path, "site file");
    }
    for input in inputs {
        let rp = input.extension().is_some_and(|e| e == "rp");
        let limit = if rp {
            crate::input::PROGRAM
        } else {
            crate::input::RULES
        };
        let bytes = read(input, limit)?;
        let name = input.display().to_string();
        if rp {
            l.rp(&name, &name, &bytes, None);
        } else {
            let key = site_relative(opts.site.as_deref(), input);
            l.rules(&name, &key, bytes);
            l.input_safety(input, "rules file");
        }
    }
    l.cross_check();
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
        names: HashSet::new(),
        site_file: None,
    };
    for (name, bytes) in inputs {
        if name.ends_with(".rp") {
            l.rp(name, name, bytes, None);
        } else if name.ends_with(".toml") {
            l.load_site(Path::new(name), bytes);
        } else {
            l.rules(name, name, bytes.to_vec());
        }
    }
    l.cross_check();
    l.lint.sort();
    l.lint
}

fn read(path: &Path, limit: crate::input::Limit) -> Result<Vec<u8>, InputError> {
    crate::input::open(path, limit)
        .and_then(|(f, meta)| crate::input::read_open(f, &meta, limit))
        .map_err(|error| InputError {
            path: path.to_path_buf(),
            error,
        })
}

impl Linter<'_> {
    /// P008 on a rules or site file that others may write: what it says
    /// runs as root.
    fn input_safety(&mut self, path: &Path, what: &str) {
        if !self.opts.fs_checks {
            return;
        }
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let Some(why) = safety(&meta) else { return };
        let name = path.display().to_string();
        let Some((file, _)) = self.lint.sources.iter().find(|(_, f)| f.name == name) else {
            return;
        };
        self.lint.diagnostics.push(
            Diagnostic::new(Code::P008, file, Span { start: 0, end: 0, line: 1, col: 1 }, format!("{what} `{name}` {why}"))
                .label("what this file says runs as root on every node")
                .help("make it owned by root and writable only by its owner: `chown root FILE; chmod go-w FILE`"),
        );
    }

    fn load_site(&mut self, path: &Path, bytes: &[u8]) {
        let name = path.display().to_string();
        let Some(file) = self.text_file(&name, bytes) else {
            self.lint.complete = false;
            return;
        };
        self.site_file = Some(file);
        match parse_site(&self.lint.sources, file) {
            Ok(mut site) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                if self.root.is_none() {
                    // Absolute: commands run with `/` as working directory.
                    self.root = site.root.as_ref().map(|r| {
                        let p = dir.join(r);
                        std::path::absolute(&p).unwrap_or(p)
                    });
                }
                site.root = self.root.clone();
                site.rules_file = site.rules_file.map(|r| dir.join(r));
                self.lint
                    .diagnostics
                    .extend(crate::site::unsigned_warning(&site, file));
                self.lint.site = site;
                if self.opts.fs_checks {
                    self.resource_commands(file);
                }
            }
            Err(d) => {
                self.lint.complete = false;
                self.lint.diagnostics.extend(d);
                // One mistake, one error: the staging root still applies
                // when the file parses, so paths do not all go missing.
                if self.root.is_none() {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    let text = &self.lint.sources.get(file).text;
                    self.root = text
                        .parse::<toml::Table>()
                        .ok()
                        .and_then(|t| t.get("paths")?.get("root")?.as_str().map(str::to_string))
                        .map(|r| {
                            let p = dir.join(r);
                            std::path::absolute(&p).unwrap_or(p)
                        });
                }
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

    /// A rules file: `name` for messages, `key` for its hash. The text is
    /// held once: the lines borrow it while checked, then the source map
    /// takes it.
    fn rules(&mut self, name: &str, key: &str, bytes: Vec<u8>) {
        self.lint.hashes.insert(key.to_string(), sha256_hex(&bytes));
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                self.text_file(name, e.as_bytes());
                self.lint.complete = false;
                return;
            }
        };
        let Ok(lines) = parse_rules(text.as_bytes()) else {
            // Only text that is not UTF-8 fails, and a String is UTF-8.
            self.lint.complete = false;
            return;
        };
        let file = self.lint.sources.add(name, String::new());
        let catalog = self.lint.site.full_catalog();
        let check = RulesCheck::new(file, &catalog, self.opts.compiling);
        let keep = !self.opts.diagnostics_only;
        let fs_checks = self.opts.fs_checks;
        let mut seen: HashSet<String> = HashSet::new();
        let mut jobs: Vec<(String, Span)> = Vec::new();
        let mut rules = Vec::new();
        let mut complete = true;
        let names = &mut self.names;
        let diags = check.check(&lines, |r| {
            if let Some(rule) = &r.rule {
                if !names.contains(&rule.name) {
                    names.insert(rule.name.clone());
                }
            }
            match r.rule {
                Some(rule) if keep => rules.push(rule),
                Some(_) => {}
                None => complete = false,
            }
            let Some((path, span)) = r.program else {
                return;
            };
            if !fs_checks {
                // Without the file system the programs are unknown: a
                // lint, but no bundle.
                complete = false;
            } else if !seen.contains(&path) {
                seen.insert(path.clone());
                jobs.push((path, span));
            }
        });
        drop(lines);
        self.lint.sources.fill(file, text);
        self.lint.complete &= complete;
        self.lint.rules.extend(rules);
        self.lint.diagnostics.extend(diags);
        // Reading, parsing and checking the programs is independent work:
        // spread it over the cores, then merge in rule order.
        let root = self.root.clone();
        let scripts = &self.lint.site.scripts;
        let fs_checks = self.opts.fs_checks;
        let prepared = parallel_map(&jobs, |(path, _)| {
            let on_disk = resolve(root.as_deref(), path);
            let read = read_with_metadata(root.as_deref(), path)
                .map(|(bytes, meta)| prepare_rp(path, Some(&meta), &bytes, scripts, fs_checks));
            (on_disk, read)
        });
        for ((path, span), (on_disk, read)) in jobs.iter().zip(prepared) {
            match read {
                Ok(p) => self.merge_rp(p, &on_disk.display().to_string()),
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

    /// A `.rp` file named on the command line.
    fn rp(&mut self, key: &str, display: &str, bytes: &[u8], on_disk: Option<&Path>) {
        let meta = on_disk.and_then(|p| std::fs::metadata(p).ok());
        let p = prepare_rp(
            key,
            meta.as_ref(),
            bytes,
            &self.lint.site.scripts,
            self.opts.fs_checks,
        );
        self.merge_rp(p, display);
    }

    fn merge_rp(&mut self, p: PreparedRp, display: &str) {
        self.lint.hashes.insert(p.key.clone(), p.hash);
        let text = match p.text {
            Ok(t) => t,
            Err(bytes) => {
                self.text_file(display, &bytes);
                self.lint.complete = false;
                return;
            }
        };
        let file = self.lint.sources.add(display, text);
        let Some((checked, diags)) = p.checked else {
            return;
        };
        self.lint.diagnostics.extend(diags.into_iter().map(|mut d| {
            d.file = file;
            for s in &mut d.secondary {
                s.0 = file;
            }
            d
        }));
        if !checked.ok {
            self.lint.complete = false;
        }
        if let Some((why, first)) = p.unsafe_file {
            self.lint.diagnostics.push(
                Diagnostic::new(Code::P008, file, first, format!("recovery program `{}` {why}", p.key))
                    .label("this program runs as root on every node")
                    .help("make it owned by root and writable only by its owner: `chown root FILE; chmod go-w FILE`"),
            );
        }
        if self.opts.fs_checks {
            for (command, span) in &checked.commands {
                self.command_files(file, command, *span);
            }
        }
        self.lint.programs.insert(p.key, checked.program);
    }

    /// G005 (and P008) on the commands of the site's resources, which run
    /// as root like the programs' commands; hashed for the bundle.
    fn resource_commands(&mut self, file: FileId) {
        let commands = std::mem::take(&mut self.lint.site.resource_commands);
        for (path, span) in &commands {
            let problems = check_command(self.root.as_deref(), path);
            if let Ok(h) = crate::rootfs::hash(self.root.as_deref(), path) {
                self.lint.hashes.insert(path.clone(), h);
            }
            let what = format!("resource command `{path}`");
            for p in problems {
                let d = problem_diagnostic(Code::G005, file, *span, &what, "", p);
                self.lint.diagnostics.push(d);
            }
        }
        self.lint.site.resource_commands = commands;
    }

    fn command_files(&mut self, file: FileId, command: &Command, span: Span) {
        // (path, who names it): the description is built only for a report.
        let mut paths: Vec<(&str, Option<(&str, &str)>)> = Vec::new();
        let scripts = &self.lint.site.scripts;
        match command {
            Command::Exec { argv } => paths.push((argv[0].as_str(), None)),
            Command::Script { name } => {
                if let Some(s) = scripts.get(name) {
                    paths.push((s.path.as_str(), Some(("", name.as_str()))));
                    for (what, c) in [
                        ("notify", &s.notify),
                        ("pre-event", &s.pre),
                        ("post-event", &s.post),
                        ("recovery", &s.recovery),
                    ] {
                        if let Some(first) = c.as_ref().and_then(|c| c.split_whitespace().next()) {
                            paths.push((first, Some((what, name.as_str()))));
                        }
                    }
                }
            }
        }
        let mut reports = Vec::new();
        for (path, by) in paths {
            let problems = match self.checked.get(path) {
                Some(p) => p.clone(),
                None => {
                    let p = check_command(self.root.as_deref(), path);
                    if let Ok(h) = crate::rootfs::hash(self.root.as_deref(), path) {
                        self.lint.hashes.insert(path.to_string(), h);
                    }
                    self.checked.insert(path.to_string(), p.clone());
                    p
                }
            };
            if problems.is_empty() {
                continue;
            }
            let what = match by {
                None => format!("command `{path}`"),
                Some(("", name)) => format!("event script `{name}` (`{path}`)"),
                Some((what, name)) => format!("{what} command `{path}` of event script `{name}`"),
            };
            reports.push((what, problems));
        }
        let under = self
            .root
            .as_ref()
            .map(|r| format!(" under `{}`", r.display()))
            .unwrap_or_default();
        for (what, problems) in reports {
            for p in problems {
                let d = problem_diagnostic(Code::P007, file, span, &what, &under, p);
                self.lint.diagnostics.push(d);
            }
        }
    }
}

/// The diagnostic of one problem of a command file; `missing` is the code
/// of a file that is absent, not a file or not executable.
fn problem_diagnostic(
    missing: Code,
    file: FileId,
    span: Span,
    what: &str,
    under: &str,
    p: Problem,
) -> Diagnostic {
    match p {
        Problem::Missing => Diagnostic::new(missing, file, span, format!("{what} does not exist{under}"))
            .label("no such file")
            .help("install it, or lint with `--root DIR` (the staging tree) or `--no-fs`"),
        Problem::NotAFile => Diagnostic::new(missing, file, span, format!("{what} is not a file")).label("not a file"),
        Problem::NotExecutable => Diagnostic::new(missing, file, span, format!("{what} is not executable"))
            .label("not executable")
            .help("`chmod 755` it"),
        Problem::Unsafe(why) => Diagnostic::new(Code::P008, file, span, format!("{what} {why}"))
            .label("runs as root on every node")
            .help("make it owned by root and writable only by its owner: `chown root FILE; chmod go-w FILE`"),
        Problem::SetId(bits) => Diagnostic::new(Code::P008, file, span, format!("{what} is {}", if bits & 0o4000 != 0 { "setuid" } else { "setgid" }))
            .severity(crate::Severity::Warning)
            .label("runs with its owner's rights, whoever starts it")
            .help("recovery commands run as root already: `chmod ug-s FILE`"),
        Problem::Unreadable(e) => Diagnostic::new(Code::F001, file, span, format!("{what} cannot be examined: {e}")).label("unreadable"),
    }
}

/// A program read, parsed and checked, not yet in the source map: its
/// diagnostics name file 0 until merged.
struct PreparedRp {
    key: String,
    hash: String,
    /// The text, or the bytes when they are not UTF-8.
    text: Result<String, Vec<u8>>,
    checked: Option<(crate::check_rp::CheckedRp, Vec<Diagnostic>)>,
    /// P008: why the file is unsafe, and where to point.
    unsafe_file: Option<(String, Span)>,
}

/// One open for both the content and the metadata of a program.
fn read_with_metadata(
    root: Option<&Path>,
    path: &str,
) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    let (f, meta) = crate::rootfs::open_regular(root, path, crate::input::PROGRAM)?;
    Ok((
        crate::input::read_open(f, &meta, crate::input::PROGRAM)?,
        meta,
    ))
}

fn prepare_rp(
    key: &str,
    meta: Option<&std::fs::Metadata>,
    bytes: &[u8],
    scripts: &hacmp_stdlib::EventScripts,
    fs_checks: bool,
) -> PreparedRp {
    let hash = sha256_hex(bytes);
    let text = match hacmp_grammar::as_text(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => {
            return PreparedRp {
                key: key.to_string(),
                hash,
                text: Err(bytes.to_vec()),
                checked: None,
                unsafe_file: None,
            }
        }
    };
    let parsed = parse_rp(bytes).unwrap_or_default();
    let checked = check_rp(key, 0, &parsed, scripts);
    let unsafe_file = if fs_checks {
        meta.and_then(safety).map(|why| {
            (
                why,
                parsed
                    .file
                    .statements
                    .first()
                    .map(|s| s.span)
                    .unwrap_or_default(),
            )
        })
    } else {
        None
    };
    PreparedRp {
        key: key.to_string(),
        hash,
        text: Ok(text),
        checked: Some(checked),
        unsafe_file,
    }
}

/// `f` over `items` on every core, results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if workers < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The name a site's rules file is hashed under: its path relative to the
/// site file's directory, so the same site in another directory (or named
/// by another relative path) has the same identity.
fn site_relative(site: Option<&Path>, input: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    site.and_then(|s| {
        let dir = s
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = abs(dir);
        let rel = abs(input).strip_prefix(&dir).ok()?.to_path_buf();
        Some(rel.display().to_string())
    })
    .unwrap_or_else(|| input.display().to_string())
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
                .map(|r| {
                    if name.starts_with('/') {
                        crate::rootfs::hash(Some(r), &name).ok()
                    } else {
                        crate::input::open(&r.join(&name), crate::input::COMMAND)
                            .and_then(|(f, _)| crate::input::hash_open(f, crate::input::COMMAND))
                            .ok()
                    }
                })
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
        (
            d.code,
            d.message.replace(&r, ""),
            relative_key(&l.sources.get(d.file).name, root),
            d.span.line,
            d.span.col,
        )
    };
    let known: std::collections::HashSet<_> = first
        .diagnostics
        .iter()
        .map(|d| key(&first, d, &roots[0]))
        .collect();
    let mut extra = Vec::new();
    for (i, l) in per_root.iter().enumerate() {
        for d in &l.diagnostics {
            if !known.contains(&key(l, d, &roots[i + 1])) {
                extra.push((
                    l.sources.get(d.file).name.clone(),
                    l.sources.get(d.file).text.clone(),
                    d.clone(),
                ));
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
