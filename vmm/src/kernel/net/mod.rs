//! Sockets inside the sandbox: AF_UNIX (stream, datagram, seqpacket) and a
//! loopback network (AF_INET and AF_INET6, TCP and UDP on 127.0.0.0/8 and
//! ::1) between the sandbox's own processes. Nothing here reaches the
//! host: a name is an S_IFSOCK node of the sandbox's view registered in
//! [`Net`], a port a row of its table. Each [`Net`] is a network
//! namespace (`ns`).
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

//! Files: `socket` (the socket and its readiness), `buffer` (what is
//! queued and how it is counted), `options`, `stream` and `dgram` (data
//! of connected streams; datagrams received), `listen` (the accept
//! queue), `unix`, `inet` (ports and addresses), `tcp`, `udp`, `ns`
//! (namespaces: what each has of its own, what they share). The
//! syscall layer (`syscalls::socket`, `sockmsg`, `sockopt`) decodes
//! arguments and calls these.

pub(crate) mod addr;
pub(crate) mod buffer;
pub(crate) mod dgram;
pub(crate) mod inet;
pub(crate) mod listen;
pub(crate) mod netlink;
pub(crate) mod ns;
pub(crate) mod options;
pub(crate) mod proc;
pub(crate) mod socket;
pub(crate) mod stream;
pub(crate) mod tcp;
pub(crate) mod udp;
pub(crate) mod unix;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use self::addr::{SockAddr, UnixName};
use self::buffer::{Got, Iov, Outgoing};
pub(crate) use self::socket::{Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN, SOCKFS_DEV};
use super::abi::capability::CAP_NET_RAW;
use super::abi::netlink::NETLINK_ROUTE;
use super::abi::socket::*;
use super::abi::system::AF_MAX;
use super::errno::*;
use super::files::OpenFile;
use super::signal::{SigInfo, SIGPIPE, SI_USER};
use super::task::{Ctx, Woken};
use crate::mm::Kmem;

/// What a struct sock costs: unix_sock and udp_sock about 1 KiB, tcp_sock
/// about 2 KiB, each with its sockfs inode.
pub(crate) const SOCK_BYTES: u64 = 1024;
pub(crate) const TCP_SOCK_BYTES: u64 = 2048;

/// The caller's credentials as SO_PEERCRED shows them (cred_to_ucred:
/// the effective ids).
pub(crate) fn ucred(ctx: &Ctx) -> Ucred {
    let c = &ctx.proc().cred;
    Ucred { pid: ctx.pid as i32, uid: c.euid, gid: c.egid }
}

/// Waits for `attempt` to find what it needs, as sk_wait_event does:
/// EAGAIN when non-blocking or when the timeout (SO_RCVTIMEO/SNDTIMEO)
/// passes; a signal ends the wait with ERESTARTSYS (restarted per
/// SA_RESTART), or EINTR when a timeout was set (sock_intr_errno).
pub(crate) fn block<R>(
    ctx: &mut Ctx,
    nonblock: bool,
    timeo: Option<Duration>,
    register: impl Fn(&Arc<Condvar>),
    mut attempt: impl FnMut(&mut Ctx) -> Result<Option<R>, Errno>,
) -> Result<R, Errno> {
    let deadline = timeo.map(|t| Instant::now() + t);
    loop {
        if let Some(r) = attempt(ctx)? {
            return Ok(r);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(EAGAIN);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(match w {
                Woken::Signal if timeo.is_some() => EINTR,
                w => ctx.woken_errno(w),
            });
        }
        register(&ctx.cond());
        ctx.sleep(deadline);
    }
}

/// __sock_create's checks and the family's create(): a new socket of
/// `ty` (its flags already checked).
pub(crate) fn create(ctx: &mut Ctx, domain: u64, ty: u32, protocol: u64) -> Result<Arc<Socket>, Errno> {
    if domain >= AF_MAX {
        return Err(EAFNOSUPPORT);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base == 0 || base > SOCK_PACKET {
        return Err(EINVAL);
    }
    let protocol = protocol as u32;
    let (base, bytes) = match domain as u16 {
        AF_UNIX => {
            if protocol != 0 && protocol != AF_UNIX as u32 {
                return Err(EPROTONOSUPPORT);
            }
            match base {
                SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET => (base, SOCK_BYTES),
                // unix_create: BSD's SOCK_RAW is a datagram socket.
                SOCK_RAW => (SOCK_DGRAM, SOCK_BYTES),
                _ => return Err(ESOCKTNOSUPPORT),
            }
        }
        AF_INET | AF_INET6 => {
            let icmp = if domain as u16 == AF_INET { 1 } else { 58 };
            match (base, protocol) {
                (SOCK_STREAM, IPPROTO_IP | IPPROTO_TCP) => (base, TCP_SOCK_BYTES),
                (SOCK_DGRAM, IPPROTO_IP | IPPROTO_UDP) => (base, SOCK_BYTES),
                // Ping sockets: net.ipv4.ping_group_range is "1 0" (no
                // group may).
                (SOCK_DGRAM, p) if p == icmp => return Err(EACCES),
                // Raw sockets take no wildcard protocol.
                (SOCK_STREAM | SOCK_DGRAM, _) | (SOCK_RAW, IPPROTO_IP) => return Err(EPROTONOSUPPORT),
                (SOCK_RAW, _) if !ctx.proc().cred.capable(CAP_NET_RAW) => return Err(EPERM),
                _ => return Err(ESOCKTNOSUPPORT),
            }
        }
        AF_NETLINK => {
            // netlink_create: raw or datagram; only NETLINK_ROUTE is here
            // (any other is a protocol no module registers).
            if !matches!(base, SOCK_RAW | SOCK_DGRAM) {
                return Err(ESOCKTNOSUPPORT);
            }
            if protocol != NETLINK_ROUTE {
                return Err(EPROTONOSUPPORT);
            }
            (base, SOCK_BYTES)
        }
        // No packet or other family in the sandbox: as a kernel without
        // them.
        _ => return Err(EAFNOSUPPORT),
    };
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(bytes), 1)?;
    let cred = ucred(ctx);
    // sock_create: in the caller's namespace, for good.
    let net = ctx.proc().net.clone();
    let s = Socket::new(&net, domain as u16, base, protocol, cred, kmem);
    net.add(&s);
    Ok(s)
}

/// socketpair: two new sockets connected to each other (AF_UNIX only:
/// the others are sock_no_socketpair's EOPNOTSUPP).
pub(crate) fn pair(ctx: &mut Ctx, domain: u64, ty: u32, protocol: u64) -> Result<(Arc<Socket>, Arc<Socket>), Errno> {
    let x = create(ctx, domain, ty, protocol)?;
    if x.domain != AF_UNIX {
        x.release();
        return Err(EOPNOTSUPP);
    }
    let y = create(ctx, domain, ty, protocol)?;
    let me = ucred(ctx);
    for (s, p) in [(&x, &y), (&y, &x)] {
        let mut st = s.lock();
        st.phase = Phase::Connected;
        st.peer = Some(p.clone());
        st.remote = Some(SockAddr::Unix(UnixName::Unnamed));
        st.peer_cred = Some(me);
    }
    Ok((x, y))
}

/// EPIPE raises SIGPIPE at the caller unless MSG_NOSIGNAL.
pub(crate) fn pipe_err(ctx: &mut Ctx, flags: u32) -> Errno {
    if flags & MSG_NOSIGNAL == 0 {
        let (pid, tid, uid) = (ctx.pid, ctx.tid, ctx.proc().cred.uid);
        ctx.k.send_thread_signal(tid, SigInfo::user(SIGPIPE, pid, uid, SI_USER));
    }
    EPIPE
}

/// sock_sendmsg for any socket; `find` resolves unix path names.
pub(crate) fn send(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    msg: Outgoing,
    find: unix::FindPath,
) -> Result<i64, Errno> {
    if msg.flags & MSG_OOB != 0 {
        return Err(EOPNOTSUPP);
    }
    if s.domain == AF_UNIX && s.ty != SOCK_STREAM {
        return unix::send_dgram(ctx, f, s, msg, find);
    }
    let Outgoing { iov, dest, control: c, flags } = msg;
    match (s.domain, s.ty) {
        (AF_UNIX, SOCK_STREAM) => {
            if dest.as_ref().is_some_and(|d| !d.is_empty()) {
                return Err(if s.lock().phase == Phase::Connected { EISCONN } else { EOPNOTSUPP });
            }
            stream::send(ctx, f, s, iov, c, flags)
        }
        (AF_NETLINK, _) => netlink::send(ctx, s, iov, dest, c),
        (_, SOCK_STREAM) => stream::send(ctx, f, s, iov, c, flags),
        _ => udp::send(ctx, s, iov, dest, c),
    }
}

/// sock_recvmsg for any socket.
pub(crate) fn recv(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    if flags & MSG_OOB != 0 {
        return Err(if s.is_tcp() { EINVAL } else { EOPNOTSUPP });
    }
    if flags & MSG_ERRQUEUE != 0 && s.domain != AF_UNIX {
        // Nothing is ever queued on the error queue of the loopback.
        return Err(EAGAIN);
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let mut got = if s.ty == SOCK_STREAM {
        stream::recv(ctx, nonblock, s, iov, flags)?
    } else {
        dgram::recv(ctx, nonblock, s, iov, flags)?
    };
    if s.is_tcp() {
        got.from = None;
    }
    if s.domain == AF_UNIX && s.ty == SOCK_STREAM && got.cred.is_none() && got.n > 0 {
        got.cred = s.peer().map(|p| p.cred);
    }
    Ok(got)
}

/// A network namespace: abstract unix names, the loopback's ports,
/// netlink's port ids, lo, the sysctls; and what all namespaces share
/// (unix path names, sockfs inode numbers).
pub(crate) struct Net {
    tables: Mutex<Tables>,
    /// lo's packets and bytes (each counted once: what lo sends it
    /// receives).
    lo: Mutex<(u64, u64)>,
    shared: Arc<ns::Shared>,
    own: ns::Own,
}

#[derive(Default)]
struct Tables {
    abstract_names: HashMap<(u32, Vec<u8>), Weak<Socket>>,
    ports: inet::Ports,
    /// Netlink sockets by port id.
    nl_ports: HashMap<u32, Weak<Socket>>,
    /// unix_autobind's counter (names "\0XXXXX").
    autobind: u32,
    /// Every socket alive, for /proc/net.
    all: Vec<Weak<Socket>>,
}

impl Net {
    /// Counts a loopback packet of `len` bytes of data: its IP and TCP
    /// (with timestamps) or UDP headers too.
    pub(crate) fn count_lo(&self, domain: u16, ty: u32, len: usize) {
        let ip = if domain == AF_INET { 20 } else { 40 };
        let l4 = if ty == SOCK_STREAM { 32 } else { 8 };
        let mut lo = self.lo.lock();
        lo.0 += 1;
        lo.1 += (ip + l4 + len) as u64;
    }

    /// lo's packets and bytes so far.
    pub(crate) fn lo_stats(&self) -> (u64, u64) {
        *self.lo.lock()
    }

    /// Counts `s` among the sockets /proc/net lists.
    pub(crate) fn add(&self, s: &Arc<Socket>) {
        let mut t = self.tables.lock();
        t.all.retain(|w| w.strong_count() > 0);
        t.all.push(Arc::downgrade(s));
    }

    /// Every live socket, oldest first.
    pub(crate) fn sockets(&self) -> Vec<Arc<Socket>> {
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
        t.ports.remove(s.ino);
        if let Some(SockAddr::Netlink { pid, .. }) = local {
            if t.nl_ports.get(&pid).is_some_and(me) {
                t.nl_ports.remove(&pid);
            }
        }
        drop(t);
        if let Some(k) = key {
            self.forget_path(s, k);
        }
    }
}
