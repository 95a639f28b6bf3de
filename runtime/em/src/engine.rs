//! Arming: per rule and matching instance, armed at start; on each new
//! observation, an armed rule whose predicate is true raises its event and
//! disarms; a disarmed rule whose rearm predicate is true arms again (never
//! both on the same observation). Without a rearm predicate a rule stays
//! armed. Evaluation errors make the evaluation false and are reported once
//! per rule and instance.

use std::collections::HashMap;

use hacmp_compiler::ir::Condition;
use hacmp_compiler::predicate::{EvalError, Observation as Obs, Scalar};
use hacmp_compiler::Bundle;
use hacmp_grammar::ast::Pattern;
use serde::Serialize;

use super::{instance_string, value_string, Instance, Observation};
use hacmp_model::event::{EmData, EventRequest, NodeId};

/// A rule with an Event Management condition.
#[derive(Clone, Debug)]
pub struct EmRule {
    pub name: String,
    pub state: i64,
    pub condition: Condition,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct InstanceState {
    armed: bool,
    previous: Option<Vec<Scalar>>,
    errors_reported: bool,
}

/// What one observation did to one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub rule: String,
    pub instance: String,
    pub predicate: Option<bool>,
    pub rearm: Option<bool>,
    pub armed_after: bool,
    pub raised: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EmRule {
    /// The rules that have an Event Management condition.
    pub fn of_rules(rules: &[hacmp_compiler::ir::Rule]) -> Vec<EmRule> {
        rules
            .iter()
            .filter_map(|r| {
                r.condition.clone().map(|condition| EmRule {
                    name: r.name.clone(),
                    state: r.state,
                    condition,
                })
            })
            .collect()
    }
}

pub struct Engine {
    rules: Vec<EmRule>,
    /// (rule index, instance) → state.
    states: HashMap<(usize, String), InstanceState>,
    /// Only instances whose `NodeNum` is this node (None: every node).
    node: Option<NodeId>,
}

/// Whether a rule's instance vector matches a concrete instance: every
/// element given must match (`*` matches any value); elements left out match.
pub fn matches(c: &Condition, instance: &Instance) -> bool {
    c.instance.iter().all(|(name, p)| match p {
        Pattern::Any => true,
        Pattern::Exact(v) => instance.get(name) == Some(v),
    })
}

impl Engine {
    pub fn new(rules: Vec<EmRule>, node: Option<NodeId>) -> Engine {
        Engine {
            rules,
            states: HashMap::new(),
            node,
        }
    }

    /// The Event Management rules of a bundle.
    pub fn for_bundle(bundle: &Bundle, node: Option<NodeId>) -> Engine {
        Engine::new(EmRule::of_rules(&bundle.rules), node)
    }

    pub fn rules(&self) -> &[EmRule] {
        &self.rules
    }

    /// Whether a rule is armed for an instance (armed until seen otherwise).
    /// How many (rule, instance) pairs are armed and disarmed now.
    pub fn arming(&self) -> (usize, usize) {
        let armed = self.states.values().filter(|s| s.armed).count();
        (armed, self.states.len() - armed)
    }

    pub fn armed(&self, rule: &str, instance: &Instance) -> bool {
        let key = instance_string(instance);
        self.rules
            .iter()
            .position(|r| r.name == rule)
            .and_then(|i| self.states.get(&(i, key)))
            .is_none_or(|s| s.armed)
    }

    /// Feeds one observation; returns the events raised and what each
    /// matching rule did.
    pub fn observe(&mut self, obs: &Observation) -> (Vec<EventRequest>, Vec<Evaluation>) {
        let mut raised = Vec::new();
        let mut steps = Vec::new();
        let node: Option<NodeId> = obs.instance.get("NodeNum").and_then(|n| n.parse().ok());
        if let (Some(me), Some(n)) = (self.node, node) {
            if me != n {
                return (raised, steps);
            }
        }
        let key = instance_string(&obs.instance);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.condition.variable != obs.variable || !matches(&rule.condition, &obs.instance) {
                continue;
            }
            let st = self
                .states
                .entry((i, key.clone()))
                .or_insert_with(|| InstanceState {
                    armed: true,
                    ..Default::default()
                });
            let view = Obs {
                current: &obs.value,
                previous: st.previous.as_deref(),
            };
            let mut step = Evaluation {
                rule: rule.name.clone(),
                instance: key.clone(),
                predicate: None,
                rearm: None,
                armed_after: st.armed,
                raised: false,
                error: None,
            };
            let mut report = |e: EvalError, which: &str, st: &mut InstanceState| {
                if e != EvalError::NoPrevious {
                    step.error = Some(format!("{which}: {e}"));
                    if !st.errors_reported {
                        st.errors_reported = true;
                        tracing::warn!(rule = %rule.name, instance = %key, "evaluating the {which} failed: {e}; the evaluation counts as false (reported once per rule and instance)");
                    }
                }
            };
            if st.armed {
                let p = match rule.condition.predicate.eval(&view) {
                    Ok(v) => v,
                    Err(e) => {
                        report(e, "predicate", st);
                        false
                    }
                };
                step.predicate = Some(p);
                if p {
                    step.raised = true;
                    // Without a rearm predicate the rule stays armed.
                    st.armed = rule.condition.rearm.is_none();
                    let location = node.unwrap_or(0);
                    raised.push(EventRequest::user(
                        rule.name.clone(),
                        rule.state,
                        location,
                        Some(EmData {
                            variable: obs.variable.clone(),
                            instance: key.clone(),
                            value: value_string(&obs.value),
                        }),
                    ));
                }
            } else if let Some(rearm) = &rule.condition.rearm {
                let r = match rearm.eval(&view) {
                    Ok(v) => v,
                    Err(e) => {
                        report(e, "rearm predicate", st);
                        false
                    }
                };
                step.rearm = Some(r);
                if r {
                    st.armed = true;
                }
            }
            step.armed_after = st.armed;
            st.previous = Some(obs.value.clone());
            steps.push(step);
        }
        (raised, steps)
    }
}
