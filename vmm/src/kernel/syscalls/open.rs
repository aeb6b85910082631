//! Opening and closing: open, openat, openat2 and creat (with O_CREAT's
//! and O_TMPFILE's new files), may_open()'s permission check, close and
//! close_range.

use std::sync::Arc;

use super::super::abi::fcntl::*;
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::stat::*;
use super::super::cred::{Cred, MAY_READ, MAY_WRITE};
use super::super::errno::*;
use super::super::files::lease::Break;
use super::super::files::vfs::{Layer, Lookup, Meta, Node};
use super::super::files::*;
use super::super::procfs::{self, ProcNode};
use super::super::task::Ctx;
use super::attr::apply_umask;
use super::namei::{cred, dnotify_dir, existing, last_name, layer_room, lookup, may_create, named, read_path};
use super::stat::{fmeta, meta_of};

/// Installs `file` at the lowest free descriptor.
pub(super) fn install(ctx: &mut Ctx, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = ctx.proc().limits.cur(RLIMIT_NOFILE) as usize;
    let fd = ctx.k.fd_install(ctx.pid, Fd { file, cloexec }, 0, limit)?;
    Ok(fd as i64)
}

/// may_open(): read and write permission as the access mode (and
/// O_TRUNC) asks, for `cred`.
pub(super) fn may_open(meta: &Meta, flags: u32, cred: &Cred) -> Result<(), Errno> {
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
pub(super) fn open_node(ctx: &mut Ctx, l: Lookup, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    open_lookup(ctx, l, flags, false)
}

/// The /proc files a write may open (each written in syscalls::io): a
/// process's, and the sysctls root may set (0644 root's, as
/// proc_sys_permission checks). A process's coredump_filter is 0644 its
/// owner's (see `may_write_proc`).
const WRITABLE_PROC: &[&str] = &["oom_score_adj", "clear_refs", "timens_offsets"];
const WRITABLE_SYSCTLS: &[&str] =
    &["lease-break-time", "pipe-max-size", "max_map_count", "core_pattern", "core_uses_pid", "tag", "somaxconn"];

/// Whether the caller may open /proc file `last` of process `pid` for
/// writing.
fn may_write_proc(ctx: &Ctx, pid: u32, last: &str) -> bool {
    let cred = &ctx.proc().cred;
    match last {
        // task_dump_owner(): a dumpable process's own euid owns its
        // files, root a process that is not.
        "coredump_filter" => {
            let owner = ctx.k.tasks.proc(pid).map_or(0, |p| if p.dumpable { p.cred.euid } else { 0 });
            cred.fsuid == owner || cred.capable(super::super::cred::CAP_DAC_OVERRIDE)
        }
        _ => WRITABLE_PROC.contains(&last) || (WRITABLE_SYSCTLS.contains(&last) && cred.euid == 0),
    }
}

/// Whether an open with `flags` may change the file (O_TRUNC does).
fn writes(flags: u32) -> bool {
    flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
}

/// Opens what `l` names; a file just `created` is not checked against its
/// own mode, as Linux does.
fn open_lookup(ctx: &mut Ctx, l: Lookup, flags: u32, created: bool) -> Result<Arc<OpenFile>, Errno> {
    if flags & O_PATH != 0 {
        return open_path(ctx, l, flags);
    }
    let cred = cred(ctx);
    if super::mknod::is_fifo(&l) {
        return super::mknod::open_fifo(ctx, l, flags, created, &cred);
    }
    let kind = open_kind(ctx, &l, flags, created, &cred)?;
    let f = OpenFile::new(kind, flags, l.path);
    f.created.store(created, std::sync::atomic::Ordering::Relaxed);
    if let FileKind::File(n) = &f.kind {
        // do_dentry_open(): leases are broken before the truncation.
        break_lease(ctx, &f, flags & O_ACCMODE != O_RDONLY, flags & O_NONBLOCK != 0)?;
        if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
            ctx.k.resize_file(n.id, &n.data, 0)?;
            if let Some(i) = n.inode() {
                i.touch();
            }
        }
    }
    if flags & O_APPEND != 0 {
        *f.pos.lock() = fmeta(&f, &cred).size;
    }
    Ok(f)
}

/// break_lease(): an open of `f` (for writing if `write`; a truncate is
/// one) breaks the leases in its way and waits until they are given up
/// or time out; with O_NONBLOCK it breaks them and fails EWOULDBLOCK. A
/// signal interrupts the wait.
fn break_lease(ctx: &mut Ctx, f: &OpenFile, write: bool, nonblock: bool) -> Result<(), Errno> {
    loop {
        match ctx.k.lease_break(f, write, std::time::Instant::now()) {
            Break::Clear => return Ok(()),
            Break::Wait(_) if nonblock => return Err(EAGAIN),
            Break::Wait(until) => {
                if let Some(w) = ctx.interrupted() {
                    return Err(ctx.woken_errno(w));
                }
                let q = ctx.k.files.leases.wq.clone();
                q.register(&ctx.cond());
                ctx.sleep(Some(until));
            }
        }
    }
}

/// open(O_PATH): a handle on the name alone.
fn open_path(ctx: &mut Ctx, l: Lookup, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    let meta = meta_of(ctx, &l)?;
    if flags & O_DIRECTORY != 0 && !meta.is_dir() {
        return Err(ENOTDIR);
    }
    let path = l.path.clone();
    // Nothing can read, write or map through it; fstat and the *at
    // calls can.
    let kind = if meta.is_dir() { FileKind::Dir(DirHandle::new(l, meta)) } else { FileKind::Path(l) };
    Ok(OpenFile::new(kind, O_PATH | (flags & O_CLOEXEC), path))
}

/// What an open of `l` holds, by the kind of node it is.
fn open_kind(ctx: &mut Ctx, l: &Lookup, flags: u32, created: bool, cred: &Cred) -> Result<FileKind, Errno> {
    Ok(match &l.node {
        n @ (Node::Host { .. } | Node::Synthetic { .. } | Node::Mem(_)) if n.is_dir() => {
            if writes(flags) {
                return Err(EISDIR);
            }
            let meta = n.meta();
            may_open(&meta, flags, cred)?;
            FileKind::Dir(DirHandle::new(l.clone(), meta))
        }
        n if n.is_symlink() => return Err(ELOOP),
        Node::Host { meta, layer, .. } => open_host(ctx, l, meta, *layer, flags, created, cred)?,
        Node::Mem(i) => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            // A socket's name is no file to open (no_open).
            if i.stat().mode & S_IFMT == S_IFSOCK {
                return Err(ENXIO);
            }
            if !created {
                may_open(&i.stat(), flags, cred)?;
            }
            if let Some((mode, rdev)) = super::mknod::device_node(l) {
                if ctx.k.files.vfs().nodev(i.mount) {
                    return Err(EACCES);
                }
                return super::mknod::device_of(mode, rdev);
            }
            FileKind::File(ctx.k.files.vfs_mut().open_mem(&l.path, i).ok_or(EISDIR)?)
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
        Node::Proc(c) => open_proc(ctx, l, c, flags)?,
    })
}

/// Opens a host file: the host's own for reading or in a read-write bind,
/// the layer's copy (copied up now) for writing in the root.
fn open_host(
    ctx: &mut Ctx,
    l: &Lookup,
    meta: &Meta,
    layer: Layer,
    flags: u32,
    created: bool,
    cred: &Cred,
) -> Result<FileKind, Errno> {
    let write = writes(flags);
    if flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    if !meta.is_reg() {
        return Err(ENXIO);
    }
    // sb_permission(): a write on a read-only mount is EROFS first.
    if write && layer == Layer::ReadOnly {
        return Err(EROFS);
    }
    if !created {
        may_open(meta, flags, cred)?;
    }
    let path = &l.path;
    let node = match layer {
        Layer::Overlay if write => {
            let i = ctx.k.files.vfs_mut().copy_up(last_name(path), &l.node)?;
            ctx.k.files.vfs_mut().open_mem(path, &i).ok_or(EISDIR)?
        }
        _ => {
            let rw = layer == Layer::ReadWrite;
            ctx.k.files.vfs_mut().open_host(path, &l.node, rw)?
        }
    };
    Ok(FileKind::File(node))
}

/// Opens /proc/`c`: a directory, or a file made at its first read.
fn open_proc(ctx: &mut Ctx, l: &Lookup, c: &[String], flags: u32) -> Result<FileKind, Errno> {
    // /proc/sys/net shows the opener's network namespace: it is the pid.
    let pid = match c {
        [sys, net, ..] if sys == "sys" && net == "net" => ctx.pid,
        _ => c.first().and_then(|s| s.parse().ok()).unwrap_or(0),
    };
    Ok(match procfs::lookup(&ctx.k, ctx.pid, c)? {
        ProcNode::Dir(_) => {
            if writes(flags) {
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
            let writable = may_write_proc(ctx, pid, last);
            if (writes(flags) && !writable) || (last == "clear_refs" && flags & O_ACCMODE != O_WRONLY) {
                return Err(EACCES);
            }
            let seq = match n {
                ProcNode::Seq(which) => Some((which, Default::default())),
                _ => None,
            };
            let path = c.join("/");
            // An open of the mount table sees the changes made after it.
            let mounts_seen =
                (path == "mounts" || path.ends_with("/mounts")).then(|| ctx.k.files.vfs().mount_events().into());
            FileKind::Proc { path, pid, contents: parking_lot::Mutex::new(None), seq, mounts_seen }
        }
        ProcNode::Link(_) => return Err(ELOOP),
    })
}

fn do_open(ctx: &mut Ctx, dirfd: i32, path: u64, flags: u64, mode: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let flags = flags as u32;
    if flags & O_TMPFILE == O_TMPFILE {
        return open_tmpfile(ctx, dirfd, &path, flags, mode);
    }
    let (l, created) = if flags & O_CREAT != 0 {
        open_create(ctx, dirfd, &path, flags, mode)?
    } else {
        (lookup(ctx, dirfd, &path, flags & O_NOFOLLOW == 0)?, false)
    };
    let f = open_lookup(ctx, l, flags, created)?;
    install(ctx, f, flags & O_CLOEXEC != 0)
}

pub(super) fn open(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub(super) fn openat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, a[0] as i32, a[1], a[2], a[3])
}

pub(super) fn creat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_open(ctx, AT_FDCWD, a[0], (O_CREAT | O_WRONLY | O_TRUNC) as u64, a[1])
}

pub(super) fn openat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn close(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let fd = ctx.proc_mut().files.close(a[0] as i32)?;
    ctx.k.filp_close(ctx.pid, &fd.file);
    // The last close of an unlinked file frees its pages.
    if let FileKind::File(n) = &fd.file.kind {
        let id = n.id;
        drop(fd);
        ctx.k.release_if_orphan(id);
    }
    Ok(0)
}

pub(super) fn close_range(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(EINVAL);
    }
    // The range is closed in a table of the caller's own.
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        ctx.k.unshare_files(ctx.pid)?;
    }
    let fds: Vec<i32> =
        ctx.proc().files.iter().map(|(fd, _)| fd).filter(|&fd| fd as u32 >= first && fd as u32 <= last).collect();
    for fd in fds {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            let _ = ctx.proc().files.set_cloexec(fd, true);
        } else {
            if let Ok(f) = ctx.proc_mut().files.close(fd) {
                ctx.k.filp_close(ctx.pid, &f.file);
            }
        }
    }
    Ok(0)
}

/// open(O_CREAT) of a name that may not exist: the file it makes, or what
/// is there.
pub(super) fn open_create(
    ctx: &mut Ctx,
    dirfd: i32,
    path: &str,
    flags: u32,
    mode: u64,
) -> Result<(Lookup, bool), Errno> {
    let n = named(ctx, dirfd, path)?;
    let excl = flags & O_EXCL != 0;
    let follow = !excl && flags & O_NOFOLLOW == 0;
    match existing(ctx, &n, follow) {
        Ok(l) => {
            if excl {
                return Err(EEXIST);
            }
            if l.node.is_dir() || n.slash {
                return Err(EISDIR);
            }
            Ok((l, false))
        }
        Err(ENOENT) => {
            if n.slash || n.name.is_empty() {
                return Err(EISDIR);
            }
            // A dangling symlink: Linux would create its target.
            if existing(ctx, &n, false).is_ok() {
                return Err(ENOENT);
            }
            let cred = cred(ctx);
            may_create(&n.dir.node, &cred)?;
            layer_room(ctx, &n.dir.node, None)?;
            let mode = apply_umask(ctx, mode);
            let node = ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, S_IFREG, mode, "", &cred)?;
            dnotify_dir(ctx, &n.dir, DN_CREATE);
            Ok((Lookup { path: n.path, node }, true))
        }
        Err(e) => Err(e),
    }
}

/// The file a core dump goes to, as do_coredump() opens it: `name`
/// (relative to the cwd) unlinked first, whatever it was, then made afresh
/// with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0600 less the umask. It must
/// come out a regular file the dumper owns, with exactly that mode (a file
/// system that changed either would leak the core).
pub(crate) fn open_core_file(ctx: &mut Ctx, name: &str) -> Result<Arc<OpenFile>, Errno> {
    // A name that is not there, or cannot go, shows at the open.
    let _ = super::namei::do_unlink(ctx, AT_FDCWD, name);
    let flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_LARGEFILE;
    let (l, created) = open_create(ctx, AT_FDCWD, name, flags, 0o600)?;
    let f = open_lookup(ctx, l, flags, created)?;
    let cred = cred(ctx);
    let meta = fmeta(&f, &cred);
    if !matches!(f.kind, FileKind::File(_)) || !meta.is_reg() {
        return Err(EINVAL);
    }
    if meta.uid != cred.fsuid || meta.mode & 0o677 != 0o600 {
        return Err(EPERM);
    }
    Ok(f)
}

/// open(O_TMPFILE): an unnamed file in directory `path`.
pub(super) fn open_tmpfile(ctx: &mut Ctx, dirfd: i32, path: &str, flags: u32, mode: u64) -> SysResult {
    if flags & O_ACCMODE == O_RDONLY {
        return Err(EINVAL);
    }
    let l = lookup(ctx, dirfd, path, true)?;
    if !l.node.is_dir() {
        return Err(ENOTDIR);
    }
    if l.node.layer() == Layer::ReadWrite {
        return Err(EOPNOTSUPP);
    }
    let cred = cred(ctx);
    may_create(&l.node, &cred)?;
    layer_room(ctx, &l.node, None)?;
    let mode = apply_umask(ctx, mode);
    let i = ctx.k.files.vfs_mut().unnamed(mode, &cred)?;
    let ino = i.stat().ino;
    let name = format!("{}/#{ino} (deleted)", l.path.trim_end_matches('/'));
    let node = ctx.k.files.vfs_mut().open_mem(&name, &i).ok_or(EINVAL)?;
    let f = OpenFile::new(FileKind::File(node), flags & !O_TMPFILE | O_LARGEFILE, name);
    install(ctx, f, flags & O_CLOEXEC != 0)
}
