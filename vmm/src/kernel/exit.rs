//! How threads and processes end: exit and exit_group, being killed,
//! zombies and reaping, orphans re-parented to pid 1, and the signals that
//! tell a parent. When pid 1 ends, every other process is killed, as when a
//! PID namespace's init dies.

use std::collections::BTreeMap;

use super::errno::{Errno, EAGAIN};
use super::process::{ExitStatus, Pid, ProcState, Tid};
use super::signal::{self, SigInfo};
use super::KernelState;
use crate::mm::Kmem;
use crate::mm::Residency;
use crate::timeline::{ProcessSummary, RegionId, RegionShape, RegionSummary};

impl KernelState {
    /// Thread `tid` is done (exit(2), or killed). `status` is the
    /// process's exit status if it is the last thread and nothing else set
    /// one.
    pub fn exit_thread(&mut self, tid: Tid, status: Option<ExitStatus>) {
        let Some(t) = self.threads.get_mut(&tid) else { return };
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
        if robust != 0 && self.procs.get(&pid).is_some_and(|p| !p.is_zombie()) {
            self.exit_robust_list(pid, tid, robust);
        }
        // CLONE_CHILD_CLEARTID: zero the word and wake one futex waiter (a
        // thread in pthread_join).
        if ctid != 0
            && self.procs.get(&pid).is_some_and(|p| p.threads.len() > 1 || p.group_exit.is_none())
            && self.copy_to_user(pid, tid, ctid, &0u32.to_le_bytes()).is_ok()
        {
            let mm = self.procs[&pid].mm;
            self.futex_wake(mm, ctid, 1, u32::MAX);
        }
        let Some(p) = self.procs.get_mut(&pid) else { return };
        p.threads.retain(|&t| t != tid);
        if p.threads.is_empty() {
            let st = p.group_exit.or(status).unwrap_or(ExitStatus::Exited(0));
            self.process_exit(pid, tid, st);
        }
        self.epoch += 1;
    }

    /// The whole process `pid` ends with `status` (exit_group, a fatal
    /// signal): every thread stops at its next chance.
    pub fn kill_process(&mut self, pid: Pid, status: ExitStatus) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if p.is_zombie() {
            return;
        }
        if p.group_exit.is_none() {
            p.group_exit = Some(status);
        }
        let threads = p.threads.clone();
        for tid in threads {
            if let Some(t) = self.threads.get_mut(&tid) {
                t.killed = true;
                t.wake();
            }
        }
        // Threads that never got a vCPU will not stop by themselves.
        let unstarted: Vec<Tid> =
            self.to_spawn.iter().copied().filter(|t| self.threads.get(t).is_some_and(|t| t.pid == pid)).collect();
        for tid in unstarted {
            self.exit_thread(tid, None);
        }
    }

    /// The last thread of `pid` (`tid`) is gone: the process becomes a
    /// zombie for its parent to reap.
    fn process_exit(&mut self, pid: Pid, tid: Tid, status: ExitStatus) {
        if pid == 1 {
            self.init_memory = Some(self.memory_report(1));
            self.init_end_resident = Some(self.phys.counters.resident);
        }
        let summary = self.snapshot(pid);
        self.summaries.push(summary);
        let top = super::live::TopRow { state: 'Z', ..self.top_row(pid) };
        self.top_exited.push(top);
        let Some(p) = self.procs.get_mut(&pid) else { return };
        let mut files = std::mem::take(&mut p.files);
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
            self.init_usage = Some(usage);
        }
        // Closing the files may wake pipe readers and writers elsewhere.
        files.clear();
        drop(files);
        self.put_mm(mm);
        let ppid = self.procs.get(&pid).map_or(0, |p| p.ppid);
        self.record_lifecycle(crate::timeline::EventKind::Exit, pid, tid, ppid);
        if let Some(t) = vfork_parent.and_then(|t| self.threads.get(&t)) {
            t.wake();
        }
        // Orphans go to pid 1 (dead ones are reaped with it), with
        // SIGCHLD as their exit signal; one already dead is news for it
        // (reparent_leader()).
        let mut dead = Vec::new();
        for c in children {
            if let Some(cp) = self.procs.get_mut(&c) {
                cp.ppid = 1;
                cp.exit_signal = signal::SIGCHLD;
                if cp.is_zombie() {
                    dead.push(c);
                }
            }
            if pid != 1 {
                if let Some(init) = self.procs.get_mut(&1) {
                    init.children.push(c);
                }
            }
        }
        if pid == 1 {
            self.init_status = Some(status);
            let others: Vec<Pid> = self.procs.keys().copied().filter(|&p| p != 1).collect();
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
        let Some(p) = self.procs.get(&pid) else { return };
        let ProcState::Zombie(status) = p.state else { return };
        let (ppid, exit_signal) = (p.ppid, p.exit_signal);
        let Some(parent) = self.procs.get(&ppid) else {
            self.procs.remove(&pid);
            return;
        };
        let act = parent.sig.get(signal::SIGCHLD);
        let autoreap = act.handler == signal::SIG_IGN || act.flags & signal::SA_NOCLDWAIT != 0;
        if exit_signal > 0 {
            let (code, st) = match status {
                ExitStatus::Exited(c) => (super::abi::wait::CLD_EXITED, c),
                ExitStatus::Killed(s) => (super::abi::wait::CLD_KILLED, s),
            };
            let uid = self.procs.get(&pid).map_or(0, |p| p.cred.uid);
            let info = SigInfo { signo: exit_signal, code, pid, uid, status: st, ..Default::default() };
            self.send_process_signal(ppid, info);
        }
        if let Some(parent) = self.procs.get(&ppid) {
            parent.child_wait.wake_all();
        }
        if autoreap {
            self.reap(pid);
        }
    }

    /// Removes zombie `pid`, adding its resource use to its parent's.
    pub fn reap(&mut self, pid: Pid) -> Option<(ExitStatus, super::process::Rusage)> {
        let p = self.procs.get(&pid)?;
        let ProcState::Zombie(status) = p.state else { return None };
        let p = self.procs.remove(&pid)?;
        let mut total = p.rusage;
        total.add(&p.children_rusage);
        if let Some(parent) = self.procs.get_mut(&p.ppid) {
            parent.children.retain(|&c| c != pid);
            parent.children_rusage.add(&total);
        }
        Some((status, total))
    }

    /// Queues `info` for process `pid` (any thread that does not block it
    /// takes it).
    pub fn send_process_signal(&mut self, pid: Pid, info: SigInfo) {
        let _ = self.try_send_process_signal(pid, info);
    }

    /// The same, with EAGAIN for a real-time signal from sigqueue that
    /// finds no room in the queues (RLIMIT_SIGPENDING).
    pub fn try_send_process_signal(&mut self, pid: Pid, info: SigInfo) -> Result<(), Errno> {
        let Some(p) = self.procs.get(&pid) else { return Ok(()) };
        if p.is_zombie() {
            return Ok(());
        }
        if info.signo == signal::SIGKILL {
            self.kill_process(pid, ExitStatus::Killed(signal::SIGKILL));
            return Ok(());
        }
        // Ignored signals are dropped at once (SIGCONT still continues).
        if p.sig.ignored(info.signo) {
            return Ok(());
        }
        let legacy = info.signo < signal::SIGRTMIN && p.shared_pending.set & signal::bit(info.signo) != 0;
        let queue = legacy || self.sigqueue_admit(pid, &info)?;
        let p = self.procs.get_mut(&pid).expect("just found");
        if queue {
            p.shared_pending.add(info);
        } else {
            p.shared_pending.add_without_info(info.signo);
        }
        let threads = p.threads.clone();
        // Wake a thread that can take it (or all: each re-checks).
        for tid in threads {
            if let Some(t) = self.threads.get(&tid) {
                if t.sigmask & signal::bit(info.signo) == 0 {
                    t.wake();
                    break;
                }
            }
        }
        self.epoch += 1;
        Ok(())
    }

    /// Queues `info` for thread `tid` alone.
    pub fn send_thread_signal(&mut self, tid: Tid, info: SigInfo) {
        let _ = self.try_send_thread_signal(tid, info);
    }

    /// The same, with EAGAIN as [`KernelState::try_send_process_signal`].
    pub fn try_send_thread_signal(&mut self, tid: Tid, info: SigInfo) -> Result<(), Errno> {
        let Some(t) = self.threads.get(&tid) else { return Ok(()) };
        if info.signo == signal::SIGKILL {
            let pid = t.pid;
            self.kill_process(pid, ExitStatus::Killed(signal::SIGKILL));
            return Ok(());
        }
        let pid = t.pid;
        if self.procs.get(&pid).is_some_and(|p| p.sig.ignored(info.signo)) {
            return Ok(());
        }
        let legacy = info.signo < signal::SIGRTMIN && t.pending.set & signal::bit(info.signo) != 0;
        let queue = legacy || self.sigqueue_admit(pid, &info)?;
        let t = self.threads.get_mut(&tid).expect("just found");
        if queue {
            t.pending.add(info);
        } else {
            t.pending.add_without_info(info.signo);
        }
        t.wake();
        Ok(())
    }

    /// Signals queued now, over the sandbox (its one user's count).
    fn sigqueued(&self) -> u64 {
        let t: usize = self.threads.values().map(|t| t.pending.queue.len()).sum();
        let p: usize = self.procs.values().map(|p| p.shared_pending.queue.len()).sum();
        (t + p) as u64
    }

    /// __sigqueue_alloc() for a signal to process `pid`: true if `info`
    /// gets a queue entry (within the target's RLIMIT_SIGPENDING, counted
    /// over the sandbox's user, and with kernel memory for it). A standard
    /// signal from the kernel or kill() goes past the limit; one that
    /// finds no entry is pending without its info (false), except a
    /// real-time one not from kill(): EAGAIN, as __send_signal_locked().
    fn sigqueue_admit(&mut self, pid: Pid, info: &SigInfo) -> Result<bool, Errno> {
        let limit = self.procs.get(&pid).map_or(0, |p| p.limits.cur(super::abi::resource::RLIMIT_SIGPENDING));
        let override_rlimit = info.signo < signal::SIGRTMIN && info.code >= 0;
        let queued = self.sigqueued();
        self.sigqueue_sync(queued);
        if override_rlimit || queued < limit {
            let charged = match self.sigqueue_kmem.take() {
                Some(mut c) => {
                    let r = self.kmem_grow(&mut c, Kmem::SigQueue);
                    self.sigqueue_kmem = Some(c);
                    r
                }
                None => self.kmem_charge(Kmem::SigQueue, 1).map(|c| self.sigqueue_kmem = Some(c)),
            };
            if charged.is_ok() {
                return Ok(true);
            }
        }
        if info.signo >= signal::SIGRTMIN && info.code != signal::SI_USER {
            return Err(EAGAIN);
        }
        Ok(false)
    }

    /// Gives back the kernel memory of signals no longer queued.
    pub fn sigqueue_sync(&mut self, queued: u64) {
        if let Some(c) = &mut self.sigqueue_kmem {
            while c.bytes() > queued * crate::mm::kmem::SIGQUEUE_BYTES {
                c.shrink(Kmem::SigQueue);
            }
        }
    }

    /// The next signal thread `tid` should take, if any.
    pub fn next_signal(&mut self, tid: Tid) -> Option<SigInfo> {
        let t = self.threads.get_mut(&tid)?;
        let mask = t.sigmask;
        let pid = t.pid;
        let info = match t.pending.take(mask) {
            Some(i) => Some(i),
            None => self.procs.get_mut(&pid)?.shared_pending.take(mask),
        };
        if info.is_some() && self.sigqueue_kmem.is_some() {
            let queued = self.sigqueued();
            self.sigqueue_sync(queued);
        }
        info
    }

    /// Whether thread `tid` has a signal pending it does not block.
    pub fn signal_pending(&self, tid: Tid) -> bool {
        let Some(t) = self.threads.get(&tid) else { return false };
        let shared = self.procs.get(&t.pid).map_or(0, |p| p.shared_pending.set);
        (t.pending.set | shared) & !t.sigmask != 0
    }

    /// What process `pid` looks like now, region by region.
    pub fn snapshot(&self, pid: Pid) -> ProcessSummary {
        let Some(p) = self.procs.get(&pid) else {
            return ProcessSummary {
                pid,
                comm: String::new(),
                regions: Vec::new(),
                vmm_pages: 0,
                peak_resident_pages: 0,
            };
        };
        let mut shapes: BTreeMap<RegionId, RegionShape> = BTreeMap::new();
        if let Some(mm) = self.mms.get(&p.mm) {
            let space = &mm.space;
            for v in space.vmas.iter() {
                let mut va = v.start;
                while va < v.end {
                    let region = space.region_of(va).unwrap_or(v.region);
                    // The run of pages in the same region.
                    let next = space
                        .sections
                        .iter()
                        .map(|s| if s.start > va { s.start } else { s.end })
                        .filter(|&b| b > va)
                        .min()
                        .unwrap_or(v.end)
                        .min(v.end);
                    let s = shapes.entry(region).or_insert(RegionShape { start: u64::MAX, ..Default::default() });
                    s.start = s.start.min(va);
                    s.end = s.end.max(next);
                    s.perms = s.perms.union(v.perms);
                    s.mapped_pages += (next - va) / crate::arch::PAGE_SIZE;
                    s.add_area(va, next);
                    va = next;
                }
                space.for_each_mapped(v.start, v.end, |va, leaf| {
                    if self.phys.frame(leaf.pte.frame()).is_some_and(|f| f.residency == Residency::Resident) {
                        let region = space.region_of(va).unwrap_or(v.region);
                        if let Some(s) = shapes.get_mut(&region) {
                            s.resident_pages += 1;
                        }
                    }
                });
            }
        }
        let regions = self.recorder.regions();
        let counts = self.recorder.counts();
        let mut ids: Vec<RegionId> = shapes.keys().copied().collect();
        for &(cpid, r) in counts.keys() {
            if cpid == pid && !ids.contains(&r) {
                ids.push(r);
            }
        }
        // In address order; regions no longer mapped last.
        ids.sort_by_key(|r| (shapes.get(r).map_or(u64::MAX, |s| s.start), r.0));
        let rows = ids
            .into_iter()
            .map(|r| {
                let shape = shapes.get(&r).cloned().unwrap_or_default();
                let c = counts.get(&(pid, r)).cloned().unwrap_or_default();
                RegionSummary::new(pid, regions.name(r).to_string(), shape, &c)
            })
            .collect();
        ProcessSummary {
            pid,
            comm: p.comm.clone(),
            regions: rows,
            vmm_pages: self.recorder.vmm_pages(pid),
            peak_resident_pages: p.rusage.maxrss.max(self.phys.mm_counters(p.mm).hiwater),
        }
    }
}
