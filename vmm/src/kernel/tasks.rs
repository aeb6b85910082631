//! The task list: every process and thread by id, the one id space they
//! share, which host thread runs which guest thread, and the threads still
//! waiting for a vCPU. What a process or thread holds is in `process` and
//! `thread`; how they start and end is in `fork`, `exec` and `exit`.

use std::collections::{BTreeMap, HashMap};

use super::process::{Pid, Process, Tid};
use super::thread::Thread;
use crate::mm::{KmemCharge, MmId};

pub(crate) struct Tasks {
    procs: BTreeMap<Pid, Process>,
    threads: BTreeMap<Tid, Thread>,
    /// The next pid/tid (they share one space, as on Linux).
    next_id: u32,
    /// Host thread id -> the guest thread it runs (userfaultfd reports
    /// faults by host thread).
    host_threads: HashMap<i32, Tid>,
    /// Threads created but not yet given a vCPU.
    to_spawn: Vec<Tid>,
    /// The kernel memory of every queued signal (struct sigqueue), over
    /// all processes: one charge, grown and shrunk with the queues.
    sigqueue_kmem: Option<KmemCharge>,
}

impl Tasks {
    pub(super) fn new() -> Self {
        Tasks {
            procs: BTreeMap::new(),
            threads: BTreeMap::new(),
            next_id: 1,
            host_threads: HashMap::new(),
            to_spawn: Vec::new(),
            sigqueue_kmem: None,
        }
    }

    /// A new pid/tid.
    pub(super) fn alloc_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn proc(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(&pid)
    }

    pub(crate) fn proc_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.procs.get_mut(&pid)
    }

    pub(crate) fn thread(&self, tid: Tid) -> Option<&Thread> {
        self.threads.get(&tid)
    }

    pub(crate) fn thread_mut(&mut self, tid: Tid) -> Option<&mut Thread> {
        self.threads.get_mut(&tid)
    }

    /// Every process (zombies included), by pid.
    pub(crate) fn procs(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    /// Every pid, in order (a copy: the caller may change the list).
    pub(crate) fn pids(&self) -> Vec<Pid> {
        self.procs.keys().copied().collect()
    }

    /// Every thread that has not been reaped by its vCPU thread.
    pub(super) fn threads(&self) -> impl Iterator<Item = &Thread> {
        self.threads.values()
    }

    /// Processes (zombies included).
    pub(crate) fn process_count(&self) -> usize {
        self.procs.len()
    }

    /// Tasks (processes' threads) alive now.
    pub(super) fn task_count(&self) -> usize {
        self.threads.len()
    }

    /// Threads whose process belongs to `uid` (RLIMIT_NPROC's count).
    pub(super) fn tasks_of_user(&self, uid: u32) -> usize {
        self.threads.values().filter(|t| self.procs.get(&t.pid).is_some_and(|p| p.cred.uid == uid)).count()
    }

    /// Adds process `p`, and makes it a child of its parent.
    pub(super) fn add_process(&mut self, p: Process) {
        if let Some(pp) = self.procs.get_mut(&p.ppid) {
            pp.children.push(p.pid);
        }
        self.procs.insert(p.pid, p);
    }

    /// Forgets process `pid` (reaped, or never started).
    pub(super) fn remove_process(&mut self, pid: Pid) -> Option<Process> {
        self.procs.remove(&pid)
    }

    pub(super) fn add_thread(&mut self, t: Thread) {
        self.threads.insert(t.tid, t);
    }

    /// Thread `tid` is ready for a vCPU.
    pub(super) fn queue_spawn(&mut self, tid: Tid) {
        self.to_spawn.push(tid);
    }

    /// The vCPU thread of `tid` is gone: the thread and its host thread
    /// are forgotten.
    pub(super) fn remove_thread(&mut self, tid: Tid) {
        if let Some(t) = self.threads.remove(&tid) {
            if let Some(h) = t.host_tid {
                self.host_threads.remove(&h);
            }
        }
    }

    /// Host thread `host` runs thread `tid` from now on.
    pub(super) fn attach_host(&mut self, host: i32, tid: Tid) {
        self.host_threads.insert(host, tid);
    }

    /// The thread host thread `host` runs, if it runs one.
    pub(super) fn by_host(&self, host: i32) -> Option<&Thread> {
        self.host_threads.get(&host).and_then(|t| self.threads.get(t))
    }

    /// Threads created since the last call, for the VMM to give vCPUs.
    pub(super) fn take_spawns(&mut self) -> Vec<Tid> {
        std::mem::take(&mut self.to_spawn)
    }

    /// Whether threads wait for a vCPU.
    pub(super) fn spawns_pending(&self) -> bool {
        !self.to_spawn.is_empty()
    }

    /// Threads of `pid` that never got a vCPU (they will not stop by
    /// themselves).
    pub(super) fn unstarted(&self, pid: Pid) -> Vec<Tid> {
        self.to_spawn.iter().copied().filter(|t| self.threads.get(t).is_some_and(|t| t.pid == pid)).collect()
    }

    /// No thread left, none waiting for a vCPU.
    pub(super) fn all_gone(&self) -> bool {
        self.threads.is_empty() && self.to_spawn.is_empty()
    }

    /// Kicks every thread (kicks are lost on threads between KVM_RUNs:
    /// the supervisor repeats them).
    pub(super) fn wake_all(&self) {
        for t in self.threads.values() {
            t.wake();
        }
    }

    /// The address space thread `tid` runs in.
    pub(super) fn mm_of_thread(&self, tid: Tid) -> Option<MmId> {
        self.threads.get(&tid).and_then(|t| self.procs.get(&t.pid)).map(|p| p.mm)
    }

    /// Whether thread `tid` has a signal pending it does not block.
    pub(super) fn signal_pending(&self, tid: Tid) -> bool {
        let Some(t) = self.threads.get(&tid) else { return false };
        let shared = self.procs.get(&t.pid).map_or(0, |p| p.shared_pending.set);
        (t.pending.set | shared) & !t.sigmask != 0
    }

    /// Signals queued now, over the sandbox (its one user's count).
    pub(super) fn sigqueued(&self) -> u64 {
        let t: usize = self.threads.values().map(|t| t.pending.queue.len()).sum();
        let p: usize = self.procs.values().map(|p| p.shared_pending.queue.len()).sum();
        (t + p) as u64
    }

    /// The queued signals' kernel memory, taken out to grow it (put it
    /// back with [`Tasks::put_sigqueue_charge`]).
    pub(super) fn take_sigqueue_charge(&mut self) -> Option<KmemCharge> {
        self.sigqueue_kmem.take()
    }

    pub(super) fn put_sigqueue_charge(&mut self, c: KmemCharge) {
        self.sigqueue_kmem = Some(c);
    }

    /// Gives back the kernel memory of signals no longer queued.
    pub(super) fn sigqueue_sync(&mut self) {
        if self.sigqueue_kmem.is_none() {
            return;
        }
        let queued = self.sigqueued();
        if let Some(c) = &mut self.sigqueue_kmem {
            while c.bytes() > queued * crate::mm::kmem::SIGQUEUE_BYTES {
                c.shrink(crate::mm::Kmem::SigQueue);
            }
        }
    }
}
