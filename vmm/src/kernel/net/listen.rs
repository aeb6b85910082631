//! Listening sockets (inet_csk's and unix_stream_connect's accept queue):
//! listen, a connection joined to a listener's queue, accept.

use std::sync::Arc;

use super::addr::{SockAddr, UnixName};
use super::inet::{autobind, port_entry};
use super::ns::Sysctl;
use super::{block, ucred, Phase, Socket, SOCK_BYTES, TCP_SOCK_BYTES};
use crate::kernel::abi::socket::*;
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;
use crate::mm::Kmem;

/// listen(): a backlog above the socket's namespace's somaxconn (or
/// negative, as unsigned) is somaxconn; a unix socket must be bound, an
/// inet one is autobound.
pub(crate) fn listen(ctx: &mut Ctx, s: &Arc<Socket>, backlog: u32) -> Result<(), Errno> {
    if s.ty == SOCK_DGRAM {
        return Err(EOPNOTSUPP);
    }
    let somaxconn = s.net().sysctl(Sysctl::Somaxconn) as u32;
    let backlog = backlog.min(somaxconn) as usize;
    let phase = s.lock().phase;
    if !matches!(phase, Phase::Unconnected | Phase::Listening) {
        return Err(EINVAL);
    }
    if s.domain == AF_UNIX {
        if s.lock().local.is_none() {
            return Err(EINVAL);
        }
    } else {
        autobind(ctx, s, None).map_err(|_| EADDRINUSE)?;
        if phase != Phase::Listening {
            s.net().start_listening(s.ino)?;
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
    Ok(())
}

/// A new socket for the listener's side of a connection: the listener's
/// options and credentials, `local` its name, `client` its peer.
fn server_side(
    ctx: &mut Ctx,
    client: &Arc<Socket>,
    listener: &Arc<Socket>,
    local: &SockAddr,
) -> Result<Arc<Socket>, Errno> {
    let bytes = if client.is_tcp() { TCP_SOCK_BYTES } else { SOCK_BYTES };
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(bytes), 1)?;
    // unix_stream_connect makes it in the connecting socket's namespace
    // (a path name reaches across namespaces); TCP's is the listener's.
    let net = if client.domain == AF_UNIX { client.net() } else { listener.net() }.clone();
    let (lcred, lopts) = {
        let l = listener.lock();
        (l.peer_cred.unwrap_or(listener.cred), l.opts.clone())
    };
    let server = Socket::new(&net, listener.domain, listener.ty, listener.protocol, lcred, kmem);
    net.add(&server);
    let client_name = {
        let c = client.lock();
        c.local.clone().unwrap_or_else(|| client.unbound_name())
    };
    let mut st = server.lock();
    st.opts = lopts;
    st.phase = Phase::Connected;
    st.local = Some(local.clone());
    st.remote = Some(match (&client_name, client_name.ip()) {
        (_, Some(ip)) => SockAddr::of_ip(listener.domain, ip, client_name.port()),
        (n, None) => n.clone(),
    });
    st.peer = Some(client.clone());
    st.peer_cred = Some(ucred(ctx));
    drop(st);
    Ok(server)
}

/// A connection: `client` joined to a new socket queued on `listener`,
/// which accept hands out.
pub(crate) fn join(ctx: &mut Ctx, client: &Arc<Socket>, listener: &Arc<Socket>, local: SockAddr) -> Result<(), Errno> {
    let server = server_side(ctx, client, listener, &local)?;
    let lcred = server.cred;
    if server.domain != AF_UNIX {
        let ip = local.ip().ok_or(EINVAL)?;
        let mut e = port_entry(&server, ctx.proc().cred.euid, ip, local.port());
        e.reuseaddr = true;
        e.reuseport = true;
        let _ = server.net().bind_port(e);
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

/// accept: the oldest connection waiting (EINVAL unless listening).
pub(crate) fn accept(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>) -> Result<Arc<Socket>, Errno> {
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
    if s.is_tcp() {
        // The room this made lets a waiting connect's SYN in.
        super::tcp::admit_waiting(ctx, s);
    }
    Ok(conn)
}
