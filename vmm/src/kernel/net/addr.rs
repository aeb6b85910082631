//! Socket addresses: decoding what the guest passes (with Linux's checks
//! and errno for each family) and encoding what getsockname, getpeername,
//! accept and recvfrom give back.

use zerocopy::{FromBytes, IntoBytes};

use crate::kernel::abi::netlink::SockaddrNl;
use crate::kernel::abi::socket::*;
use crate::kernel::errno::*;

/// An AF_UNIX name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UnixName {
    /// Not bound (or bound to nothing: a socketpair's ends).
    Unnamed,
    /// A name in the file system, as given (without its NUL).
    Path(Vec<u8>),
    /// A name in the sandbox's abstract namespace (after the leading NUL;
    /// every byte counts, NULs too).
    Abstract(Vec<u8>),
}

/// An address of one of the families faultline serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SockAddr {
    Unix(UnixName),
    V4 {
        ip: [u8; 4],
        port: u16,
    },
    V6 {
        ip: [u8; 16],
        port: u16,
        flowinfo: u32,
        scope: u32,
    },
    /// A netlink port id and multicast groups (0: the kernel).
    Netlink {
        pid: u32,
        groups: u32,
    },
}

/// An IP address of either family, for the loopback's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

pub(crate) const V4_ANY: [u8; 4] = [0; 4];
pub(crate) const V4_LOOPBACK: [u8; 4] = [127, 0, 0, 1];
pub(crate) const V6_ANY: [u8; 16] = [0; 16];
pub(crate) const V6_LOOPBACK: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

impl Ip {
    pub(crate) fn is_any(self) -> bool {
        matches!(self, Ip::V4(V4_ANY) | Ip::V6(V6_ANY))
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 one.
    pub(crate) fn unmapped(self) -> Ip {
        match self {
            Ip::V6(a) if a[..10] == [0; 10] && a[10..12] == [0xff, 0xff] => Ip::V4([a[12], a[13], a[14], a[15]]),
            ip => ip,
        }
    }

    /// Whether the sandbox's loopback has this address (lo holds
    /// 127.0.0.0/8 and ::1): a bind elsewhere is EADDRNOTAVAIL.
    pub(crate) fn is_local(self) -> bool {
        match self.unmapped() {
            Ip::V4(a) => a[0] == 127,
            Ip::V6(a) => a == V6_LOOPBACK,
        }
    }

    pub(crate) fn mapped(a: [u8; 4]) -> [u8; 16] {
        let mut m = [0u8; 16];
        m[10] = 0xff;
        m[11] = 0xff;
        m[12..].copy_from_slice(&a);
        m
    }
}

impl SockAddr {
    pub(crate) fn ip(&self) -> Option<Ip> {
        match self {
            SockAddr::V4 { ip, .. } => Some(Ip::V4(*ip)),
            SockAddr::V6 { ip, .. } => Some(Ip::V6(*ip)),
            SockAddr::Unix(_) | SockAddr::Netlink { .. } => None,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        match self {
            SockAddr::V4 { port, .. } | SockAddr::V6 { port, .. } => *port,
            SockAddr::Unix(_) | SockAddr::Netlink { .. } => 0,
        }
    }

    /// The same address with another port.
    pub(crate) fn with_port(&self, p: u16) -> SockAddr {
        match self.clone() {
            SockAddr::V4 { ip, .. } => SockAddr::V4 { ip, port: p },
            SockAddr::V6 { ip, flowinfo, scope, .. } => SockAddr::V6 { ip, port: p, flowinfo, scope },
            a => a,
        }
    }

    /// `ip`:`port` in `family`'s form (a v4 peer of a v6 socket is shown
    /// mapped).
    pub(crate) fn of_ip(family: u16, ip: Ip, port: u16) -> SockAddr {
        match (family, ip) {
            (AF_INET, Ip::V4(ip)) => SockAddr::V4 { ip, port },
            (AF_INET, Ip::V6(a)) => match Ip::V6(a).unmapped() {
                Ip::V4(ip) => SockAddr::V4 { ip, port },
                _ => SockAddr::V4 { ip: V4_ANY, port },
            },
            (_, Ip::V4(a)) => SockAddr::V6 { ip: Ip::mapped(a), port, flowinfo: 0, scope: 0 },
            (_, Ip::V6(ip)) => SockAddr::V6 { ip, port, flowinfo: 0, scope: 0 },
        }
    }

    /// The bytes of the struct sockaddr Linux gives back for it.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            SockAddr::Unix(n) => {
                let mut v = AF_UNIX.to_ne_bytes().to_vec();
                match n {
                    UnixName::Unnamed => {}
                    // unix_bind_bsd keeps the path with its NUL.
                    UnixName::Path(p) => {
                        v.extend_from_slice(p);
                        v.push(0);
                    }
                    UnixName::Abstract(a) => {
                        v.push(0);
                        v.extend_from_slice(a);
                    }
                }
                v
            }
            SockAddr::V4 { ip, port } => {
                SockaddrIn { sin_family: AF_INET, sin_port: port.to_be_bytes(), sin_addr: *ip, sin_zero: [0; 8] }
                    .as_bytes()
                    .to_vec()
            }
            SockAddr::Netlink { pid, groups } => {
                SockaddrNl { nl_family: AF_NETLINK, nl_pad: 0, nl_pid: *pid, nl_groups: *groups }.as_bytes().to_vec()
            }
            SockAddr::V6 { ip, port, flowinfo, scope } => SockaddrIn6 {
                sin6_family: AF_INET6,
                sin6_port: port.to_be_bytes(),
                sin6_flowinfo: *flowinfo,
                sin6_addr: *ip,
                sin6_scope_id: *scope,
            }
            .as_bytes()
            .to_vec(),
        }
    }
}

/// What a call does with an address: the checks differ a little.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    Bind,
    Connect,
    Send,
}

/// Decoded address, or AF_UNSPEC (a connect that dissolves an
/// association; a bind of INADDR_ANY on AF_INET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Addr(SockAddr),
    Unspec,
}

/// Decodes `raw` (the bytes of the guest's struct, `raw.len()` being its
/// addrlen) for a socket of `family`, as unix_validate_addr,
/// inet_bind/inet_dgram_connect/tcp_v4_connect and inet6_bind/
/// ip6_datagram_connect check it.
pub(crate) fn decode(family: u16, raw: &[u8], how: Use) -> Result<Decoded, Errno> {
    let fam = if raw.len() >= 2 { u16::from_ne_bytes([raw[0], raw[1]]) } else { u16::MAX };
    match family {
        AF_UNIX => {
            if raw.len() < SUN_PATH_OFFSET || raw.len() > size_of::<SockaddrUn>() || fam != AF_UNIX {
                return Err(EINVAL);
            }
            let path = &raw[SUN_PATH_OFFSET..];
            Ok(Decoded::Addr(SockAddr::Unix(match path.first() {
                None => UnixName::Unnamed,
                Some(0) => UnixName::Abstract(path[1..].to_vec()),
                // unix_mkname_bsd: the path ends at the first NUL, or at
                // addrlen.
                Some(_) => UnixName::Path(path.iter().take_while(|&&b| b != 0).copied().collect()),
            })))
        }
        AF_INET => {
            if raw.len() < 2 {
                return Err(EINVAL);
            }
            if fam == AF_UNSPEC && how == Use::Connect {
                return Ok(Decoded::Unspec);
            }
            if raw.len() < size_of::<SockaddrIn>() {
                return Err(EINVAL);
            }
            let sin = SockaddrIn::read_from_prefix(raw).map_err(|_| EINVAL)?.0;
            if fam != AF_INET {
                // inet_bind's compatibility: AF_UNSPEC with INADDR_ANY.
                if how == Use::Bind && fam == AF_UNSPEC && sin.sin_addr == V4_ANY {
                    return Ok(Decoded::Addr(SockAddr::V4 { ip: V4_ANY, port: u16::from_be_bytes(sin.sin_port) }));
                }
                return Err(EAFNOSUPPORT);
            }
            Ok(Decoded::Addr(SockAddr::V4 { ip: sin.sin_addr, port: u16::from_be_bytes(sin.sin_port) }))
        }
        AF_INET6 => {
            if raw.len() < 2 {
                return Err(EINVAL);
            }
            if fam == AF_UNSPEC && how == Use::Connect {
                return Ok(Decoded::Unspec);
            }
            if raw.len() < SIN6_LEN_RFC2133 {
                return Err(EINVAL);
            }
            if fam != AF_INET6 {
                return Err(EAFNOSUPPORT);
            }
            let mut buf = [0u8; size_of::<SockaddrIn6>()];
            let n = raw.len().min(buf.len());
            buf[..n].copy_from_slice(&raw[..n]);
            let s = SockaddrIn6::read_from_bytes(&buf).map_err(|_| EINVAL)?;
            Ok(Decoded::Addr(SockAddr::V6 {
                ip: s.sin6_addr,
                port: u16::from_be_bytes(s.sin6_port),
                flowinfo: s.sin6_flowinfo,
                scope: s.sin6_scope_id,
            }))
        }
        AF_NETLINK => {
            // netlink_bind and netlink_connect: a whole sockaddr_nl;
            // AF_UNSPEC dissolves a connect.
            if raw.len() >= 2 && fam == AF_UNSPEC && how == Use::Connect {
                return Ok(Decoded::Unspec);
            }
            let (nl, _) = SockaddrNl::read_from_prefix(raw).map_err(|_| EINVAL)?;
            if nl.nl_family != AF_NETLINK {
                return Err(EINVAL);
            }
            Ok(Decoded::Addr(SockAddr::Netlink { pid: nl.nl_pid, groups: nl.nl_groups }))
        }
        _ => Err(EAFNOSUPPORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(path: &[u8]) -> Vec<u8> {
        let mut v = AF_UNIX.to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn unix_names_decode_as_linux() {
        assert_eq!(decode(AF_UNIX, &un(b""), Use::Bind), Ok(Decoded::Addr(SockAddr::Unix(UnixName::Unnamed))));
        assert_eq!(
            decode(AF_UNIX, &un(b"/tmp/s\0junk"), Use::Bind),
            Ok(Decoded::Addr(SockAddr::Unix(UnixName::Path(b"/tmp/s".to_vec()))))
        );
        assert_eq!(
            decode(AF_UNIX, &un(b"\0ab\0"), Use::Bind),
            Ok(Decoded::Addr(SockAddr::Unix(UnixName::Abstract(b"ab\0".to_vec()))))
        );
        assert_eq!(decode(AF_UNIX, &[1], Use::Bind), Err(EINVAL));
        assert_eq!(decode(AF_UNIX, &un(&[b'a'; 109]), Use::Bind), Err(EINVAL));
        assert_eq!(decode(AF_UNIX, &2u16.to_ne_bytes(), Use::Bind), Err(EINVAL));
    }

    #[test]
    fn inet_addresses_decode_and_encode() {
        let a = SockAddr::V4 { ip: V4_LOOPBACK, port: 8080 };
        let raw = a.encode();
        assert_eq!(raw.len(), 16);
        assert_eq!(decode(AF_INET, &raw, Use::Connect), Ok(Decoded::Addr(a)));
        assert_eq!(decode(AF_INET, &raw[..15], Use::Connect), Err(EINVAL));
        assert_eq!(decode(AF_INET, &0u16.to_ne_bytes(), Use::Connect), Ok(Decoded::Unspec));
        let mut v6 = SockAddr::V6 { ip: V6_LOOPBACK, port: 1, flowinfo: 0, scope: 0 }.encode();
        assert_eq!(v6.len(), 28);
        v6[0] = AF_INET as u8;
        assert_eq!(decode(AF_INET6, &v6, Use::Bind), Err(EAFNOSUPPORT));
        assert!(Ip::V6(Ip::mapped([127, 0, 0, 5])).is_local());
        assert!(!Ip::V4([10, 0, 0, 1]).is_local());
    }
}
