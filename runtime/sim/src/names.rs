//! Names that scenarios and commands give, checked against the site: node
//! numbers, events (with their state), commands of the programs, resource
//! variables. A name that names nothing is an error with the closest name,
//! not a silent "no rule" later.

use hacmp_compiler::ir::Command;
use hacmp_compiler::Bundle;

use crate::scenario::Scenario;
use hacmp_model::event::{node_list, NodeId};

fn did_you_mean<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> String {
    hacmp_compiler::suggest(word, names)
        .map(|s| format!(": did you mean `{s}`?"))
        .unwrap_or_default()
}

/// A node of the site.
pub fn node(bundle: &Bundle, n: NodeId) -> Result<(), String> {
    let nodes = bundle.site.nodes.iter().map(|x| x.number);
    if bundle.site.nodes.iter().any(|x| x.number == n) {
        Ok(())
    } else {
        Err(format!(
            "node {n} is not a node of the site (nodes {})",
            node_list(nodes)
        ))
    }
}

/// An event the rules have a rule for, in that state.
pub fn event(bundle: &Bundle, name: &str, state: i64) -> Result<(), String> {
    if bundle.rule(name, state).is_some() {
        return Ok(());
    }
    let states: Vec<String> = bundle
        .rules
        .iter()
        .filter(|r| r.name == name)
        .map(|r| r.state.to_string())
        .collect();
    if !states.is_empty() {
        return Err(format!(
            "`{name}` has no rule for state {state} (its states: {})",
            states.join(", ")
        ));
    }
    Err(format!(
        "no rule is named `{name}`{}",
        did_you_mean(name, bundle.rules.iter().map(|r| r.name.as_str()))
    ))
}

/// What a command of the programs may be called: a script's name, a
/// command as written, its path, or its file name.
fn command_names(bundle: &Bundle) -> Vec<String> {
    let mut out = Vec::new();
    for p in bundle.programs.values() {
        for c in p.groups.iter().flat_map(|g| g.commands.iter()) {
            let exec = |argv: Vec<String>, out: &mut Vec<String>| {
                out.push(argv.join(" "));
                if let Some(first) = argv.first() {
                    out.push(first.clone());
                    out.push(first.rsplit('/').next().unwrap_or(first).to_string());
                }
            };
            match &c.command {
                Command::Script { name } => {
                    out.push(name.clone());
                    // Its notify, pre, post and recovery commands run too.
                    let def = bundle.site.scripts.get(name);
                    for aux in def
                        .into_iter()
                        .flat_map(|d| [&d.notify, &d.pre, &d.post, &d.recovery])
                        .flatten()
                    {
                        exec(
                            aux.split_whitespace().map(str::to_string).collect(),
                            &mut out,
                        );
                    }
                }
                Command::Exec { argv } => exec(argv.clone(), &mut out),
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A command some program runs.
pub fn command(bundle: &Bundle, cmd: &str) -> Result<(), String> {
    let names = command_names(bundle);
    if names.iter().any(|n| n == cmd) {
        Ok(())
    } else {
        Err(format!(
            "no program runs a command `{cmd}`{}",
            did_you_mean(cmd, names.iter().map(String::as_str))
        ))
    }
}

/// A resource variable of the site's catalog.
pub fn variable(bundle: &Bundle, name: &str) -> Result<(), String> {
    let catalog = bundle.site.full_catalog();
    if catalog.get(name).is_some() {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a resource variable of the catalog{}",
            did_you_mean(name, catalog.variables.iter().map(|v| v.name.as_str()))
        ))
    }
}

/// A resource group of the site.
pub fn group(bundle: &Bundle, group: &str) -> Result<(), String> {
    let groups = &bundle.site.resources.groups;
    if groups.iter().any(|g| g.name == group) {
        return Ok(());
    }
    Err(format!(
        "no resource group is named `{group}`{}",
        did_you_mean(group, groups.iter().map(|g| g.name.as_str()))
    ))
}

/// A resource of a group of the site.
pub fn resource(bundle: &Bundle, group: &str, resource: &str) -> Result<(), String> {
    let groups = &bundle.site.resources.groups;
    self::group(bundle, group)?;
    let Some(g) = groups.iter().find(|g| g.name == group) else {
        return Ok(());
    };
    if g.resources.iter().any(|r| r.name == resource) {
        return Ok(());
    }
    Err(format!(
        "group `{group}` has no resource `{resource}`{}",
        did_you_mean(resource, g.resources.iter().map(|r| r.name.as_str()))
    ))
}

/// Where in a scenario a name is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The n-th `[[at]]` (0-based).
    Happening(usize),
    /// The n-th `[[override]]`.
    Override(usize),
    Monitor,
}

/// Every name of a scenario that names nothing of the site.
pub fn scenario(sc: &Scenario, bundle: &Bundle) -> Vec<(Place, String)> {
    let mut out = Vec::new();
    for (i, h) in sc.timeline.iter().enumerate() {
        let at = Place::Happening(i);
        let mut nodes: Vec<NodeId> = Vec::new();
        nodes.extend(h.start.iter().flatten());
        nodes.extend(h.crash);
        nodes.extend(h.stop);
        nodes.extend(h.stop_node.as_ref().map(|a| a.node));
        nodes.extend(h.start_node);
        for n in [&h.network_up, &h.network_down, &h.swap_adapter]
            .into_iter()
            .flatten()
        {
            nodes.push(n.node);
        }
        if let Some(r) = &h.resume {
            nodes.extend(r.node);
        }
        if let Some(w) = &h.when {
            nodes.extend(w.node);
            if let Some(e) = &w.event {
                if !bundle.rules.iter().any(|r| &r.name == e) {
                    out.push((
                        at,
                        format!("`when`: {}", event(bundle, e, 0).err().unwrap_or_default()),
                    ));
                }
            }
            if let Some(c) = &w.command {
                if let Err(e) = command(bundle, c) {
                    out.push((at, format!("`when`: {e}")));
                }
            }
        }
        if let Some(r) = &h.raise {
            nodes.push(r.location);
            if let Err(e) = event(bundle, &r.event, r.state) {
                out.push((at, format!("`raise`: {e}")));
            }
        }
        if let Some(f) = &h.fail {
            nodes.push(f.node);
            if let Err(e) = resource(bundle, &f.group, &f.resource) {
                out.push((at, format!("`fail`: {e}")));
            }
        }
        for (what, g) in [("offline", &h.offline), ("online", &h.online)] {
            if let Some(Err(e)) = g.as_ref().map(|g| group(bundle, g)) {
                out.push((at, format!("`{what}`: {e}")));
            }
        }
        if let Some(m) = &h.move_group {
            nodes.extend(m.to);
            if let Err(e) = group(bundle, &m.group) {
                out.push((at, format!("`move`: {e}")));
            }
        }
        if let Some(o) = &h.observe {
            nodes.push(o.node);
            if let Err(e) = variable(bundle, &o.variable) {
                out.push((at, format!("`observe`: {e}")));
            }
        }
        for n in nodes {
            // A node a deployed site adds may appear after the deploy.
            let deployed = sc.deploys.values().any(|b| node(b, n).is_ok());
            match node(bundle, n) {
                Err(e) if !deployed => out.push((at, e)),
                _ => {}
            }
        }
    }
    for (i, o) in sc.overrides.iter().enumerate() {
        let at = Place::Override(i);
        if let Err(e) = command(bundle, &o.command) {
            out.push((at, e));
        }
        for n in o.node.iter().chain(o.location.iter()) {
            if let Err(e) = node(bundle, *n) {
                out.push((at, e));
            }
        }
        if let Some(e) = &o.event {
            if !bundle.rules.iter().any(|r| &r.name == e) {
                out.push((at, event(bundle, e, 0).err().unwrap_or_default()));
            }
        }
    }
    if let Some(m) = &sc.monitor {
        for n in &m.nodes {
            if let Err(e) = node(bundle, *n) {
                out.push((Place::Monitor, e));
            }
        }
    }
    out
}
