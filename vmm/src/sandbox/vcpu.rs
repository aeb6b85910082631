//! A guest thread on its vCPU, shaped as Firecracker's `vstate/vcpu.rs`:
//! `running()` loops over `run_emulation()`, which enters the guest and
//! hands the exit to `handle_kvm_exit()`, a handler per exit kind; each
//! handler asks the kernel, and `apply()` does what it answered, writing
//! the program's registers back in one place (`write_back()`).

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
    vcpu.enter_user(e.root, &e.regs, e.tls, e.fpu.as_ref())
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
                if let Err(Fatal(why)) = r.running() {
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
// Made and used up once per exit, never stored: boxing the registers would
// cost an allocation per exit.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// The kernel answered: do what it says, with the program's registers
    /// as it left them (if it returns to the program).
    Next(Next, Option<WriteBack>),
    /// Straight back into the guest.
    Resume,
}

/// The program's registers as the kernel left them, and how they reach
/// the vCPU again.
struct WriteBack {
    regs: UserRegs,
    /// As they were before the kernel saw them, so that unchanged
    /// registers are not written; `None` to write them always (a call's
    /// result).
    before: Option<UserRegs>,
    back: Back,
}

/// Where the guest resumes from, and so how the registers get there.
enum Back {
    /// Through the trap frame the shim returns with (`iretq`), beside the
    /// registers the vCPU stopped with.
    Frame(kvm_bindings::kvm_regs),
    /// Straight into the vCPU's registers (stopped in user mode).
    Direct,
    /// Out of the ring's stub, straight to the user (in ring 3 again if
    /// the stub ran in ring 0).
    Stub,
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
    /// Runs the thread until it exits (Firecracker's `running()` state).
    fn running(&mut self) -> Result<(), Fatal> {
        loop {
            let Step::Next(next, regs) = self.run_emulation()? else { continue };
            if !self.apply(next, regs)? {
                return Ok(());
            }
            let hold = self.held.take().map(|since| (self.tid, since));
            if let Err(e) = self.machine.spawn_pending_ending_hold(self.kernel, hold) {
                self.kernel.stop_all(Stop::Failure(e.to_string()));
            }
        }
    }

    /// Enters the guest until its next exit, and hands that exit on.
    fn run_emulation(&mut self) -> Result<Step, Fatal> {
        let t0 = Instant::now();
        let exit = self.vcpu.run();
        let guest = t0.elapsed();
        handle_kvm_exit(self, exit, t0 + guest, guest)
    }

    fn regs(&self) -> Result<kvm_bindings::kvm_regs, Fatal> {
        self.vcpu.regs().map_err(|_| Fatal("cannot read vCPU registers".into()))
    }

    /// Writes the registers back where the guest resumes from, if the
    /// kernel changed them (or always, for a call's result): the one place
    /// registers reach a stopped vCPU.
    fn write_back(&self, wb: WriteBack) -> Result<(), Fatal> {
        if wb.before == Some(wb.regs) {
            return Ok(());
        }
        let ok = match wb.back {
            Back::Frame(gprs) => {
                let mut g = gprs;
                let f = wb.regs.write_back(&mut g);
                self.machine.set_frame(self.vcpu.id(), &f) && self.vcpu.set_regs(&g).is_ok()
            }
            Back::Direct => self.vcpu.set_regs(&wb.regs.to_kvm()).is_ok(),
            Back::Stub => self.vcpu.return_to_user(&wb.regs.to_kvm()).is_ok(),
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
        }
        let before = (!is_call).then_some(before);
        Ok(Step::Next(next, Some(WriteBack { regs, before, back: Back::Frame(gprs) })))
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
            let (next, regs) = leave_stub(self.kernel, self.machine, self.tid, self.vcpu, &gprs, guest)
                .ok_or_else(|| Fatal(CANNOT_WRITE.into()))?;
            let wb = regs.map(|regs| WriteBack { regs, before: None, back: Back::Stub });
            return Ok(Step::Next(next, wb));
        }
        let (mut regs, back) = if gprs.rip >= SHIM_VA {
            if !layout::stub_after_report(gprs.rip) {
                // Still on its way to report a trap: that trap comes next,
                // and the kick is looked at with it.
                return Ok(Step::Resume);
            }
            // About to return to the user: the user's state is in the
            // frame, and goes back through it.
            (UserRegs::at_exception(&gprs, &self.machine.frame(cpu)), Back::Frame(gprs))
        } else {
            let compat = self.vcpu.sregs().map(|s| s.cs.selector == tables::USER32_CS).unwrap_or(false);
            (UserRegs::at_user(&gprs, compat), Back::Direct)
        };
        let before = Some(regs);
        let next = self.kernel.on_kick(self.tid, self.vcpu, &mut regs, guest);
        Ok(Step::Next(next, Some(WriteBack { regs, before, back })))
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
        if let (Next::Return { .. }, Some(server)) = (&next, server) {
            server.nudge();
        }
        Ok(Step::Next(next, Some(WriteBack { regs, before: None, back: Back::Stub })))
    }

    /// Does what the kernel answered, the program's registers first when
    /// it returns to the program; false once the thread is gone.
    fn apply(&mut self, next: Next, regs: Option<WriteBack>) -> Result<bool, Fatal> {
        match next {
            Next::Return { tls, fpu } => {
                if let Some(wb) = regs {
                    self.write_back(wb)?;
                }
                if let Some(f) = fpu {
                    if self.vcpu.set_fpu(&f).is_err() {
                        self.kernel.on_vm_exit(self.tid, "bad FPU state".into());
                    }
                }
                if let Some(tls) = tls {
                    self.vcpu.set_tls(tls).map_err(|_| Fatal("cannot set the TLS registers".into()))?;
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
                        e.root = view;
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

/// What an exit leads to: each kind to its handler (Firecracker's free
/// `handle_kvm_exit()`).
fn handle_kvm_exit(
    r: &mut Runner<'_>,
    exit: Result<Exit, crate::hv::VmError>,
    exited: Instant,
    guest: Duration,
) -> Result<Step, Fatal> {
    Ok(match exit {
        Ok(Exit::Trap(vector)) => r.on_trap(vector, exited, guest)?,
        Ok(Exit::Interrupted) => r.on_kick(guest)?,
        Ok(e @ (Exit::RingCall | Exit::RingReturn | Exit::RingDirect)) => r.on_ring_exit(e, guest)?,
        Ok(Exit::Doorbell) => {
            if let Some(server) = r.machine.ring.get() {
                server.wake();
            }
            Step::Resume
        }
        Ok(Exit::Shutdown) => Step::Next(r.kernel.on_vm_exit(r.tid, "triple fault (the CPU shut down)".into()), None),
        Ok(Exit::Unexpected(what)) => {
            let rip = r.vcpu.regs().map(|r| r.rip).unwrap_or(0);
            let why = format!("the VM stopped unexpectedly: {what} at ip {rip:#x}");
            Step::Next(r.kernel.on_vm_exit(r.tid, why), None)
        }
        Err(e) => return Err(Fatal(e.to_string())),
    })
}

/// Whether a trap is a `syscall` that entered the ring stub in ring 3
/// where the stub's pages are supervisor pages: the test of the ring-0
/// path under a hypervisor (PVM) whose `syscall` stays in ring 3.
fn enters_ring0(cpu: u32, vector: u8, frame: &TrapFrame) -> bool {
    vector == trap::PF && frame.rip == ring_abi::lstar(cpu, true) && frame.user_mode() && frame.rflags & (1 << 9) == 0
}
