//! clone, fork and vfork: new processes (with a copy-on-write copy of the
//! address space, or sharing it for vfork) and new threads (sharing it).

use zerocopy::IntoBytes;

use super::abi::sched::*;
use super::errno::*;
use super::process::{Pid, ProcState, Process, Tid};
use super::signal::SigPending;
use super::task::Ctx;
use super::thread::{StartState, Thread};
use super::wait::WaitQueue;
use crate::arch::PAGE_SIZE;

/// The namespaces not built: asking for one is EPERM, as for a caller
/// without the privilege to.
pub(crate) const CLONE_NEWS: u64 =
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID;

/// What clone was asked for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) stack: u64,
    pub(crate) parent_tid: u64,
    pub(crate) child_tid: u64,
    pub(crate) tls: u64,
    pub(crate) exit_signal: i32,
}

/// clone(2) and clone3(2): returns the new task's id.
pub(crate) fn clone(ctx: &mut Ctx, a: CloneArgs) -> SysResult {
    let f = a.flags;
    check_clone(ctx, &a)?;
    // dup_task_struct(): the task_struct and kernel stack (ENOMEM).
    let kmem = ctx.k.charge_task()?;
    let tid = ctx.k.tasks.alloc_id();
    let mut t = child_thread(ctx, &a, tid);
    t.kmem = Some(kmem);
    let pid = if f & CLONE_THREAD != 0 {
        t.pid = ctx.pid;
        ctx.proc_mut().threads.push(tid);
        ctx.pid
    } else {
        t.pid = tid;
        new_process(ctx, tid, f, a.exit_signal)?;
        tid
    };
    ctx.k.tasks.add_thread(t);
    if f & CLONE_THREAD != 0 {
        ctx.k.record_lifecycle(crate::timeline::EventKind::Clone, pid, tid, ctx.tid);
    } else {
        let ppid = ctx.k.tasks.proc(pid).map_or(0, |p| p.ppid);
        ctx.k.record_lifecycle(crate::timeline::EventKind::Fork, pid, tid, ppid);
    }
    // The tid words, written in both address spaces as Linux does.
    if f & CLONE_PARENT_SETTID != 0 {
        let _ = ctx.write_u32(a.parent_tid, tid);
    }
    if f & CLONE_CHILD_SETTID != 0 {
        let _ = ctx.k.copy_to_user(pid, tid, a.child_tid, tid.as_bytes());
    }
    ctx.k.tasks.queue_spawn(tid);
    ctx.k.procfs.changed();
    if f & CLONE_VFORK != 0 {
        // This vCPU thread blocks below: the supervisor starts the child.
        ctx.wake_supervisor();
        wait_vfork(ctx, pid);
    }
    Ok(tid as i64)
}

/// copy_process()'s checks, in its order: flag combinations, the caps on
/// tasks (fork bombs meet EAGAIN), the TLS base.
fn check_clone(ctx: &mut Ctx, a: &CloneArgs) -> Result<(), Errno> {
    let f = a.flags;
    if f & (CLONE_NEWNS | CLONE_FS) == CLONE_NEWNS | CLONE_FS {
        return Err(EINVAL);
    }
    if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
        return Err(EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
        return Err(EINVAL);
    }
    if f & CLONE_NEWS != 0 {
        return Err(EPERM);
    }
    // A thread, or a child sharing the memory (but for vfork, which
    // enters at its execve), must be in the caller's time namespace.
    let p = ctx.proc();
    let shared_mm = f & CLONE_THREAD != 0 || f & (CLONE_VM | CLONE_VFORK) == CLONE_VM;
    if shared_mm && !std::sync::Arc::ptr_eq(&p.time_ns, &p.time_ns_for_children) {
        return Err(EINVAL);
    }
    if f & (CLONE_NEWTIME | CLONE_NEWNET) != 0 {
        if !p.cred.capable(super::cred::CAP_SYS_ADMIN) {
            return Err(EPERM);
        }
        // A namespace per thread is not modelled: the process has one.
        if f & CLONE_THREAD != 0 {
            let msg = format!(
                "{}: clone flags {f:#x}: a time or network namespace per thread is not supported (EINVAL)",
                p.comm
            );
            ctx.k.diag(&msg);
            return Err(EINVAL);
        }
    }
    if f & CLONE_PIDFD != 0 {
        return Err(EINVAL);
    }
    // The sandbox's cap on tasks, and RLIMIT_NPROC on the user's tasks,
    // which CAP_SYS_RESOURCE and CAP_SYS_ADMIN pass.
    if ctx.k.tasks.task_count() >= ctx.k.cfg.max_tasks as usize {
        return Err(EAGAIN);
    }
    let cred = &ctx.proc().cred;
    if !cred.capable(super::cred::CAP_SYS_RESOURCE) && !cred.capable(super::cred::CAP_SYS_ADMIN) {
        let nproc = ctx.proc().limits.cur(super::abi::resource::RLIMIT_NPROC);
        let uid = cred.uid;
        if ctx.k.tasks.tasks_of_user(uid) as u64 >= nproc {
            return Err(EAGAIN);
        }
    }
    // copy_thread → do_arch_prctl_64(ARCH_SET_FS): a base past the top of
    // user space is EPERM.
    if f & CLONE_SETTLS != 0 && a.tls >= crate::arch::layout::USER_TOP {
        return Err(EPERM);
    }
    Ok(())
}

/// The new thread `tid`: the caller's registers (0 returned, the new
/// stack if given), FPU state, mask, TLS bases, and for a fork its
/// alternate stack.
fn child_thread(ctx: &mut Ctx, a: &CloneArgs, tid: Tid) -> Thread {
    let f = a.flags;
    let fpu = ctx.vcpu.and_then(|v| v.fpu().ok());
    let mut regs = *ctx.regs;
    regs.set_ret(0);
    if a.stack != 0 {
        regs.set_sp(a.stack);
    }
    let parent = ctx.thread();
    let (sigmask, altstack, mut tls) = (parent.sigmask, parent.altstack, parent.tls);
    let mut t = Thread::new(tid, 0, StartState { regs, fpu });
    t.sigmask = sigmask;
    if f & CLONE_SETTLS != 0 {
        tls.set_by_clone(a.tls);
    }
    t.tls = tls;
    // A thread (CLONE_VM) gets no alternate stack; a fork keeps it.
    if f & CLONE_VM == 0 {
        t.altstack = altstack;
    }
    if f & CLONE_CHILD_CLEARTID != 0 {
        t.clear_child_tid = a.child_tid;
    }
    t
}

/// The process part of a fork: a copy of the caller's, or the same for
/// what the flags share (the address space for CLONE_VM, the descriptors
/// for CLONE_FILES, the working directory and umask for CLONE_FS, the
/// handlers for CLONE_SIGHAND).
fn new_process(ctx: &mut Ctx, pid: Pid, flags: u64, exit_signal: i32) -> Result<(), Errno> {
    // copy_net_ns(): a new network namespace, or the caller's.
    let net = if flags & CLONE_NEWNET != 0 { super::net::ns::new_ns(ctx)? } else { ctx.proc().net.clone() };
    // copy_files(): the same table, or a copy charged (ENOMEM).
    let files = if flags & CLONE_FILES != 0 { ctx.proc().files.share() } else { ctx.k.fd_copy_table(ctx.pid)? };
    let pmm = ctx.proc().mm;
    let mm = if flags & CLONE_VM != 0 {
        let mm = pmm;
        ctx.k.mm.share(mm);
        mm
    } else {
        // dup_mmap(): the child's charged mappings are committed again.
        let charged: u64 =
            ctx.k.mm.space(pmm).vmas.iter().filter(|v| v.account && !v.dontcopy).map(|v| v.len() / PAGE_SIZE).sum();
        ctx.k.enough_memory(pmm, charged)?;
        let k = &mut *ctx.k;
        let id = k.mm.fork(&mut k.phys, pmm).map_err(|_| ENOMEM)?;
        k.flush_stale();
        id
    };
    let parent = ctx.proc();
    let ppid = if flags & CLONE_PARENT != 0 { parent.ppid } else { parent.pid };
    // copy_namespaces() and timens_on_fork(): the child's namespace for its
    // children is new with CLONE_NEWTIME; it enters that one unless it
    // shares the caller's memory (a vfork child enters at its execve).
    let for_children = if flags & CLONE_NEWTIME != 0 {
        parent.time_ns_for_children.new_child()
    } else {
        parent.time_ns_for_children.clone()
    };
    let time_ns = if flags & CLONE_VM != 0 {
        parent.time_ns.clone()
    } else {
        for_children.enter();
        for_children.clone()
    };
    let p = Process {
        pid,
        ppid,
        pgid: parent.pgid,
        sid: parent.sid,
        comm: parent.comm.clone(),
        exe: parent.exe.clone(),
        cmdline: parent.cmdline.clone(),
        mm,
        files,
        fs: if flags & CLONE_FS != 0 { parent.fs.share() } else { parent.fs.copy() },
        cred: parent.cred.clone(),
        limits: parent.limits.clone(),
        sig: if flags & CLONE_SIGHAND != 0 {
            parent.sig.share()
        } else {
            let s = parent.sig.copy();
            if flags & CLONE_CLEAR_SIGHAND != 0 {
                s.reset_for_exec();
            }
            s
        },
        shared_pending: SigPending::default(),
        threads: vec![pid],
        children: Vec::new(),
        state: ProcState::Running,
        exit_signal,
        vfork_parent: (flags & CLONE_VFORK != 0).then_some(ctx.tid),
        did_exec: false,
        group_exit: None,
        oom_score_adj: parent.oom_score_adj,
        dumpable: parent.dumpable,
        coredump_filter: parent.coredump_filter,
        started: std::time::Instant::now(),
        rusage: Default::default(),
        children_rusage: Default::default(),
        child_wait: WaitQueue::default(),
        oom_killed: false,
        itimer_real: None,
        timers: Default::default(),
        time_ns,
        time_ns_for_children: for_children,
        net,
        jobctl: Default::default(),
    };
    ctx.k.tasks.add_process(p);
    Ok(())
}

/// A vfork parent waits until the child execs or exits (it shares the
/// child's memory until then).
fn wait_vfork(ctx: &mut Ctx, child: Pid) {
    // This vCPU is busy until the child is done with the memory: the main
    // loop gives the child its vCPU.
    ctx.wake_supervisor();
    loop {
        let waiting = ctx.k.tasks.proc(child).is_some_and(|p| p.vfork_parent == Some(ctx.tid) && !p.is_zombie());
        if !waiting || ctx.thread_gone() {
            return;
        }
        ctx.sleep(None);
    }
}

#[cfg(test)]
mod tests;
