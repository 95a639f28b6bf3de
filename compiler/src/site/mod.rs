//! The site configuration (TOML): the cluster, its nodes, event-script
//! definitions over the standard defaults, failure policies, catalog
//! extensions. Bad values are reported with their place in the file (S001).

mod resources;

use std::collections::BTreeMap;
use std::ops::Range;

use hacmp_grammar::span::Span;
use hacmp_stdlib::{Catalog, Duration, EventScript, EventScripts, FailurePolicy, Variable};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::code::Code;
use crate::diagnostic::Diagnostic;
use crate::resources::Resources;
use crate::source::{FileId, SourceMap};
use resources::{RawAdapter, RawGroup, RawNetwork};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub cluster: Cluster,
    pub nodes: Vec<Node>,
    pub defaults: Defaults,
    /// Where the product's event scripts live.
    pub events_dir: String,
    /// Every event script a bare command name may use, defaults merged.
    pub scripts: EventScripts,
    /// Failure policy per rule name, over the site default.
    pub rules: BTreeMap<String, FailurePolicy>,
    /// Resource variables the site adds to the standard catalog.
    pub catalog: Vec<Variable>,
    /// Networks, adapters and resource groups.
    #[serde(default, skip_serializing_if = "Resources::is_unset")]
    pub resources: Resources,
    /// The commands resources run, with where the site names them (for
    /// the linter's file checks; local, not hashed).
    #[serde(skip)]
    pub resource_commands: Vec<(String, Span)>,
    /// Where the site sets `bundles = "unsigned"` (for the S003 warning).
    #[serde(skip)]
    pub unsigned_at: Option<Span>,
    /// The rules file, relative to the site file (local, not hashed).
    #[serde(skip)]
    pub rules_file: Option<std::path::PathBuf>,
    /// Staging root under which absolute paths resolve (local, not hashed).
    #[serde(skip)]
    pub root: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: u32,
    pub name: String,
    pub settle: Duration,
    /// A lab: nodes running this site take bundles nobody signed
    /// (`bundles = "unsigned"`). Absent from the canonical form when false,
    /// so the hash of every signed site's bundle is as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsigned_bundles: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub number: u32,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    pub on_failure: FailurePolicy,
    pub warn_after: Duration,
    pub timeout: Option<Duration>,
    /// Between TERM and KILL when a command times out or is cancelled.
    pub kill_grace: Duration,
    pub working_dir: String,
    pub verbose_logging: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            on_failure: FailurePolicy::Wait,
            warn_after: Duration::from_millis(180_000),
            timeout: None,
            kill_grace: Duration::from_millis(5_000),
            working_dir: "/".to_string(),
            verbose_logging: "low".to_string(),
        }
    }
}

impl Default for Site {
    fn default() -> Self {
        Site {
            cluster: Cluster {
                id: 1,
                name: "cluster".into(),
                settle: Duration::from_millis(200),
                unsigned_bundles: false,
            },
            nodes: Vec::new(),
            defaults: Defaults::default(),
            events_dir: hacmp_stdlib::EVENTS_DIR.to_string(),
            scripts: hacmp_stdlib::event_scripts(),
            rules: BTreeMap::new(),
            catalog: Vec::new(),
            resources: Resources::default(),
            resource_commands: Vec::new(),
            unsigned_at: None,
            rules_file: None,
            root: None,
        }
    }
}

impl Site {
    /// The standard catalog with this site's extensions.
    pub fn full_catalog(&self) -> Catalog {
        let mut c = hacmp_stdlib::catalog();
        c.extend(self.catalog.iter().cloned());
        c
    }

    /// The failure policy of a command of a rule's program.
    pub fn policy(&self, rule: &str, script: Option<&str>) -> FailurePolicy {
        script
            .and_then(|s| self.scripts.get(s))
            .and_then(|s| s.on_failure)
            .or_else(|| self.rules.get(rule).copied())
            .unwrap_or(self.defaults.on_failure)
    }
}

// ------------------------------------------------------------- raw form

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    cluster: Option<RawCluster>,
    #[serde(default, rename = "node")]
    nodes: Vec<RawNode>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    event_scripts: BTreeMap<String, Spanned<RawScript>>,
    #[serde(default)]
    rules: BTreeMap<String, RawRulePolicy>,
    #[serde(default)]
    catalog: Vec<Variable>,
    #[serde(default, rename = "network")]
    networks: Vec<RawNetwork>,
    #[serde(default, rename = "resource_group")]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    id: u32,
    name: String,
    settle: Option<Duration>,
    bundles: Option<Spanned<BundleTrust>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum BundleTrust {
    Signed,
    Unsigned,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    number: Spanned<u32>,
    name: Option<String>,
    #[serde(default, rename = "adapter")]
    adapters: Vec<RawAdapter>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    on_failure: Option<FailurePolicy>,
    warn_after: Option<Duration>,
    timeout: Option<Duration>,
    kill_grace: Option<Duration>,
    working_dir: Option<Spanned<String>>,
    verbose_logging: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    root: Option<String>,
    rules: Option<String>,
    events_dir: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    path: Option<Spanned<String>>,
    args: Option<Vec<String>>,
    notify: Option<Spanned<String>>,
    pre: Option<Spanned<String>>,
    post: Option<Spanned<String>>,
    recovery: Option<Spanned<String>>,
    retry: Option<u32>,
    warn_after: Option<Duration>,
    timeout: Option<Duration>,
    on_failure: Option<FailurePolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRulePolicy {
    on_failure: FailurePolicy,
}

// -------------------------------------------------------------- loading

/// Diagnostics located in the site file.
pub(crate) struct Errors<'a> {
    pub file: FileId,
    sources: &'a SourceMap,
    pub diags: Vec<Diagnostic>,
}

impl Errors<'_> {
    pub fn span(&self, r: Range<usize>) -> Span {
        let f = self.sources.get(self.file);
        let (line, col) = f.line_col(r.start);
        Span {
            start: r.start,
            end: r.end.max(r.start),
            line,
            col,
        }
    }

    pub fn push(
        &mut self,
        r: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> &mut Diagnostic {
        self.code(Code::S001, r, message, help)
    }

    pub fn code(
        &mut self,
        code: Code,
        r: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> &mut Diagnostic {
        let mut d = Diagnostic::new(code, self.file, self.span(r), message);
        d.help = help;
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    /// A command string: an absolute path, then arguments.
    pub fn command(&mut self, what: &str, c: &Spanned<String>) {
        let first = c.get_ref().split_whitespace().next().unwrap_or("");
        if !first.starts_with('/') {
            self.push(
                c.span(),
                format!("{what} `{}` is not an absolute path", c.get_ref()),
                Some("commands run without a shell and with `/` as working directory: give the full path".into()),
            );
        } else if crate::fscheck::climbs(first) {
            let mut d = Diagnostic::new(
                Code::F003,
                self.file,
                self.span(c.span()),
                format!("{what} `{first}` has a `..` component"),
            );
            d.help =
                Some("give the path without `..`: commands are named by where they are".into());
            self.diags.push(d);
        }
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or
/// "unknown variant"): the closest.
pub fn did_you_mean(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected")?.1;
    let names: Vec<&str> = expected
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, n)| n)
        .collect();
    crate::suggest(word, names.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

/// S003 where the site runs unsigned bundles (a lab).
pub fn unsigned_warning(site: &Site, file: FileId) -> Option<Diagnostic> {
    let mut d = Diagnostic::new(
        Code::S003,
        file,
        site.unsigned_at?,
        "nodes running this site take bundles nobody signed",
    )
    .label("anyone who can write etcd can run any command as root");
    d.help = Some(
        "for a lab only: sign deploys (`hacmp key new`, `hacmp deploy --key`) and drop this line"
            .into(),
    );
    Some(d)
}

/// Parses a site file already added to `sources` as `file`.
pub fn parse_site(sources: &SourceMap, file: FileId) -> Result<Site, Vec<Diagnostic>> {
    let text = &sources.get(file).text;
    let mut errs = Errors {
        file,
        sources,
        diags: Vec::new(),
    };
    let raw: RawSite = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let r = e.span().unwrap_or(0..0);
            errs.push(r, e.message().to_string(), did_you_mean(e.message()));
            return Err(errs.diags);
        }
    };
    let mut site = Site::default();
    if let Some(c) = raw.cluster {
        site.cluster = Cluster {
            id: c.id,
            name: c.name,
            settle: c.settle.unwrap_or(site.cluster.settle),
            unsigned_bundles: c
                .bundles
                .as_ref()
                .is_some_and(|b| *b.get_ref() == BundleTrust::Unsigned),
        };
        site.unsigned_at = c
            .bundles
            .filter(|b| *b.get_ref() == BundleTrust::Unsigned)
            .map(|b| errs.span(b.span()));
    }
    let mut seen: BTreeMap<u32, Range<usize>> = BTreeMap::new();
    let mut adapters = Vec::new();
    for n in raw.nodes {
        let number = *n.number.get_ref();
        if let Some(first) = seen.get(&number) {
            let first_span = errs.span(first.clone());
            let mut d = Diagnostic::new(
                Code::S001,
                file,
                errs.span(n.number.span()),
                format!("node number {number} is given twice"),
            );
            d.secondary
                .push((file, first_span, "first given here".into()));
            errs.diags.push(d);
            continue;
        }
        seen.insert(number, n.number.span());
        adapters.push((number, n.adapters));
        site.nodes.push(Node {
            number,
            name: n.name.unwrap_or_else(|| format!("node{number}")),
        });
    }
    site.nodes.sort_by_key(|n| n.number);

    let d = raw.defaults;
    let def = &mut site.defaults;
    if let Some(v) = d.on_failure {
        def.on_failure = v;
    }
    if let Some(v) = d.warn_after {
        def.warn_after = v;
    }
    def.timeout = d.timeout;
    if let Some(v) = d.kill_grace {
        def.kill_grace = v;
    }
    if let Some(w) = d.working_dir {
        if !w.get_ref().starts_with('/') {
            errs.push(
                w.span(),
                format!("working directory `{}` is not absolute", w.get_ref()),
                None,
            );
        }
        def.working_dir = w.into_inner();
    }
    if let Some(v) = d.verbose_logging {
        def.verbose_logging = v;
    }

    site.root = raw.paths.root.map(Into::into);
    site.rules_file = raw.paths.rules.map(Into::into);
    if let Some(dir) = raw.paths.events_dir {
        if !dir.get_ref().starts_with('/') {
            errs.push(
                dir.span(),
                format!("`events_dir` `{}` is not absolute", dir.get_ref()),
                None,
            );
        }
        let dir = dir.into_inner();
        let old = format!("{}/", hacmp_stdlib::EVENTS_DIR);
        for s in site.scripts.0.values_mut() {
            if let Some(rest) = s.path.strip_prefix(&old) {
                s.path = format!("{}/{rest}", dir.trim_end_matches('/'));
            }
        }
        site.events_dir = dir;
    }

    for (name, raw) in raw.event_scripts {
        let span = raw.span();
        let raw = raw.into_inner();
        for (what, c) in [
            ("path", &raw.path),
            ("notify", &raw.notify),
            ("pre", &raw.pre),
            ("post", &raw.post),
            ("recovery", &raw.recovery),
        ] {
            if let Some(c) = c {
                errs.command(what, c);
            }
        }
        if name.contains('/') || name.contains(char::is_whitespace) || name.is_empty() {
            errs.push(
                span.clone(),
                format!("event script name `{name}` must be a bare name"),
                None,
            );
        }
        let base = site.scripts.0.get(&name).cloned();
        if base.is_none() && raw.path.is_none() {
            errs.push(
                span,
                format!("event script `{name}` is not a standard one, so it needs a `path`"),
                None,
            );
            continue;
        }
        let mut s: EventScript = base.unwrap_or_default();
        let get = |x: Option<Spanned<String>>| x.map(Spanned::into_inner);
        if let Some(p) = get(raw.path) {
            s.path = p;
        }
        if let Some(a) = raw.args {
            s.args = a;
        }
        s.notify = get(raw.notify).or(s.notify);
        s.pre = get(raw.pre).or(s.pre);
        s.post = get(raw.post).or(s.post);
        s.recovery = get(raw.recovery).or(s.recovery);
        s.retry = raw.retry.unwrap_or(s.retry);
        s.warn_after = raw.warn_after.or(s.warn_after);
        s.timeout = raw.timeout.or(s.timeout);
        s.on_failure = raw.on_failure.or(s.on_failure);
        site.scripts.0.insert(name, s);
    }
    site.rules = raw
        .rules
        .into_iter()
        .map(|(k, v)| (k, v.on_failure))
        .collect();
    for mut v in raw.catalog {
        if v.origin.is_empty() {
            v.origin = "site".into();
        }
        site.catalog.push(v);
    }
    let parsed = resources::parse(&mut errs, &site.nodes, raw.networks, adapters, raw.groups);
    site.resources = parsed.resources;
    site.resource_commands = parsed
        .commands
        .into_iter()
        .map(|(c, r)| (c, errs.span(r)))
        .collect();
    if errs.diags.is_empty() {
        Ok(site)
    } else {
        Err(errs.diags)
    }
}
