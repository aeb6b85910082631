//! New tasks: clone in its forms (clone, clone3, fork, vfork), each
//! checked as kernel/fork.c checks it and handed to `fork::clone`.

use zerocopy::{FromZeros, IntoBytes};

use super::super::abi::sched;
use super::super::errno::*;
use super::super::fork::{self, CloneArgs};
use super::super::signal;
use super::super::task::Ctx;
use crate::arch::PAGE_SIZE;

pub(super) fn clone(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[0];
    fork::clone(
        ctx,
        CloneArgs {
            flags: flags & !sched::CSIGNAL,
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[crate::arch::CLONE_CHILD_TID_ARG],
            tls: a[crate::arch::CLONE_TLS_ARG],
            exit_signal: (flags & sched::CSIGNAL) as i32,
        },
    )
}

/// The flags clone3 knows: the legacy 32 bits, CLONE_CLEAR_SIGHAND and
/// CLONE_INTO_CGROUP.
const CLONE3_FLAGS: u64 = 0xffff_ffff | sched::CLONE_CLEAR_SIGHAND | sched::CLONE_INTO_CGROUP;

pub(super) fn clone3(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
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

pub(super) fn fork(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    fork::clone(ctx, CloneArgs { exit_signal: signal::SIGCHLD, ..Default::default() })
}

pub(super) fn vfork(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    fork::clone(
        ctx,
        CloneArgs { flags: sched::CLONE_VM | sched::CLONE_VFORK, exit_signal: signal::SIGCHLD, ..Default::default() },
    )
}

/// What unshare(2) knows (check_unshare_flags' set).
const UNSHARE_FLAGS: u64 = sched::CLONE_THREAD
    | sched::CLONE_FS
    | sched::CLONE_NEWNS
    | sched::CLONE_SIGHAND
    | sched::CLONE_VM
    | sched::CLONE_FILES
    | sched::CLONE_SYSVSEM
    | sched::CLONE_NEWUTS
    | sched::CLONE_NEWIPC
    | sched::CLONE_NEWNET
    | sched::CLONE_NEWUSER
    | sched::CLONE_NEWPID
    | sched::CLONE_NEWCGROUP
    | sched::CLONE_NEWTIME;

/// unshare(2), as ksys_unshare: the parts of its context the caller names
/// become its own. Descriptors and the file-system context shared with
/// other processes are copied; threads share their process's, so a thread
/// of several cannot take its own (EINVAL, said). A time namespace is
/// made for the caller's children, a network namespace for the caller
/// itself (per process here: a thread of several cannot take its own,
/// EINVAL, said); the other namespaces are not built,
/// and are EINVAL as in a kernel without them (after the EPERM an
/// unprivileged caller meets first).
pub(super) fn unshare(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let mut f = a[0];
    if f & !UNSHARE_FLAGS != 0 {
        return Err(EINVAL);
    }
    // The flags others imply.
    if f & sched::CLONE_NEWUSER != 0 {
        f |= sched::CLONE_THREAD | sched::CLONE_FS;
    }
    if f & sched::CLONE_VM != 0 {
        f |= sched::CLONE_SIGHAND;
    }
    if f & sched::CLONE_SIGHAND != 0 {
        f |= sched::CLONE_THREAD;
    }
    if f & sched::CLONE_NEWNS != 0 {
        f |= sched::CLONE_FS;
    }
    // check_unshare_flags(): handlers and memory cannot be unshared, only
    // kept when no one else holds them.
    let single = ctx.proc().threads.len() == 1;
    if f & (sched::CLONE_THREAD | sched::CLONE_SIGHAND | sched::CLONE_VM) != 0 && !single {
        return Err(EINVAL);
    }
    if f & (sched::CLONE_SIGHAND | sched::CLONE_VM) != 0 && ctx.proc().sig.sharers() > 1 {
        return Err(EINVAL);
    }
    if f & sched::CLONE_VM != 0 && ctx.k.mm.users(ctx.proc().mm) > 1 {
        return Err(EINVAL);
    }
    if f & (sched::CLONE_FS | sched::CLONE_FILES) != 0 && !single {
        ctx.k.diag(&format!(
            "{}: unshare of the descriptors or file-system context of one thread is not supported (EINVAL)",
            ctx.proc().comm
        ));
        return Err(EINVAL);
    }
    if f & sched::CLONE_NEWUSER != 0 {
        return Err(EINVAL);
    }
    let others =
        sched::CLONE_NEWNS | sched::CLONE_NEWUTS | sched::CLONE_NEWIPC | sched::CLONE_NEWPID | sched::CLONE_NEWCGROUP;
    let namespaces = f & (others | sched::CLONE_NEWTIME | sched::CLONE_NEWNET) != 0;
    if namespaces && !ctx.proc().cred.capable(super::super::cred::CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if f & others != 0 {
        ctx.k.diag(&format!(
            "{}: unshare flags {f:#x}: only time and network namespaces are built (EINVAL)",
            ctx.proc().comm
        ));
        return Err(EINVAL);
    }
    if f & sched::CLONE_NEWNET != 0 && !single {
        ctx.k.diag(&format!(
            "{}: unshare of the network namespace of one thread is not supported (EINVAL)",
            ctx.proc().comm
        ));
        return Err(EINVAL);
    }
    // Everything is made before the caller changes (unshare_nsproxy_namespaces).
    let net = if f & sched::CLONE_NEWNET != 0 { Some(super::super::net::ns::new_ns(ctx)?) } else { None };
    let p = ctx.proc_mut();
    if f & sched::CLONE_NEWTIME != 0 {
        p.time_ns_for_children = p.time_ns_for_children.new_child();
    }
    // unshare_fs() and unshare_fd().
    if f & sched::CLONE_FS != 0 {
        ctx.proc_mut().fs.unshare();
    }
    if f & sched::CLONE_FILES != 0 {
        ctx.k.unshare_files(ctx.pid)?;
    }
    if let Some(net) = net {
        // Its sockets stay in the namespace they were made in.
        ctx.proc_mut().net = net;
        ctx.k.procfs.changed();
    }
    Ok(0)
}
