//! A guest thread on its vCPU: the loop enters the guest, hands each exit
//! to the kernel, writes back what the kernel changed, and does what it
//! answers (as Firecracker's `running()` → `run_emulation()` → a handler
//! per exit kind).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::machine::Machine;
use super::stub::leave_stub;
use super::SyscallPath;
use crate::arch::layout::{self, SHIM_VA};
use crate::arch::regs::TrapFrame;
use crate::arch::ring::{self as ring_abi, InStub};
use crate::arch::trap::{self, Trap};
use crate::arch::{tables, UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Vcpu};
use crate::kernel::{Entry, Kernel, Next, Stop, Tid};

/// The host thread's id (userfaultfd reports faults by it).
fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn enter(vcpu: &Vcpu, e: &Entry) -> Result<(), crate::hv::VmError> {
    vcpu.enter_user(e.cr3, &e.regs.to_kvm(), e.fs_base, e.gs_base, e.fpu.as_deref())
}

/// Ends the run if a vCPU thread unwinds (a bug in the kernel panicked
/// it): its guest thread would otherwise never exit, and everything
/// waiting on it (pid 1's end, the supervisor) would wait forever.
struct EndOnPanic<'a>(&'a Kernel, Tid);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop_all(Stop::Failure(format!("the vCPU thread running thread {} panicked", self.1)));
            self.0.end_thread(self.1);
        }
    }
}

/// Runs guest thread `tid` on `vcpu` until it exits.
pub(super) fn run_thread(kernel: &Arc<Kernel>, machine: &Arc<Machine>, tid: Tid, mut vcpu: Vcpu) {
    let _guard = EndOnPanic(kernel, tid);
    let kicker = vcpu.kicker();
    vcpu.clear_kick();
    if let Some(entry) = kernel.begin_thread(tid, kicker, gettid()) {
        match enter(&vcpu, &entry) {
            Ok(()) => {
                let mut r = Runner { kernel, machine, tid, vcpu: &mut vcpu, ring_on: false, held: None };
                if let Err(Fatal(why)) = r.run() {
                    kernel.stop_all(Stop::Failure(why));
                }
            }
            Err(e) => kernel.stop_all(Stop::Failure(format!("cannot start thread {tid}: {e}"))),
        }
    }
    machine.ring_off(kernel, &vcpu);
    kernel.end_thread(tid);
    vcpu.clear_kick();
    machine.put(vcpu);
}

/// Something faultline itself failed at: the run ends.
struct Fatal(String);

const CANNOT_WRITE: &str = "cannot write vCPU registers";

/// What an exit leads to.
enum Step {
    /// The kernel answered: do what it says.
    Next(Next),
    /// Straight back into the guest.
    Resume,
}

/// How the program's registers reach the vCPU again.
#[derive(Clone, Copy)]
enum Back {
    /// Through the trap frame the shim returns with (`iretq`).
    Frame,
    /// Straight into the vCPU's registers (stopped in user mode).
    Direct,
}

/// One guest thread's loop on its vCPU.
struct Runner<'a> {
    kernel: &'a Arc<Kernel>,
    machine: &'a Arc<Machine>,
    tid: Tid,
    vcpu: &'a mut Vcpu,
    /// Its calls go to the syscall ring.
    ring_on: bool,
    /// When KVM_RUN returned with a page fault: faultline holds the thread
    /// for it until the vCPU goes back in.
    held: Option<Instant>,
}

impl Runner<'_> {
    fn run(&mut self) -> Result<(), Fatal> {
        loop {
            let t0 = Instant::now();
            let exit = self.vcpu.run();
            let guest = t0.elapsed();
            let step = match exit {
                Ok(Exit::Trap(vector)) => self.on_trap(vector, t0 + guest, guest)?,
                Ok(Exit::Interrupted) => self.on_kick(guest)?,
                Ok(e @ (Exit::RingCall | Exit::RingReturn | Exit::RingDirect)) => self.on_ring_exit(e, guest)?,
                Ok(Exit::Doorbell) => {
                    if let Some(server) = self.machine.ring.get() {
                        server.wake();
                    }
                    Step::Resume
                }
                Ok(Exit::Shutdown) => {
                    Step::Next(self.kernel.on_vm_exit(self.tid, "triple fault (the CPU shut down)".into()))
                }
                Ok(Exit::Unexpected(what)) => {
                    let rip = self.vcpu.regs().map(|r| r.rip).unwrap_or(0);
                    let why = format!("the VM stopped unexpectedly: {what} at ip {rip:#x}");
                    Step::Next(self.kernel.on_vm_exit(self.tid, why))
                }
                Err(e) => return Err(Fatal(e.to_string())),
            };
            let Step::Next(next) = step else { continue };
            if !self.apply(next)? {
                return Ok(());
            }
            let hold = self.held.take().map(|since| (self.tid, since));
            if let Err(e) = self.machine.spawn_pending_ending_hold(self.kernel, hold) {
                self.kernel.stop_all(Stop::Failure(e.to_string()));
            }
        }
    }

    fn regs(&self) -> Result<kvm_bindings::kvm_regs, Fatal> {
        self.vcpu.regs().map_err(|_| Fatal("cannot read vCPU registers".into()))
    }

    /// Writes `regs` back where the guest resumes from, if the kernel
    /// changed them (or always, for a call's result).
    fn write_back(
        &self,
        gprs: &kvm_bindings::kvm_regs,
        regs: &UserRegs,
        before: &UserRegs,
        back: Back,
        always: bool,
    ) -> Result<(), Fatal> {
        if !always && regs == before {
            return Ok(());
        }
        let ok = match back {
            Back::Frame => {
                let mut g = *gprs;
                let f = regs.write_back(&mut g);
                self.machine.set_frame(self.vcpu.id(), &f) && self.vcpu.set_regs(&g).is_ok()
            }
            Back::Direct => self.vcpu.set_regs(&regs.to_kvm()).is_ok(),
        };
        ok.then_some(()).ok_or_else(|| Fatal(CANNOT_WRITE.into()))
    }

    /// An exception or a `syscall` the shim reported.
    fn on_trap(&mut self, vector: u8, exited: Instant, guest: Duration) -> Result<Step, Fatal> {
        let cpu = self.vcpu.id();
        let frame = self.machine.frame(cpu);
        let gprs = self.regs()?;
        if self.machine.path == SyscallPath::RingCpl0 && self.ring_on && enters_ring0(cpu, vector, &frame) {
            // What `syscall` does on bare metal, done by hand.
            let mut g = gprs;
            (g.rip, g.rsp, g.rflags) = (frame.rip, frame.rsp, 0x2);
            self.vcpu.enter_ring0(&g).map_err(|_| Fatal("cannot enter the ring stub in ring 0".into()))?;
            return Ok(Step::Resume);
        }
        let t = trap::classify(vector, &frame, || self.vcpu.cr2().unwrap_or(0));
        if matches!(t, Trap::PageFault { .. }) {
            self.held = Some(exited);
        }
        let is_call = matches!(t, Trap::Syscall | Trap::CompatSyscall);
        let mut regs =
            if is_call { UserRegs::at_syscall(&gprs, &frame) } else { UserRegs::at_exception(&gprs, &frame) };
        let before = regs;
        let next = self.kernel.on_trap(self.tid, self.vcpu, t, &mut regs, guest);
        if let Next::Return { .. } = &next {
            if t == Trap::Syscall && !self.ring_on {
                self.ring_on = self.machine.ring_on(self.kernel, self.vcpu, self.tid, &frame);
            }
            self.write_back(&gprs, &regs, &before, Back::Frame, is_call)?;
        }
        Ok(Step::Next(next))
    }

    /// The vCPU was kicked (a signal to deliver, a kill, a stop): where it
    /// stopped decides where the program's registers are.
    fn on_kick(&mut self, guest: Duration) -> Result<Step, Fatal> {
        self.vcpu.clear_kick();
        let cpu = self.vcpu.id();
        let gprs = self.regs()?;
        // The stub is mapped only while the ring is on: elsewhere its
        // address is the user's, unmapped.
        if self.ring_on && ring_abi::in_stub(cpu, gprs.rip) != InStub::No {
            let next = leave_stub(self.kernel, self.machine, self.tid, self.vcpu, &gprs, guest);
            return next.map(Step::Next).ok_or_else(|| Fatal(CANNOT_WRITE.into()));
        }
        let (mut regs, back) = if gprs.rip >= SHIM_VA {
            if !layout::stub_after_report(gprs.rip) {
                // Still on its way to report a trap: that trap comes next,
                // and the kick is looked at with it.
                return Ok(Step::Resume);
            }
            // About to return to the user: the user's state is in the
            // frame, and goes back through it.
            (UserRegs::at_exception(&gprs, &self.machine.frame(cpu)), Back::Frame)
        } else {
            let compat = self.vcpu.sregs().map(|s| s.cs.selector == tables::USER32_CS).unwrap_or(false);
            (UserRegs::at_user(&gprs, compat), Back::Direct)
        };
        let before = regs;
        let next = self.kernel.on_kick(self.tid, self.vcpu, &mut regs);
        if let Next::Return { .. } = &next {
            self.write_back(&gprs, &regs, &before, back, false)?;
        }
        Ok(Step::Next(next))
    }

    /// The ring's stub left by the doorbell's exit offsets: a call for the
    /// VMM to run, or a return through it.
    fn on_ring_exit(&mut self, e: Exit, guest: Duration) -> Result<Step, Fatal> {
        use std::sync::atomic::Ordering;
        let cpu = self.vcpu.id();
        let gprs = self.regs()?;
        let mut regs = ring_abi::regs_entering(&gprs);
        let t = if matches!(e, Exit::RingReturn) { Trap::RingReturn } else { Trap::Syscall };
        let server = self.machine.ring.get();
        if let Some(server) = server {
            server.note_vcpu_cpu();
            // A call to run here that the server did not answer EXIT: the
            // stub gave up waiting for it.
            if let (Exit::RingCall, Some(mb)) = (&e, self.machine.mailbox(cpu)) {
                if mb.state.load(Ordering::Acquire) == ring_abi::IDLE {
                    server.stats.withdrawn.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Whatever the server last answered has been acted on.
            if matches!(e, Exit::RingCall | Exit::RingReturn) {
                server.forget_answer(cpu);
            }
        }
        let next = self.kernel.on_trap(self.tid, self.vcpu, t, &mut regs, guest);
        if let Next::Return { .. } = &next {
            if let Some(server) = server {
                server.nudge();
            }
            self.vcpu.return_to_user(&regs.to_kvm()).map_err(|_| Fatal(CANNOT_WRITE.into()))?;
        }
        Ok(Step::Next(next))
    }

    /// Does what the kernel answered; false once the thread is gone.
    fn apply(&mut self, next: Next) -> Result<bool, Fatal> {
        match next {
            Next::Return { tls, fpu } => {
                if let Some(f) = fpu {
                    if self.vcpu.set_fpu(&f).is_err() {
                        self.kernel.on_vm_exit(self.tid, "bad FPU state".into());
                    }
                }
                if let Some((fs, gs)) = tls {
                    self.vcpu.set_tls(fs, gs).map_err(|_| Fatal("cannot set FS/GS base".into()))?;
                }
                Ok(true)
            }
            Next::Enter(mut e) => {
                let cpu = self.vcpu.id();
                // A new address space: the vCPU's view moves into it, and
                // KVM forgets the old one's translations of the mailbox (a
                // vfork parent keeps that address space).
                if self.ring_on {
                    let view = self.kernel.lock().ring_attach(cpu, self.tid, self.machine.ring_user());
                    if let Some(view) = view {
                        e.cr3 = view;
                        let _ = self.machine.ring_mem.invalidate(ring_abi::mailbox_offset(cpu), PAGE_SIZE);
                    } else {
                        self.machine.ring_off(self.kernel, self.vcpu);
                        self.ring_on = false;
                    }
                }
                enter(self.vcpu, &e).map_err(|err| Fatal(format!("cannot enter the new program: {err}")))?;
                Ok(true)
            }
            Next::Exit => Ok(false),
        }
    }
}

/// Whether a trap is a `syscall` that entered the ring stub in ring 3
/// where the stub's pages are supervisor pages: the test of the ring-0
/// path under a hypervisor (PVM) whose `syscall` stays in ring 3.
fn enters_ring0(cpu: u32, vector: u8, frame: &TrapFrame) -> bool {
    vector == trap::PF && frame.rip == ring_abi::lstar(cpu, true) && frame.user_mode() && frame.rflags & (1 << 9) == 0
}
