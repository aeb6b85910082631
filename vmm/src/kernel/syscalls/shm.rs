//! shmget, shmat, shmdt and shmctl: the arguments decoded (ipc/shm.c's
//! SYSCALL_DEFINEs and ksys_shmctl's copies in and out); the rules are
//! `kernel::ipc::shm`'s.

use super::super::abi::ipc::*;
use super::super::errno::*;
use super::super::ipc::shm::{self, CtlOut};
use super::super::task::Ctx;

pub(super) fn shmget(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(shm::get(ctx, a[0] as i32, a[1], a[2] as u32)? as i64)
}

pub(super) fn shmat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(shm::attach(ctx, a[0] as i32, a[1], a[2] as u32)? as i64)
}

pub(super) fn shmdt(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    shm::detach(ctx, a[0])?;
    Ok(0)
}

pub(super) fn shmctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if cmd < 0 || id < 0 {
        return Err(EINVAL);
    }
    let out = match cmd {
        IPC_INFO | SHM_INFO => shm::info(ctx, cmd),
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => shm::stat(ctx, id, cmd)?,
        IPC_SET => {
            // The new values are read before the segment is looked up.
            let new = ctx.read_struct(buf)?;
            shm::set(ctx, id, &new)?
        }
        IPC_RMID => shm::remove(ctx, id)?,
        SHM_LOCK | SHM_UNLOCK => shm::lock(ctx, id, cmd == SHM_LOCK)?,
        _ => return Err(EINVAL),
    };
    match out {
        CtlOut::Done(r) => Ok(r),
        CtlOut::Stat(r, s) => ctx.write_struct(buf, &s).map(|()| r),
        CtlOut::Info(r, i) => ctx.write_struct(buf, &i).map(|()| r),
        CtlOut::ShmInfo(r, i) => ctx.write_struct(buf, &i).map(|()| r),
    }
}
