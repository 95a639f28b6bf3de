//! `[[network]]`, `[[node.adapter]]` and `[[resource_group]]` of a site
//! file, turned into [`Resources`] with located errors: S001 for values
//! that are malformed, G001–G006 for what is well formed but wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use hacmp_stdlib::Duration;
use serde::Deserialize;
use toml::Spanned;

use super::{Errors, Node};
use crate::code::Code;
use crate::resources::model::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    name: Spanned<String>,
    subnet: Spanned<String>,
    ipat: Option<Ipat>,
    hold_down: Option<Duration>,
    heartbeat: Option<Duration>,
    misses: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdapter {
    network: Spanned<String>,
    interface: Spanned<String>,
    role: AdapterRole,
    address: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NodeRef {
    Number(u32),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    name: Spanned<String>,
    policy: Policy,
    nodes: Vec<Spanned<NodeRef>>,
    fallback: Option<Spanned<Fallback>>,
    startup: Option<Spanned<Startup>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default, rename = "resource")]
    resources: Vec<Spanned<RawResource>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    ServiceIp,
    Filesystem,
    Application,
    Custom,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    kind: Kind,
    name: Option<String>,
    network: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    device: Option<Spanned<String>>,
    mount_point: Option<Spanned<String>>,
    fstype: Option<String>,
    options: Option<String>,
    fsck: Option<bool>,
    start: Option<Spanned<String>>,
    stop: Option<Spanned<String>>,
    monitor: Option<Spanned<String>>,
    agent: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    interval: Option<Duration>,
    restarts: Option<u32>,
}

/// Heartbeats missed in a row before an adapter counts as cut off.
pub const DEFAULT_MISSES: u32 = 4;

/// The parsed resources, and each command they name with where.
pub(crate) struct Parsed {
    pub resources: Resources,
    pub commands: Vec<(String, Range<usize>)>,
}

pub(crate) fn parse(
    errs: &mut Errors<'_>,
    nodes: &[Node],
    networks: Vec<RawNetwork>,
    adapters: Vec<(u32, Vec<RawAdapter>)>,
    groups: Vec<RawGroup>,
) -> Parsed {
    let mut out = Resources::default();
    let mut commands = Vec::new();
    let mut net_spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for n in networks {
        let name = n.name.get_ref().clone();
        if let Some(first) = net_spans.get(&name) {
            let first = errs.span(first.clone());
            let file = errs.file;
            errs.push(
                n.name.span(),
                format!("network `{name}` is given twice"),
                None,
            )
            .secondary
            .push((file, first, "first given here".into()));
            continue;
        }
        net_spans.insert(name.clone(), n.name.span());
        match Cidr::parse(n.subnet.get_ref(), false) {
            Ok(subnet) => out.networks.push(Network {
                name,
                subnet,
                ipat: n.ipat.unwrap_or(Ipat::Alias),
                hold_down: n.hold_down.unwrap_or(DEFAULT_HOLD_DOWN),
                heartbeat: n.heartbeat.map(|interval| Heartbeat {
                    interval,
                    misses: n.misses.unwrap_or(DEFAULT_MISSES).max(1),
                }),
            }),
            Err(e) => {
                errs.push(
                    n.subnet.span(),
                    format!("subnet of network `{name}`: {e}"),
                    None,
                );
            }
        }
    }
    let known_net = |errs: &mut Errors<'_>, n: &Spanned<String>| -> bool {
        if net_spans.contains_key(n.get_ref()) {
            return true;
        }
        let names: Vec<&str> = net_spans.keys().map(String::as_str).collect();
        let help = crate::suggest(n.get_ref(), names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some("declare it in a `[[network]]` table".into()));
        errs.push(
            n.span(),
            format!("no network is named `{}`", n.get_ref()),
            help,
        );
        false
    };

    for (node, list) in adapters {
        let mut kept = Vec::new();
        for a in list {
            if !known_net(errs, &a.network) {
                continue;
            }
            let address = match &a.address {
                None => None,
                Some(s) => match Cidr::parse(s.get_ref(), true) {
                    Ok(c) => {
                        let net = out.network(a.network.get_ref()).map(|n| n.subnet);
                        if let Some(net) = net.filter(|net| !net.contains(c.addr)) {
                            errs.code(
                                Code::G002,
                                s.span(),
                                format!(
                                    "adapter address {} is outside network `{}` ({net})",
                                    c.addr,
                                    a.network.get_ref()
                                ),
                                None,
                            );
                        }
                        Some(Cidr {
                            prefix: if s.get_ref().contains('/') {
                                c.prefix
                            } else {
                                net.map_or(c.prefix, |n| n.prefix)
                            },
                            ..c
                        })
                    }
                    Err(e) => {
                        errs.push(s.span(), e, None);
                        None
                    }
                },
            };
            let iface = a.interface.get_ref();
            if iface.is_empty() || iface.len() > 15 || iface.contains(['/', ' ', '\0']) {
                errs.push(
                    a.interface.span(),
                    format!("`{iface}` is not a Linux interface name (1 to 15 characters, no `/` or space)"),
                    None,
                );
            }
            kept.push(Adapter {
                network: a.network.into_inner(),
                interface: a.interface.into_inner(),
                role: a.role,
                address,
            });
        }
        if !kept.is_empty() {
            out.adapters.entry(node).or_default().extend(kept);
        }
    }

    // Group names first: `after` may name a later group.
    let mut group_spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for g in &groups {
        let name = g.name.get_ref();
        // Names go into environment variables, metrics labels and the
        // placement (whose `~` keys are not groups).
        let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
        if name.is_empty() || !name.chars().all(plain) {
            errs.push(
                g.name.span(),
                format!(
                    "resource group name `{name}` may hold only letters, digits, `_`, `-` and `.`"
                ),
                None,
            );
        }
        if let Some(first) = group_spans.get(name) {
            let first = errs.span(first.clone());
            let file = errs.file;
            errs.push(
                g.name.span(),
                format!("resource group `{name}` is given twice"),
                None,
            )
            .secondary
            .push((file, first, "first given here".into()));
        } else {
            group_spans.insert(name.clone(), g.name.span());
        }
    }
    // Addresses and mount points, for G003: (what, first group, span).
    let mut taken: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
    let mut after_spans: Vec<(String, String, Range<usize>)> = Vec::new();
    for g in groups {
        let gname = g.name.get_ref().clone();
        if out.group(&gname).is_some() {
            continue;
        }
        let mut members = Vec::new();
        for r in &g.nodes {
            let found = match r.get_ref() {
                NodeRef::Number(n) => nodes.iter().find(|x| x.number == *n),
                NodeRef::Name(s) => nodes.iter().find(|x| &x.name == s),
            };
            match found {
                Some(n) if members.contains(&n.number) => {
                    errs.push(
                        r.span(),
                        format!("node `{}` is listed twice in group `{gname}`", n.name),
                        None,
                    );
                }
                Some(n) => members.push(n.number),
                None => {
                    let shown = match r.get_ref() {
                        NodeRef::Number(n) => n.to_string(),
                        NodeRef::Name(s) => s.clone(),
                    };
                    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
                    let help = match r.get_ref() {
                        NodeRef::Name(s) => crate::suggest(s, names.iter().copied())
                            .map(|s| format!("did you mean `{s}`?")),
                        NodeRef::Number(_) => None,
                    }
                    .or_else(|| Some(format!("the site's nodes are: {}", names.join(", "))));
                    errs.code(
                        Code::G001,
                        r.span(),
                        format!("resource group `{gname}` names node `{shown}`, which the site does not define"),
                        help,
                    );
                }
            }
        }
        if g.nodes.is_empty() {
            errs.push(
                g.name.span(),
                format!("resource group `{gname}` has no nodes"),
                None,
            );
        }
        if let Some(f) = &g.fallback {
            if g.policy != Policy::Cascading {
                errs.push(
                    f.span(),
                    format!(
                        "`fallback` is for cascading groups; `{gname}` is {}",
                        g.policy.as_str()
                    ),
                    Some("rotating groups never move back, concurrent ones never move".into()),
                );
            }
        }
        if let Some(st) = g
            .startup
            .as_ref()
            .filter(|_| g.policy == Policy::Concurrent)
        {
            errs.push(
                st.span(),
                format!("`startup` is for cascading and rotating groups; `{gname}` is concurrent"),
                Some("a concurrent group starts on every live node of its list".into()),
            );
        }
        for a in &g.after {
            if !group_spans.contains_key(a.get_ref()) {
                let names: Vec<&str> = group_spans.keys().map(String::as_str).collect();
                errs.push(
                    a.span(),
                    format!(
                        "group `{gname}` comes after `{}`, which is not a resource group",
                        a.get_ref()
                    ),
                    crate::suggest(a.get_ref(), names.iter().copied())
                        .map(|s| format!("did you mean `{s}`?")),
                );
            } else {
                after_spans.push((gname.clone(), a.get_ref().clone(), a.span()));
            }
        }
        let mut resources: Vec<Resource> = Vec::new();
        for (i, raw) in g.resources.into_iter().enumerate() {
            let span = raw.span();
            let r = raw.into_inner();
            let name = r
                .name
                .clone()
                .unwrap_or_else(|| format!("{gname}-{}", i + 1));
            if resources.iter().any(|x| x.name == name) {
                errs.push(
                    span.clone(),
                    format!("group `{gname}` has two resources named `{name}`"),
                    None,
                );
                continue;
            }
            let need = |errs: &mut Errors<'_>,
                        what: &str,
                        v: &Option<Spanned<String>>|
             -> Option<Spanned<String>> {
                if v.is_none() {
                    errs.push(
                        span.clone(),
                        format!("resource `{name}` of group `{gname}` needs `{what}`"),
                        None,
                    );
                }
                v.clone()
            };
            let kind = match r.kind {
                Kind::ServiceIp => {
                    let (Some(net), Some(addr)) = (
                        need(errs, "network", &r.network),
                        need(errs, "address", &r.address),
                    ) else {
                        continue;
                    };
                    if !known_net(errs, &net) {
                        continue;
                    }
                    let subnet = out.network(net.get_ref()).map(|n| n.subnet);
                    let address = match Cidr::parse(addr.get_ref(), true) {
                        Ok(c) => Cidr {
                            prefix: if addr.get_ref().contains('/') {
                                c.prefix
                            } else {
                                subnet.map_or(c.prefix, |n| n.prefix)
                            },
                            ..c
                        },
                        Err(e) => {
                            errs.push(addr.span(), e, None);
                            continue;
                        }
                    };
                    if let Some(s) = subnet.filter(|s| !s.contains(address.addr)) {
                        errs.code(
                            Code::G002,
                            addr.span(),
                            format!("service address {} is outside network `{}` ({s})", address.addr, net.get_ref()),
                            Some("clients on that network could not reach it: give an address of its subnet".into()),
                        );
                    }
                    claim(
                        errs,
                        &mut taken,
                        format!("address {}", address.addr),
                        &gname,
                        addr.span(),
                    );
                    for n in &members {
                        let has = out
                            .adapters
                            .get(n)
                            .is_some_and(|l| l.iter().any(|a| &a.network == net.get_ref()));
                        if !has {
                            let nn = nodes
                                .iter()
                                .find(|x| x.number == *n)
                                .map_or(String::new(), |x| x.name.clone());
                            errs.code(
                                Code::G004,
                                net.span(),
                                format!("node `{nn}` of group `{gname}` has no adapter on network `{}`", net.get_ref()),
                                Some(format!("give node `{nn}` a `[[node.adapter]]` on `{}`, or take it out of the group", net.get_ref())),
                            );
                        }
                    }
                    ResourceKind::ServiceIp {
                        network: net.into_inner(),
                        address,
                    }
                }
                Kind::Filesystem => {
                    let (Some(dev), Some(mp)) = (
                        need(errs, "device", &r.device),
                        need(errs, "mount_point", &r.mount_point),
                    ) else {
                        continue;
                    };
                    for (what, v) in [("device", &dev), ("mount point", &mp)] {
                        if !v.get_ref().starts_with('/') {
                            errs.push(
                                v.span(),
                                format!("{what} `{}` is not an absolute path", v.get_ref()),
                                None,
                            );
                        } else if crate::fscheck::climbs(v.get_ref()) {
                            errs.code(
                                Code::F003,
                                v.span(),
                                format!("{what} `{}` has a `..` component", v.get_ref()),
                                None,
                            );
                        }
                    }
                    claim(
                        errs,
                        &mut taken,
                        format!("mount point {}", mp.get_ref()),
                        &gname,
                        mp.span(),
                    );
                    let fstype = r.fstype.clone().unwrap_or_else(|| "auto".into());
                    let bind = fstype == "bind" || fstype == "none";
                    if !bind {
                        claim(
                            errs,
                            &mut taken,
                            format!("device {}", dev.get_ref()),
                            &gname,
                            dev.span(),
                        );
                    }
                    ResourceKind::Filesystem {
                        device: dev.into_inner(),
                        mount_point: mp.into_inner(),
                        fsck: r.fsck.unwrap_or(!bind),
                        fstype,
                        options: r.options.clone().unwrap_or_default(),
                    }
                }
                Kind::Application => {
                    let (Some(start), Some(stop)) =
                        (need(errs, "start", &r.start), need(errs, "stop", &r.stop))
                    else {
                        continue;
                    };
                    for (what, c) in [
                        ("start", Some(&start)),
                        ("stop", Some(&stop)),
                        ("monitor", r.monitor.as_ref()),
                    ] {
                        if let Some(c) = c {
                            errs.command(what, c);
                            commands.push((first_word(c.get_ref()), c.span()));
                        }
                    }
                    ResourceKind::Application {
                        start: start.into_inner(),
                        stop: stop.into_inner(),
                        monitor: r.monitor.as_ref().map(|m| Monitor {
                            command: Some(m.get_ref().clone()),
                            interval: r.interval.unwrap_or(Duration::from_millis(10_000)),
                            restarts: r.restarts.unwrap_or(0),
                        }),
                    }
                }
                Kind::Custom => {
                    let Some(agent) = need(errs, "agent", &r.agent) else {
                        continue;
                    };
                    errs.command("agent", &agent);
                    commands.push((first_word(agent.get_ref()), agent.span()));
                    for k in r.params.keys() {
                        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            errs.push(span.clone(), format!("parameter name `{k}` of `{name}` is not letters, digits and `_`"), None);
                        }
                    }
                    ResourceKind::Custom {
                        agent: agent.into_inner(),
                        params: r.params.clone(),
                        monitor: r.interval.map(|interval| Monitor {
                            command: None,
                            interval,
                            restarts: r.restarts.unwrap_or(0),
                        }),
                    }
                }
            };
            if r.kind != Kind::Application
                && r.kind != Kind::Custom
                && (r.interval.is_some() || r.restarts.is_some())
            {
                errs.push(span.clone(), format!("`interval` and `restarts` are for applications and custom resources, not `{name}`"), None);
            }
            resources.push(Resource { name, kind });
        }
        out.groups.push(ResourceGroup {
            name: gname,
            policy: g.policy,
            nodes: members,
            fallback: g.fallback.map_or(Fallback::OnRejoin, |f| f.into_inner()),
            startup: g
                .startup
                .map_or(Startup::FirstAvailable, |s| s.into_inner()),
            after: g.after.into_iter().map(Spanned::into_inner).collect(),
            resources,
        });
    }
    cycles(errs, &out, &after_spans);
    Parsed {
        resources: out,
        commands,
    }
}

fn first_word(c: &str) -> String {
    c.split_whitespace().next().unwrap_or("").to_string()
}

/// G003: one address, mount point or device in two places.
fn claim(
    errs: &mut Errors<'_>,
    taken: &mut BTreeMap<String, (String, Range<usize>)>,
    what: String,
    group: &str,
    span: Range<usize>,
) {
    if let Some((first, at)) = taken.get(&what) {
        let at = errs.span(at.clone());
        let file = errs.file;
        let msg = if first == group {
            format!("{what} is given twice in group `{group}`")
        } else {
            format!("{what} is in groups `{first}` and `{group}`")
        };
        errs.code(
            Code::G003,
            span,
            msg,
            Some("two groups can be online on two nodes at once: each address and file system belongs to one group".into()),
        )
        .secondary
        .push((file, at, format!("also in group `{first}`")));
    } else {
        taken.insert(what, (group.to_string(), span));
    }
}

/// G006: `after` that loops back.
fn cycles(errs: &mut Errors<'_>, r: &Resources, after: &[(String, String, Range<usize>)]) {
    let edges: BTreeMap<&str, Vec<&str>> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.after.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for (from, to, span) in after {
        // A path from `to` back to `from` closes a cycle through this edge.
        let mut path = vec![to.as_str()];
        if let Some(p) = find_path(&edges, to, from, &mut BTreeSet::new(), &mut path) {
            let mut members: Vec<&str> = p.clone();
            members.sort_unstable();
            if !reported.insert(members.join(",")) {
                continue;
            }
            let shown = std::iter::once(from.as_str())
                .chain(p.iter().copied())
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(" after ");
            errs.code(
                Code::G006,
                span.clone(),
                format!("resource group dependencies form a cycle: {shown}"),
                Some("no group of a cycle could ever come online: take one `after` out".into()),
            );
        }
    }
}

fn find_path<'a>(
    edges: &BTreeMap<&'a str, Vec<&'a str>>,
    at: &'a str,
    goal: &str,
    seen: &mut BTreeSet<&'a str>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    if at == goal {
        return Some(path.clone());
    }
    if !seen.insert(at) {
        return None;
    }
    for next in edges.get(at).into_iter().flatten() {
        path.push(next);
        if let Some(p) = find_path(edges, next, goal, seen, path) {
            return Some(p);
        }
        path.pop();
    }
    None
}
