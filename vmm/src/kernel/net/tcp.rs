//! TCP on the loopback (tcp_ipv4.c, tcp_ipv6.c, inet_connection_sock.c):
//! connect, shutdown, and what getpeername shows. A connection is a pair
//! of sockets (`listen::join`); there are no segments, so no handshake to
//! watch: the loopback delivers at once.

use std::sync::Arc;

use super::addr::SockAddr;
use super::inet::{autobind, dest};
use super::listen::join;
use super::{block, Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;

/// A second connect on a socket whose connect was already started or
/// done: its outcome once (a non-blocking connect's), else EISCONN.
/// `None` when a new connect may begin.
fn connect_again(s: &Socket) -> Option<Result<i64, Errno>> {
    let mut st = s.lock();
    match st.phase {
        Phase::Listening => Some(Err(EISCONN)),
        Phase::Connected if st.connect_reported => {
            st.connect_reported = false;
            Some(Ok(0))
        }
        Phase::Connected => Some(Err(EISCONN)),
        Phase::Closed if st.connect_reported => {
            st.connect_reported = false;
            st.phase = Phase::Unconnected;
            Some(Err(st.err.take().unwrap_or(ECONNABORTED)))
        }
        _ => None,
    }
}

/// tcp_v4_connect/tcp_v6_connect on the loopback: the listener takes the
/// connection at once (or refuses it). A non-blocking connect still says
/// EINPROGRESS, as Linux's does before the handshake's reply.
pub fn connect(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, a: SockAddr) -> Result<i64, Errno> {
    let nonblock = f.nonblocking();
    if let Some(r) = connect_again(s) {
        return r;
    }
    let dest = dest(s, &a)?;
    let port = a.port();
    let autobound = s.lock().local.is_none();
    autobind(ctx, s, Some(dest))?;
    let listener = s.net().find_listener(dest, port).filter(|l| !l.lock().dead);
    let Some(listener) = listener else {
        if autobound {
            s.net().forget_port(s.ino);
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

/// inet_shutdown: a listener stops listening on SHUT_RD (its queue
/// reset); an unconnected socket is ENOTCONN; SHUT_WR sends a FIN.
pub fn shutdown(s: &Arc<Socket>, mode: u8) -> Result<(), Errno> {
    let (phase, peer) = {
        let st = s.lock();
        (st.phase, st.peer.clone())
    };
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
                s.net().stop_listening(s.ino);
            }
            s.wake();
            return Ok(());
        }
        Phase::Unconnected => Err(ENOTCONN),
        Phase::Closed if s.lock().rst => Err(ENOTCONN),
        _ => Ok(()),
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

/// getpeername: the connected (or was-connected) peer's name; ENOTCONN
/// unconnected, or for TCP after a reset.
pub fn peer_name(s: &Socket) -> Result<SockAddr, Errno> {
    let st = s.lock();
    let gone = s.is_tcp() && st.rst;
    match (&st.remote, st.phase) {
        (Some(r), Phase::Connected | Phase::Closed) if !gone => Ok(r.clone()),
        _ => Err(ENOTCONN),
    }
}
