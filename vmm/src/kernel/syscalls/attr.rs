//! A file's attributes: its mode (chmod family), owner (chown family) and
//! times (utimensat, utimes, utime), as fs/attr.c, fs/open.c and
//! fs/utimes.c check them; and the umask new files' modes pass through.

use super::super::abi::fcntl::*;
use super::super::abi::stat::{S_ISGID, S_ISUID};
use super::super::abi::time::{Timespec, Timeval, Utimbuf};
use super::super::cred::{CAP_CHOWN, CAP_FSETID, MAY_WRITE};
use super::super::errno::*;
use super::super::files::vfs::{Layer, Lookup, Node};
use super::super::files::*;
use super::super::task::Ctx;
use super::namei::{cred, dnotify_object, last_name, lookup, read_path};
use super::stat::fmeta;

pub(super) fn umask(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let old = std::mem::replace(&mut ctx.proc().fs.lock().umask, a[0] as u32 & 0o777);
    Ok(old as i64)
}

pub(super) fn apply_umask(ctx: &Ctx, mode: u64) -> u32 {
    mode as u32 & 0o7777 & !ctx.proc().fs.umask()
}

/// The object an open file holds, for the f* attribute calls: itself,
/// never its name looked up again.
pub(super) fn node_of_fd(ctx: &mut Ctx, fd: i32) -> Result<Lookup, Errno> {
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
    ctx.k.files.vfs_mut().set_attr(last_name(&l.path), &l.node, |m| m.mode = (m.mode & !0o7777) | mode)?;
    dnotify_object(ctx, &l, DN_ATTRIB);
    Ok(0)
}

pub(super) fn chmod(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_mode(ctx, l, a[1])
}

pub(super) fn fchmodat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn fchmod(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    ctx.k.files.vfs_mut().set_attr(last_name(&l.path), &l.node, |m| {
        if !m.is_dir() && (uid != keep || gid != keep) {
            m.mode &= !S_ISUID;
            if m.mode & 0o010 != 0 {
                m.mode &= !S_ISGID;
            }
        }
        m.uid = new_uid;
        m.gid = new_gid;
    })?;
    dnotify_object(ctx, l, DN_ATTRIB);
    Ok(0)
}

pub(super) fn chown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_owner(ctx, &l, a[1] as u32, a[2] as u32)
}

pub(super) fn lchown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, false)?;
    set_owner(ctx, &l, a[1] as u32, a[2] as u32)
}

pub(super) fn fchownat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn fchown(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
    ctx.k.files.vfs_mut().set_attr(last_name(&l.path), &l.node, |m| {
        m.atime = pick(t[0], m.atime);
        m.mtime = pick(t[1], m.mtime);
    })?;
    dnotify_object(ctx, &l, DN_ATTRIB);
    Ok(0)
}

pub(super) fn utimensat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn utime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    old_utime(ctx, a, false)
}

pub(super) fn utimes(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    old_utime(ctx, a, true)
}
