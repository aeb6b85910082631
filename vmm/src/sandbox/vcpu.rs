//! A guest thread on its vCPU, shaped as Firecracker's `vstate/vcpu.rs`:
//! `running()` loops over `run_emulation()`, which enters the guest and
//! hands the exit to `handle_kvm_exit()`, a handler per exit kind; each
//! handler asks the kernel, and `apply()` does what it answered, writing
//! the program's registers back in one place (`write_back()`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::entry::Back;
use super::machine::Machine;
use crate::arch::ring as ring_abi;
use crate::arch::{UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Vcpu};
use crate::kernel::{Entry, Kernel, Next, Stop, Tid};

/// The host thread's id (userfaultfd reports faults by it).
fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn enter(vcpu: &mut Vcpu, e: &Entry) -> Result<(), crate::hv::VmError> {
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
        match enter(&mut vcpu, &entry) {
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
pub(super) struct Fatal(pub(super) String);

pub(super) const CANNOT_WRITE: &str = "cannot write vCPU registers";

/// What an exit leads to.
// Made and used up once per exit, never stored: boxing the registers would
// cost an allocation per exit.
#[allow(clippy::large_enum_variant)]
pub(super) enum Step {
    /// The kernel answered: do what it says, with the program's registers
    /// as it left them (if it returns to the program).
    Next(Next, Option<WriteBack>),
    /// Straight back into the guest.
    Resume,
}

/// The program's registers as the kernel left them, and how they reach
/// the vCPU again.
pub(super) struct WriteBack {
    pub(super) regs: UserRegs,
    /// As they were before the kernel saw them, so that unchanged
    /// registers are not written; `None` to write them always (a call's
    /// result).
    pub(super) before: Option<UserRegs>,
    pub(super) back: Back,
}

/// One guest thread's loop on its vCPU.
pub(super) struct Runner<'a> {
    pub(super) kernel: &'a Arc<Kernel>,
    pub(super) machine: &'a Arc<Machine>,
    pub(super) tid: Tid,
    pub(super) vcpu: &'a mut Vcpu,
    /// Its calls go to the syscall ring.
    pub(super) ring_on: bool,
    /// When KVM_RUN returned with a page fault: faultline holds the thread
    /// for it until the vCPU goes back in.
    pub(super) held: Option<Instant>,
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
            let rip = r.pc_for_report();
            let why = format!("the VM stopped unexpectedly: {what} at ip {rip:#x}");
            Step::Next(r.kernel.on_vm_exit(r.tid, why), None)
        }
        Err(e) => return Err(Fatal(e.to_string())),
    })
}
