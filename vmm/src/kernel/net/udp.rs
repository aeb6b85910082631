//! UDP on the loopback (udp.c): connect's default destination and
//! udp_sendmsg; receiving is `dgram`'s.

use std::sync::Arc;

use super::addr::{decode, Decoded, SockAddr, Use};
use super::buffer::{new_msg, truesize, Control, Iov};
use super::inet::{autobind, dest, source_ip};
use super::{ucred, Phase, Socket};
use crate::kernel::abi::socket::AF_INET;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;

/// The largest UDP payloads (65535 less the headers).
const UDP_MAX_V4: usize = 65_507;
const UDP_MAX_V6: usize = 65_527;

/// A datagram socket's connect to `a` (inet): the default destination,
/// and a source address on lo.
pub(crate) fn connect(ctx: &mut Ctx, s: &Arc<Socket>, a: &SockAddr) -> Result<i64, Errno> {
    let dest = dest(s, a)?;
    autobind(ctx, s, Some(dest))?;
    let src = source_ip(s, dest);
    let mut st = s.lock();
    if let Some(l) = st.local.clone() {
        st.local = Some(SockAddr::of_ip(s.domain, src, l.port()));
    }
    st.phase = Phase::Connected;
    st.remote = Some(SockAddr::of_ip(s.domain, dest, a.port()).with_port(a.port()));
    st.peer = None;
    Ok(0)
}

/// The socket a datagram from `src`:`sport` to `ip`:`port` reaches: one
/// bound there and not connected elsewhere.
fn receiver(s: &Socket, ip: super::addr::Ip, port: u16, src: super::addr::Ip, sport: u16) -> Option<Arc<Socket>> {
    s.net().find_udp(ip, port).filter(|r| {
        let st = r.lock();
        !st.dead
            && match (&st.phase, &st.remote) {
                (Phase::Connected, Some(rem)) => {
                    rem.ip().map(|x| x.unmapped()) == Some(src.unmapped()) && rem.port() == sport
                }
                _ => true,
            }
    })
}

/// udp_sendmsg on the loopback: to the socket bound to the destination,
/// or nowhere (a connected sender then learns ECONNREFUSED, as from the
/// ICMP error); a receiver with a full buffer drops it.
pub(crate) fn send(
    ctx: &mut Ctx,
    s: &Arc<Socket>,
    iov: &Iov,
    dest_raw: Option<Vec<u8>>,
    mut c: Control,
) -> Result<i64, Errno> {
    let (a, connected_dest) = match dest_raw {
        Some(raw) => match decode(s.domain, &raw, Use::Send)? {
            Decoded::Addr(a) => (a, false),
            Decoded::Unspec => return Err(EINVAL),
        },
        None => (s.lock().remote.clone().ok_or(EDESTADDRREQ)?, true),
    };
    if a.port() == 0 {
        return Err(EINVAL);
    }
    let ip = dest(s, &a)?;
    let max = if s.domain == AF_INET { UDP_MAX_V4 } else { UDP_MAX_V6 };
    if iov.total > max {
        return Err(EMSGSIZE);
    }
    if s.lock().local.is_none() {
        autobind(ctx, s, None)?;
    }
    let local = s.lock().local.clone().ok_or(EINVAL)?;
    let src = source_ip(s, ip);
    let Some(rx) = receiver(s, ip, a.port(), src, local.port()) else {
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
