//! The kernel faultline plays: processes and threads, their address spaces
//! and files, signals, and the Linux system calls. It is the VMM's only
//! door to what runs in the guest: a vCPU thread hands it every trap
//! ([`Kernel::on_trap`]) and does what it answers ([`Next`]).
//!
//! All state sits behind one lock, as in early Linux: syscalls, page
//! faults and the userfaultfd handler take it in turn; a thread that blocks
//! (a pipe read, wait4, nanosleep) sleeps on its own condition variable and
//! releases it.

pub mod abi;
pub mod cred;
pub mod exec;
pub mod exit;
pub mod files;
pub mod fork;
pub mod futex;
pub mod initial_stack;
pub mod lifecycle;
pub mod limits;
pub mod live;
pub mod mm;
pub mod process;
pub mod procfs;
pub mod ring;
pub mod sigframe;
pub mod signal;
pub mod strace;
pub mod symbols;
pub mod syscalls;
pub mod task;
#[cfg(test)]
pub mod testing;
pub mod thread;
pub mod unwind;
pub mod wait;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

// Every file says `super::errno`: the module is Linux's, in `abi`.
pub use abi::errno;
pub use errno::{Errno, SysResult};
pub use process::{ExitStatus, Pid, Process, Tid};
pub use thread::{StartState, Thread};

use crate::arch::trap::Trap;
use crate::arch::UserRegs;
use crate::fault::Backing;
use crate::hv::{FpuState, Kicker, Vcpu};
use crate::mm::{AddressSpace, MmId, Phys};
use crate::timeline::{ProcessSummary, Recorder};
use files::vfs::Vfs;
use files::Output;

/// What the kernel needs to know of the sandbox.
#[derive(Clone)]
pub struct KernelConfig {
    /// RLIMIT_STACK.
    pub stack_size: u64,
    /// RLIMIT_MEMLOCK.
    pub memlock_limit: u64,
    /// Most processes and threads at once (also RLIMIT_NPROC).
    pub max_tasks: u32,
    /// Randomise where brk and mmap start.
    pub aslr: bool,
    /// AT_HWCAP.
    pub hwcap: u64,
    /// Where faultline's own messages about the program go (unsupported
    /// syscalls, crash reports).
    pub diag: Output,
    /// Print each syscall here.
    pub strace: Option<strace::Strace>,
    /// Collect every syscall here (for `--trace` and `--report`).
    pub calls: Option<strace::CallLog>,
    /// Print a status line after reclaim passes.
    pub status: Option<Output>,
    /// vm.overcommit_memory and vm.overcommit_ratio.
    pub overcommit: u32,
    pub overcommit_ratio: u64,
    /// vm.max_map_count.
    pub max_map_count: usize,
    /// Bytes of XSAVE state a signal frame holds, and the XCR0 it was
    /// saved with (the frame's fpstate footer tells libc both).
    pub xstate_size: u32,
    pub xcr0: u64,
    /// Page-table entries (and frames) the first touch of an anonymous
    /// block fills: the others' first touches reach userfaultfd without an
    /// exit. 1 makes every first touch a guest page fault, whose
    /// instruction is then known.
    pub fill_pages: u64,
    /// Pages a read fault in a file mapping maps around itself (Linux's
    /// fault_around_bytes / PAGE_SIZE); 1 or 0: none.
    pub fault_around_pages: u64,
    /// Record events at all (off only for `faultline bench`'s bare trap,
    /// which measures what recording costs).
    pub record: bool,
    /// Unwind the call stack of each fault that comes with registers.
    pub stacks: bool,
}

/// Pages of fault-around `bytes` gives, as Linux's fault_around_bytes
/// setter rounds it: down to a power of two, at most one page table.
pub fn fault_around_pages(bytes: u64) -> u64 {
    let pages = bytes.min(crate::arch::PAGE_SIZE * 512) / crate::arch::PAGE_SIZE;
    if pages <= 1 {
        return 0;
    }
    1 << pages.ilog2()
}

/// An address space and how many processes use it (vfork children share
/// their parent's until they exec).
pub struct Mm {
    pub space: AddressSpace,
    pub users: u32,
}

/// Why everything is being stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `--timeout` passed.
    Timeout(Duration),
    /// faultline got this signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
    /// faultline itself failed.
    Failure(String),
}

/// Bytes of one /proc file an open descriptor may keep between reads.
pub const PROC_KEEP_PER_FD: usize = 16 << 10;
/// Bytes of /proc files the kernel's shared cache may hold.
pub const PROC_CACHE_BYTES: usize = 16 << 20;
/// Bytes of /proc files all descriptors together may keep (a fixed cost,
/// as the cache: charging them to RAM would make every /proc read move
/// MemFree, which programs that watch it read through /proc).
pub const PROC_KEEP_BYTES: u64 = 16 << 20;

pub struct KernelState {
    pub phys: Phys,
    /// The host pages behind guest RAM (userfaultfd in the VMM).
    pub backing: Arc<dyn Backing>,
    pub recorder: Recorder,
    pub procs: BTreeMap<Pid, Process>,
    pub threads: BTreeMap<Tid, Thread>,
    pub mms: HashMap<MmId, Mm>,
    pub vfs: Vfs,
    pub cfg: KernelConfig,
    /// PML4 entry of the kernel half every address space shares.
    pub kernel_half: u64,
    next_id: u32,
    next_mm: u32,
    /// Host thread id -> the guest thread it runs (faults are reported by
    /// host thread).
    pub host_threads: HashMap<i32, Tid>,
    /// Threads created but not yet given a vCPU.
    pub to_spawn: Vec<Tid>,
    /// How pid 1 ended, once it has.
    pub init_status: Option<ExitStatus>,
    /// Kernel-style lines about processes that died of a signal or the OOM
    /// killer.
    pub reports: Vec<String>,
    /// Summaries of processes that have exited, in exit order.
    pub summaries: Vec<ProcessSummary>,
    /// Syscalls already reported as unsupported.
    pub unsupported: BTreeSet<u64>,
    /// Bumped by every change a /proc file could show.
    pub epoch: u64,
    pub stop: Option<Stop>,
    /// An OOM victim that is still dying: no other is chosen meanwhile.
    pub oom_dying: Option<Pid>,
    pub oom_kills: u64,
    pub started: Instant,
    /// The last time the status line was printed (`--status`).
    pub last_status: Option<Instant>,
    pub futexes: futex::Futexes,
    /// Set while a populate runs the fault path: its events are prefaults.
    pub prefault_label: Option<crate::timeline::Prefault>,
    /// The guest instruction whose fault is being resolved, for the
    /// timeline's `ip` column.
    pub fault_ip: Option<u64>,
    /// The process being given a new program, and its new address space.
    pub loading: Option<(Pid, MmId)>,
    pub symbols: symbols::Symbols,
    /// Call stacks of faults with registers (see `cfg.stacks`).
    pub unwind: unwind::Unwinder,
    /// /proc files made at some epoch, shared by every reader.
    pub proc_cache: HashMap<String, (u64, Arc<[u8]>)>,
    /// The kernel half's tables (the shim, the IDT, per-vCPU areas).
    pub kernel_tables: crate::arch::PageTables,
    /// pid 1's memory as /proc showed it when it ended.
    pub init_memory: Option<procfs::MemoryReport>,
    /// Frames resident when pid 1 ended, before its memory went.
    pub init_end_resident: Option<u64>,
    /// pid 1's resource use and its reaped children's, when it ended.
    pub init_usage: Option<process::Rusage>,
    /// Which address space holds each vCPU's view (its syscall ring pages).
    pub ring_maps: HashMap<u32, MmId>,
    /// Pages read from and bytes written to files (vmstat's bi, bo).
    pub io: live::IoCounters,
    /// top's row of each process as it ended, in exit order.
    pub top_exited: Vec<live::TopRow>,
    /// The last vmstat line's counters, for the next one's rates.
    pub vmstat_last: Option<live::VmstatSample>,
    /// Open file descriptions (fs.file-nr), each holding a place here.
    pub nr_files: mm::kmem::FileCount,
    /// Pipe slots the sandbox's user holds (fs/pipe.c's user->pipe_bufs).
    pub pipe_user_pages: Arc<std::sync::atomic::AtomicU64>,
    /// The kernel memory of every queued signal (struct sigqueue).
    pub sigqueue_kmem: Option<crate::mm::KmemCharge>,
    /// Bytes of /proc contents descriptors keep now.
    pub proc_kept: Arc<std::sync::atomic::AtomicU64>,
}

/// What the vCPU thread does next.
pub enum Next {
    /// Back to the user where it trapped; the registers may have changed
    /// (syscall result, signal frame), and the TLS bases.
    Return { tls: Option<(u64, u64)>, fpu: Option<FpuState> },
    /// Start afresh in ring 3 (exec).
    Enter(Entry),
    /// The thread is gone.
    Exit,
}

/// A fresh start in ring 3.
pub struct Entry {
    pub cr3: u64,
    pub regs: UserRegs,
    pub fpu: Option<FpuState>,
    pub fs_base: u64,
    pub gs_base: u64,
}

pub struct Kernel {
    state: Mutex<KernelState>,
    /// Notified when the supervisor should look: pid 1 ended, or a stop.
    pub done: Condvar,
}

impl Kernel {
    pub fn new(state: KernelState) -> Self {
        Kernel { state: Mutex::new(state), done: Condvar::new() }
    }

    pub fn lock(&self) -> MutexGuard<'_, KernelState> {
        self.state.lock()
    }

    /// Threads created since the last call, for the VMM to give vCPUs.
    pub fn take_spawns(&self) -> Vec<Tid> {
        self.take_spawns_ending_hold(None)
    }

    /// [`take_spawns`](Self::take_spawns), and, under the same lock, the end
    /// of thread `tid`'s hold for a page fault its vCPU left KVM_RUN for at
    /// `since` (it goes back in now): the part of what the fault cost the
    /// program that faultline can see.
    pub fn take_spawns_ending_hold(&self, hold: Option<(Tid, Instant)>) -> Vec<Tid> {
        let mut k = self.lock();
        if let Some((tid, since)) = hold {
            let ns = since.elapsed().as_nanos() as u64;
            if let Some((pid, region)) = k.threads.get_mut(&tid).and_then(|t| t.held.take()) {
                if k.cfg.record {
                    k.recorder.add_held(pid, region, ns);
                }
            }
        }
        std::mem::take(&mut k.to_spawn)
    }

    /// A vCPU thread takes on thread `tid`: where it starts. `None` if the
    /// thread is already gone (killed before it ran).
    pub fn begin_thread(&self, tid: Tid, kicker: Kicker, host_tid: i32) -> Option<Entry> {
        let mut k = self.lock();
        let k = &mut *k;
        let t = k.threads.get_mut(&tid)?;
        t.kicker = Some(kicker);
        t.host_tid = Some(host_tid);
        let start = t.start.take()?;
        let (fs, gs, pid) = (t.fs_base, t.gs_base, t.pid);
        if t.killed {
            return None;
        }
        k.host_threads.insert(host_tid, tid);
        let mm = k.procs.get(&pid)?.mm;
        let cr3 = k.mms.get(&mm)?.space.root();
        Some(Entry { cr3, regs: start.regs, fpu: start.fpu, fs_base: fs, gs_base: gs })
    }

    /// The vCPU thread running `tid` leaves: the thread exits if it has not
    /// already, and forgets its vCPU.
    pub fn end_thread(&self, tid: Tid) {
        let mut k = self.lock();
        if k.threads.get(&tid).is_some_and(|t| !t.exited) {
            k.exit_thread(tid, None);
        }
        if let Some(t) = k.threads.remove(&tid) {
            if let Some(h) = t.host_tid {
                k.host_threads.remove(&h);
            }
        }
        self.done.notify_all();
    }

    /// Handles a trap of thread `tid`, whose user registers are `regs`,
    /// after `guest` of time in the guest.
    pub fn on_trap(&self, tid: Tid, vcpu: &Vcpu, trap: Trap, regs: &mut UserRegs, guest: Duration) -> Next {
        let k = self.lock();
        if crate::inject::hit(crate::inject::Point::KernelPanic).is_some() {
            panic!("{}", crate::inject::panic_message(crate::inject::Point::KernelPanic));
        }
        let mut ctx = task::Ctx::new(self, k, tid, regs, Some(vcpu));
        let start = ctx.at;
        let next = ctx.trap(trap);
        // Killed, its vCPU kicked before it re-enters: the guest runs no
        // further on translations that could not be flushed.
        ctx.k.check_host();
        let pid = ctx.pid;
        let served = ctx.k.threads.get_mut(&tid).map_or(0, |t| std::mem::take(&mut t.ring_ns));
        let system = start.elapsed().saturating_sub(ctx.slept);
        if let Some(p) = ctx.k.procs.get_mut(&pid) {
            p.rusage.utime_ns += (guest.as_nanos() as u64).saturating_sub(served);
            p.rusage.stime_ns += system.as_nanos() as u64;
        }
        if ctx.k.init_status.is_some() || ctx.k.stop.is_some() {
            self.done.notify_all();
        }
        next
    }

    /// Thread `tid`'s vCPU was kicked: a signal to deliver, or an end.
    pub fn on_kick(&self, tid: Tid, vcpu: &Vcpu, regs: &mut UserRegs) -> Next {
        let k = self.lock();
        let mut ctx = task::Ctx::new(self, k, tid, regs, Some(vcpu));
        let next = ctx.finish(Next::Return { tls: None, fpu: None });
        ctx.k.check_host();
        if ctx.k.init_status.is_some() || ctx.k.stop.is_some() {
            self.done.notify_all();
        }
        next
    }

    /// The VM stopped thread `tid` in a way no program may cause (a triple
    /// fault, an odd exit): its process dies of SIGSEGV, with a report.
    pub fn on_vm_exit(&self, tid: Tid, why: String) -> Next {
        let mut k = self.lock();
        let Some(pid) = k.threads.get(&tid).map(|t| t.pid) else { return Next::Exit };
        let comm = k.procs.get(&pid).map_or(String::new(), |p| crate::text::tame(&p.comm));
        let line = format!("{comm}[{pid}]: {why}; killed by SIGSEGV");
        k.diag(&line);
        k.reports.push(line);
        k.kill_process(pid, ExitStatus::Killed(signal::SIGSEGV));
        k.exit_thread(tid, None);
        self.done.notify_all();
        Next::Exit
    }

    /// Kills whatever still runs once pid 1 has ended (as a PID namespace's
    /// init takes everything with it), without calling it a stop.
    pub fn stop_all_quietly(&self) {
        let mut k = self.lock();
        let pids: Vec<Pid> = k.procs.keys().copied().collect();
        for pid in pids {
            k.kill_process(pid, ExitStatus::Killed(signal::SIGKILL));
        }
    }

    /// Stops everything: every process is killed.
    pub fn stop_all(&self, why: Stop) {
        let mut k = self.lock();
        if k.stop.is_none() {
            k.stop = Some(why);
        }
        let pids: Vec<Pid> = k.procs.keys().copied().collect();
        for pid in pids {
            k.kill_process(pid, ExitStatus::Killed(signal::SIGKILL));
        }
        self.done.notify_all();
    }

    /// Waits until pid 1 has ended or the sandbox is stopping, at most
    /// until `deadline`, until threads wait for a vCPU (a vfork parent
    /// blocks in its trap, so its vCPU thread cannot start the child: the
    /// supervisor must), or until anything else wakes the supervisor (a
    /// timer armed: its deadline is new). True if it has ended.
    pub fn wait_done(&self, deadline: Option<Instant>) -> bool {
        let mut k = self.lock();
        if k.init_status.is_some() || k.stop.is_some() {
            return true;
        }
        if !k.to_spawn.is_empty() {
            return false;
        }
        match deadline {
            Some(d) => {
                self.done.wait_until(&mut k, d);
            }
            None => self.done.wait(&mut k),
        }
        k.init_status.is_some() || k.stop.is_some()
    }

    /// Waits until every thread has left its vCPU, at most until
    /// `deadline`. True if all have.
    pub fn wait_threads_gone(&self, deadline: Instant) -> bool {
        let mut k = self.lock();
        loop {
            if k.threads.is_empty() && k.to_spawn.is_empty() {
                return true;
            }
            // Kicks are lost on threads between KVM_RUNs: repeat them.
            for t in k.threads.values() {
                t.wake();
            }
            let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
            if self.done.wait_until(&mut k, step).timed_out() && Instant::now() >= deadline {
                return k.threads.is_empty();
            }
        }
    }
}

impl KernelState {
    pub fn new(
        phys: Phys,
        backing: Arc<dyn Backing>,
        recorder: Recorder,
        vfs: Vfs,
        cfg: KernelConfig,
        kernel_tables: crate::arch::PageTables,
    ) -> Self {
        let kernel_half = kernel_tables.kernel_entry();
        KernelState {
            phys,
            backing,
            recorder,
            procs: BTreeMap::new(),
            threads: BTreeMap::new(),
            mms: HashMap::new(),
            vfs,
            cfg,
            kernel_half,
            next_id: 1,
            next_mm: 1,
            host_threads: HashMap::new(),
            to_spawn: Vec::new(),
            init_status: None,
            reports: Vec::new(),
            summaries: Vec::new(),
            unsupported: BTreeSet::new(),
            epoch: 0,
            stop: None,
            oom_dying: None,
            oom_kills: 0,
            started: Instant::now(),
            last_status: None,
            futexes: Default::default(),
            prefault_label: None,
            fault_ip: None,
            loading: None,
            symbols: symbols::Symbols::default(),
            unwind: Default::default(),
            proc_cache: HashMap::new(),
            kernel_tables,
            ring_maps: HashMap::new(),
            init_memory: None,
            init_end_resident: None,
            init_usage: None,
            io: live::IoCounters::default(),
            top_exited: Vec::new(),
            vmstat_last: None,
            nr_files: Default::default(),
            pipe_user_pages: Default::default(),
            sigqueue_kmem: None,
            proc_kept: Default::default(),
        }
    }

    /// A new pid/tid (they share one space, as on Linux).
    pub fn alloc_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A fresh address-space id.
    pub fn next_mm_id(&mut self) -> MmId {
        let id = MmId(self.next_mm);
        self.next_mm += 1;
        id
    }

    /// A new, empty address space.
    pub fn new_mm(&mut self) -> Result<MmId, crate::mm::MapError> {
        let id = self.next_mm_id();
        let space = AddressSpace::new(id, &mut self.phys, self.kernel_half)?;
        self.mms.insert(id, Mm { space, users: 1 });
        Ok(id)
    }

    /// Drops one user of an address space; the last tears it down.
    pub fn put_mm(&mut self, id: MmId) {
        let Some(mm) = self.mms.get_mut(&id) else { return };
        mm.users -= 1;
        if mm.users == 0 {
            // Dirty shared pages of host files (a read-write bind) reach
            // them before the mappings go, as on exit.
            self.writeback_range(id, 0, u64::MAX);
            let files = self.mapped_files(id);
            let mm = self.mms.remove(&id).expect("present");
            mm.space.release(&mut self.phys);
            self.phys.flush_stale();
            for id in files {
                self.release_if_orphan(id);
            }
        }
    }

    pub fn space(&self, mm: MmId) -> &AddressSpace {
        &self.mms[&mm].space
    }

    pub fn space_mut(&mut self, mm: MmId) -> &mut AddressSpace {
        &mut self.mms.get_mut(&mm).expect("live address space").space
    }

    /// Tasks (processes' threads) alive now.
    pub fn task_count(&self) -> usize {
        self.threads.len()
    }

    /// Writes a line of faultline's own about the program.
    /// Names in it (comm, paths) come from the guest: one line, tamed.
    pub fn diag(&self, line: &str) {
        let line = crate::text::tame_n(line, 4 * crate::text::MAX_SHOWN);
        let _ = self.cfg.diag.write_all(format!("faultline: {line}\n").as_bytes());
    }
}
