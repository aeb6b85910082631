//! Names: resolving a path for a call (the cwd or a `*at` call's
//! directory), and the calls that make, rename and remove names (mkdir,
//! rmdir, unlink, rename, link, symlink) with their permission checks, in
//! Linux's order (fs/namei.c). Changes to the root go to the sandbox's
//! in-memory layer (the host's files never change); in a read-write bind
//! they go to the host; in a read-only bind they are EROFS.

use super::super::abi::fcntl::*;
use super::super::abi::limits::{NAME_MAX, PATH_MAX};
use super::super::abi::stat::{S_IFDIR, S_IFLNK, S_ISVTX};
use super::super::cred::{Cred, CAP_FOWNER, MAY_EXEC, MAY_READ, MAY_WRITE};
use super::super::errno::*;
use super::super::files::vfs::{join, Layer, Lookup, Node};
use super::super::files::FileKind;
use super::super::mm::kmem::LayerNeed;
use super::super::procfs::Links;
use super::super::task::Ctx;
use super::attr::node_of_fd;

pub(super) fn read_path(ctx: &mut Ctx, addr: u64) -> Result<String, Errno> {
    let bytes = ctx.read_cstr(addr, PATH_MAX)?;
    String::from_utf8(bytes).map_err(|_| ENOENT)
}

/// The directory a `*at` call's relative path starts from: the cwd, or
/// the directory `dirfd` holds (itself, not its name looked up again).
pub(super) fn base_dir(ctx: &Ctx, dirfd: i32, path: &str) -> Result<Lookup, Errno> {
    if path.starts_with('/') {
        return Ok(ctx.k.files.vfs().root().clone());
    }
    if dirfd == AT_FDCWD {
        return Ok(ctx.proc().fs.cwd());
    }
    let f = ctx.proc().files.file(dirfd)?;
    match &f.kind {
        FileKind::Dir(d) => Ok(d.at.clone()),
        _ => Err(ENOTDIR),
    }
}

/// Resolves `path` relative to `dirfd`, with the caller's credentials.
pub(super) fn lookup(ctx: &mut Ctx, dirfd: i32, path: &str, follow: bool) -> Result<Lookup, Errno> {
    let base = base_dir(ctx, dirfd, path)?;
    let links = Links { k: &ctx.k, pid: ctx.pid };
    ctx.k.files.vfs().resolve(&base, path, follow, &links, &ctx.proc().cred)
}

/// fsnotify for F_NOTIFY: event `ev` (a DN_ bit) on what `l` names
/// reaches a watch on it, if a directory, and one on the directory it is
/// in (fsnotify_parent).
pub(super) fn dnotify_object(ctx: &mut Ctx, l: &Lookup, ev: u32) {
    if !ctx.k.dnotify_watching() {
        return;
    }
    ctx.k.dnotify_event(&l.node.meta(), ev);
    if let Some((parent, _)) = l.path.rsplit_once('/').filter(|_| l.path != "/") {
        let parent = if parent.is_empty() { "/" } else { parent };
        if let Ok(d) = lookup(ctx, AT_FDCWD, parent, true) {
            ctx.k.dnotify_event(&d.node.meta(), ev);
        }
    }
}

/// Event `ev` (a DN_ bit) among the names of directory `dir`.
pub(super) fn dnotify_dir(ctx: &mut Ctx, dir: &Lookup, ev: u32) {
    if ctx.k.dnotify_watching() {
        ctx.k.dnotify_event(&dir.node.meta(), ev);
    }
}

/// fsnotify_move(): a rename inside one directory is DN_RENAME there; the
/// name leaves `from` (DN_DELETE) and arrives in `to` (DN_CREATE).
fn dnotify_move(ctx: &mut Ctx, from: &Lookup, to: &Lookup) {
    if !ctx.k.dnotify_watching() {
        return;
    }
    let (a, b) = (from.node.meta(), to.node.meta());
    if (a.dev, a.ino) == (b.dev, b.ino) {
        ctx.k.dnotify_event(&a, DN_RENAME);
    }
    ctx.k.dnotify_event(&a, DN_DELETE);
    ctx.k.dnotify_event(&b, DN_CREATE);
}

/// The caller's credentials.
pub(super) fn cred(ctx: &Ctx) -> Cred {
    ctx.proc().cred.clone()
}

/// The last component of a resolved path: the name an object has in its
/// directory, where the layer keeps its copy.
pub(super) fn last_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A path of a call that makes or removes a name: its directory
/// (resolved) and its last component.
pub(super) struct Named {
    pub(crate) dir: Lookup,
    pub(crate) name: String,
    /// The path the name has (`dir`/`name`).
    pub(crate) path: String,
    /// It ended in '/'.
    pub(crate) slash: bool,
}

/// Splits `path` (relative to `dirfd`) into its directory and last name.
pub(super) fn named(ctx: &mut Ctx, dirfd: i32, path: &str) -> Result<Named, Errno> {
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
pub(super) fn existing(ctx: &mut Ctx, n: &Named, follow: bool) -> Result<Lookup, Errno> {
    let name = if n.name.is_empty() { "." } else { &n.name };
    let links = Links { k: &ctx.k, pid: ctx.pid };
    ctx.k.files.vfs().resolve(&n.dir, name, follow, &links, &ctx.proc().cred)
}

/// may_create(): the directory takes new names from the caller.
pub(super) fn may_create(dir: &Node, cred: &Cred) -> Result<(), Errno> {
    match dir {
        Node::Host { layer: Layer::ReadOnly, .. } => return Err(EROFS),
        Node::Proc(_) | Node::Device(_) | Node::Synthetic { .. } => return Err(EACCES),
        _ => {}
    }
    let m = dir.meta();
    cred.permission(m.mode, m.uid, m.gid, MAY_WRITE | MAY_EXEC)
}

/// filename_create(): `path` names something new in a directory that
/// takes new names from the caller (EEXIST for a name that exists, "."
/// or ".."; ENOENT for a trailing '/' unless a directory is asked for).
pub(super) fn filename_create(ctx: &mut Ctx, dirfd: i32, path: &str, dir_wanted: bool) -> Result<(Named, Cred), Errno> {
    let n = named(ctx, dirfd, path)?;
    if n.name.is_empty() || n.name == "." || n.name == ".." || existing(ctx, &n, false).is_ok() {
        return Err(EEXIST);
    }
    if n.slash && !dir_wanted {
        return Err(ENOENT);
    }
    let cred = cred(ctx);
    may_create(&n.dir.node, &cred)?;
    Ok((n, cred))
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
pub(super) fn layer_room(ctx: &mut Ctx, dir: &Node, target: Option<&str>) -> Result<(), Errno> {
    if dir.layer() != Layer::Overlay {
        return Ok(());
    }
    ctx.k.charge_layer(LayerNeed { inodes: 1, target })
}

fn do_mkdir(ctx: &mut Ctx, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let p = read_path(ctx, path)?;
    let (n, cred) = filename_create(ctx, dirfd, &p, true)?;
    layer_room(ctx, &n.dir.node, None)?;
    let mode = mode as u32 & 0o1777 & !ctx.proc().fs.umask();
    ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, S_IFDIR, mode, "", &cred)?;
    dnotify_dir(ctx, &n.dir, DN_CREATE);
    Ok(0)
}

pub(super) fn mkdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mkdir(ctx, AT_FDCWD, a[0], a[1])
}

pub(super) fn mkdirat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    if ctx.k.files.vfs().is_mount_point(&l.path) {
        return Err(EBUSY);
    }
    if ctx.k.files.vfs().has_entries(&l) {
        return Err(ENOTEMPTY);
    }
    ctx.k.files.vfs_mut().remove(&n.dir, &n.name, &l.node)?;
    dnotify_dir(ctx, &n.dir, DN_DELETE);
    Ok(0)
}

pub(super) fn do_unlink(ctx: &mut Ctx, dirfd: i32, p: &str) -> SysResult {
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
    if ctx.k.files.vfs().is_mount_point(&l.path) {
        return Err(EBUSY);
    }
    ctx.k.files.vfs_mut().remove(&n.dir, &n.name, &l.node)?;
    release(ctx, &l.node);
    dnotify_dir(ctx, &n.dir, DN_DELETE);
    Ok(0)
}

pub(super) fn rmdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    do_rmdir(ctx, AT_FDCWD, &p)
}

pub(super) fn unlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    do_unlink(ctx, AT_FDCWD, &p)
}

pub(super) fn unlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    let vfs = ctx.k.files.vfs();
    if vfs.is_mount_point(&ol.path) || nl.as_ref().is_some_and(|l| vfs.is_mount_point(&l.path)) {
        return Err(EBUSY);
    }
    if flags & RENAME_EXCHANGE != 0 {
        let nl = nl.ok_or(ENOENT)?;
        if is_within(&nl.path, &ol.path) || is_within(&ol.path, &nl.path) {
            return Err(EINVAL);
        }
        ctx.k.files.vfs_mut().exchange(&on.dir, &on.name, &ol.node, &nn.dir, &nn.name, &nl.node)?;
        dnotify_move(ctx, &on.dir, &nn.dir);
        dnotify_move(ctx, &nn.dir, &on.dir);
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
            (true, true) if ctx.k.files.vfs().has_entries(l) => return Err(ENOTEMPTY),
            _ => {}
        }
    }
    let replaced = nl.as_ref().map(|l| l.node.clone());
    ctx.k.files.vfs_mut().rename(&on.dir, &on.name, &ol.node, &nn.dir, &nn.name, replaced.as_ref())?;
    if let Some(r) = &replaced {
        release(ctx, r);
    }
    dnotify_move(ctx, &on.dir, &nn.dir);
    Ok(0)
}

pub(super) fn rename(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_rename(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub(super) fn renameat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_rename(ctx, a[0] as i32, a[1], a[2] as i32, a[3], 0)
}

pub(super) fn renameat2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    ctx.k.files.vfs_mut().link(last_name(&ol.path), &ol.node, &nn.dir, &nn.name)?;
    dnotify_dir(ctx, &nn.dir, DN_CREATE);
    Ok(0)
}

pub(super) fn link(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_link(ctx, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub(super) fn linkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_link(ctx, a[0] as i32, a[1], a[2] as i32, a[3], a[4])
}

fn do_symlink(ctx: &mut Ctx, target: u64, dirfd: i32, path: u64) -> SysResult {
    let t = read_path(ctx, target)?;
    if t.is_empty() {
        return Err(ENOENT);
    }
    let p = read_path(ctx, path)?;
    let (n, cred) = filename_create(ctx, dirfd, &p, false)?;
    layer_room(ctx, &n.dir.node, Some(&t))?;
    ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, S_IFLNK, 0o777, &t, &cred)?;
    dnotify_dir(ctx, &n.dir, DN_CREATE);
    Ok(0)
}

pub(super) fn symlink(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_symlink(ctx, a[0], AT_FDCWD, a[1])
}

pub(super) fn symlinkat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_symlink(ctx, a[0], a[1] as i32, a[2])
}
