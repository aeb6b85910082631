//! Per-task settings: prctl, arch_prctl (the TLS bases), personality, and
//! what libc registers for each thread as it starts (the tid address, the
//! robust futex list, rseq).

use super::super::abi::futex::RobustListHead;
use super::super::abi::prctl::*;
use super::super::abi::sched;
use super::super::cred::CAP_LAST_CAP;
use super::super::errno::*;
use super::super::task::Ctx;
use super::kill::check_signal;
#[cfg(target_arch = "x86_64")]
use crate::arch::layout::USER_TOP;

pub(super) fn prctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
        PR_GET_DUMPABLE => Ok(i64::from(ctx.proc().dumpable)),
        // SUID_DUMP_DISABLE or SUID_DUMP_USER; SUID_DUMP_ROOT only comes
        // from fs.suid_dumpable, which is 0 here.
        PR_SET_DUMPABLE if a[1] == SUID_DUMP_DISABLE || a[1] == SUID_DUMP_USER => {
            ctx.proc_mut().dumpable = a[1] == SUID_DUMP_USER;
            Ok(0)
        }
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

/// arch_prctl(2), x86-64's own call (asm-generic's table has no number
/// for it, so elsewhere it is never dispatched).
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn arch_prctl(_: &mut Ctx, _: [u64; 6]) -> SysResult {
    Err(ENOSYS)
}

#[cfg(target_arch = "x86_64")]
pub(super) fn arch_prctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (code, addr) = (a[0], a[1]);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= USER_TOP {
                return Err(EPERM);
            }
            let t = ctx.thread_mut();
            if code == ARCH_SET_FS {
                t.tls.fs_base = addr;
            } else {
                t.tls.gs_base = addr;
            }
            ctx.tls_changed = true;
            Ok(0)
        }
        ARCH_GET_FS => {
            let v = ctx.thread().tls.fs_base;
            ctx.write_u64(addr, v).map(|_| 0)
        }
        ARCH_GET_GS => {
            let v = ctx.thread().tls.gs_base;
            ctx.write_u64(addr, v).map(|_| 0)
        }
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(ENODEV),
        _ => Err(EINVAL),
    }
}

pub(super) fn personality(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    let _ = a;
    Ok(0)
}

pub(super) fn set_tid_address(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.thread_mut().clear_child_tid = a[0];
    Ok(ctx.tid as i64)
}

pub(super) fn set_robust_list(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[1] != size_of::<RobustListHead>() as u64 {
        return Err(EINVAL);
    }
    ctx.thread_mut().robust_list = (a[0], a[1]);
    Ok(0)
}

pub(super) fn get_robust_list(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let tid = if a[0] == 0 { ctx.tid } else { a[0] as u32 };
    let (head, len) = ctx.k.tasks.thread(tid).map(|t| t.robust_list).ok_or(ESRCH)?;
    ctx.write_u64(a[1], head)?;
    ctx.write_u64(a[2], len)?;
    Ok(0)
}

pub(super) fn rseq(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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
