//! Descriptors: the dup family, fcntl, flock, and pipe and pipe2 (which
//! make two).

use super::super::abi::fcntl::*;
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::errno::*;
use super::super::files::locks::{LockKey, LockType, Owner, PosixLock, Range, Refused, POSIX_CHANGE_RECORDS};
use super::super::files::*;
use super::super::task::Ctx;
use super::super::KernelState;
use super::memfd::seals;
use super::open::install;
use super::stat::fmeta;

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
    // The replaced file closes (outside the table update), and with it
    // the process's locks on that file.
    if let Some(old) = old_fd {
        ctx.k.filp_close(ctx.pid, &old.file);
    }
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
    // check_fcntl_cmd(): an O_PATH descriptor takes only these.
    let path_ok =
        matches!(cmd, F_DUPFD | F_DUPFD_CLOEXEC | F_DUPFD_QUERY | F_GETFD | F_SETFD | F_GETFL | F_CREATED_QUERY);
    if f.flags() & O_PATH != 0 && !path_ok {
        return Err(EBADF);
    }
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
            ctx.proc().files.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(f.flags() as i64 | O_LARGEFILE as i64),
        F_SETFL => {
            {
                let mut fl = f.flags.lock();
                *fl = (*fl & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
            }
            let on = arg as u32 & O_ASYNC != 0;
            if on != (f.flags() & O_ASYNC != 0) {
                ctx.k.set_fasync(&f, fd, on);
            }
            Ok(0)
        }
        F_GETLK | F_OFD_GETLK => getlk(ctx, &f, cmd, arg),
        F_SETLK | F_SETLKW | F_OFD_SETLK | F_OFD_SETLKW => setlk(ctx, &f, cmd, arg),
        F_SETOWN => {
            let cred = ctx.proc().cred.clone();
            ctx.k.f_setown(&f, arg as i32, &cred).map(|()| 0)
        }
        F_GETOWN => Ok(KernelState::f_getown(&f)),
        F_SETOWN_EX => {
            let o: FOwnerEx = ctx.read_struct(arg)?;
            let cred = ctx.proc().cred.clone();
            ctx.k.f_setown_ex(&f, o, &cred).map(|()| 0)
        }
        F_GETOWN_EX => {
            ctx.write_struct(arg, &KernelState::f_getown_ex(&f))?;
            Ok(0)
        }
        F_SETSIG => KernelState::f_setsig(&f, arg).map(|()| 0),
        F_SETLEASE => {
            let ty = i16::try_from(arg as i32).map_err(|_| EINVAL)?;
            let (pid, cred) = (ctx.pid, ctx.proc().cred.clone());
            ctx.k.set_lease(&f, fd, ty, pid, &cred).map(|()| 0)
        }
        F_GETLEASE => Ok(ctx.k.get_lease(&f) as i64),
        // Whether `arg` is a descriptor of the same open file (6.10).
        F_DUPFD_QUERY => {
            let other = ctx.proc().files.file(arg as i32)?;
            Ok(i64::from(std::sync::Arc::ptr_eq(&f, &other)))
        }
        // Whether the open that made it created the file (6.12).
        F_CREATED_QUERY => Ok(i64::from(f.created.load(std::sync::atomic::Ordering::Relaxed))),
        F_NOTIFY => {
            let (pid, cred) = (ctx.pid, ctx.proc().cred.clone());
            ctx.k.dnotify_set(&f, fd, arg as u32, pid, &cred).map(|()| 0)
        }
        F_GETSIG => Ok(KernelState::f_getsig(&f)),
        F_GETPIPE_SZ | F_SETPIPE_SZ => match &f.kind {
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) | FileKind::Fifo(fifo::Fifo { pipe: p, .. })
                if cmd == F_GETPIPE_SZ =>
            {
                Ok(p.size() as i64)
            }
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) | FileKind::Fifo(fifo::Fifo { pipe: p, .. }) => {
                let who = ctx.proc().cred.clone();
                Ok(ctx.k.pipe_set_size(p, arg as u32, &who)? as i64)
            }
            _ => Err(EBADF),
        },
        F_ADD_SEALS => seals(ctx, &f, Some(arg as u32)),
        F_GET_SEALS => seals(ctx, &f, None),
        _ => Err(EINVAL),
    }
}

/// flock_to_posix_lock: the lock `fl` asks for, its range counted from
/// where l_whence says (EINVAL for another whence, a type that is none,
/// or a range before the file's start; EOVERFLOW past OFFSET_MAX).
fn lock_request(ctx: &Ctx, f: &OpenFile, fl: &Flock) -> Result<(LockType, Range), Errno> {
    let base = match u64::try_from(fl.l_whence).map_err(|_| EINVAL)? {
        SEEK_SET => 0,
        SEEK_CUR => *f.pos.lock() as i64,
        SEEK_END => fmeta(f, &ctx.proc().cred).size as i64,
        _ => return Err(EINVAL),
    };
    if fl.l_start > OFFSET_MAX - base {
        return Err(EOVERFLOW);
    }
    let mut start = base + fl.l_start;
    if start < 0 {
        return Err(EINVAL);
    }
    // A negative length covers the bytes before l_start (POSIX-2001); 0
    // runs to the end of the file however it grows.
    let end = match fl.l_len {
        len if len > 0 => {
            if len - 1 > OFFSET_MAX - start {
                return Err(EOVERFLOW);
            }
            start + (len - 1)
        }
        len if len < 0 => {
            if start + len < 0 {
                return Err(EINVAL);
            }
            let end = start - 1;
            start += len;
            end
        }
        _ => OFFSET_MAX,
    };
    let ty = LockType::from_abi(fl.l_type).ok_or(EINVAL)?;
    Ok((ty, Range { start, end }))
}

/// The file a lock command acts on, and the owner of the lock: the
/// process, or the open file description for the OFD commands. An
/// O_PATH descriptor has no locks (EBADF).
fn lock_owner(ctx: &Ctx, f: &OpenFile, ofd: bool) -> Result<(LockKey, Owner), Errno> {
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    Ok(if ofd {
        let (key, id) = ctx.k.locks().description(f);
        (key, Owner::File(id))
    } else {
        (LockKey::of(f), Owner::Process(ctx.pid))
    })
}

/// F_GETLK and F_OFD_GETLK (fcntl_getlk): the first lock in the way of
/// the one described, or l_type F_UNLCK (the rest as it came).
fn getlk(ctx: &mut Ctx, f: &OpenFile, cmd: u64, arg: u64) -> SysResult {
    let ofd = cmd == F_OFD_GETLK;
    let (key, owner) = lock_owner(ctx, f, ofd)?;
    let mut fl: Flock = ctx.read_struct(arg)?;
    // Only F_OFD_GETLK may test F_UNLCK (for the caller's own locks).
    if !ofd && fl.l_type != F_RDLCK && fl.l_type != F_WRLCK {
        return Err(EINVAL);
    }
    let (ty, range) = lock_request(ctx, f, &fl)?;
    if ofd && fl.l_pid != 0 {
        return Err(EINVAL);
    }
    match ctx.k.locks().test(key, &PosixLock { owner, pid: ctx.pid, ty, range }) {
        Some(l) => {
            fl.l_type = l.ty.abi();
            fl.l_whence = SEEK_SET as i16;
            fl.l_start = l.range.start;
            fl.l_len = if l.range.end == OFFSET_MAX { 0 } else { l.range.end - l.range.start + 1 };
            fl.l_pid = match l.owner {
                Owner::Process(_) => l.pid as i32,
                Owner::File(_) => -1,
            };
        }
        None => fl.l_type = F_UNLCK,
    }
    ctx.write_struct(arg, &fl)?;
    Ok(0)
}

/// F_SETLK, F_SETLKW and their OFD forms (fcntl_setlk): EAGAIN when
/// another owner's lock is in the way, or waits for it to go (EDEADLK
/// when it never would; interrupted by a signal).
fn setlk(ctx: &mut Ctx, f: &OpenFile, cmd: u64, arg: u64) -> SysResult {
    let ofd = matches!(cmd, F_OFD_SETLK | F_OFD_SETLKW);
    let wait = matches!(cmd, F_SETLKW | F_OFD_SETLKW);
    let (key, owner) = lock_owner(ctx, f, ofd)?;
    let fl: Flock = ctx.read_struct(arg)?;
    let (ty, range) = lock_request(ctx, f, &fl)?;
    // check_fmode_for_setlk: a read lock needs the file open for reading,
    // a write lock for writing.
    if (ty == LockType::Read && !f.readable()) || (ty == LockType::Write && !f.writable()) {
        return Err(EBADF);
    }
    if ofd && fl.l_pid != 0 {
        return Err(EINVAL);
    }
    let req = PosixLock { owner, pid: ctx.pid, ty, range };
    // Releasing everything never splits a lock; anything else may add
    // records, charged first.
    let whole = ty == LockType::Unlock && range == Range { start: 0, end: OFFSET_MAX };
    let records = if whole { 0 } else { POSIX_CHANGE_RECORDS };
    loop {
        let charge = ctx.k.lock_charge(records)?;
        match ctx.k.locks().set_posix(key, req, wait.then_some(ctx.tid), charge) {
            Ok(()) => {
                ctx.k.procfs.changed();
                return Ok(0);
            }
            Err(Refused::Deadlock) => return Err(EDEADLK),
            Err(Refused::Conflict(_)) if !wait => return Err(EAGAIN),
            Err(Refused::Conflict(q)) => {
                if let Some(w) = ctx.interrupted() {
                    ctx.k.locks().unblock(ctx.tid);
                    return Err(ctx.woken_errno(w));
                }
                q.register(&ctx.cond());
                ctx.sleep(None);
            }
        }
    }
}

/// flock(2): a shared or exclusive lock on the whole file for the open
/// file description, converted in place (the old lock given up first),
/// or released. Independent of fcntl's locks.
pub(super) fn flock(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    // The command is an unsigned int.
    let cmd = a[1] & 0xffff_ffff;
    // LOCK_MAND never did anything: Linux accepts and ignores it.
    if cmd & LOCK_MAND != 0 {
        return Ok(0);
    }
    let ty = match cmd & !LOCK_NB {
        LOCK_SH => LockType::Read,
        LOCK_EX => LockType::Write,
        LOCK_UN => LockType::Unlock,
        _ => return Err(EINVAL),
    };
    let f = ctx.proc().files.file(a[0] as i32)?;
    if f.flags() & O_PATH != 0 || (ty != LockType::Unlock && !f.readable() && !f.writable()) {
        return Err(EBADF);
    }
    let (key, id) = ctx.k.locks().description(&f);
    let records = u64::from(ty != LockType::Unlock);
    loop {
        let charge = ctx.k.lock_charge(records)?;
        match ctx.k.locks().flock(key, id, ctx.pid, ty, charge) {
            Ok(()) => {
                ctx.k.procfs.changed();
                return Ok(0);
            }
            Err(Refused::Conflict(_)) if cmd & LOCK_NB != 0 => return Err(EAGAIN), // EWOULDBLOCK
            Err(Refused::Deadlock) => return Err(EDEADLK),
            Err(Refused::Conflict(q)) => {
                if let Some(w) = ctx.interrupted() {
                    return Err(ctx.woken_errno(w));
                }
                q.register(&ctx.cond());
                ctx.sleep(None);
            }
        }
    }
}

fn make_pipe(ctx: &mut Ctx, fds: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(EINVAL);
    }
    // get_pipe_inode()'s failure is ENFILE.
    let who = ctx.proc().cred.clone();
    let p = ctx.k.new_pipe(&who).map_err(|_| ENFILE)?;
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

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::*;
    use crate::kernel::errno::*;
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn queries_say_who_created_a_file_and_which_descriptors_share_one() {
        let t = TestKernel::new();
        let made = t.open("/tmp/q", (O_CREAT | O_RDWR) as u64) as u64;
        assert_eq!(t.sys("fcntl", &[made, F_CREATED_QUERY, 0]), 1);
        let again = t.open("/tmp/q", (O_CREAT | O_RDWR) as u64) as u64;
        assert_eq!(t.sys("fcntl", &[again, F_CREATED_QUERY, 0]), 0, "it was there");
        let dup = t.sys("dup", &[made]) as u64;
        assert_eq!(t.sys("fcntl", &[made, F_DUPFD_QUERY, dup]), 1);
        assert_eq!(t.sys("fcntl", &[made, F_DUPFD_QUERY, again]), 0);
        assert_eq!(t.sys("fcntl", &[made, F_DUPFD_QUERY, 999]), err(EBADF));
        // An O_PATH descriptor takes only the descriptor commands.
        let path = t.open("/tmp/q", O_PATH as u64) as u64;
        assert_eq!(t.sys("fcntl", &[path, F_GETFL]), (O_PATH | O_LARGEFILE) as i64);
        assert_eq!(t.sys("fcntl", &[path, F_SETFL, 0]), err(EBADF));
        assert_eq!(t.sys("fcntl", &[path, F_GETOWN]), err(EBADF));
        assert_eq!(t.sys("fcntl", &[path, F_CREATED_QUERY, 0]), 0);
    }
}
