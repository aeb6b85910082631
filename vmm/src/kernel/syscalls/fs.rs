//! File-system syscalls: opening files of the view, stat in its forms,
//! directories, descriptors (dup, fcntl, pipes), and the calls that change
//! the file system. Reads and writes of files go through the page cache.

use std::sync::Arc;

use zerocopy::IntoBytes;

use super::super::abi::dirent::{Dirent64, DT_DIR};
use super::super::abi::fcntl::*;
use super::super::abi::limits::{NAME_MAX, PATH_MAX};
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::stat::*;
use super::super::cred::{Cred, MAY_EXEC, MAY_READ, MAY_WRITE};
use super::super::errno::*;
use super::super::files::overlay::Body;
use super::super::files::vfs::{Layer, Lookup, Meta, Node, OpenNode};
use super::super::files::*;
use super::super::procfs::{self, Links, ProcNode};
use super::super::task::Ctx;
use super::fschange;
use crate::arch::PAGE_SIZE;

// What stat shows of a file: the layout is Linux's, the filling ours.
impl Stat {
    pub fn of(m: &Meta) -> Self {
        Stat {
            dev: m.dev,
            ino: m.ino,
            nlink: m.nlink,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            pad0: 0,
            rdev: m.rdev,
            size: m.size as i64,
            blksize: m.blksize as i64,
            blocks: m.blocks as i64,
            atime: m.atime.0 as u64,
            atime_nsec: m.atime.1 as u64,
            mtime: m.mtime.0 as u64,
            mtime_nsec: m.mtime.1 as u64,
            ctime: m.ctime.0 as u64,
            ctime_nsec: m.ctime.1 as u64,
            unused: [0; 3],
        }
    }
}

pub fn read_path(ctx: &mut Ctx, addr: u64) -> Result<String, Errno> {
    let bytes = ctx.read_cstr(addr, PATH_MAX)?;
    String::from_utf8(bytes).map_err(|_| ENOENT)
}

/// The directory a `*at` call's relative path starts from: the cwd, or
/// the directory `dirfd` holds (itself, not its name looked up again).
fn base_dir(ctx: &Ctx, dirfd: i32, path: &str) -> Result<Lookup, Errno> {
    if path.starts_with('/') {
        return Ok(ctx.k.vfs.root().clone());
    }
    if dirfd == AT_FDCWD {
        return Ok(ctx.proc().cwd.clone());
    }
    let f = ctx.proc().files.file(dirfd)?;
    match &f.kind {
        FileKind::Dir(d) => Ok(d.at.clone()),
        _ => Err(ENOTDIR),
    }
}

/// Resolves `path` relative to `dirfd`, with the caller's credentials.
pub fn lookup(ctx: &mut Ctx, dirfd: i32, path: &str, follow: bool) -> Result<Lookup, Errno> {
    let base = base_dir(ctx, dirfd, path)?;
    let links = Links { k: &ctx.k, pid: ctx.pid };
    ctx.k.vfs.resolve(&base, path, follow, &links, &ctx.k.procs[&ctx.pid].cred)
}

/// The caller's credentials.
pub fn cred(ctx: &Ctx) -> Cred {
    ctx.proc().cred.clone()
}

/// What stat says of a node.
pub fn meta_of(ctx: &Ctx, l: &Lookup) -> Result<Meta, Errno> {
    Ok(match &l.node {
        Node::Proc(c) => {
            let n = procfs::lookup(&ctx.k, ctx.pid, c)?;
            let ino =
                c.iter().fold(0x1000u64, |h, s| h.wrapping_mul(31).wrapping_add(s.bytes().map(u64::from).sum::<u64>()));
            // A process's files are its effective user's; the rest root's.
            let owner = c.first().and_then(|p| p.parse::<u32>().ok()).and_then(|p| ctx.k.procs.get(&p));
            let (uid, gid) = owner.map_or((0, 0), |p| (p.cred.euid, p.cred.egid));
            Meta { dev: 22, ino, mode: procfs::mode_of(&n), nlink: 1, uid, gid, blksize: 1024, ..Default::default() }
        }
        n => n.meta(),
    })
}

/// What stat says of an open file, for caller `cred`.
pub fn fmeta(f: &OpenFile, cred: &Cred) -> Meta {
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
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => {
            Meta { dev: 14, ino: 1, mode: S_IFIFO | 0o600, nlink: 1, uid, gid, blksize: 4096, ..Default::default() }
        }
        FileKind::Input(i) => host_stdio_meta(i.host_fd(), cred),
        FileKind::Output(o) => host_stdio_meta(o.host_fd(), cred),
        FileKind::Proc { .. } => {
            Meta { dev: 22, mode: S_IFREG | 0o444, nlink: 1, uid, gid, blksize: 1024, ..Default::default() }
        }
        FileKind::Null => Meta::device(3),
        FileKind::Zero => Meta::device(5),
        FileKind::Random => Meta::device(9),
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

/// Installs `file` at the lowest free descriptor.
pub fn install(ctx: &mut Ctx, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
    let fd = ctx.k.fd_install(ctx.pid, Fd { file, cloexec }, 0, limit)?;
    Ok(fd as i64)
}

/// may_open(): read and write permission as the access mode (and
/// O_TRUNC) asks, for `cred`.
fn may_open(meta: &Meta, flags: u32, cred: &Cred) -> Result<(), Errno> {
    let acc = flags & O_ACCMODE;
    let mut mask = 0;
    if acc != O_WRONLY {
        mask |= MAY_READ;
    }
    if acc != O_RDONLY || flags & O_TRUNC != 0 {
        mask |= MAY_WRITE;
    }
    cred.permission(meta.mode, meta.uid, meta.gid, mask)
}

/// Opens what `l` names with `flags`, as open() would (for truncate()).
pub fn open_node(ctx: &mut Ctx, l: Lookup, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    open_lookup(ctx, l, flags, false)
}

/// The last component of a resolved path: the name an object has in its
/// directory, where the layer keeps its copy.
pub fn last_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Opens what `l` names; a file just `created` is not checked against its
/// own mode, as Linux does.
fn open_lookup(ctx: &mut Ctx, l: Lookup, flags: u32, created: bool) -> Result<Arc<OpenFile>, Errno> {
    let write = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
    let path = l.path.clone();
    if flags & O_PATH != 0 {
        let meta = meta_of(ctx, &l)?;
        if flags & O_DIRECTORY != 0 && !meta.is_dir() {
            return Err(ENOTDIR);
        }
        // Nothing can read, write or map through it; fstat and the *at
        // calls can.
        let kind = if meta.is_dir() { FileKind::Dir(DirHandle::new(l, meta)) } else { FileKind::Path(l) };
        return Ok(OpenFile::new(kind, O_PATH | (flags & O_CLOEXEC), path));
    }
    let cred = cred(ctx);
    let kind = match &l.node {
        n @ (Node::Host { .. } | Node::Synthetic { .. } | Node::Mem(_)) if n.is_dir() => {
            if write {
                return Err(EISDIR);
            }
            let meta = n.meta();
            may_open(&meta, flags, &cred)?;
            FileKind::Dir(DirHandle::new(l.clone(), meta))
        }
        n if n.is_symlink() => return Err(ELOOP),
        Node::Host { meta, layer, .. } => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if !meta.is_reg() {
                return Err(ENXIO);
            }
            // sb_permission(): a write on a read-only mount is EROFS first.
            if write && *layer == Layer::ReadOnly {
                return Err(EROFS);
            }
            if !created {
                may_open(meta, flags, &cred)?;
            }
            let node = match layer {
                Layer::Overlay if write => {
                    let i = ctx.k.vfs.copy_up(last_name(&path), &l.node)?;
                    ctx.k.vfs.open_mem(&path, &i).ok_or(EISDIR)?
                }
                _ => {
                    let rw = *layer == Layer::ReadWrite;
                    ctx.k.vfs.open_host(&path, &l.node, rw)?
                }
            };
            FileKind::File(node)
        }
        Node::Mem(i) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if !created {
                may_open(&i.stat(), flags, &cred)?;
            }
            FileKind::File(ctx.k.vfs.open_mem(&path, i).ok_or(EISDIR)?)
        }
        Node::Synthetic { .. } => return Err(ENXIO),
        Node::Device(d) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            match d {
                vfs::Device::Null => FileKind::Null,
                vfs::Device::Zero => FileKind::Zero,
                vfs::Device::Random => FileKind::Random,
            }
        }
        Node::Proc(c) => {
            let pid = c.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            match procfs::lookup(&ctx.k, ctx.pid, c)? {
                ProcNode::Dir(_) => {
                    if write {
                        return Err(EISDIR);
                    }
                    let meta = Meta { mode: S_IFDIR | 0o555, nlink: 2, dev: 22, ..Default::default() };
                    FileKind::Dir(DirHandle::new(l.clone(), meta))
                }
                n @ (ProcNode::File(_) | ProcNode::Seq(_)) => {
                    if flags & O_DIRECTORY != 0 {
                        return Err(ENOTDIR);
                    }
                    let last = c.last().map_or("", String::as_str);
                    // clear_refs is 0200: write-only.
                    if (write && last != "oom_score_adj" && last != "clear_refs")
                        || (last == "clear_refs" && flags & O_ACCMODE != O_WRONLY)
                    {
                        return Err(EACCES);
                    }
                    let seq = match n {
                        ProcNode::Seq(which) => Some((which, Default::default())),
                        _ => None,
                    };
                    FileKind::Proc { path: c.join("/"), pid, contents: parking_lot::Mutex::new(None), seq }
                }
                ProcNode::Link(_) => return Err(ELOOP),
            }
        }
    };
    if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
        if let FileKind::File(n) = &kind {
            ctx.k.resize_file(n.id, &n.data, 0)?;
            if let Some(i) = n.inode() {
                i.touch();
            }
        }
    }
    let f = OpenFile::new(kind, flags, path);
    if flags & O_APPEND != 0 {
        *f.pos.lock() = fmeta(&f, &cred).size;
    }
    Ok(f)
}

fn do_open(ctx: &mut Ctx, dirfd: i32, path: u64, flags: u64, mode: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let flags = flags as u32;
    if flags & O_TMPFILE == O_TMPFILE {
        return fschange::open_tmpfile(ctx, dirfd, &path, flags, mode);
    }
    let (l, created) = if flags & O_CREAT != 0 {
        fschange::open_create(ctx, dirfd, &path, flags, mode)?
    } else {
        (lookup(ctx, dirfd, &path, flags & O_NOFOLLOW == 0)?, false)
    };
    let f = open_lookup(ctx, l, flags, created)?;
    install(ctx, f, flags & O_CLOEXEC != 0)
}

pub fn open(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub fn openat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, a[0] as i32, a[1], a[2], a[3])
}

pub fn creat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, AT_FDCWD, a[0], (O_CREAT | O_WRONLY | O_TRUNC) as u64, a[1])
}

pub fn openat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[3] < OPEN_HOW_SIZE_VER0 {
        return Err(EINVAL);
    }
    let how: OpenHow = ctx.read_struct(a[2])?;
    // Every lookup here stays in the root already: each RESOLVE_ flag holds.
    if how.resolve & !RESOLVE_ALL != 0 || how.flags >> 32 != 0 {
        return Err(EINVAL);
    }
    do_open(ctx, a[0] as i32, a[1], how.flags, how.mode)
}

pub fn close(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let fd = ctx.proc_mut().files.close(a[0] as i32)?;
    // The last close of an unlinked sandbox file frees its pages.
    if let FileKind::File(n) = &fd.file.kind {
        let id = n.id;
        if n.inode().is_some() {
            drop(fd);
            ctx.k.release_if_orphan(id);
        }
    }
    Ok(0)
}

pub fn close_range(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(EINVAL);
    }
    let fds: Vec<i32> =
        ctx.proc().files.iter().map(|(fd, _)| fd).filter(|&fd| fd as u32 >= first && fd as u32 <= last).collect();
    for fd in fds {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            if let Some(f) = ctx.proc_mut().files.get_mut(fd) {
                f.cloexec = true;
            }
        } else {
            let _ = ctx.proc_mut().files.close(fd);
        }
    }
    Ok(0)
}

fn stat_path(ctx: &mut Ctx, dirfd: i32, path: &str, buf: u64, follow: bool) -> SysResult {
    let l = lookup(ctx, dirfd, path, follow)?;
    let m = meta_of(ctx, &l)?;
    ctx.write_struct(buf, &Stat::of(&m))?;
    Ok(0)
}

pub fn stat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    stat_path(ctx, AT_FDCWD, &p, a[1], true)
}

pub fn lstat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    stat_path(ctx, AT_FDCWD, &p, a[1], false)
}

pub fn fstat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    ctx.write_struct(a[1], &Stat::of(&fmeta(&f, &ctx.proc().cred)))?;
    Ok(0)
}

/// What an empty path with AT_EMPTY_PATH names: `dirfd`'s file, or the
/// cwd.
fn empty_path_meta(ctx: &mut Ctx, dirfd: i32) -> Result<Meta, Errno> {
    if dirfd == AT_FDCWD {
        let cwd = ctx.proc().cwd.clone();
        return meta_of(ctx, &cwd);
    }
    let f = ctx.proc().files.file(dirfd)?;
    Ok(fmeta(&f, &ctx.proc().cred))
}

pub fn newfstatat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub fn statx(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    let l = ctx.k.vfs.resolve(&base, &p, flags & AT_SYMLINK_NOFOLLOW == 0, &links, &cred)?;
    let m = meta_of(ctx, &l)?;
    if mode & u64::from(MAY_WRITE) != 0 && l.node.layer() == Layer::ReadOnly {
        return Err(EROFS);
    }
    if mode != 0 {
        cred.permission(m.mode, m.uid, m.gid, mode as u32)?;
    }
    Ok(0)
}

pub fn access(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    check_access(ctx, AT_FDCWD, a[0], a[1], 0)
}

pub fn faccessat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    check_access(ctx, a[0] as i32, a[1], a[2], 0)
}

pub fn faccessat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub fn readlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_readlink(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub fn readlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_readlink(ctx, a[0] as i32, a[1], a[2], a[3])
}

pub fn getcwd(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let mut cwd = ctx.proc().cwd.path.clone().into_bytes();
    cwd.push(0);
    if (a[1] as usize) < cwd.len() {
        return Err(ERANGE);
    }
    ctx.write_user(a[0], &cwd)?;
    Ok(cwd.len() as i64)
}

fn set_cwd(ctx: &mut Ctx, l: Lookup) -> SysResult {
    let m = meta_of(ctx, &l)?;
    if !m.is_dir() {
        return Err(ENOTDIR);
    }
    ctx.proc().cred.permission(m.mode, m.uid, m.gid, MAY_EXEC)?;
    ctx.proc_mut().cwd = l;
    Ok(0)
}

pub fn chdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_cwd(ctx, l)
}

pub fn fchdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let FileKind::Dir(d) = &f.kind else { return Err(ENOTDIR) };
    set_cwd(ctx, d.at.clone())
}

/// The entries of an open directory: (name, d_type, inode).
fn dir_entries(ctx: &Ctx, d: &DirHandle) -> Vec<(String, u8, u64)> {
    let mut v = vec![(".".to_string(), DT_DIR, d.meta.ino), ("..".to_string(), DT_DIR, 2)];
    match &d.at.node {
        Node::Host { .. } | Node::Mem(_) => {
            let mut listed = ctx.k.vfs.list(&d.at);
            // The host's /dev, /proc, /sys and /run stay out of sight at
            // the root: faultline's own stand in for them.
            if d.at.path == "/" {
                listed.retain(|(n, _, _)| !matches!(n.as_str(), "dev" | "proc" | "sys" | "run"));
                v.extend(
                    ["dev", "proc", "sys", "run"]
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.to_string(), DT_DIR, 900 + i as u64)),
                );
            }
            v.extend(listed);
        }
        Node::Synthetic { entries, .. } => {
            v.extend(entries.iter().enumerate().map(|(i, (n, t))| (n.clone(), *t, 500 + i as u64)))
        }
        Node::Proc(c) => {
            if let Ok(ProcNode::Dir(l)) = procfs::lookup(&ctx.k, ctx.pid, c) {
                v.extend(l.into_iter().enumerate().map(|(i, (n, t))| (n, t, 0x2000 + i as u64)));
            }
        }
        Node::Device(_) => {}
    }
    v
}

pub fn getdents64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (fd, buf, count) = (a[0] as i32, a[1], a[2]);
    let f = ctx.proc().files.file(fd)?;
    let FileKind::Dir(d) = &f.kind else { return Err(ENOTDIR) };
    let mut pos = *f.pos.lock() as usize;
    // Listed afresh when a read starts at the beginning (after rewinddir).
    let entries = {
        let cached = d.listing.lock().clone();
        match cached {
            Some(e) if pos != 0 => e,
            _ => {
                let e = std::sync::Arc::new(dir_entries(ctx, d));
                *d.listing.lock() = Some(e.clone());
                e
            }
        }
    };
    let mut out = Vec::new();
    while pos < entries.len() {
        let (name, t, ino) = &entries[pos];
        let head = size_of::<Dirent64>();
        let reclen = (head + name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > count as usize {
            break;
        }
        let d = Dirent64 { d_ino: *ino, d_off: (pos + 1) as i64, d_reclen: reclen as u16, d_type: *t };
        out.extend_from_slice(d.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + (reclen - head - name.len()), 0);
        pos += 1;
    }
    if out.is_empty() && pos < entries.len() {
        return Err(EINVAL);
    }
    ctx.write_user(buf, &out)?;
    *f.pos.lock() = pos as u64;
    Ok(out.len() as i64)
}

pub fn dup(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    install(ctx, f, false)
}

fn dup_to(ctx: &mut Ctx, old: i32, new: i32, cloexec: bool) -> SysResult {
    let f = ctx.proc().files.file(old)?;
    let limit = ctx.proc().limits.cur(RLIMIT_NOFILE);
    if new < 0 || new as u64 >= limit {
        return Err(EBADF);
    }
    let old_fd = ctx.k.fd_set(ctx.pid, new, Fd { file: f, cloexec })?;
    // The replaced file closes (outside the table update).
    drop(old_fd);
    Ok(new as i64)
}

pub fn dup2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, new) = (a[0] as i32, a[1] as i32);
    if old == new {
        ctx.proc().files.file(old)?;
        return Ok(new as i64);
    }
    dup_to(ctx, old, new, false)
}

pub fn dup3(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, new, flags) = (a[0] as i32, a[1] as i32, a[2] as u32);
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    dup_to(ctx, old, new, flags & O_CLOEXEC != 0)
}

pub fn fcntl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (fd, cmd, arg) = (a[0] as i32, a[1], a[2]);
    let f = ctx.proc().files.file(fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
            if arg as usize >= limit {
                return Err(EINVAL);
            }
            let fd = ctx.k.fd_install(ctx.pid, Fd { file: f, cloexec: cmd == F_DUPFD_CLOEXEC }, arg as usize, limit)?;
            Ok(fd as i64)
        }
        F_GETFD => Ok(i64::from(ctx.proc().files.get(fd).is_some_and(|f| f.cloexec))),
        F_SETFD => {
            ctx.proc_mut().files.get_mut(fd).ok_or(EBADF)?.cloexec = arg & FD_CLOEXEC != 0;
            Ok(0)
        }
        F_GETFL => Ok(f.flags() as i64 | O_LARGEFILE as i64),
        F_SETFL => {
            let mut fl = f.flags.lock();
            *fl = (*fl & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
            Ok(0)
        }
        // One host, no other locker: locks are granted; F_GETLK says the
        // range is free (l_type = F_UNLCK).
        F_GETLK => {
            ctx.write_struct(arg, &F_UNLCK)?;
            Ok(0)
        }
        F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => Ok(0),
        F_SETOWN => Ok(0),
        F_GETOWN => Ok(0),
        F_GETPIPE_SZ | F_SETPIPE_SZ => match &f.kind {
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) if cmd == F_GETPIPE_SZ => Ok(p.size() as i64),
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) => Ok(ctx.k.pipe_set_size(p, arg as u32)? as i64),
            _ => Err(EBADF),
        },
        F_ADD_SEALS => fschange::seals(ctx, &f, Some(arg as u32)),
        F_GET_SEALS => fschange::seals(ctx, &f, None),
        _ => Err(EINVAL),
    }
}

pub fn flock(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    if a[1] & !(LOCK_SH | LOCK_EX | LOCK_NB | LOCK_UN) != 0 || a[1] & (LOCK_SH | LOCK_EX | LOCK_NB) == 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

fn make_pipe(ctx: &mut Ctx, fds: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(EINVAL);
    }
    // get_pipe_inode()'s failure is ENFILE.
    let p = ctx.k.new_pipe().map_err(|_| ENFILE)?;
    let st = flags & (O_NONBLOCK | O_DIRECT);
    let r = OpenFile::new(FileKind::PipeRead(p.clone()), O_RDONLY | st, "");
    let w = OpenFile::new(FileKind::PipeWrite(p), O_WRONLY | st, "");
    let cloexec = flags & O_CLOEXEC != 0;
    let rfd = install(ctx, r, cloexec)?;
    let wfd = match install(ctx, w, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.proc_mut().files.close(rfd as i32);
            return Err(e);
        }
    };
    // int pipefd[2].
    if let Err(e) = ctx.write_struct(fds, &[rfd as i32, wfd as i32]) {
        let _ = ctx.proc_mut().files.close(rfd as i32);
        let _ = ctx.proc_mut().files.close(wfd as i32);
        return Err(e);
    }
    Ok(0)
}

pub fn pipe(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], 0)
}

pub fn pipe2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], a[1])
}

pub fn umask(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let old = ctx.proc().umask;
    ctx.proc_mut().umask = a[0] as u32 & 0o777;
    Ok(old as i64)
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
        Node::Proc(_) => PROC_SUPER_MAGIC,
        Node::Device(_) => TMPFS_MAGIC,
        _ => OVERLAYFS_SUPER_MAGIC,
    };
    // The root is an overlay whose upper layer is a tmpfs of half of RAM
    // and as many inodes.
    let total = ctx.k.phys.budget.resident_pages / 2;
    let free = total.saturating_sub(ctx.k.layer_pages());
    let o = &ctx.k.vfs.overlay;
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

pub fn statfs(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    let s = statfs_of(ctx, &l.node);
    ctx.write_struct(a[1], &s)?;
    Ok(0)
}

pub fn fstatfs(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub fn sync(_: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(0)
}

pub fn sync_file_range(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    if a[3] & !7 != 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

pub fn readahead(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    match f.kind {
        FileKind::File(_) => Ok(0),
        _ => Err(EINVAL),
    }
}

pub fn fadvise64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if a[3] > POSIX_FADV_NOREUSE {
        return Err(EINVAL);
    }
    match f.kind {
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => Err(ESPIPE),
        _ => Ok(0),
    }
}

pub fn getxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, true)?;
    Err(ENODATA)
}

pub fn fgetxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Err(ENODATA)
}

pub fn listxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, true)?;
    Ok(0)
}

pub fn flistxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Ok(0)
}

/// `count` bytes of cached file `node` from `at`, through the page cache.
pub fn read_cached(ctx: &mut Ctx, node: &OpenNode, at: u64, count: usize) -> Result<Vec<u8>, Errno> {
    ctx.k.read_cached(node.id, &node.data, at, count)
}

pub fn read_regular(ctx: &mut Ctx, f: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    let FileKind::File(node) = &f.kind else { return Err(EBADF) };
    let at = pos.unwrap_or(*f.pos.lock());
    let mut done = 0u64;
    while done < count {
        let n = (count - done).min(64 * 1024) as usize;
        let data = read_cached(ctx, node, at + done, n)?;
        if data.is_empty() {
            break;
        }
        if let Err(e) = ctx.write_user(buf + done, &data) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        done += data.len() as u64;
        if data.len() < n {
            break;
        }
    }
    if pos.is_none() {
        *f.pos.lock() = at + done;
    }
    Ok(done as i64)
}
