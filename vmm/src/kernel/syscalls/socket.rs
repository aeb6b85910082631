//! The socket calls that make sockets and connections: socket, socketpair,
//! bind, listen, accept/accept4, connect, shutdown, getsockname and
//! getpeername (net/socket.c's decoding, af_unix.c's and af_inet.c's
//! rules). Data moves in `sockmsg`, options in `sockopt`; the sockets
//! themselves are `kernel::net`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Condvar;

use super::super::abi::capability::{CAP_NET_BIND_SERVICE, CAP_NET_RAW};
use super::super::abi::fcntl::{AT_FDCWD, O_NONBLOCK, O_RDWR};
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::socket::*;
use super::super::abi::stat::{S_IFMT, S_IFSOCK};
use super::super::abi::system::AF_MAX;
use super::super::cred::MAY_WRITE;
use super::super::errno::*;
use super::super::files::{Fd, FileKind, OpenFile};
use super::super::net::addr::{decode, Decoded, Ip, SockAddr, UnixName, Use, V4_LOOPBACK, V6_LOOPBACK};
use super::super::net::inet::PortEntry;
use super::super::net::{Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use super::super::task::{Ctx, Woken};
use super::namei::{cred, existing, layer_room, lookup, may_create, named};
use crate::mm::Kmem;

/// sizeof(struct sockaddr_storage): the longest address a call takes.
const SOCKADDR_STORAGE: u64 = 128;
/// What a struct sock costs: unix_sock and udp_sock about 1 KiB, tcp_sock
/// about 2 KiB, each with its sockfs inode.
const SOCK_BYTES: u64 = 1024;
const TCP_SOCK_BYTES: u64 = 2048;

/// The open file and socket behind `fd`: EBADF, or ENOTSOCK for another
/// kind of file.
pub(super) fn sock_of(ctx: &Ctx, fd: u64) -> Result<(Arc<OpenFile>, Arc<Socket>), Errno> {
    let f = ctx.proc().files.file(fd as i32)?;
    let s = match &f.kind {
        FileKind::Socket(s) => s.clone(),
        _ => return Err(ENOTSOCK),
    };
    Ok((f, s))
}

/// The caller's credentials as SO_PEERCRED shows them (cred_to_ucred:
/// the effective ids).
pub(super) fn ucred(ctx: &Ctx) -> Ucred {
    let c = &ctx.proc().cred;
    Ucred { pid: ctx.pid as i32, uid: c.euid, gid: c.egid }
}

/// move_addr_to_kernel: an address of at most sockaddr_storage's size.
pub(super) fn read_sockaddr(ctx: &mut Ctx, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = len as u32 as i32;
    if len < 0 || len as u64 > SOCKADDR_STORAGE {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    if len > 0 {
        ctx.read_user(addr, &mut raw)?;
    }
    Ok(raw)
}

/// move_addr_to_user: as much of `a` as `*lenp` holds, and its full
/// length back in `*lenp` (a negative length is EINVAL).
pub(super) fn write_sockaddr(ctx: &mut Ctx, a: Option<&SockAddr>, addr: u64, lenp: u64) -> Result<(), Errno> {
    let bytes = a.map(SockAddr::encode).unwrap_or_default();
    let ulen = ctx.read_u32(lenp)? as i32;
    if ulen < 0 {
        return Err(EINVAL);
    }
    let n = (ulen as usize).min(bytes.len());
    if n > 0 {
        ctx.write_user(addr, &bytes[..n])?;
    }
    ctx.write_u32(lenp, bytes.len() as u32)
}

/// Waits for `attempt` to find what it needs, as sk_wait_event does:
/// EAGAIN when non-blocking or when the timeout (SO_RCVTIMEO/SNDTIMEO)
/// passes; a signal ends the wait with ERESTARTSYS (restarted per
/// SA_RESTART), or EINTR when a timeout was set (sock_intr_errno).
pub(super) fn block<R>(
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

/// __sock_create's checks and the family's create(): a new socket.
fn create(ctx: &mut Ctx, domain: u64, ty: u32, protocol: u64) -> Result<Arc<Socket>, Errno> {
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
        // No netlink, packet or other family in the sandbox: as a kernel
        // without them.
        _ => return Err(EAFNOSUPPORT),
    };
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(bytes), 1)?;
    let cred = ucred(ctx);
    let net = ctx.k.net.clone();
    let s = Socket::new(&net, domain as u16, base, protocol, cred, kmem);
    net.add(&s);
    Ok(s)
}

/// A new open file for socket `s`, installed at the lowest free
/// descriptor.
fn install(ctx: &mut Ctx, s: Arc<Socket>, flags: u32) -> SysResult {
    let path = format!("socket:[{}]", s.ino);
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let f = OpenFile::new(FileKind::Socket(s), O_RDWR | nonblock, path);
    let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
    let fd = ctx.k.fd_install(ctx.pid, Fd { file: f, cloexec: flags & SOCK_CLOEXEC != 0 }, 0, limit)?;
    Ok(fd as i64)
}

fn check_type_flags(ty: u64) -> Result<u32, Errno> {
    let ty = ty as u32;
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    Ok(ty)
}

pub(super) fn socket(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ty = check_type_flags(a[1] & 0xffff_ffff)?;
    let s = create(ctx, a[0] & 0xffff_ffff, ty, a[2] & 0xffff_ffff)?;
    install(ctx, s, ty)
}

pub(super) fn socketpair(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ty = check_type_flags(a[1] & 0xffff_ffff)?;
    let x = create(ctx, a[0] & 0xffff_ffff, ty, a[2] & 0xffff_ffff)?;
    if x.domain != AF_UNIX {
        // sock_no_socketpair.
        x.release();
        return Err(EOPNOTSUPP);
    }
    let y = create(ctx, a[0] & 0xffff_ffff, ty, a[2] & 0xffff_ffff)?;
    let me = ucred(ctx);
    for (s, p) in [(&x, &y), (&y, &x)] {
        let mut st = s.lock();
        st.phase = Phase::Connected;
        st.peer = Some(p.clone());
        st.remote = Some(SockAddr::Unix(UnixName::Unnamed));
        st.peer_cred = Some(me);
    }
    let fx = install(ctx, x, ty)?;
    let fy = match install(ctx, y, ty) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.proc_mut().files.close(fx as i32);
            return Err(e);
        }
    };
    let mut sv = [0u8; 8];
    sv[..4].copy_from_slice(&(fx as i32).to_ne_bytes());
    sv[4..].copy_from_slice(&(fy as i32).to_ne_bytes());
    if let Err(e) = ctx.write_user(a[3], &sv) {
        let _ = ctx.proc_mut().files.close(fx as i32);
        let _ = ctx.proc_mut().files.close(fy as i32);
        return Err(e);
    }
    Ok(0)
}

/// Where an inet socket's traffic to `dest` comes from: its bound
/// address, or lo's (127.0.0.1, ::1, or 127.0.0.1 mapped).
pub(super) fn source_ip(s: &Socket, dest: Ip) -> Ip {
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

/// The port entry `s` would hold at `ip`:`port`.
fn port_entry(ctx: &Ctx, s: &Arc<Socket>, ip: Ip, port: u16) -> PortEntry {
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
        uid: ctx.proc().cred.euid,
        listening: false,
    }
}

/// inet_bind/inet6_bind for an inet socket not yet bound.
fn bind_inet(ctx: &mut Ctx, s: &Arc<Socket>, a: SockAddr) -> Result<(), Errno> {
    let ip = a.ip().ok_or(EINVAL)?;
    if s.domain == AF_INET6 && s.lock().opts.v6only && matches!(ip.unmapped(), Ip::V4(_)) {
        return Err(EINVAL);
    }
    if !ip.is_any() && !ip.is_local() {
        return Err(EADDRNOTAVAIL);
    }
    if s.lock().local.is_some() {
        return Err(EINVAL);
    }
    let port = a.port();
    if port != 0 && port < PROT_SOCK && !ctx.proc().cred.capable(CAP_NET_BIND_SERVICE) {
        return Err(EACCES);
    }
    let e = port_entry(ctx, s, ip, port);
    let got = ctx.k.net.bind_port(e)?;
    s.lock().local = Some(a.with_port(got));
    Ok(())
}

/// Binds an unbound inet socket to an ephemeral port (connect, sendto,
/// listen do it): on lo's address for `dest` when connecting.
pub(super) fn autobind_inet(ctx: &mut Ctx, s: &Arc<Socket>, dest: Option<Ip>) -> Result<(), Errno> {
    if s.lock().local.is_some() {
        return Ok(());
    }
    let any = if s.domain == AF_INET { Ip::V4([0; 4]) } else { Ip::V6([0; 16]) };
    let e = port_entry(ctx, s, any, 0);
    // Out of ephemeral ports a connect is EAGAIN (EADDRNOTAVAIL for bind).
    let port = ctx.k.net.bind_port(e).map_err(|_| EAGAIN)?;
    let ip = dest.map_or(any, |d| source_ip(s, d));
    s.lock().local = Some(SockAddr::of_ip(s.domain, ip, port));
    Ok(())
}

/// unix_bind: a path (an S_IFSOCK node made in the sandbox's view), an
/// abstract name, or an autobind (the family alone).
fn bind_unix(ctx: &mut Ctx, s: &Arc<Socket>, name: UnixName) -> Result<(), Errno> {
    if s.lock().local.is_some() {
        return Err(EINVAL);
    }
    let net = ctx.k.net.clone();
    let local = match name {
        UnixName::Unnamed => net.autobind(s)?,
        UnixName::Abstract(n) => {
            net.bind_abstract(s, &n)?;
            SockAddr::Unix(UnixName::Abstract(n))
        }
        UnixName::Path(p) => {
            let path = String::from_utf8(p.clone()).map_err(|_| ENOENT)?;
            let n = named(ctx, AT_FDCWD, &path)?;
            if n.name.is_empty() || existing(ctx, &n, false).is_ok() {
                return Err(EADDRINUSE);
            }
            let c = cred(ctx);
            may_create(&n.dir.node, &c)?;
            layer_room(ctx, &n.dir.node, None)?;
            let mode = 0o777 & !ctx.proc().umask;
            let node = ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, S_IFSOCK, mode, "", &c)?;
            let m = node.meta();
            net.bind_path(s, (m.dev, m.ino));
            s.lock().path_key = Some((m.dev, m.ino));
            SockAddr::Unix(UnixName::Path(p))
        }
    };
    s.lock().local = Some(local);
    Ok(())
}

pub(super) fn bind(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    match decode(s.domain, &raw, Use::Bind)? {
        Decoded::Addr(SockAddr::Unix(n)) => bind_unix(ctx, &s, n)?,
        Decoded::Addr(addr) => bind_inet(ctx, &s, addr)?,
        Decoded::Unspec => return Err(EAFNOSUPPORT),
    }
    Ok(0)
}

pub(super) fn listen(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    if s.ty == SOCK_DGRAM {
        return Err(EOPNOTSUPP);
    }
    // A backlog above somaxconn (or negative, as unsigned) is somaxconn.
    let backlog = (a[1] as u32).min(SOMAXCONN) as usize;
    let phase = s.lock().phase;
    if !matches!(phase, Phase::Unconnected | Phase::Listening) {
        return Err(EINVAL);
    }
    if s.domain == AF_UNIX {
        if s.lock().local.is_none() {
            return Err(EINVAL);
        }
    } else {
        autobind_inet(ctx, &s, None).map_err(|_| EADDRINUSE)?;
        if phase != Phase::Listening {
            ctx.k.net.start_listening(s.ino)?;
        }
    }
    let me = ucred(ctx);
    let mut st = s.lock();
    st.phase = Phase::Listening;
    st.backlog = backlog;
    // unix_listen: a connecting peer's SO_PEERCRED is the listener's.
    st.peer_cred = Some(me);
    drop(st);
    s.wake();
    Ok(0)
}

/// The socket a unix address names: ENOENT (no such path), ECONNREFUSED
/// (a name no live socket holds: a host's socket too), EPROTOTYPE (a
/// socket of another type).
pub(super) fn find_unix(ctx: &mut Ctx, name: &UnixName, ty: u32) -> Result<Arc<Socket>, Errno> {
    let net = ctx.k.net.clone();
    let other = match name {
        UnixName::Unnamed => None,
        UnixName::Abstract(n) => net.find_abstract(ty, n),
        UnixName::Path(p) => {
            let path = String::from_utf8(p.clone()).map_err(|_| ENOENT)?;
            let l = lookup(ctx, AT_FDCWD, &path, true)?;
            let m = l.node.meta();
            if m.mode & S_IFMT != S_IFSOCK {
                return Err(ECONNREFUSED);
            }
            ctx.proc().cred.permission(m.mode, m.uid, m.gid, MAY_WRITE)?;
            net.find_path((m.dev, m.ino))
        }
    };
    let other = other.ok_or(ECONNREFUSED)?;
    if other.ty != ty {
        return Err(EPROTOTYPE);
    }
    Ok(other)
}

/// A connection: `client` joined to a new socket queued on `listener`,
/// which accept hands out.
fn join(ctx: &mut Ctx, client: &Arc<Socket>, listener: &Arc<Socket>, local: SockAddr) -> Result<(), Errno> {
    let bytes = if client.is_tcp() { TCP_SOCK_BYTES } else { SOCK_BYTES };
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(bytes), 1)?;
    let net = ctx.k.net.clone();
    let (lcred, lopts) = {
        let l = listener.lock();
        (l.peer_cred.unwrap_or(listener.cred), l.opts.clone())
    };
    let server = Socket::new(&net, listener.domain, listener.ty, listener.protocol, lcred, kmem);
    net.add(&server);
    let me = ucred(ctx);
    let client_name = {
        let c = client.lock();
        c.local.clone().unwrap_or_else(|| client.unbound_name())
    };
    {
        let mut st = server.lock();
        st.opts = lopts;
        st.phase = Phase::Connected;
        st.local = Some(local.clone());
        st.remote = Some(match (&client_name, client_name.ip()) {
            (_, Some(ip)) => SockAddr::of_ip(listener.domain, ip, client_name.port()),
            (n, None) => n.clone(),
        });
        st.peer = Some(client.clone());
        st.peer_cred = Some(me);
    }
    if server.domain != AF_UNIX {
        let ip = local.ip().ok_or(EINVAL)?;
        let mut e = port_entry(ctx, &server, ip, local.port());
        e.reuseaddr = true;
        e.reuseport = true;
        let _ = ctx.k.net.bind_port(e);
    }
    {
        let mut c = client.lock();
        c.phase = Phase::Connected;
        c.peer = Some(server.clone());
        c.peer_cred = Some(lcred);
        c.remote = Some(match local.ip() {
            Some(ip) => SockAddr::of_ip(client.domain, ip, local.port()),
            None => listener.lock().local.clone().unwrap_or(SockAddr::Unix(UnixName::Unnamed)),
        });
    }
    listener.lock().pending.push_back(server);
    listener.wake();
    client.wake();
    Ok(())
}

/// unix_stream_connect (stream and seqpacket).
fn connect_unix_stream(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, name: UnixName) -> SysResult {
    match s.lock().phase {
        Phase::Connected => return Err(EISCONN),
        Phase::Listening => return Err(EINVAL),
        _ => {}
    }
    let passcred = s.lock().opts.passcred;
    if passcred && s.lock().local.is_none() {
        let a = ctx.k.net.clone().autobind(s)?;
        s.lock().local = Some(a);
    }
    let timeo = s.lock().opts.sndtimeo;
    let nonblock = f.nonblocking();
    let listener = block(
        ctx,
        nonblock,
        timeo,
        |_| {},
        |ctx| {
            let other = find_unix(ctx, &name, s.ty)?;
            let st = other.lock();
            if st.phase != Phase::Listening || st.dead {
                return Err(ECONNREFUSED);
            }
            // unix_recvq_full: more than the backlog waiting.
            if st.pending.len() > st.backlog {
                drop(st);
                other.wq.register(&ctx.cond());
                return Ok(None);
            }
            drop(st);
            Ok(Some(other))
        },
    )?;
    if s.lock().phase == Phase::Connected {
        return Err(EISCONN);
    }
    let local = listener.lock().local.clone().unwrap_or(SockAddr::Unix(UnixName::Unnamed));
    join(ctx, s, &listener, local)?;
    Ok(0)
}

/// The inet destination a connect or send names, checked: ENETUNREACH
/// beyond the loopback (an IPv4-mapped one from a v6-only socket too).
pub(super) fn inet_dest(s: &Socket, a: &SockAddr) -> Result<Ip, Errno> {
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
    Ok(ip)
}

/// tcp_v4_connect/tcp_v6_connect on the loopback: the listener takes the
/// connection at once (or refuses it). A non-blocking connect still says
/// EINPROGRESS, as Linux's does before the handshake's reply.
fn connect_tcp(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, a: SockAddr) -> SysResult {
    let nonblock = f.nonblocking();
    {
        let mut st = s.lock();
        match st.phase {
            Phase::Listening => return Err(EISCONN),
            Phase::Connected if st.connect_reported => {
                st.connect_reported = false;
                return Ok(0);
            }
            Phase::Connected => return Err(EISCONN),
            Phase::Closed if st.connect_reported => {
                st.connect_reported = false;
                st.phase = Phase::Unconnected;
                return Err(st.err.take().unwrap_or(ECONNABORTED));
            }
            _ => {}
        }
    }
    let dest = inet_dest(s, &a)?;
    let port = a.port();
    let autobound = s.lock().local.is_none();
    autobind_inet(ctx, s, Some(dest))?;
    let listener = ctx.k.net.find_listener(dest, port).filter(|l| !l.lock().dead);
    let Some(listener) = listener else {
        if autobound {
            ctx.k.net.forget_port(s.ino);
            s.lock().local = None;
        }
        if nonblock {
            let mut st = s.lock();
            st.phase = Phase::Closed;
            st.err = Some(ECONNREFUSED);
            st.connect_reported = true;
            return Err(EINPROGRESS);
        }
        return Err(ECONNREFUSED);
    };
    let timeo = s.lock().opts.sndtimeo;
    // A full accept queue drops the SYN: a blocking connect waits for
    // room (the SYN's retransmission gets through once there is).
    if !nonblock {
        block(
            ctx,
            false,
            timeo,
            |cv| listener.wq.register(cv),
            |_| {
                let l = listener.lock();
                Ok((l.pending.len() <= l.backlog || l.phase != Phase::Listening).then_some(()))
            },
        )
        .map_err(|e| if e == EAGAIN { EINPROGRESS } else { e })?;
        if listener.lock().phase != Phase::Listening {
            return Err(ECONNREFUSED);
        }
    }
    let local = SockAddr::of_ip(listener.domain, dest, port);
    join(ctx, s, &listener, local)?;
    if nonblock {
        s.lock().connect_reported = true;
        return Err(EINPROGRESS);
    }
    Ok(0)
}

/// Datagram connect: the default destination (AF_UNSPEC dissolves it).
fn connect_dgram(ctx: &mut Ctx, s: &Arc<Socket>, d: Decoded) -> SysResult {
    let a = match d {
        Decoded::Unspec => {
            let mut st = s.lock();
            st.phase = Phase::Unconnected;
            st.peer = None;
            st.remote = None;
            return Ok(0);
        }
        Decoded::Addr(a) => a,
    };
    match &a {
        SockAddr::Unix(n) => {
            if s.lock().opts.passcred && s.lock().local.is_none() {
                let l = ctx.k.net.clone().autobind(s)?;
                s.lock().local = Some(l);
            }
            let other = find_unix(ctx, n, s.ty)?;
            // unix_may_send: it is connected to no one else.
            if !Arc::ptr_eq(&other, s) {
                let op = other.lock().peer.clone();
                if op.is_some_and(|p| !Arc::ptr_eq(&p, s)) {
                    return Err(EPERM);
                }
            }
            let remote = other.lock().local.clone();
            let mut st = s.lock();
            st.phase = Phase::Connected;
            st.remote = remote;
            st.peer = Some(other);
        }
        _ => {
            let dest = inet_dest(s, &a)?;
            autobind_inet(ctx, s, Some(dest))?;
            let src = source_ip(s, dest);
            let mut st = s.lock();
            if let Some(l) = st.local.clone() {
                st.local = Some(SockAddr::of_ip(s.domain, src, l.port()));
            }
            st.phase = Phase::Connected;
            st.remote = Some(SockAddr::of_ip(s.domain, dest, a.port()).with_port(a.port()));
            st.peer = None;
        }
    }
    Ok(0)
}

pub(super) fn connect(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    let d = decode(s.domain, &raw, Use::Connect)?;
    if s.ty == SOCK_DGRAM {
        return connect_dgram(ctx, &s, d);
    }
    match d {
        Decoded::Addr(SockAddr::Unix(n)) => connect_unix_stream(ctx, &f, &s, n),
        Decoded::Addr(addr) => connect_tcp(ctx, &f, &s, addr),
        // tcp_disconnect of an unconnected socket.
        Decoded::Unspec => Ok(0),
    }
}

pub(super) fn accept4(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[3] as u32;
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (f, s) = sock_of(ctx, a[0])?;
    if s.ty == SOCK_DGRAM {
        return Err(EOPNOTSUPP);
    }
    if s.lock().phase != Phase::Listening {
        return Err(EINVAL);
    }
    // The length is read first: a bad pointer costs no connection.
    if a[1] != 0 {
        let len = ctx.read_u32(a[2])? as i32;
        if len < 0 {
            return Err(EINVAL);
        }
    }
    let timeo = s.lock().opts.rcvtimeo;
    let conn = block(
        ctx,
        f.nonblocking(),
        timeo,
        |cv| s.rq.register(cv),
        |_| {
            let mut st = s.lock();
            if st.phase != Phase::Listening {
                return Err(EINVAL);
            }
            Ok(st.pending.pop_front())
        },
    )?;
    s.wq.wake_all();
    let remote = conn.lock().remote.clone();
    let fd = install(ctx, conn, flags)?;
    if a[1] != 0 {
        if let Err(e) = write_sockaddr(ctx, remote.as_ref(), a[1], a[2]) {
            let _ = ctx.proc_mut().files.close(fd as i32);
            return Err(e);
        }
    }
    Ok(fd)
}

pub(super) fn accept(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    accept4(ctx, [a[0], a[1], a[2], 0, 0, 0])
}

pub(super) fn shutdown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let how = a[1] as i32;
    let (_, s) = sock_of(ctx, a[0])?;
    if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
        return Err(EINVAL);
    }
    let mode = (how + 1) as u8;
    let (phase, peer) = {
        let st = s.lock();
        (st.phase, st.peer.clone())
    };
    if s.domain == AF_UNIX {
        s.lock().shutdown |= mode;
        if s.connected_type() {
            if let Some(p) = peer.filter(|p| !Arc::ptr_eq(p, &s)) {
                // The peer's halves are the mirror of ours.
                let mut pm = 0;
                if mode & RCV_SHUTDOWN != 0 {
                    pm |= SEND_SHUTDOWN;
                }
                if mode & SEND_SHUTDOWN != 0 {
                    pm |= RCV_SHUTDOWN;
                }
                p.lock().shutdown |= pm;
                p.wake();
            }
        }
        s.wake();
        return Ok(0);
    }
    // inet_shutdown.
    let r = match phase {
        Phase::Listening => {
            if mode & RCV_SHUTDOWN != 0 {
                let pending = {
                    let mut st = s.lock();
                    st.phase = Phase::Unconnected;
                    std::mem::take(&mut st.pending)
                };
                for e in pending {
                    e.release();
                }
                ctx.k.net.stop_listening(s.ino);
            }
            s.wake();
            return Ok(0);
        }
        Phase::Unconnected => Err(ENOTCONN),
        Phase::Closed if s.lock().rst => Err(ENOTCONN),
        _ => Ok(0),
    };
    s.lock().shutdown |= mode;
    if s.is_tcp() && mode & SEND_SHUTDOWN != 0 {
        if let Some(p) = peer {
            // A FIN: the peer reads to the end.
            p.lock().shutdown |= RCV_SHUTDOWN;
            p.wake();
        }
    }
    s.wake();
    r
}

pub(super) fn getsockname(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let name = s.local_name();
    write_sockaddr(ctx, Some(&name), a[1], a[2])?;
    Ok(0)
}

pub(super) fn getpeername(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let remote = {
        let st = s.lock();
        let gone = s.is_tcp() && st.rst;
        match (&st.remote, st.phase) {
            (Some(r), Phase::Connected | Phase::Closed) if !gone => r.clone(),
            _ => return Err(ENOTCONN),
        }
    };
    write_sockaddr(ctx, Some(&remote), a[1], a[2])?;
    Ok(0)
}
