//! A regular file's bytes: read and write through the page cache, its
//! size (truncate, ftruncate, fallocate), and getting it to storage
//! (fsync, sync, sync_file_range) and the hints about it (readahead,
//! fadvise64).

use std::sync::Arc;

use super::super::abi::fcntl::*;
use super::super::abi::resource::{RLIMIT_FSIZE, RLIM_INFINITY};
use super::super::abi::signal::SI_USER;
use super::super::errno::*;
use super::super::files::vfs::{Node, OpenNode};
use super::super::files::*;
use super::super::signal::{SigInfo, SIGXFSZ};
use super::super::task::Ctx;
use super::memfd::check_seals;
use super::namei::{dnotify_object, lookup, read_path};
use super::open::open_node;

/// The largest file (MAX_LFS_FILESIZE).
const MAX_FILE: u64 = i64::MAX as u64;

/// `count` bytes of cached file `node` from `at`, through the page cache.
pub(super) fn read_cached(ctx: &mut Ctx, node: &OpenNode, at: u64, count: usize) -> Result<Vec<u8>, Errno> {
    ctx.k.read_cached(node.id, &node.data, at, count)
}

/// read() and pread() of a file of the view, through the page cache.
pub(super) fn read_regular(ctx: &mut Ctx, f: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
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
    if done > 0 {
        dnotify_file(ctx, node, DN_ACCESS);
    }
    Ok(done as i64)
}

/// F_NOTIFY's event `ev` on open file `n`.
fn dnotify_file(ctx: &mut Ctx, n: &OpenNode, ev: u32) {
    if ctx.k.dnotify_watching() {
        dnotify_object(ctx, &vfs::Lookup { path: n.path.clone(), node: n.node.clone() }, ev);
    }
}

/// write() and pwrite() to a file of the view, through the page cache.
pub(super) fn write_regular(ctx: &mut Ctx, f: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
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
    if let (true, FileKind::File(n)) = (done > 0, &f.kind) {
        dnotify_file(ctx, n, DN_MODIFY);
    }
    Ok(done as i64)
}

/// Writes `data` to file `f` at `pos` (or its position, or its end for
/// O_APPEND), moving the position if it was used.
pub(super) fn write_bytes(ctx: &mut Ctx, f: &Arc<OpenFile>, data: &[u8], pos: Option<u64>) -> Result<usize, Errno> {
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
    let data = &data[..fsize_room(ctx, at, data.len() as u64)? as usize];
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

/// generic_write_check_limits(): how much of `len` bytes at `at` the
/// caller's RLIMIT_FSIZE lets through; EFBIG and SIGXFSZ for none.
fn fsize_room(ctx: &mut Ctx, at: u64, len: u64) -> Result<u64, Errno> {
    let limit = ctx.proc().limits.cur(RLIMIT_FSIZE);
    if limit == RLIM_INFINITY {
        return Ok(len);
    }
    if at >= limit {
        xfsz(ctx);
        return Err(EFBIG);
    }
    Ok(len.min(limit - at))
}

/// send_sig(SIGXFSZ, current): the file grew past RLIMIT_FSIZE.
fn xfsz(ctx: &mut Ctx) {
    let info = SigInfo::user(SIGXFSZ, ctx.pid, ctx.proc().cred.uid, SI_USER);
    ctx.k.send_thread_signal(ctx.tid, info);
}

/// Resizes the file `f` names (checked writable by the caller); growing
/// past RLIMIT_FSIZE is EFBIG with SIGXFSZ (inode_newsize_ok).
fn resize_open(ctx: &mut Ctx, n: &vfs::OpenNode, size: u64) -> SysResult {
    if size > n.data.size() && size > ctx.proc().limits.cur(RLIMIT_FSIZE) {
        xfsz(ctx);
        return Err(EFBIG);
    }
    if let Some(i) = n.inode() {
        check_seals(i, n.data.size(), size)?;
    }
    ctx.k.resize_file(n.id, &n.data, size)?;
    if let Some(i) = n.inode() {
        i.touch();
    }
    dnotify_file(ctx, n, DN_MODIFY);
    Ok(0)
}

pub(super) fn truncate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let size = a[1] as i64;
    if size < 0 {
        return Err(EINVAL);
    }
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    if l.node.is_dir() {
        return Err(EISDIR);
    }
    // vfs_truncate: only a regular file (a FIFO's open would block).
    if matches!(l.node, Node::Host { .. } | Node::Mem(_)) && !l.node.meta().is_reg() {
        return Err(EINVAL);
    }
    let f = open_node(ctx, l, O_WRONLY)?;
    let FileKind::File(n) = &f.kind else { return Err(EINVAL) };
    resize_open(ctx, n, size as u64)
}

pub(super) fn ftruncate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn fallocate(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) | FileKind::Fifo(_) => return Err(ESPIPE),
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

pub(super) fn fsync(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn sync(_: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(0)
}

pub(super) fn sync_file_range(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    if a[3] & !7 != 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

pub(super) fn readahead(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    match f.kind {
        FileKind::File(_) => Ok(0),
        _ => Err(EINVAL),
    }
}

pub(super) fn fadvise64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if a[3] > POSIX_FADV_NOREUSE {
        return Err(EINVAL);
    }
    match f.kind {
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) | FileKind::Fifo(_) => Err(ESPIPE),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::{O_CREAT, O_RDWR};
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::abi::resource::RLIMIT_FSIZE;
    use crate::kernel::errno::*;
    use crate::kernel::signal::SIGXFSZ;
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn rlimit_fsize_cuts_writes_short_then_refuses_with_sigxfsz() {
        let t = TestKernel::new();
        let m = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        // SIGXFSZ blocked, to be seen pending rather than dumping core.
        t.poke(m, &(1u64 << (SIGXFSZ - 1)).to_le_bytes());
        assert_eq!(t.sys("rt_sigprocmask", &[0, m, 0, 8]), 0);
        t.poke(m + 64, &[10u64.to_le_bytes(), 10u64.to_le_bytes()].concat());
        assert_eq!(t.sys("setrlimit", &[RLIMIT_FSIZE as u64, m + 64]), 0);
        let fd = t.open("/tmp/capped", (O_RDWR | O_CREAT) as u64) as u64;
        let pending = |t: &TestKernel| {
            assert_eq!(t.sys("rt_sigpending", &[m + 128, 8]), 0);
            u64::from_le_bytes(t.peek(m + 128, 8).try_into().unwrap()) & (1 << (SIGXFSZ - 1)) != 0
        };
        assert_eq!(t.sys("write", &[fd, m + 256, 26]), 10, "cut short at the limit");
        assert!(!pending(&t), "no signal for a short write");
        assert_eq!(t.sys("write", &[fd, m + 256, 1]), err(EFBIG));
        assert!(pending(&t), "SIGXFSZ for a write at the limit");
        assert_eq!(t.sys("ftruncate", &[fd, 20]), err(EFBIG), "growing past it");
        assert_eq!(t.sys("ftruncate", &[fd, 4]), 0, "shrinking is fine");
    }
}
