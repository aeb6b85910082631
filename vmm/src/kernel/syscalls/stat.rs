//! What a file is: the stat family (stat, lstat, fstat, newfstatat,
//! statx), access and faccessat, readlink, and statfs.

use super::super::abi::fcntl::*;
use super::super::abi::limits::NAME_MAX;
use super::super::abi::stat::*;
use super::super::cred::{Cred, MAY_WRITE};
use super::super::errno::*;
use super::super::files::overlay::Body;
use super::super::files::vfs::{Layer, Lookup, Meta, Node, SYSFS};
use super::super::files::*;
use super::super::procfs::{self, Links, ProcNode};
use super::super::task::Ctx;
use super::namei::{base_dir, cred, lookup, read_path};
use crate::arch::PAGE_SIZE;

// What stat shows of a file: the layout is Linux's, the filling ours.
impl Stat {
    fn of(m: &Meta) -> Self {
        Stat {
            dev: m.dev,
            ino: m.ino,
            // u64 and i64 on x86-64, u32 and i32 on arm64.
            nlink: m.nlink as _,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            rdev: m.rdev,
            size: m.size as i64,
            blksize: m.blksize as _,
            blocks: m.blocks as i64,
            atime: m.atime.0 as u64,
            atime_nsec: m.atime.1 as u64,
            mtime: m.mtime.0 as u64,
            mtime_nsec: m.mtime.1 as u64,
            ctime: m.ctime.0 as u64,
            ctime_nsec: m.ctime.1 as u64,
            ..Default::default()
        }
    }
}

/// What stat says of a node.
pub(super) fn meta_of(ctx: &Ctx, l: &Lookup) -> Result<Meta, Errno> {
    Ok(match &l.node {
        Node::Proc(c) => {
            let n = procfs::lookup(&ctx.k, ctx.pid, c)?;
            let ino =
                c.iter().fold(0x1000u64, |h, s| h.wrapping_mul(31).wrapping_add(s.bytes().map(u64::from).sum::<u64>()));
            // A process's files are its effective user's; the rest root's.
            let owner = c.first().and_then(|p| p.parse::<u32>().ok()).and_then(|p| ctx.k.tasks.proc(p));
            let (uid, gid) = owner.map_or((0, 0), |p| (p.cred.euid, p.cred.egid));
            Meta { dev: 22, ino, mode: procfs::mode_of(&n), nlink: 1, uid, gid, blksize: 1024, ..Default::default() }
        }
        n => n.meta(),
    })
}

/// What stat says of an open file, for caller `cred`.
pub(super) fn fmeta(f: &OpenFile, cred: &Cred) -> Meta {
    let (uid, gid) = (cred.fsuid, cred.fsgid);
    match &f.kind {
        // A host file's size is the cache's (writes may not have reached
        // the host yet).
        FileKind::File(n) => match &n.node {
            Node::Mem(i) => i.stat(),
            Node::Host { .. } => Meta { size: n.data.size(), ..n.node.stat_now() },
            _ => Meta { size: n.data.size(), ..n.meta },
        },
        FileKind::Dir(d) => match &d.at.node {
            Node::Proc(_) | Node::Synthetic { .. } => d.meta,
            n => n.stat_now(),
        },
        FileKind::Path(l) => l.node.stat_now(),
        FileKind::Fifo(fi) => fi.meta(),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => {
            Meta { dev: 14, ino: 1, mode: S_IFIFO | 0o600, nlink: 1, uid, gid, blksize: 4096, ..Default::default() }
        }
        FileKind::Input(i) => host_stdio_meta(i.host_fd(), cred),
        FileKind::Output(o) => host_stdio_meta(o.host_fd(), cred),
        FileKind::Proc { .. } => {
            Meta { dev: 22, mode: S_IFREG | 0o444, nlink: 1, uid, gid, blksize: 1024, ..Default::default() }
        }
        FileKind::Socket(s) => Meta {
            dev: crate::kernel::net::SOCKFS_DEV,
            ino: s.ino,
            mode: S_IFSOCK | 0o777,
            nlink: 1,
            uid,
            gid,
            blksize: 4096,
            ..Default::default()
        },
        FileKind::Null => Meta::device(3),
        FileKind::Zero => Meta::device(5),
        FileKind::Random => Meta::device(9),
        // The anonymous inode: root's, mode 0600 with no file type.
        FileKind::Anon(_) => {
            use super::super::files::anon::{ANON_DEV, ANON_INO};
            Meta { dev: ANON_DEV, ino: ANON_INO, mode: 0o600, nlink: 1, blksize: 4096, ..Default::default() }
        }
    }
}

/// The host's own stdio, as fstat sees it (a terminal, a pipe, a file).
fn host_stdio_meta(fd: Option<i32>, cred: &Cred) -> Meta {
    let (uid, gid) = (cred.fsuid, cred.fsgid);
    let pipe = Meta { dev: 14, ino: 2, mode: S_IFIFO | 0o600, nlink: 1, uid, gid, blksize: 4096, ..Default::default() };
    let Some(fd) = fd else { return pipe };
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills the struct; on failure it stays zeroed.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return pipe;
    }
    // SAFETY: initialised by fstat.
    let st = unsafe { st.assume_init() };
    // The terminal or pipe is the caller's, as its own would be.
    Meta { uid, gid, ..Meta::of_stat(&st) }
}

fn stat_path(ctx: &mut Ctx, dirfd: i32, path: &str, buf: u64, follow: bool) -> SysResult {
    let l = lookup(ctx, dirfd, path, follow)?;
    let m = meta_of(ctx, &l)?;
    ctx.write_struct(buf, &Stat::of(&m))?;
    Ok(0)
}

pub(super) fn stat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    stat_path(ctx, AT_FDCWD, &p, a[1], true)
}

pub(super) fn lstat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    stat_path(ctx, AT_FDCWD, &p, a[1], false)
}

pub(super) fn fstat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    ctx.write_struct(a[1], &Stat::of(&fmeta(&f, &ctx.proc().cred)))?;
    Ok(0)
}

/// What an empty path with AT_EMPTY_PATH names: `dirfd`'s file, or the
/// cwd.
fn empty_path_meta(ctx: &mut Ctx, dirfd: i32) -> Result<Meta, Errno> {
    if dirfd == AT_FDCWD {
        let cwd = ctx.proc().fs.cwd();
        return meta_of(ctx, &cwd);
    }
    let f = ctx.proc().files.file(dirfd)?;
    Ok(fmeta(&f, &ctx.proc().cred))
}

pub(super) fn newfstatat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (dirfd, flags) = (a[0] as i32, a[3]);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, a[1])?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        let m = empty_path_meta(ctx, dirfd)?;
        ctx.write_struct(a[2], &Stat::of(&m))?;
        return Ok(0);
    }
    stat_path(ctx, dirfd, &p, a[2], flags & AT_SYMLINK_NOFOLLOW == 0)
}

pub(super) fn statx(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (dirfd, path, flags, mask, buf) = (a[0] as i32, a[1], a[2], a[3] as u32, a[4]);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX__RESERVED != 0
    {
        return Err(EINVAL);
    }
    let p = read_path(ctx, path)?;
    let m = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        empty_path_meta(ctx, dirfd)?
    } else {
        let l = lookup(ctx, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        meta_of(ctx, &l)?
    };
    let t = |x: (i64, i64)| StatxTimestamp { sec: x.0, nsec: x.1 as u32, pad: 0 };
    // new_decode_dev: major in bits 8..20, minor in 0..8 and 20..32.
    let dev = |d: u64| (((d >> 8) & 0xfff) as u32, ((d & 0xff) | ((d >> 12) & 0xfff00)) as u32);
    let sx = Statx {
        mask: STATX_BASIC_STATS,
        blksize: m.blksize as u32,
        nlink: m.nlink as u32,
        uid: m.uid,
        gid: m.gid,
        mode: m.mode as u16,
        ino: m.ino,
        size: m.size,
        blocks: m.blocks,
        atime: t(m.atime),
        btime: t(m.ctime),
        ctime: t(m.ctime),
        mtime: t(m.mtime),
        rdev_major: dev(m.rdev).0,
        rdev_minor: dev(m.rdev).1,
        dev_major: dev(m.dev).0,
        dev_minor: dev(m.dev).1,
        ..Default::default()
    };
    ctx.write_struct(buf, &sx)?;
    Ok(0)
}

fn check_access(ctx: &mut Ctx, dirfd: i32, path: u64, mode: u64, flags: u64) -> SysResult {
    if mode & !u64::from(S_IRWXO) != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, path)?;
    // access() checks with the real ids (access_override_creds),
    // AT_EACCESS with the effective ones.
    let cred = if flags & AT_EACCESS != 0 { cred(ctx) } else { cred(ctx).for_access() };
    let base = base_dir(ctx, dirfd, &p)?;
    let links = Links { k: &ctx.k, pid: ctx.pid };
    let l = ctx.k.files.vfs().resolve(&base, &p, flags & AT_SYMLINK_NOFOLLOW == 0, &links, &cred)?;
    let m = meta_of(ctx, &l)?;
    if mode & u64::from(MAY_WRITE) != 0 && l.node.layer() == Layer::ReadOnly {
        return Err(EROFS);
    }
    if mode != 0 {
        cred.permission(m.mode, m.uid, m.gid, mode as u32)?;
    }
    Ok(0)
}

pub(super) fn access(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    check_access(ctx, AT_FDCWD, a[0], a[1], 0)
}

pub(super) fn faccessat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    check_access(ctx, a[0] as i32, a[1], a[2], 0)
}

pub(super) fn faccessat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    check_access(ctx, a[0] as i32, a[1], a[2], a[3])
}

fn do_readlink(ctx: &mut Ctx, dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, path)?;
    let l = lookup(ctx, dirfd, &p, false)?;
    let target = match &l.node {
        Node::Host { fd, meta, .. } if meta.is_symlink() => fd.readlink()?,
        Node::Mem(i) => match &i.body {
            Body::Symlink(t) => t.clone(),
            _ => return Err(EINVAL),
        },
        Node::Proc(c) => match procfs::lookup(&ctx.k, ctx.pid, c)? {
            ProcNode::Link(t) => t,
            _ => return Err(EINVAL),
        },
        _ => return Err(EINVAL),
    };
    let n = target.len().min(size as usize);
    ctx.write_user(buf, &target.as_bytes()[..n])?;
    Ok(n as i64)
}

pub(super) fn readlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_readlink(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub(super) fn readlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_readlink(ctx, a[0] as i32, a[1], a[2], a[3])
}

fn statfs_of(ctx: &Ctx, node: &Node) -> Statfs {
    // A bind is the host's file system, as the host's statfs has it (read
    // only for a read-only bind), through the object's own descriptor.
    if let Node::Host { fd, layer: layer @ (Layer::ReadOnly | Layer::ReadWrite), .. } = node {
        if let Ok(mut h) = fd.statfs() {
            if *layer == Layer::ReadOnly {
                h.flags |= ST_RDONLY;
            }
            return h;
        }
    }
    let f_type = match node {
        Node::Proc(c) if c.first().is_some_and(|c| c == SYSFS) => SYSFS_MAGIC,
        Node::Proc(_) => PROC_SUPER_MAGIC,
        // /dev, and the program's own tmpfs mounts.
        Node::Device(_) => TMPFS_MAGIC,
        Node::Mem(i) if i.mount != 0 => TMPFS_MAGIC,
        _ => OVERLAYFS_SUPER_MAGIC,
    };
    // The root is an overlay whose upper layer is a tmpfs of half of RAM
    // and as many inodes.
    let total = ctx.k.phys.budget.resident_pages / 2;
    let free = total.saturating_sub(ctx.k.layer_pages());
    let o = &ctx.k.files.vfs().overlay;
    let files = o.max_inodes();
    let ffree = files.saturating_sub(o.usage().inodes.load(std::sync::atomic::Ordering::Relaxed));
    Statfs {
        f_type,
        bsize: PAGE_SIZE as i64,
        blocks: total,
        bfree: free,
        bavail: free,
        files,
        ffree,
        namelen: NAME_MAX as i64,
        frsize: PAGE_SIZE as i64,
        ..Default::default()
    }
}

pub(super) fn statfs(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    let s = statfs_of(ctx, &l.node);
    ctx.write_struct(a[1], &s)?;
    Ok(0)
}

pub(super) fn fstatfs(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    // The descriptor's own file, not its name looked up again.
    let node = match &f.kind {
        FileKind::File(n) => n.node.clone(),
        FileKind::Dir(d) => d.at.node.clone(),
        FileKind::Path(l) => l.node.clone(),
        FileKind::Proc { .. } => Node::Proc(Vec::new()),
        _ => Node::Synthetic { meta: Meta::default(), entries: Vec::new() },
    };
    let s = statfs_of(ctx, &node);
    ctx.write_struct(a[1], &s)?;
    Ok(0)
}
