//! The loopback's ports: who holds which TCP or UDP port on which address,
//! the bind conflicts of inet_csk_bind_conflict and udp_lib_lport_inuse
//! (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, wildcards), ephemeral ports
//! from ip_local_port_range, and the lookup of a connection's listener or
//! a datagram's receiver (an exact address before a wildcard).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::addr::Ip;
use super::{Net, Socket};
use crate::kernel::abi::socket::{AF_INET, EPHEMERAL_PORTS};
use crate::kernel::errno::*;

/// One socket's hold on a port.
#[derive(Clone, Debug)]
pub struct PortEntry {
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
pub struct Ports {
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

    pub fn remove(&mut self, ino: u64) {
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
    pub fn bind_port(&self, e: PortEntry) -> Result<u16, Errno> {
        self.tables.lock().ports.take(e)
    }

    /// listen(): the socket's port must not clash with another listener
    /// (two SO_REUSEADDR sockets may share a port, not both listen).
    pub fn start_listening(&self, ino: u64) -> Result<(), Errno> {
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
    pub fn forget_port(&self, ino: u64) {
        self.tables.lock().ports.remove(ino);
    }

    /// shutdown(SHUT_RD) of a listener: it listens no more.
    pub fn stop_listening(&self, ino: u64) {
        if let Some(e) = self.tables.lock().ports.entry_mut(ino) {
            e.listening = false;
        }
    }

    /// The listener a TCP connection to `dest`:`port` reaches.
    pub fn find_listener(&self, dest: Ip, port: u16) -> Option<Arc<Socket>> {
        self.tables.lock().ports.best(false, dest, port, |e| e.listening)
    }

    /// The UDP socket a datagram to `dest`:`port` reaches.
    pub fn find_udp(&self, dest: Ip, port: u16) -> Option<Arc<Socket>> {
        self.tables.lock().ports.best(true, dest, port, |_| true)
    }

    /// The ports in use, for /proc/net's tables.
    pub fn port_entries(&self) -> Vec<PortEntry> {
        self.tables.lock().ports.held.values().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::abi::socket::AF_INET6;
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
