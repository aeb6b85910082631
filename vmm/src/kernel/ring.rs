//! The kernel's half of the syscall ring (the server is in
//! `sandbox::ring`, the stub's contract in `arch::ring`): which vCPU's ring
//! pages are mapped in which address space, and running one call for the
//! server while the caller's vCPU waits in the stub.

use std::time::Instant;

use super::errno::{EINTR, ERESTARTNOHAND, ERESTARTSYS};
use super::process::Tid;
use super::signal::SIGSEGV;
use super::syscalls::{lookup, Ring};
use super::task::Ctx;
use super::{Kernel, KernelState, Next};
use crate::arch::layout::{ring_code_va, DOORBELL_GPA};
use crate::arch::ring::{self as abi, Mailbox};
use crate::arch::{RingPage, UserRegs};
use crate::hv::Vcpu;

/// vCPU `cpu`'s ring pages: (va, gpa, kind).
fn pages(cpu: u32) -> [(u64, u64, RingPage); 3] {
    [
        (ring_code_va(cpu), abi::CODE_GPA, RingPage::Code),
        (abi::mailbox_va(cpu), abi::mailbox_gpa(cpu), RingPage::Data),
        (abi::doorbell_va(cpu), DOORBELL_GPA, RingPage::Data),
    ]
}

impl KernelState {
    /// Gives vCPU `cpu` a view of thread `tid`'s address space with its
    /// ring pages (and takes away the one it had elsewhere): the root the
    /// vCPU must run on from now on. Each vCPU's pages are in its own view
    /// only, so no thread reaches another's mailbox, of its own process or
    /// another. `user`: the stub runs in ring 3 (PVM). `None` if the
    /// thread is gone or the tables are full.
    pub(crate) fn ring_attach(&mut self, cpu: u32, tid: Tid, user: bool) -> Option<u64> {
        let mm = self.tasks.mm_of_thread(tid)?;
        self.mm.attach_view(&mut self.phys, cpu, mm, &pages(cpu), user)
    }

    /// Retires vCPU `cpu`'s view, wherever it is; false if it had none.
    /// No vCPU may run on it any more. The caller makes KVM forget every
    /// translation of the mailbox (the code page is read-only and the
    /// doorbell holds nothing, so neither matters).
    pub(crate) fn ring_detach(&mut self, cpu: u32) -> bool {
        self.mm.detach_view(&mut self.phys, cpu)
    }

    /// The root of thread `tid`'s address space itself (no ring pages).
    pub(crate) fn thread_root(&self, tid: Tid) -> Option<u64> {
        let mm = self.tasks.mm_of_thread(tid)?;
        self.mm.get(mm).map(|m| m.root())
    }
}

impl Kernel {
    /// Thread `tid`, stopped in the ring stub, shows a mailbox state the
    /// server never wrote (`state`; the thread's own mailbox is a user page
    /// under PVM): the thread forged it, and gets SIGSEGV for it, as for a
    /// write to a kernel address on Linux. `regs`: the program's registers
    /// as at its `syscall`. A thread already on its way out just goes.
    pub(crate) fn ring_forged(&self, tid: Tid, vcpu: &Vcpu, regs: &mut UserRegs, state: u64) -> Next {
        let k = self.lock();
        let mut ctx = Ctx::new(self, k, tid, regs, Some(vcpu));
        if !ctx.thread_gone() {
            let what = match state {
                abi::TAKEN => "TAKEN, for a call the server never took",
                abi::DONE => "DONE, an answer the server never gave",
                abi::DELIVER => "DELIVER, an answer the server never gave",
                abi::EXIT => "EXIT, an answer the server never gave",
                _ => "a state the ring has not",
            };
            let why = format!("forged the syscall ring's state ({what}) ip {:016x}", ctx.regs.pc());
            ctx.force_kernel_signal(SIGSEGV, why);
        }
        let next = ctx.finish(Next::Return { tls: None, fpu: None });
        ctx.k.check_host();
        if ctx.k.report.over() {
            self.done.notify_all();
        }
        next
    }

    /// Runs the call in mailbox `mb` for thread `tid`, for the ring's
    /// server: the answer (DONE, DELIVER or EXIT) and the result. The
    /// mailbox is a copy, taken once: the guest may change the real one
    /// meanwhile to no effect.
    pub(crate) fn ring_call(&self, tid: Tid, mb: &Mailbox) -> (u64, u64) {
        let start = Instant::now();
        let k = self.lock();
        let Some(pid) = k.tasks.thread(tid).filter(|t| !t.killed && !t.exited).map(|t| t.pid) else {
            // On its way out: the VMM ends the thread on the return path.
            return (abi::DELIVER, EINTR.ret() as u64);
        };
        let serve = match lookup(mb.nr).map(|e| e.ring) {
            Some(Ring::Serve) => true,
            Some(Ring::ServeIf(when)) => when(&k, pid, &mb.args),
            Some(Ring::Exit) | None => false,
        };
        if !serve {
            return (abi::EXIT, 0);
        }
        let mut regs = UserRegs::for_syscall(mb.nr, mb.args);
        let mut ctx = Ctx::new(self, k, tid, &mut regs, None);
        ctx.syscall();
        // What `Ctx::finish` does on the way out, but for delivery, which
        // needs the vCPU: the VMM does it when the answer is DELIVER. A
        // refused flush kills the thread: DELIVER, and the VMM ends it.
        ctx.settle();
        ctx.k.check_host();
        let deliver = ctx.thread_gone() || ctx.k.tasks.signal_pending(tid);
        // A wait a signal ended, with nothing done (ERESTARTSYS,
        // ERESTARTNOHAND): the call runs again in its trap, where delivery
        // turns the code into EINTR or a restart by the handler's flags.
        let rerun = deliver && [ERESTARTSYS.ret(), ERESTARTNOHAND.ret()].contains(&(ctx.regs.ret() as i64));
        if let Some(p) = ctx.k.tasks.proc_mut(pid) {
            p.rusage.stime_ns += start.elapsed().as_nanos() as u64;
        }
        if let Some(t) = ctx.k.tasks.thread_mut(tid) {
            t.ring_ns += start.elapsed().as_nanos() as u64;
        }
        if ctx.k.report.over() {
            self.done.notify_all();
        }
        drop(ctx);
        if rerun {
            return (abi::EXIT, 0);
        }
        (if deliver { abi::DELIVER } else { abi::DONE }, regs.ret())
    }
}
