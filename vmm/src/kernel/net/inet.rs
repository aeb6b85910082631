//! The inet families' addresses and ports (af_inet.c, inet_hashtables.c):
//! binding, autobinding, the source address of traffic, and a
//! destination's checks; TCP's and UDP's own rules are `tcp`'s and `udp`'s.
//!
//! The loopback's ports: who holds which TCP or UDP port on which address,
//! the bind conflicts of inet_csk_bind_conflict and udp_lib_lport_inuse
//! (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, wildcards), ephemeral ports
//! from ip_local_port_range, and the lookup of a connection's listener or
//! a datagram's receiver (an exact address before a wildcard).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::addr::{Ip, SockAddr, V4_LOOPBACK, V6_LOOPBACK};
use super::{Net, Socket};
use crate::kernel::abi::capability::CAP_NET_BIND_SERVICE;
use crate::kernel::abi::socket::{AF_INET, AF_INET6, EPHEMERAL_PORTS, PROT_SOCK, SOCK_DGRAM};
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;

/// One socket's hold on a port.
#[derive(Clone, Debug)]
pub(crate) struct PortEntry {
    pub ino: u64,
    pub sock: Weak<Socket>,
    pub udp: bool,
    pub port: u16,
    pub ip: Ip,
    pub family: u16,
    pub v6only: bool,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub uid: u32,
    pub listening: bool,
}

/// The addresses of one family an entry covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cover<T> {
    None,
    All,
    One(T),
}

impl<T: PartialEq + Copy> Cover<T> {
    fn meets(self, o: Cover<T>) -> bool {
        match (self, o) {
            (Cover::None, _) | (_, Cover::None) => false,
            (Cover::All, _) | (_, Cover::All) => true,
            (Cover::One(a), Cover::One(b)) => a == b,
        }
    }

    fn has(self, a: T) -> Option<u8> {
        match self {
            Cover::None => None,
            Cover::All => Some(1),
            Cover::One(x) => (x == a).then_some(2),
        }
    }
}

impl PortEntry {
    fn cover(&self) -> (Cover<[u8; 4]>, Cover<[u8; 16]>) {
        if self.family == AF_INET {
            return match self.ip {
                Ip::V4(_) if self.ip.is_any() => (Cover::All, Cover::None),
                Ip::V4(a) => (Cover::One(a), Cover::None),
                Ip::V6(_) => (Cover::None, Cover::None),
            };
        }
        match self.ip.unmapped() {
            Ip::V4(a) => (Cover::One(a), Cover::None),
            Ip::V6(_) if self.ip.is_any() => (if self.v6only { Cover::None } else { Cover::All }, Cover::All),
            Ip::V6(a) => (Cover::None, Cover::One(a)),
        }
    }

    fn overlaps(&self, o: &PortEntry) -> bool {
        let (a4, a6) = self.cover();
        let (b4, b6) = o.cover();
        a4.meets(b4) || a6.meets(b6)
    }

    /// How well it takes traffic for `dest`: 2 exactly, 1 by wildcard.
    fn score(&self, dest: Ip) -> Option<u8> {
        let (c4, c6) = self.cover();
        match dest.unmapped() {
            Ip::V4(a) => c4.has(a),
            Ip::V6(a) => c6.has(a),
        }
    }

    /// Whether `self` (being bound or starting to listen) may share the
    /// port with `o`.
    fn conflicts(&self, o: &PortEntry) -> bool {
        if !self.overlaps(o) {
            return false;
        }
        let reuse = self.reuseaddr && o.reuseaddr && (self.udp || (!self.listening && !o.listening));
        let reuseport = self.reuseport && o.reuseport && self.uid == o.uid;
        !(reuse || reuseport)
    }
}

/// The port table.
#[derive(Default)]
pub(crate) struct Ports {
    held: HashMap<(bool, u16), Vec<PortEntry>>,
    /// Where the search for an ephemeral port starts next.
    next: u16,
}

impl Ports {
    fn free_of_conflict(&self, e: &PortEntry) -> bool {
        self.held.get(&(e.udp, e.port)).is_none_or(|v| !v.iter().any(|o| o.ino != e.ino && e.conflicts(o)))
    }

    /// Takes `e.port` for it, or an unused ephemeral port if 0: the port.
    /// EADDRINUSE on a conflict or when every ephemeral port is taken.
    fn take(&mut self, mut e: PortEntry) -> Result<u16, Errno> {
        if e.port == 0 {
            let (lo, hi) = (*EPHEMERAL_PORTS.start(), *EPHEMERAL_PORTS.end());
            let n = hi - lo + 1;
            let start = self.next;
            let found =
                (0..n).map(|i| lo + (start + i) % n).find(|&p| self.held.get(&(e.udp, p)).is_none_or(Vec::is_empty));
            let p = found.ok_or(EADDRINUSE)?;
            self.next = (p - lo + 1) % n;
            e.port = p;
        } else if !self.free_of_conflict(&e) {
            return Err(EADDRINUSE);
        }
        let p = e.port;
        self.held.entry((e.udp, p)).or_default().push(e);
        Ok(p)
    }

    pub(crate) fn remove(&mut self, ino: u64) {
        self.held.retain(|_, v| {
            v.retain(|e| e.ino != ino);
            !v.is_empty()
        });
    }

    fn entry_mut(&mut self, ino: u64) -> Option<&mut PortEntry> {
        self.held.values_mut().flat_map(|v| v.iter_mut()).find(|e| e.ino == ino)
    }

    fn best(&self, udp: bool, dest: Ip, port: u16, want: impl Fn(&PortEntry) -> bool) -> Option<Arc<Socket>> {
        let v = self.held.get(&(udp, port))?;
        v.iter()
            .filter(|e| want(e))
            .filter_map(|e| Some((e.score(dest)?, e)))
            .max_by_key(|(s, _)| *s)
            .and_then(|(_, e)| e.sock.upgrade())
    }
}

impl Net {
    /// Binds per `e` (port 0: an ephemeral one): the port taken.
    pub(crate) fn bind_port(&self, e: PortEntry) -> Result<u16, Errno> {
        self.tables.lock().ports.take(e)
    }

    /// listen(): the socket's port must not clash with another listener
    /// (two SO_REUSEADDR sockets may share a port, not both listen).
    pub(crate) fn start_listening(&self, ino: u64) -> Result<(), Errno> {
        let mut t = self.tables.lock();
        let Some(e) = t.ports.entry_mut(ino) else { return Ok(()) };
        let mut probe = e.clone();
        probe.listening = true;
        if !t.ports.free_of_conflict(&probe) {
            return Err(EADDRINUSE);
        }
        if let Some(e) = t.ports.entry_mut(ino) {
            e.listening = true;
        }
        Ok(())
    }

    /// Gives up `ino`'s port (a failed connect's autobind).
    pub(crate) fn forget_port(&self, ino: u64) {
        self.tables.lock().ports.remove(ino);
    }

    /// shutdown(SHUT_RD) of a listener: it listens no more.
    pub(crate) fn stop_listening(&self, ino: u64) {
        if let Some(e) = self.tables.lock().ports.entry_mut(ino) {
            e.listening = false;
        }
    }

    /// The listener a TCP connection to `dest`:`port` reaches.
    pub(crate) fn find_listener(&self, dest: Ip, port: u16) -> Option<Arc<Socket>> {
        self.tables.lock().ports.best(false, dest, port, |e| e.listening)
    }

    /// The UDP socket a datagram to `dest`:`port` reaches.
    pub(crate) fn find_udp(&self, dest: Ip, port: u16) -> Option<Arc<Socket>> {
        self.tables.lock().ports.best(true, dest, port, |_| true)
    }
}

/// Where an inet socket's traffic to `dest` comes from: its bound
/// address, or lo's (127.0.0.1, ::1, or 127.0.0.1 mapped).
pub(crate) fn source_ip(s: &Socket, dest: Ip) -> Ip {
    if let Some(ip) = s.lock().local.as_ref().and_then(SockAddr::ip) {
        if !ip.is_any() {
            return ip;
        }
    }
    match (s.domain, dest.unmapped()) {
        (AF_INET, _) => Ip::V4(V4_LOOPBACK),
        (_, Ip::V4(_)) => Ip::V6(Ip::mapped(V4_LOOPBACK)),
        (_, Ip::V6(_)) => Ip::V6(V6_LOOPBACK),
    }
}

/// The port entry `s` (owned by effective uid `uid`) would hold at
/// `ip`:`port`.
pub(crate) fn port_entry(s: &Arc<Socket>, uid: u32, ip: Ip, port: u16) -> PortEntry {
    let st = s.lock();
    PortEntry {
        ino: s.ino,
        sock: Arc::downgrade(s),
        udp: s.ty == SOCK_DGRAM,
        port,
        ip,
        family: s.domain,
        v6only: st.opts.v6only,
        reuseaddr: st.opts.reuseaddr,
        reuseport: st.opts.reuseport,
        uid,
        listening: false,
    }
}

/// inet_bind/inet6_bind for an inet socket not yet bound.
pub(crate) fn bind(ctx: &mut Ctx, s: &Arc<Socket>, a: SockAddr) -> Result<(), Errno> {
    let ip = a.ip().ok_or(EINVAL)?;
    if s.domain == AF_INET6 && s.lock().opts.v6only && matches!(ip.unmapped(), Ip::V4(_)) {
        return Err(EINVAL);
    }
    // ::1 is lo's address only while lo is up (addrconf adds it then).
    let v6_down = matches!(ip.unmapped(), Ip::V6(_)) && !s.net().lo_up();
    if !ip.is_any() && (!ip.is_local() || v6_down) {
        return Err(EADDRNOTAVAIL);
    }
    if s.lock().local.is_some() {
        return Err(EINVAL);
    }
    let port = a.port();
    if port != 0 && port < PROT_SOCK && !ctx.proc().cred.capable(CAP_NET_BIND_SERVICE) {
        return Err(EACCES);
    }
    let e = port_entry(s, ctx.proc().cred.euid, ip, port);
    let got = s.net().bind_port(e)?;
    s.lock().local = Some(a.with_port(got));
    Ok(())
}

/// Binds an unbound inet socket to an ephemeral port (connect, sendto,
/// listen do it): on lo's address for `dest` when connecting.
pub(crate) fn autobind(ctx: &mut Ctx, s: &Arc<Socket>, dest: Option<Ip>) -> Result<(), Errno> {
    if s.lock().local.is_some() {
        return Ok(());
    }
    let any = if s.domain == AF_INET { Ip::V4([0; 4]) } else { Ip::V6([0; 16]) };
    let e = port_entry(s, ctx.proc().cred.euid, any, 0);
    // Out of ephemeral ports a connect is EAGAIN (EADDRNOTAVAIL for bind).
    let port = s.net().bind_port(e).map_err(|_| EAGAIN)?;
    let ip = dest.map_or(any, |d| source_ip(s, d));
    s.lock().local = Some(SockAddr::of_ip(s.domain, ip, port));
    Ok(())
}

/// The inet destination a connect or send names, checked: ENETUNREACH
/// beyond the loopback (an IPv4-mapped one from a v6-only socket too);
/// while lo is down, no route to it (IPv4: ENETUNREACH) and no source
/// address for it (IPv6: EADDRNOTAVAIL).
pub(crate) fn dest(s: &Socket, a: &SockAddr) -> Result<Ip, Errno> {
    let ip = a.ip().ok_or(EAFNOSUPPORT)?;
    if s.domain == AF_INET6 && matches!(ip.unmapped(), Ip::V4(_)) && s.lock().opts.v6only {
        return Err(ENETUNREACH);
    }
    // The wildcard address means this host (lo).
    let ip = match ip.unmapped() {
        Ip::V4([0, 0, 0, 0]) => Ip::V4(V4_LOOPBACK),
        Ip::V6(x) if x == [0; 16] => Ip::V6(V6_LOOPBACK),
        u => u,
    };
    if !ip.is_local() {
        // From a loopback address no route leaves lo: the routing
        // lookup's EINVAL; otherwise no route at all.
        let bound = s.lock().local.as_ref().and_then(SockAddr::ip).is_some_and(|l| !l.is_any());
        return Err(if bound { EINVAL } else { ENETUNREACH });
    }
    if !s.net().lo_up() {
        return Err(if matches!(ip, Ip::V4(_)) { ENETUNREACH } else { EADDRNOTAVAIL });
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::net::addr::{V4_ANY, V4_LOOPBACK, V6_ANY};

    fn e(ino: u64, family: u16, ip: Ip, port: u16) -> PortEntry {
        PortEntry {
            ino,
            sock: Weak::new(),
            udp: false,
            port,
            ip,
            family,
            v6only: false,
            reuseaddr: false,
            reuseport: false,
            uid: 1000,
            listening: false,
        }
    }

    #[test]
    fn binds_conflict_as_linux() {
        let mut p = Ports::default();
        assert_eq!(p.take(e(1, AF_INET, Ip::V4(V4_LOOPBACK), 80)), Ok(80));
        assert_eq!(p.take(e(2, AF_INET, Ip::V4(V4_ANY), 80)), Err(EADDRINUSE));
        assert_eq!(p.take(e(3, AF_INET, Ip::V4([127, 0, 0, 2]), 80)), Ok(80));
        // A dual-stack wildcard takes IPv4 too; a v6-only one does not.
        assert_eq!(p.take(e(4, AF_INET6, Ip::V6(V6_ANY), 80)), Err(EADDRINUSE));
        let mut only = e(5, AF_INET6, Ip::V6(V6_ANY), 80);
        only.v6only = true;
        assert_eq!(p.take(only), Ok(80));
        // SO_REUSEADDR on both, neither listening.
        let mut a = e(6, AF_INET, Ip::V4(V4_ANY), 81);
        a.reuseaddr = true;
        let mut b = a.clone();
        b.ino = 7;
        assert_eq!(p.take(a), Ok(81));
        assert_eq!(p.take(b), Ok(81));
        let eph = p.take(e(8, AF_INET, Ip::V4(V4_ANY), 0)).unwrap();
        assert!(EPHEMERAL_PORTS.contains(&eph));
        p.remove(8);
        assert!(!p.held.contains_key(&(false, eph)));
    }
}
