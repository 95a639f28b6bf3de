//! Telling the network that an address moved: a gratuitous ARP for IPv4,
//! an unsolicited neighbour advertisement (RFC 4861 §7.2.6) for IPv6, so
//! that hosts and switches send to the new hardware address at once
//! instead of when their caches expire.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Announces `address`, now on `interface`; says what was sent.
pub fn announce(interface: &str, address: IpAddr) -> Result<&'static str, String> {
    match address {
        IpAddr::V4(a) => gratuitous_arp(interface, a).map(|_| "gratuitous ARP sent"),
        IpAddr::V6(a) => {
            neighbour_advertisement(interface, a).map(|_| "neighbour advertisement sent")
        }
    }
}

/// A socket this module owns, closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this guard owns, once.
        unsafe {
            libc::close(self.0);
        }
    }
}

fn socket(domain: i32, ty: i32, protocol: i32) -> Result<Fd, String> {
    // SAFETY: a plain syscall; the descriptor is owned by the guard.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(format!(
            "cannot open a socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(Fd(fd))
}

/// The interface's index and hardware address.
fn interface(name: &str, fd: &Fd) -> Result<(u32, [u8; 6]), String> {
    let c = std::ffi::CString::new(name).map_err(|_| "interface name with NUL".to_string())?;
    // SAFETY: a NUL-terminated name; `ifr` is zeroed and its name field
    // is filled within its size (the kernel reads at most IFNAMSIZ).
    unsafe {
        let index = libc::if_nametoindex(c.as_ptr());
        if index == 0 {
            return Err(format!("no interface `{name}`"));
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(c.as_bytes()) {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(fd.0, libc::SIOCGIFHWADDR, &mut ifr) < 0 {
            return Err(format!(
                "cannot read the hardware address of `{name}`: {}",
                std::io::Error::last_os_error()
            ));
        }
        let hw = ifr.ifr_ifru.ifru_hwaddr;
        // The messages below carry 6-byte Ethernet addresses.
        if hw.sa_family != libc::ARPHRD_ETHER {
            return Err(format!(
                "`{name}` is not Ethernet (hardware type {}): nothing announced",
                hw.sa_family
            ));
        }
        Ok((index, std::array::from_fn(|i| hw.sa_data[i] as u8)))
    }
}

fn sent(r: isize, what: &str, interface: &str) -> Result<(), String> {
    if r < 0 {
        return Err(format!(
            "cannot send {what} on `{interface}`: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A broadcast ARP request whose sender and target are `address`.
fn gratuitous_arp(name: &str, address: Ipv4Addr) -> Result<(), String> {
    let arp = i32::from((libc::ETH_P_ARP as u16).to_be());
    let fd = socket(libc::AF_PACKET, libc::SOCK_DGRAM, arp)?;
    let (index, mac) = interface(name, &fd)?;
    let ip = address.octets();
    let mut pkt = Vec::with_capacity(28);
    pkt.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    pkt.extend_from_slice(&mac);
    pkt.extend_from_slice(&ip);
    pkt.extend_from_slice(&[0; 6]);
    pkt.extend_from_slice(&ip);
    // SAFETY: `to` is zeroed then filled; the packet outlives the call.
    let r = unsafe {
        let mut to: libc::sockaddr_ll = std::mem::zeroed();
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = index as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        libc::sendto(
            fd.0,
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    sent(r, "a gratuitous ARP", name)
}

/// The ICMPv6 message: a neighbour advertisement for `target` with the
/// override flag (replace what caches hold), not solicited, and the
/// target's link-layer address. The kernel fills in the checksum.
fn advertisement(target: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = 136;
    m[4] = 0x20;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 2;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac);
    m
}

/// An unsolicited neighbour advertisement to all nodes (ff02::1), from
/// `address` itself, with the hop limit 255 receivers require.
fn neighbour_advertisement(name: &str, address: Ipv6Addr) -> Result<(), String> {
    let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
    let (index, mac) = interface(name, &fd)?;
    let msg = advertisement(address, mac);
    let sockaddr = |a: Ipv6Addr, scope: u32| {
        // SAFETY: an all-zero sockaddr_in6 is valid; fields set below.
        let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        s.sin6_family = libc::AF_INET6 as u16;
        s.sin6_addr.s6_addr = a.octets();
        s.sin6_scope_id = scope;
        s
    };
    let link_local = address.segments()[0] & 0xffc0 == 0xfe80;
    let from = sockaddr(address, if link_local { index } else { 0 });
    let to = sockaddr(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), index);
    let hops: libc::c_int = 255;
    let len = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    // SAFETY: every pointer is to a local of the size passed with it.
    unsafe {
        let set = |opt: i32, v: &libc::c_int| {
            libc::setsockopt(
                fd.0,
                libc::IPPROTO_IPV6,
                opt,
                (v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        let ifindex = index as libc::c_int;
        if set(libc::IPV6_MULTICAST_HOPS, &hops) < 0
            || set(libc::IPV6_MULTICAST_IF, &ifindex) < 0
            || libc::bind(fd.0, (&from as *const libc::sockaddr_in6).cast(), len) < 0
        {
            return Err(format!(
                "cannot prepare a neighbour advertisement of {address} on `{name}`: {}",
                std::io::Error::last_os_error()
            ));
        }
        let r = libc::sendto(
            fd.0,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&to as *const libc::sockaddr_in6).cast(),
            len,
        );
        sent(r, "a neighbour advertisement", name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertisement_overrides_and_carries_the_hardware_address() {
        let m = advertisement("fd99::100".parse().unwrap(), [0x02, 0, 0, 0, 0, 0x42]);
        assert_eq!(m[0], 136, "neighbour advertisement");
        assert_eq!(m[1], 0, "code");
        assert_eq!(m[4], 0x20, "override, not router, not solicited");
        assert_eq!(
            &m[8..24],
            &"fd99::100".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&m[24..26], &[2, 1], "target link-layer address, 8 bytes");
        assert_eq!(&m[26..], &[0x02, 0, 0, 0, 0, 0x42]);
    }

    #[test]
    fn an_unknown_interface_is_named() {
        for a in ["10.0.0.1", "fd99::1"] {
            let e = announce("nosuch0", a.parse().unwrap()).unwrap_err();
            assert!(e.contains("`nosuch0`"), "{e}");
        }
    }
}
