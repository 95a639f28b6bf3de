//! `hacmp test`, `hacmp plan` and `hacmp observe`: Event Management from the
//! command line.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hacmp_compiler::ir::Rule;
use hacmp_compiler::predicate::Observation as Obs;
use hacmp_compiler::{lint, render, LintOptions};
use hacmp_em::engine::{matches, EmRule};
use hacmp_em::feed::{append, FeedReader};
use hacmp_em::monitor::Monitor;
use hacmp_em::testfile::{self, TestFile};
use hacmp_em::{instance_string, parse_instance, value_string, Observation};

use crate::bundle::LoadError;
use crate::exit;
use hacmp_compiler::render::visible;

/// The rules and catalog of a site, checked without the file system (rule
/// tests and plans need the conditions, not the programs).
fn rules_of(path: &Path) -> Result<(Vec<Rule>, hacmp_stdlib::Catalog), LoadError> {
    let (rules, site) = crate::bundle::rules_and_site(path, None)?;
    let opts = LintOptions {
        site,
        fs_checks: false,
        ..LintOptions::default()
    };
    let l = lint(&[rules], &opts).map_err(|e| LoadError::io(e.to_string()))?;
    if l.has_errors() {
        return Err(LoadError::findings(format!(
            "the rules have errors:\n{}",
            render::human(&l.sources, &l.diagnostics, false)
        )));
    }
    Ok((l.rules.clone(), l.site.full_catalog()))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TestFormat {
    Human,
    Junit,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Rule test files (TOML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// human (PASS/FAIL with diffs) or junit (XML for CI systems).
    #[arg(long, value_enum, default_value = "human")]
    pub format: TestFormat,
}

pub fn test(args: &TestArgs) -> u8 {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut report = Report::new("hacmp test");
    for path in &args.files {
        let text = match hacmp_compiler::input::read_text(path, hacmp_compiler::input::CONFIG) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return exit::USAGE;
            }
        };
        let file = match TestFile::parse(&text) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {}", crate::located::toml(path, &text, &e));
                return exit::FINDINGS;
            }
        };
        let (rules, catalog) = match rules_of(&file.site_path(path)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return e.code;
            }
        };
        let outcomes = testfile::run(&file, &rules, &catalog);
        let shown = path.display().to_string();
        let mut suite = TestSuite::new(shown.as_str());
        for o in &outcomes {
            if o.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            let detail = o.error.clone().unwrap_or_else(|| o.diff.join("\n"));
            match args.format {
                TestFormat::Human => {
                    let name = hacmp_compiler::render::visible(&o.name);
                    println!(
                        "{}  {name}  ({shown})",
                        if o.passed { "PASS" } else { "FAIL" }
                    );
                    if !o.passed {
                        for l in detail.lines() {
                            println!("      {}", hacmp_compiler::render::visible(l));
                        }
                    }
                }
                TestFormat::Junit => {
                    let status = if o.passed {
                        TestCaseStatus::success()
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(o.error.as_deref().unwrap_or("events or arm states differ"));
                        s.set_description(detail.as_str());
                        s
                    };
                    let mut case = TestCase::new(o.name.as_str(), status);
                    case.set_classname(shown.as_str());
                    case.set_time(o.time);
                    suite.add_test_case(case);
                }
            }
        }
        report.add_test_suite(suite);
    }
    match args.format {
        TestFormat::Junit => match report.to_string() {
            Ok(x) => println!("{x}"),
            Err(e) => {
                eprintln!("error: cannot write the JUnit report: {e}");
                return exit::USAGE;
            }
        },
        TestFormat::Human => println!(
            "{passed} passed, {failed} failed{}",
            if failed == 0 {
                ""
            } else {
                ": some tests failed"
            }
        ),
    }
    if failed == 0 {
        exit::OK
    } else {
        exit::FINDINGS
    }
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// A site file or a rules file.
    pub site: PathBuf,
    /// The node this machine is.
    #[arg(long, default_value_t = 1)]
    pub node: u32,
    /// Also read every observation of this feed file.
    #[arg(long, value_name = "FILE")]
    pub feed: Option<PathBuf>,
}

pub fn plan(args: &PlanArgs) -> u8 {
    let (rules, catalog) = match rules_of(&args.site) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.code;
        }
    };
    let em = EmRule::of_rules(&rules);
    let mut observations = Monitor::new(&em, args.node).sample();
    if let Some(f) = &args.feed {
        // A feed that cannot be read (missing, a FIFO, too large) is a
        // usage error, said before anything is planned.
        if let Err(e) = hacmp_compiler::input::open(f, hacmp_em::feed::FEED) {
            eprintln!("error: cannot read the feed `{}`: {e}", f.display());
            return crate::exit::USAGE;
        }
        let (obs, errs) = FeedReader::open(f, true).poll(&catalog);
        for e in errs {
            eprintln!("warning: feed line skipped: {}", visible(&e.to_string()));
        }
        observations.extend(obs);
    }
    let yes = |b: Option<bool>| match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "-",
    };
    for r in &em {
        let c = &r.condition;
        let rearm = c
            .rearm
            .as_ref()
            .map_or(String::new(), |p| format!(" / rearm {}", p.source));
        println!(
            "{}  {}  {}{}",
            r.name, c.variable, c.predicate.source, rearm
        );
        let mine: Vec<&Observation> = observations
            .iter()
            .filter(|o| o.variable == c.variable && matches(c, &o.instance))
            .filter(|o| {
                o.instance
                    .get("NodeNum")
                    .is_none_or(|n| *n == args.node.to_string())
            })
            .collect();
        if mine.is_empty() {
            println!(
                "    no instance on node {} (nothing sampled or fed for it)",
                args.node
            );
        }
        for o in mine {
            let view = Obs {
                current: &o.value,
                previous: None,
            };
            let p = c.predicate.eval(&view).ok();
            let q = c.rearm.as_ref().and_then(|x| x.eval(&view).ok());
            let fire = if p == Some(true) {
                "WOULD FIRE now (armed at start)"
            } else {
                "would not fire"
            };
            println!(
                "    {}  value {}  predicate {}  rearm {}  → {fire}",
                visible(&instance_string(&o.instance)),
                visible(&value_string(&o.value)),
                yes(p),
                yes(q)
            );
        }
    }
    if em.is_empty() {
        println!("no rule has an Event Management condition");
    }
    exit::OK
}

#[derive(Args, Debug)]
pub struct ObserveArgs {
    /// A resource variable, e.g. `IBM.PSSP.pm.User_state1`.
    pub variable: String,
    /// A concrete instance, e.g. `NodeNum=2`.
    pub instance: String,
    /// The value; fields of a structured value separated by `;`.
    pub value: String,
    /// The feed file the daemons read.
    #[arg(long, value_name = "FILE", default_value = "hacmp-state/feed.jsonl")]
    pub feed: PathBuf,
    /// Site file, for the site's own variables.
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
}

pub fn observe(args: &ObserveArgs) -> u8 {
    let catalog = match &args.site {
        Some(s) => match rules_of(s) {
            Ok((_, c)) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return e.code;
            }
        },
        None => hacmp_stdlib::catalog(),
    };
    let Some(var) = catalog.get(&args.variable) else {
        let hint = hacmp_compiler::suggest(
            &args.variable,
            catalog.variables.iter().map(|v| v.name.as_str()),
        )
        .map(|s| format!(": did you mean `{s}`?"))
        .unwrap_or_default();
        eprintln!("error: `{}` is not in the catalog{hint}", args.variable);
        return exit::USAGE;
    };
    let instance = match parse_instance(&args.instance) {
        Ok(i) if i.contains_key("NodeNum") => i,
        Ok(_) => {
            eprintln!("error: the instance needs its `NodeNum`");
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("error: instance: {e}");
            return exit::USAGE;
        }
    };
    let quoted = if args.value.contains(char::is_whitespace) {
        format!("\"{}\"", args.value)
    } else {
        args.value.clone()
    };
    let value = match hacmp_em::series::parse(&quoted, &var.value_type()) {
        Ok(mut v) if v.len() == 1 => v.remove(0),
        Ok(_) => {
            eprintln!("error: give one value");
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("error: value: {e}");
            return exit::USAGE;
        }
    };
    if let Some(dir) = args.feed.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let obs = Observation {
        variable: args.variable.clone(),
        instance,
        value,
    };
    match append(&args.feed, &obs) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", args.feed.display());
            exit::USAGE
        }
    }
}
