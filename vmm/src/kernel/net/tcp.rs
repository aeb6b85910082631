//! TCP on the loopback (tcp_ipv4.c, tcp_ipv6.c, inet_connection_sock.c):
//! connect, shutdown, and what getpeername shows. A connection is a pair
//! of sockets (`listen::join`); there are no segments, so no handshake to
//! watch: the loopback delivers at once.

use std::sync::Arc;

use super::addr::SockAddr;
use super::inet::{autobind, dest};
use super::listen::join;
use super::socket::refuse_waiting;
use super::{block, Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::kernel::abi::socket::*;
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
        Phase::Connecting => Some(Err(EALREADY)),
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
pub(crate) fn connect(ctx: &mut Ctx, f: &OpenFile, s: &Arc<Socket>, a: SockAddr) -> Result<i64, Errno> {
    let nonblock = f.nonblocking();
    if !nonblock && s.lock().phase == Phase::Connecting {
        return wait_connected(ctx, s);
    }
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
    let local = SockAddr::of_ip(listener.domain, dest, port);
    if !room_in(&listener) {
        return wait_for_room(ctx, s, &listener, local, nonblock);
    }
    join(ctx, s, &listener, local)?;
    if nonblock {
        s.lock().connect_reported = true;
        return Err(EINPROGRESS);
    }
    Ok(0)
}

/// sk_acceptq_is_full's complement: the listener takes one more.
fn room_in(listener: &Socket) -> bool {
    let l = listener.lock();
    l.pending.len() <= l.backlog || l.phase != Phase::Listening
}

/// A connect to a listener whose accept queue is full: the listener
/// drops the SYN (tcp_conn_request's ListenOverflows) and the client
/// retransmits it. A blocking connect waits until room appears
/// (ECONNREFUSED if the listener goes); a non-blocking one, or one whose
/// SO_SNDTIMEO passes or a signal ends, leaves the socket in SYN_SENT,
/// queued on the listener until accept makes room (EINPROGRESS; a
/// signal's ERESTARTSYS or EINTR).
///
/// Linux's retransmission comes at the next backoff step (1, 3, 7 … s)
/// and gives up after tcp_syn_retries with ETIMEDOUT; here the
/// connection completes as soon as there is room and waits for ever.
fn wait_for_room(
    ctx: &mut Ctx,
    s: &Arc<Socket>,
    listener: &Arc<Socket>,
    local: SockAddr,
    nonblock: bool,
) -> Result<i64, Errno> {
    if nonblock {
        enqueue(s, listener, local);
        return Err(EINPROGRESS);
    }
    let timeo = s.lock().opts.sndtimeo;
    match block(ctx, false, timeo, |cv| listener.wq.register(cv), |_| Ok(room_in(listener).then_some(()))) {
        Ok(()) if listener.lock().phase != Phase::Listening => Err(ECONNREFUSED),
        Ok(()) => {
            join(ctx, s, listener, local)?;
            Ok(0)
        }
        Err(e) => {
            enqueue(s, listener, local);
            Err(if e == EAGAIN { EINPROGRESS } else { e })
        }
    }
}

/// A blocking connect again while the first is in SYN_SENT (after a
/// signal or a timeout): it waits for the outcome; EALREADY if its own
/// SO_SNDTIMEO passes first.
fn wait_connected(ctx: &mut Ctx, s: &Arc<Socket>) -> Result<i64, Errno> {
    let timeo = s.lock().opts.sndtimeo;
    let r =
        block(ctx, false, timeo, |cv| s.rq.register(cv), |_| Ok((s.lock().phase != Phase::Connecting).then_some(())));
    match r {
        Ok(()) => connect_again(s).unwrap_or(Err(ECONNABORTED)),
        Err(EAGAIN) => Err(EALREADY),
        Err(e) => Err(e),
    }
}

/// Queues `s` (now SYN_SENT) on `listener` for accept to admit.
fn enqueue(s: &Arc<Socket>, listener: &Arc<Socket>, local: SockAddr) {
    let mut st = s.lock();
    st.phase = Phase::Connecting;
    st.connect_reported = true;
    drop(st);
    listener.lock().syn_waiting.push_back((Arc::downgrade(s), local));
}

/// Admits the connects waiting on `listener` while its queue has room
/// (accept just took one); one whose connection cannot be made (no
/// kernel memory) is aborted with that error.
pub(crate) fn admit_waiting(ctx: &mut Ctx, listener: &Arc<Socket>) {
    loop {
        let (w, local) = {
            let mut l = listener.lock();
            if l.pending.len() > l.backlog || l.phase != Phase::Listening {
                return;
            }
            match l.syn_waiting.pop_front() {
                Some(x) => x,
                None => return,
            }
        };
        let Some(c) = w.upgrade() else { continue };
        if c.lock().phase != Phase::Connecting {
            continue;
        }
        if let Err(e) = join(ctx, &c, listener, local) {
            let mut st = c.lock();
            st.phase = Phase::Closed;
            st.err = Some(e);
            drop(st);
            c.wake();
        }
    }
}

/// The TCP state Linux would show for `s` (tcp_info's tcpi_state,
/// /proc/net/tcp's st): a shutdown's FIN is acknowledged at once on the
/// loopback, so one side shut is FIN_WAIT2 (ours) or CLOSE_WAIT (the
/// peer's), both CLOSE (TIME_WAIT belongs to a separate mini socket).
pub(crate) fn state(s: &Socket) -> u8 {
    let st = s.lock();
    match st.phase {
        Phase::Unconnected | Phase::Closed => TCP_CLOSE,
        Phase::Listening => TCP_LISTEN,
        Phase::Connecting => TCP_SYN_SENT,
        Phase::Connected => {
            let sent_fin = st.shutdown & SEND_SHUTDOWN != 0;
            match (sent_fin, st.fin) {
                (false, false) => TCP_ESTABLISHED,
                (true, false) => TCP_FIN_WAIT2,
                (false, true) => TCP_CLOSE_WAIT,
                (true, true) => TCP_CLOSE,
            }
        }
    }
}

/// inet_shutdown: a listener stops listening on SHUT_RD (its queue
/// reset); an unconnected socket is ENOTCONN; SHUT_WR sends a FIN.
pub(crate) fn shutdown(s: &Arc<Socket>, mode: u8) -> Result<(), Errno> {
    let (phase, peer) = {
        let st = s.lock();
        (st.phase, st.peer.clone())
    };
    let r = match phase {
        Phase::Listening => {
            if mode & RCV_SHUTDOWN != 0 {
                let (pending, waiting) = {
                    let mut st = s.lock();
                    st.phase = Phase::Unconnected;
                    (std::mem::take(&mut st.pending), std::mem::take(&mut st.syn_waiting))
                };
                for e in pending {
                    e.release();
                }
                refuse_waiting(waiting);
                s.net().stop_listening(s.ino);
            }
            s.wake();
            return Ok(());
        }
        // SYN_SENT: tcp_disconnect, the socket is unconnected again.
        Phase::Connecting => {
            s.lock().phase = Phase::Unconnected;
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
            let mut ps = p.lock();
            ps.shutdown |= RCV_SHUTDOWN;
            ps.fin = true;
            drop(ps);
            p.wake();
        }
    }
    s.wake();
    r
}

/// getpeername: the connected (or was-connected) peer's name; ENOTCONN
/// unconnected, or for TCP after a reset.
pub(crate) fn peer_name(s: &Socket) -> Result<SockAddr, Errno> {
    let st = s.lock();
    let gone = s.is_tcp() && st.rst;
    match (&st.remote, st.phase) {
        (Some(r), Phase::Connected | Phase::Closed) if !gone => Ok(r.clone()),
        _ => Err(ENOTCONN),
    }
}
