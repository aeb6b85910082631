//! getsockopt and setsockopt: SOL_SOCKET's options (sk_setsockopt,
//! sk_getsockopt), TCP's (do_tcp_setsockopt), IP's and IPv6's that a
//! loopback socket keeps. What faultline does not keep is ENOPROTOOPT,
//! as an option the kernel does not know.

use std::time::Duration;

use zerocopy::IntoBytes;

use super::super::abi::capability::CAP_SYS_ADMIN;
use super::super::abi::socket::*;
use super::super::abi::time::Timeval;
use super::super::errno::*;
use super::super::net::{Opts, Phase, Socket, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF, WMEM_MAX};
use super::super::task::Ctx;
use super::socket::sock_of;

/// CAP_NET_ADMIN (the FORCE options, SO_MARK, high priorities).
const CAP_NET_ADMIN: u32 = 12;

/// Reads an int option (EINVAL when shorter than an int).
fn read_int(ctx: &mut Ctx, at: u64, len: i32) -> Result<i32, Errno> {
    if len < 4 {
        return Err(EINVAL);
    }
    Ok(ctx.read_u32(at)? as i32)
}

fn read_timeo(ctx: &mut Ctx, at: u64, len: i32) -> Result<Option<Duration>, Errno> {
    if (len as usize) < size_of::<Timeval>() {
        return Err(EINVAL);
    }
    let tv: Timeval = ctx.read_struct(at)?;
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(EDOM);
    }
    // sock_set_timeout: a negative time does not wait at all; zero waits
    // for ever.
    if tv.tv_sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
}

fn set_socket_opt(ctx: &mut Ctx, s: &Socket, name: i32, at: u64, len: i32) -> Result<(), Errno> {
    let admin = ctx.proc().cred.capable(CAP_NET_ADMIN) || ctx.proc().cred.capable(CAP_SYS_ADMIN);
    let set_bool = |s: &Socket, f: fn(&mut Opts) -> &mut bool, v: i32| *f(&mut s.lock().opts) = v != 0;
    match name {
        SO_LINGER => {
            if (len as usize) < size_of::<Linger>() {
                return Err(EINVAL);
            }
            let l: Linger = ctx.read_struct(at)?;
            s.lock().opts.linger = Linger { l_onoff: (l.l_onoff != 0) as i32, l_linger: l.l_linger.max(0) };
            return Ok(());
        }
        SO_RCVTIMEO_OLD => {
            s.lock().opts.rcvtimeo = read_timeo(ctx, at, len)?;
            return Ok(());
        }
        SO_SNDTIMEO_OLD => {
            s.lock().opts.sndtimeo = read_timeo(ctx, at, len)?;
            return Ok(());
        }
        _ => {}
    }
    let v = read_int(ctx, at, len)?;
    match name {
        SO_REUSEADDR => set_bool(s, |o| &mut o.reuseaddr, v),
        SO_REUSEPORT => {
            if s.domain == AF_UNIX && v != 0 {
                return Err(EOPNOTSUPP);
            }
            set_bool(s, |o| &mut o.reuseport, v)
        }
        SO_KEEPALIVE => set_bool(s, |o| &mut o.keepalive, v),
        SO_BROADCAST => set_bool(s, |o| &mut o.broadcast, v),
        SO_OOBINLINE => set_bool(s, |o| &mut o.oobinline, v),
        SO_PASSCRED => set_bool(s, |o| &mut o.passcred, v),
        SO_DONTROUTE => set_bool(s, |o| &mut o.dontroute, v),
        SO_SNDBUF | SO_SNDBUFFORCE | SO_RCVBUF | SO_RCVBUFFORCE => {
            let force = matches!(name, SO_SNDBUFFORCE | SO_RCVBUFFORCE);
            if force && !admin {
                return Err(EPERM);
            }
            // Twice what is asked (room for the kernel's own overhead),
            // what is asked capped at wmem_max/rmem_max unless forced.
            let asked = if force { v.max(0) as usize } else { (v.max(0) as usize).min(WMEM_MAX) };
            let doubled = asked.saturating_mul(2).min(i32::MAX as usize);
            let mut st = s.lock();
            if matches!(name, SO_SNDBUF | SO_SNDBUFFORCE) {
                st.opts.sndbuf = doubled.max(SOCK_MIN_SNDBUF);
            } else {
                st.opts.rcvbuf = doubled.max(SOCK_MIN_RCVBUF);
            }
            drop(st);
            s.wake();
        }
        SO_RCVLOWAT => s.lock().opts.rcvlowat = if v < 0 { i32::MAX } else { v.max(1) },
        SO_PRIORITY => {
            if !(0..=6).contains(&v) && !admin {
                return Err(EPERM);
            }
            s.lock().opts.priority = v;
        }
        SO_MARK => {
            if !admin {
                return Err(EPERM);
            }
            s.lock().opts.mark = v as u32;
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

fn set_tcp_opt(ctx: &mut Ctx, s: &Socket, name: i32, at: u64, len: i32) -> Result<(), Errno> {
    let v = read_int(ctx, at, len)?;
    let mut st = s.lock();
    let o = &mut st.opts;
    match name {
        TCP_NODELAY => o.nodelay = v != 0,
        TCP_CORK => o.cork = v != 0,
        TCP_QUICKACK => o.quickack = v != 0,
        TCP_KEEPIDLE | TCP_KEEPINTVL if !(1..=32767).contains(&v) => return Err(EINVAL),
        TCP_KEEPIDLE => o.keepidle = v,
        TCP_KEEPINTVL => o.keepintvl = v,
        TCP_KEEPCNT if !(1..=127).contains(&v) => return Err(EINVAL),
        TCP_KEEPCNT => o.keepcnt = v,
        TCP_MAXSEG if v != 0 && !(88..=32767).contains(&v) => return Err(EINVAL),
        TCP_MAXSEG => o.maxseg = if v == 0 { 536 } else { v },
        TCP_USER_TIMEOUT if v < 0 => return Err(EINVAL),
        TCP_USER_TIMEOUT => o.user_timeout = v,
        TCP_DEFER_ACCEPT => o.defer_accept = v.max(0),
        TCP_NOTSENT_LOWAT => o.notsent_lowat = v,
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

fn set_ip_opt(ctx: &mut Ctx, s: &Socket, level: i32, name: i32, at: u64, len: i32) -> Result<(), Errno> {
    let v = read_int(ctx, at, len)?;
    let mut st = s.lock();
    let bound = st.local.is_some();
    let o = &mut st.opts;
    match (level, name) {
        (SOL_IP, IP_TOS) if s.domain == AF_INET => o.tos = v & 0xff,
        (SOL_IP, IP_TTL) if s.domain == AF_INET => {
            o.ttl = match v {
                -1 => 64,
                1..=255 => v,
                _ => return Err(EINVAL),
            }
        }
        (SOL_IP, IP_RECVERR) if s.domain == AF_INET => o.recverr = v != 0,
        (SOL_IPV6, IPV6_V6ONLY) if s.domain == AF_INET6 => {
            // Only before the socket has a port.
            if bound {
                return Err(EINVAL);
            }
            o.v6only = v != 0;
        }
        (SOL_IPV6, IPV6_UNICAST_HOPS) if s.domain == AF_INET6 => {
            o.ttl = match v {
                -1 => 64,
                0..=255 => v,
                _ => return Err(EINVAL),
            }
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

pub(super) fn setsockopt(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let (level, name, at, len) = (a[1] as i32, a[2] as i32, a[3], a[4] as i32);
    if len < 0 {
        return Err(EINVAL);
    }
    match level {
        SOL_SOCKET => set_socket_opt(ctx, &s, name, at, len)?,
        // AF_UNIX has no options of other levels.
        _ if s.domain == AF_UNIX => return Err(EOPNOTSUPP),
        SOL_TCP if s.is_tcp() => set_tcp_opt(ctx, &s, name, at, len)?,
        SOL_IP | SOL_IPV6 => set_ip_opt(ctx, &s, level, name, at, len)?,
        _ => return Err(ENOPROTOOPT),
    }
    Ok(0)
}

fn timeval(t: Option<Duration>) -> Vec<u8> {
    let d = t.unwrap_or_default();
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }.as_bytes().to_vec()
}

/// The value of option `name` at `level`, as the bytes getsockopt gives.
fn get_value(s: &Socket, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
    let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
    let mut st = s.lock();
    match level {
        SOL_SOCKET => match name {
            SO_TYPE => int(s.ty as i32),
            SO_DOMAIN => int(s.domain as i32),
            SO_PROTOCOL => int(match (s.domain, s.ty) {
                (AF_UNIX, _) => 0,
                (_, SOCK_STREAM) => IPPROTO_TCP as i32,
                _ => IPPROTO_UDP as i32,
            }),
            SO_ERROR => int(st.err.take().map_or(0, |e| e.0)),
            SO_ACCEPTCONN => int((st.phase == Phase::Listening) as i32),
            SO_REUSEADDR => int(st.opts.reuseaddr as i32),
            SO_REUSEPORT => int(st.opts.reuseport as i32),
            SO_KEEPALIVE => int(st.opts.keepalive as i32),
            SO_BROADCAST => int(st.opts.broadcast as i32),
            SO_OOBINLINE => int(st.opts.oobinline as i32),
            SO_PASSCRED => int(st.opts.passcred as i32),
            SO_DONTROUTE => int(st.opts.dontroute as i32),
            SO_SNDBUF => int(st.opts.sndbuf as i32),
            SO_RCVBUF => int(st.opts.rcvbuf as i32),
            SO_RCVLOWAT => int(st.opts.rcvlowat),
            SO_SNDLOWAT => int(1),
            SO_PRIORITY => int(st.opts.priority),
            SO_MARK => int(st.opts.mark as i32),
            SO_LINGER => Ok(st.opts.linger.as_bytes().to_vec()),
            SO_RCVTIMEO_OLD => Ok(timeval(st.opts.rcvtimeo)),
            SO_SNDTIMEO_OLD => Ok(timeval(st.opts.sndtimeo)),
            SO_PEERCRED => {
                let c = st.peer_cred.unwrap_or(Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX });
                Ok(c.as_bytes().to_vec())
            }
            _ => Err(ENOPROTOOPT),
        },
        _ if s.domain == AF_UNIX => Err(EOPNOTSUPP),
        SOL_TCP if s.is_tcp() => match name {
            TCP_NODELAY => int(st.opts.nodelay as i32),
            TCP_CORK => int(st.opts.cork as i32),
            TCP_QUICKACK => int(st.opts.quickack as i32),
            TCP_KEEPIDLE => int(st.opts.keepidle),
            TCP_KEEPINTVL => int(st.opts.keepintvl),
            TCP_KEEPCNT => int(st.opts.keepcnt),
            TCP_MAXSEG => int(st.opts.maxseg),
            TCP_USER_TIMEOUT => int(st.opts.user_timeout),
            TCP_DEFER_ACCEPT => int(st.opts.defer_accept),
            TCP_NOTSENT_LOWAT => int(st.opts.notsent_lowat),
            _ => Err(ENOPROTOOPT),
        },
        SOL_IP if s.domain == AF_INET => match name {
            IP_TOS => int(st.opts.tos),
            IP_TTL => int(st.opts.ttl),
            IP_RECVERR => int(st.opts.recverr as i32),
            _ => Err(ENOPROTOOPT),
        },
        SOL_IPV6 if s.domain == AF_INET6 => match name {
            IPV6_V6ONLY => int(st.opts.v6only as i32),
            IPV6_UNICAST_HOPS => int(st.opts.ttl),
            _ => Err(ENOPROTOOPT),
        },
        _ => Err(ENOPROTOOPT),
    }
}

pub(super) fn getsockopt(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let (level, name, at, lenp) = (a[1] as i32, a[2] as i32, a[3], a[4]);
    let len = ctx.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(EINVAL);
    }
    let v = get_value(&s, level, name)?;
    // As much as the caller's buffer holds; the length given back is what
    // was copied.
    let n = (len as usize).min(v.len());
    ctx.write_user(at, &v[..n])?;
    ctx.write_u32(lenp, n as u32)?;
    Ok(0)
}
