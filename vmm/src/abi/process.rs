//! Process identity and per-thread bookkeeping: exit, ids, TLS base,
//! set_tid_address, robust lists, rseq, prctl. One process, one thread:
//! it is pid 1, its own thread group.

use super::errno::*;
use super::{Action, Task};
use crate::arch::layout::USER_TOP;

pub const PID: i64 = 1;
pub const UID: i64 = 1000;

const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;

/// exit(2)/exit_group(2): the status is the low 8 bits, as wait(2) sees it.
pub fn exit(status: u64) -> Action {
    Action::Exit((status & 0xff) as i32)
}

/// kill/tkill/tgkill aimed at the program itself. A signal that is
/// ignored, or whose default is to do nothing, does nothing; a blocked one
/// waits until it is unblocked (see dispatch). One
/// that terminates ends the program, as abort() and raise() expect; one
/// with a handler ends it too, since faultline runs no signal handlers
/// (the report says so).
pub fn kill(task: &mut Task, pid: u64, sig: u64) -> Result<SysResult, Action> {
    let pid = pid as i64;
    if pid != PID && pid != 0 && pid != -1 {
        return Ok(Err(ESRCH));
    }
    match sig {
        0 => Ok(Ok(0)),
        1..=64 if task.signals.raise(sig) => Err(Action::Signal(sig as i32)),
        1..=64 => Ok(Ok(0)),
        _ => Ok(Err(EINVAL)),
    }
}

pub fn getresid(task: &mut Task, a: u64, b: u64, c: u64) -> SysResult {
    for p in [a, b, c] {
        task.copy_to_user(p, &(UID as u32).to_le_bytes())?;
    }
    Ok(0)
}

pub fn arch_prctl(task: &mut Task, code: u64, addr: u64) -> SysResult {
    const SET_GS: u64 = 0x1001;
    const SET_FS: u64 = 0x1002;
    const GET_FS: u64 = 0x1003;
    const GET_GS: u64 = 0x1004;
    const GET_CPUID: u64 = 0x1011;
    const SET_CPUID: u64 = 0x1012;
    match code {
        SET_FS | SET_GS => {
            if addr >= USER_TOP {
                return Err(EPERM);
            }
            if code == SET_FS {
                task.fs_base = addr;
                task.pending_msrs.push((MSR_FS_BASE, addr));
            } else {
                task.gs_base = addr;
                task.pending_msrs.push((MSR_GS_BASE, addr));
            }
            Ok(0)
        }
        GET_FS => task.write_u64(addr, task.fs_base).map(|_| 0),
        GET_GS => task.write_u64(addr, task.gs_base).map(|_| 0),
        GET_CPUID => Ok(1),
        SET_CPUID => Err(ENODEV),
        _ => Err(EINVAL),
    }
}

pub fn set_robust_list(len: u64) -> SysResult {
    // sizeof(struct robust_list_head)
    if len != 24 {
        return Err(EINVAL);
    }
    Ok(0)
}

pub fn rseq(task: &mut Task, addr: u64, len: u64, flags: u64, sig: u64) -> SysResult {
    const UNREGISTER: u64 = 1;
    let (len, sig) = (len as u32, sig as u32);
    if flags & UNREGISTER != 0 {
        return match task.rseq {
            Some((a, l, s)) if a == addr && l == len && s == sig => {
                task.rseq = None;
                Ok(0)
            }
            Some((a, l, _)) if a == addr && l == len => Err(EPERM),
            _ => Err(EINVAL),
        };
    }
    if flags != 0 {
        return Err(EINVAL);
    }
    if let Some((a, l, s)) = task.rseq {
        return if a == addr && l == len && s == sig { Err(EBUSY) } else { Err(EINVAL) };
    }
    if len < 32 || !addr.is_multiple_of(32) {
        return Err(EINVAL);
    }
    // cpu_id_start and cpu_id: the one vCPU is CPU 0.
    task.copy_to_user(addr, &[0u8; 8])?;
    task.rseq = Some((addr, len, sig));
    Ok(0)
}

pub fn prctl(task: &mut Task, option: u64, arg2: u64) -> SysResult {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match option {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            // Up to 15 bytes; a shorter string stops at its NUL.
            let mut got = 0;
            while got < 15 {
                let mut b = [0u8; 1];
                task.copy_from_user(arg2 + got as u64, &mut b)?;
                if b[0] == 0 {
                    break;
                }
                name[got] = b[0];
                got += 1;
            }
            task.comm = String::from_utf8_lossy(&name[..got]).into_owned();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let n = task.comm.len().min(15);
            name[..n].copy_from_slice(&task.comm.as_bytes()[..n]);
            task.copy_to_user(arg2, &name)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sched_getaffinity(task: &mut Task, pid: u64, len: u64, mask: u64) -> SysResult {
    if pid != 0 && pid != PID as u64 {
        return Err(ESRCH);
    }
    if len < 8 || !len.is_multiple_of(8) {
        return Err(EINVAL);
    }
    // One vCPU: CPU 0.
    task.copy_to_user(mask, &1u64.to_le_bytes())?;
    Ok(8)
}
