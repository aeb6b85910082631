//! Datagram and seqpacket receives (unix_dgram_recvmsg, udp_recvmsg): one
//! message at a time, truncated to the buffers.

use std::sync::Arc;

use super::addr::SockAddr;
use super::buffer::{Got, Iov};
use super::{block, Phase, Socket, RCV_SHUTDOWN};
use crate::kernel::abi::socket::*;
use crate::kernel::abi::time::Timespec;
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;

/// A message taken (or peeked) off the queue.
type Taken = (Vec<u8>, Option<SockAddr>, Vec<Arc<OpenFile>>, Ucred, Timespec);

/// The next message: `Some(None)` when the socket's receiving has ended,
/// `None` to wait.
fn take(s: &Socket, peek: bool) -> Result<Option<Option<Taken>>, Errno> {
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
        return Ok(Some(Some((m.data.clone(), m.from.clone(), m.rights.clone(), m.cred, m.stamp))));
    }
    let mut m = st.rx.pop_front().expect("a message");
    st.rx_bytes -= m.truesize();
    drop(st);
    s.wq.wake_all();
    let (data, rights) = (std::mem::take(&mut m.data), std::mem::take(&mut m.rights));
    Ok(Some(Some((data, m.from.take(), rights, m.cred, m.stamp))))
}

/// A datagram or seqpacket receive: one message, truncated to the
/// buffers (MSG_TRUNC in msg_flags; its whole length returned if asked
/// with MSG_TRUNC).
pub(crate) fn recv(ctx: &mut Ctx, nonblock: bool, s: &Arc<Socket>, iov: &Iov, flags: u32) -> Result<Got, Errno> {
    if s.ty == SOCK_SEQPACKET && matches!(s.lock().phase, Phase::Unconnected | Phase::Listening) {
        return Err(ENOTCONN);
    }
    let peek = flags & MSG_PEEK != 0;
    let timeo = s.lock().opts.rcvtimeo;
    let taken = block(ctx, nonblock, timeo, |cv| s.rq.register(cv), |_| take(s, peek))?;
    let Some((data, from, rights, cred, stamp)) = taken else { return Ok(Got::default()) };
    let n = data.len().min(iov.total);
    iov.scatter(ctx, 0, &data[..n])?;
    let mut got = Got { n, from, rights, cred: Some(cred), flags: 0, stamp: Some(stamp) };
    if n < data.len() {
        got.flags |= MSG_TRUNC;
        if flags & MSG_TRUNC != 0 {
            got.n = data.len();
        }
    }
    Ok(got)
}
