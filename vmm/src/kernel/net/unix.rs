//! AF_UNIX (af_unix.c): binding, connecting, datagram sends and shutdown;
//! stream data is `stream`'s, datagram receives `dgram`'s.
//!
//! Names: the abstract namespace (per network namespace, per socket type:
//! Linux hashes the type in, so a stream and a datagram socket may share
//! a name and find only their own kind) and path names,
//! which are S_IFSOCK nodes of the sandbox's view registered by their
//! (device, inode), found from any network namespace. A socket node with nothing registered (a host's
//! socket, or one whose socket closed) refuses connections.

use std::sync::Arc;

use super::addr::{decode, Decoded, SockAddr, UnixName, Use};
use super::buffer::{new_msg, Outgoing};
use super::listen::join;
use super::{block, ucred, Net, Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::kernel::abi::socket::*;
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;

/// How a path name reaches a socket node: the lookup (unix_find_bsd's
/// kern_path, S_IFSOCK or ECONNREFUSED, write permission), which the
/// syscall layer's name resolution does; its (device, inode).
pub(crate) type FindPath = fn(&mut Ctx, &[u8]) -> Result<(u64, u64), Errno>;

impl Net {
    /// Binds `s` to abstract name `name`: EADDRINUSE if a live socket
    /// holds it.
    pub(crate) fn bind_abstract(&self, s: &Arc<Socket>, name: &[u8]) -> Result<(), Errno> {
        let mut t = self.tables.lock();
        let key = (s.ty, name.to_vec());
        if t.abstract_names.get(&key).and_then(|w| w.upgrade()).is_some_and(|o| !o.lock().dead) {
            return Err(EADDRINUSE);
        }
        t.abstract_names.insert(key, Arc::downgrade(s));
        Ok(())
    }

    /// unix_autobind: an abstract name of five hex digits no socket holds
    /// (ENOSPC once all 2^20 are taken).
    pub(crate) fn autobind(&self, s: &Arc<Socket>) -> Result<SockAddr, Errno> {
        for _ in 0..0x100000 {
            let n = {
                let mut t = self.tables.lock();
                t.autobind = (t.autobind + 1) & 0xfffff;
                t.autobind
            };
            let name = format!("{n:05x}").into_bytes();
            if self.bind_abstract(s, &name).is_ok() {
                return Ok(SockAddr::Unix(UnixName::Abstract(name)));
            }
        }
        Err(ENOSPC)
    }

    /// The live socket of type `ty` bound to abstract name `name`.
    pub(crate) fn find_abstract(&self, ty: u32, name: &[u8]) -> Option<Arc<Socket>> {
        let s = self.tables.lock().abstract_names.get(&(ty, name.to_vec()))?.upgrade()?;
        let dead = s.lock().dead;
        (!dead).then_some(s)
    }
}

/// unix_bind: a path (`make` makes its S_IFSOCK node in the sandbox's
/// view: its (device, inode)), an abstract name, or an autobind (the
/// family alone).
pub(crate) fn bind(
    s: &Arc<Socket>,
    name: UnixName,
    make: impl FnOnce(&[u8]) -> Result<(u64, u64), Errno>,
) -> Result<(), Errno> {
    if s.lock().local.is_some() {
        return Err(EINVAL);
    }
    let net = s.net().clone();
    let local = match name {
        UnixName::Unnamed => net.autobind(s)?,
        UnixName::Abstract(n) => {
            net.bind_abstract(s, &n)?;
            SockAddr::Unix(UnixName::Abstract(n))
        }
        UnixName::Path(p) => {
            let key = make(&p)?;
            net.bind_path(s, key);
            s.lock().path_key = Some(key);
            SockAddr::Unix(UnixName::Path(p))
        }
    };
    s.lock().local = Some(local);
    Ok(())
}

/// The socket a unix address names for `s`: ENOENT (no such path),
/// ECONNREFUSED (a name no live socket holds: a host's socket too),
/// EPROTOTYPE (a socket of another type). An abstract name is looked up
/// in `s`'s namespace.
pub(crate) fn find(ctx: &mut Ctx, s: &Socket, name: &UnixName, find_path: FindPath) -> Result<Arc<Socket>, Errno> {
    let (net, ty) = (s.net().clone(), s.ty);
    let other = match name {
        UnixName::Unnamed => None,
        UnixName::Abstract(n) => net.find_abstract(ty, n),
        UnixName::Path(p) => net.find_path(find_path(ctx, p)?),
    };
    let other = other.ok_or(ECONNREFUSED)?;
    if other.ty != ty {
        return Err(EPROTOTYPE);
    }
    Ok(other)
}

/// SO_PASSCRED on an unbound socket autobinds it at connect and send.
fn autobind_for_cred(s: &Arc<Socket>) -> Result<(), Errno> {
    if s.lock().opts.passcred && s.lock().local.is_none() {
        let a = s.net().clone().autobind(s)?;
        s.lock().local = Some(a);
    }
    Ok(())
}

/// unix_stream_connect (stream and seqpacket).
pub(crate) fn connect_stream(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    name: UnixName,
    find_path: FindPath,
) -> Result<i64, Errno> {
    match s.lock().phase {
        Phase::Connected => return Err(EISCONN),
        Phase::Listening => return Err(EINVAL),
        _ => {}
    }
    autobind_for_cred(s)?;
    let timeo = s.lock().opts.sndtimeo;
    let listener = block(
        ctx,
        f.nonblocking(),
        timeo,
        |_| {},
        |ctx| {
            // unix_find_other again after each wait, as Linux restarts.
            let other = find(ctx, s, &name, find_path)?;
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

/// unix_dgram_connect: `other` becomes the default destination
/// (unix_may_send: unless it is connected to someone else).
pub(crate) fn connect_dgram(
    ctx: &mut Ctx,
    s: &Arc<Socket>,
    name: &UnixName,
    find_path: FindPath,
) -> Result<i64, Errno> {
    autobind_for_cred(s)?;
    let other = find(ctx, s, name, find_path)?;
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
    Ok(0)
}

/// The receiver of a unix datagram: the named socket, or the connected
/// peer (a gone peer disconnects us: ECONNREFUSED; a seqpacket's EPIPE).
fn dgram_target(
    ctx: &mut Ctx,
    s: &Arc<Socket>,
    name: Option<&UnixName>,
    find_path: FindPath,
) -> Result<Arc<Socket>, Errno> {
    let other = match name {
        Some(n) => find(ctx, s, n, find_path)?,
        None => s.peer().ok_or(ENOTCONN)?,
    };
    if other.lock().dead {
        if s.ty == SOCK_SEQPACKET {
            return Err(EPIPE);
        }
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
    Ok(other)
}

/// unix_dgram_sendmsg (datagram and seqpacket).
pub(crate) fn send_dgram(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    msg: Outgoing,
    find_path: FindPath,
) -> Result<i64, Errno> {
    let Outgoing { iov, dest, control: mut c, flags } = msg;
    let dest = dest.filter(|d| !d.is_empty() && s.ty == SOCK_DGRAM);
    if s.ty == SOCK_SEQPACKET {
        match s.lock().phase {
            Phase::Connected => {}
            Phase::Closed => return Err(EPIPE),
            _ => return Err(ENOTCONN),
        }
    }
    let (sndbuf, timeo) = {
        let st = s.lock();
        (st.opts.sndbuf, st.opts.sndtimeo)
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
    autobind_for_cred(s)?;
    let other = dgram_target(ctx, s, name.as_ref(), find_path)?;
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

/// unix_shutdown: our halves, and the mirror halves of a connected peer.
pub(crate) fn shutdown(s: &Arc<Socket>, mode: u8) {
    let peer = s.lock().peer.clone();
    s.lock().shutdown |= mode;
    if s.connected_type() {
        if let Some(p) = peer.filter(|p| !Arc::ptr_eq(p, s)) {
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
}
