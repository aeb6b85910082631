//! poll, ppoll, select and pselect6 over every kind of file: readiness as
//! `files::ready` reports it (the same epoll sees), blocking until
//! something is ready, a timeout, or a signal. Pipes and event files wake
//! the waiter, timers bound its sleep; the host's stdio is polled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

use super::super::abi::poll::*;
use super::super::abi::resource::RLIMIT_NOFILE;
use super::super::abi::signal::SIGSET_SIZE;
use super::super::abi::time::Timeval;
use super::super::errno::*;
use super::super::files::ready::{poll_file, PollTable};
use super::super::files::OpenFile;
use super::super::signal::UNBLOCKABLE;
use super::super::task::{Ctx, Woken};

/// What `f` is ready for now, of `events` (with POLLERR and POLLHUP,
/// which are always reported): the files' one readiness
/// ([`poll_file`]), as poll's 16 bits.
fn ready(ctx: &Ctx, f: &Arc<OpenFile>, events: i16, pt: &mut PollTable) -> i16 {
    let want = events as u16 as u32 | (POLLERR | POLLHUP) as u32;
    (poll_file(&ctx.k, ctx.tid, f, pt) & want) as u16 as i16
}

/// Waits until `check` finds something ready, the deadline passes (then
/// `check` runs a last time), or a signal comes (EINTR if a handler runs,
/// a restart if none does). `check` registers the thread on what it looks
/// at through the table it is given.
fn wait_ready<R>(
    ctx: &mut Ctx,
    deadline: Option<Instant>,
    mut check: impl FnMut(&mut Ctx, &mut PollTable) -> (Option<R>, R),
) -> Result<R, Errno> {
    loop {
        let mut pt = PollTable::new(Some(ctx.cond()));
        let (found, none) = check(ctx, &mut pt);
        if let Some(r) = found {
            return Ok(r);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(none);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(if w == Woken::Signal { ERESTARTNOHAND } else { ctx.woken_errno(w) });
        }
        ctx.sleep(pt.sleep_until(deadline));
    }
}

fn do_poll(ctx: &mut Ctx, fds: u64, nfds: u64, deadline: Option<Instant>) -> SysResult {
    if nfds > ctx.proc().limits.cur(RLIMIT_NOFILE) {
        return Err(EINVAL);
    }
    let mut raw = vec![PollFd::default(); nfds as usize];
    ctx.read_user(fds, raw.as_mut_bytes())?;
    let entries: Vec<(i32, i16)> = raw.iter().map(|p| (p.fd, p.events)).collect();
    let revents = wait_ready(ctx, deadline, |ctx, pt| {
        let mut out = Vec::with_capacity(entries.len());
        let mut n = 0;
        for &(fd, ev) in &entries {
            let r = if fd < 0 {
                0
            } else {
                match ctx.proc().files.file(fd) {
                    Ok(f) => ready(ctx, &f, ev, pt),
                    Err(_) => POLLNVAL,
                }
            };
            n += i32::from(r != 0);
            out.push(r);
        }
        let found = (n > 0).then(|| (n, out.clone()));
        (found, (0, out))
    })?;
    for (p, &r) in raw.iter_mut().zip(&revents.1) {
        p.revents = r;
    }
    ctx.write_user(fds, raw.as_bytes())?;
    Ok(revents.0 as i64)
}

pub(crate) fn poll(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ms = a[2] as i32;
    let deadline = (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
    do_poll(ctx, a[0], a[1], deadline)
}

/// Runs `f` with the signal mask `set` (if given) in force, restoring it
/// after unless a handler is about to run (then its frame restores it).
fn with_mask(ctx: &mut Ctx, set: u64, f: impl FnOnce(&mut Ctx) -> SysResult) -> SysResult {
    if set == 0 {
        return f(ctx);
    }
    let mask = ctx.read_u64(set)?;
    let old = ctx.thread().sigmask;
    ctx.thread_mut().sigmask = mask & !UNBLOCKABLE;
    let r = f(ctx);
    if r == Err(ERESTARTNOHAND) && ctx.k.tasks.signal_pending(ctx.tid) {
        ctx.thread_mut().saved_mask = Some(old);
    } else {
        ctx.thread_mut().sigmask = old;
    }
    r
}

fn timespec_deadline(ctx: &mut Ctx, at: u64) -> Result<Option<Instant>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let (s, ns) = super::time::read_timespec(ctx, at)?;
    Ok(Some(Instant::now() + Duration::new(s as u64, ns as u32)))
}

pub(crate) fn ppoll(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[3] != 0 && a[4] != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let deadline = timespec_deadline(ctx, a[2])?;
    with_mask(ctx, a[3], |ctx| do_poll(ctx, a[0], a[1], deadline))
}

fn do_select(ctx: &mut Ctx, nfds: u64, sets: [u64; 3], deadline: Option<Instant>) -> SysResult {
    if (nfds as i64) < 0 || nfds > FD_SETSIZE {
        return Err(EINVAL);
    }
    let bytes = nfds.div_ceil(64) as usize * 8;
    let mut masks = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
    for (m, &p) in masks.iter_mut().zip(&sets) {
        if p != 0 {
            ctx.read_user(p, m)?;
        }
    }
    let bit = |m: &[u8], i: usize| m[i / 8] & (1 << (i % 8)) != 0;
    for i in 0..nfds as usize {
        if (bit(&masks[0], i) || bit(&masks[1], i) || bit(&masks[2], i)) && ctx.proc().files.get(i as i32).is_none() {
            return Err(EBADF);
        }
    }
    let out = wait_ready(ctx, deadline, |ctx, pt| {
        let mut res = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
        let mut n = 0;
        for i in 0..nfds as usize {
            let Ok(f) = ctx.proc().files.file(i as i32) else { continue };
            let r = ready(ctx, &f, POLLIN | POLLOUT | POLLPRI, pt);
            for (k, ev) in [(0, POLLIN | POLLHUP | POLLERR), (1, POLLOUT | POLLERR), (2, POLLPRI)] {
                if bit(&masks[k], i) && r & ev != 0 {
                    res[k][i / 8] |= 1 << (i % 8);
                    n += 1;
                }
            }
        }
        let found = (n > 0).then(|| (n, res.clone()));
        (found, (0, res))
    })?;
    for (k, &p) in sets.iter().enumerate() {
        if p != 0 {
            ctx.write_user(p, &out.1[k])?;
        }
    }
    Ok(out.0 as i64)
}

pub(crate) fn select(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let deadline = if a[4] != 0 {
        let Timeval { tv_sec: s, tv_usec: us } = ctx.read_struct(a[4])?;
        if s < 0 || !(0..1_000_000).contains(&us) {
            return Err(EINVAL);
        }
        Some(Instant::now() + Duration::new(s as u64, us as u32 * 1000))
    } else {
        None
    };
    do_select(ctx, a[0], [a[1], a[2], a[3]], deadline)
}

pub(crate) fn pselect6(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let deadline = timespec_deadline(ctx, a[4])?;
    // The sixth argument points at {sigset pointer, its size}.
    let set = if a[5] != 0 {
        let p = ctx.read_u64(a[5])?;
        let size = ctx.read_u64(a[5] + 8)?;
        if p != 0 && size != SIGSET_SIZE {
            return Err(EINVAL);
        }
        p
    } else {
        0
    };
    with_mask(ctx, set, |ctx| do_select(ctx, a[0], [a[1], a[2], a[3]], deadline))
}
