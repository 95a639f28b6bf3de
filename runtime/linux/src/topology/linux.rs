//! Link states from the kernel: a netlink socket subscribed to link
//! messages (no polling, no `ip`), and a dump of the current states made on
//! the same socket after it subscribed, so no change falls between them.

use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{AsyncSocket, SocketAddr};

use super::Links;

/// Up: administratively up and with a carrier.
fn state(m: &LinkMessage) -> Option<(String, bool)> {
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    let f = m.header.flags;
    Some((
        name,
        f.contains(LinkFlags::Up) && f.contains(LinkFlags::LowerUp),
    ))
}

/// The current state of `interfaces` and a feed of their changes. An
/// interface that does not exist counts as down.
pub async fn subscribe(interfaces: &[String]) -> Result<(Vec<(String, bool)>, Links), String> {
    let (mut conn, handle, mut messages) =
        rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    conn.socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, rtnetlink::constants::RTMGRP_LINK))
        .map_err(|e| format!("cannot subscribe to link messages: {e}"))?;
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let wanted: Vec<String> = interfaces.to_vec();
    let mut initial: Vec<(String, bool)> = handle
        .link()
        .get()
        .execute()
        .try_filter_map(|m| async move { Ok(state(&m)) })
        .try_filter(|(n, _)| futures::future::ready(wanted.contains(n)))
        .try_collect()
        .await
        .map_err(|e| format!("cannot list the links: {e}"))?;
    for i in interfaces {
        if !initial.iter().any(|(n, _)| n == i) {
            tracing::warn!("adapter `{i}` does not exist: counted as down");
            initial.push((i.clone(), false));
        }
    }
    let wanted: Vec<String> = interfaces.to_vec();
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let seen = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => state(&m),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                    state(&m).map(|(n, _)| (n, false))
                }
                _ => None,
            };
            if let Some((n, up)) = seen.filter(|(n, _)| wanted.contains(n)) {
                if tx.send((n, up)).is_err() {
                    return;
                }
            }
        }
    });
    Ok((initial, rx))
}

/// Takes the routes to `subnet` through `interface` away (`present:
/// false`: an adapter cut off, so traffic to the subnet goes through the
/// adapters that work), or gives one back after the others (metric 1). A
/// link set down and up again gets its own route back from the kernel.
pub async fn subnet_route(
    interface: &str,
    subnet: hacmp_compiler::resources::Cidr,
    present: bool,
) -> Result<(), String> {
    use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteScope};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    tokio::spawn(conn);
    let index = handle
        .link()
        .get()
        .match_name(interface.to_string())
        .execute()
        .try_next()
        .await
        .ok()
        .flatten()
        .map(|l| l.header.index)
        .ok_or_else(|| format!("no interface `{interface}`"))?;
    if present {
        let route = match subnet.addr {
            IpAddr::V4(dest) => rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(dest, subnet.prefix)
                .output_interface(index)
                .scope(RouteScope::Link)
                .priority(1)
                .build(),
            IpAddr::V6(dest) => rtnetlink::RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(dest, subnet.prefix)
                .output_interface(index)
                .priority(1)
                .build(),
        };
        return match handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m))
                if m.to_io().kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok(())
            }
            Err(e) => Err(format!(
                "cannot give {interface} its route to {subnet}: {e}"
            )),
        };
    }
    let family = match subnet.addr {
        IpAddr::V4(_) => rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build(),
        IpAddr::V6(_) => rtnetlink::RouteMessageBuilder::<Ipv6Addr>::new().build(),
    };
    let all: Vec<_> = handle
        .route()
        .get(family)
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("cannot list the routes: {e}"))?;
    for r in all {
        let to_subnet = r.attributes.iter().any(|a| match (a, subnet.addr) {
            (RouteAttribute::Destination(RouteAddress::Inet(d)), IpAddr::V4(s)) => *d == s,
            (RouteAttribute::Destination(RouteAddress::Inet6(d)), IpAddr::V6(s)) => *d == s,
            _ => false,
        });
        let ours = r.header.destination_prefix_length == subnet.prefix
            && to_subnet
            && r.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index));
        if ours {
            handle
                .route()
                .del(r)
                .execute()
                .await
                .map_err(|e| format!("cannot take {interface}'s route to {subnet} away: {e}"))?;
        }
    }
    Ok(())
}
