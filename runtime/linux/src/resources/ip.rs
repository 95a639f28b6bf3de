//! Service addresses through rtnetlink (no `ip` command, no shell).

use std::net::IpAddr;

use futures::TryStreamExt;
use hacmp_compiler::resources::Cidr;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};

async fn handle() -> Result<rtnetlink::Handle, String> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn link_index(h: &rtnetlink::Handle, interface: &str) -> Result<u32, String> {
    let mut links = h.link().get().match_name(interface.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        Ok(None) => Err(format!("no interface `{interface}`")),
        Err(e) => Err(format!("no interface `{interface}` ({e})")),
    }
}

/// Whether `address` is on `interface`.
pub async fn has(interface: &str, address: IpAddr) -> Result<bool, String> {
    let h = handle().await?;
    let index = link_index(&h, interface).await?;
    let mut got = h
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(address)
        .execute();
    Ok(got
        .try_next()
        .await
        .map_err(|e| format!("cannot list the addresses of `{interface}`: {e}"))?
        .is_some())
}

/// Puts `address` on `interface` (a no-op when it is there).
pub async fn add(interface: &str, address: Cidr) -> Result<bool, String> {
    if has(interface, address.addr).await? {
        return Ok(false);
    }
    let h = handle().await?;
    let index = link_index(&h, interface).await?;
    let mut req = h
        .address()
        .add(index, address.addr, address.prefix)
        .replace();
    // No duplicate address detection: a service address is the cluster's
    // to move, and must answer at once (DAD holds it a second or more).
    if address.addr.is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute()
        .await
        .map_err(|e| format!("cannot add {address} to `{interface}`: {e}"))?;
    Ok(true)
}

/// Takes `address` off `interface` (a no-op when it is not there).
pub async fn remove(interface: &str, address: IpAddr) -> Result<bool, String> {
    let h = handle().await?;
    let index = link_index(&h, interface).await?;
    let where_ = format!("`{interface}`");
    Ok(remove_from(&h, Some(index), address, &where_).await? > 0)
}

/// Takes `address` off every interface it is on; how many it was on (the
/// warden, which does not know where the daemon put it last).
pub async fn remove_everywhere(address: IpAddr) -> Result<usize, String> {
    let h = handle().await?;
    remove_from(&h, None, address, "its interfaces").await
}

/// Deletes `address` wherever it is on link `index` (any link: `None`).
async fn remove_from(
    h: &rtnetlink::Handle,
    index: Option<u32>,
    address: IpAddr,
    where_: &str,
) -> Result<usize, String> {
    let mut get = h.address().get().set_address_filter(address);
    if let Some(i) = index {
        get = get.set_link_index_filter(i);
    }
    let found: Vec<_> = get
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("cannot list the addresses of {where_}: {e}"))?;
    let n = found.len();
    for m in found {
        h.address()
            .del(m)
            .execute()
            .await
            .map_err(|e| format!("cannot remove {address} from {where_}: {e}"))?;
    }
    Ok(n)
}
