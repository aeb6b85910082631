//! The options a socket keeps and the rules of setsockopt and getsockopt
//! for them: SOL_SOCKET's (sk_setsockopt, sk_getsockopt), TCP's
//! (do_tcp_setsockopt), IP's and IPv6's that a loopback socket keeps.
//! What faultline does not keep is ENOPROTOOPT, as an option the kernel
//! does not know. A value is read as Linux reads it: only its own
//! type's bytes ([`Value`]).

use std::time::Duration;

use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::buffer::{SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF, TCP_RMEM_DEFAULT, TCP_WMEM_DEFAULT, WMEM_DEFAULT, WMEM_MAX};
use super::socket::{Phase, Socket};
use crate::kernel::abi::socket::*;
use crate::kernel::abi::time::Timeval;
use crate::kernel::errno::*;

/// The options a socket keeps (what setsockopt stores and getsockopt
/// gives back).
#[derive(Clone, Debug)]
pub(crate) struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub broadcast: bool,
    pub oobinline: bool,
    pub passcred: bool,
    pub dontroute: bool,
    pub nodelay: bool,
    pub cork: bool,
    pub v6only: bool,
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub rcvlowat: i32,
    pub priority: i32,
    pub mark: u32,
    pub linger: Linger,
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub keepidle: i32,
    pub keepintvl: i32,
    pub keepcnt: i32,
    pub maxseg: i32,
    pub tos: i32,
    pub ttl: i32,
    pub recverr: bool,
    pub user_timeout: i32,
    pub quickack: bool,
    pub defer_accept: i32,
    pub notsent_lowat: i32,
    /// SO_DEBUG (SOCK_DBG): kept, nothing to trace on the loopback.
    pub debug: bool,
    /// SOCK_RCVTSTAMP, SOCK_RCVTSTAMPNS, SOCK_TSTAMP_NEW: which receive
    /// timestamp recvmsg adds.
    pub rcvtstamp: bool,
    pub rcvtstampns: bool,
    pub tstamp_new: bool,
    /// SO_TIMESTAMPING's flags.
    pub tsflags: u32,
    /// SO_BINDTODEVICE: 0, or lo's index (the only device).
    pub bound_dev_if: i32,
}

impl Opts {
    /// A new socket's options: TCP's buffers are tcp_wmem/tcp_rmem's
    /// defaults, the others' net.core's.
    pub(crate) fn new(tcp: bool) -> Opts {
        Opts {
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            broadcast: false,
            oobinline: false,
            passcred: false,
            dontroute: false,
            nodelay: false,
            cork: false,
            v6only: false,
            sndbuf: if tcp { TCP_WMEM_DEFAULT } else { WMEM_DEFAULT },
            rcvbuf: if tcp { TCP_RMEM_DEFAULT } else { WMEM_DEFAULT },
            rcvlowat: 1,
            priority: 0,
            mark: 0,
            linger: Linger::default(),
            rcvtimeo: None,
            sndtimeo: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            maxseg: 536,
            tos: 0,
            ttl: 64,
            recverr: false,
            user_timeout: 0,
            quickack: true,
            defer_accept: 0,
            notsent_lowat: -1,
            debug: false,
            rcvtstamp: false,
            rcvtstampns: false,
            tstamp_new: false,
            tsflags: 0,
            bound_dev_if: 0,
        }
    }
}

/// A setsockopt value: its length and a reader of the caller's bytes.
/// Linux copies only the option's own type (copy_from_sockptr), after
/// checking the length, so a bad pointer is EFAULT only where it reads.
pub(crate) struct Value<'a> {
    pub len: usize,
    pub read: &'a mut dyn FnMut(usize) -> Result<Vec<u8>, Errno>,
}

impl Value<'_> {
    /// The first `n` bytes (EINVAL when shorter).
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, Errno> {
        if self.len < n {
            return Err(EINVAL);
        }
        (self.read)(n)
    }

    fn int(&mut self) -> Result<i32, Errno> {
        let b = self.bytes(size_of::<i32>())?;
        i32::read_from_bytes(&b).map_err(|_| EINVAL)
    }

    fn linger(&mut self) -> Result<Linger, Errno> {
        let b = self.bytes(size_of::<Linger>())?;
        Linger::read_from_bytes(&b).map_err(|_| EINVAL)
    }

    /// sock_set_timeout: a negative time does not wait at all; zero waits
    /// for ever; microseconds past a second are EDOM.
    fn timeo(&mut self) -> Result<Option<Duration>, Errno> {
        let b = self.bytes(size_of::<Timeval>())?;
        let tv = Timeval::read_from_bytes(&b).map_err(|_| EINVAL)?;
        if !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(EDOM);
        }
        if tv.tv_sec < 0 {
            return Ok(Some(Duration::ZERO));
        }
        if tv.tv_sec == 0 && tv.tv_usec == 0 {
            return Ok(None);
        }
        Ok(Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
    }
}

/// setsockopt at SOL_SOCKET. `admin`: CAP_NET_ADMIN (the FORCE options,
/// SO_MARK, high priorities).
fn set_socket_opt(s: &Socket, name: i32, v: &mut Value, admin: bool, raw: bool) -> Result<(), Errno> {
    let set_bool = |s: &Socket, f: fn(&mut Opts) -> &mut bool, v: i32| *f(&mut s.lock().opts) = v != 0;
    match name {
        SO_LINGER => {
            let l = v.linger()?;
            s.lock().opts.linger = Linger { l_onoff: (l.l_onoff != 0) as i32, l_linger: l.l_linger.max(0) };
            return Ok(());
        }
        SO_RCVTIMEO_OLD => {
            s.lock().opts.rcvtimeo = v.timeo()?;
            return Ok(());
        }
        SO_SNDTIMEO_OLD => {
            s.lock().opts.sndtimeo = v.timeo()?;
            return Ok(());
        }
        SO_BINDTODEVICE => return set_bind_to_device(s, v, raw),
        _ => {}
    }
    let v = v.int()?;
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
        SO_SNDBUF | SO_SNDBUFFORCE | SO_RCVBUF | SO_RCVBUFFORCE => set_buf(s, name, v, admin)?,
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
        SO_DEBUG => {
            if v != 0 && !admin {
                return Err(EACCES);
            }
            s.lock().opts.debug = v != 0;
        }
        SO_TIMESTAMP_OLD | SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_OLD | SO_TIMESTAMPNS_NEW => set_timestamp(s, name, v),
        SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW => {
            // sock_set_timestamping: known flags only.
            if v as u32 & !SOF_TIMESTAMPING_MASK != 0 {
                return Err(EINVAL);
            }
            let mut st = s.lock();
            st.opts.tsflags = v as u32;
            st.opts.tstamp_new = name == SO_TIMESTAMPING_NEW;
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

/// sock_set_timestamp: microseconds (SO_TIMESTAMP) or nanoseconds
/// (SO_TIMESTAMPNS), the old or the y2038-safe new control message.
fn set_timestamp(s: &Socket, name: i32, v: i32) {
    let mut st = s.lock();
    let o = &mut st.opts;
    if v != 0 {
        o.tstamp_new = matches!(name, SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW);
        o.rcvtstampns = matches!(name, SO_TIMESTAMPNS_OLD | SO_TIMESTAMPNS_NEW);
        o.rcvtstamp = true;
    } else {
        o.rcvtstamp = false;
        o.rcvtstampns = false;
    }
}

/// sock_setbindtodevice: a name of at most IFNAMSIZ - 1 bytes; "" (or
/// no bytes) unbinds, "lo" binds to the loopback, any other is ENODEV
/// (the sandbox has no other device). Changing a binding needs
/// CAP_NET_RAW.
fn set_bind_to_device(s: &Socket, v: &mut Value, raw: bool) -> Result<(), Errno> {
    let n = v.len.min(IFNAMSIZ - 1);
    let name = v.bytes(n)?;
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let index = match name {
        b"" => 0,
        b"lo" => LOOPBACK_IFINDEX,
        _ => return Err(ENODEV),
    };
    let mut st = s.lock();
    if st.opts.bound_dev_if != 0 && !raw {
        return Err(EPERM);
    }
    st.opts.bound_dev_if = index;
    Ok(())
}

/// SO_SNDBUF and SO_RCVBUF: twice what is asked (room for the kernel's
/// own overhead), what is asked capped at wmem_max/rmem_max unless
/// forced (which needs CAP_NET_ADMIN).
fn set_buf(s: &Socket, name: i32, v: i32, admin: bool) -> Result<(), Errno> {
    let force = matches!(name, SO_SNDBUFFORCE | SO_RCVBUFFORCE);
    if force && !admin {
        return Err(EPERM);
    }
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
    Ok(())
}

fn set_tcp_opt(s: &Socket, name: i32, v: &mut Value) -> Result<(), Errno> {
    let v = v.int()?;
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

fn set_ip_opt(s: &Socket, level: i32, name: i32, v: &mut Value) -> Result<(), Errno> {
    let v = v.int()?;
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

/// What the caller may do with options: CAP_NET_ADMIN (or
/// CAP_SYS_ADMIN), CAP_NET_RAW.
#[derive(Clone, Copy)]
pub(crate) struct Caps {
    pub admin: bool,
    pub raw: bool,
}

/// setsockopt.
pub(crate) fn set(s: &Socket, level: i32, name: i32, v: &mut Value, caps: Caps) -> Result<(), Errno> {
    match level {
        SOL_SOCKET => set_socket_opt(s, name, v, caps.admin, caps.raw),
        // AF_UNIX has no options of other levels.
        _ if s.domain == AF_UNIX => Err(EOPNOTSUPP),
        SOL_TCP if s.is_tcp() => set_tcp_opt(s, name, v),
        SOL_IP | SOL_IPV6 => set_ip_opt(s, level, name, v),
        _ => Err(ENOPROTOOPT),
    }
}

fn timeval(t: Option<Duration>) -> Vec<u8> {
    let d = t.unwrap_or_default();
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }.as_bytes().to_vec()
}

fn int(v: i32) -> Result<Vec<u8>, Errno> {
    Ok(v.to_ne_bytes().to_vec())
}

/// getsockopt at SOL_SOCKET; `len` is the caller's buffer's size.
fn get_socket_opt(s: &Socket, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
    let mut st = s.lock();
    let o = &st.opts;
    match name {
        SO_DEBUG => return int(o.debug as i32),
        SO_TIMESTAMP_OLD => return int((o.rcvtstamp && !o.tstamp_new && !o.rcvtstampns) as i32),
        SO_TIMESTAMP_NEW => return int((o.rcvtstamp && o.tstamp_new && !o.rcvtstampns) as i32),
        SO_TIMESTAMPNS_OLD => return int((o.rcvtstampns && !o.tstamp_new) as i32),
        SO_TIMESTAMPNS_NEW => return int((o.rcvtstampns && o.tstamp_new) as i32),
        SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW => {
            return Ok(SoTimestamping { flags: o.tsflags, bind_phc: 0 }.as_bytes().to_vec())
        }
        // sock_getbindtodevice: nothing when unbound, else the name with
        // its NUL, into a buffer of at least IFNAMSIZ (EINVAL).
        SO_BINDTODEVICE if o.bound_dev_if == 0 => return Ok(Vec::new()),
        SO_BINDTODEVICE if len < IFNAMSIZ => return Err(EINVAL),
        SO_BINDTODEVICE => return Ok(b"lo\0".to_vec()),
        _ => {}
    }
    match name {
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
    }
}

/// getsockopt at SOL_TCP.
fn get_tcp_opt(s: &Socket, name: i32) -> Result<Vec<u8>, Errno> {
    let st = s.lock();
    match name {
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
        TCP_INFO => {
            drop(st);
            let mut info = TcpInfo::new_zeroed();
            info.tcpi_state = super::tcp::state(s);
            Ok(info.as_bytes().to_vec())
        }
        _ => Err(ENOPROTOOPT),
    }
}

/// The value of option `name` at `level`, as the bytes getsockopt gives
/// (the caller's buffer has `len`).
pub(crate) fn get(s: &Socket, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
    match level {
        SOL_SOCKET => get_socket_opt(s, name, len),
        _ if s.domain == AF_UNIX => Err(EOPNOTSUPP),
        SOL_TCP if s.is_tcp() => get_tcp_opt(s, name),
        SOL_IP if s.domain == AF_INET => {
            let st = s.lock();
            match name {
                IP_TOS => int(st.opts.tos),
                IP_TTL => int(st.opts.ttl),
                IP_RECVERR => int(st.opts.recverr as i32),
                _ => Err(ENOPROTOOPT),
            }
        }
        SOL_IPV6 if s.domain == AF_INET6 => {
            let st = s.lock();
            match name {
                IPV6_V6ONLY => int(st.opts.v6only as i32),
                IPV6_UNICAST_HOPS => int(st.opts.ttl),
                _ => Err(ENOPROTOOPT),
            }
        }
        SOL_UDP if s.ty == SOCK_DGRAM => Err(ENOPROTOOPT),
        // do_ip_getsockopt: any other level of an IPv4 socket.
        _ if s.domain == AF_INET => Err(EOPNOTSUPP),
        _ => Err(ENOPROTOOPT),
    }
}
