//! UDP heartbeats between the nodes' adapters of a network (`heartbeat` in
//! a `[[network]]`): every interval each adapter broadcasts a datagram on
//! the network's subnet (IPv6: to all nodes of the link, ff02::1) from a
//! socket bound to its interface, and hears the other nodes' datagrams
//! arriving on that interface (they reach every port of the segment, so
//! which adapter hears does not depend on ARP or neighbour discovery). An adapter that heard no other node for
//! `misses` intervals, while another adapter of this node on the network
//! still does, is cut off (a cable pulled on a switch, its link still up).
//! When no adapter of the network hears anything, the heartbeats say
//! nothing: the peers may simply be down, and the links decide.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hacmp_compiler::resources::Resources;

use hacmp_model::event::NodeId;

/// The port heartbeats go to.
pub const PORT: u16 = 6180;
/// The start of every heartbeat; the cluster id and node number follow.
const MAGIC: &str = "hacmp-hb1 ";

/// One adapter of this node on a network with heartbeats.
#[derive(Clone, Debug)]
struct Local {
    network: String,
    subnet: hacmp_compiler::resources::Cidr,
    interface: String,
    /// The subnet's broadcast address; for IPv6, none (all nodes of the
    /// interface's link).
    broadcast: Option<Ipv4Addr>,
    /// Silence longer than this cuts it off.
    limit: Duration,
}

/// Who heard another node when: the pure part.
#[derive(Debug, Default)]
pub struct Hearing {
    adapters: Vec<Heard>,
}

/// One adapter on one network.
#[derive(Debug)]
struct Heard {
    network: String,
    interface: String,
    /// On an IPv6 network (its heartbeats come on the IPv6 socket).
    v6: bool,
    limit: Duration,
    /// When it last heard another node (at first: when watching began, so
    /// an adapter is not judged before it could hear).
    last: Instant,
}

impl Hearing {
    pub fn add(&mut self, network: &str, interface: &str, v6: bool, limit: Duration, now: Instant) {
        self.adapters.push(Heard {
            network: network.to_string(),
            interface: interface.to_string(),
            v6,
            limit,
            last: now,
        });
    }

    /// Another node heard on `interface`, over IPv6 or IPv4.
    pub fn heard(&mut self, interface: &str, v6: bool, now: Instant) {
        for a in self
            .adapters
            .iter_mut()
            .filter(|a| a.interface == interface && a.v6 == v6)
        {
            a.last = now;
        }
    }

    /// Each interface's verdict at `now`, in the order first added: cut
    /// off (false) when, on one of its networks, it hears nobody while
    /// another adapter of that network hears other nodes.
    pub fn verdicts(&self, now: Instant) -> Vec<(String, bool)> {
        let recent = |a: &Heard| now.saturating_duration_since(a.last) <= a.limit;
        let mut out: Vec<(String, bool)> = Vec::new();
        for a in &self.adapters {
            let others_hear = self
                .adapters
                .iter()
                .any(|b| b.network == a.network && b.interface != a.interface && recent(b));
            let ok = recent(a) || !others_hear;
            match out.iter_mut().find(|(i, _)| *i == a.interface) {
                Some((_, v)) => *v &= ok,
                None => out.push((a.interface.clone(), ok)),
            }
        }
        out
    }
}

/// A UDP socket on the heartbeat port of `interface` only (any address),
/// that may broadcast (IPv6: send to the link's all-nodes group through
/// that interface), and where its datagrams go. The device is set before
/// the bind, so each adapter has its own socket on the one port.
fn socket(
    interface: &str,
    broadcast: Option<Ipv4Addr>,
) -> std::io::Result<(tokio::net::UdpSocket, SocketAddr)> {
    use std::os::fd::FromRawFd;
    let index = {
        let c = std::ffi::CString::new(interface)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a NUL-terminated name.
        match unsafe { libc::if_nametoindex(c.as_ptr()) } {
            0 => return Err(std::io::Error::last_os_error()),
            i => i,
        }
    };
    let to = match broadcast {
        Some(b) => SocketAddr::new(IpAddr::V4(b), PORT),
        None => SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            PORT,
            0,
            index,
        )),
    };
    let v6 = broadcast.is_none();
    // SAFETY: a new socket this function owns (wrapped at once, so it is
    // closed on every error path), options with buffers of the length
    // given, and a bind to a sockaddr built here.
    let s = unsafe {
        let fd = libc::socket(
            if v6 { libc::AF_INET6 } else { libc::AF_INET },
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let s = std::net::UdpSocket::from_raw_fd(fd);
        let name = interface.as_bytes();
        let one: libc::c_int = 1;
        let ifindex = index as libc::c_int;
        let int = |v: &libc::c_int| ((v as *const libc::c_int).cast(), 4);
        let mut opts = vec![
            (
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len(),
            ),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR, int(&one).0, 4),
        ];
        if v6 {
            opts.push((libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, int(&one).0, 4));
            opts.push((
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_IF,
                int(&ifindex).0,
                4,
            ));
        } else {
            opts.push((libc::SOL_SOCKET, libc::SO_BROADCAST, int(&one).0, 4));
        }
        for (level, opt, ptr, len) in opts {
            if libc::setsockopt(fd, level, opt, ptr, len as libc::socklen_t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let bound = if v6 {
            let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = PORT.to_be();
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        } else {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = PORT.to_be();
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(std::io::Error::last_os_error());
        }
        s
    };
    Ok((tokio::net::UdpSocket::from_std(s)?, to))
}

/// Sends and hears heartbeats of cluster `cluster` until `stop` is cancelled; tells
/// each change of an adapter's verdict as (interface, reachable). Other
/// clusters' heartbeats on the same link are not heard.
pub async fn run(
    cluster: u32,
    node: NodeId,
    res: Resources,
    tx: tokio::sync::mpsc::UnboundedSender<(String, bool)>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut locals = Vec::new();
    let mut tick = Duration::from_secs(3600);
    for net in &res.networks {
        let Some(hb) = net.heartbeat else {
            continue;
        };
        tick = tick.min(hb.interval.0.max(Duration::from_millis(10)));
        let broadcast = match net.subnet.addr {
            IpAddr::V4(base) => {
                let host = u32::MAX
                    .checked_shr(u32::from(net.subnet.prefix))
                    .unwrap_or(0);
                Some(Ipv4Addr::from(u32::from(base) | host))
            }
            IpAddr::V6(_) => None,
        };
        for a in res.adapters.get(&node).into_iter().flatten() {
            if a.network == net.name {
                locals.push(Local {
                    network: net.name.clone(),
                    subnet: net.subnet,
                    interface: a.interface.clone(),
                    broadcast,
                    limit: hb.interval.0 * hb.misses,
                });
            }
        }
    }
    if locals.is_empty() {
        return;
    }
    let mut hearing = Hearing::default();
    let start = Instant::now();
    for l in &locals {
        hearing.add(
            &l.network,
            &l.interface,
            l.broadcast.is_none(),
            l.limit,
            start,
        );
    }
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
    // By interface and family: an interface may carry an IPv4 and an IPv6
    // network.
    let mut sockets: BTreeMap<(String, bool), (Arc<tokio::net::UdpSocket>, SocketAddr)> =
        BTreeMap::new();
    let mut listeners = Vec::new();
    let mut shown: BTreeMap<String, bool> = BTreeMap::new();
    let mut told_bind: BTreeMap<(String, bool), String> = BTreeMap::new();
    let ours = format!("{MAGIC}{cluster} ");
    let message = format!("{ours}{node} ").into_bytes();
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            Some((i, v6)) = heard.recv() => {
                hearing.heard(&i, v6, Instant::now());
                continue;
            }
            _ = stop.cancelled() => break,
        }
        for l in &locals {
            let key = (l.interface.clone(), l.broadcast.is_none());
            if !sockets.contains_key(&key) {
                match socket(&l.interface, l.broadcast) {
                    Ok((s, to)) => {
                        let s = Arc::new(s);
                        sockets.insert(key.clone(), (s.clone(), to));
                        let (tx, iface) = (heard_tx.clone(), key.clone());
                        let (mine, ours) = (message.clone(), ours.clone());
                        listeners.push(tokio::spawn(async move {
                            let mut buf = [0u8; 64];
                            while let Ok((n, _)) = s.recv_from(&mut buf).await {
                                // Another node's of this cluster, not
                                // this node's own heard on its other
                                // adapter.
                                let b = &buf[..n];
                                if b.starts_with(ours.as_bytes())
                                    && b != mine.as_slice()
                                    && tx.send(iface.clone()).is_err()
                                {
                                    return;
                                }
                            }
                        }));
                    }
                    Err(e) => {
                        let why = e.to_string();
                        if told_bind.get(&key) != Some(&why) {
                            tracing::warn!(
                                node,
                                "heartbeats on {}: {why}; trying again",
                                l.interface
                            );
                            told_bind.insert(key.clone(), why);
                        }
                        continue;
                    }
                }
            }
            if let Some((s, to)) = sockets.get(&key) {
                // A link down is what heartbeats find out: no error here.
                let _ = s.send_to(&message, *to).await;
            }
        }
        for (i, reachable) in hearing.verdicts(Instant::now()) {
            if shown.get(&i) != Some(&reachable) {
                let before = shown.insert(i.clone(), reachable);
                if before.is_some() || !reachable {
                    tracing::info!(
                        node,
                        "heartbeats: {i} {}",
                        if reachable {
                            "hears the others again"
                        } else {
                            "hears no other node while another adapter does: cut off"
                        }
                    );
                    // A cut-off adapter keeps its link: its routes to its
                    // networks' subnets go, or replies would leave through it.
                    for l in locals.iter().filter(|l| l.interface == i) {
                        if let Err(e) = super::linux::subnet_route(&i, l.subnet, reachable).await {
                            tracing::warn!(node, "{e}");
                        }
                    }
                }
                if tx.send((i, reachable)).is_err() {
                    break;
                }
            }
        }
    }
    for l in listeners {
        l.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adapter_is_cut_off_only_while_another_hears() {
        let t = Instant::now();
        let limit = Duration::from_millis(300);
        let mut h = Hearing::default();
        h.add("net1", "eth1", false, limit, t);
        h.add("net1", "eth2", false, limit, t);
        h.add("net2", "eth3", false, limit, t);
        // Nobody heard anything yet: no verdict against anyone.
        assert!(h.verdicts(t).iter().all(|(_, ok)| *ok));
        h.heard("eth2", false, t + Duration::from_millis(5));
        assert!(
            h.verdicts(t + limit).iter().all(|(_, ok)| *ok),
            "not judged before it could hear"
        );
        h.heard("eth1", false, t);
        h.heard("eth2", false, t);
        assert!(h.verdicts(t + limit).iter().all(|(_, ok)| *ok));
        // eth1 goes silent while eth2 hears: eth1 is cut off.
        h.heard("eth2", false, t + limit);
        let v = h.verdicts(t + limit + Duration::from_millis(1));
        assert_eq!(
            v,
            [
                ("eth1".to_string(), false),
                ("eth2".to_string(), true),
                ("eth3".to_string(), true)
            ]
        );
        // Both silent (the peers may be down): no verdict.
        assert!(h.verdicts(t + limit * 3).iter().all(|(_, ok)| *ok));
    }

    /// One interface on an IPv4 and an IPv6 network: heard over IPv4 only,
    /// while the IPv6 network's other adapter hears, it is cut off — one
    /// verdict for the interface, the same at every look.
    #[test]
    fn an_interface_on_two_families_has_one_verdict() {
        let t = Instant::now();
        let limit = Duration::from_millis(300);
        let mut h = Hearing::default();
        h.add("net4", "eth1", false, limit, t);
        h.add("net6", "eth1", true, limit, t);
        h.add("net6", "eth2", true, limit, t);
        let later = t + limit * 2;
        h.heard("eth1", false, later);
        h.heard("eth2", true, later);
        let v = h.verdicts(later);
        assert_eq!(v, [("eth1".to_string(), false), ("eth2".to_string(), true)]);
        assert_eq!(h.verdicts(later), v);
        // Heard over IPv6 too: back.
        h.heard("eth1", true, later);
        assert!(h.verdicts(later).iter().all(|(_, ok)| *ok));
    }
}
