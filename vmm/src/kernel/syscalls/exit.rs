//! A thread or its whole process ends: exit and exit_group.

use super::super::errno::*;
use super::super::process::ExitStatus;
use super::super::task::Ctx;

pub(super) fn exit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let tid = ctx.tid;
    ctx.k.exit_thread(tid, Some(ExitStatus::Exited((a[0] & 0xff) as i32)));
    Ok(0)
}

pub(super) fn exit_group(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = ctx.pid;
    ctx.k.kill_process(pid, ExitStatus::Exited((a[0] & 0xff) as i32));
    Ok(0)
}
