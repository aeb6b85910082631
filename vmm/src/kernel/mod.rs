//! The kernel faultline plays: processes and threads, their address spaces
//! and files, signals, and the Linux system calls. It is the VMM's only
//! door to what runs in the guest: a vCPU thread hands it every trap
//! ([`Kernel::on_trap`]) and does what it answers ([`Next`]).
//!
//! # Who owns what
//!
//! [`KernelState`] composes parts, each a struct whose fields are private
//! to the module that keeps its rules:
//!
//! - `tasks` ([`tasks::Tasks`]): processes and threads by id, the id
//!   space, host thread → guest thread, threads waiting for a vCPU, the
//!   queued signals' kernel memory. Their lives: `fork`, `exec`, `exit`;
//!   signals: `signal`, `sigframe`.
//! - `mm` ([`mm::Mms`]): address spaces, each vCPU's view of one, the
//!   fault being resolved, the OOM killer's state. All memory rules are in
//!   `mm/`; the frames themselves are the machine's (`phys`, `crate::mm`).
//! - `files` ([`files::Files`]): the file system view, the open-file and
//!   pipe counts Linux limits, the page-cache I/O counters.
//! - `futexes`, `procfs` (the /proc cache), `unwind` (fault stacks and
//!   symbols), `live` (the vmstat/top/`--status` views), `report` (the
//!   timeline's recorder and what the outcome reports) and `coredump`
//!   (kernel.core_pattern and core_uses_pid; the dump is `coredump/`'s).
//!
//! What spans parts (a fault records a row and may call the OOM killer; an
//! exit closes files and drops an address space) is a `KernelState` method
//! in the module whose rule it is. Syscall handlers (`syscalls/`) decode
//! arguments and call these.
//!
//! # Locks, and their order
//!
//! All state sits behind one lock, as in early Linux: [`Kernel::lock`].
//! Every thread that acts on the kernel takes it for the whole of what it
//! does: vCPU threads (a trap, a kick, starting and ending a thread), the
//! syscall ring's server (`Kernel::ring_call`), the userfaultfd handler
//! (`mm::uffd::KernelSink`), the supervisor (`wait_done`, `stop_all`,
//! timers, spawns) and progress probes. From outside in:
//!
//! 1. `sandbox::Machine`'s vCPU count, then the kernel lock (a new vCPU's
//!    areas are mapped in the kernel tables); the ring server's slot list,
//!    then the kernel lock (asleep, it looks for a call with the list held).
//!    Neither is ever taken with the kernel lock held.
//! 2. The kernel lock. [`task::Ctx`] holds its guard for a trap. A thread
//!    that blocks (a pipe read, wait4, nanosleep, a vfork parent) sleeps on
//!    its own condition variable paired with this lock, which the wait
//!    releases; `Kernel::done` (the supervisor's) is paired with it too.
//!    Host I/O that may block runs with it released (`Ctx::unlocked`).
//! 3. Leaf locks, only ever taken with the kernel lock held or alone, and
//!    never two at once: a pipe's state, an open file's position, flags
//!    and charges, the parts clone may share between processes
//!    (`process::Shared`: descriptors, cwd and umask, handlers), wait
//!    queues, overlay inodes, /proc contents kept by a descriptor,
//!    captured output and the status line, strace's sinks and call log,
//!    the recorder's event sinks (a user's `on_event` runs here), the
//!    in-memory backing's protected set.
//!
//! With the kernel lock held, nothing may wait for a vCPU to leave
//! KVM_RUN or for userfaultfd to fill a page: the handler thread needs the
//! lock to fill it. So the kernel fills a page itself (`fault::populate`)
//! before it reads or writes guest memory (`mm::uaccess`), and only kicks
//! vCPUs, never waits for them.

pub(crate) mod abi;
mod coredump;
pub(crate) mod cred;
pub(crate) mod exec;
mod exit;
pub(crate) mod files;
mod fork;
mod futex;
mod initial_stack;
mod ipc;
mod jobctl;
mod lifecycle;
pub(crate) mod limits;
pub(crate) mod live;
pub(crate) mod mm;
mod net;
mod process;
pub(crate) mod procfs;
mod reporting;
mod ring;
mod sigframe;
pub(crate) mod signal;
pub(crate) mod strace;
mod symbols;
pub(crate) mod syscalls;
mod task;
mod tasks;
#[cfg(test)]
mod testing;
mod thread;
mod timens;
mod timers;
mod unwind;
mod wait;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

// Every file says `super::errno`: the module is Linux's, in `abi`.
pub(crate) use abi::errno;
pub(crate) use errno::Errno;
pub use process::ExitStatus;
pub(crate) use process::{Pid, Process, Tid};
pub(crate) use thread::Thread;

use crate::arch::fpu::{FpuConfig, FpuState};
use crate::arch::regs::Tls;
use crate::arch::trap::Trap;
use crate::arch::UserRegs;
use crate::fault::Backing;
use crate::hv::{Kicker, Vcpu};
use crate::mm::Phys;
use crate::timeline::Recorder;
use files::vfs::Vfs;
use files::Output;

/// What the kernel needs to know of the sandbox.
#[derive(Clone)]
pub(crate) struct KernelConfig {
    /// Most processes and threads at once (also RLIMIT_NPROC).
    pub max_tasks: u32,
    /// Randomise where brk and mmap start.
    pub aslr: bool,
    /// AT_HWCAP and AT_HWCAP2.
    pub hwcaps: (u64, u64),
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
    /// What the VM's CPU makes of FPU state (on x86-64 the XSAVE image
    /// size and XCR0 a signal frame's fpstate footer tells libc).
    pub fpu: FpuConfig,
    /// Page-table entries (and frames) the first touch of an anonymous
    /// block fills: the others' first touches reach userfaultfd without an
    /// exit. 1 makes every first touch a guest page fault, whose
    /// instruction is then known.
    pub fill_pages: u64,
    /// Pages a read fault in a file mapping maps around itself (Linux's
    /// fault_around_bytes / PAGE_SIZE); 1 or 0: none.
    pub fault_around_pages: u64,
    /// What the page cache holds of host files at the start.
    pub page_cache: crate::mm::PageCache,
    /// Record events at all (off only for `faultline bench`'s bare trap,
    /// which measures what recording costs).
    pub record: bool,
    /// Unwind the call stack of each fault that comes with registers.
    pub stacks: bool,
}

/// Pages of fault-around `bytes` gives, as Linux's fault_around_bytes
/// setter rounds it: down to a power of two, at most one page table.
pub(crate) fn fault_around_pages(bytes: u64) -> u64 {
    let pages = bytes.min(crate::arch::PAGE_SIZE * 512) / crate::arch::PAGE_SIZE;
    if pages <= 1 {
        return 0;
    }
    1 << pages.ilog2()
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

/// Everything the kernel knows, behind [`Kernel`]'s one lock. Each part
/// keeps its own rules (its fields are private to its module); what spans
/// parts (a fault that records a timeline row and may call the OOM killer,
/// an exit that closes files and drops an address space) is a method here,
/// in the module of the rule it follows.
pub(crate) struct KernelState {
    /// The machine's memory: frames, page tables, swap and the page cache
    /// (`crate::mm`'s rules).
    pub(crate) phys: Phys,
    /// The host pages behind guest RAM (userfaultfd in the VMM).
    backing: Arc<dyn Backing>,
    /// The last fault of a thread being killed that was let go (woken
    /// unresolved), by host thread: see `resolve_uffd`.
    pub(crate) let_go: Vec<(i32, u64)>,
    /// The kernel half's tables (the shim, the IDT, per-vCPU areas), which
    /// the sandbox extends as it makes vCPUs.
    pub(crate) kernel_tables: crate::arch::PageTables,
    cfg: KernelConfig,
    /// When the kernel started (uptime, processes' start times).
    booted: Instant,
    /// Processes and threads.
    pub(crate) tasks: tasks::Tasks,
    /// Address spaces, vCPU views, the fault being resolved, the OOM killer.
    pub(crate) mm: mm::Mms,
    /// The file system view and the counts open files are held to.
    files: files::Files,
    futexes: futex::Futexes,
    /// /proc files already made, shared by every reader.
    procfs: procfs::Cache,
    /// The timeline and what the run reports.
    pub(crate) report: reporting::Reporting,
    /// What the live views (vmstat, top, `--status`) remember.
    pub(crate) live: live::Live,
    /// Call stacks and symbols of faults (see `cfg.stacks`).
    unwind: unwind::Unwinder,
    /// init_net: the first network namespace (pid 1's), whose interface
    /// settings new namespaces copy.
    pub(crate) net: Arc<net::Net>,
    /// System V shared memory segments.
    pub(crate) shm: ipc::shm::Registry,
    /// kernel.core_pattern and kernel.core_uses_pid.
    coredump: coredump::Settings,
    /// A timer changed since the supervisor last looked (its wake-up,
    /// sent while it was not waiting, would otherwise be lost).
    supervisor_poked: bool,
}

/// What the vCPU thread does next.
pub(crate) enum Next {
    /// Back to the user where it trapped; the registers may have changed
    /// (syscall result, signal frame), and the TLS bases.
    Return { tls: Option<Tls>, fpu: Option<FpuState> },
    /// Start afresh in ring 3 (exec).
    Enter(Entry),
    /// The thread is gone.
    Exit,
}

/// A fresh start in ring 3.
pub(crate) struct Entry {
    pub root: u64,
    pub regs: UserRegs,
    pub fpu: Option<FpuState>,
    pub tls: Tls,
}

pub(crate) struct Kernel {
    state: Mutex<KernelState>,
    /// Notified when the supervisor should look: pid 1 ended, or a stop.
    done: Condvar,
}

impl Kernel {
    pub(crate) fn new(state: KernelState) -> Self {
        Kernel { state: Mutex::new(state), done: Condvar::new() }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, KernelState> {
        self.state.lock()
    }

    /// Threads created since the last call, for the VMM to give vCPUs,
    /// and, under the same lock, the end of thread `tid`'s hold for a page fault its vCPU left KVM_RUN for at
    /// `since` (it goes back in now): the part of what the fault cost the
    /// program that faultline can see.
    pub(crate) fn take_spawns_ending_hold(&self, hold: Option<(Tid, Instant)>) -> Vec<Tid> {
        let mut k = self.lock();
        if let Some((tid, since)) = hold {
            let ns = since.elapsed().as_nanos() as u64;
            if let Some((pid, region)) = k.tasks.thread_mut(tid).and_then(|t| t.held.take()) {
                if k.cfg.record {
                    k.report.recorder_mut().add_held(pid, region, ns);
                }
            }
        }
        k.tasks.take_spawns()
    }

    /// A vCPU thread takes on thread `tid`: where it starts. `None` if the
    /// thread is already gone (killed before it ran).
    pub(crate) fn begin_thread(&self, tid: Tid, kicker: Kicker, host_tid: i32) -> Option<Entry> {
        let mut k = self.lock();
        let k = &mut *k;
        let t = k.tasks.thread_mut(tid)?;
        t.kicker = Some(kicker);
        t.host_tid = Some(host_tid);
        let start = t.start.take()?;
        let (tls, pid) = (t.tls, t.pid);
        if t.killed {
            return None;
        }
        k.tasks.attach_host(host_tid, tid);
        let mm = k.tasks.proc(pid)?.mm;
        let root = k.mm.get(mm)?.root();
        Some(Entry { root, regs: start.regs, fpu: start.fpu, tls })
    }

    /// The vCPU thread running `tid` leaves: the thread exits if it has not
    /// already, and forgets its vCPU.
    pub(crate) fn end_thread(&self, tid: Tid) {
        let mut k = self.lock();
        if k.tasks.thread(tid).is_some_and(|t| !t.exited) {
            k.exit_thread(tid, None);
        }
        k.tasks.remove_thread(tid);
        self.done.notify_all();
    }

    /// Handles a trap of thread `tid`, whose user registers are `regs`,
    /// after `guest` of time in the guest. `tls` is the TLS registers as
    /// the trap found them, where the program may set them without a call
    /// (arm64's TPIDR_EL0); `None` where only the kernel sets them.
    pub(crate) fn on_trap(
        &self,
        tid: Tid,
        vcpu: &Vcpu,
        trap: Trap,
        regs: &mut UserRegs,
        tls: Option<Tls>,
        guest: Duration,
    ) -> Next {
        let k = self.lock();
        if crate::inject::hit(crate::inject::Point::KernelPanic).is_some() {
            panic!("{}", crate::inject::panic_message(crate::inject::Point::KernelPanic));
        }
        if crate::inject::hit(crate::inject::Point::KernelHang).is_some() {
            // Holds the lock for good, as a deadlock would.
            loop {
                std::thread::park();
            }
        }
        let mut ctx = task::Ctx::new(self, k, tid, regs, Some(vcpu));
        ctx.note_tls(tls);
        let start = ctx.at;
        let next = ctx.trap(trap);
        // Killed, its vCPU kicked before it re-enters: the guest runs no
        // further on translations that could not be flushed.
        ctx.k.check_host();
        let pid = ctx.pid;
        let served = ctx.k.tasks.thread_mut(tid).map_or(0, |t| std::mem::take(&mut t.ring_ns));
        let system = start.elapsed().saturating_sub(ctx.slept);
        if let Some(p) = ctx.k.tasks.proc_mut(pid) {
            p.rusage.utime_ns += (guest.as_nanos() as u64).saturating_sub(served);
            p.rusage.stime_ns += system.as_nanos() as u64;
        }
        ctx.k.fire_cpu_timers(pid);
        if ctx.k.report.over() {
            self.done.notify_all();
        }
        next
    }

    /// Thread `tid`'s vCPU was kicked, after `guest` of time in the guest:
    /// a signal to deliver, an end, or a CPU-time timer to look at.
    pub(crate) fn on_kick(
        &self,
        tid: Tid,
        vcpu: &Vcpu,
        regs: &mut UserRegs,
        tls: Option<Tls>,
        guest: Duration,
    ) -> Next {
        let k = self.lock();
        let mut ctx = task::Ctx::new(self, k, tid, regs, Some(vcpu));
        ctx.note_tls(tls);
        let pid = ctx.pid;
        if let Some(p) = ctx.k.tasks.proc_mut(pid) {
            p.rusage.utime_ns += guest.as_nanos() as u64;
        }
        ctx.k.fire_cpu_timers(pid);
        let next = ctx.finish(Next::Return { tls: None, fpu: None });
        ctx.k.check_host();
        if ctx.k.report.over() {
            self.done.notify_all();
        }
        next
    }

    /// The VM stopped thread `tid` in a way no program may cause (a triple
    /// fault, an odd exit): its process dies of SIGSEGV, with a report.
    pub(crate) fn on_vm_exit(&self, tid: Tid, why: String) -> Next {
        let mut k = self.lock();
        let Some(pid) = k.tasks.thread(tid).map(|t| t.pid) else { return Next::Exit };
        let comm = k.tasks.proc(pid).map_or(String::new(), |p| crate::text::tame(&p.comm));
        let line = format!("{comm}[{pid}]: {why}; killed by SIGSEGV");
        k.diag(&line);
        k.report.add_report(line);
        k.kill_process(pid, ExitStatus::Killed(signal::SIGSEGV));
        k.exit_thread(tid, None);
        self.done.notify_all();
        Next::Exit
    }

    /// Kills whatever still runs once pid 1 has ended (as a PID namespace's
    /// init takes everything with it), without calling it a stop.
    pub(crate) fn stop_all_quietly(&self) {
        let mut k = self.lock();
        let pids: Vec<Pid> = k.tasks.pids();
        for pid in pids {
            k.kill_process(pid, ExitStatus::Killed(signal::SIGKILL));
        }
    }

    /// Stops everything: every process is killed.
    pub(crate) fn stop_all(&self, why: Stop) {
        let mut k = self.lock();
        k.report.set_stop(why);
        let pids: Vec<Pid> = k.tasks.pids();
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
    pub(crate) fn wait_done(&self, deadline: Option<Instant>) -> bool {
        let mut k = self.lock();
        if k.report.over() {
            return true;
        }
        if k.tasks.spawns_pending() || std::mem::take(&mut k.supervisor_poked) {
            return false;
        }
        match deadline {
            Some(d) => {
                self.done.wait_until(&mut k, d);
            }
            None => self.done.wait(&mut k),
        }
        k.report.over()
    }

    /// Waits until every thread has left its vCPU, at most until
    /// `deadline`. True if all have.
    pub(crate) fn wait_threads_gone(&self, deadline: Instant) -> bool {
        let mut k = self.lock();
        loop {
            if k.tasks.all_gone() {
                return true;
            }
            // Kicks are lost on threads between KVM_RUNs: repeat them.
            k.tasks.wake_all();
            let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
            if self.done.wait_until(&mut k, step).timed_out() && Instant::now() >= deadline {
                return k.tasks.task_count() == 0;
            }
        }
    }
}

impl KernelState {
    pub(crate) fn new(
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
            let_go: Vec::new(),
            kernel_tables,
            cfg,
            booted: Instant::now(),
            tasks: tasks::Tasks::new(),
            mm: mm::Mms::new(kernel_half),
            files: files::Files::new(vfs),
            futexes: Default::default(),
            procfs: Default::default(),
            report: reporting::Reporting::new(recorder),
            live: Default::default(),
            unwind: Default::default(),
            net: net::Net::root(),
            shm: Default::default(),
            coredump: Default::default(),
            supervisor_poked: false,
        }
    }

    /// Writes a line of faultline's own about the program.
    /// Names in it (comm, paths) come from the guest: one line, tamed.
    pub(crate) fn diag(&self, line: &str) {
        let line = crate::text::tame_n(line, 4 * crate::text::MAX_SHOWN);
        let _ = self.cfg.diag.write_all(format!("faultline: {line}\n").as_bytes());
    }
}
