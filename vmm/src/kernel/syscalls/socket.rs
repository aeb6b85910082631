//! The socket calls that make sockets and connections: socket, socketpair,
//! bind, listen, accept/accept4, connect, shutdown, getsockname and
//! getpeername. Here the arguments are decoded (net/socket.c's part:
//! descriptors, addresses copied in and out, path names resolved); the
//! rules are `kernel::net`'s. Data moves in `sockmsg`, options in
//! `sockopt`.

use std::sync::Arc;

use super::super::abi::fcntl::{AT_FDCWD, O_NONBLOCK, O_RDWR};
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::socket::*;
use super::super::abi::stat::{S_IFMT, S_IFSOCK};
use super::super::cred::MAY_WRITE;
use super::super::errno::*;
use super::super::files::{Fd, FileKind, OpenFile};
use super::super::net::addr::{decode, Decoded, SockAddr, Use};
use super::super::net::{self, inet, listen, netlink, tcp, udp, unix, Socket};
use super::super::task::Ctx;
use super::namei::{cred, existing, layer_room, lookup, may_create, named};

/// sizeof(struct sockaddr_storage): the longest address a call takes.
const SOCKADDR_STORAGE: u64 = 128;

/// The open file and socket behind `fd`: EBADF, or ENOTSOCK for another
/// kind of file.
pub(super) fn sock_of(ctx: &Ctx, fd: u64) -> Result<(Arc<OpenFile>, Arc<Socket>), Errno> {
    let f = ctx.proc().files.file(fd as i32)?;
    let s = match &f.kind {
        FileKind::Socket(s) => s.clone(),
        _ => return Err(ENOTSOCK),
    };
    Ok((f, s))
}

/// move_addr_to_kernel: an address of at most sockaddr_storage's size.
pub(super) fn read_sockaddr(ctx: &mut Ctx, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = len as u32 as i32;
    if len < 0 || len as u64 > SOCKADDR_STORAGE {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    if len > 0 {
        ctx.read_user(addr, &mut raw)?;
    }
    Ok(raw)
}

/// move_addr_to_user: as much of `a` as `*lenp` holds, and its full
/// length back in `*lenp` (a negative length is EINVAL).
pub(super) fn write_sockaddr(ctx: &mut Ctx, a: Option<&SockAddr>, addr: u64, lenp: u64) -> Result<(), Errno> {
    let bytes = a.map(SockAddr::encode).unwrap_or_default();
    let ulen = ctx.read_u32(lenp)? as i32;
    if ulen < 0 {
        return Err(EINVAL);
    }
    let n = (ulen as usize).min(bytes.len());
    if n > 0 {
        ctx.write_user(addr, &bytes[..n])?;
    }
    ctx.write_u32(lenp, bytes.len() as u32)
}

/// unix_find_bsd's lookup of a path name: the node must be a socket
/// (ECONNREFUSED) the caller may write.
pub(super) fn find_sock_path(ctx: &mut Ctx, p: &[u8]) -> Result<(u64, u64), Errno> {
    let path = std::str::from_utf8(p).map_err(|_| ENOENT)?;
    let l = lookup(ctx, AT_FDCWD, path, true)?;
    let m = l.node.meta();
    if m.mode & S_IFMT != S_IFSOCK {
        return Err(ECONNREFUSED);
    }
    ctx.proc().cred.permission(m.mode, m.uid, m.gid, MAY_WRITE)?;
    Ok((m.dev, m.ino))
}

/// unix_bind's node: an S_IFSOCK node made in the sandbox's view
/// (EADDRINUSE if the name exists).
fn make_sock_node(ctx: &mut Ctx, p: &[u8]) -> Result<(u64, u64), Errno> {
    let path = std::str::from_utf8(p).map_err(|_| ENOENT)?;
    let n = named(ctx, AT_FDCWD, path)?;
    if n.name.is_empty() || existing(ctx, &n, false).is_ok() {
        return Err(EADDRINUSE);
    }
    let c = cred(ctx);
    may_create(&n.dir.node, &c)?;
    layer_room(ctx, &n.dir.node, None)?;
    let mode = 0o777 & !ctx.proc().fs.umask();
    let node = ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, S_IFSOCK, mode, "", &c)?;
    let m = node.meta();
    Ok((m.dev, m.ino))
}

/// A new open file for socket `s`, installed at the lowest free
/// descriptor.
fn install(ctx: &mut Ctx, s: Arc<Socket>, flags: u32) -> SysResult {
    let path = format!("socket:[{}]", s.ino);
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let f = OpenFile::new(FileKind::Socket(s), O_RDWR | nonblock, path);
    let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
    let fd = ctx.k.fd_install(ctx.pid, Fd { file: f, cloexec: flags & SOCK_CLOEXEC != 0 }, 0, limit)?;
    Ok(fd as i64)
}

fn check_type_flags(ty: u64) -> Result<u32, Errno> {
    let ty = ty as u32;
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    Ok(ty)
}

pub(super) fn socket(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ty = check_type_flags(a[1] & 0xffff_ffff)?;
    let s = net::create(ctx, a[0] & 0xffff_ffff, ty, a[2] & 0xffff_ffff)?;
    install(ctx, s, ty)
}

pub(super) fn socketpair(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ty = check_type_flags(a[1] & 0xffff_ffff)?;
    let (x, y) = net::pair(ctx, a[0] & 0xffff_ffff, ty, a[2] & 0xffff_ffff)?;
    let fx = install(ctx, x, ty)?;
    let fy = match install(ctx, y, ty) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.proc_mut().files.close(fx as i32);
            return Err(e);
        }
    };
    let sv = [fx as i32, fy as i32];
    if let Err(e) = ctx.write_struct(a[3], &sv) {
        let _ = ctx.proc_mut().files.close(fx as i32);
        let _ = ctx.proc_mut().files.close(fy as i32);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn bind(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    match decode(s.domain, &raw, Use::Bind)? {
        Decoded::Addr(SockAddr::Unix(n)) => unix::bind(&s, n, |p| make_sock_node(ctx, p))?,
        Decoded::Addr(SockAddr::Netlink { pid, groups }) => netlink::bind(ctx, &s, pid, groups)?,
        Decoded::Addr(addr) => inet::bind(ctx, &s, addr)?,
        Decoded::Unspec => return Err(EAFNOSUPPORT),
    }
    Ok(0)
}

pub(super) fn listen(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    // Netlink has sock_no_listen, sock_no_accept and sock_no_shutdown.
    if s.domain == AF_NETLINK {
        return Err(EOPNOTSUPP);
    }
    listen::listen(ctx, &s, a[1] as u32)?;
    Ok(0)
}

pub(super) fn connect(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (f, s) = sock_of(ctx, a[0])?;
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    let d = decode(s.domain, &raw, Use::Connect)?;
    if s.domain == AF_NETLINK {
        return netlink::connect(ctx, &s, d);
    }
    match d {
        // A datagram socket's AF_UNSPEC dissolves its association.
        Decoded::Unspec if s.ty == SOCK_DGRAM => {
            s.disconnect();
            Ok(0)
        }
        // tcp_disconnect of an unconnected socket.
        Decoded::Unspec => Ok(0),
        Decoded::Addr(SockAddr::Unix(n)) if s.ty == SOCK_DGRAM => unix::connect_dgram(ctx, &s, &n, find_sock_path),
        Decoded::Addr(SockAddr::Unix(n)) => unix::connect_stream(ctx, &f, &s, n, find_sock_path),
        Decoded::Addr(addr) if s.ty == SOCK_DGRAM => udp::connect(ctx, &s, &addr),
        Decoded::Addr(addr) => tcp::connect(ctx, &f, &s, addr),
    }
}

pub(super) fn accept4(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[3] as u32;
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (f, s) = sock_of(ctx, a[0])?;
    if s.ty == SOCK_DGRAM || s.domain == AF_NETLINK {
        return Err(EOPNOTSUPP);
    }
    if s.lock().phase != net::Phase::Listening {
        return Err(EINVAL);
    }
    // The length is read first: a bad pointer costs no connection.
    if a[1] != 0 {
        let len = ctx.read_u32(a[2])? as i32;
        if len < 0 {
            return Err(EINVAL);
        }
    }
    let conn = listen::accept(ctx, &f, &s)?;
    let remote = conn.lock().remote.clone();
    let fd = install(ctx, conn, flags)?;
    if a[1] != 0 {
        if let Err(e) = write_sockaddr(ctx, remote.as_ref(), a[1], a[2]) {
            let _ = ctx.proc_mut().files.close(fd as i32);
            return Err(e);
        }
    }
    Ok(fd)
}

pub(super) fn accept(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    accept4(ctx, [a[0], a[1], a[2], 0, 0, 0])
}

pub(super) fn shutdown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let how = a[1] as i32;
    let (_, s) = sock_of(ctx, a[0])?;
    if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
        return Err(EINVAL);
    }
    if s.domain == AF_NETLINK {
        return Err(EOPNOTSUPP);
    }
    // SHUT_RD, SHUT_WR, SHUT_RDWR are the shutdown bits less one.
    let mode = (how + 1) as u8;
    if s.domain == AF_UNIX {
        unix::shutdown(&s, mode);
    } else {
        tcp::shutdown(&s, mode)?;
    }
    Ok(0)
}

pub(super) fn getsockname(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let name = s.local_name();
    write_sockaddr(ctx, Some(&name), a[1], a[2])?;
    Ok(0)
}

pub(super) fn getpeername(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    // netlink_getname of the peer: its port (0, the kernel, by default).
    let remote = if s.domain == AF_NETLINK {
        s.lock().remote.clone().unwrap_or(SockAddr::Netlink { pid: 0, groups: 0 })
    } else {
        tcp::peer_name(&s)?
    };
    write_sockaddr(ctx, Some(&remote), a[1], a[2])?;
    Ok(0)
}
