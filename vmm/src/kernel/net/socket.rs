//! One socket of any family and type: its state (phase, names, peer,
//! receive queue, shutdown bits, pending error, options), its readiness
//! for poll (sock_poll's per-family functions) and its last close
//! (unix_release_sock, tcp_close's FIN or RST).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};

use super::addr::{self, SockAddr, UnixName};
use super::buffer::{Msg, MAX_DGRAM_QLEN};
use super::options::Opts;
use super::Net;
use crate::kernel::abi::poll::*;
use crate::kernel::abi::socket::*;
use crate::kernel::errno::*;
use crate::kernel::wait::WaitQueue;
use crate::mm::KmemCharge;

/// POLLRDHUP (the peer shut down writing), which poll.h's table leaves to
/// the sockets.
pub(crate) const POLLRDHUP: i16 = 0x2000;

/// st_dev of sockfs's inodes (an anonymous device's).
pub(crate) const SOCKFS_DEV: u64 = 8;

/// sk_shutdown's bits.
pub(crate) const RCV_SHUTDOWN: u8 = 1;
pub(crate) const SEND_SHUTDOWN: u8 = 2;
pub(crate) const SHUTDOWN_MASK: u8 = 3;

/// A connection-oriented socket's place in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Fresh, or bound (TCP_CLOSE).
    Unconnected,
    Listening,
    /// TCP: a connect waits for room in a full accept queue (SYN_SENT:
    /// the listener dropped its SYN; a retransmission gets through once
    /// accept makes room).
    Connecting,
    /// Connected (a datagram socket: with a default peer).
    Connected,
    /// Was connected; the connection is over (the peer closed, or a reset).
    Closed,
}

/// A socket's mutable state.
pub(crate) struct State {
    pub phase: Phase,
    /// Its own address (bound, or autobound).
    pub local: Option<SockAddr>,
    /// The address it is connected to, kept after the peer goes (as
    /// Linux keeps unix_peer / inet_daddr for getpeername).
    pub remote: Option<SockAddr>,
    /// The connected peer; dropped when either goes, so no cycle stays.
    pub peer: Option<Arc<Socket>>,
    pub rx: VecDeque<Msg>,
    /// Truesize of what `rx` holds.
    pub rx_bytes: usize,
    /// sk_shutdown: RCV_SHUTDOWN, SEND_SHUTDOWN.
    pub shutdown: u8,
    /// sk_err: the pending error SO_ERROR (and the next call) reports.
    pub err: Option<Errno>,
    /// The peer's credentials (SO_PEERCRED): set at connect, listen, and
    /// by socketpair.
    pub peer_cred: Option<Ucred>,
    pub opts: Opts,
    /// A listener's backlog and its connections not yet accepted.
    pub backlog: usize,
    pub pending: VecDeque<Arc<Socket>>,
    /// TCP: connects waiting for room in this listener's full accept
    /// queue (their SYNs dropped), with the address they reach.
    pub syn_waiting: VecDeque<(Weak<Socket>, SockAddr)>,
    /// TCP: a reset ended the connection (the peer went without reading
    /// our data, or aborted; or we wrote after its close and it answered
    /// with a reset): reads and writes after it are over.
    pub rst: bool,
    /// TCP: the peer's FIN came (SOCK_DONE): a read at the end is 0 even
    /// if a later reset left an error.
    pub fin: bool,
    /// A non-blocking connect was started (EINPROGRESS once; EALREADY
    /// while it is; EISCONN after).
    pub connect_reported: bool,
    /// Released: its last descriptor closed.
    pub dead: bool,
    /// Where a unix socket's path name lives, to look it up again.
    pub path_key: Option<(u64, u64)>,
}

/// A socket.
pub(crate) struct Socket {
    pub domain: u16,
    pub ty: u32,
    pub protocol: u32,
    /// Its sockfs inode number (/proc/PID/fd, fstat, /proc/net).
    pub ino: u64,
    /// The creator's credentials (what a peer's SO_PEERCRED shows).
    pub cred: Ucred,
    net: Arc<Net>,
    state: Mutex<State>,
    /// Woken for data, connections and state changes.
    pub rq: WaitQueue,
    /// Woken when room appears in this socket's receive queue (senders to
    /// it wait here) or its state changes.
    pub wq: WaitQueue,
    /// The socket's own kernel memory (struct sock, its inode).
    _kmem: KmemCharge,
    /// sk_wmem_alloc: truesize of what it sent that is not read yet.
    pub wmem: Arc<AtomicUsize>,
}

impl Socket {
    pub(crate) fn new(
        net: &Arc<Net>,
        domain: u16,
        ty: u32,
        protocol: u32,
        cred: Ucred,
        kmem: KmemCharge,
    ) -> Arc<Socket> {
        let tcp = domain != AF_UNIX && ty == SOCK_STREAM;
        let opts = Opts::new(tcp);
        Arc::new(Socket {
            domain,
            ty,
            protocol,
            ino: net.new_ino(),
            cred,
            net: net.clone(),
            state: Mutex::new(State {
                phase: Phase::Unconnected,
                local: None,
                remote: None,
                peer: None,
                rx: VecDeque::new(),
                rx_bytes: 0,
                shutdown: 0,
                err: None,
                peer_cred: None,
                opts,
                backlog: 0,
                pending: VecDeque::new(),
                rst: false,
                connect_reported: false,
                dead: false,
                path_key: None,
                syn_waiting: VecDeque::new(),
                fin: false,
            }),
            rq: WaitQueue::default(),
            wq: WaitQueue::default(),
            _kmem: kmem,
            wmem: Arc::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn net(&self) -> &Arc<Net> {
        &self.net
    }

    /// TCP (a stream socket of the loopback).
    pub(crate) fn is_tcp(&self) -> bool {
        self.domain != AF_UNIX && self.ty == SOCK_STREAM
    }

    /// A connection-oriented type (stream, seqpacket).
    pub(crate) fn connected_type(&self) -> bool {
        self.ty != SOCK_DGRAM
    }

    /// The connected peer, if any.
    pub(crate) fn peer(&self) -> Option<Arc<Socket>> {
        self.lock().peer.clone()
    }

    /// Queues `m` for reading and wakes readers.
    pub(crate) fn deliver(&self, m: Msg) {
        if self.domain != AF_UNIX {
            self.net.count_lo(self.domain, self.ty, m.data.len());
        }
        let mut s = self.lock();
        s.rx_bytes += m.truesize();
        s.rx.push_back(m);
        drop(s);
        self.rq.wake_all();
    }

    /// Wakes everyone who waits on it.
    pub(crate) fn wake(&self) {
        self.rq.wake_all();
        self.wq.wake_all();
    }

    /// What it has sent and is not read yet (sk_wmem_alloc).
    pub(crate) fn wmem(&self) -> usize {
        self.wmem.load(Ordering::Relaxed)
    }

    /// How much it may have in flight before a send waits: its send
    /// buffer (sock_alloc_send_pskb); the loopback's TCP has the peer's
    /// receive window too.
    pub(crate) fn send_limit(&self, peer: Option<&Socket>) -> usize {
        let sndbuf = self.lock().opts.sndbuf;
        match peer {
            Some(p) if self.is_tcp() && !std::ptr::eq(p, self) => sndbuf + p.lock().opts.rcvbuf,
            _ => sndbuf,
        }
    }

    /// unix_recvq_full: a unix datagram receiver holds more than
    /// max_dgram_qlen (a listener: its backlog).
    pub(crate) fn recvq_full(&self) -> bool {
        let s = self.lock();
        let max = if s.phase == Phase::Listening { s.backlog } else { MAX_DGRAM_QLEN };
        s.rx.len() > max
    }

    /// Whether UDP's receive buffer takes a datagram of `truesize` (a
    /// full one drops it).
    pub(crate) fn udp_room(&self, truesize: usize) -> bool {
        let s = self.lock();
        s.rx_bytes + truesize <= s.opts.rcvbuf || s.rx.is_empty()
    }

    /// Readiness for poll: what sock_poll's per-family functions report
    /// (unix_poll, unix_dgram_poll, tcp_poll, udp_poll).
    pub(crate) fn poll(&self) -> i16 {
        let peer = self.peer();
        let s = self.lock();
        let mut r = 0;
        if s.err.is_some() {
            r |= POLLERR;
        }
        if s.phase == Phase::Listening {
            return if s.pending.is_empty() { r } else { r | POLLIN | POLLRDNORM };
        }
        // tcp_poll in SYN_SENT: neither readable nor writable yet.
        if s.phase == Phase::Connecting {
            return r;
        }
        if s.shutdown == SHUTDOWN_MASK {
            r |= POLLHUP;
        }
        if s.shutdown & RCV_SHUTDOWN != 0 {
            r |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if !s.rx.is_empty() {
            r |= POLLIN | POLLRDNORM;
        }
        if self.connected_type() && matches!(s.phase, Phase::Unconnected | Phase::Closed) {
            r |= POLLHUP;
        }
        let (sndbuf, shut) = (s.opts.sndbuf, s.shutdown);
        drop(s);
        let wmem = self.wmem();
        let writable = if self.is_tcp() {
            shut & SEND_SHUTDOWN != 0 || wmem < self.send_limit(peer.as_deref())
        } else if self.domain == AF_UNIX {
            // unix_writable: a quarter of the send buffer in flight at
            // most; a datagram peer's queue must have room for us.
            let peer_full = self.ty != SOCK_STREAM
                && peer.as_ref().is_some_and(|p| {
                    !std::ptr::eq(&**p, self)
                        && !p.lock().peer.as_ref().is_some_and(|q| std::ptr::eq(&**q, self))
                        && p.recvq_full()
                });
            wmem << 2 <= sndbuf && !peer_full
        } else {
            // sock_writeable: under half the send buffer.
            wmem < sndbuf / 2
        };
        if writable {
            r |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        r
    }

    /// Registers the poller on every queue a change of its readiness
    /// wakes: its own, and a peer's send queue (room freed there).
    pub(crate) fn wait_on(&self, pt: &mut crate::kernel::files::ready::PollTable) {
        pt.wait_on(&self.rq);
        pt.wait_on(&self.wq);
        if let Some(p) = self.peer() {
            if !std::ptr::eq(&*p, self) {
                pt.wait_on(&p.wq);
            }
        }
    }

    /// FIONREAD / SIOCINQ: bytes waiting (a datagram socket: the next
    /// datagram's size).
    pub(crate) fn inq(&self) -> usize {
        let s = self.lock();
        if self.ty == SOCK_STREAM {
            s.rx.iter().map(Msg::left).sum()
        } else {
            s.rx.front().map_or(0, |m| m.data.len())
        }
    }

    /// The last close: the connection ends (the peer sees end of file, or
    /// a reset if data was left unread or SO_LINGER asked for an abort),
    /// connections waiting to be accepted are reset, connects waiting for
    /// room are refused, its name and port are given up.
    ///
    /// Unlike Linux, a TCP socket that closes first does not linger in
    /// TIME_WAIT for 60 s: its port is free at once (Linux's bind of it
    /// without SO_REUSEADDR is EADDRINUSE meanwhile), and no late segment
    /// can arrive on the loopback for TIME_WAIT to absorb.
    pub(crate) fn release(self: &Arc<Self>) {
        let (peer, pending, waiting, rx, reset) = {
            let mut s = self.lock();
            if s.dead {
                return;
            }
            s.dead = true;
            s.shutdown = SHUTDOWN_MASK;
            // tcp_close: unread data, or SO_LINGER on with no time, sends
            // an RST instead of a FIN (unix: unread data resets too).
            let abort = self.is_tcp() && s.opts.linger.l_onoff != 0 && s.opts.linger.l_linger == 0;
            let reset = !s.rx.is_empty() || abort;
            s.rx_bytes = 0;
            if matches!(s.phase, Phase::Connected | Phase::Connecting) {
                s.phase = Phase::Closed;
            }
            let waiting = std::mem::take(&mut s.syn_waiting);
            (s.peer.take(), std::mem::take(&mut s.pending), waiting, std::mem::take(&mut s.rx), reset)
        };
        self.net.forget(self);
        if let Some(p) = &peer {
            if !Arc::ptr_eq(p, self) && self.connected_type() {
                self.close_peer(p, reset);
            }
        }
        for e in pending {
            e.reset_embryo();
        }
        refuse_waiting(waiting);
        // In-flight files go last, with no lock held: closing one may
        // release another socket.
        drop(rx);
        drop(peer);
        self.wake();
    }

    /// What our close does to the connected peer `p`: TCP sends a FIN
    /// (tcp_fin) or an RST (tcp_reset: ECONNRESET, EPIPE in CLOSE_WAIT);
    /// unix_release_sock shuts it down both ways, reset if we left data
    /// unread.
    fn close_peer(self: &Arc<Self>, p: &Arc<Socket>, reset: bool) {
        let mut ps = p.lock();
        if ps.peer.as_ref().is_some_and(|q| Arc::ptr_eq(q, self)) {
            ps.peer = None;
            ps.phase = Phase::Closed;
            if self.is_tcp() {
                if reset {
                    ps.err = Some(if ps.fin { EPIPE } else { ECONNRESET });
                    ps.rst = true;
                    ps.shutdown = SHUTDOWN_MASK;
                } else {
                    ps.shutdown |= RCV_SHUTDOWN;
                    ps.fin = true;
                }
            } else {
                ps.shutdown = SHUTDOWN_MASK;
                if reset {
                    ps.err = Some(ECONNRESET);
                }
            }
        }
        drop(ps);
        p.wake();
    }

    /// A connection never accepted, reset with its listener: the client
    /// gets ECONNRESET.
    fn reset_embryo(self: &Arc<Self>) {
        let peer = self.lock().peer.clone();
        if let Some(p) = peer {
            let mut ps = p.lock();
            ps.err = Some(ECONNRESET);
            ps.shutdown = SHUTDOWN_MASK;
            ps.phase = Phase::Closed;
            ps.peer = None;
            ps.rst = true;
            drop(ps);
            p.wake();
        }
        self.lock().peer = None;
        self.release();
    }

    /// A datagram socket's connect to AF_UNSPEC: no default peer.
    pub(crate) fn disconnect(&self) {
        let mut st = self.lock();
        st.phase = Phase::Unconnected;
        st.peer = None;
        st.remote = None;
    }

    /// The name getsockname shows.
    pub(crate) fn local_name(&self) -> SockAddr {
        match &self.lock().local {
            Some(a) => a.clone(),
            None => self.unbound_name(),
        }
    }

    /// An unbound socket's name: AF_UNIX's family alone, the inet
    /// families' wildcard address and port 0.
    pub(crate) fn unbound_name(&self) -> SockAddr {
        match self.domain {
            AF_UNIX => SockAddr::Unix(UnixName::Unnamed),
            AF_INET => SockAddr::V4 { ip: addr::V4_ANY, port: 0 },
            AF_NETLINK => SockAddr::Netlink { pid: 0, groups: 0 },
            _ => SockAddr::V6 { ip: addr::V6_ANY, port: 0, flowinfo: 0, scope: 0 },
        }
    }
}

/// Connects waiting on a listener that goes: their SYN's retransmission
/// meets no listener, whose RST refuses them (ECONNREFUSED, reported by
/// the next connect, SO_ERROR and poll).
pub(crate) fn refuse_waiting(waiting: VecDeque<(Weak<Socket>, SockAddr)>) {
    for (w, _) in waiting {
        let Some(c) = w.upgrade() else { continue };
        let mut st = c.lock();
        if st.phase == Phase::Connecting {
            st.phase = Phase::Closed;
            st.err = Some(ECONNREFUSED);
        }
        drop(st);
        c.wake();
    }
}
