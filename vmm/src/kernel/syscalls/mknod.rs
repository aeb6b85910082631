//! mknod and mknodat (and mkfifo through them), and opening what they
//! make: a FIFO by fifo_open's rules, a device node of the layer by its
//! number (fs/namei.c do_mknodat, fs/pipe.c fifo_open).

use std::sync::Arc;

use super::super::abi::fcntl::*;
use super::super::abi::stat::*;
use super::super::cred::{Cred, CAP_FSETID, CAP_MKNOD};
use super::super::errno::*;
use super::super::files::fifo::{ends, Fifo};
use super::super::files::pipe::Pipe;
use super::super::files::vfs::{Layer, Lookup, Node};
use super::super::files::{FileKind, OpenFile};
use super::super::task::Ctx;
use super::attr::apply_umask;
use super::namei::{filename_create, layer_room, read_path};
use super::open::may_open;

/// may_mknod(): the file type asked for (none is a regular file); a
/// directory is EPERM (mkdir makes those), anything else EINVAL.
fn node_type(mode: u32) -> Result<u32, Errno> {
    match mode & S_IFMT {
        0 | S_IFREG => Ok(S_IFREG),
        t @ (S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => Ok(t),
        S_IFDIR => Err(EPERM),
        _ => Err(EINVAL),
    }
}

/// mode_strip_sgid(): a group-executable set-group-ID file made in a
/// set-group-ID directory keeps the bit only for a member of the
/// directory's group (or CAP_FSETID).
fn strip_sgid(mode: u32, dir: &Node, cred: &Cred) -> u32 {
    let d = dir.meta();
    let sgid_exec = mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP;
    if sgid_exec && d.mode & S_ISGID != 0 && !cred.in_group(d.gid) && !cred.capable(CAP_FSETID) {
        mode & !S_ISGID
    } else {
        mode
    }
}

fn do_mknod(ctx: &mut Ctx, dirfd: i32, path: u64, mode: u64, dev: u64) -> SysResult {
    let ifmt = node_type(mode as u32)?;
    let p = read_path(ctx, path)?;
    // A name ending in '/' asks for a directory: ENOENT here.
    let (n, cred) = filename_create(ctx, dirfd, &p, false)?;
    let device = ifmt == S_IFCHR || ifmt == S_IFBLK;
    if device && !cred.capable(CAP_MKNOD) {
        return Err(EPERM);
    }
    // A device node in a read-write bind would be a host device node:
    // host hardware for whoever reaches the bind, in or out of the
    // sandbox. faultline makes none, as a container's root whose
    // CAP_MKNOD is not the host's gets EPERM (vfs_mknod's capable()).
    if device && n.dir.node.layer() == Layer::ReadWrite {
        return Err(EPERM);
    }
    layer_room(ctx, &n.dir.node, None)?;
    let perm = strip_sgid(apply_umask(ctx, mode), &n.dir.node, &cred);
    let node = ctx.k.files.vfs_mut().make_node(&n.dir, &n.name, ifmt, perm, "", &cred)?;
    if let (true, Node::Mem(i)) = (device, &node) {
        // The number as given: new_decode_dev then stat's new_encode_dev
        // give back the same 32 bits.
        i.meta.lock().rdev = dev as u32 as u64;
    }
    super::namei::dnotify_dir(ctx, &n.dir, DN_CREATE);
    Ok(0)
}

pub(super) fn mknod(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mknod(ctx, AT_FDCWD, a[0], a[1], a[2])
}

pub(super) fn mknodat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mknod(ctx, a[0] as i32, a[1], a[2], a[3])
}

/// What opening a device node of the layer reaches: the devices faultline
/// has (mem's null, zero, random and urandom); any other number is ENXIO,
/// as chrdev_open and blkdev_open say for a device no driver claims.
pub(super) fn device_of(mode: u32, rdev: u64) -> Result<FileKind, Errno> {
    let (major, minor) = ((rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00));
    if mode & S_IFMT != S_IFCHR || major != 1 {
        return Err(ENXIO);
    }
    Ok(match minor {
        3 => FileKind::Null,
        5 => FileKind::Zero,
        8 | 9 => FileKind::Random,
        _ => return Err(ENXIO),
    })
}

/// Whether `l` names a FIFO.
pub(super) fn is_fifo(l: &Lookup) -> bool {
    matches!(l.node, Node::Host { .. } | Node::Mem(_)) && l.node.meta().mode & S_IFMT == S_IFIFO
}

/// The mode and number of a device node of the layer.
pub(super) fn device_node(l: &Lookup) -> Option<(u32, u64)> {
    match &l.node {
        Node::Mem(i) => {
            let m = i.stat();
            matches!(m.mode & S_IFMT, S_IFCHR | S_IFBLK).then_some((m.mode, m.rdev))
        }
        _ => None,
    }
}

/// fifo_open(): a reader waits for a writer and a writer for a reader
/// unless O_NONBLOCK (a writer then fails with ENXIO when no reader is
/// there) or O_RDWR; the wait ends at a signal (the open is undone).
pub(super) fn open_fifo(ctx: &mut Ctx, l: Lookup, flags: u32, created: bool, cred: &Cred) -> FileResult {
    if flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    let meta = l.node.meta();
    if !created {
        // O_TRUNC means nothing to a FIFO (may_open drops it).
        may_open(&meta, flags & !O_TRUNC, cred)?;
    }
    let (r, w) = ends(flags);
    if !r && !w {
        return Err(EINVAL);
    }
    let who = ctx.proc().cred.clone();
    let pipe = ctx.k.fifo_pipe((meta.dev, meta.ino), &who)?;
    let nonblock = flags & O_NONBLOCK != 0;
    if w && !r && nonblock && !pipe.has_readers() {
        return Err(ENXIO);
    }
    let (rc, wc) = pipe.counters();
    let alone_reader = r && !w && !pipe.has_writers();
    let alone_writer = w && !r && !pipe.has_readers();
    // A non-blocking reader that found no writer sees no hang-up until
    // one has come and gone (filp->f_pipe).
    let w_seen = if alone_reader && nonblock { wc } else { 0 };
    let path = l.path.clone();
    let f = OpenFile::new(FileKind::Fifo(Fifo { pipe: pipe.clone(), node: l, w_seen }), flags, path);
    if alone_reader && !nonblock {
        wait_partner(ctx, &pipe, true, wc)?;
    } else if alone_writer {
        wait_partner(ctx, &pipe, false, rc)?;
    }
    Ok(f)
}

/// An open FIFO file, or why not.
type FileResult = Result<Arc<OpenFile>, Errno>;

/// wait_for_partner(): sleeps until the other end's opens move past
/// `seen` (a writer when `for_writer`), or a signal or kill comes.
fn wait_partner(ctx: &mut Ctx, pipe: &Pipe, for_writer: bool, seen: u64) -> Result<(), Errno> {
    loop {
        let (rc, wc) = pipe.counters();
        if (if for_writer { wc } else { rc }) != seen {
            return Ok(());
        }
        if let Some(why) = ctx.interrupted() {
            return Err(ctx.woken_errno(why));
        }
        let q = if for_writer { &pipe.readable } else { &pipe.writable };
        q.register(&ctx.cond());
        ctx.sleep(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_device_numbers_as_linux() {
        assert_eq!(node_type(0), Ok(S_IFREG));
        assert_eq!(node_type(S_IFIFO | 0o644), Ok(S_IFIFO));
        assert_eq!(node_type(S_IFDIR), Err(EPERM));
        assert_eq!(node_type(S_IFMT), Err(EINVAL));
        assert_eq!(node_type(S_IFLNK), Err(EINVAL));
        assert!(matches!(device_of(S_IFCHR, 0x103), Ok(FileKind::Null)));
        assert!(matches!(device_of(S_IFCHR, 0x105), Ok(FileKind::Zero)));
        assert!(matches!(device_of(S_IFCHR, 0x109), Ok(FileKind::Random)));
        assert_eq!(device_of(S_IFBLK, 0x103).err(), Some(ENXIO));
        assert_eq!(device_of(S_IFCHR, 0x801).err(), Some(ENXIO));
        // Minor 0x103 of major 1: its high bits sit above the major's.
        assert_eq!(device_of(S_IFCHR, 0x100 | (0x1 << 20) | 3).err(), Some(ENXIO));
    }
}
