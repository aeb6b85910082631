//! Data through sockets: send, sendto, sendmsg, sendmmsg, recv, recvfrom,
//! recvmsg, recvmmsg, and read/write/readv/writev on a socket, with their
//! control messages (SCM_RIGHTS, SCM_CREDENTIALS), as net/socket.c,
//! net/core/scm.c, af_unix.c's stream and datagram paths, tcp_sendmsg and
//! udp_sendmsg have them on the loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use super::super::abi::capability::{CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::socket::*;
use super::super::abi::uio::{Iovec, UIO_MAXIOV};
use super::super::errno::*;
use super::super::files::{Fd, OpenFile};
use super::super::net::addr::{decode, Decoded, SockAddr, Use};
use super::super::net::{truesize, Msg, Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN, SKB_OVERHEAD, STREAM_CHUNK};
use super::super::signal::{SigInfo, SIGPIPE, SI_USER};
use super::super::task::Ctx;
use super::io::MAX_RW_COUNT;
use super::socket::{block, find_unix, inet_dest, read_sockaddr, sock_of, ucred, write_sockaddr};
use crate::mm::Kmem;
use crate::mm::KmemClass;

/// net.core.optmem_max: the most control data one sendmsg may pass.
const OPTMEM_MAX: u64 = 131_072;
/// The largest UDP payloads (65535 less the headers).
const UDP_MAX_V4: usize = 65_507;
const UDP_MAX_V6: usize = 65_527;

/// A call's buffers: (base, len) pairs, and their total.
pub(super) struct Iov {
    v: Vec<(u64, u64)>,
    total: usize,
}

impl Iov {
    pub(super) fn one(buf: u64, len: u64) -> Iov {
        let len = len.min(MAX_RW_COUNT);
        Iov { v: vec![(buf, len)], total: len as usize }
    }

    /// import_iovec: at most UIO_MAXIOV vectors (`too_many` otherwise),
    /// a total that fits a ssize_t (EINVAL), capped at MAX_RW_COUNT.
    pub(super) fn read(ctx: &mut Ctx, iov: u64, cnt: u64, too_many: Errno) -> Result<Iov, Errno> {
        if cnt > UIO_MAXIOV {
            return Err(too_many);
        }
        let mut raw = vec![Iovec::default(); cnt as usize];
        ctx.read_user(iov, raw.as_mut_bytes())?;
        let mut v = Vec::with_capacity(raw.len());
        let mut total: u64 = 0;
        for c in raw {
            if (c.iov_len as i64) < 0 {
                return Err(EINVAL);
            }
            let len = c.iov_len.min(MAX_RW_COUNT - total);
            total += len;
            v.push((c.iov_base, len));
        }
        Ok(Iov { v, total: total as usize })
    }

    /// `n` bytes from offset `at` of the buffers.
    fn gather(&self, ctx: &mut Ctx, mut at: usize, n: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::with_capacity(n);
        for &(base, len) in &self.v {
            let len = len as usize;
            if at >= len {
                at -= len;
                continue;
            }
            let take = (len - at).min(n - out.len());
            let start = out.len();
            out.resize(start + take, 0);
            ctx.read_user(base + at as u64, &mut out[start..])?;
            at = 0;
            if out.len() == n {
                break;
            }
        }
        Ok(out)
    }

    /// Puts `data` at offset `at` of the buffers.
    fn scatter(&self, ctx: &mut Ctx, mut at: usize, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        for &(base, len) in &self.v {
            let len = len as usize;
            if at >= len {
                at -= len;
                continue;
            }
            let take = (len - at).min(data.len() - done);
            ctx.write_user(base + at as u64, &data[done..done + take])?;
            done += take;
            at = 0;
            if done == data.len() {
                break;
            }
        }
        Ok(())
    }
}

/// What sendmsg's control data carries.
#[derive(Default)]
pub(super) struct Control {
    rights: Vec<Arc<OpenFile>>,
    cred: Option<Ucred>,
}

/// __scm_send: SOL_SOCKET messages only (others are left to the
/// protocol, which takes none); SCM_RIGHTS only on AF_UNIX, at most
/// SCM_MAX_FD descriptors (EINVAL), each open (EBADF); SCM_CREDENTIALS
/// the sender's own ids unless privileged (EPERM).
fn parse_control(ctx: &mut Ctx, s: &Socket, ptr: u64, len: u64) -> Result<Control, Errno> {
    let mut c = Control::default();
    if len == 0 {
        return Ok(c);
    }
    if len > i32::MAX as u64 || len > OPTMEM_MAX {
        return Err(ENOBUFS);
    }
    let mut buf = vec![0u8; len as usize];
    ctx.read_user(ptr, &mut buf)?;
    let hdr = size_of::<Cmsghdr>();
    let mut at = 0;
    while at + hdr <= buf.len() {
        let h = Cmsghdr::read_from_bytes(&buf[at..at + hdr]).map_err(|_| EINVAL)?;
        let clen = h.cmsg_len as usize;
        if clen < hdr || clen > buf.len() - at {
            return Err(EINVAL);
        }
        let data = &buf[at + hdr..at + clen];
        if h.cmsg_level == SOL_SOCKET {
            match h.cmsg_type {
                SCM_RIGHTS => {
                    if s.domain != AF_UNIX {
                        return Err(EINVAL);
                    }
                    let n = data.len() / 4;
                    if c.rights.len() + n > SCM_MAX_FD {
                        return Err(EINVAL);
                    }
                    for i in 0..n {
                        let fd = i32::from_ne_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
                        c.rights.push(ctx.proc().files.file(fd)?);
                    }
                }
                SCM_CREDENTIALS => {
                    if data.len() != size_of::<Ucred>() {
                        return Err(EINVAL);
                    }
                    let u = Ucred::read_from_bytes(data).map_err(|_| EINVAL)?;
                    let p = ctx.proc();
                    let cr = &p.cred;
                    let pid_ok = u.pid == ctx.pid as i32 || cr.capable(CAP_SYS_ADMIN);
                    let uid_ok = [cr.uid, cr.euid, cr.suid].contains(&u.uid) || cr.capable(CAP_SETUID);
                    let gid_ok = [cr.gid, cr.egid, cr.sgid].contains(&u.gid) || cr.capable(CAP_SETGID);
                    if !(pid_ok && uid_ok && gid_ok) {
                        return Err(EPERM);
                    }
                    c.cred = Some(u);
                }
                _ => return Err(EINVAL),
            }
        }
        at += cmsg_align(clen);
    }
    Ok(c)
}

/// EPIPE raises SIGPIPE at the caller unless MSG_NOSIGNAL.
fn pipe_err(ctx: &mut Ctx, flags: u32) -> Errno {
    if flags & MSG_NOSIGNAL == 0 {
        let (pid, tid, uid) = (ctx.pid, ctx.tid, ctx.proc().cred.uid);
        ctx.k.send_thread_signal(tid, SigInfo::user(SIGPIPE, pid, uid, SI_USER));
    }
    EPIPE
}

/// A message of `data` from `s`, its memory charged (ENOBUFS past the
/// budget) and counted in the sender's sk_wmem_alloc until read.
fn new_msg(
    ctx: &mut Ctx,
    s: &Socket,
    data: Vec<u8>,
    from: Option<SockAddr>,
    c: &mut Control,
    cred: Ucred,
) -> Result<Msg, Errno> {
    let head = ctx.k.kmem_charge(Kmem::Kmalloc(SKB_OVERHEAD as u64), 1).map_err(|_| ENOBUFS)?;
    let pages = if data.is_empty() {
        crate::mm::KmemCharge::empty(&ctx.k.phys.kmem, KmemClass::Pages)
    } else {
        ctx.k.kmem_charge(Kmem::Page, data.len().div_ceil(4096) as u64).map_err(|_| ENOBUFS)?
    };
    let with_cred = c.cred.is_some();
    // UDP's loopback hands the datagram over at once (skb_orphan): only
    // unix and TCP senders keep counting it until it is read.
    let udp = s.domain != AF_UNIX && s.ty == SOCK_DGRAM;
    if !udp {
        s.wmem.fetch_add(truesize(data.len()), std::sync::atomic::Ordering::Relaxed);
    }
    Ok(Msg {
        size: truesize(data.len()),
        wmem: (!udp).then(|| s.wmem.clone()),
        data,
        off: 0,
        from,
        rights: std::mem::take(&mut c.rights),
        cred: c.cred.unwrap_or(cred),
        with_cred,
        _head: head,
        _pages: pages,
    })
}

/// unix_stream_sendmsg and tcp_sendmsg: pieces into the peer's queue as
/// room allows; a partial count when interrupted after some went.
fn send_stream(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, iov: &Iov, mut c: Control, flags: u32) -> SysResult {
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let (sndbuf, timeo) = {
        let st = s.lock();
        (st.opts.sndbuf, st.opts.sndtimeo)
    };
    let room = |s: &Socket, p: &Socket| s.wmem() < s.send_limit(Some(p));
    let me = ucred(ctx);
    let from = if s.domain == AF_UNIX { s.lock().local.clone() } else { None };
    let mut sent = 0usize;
    loop {
        let peer = block(
            ctx,
            nonblock,
            timeo,
            |cv| {
                if let Some(p) = s.peer() {
                    p.wq.register(cv);
                }
                s.rq.register(cv);
            },
            |_| {
                let mut st = s.lock();
                if s.is_tcp() {
                    if let Some(e) = st.err.take() {
                        return Err(e);
                    }
                    if st.shutdown & SEND_SHUTDOWN != 0 {
                        return Err(EPIPE);
                    }
                    match (st.phase, st.peer.clone()) {
                        (Phase::Connected, Some(p)) => {
                            drop(st);
                            Ok(room(s, &p).then_some(Some(p)))
                        }
                        // The peer closed: this goes out and is answered
                        // by a reset; the next write is EPIPE.
                        (Phase::Closed, None) if !st.rst => {
                            st.rst = true;
                            Ok(Some(None))
                        }
                        _ => Err(EPIPE),
                    }
                } else {
                    if st.shutdown & SEND_SHUTDOWN != 0 {
                        return Err(EPIPE);
                    }
                    match (st.phase, st.peer.clone()) {
                        (Phase::Connected, Some(p)) => {
                            drop(st);
                            let ps = p.lock();
                            if ps.dead || ps.shutdown & RCV_SHUTDOWN != 0 {
                                return Err(EPIPE);
                            }
                            drop(ps);
                            Ok(room(s, &p).then_some(Some(p)))
                        }
                        (Phase::Unconnected | Phase::Listening, _) => Err(ENOTCONN),
                        _ => Err(EPIPE),
                    }
                }
            },
        );
        let peer = match peer {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(iov.total as i64),
            Err(_) if sent > 0 => return Ok(sent as i64),
            Err(EPIPE) => return Err(pipe_err(ctx, flags)),
            Err(e) => return Err(e),
        };
        if sent == iov.total {
            return Ok(sent as i64);
        }
        // unix_stream_sendmsg's skb: at most half the send buffer; TCP
        // takes what the window has room for.
        let most = if s.is_tcp() {
            s.send_limit(Some(&peer)).saturating_sub(s.wmem()).max(1)
        } else {
            (sndbuf / 2).saturating_sub(64).max(1)
        };
        let n = (iov.total - sent).min(most).min(STREAM_CHUNK);
        let data = match iov.gather(ctx, sent, n) {
            Ok(d) => d,
            Err(e) => return if sent > 0 { Ok(sent as i64) } else { Err(e) },
        };
        let m = match new_msg(ctx, s, data, from.clone(), &mut c, me) {
            Ok(m) => m,
            Err(e) => return if sent > 0 { Ok(sent as i64) } else { Err(e) },
        };
        peer.deliver(m);
        sent += n;
        if sent == iov.total {
            return Ok(sent as i64);
        }
    }
}

/// unix_dgram_sendmsg (datagram and seqpacket).
fn send_unix_dgram(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    iov: &Iov,
    dest: Option<Vec<u8>>,
    mut c: Control,
    flags: u32,
) -> SysResult {
    let dest = dest.filter(|d| !d.is_empty() && s.ty == SOCK_DGRAM);
    if s.ty == SOCK_SEQPACKET {
        match s.lock().phase {
            Phase::Connected => {}
            Phase::Closed => return Err(EPIPE),
            _ => return Err(ENOTCONN),
        }
    }
    let (sndbuf, timeo, passcred) = {
        let st = s.lock();
        (st.opts.sndbuf, st.opts.sndtimeo, st.opts.passcred)
    };
    if iov.total > sndbuf.saturating_sub(32) {
        return Err(EMSGSIZE);
    }
    let name = match &dest {
        Some(raw) => match decode(AF_UNIX, raw, Use::Send)? {
            Decoded::Addr(SockAddr::Unix(n)) => Some(n),
            _ => return Err(EINVAL),
        },
        None => None,
    };
    if passcred && s.lock().local.is_none() {
        let a = ctx.k.net.clone().autobind(s)?;
        s.lock().local = Some(a);
    }
    let other = match &name {
        Some(n) => find_unix(ctx, n, s.ty)?,
        None => s.peer().ok_or(ENOTCONN)?,
    };
    if other.lock().dead {
        if s.ty == SOCK_SEQPACKET {
            return Err(EPIPE);
        }
        // The connected peer is gone: disconnected, refused.
        let mut st = s.lock();
        st.peer = None;
        st.phase = Phase::Unconnected;
        return Err(ECONNREFUSED);
    }
    if !Arc::ptr_eq(&other, s) {
        let op = other.lock().peer.clone();
        if op.is_some_and(|p| !Arc::ptr_eq(&p, s)) {
            return Err(EPERM);
        }
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    // unix_dgram_sendmsg waits for room in our send buffer and, unless
    // the receiver is connected back to us, in its queue.
    let peer_of_other = other.lock().peer.clone();
    let ours = peer_of_other.is_some_and(|p| Arc::ptr_eq(&p, s));
    block(
        ctx,
        nonblock,
        timeo,
        |cv| other.wq.register(cv),
        |_| {
            if other.lock().shutdown & RCV_SHUTDOWN != 0 {
                return Err(EPIPE);
            }
            Ok((s.wmem() < sndbuf && (ours || !other.recvq_full())).then_some(()))
        },
    )?;
    let data = iov.gather(ctx, 0, iov.total)?;
    let from = s.lock().local.clone();
    let me = ucred(ctx);
    let m = new_msg(ctx, s, data, from, &mut c, me)?;
    other.deliver(m);
    Ok(iov.total as i64)
}

/// udp_sendmsg on the loopback: to the socket bound to the destination,
/// or nowhere (a connected sender then learns ECONNREFUSED, as from the
/// ICMP error); a receiver with a full buffer drops it.
fn send_udp(ctx: &mut Ctx, s: &Arc<Socket>, iov: &Iov, dest: Option<Vec<u8>>, mut c: Control) -> SysResult {
    let (a, connected_dest) = match dest {
        Some(raw) => match decode(s.domain, &raw, Use::Send)? {
            Decoded::Addr(a) => (a, false),
            Decoded::Unspec => return Err(EINVAL),
        },
        None => (s.lock().remote.clone().ok_or(EDESTADDRREQ)?, true),
    };
    if a.port() == 0 {
        return Err(EINVAL);
    }
    let ip = inet_dest(s, &a)?;
    let max = if s.domain == AF_INET { UDP_MAX_V4 } else { UDP_MAX_V6 };
    if iov.total > max {
        return Err(EMSGSIZE);
    }
    if s.lock().local.is_none() {
        super::socket::autobind_inet(ctx, s, None)?;
    }
    let local = s.lock().local.clone().ok_or(EINVAL)?;
    let src = super::socket::source_ip(s, ip);
    let rx = ctx.k.net.find_udp(ip, a.port()).filter(|r| {
        let st = r.lock();
        !st.dead
            && match (&st.phase, &st.remote) {
                (Phase::Connected, Some(rem)) => {
                    rem.ip().map(|x| x.unmapped()) == Some(src.unmapped()) && rem.port() == local.port()
                }
                _ => true,
            }
    });
    let Some(rx) = rx else {
        if connected_dest || s.lock().phase == Phase::Connected {
            s.lock().err = Some(ECONNREFUSED);
            s.wake();
        }
        return Ok(iov.total as i64);
    };
    let data = iov.gather(ctx, 0, iov.total)?;
    if !rx.udp_room(truesize(data.len())) {
        return Ok(iov.total as i64);
    }
    let from = SockAddr::of_ip(rx.domain, src, local.port());
    let me = ucred(ctx);
    let m = new_msg(ctx, s, data, Some(from), &mut c, me)?;
    rx.deliver(m);
    Ok(iov.total as i64)
}

/// sock_sendmsg for any socket.
pub(super) fn send(
    ctx: &mut Ctx,
    f: &Arc<OpenFile>,
    s: &Arc<Socket>,
    iov: &Iov,
    dest: Option<Vec<u8>>,
    c: Control,
    flags: u32,
) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(EOPNOTSUPP);
    }
    match (s.domain, s.ty) {
        (AF_UNIX, SOCK_STREAM) => {
            if dest.as_ref().is_some_and(|d| !d.is_empty()) {
                return Err(if s.lock().phase == Phase::Connected { EISCONN } else { EOPNOTSUPP });
            }
            send_stream(ctx, f, s, iov, c, flags)
        }
        (AF_UNIX, _) => send_unix_dgram(ctx, f, s, iov, dest, c, flags),
        (_, SOCK_STREAM) => send_stream(ctx, f, s, iov, c, flags),
        _ => send_udp(ctx, s, iov, dest, c),
    }
}

/// What a receive got.
#[derive(Default)]
pub(super) struct Got {
    /// What the call returns.
    pub n: usize,
    pub from: Option<SockAddr>,
    pub rights: Vec<Arc<OpenFile>>,
    pub cred: Option<Ucred>,
    /// msg_flags: MSG_TRUNC, MSG_CTRUNC.
    pub flags: u32,
}

/// unix_stream_read_generic and tcp_recvmsg: across pieces, up to the
/// buffers' size; at least SO_RCVLOWAT (all of it with MSG_WAITALL)
/// before returning unless the stream ends, an error comes, or a piece
/// carries descriptors.
fn recv_stream(ctx: &mut Ctx, nonblock: bool, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    {
        let st = s.lock();
        match st.phase {
            Phase::Listening if s.is_tcp() => return Err(ENOTCONN),
            Phase::Unconnected if s.is_tcp() => return Err(ENOTCONN),
            Phase::Listening | Phase::Unconnected => return Err(EINVAL),
            _ => {}
        }
    }
    let peek = flags & MSG_PEEK != 0;
    let (lowat, timeo) = {
        let st = s.lock();
        (st.opts.rcvlowat.max(1) as usize, st.opts.rcvtimeo)
    };
    let want = iov.total;
    let target = if flags & MSG_WAITALL != 0 && !peek { want } else { lowat.min(want) };
    let mut got = Got::default();
    if want == 0 {
        return Ok(got);
    }
    let mut stop = false;
    let r = block(
        ctx,
        nonblock,
        timeo,
        |cv| s.rq.register(cv),
        |ctx| {
            // Copy what is there, piece by piece, consuming what was
            // copied (peeking: from the start, consuming nothing).
            let mut idx = 0;
            let mut skip = 0;
            loop {
                if got.n >= want || stop {
                    break;
                }
                let (chunk, from, has_rights) = {
                    let st = s.lock();
                    let Some(m) = st.rx.get(idx) else { break };
                    if !m.rights.is_empty() && got.n > 0 && m.off == 0 {
                        stop = true;
                        break;
                    }
                    let start = m.off + skip;
                    let n = (m.data.len() - start).min(want - got.n);
                    (m.data[start..start + n].to_vec(), m.from.clone(), !m.rights.is_empty())
                };
                if let Err(e) = iov.scatter(ctx, got.n, &chunk) {
                    if got.n == 0 {
                        return Err(e);
                    }
                    stop = true;
                    break;
                }
                got.n += chunk.len();
                got.from = got.from.take().or(from);
                let mut st = s.lock();
                if peek {
                    let m = &st.rx[idx];
                    if has_rights && got.rights.is_empty() {
                        got.rights = m.rights.clone();
                    }
                    if m.off + skip + chunk.len() == m.data.len() {
                        idx += 1;
                        skip = 0;
                    } else {
                        skip += chunk.len();
                    }
                } else {
                    let m = &mut st.rx[0];
                    m.off += chunk.len();
                    if has_rights {
                        got.rights.append(&mut m.rights);
                    }
                    if m.left() == 0 {
                        let m = st.rx.pop_front().expect("the piece read");
                        st.rx_bytes -= m.truesize();
                        drop(st);
                        drop(m);
                        s.wq.wake_all();
                        if let Some(p) = s.peer() {
                            p.wq.wake_all();
                        }
                    }
                }
                if has_rights {
                    stop = true;
                }
            }
            if got.n >= target || (stop && got.n > 0) {
                return Ok(Some(()));
            }
            let mut st = s.lock();
            if got.n == 0 {
                if let Some(e) = st.err.take() {
                    return Err(e);
                }
            }
            if st.shutdown & RCV_SHUTDOWN != 0 || (st.phase == Phase::Closed && st.rx.is_empty()) {
                return Ok(Some(()));
            }
            Ok(None)
        },
    );
    match r {
        Ok(()) => Ok(got),
        Err(_) if got.n > 0 => Ok(got),
        Err(e) => Err(e),
    }
}

/// A datagram or seqpacket receive: one message, truncated to the
/// buffers (MSG_TRUNC in msg_flags; its whole length returned if asked
/// with MSG_TRUNC).
fn recv_dgram(ctx: &mut Ctx, nonblock: bool, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    if s.ty == SOCK_SEQPACKET && matches!(s.lock().phase, Phase::Unconnected | Phase::Listening) {
        return Err(ENOTCONN);
    }
    let peek = flags & MSG_PEEK != 0;
    let timeo = s.lock().opts.rcvtimeo;
    let taken = block(
        ctx,
        nonblock,
        timeo,
        |cv| s.rq.register(cv),
        |_| {
            let mut st = s.lock();
            if let Some(e) = st.err.take() {
                return Err(e);
            }
            if st.rx.is_empty() {
                let ended = st.shutdown & RCV_SHUTDOWN != 0 || (s.ty == SOCK_SEQPACKET && st.phase == Phase::Closed);
                return Ok(ended.then_some(None));
            }
            if peek {
                let m = &st.rx[0];
                return Ok(Some(Some((m.data.clone(), m.from.clone(), m.rights.clone(), m.cred))));
            }
            let m = st.rx.pop_front().expect("a message");
            st.rx_bytes -= m.truesize();
            drop(st);
            s.wq.wake_all();
            let mut m = m;
            let (data, rights) = (std::mem::take(&mut m.data), std::mem::take(&mut m.rights));
            Ok(Some(Some((data, m.from.take(), rights, m.cred))))
        },
    )?;
    let Some((data, from, rights, cred)) = taken else { return Ok(Got::default()) };
    let n = data.len().min(iov.total);
    iov.scatter(ctx, 0, &data[..n])?;
    let mut got = Got { n, from, rights, cred: Some(cred), flags: 0 };
    if n < data.len() {
        got.flags |= MSG_TRUNC;
        if flags & MSG_TRUNC != 0 {
            got.n = data.len();
        }
    }
    Ok(got)
}

/// sock_recvmsg for any socket.
pub(super) fn recv(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    if flags & MSG_OOB != 0 {
        return Err(if s.is_tcp() { EINVAL } else { EOPNOTSUPP });
    }
    if flags & MSG_ERRQUEUE != 0 && s.domain != AF_UNIX {
        // Nothing is ever queued on the error queue of the loopback.
        return Err(EAGAIN);
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let mut got = if s.ty == SOCK_STREAM {
        recv_stream(ctx, nonblock, s, iov, flags)?
    } else {
        recv_dgram(ctx, nonblock, s, iov, flags)?
    };
    if s.is_tcp() {
        got.from = None;
    }
    if s.domain == AF_UNIX && s.ty == SOCK_STREAM && got.cred.is_none() && got.n > 0 {
        got.cred = s.peer().map(|p| p.cred);
    }
    Ok(got)
}

/// read() on a socket: a receive with no flags (descriptors passed along
/// are closed: nowhere to put them).
pub fn read_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, buf: u64, count: u64) -> SysResult {
    let g = recv(ctx, f, s, &Iov::one(buf, count), 0)?;
    Ok(g.n as i64)
}

/// write() on a socket: a send with no flags.
pub fn write_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, buf: u64, count: u64) -> SysResult {
    send(ctx, f, s, &Iov::one(buf, count), None, Control::default(), 0)
}

/// readv() on a socket: one receive into all the vectors.
pub fn readv_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, iov: u64, cnt: u64) -> SysResult {
    let iov = Iov::read(ctx, iov, cnt, EINVAL)?;
    Ok(recv(ctx, f, s, &iov, 0)?.n as i64)
}

/// writev() on a socket: one send of all the vectors.
pub fn writev_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, iov: u64, cnt: u64) -> SysResult {
    let iov = Iov::read(ctx, iov, cnt, EINVAL)?;
    send(ctx, f, s, &iov, None, Control::default(), 0)
}

pub(super) fn sendto(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let iov = Iov::one(a[1], a[2]);
    let dest = if a[4] != 0 { Some(read_sockaddr(ctx, a[4], a[5])?) } else { None };
    send(ctx, &f, &s, &iov, dest, Control::default(), a[3] as u32)
}

pub(super) fn recvfrom(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let iov = Iov::one(a[1], a[2]);
    let g = recv(ctx, &f, &s, &iov, a[3] as u32)?;
    if a[4] != 0 {
        write_sockaddr(ctx, g.from.as_ref(), a[4], a[5])?;
    }
    Ok(g.n as i64)
}

/// sendmsg of the msghdr at `at`.
fn sendmsg_at(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, at: u64, flags: u32) -> SysResult {
    let m: Msghdr = ctx.read_struct(at)?;
    let iov = Iov::read(ctx, m.msg_iov, m.msg_iovlen, EMSGSIZE)?;
    let dest = if m.msg_name != 0 && m.msg_namelen != 0 {
        // copy_msghdr_from_user clamps the length to sockaddr_storage.
        Some(read_sockaddr(ctx, m.msg_name, (m.msg_namelen as i32).clamp(-1, 128) as i64 as u64)?)
    } else {
        None
    };
    let c = parse_control(ctx, s, m.msg_control, m.msg_controllen)?;
    send(ctx, f, s, &iov, dest, c, flags)
}

pub(super) fn sendmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    sendmsg_at(ctx, &f, &s, a[1], a[2] as u32)
}

/// put_cmsg: one control message into the buffer, truncated (and
/// MSG_CTRUNC) where it does not fit.
fn put_cmsg(ctx: &mut Ctx, m: &Msghdr, used: &mut usize, got: &mut Got, ty: i32, data: &[u8]) -> Result<(), Errno> {
    let hdr = size_of::<Cmsghdr>();
    let space = (m.msg_controllen as usize).saturating_sub(*used);
    if m.msg_control == 0 || space < hdr {
        got.flags |= MSG_CTRUNC;
        return Ok(());
    }
    let mut cmlen = hdr + data.len();
    if space < cmlen {
        got.flags |= MSG_CTRUNC;
        cmlen = space;
    }
    let h = Cmsghdr { cmsg_len: cmlen as u64, cmsg_level: SOL_SOCKET, cmsg_type: ty };
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&data[..cmlen - hdr]);
    ctx.write_user(m.msg_control + *used as u64, &out)?;
    *used += cmsg_align(cmlen).min(space);
    Ok(())
}

/// recvmsg into the msghdr at `at`: data, the sender's address, control
/// messages (credentials if SO_PASSCRED, then descriptors, installed as
/// many as fit), and the lengths and flags written back.
fn recvmsg_at(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, at: u64, flags: u32) -> SysResult {
    let m: Msghdr = ctx.read_struct(at)?;
    if (m.msg_namelen as i32) < 0 {
        return Err(EINVAL);
    }
    let iov = Iov::read(ctx, m.msg_iov, m.msg_iovlen, EMSGSIZE)?;
    let mut got = recv(ctx, f, s, &iov, flags)?;
    let name = got.from.as_ref().map(SockAddr::encode).unwrap_or_default();
    if m.msg_name != 0 {
        let n = name.len().min((m.msg_namelen as usize).min(128));
        if n > 0 {
            ctx.write_user(m.msg_name, &name[..n])?;
        }
    }
    let mut used = 0usize;
    if s.domain == AF_UNIX && s.lock().opts.passcred {
        let c = got.cred.unwrap_or(Ucred { pid: 0, uid: 65534, gid: 65534 });
        put_cmsg(ctx, &m, &mut used, &mut got, SCM_CREDENTIALS, c.as_bytes())?;
    }
    let rights = std::mem::take(&mut got.rights);
    if !rights.is_empty() {
        let hdr = size_of::<Cmsghdr>();
        let space = (m.msg_controllen as usize).saturating_sub(used);
        let fit = if m.msg_control == 0 { 0 } else { space.saturating_sub(hdr) / 4 };
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
        let mut fds: Vec<u8> = Vec::new();
        for file in rights.iter().take(fit) {
            match ctx.k.fd_install(ctx.pid, Fd { file: file.clone(), cloexec }, 0, limit) {
                Ok(fd) => fds.extend_from_slice(&fd.to_ne_bytes()),
                Err(_) => break,
            }
        }
        if fds.len() / 4 < rights.len() {
            got.flags |= MSG_CTRUNC;
        }
        if !fds.is_empty() {
            let save = got.flags;
            put_cmsg(ctx, &m, &mut used, &mut got, SCM_RIGHTS, &fds)?;
            got.flags = save | (got.flags & MSG_CTRUNC);
        }
    }
    drop(rights);
    ctx.write_u32(at + 8, name.len() as u32)?;
    ctx.write_u64(at + 40, used as u64)?;
    ctx.write_u32(at + 48, got.flags)?;
    Ok(got.n as i64)
}

pub(super) fn recvmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    recvmsg_at(ctx, &f, &s, a[1], a[2] as u32)
}

/// sendmmsg: each message in turn (msg_len set), up to UIO_MAXIOV; an
/// error after the first counts only as the end.
pub(super) fn sendmmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let vlen = (a[2] as u32).min(UIO_MAXIOV as u32) as u64;
    let mut done = 0u64;
    while done < vlen {
        let at = a[1] + done * size_of::<Mmsghdr>() as u64;
        match sendmsg_at(ctx, &f, &s, at, a[3] as u32) {
            Ok(n) => ctx.write_u32(at + size_of::<Msghdr>() as u64, n as u32)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
    }
    Ok(done as i64)
}

/// recvmmsg: up to `vlen` messages; MSG_WAITFORONE makes all but the
/// first non-blocking; the timeout is checked between messages.
pub(super) fn recvmmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let deadline = if a[4] != 0 {
        let (sec, ns) = super::time::read_timespec(ctx, a[4])?;
        if sec < 0 || !(0..1_000_000_000).contains(&ns) {
            return Err(EINVAL);
        }
        Some(Instant::now() + Duration::new(sec as u64, ns as u32))
    } else {
        None
    };
    let vlen = (a[2] as u32).min(UIO_MAXIOV as u32) as u64;
    let mut flags = a[3] as u32;
    let mut done = 0u64;
    while done < vlen {
        let at = a[1] + done * size_of::<Mmsghdr>() as u64;
        match recvmsg_at(ctx, &f, &s, at, flags) {
            Ok(n) => ctx.write_u32(at + size_of::<Msghdr>() as u64, n as u32)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(done as i64)
}
