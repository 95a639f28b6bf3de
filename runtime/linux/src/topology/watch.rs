//! From adapter link states to topology events: a pure state machine, fed
//! observations with the time they were made, asked what is due. A change
//! must last the network's hold-down before it counts, so a flapping link
//! queues nothing until it settles, and then one event per adapter per
//! change.
//!
//! The rules, per network of this node, comparing the adapters up before
//! (as last reported) and now:
//! - none up any more: `network_down`; some up again: `network_up`;
//! - the adapter carrying the service addresses went down and another is
//!   up: `swap_adapter` (the addresses move to it, redbook A.1 and 14);
//! - another adapter went down: `fail_standby`; came up: `join_standby`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hacmp_compiler::resources::{AdapterRole, Resources};

use hacmp_model::event::EventKind;

/// One adapter of this node.
#[derive(Clone, Debug)]
struct Adapter {
    network: String,
    number: u32,
    interface: String,
    role: AdapterRole,
    hold: Duration,
}

/// What the watch decided: an event to queue, and why (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub kind: EventKind,
    pub why: String,
}

#[derive(Debug)]
pub struct Watch {
    adapters: Vec<Adapter>,
    /// The latest state seen of each interface, and since when.
    seen: BTreeMap<String, (bool, Instant)>,
    /// The state the events so far account for.
    reported: BTreeMap<String, bool>,
    /// The interface carrying the service addresses of each network.
    carrier: BTreeMap<String, String>,
}

impl Watch {
    /// The adapters `node` has in the site; carriers as the site places
    /// service addresses.
    pub fn new(res: &Resources, node: u32) -> Watch {
        let mut adapters = Vec::new();
        let mut carrier = BTreeMap::new();
        for a in res.adapters.get(&node).into_iter().flatten() {
            let Some(number) = res.network_number(&a.network) else {
                continue;
            };
            let hold = res
                .network(&a.network)
                .map_or(Duration::from_secs(1), |n| n.hold_down.0);
            adapters.push(Adapter {
                network: a.network.clone(),
                number,
                interface: a.interface.clone(),
                role: a.role,
                hold,
            });
            if let Some(c) = res.adapter_for(node, &a.network) {
                carrier.insert(a.network.clone(), c.interface.clone());
            }
        }
        Watch {
            adapters,
            seen: BTreeMap::new(),
            reported: BTreeMap::new(),
            carrier,
        }
    }

    /// The interfaces to watch.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.adapters.iter().map(|a| a.interface.as_str())
    }

    /// The interface carrying the service addresses of `network`.
    pub fn carrier(&self, network: &str) -> Option<&str> {
        self.carrier.get(network).map(String::as_str)
    }

    pub fn carriers(&self) -> &BTreeMap<String, String> {
        &self.carrier
    }

    /// An interface's link is `up` (or not) at `now`. The first state seen
    /// of an interface is where it starts: it is reported as it is, and a
    /// network with nothing up at start is down.
    pub fn observe(&mut self, interface: &str, up: bool, now: Instant) {
        if !self.adapters.iter().any(|a| a.interface == interface) {
            return;
        }
        match self.seen.get(interface) {
            Some((was, _)) if *was == up => {}
            Some(_) => {
                self.seen.insert(interface.to_string(), (up, now));
            }
            None => {
                self.seen.insert(interface.to_string(), (up, now));
                self.reported.insert(interface.to_string(), up);
                // A carrier that starts down hands over before anything is
                // acquired on it.
                let nets: Vec<String> = self
                    .adapters
                    .iter()
                    .filter(|a| a.interface == interface)
                    .map(|a| a.network.clone())
                    .collect();
                for net in nets {
                    let c = self.carrier.get(&net).cloned().unwrap_or_default();
                    if self.reported.get(&c) == Some(&false) {
                        if let Some(other) = self.best_up(&net, &self.reported) {
                            self.carrier.insert(net, other);
                        }
                    }
                }
            }
        }
    }

    /// Networks whose every adapter has been seen, with nothing up: down
    /// from the start. Asked once, after the first observations.
    pub fn down_at_start(&self) -> Vec<Decided> {
        let mut out = Vec::new();
        for (net, number) in self.networks() {
            let all_seen = self
                .of(&net)
                .all(|a| self.reported.contains_key(&a.interface));
            if all_seen && !self.of(&net).any(|a| self.reported[&a.interface]) {
                out.push(Decided {
                    kind: EventKind::NetworkDown { network: number },
                    why: format!("no adapter of network `{net}` is up"),
                });
            }
        }
        out
    }

    /// When the next change settles, if one is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.adapters
            .iter()
            .filter_map(|a| {
                let (up, since) = self.seen.get(&a.interface)?;
                (self.reported.get(&a.interface) != Some(up)).then_some(*since + a.hold)
            })
            .min()
    }

    /// The events of the changes settled by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Decided> {
        let mut out = Vec::new();
        for (net, number) in self.networks() {
            let before = self.reported.clone();
            let mut after = before.clone();
            let mut lost = Vec::new();
            let mut gained = Vec::new();
            for a in self.of(&net) {
                let Some((up, since)) = self.seen.get(&a.interface) else {
                    continue;
                };
                if before.get(&a.interface) == Some(up) || now < *since + a.hold {
                    continue;
                }
                after.insert(a.interface.clone(), *up);
                if *up {
                    gained.push(a.interface.clone());
                } else {
                    lost.push(a.interface.clone());
                }
            }
            if lost.is_empty() && gained.is_empty() {
                continue;
            }
            let up_before = self
                .of(&net)
                .any(|a| before.get(&a.interface) == Some(&true));
            let up_after = self
                .of(&net)
                .any(|a| after.get(&a.interface) == Some(&true));
            let carrier = self.carrier.get(&net).cloned().unwrap_or_default();
            match (up_before, up_after) {
                (true, false) => out.push(Decided {
                    kind: EventKind::NetworkDown { network: number },
                    why: format!(
                        "{} down: no adapter of network `{net}` is up",
                        lost.join(", ")
                    ),
                }),
                (false, true) => {
                    if let Some(c) = self.best_up(&net, &after) {
                        self.carrier.insert(net.clone(), c);
                    }
                    out.push(Decided {
                        kind: EventKind::NetworkUp { network: number },
                        why: format!(
                            "{} up: network `{net}` is reachable again",
                            gained.join(", ")
                        ),
                    });
                }
                (false, false) => {}
                (true, true) => {
                    for i in &lost {
                        if *i == carrier {
                            let to = self.best_up(&net, &after).unwrap_or_default();
                            out.push(Decided {
                                kind: EventKind::AdapterSwap { network: number },
                                why: format!("{i} down: the service addresses of network `{net}` move to {to}"),
                            });
                            self.carrier.insert(net.clone(), to);
                        } else {
                            out.push(Decided {
                                kind: EventKind::StandbyFail { network: number },
                                why: format!("{i} down (network `{net}`; {carrier} carries the service addresses)"),
                            });
                        }
                    }
                    for i in &gained {
                        out.push(Decided {
                            kind: EventKind::StandbyJoin { network: number },
                            why: format!("{i} up: a spare adapter of network `{net}` again"),
                        });
                    }
                }
            }
            self.reported = after;
        }
        out
    }

    fn networks(&self) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = self
            .adapters
            .iter()
            .map(|a| (a.network.clone(), a.number))
            .collect();
        v.sort_by_key(|(_, n)| *n);
        v.dedup();
        v
    }

    fn of<'a>(&'a self, net: &'a str) -> impl Iterator<Item = &'a Adapter> + 'a {
        self.adapters.iter().filter(move |a| a.network == net)
    }

    /// The adapter to carry service addresses among those up: a standby
    /// first (it is there for that), then boot, then service.
    fn best_up(&self, net: &str, state: &BTreeMap<String, bool>) -> Option<String> {
        let rank = |r: AdapterRole| match r {
            AdapterRole::Standby => 0,
            AdapterRole::Boot => 1,
            AdapterRole::Service => 2,
        };
        let mut up: Vec<&Adapter> = self
            .of(net)
            .filter(|a| state.get(&a.interface) == Some(&true))
            .collect();
        up.sort_by_key(|a| rank(a.role));
        up.first().map(|a| a.interface.clone())
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
