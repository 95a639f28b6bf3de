//! Service addresses through rtnetlink (no `ip` command, no shell), and
//! the gratuitous ARP that makes clients' caches follow an address.

use std::net::IpAddr;

use futures::TryStreamExt;
use hacmp_compiler::resources::Cidr;

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
    h.address()
        .add(index, address.addr, address.prefix)
        .replace()
        .execute()
        .await
        .map_err(|e| format!("cannot add {address} to `{interface}`: {e}"))?;
    Ok(true)
}

/// Takes `address` off `interface` (a no-op when it is not there).
pub async fn remove(interface: &str, address: IpAddr) -> Result<bool, String> {
    let h = handle().await?;
    let index = link_index(&h, interface).await?;
    let found: Vec<_> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(address)
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("cannot list the addresses of `{interface}`: {e}"))?;
    let any = !found.is_empty();
    for m in found {
        h.address()
            .del(m)
            .execute()
            .await
            .map_err(|e| format!("cannot remove {address} from `{interface}`: {e}"))?;
    }
    Ok(any)
}

/// Broadcasts a gratuitous ARP request for `address` (IPv4) from
/// `interface`, so hosts and switches learn its new hardware address.
pub fn gratuitous_arp(interface: &str, address: std::net::Ipv4Addr) -> Result<(), String> {
    let name =
        std::ffi::CString::new(interface).map_err(|_| "interface name with NUL".to_string())?;
    // SAFETY: plain syscalls on a socket this function owns; every buffer
    // passed is sized and initialised here.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        if index == 0 {
            return Err(format!("no interface `{interface}`"));
        }
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from((libc::ETH_P_ARP as u16).to_be()),
        );
        if fd < 0 {
            return Err(format!(
                "cannot open a packet socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let close = Closer(fd);
        // The interface's hardware address.
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(close.0, libc::SIOCGIFHWADDR, &mut ifr) < 0 {
            return Err(format!(
                "cannot read the hardware address of `{interface}`: {}",
                std::io::Error::last_os_error()
            ));
        }
        let hw = ifr.ifr_ifru.ifru_hwaddr.sa_data;
        let mac: [u8; 6] = std::array::from_fn(|i| hw[i] as u8);
        let ip = address.octets();
        // ARP request, sender and target the same address.
        let mut pkt = Vec::with_capacity(28);
        pkt.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        pkt.extend_from_slice(&mac);
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&[0; 6]);
        pkt.extend_from_slice(&ip);
        let mut to: libc::sockaddr_ll = std::mem::zeroed();
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = index as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        let sent = libc::sendto(
            close.0,
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        if sent < 0 {
            return Err(format!(
                "cannot send a gratuitous ARP on `{interface}`: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

struct Closer(i32);

impl Drop for Closer {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this guard owns, once.
        unsafe {
            libc::close(self.0);
        }
    }
}
