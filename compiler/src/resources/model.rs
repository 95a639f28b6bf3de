//! What a site says about its highly available resources: networks, the
//! adapters of each node, resource groups and the resources they hold. Kept
//! in the bundle, so every node places and runs them from the same text.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hacmp_stdlib::Duration;
use serde::{Deserialize, Serialize};

/// An address with a prefix length: `10.77.0.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `ADDR/PREFIX`, or a bare address with the full prefix when
    /// `bare_ok`.
    pub fn parse(s: &str, bare_ok: bool) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None if bare_ok => (s, None),
            None => return Err(format!("`{s}` has no prefix length (e.g. `{s}/24`)")),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length `{p}` is not between 0 and {max}")),
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `a` lies inside this network.
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(x)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(x) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(x)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(x) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s, false).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub subnet: Cidr,
    pub ipat: Ipat,
    /// How long a change of an adapter's link must last before it is a
    /// topology event.
    #[serde(default = "default_hold_down")]
    pub hold_down: Duration,
    /// UDP heartbeats between the nodes' adapters of this network, so an
    /// adapter cut off with its link up is seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub interval: Duration,
    /// Missed in a row before the adapter counts as cut off.
    pub misses: u32,
}

/// How long an adapter's link must stay changed before the change is an
/// event (a flapping link queues nothing until it settles).
pub const DEFAULT_HOLD_DOWN: Duration = Duration(std::time::Duration::from_secs(1));

fn default_hold_down() -> Duration {
    DEFAULT_HOLD_DOWN
}

/// How a node takes a service address over (redbook chapter 14, A.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ipat {
    /// An additional address on the boot adapter (the Linux default).
    Alias,
    /// On the standby adapter, whose own address is taken off meanwhile.
    Swap,
}

/// What an adapter is for (redbook 2.x): the address a node has while it
/// serves nothing, a service address of its own, or a spare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterRole {
    Boot,
    Service,
    Standby,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adapter {
    pub network: String,
    /// The Linux interface name.
    pub interface: String,
    pub role: AdapterRole,
    pub address: Option<Cidr>,
}

/// How a group chooses its node (redbook 6.3, 8.1–8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The highest-priority live node of an ordered list.
    Cascading,
    /// Stays where it is until that node leaves.
    Rotating,
    /// Online on every live node of the list.
    Concurrent,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Cascading => "cascading",
            Policy::Rotating => "rotating",
            Policy::Concurrent => "concurrent",
        }
    }
}

/// Whether a cascading group moves back to a higher-priority node that
/// joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    OnRejoin,
    Never,
}

/// Where an offline group goes when nodes come up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Startup {
    /// On the first live node of its list that may hold it.
    FirstAvailable,
    /// Only on its first node (the redbook's cascading without inactive
    /// takeover): offline until that node is up.
    Home,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub name: String,
    pub policy: Policy,
    /// Node numbers, in priority order.
    pub nodes: Vec<u32>,
    pub fallback: Fallback,
    pub startup: Startup,
    /// Groups that must be online before this one is brought online.
    pub after: Vec<String>,
    /// In start order; stopped in reverse.
    pub resources: Vec<Resource>,
}

impl ResourceGroup {
    /// The network of its first service address (rotating groups are
    /// spread per network).
    pub fn network(&self) -> Option<&str> {
        self.resources.iter().find_map(|r| match &r.kind {
            ResourceKind::ServiceIp { network, .. } => Some(network.as_str()),
            _ => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(flatten)]
    pub kind: ResourceKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceKind {
    /// An address clients use; it moves with the group.
    ServiceIp { network: String, address: Cidr },
    /// A file system mounted at `mount_point`, checked first when `fsck`.
    Filesystem {
        device: String,
        mount_point: String,
        fstype: String,
        options: String,
        fsck: bool,
    },
    /// Start and stop commands, and a monitor run every `interval`.
    Application {
        start: String,
        stop: String,
        monitor: Option<Monitor>,
    },
    /// An agent in the shape of an OCF resource agent: `AGENT start`,
    /// `AGENT stop`, `AGENT monitor` (7: not running), parameters as
    /// `OCF_RESKEY_name` in its environment.
    Custom {
        agent: String,
        params: BTreeMap<String, String>,
        monitor: Option<Monitor>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// The command (applications; a custom agent is its own monitor).
    pub command: Option<String>,
    pub interval: Duration,
    /// Restarts on this node before the group is moved.
    pub restarts: u32,
}

impl ResourceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceKind::ServiceIp { .. } => "service_ip",
            ResourceKind::Filesystem { .. } => "filesystem",
            ResourceKind::Application { .. } => "application",
            ResourceKind::Custom { .. } => "custom",
        }
    }
}

/// Networks and resource groups of a site.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// Adapters by node number.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adapters: BTreeMap<u32, Vec<Adapter>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ResourceGroup>,
}

impl Resources {
    /// No resource groups (networks alone move nothing).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Nothing at all: no networks, adapters or groups.
    pub fn is_unset(&self) -> bool {
        self.networks.is_empty() && self.adapters.is_empty() && self.groups.is_empty()
    }

    pub fn group(&self, name: &str) -> Option<&ResourceGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// A network by its number: the topology events name networks by
    /// their place in the site file, from 1.
    pub fn network_numbered(&self, number: u32) -> Option<&Network> {
        self.networks.get((number as usize).checked_sub(1)?)
    }

    /// The number of a network (its place in the site file, from 1).
    pub fn network_number(&self, name: &str) -> Option<u32> {
        self.networks
            .iter()
            .position(|n| n.name == name)
            .map(|i| i as u32 + 1)
    }

    /// The adapter a node puts a service address of `network` on: with
    /// swapping, its standby (when it has one); else its boot adapter
    /// (aliasing), or whichever adapter it has there.
    pub fn adapter_for(&self, node: u32, network: &str) -> Option<&Adapter> {
        let on = self.adapters.get(&node)?;
        let of = |role| on.iter().find(|a| a.network == network && a.role == role);
        let swap = self.network(network).is_some_and(|n| n.ipat == Ipat::Swap);
        let first = if swap { of(AdapterRole::Standby) } else { None };
        first
            .or_else(|| of(AdapterRole::Boot))
            .or_else(|| of(AdapterRole::Service))
            .or_else(|| of(AdapterRole::Standby))
    }

    /// Groups in an order where each comes after those it names in
    /// `after` (cycles are refused at lint; any left are broken by name).
    pub fn start_order(&self) -> Vec<&ResourceGroup> {
        let mut out: Vec<&ResourceGroup> = Vec::new();
        let mut placed = std::collections::BTreeSet::new();
        while out.len() < self.groups.len() {
            let before = out.len();
            for g in &self.groups {
                if !placed.contains(g.name.as_str())
                    && g.after
                        .iter()
                        .all(|a| placed.contains(a.as_str()) || self.group(a).is_none())
                {
                    placed.insert(g.name.as_str());
                    out.push(g);
                }
            }
            if out.len() == before {
                // A cycle: take the rest in site order.
                for g in &self.groups {
                    if placed.insert(g.name.as_str()) {
                        out.push(g);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let n = Cidr::parse("10.77.0.0/24", false).unwrap();
        assert!(n.contains("10.77.0.200".parse().unwrap()));
        assert!(!n.contains("10.77.1.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.77.0.0", false).is_err());
        assert_eq!(Cidr::parse("10.0.0.1", true).unwrap().prefix, 32);
        assert!(Cidr::parse("10.0.0.1/33", false).is_err());
        assert!(Cidr::parse("10.0.0.300/8", false).is_err());
        let all = Cidr::parse("0.0.0.0/0", false).unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/64", false).unwrap();
        assert!(v6.contains("fd00::5".parse().unwrap()));
        assert!(!v6.contains("fd01::5".parse().unwrap()));
    }
}
