//! Unit tests for rules (`hacmp test`): series of observations per instance,
//! the events expected at given steps, and the arm state after given steps.
//!
//! ```toml
//! site = "../examples/rwho/site.toml"   # or a rules file
//!
//! [[test]]
//! name = "rwhod dies, comes back, dies again"
//! [[test.series]]
//! instance = "NodeNum=3;ProgName=rwhod;UserName=root"
//! values = "1 1 0 0 1x2 0"
//! expect = [{ step = 3, event = "UE_PGMRWHO_DOWN", location = 3 },
//!           { step = 7, event = "UE_PGMRWHO_DOWN", location = 3 }]
//! armed = [{ step = 4, armed = false }, { step = 5, armed = true }]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hacmp_compiler::ir::Rule;
use serde::Deserialize;

use super::engine::{EmRule, Engine};
use super::{parse_instance, Observation};

/// The most steps of all the series of one test.
pub const MAX_TEST_STEPS: usize = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// A site file (`*.toml`) or a rules file, relative to the test file.
    pub site: PathBuf,
    #[serde(rename = "test")]
    pub tests: Vec<Test>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    pub name: String,
    pub series: Vec<Series>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// The variable; by default the one of the rule(s) the instance matches.
    pub variable: Option<String>,
    pub instance: String,
    pub values: String,
    #[serde(default)]
    pub expect: Vec<Expect>,
    #[serde(default)]
    pub armed: Vec<Armed>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub step: usize,
    pub event: String,
    pub location: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Armed {
    pub step: usize,
    /// The rule (needed only when several match the instance).
    pub rule: Option<String>,
    pub armed: bool,
}

/// The result of one test.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    /// A readable diff: lines starting with `-` were expected and did not
    /// happen, `+` happened and were not expected, ` ` both.
    pub diff: Vec<String>,
    /// Why it could not run, if it could not.
    pub error: Option<String>,
    /// How long it took.
    pub time: std::time::Duration,
}

impl TestFile {
    pub fn parse(text: &str) -> Result<TestFile, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn site_path(&self, test_file: &Path) -> PathBuf {
        test_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.site)
    }
}

/// Runs every test against the rules (those with conditions are used).
pub fn run(file: &TestFile, rules: &[Rule], catalog: &hacmp_stdlib::Catalog) -> Vec<Outcome> {
    let em = EmRule::of_rules(rules);
    file.tests
        .iter()
        .map(|t| {
            let start = std::time::Instant::now();
            let mut o = run_one(t, &em, catalog);
            o.time = start.elapsed();
            o
        })
        .collect()
}

fn run_one(t: &Test, rules: &[EmRule], catalog: &hacmp_stdlib::Catalog) -> Outcome {
    let fail = |e: String| Outcome {
        name: t.name.clone(),
        passed: false,
        diff: Vec::new(),
        error: Some(e),
        time: std::time::Duration::ZERO,
    };
    // Each series: its instance, variable, and records.
    let mut prepared = Vec::new();
    let mut total = 0;
    for (i, s) in t.series.iter().enumerate() {
        let n = i + 1;
        let instance = match parse_instance(&s.instance) {
            Ok(x) => x,
            Err(e) => return fail(format!("series {n}: instance: {e}")),
        };
        let variable = match &s.variable {
            Some(v) => v.clone(),
            None => {
                let vars: std::collections::BTreeSet<&str> = rules
                    .iter()
                    .filter(|r| super::engine::matches(&r.condition, &instance))
                    // The instance must be one of the variable's: its elements.
                    .filter(|r| {
                        catalog
                            .get(&r.condition.variable)
                            .is_some_and(|v| instance.keys().all(|k| v.elements.contains(k)))
                    })
                    .map(|r| r.condition.variable.as_str())
                    .collect();
                match vars.len() {
                    1 => vars.into_iter().next().unwrap_or_default().to_string(),
                    0 => return fail(format!("series {n}: no rule matches `{}`", s.instance)),
                    _ => {
                        return fail(format!(
                            "series {n}: several variables match `{}`: give `variable`",
                            s.instance
                        ))
                    }
                }
            }
        };
        let Some(var) = catalog.get(&variable) else {
            return fail(format!("series {n}: `{variable}` is not in the catalog"));
        };
        let values = match super::series::parse(&s.values, &var.value_type()) {
            Ok(v) => v,
            Err(e) => return fail(format!("series {n}: values: {e}")),
        };
        for (what, step) in s
            .expect
            .iter()
            .map(|e| ("expect", e.step))
            .chain(s.armed.iter().map(|a| ("armed", a.step)))
        {
            if step == 0 || step > values.len() {
                return fail(format!(
                    "series {n}: `{what}` names step {step}, but the series has steps 1 to {}",
                    values.len()
                ));
            }
        }
        total += values.len();
        if total > MAX_TEST_STEPS {
            return fail(format!(
                "series {n}: the test's series hold more than {MAX_TEST_STEPS} steps in all"
            ));
        }
        prepared.push((instance, variable, values));
    }
    let mut engine = Engine::new(rules.to_vec(), None);
    let steps = prepared.iter().map(|p| p.2.len()).max().unwrap_or(0);
    let mut raised: Vec<Expect> = Vec::new();
    let mut armed_seen: BTreeMap<(usize, usize, String), bool> = BTreeMap::new();
    for step in 1..=steps {
        for (si, (instance, variable, values)) in prepared.iter().enumerate() {
            let Some(value) = values.get(step - 1) else {
                continue;
            };
            let (events, effects) = engine.observe(&Observation {
                variable: variable.clone(),
                instance: instance.clone(),
                value: value.clone(),
            });
            raised.extend(events.into_iter().map(|e| Expect {
                step,
                event: e.name,
                location: e.location,
            }));
            for fx in effects {
                armed_seen.insert((si, step, fx.rule), fx.armed_after);
            }
        }
    }
    let mut expected: Vec<Expect> = t
        .series
        .iter()
        .flat_map(|s| s.expect.iter().cloned())
        .collect();
    expected.sort();
    raised.sort();
    let mut diff = Vec::new();
    let mut passed = true;
    let show = |e: &Expect| format!("step {:>3}  {} at node {}", e.step, e.event, e.location);
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < raised.len() {
        match (expected.get(i), raised.get(j)) {
            (Some(a), Some(b)) if a == b => {
                diff.push(format!("  {}", show(a)));
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                passed = false;
                diff.push(format!("- {}   (expected, not raised)", show(a)));
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                passed = false;
                diff.push(format!("+ {}   (raised, not expected)", show(b)));
                j += 1;
            }
            (Some(a), None) => {
                passed = false;
                diff.push(format!("- {}   (expected, not raised)", show(a)));
                i += 1;
            }
            (None, None) => break,
        }
    }
    for (si, s) in t.series.iter().enumerate() {
        for a in &s.armed {
            let found: Vec<(&String, bool)> = armed_seen
                .iter()
                .filter(|((x, step, rule), _)| {
                    *x == si && *step == a.step && a.rule.as_ref().is_none_or(|r| r == rule)
                })
                .map(|((_, _, rule), v)| (rule, *v))
                .collect();
            let word = |b: bool| if b { "armed" } else { "disarmed" };
            match found.as_slice() {
                [(rule, v)] if *v == a.armed => {
                    diff.push(format!("  after step {:>3}  {rule} {}", a.step, word(*v)))
                }
                [(rule, v)] => {
                    passed = false;
                    diff.push(format!(
                        "- after step {:>3}  {rule} {}   (expected)",
                        a.step,
                        word(a.armed)
                    ));
                    diff.push(format!(
                        "+ after step {:>3}  {rule} {}   (actual)",
                        a.step,
                        word(*v)
                    ));
                }
                [] => {
                    passed = false;
                    diff.push(format!(
                        "- after step {:>3}  {}: no rule evaluated `{}` at that step",
                        a.step,
                        word(a.armed),
                        s.instance
                    ));
                }
                _ => {
                    passed = false;
                    diff.push(format!(
                        "- after step {:>3}  several rules match `{}`: name one with `rule`",
                        a.step, s.instance
                    ));
                }
            }
        }
    }
    Outcome {
        name: t.name.clone(),
        passed,
        diff,
        error: None,
        time: std::time::Duration::ZERO,
    }
}
