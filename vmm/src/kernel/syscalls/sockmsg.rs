//! Data through sockets: send, sendto, sendmsg, sendmmsg, recv, recvfrom,
//! recvmsg, recvmmsg, and read/write/readv/writev on a socket. Here the
//! arguments are decoded (net/socket.c's ___sys_sendmsg and
//! ___sys_recvmsg: the msghdr, its iovec, its control messages as
//! net/core/scm.c reads and writes them); the rules of each family are
//! `kernel::net`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use super::super::abi::capability::{CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::socket::*;
use super::super::abi::time::{Timespec, Timeval};
use super::super::abi::uio::{Iovec, UIO_MAXIOV};
use super::super::errno::*;
use super::super::files::{Fd, OpenFile};
use super::super::net::addr::SockAddr;
use super::super::net::buffer::{Control, Got, Iov, Outgoing};
use super::super::net::{self, Socket};
use super::super::task::Ctx;
use super::io::MAX_RW_COUNT;
use super::socket::{find_sock_path, read_sockaddr, sock_of, write_sockaddr};

/// net.core.optmem_max: the most control data one sendmsg may pass.
const OPTMEM_MAX: u64 = 131_072;

/// One buffer (read, write, send, recv), capped at MAX_RW_COUNT.
fn one_iov(buf: u64, len: u64) -> Iov {
    Iov::new(vec![(buf, len.min(MAX_RW_COUNT))])
}

/// import_iovec: at most UIO_MAXIOV vectors (`too_many` otherwise), a
/// total that fits a ssize_t (EINVAL), capped at MAX_RW_COUNT.
fn read_iov(ctx: &mut Ctx, iov: u64, cnt: u64, too_many: Errno) -> Result<Iov, Errno> {
    if cnt > UIO_MAXIOV {
        return Err(too_many);
    }
    let mut raw = vec![Iovec::default(); cnt as usize];
    ctx.read_user(iov, raw.as_mut_bytes())?;
    let mut v = Vec::with_capacity(raw.len());
    let mut total: u64 = 0;
    for c in raw {
        if (c.iov_len as i64) < 0 {
            return Err(EINVAL);
        }
        let len = c.iov_len.min(MAX_RW_COUNT - total);
        total += len;
        v.push((c.iov_base, len));
    }
    Ok(Iov::new(v))
}

/// __scm_send: SOL_SOCKET messages only (others are left to the
/// protocol, which takes none); SCM_RIGHTS only on AF_UNIX, at most
/// SCM_MAX_FD descriptors (EINVAL), each open (EBADF); SCM_CREDENTIALS
/// the sender's own ids unless privileged (EPERM).
fn parse_control(ctx: &mut Ctx, s: &Socket, ptr: u64, len: u64) -> Result<Control, Errno> {
    let mut c = Control::default();
    if len == 0 {
        return Ok(c);
    }
    if len > i32::MAX as u64 || len > OPTMEM_MAX {
        return Err(ENOBUFS);
    }
    let mut buf = vec![0u8; len as usize];
    ctx.read_user(ptr, &mut buf)?;
    let hdr = size_of::<Cmsghdr>();
    let mut at = 0;
    while at + hdr <= buf.len() {
        let h = Cmsghdr::read_from_bytes(&buf[at..at + hdr]).map_err(|_| EINVAL)?;
        let clen = h.cmsg_len as usize;
        if clen < hdr || clen > buf.len() - at {
            return Err(EINVAL);
        }
        let data = &buf[at + hdr..at + clen];
        if h.cmsg_level == SOL_SOCKET {
            match h.cmsg_type {
                SCM_RIGHTS => {
                    if s.domain != AF_UNIX {
                        return Err(EINVAL);
                    }
                    let n = data.len() / 4;
                    if c.rights.len() + n > SCM_MAX_FD {
                        return Err(EINVAL);
                    }
                    for i in 0..n {
                        let fd = i32::from_ne_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
                        c.rights.push(ctx.proc().files.file(fd)?);
                    }
                }
                SCM_CREDENTIALS => {
                    if data.len() != size_of::<Ucred>() {
                        return Err(EINVAL);
                    }
                    let u = Ucred::read_from_bytes(data).map_err(|_| EINVAL)?;
                    let p = ctx.proc();
                    let cr = &p.cred;
                    let pid_ok = u.pid == ctx.pid as i32 || cr.capable(CAP_SYS_ADMIN);
                    let uid_ok = [cr.uid, cr.euid, cr.suid].contains(&u.uid) || cr.capable(CAP_SETUID);
                    let gid_ok = [cr.gid, cr.egid, cr.sgid].contains(&u.gid) || cr.capable(CAP_SETGID);
                    if !(pid_ok && uid_ok && gid_ok) {
                        return Err(EPERM);
                    }
                    c.cred = Some(u);
                }
                _ => return Err(EINVAL),
            }
        }
        at += cmsg_align(clen);
    }
    Ok(c)
}

/// sock_sendmsg with unix path names resolved by the VFS.
fn send(
    ctx: &mut Ctx,
    f: &OpenFile,
    s: &Arc<Socket>,
    iov: &Iov,
    dest: Option<Vec<u8>>,
    c: Control,
    flags: u32,
) -> SysResult {
    net::send(ctx, f, s, Outgoing { iov, dest, control: c, flags }, find_sock_path)
}

/// read() on a socket: a receive with no flags (descriptors passed along
/// are closed: nowhere to put them).
pub(crate) fn read_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, buf: u64, count: u64) -> SysResult {
    let g = net::recv(ctx, f, s, &one_iov(buf, count), 0)?;
    Ok(g.n as i64)
}

/// write() on a socket: a send with no flags.
pub(crate) fn write_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, buf: u64, count: u64) -> SysResult {
    send(ctx, f, s, &one_iov(buf, count), None, Control::default(), 0)
}

/// readv() on a socket: one receive into all the vectors.
pub(crate) fn readv_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, iov: u64, cnt: u64) -> SysResult {
    let iov = read_iov(ctx, iov, cnt, EINVAL)?;
    Ok(net::recv(ctx, f, s, &iov, 0)?.n as i64)
}

/// writev() on a socket: one send of all the vectors.
pub(crate) fn writev_sock(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, iov: u64, cnt: u64) -> SysResult {
    let iov = read_iov(ctx, iov, cnt, EINVAL)?;
    send(ctx, f, s, &iov, None, Control::default(), 0)
}

pub(super) fn sendto(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let iov = one_iov(a[1], a[2]);
    let dest = if a[4] != 0 { Some(read_sockaddr(ctx, a[4], a[5])?) } else { None };
    send(ctx, &f, &s, &iov, dest, Control::default(), a[3] as u32)
}

pub(super) fn recvfrom(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let iov = one_iov(a[1], a[2]);
    let g = net::recv(ctx, &f, &s, &iov, a[3] as u32)?;
    if a[4] != 0 {
        write_sockaddr(ctx, g.from.as_ref(), a[4], a[5])?;
    }
    Ok(g.n as i64)
}

/// sendmsg of the msghdr at `at`.
fn sendmsg_at(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, at: u64, flags: u32) -> SysResult {
    let m: Msghdr = ctx.read_struct(at)?;
    let iov = read_iov(ctx, m.msg_iov, m.msg_iovlen, EMSGSIZE)?;
    let dest = if m.msg_name != 0 && m.msg_namelen != 0 {
        // copy_msghdr_from_user clamps the length to sockaddr_storage.
        Some(read_sockaddr(ctx, m.msg_name, (m.msg_namelen as i32).clamp(-1, 128) as i64 as u64)?)
    } else {
        None
    };
    let c = parse_control(ctx, s, m.msg_control, m.msg_controllen)?;
    send(ctx, f, s, &iov, dest, c, flags)
}

pub(super) fn sendmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    sendmsg_at(ctx, &f, &s, a[1], a[2] as u32)
}

/// put_cmsg: one control message into the buffer, truncated (and
/// MSG_CTRUNC) where it does not fit.
fn put_cmsg(ctx: &mut Ctx, m: &Msghdr, used: &mut usize, got: &mut Got, ty: i32, data: &[u8]) -> Result<(), Errno> {
    let hdr = size_of::<Cmsghdr>();
    let space = (m.msg_controllen as usize).saturating_sub(*used);
    if m.msg_control == 0 || space < hdr {
        got.flags |= MSG_CTRUNC;
        return Ok(());
    }
    let mut cmlen = hdr + data.len();
    if space < cmlen {
        got.flags |= MSG_CTRUNC;
        cmlen = space;
    }
    let h = Cmsghdr { cmsg_len: cmlen as u64, cmsg_level: SOL_SOCKET, cmsg_type: ty };
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&data[..cmlen - hdr]);
    ctx.write_user(m.msg_control + *used as u64, &out)?;
    *used += cmsg_align(cmlen).min(space);
    Ok(())
}

/// __sock_recv_timestamp: SO_TIMESTAMP's timeval or SO_TIMESTAMPNS's
/// timespec (the old or new type: the same layout on 64-bit), then
/// SO_TIMESTAMPING's three timespecs (software, two unused) when it asks
/// for software receive stamps.
fn put_timestamps(ctx: &mut Ctx, s: &Socket, m: &Msghdr, used: &mut usize, got: &mut Got) -> Result<(), Errno> {
    let Some(ts) = got.stamp else { return Ok(()) };
    let o = s.lock().opts.clone();
    if o.rcvtstamp {
        let (ty, v) = match (o.rcvtstampns, o.tstamp_new) {
            (false, new) => {
                let tv = Timeval { tv_sec: ts.tv_sec, tv_usec: ts.tv_nsec / 1000 };
                (if new { SO_TIMESTAMP_NEW } else { SO_TIMESTAMP_OLD }, tv.as_bytes().to_vec())
            }
            (true, new) => (if new { SO_TIMESTAMPNS_NEW } else { SO_TIMESTAMPNS_OLD }, ts.as_bytes().to_vec()),
        };
        put_cmsg(ctx, m, used, got, ty, &v)?;
    }
    let soft = SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE;
    if o.tsflags & soft == soft {
        let three = [ts, Timespec::default(), Timespec::default()];
        let ty = if o.tstamp_new { SO_TIMESTAMPING_NEW } else { SO_TIMESTAMPING_OLD };
        put_cmsg(ctx, m, used, got, ty, three.as_bytes())?;
    }
    Ok(())
}

/// recvmsg into the msghdr at `at`: data, the sender's address, control
/// messages (credentials if SO_PASSCRED, then descriptors, installed as
/// many as fit), and the lengths and flags written back.
fn recvmsg_at(ctx: &mut Ctx, f: &Arc<OpenFile>, s: &Arc<Socket>, at: u64, flags: u32) -> SysResult {
    let m: Msghdr = ctx.read_struct(at)?;
    if (m.msg_namelen as i32) < 0 {
        return Err(EINVAL);
    }
    let iov = read_iov(ctx, m.msg_iov, m.msg_iovlen, EMSGSIZE)?;
    let mut got = net::recv(ctx, f, s, &iov, flags)?;
    let name = got.from.as_ref().map(SockAddr::encode).unwrap_or_default();
    if m.msg_name != 0 {
        let n = name.len().min((m.msg_namelen as usize).min(128));
        if n > 0 {
            ctx.write_user(m.msg_name, &name[..n])?;
        }
    }
    let mut used = 0usize;
    put_timestamps(ctx, s, &m, &mut used, &mut got)?;
    if s.domain == AF_UNIX && s.lock().opts.passcred {
        let c = got.cred.unwrap_or(Ucred { pid: 0, uid: 65534, gid: 65534 });
        put_cmsg(ctx, &m, &mut used, &mut got, SCM_CREDENTIALS, c.as_bytes())?;
    }
    let rights = std::mem::take(&mut got.rights);
    if !rights.is_empty() {
        let hdr = size_of::<Cmsghdr>();
        let space = (m.msg_controllen as usize).saturating_sub(used);
        let fit = if m.msg_control == 0 { 0 } else { space.saturating_sub(hdr) / 4 };
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
        let mut fds: Vec<u8> = Vec::new();
        for file in rights.iter().take(fit) {
            match ctx.k.fd_install(ctx.pid, Fd { file: file.clone(), cloexec }, 0, limit) {
                Ok(fd) => fds.extend_from_slice(&fd.to_ne_bytes()),
                Err(_) => break,
            }
        }
        if fds.len() / 4 < rights.len() {
            got.flags |= MSG_CTRUNC;
        }
        if !fds.is_empty() {
            let save = got.flags;
            put_cmsg(ctx, &m, &mut used, &mut got, SCM_RIGHTS, &fds)?;
            got.flags = save | (got.flags & MSG_CTRUNC);
        }
    }
    drop(rights);
    ctx.write_u32(at + std::mem::offset_of!(Msghdr, msg_namelen) as u64, name.len() as u32)?;
    ctx.write_u64(at + std::mem::offset_of!(Msghdr, msg_controllen) as u64, used as u64)?;
    ctx.write_u32(at + std::mem::offset_of!(Msghdr, msg_flags) as u64, got.flags)?;
    Ok(got.n as i64)
}

pub(super) fn recvmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    recvmsg_at(ctx, &f, &s, a[1], a[2] as u32)
}

/// sendmmsg: each message in turn (msg_len set), up to UIO_MAXIOV; an
/// error after the first counts only as the end.
pub(super) fn sendmmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let vlen = (a[2] as u32).min(UIO_MAXIOV as u32) as u64;
    let mut done = 0u64;
    while done < vlen {
        let at = a[1] + done * size_of::<Mmsghdr>() as u64;
        match sendmsg_at(ctx, &f, &s, at, a[3] as u32) {
            Ok(n) => ctx.write_u32(at + size_of::<Msghdr>() as u64, n as u32)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
    }
    Ok(done as i64)
}

/// recvmmsg: up to `vlen` messages; MSG_WAITFORONE makes all but the
/// first non-blocking; the timeout is checked between messages.
pub(super) fn recvmmsg(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let deadline = if a[4] != 0 {
        let (sec, ns) = super::time::read_timespec(ctx, a[4])?;
        if sec < 0 || !(0..1_000_000_000).contains(&ns) {
            return Err(EINVAL);
        }
        Some(Instant::now() + Duration::new(sec as u64, ns as u32))
    } else {
        None
    };
    let vlen = (a[2] as u32).min(UIO_MAXIOV as u32) as u64;
    let mut flags = a[3] as u32;
    let mut done = 0u64;
    while done < vlen {
        let at = a[1] + done * size_of::<Mmsghdr>() as u64;
        match recvmsg_at(ctx, &f, &s, at, flags) {
            Ok(n) => ctx.write_u32(at + size_of::<Msghdr>() as u64, n as u32)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(done as i64)
}
