//! Taking a thread out of the syscall ring's stub when its vCPU was kicked
//! there (a signal, an exit, a stop): whatever the stub was doing, the
//! kick is acted on now.

use std::time::{Duration, Instant};

use super::machine::Machine;
use super::ring::Taken;
use crate::arch::ring::{self as ring_abi, FlagsIn, InStub, MailboxRef};
use crate::arch::trap::Trap;
use crate::arch::UserRegs;
use crate::hv::Vcpu;
use crate::kernel::{Kernel, Next, Tid};

/// What to do with the thread taken out of the stub.
enum Then {
    /// Run its call here.
    Run,
    /// Act on the kick.
    Kick,
    /// The mailbox says what the server never wrote: a forgery.
    Forged(u64),
}

/// The vCPU was kicked while in the ring stub: take the thread out of it,
/// whatever the stub was doing, so the kick is acted on now. A call not
/// yet taken by the server is withdrawn and run here; one the server ran
/// is returned from here. The mailbox is the guest's page: its state is
/// believed only where the server's own record agrees, and a state the
/// server never wrote is the thread's forgery, a SIGSEGV to it.
///
/// The kernel's answer, with the registers to return to the user with
/// (none if the server ran off with the call); `None` if the ring's
/// mailbox or server is missing.
pub(super) fn leave_stub(
    kernel: &Kernel,
    machine: &Machine,
    tid: Tid,
    vcpu: &Vcpu,
    gprs: &kvm_bindings::kvm_regs,
    guest: Duration,
) -> Option<(Next, Option<UserRegs>)> {
    let cpu = vcpu.id();
    let (mut regs, then) = match ring_abi::in_stub(cpu, gprs.rip) {
        InStub::Entering | InStub::No => (ring_abi::regs_entering(gprs), Then::Run),
        InStub::Published { flags } => match published(kernel, machine, tid, cpu, gprs, flags)? {
            Published::Found(regs, then) => (regs, then),
            // The server ran off with the call: the run is over.
            Published::Gone => {
                return Some((kernel.on_kick(tid, vcpu, &mut ring_abi::regs_entering(gprs), None, guest), None))
            }
        },
    };
    let next = match then {
        Then::Run => kernel.on_trap(tid, vcpu, Trap::Syscall, &mut regs, None, guest),
        Then::Kick => kernel.on_kick(tid, vcpu, &mut regs, None, guest),
        Then::Forged(state) => kernel.ring_forged(tid, vcpu, &mut regs, state),
    };
    Some((next, Some(regs)))
}

/// What became of a call the thread published in its mailbox.
enum Published {
    /// The registers to act on, and what to do.
    Found(UserRegs, Then),
    /// The server ran off with the call.
    Gone,
}

/// Reads the mailbox of a call the thread published; `None` if the ring
/// has no mailbox or server. The one wait, for a call the server is
/// running, is bounded by that call (the server runs none that sleeps)
/// and ends early if the thread is killed.
fn published(
    kernel: &Kernel,
    machine: &Machine,
    tid: Tid,
    cpu: u32,
    gprs: &kvm_bindings::kvm_regs,
    flags: FlagsIn,
) -> Option<Published> {
    use std::sync::atomic::Ordering::Acquire;
    let mb = machine.mailbox(cpu)?;
    let published = |mb: &MailboxRef<'_>| ring_abi::regs_published(gprs, flags, &mb.snapshot());
    // The ring is on, so it has a server.
    let server = machine.ring.get()?;
    let since = Instant::now();
    let mut looked = since;
    let (regs, then) = loop {
        match mb.state.load(Acquire) {
            ring_abi::TAKEN => match server.taken(cpu, &mb) {
                Taken::Running => {
                    // Killed meanwhile: the thread goes without the
                    // answer. The look waits for the kernel's lock, which
                    // the server holds for the call.
                    if looked.elapsed() >= Duration::from_millis(1) {
                        looked = Instant::now();
                        if thread_leaving(kernel, tid) {
                            break (ring_abi::regs_entering(gprs), Then::Kick);
                        }
                    }
                    if since.elapsed() < Duration::from_micros(50) {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                Taken::Gone => return Some(Published::Gone),
                Taken::Forged => break (published(&mb), Then::Forged(ring_abi::TAKEN)),
                Taken::Answered => {}
            },
            // Not taken yet: withdrawn here, the call runs here. (If the
            // server took it meanwhile, look again.)
            ring_abi::REQ => {
                if mb.transition(ring_abi::REQ, ring_abi::IDLE) {
                    server.forget_answer(cpu);
                    break (published(&mb), Then::Run);
                }
            }
            s @ (ring_abi::DONE | ring_abi::DELIVER) => {
                if !server.take_answer(cpu, s) {
                    break (published(&mb), Then::Forged(s));
                }
                let snap = mb.snapshot();
                let mut r = ring_abi::regs_published(gprs, flags, &snap);
                r.rax = snap.ret;
                mb.transition(s, ring_abi::IDLE);
                break (r, Then::Kick);
            }
            // Withdrawn, or answered EXIT: the call runs here.
            ring_abi::IDLE => {
                server.forget_answer(cpu);
                break (published(&mb), Then::Run);
            }
            ring_abi::EXIT if server.take_answer(cpu, ring_abi::EXIT) => break (published(&mb), Then::Run),
            // EXIT the server did not answer, or no state at all.
            s => break (published(&mb), Then::Forged(s)),
        }
    };
    Some(Published::Found(regs, then))
}

/// Whether thread `tid` is being killed or has exited.
fn thread_leaving(kernel: &Kernel, tid: Tid) -> bool {
    kernel.lock().tasks.thread(tid).is_none_or(|t| t.killed || t.exited)
}
