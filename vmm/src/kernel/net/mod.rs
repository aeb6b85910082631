//! Sockets inside the sandbox: AF_UNIX (stream, datagram, seqpacket) and a
//! loopback network (AF_INET and AF_INET6, TCP and UDP on 127.0.0.0/8 and
//! ::1) between the sandbox's own processes. Nothing here reaches the
//! host: a name is an S_IFSOCK node of the sandbox's view registered in
//! [`Net`], a port a row of its table.
//!
//! One [`Socket`] serves every family and type: a connected pair is two
//! sockets each pushing [`Msg`]s into the other's receive queue (a stream
//! reads across them, a datagram or seqpacket socket one at a time), as
//! af_unix.c's skb queues do; the loopback's TCP is the same pair (no
//! segments, no handshake to watch: loopback delivers at once). Each
//! queued byte is charged to kernel memory and bounded by the socket's
//! buffer sizes, so a guest cannot grow the host past `--mem`.
//!
//! Blocking follows pipes: a thread registers its condition variable on
//! the socket's wait queues (`rq`: data, a connection, a state change;
//! `wq`: room in this socket's receive queue) and sleeps; every change
//! wakes the queues it concerns. All of it runs under the kernel lock; a
//! socket's own lock is a leaf lock, never held while another socket's is
//! taken.

pub mod addr;
pub mod inet;
pub mod unix;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use self::addr::{SockAddr, UnixName};
use super::abi::poll::*;
use super::abi::socket::*;
use super::errno::*;
use super::files::ready::PollTable;
use super::files::OpenFile;
use super::wait::WaitQueue;
use crate::mm::KmemCharge;

/// POLLRDHUP (the peer shut down writing), which poll.h's table leaves to
/// the sockets.
pub const POLLRDHUP: i16 = 0x2000;

/// st_dev of sockfs's inodes (an anonymous device's).
pub const SOCKFS_DEV: u64 = 8;

/// sk_shutdown's bits.
pub const RCV_SHUTDOWN: u8 = 1;
pub const SEND_SHUTDOWN: u8 = 2;
pub const SHUTDOWN_MASK: u8 = 3;

/// net.core.wmem_default and rmem_default: unix and UDP sockets' buffers.
pub const WMEM_DEFAULT: usize = 212_992;
/// net.core.wmem_max and rmem_max: the most SO_SNDBUF/SO_RCVBUF may ask
/// (the kernel keeps twice what is asked).
pub const WMEM_MAX: usize = 212_992;
/// net.ipv4.tcp_wmem[1] and tcp_rmem[1]: a TCP socket's defaults.
pub const TCP_WMEM_DEFAULT: usize = 16_384;
pub const TCP_RMEM_DEFAULT: usize = 131_072;
/// SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF (2 * the truesize of a small skb).
pub const SOCK_MIN_SNDBUF: usize = 4_608;
pub const SOCK_MIN_RCVBUF: usize = 2_304;
/// net.unix.max_dgram_qlen: a datagram socket's queue is full past it.
pub const MAX_DGRAM_QLEN: usize = 10;
/// What an skb costs besides its data: its sk_buff (256 bytes aligned)
/// and skb_shared_info (320), counted against the buffers as truesize.
pub const SKB_OVERHEAD: usize = 576;

/// SKB_TRUESIZE of a message of `len` bytes: a small one's head and data
/// come from one kmalloc (rounded to its size class), a large one's data
/// from pages.
pub fn truesize(len: usize) -> usize {
    let head = len.next_multiple_of(64) + 320;
    if head <= 4096 {
        256 + crate::mm::kmem::kmalloc_size(head as u64) as usize
    } else {
        SKB_OVERHEAD + len
    }
}
/// The largest piece a stream write queues at once (unix_stream_sendmsg
/// sends at most half the send buffer less 64 bytes, in skbs of at most
/// 64 KiB of pages).
pub const STREAM_CHUNK: usize = 64 * 1024;

/// A queued message: a datagram, or a piece of a stream.
pub struct Msg {
    pub data: Vec<u8>,
    /// Bytes of `data` already read (a stream's partial reads).
    pub off: usize,
    /// The sender's address (datagrams, and what recvfrom shows).
    pub from: Option<SockAddr>,
    /// SCM_RIGHTS: the open files in flight.
    pub rights: Vec<Arc<OpenFile>>,
    /// The sender's credentials (SCM_CREDENTIALS).
    pub cred: Ucred,
    /// Whether `cred` was sent explicitly or the receiver asked for them:
    /// a stream read does not merge pieces whose credentials differ.
    pub with_cred: bool,
    /// Its kernel memory: the skb (slab) and its data (pages).
    pub _head: KmemCharge,
    pub _pages: KmemCharge,
    /// The sender's sk_wmem_alloc, which counts it until it is read.
    pub wmem: Option<Arc<AtomicUsize>>,
    /// Its truesize, as counted when it was made.
    pub size: usize,
}

impl Drop for Msg {
    fn drop(&mut self) {
        if let Some(w) = &self.wmem {
            w.fetch_sub(self.size, Ordering::Relaxed);
        }
    }
}

impl Msg {
    /// Bytes it counts against a buffer.
    pub fn truesize(&self) -> usize {
        self.size
    }

    pub fn left(&self) -> usize {
        self.data.len() - self.off
    }
}

/// A connection-oriented socket's place in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Fresh, or bound (TCP_CLOSE).
    Unconnected,
    Listening,
    /// Connected (a datagram socket: with a default peer).
    Connected,
    /// Was connected; the connection is over (the peer closed, or a reset).
    Closed,
}

/// The options a socket keeps (what setsockopt stores and getsockopt
/// gives back).
#[derive(Clone, Debug)]
pub struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub broadcast: bool,
    pub oobinline: bool,
    pub passcred: bool,
    pub dontroute: bool,
    pub nodelay: bool,
    pub cork: bool,
    pub v6only: bool,
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub rcvlowat: i32,
    pub priority: i32,
    pub mark: u32,
    pub linger: Linger,
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub keepidle: i32,
    pub keepintvl: i32,
    pub keepcnt: i32,
    pub maxseg: i32,
    pub tos: i32,
    pub ttl: i32,
    pub recverr: bool,
    pub peek_off: i32,
    pub user_timeout: i32,
    pub quickack: bool,
    pub defer_accept: i32,
    pub notsent_lowat: i32,
}

/// A socket's mutable state.
pub struct State {
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
    /// TCP: the peer went without reading our data (an RST came back): a
    /// write now is EPIPE; `fin_seen` a first write after the peer closed
    /// (it goes through, then the reset arrives).
    pub rst: bool,
    /// A non-blocking connect was started (EINPROGRESS once; EALREADY
    /// while it is; EISCONN after).
    pub connect_reported: bool,
    /// Released: its last descriptor closed.
    pub dead: bool,
    /// Where a unix socket's path name lives, to look it up again.
    pub path_key: Option<(u64, u64)>,
}

/// A socket.
pub struct Socket {
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
    pub fn new(net: &Arc<Net>, domain: u16, ty: u32, protocol: u32, cred: Ucred, kmem: KmemCharge) -> Arc<Socket> {
        let tcp = domain != AF_UNIX && ty == SOCK_STREAM;
        let opts = Opts {
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            broadcast: false,
            oobinline: false,
            passcred: false,
            dontroute: false,
            nodelay: false,
            cork: false,
            v6only: false,
            sndbuf: if tcp { TCP_WMEM_DEFAULT } else { WMEM_DEFAULT },
            rcvbuf: if tcp { TCP_RMEM_DEFAULT } else { WMEM_DEFAULT },
            rcvlowat: 1,
            priority: 0,
            mark: 0,
            linger: Linger::default(),
            rcvtimeo: None,
            sndtimeo: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            maxseg: 536,
            tos: 0,
            ttl: 64,
            recverr: false,
            peek_off: -1,
            user_timeout: 0,
            quickack: true,
            defer_accept: 0,
            notsent_lowat: -1,
        };
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
            }),
            rq: WaitQueue::default(),
            wq: WaitQueue::default(),
            _kmem: kmem,
            wmem: Arc::default(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub fn net(&self) -> &Arc<Net> {
        &self.net
    }

    /// TCP (a stream socket of the loopback).
    pub fn is_tcp(&self) -> bool {
        self.domain != AF_UNIX && self.ty == SOCK_STREAM
    }

    /// A connection-oriented type (stream, seqpacket).
    pub fn connected_type(&self) -> bool {
        self.ty != SOCK_DGRAM
    }

    /// Whether reads keep message boundaries.
    pub fn is_dgram_like(&self) -> bool {
        self.ty != SOCK_STREAM
    }

    /// The connected peer, if any.
    pub fn peer(&self) -> Option<Arc<Socket>> {
        self.lock().peer.clone()
    }

    /// Takes SO_ERROR's pending error.
    pub fn take_err(&self) -> Option<Errno> {
        self.lock().err.take()
    }

    /// Queues `m` for reading and wakes readers.
    pub fn deliver(&self, m: Msg) {
        let mut s = self.lock();
        s.rx_bytes += m.truesize();
        s.rx.push_back(m);
        drop(s);
        self.rq.wake_all();
    }

    /// Wakes everyone who waits on it.
    pub fn wake(&self) {
        self.rq.wake_all();
        self.wq.wake_all();
    }

    /// What it has sent and is not read yet (sk_wmem_alloc).
    pub fn wmem(&self) -> usize {
        self.wmem.load(Ordering::Relaxed)
    }

    /// How much it may have in flight before a send waits: its send
    /// buffer (sock_alloc_send_pskb); the loopback's TCP has the peer's
    /// receive window too.
    pub fn send_limit(&self, peer: Option<&Socket>) -> usize {
        let sndbuf = self.lock().opts.sndbuf;
        match peer {
            Some(p) if self.is_tcp() && !std::ptr::eq(p, self) => sndbuf + p.lock().opts.rcvbuf,
            _ => sndbuf,
        }
    }

    /// unix_recvq_full: a unix datagram receiver holds more than
    /// max_dgram_qlen (a listener: its backlog).
    pub fn recvq_full(&self) -> bool {
        let s = self.lock();
        let max = if s.phase == Phase::Listening { s.backlog } else { MAX_DGRAM_QLEN };
        s.rx.len() > max
    }

    /// Whether UDP's receive buffer takes a datagram of `truesize` (a
    /// full one drops it).
    pub fn udp_room(&self, truesize: usize) -> bool {
        let s = self.lock();
        s.rx_bytes + truesize <= s.opts.rcvbuf || s.rx.is_empty()
    }

    /// Readiness for poll: what sock_poll's per-family functions report
    /// (unix_poll, unix_dgram_poll, tcp_poll, udp_poll).
    pub fn poll(&self) -> i16 {
        let peer = self.peer();
        let s = self.lock();
        let mut r = 0;
        if s.err.is_some() {
            r |= POLLERR;
        }
        if s.phase == Phase::Listening {
            return if s.pending.is_empty() { r } else { r | POLLIN | POLLRDNORM };
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
    pub fn wait_on(&self, pt: &mut PollTable) {
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
    pub fn inq(&self) -> usize {
        let s = self.lock();
        if self.ty == SOCK_STREAM {
            s.rx.iter().map(Msg::left).sum()
        } else {
            s.rx.front().map_or(0, |m| m.data.len())
        }
    }

    /// The last close: the connection ends (the peer sees end of file, or
    /// a reset if data was left unread), connections waiting to be
    /// accepted are reset, its name and port are given up.
    pub fn release(self: &Arc<Self>) {
        let (peer, pending, rx, unread) = {
            let mut s = self.lock();
            if s.dead {
                return;
            }
            s.dead = true;
            s.shutdown = SHUTDOWN_MASK;
            let unread = !s.rx.is_empty();
            s.rx_bytes = 0;
            if s.phase == Phase::Connected {
                s.phase = Phase::Closed;
            }
            (s.peer.take(), std::mem::take(&mut s.pending), std::mem::take(&mut s.rx), unread)
        };
        self.net.forget(self);
        if let Some(p) = &peer {
            if !Arc::ptr_eq(p, self) && self.connected_type() {
                let mut ps = p.lock();
                if ps.peer.as_ref().is_some_and(|q| Arc::ptr_eq(q, self)) {
                    ps.peer = None;
                    ps.phase = Phase::Closed;
                    if self.is_tcp() {
                        // A FIN, or an RST when data was left unread.
                        ps.shutdown |= RCV_SHUTDOWN;
                        if unread {
                            ps.err = Some(ECONNRESET);
                            ps.rst = true;
                            ps.shutdown = SHUTDOWN_MASK;
                        }
                    } else {
                        // unix_release_sock: the peer is shut down both
                        // ways, and reset if we left data unread.
                        ps.shutdown = SHUTDOWN_MASK;
                        if unread {
                            ps.err = Some(ECONNRESET);
                        }
                    }
                }
                drop(ps);
                p.wake();
            }
        }
        for e in pending {
            e.reset_embryo();
        }
        // In-flight files go last, with no lock held: closing one may
        // release another socket.
        drop(rx);
        drop(peer);
        self.wake();
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

    /// The name getsockname shows.
    pub fn local_name(&self) -> SockAddr {
        match &self.lock().local {
            Some(a) => a.clone(),
            None => self.unbound_name(),
        }
    }

    /// An unbound socket's name: AF_UNIX's family alone, the inet
    /// families' wildcard address and port 0.
    pub fn unbound_name(&self) -> SockAddr {
        match self.domain {
            AF_UNIX => SockAddr::Unix(UnixName::Unnamed),
            AF_INET => SockAddr::V4 { ip: addr::V4_ANY, port: 0 },
            _ => SockAddr::V6 { ip: addr::V6_ANY, port: 0, flowinfo: 0, scope: 0 },
        }
    }
}

/// The sandbox's network namespace: unix names (abstract and by inode),
/// the loopback's ports, the sockfs inode numbers.
#[derive(Default)]
pub struct Net {
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    abstract_names: HashMap<(u32, Vec<u8>), Weak<Socket>>,
    /// Path-bound unix sockets by their node's (device, inode).
    paths: HashMap<(u64, u64), Weak<Socket>>,
    ports: inet::Ports,
    next_ino: u64,
    /// unix_autobind's counter (names "\0XXXXX").
    autobind: u32,
    /// Every socket alive, for /proc/net.
    all: Vec<Weak<Socket>>,
}

impl Net {
    fn new_ino(&self) -> u64 {
        let mut t = self.tables.lock();
        t.next_ino += 1;
        // sockfs inode numbers are the kernel's get_next_ino(): large.
        1_000_000 + t.next_ino
    }

    /// Counts `s` among the sockets /proc/net lists.
    pub fn add(&self, s: &Arc<Socket>) {
        let mut t = self.tables.lock();
        t.all.retain(|w| w.strong_count() > 0);
        t.all.push(Arc::downgrade(s));
    }

    /// Every live socket, oldest first.
    pub fn sockets(&self) -> Vec<Arc<Socket>> {
        self.tables.lock().all.iter().filter_map(Weak::upgrade).filter(|s| !s.lock().dead).collect()
    }

    /// Gives up `s`'s names and ports.
    fn forget(&self, s: &Socket) {
        let (local, key) = {
            let st = s.lock();
            (st.local.clone(), st.path_key)
        };
        let mut t = self.tables.lock();
        let me = |w: &Weak<Socket>| std::ptr::eq(w.as_ptr(), s);
        if let Some(SockAddr::Unix(UnixName::Abstract(n))) = &local {
            let key = (s.ty, n.clone());
            if t.abstract_names.get(&key).is_some_and(me) {
                t.abstract_names.remove(&key);
            }
        }
        if let Some(k) = key {
            if t.paths.get(&k).is_some_and(me) {
                t.paths.remove(&k);
            }
        }
        t.ports.remove(s.ino);
    }
}
