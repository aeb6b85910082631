//! Stream data (unix_stream_sendmsg / unix_stream_read_generic and
//! tcp_sendmsg / tcp_recvmsg on the loopback): pieces pushed into the
//! peer's receive queue as room allows, read across pieces.

use std::sync::Arc;

use super::buffer::{new_msg, Control, Got, Iov, STREAM_CHUNK};
use super::{block, pipe_err, ucred, Phase, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::kernel::abi::socket::*;
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;

/// Whether `s` may send to `p` now (its data in flight under the limit).
fn room(s: &Socket, p: &Socket) -> bool {
    s.wmem() < s.send_limit(Some(p))
}

/// Where a stream send goes, once there is room: `Some(Some(peer))`;
/// `Some(None)` for TCP's one write after the peer closed (it goes out
/// and is answered by a reset); `None` to wait; EPIPE, ENOTCONN or a
/// pending error otherwise.
fn target(s: &Socket) -> Result<Option<Option<Arc<Socket>>>, Errno> {
    let mut st = s.lock();
    if s.is_tcp() {
        if let Some(e) = st.err.take() {
            return Err(e);
        }
        if st.shutdown & SEND_SHUTDOWN != 0 {
            return Err(EPIPE);
        }
        return match (st.phase, st.peer.clone()) {
            (Phase::Connected, Some(p)) => {
                drop(st);
                Ok(room(s, &p).then_some(Some(p)))
            }
            // sk_stream_wait_connect: a send waits for the connection.
            (Phase::Connecting, _) => Ok(None),
            (Phase::Closed, None) if !st.rst => {
                st.rst = true;
                Ok(Some(None))
            }
            _ => Err(EPIPE),
        };
    }
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

/// unix_stream_sendmsg and tcp_sendmsg: pieces into the peer's queue as
/// room allows; a partial count when interrupted after some went.
pub(crate) fn send(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    iov: &Iov,
    mut c: Control,
    flags: u32,
) -> Result<i64, Errno> {
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let (sndbuf, timeo) = {
        let st = s.lock();
        (st.opts.sndbuf, st.opts.sndtimeo)
    };
    let me = ucred(ctx);
    let from = if s.domain == AF_UNIX { s.lock().local.clone() } else { None };
    let mut sent = 0usize;
    let partial = |sent: usize, e: Errno| if sent > 0 { Ok(sent as i64) } else { Err(e) };
    loop {
        let register = |cv: &Arc<parking_lot::Condvar>| {
            if let Some(p) = s.peer() {
                p.wq.register(cv);
            }
            s.rq.register(cv);
        };
        let peer = match block(ctx, nonblock, timeo, register, |_| target(s)) {
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
            Err(e) => return partial(sent, e),
        };
        let m = match new_msg(ctx, s, data, from.clone(), &mut c, me) {
            Ok(m) => m,
            Err(e) => return partial(sent, e),
        };
        peer.deliver(m);
        sent += n;
        if sent == iov.total {
            return Ok(sent as i64);
        }
    }
}

/// A stream read's progress: what it got, and whether it must stop (a
/// piece with descriptors, or a fault after some bytes).
struct Reading<'a> {
    iov: &'a Iov,
    want: usize,
    peek: bool,
    got: Got,
    stop: bool,
}

impl Reading<'_> {
    /// Copies what is queued, piece by piece, consuming what was copied
    /// (peeking: from the start, consuming nothing).
    fn copy(&mut self, ctx: &mut Ctx, s: &Socket) -> Result<(), Errno> {
        let (mut idx, mut skip) = (0, 0);
        while self.got.n < self.want && !self.stop {
            let (chunk, from, has_rights, stamp) = {
                let st = s.lock();
                let Some(m) = st.rx.get(idx) else { break };
                if !m.rights.is_empty() && self.got.n > 0 && m.off == 0 {
                    self.stop = true;
                    break;
                }
                let start = m.off + skip;
                let n = (m.data.len() - start).min(self.want - self.got.n);
                (m.data[start..start + n].to_vec(), m.from.clone(), !m.rights.is_empty(), m.stamp)
            };
            if let Err(e) = self.iov.scatter(ctx, self.got.n, &chunk) {
                if self.got.n == 0 {
                    return Err(e);
                }
                self.stop = true;
                break;
            }
            self.got.n += chunk.len();
            self.got.from = self.got.from.take().or(from);
            self.got.stamp = self.got.stamp.or(Some(stamp));
            if self.peek {
                let st = s.lock();
                let m = &st.rx[idx];
                if has_rights && self.got.rights.is_empty() {
                    self.got.rights = m.rights.clone();
                }
                if m.off + skip + chunk.len() == m.data.len() {
                    idx += 1;
                    skip = 0;
                } else {
                    skip += chunk.len();
                }
            } else {
                self.consume(s, chunk.len(), has_rights);
            }
            self.stop |= has_rights;
        }
        Ok(())
    }

    /// Takes `n` bytes (and the descriptors) of the first piece; a piece
    /// read to its end leaves the queue, which wakes writers.
    fn consume(&mut self, s: &Socket, n: usize, has_rights: bool) {
        let mut st = s.lock();
        let m = &mut st.rx[0];
        m.off += n;
        if has_rights {
            self.got.rights.append(&mut m.rights);
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
}

/// unix_stream_read_generic and tcp_recvmsg: across pieces, up to the
/// buffers' size; at least SO_RCVLOWAT (all of it with MSG_WAITALL)
/// before returning unless the stream ends, an error comes, or a piece
/// carries descriptors.
pub(crate) fn recv(ctx: &mut Ctx, nonblock: bool, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    match s.lock().phase {
        Phase::Listening | Phase::Unconnected if s.is_tcp() => return Err(ENOTCONN),
        Phase::Listening | Phase::Unconnected => return Err(EINVAL),
        _ => {}
    }
    let peek = flags & MSG_PEEK != 0;
    let (lowat, timeo) = {
        let st = s.lock();
        (st.opts.rcvlowat.max(1) as usize, st.opts.rcvtimeo)
    };
    let want = iov.total;
    let target = if flags & MSG_WAITALL != 0 && !peek { want } else { lowat.min(want) };
    let mut r = Reading { iov, want, peek, got: Got::default(), stop: false };
    if want == 0 {
        return Ok(r.got);
    }
    let done = block(
        ctx,
        nonblock,
        timeo,
        |cv| s.rq.register(cv),
        |ctx| {
            r.copy(ctx, s)?;
            if r.got.n >= target || (r.stop && r.got.n > 0) {
                return Ok(Some(()));
            }
            let mut st = s.lock();
            // tcp_recvmsg: after the peer's FIN a read at the end is 0,
            // before the error a later reset left (sk_err after SOCK_DONE).
            if st.fin {
                return Ok(Some(()));
            }
            if r.got.n == 0 {
                if let Some(e) = st.err.take() {
                    return Err(e);
                }
            }
            let ended = st.shutdown & RCV_SHUTDOWN != 0 || (st.phase == Phase::Closed && st.rx.is_empty());
            Ok(ended.then_some(()))
        },
    );
    match done {
        Ok(()) => Ok(r.got),
        Err(_) if r.got.n > 0 => Ok(r.got),
        Err(e) => Err(e),
    }
}
