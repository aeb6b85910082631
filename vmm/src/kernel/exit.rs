//! How threads and processes end: exit and exit_group, being killed,
//! zombies and reaping, orphans re-parented to pid 1, and the signals that
//! tell a parent. When pid 1 ends, every other process is killed, as when a
//! PID namespace's init dies.

use zerocopy::IntoBytes;

use super::process::{ExitStatus, Pid, ProcState, Tid};
use super::reporting::InitEnd;
use super::signal::{self, SigInfo};
use super::KernelState;

impl KernelState {
    /// Thread `tid` is done (exit(2), or killed). `status` is the
    /// process's exit status if it is the last thread and nothing else set
    /// one.
    pub(crate) fn exit_thread(&mut self, tid: Tid, status: Option<ExitStatus>) {
        let Some(t) = self.tasks.thread_mut(tid) else { return };
        if t.exited {
            return;
        }
        t.exited = true;
        t.killed = true;
        // Its task_struct and kernel stack go now, before anyone joining
        // it hears (its vCPU thread leaves later).
        t.kmem = None;
        let (pid, ctid) = (t.pid, std::mem::take(&mut t.clear_child_tid));
        let robust = std::mem::take(&mut t.robust_list).0;
        if robust != 0 && self.tasks.proc(pid).is_some_and(|p| !p.is_zombie()) {
            self.exit_robust_list(pid, tid, robust);
        }
        // CLONE_CHILD_CLEARTID: zero the word and wake one futex waiter (a
        // thread in pthread_join).
        if ctid != 0
            && self.tasks.proc(pid).is_some_and(|p| p.threads.len() > 1 || p.group_exit.is_none())
            && self.copy_to_user(pid, tid, ctid, 0u32.as_bytes()).is_ok()
        {
            let mm = self.tasks.proc(pid).expect("live process").mm;
            self.futex_wake(mm, ctid, 1, u32::MAX);
        }
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        p.threads.retain(|&t| t != tid);
        if p.threads.is_empty() {
            let st = p.group_exit.or(status).unwrap_or(ExitStatus::Exited(0));
            self.process_exit(pid, tid, st);
        } else {
            // An exiting thread no longer holds up a stop in progress.
            self.jobctl_participate(pid);
        }
        self.procfs.changed();
    }

    /// The whole process `pid` ends with `status` (exit_group, a fatal
    /// signal): every thread stops at its next chance.
    pub(crate) fn kill_process(&mut self, pid: Pid, status: ExitStatus) {
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        if p.is_zombie() {
            return;
        }
        if p.group_exit.is_none() {
            p.group_exit = Some(status);
        }
        let threads = p.threads.clone();
        for tid in threads {
            if let Some(t) = self.tasks.thread_mut(tid) {
                t.killed = true;
                t.wake();
            }
        }
        // Threads that never got a vCPU will not stop by themselves.
        for tid in self.tasks.unstarted(pid) {
            self.exit_thread(tid, None);
        }
    }

    /// The last thread of `pid` (`tid`) is gone: the process becomes a
    /// zombie for its parent to reap.
    fn process_exit(&mut self, pid: Pid, tid: Tid, status: ExitStatus) {
        let mut init = InitEnd::default();
        if pid == 1 {
            init.memory = Some(self.memory_report(1));
            init.end_resident = Some(self.phys.counters.resident);
        }
        let summary = self.snapshot(pid);
        self.report.add_summary(summary);
        self.top_exit(pid);
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        let files = std::mem::take(&mut p.files);
        let mm = p.mm;
        let vfork_parent = p.vfork_parent.take();
        let children = std::mem::take(&mut p.children);
        p.state = ProcState::Zombie(status);
        p.rusage.maxrss = p.rusage.maxrss.max(self.phys.mm_counters(mm).hiwater);
        if pid == 1 {
            // What wait4 would give /usr/bin/time: its own and its reaped
            // children's.
            let mut usage = p.rusage;
            usage.add(&p.children_rusage);
            init.usage = Some(usage);
        }
        // put_files_struct(): the last holder of the table closes its
        // files, which may wake pipe readers and writers elsewhere, and
        // frees the pages of those unlinked that no one holds now.
        if files.sharers() == 1 {
            let closed = files.file_ids();
            files.clear();
            drop(files);
            for id in closed {
                self.release_if_orphan(id);
            }
        }
        self.locks_exit(pid);
        self.dnotify_exit(pid);
        self.put_mm(mm);
        let ppid = self.tasks.proc(pid).map_or(0, |p| p.ppid);
        self.record_lifecycle(crate::timeline::EventKind::Exit, pid, tid, ppid);
        if let Some(t) = vfork_parent.and_then(|t| self.tasks.thread(t)) {
            t.wake();
        }
        // Orphans go to pid 1 (dead ones are reaped with it), with
        // SIGCHLD as their exit signal; one already dead is news for it
        // (reparent_leader()).
        let mut dead = Vec::new();
        for c in children {
            if let Some(cp) = self.tasks.proc_mut(c) {
                cp.ppid = 1;
                cp.exit_signal = signal::SIGCHLD;
                if cp.is_zombie() {
                    dead.push(c);
                }
            }
            if pid != 1 {
                if let Some(init) = self.tasks.proc_mut(1) {
                    init.children.push(c);
                }
            }
        }
        if pid == 1 {
            init.status = Some(status);
            self.report.init_ended(init);
            let others: Vec<Pid> = self.tasks.pids().into_iter().filter(|&p| p != 1).collect();
            for o in others {
                self.kill_process(o, ExitStatus::Killed(signal::SIGKILL));
            }
            return;
        }
        for c in dead {
            self.notify_parent(c);
        }
        self.notify_parent(pid);
    }

    /// Zombie `pid` tells its parent: its exit signal, a wake-up for
    /// threads in wait, and no zombie at all for a parent that ignores
    /// SIGCHLD (or said SA_NOCLDWAIT).
    fn notify_parent(&mut self, pid: Pid) {
        let Some(p) = self.tasks.proc(pid) else { return };
        let ProcState::Zombie(status) = p.state else { return };
        let (ppid, exit_signal) = (p.ppid, p.exit_signal);
        let Some(parent) = self.tasks.proc(ppid) else {
            self.tasks.remove_process(pid);
            return;
        };
        let act = parent.sig.get(signal::SIGCHLD);
        let autoreap = act.handler == signal::SIG_IGN || act.flags & signal::SA_NOCLDWAIT != 0;
        if exit_signal > 0 {
            let (code, st) = status.cld();
            let uid = self.tasks.proc(pid).map_or(0, |p| p.cred.uid);
            let info = SigInfo { signo: exit_signal, code, pid, uid, status: st, ..Default::default() };
            self.send_process_signal(ppid, info);
        }
        if let Some(parent) = self.tasks.proc(ppid) {
            parent.child_wait.wake_all();
        }
        if autoreap {
            self.reap(pid);
        }
    }

    /// Removes zombie `pid`, adding its resource use to its parent's.
    pub(crate) fn reap(&mut self, pid: Pid) -> Option<(ExitStatus, super::process::Rusage)> {
        let p = self.tasks.proc(pid)?;
        let ProcState::Zombie(status) = p.state else { return None };
        let p = self.tasks.remove_process(pid)?;
        let mut total = p.rusage;
        total.add(&p.children_rusage);
        if let Some(parent) = self.tasks.proc_mut(p.ppid) {
            parent.children.retain(|&c| c != pid);
            parent.children_rusage.add(&total);
        }
        Some((status, total))
    }
}
