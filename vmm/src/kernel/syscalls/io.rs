//! The read/write family: read, write, the vectored and positional ones,
//! lseek, ioctl, sendfile and copy_file_range, over every kind of open
//! file: the sandbox's stdio on the host, pipes (which block), files of
//! the view (through the page cache), /proc and /dev.

use std::sync::Arc;

use zerocopy::IntoBytes;

use super::super::abi::fcntl::{O_NONBLOCK, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET};
use super::super::abi::ioctl::*;
use super::super::abi::uio::{Iovec, RWF_SUPPORTED, UIO_MAXIOV};
use super::super::errno::*;
use super::super::files::fifo::Fifo;
use super::super::files::pipe::{Io, Pipe};
use super::super::files::stdio::Input;
use super::super::files::{FileKind, OpenFile};
use super::super::signal::{SigInfo, SIGPIPE, SI_USER};
use super::super::task::Ctx;
use super::proc_io::written_number;

/// Largest chunk moved between the guest and the host at once.
pub(super) const CHUNK: u64 = 64 * 1024;
/// Linux caps one read or write at MAX_RW_COUNT.
pub(crate) const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The errno for a failed host write: a closed pipe is EPIPE (and
/// SIGPIPE); anything else the program can only see as EIO.
fn host_errno(e: &std::io::Error) -> Errno {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => EPIPE,
        std::io::ErrorKind::Interrupted => EINTR,
        _ => EIO,
    }
}

/// EPIPE raises SIGPIPE at the writing thread, as pipe_write does.
fn epipe(ctx: &mut Ctx) -> Errno {
    let (pid, tid, uid) = (ctx.pid, ctx.tid, ctx.proc().cred.uid);
    ctx.k.send_thread_signal(tid, SigInfo::user(SIGPIPE, pid, uid, SI_USER));
    EPIPE
}

/// Gathers `count` bytes of user memory at `buf` in chunks, calling `sink`
/// with each; a bad buffer after some bytes went out gives a short count,
/// at the start EFAULT (as Linux's write()).
fn write_chunks(
    ctx: &mut Ctx,
    buf: u64,
    count: u64,
    mut sink: impl FnMut(&mut Ctx, &[u8]) -> Result<usize, Errno>,
) -> SysResult {
    let count = count.min(MAX_RW_COUNT);
    let mut done = 0u64;
    while done < count {
        let n = CHUNK.min(count - done);
        let Some(at) = buf.checked_add(done) else { break };
        let good = ctx.k.readable_prefix(ctx.pid, at, n);
        let mut chunk = vec![0u8; good as usize];
        if good == 0 || ctx.read_user(at, &mut chunk).is_err() {
            return if done > 0 { Ok(done as i64) } else { Err(EFAULT) };
        }
        match sink(ctx, &chunk) {
            Ok(w) => {
                done += w as u64;
                if (w as u64) < good {
                    break;
                }
            }
            Err(e) => return if done > 0 { Ok(done as i64) } else { Err(e) },
        }
        if good < n {
            break;
        }
    }
    Ok(done as i64)
}

/// Writes to `file`, at `pos` or its own position.
pub(crate) fn write_file(ctx: &mut Ctx, file: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    if !file.writable() {
        return Err(EBADF);
    }
    match &file.kind {
        FileKind::Output(out) => {
            let out = out.clone();
            write_chunks(ctx, buf, count, |ctx, data| match ctx.unlocked(|| out.write_all(data)) {
                Ok(()) => Ok(data.len()),
                Err(e) => match host_errno(&e) {
                    EPIPE => Err(epipe(ctx)),
                    e => Err(e),
                },
            })
        }
        FileKind::PipeWrite(p) | FileKind::Fifo(Fifo { pipe: p, .. }) => {
            let p = p.clone();
            let nonblock = file.nonblocking();
            // pipe_write merges the write's odd bytes (its length modulo a
            // page) into the last page, once, before anything else.
            let mut merge = (count.min(MAX_RW_COUNT) % crate::arch::PAGE_SIZE) as usize;
            write_chunks(ctx, buf, count, |ctx, data| write_pipe(ctx, &p, data, nonblock, std::mem::take(&mut merge)))
        }
        FileKind::Null | FileKind::Zero | FileKind::Random => Ok(count.min(MAX_RW_COUNT) as i64),
        FileKind::Socket(s) => super::sockmsg::write_sock(ctx, file, &s.clone(), buf, count),
        FileKind::File(_) => super::file_io::write_regular(ctx, file, buf, count, pos),
        FileKind::Proc { path, .. } if path.ends_with("/oom_score_adj") => {
            let target: u32 = path.split('/').next().and_then(|p| p.parse().ok()).ok_or(EINVAL)?;
            let v: i32 = written_number(ctx, buf, count)?;
            if !(super::super::mm::oom::OOM_SCORE_ADJ_MIN..=super::super::mm::oom::OOM_SCORE_ADJ_MAX).contains(&v) {
                return Err(EINVAL);
            }
            // Going below oom_score_adj_min needs CAP_SYS_RESOURCE; without
            // it that floor stays 0, so a process may lower what it raised.
            if v < 0 && !ctx.proc().cred.capable(super::super::cred::CAP_SYS_RESOURCE) {
                return Err(EACCES);
            }
            let p = ctx.k.tasks.proc_mut(target).ok_or(ESRCH)?;
            p.oom_score_adj = v;
            Ok(count as i64)
        }
        FileKind::Proc { pid, path, .. } if path.ends_with("/clear_refs") => {
            super::proc_io::clear_refs(ctx, *pid, buf, count)
        }
        FileKind::Proc { path, .. } if path == "sys/fs/lease-break-time" => {
            // proc_dointvec: an int, after any blanks.
            ctx.k.files.leases.break_time = written_number(ctx, buf, count)?;
            Ok(count as i64)
        }
        FileKind::Proc { path, .. } if path == "sys/vm/max_map_count" => {
            // proc_dointvec_minmax, from 0.
            let v: i32 = written_number(ctx, buf, count)?;
            ctx.k.cfg.max_map_count = usize::try_from(v).map_err(|_| EINVAL)?;
            Ok(count as i64)
        }
        FileKind::Proc { path, .. } if path == "sys/fs/pipe-max-size" => {
            // proc_dopipe_max_size: rounded up as a pipe's size is.
            let v: u32 = written_number(ctx, buf, count)?;
            let size = super::super::files::pipe::round_pipe_size(v);
            if size == 0 {
                return Err(EINVAL);
            }
            ctx.k.files.pipe_max_size = size;
            Ok(count as i64)
        }
        FileKind::Proc { pid, path, .. } if path.ends_with("/coredump_filter") => {
            super::proc_io::coredump_filter(ctx, *pid, buf, count)
        }
        FileKind::Proc { path, .. } if path == "sys/kernel/core_pattern" => {
            super::proc_io::core_pattern(ctx, buf, count)
        }
        FileKind::Proc { path, .. } if path == "sys/kernel/core_uses_pid" => {
            // proc_dointvec: any int; not 0 is on.
            let v: i32 = written_number(ctx, buf, count)?;
            ctx.k.coredump.uses_pid = v != 0;
            Ok(count as i64)
        }
        FileKind::Proc { pid, path, .. } if path.ends_with("/timens_offsets") => {
            super::proc_io::timens_offsets(ctx, *pid, buf, count)
        }
        FileKind::Proc { pid, path, .. } if path.starts_with("sys/net/") => {
            super::proc_io::net_sysctl(ctx, *pid, path, buf, count)
        }
        FileKind::Anon(a) => super::eventfd::write(ctx, file, a, buf, count),
        FileKind::Input(_) | FileKind::PipeRead(_) | FileKind::Proc { .. } => Err(EBADF),
        FileKind::Dir(_) => Err(EISDIR),
        FileKind::Path(_) => Err(EBADF),
    }
}

/// Puts all of `data` in a pipe, blocking while it is full; its first
/// `merge` bytes may go into the last page (see `Pipe::write`). Each new
/// page is charged to kernel memory: ENOMEM when RAM is out and nothing
/// went in, as pipe_write.
fn write_pipe(
    ctx: &mut Ctx,
    p: &Arc<super::super::files::Pipe>,
    data: &[u8],
    nonblock: bool,
    mut merge: usize,
) -> Result<usize, Errno> {
    let mut done = 0;
    loop {
        let k = &mut *ctx.k;
        let r = p.write(&data[done..], std::mem::take(&mut merge), |c| k.kmem_grow(c, crate::mm::Kmem::PipePage));
        match r {
            Err(EPIPE) => return if done > 0 { Ok(done) } else { Err(epipe(ctx)) },
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            Ok(Io::Done(n)) => {
                done += n;
                if done == data.len() {
                    return Ok(done);
                }
            }
            Ok(Io::WouldBlock) => {
                if nonblock {
                    return if done > 0 { Ok(done) } else { Err(EAGAIN) };
                }
                if let Some(w) = ctx.interrupted() {
                    return if done > 0 { Ok(done) } else { Err(ctx.woken_errno(w)) };
                }
                p.writable.register(&ctx.cond());
                ctx.sleep(None);
            }
        }
    }
}

/// Reads from `file` into user memory, at `pos` or its own position.
pub(crate) fn read_file(ctx: &mut Ctx, file: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    if !file.readable() {
        return Err(EBADF);
    }
    let count = count.min(MAX_RW_COUNT);
    let data: Vec<u8> = match &file.kind {
        FileKind::Input(input) => read_input(ctx, file, &input.clone(), count)?,
        FileKind::PipeRead(p) | FileKind::Fifo(Fifo { pipe: p, .. }) => read_pipe(ctx, file, &p.clone(), buf, count)?,
        FileKind::Proc { .. } => return super::proc_io::read_proc(ctx, file, buf, count, pos),
        FileKind::Null => Vec::new(),
        FileKind::Zero => vec![0u8; count.min(CHUNK) as usize],
        FileKind::Random => {
            let mut v = vec![0u8; count.min(CHUNK) as usize];
            // SAFETY: filling our own buffer.
            let got = unsafe { libc::getrandom(v.as_mut_ptr().cast(), v.len(), 0) };
            v.truncate(got.max(0) as usize);
            v
        }
        FileKind::File(_) => return super::file_io::read_regular(ctx, file, buf, count, pos),
        FileKind::Socket(s) => return super::sockmsg::read_sock(ctx, file, &s.clone(), buf, count),
        FileKind::Dir(_) => return Err(EISDIR),
        FileKind::Anon(a) => return super::eventfd::read(ctx, file, a, buf, count),
        FileKind::Output(_) | FileKind::PipeWrite(_) | FileKind::Path(_) => return Err(EBADF),
    };
    ctx.write_user(buf, &data)?;
    Ok(data.len() as i64)
}

/// A read of the sandbox's stdin on the host, with the kernel lock
/// released while the host blocks.
fn read_input(ctx: &mut Ctx, file: &Arc<OpenFile>, input: &Input, count: u64) -> Result<Vec<u8>, Errno> {
    let mut tmp = vec![0u8; count.min(CHUNK) as usize];
    let at = *file.pos.lock();
    loop {
        match ctx.unlocked(|| input.read(at, &mut tmp)) {
            Ok(n) => {
                tmp.truncate(n);
                *file.pos.lock() += n as u64;
                return Ok(tmp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if let Some(w) = ctx.interrupted() {
                    return Err(ctx.woken_errno(w));
                }
            }
            Err(_) => return Err(EIO),
        }
    }
}

/// pipe_read (a pipe or a FIFO): what the pipe holds, blocking while it
/// is empty and has writers.
fn read_pipe(ctx: &mut Ctx, file: &Arc<OpenFile>, p: &Pipe, buf: u64, count: u64) -> Result<Vec<u8>, Errno> {
    // As Linux: a bad buffer is EFAULT before anything is taken.
    if count > 0 && ctx.k.readable_prefix(ctx.pid, buf, 1) == 0 {
        return Err(EFAULT);
    }
    loop {
        // As pipe_read, as much as the pipe holds (at most its
        // size: pipe-max-size for an unprivileged user).
        let (io, data) = p.read(count.min(super::super::files::pipe::PIPE_MAX_SIZE) as usize)?;
        match io {
            Io::Done(_) => return Ok(data),
            Io::WouldBlock => {
                if file.nonblocking() {
                    return Err(EAGAIN);
                }
                if let Some(w) = ctx.interrupted() {
                    return Err(ctx.woken_errno(w));
                }
                p.readable.register(&ctx.cond());
                ctx.sleep(None);
            }
        }
    }
}

pub(crate) fn read(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    read_file(ctx, &f, a[1], a[2], None)
}

pub(crate) fn write(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    write_file(ctx, &f, a[1], a[2], None)
}

fn positional(f: &OpenFile, pos: u64) -> Result<u64, Errno> {
    match f.kind {
        FileKind::File(_) | FileKind::Proc { .. } | FileKind::Null | FileKind::Zero | FileKind::Random => {}
        FileKind::Dir(_) => return Err(EISDIR),
        _ => return Err(ESPIPE),
    }
    if (pos as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(pos)
}

pub(crate) fn pread64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let pos = positional(&f, a[3])?;
    read_file(ctx, &f, a[1], a[2], Some(pos))
}

pub(crate) fn pwrite64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let pos = positional(&f, a[3])?;
    write_file(ctx, &f, a[1], a[2], Some(pos))
}

/// Reads an iovec array: (base, len) pairs.
fn iovecs(ctx: &mut Ctx, iov: u64, cnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if cnt > UIO_MAXIOV {
        return Err(EINVAL);
    }
    let mut raw = vec![Iovec::default(); cnt as usize];
    ctx.read_user(iov, raw.as_mut_bytes())?;
    let mut v = Vec::with_capacity(cnt as usize);
    let mut total: u64 = 0;
    for c in raw {
        total = total.checked_add(c.iov_len).filter(|&t| t <= i64::MAX as u64).ok_or(EINVAL)?;
        v.push((c.iov_base, c.iov_len));
    }
    Ok(v)
}

/// Runs `op` over each vector in turn, as readv/writev do: stops at the
/// first short transfer; an error counts only if nothing was transferred.
fn vectored(
    ctx: &mut Ctx,
    f: &Arc<OpenFile>,
    iov: u64,
    cnt: u64,
    mut pos: Option<u64>,
    op: fn(&mut Ctx, &Arc<OpenFile>, u64, u64, Option<u64>) -> SysResult,
) -> SysResult {
    let mut done: i64 = 0;
    for (base, len) in iovecs(ctx, iov, cnt)? {
        // MAX_RW_COUNT caps the whole call, not each vector.
        let room = MAX_RW_COUNT - done as u64;
        if room == 0 {
            break;
        }
        if len == 0 {
            continue;
        }
        let len = len.min(room);
        match op(ctx, f, base, len, pos) {
            Ok(n) => {
                done += n;
                pos = pos.map(|p| p + n as u64);
                if (n as u64) < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

pub(crate) fn readv(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    // A socket takes the vectors as one message.
    if let FileKind::Socket(s) = &f.kind {
        return super::sockmsg::readv_sock(ctx, &f, &s.clone(), a[1], a[2]);
    }
    vectored(ctx, &f, a[1], a[2], None, read_file)
}

pub(crate) fn writev(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if !f.writable() {
        return Err(EBADF);
    }
    if let FileKind::Socket(s) = &f.kind {
        return super::sockmsg::writev_sock(ctx, &f, &s.clone(), a[1], a[2]);
    }
    vectored(ctx, &f, a[1], a[2], None, write_file)
}

pub(crate) fn preadv(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let pos = positional(&f, a[3])?;
    vectored(ctx, &f, a[1], a[2], Some(pos), read_file)
}

pub(crate) fn pwritev(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let pos = positional(&f, a[3])?;
    vectored(ctx, &f, a[1], a[2], Some(pos), write_file)
}

/// preadv2: offset -1 means the file's own position.
pub(crate) fn preadv2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if a[4] & !RWF_SUPPORTED != 0 {
        return Err(EOPNOTSUPP);
    }
    let pos = if a[3] as i64 == -1 { None } else { Some(positional(&f, a[3])?) };
    vectored(ctx, &f, a[1], a[2], pos, read_file)
}

pub(crate) fn pwritev2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    if a[4] & !RWF_SUPPORTED != 0 {
        return Err(EOPNOTSUPP);
    }
    let pos = if a[3] as i64 == -1 { None } else { Some(positional(&f, a[3])?) };
    vectored(ctx, &f, a[1], a[2], pos, write_file)
}

pub(crate) fn lseek(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let (off, whence) = (a[1] as i64, a[2]);
    if let FileKind::Proc { path, .. } = &f.kind {
        if path.ends_with("/pagemap") {
            // mem_lseek: an unsigned position, set or moved; no end.
            let mut pos = f.pos.lock();
            *pos = match whence {
                SEEK_SET => off as u64,
                SEEK_CUR => pos.wrapping_add(off as u64),
                _ => return Err(EINVAL),
            };
            return Ok(*pos as i64);
        }
    }
    let size = match &f.kind {
        FileKind::File(n) => n.data.size() as i64,
        FileKind::Dir(_) => 0,
        // seq_lseek: from the start or from here, nothing else.
        FileKind::Proc { seq: Some(_), .. } if whence > SEEK_CUR => return Err(EINVAL),
        FileKind::Proc { seq: Some(_), .. } => 0,
        FileKind::Proc { contents, path, pid, .. } => {
            let held = contents.lock().clone();
            held.or_else(|| ctx.k.proc_contents(path, *pid)).map_or(0, |c| c.len() as i64)
        }
        FileKind::Null | FileKind::Zero | FileKind::Random => 0,
        // noop_llseek (eventfd, timerfd, signalfd, epoll): the position,
        // which nothing moves, whatever was asked; a whence past SEEK_MAX
        // (SEEK_HOLE) is EINVAL first, in ksys_lseek.
        FileKind::Anon(_) if whence <= SEEK_HOLE => return Ok(*f.pos.lock() as i64),
        FileKind::Anon(_) => return Err(EINVAL),
        _ => return Err(ESPIPE),
    };
    let mut pos = f.pos.lock();
    let base = match whence {
        SEEK_SET => 0i64,
        SEEK_CUR => *pos as i64,
        SEEK_END => size,
        // A file is all data.
        SEEK_DATA if off < size => 0,
        SEEK_HOLE if off < size => size - off,
        SEEK_DATA | SEEK_HOLE => return Err(ENXIO),
        _ => return Err(EINVAL),
    };
    let new = base.checked_add(off).filter(|&n| n >= 0).ok_or(EINVAL)?;
    *pos = new as u64;
    Ok(new)
}

pub(crate) fn ioctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (fd, req, arg) = (a[0] as i32, a[1], a[2]);
    let f = ctx.proc().files.file(fd)?;
    // The interface requests any socket answers (sock_ioctl's dev_ioctl),
    // in the socket's namespace.
    if let (SIOCGIFNAME | SIOCGIFFLAGS | SIOCSIFFLAGS | SIOCGIFMTU | SIOCGIFINDEX, FileKind::Socket(s)) = (req, &f.kind)
    {
        let r = ctx.read_struct(arg)?;
        let admin = ctx.proc().cred.capable(super::super::abi::capability::CAP_NET_ADMIN);
        let r = super::super::net::netlink::dev_ioctl(s.net(), admin, req, r)?;
        ctx.write_struct(arg, &r)?;
        return Ok(0);
    }
    match req {
        FIOCLEX | FIONCLEX => {
            ctx.proc().files.set_cloexec(fd, req == FIOCLEX)?;
            return Ok(0);
        }
        FIOASYNC => {
            let on = ctx.read_u32(arg)? != 0;
            if on != (f.flags() & super::super::abi::fcntl::O_ASYNC != 0) {
                ctx.k.set_fasync(&f, fd, on);
            }
            return Ok(0);
        }
        FIONBIO => {
            let on = ctx.read_u32(arg)? != 0;
            let mut fl = f.flags.lock();
            if on {
                *fl |= O_NONBLOCK;
            } else {
                *fl &= !O_NONBLOCK;
            }
            return Ok(0);
        }
        FIONREAD => {
            let n = match &f.kind {
                // Either end: pipe_ioctl asks the pipe.
                FileKind::PipeRead(p) | FileKind::PipeWrite(p) | FileKind::Fifo(Fifo { pipe: p, .. }) => p.len() as u32,
                FileKind::Socket(s) => s.inq() as u32,
                FileKind::File(n) => n.data.size().saturating_sub(*f.pos.lock()) as u32,
                _ => return Err(ENOTTY),
            };
            ctx.write_u32(arg, n)?;
            return Ok(0);
        }
        _ => {}
    }
    // Terminal requests reach the host's terminal, if stdio is one.
    let host = match &f.kind {
        FileKind::Input(i) => i.host_fd(),
        FileKind::Output(o) => o.host_fd(),
        _ => None,
    };
    let Some(host) = host else { return Err(ENOTTY) };
    // SAFETY: isatty on our own descriptor.
    if unsafe { libc::isatty(host) } != 1 {
        return Err(ENOTTY);
    }
    let len = match req {
        TCGETS => size_of::<Termios>(),
        TIOCGWINSZ => size_of::<Winsize>(),
        TIOCGPGRP => size_of::<i32>(),
        TCSETS | TIOCSPGRP => return Ok(0),
        _ => return Err(ENOTTY),
    };
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is larger than any of these requests writes.
    if unsafe { libc::ioctl(host, req as _, buf.as_mut_ptr()) } != 0 {
        return Err(ENOTTY);
    }
    if req == TIOCGPGRP {
        // The program's own process group, not the host's.
        let pgid = ctx.proc().pgid;
        buf[..len].copy_from_slice((pgid as i32).as_bytes());
    }
    ctx.write_user(arg, &buf[..len])?;
    Ok(0)
}

/// Moves up to `count` bytes from `inf` (at `*pos`, or its position) to
/// `outf`, through a buffer of the VMM's.
fn splice_files(
    ctx: &mut Ctx,
    inf: &Arc<OpenFile>,
    outf: &Arc<OpenFile>,
    pos: Option<u64>,
    out_pos: Option<u64>,
    count: u64,
) -> SysResult {
    if !inf.readable() || !outf.writable() {
        return Err(EBADF);
    }
    let mut done = 0u64;
    let count = count.min(MAX_RW_COUNT);
    while done < count {
        let n = CHUNK.min(count - done) as usize;
        let data = match &inf.kind {
            FileKind::File(node) => {
                let at = pos.map_or(*inf.pos.lock(), |p| p + done);
                let got = super::file_io::read_cached(ctx, node, at, n)?;
                if pos.is_none() {
                    *inf.pos.lock() += got.len() as u64;
                }
                got
            }
            _ => return Err(EINVAL),
        };
        if data.is_empty() {
            break;
        }
        let w = match &outf.kind {
            FileKind::Output(out) => {
                let out = out.clone();
                match ctx.unlocked(|| out.write_all(&data)) {
                    Ok(()) => data.len(),
                    Err(e) if host_errno(&e) == EPIPE => {
                        return if done > 0 { Ok(done as i64) } else { Err(epipe(ctx)) }
                    }
                    Err(_) => return if done > 0 { Ok(done as i64) } else { Err(EIO) },
                }
            }
            FileKind::PipeWrite(p) | FileKind::Fifo(Fifo { pipe: p, .. }) => {
                let p = p.clone();
                let nb = outf.nonblocking();
                write_pipe(ctx, &p, &data, nb, 0)?
            }
            FileKind::File(_) => super::file_io::write_bytes(ctx, outf, &data, out_pos.map(|p| p + done))?,
            FileKind::Null => data.len(),
            _ => return Err(EINVAL),
        };
        done += w as u64;
        if w < data.len() {
            break;
        }
    }
    Ok(done as i64)
}

pub(crate) fn sendfile(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let out = ctx.proc().files.file(a[0] as i32)?;
    let inf = ctx.proc().files.file(a[1] as i32)?;
    let pos = if a[2] != 0 { Some(ctx.read_u64(a[2])?) } else { None };
    let n = splice_files(ctx, &inf, &out, pos, None, a[3])?;
    if let Some(p) = pos {
        ctx.write_u64(a[2], p + n as u64)?;
    }
    Ok(n)
}

pub(crate) fn copy_file_range(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[5] != 0 {
        return Err(EINVAL);
    }
    let inf = ctx.proc().files.file(a[0] as i32)?;
    let out = ctx.proc().files.file(a[2] as i32)?;
    if !matches!(inf.kind, FileKind::File(_)) || !matches!(out.kind, FileKind::File(_)) {
        return Err(EINVAL);
    }
    let pos_in = if a[1] != 0 { Some(ctx.read_u64(a[1])?) } else { None };
    let pos_out = if a[3] != 0 { Some(ctx.read_u64(a[3])?) } else { None };
    let n = splice_files(ctx, &inf, &out, pos_in, pos_out, a[4])?;
    if let Some(p) = pos_in {
        ctx.write_u64(a[1], p + n as u64)?;
    }
    if let Some(p) = pos_out {
        ctx.write_u64(a[3], p + n as u64)?;
    }
    Ok(n)
}
