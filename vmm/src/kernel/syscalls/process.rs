//! Processes and threads: clone and its forms, execve, exit, wait, kill,
//! process groups and sessions, futexes, resource use, and the
//! per-thread bookkeeping libc does at start-up (TLS, tid address, robust
//! lists, rseq, prctl).

use std::time::{Duration, Instant};

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::super::abi::fcntl::{AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use super::super::abi::futex::*;
use super::super::abi::limits::PATH_MAX;
use super::super::abi::prctl::*;
use super::super::abi::resource;
use super::super::abi::sched;
use super::super::abi::time::{Timeval, Tms, USER_HZ};
use super::super::abi::wait::*;
use super::super::cred::CAP_LAST_CAP;
use super::super::errno::*;
use super::super::fork::{self, CloneArgs};
use super::super::process::{ExitStatus, Pid, ProcState, Rusage};
use super::super::signal::{self, SigInfo, SigInfoRaw};
use super::super::task::Ctx;
use super::fs::read_path;
use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;

pub fn getpid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.pid as i64)
}

pub fn gettid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.tid as i64)
}

pub fn getppid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(if ctx.pid == 1 { 0 } else { ctx.proc().ppid as i64 })
}

pub fn getpgrp(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().pgid as i64)
}

pub fn getpgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as Pid };
    ctx.k.procs.get(&pid).map(|p| p.pgid as i64).ok_or(ESRCH)
}

pub fn getsid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as Pid };
    ctx.k.procs.get(&pid).map(|p| p.sid as i64).ok_or(ESRCH)
}

/// setpgid(2), with its rules: the caller or a child of it, in the
/// caller's session, not a session leader; the group must exist there or
/// be the process's own.
pub fn setpgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as i32 as Pid };
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let pgid = if a[1] == 0 { pid } else { a[1] as Pid };
    let me = ctx.pid;
    let sid = ctx.proc().sid;
    let p = ctx.k.procs.get(&pid).ok_or(ESRCH)?;
    if pid != me && p.ppid != me {
        return Err(ESRCH);
    }
    // A child: in the caller's session, and not since exec'd.
    if pid != me && p.sid != sid {
        return Err(EPERM);
    }
    if pid != me && p.did_exec {
        return Err(EACCES);
    }
    if p.sid == pid {
        return Err(EPERM);
    }
    if pgid != pid && !ctx.k.procs.values().any(|q| q.pgid == pgid && q.sid == sid) {
        return Err(EPERM);
    }
    ctx.k.procs.get_mut(&pid).expect("just found").pgid = pgid;
    Ok(0)
}

pub fn setsid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    let pid = ctx.pid;
    if ctx.k.procs.values().any(|p| p.pgid == pid) {
        return Err(EPERM);
    }
    let p = ctx.proc_mut();
    p.sid = pid;
    p.pgid = pid;
    Ok(pid as i64)
}

pub fn clone(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[0];
    fork::clone(
        ctx,
        CloneArgs {
            flags: flags & !sched::CSIGNAL,
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[3],
            tls: a[4],
            exit_signal: (flags & sched::CSIGNAL) as i32,
        },
    )
}

/// The flags clone3 knows: the legacy 32 bits, CLONE_CLEAR_SIGHAND and
/// CLONE_INTO_CGROUP.
const CLONE3_FLAGS: u64 = 0xffff_ffff | sched::CLONE_CLEAR_SIGHAND | sched::CLONE_INTO_CGROUP;

pub fn clone3(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    // copy_clone_args_from_user()'s checks, in its order.
    let size = a[1];
    if size > PAGE_SIZE {
        return Err(E2BIG);
    }
    if size < sched::CLONE_ARGS_SIZE_VER0 {
        return Err(EINVAL);
    }
    // Its first fields, and the later ones its size holds (zero if the
    // caller's struct is older), a word at a time.
    let mut r = sched::CloneArgs::new_zeroed();
    let n = size.min(sched::CLONE_ARGS_SIZE_VER2).next_multiple_of(8) as usize;
    ctx.read_user(a[0], &mut r.as_mut_bytes()[..n])?;
    // Fields beyond what Linux knows must be zero.
    if size > sched::CLONE_ARGS_SIZE_VER2 {
        let mut rest = vec![0u8; (size - sched::CLONE_ARGS_SIZE_VER2) as usize];
        ctx.read_user(a[0] + sched::CLONE_ARGS_SIZE_VER2, &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    let (set_tid, set_tid_size, cgroup) = (r.set_tid, r.set_tid_size, r.cgroup);
    if set_tid_size > sched::MAX_PID_NS_LEVEL || (set_tid == 0) != (set_tid_size == 0) {
        return Err(EINVAL);
    }
    if r.exit_signal & !sched::CSIGNAL != 0 || r.exit_signal > signal::NSIG as u64 {
        return Err(EINVAL);
    }
    if cgroup > i32::MAX as u64 {
        return Err(EINVAL);
    }
    // clone3_args_valid().
    let f = r.flags;
    if f & !CLONE3_FLAGS != 0
        || f & (sched::CLONE_SIGHAND | sched::CLONE_CLEAR_SIGHAND) == sched::CLONE_SIGHAND | sched::CLONE_CLEAR_SIGHAND
        || (f & (sched::CLONE_THREAD | sched::CLONE_PARENT) != 0 && r.exit_signal != 0)
        || (r.stack == 0) != (r.stack_size == 0)
    {
        return Err(EINVAL);
    }
    // Choosing the new task's id needs CAP_SYS_ADMIN; there are no
    // cgroups to start in.
    if set_tid_size != 0 {
        return Err(EPERM);
    }
    if f & sched::CLONE_INTO_CGROUP != 0 {
        return Err(EBADF);
    }
    fork::clone(
        ctx,
        CloneArgs {
            flags: r.flags,
            stack: if r.stack != 0 { r.stack.wrapping_add(r.stack_size) } else { 0 },
            parent_tid: r.parent_tid,
            child_tid: r.child_tid,
            tls: r.tls,
            exit_signal: r.exit_signal as i32,
        },
    )
}

pub fn fork(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    fork::clone(ctx, CloneArgs { exit_signal: signal::SIGCHLD, ..Default::default() })
}

pub fn vfork(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    fork::clone(
        ctx,
        CloneArgs { flags: sched::CLONE_VM | sched::CLONE_VFORK, exit_signal: signal::SIGCHLD, ..Default::default() },
    )
}

pub fn execve(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let path = ctx.read_cstr(a[0], PATH_MAX)?;
    super::super::exec::execve(ctx, &path, a[1], a[2], None)
}

pub fn execveat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (dirfd, flags) = (a[0] as i32, a[4]);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, a[1])?;
    // What AT_EXECFN shows, as alloc_bprm() names it.
    let execfn = if p.starts_with('/') || dirfd == AT_FDCWD {
        None
    } else if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        Some(format!("/dev/fd/{dirfd}"))
    } else {
        Some(format!("/dev/fd/{dirfd}/{p}"))
    };
    let path = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        ctx.proc().files.file(dirfd)?.path.clone()
    } else if p.starts_with('/') || dirfd == AT_FDCWD {
        p
    } else {
        let f = ctx.proc().files.file(dirfd)?;
        match &f.kind {
            super::super::files::FileKind::Dir(d) => format!("{}/{p}", d.at.path),
            _ => return Err(ENOTDIR),
        }
    };
    super::super::exec::execve(ctx, path.as_bytes(), a[2], a[3], execfn)
}

pub fn exit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let tid = ctx.tid;
    ctx.k.exit_thread(tid, Some(ExitStatus::Exited((a[0] & 0xff) as i32)));
    Ok(0)
}

pub fn exit_group(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = ctx.pid;
    ctx.k.kill_process(pid, ExitStatus::Exited((a[0] & 0xff) as i32));
    Ok(0)
}

/// Which children a wait selects.
#[derive(Clone, Copy)]
enum Which {
    Any,
    Pid(Pid),
    Group(Pid),
}

/// Waits for a child of the caller's process that `which` selects to end;
/// returns it and how it ended (reaped unless `nowait`).
fn wait_child(
    ctx: &mut Ctx,
    which: Which,
    nohang: bool,
    nowait: bool,
) -> Result<Option<(Pid, ExitStatus, Rusage)>, Errno> {
    loop {
        let me = ctx.pid;
        let children: Vec<Pid> = ctx.proc().children.clone();
        let selected: Vec<Pid> = children
            .into_iter()
            .filter(|c| match which {
                Which::Any => true,
                Which::Pid(p) => *c == p,
                Which::Group(g) => ctx.k.procs.get(c).is_some_and(|p| p.pgid == g),
            })
            .collect();
        if selected.is_empty() {
            return Err(ECHILD);
        }
        if let Some(&z) = selected.iter().find(|c| ctx.k.procs.get(c).is_some_and(|p| p.is_zombie())) {
            let p = &ctx.k.procs[&z];
            let ProcState::Zombie(st) = p.state else { unreachable!("zombie") };
            if nowait {
                let mut r = p.rusage;
                r.add(&p.children_rusage);
                return Ok(Some((z, st, r)));
            }
            let (st, r) = ctx.k.reap(z).ok_or(ECHILD)?;
            let _ = me;
            return Ok(Some((z, st, r)));
        }
        if nohang {
            return Ok(None);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(ctx.woken_errno(w));
        }
        let cond = ctx.cond();
        ctx.proc().child_wait.register(&cond);
        ctx.sleep(None);
    }
}

pub fn wait4(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, status, options, ru) = (a[0] as i32, a[1], a[2], a[3]);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE) != 0 {
        return Err(EINVAL);
    }
    let which = match pid {
        -1 => Which::Any,
        0 => Which::Group(ctx.proc().pgid),
        p if p < -1 => Which::Group(-p as Pid),
        p => Which::Pid(p as Pid),
    };
    match wait_child(ctx, which, options & WNOHANG != 0, false)? {
        None => Ok(0),
        Some((child, st, r)) => {
            if status != 0 {
                ctx.write_u32(status, st.wait_status() as u32)?;
            }
            if ru != 0 {
                write_rusage(ctx, ru, &r)?;
            }
            Ok(child as i64)
        }
    }
}

pub fn waitid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (idtype, id, infop, options, ru) = (a[0], a[1] as Pid, a[2], a[3], a[4]);
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE) != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID => Which::Pid(id),
        P_PGID => Which::Group(if id == 0 { ctx.proc().pgid } else { id }),
        _ => return Err(EINVAL),
    };
    if options & WEXITED == 0 {
        // Only stopped or continued children asked for: none ever are.
        if options & WNOHANG != 0 {
            return Ok(0);
        }
        return Err(ECHILD);
    }
    let got = wait_child(ctx, which, options & WNOHANG != 0, options & WNOWAIT != 0)?;
    // Nothing to report (WNOHANG): a zeroed siginfo.
    let mut info = SigInfoRaw::new_zeroed();
    if let Some((child, st, r)) = got {
        let (code, status) = match st {
            ExitStatus::Exited(c) => (CLD_EXITED, c),
            ExitStatus::Killed(s) => (CLD_KILLED, s),
        };
        let uid = ctx.proc().cred.uid;
        info =
            SigInfoRaw::from(&SigInfo { signo: signal::SIGCHLD, code, pid: child, uid, status, ..Default::default() });
        if ru != 0 {
            write_rusage(ctx, ru, &r)?;
        }
    }
    if infop != 0 {
        ctx.write_struct(infop, &info)?;
    }
    Ok(0)
}

fn write_rusage(ctx: &mut Ctx, at: u64, r: &Rusage) -> Result<(), Errno> {
    let tv = |ns: u64| Timeval { tv_sec: (ns / 1_000_000_000) as i64, tv_usec: ((ns % 1_000_000_000) / 1000) as i64 };
    let ru = resource::Rusage {
        ru_utime: tv(r.utime_ns),
        ru_stime: tv(r.stime_ns),
        ru_maxrss: (r.maxrss * 4) as i64,
        ru_minflt: r.minflt as i64,
        ru_majflt: r.majflt as i64,
        ru_nvcsw: r.nvcsw as i64,
        ru_nivcsw: r.nivcsw as i64,
        ..Default::default()
    };
    ctx.write_struct(at, &ru)
}

pub fn getrusage(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let who = a[0] as i32;
    let p = ctx.proc();
    let mut r = match who {
        resource::RUSAGE_SELF | resource::RUSAGE_THREAD => p.rusage,
        resource::RUSAGE_CHILDREN => p.children_rusage,
        _ => return Err(EINVAL),
    };
    if who >= 0 {
        r.maxrss = r.maxrss.max(ctx.k.phys.mm_counters(p.mm).hiwater);
    }
    write_rusage(ctx, a[1], &r)?;
    Ok(0)
}

pub fn times(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ticks = |ns: u64| (ns / (1_000_000_000 / USER_HZ)) as i64;
    let p = ctx.proc();
    let v = Tms {
        tms_utime: ticks(p.rusage.utime_ns),
        tms_stime: ticks(p.rusage.stime_ns),
        tms_cutime: ticks(p.children_rusage.utime_ns),
        tms_cstime: ticks(p.children_rusage.stime_ns),
    };
    if a[0] != 0 {
        ctx.write_struct(a[0], &v)?;
    }
    Ok(ticks(ctx.k.started.elapsed().as_nanos() as u64) + 100_000)
}

fn check_signal(sig: u64) -> Result<i32, Errno> {
    if sig > signal::NSIG as u64 {
        return Err(EINVAL);
    }
    Ok(sig as i32)
}

pub fn kill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, sig) = (a[0] as i32, check_signal(a[1])?);
    let me = ctx.pid;
    let targets: Vec<Pid> = match pid {
        p if p > 0 => vec![p as Pid],
        0 => {
            let g = ctx.proc().pgid;
            ctx.k.procs.values().filter(|p| p.pgid == g).map(|p| p.pid).collect()
        }
        -1 => ctx.k.procs.keys().copied().filter(|&p| p != 1 && p != me).collect(),
        p => ctx.k.procs.values().filter(|q| q.pgid == (-p) as Pid).map(|q| q.pid).collect(),
    };
    let targets: Vec<Pid> = targets.into_iter().filter(|p| ctx.k.procs.contains_key(p)).collect();
    if targets.is_empty() {
        return Err(ESRCH);
    }
    // check_kill_permission(): a group send succeeds if any member takes it.
    let cred = ctx.proc().cred.clone();
    let allowed: Vec<Pid> = targets.into_iter().filter(|t| cred.may_signal(&ctx.k.procs[t].cred)).collect();
    if allowed.is_empty() {
        return Err(EPERM);
    }
    if sig == 0 {
        return Ok(0);
    }
    for t in allowed {
        ctx.k.send_process_signal(t, SigInfo::user(sig, me, cred.uid, signal::SI_USER));
    }
    Ok(0)
}

fn thread_kill(ctx: &mut Ctx, tgid: Option<Pid>, tid: i32, sig: u64) -> SysResult {
    let sig = check_signal(sig)?;
    if tid <= 0 {
        return Err(EINVAL);
    }
    let tid = tid as u32;
    let t = ctx.k.threads.get(&tid).filter(|t| !t.exited).ok_or(ESRCH)?;
    if tgid.is_some_and(|g| g != t.pid) {
        return Err(ESRCH);
    }
    let target = t.pid;
    let cred = ctx.proc().cred.clone();
    if !ctx.k.procs.get(&target).is_some_and(|p| cred.may_signal(&p.cred)) {
        return Err(EPERM);
    }
    if sig == 0 {
        return Ok(0);
    }
    let me = ctx.pid;
    ctx.k.send_thread_signal(tid, SigInfo::user(sig, me, cred.uid, signal::SI_TKILL));
    Ok(0)
}

pub fn tkill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    thread_kill(ctx, None, a[0] as i32, a[1])
}

pub fn tgkill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if (a[0] as i32) <= 0 {
        return Err(EINVAL);
    }
    thread_kill(ctx, Some(a[0] as Pid), a[1] as i32, a[2])
}

pub fn set_tid_address(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.thread_mut().clear_child_tid = a[0];
    Ok(ctx.tid as i64)
}

pub fn set_robust_list(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[1] != size_of::<RobustListHead>() as u64 {
        return Err(EINVAL);
    }
    ctx.thread_mut().robust_list = (a[0], a[1]);
    Ok(0)
}

pub fn get_robust_list(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let tid = if a[0] == 0 { ctx.tid } else { a[0] as u32 };
    let (head, len) = ctx.k.threads.get(&tid).map(|t| t.robust_list).ok_or(ESRCH)?;
    ctx.write_u64(a[1], head)?;
    ctx.write_u64(a[2], len)?;
    Ok(0)
}

pub fn rseq(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, flags, sig) = (a[0], a[1] as u32, a[2], a[3] as u32);
    let cur = ctx.thread().rseq;
    if flags & sched::RSEQ_FLAG_UNREGISTER != 0 {
        return match cur {
            Some((a, l, s)) if a == addr && l == len && s == sig => {
                ctx.thread_mut().rseq = None;
                Ok(0)
            }
            Some((a, l, _)) if a == addr && l == len => Err(EPERM),
            _ => Err(EINVAL),
        };
    }
    if flags != 0 {
        return Err(EINVAL);
    }
    if let Some((a, l, s)) = cur {
        return if a == addr && l == len && s == sig { Err(EBUSY) } else { Err(EINVAL) };
    }
    if len < sched::ORIG_RSEQ_SIZE || !addr.is_multiple_of(sched::ORIG_RSEQ_SIZE.into()) {
        return Err(EINVAL);
    }
    // cpu_id_start and cpu_id: vCPUs are not host CPUs; report CPU 0.
    ctx.write_user(addr, &[0u8; 8])?;
    ctx.thread_mut().rseq = Some((addr, len, sig));
    Ok(0)
}

pub fn prctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    match a[0] {
        PR_SET_NAME => {
            let mut name = Vec::new();
            // Up to TASK_COMM_LEN - 1 bytes; a shorter string stops at its NUL.
            while name.len() < TASK_COMM_LEN - 1 {
                let mut b = [0u8; 1];
                ctx.read_user(a[1] + name.len() as u64, &mut b)?;
                if b[0] == 0 {
                    break;
                }
                name.push(b[0]);
            }
            ctx.proc_mut().comm = String::from_utf8_lossy(&name).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; TASK_COMM_LEN];
            let comm = ctx.proc().comm.clone();
            let n = comm.len().min(TASK_COMM_LEN - 1);
            name[..n].copy_from_slice(&comm.as_bytes()[..n]);
            ctx.write_user(a[1], &name)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            check_signal(a[1])?;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            ctx.write_u32(a[1], 0)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE if a[1] <= 1 => Ok(0),
        PR_CAPBSET_READ if a[1] <= u64::from(CAP_LAST_CAP) => Ok(1),
        PR_GET_TIMERSLACK => Ok(50_000),
        PR_SET_TIMERSLACK => Ok(0),
        PR_SET_NO_NEW_PRIVS if a[1] == 1 => Ok(0),
        PR_GET_NO_NEW_PRIVS => Ok(0),
        PR_SET_THP_DISABLE => Ok(0),
        PR_GET_THP_DISABLE => Ok(0),
        PR_SET_VMA if a[1] == PR_SET_VMA_ANON_NAME => super::mm::set_anon_name(ctx, a[2], a[3], a[4]),
        _ => Err(EINVAL),
    }
}

pub fn arch_prctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (code, addr) = (a[0], a[1]);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= USER_TOP {
                return Err(EPERM);
            }
            let t = ctx.thread_mut();
            if code == ARCH_SET_FS {
                t.fs_base = addr;
            } else {
                t.gs_base = addr;
            }
            ctx.tls_changed = true;
            Ok(0)
        }
        ARCH_GET_FS => {
            let v = ctx.thread().fs_base;
            ctx.write_u64(addr, v).map(|_| 0)
        }
        ARCH_GET_GS => {
            let v = ctx.thread().gs_base;
            ctx.write_u64(addr, v).map(|_| 0)
        }
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(ENODEV),
        _ => Err(EINVAL),
    }
}

pub fn sched_yield(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    ctx.unlocked(std::thread::yield_now);
    Ok(0)
}

pub fn sched_getaffinity(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (a[0] as u32, a[1], a[2]);
    if pid != 0 && !ctx.k.threads.contains_key(&pid) && !ctx.k.procs.contains_key(&pid) {
        return Err(ESRCH);
    }
    if len < 8 || len % 8 != 0 {
        return Err(EINVAL);
    }
    // Every vCPU may run on either of the host's CPUs; say the host's.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let bits: u64 = if cpus == 64 { u64::MAX } else { (1u64 << cpus) - 1 };
    ctx.write_u64(mask, bits)?;
    Ok(8)
}

pub fn sched_setaffinity(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (a[0] as u32, a[1], a[2]);
    if pid != 0 && !ctx.k.threads.contains_key(&pid) {
        return Err(ESRCH);
    }
    if len == 0 {
        return Err(EINVAL);
    }
    let m = ctx.read_u64(mask).or_else(|_| ctx.read_u32(mask).map(u64::from))?;
    if m & 0xffff_ffff == 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

pub fn getpriority(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] > resource::PRIO_USER {
        return Err(EINVAL);
    }
    let _ = ctx;
    Ok(20)
}

pub fn setpriority(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] > resource::PRIO_USER {
        return Err(EINVAL);
    }
    // Lowering one's own priority is allowed; raising it needs privilege.
    if (a[2] as i32) < 0 {
        return Err(EACCES);
    }
    Ok(0)
}

pub fn sched_getparam(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.write_u32(a[1], 0)?;
    Ok(0)
}

pub fn sched_getscheduler(_: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(0)
}

/// The priorities a policy has: 1 to 99 for the real-time ones, only 0
/// for the others.
fn sched_priorities(policy: u64) -> Result<(i64, i64), Errno> {
    match policy {
        sched::SCHED_NORMAL | sched::SCHED_BATCH | sched::SCHED_IDLE => Ok((0, 0)),
        sched::SCHED_FIFO | sched::SCHED_RR => Ok((1, sched::MAX_RT_PRIO - 1)),
        _ => Err(EINVAL),
    }
}

pub fn sched_get_priority_max(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(sched_priorities(a[0])?.1)
}

pub fn sched_get_priority_min(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(sched_priorities(a[0])?.0)
}

pub fn personality(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    let _ = a;
    Ok(0)
}

/// A futex timeout: relative for FUTEX_WAIT, absolute for WAIT_BITSET.
fn futex_deadline(ctx: &mut Ctx, at: u64, absolute: bool, realtime: bool) -> Result<Option<Instant>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let (s, ns) = super::time::read_timespec(ctx, at)?;
    let d = Duration::new(s as u64, ns as u32);
    if !absolute {
        return Ok(Some(Instant::now() + d));
    }
    let clock = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
    let now = super::time::host_clock(clock);
    let now = Duration::new(now.0 as u64, now.1 as u32);
    Ok(Some(Instant::now() + d.saturating_sub(now)))
}

/// FUTEX_WAKE_OP's operation on the second word; whether its comparison
/// holds.
fn wake_op(ctx: &mut Ctx, addr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = (encoded >> 12) & 0xfff;
    let cmparg = encoded & 0xfff;
    if encoded & (FUTEX_OP_OPARG_SHIFT << 28) != 0 {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let old = ctx.read_u32(addr2)?;
    let new = match op {
        FUTEX_OP_SET => oparg,
        FUTEX_OP_ADD => old.wrapping_add(oparg),
        FUTEX_OP_OR => old | oparg,
        FUTEX_OP_ANDN => old & !oparg,
        FUTEX_OP_XOR => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    ctx.write_u32(addr2, new)?;
    let (o, c) = (old as i32, cmparg as i32);
    Ok(match cmp {
        FUTEX_OP_CMP_EQ => o == c,
        FUTEX_OP_CMP_NE => o != c,
        FUTEX_OP_CMP_LT => o < c,
        FUTEX_OP_CMP_LE => o <= c,
        FUTEX_OP_CMP_GT => o > c,
        FUTEX_OP_CMP_GE => o >= c,
        _ => return Err(ENOSYS),
    })
}

pub fn futex(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, op, val, utime, addr2, val3) = (a[0], a[1], a[2] as u32, a[3], a[4], a[5] as u32);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    // The operation: the bits below the flags.
    let cmd = op & (FUTEX_PRIVATE_FLAG - 1);
    if realtime && !matches!(cmd, FUTEX_WAIT_BITSET | FUTEX_WAIT) {
        return Err(ENOSYS);
    }
    let mm = ctx.mm();
    match cmd {
        FUTEX_WAIT => {
            let d = futex_deadline(ctx, utime, realtime, realtime)?;
            super::super::futex::wait(ctx, addr, val, d, FUTEX_BITSET_MATCH_ANY, private)
        }
        FUTEX_WAIT_BITSET => {
            let d = futex_deadline(ctx, utime, true, realtime)?;
            super::super::futex::wait(ctx, addr, val, d, val3, private)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if addr % 4 != 0 {
                return Err(EINVAL);
            }
            let bits = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { val3 };
            if bits == 0 {
                return Err(EINVAL);
            }
            let key = ctx.k.futex_key(mm, addr, private);
            Ok(ctx.k.futex_wake_key(key, val, bits) as i64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if addr % 4 != 0 || addr2 % 4 != 0 {
                return Err(EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && ctx.read_u32(addr)? != val3 {
                return Err(EAGAIN);
            }
            let key = ctx.k.futex_key(mm, addr, private);
            let key2 = ctx.k.futex_key(mm, addr2, private);
            let woken = ctx.k.futex_wake_key(key, val, FUTEX_BITSET_MATCH_ANY);
            let moved = ctx.k.futex_requeue(key, key2, utime as u32);
            Ok((woken + moved) as i64)
        }
        FUTEX_WAKE_OP => {
            let key = ctx.k.futex_key(mm, addr, private);
            let key2 = ctx.k.futex_key(mm, addr2, private);
            let hit = wake_op(ctx, addr2, val3)?;
            let mut n = ctx.k.futex_wake_key(key, val, FUTEX_BITSET_MATCH_ANY);
            if hit {
                n += ctx.k.futex_wake_key(key2, utime as u32, FUTEX_BITSET_MATCH_ANY);
            }
            Ok(n as i64)
        }
        _ => Err(ENOSYS),
    }
}
