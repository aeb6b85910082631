//! AF_NETLINK's NETLINK_ROUTE, as much as getifaddrs and if_nameindex
//! ask (af_netlink.c, rtnetlink.c): a socket bound to a port id, whose
//! requests the kernel answers at once into its receive queue, about the
//! socket's network namespace. RTM_GETLINK (a dump, or lo by index or
//! name) answers lo; RTM_GETADDR's dump answers 127.0.0.1/8 and ::1/128 on
//! lo once lo is up; each dump ends with NLMSG_DONE in a datagram of its
//! own, as netlink_dump sends it. RTM_NEWLINK and RTM_SETLINK change lo's
//! IFF_UP alone (`ip link set lo up`). Other requests are EOPNOTSUPP in an
//! NLMSG_ERROR, as rtnetlink has no handler for them here. No multicast
//! group ever hears anything.

use std::sync::Arc;

use zerocopy::{FromBytes, IntoBytes};

use super::addr::{decode, Decoded, SockAddr, Use, V4_LOOPBACK, V6_LOOPBACK};
use super::buffer::{new_msg, Control, Iov};
use super::{ucred, Net, Socket};
use crate::kernel::abi::capability::CAP_NET_ADMIN;
use crate::kernel::abi::ioctl::{Ifreq, SIOCGIFFLAGS, SIOCGIFINDEX, SIOCGIFMTU, SIOCGIFNAME, SIOCSIFFLAGS};
use crate::kernel::abi::netlink::*;
use crate::kernel::abi::socket::{AF_INET, AF_INET6, AF_NETLINK, AF_UNSPEC};
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;

impl Net {
    /// Takes port id `pid` for `s` (EADDRINUSE if a live socket has it).
    fn take_nl_port(&self, s: &Arc<Socket>, pid: u32) -> Result<(), Errno> {
        let mut t = self.tables.lock();
        if t.nl_ports.get(&pid).and_then(|w| w.upgrade()).is_some_and(|o| !o.lock().dead) {
            return Err(EADDRINUSE);
        }
        t.nl_ports.insert(pid, Arc::downgrade(s));
        Ok(())
    }
}

/// The port id `s` is bound to, if bound.
fn port_id(s: &Socket) -> Option<u32> {
    match &s.lock().local {
        Some(SockAddr::Netlink { pid, .. }) => Some(*pid),
        _ => None,
    }
}

/// netlink_autobind: the caller's tgid if free, else -4096 and down.
fn autobind(ctx: &Ctx, s: &Arc<Socket>) -> Result<u32, Errno> {
    if let Some(p) = port_id(s) {
        return Ok(p);
    }
    let net = s.net().clone();
    let mut candidates = std::iter::once(ctx.pid).chain((4096..=i32::MAX as u32).map(|n| n.wrapping_neg()));
    let pid = candidates.find(|&p| net.take_nl_port(s, p).is_ok()).ok_or(EADDRINUSE)?;
    s.lock().local = Some(SockAddr::Netlink { pid, groups: 0 });
    Ok(pid)
}

/// netlink_bind: port id 0 autobinds; a bound socket may only keep its
/// id (EINVAL otherwise); groups are kept (nothing is ever sent to them).
pub(crate) fn bind(ctx: &Ctx, s: &Arc<Socket>, pid: u32, groups: u32) -> Result<(), Errno> {
    match port_id(s) {
        Some(p) if pid != 0 && pid != p => return Err(EINVAL),
        Some(_) => {}
        None if pid == 0 => {
            autobind(ctx, s)?;
        }
        None => {
            s.net().take_nl_port(s, pid)?;
            s.lock().local = Some(SockAddr::Netlink { pid, groups: 0 });
        }
    }
    let p = port_id(s).unwrap_or(pid);
    s.lock().local = Some(SockAddr::Netlink { pid: p, groups });
    Ok(())
}

/// netlink_connect: the default destination (AF_UNSPEC: none again).
pub(crate) fn connect(ctx: &Ctx, s: &Arc<Socket>, d: Decoded) -> Result<i64, Errno> {
    match d {
        Decoded::Unspec => s.disconnect(),
        Decoded::Addr(a @ SockAddr::Netlink { .. }) => {
            autobind(ctx, s)?;
            s.lock().remote = Some(a);
        }
        Decoded::Addr(_) => return Err(EINVAL),
    }
    Ok(0)
}

/// netlink_sendmsg to the kernel (port 0): the requests in the buffer
/// answered into our own queue. Another port is ECONNREFUSED (no other
/// netlink socket takes unicasts here); groups need CAP_NET_ADMIN.
pub(crate) fn send(
    ctx: &mut Ctx,
    s: &Arc<Socket>,
    iov: &Iov,
    dest: Option<Vec<u8>>,
    mut c: Control,
) -> Result<i64, Errno> {
    let to = match dest.filter(|d| !d.is_empty()) {
        Some(raw) => match decode(AF_NETLINK, &raw, Use::Send)? {
            Decoded::Addr(a) => a,
            Decoded::Unspec => return Err(EINVAL),
        },
        None => s.lock().remote.clone().unwrap_or(SockAddr::Netlink { pid: 0, groups: 0 }),
    };
    let SockAddr::Netlink { pid: to_pid, groups } = to else { return Err(EINVAL) };
    if groups != 0 && !ctx.proc().cred.capable(CAP_NET_ADMIN) {
        return Err(EPERM);
    }
    let me = autobind(ctx, s)?;
    if to_pid != 0 {
        return Err(ECONNREFUSED);
    }
    if iov.total > s.lock().opts.sndbuf.saturating_sub(32) {
        return Err(EMSGSIZE);
    }
    let data = iov.gather(ctx, 0, iov.total)?;
    let cred = ucred(ctx);
    let room = {
        let st = s.lock();
        st.opts.rcvbuf.saturating_sub(st.rx_bytes)
    };
    let asker = Asker { net: s.net(), admin: ctx.proc().cred.capable(CAP_NET_ADMIN), portid: me };
    for reply in answer(&data, &asker, room) {
        // A full receive buffer drops the answer and says ENOBUFS.
        let (used, rcvbuf) = {
            let st = s.lock();
            (st.rx_bytes, st.opts.rcvbuf)
        };
        if used > rcvbuf {
            s.lock().err = Some(ENOBUFS);
            break;
        }
        let m = new_msg(ctx, s, reply, Some(SockAddr::Netlink { pid: 0, groups: 0 }), &mut c, cred)?;
        s.deliver(m);
    }
    Ok(iov.total as i64)
}

/// Who a request comes from: its socket's namespace, whether the sender
/// has CAP_NET_ADMIN, its port id.
struct Asker<'a> {
    net: &'a Net,
    admin: bool,
    portid: u32,
}

/// netlink_rcv_skb over the buffer: each request's answer datagrams, as
/// many as fit in `room` bytes and one more (what overflows the receive
/// buffer is dropped anyway, so no more is made).
fn answer(data: &[u8], asker: &Asker, room: usize) -> Vec<Vec<u8>> {
    let portid = asker.portid;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut at = 0;
    while let Ok((h, _)) = Nlmsghdr::read_from_prefix(&data[at..]) {
        if out.iter().map(Vec::len).sum::<usize>() > room {
            break;
        }
        let len = h.nlmsg_len as usize;
        if len < size_of::<Nlmsghdr>() || len > data.len() - at {
            break;
        }
        let req = &data[at..at + len];
        let r = if h.nlmsg_flags & NLM_F_REQUEST == 0 || h.nlmsg_type < NLMSG_MIN_TYPE {
            Ok(false)
        } else {
            request(&h, &req[size_of::<Nlmsghdr>()..], asker, &mut out)
        };
        // A dump is answered by its messages; anything else by an ack if
        // it failed or asked for one.
        match r {
            Ok(true) => {}
            Ok(false) if h.nlmsg_flags & NLM_F_ACK == 0 => {}
            Ok(false) => out.push(ack(&h, req, 0, portid)),
            Err(e) => out.push(ack(&h, req, e.0, portid)),
        }
        at += nl_align(len);
        if at >= data.len() {
            break;
        }
    }
    out
}

/// One rtnetlink request: `Ok(true)` if it was a dump (answered in full).
fn request(h: &Nlmsghdr, body: &[u8], asker: &Asker, out: &mut Vec<Vec<u8>>) -> Result<bool, Errno> {
    let (net, portid) = (asker.net, asker.portid);
    let dump = h.nlmsg_flags & NLM_F_DUMP != 0;
    match h.nlmsg_type {
        RTM_GETLINK if dump => {
            out.push(link(net, h.nlmsg_seq, portid, NLM_F_MULTI));
            out.push(done(h.nlmsg_seq, portid));
            Ok(true)
        }
        RTM_GETLINK => {
            lo_named(body)?;
            out.push(link(net, h.nlmsg_seq, portid, 0));
            Ok(false)
        }
        // do_setlink with nothing but flags: rtnl_dev_combine_flags (no
        // ifi_change: every flag as given).
        RTM_NEWLINK | RTM_SETLINK => {
            // rtnetlink_rcv_msg: a request that is not a GET needs
            // CAP_NET_ADMIN.
            if !asker.admin {
                return Err(EPERM);
            }
            let (ifi, rest) = lo_named(body)?;
            if attrs(rest).any(|(t, _)| t != IFLA_IFNAME) {
                return Err(EOPNOTSUPP);
            }
            let old = net.lo_flags();
            let flags = match ifi.ifi_change {
                0 => ifi.ifi_flags,
                change => (old & !change) | (ifi.ifi_flags & change),
            };
            net.set_lo_flags(flags)?;
            Ok(false)
        }
        RTM_GETADDR if dump => {
            let family = body.first().map_or(AF_UNSPEC, |&f| f as u16);
            let mut msgs = Vec::new();
            // lo has its addresses once it is up.
            for f in [AF_INET, AF_INET6] {
                if net.lo_up() && (family == AF_UNSPEC || family == f) {
                    msgs.extend(address(f, h.nlmsg_seq, portid));
                }
            }
            if !msgs.is_empty() {
                out.push(msgs);
            }
            out.push(done(h.nlmsg_seq, portid));
            Ok(true)
        }
        _ => Err(EOPNOTSUPP),
    }
}

/// The link a request's body names: lo, by index or by IFLA_IFNAME (EINVAL
/// with neither, ENODEV for another).
fn lo_named(body: &[u8]) -> Result<(Ifinfomsg, &[u8]), Errno> {
    let (ifi, attrs) = Ifinfomsg::read_from_prefix(body).map_err(|_| EINVAL)?;
    let found = if ifi.ifi_index > 0 {
        ifi.ifi_index == 1
    } else {
        match attr(attrs, IFLA_IFNAME) {
            Some(name) => name.split(|&b| b == 0).next() == Some(b"lo"),
            None => return Err(EINVAL),
        }
    };
    if !found {
        return Err(ENODEV);
    }
    Ok((ifi, attrs))
}

/// The attributes among `attrs` (type, payload), up to a malformed one.
fn attrs(mut rest: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let (a, _) = Rtattr::read_from_prefix(rest).ok()?;
        let len = a.rta_len as usize;
        if len < size_of::<Rtattr>() || len > rest.len() {
            return None;
        }
        let payload = &rest[size_of::<Rtattr>()..len];
        rest = &rest[nl_align(len).min(rest.len())..];
        Some((a.rta_type, payload))
    })
}

/// The payload of attribute `ty` among `attrs`.
fn attr(a: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(a).find(|&(t, _)| t == ty).map(|(_, p)| p)
}

/// A message: its header (length filled in), body and attributes.
struct Builder(Vec<u8>);

impl Builder {
    fn new(ty: u16, flags: u16, seq: u32, pid: u32, body: &[u8]) -> Self {
        let h = Nlmsghdr { nlmsg_len: 0, nlmsg_type: ty, nlmsg_flags: flags, nlmsg_seq: seq, nlmsg_pid: pid };
        let mut v = h.as_bytes().to_vec();
        v.extend_from_slice(body);
        v.resize(nl_align(v.len()), 0);
        Builder(v)
    }

    fn attr(mut self, ty: u16, payload: &[u8]) -> Self {
        let a = Rtattr { rta_len: (size_of::<Rtattr>() + payload.len()) as u16, rta_type: ty };
        self.0.extend_from_slice(a.as_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(nl_align(self.0.len()), 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// RTM_NEWLINK for lo (rtnl_fill_ifinfo's attributes getifaddrs reads).
fn link(net: &Net, seq: u32, pid: u32, flags: u16) -> Vec<u8> {
    let ifi = Ifinfomsg { ifi_type: ARPHRD_LOOPBACK, ifi_index: 1, ifi_flags: net.lo_flags(), ..Default::default() };
    // Up, lo has no carrier to tell of.
    let operstate = if net.lo_up() { IF_OPER_UNKNOWN } else { IF_OPER_DOWN };
    Builder::new(RTM_NEWLINK, flags, seq, pid, ifi.as_bytes())
        .attr(IFLA_IFNAME, b"lo\0")
        .attr(IFLA_TXQLEN, &LO_TXQLEN.to_ne_bytes())
        .attr(IFLA_OPERSTATE, &[operstate])
        .attr(IFLA_MTU, &LO_MTU.to_ne_bytes())
        .attr(IFLA_ADDRESS, &[0; 6])
        .attr(IFLA_BROADCAST, &[0; 6])
        .attr(IFLA_STATS64, &[0; RTNL_LINK_STATS64_LEN])
        .attr(IFLA_STATS, &[0; RTNL_LINK_STATS_LEN])
        .finish()
}

/// RTM_NEWADDR for lo's address of `family` (inet_fill_ifaddr,
/// inet6_fill_ifaddr).
fn address(family: u16, seq: u32, pid: u32) -> Vec<u8> {
    let v4 = family == AF_INET;
    let ifa = Ifaddrmsg {
        ifa_family: family as u8,
        ifa_prefixlen: if v4 { 8 } else { 128 },
        ifa_flags: IFA_F_PERMANENT,
        ifa_scope: RT_SCOPE_HOST,
        ifa_index: 1,
    };
    let forever = IfaCacheinfo { ifa_prefered: u32::MAX, ifa_valid: u32::MAX, cstamp: 0, tstamp: 0 };
    let b = Builder::new(RTM_NEWADDR, NLM_F_MULTI, seq, pid, ifa.as_bytes());
    let b = if v4 {
        b.attr(IFA_ADDRESS, &V4_LOOPBACK).attr(IFA_LOCAL, &V4_LOOPBACK).attr(IFA_LABEL, b"lo\0")
    } else {
        b.attr(IFA_ADDRESS, &V6_LOOPBACK)
    };
    b.attr(IFA_FLAGS, &(IFA_F_PERMANENT as u32).to_ne_bytes()).attr(IFA_CACHEINFO, forever.as_bytes()).finish()
}

/// NLMSG_DONE: a dump's end (its payload the dump's result, 0).
fn done(seq: u32, pid: u32) -> Vec<u8> {
    Builder::new(NLMSG_DONE, NLM_F_MULTI, seq, pid, &0i32.to_ne_bytes()).finish()
}

/// netlink_ack: NLMSG_ERROR with the error (0: an ack) and the request,
/// whole when it failed, its header alone (NLM_F_CAPPED) when not.
fn ack(h: &Nlmsghdr, req: &[u8], errno: i32, pid: u32) -> Vec<u8> {
    let mut body = (-errno).to_ne_bytes().to_vec();
    let (flags, echoed) = if errno == 0 { (NLM_F_CAPPED, &req[..size_of::<Nlmsghdr>()]) } else { (0, req) };
    body.extend_from_slice(echoed);
    Builder::new(NLMSG_ERROR, flags, h.nlmsg_seq, pid, &body).finish()
}

/// dev_ioctl's SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS and SIOCGIFMTU on
/// any socket (if_nametoindex and if_indextoname use them), and
/// SIOCSIFFLAGS (`admin`: CAP_NET_ADMIN), in the socket's namespace `net`:
/// lo is the only device (ENODEV for any other). The answer is `r` with
/// its value filled in.
pub(crate) fn dev_ioctl(net: &Net, admin: bool, req: u64, mut r: Ifreq) -> Result<Ifreq, Errno> {
    let name = r.ifr_name.split(|&b| b == 0).next().unwrap_or_default();
    // ifr_flags is a short: the flags' low 16 bits.
    let short = |r: &Ifreq| u16::from_ne_bytes([r.ifr_data[0], r.ifr_data[1]]) as u32;
    if req == SIOCSIFFLAGS {
        if !admin {
            return Err(EPERM);
        }
        if name != b"lo" {
            return Err(ENODEV);
        }
        net.set_lo_flags(short(&r))?;
        return Ok(r);
    }
    let value: i32 = match req {
        SIOCGIFNAME => {
            let index = i32::from_ne_bytes([r.ifr_data[0], r.ifr_data[1], r.ifr_data[2], r.ifr_data[3]]);
            if index != 1 {
                return Err(ENODEV);
            }
            r.ifr_name = [0; 16];
            r.ifr_name[..2].copy_from_slice(b"lo");
            return Ok(r);
        }
        _ if name != b"lo" => return Err(ENODEV),
        SIOCGIFINDEX => 1,
        SIOCGIFFLAGS => (net.lo_flags() & 0xffff) as i32,
        SIOCGIFMTU => LO_MTU as i32,
        _ => return Err(ENOTTY),
    };
    r.ifr_data[..4].copy_from_slice(&value.to_ne_bytes());
    Ok(r)
}
