//! The context a trap is handled in: which thread trapped, its registers,
//! the kernel lock, and the helpers syscalls use (user memory, blocking).
//! Also what happens on the way back to user mode: a killed thread exits,
//! pending signals are delivered.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, MutexGuard};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::errno::*;
use super::process::{ExitStatus, Pid, Tid};
use super::signal::{self, SigInfo};
use super::{Kernel, KernelState, Next};
use crate::arch::fpu::FpuState;
use crate::arch::trap::{self, Trap};
use crate::arch::UserRegs;
use crate::hv::Vcpu;
use crate::mm::MmId;

/// A trap being handled. It holds the kernel lock (`k`), and nothing else
/// of the [`Kernel`]: blocking waits on the guard itself (a condition
/// variable's wait releases the lock and takes it again), so the only
/// other thing a handler needs is the supervisor's condition variable, to
/// wake it (a vfork child to start, a timer armed).
pub(crate) struct Ctx<'a> {
    pub(crate) k: MutexGuard<'a, KernelState>,
    supervisor: &'a Condvar,
    pub(crate) tid: Tid,
    pub(crate) pid: Pid,
    pub(crate) regs: &'a mut UserRegs,
    /// The thread's vCPU, stopped; `None` when the syscall ring's server
    /// runs the call while the vCPU waits in the stub (no call that needs
    /// the vCPU's state runs there).
    pub(crate) vcpu: Option<&'a Vcpu>,
    /// Set by calls that set every register (exec, sigreturn): the result
    /// is not written to RAX.
    pub(crate) keep_regs: bool,
    /// Set by exec: start afresh.
    pub(crate) enter: Option<super::Entry>,
    /// arch_prctl changed FS or GS.
    pub(crate) tls_changed: bool,
    /// FPU state to load before returning (sigreturn).
    pub(crate) fpu: Option<FpuState>,
    /// When the trap was taken, for timeline latencies.
    pub(crate) at: Instant,
    /// The syscall being run, for restarting it.
    pub(crate) syscall_nr: Option<u64>,
    /// The fault being handled, for a handler's sigcontext.
    pub(crate) fault: crate::arch::sigframe::FaultRecord,
    /// Time this trap spent asleep (blocked, not running): neither user
    /// nor system time.
    pub(crate) slept: std::time::Duration,
}

/// Why a blocking wait ended without its condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// A signal is pending (EINTR, or a restart: see `sigframe::deliver`).
    Signal,
    /// The thread must exit.
    Killed,
    /// The deadline passed.
    Timeout,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        kernel: &'a Kernel,
        k: MutexGuard<'a, KernelState>,
        tid: Tid,
        regs: &'a mut UserRegs,
        vcpu: Option<&'a Vcpu>,
    ) -> Self {
        let pid = k.tasks.thread(tid).map_or(0, |t| t.pid);
        Ctx {
            k,
            supervisor: &kernel.done,
            tid,
            pid,
            regs,
            vcpu,
            keep_regs: false,
            enter: None,
            tls_changed: false,
            fpu: None,
            at: Instant::now(),
            syscall_nr: None,
            fault: Default::default(),
            slept: std::time::Duration::ZERO,
        }
    }

    pub(crate) fn proc(&self) -> &super::Process {
        self.k.tasks.proc(self.pid).expect("the calling process")
    }

    pub(crate) fn proc_mut(&mut self) -> &mut super::Process {
        self.k.tasks.proc_mut(self.pid).expect("the calling process")
    }

    /// The TLS registers as the trap found them (see `Kernel::on_trap`).
    pub(crate) fn note_tls(&mut self, tls: Option<crate::arch::regs::Tls>) {
        if let (Some(tls), Some(t)) = (tls, self.k.tasks.thread_mut(self.tid)) {
            t.tls = tls;
        }
    }

    pub(crate) fn thread(&self) -> &super::Thread {
        self.k.tasks.thread(self.tid).expect("the calling thread")
    }

    pub(crate) fn thread_mut(&mut self) -> &mut super::Thread {
        self.k.tasks.thread_mut(self.tid).expect("the calling thread")
    }

    pub(crate) fn mm(&self) -> MmId {
        self.proc().mm
    }

    /// Handles `trap` and decides what the vCPU does next.
    pub(crate) fn trap(&mut self, trap: Trap) -> Next {
        match trap {
            Trap::Syscall => self.syscall(),
            // The ring's server ran the call; RAX has its result. What is
            // left is the way out.
            Trap::RingReturn => {}
            Trap::CompatSyscall => {
                // faultline runs no 32-bit ABI: like a Linux built without
                // it (x86's entry_SYSCALL32_ignore), -ENOSYS to the caller.
                self.regs.refuse_compat_syscall(ENOSYS.ret() as u64);
            }
            Trap::PageFault { addr, error } => {
                if let Some(info) = super::mm::fault::user_fault(self, addr, error) {
                    self.force_signal(info, trap);
                }
            }
            Trap::Exception(exc) => {
                let handled = trap::exception_signal(exc, self.regs.pc(), self.regs.sp(), |pc| {
                    let mut insn = [0u8; 2];
                    self.read_user(pc, &mut insn).ok().map(|_| insn)
                });
                match handled {
                    trap::Handled::Signal { exc, signo, code, addr } => {
                        self.force_signal(SigInfo::fault(signo, code, addr), Trap::Exception(exc))
                    }
                    trap::Handled::Resume { pc } => self.regs.set_pc(pc),
                }
            }
            Trap::Kernel(vector) => {
                // No guest code runs in ring 0 and the shim's stubs cannot
                // fault, so whatever the program did to get here, it dies.
                let why = format!(
                    "{} in ring 0 at ip {:016x}: the program may not run there",
                    trap::exception_name(vector),
                    self.regs.pc()
                );
                self.die(SigInfo::kernel(signal::SIGSEGV), why);
            }
        }
        self.finish(super::Next::Return { tls: None, fpu: None })
    }

    /// What every trap settles before the thread goes back: translations
    /// that changed are flushed, and pages it let go are recorded.
    pub(crate) fn settle(&mut self) {
        self.k.flush_stale();
        let (pid, tid, at) = (self.pid, self.tid, self.at);
        self.k.record_releases(pid, tid, at);
    }

    /// The way back to user mode: a thread that must stop exits; pending
    /// signals are delivered (which may end the process).
    pub(crate) fn finish(&mut self, next: Next) -> Next {
        self.settle();
        if let Some(e) = self.enter.take() {
            return self.deliver_then(Next::Enter(e));
        }
        let next = match next {
            Next::Return { .. } => {
                let tls = if self.tls_changed {
                    let t = self.thread();
                    Some(t.tls)
                } else {
                    None
                };
                Next::Return { tls, fpu: self.fpu.take() }
            }
            other => other,
        };
        self.deliver_then(next)
    }

    fn deliver_then(&mut self, mut next: Next) -> Next {
        loop {
            if self.thread_gone() {
                self.k.exit_thread(self.tid, None);
                return Next::Exit;
            }
            if self.k.is_stopped(self.pid) {
                self.stay_stopped();
                continue;
            }
            let Some(info) = self.k.next_signal(self.tid) else {
                self.no_handler_ran();
                return next;
            };
            match self.proc().sig.get(info.signo).handler {
                signal::SIG_IGN => continue,
                signal::SIG_DFL => match signal::default_action(info.signo) {
                    signal::Action::Ignore | signal::Action::Continue => continue,
                    // Stopped (or discarded): the loop's top waits.
                    signal::Action::Stop => {
                        self.k.jobctl_stop(self.pid, info.signo);
                        continue;
                    }
                    signal::Action::Terminate | signal::Action::Core => {
                        let why = match info.code {
                            // pipe_write's send_sig: SI_USER from the writer.
                            signal::SI_USER if info.signo == signal::SIGPIPE && info.pid == self.pid => {
                                "wrote to a pipe with no reader".to_string()
                            }
                            signal::SI_USER | signal::SI_TKILL | signal::SI_QUEUE if info.pid == self.pid => {
                                format!("raised {}", signal::name(info.signo))
                            }
                            signal::SI_USER | signal::SI_TKILL | signal::SI_QUEUE => {
                                format!("signalled by pid {}", info.pid)
                            }
                            _ => "signalled by the kernel".to_string(),
                        };
                        let line = format!(
                            "{}[{}]: {why}; killed by {}",
                            crate::text::tame(&self.proc().comm),
                            self.pid,
                            signal::name(info.signo)
                        );
                        self.k.report.add_report(line.clone());
                        // As natively, a pipeline's writers dying of SIGPIPE
                        // or a shell's children of SIGINT are no news; the
                        // program's own death is.
                        if self.pid == 1 {
                            self.k.diag(&line);
                        }
                        self.die_of(info);
                    }
                },
                _ => match super::sigframe::deliver(self, info, next) {
                    super::sigframe::Delivery::Handler(next) => return next,
                    // No frame: SIGSEGV is forced, taken on the next round.
                    super::sigframe::Delivery::NoFrame(back) => next = back,
                },
            }
        }
    }

    /// The way out with no handler to run: a syscall a signal interrupted
    /// runs again (Linux's "restart the system call - no handlers
    /// present"), and a mask sigsuspend or ppoll put in force goes.
    fn no_handler_ran(&mut self) {
        if self.syscall_nr.is_some() && !self.keep_regs {
            let ret = self.regs.ret() as i64;
            if ret == ERESTARTSYS.ret() || ret == ERESTARTNOHAND.ret() {
                super::sigframe::restart(self);
            } else if ret == ERESTART_RESTARTBLOCK.ret() {
                self.regs.restart_syscall(super::syscalls::nr_restart_syscall());
            }
        }
        if let Some(t) = self.k.tasks.thread_mut(self.tid) {
            if let Some(m) = t.saved_mask.take() {
                t.sigmask = m;
            }
        }
    }

    /// Waits, stopped by job control, until SIGCONT or SIGKILL.
    fn stay_stopped(&mut self) {
        let tid = self.tid;
        let mark = |ctx: &mut Self, on: bool| {
            if let Some(t) = ctx.k.tasks.thread_mut(tid) {
                t.stopped = on;
            }
            ctx.k.procfs.changed();
        };
        while self.k.is_stopped(self.pid) && !self.thread_gone() && self.k.report.stop().is_none() {
            mark(self, true);
            self.k.jobctl_participate(self.pid);
            self.sleep(None);
        }
        mark(self, false);
    }

    /// Whether this thread must stop now.
    pub(crate) fn thread_gone(&self) -> bool {
        self.k.tasks.thread(self.tid).is_none_or(|t| t.killed || t.exited)
    }

    /// A synchronous signal (a fault, an exception): delivered to a handler
    /// if there is one and it is neither blocked nor ignored; otherwise the
    /// process dies of it, with a report in the kernel's style.
    pub(crate) fn force_signal(&mut self, info: SigInfo, trap: Trap) {
        self.force_signal_with(info, trap, crate::arch::sigframe::fault_record(&trap))
    }

    /// [`force_signal`](Self::force_signal) with the fault record the
    /// handler is shown.
    pub(crate) fn force_signal_with(&mut self, info: SigInfo, trap: Trap, record: crate::arch::sigframe::FaultRecord) {
        let act = self.proc().sig.get(info.signo);
        let blocked = self.thread().sigmask & signal::bit(info.signo) != 0;
        if act.handler > signal::SIG_IGN && !blocked {
            self.fault = record;
            if let Trap::PageFault { addr, error } = trap {
                self.k.note_signal(self.pid, self.tid, addr, error.write(), &info, self.at);
            }
            // Delivered before anything else on the way out.
            self.thread_mut().pending.queue.push_front(info);
            self.thread_mut().pending.set |= signal::bit(info.signo);
            return;
        }
        let why = super::mm::fault::describe_crash(self, &info, trap);
        self.die(info, why);
    }

    /// A signal the kernel forces on the thread for something it did, as
    /// Linux's force_sig (SI_KERNEL): to a handler if there is one and it
    /// is neither blocked nor ignored; otherwise the process dies of it,
    /// `why` in the report.
    pub(crate) fn force_kernel_signal(&mut self, signo: i32, why: String) {
        let act = self.proc().sig.get(signo);
        let blocked = self.thread().sigmask & signal::bit(signo) != 0;
        if act.handler > signal::SIG_IGN && !blocked {
            self.thread_mut().pending.queue.push_front(SigInfo::kernel(signo));
            self.thread_mut().pending.set |= signal::bit(signo);
            return;
        }
        self.die(SigInfo::kernel(signo), why);
    }

    /// The process dies of `info`'s signal; `why` goes in the report.
    pub(crate) fn die(&mut self, info: SigInfo, why: String) {
        let comm = crate::text::tame(&self.proc().comm);
        let line = format!("{comm}[{}]: {why}; killed by {}", self.pid, signal::name(info.signo));
        self.k.report.add_report(line.clone());
        self.k.diag(&line);
        self.die_of(info);
    }

    /// The process dies of `info`'s signal, whose default action ends it.
    /// If that action dumps core, this thread writes the core first
    /// (get_signal()'s do_coredump(), before the group exits: its memory
    /// is all there); a process already on its way out dumps nothing.
    /// The other threads, which cannot enter the kernel meanwhile, are
    /// told to stop after.
    fn die_of(&mut self, info: SigInfo) {
        let pid = self.pid;
        let first = self.proc().group_exit.is_none();
        let core = signal::default_action(info.signo) == signal::Action::Core;
        let status = if first && core && self.dump_core(&info).is_ok() {
            ExitStatus::Dumped(info.signo)
        } else {
            ExitStatus::Killed(info.signo)
        };
        self.k.kill_process(pid, status);
    }

    // User memory.

    pub(crate) fn read_user(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let (pid, tid) = (self.pid, self.tid);
        self.k.copy_from_user(pid, tid, addr, buf)
    }

    pub(crate) fn write_user(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let (pid, tid) = (self.pid, self.tid);
        self.k.copy_to_user(pid, tid, addr, buf)
    }

    pub(crate) fn read_u64(&mut self, addr: u64) -> Result<u64, Errno> {
        self.read_struct(addr)
    }

    pub(crate) fn write_u64(&mut self, addr: u64, v: u64) -> Result<(), Errno> {
        self.write_struct(addr, &v)
    }

    pub(crate) fn read_u32(&mut self, addr: u64) -> Result<u32, Errno> {
        self.read_struct(addr)
    }

    pub(crate) fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), Errno> {
        self.write_struct(addr, &v)
    }

    /// A Linux struct from user memory, read with one checked copy.
    pub(crate) fn read_struct<T: FromBytes + IntoBytes + Immutable>(&mut self, addr: u64) -> Result<T, Errno> {
        let mut v = T::new_zeroed();
        self.read_user(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// A Linux struct to user memory, written with one checked copy.
    pub(crate) fn write_struct<T: IntoBytes + Immutable>(&mut self, addr: u64, v: &T) -> Result<(), Errno> {
        self.write_user(addr, v.as_bytes())
    }

    /// A NUL-terminated string of at most `max` bytes (with the NUL):
    /// ENAMETOOLONG beyond.
    pub(crate) fn read_cstr(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (4096 - at % 4096) as usize;
            let mut buf = vec![0u8; chunk];
            self.read_user(at, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return if out.len() < max { Ok(out) } else { Err(ENAMETOOLONG) };
            }
            out.extend_from_slice(&buf);
            if out.len() >= max {
                return Err(ENAMETOOLONG);
            }
            at = at.checked_add(chunk as u64).ok_or(EFAULT)?;
        }
    }

    // Blocking.

    /// Wakes the supervisor to look again: a thread waits for a vCPU its
    /// own vCPU thread cannot start (a vfork parent blocks in its trap),
    /// or a timer's deadline is new.
    pub(crate) fn wake_supervisor(&mut self) {
        self.k.supervisor_poked = true;
        self.supervisor.notify_all();
    }

    /// This thread's condition variable, to register on wait queues.
    pub(crate) fn cond(&self) -> Arc<Condvar> {
        self.thread().cond.clone()
    }

    /// Why this thread should stop waiting, if it should: killed, or a
    /// signal it does not block is pending.
    pub(crate) fn interrupted(&self) -> Option<Woken> {
        if self.thread_gone() || self.k.report.stop().is_some() {
            return Some(Woken::Killed);
        }
        // A stopped process's threads leave their waits to stop.
        (self.k.tasks.signal_pending(self.tid) || self.k.is_stopped(self.pid)).then_some(Woken::Signal)
    }

    /// Sleeps until woken or `deadline`; the kernel lock is released
    /// meanwhile. The caller re-checks its condition.
    pub(crate) fn sleep(&mut self, deadline: Option<Instant>) -> Option<Woken> {
        let cv = self.cond();
        self.set_sleeping(true);
        let t0 = Instant::now();
        let timed_out = match deadline {
            Some(d) => cv.wait_until(&mut self.k, d).timed_out(),
            None => {
                cv.wait(&mut self.k);
                false
            }
        };
        self.set_sleeping(false);
        // Blocking is a voluntary context switch, as schedule() counts it.
        self.slept += t0.elapsed();
        let pid = self.pid;
        if let Some(p) = self.k.tasks.proc_mut(pid) {
            p.rusage.nvcsw += 1;
        }
        timed_out.then_some(Woken::Timeout)
    }

    /// Marks this thread blocked or not, for /proc's state.
    fn set_sleeping(&mut self, on: bool) {
        if let Some(t) = self.k.tasks.thread_mut(self.tid) {
            t.sleeping = on;
        }
        self.k.procfs.changed();
    }

    /// Runs `f` with the kernel lock released (host I/O that may block).
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        MutexGuard::unlocked(&mut self.k, f)
    }

    /// The errno a wait interrupted by `w` returns.
    pub(crate) fn woken_errno(&self, w: Woken) -> Errno {
        match w {
            // Delivery decides: EINTR, or a restart (SA_RESTART, or no
            // handler ran after all).
            Woken::Signal => ERESTARTSYS,
            Woken::Killed => EINTR,
            Woken::Timeout => ETIMEDOUT,
        }
    }
}
