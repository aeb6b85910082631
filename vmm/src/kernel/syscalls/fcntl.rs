//! Descriptors: the dup family, fcntl, flock, and pipe and pipe2 (which
//! make two).

use super::super::abi::fcntl::*;
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::errno::*;
use super::super::files::*;
use super::super::task::Ctx;
use super::memfd::seals;
use super::open::install;

pub(super) fn dup(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn dup2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, new) = (a[0] as i32, a[1] as i32);
    if old == new {
        ctx.proc().files.file(old)?;
        return Ok(new as i64);
    }
    dup_to(ctx, old, new, false)
}

pub(super) fn dup3(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, new, flags) = (a[0] as i32, a[1] as i32, a[2] as u32);
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    dup_to(ctx, old, new, flags & O_CLOEXEC != 0)
}

pub(super) fn fcntl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) | FileKind::Fifo(fifo::Fifo { pipe: p, .. })
                if cmd == F_GETPIPE_SZ =>
            {
                Ok(p.size() as i64)
            }
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) | FileKind::Fifo(fifo::Fifo { pipe: p, .. }) => {
                Ok(ctx.k.pipe_set_size(p, arg as u32)? as i64)
            }
            _ => Err(EBADF),
        },
        F_ADD_SEALS => seals(ctx, &f, Some(arg as u32)),
        F_GET_SEALS => seals(ctx, &f, None),
        _ => Err(EINVAL),
    }
}

pub(super) fn flock(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn pipe(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], 0)
}

pub(super) fn pipe2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_pipe(ctx, a[0], a[1])
}
