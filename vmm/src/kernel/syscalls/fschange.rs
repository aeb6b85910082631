//! The calls that change the file system: creating, writing, resizing,
//! renaming and removing files, directories and links, and their
//! attributes. Changes to the root go to the sandbox's in-memory layer
//! (the host's files never change); in a read-write bind they go to the
//! host; in a read-only bind they are EROFS. Paths and permissions are
//! checked in Linux's order (namei.c, open.c, attr.c, utimes.c).

use std::sync::Arc;

use super::super::abi::fcntl::*;
use super::super::abi::limits::NAME_MAX;
use super::super::abi::stat::{S_IFDIR, S_IFLNK, S_IFREG, S_ISGID, S_ISUID, S_ISVTX};
use super::super::abi::time::{Timespec, Timeval, Utimbuf};
use super::super::cred::{Cred, CAP_CHOWN, CAP_FOWNER, CAP_FSETID, MAY_EXEC, MAY_READ, MAY_WRITE};
use super::super::errno::*;
use super::super::files::vfs::{join, Layer, Lookup, Meta, Node};
use super::super::files::*;
use super::super::mm::kmem::LayerNeed;
use super::super::task::Ctx;
use super::fs::{cred, fmeta, install, last_name, lookup, read_path};

/// The largest file (MAX_LFS_FILESIZE).
const MAX_FILE: u64 = i64::MAX as u64;

/// A path of a call that makes or removes a name: its directory
/// (resolved) and its last component.
pub struct Named {
    pub dir: Lookup,
    pub name: String,
    /// The path the name has (`dir`/`name`).
    pub path: String,
    /// It ended in '/'.
    pub slash: bool,
}

/// Splits `path` (relative to `dirfd`) into its directory and last name.
pub fn named(ctx: &mut Ctx, dirfd: i32, path: &str) -> Result<Named, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let trimmed = path.trim_end_matches('/');
    let slash = trimmed.len() != path.len();
    let (dir, name) = match trimmed.rfind('/') {
        Some(i) => (if i == 0 { "/" } else { &trimmed[..i] }, &trimmed[i + 1..]),
        None if trimmed.is_empty() => ("/", ""),
        None => (".", trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    let dir = lookup(ctx, dirfd, dir, true)?;
    // /proc's directories hold files too (open(O_CREAT) of one that is
    // there opens it; making one is refused by may_create).
    if !dir.node.is_dir() && !matches!(dir.node, Node::Proc(_)) {
        return Err(ENOTDIR);
    }
    let path = match name {
        "" => dir.path.clone(),
        n => join(&dir.path, n),
    };
    Ok(Named { dir, name: name.to_owned(), path, slash })
}

/// What `n` names, looked up in its directory (following a last symlink
/// if `follow`).
fn existing(ctx: &mut Ctx, n: &Named, follow: bool) -> Result<Lookup, Errno> {
    let name = if n.name.is_empty() { "." } else { &n.name };
    let links = super::super::procfs::Links { k: &ctx.k, pid: ctx.pid };
    ctx.k.vfs.resolve(&n.dir, name, follow, &links, &ctx.k.procs[&ctx.pid].cred)
}

/// may_create(): the directory takes new names from the caller.
fn may_create(dir: &Node, cred: &Cred) -> Result<(), Errno> {
    match dir {
        Node::Host { layer: Layer::ReadOnly, .. } => return Err(EROFS),
        Node::Proc(_) | Node::Device(_) | Node::Synthetic { .. } => return Err(EACCES),
        _ => {}
    }
    let m = dir.meta();
    cred.permission(m.mode, m.uid, m.gid, MAY_WRITE | MAY_EXEC)
}

/// may_delete(): the name may go (a sticky directory keeps others'
/// files, check_sticky).
fn may_delete(dir: &Node, victim: &Node, cred: &Cred) -> Result<(), Errno> {
    may_create(dir, cred)?;
    let (d, v) = (dir.meta(), victim.meta());
    if d.mode & S_ISVTX != 0 && v.uid != cred.fsuid && d.uid != cred.fsuid && !cred.capable(CAP_FOWNER) {
        return Err(EPERM);
    }
    Ok(())
}

/// Room in RAM for what is about to be made in directory `dir`, if the
/// layer will hold it (a read-write bind's is the host's).
fn layer_room(ctx: &mut Ctx, dir: &Node, target: Option<&str>) -> Result<(), Errno> {
    if dir.layer() != Layer::Overlay {
        return Ok(());
    }
    ctx.k.charge_layer(LayerNeed { inodes: 1, target })
}

fn umask(ctx: &Ctx, mode: u64) -> u32 {
    mode as u32 & 0o7777 & !ctx.proc().umask
}

/// open(O_CREAT) of a name that may not exist: the file it makes, or what
/// is there.
pub fn open_create(ctx: &mut Ctx, dirfd: i32, path: &str, flags: u32, mode: u64) -> Result<(Lookup, bool), Errno> {
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
            let mode = umask(ctx, mode);
            let node = ctx.k.vfs.make_node(&n.dir, &n.name, S_IFREG, mode, "", &cred)?;
            Ok((Lookup { path: n.path, node }, true))
        }
        Err(e) => Err(e),
    }
}

/// open(O_TMPFILE): an unnamed file in directory `path`.
pub fn open_tmpfile(ctx: &mut Ctx, dirfd: i32, path: &str, flags: u32, mode: u64) -> SysResult {
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
    let mode = umask(ctx, mode);
    let i = ctx.k.vfs.unnamed(mode, &cred)?;
    let ino = i.stat().ino;
    let name = format!("{}/#{ino} (deleted)", l.path.trim_end_matches('/'));
    let node = ctx.k.vfs.open_mem(&name, &i).ok_or(EINVAL)?;
    let f = OpenFile::new(FileKind::File(node), flags & !O_TMPFILE | O_LARGEFILE, name);
    install(ctx, f, flags & O_CLOEXEC != 0)
}

fn do_mkdir(ctx: &mut Ctx, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let p = read_path(ctx, path)?;
    let n = named(ctx, dirfd, &p)?;
    if n.name.is_empty() || n.name == "." || n.name == ".." || existing(ctx, &n, false).is_ok() {
        return Err(EEXIST);
    }
    let cred = cred(ctx);
    may_create(&n.dir.node, &cred)?;
    layer_room(ctx, &n.dir.node, None)?;
    let mode = mode as u32 & 0o1777 & !ctx.proc().umask;
    ctx.k.vfs.make_node(&n.dir, &n.name, S_IFDIR, mode, "", &cred)?;
    Ok(0)
}

pub fn mkdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mkdir(ctx, AT_FDCWD, a[0], a[1])
}

pub fn mkdirat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mkdir(ctx, a[0] as i32, a[1], a[2])
}

/// Frees a file of the layer that lost its last name, if nothing holds
/// it open or mapped.
fn release(ctx: &mut Ctx, node: &Node) {
    if let Some((id, _)) = match node {
        Node::Mem(i) => i.file(),
        _ => None,
    } {
        ctx.k.release_if_orphan(id);
    }
}

fn do_rmdir(ctx: &mut Ctx, dirfd: i32, p: &str) -> SysResult {
    let n = named(ctx, dirfd, p)?;
    match n.name.as_str() {
        "." | "" => return Err(EINVAL),
        ".." => return Err(ENOTEMPTY),
        _ => {}
    }
    let l = existing(ctx, &n, false)?;
    if !l.node.is_dir() {
        return Err(ENOTDIR);
    }
    may_delete(&n.dir.node, &l.node, &cred(ctx))?;
    if ctx.k.vfs.is_mount_point(&l.path) {
        return Err(EBUSY);
    }
    if ctx.k.vfs.has_entries(&l) {
        return Err(ENOTEMPTY);
    }
    ctx.k.vfs.remove(&n.dir, &n.name, &l.node)?;
    Ok(0)
}

fn do_unlink(ctx: &mut Ctx, dirfd: i32, p: &str) -> SysResult {
    let n = named(ctx, dirfd, p)?;
    if n.name.is_empty() || n.name == "." || n.name == ".." {
        return Err(EISDIR);
    }
    let l = existing(ctx, &n, false)?;
    if n.slash {
        return Err(if l.node.is_dir() { EISDIR } else { ENOTDIR });
    }
    if l.node.is_dir() {
        return Err(EISDIR);
    }
    may_delete(&n.dir.node, &l.node, &cred(ctx))?;
    if ctx.k.vfs.is_mount_point(&l.path) {
        return Err(EBUSY);
    }
    ctx.k.vfs.remove(&n.dir, &n.name, &l.node)?;
    release(ctx, &l.node);
    Ok(0)
}

pub fn rmdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    do_rmdir(ctx, AT_FDCWD, &p)
}

pub fn unlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    do_unlink(ctx, AT_FDCWD, &p)
}

pub fn unlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, a[1])?;
    if a[2] & AT_REMOVEDIR != 0 {
        do_rmdir(ctx, a[0] as i32, &p)
    } else {
        do_unlink(ctx, a[0] as i32, &p)
    }
}

/// Whether `inner` is `outer` or lies below it.
fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer || outer == "/" || inner.starts_with(&format!("{outer}/"))
}

fn do_rename(ctx: &mut Ctx, odir: i32, old: u64, ndir: i32, new: u64, flags: u64) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0)
    {
        return Err(EINVAL);
    }
    if flags & RENAME_WHITEOUT != 0 {
        // Whiteouts are character devices: CAP_MKNOD.
        return Err(EPERM);
    }
    let (op, np) = (read_path(ctx, old)?, read_path(ctx, new)?);
    let on = named(ctx, odir, &op)?;
    let nn = named(ctx, ndir, &np)?;
    if [on.name.as_str(), nn.name.as_str()].iter().any(|n| n.is_empty() || *n == "." || *n == "..") {
        return Err(if on.name.is_empty() || nn.name.is_empty() { EBUSY } else { EINVAL });
    }
    let ol = existing(ctx, &on, false)?;
    let nl = existing(ctx, &nn, false).ok();
    if (on.slash || nn.slash) && !ol.node.is_dir() {
        return Err(ENOTDIR);
    }
    if on.dir.node.mount() != nn.dir.node.mount() {
        return Err(EXDEV);
    }
    let cred = cred(ctx);
    may_delete(&on.dir.node, &ol.node, &cred)?;
    match &nl {
        Some(l) => may_delete(&nn.dir.node, &l.node, &cred)?,
        None => may_create(&nn.dir.node, &cred)?,
    }
    let vfs = &ctx.k.vfs;
    if vfs.is_mount_point(&ol.path) || nl.as_ref().is_some_and(|l| vfs.is_mount_point(&l.path)) {
        return Err(EBUSY);
    }
    if flags & RENAME_EXCHANGE != 0 {
        let nl = nl.ok_or(ENOENT)?;
        if is_within(&nl.path, &ol.path) || is_within(&ol.path, &nl.path) {
            return Err(EINVAL);
        }
        ctx.k.vfs.exchange(&on.dir, &on.name, &ol.node, &nn.dir, &nn.name, &nl.node)?;
        return Ok(0);
    }
    // A directory into itself.
    if ol.node.is_dir() && is_within(&nn.path, &ol.path) && nn.path != ol.path {
        return Err(EINVAL);
    }
    if let Some(l) = &nl {
        if flags & RENAME_NOREPLACE != 0 {
            return Err(EEXIST);
        }
        // The same file under both names: nothing to do.
        let (a, b) = (l.node.meta(), ol.node.meta());
        if l.path == ol.path || (a.ino == b.ino && a.dev == b.dev) {
            return Ok(0);
        }
        match (ol.node.is_dir(), l.node.is_dir()) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(EISDIR),
            (true, true) if ctx.k.vfs.has_entries(l) => return Err(ENOTEMPTY),
            _ => {}
        }
    }
    let replaced = nl.as_ref().map(|l| l.node.clone());
    ctx.k.vfs.rename(&on.dir, &on.name, &ol.node, &nn.dir, &nn.name, replaced.as_ref())?;
    if let Some(r) = &replaced {
        release(ctx, r);
    }
    Ok(0)
}

pub fn rename(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_rename(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub fn renameat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_rename(ctx, a[0] as i32, a[1], a[2] as i32, a[3], 0)
}

pub fn renameat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_rename(ctx, a[0] as i32, a[1], a[2] as i32, a[3], a[4])
}

fn do_link(ctx: &mut Ctx, odir: i32, old: u64, ndir: i32, new: u64, flags: u64) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let (op, np) = (read_path(ctx, old)?, read_path(ctx, new)?);
    let cred = cred(ctx);
    let ol = if op.is_empty() && flags & AT_EMPTY_PATH != 0 {
        // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH.
        if !cred.capable(super::super::cred::CAP_DAC_READ_SEARCH) {
            return Err(ENOENT);
        }
        node_of_fd(ctx, odir)?
    } else {
        lookup(ctx, odir, &op, flags & AT_SYMLINK_FOLLOW != 0)?
    };
    if ol.node.is_dir() {
        return Err(EPERM);
    }
    let nn = named(ctx, ndir, &np)?;
    if nn.name.is_empty() || nn.name == "." || nn.name == ".." || existing(ctx, &nn, false).is_ok() {
        return Err(EEXIST);
    }
    if nn.slash {
        return Err(ENOENT);
    }
    if ol.node.mount() != nn.dir.node.mount() {
        return Err(EXDEV);
    }
    may_create(&nn.dir.node, &cred)?;
    if !matches!(ol.node, Node::Host { .. } | Node::Mem(_)) {
        return Err(EXDEV);
    }
    // may_linkat() with protected_hardlinks: another user's file needs
    // read and write access (or CAP_FOWNER) to be linked.
    let m = ol.node.meta();
    if !cred.owns(m.uid) && (!m.is_reg() || cred.permission(m.mode, m.uid, m.gid, MAY_READ | MAY_WRITE).is_err()) {
        return Err(EPERM);
    }
    ctx.k.vfs.link(last_name(&ol.path), &ol.node, &nn.dir, &nn.name)?;
    Ok(0)
}

pub fn link(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_link(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub fn linkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_link(ctx, a[0] as i32, a[1], a[2] as i32, a[3], a[4])
}

fn do_symlink(ctx: &mut Ctx, target: u64, dirfd: i32, path: u64) -> SysResult {
    let t = read_path(ctx, target)?;
    if t.is_empty() {
        return Err(ENOENT);
    }
    let p = read_path(ctx, path)?;
    let n = named(ctx, dirfd, &p)?;
    if n.name.is_empty() || n.name == "." || n.name == ".." || existing(ctx, &n, false).is_ok() {
        return Err(EEXIST);
    }
    if n.slash {
        return Err(ENOENT);
    }
    let cred = cred(ctx);
    may_create(&n.dir.node, &cred)?;
    layer_room(ctx, &n.dir.node, Some(&t))?;
    ctx.k.vfs.make_node(&n.dir, &n.name, S_IFLNK, 0o777, &t, &cred)?;
    Ok(0)
}

pub fn symlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_symlink(ctx, a[0], AT_FDCWD, a[1])
}

pub fn symlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_symlink(ctx, a[0], a[1] as i32, a[2])
}

/// The object an open file holds, for the f* attribute calls: itself,
/// never its name looked up again.
fn node_of_fd(ctx: &mut Ctx, fd: i32) -> Result<Lookup, Errno> {
    let f = ctx.proc().files.file(fd)?;
    Ok(match &f.kind {
        FileKind::File(n) => Lookup { path: n.path.clone(), node: n.node.clone() },
        FileKind::Dir(d) => d.at.clone(),
        FileKind::Path(l) => l.clone(),
        // Pipes and devices: an inode of their own, not in the view.
        _ => Lookup {
            path: String::new(),
            node: Node::Synthetic { meta: fmeta(&f, &ctx.proc().cred), entries: Vec::new() },
        },
    })
}

fn set_mode(ctx: &mut Ctx, l: Lookup, mode: u64) -> SysResult {
    if l.node.layer() == Layer::ReadOnly {
        return Err(EROFS);
    }
    let cred = cred(ctx);
    let m = l.node.meta();
    if !cred.owns(m.uid) {
        return Err(EPERM);
    }
    if matches!(l.node, Node::Synthetic { .. } | Node::Proc(_) | Node::Device(_)) {
        return Ok(0);
    }
    let mut mode = mode as u32 & 0o7777;
    // chmod_common → setattr_should_drop_sgid: a group the caller is not
    // in keeps no set-group-ID bit, unless CAP_FSETID.
    if !cred.in_group(m.gid) && !cred.capable(CAP_FSETID) {
        mode &= !S_ISGID;
    }
    ctx.k.vfs.set_attr(last_name(&l.path), &l.node, |m| m.mode = (m.mode & !0o7777) | mode)?;
    Ok(0)
}

pub fn chmod(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_mode(ctx, l, a[1])
}

pub fn fchmodat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[1])?;
    let l = lookup(ctx, a[0] as i32, &p, true)?;
    set_mode(ctx, l, a[2])
}

/// fchmod and fchown take no O_PATH descriptor.
fn not_path(ctx: &Ctx, fd: i32) -> Result<(), Errno> {
    let f = ctx.proc().files.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    Ok(())
}

pub fn fchmod(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    not_path(ctx, a[0] as i32)?;
    let l = node_of_fd(ctx, a[0] as i32)?;
    set_mode(ctx, l, a[1])
}

/// chown_common(): the owner may change the group to one of its own;
/// CAP_CHOWN changes anything. A change of owner or group clears
/// set-user-ID, and set-group-ID where the group may execute.
fn set_owner(ctx: &mut Ctx, l: &Lookup, uid: u32, gid: u32) -> SysResult {
    if l.node.layer() == Layer::ReadOnly {
        return Err(EROFS);
    }
    let cred = cred(ctx);
    let m = l.node.meta();
    let keep = u32::MAX;
    let uid_ok = uid == keep || (cred.fsuid == m.uid && uid == m.uid) || cred.capable(CAP_CHOWN);
    let gid_ok =
        gid == keep || (cred.fsuid == m.uid && (gid == m.gid || cred.in_group(gid))) || cred.capable(CAP_CHOWN);
    if !uid_ok || !gid_ok {
        return Err(EPERM);
    }
    if matches!(l.node, Node::Synthetic { .. } | Node::Proc(_) | Node::Device(_)) {
        return Ok(0);
    }
    let (new_uid, new_gid) = (if uid == keep { m.uid } else { uid }, if gid == keep { m.gid } else { gid });
    ctx.k.vfs.set_attr(last_name(&l.path), &l.node, |m| {
        if !m.is_dir() && (uid != keep || gid != keep) {
            m.mode &= !S_ISUID;
            if m.mode & 0o010 != 0 {
                m.mode &= !S_ISGID;
            }
        }
        m.uid = new_uid;
        m.gid = new_gid;
    })?;
    Ok(0)
}

pub fn chown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_owner(ctx, &l, a[1] as u32, a[2] as u32)
}

pub fn lchown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, false)?;
    set_owner(ctx, &l, a[1] as u32, a[2] as u32)
}

pub fn fchownat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[4] & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, a[1])?;
    let l = if p.is_empty() && a[4] & AT_EMPTY_PATH != 0 {
        node_of_fd(ctx, a[0] as i32)?
    } else {
        lookup(ctx, a[0] as i32, &p, a[4] & AT_SYMLINK_NOFOLLOW == 0)?
    };
    set_owner(ctx, &l, a[2] as u32, a[3] as u32)
}

pub fn fchown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    not_path(ctx, a[0] as i32)?;
    let l = node_of_fd(ctx, a[0] as i32)?;
    set_owner(ctx, &l, a[1] as u32, a[2] as u32)
}

/// Sets access and modification times (None: now), as utimensat.
fn set_times(ctx: &mut Ctx, l: Lookup, times: Option<[(i64, i64); 2]>) -> SysResult {
    if l.node.layer() == Layer::ReadOnly {
        return Err(EROFS);
    }
    let cred = cred(ctx);
    let m = l.node.meta();
    let now = super::super::files::overlay::now();
    let explicit = times.is_some_and(|t| t.iter().any(|x| x.1 != UTIME_NOW));
    // Setting times other than "now" takes ownership (or CAP_FOWNER);
    // "now" write access.
    if !cred.owns(m.uid) {
        if explicit {
            return Err(EPERM);
        }
        cred.permission(m.mode, m.uid, m.gid, MAY_WRITE)?;
    }
    if matches!(l.node, Node::Synthetic { .. } | Node::Proc(_) | Node::Device(_)) {
        return Ok(0);
    }
    let pick = |t: (i64, i64), old: (i64, i64)| match t.1 {
        UTIME_NOW => now,
        UTIME_OMIT => old,
        _ => t,
    };
    let t = times.unwrap_or([(0, UTIME_NOW), (0, UTIME_NOW)]);
    ctx.k.vfs.set_attr(last_name(&l.path), &l.node, |m| {
        m.atime = pick(t[0], m.atime);
        m.mtime = pick(t[1], m.mtime);
    })?;
    Ok(0)
}

pub fn utimensat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (dirfd, path, tp, flags) = (a[0] as i32, a[1], a[2], a[3]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let times = if tp == 0 {
        None
    } else {
        let ts: [Timespec; 2] = ctx.read_struct(tp)?;
        let t = ts.map(|x| (x.tv_sec, x.tv_nsec));
        for x in t {
            if x.1 != UTIME_NOW && x.1 != UTIME_OMIT && !(0..1_000_000_000).contains(&x.1) {
                return Err(EINVAL);
            }
        }
        if t.iter().all(|x| x.1 == UTIME_OMIT) {
            return Ok(0);
        }
        Some(t)
    };
    let l = if path == 0 || (flags & AT_EMPTY_PATH != 0 && read_path(ctx, path)?.is_empty()) {
        node_of_fd(ctx, dirfd)?
    } else {
        let p = read_path(ctx, path)?;
        lookup(ctx, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    set_times(ctx, l, times)
}

/// utime(2) and utimes(2): `struct utimbuf` / `struct timeval[2]`.
fn old_utime(ctx: &mut Ctx, a: [u64; 6], micro: bool) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    let times = if a[1] == 0 {
        None
    } else if micro {
        let tv: [Timeval; 2] = ctx.read_struct(a[1])?;
        if tv.iter().any(|t| !(0..1_000_000).contains(&t.tv_usec)) {
            return Err(EINVAL);
        }
        Some(tv.map(|t| (t.tv_sec, t.tv_usec * 1000)))
    } else {
        let u: Utimbuf = ctx.read_struct(a[1])?;
        Some([(u.actime, 0), (u.modtime, 0)])
    };
    set_times(ctx, l, times)
}

pub fn utime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    old_utime(ctx, a, false)
}

pub fn utimes(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    old_utime(ctx, a, true)
}

/// Resizes the file `f` names (checked writable by the caller).
fn resize_open(ctx: &mut Ctx, n: &vfs::OpenNode, size: u64) -> SysResult {
    if let Some(i) = n.inode() {
        check_seals(i, n.data.size(), size)?;
    }
    ctx.k.resize_file(n.id, &n.data, size)?;
    if let Some(i) = n.inode() {
        i.touch();
    }
    Ok(0)
}

fn check_seals(i: &overlay::Inode, old: u64, new: u64) -> Result<(), Errno> {
    let s = *i.seals.lock();
    if (new < old && s & F_SEAL_SHRINK != 0) || (new > old && s & F_SEAL_GROW != 0) {
        return Err(EPERM);
    }
    Ok(())
}

pub fn truncate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let size = a[1] as i64;
    if size < 0 {
        return Err(EINVAL);
    }
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    if l.node.is_dir() {
        return Err(EISDIR);
    }
    let f = super::fs::open_node(ctx, l, O_WRONLY)?;
    let FileKind::File(n) = &f.kind else { return Err(EINVAL) };
    resize_open(ctx, n, size as u64)
}

pub fn ftruncate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    match &f.kind {
        // (EPERM is for append-only inodes, chattr +a, not O_APPEND.)
        FileKind::File(n) if f.writable() => resize_open(ctx, n, a[1]),
        _ => Err(EINVAL),
    }
}

pub fn fallocate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (fd, mode, off, len) = (a[0] as i32, a[1], a[2] as i64, a[3] as i64);
    let f = ctx.proc().files.file(fd)?;
    if off < 0 || len <= 0 {
        return Err(EINVAL);
    }
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(EOPNOTSUPP);
    }
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(EOPNOTSUPP);
    }
    if !f.writable() {
        return Err(EBADF);
    }
    let n = match &f.kind {
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => return Err(ESPIPE),
        FileKind::Dir(_) => return Err(EISDIR),
        FileKind::File(n) => n.clone(),
        _ => return Err(ENODEV),
    };
    let end = (off as u64).checked_add(len as u64).filter(|&e| e <= MAX_FILE).ok_or(EFBIG)?;
    let size = n.data.size();
    if mode & FALLOC_FL_PUNCH_HOLE != 0 {
        // Zeroes the range inside the file through the cache.
        let (s, e) = (off as u64, end.min(size));
        if s < e {
            let mut at = s;
            while at < e {
                let chunk = (e - at).min(64 * 1024) as usize;
                ctx.k.write_cached(n.id, &n.data, at, &vec![0u8; chunk])?;
                at += chunk as u64;
            }
        }
        return Ok(0);
    }
    if end > size && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return resize_open(ctx, &n, end);
    }
    Ok(0)
}

pub fn fsync(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if let FileKind::File(n) = &f.kind {
        // A read-write bind's pages go to the host file now.
        if !n.data.memory_only() {
            let pages: Vec<u64> =
                ctx.k.phys.cache.get(&n.id).map(|c| c.pages.values().copied().collect()).unwrap_or_default();
            for g in pages {
                ctx.k.writeback_frame(g);
            }
        }
    }
    Ok(0)
}

pub fn memfd_create(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let name = read_path(ctx, a[0]).map_err(|e| if e == ENAMETOOLONG { EINVAL } else { e })?;
    let flags = a[1];
    if name.len() > MFD_NAME_MAX_LEN || flags & !MFD_ALL_FLAGS != 0 {
        return Err(EINVAL);
    }
    if flags & MFD_HUGETLB != 0 || (flags & MFD_NOEXEC_SEAL != 0 && flags & MFD_EXEC != 0) {
        return Err(EINVAL);
    }
    let mode = if flags & MFD_NOEXEC_SEAL != 0 { 0o666 } else { 0o777 };
    ctx.k.charge_layer(LayerNeed { inodes: 1, target: None })?;
    let cred = cred(ctx);
    let i = ctx.k.vfs.unnamed(mode, &cred)?;
    *i.seals.lock() = if flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0 { 0 } else { F_SEAL_SEAL };
    if flags & MFD_NOEXEC_SEAL != 0 {
        *i.seals.lock() |= F_SEAL_EXEC;
    }
    let path = format!("/memfd:{name} (deleted)");
    let node = ctx.k.vfs.open_mem(&path, &i).ok_or(EINVAL)?;
    let f = OpenFile::new(FileKind::File(node), O_RDWR | O_LARGEFILE, path);
    install(ctx, f, flags & MFD_CLOEXEC != 0)
}

/// fcntl F_ADD_SEALS and F_GET_SEALS: memfds only.
pub fn seals(ctx: &mut Ctx, f: &Arc<OpenFile>, add: Option<u32>) -> SysResult {
    let FileKind::File(n) = &f.kind else { return Err(EINVAL) };
    let Some(i) = n.inode().filter(|_| f.path.starts_with("/memfd:")) else { return Err(EINVAL) };
    let Some(add) = add else { return Ok(*i.seals.lock() as i64) };
    if add & !F_SEAL_ALL != 0 {
        return Err(EINVAL);
    }
    if !f.writable() {
        return Err(EPERM);
    }
    if *i.seals.lock() & F_SEAL_SEAL != 0 {
        return Err(EPERM);
    }
    // F_SEAL_WRITE with a writable shared mapping of it is EBUSY.
    if add & F_SEAL_WRITE != 0 {
        let id = n.id;
        let mapped = ctx.k.mms.values().any(|m| {
            m.space.vmas.iter().any(|v| {
                v.shared
                    && v.may_write
                    && v.perms.write
                    && matches!(&v.backing, crate::mm::Backing::File { file, .. } if file.id == id)
            })
        });
        if mapped {
            return Err(EBUSY);
        }
    }
    *i.seals.lock() |= add;
    Ok(0)
}

/// Whether a writable shared mapping of `f` is refused by its seals.
pub fn seals_forbid_shared_write(f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::File(n) => n.inode().is_some_and(|i| *i.seals.lock() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0),
        _ => false,
    }
}

/// write() and pwrite() to a file of the view, through the page cache.
pub fn write_regular(ctx: &mut Ctx, f: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    let mut done = 0u64;
    let count = count.min(super::io::MAX_RW_COUNT);
    while done < count {
        let n = (count - done).min(64 * 1024) as usize;
        let mut data = vec![0u8; n];
        if let Err(e) = ctx.read_user(buf + done, &mut data) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        let at = pos.map(|p| p + done);
        match write_bytes(ctx, f, &data, at) {
            Ok(w) => {
                done += w as u64;
                if w < n {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done as i64)
}

/// Writes `data` to file `f` at `pos` (or its position, or its end for
/// O_APPEND), moving the position if it was used.
pub fn write_bytes(ctx: &mut Ctx, f: &Arc<OpenFile>, data: &[u8], pos: Option<u64>) -> Result<usize, Errno> {
    let FileKind::File(n) = &f.kind else { return Err(EBADF) };
    if !f.writable() {
        return Err(EBADF);
    }
    if let Some(i) = n.inode() {
        if *i.seals.lock() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(EPERM);
        }
    }
    let append = f.flags() & O_APPEND != 0;
    // O_APPEND writes at the end even for pwrite, as Linux does.
    let at = if append { n.data.size() } else { pos.unwrap_or(*f.pos.lock()) };
    if data.is_empty() {
        return Ok(0);
    }
    let end = at.checked_add(data.len() as u64).filter(|&e| e <= MAX_FILE).ok_or(EFBIG)?;
    if let Some(i) = n.inode() {
        check_seals(i, n.data.size(), end.max(n.data.size()))?;
    }
    let w = ctx.k.write_cached(n.id, &n.data, at, data)?;
    if let Some(i) = n.inode() {
        i.touch();
    }
    if pos.is_none() {
        *f.pos.lock() = at + w as u64;
    }
    Ok(w)
}
