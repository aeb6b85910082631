//! read/write family: read, readv, write, writev, lseek, ioctl.

use super::errno::*;
use super::fs::OpenFile;
use super::Task;

/// Largest chunk copied in or out of the guest at once.
const CHUNK: u64 = 64 * 1024;
/// Linux caps one read or write at MAX_RW_COUNT.
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// UIO_MAXIOV.
const IOV_MAX: u64 = 1024;

const TCGETS: u64 = 0x5401;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCGPGRP: u64 = 0x540f;

fn output(task: &Task, fd: i32) -> Result<super::Output, Errno> {
    match task.files.get(fd).ok_or(EBADF)? {
        OpenFile::Stdio { n: 1, .. } => Ok(task.stdout.clone()),
        OpenFile::Stdio { n: 2, .. } => Ok(task.stderr.clone()),
        _ => Err(EBADF),
    }
}

/// The errno for a failed host write: a closed pipe is EPIPE (and SIGPIPE,
/// raised by dispatch); anything else the program can only see as EIO.
fn host_errno(e: &std::io::Error) -> Errno {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        EPIPE
    } else {
        Errno(5)
    }
}

/// write(2). Like Linux, a bad buffer after some bytes went out gives a
/// short count; a bad buffer at the start gives EFAULT.
pub fn write(task: &mut Task, fd: u64, buf: u64, count: u64) -> SysResult {
    let out = output(task, fd as i32)?;
    let count = count.min(MAX_RW_COUNT);
    let mut done = 0u64;
    let mut chunk = vec![0u8; CHUNK.min(count) as usize];
    while done < count {
        let n = CHUNK.min(count - done) as usize;
        let Some(at) = buf.checked_add(done) else { break };
        let good = readable_prefix(task, at, n);
        if good < n {
            if good > 0 && task.copy_from_user(at, &mut chunk[..good]).is_ok() && out.write_all(&chunk[..good]).is_ok()
            {
                done += good as u64;
            }
            return if done > 0 { Ok(done as i64) } else { Err(EFAULT) };
        }
        task.copy_from_user(at, &mut chunk[..n])?;
        if let Err(e) = out.write_all(&chunk[..n]) {
            return if done > 0 { Ok(done as i64) } else { Err(host_errno(&e)) };
        }
        done += n as u64;
    }
    Ok(done as i64)
}

/// Bytes from `at` the program may read, up to `n`.
fn readable_prefix(task: &Task, at: u64, n: usize) -> usize {
    let mut good = 0usize;
    while good < n {
        let Some(a) = at.checked_add(good as u64) else { break };
        if task.space.user_page(a).is_none() {
            break;
        }
        good += ((4096 - a % 4096) as usize).min(n - good);
    }
    good
}

pub fn read(task: &mut Task, fd: u64, buf: u64, count: u64) -> SysResult {
    let count = count.min(MAX_RW_COUNT);
    let fd = fd as i32;
    if let Some(OpenFile::Generated { path, pos: 0, .. }) = task.files.get(fd) {
        let fresh = super::procfs::generate(task, &path.clone()).unwrap_or_default();
        if let Some(OpenFile::Generated { contents, .. }) = task.files.get_mut(fd) {
            *contents = fresh;
        }
    }
    let data: Vec<u8> = match task.files.get_mut(fd).ok_or(EBADF)? {
        OpenFile::Stdio { n: 0, .. } => {
            // As Linux: read first, then copy out (nothing to copy at EOF,
            // so a bad buffer goes unnoticed there).
            let mut tmp = vec![0u8; count.min(CHUNK) as usize];
            let n = task.stdin.read(&mut tmp).map_err(|_| EINTR)?;
            tmp.truncate(n);
            tmp
        }
        OpenFile::Stdio { .. } => return Err(EBADF),
        OpenFile::Generated { contents, pos, .. } => {
            let start = (*pos).min(contents.len() as u64) as usize;
            let n = (contents.len() - start).min(count as usize);
            contents[start..start + n].to_vec()
        }
    };
    task.copy_to_user(buf, &data)?;
    if let Some(OpenFile::Generated { pos, .. }) = task.files.get_mut(fd) {
        *pos += data.len() as u64;
    }
    Ok(data.len() as i64)
}

/// Reads an iovec array: (base, len) pairs.
fn iovecs(task: &Task, iov: u64, cnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if cnt > IOV_MAX {
        return Err(EINVAL);
    }
    let mut v = Vec::with_capacity(cnt as usize);
    let mut total: u64 = 0;
    for i in 0..cnt {
        let at = iov.checked_add(i * 16).ok_or(EFAULT)?;
        let (base, len) = (task.read_u64(at)?, task.read_u64(at + 8)?);
        total = total.checked_add(len).filter(|&t| t <= i64::MAX as u64).ok_or(EINVAL)?;
        v.push((base, len));
    }
    Ok(v)
}

/// Runs `op` over each vector in turn, as readv/writev do: stops at the
/// first short transfer; an error counts only if nothing was transferred.
fn vectored(task: &mut Task, fd: u64, iov: u64, cnt: u64, op: fn(&mut Task, u64, u64, u64) -> SysResult) -> SysResult {
    let mut done: i64 = 0;
    for (base, len) in iovecs(task, iov, cnt)? {
        // MAX_RW_COUNT caps the whole call, not each vector.
        let room = MAX_RW_COUNT - done as u64;
        if room == 0 {
            break;
        }
        if len == 0 {
            continue;
        }
        let len = len.min(room);
        match op(task, fd, base, len) {
            Ok(n) => {
                done += n;
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

pub fn writev(task: &mut Task, fd: u64, iov: u64, cnt: u64) -> SysResult {
    output(task, fd as i32)?;
    vectored(task, fd, iov, cnt, write)
}

pub fn readv(task: &mut Task, fd: u64, iov: u64, cnt: u64) -> SysResult {
    vectored(task, fd, iov, cnt, read)
}

pub fn lseek(task: &mut Task, fd: u64, off: u64, whence: u64) -> SysResult {
    match task.files.get_mut(fd as i32).ok_or(EBADF)? {
        OpenFile::Stdio { .. } => Err(ESPIPE),
        OpenFile::Generated { contents, pos, .. } => {
            let base = match whence {
                0 => 0i64,
                1 => *pos as i64,
                2 => contents.len() as i64,
                _ => return Err(EINVAL),
            };
            let new = base.checked_add(off as i64).filter(|&n| n >= 0).ok_or(EINVAL)?;
            *pos = new as u64;
            Ok(new)
        }
    }
}

pub fn ioctl(task: &mut Task, fd: u64, req: u64, arg: u64) -> SysResult {
    let host = match task.files.get(fd as i32).ok_or(EBADF)? {
        OpenFile::Stdio { host: Some(h), .. } => *h,
        _ => return Err(ENOTTY),
    };
    // SAFETY: isatty on our own descriptor.
    if unsafe { libc::isatty(host) } != 1 {
        return Err(ENOTTY);
    }
    let len = match req {
        TCGETS => 36, // the kernel's struct termios
        TIOCGWINSZ => 8,
        TIOCGPGRP => 4,
        _ => return Err(ENOTTY),
    };
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is larger than any of these requests writes.
    if unsafe { libc::ioctl(host, req as _, buf.as_mut_ptr()) } != 0 {
        return Err(ENOTTY);
    }
    task.copy_to_user(arg, &buf[..len])?;
    Ok(0)
}
