//! Guest threads on vCPUs: one host thread per running guest thread, each
//! with a vCPU from a pool (KVM cannot destroy one vCPU, so they are
//! reused). The loop enters the guest, hands every trap to the kernel, and
//! does what it answers.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use super::ring::{RingServer, Taken};
use super::{Error, SyscallPath};
use crate::arch::layout::{self, SHIM_VA, SYSCALL_TRAP_VA};
use crate::arch::regs::TrapFrame;
use crate::arch::ring::{self as ring_abi, InStub, Mailbox, MailboxRef};
use crate::arch::trap::{self, Trap};
use crate::arch::{tables, UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Vcpu, Vm};
use crate::kernel::{Entry, Kernel, Next, Stop, Tid};
use crate::memory::HostMapping;

/// The VM and its vCPUs.
pub struct Machine {
    pub vm: Vm,
    pub sys: Arc<HostMapping>,
    /// The ring slot: the stub's code and the mailboxes.
    pub ring_mem: Arc<HostMapping>,
    idle: Mutex<Vec<Vcpu>>,
    created: Mutex<u32>,
    path: SyscallPath,
    /// The syscall ring's server, once started.
    pub ring: OnceLock<Arc<RingServer>>,
    /// Where `syscall` enters, as the first one showed: ring 0 (bare
    /// metal) or ring 3 (PVM).
    entry_cpl: OnceLock<u8>,
}

impl Machine {
    pub fn new(vm: Vm, sys: Arc<HostMapping>, ring_mem: Arc<HostMapping>, path: SyscallPath) -> Self {
        Machine {
            vm,
            sys,
            ring_mem,
            idle: Mutex::new(Vec::new()),
            created: Mutex::new(0),
            path,
            ring: OnceLock::new(),
            entry_cpl: OnceLock::new(),
        }
    }

    /// Whether the ring's pages are user pages: the stub runs in ring 3.
    fn ring_user(&self) -> bool {
        self.path != SyscallPath::RingCpl0 && self.entry_cpl.get() == Some(&3)
    }

    fn mailbox(&self, cpu: u32) -> Option<MailboxRef<'_>> {
        MailboxRef::new(self.ring_mem.atomic_u64s(ring_abi::mailbox_offset(cpu), (PAGE_SIZE / 8) as usize)?)
    }

    /// Turns the ring on for `vcpu`, which runs `tid`, after a syscall
    /// that came the slow way showed where `syscall` enters (`frame`).
    /// From now on its calls go to the ring's server.
    fn ring_on(&self, kernel: &Kernel, vcpu: &Vcpu, tid: Tid, frame: &TrapFrame) -> bool {
        let Some(server) = self.ring.get() else { return false };
        if frame.rip != SYSCALL_TRAP_VA {
            return false;
        }
        self.entry_cpl.get_or_init(|| (frame.cs & 3) as u8);
        let cpu = vcpu.id();
        let mb = Mailbox::default();
        if self.ring_mem.write(ring_abi::mailbox_offset(cpu), mb.as_bytes()).is_err() {
            return false;
        }
        let Some(view) = kernel.lock().ring_attach(cpu, tid, self.ring_user()) else { return false };
        server.attach(cpu, tid);
        // From now on the thread runs on its vCPU's view of the address
        // space, where its own ring pages are and no other vCPU's.
        if vcpu.set_cr3(view).is_err() || vcpu.set_lstar(ring_abi::lstar(cpu, !self.ring_user())).is_err() {
            self.ring_off(kernel, vcpu);
            let root = kernel.lock().thread_root(tid);
            if let Some(root) = root {
                let _ = vcpu.set_cr3(root);
            }
            return false;
        }
        server.note_vcpu_cpu();
        true
    }

    /// Turns the ring off for `vcpu` and retires its view: the vCPU must
    /// not run on it again (its thread is leaving it, or gets a new root).
    fn ring_off(&self, kernel: &Kernel, vcpu: &Vcpu) {
        if let Some(server) = self.ring.get() {
            server.detach(vcpu.id());
        }
        // KVM must forget the old address space's translations of the
        // mailbox before another process's thread uses it. A thread that
        // never turned the ring on (a child that only exits) left none:
        // the round trip that flushes them cost such a fork ~40 % with
        // 8192 pages resident.
        if kernel.lock().ring_detach(vcpu.id()) {
            let _ = self.ring_mem.invalidate(ring_abi::mailbox_offset(vcpu.id()), PAGE_SIZE);
        }
        let _ = vcpu.set_lstar(SYSCALL_TRAP_VA);
    }

    /// A vCPU: an idle one, or a new one with its GDT, TSS and exception
    /// stack set up and mapped.
    fn vcpu(&self, kernel: &Kernel) -> Result<Vcpu, Error> {
        if let Some(v) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(v);
        }
        let mut n = self.created.lock().unwrap_or_else(|p| p.into_inner());
        let id = *n;
        if id >= layout::MAX_VCPUS {
            return Err(Error::Setup(format!("more than {} threads at once", layout::MAX_VCPUS)));
        }
        let area = layout::cpu_area_gpa(id);
        let va = layout::cpu_area_va(id);
        let gdt: Vec<u8> = tables::gdt(va + layout::CPU_TSS_OFFSET).iter().flat_map(|d| d.to_le_bytes()).collect();
        let write = |off: u64, b: &[u8]| self.sys.write(off, b).map_err(|e| Error::Setup(e.to_string()));
        write(area + layout::CPU_GDT_OFFSET, &gdt)?;
        write(area + layout::CPU_TSS_OFFSET, tables::tss(id).as_bytes())?;
        {
            let mut k = kernel.lock();
            let k = &mut *k;
            let pool = &mut k.phys.tables;
            let kt = &mut k.kernel_tables;
            let map = |kt: &mut crate::arch::PageTables, pool: &mut crate::arch::TablePool, off: u64, w: bool| {
                kt.map_kernel(pool, va + off, area + off, w, false).map_err(|e| Error::Setup(e.to_string()))
            };
            map(kt, pool, layout::CPU_GDT_OFFSET, false)?;
            map(kt, pool, layout::CPU_TSS_OFFSET, false)?;
            for i in 0..layout::IST_PAGES {
                map(kt, pool, layout::CPU_IST_OFFSET + i * PAGE_SIZE, true)?;
            }
        }
        let v = self.vm.create_vcpu(id)?;
        *n += 1;
        Ok(v)
    }

    fn put(&self, v: Vcpu) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    /// Starts a host thread for every guest thread waiting for a vCPU.
    pub fn spawn_pending(self: &Arc<Self>, kernel: &Arc<Kernel>) -> Result<(), Error> {
        self.spawn_pending_ending_hold(kernel, None)
    }

    /// [`spawn_pending`](Self::spawn_pending), from a vCPU thread about to
    /// go back in after faultline held it for a page fault since `hold`'s
    /// instant: one lock for both.
    fn spawn_pending_ending_hold(
        self: &Arc<Self>,
        kernel: &Arc<Kernel>,
        hold: Option<(Tid, Instant)>,
    ) -> Result<(), Error> {
        for tid in kernel.take_spawns_ending_hold(hold) {
            let vcpu = match self.vcpu(kernel) {
                Ok(v) => v,
                Err(e) => {
                    kernel.stop_all(Stop::Failure(format!("cannot give thread {tid} a vCPU: {e}")));
                    return Err(e);
                }
            };
            let (k, m) = (kernel.clone(), self.clone());
            std::thread::Builder::new()
                .name(format!("vcpu-{tid}"))
                .spawn(move || run_thread(&k, &m, tid, vcpu))
                .map_err(Error::Thread)?;
        }
        Ok(())
    }

    fn frame(&self, cpu: u32) -> TrapFrame {
        let mut b = [0u8; TrapFrame::LEN];
        let _ = self.sys.read(TrapFrame::slot_offset(cpu), &mut b);
        TrapFrame::read_from_bytes(&b).unwrap_or_default()
    }

    fn set_frame(&self, cpu: u32, f: &TrapFrame) -> bool {
        self.sys.write(TrapFrame::slot_offset(cpu), f.as_bytes()).is_ok()
    }
}

/// The host thread's id (userfaultfd reports faults by it).
fn gettid() -> i32 {
    // SAFETY: no arguments.
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
fn run_thread(kernel: &Arc<Kernel>, machine: &Arc<Machine>, tid: Tid, mut vcpu: Vcpu) {
    let _guard = EndOnPanic(kernel, tid);
    let kicker = vcpu.kicker();
    vcpu.clear_kick();
    if let Some(entry) = kernel.begin_thread(tid, kicker, gettid()) {
        match enter(&vcpu, &entry) {
            Ok(()) => guest_loop(kernel, machine, tid, &mut vcpu),
            Err(e) => kernel.stop_all(Stop::Failure(format!("cannot start thread {tid}: {e}"))),
        }
    }
    machine.ring_off(kernel, &vcpu);
    kernel.end_thread(tid);
    vcpu.clear_kick();
    machine.put(vcpu);
}

fn guest_loop(kernel: &Arc<Kernel>, machine: &Arc<Machine>, tid: Tid, vcpu: &mut Vcpu) {
    let cpu = vcpu.id();
    let mut ring_on = false;
    // When KVM_RUN returned with a page fault: faultline holds the thread
    // for it until the vCPU goes back in.
    let mut held: Option<Instant> = None;
    loop {
        let t0 = Instant::now();
        let exit = vcpu.run();
        let guest = t0.elapsed();
        let fail = |what: String| kernel.stop_all(Stop::Failure(what));
        let next = match exit {
            Ok(Exit::Trap(vector)) => {
                let frame = machine.frame(cpu);
                let Ok(gprs) = vcpu.regs() else { return fail("cannot read vCPU registers".into()) };
                if machine.path == SyscallPath::RingCpl0 && ring_on && enters_ring0(cpu, vector, &frame) {
                    // What `syscall` does on bare metal, done by hand.
                    let mut g = gprs;
                    (g.rip, g.rsp, g.rflags) = (frame.rip, frame.rsp, 0x2);
                    if vcpu.enter_ring0(&g).is_err() {
                        return fail("cannot enter the ring stub in ring 0".into());
                    }
                    continue;
                }
                let t = trap::classify(vector, &frame, || vcpu.cr2().unwrap_or(0));
                if matches!(t, Trap::PageFault { .. }) {
                    held = Some(t0 + guest);
                }
                let is_call = matches!(t, Trap::Syscall | Trap::CompatSyscall);
                let mut regs =
                    if is_call { UserRegs::at_syscall(&gprs, &frame) } else { UserRegs::at_exception(&gprs, &frame) };
                let before = regs;
                let next = kernel.on_trap(tid, vcpu, t, &mut regs, guest);
                if let Next::Return { .. } = &next {
                    if t == Trap::Syscall && !ring_on {
                        ring_on = machine.ring_on(kernel, vcpu, tid, &frame);
                    }
                    if is_call || regs != before {
                        let mut g = gprs;
                        let f = regs.write_back(&mut g);
                        if !machine.set_frame(cpu, &f) || vcpu.set_regs(&g).is_err() {
                            return fail("cannot write vCPU registers".into());
                        }
                    }
                }
                next
            }
            Ok(Exit::Interrupted) => {
                vcpu.clear_kick();
                let Ok(gprs) = vcpu.regs() else { return fail("cannot read vCPU registers".into()) };
                // The stub is mapped only while the ring is on: elsewhere
                // its address is the user's, unmapped.
                if ring_on && ring_abi::in_stub(cpu, gprs.rip) != InStub::No {
                    match leave_stub(kernel, machine, tid, vcpu, &gprs, guest) {
                        Some(next) => next,
                        None => return fail("cannot write vCPU registers".into()),
                    }
                } else if gprs.rip >= SHIM_VA {
                    if !layout::stub_after_report(gprs.rip) {
                        // Still on its way to report a trap: that trap comes
                        // next, and the kick is looked at with it.
                        continue;
                    }
                    // About to return to the user: the user's state is in
                    // the frame, and goes back through it.
                    let frame = machine.frame(cpu);
                    let mut regs = UserRegs::at_exception(&gprs, &frame);
                    let before = regs;
                    let next = kernel.on_kick(tid, vcpu, &mut regs);
                    if let Next::Return { .. } = &next {
                        if regs != before {
                            let mut g = gprs;
                            let f = regs.write_back(&mut g);
                            if !machine.set_frame(cpu, &f) || vcpu.set_regs(&g).is_err() {
                                return fail("cannot write vCPU registers".into());
                            }
                        }
                    }
                    next
                } else {
                    let compat = vcpu.sregs().map(|s| s.cs.selector == tables::USER32_CS).unwrap_or(false);
                    let mut regs = UserRegs::at_user(&gprs, compat);
                    let before = regs;
                    let next = kernel.on_kick(tid, vcpu, &mut regs);
                    if let Next::Return { .. } = &next {
                        if regs != before && vcpu.set_regs(&regs.to_kvm()).is_err() {
                            return fail("cannot write vCPU registers".into());
                        }
                    }
                    next
                }
            }
            Ok(e @ (Exit::RingCall | Exit::RingReturn | Exit::RingDirect)) => {
                let Ok(gprs) = vcpu.regs() else { return fail("cannot read vCPU registers".into()) };
                let mut regs = ring_abi::regs_entering(&gprs);
                let t = if matches!(e, Exit::RingReturn) { Trap::RingReturn } else { Trap::Syscall };
                let server = machine.ring.get();
                if let Some(server) = server {
                    server.note_vcpu_cpu();
                }
                // A call to run here that the server did not answer EXIT:
                // the stub gave up waiting for it.
                if let (Exit::RingCall, Some(server), Some(mb)) = (&e, server, machine.mailbox(cpu)) {
                    if mb.state.load(std::sync::atomic::Ordering::Acquire) == ring_abi::IDLE {
                        server.stats.withdrawn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                // Whatever the server last answered has been acted on.
                if let (Exit::RingCall | Exit::RingReturn, Some(server)) = (&e, server) {
                    server.forget_answer(cpu);
                }
                let next = kernel.on_trap(tid, vcpu, t, &mut regs, guest);
                if let Next::Return { .. } = &next {
                    if let Some(server) = server {
                        server.nudge();
                    }
                    if vcpu.return_to_user(&regs.to_kvm()).is_err() {
                        return fail("cannot write vCPU registers".into());
                    }
                }
                next
            }
            Ok(Exit::Doorbell) => {
                if let Some(server) = machine.ring.get() {
                    server.wake();
                }
                continue;
            }
            Ok(Exit::Shutdown) => kernel.on_vm_exit(tid, "triple fault (the CPU shut down)".into()),
            Ok(Exit::Unexpected(what)) => {
                let rip = vcpu.regs().map(|r| r.rip).unwrap_or(0);
                kernel.on_vm_exit(tid, format!("the VM stopped unexpectedly: {what} at ip {rip:#x}"))
            }
            Err(e) => return fail(format!("{e}")),
        };
        match next {
            Next::Return { tls, fpu } => {
                if let Some(f) = fpu {
                    if vcpu.set_fpu(&f).is_err() {
                        kernel.on_vm_exit(tid, "bad FPU state".into());
                    }
                }
                if let Some((fs, gs)) = tls {
                    if vcpu.set_tls(fs, gs).is_err() {
                        return fail("cannot set FS/GS base".into());
                    }
                }
            }
            Next::Enter(mut e) => {
                // A new address space: the vCPU's view moves into it, and
                // KVM forgets the old one's translations of the mailbox (a
                // vfork parent keeps that address space).
                if ring_on {
                    let view = kernel.lock().ring_attach(cpu, tid, machine.ring_user());
                    if let Some(view) = view {
                        e.cr3 = view;
                        let _ = machine.ring_mem.invalidate(ring_abi::mailbox_offset(cpu), PAGE_SIZE);
                    } else {
                        machine.ring_off(kernel, vcpu);
                        ring_on = false;
                    }
                }
                if let Err(err) = enter(vcpu, &e) {
                    return fail(format!("cannot enter the new program: {err}"));
                }
            }
            Next::Exit => return,
        }
        if let Err(e) = machine.spawn_pending_ending_hold(kernel, held.take().map(|since| (tid, since))) {
            kernel.stop_all(Stop::Failure(e.to_string()));
        }
    }
}

/// Whether a trap is a `syscall` that entered the ring stub in ring 3
/// where the stub's pages are supervisor pages: the test of the ring-0
/// path under a hypervisor (PVM) whose `syscall` stays in ring 3.
fn enters_ring0(cpu: u32, vector: u8, frame: &TrapFrame) -> bool {
    vector == trap::PF && frame.rip == ring_abi::lstar(cpu, true) && frame.from_user() && frame.rflags & (1 << 9) == 0
}

/// The vCPU was kicked while in the ring stub: take the thread out of it,
/// whatever the stub was doing, so the kick is acted on now. A call not
/// yet taken by the server is withdrawn and run here; one the server ran
/// is returned from here. The mailbox is the guest's page: its state is
/// believed only where the server's own record agrees, and a state the
/// server never wrote is the thread's forgery, a SIGSEGV to it. The one
/// wait, for a call the server is running, is bounded by that call (the
/// server runs none that sleeps) and ends early if the thread is killed.
/// `None` if the registers could not be written.
fn leave_stub(
    kernel: &Kernel,
    machine: &Machine,
    tid: Tid,
    vcpu: &Vcpu,
    gprs: &kvm_bindings::kvm_regs,
    guest: Duration,
) -> Option<Next> {
    use std::sync::atomic::Ordering::Acquire;
    enum Then {
        Run,
        Kick,
        Forged(u64),
    }
    let cpu = vcpu.id();
    let (mut regs, then) = match ring_abi::in_stub(cpu, gprs.rip) {
        InStub::Entering | InStub::No => (ring_abi::regs_entering(gprs), Then::Run),
        InStub::Published { flags } => {
            let mb = machine.mailbox(cpu)?;
            let published = |mb: &MailboxRef<'_>| ring_abi::regs_published(gprs, flags, &mb.snapshot());
            // The ring is on, so it has a server.
            let server = machine.ring.get()?;
            let since = Instant::now();
            let mut looked = since;
            loop {
                match mb.state.load(Acquire) {
                    ring_abi::TAKEN => match server.taken(cpu, &mb) {
                        Taken::Running => {
                            // Killed meanwhile: the thread goes without
                            // the answer. The look waits for the kernel's
                            // lock, which the server holds for the call.
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
                        // The server ran off with the call: the run is over.
                        Taken::Gone => return Some(kernel.on_kick(tid, vcpu, &mut ring_abi::regs_entering(gprs))),
                        Taken::Forged => break (published(&mb), Then::Forged(ring_abi::TAKEN)),
                        Taken::Answered => {}
                    },
                    ring_abi::REQ if !mb.transition(ring_abi::REQ, ring_abi::IDLE) => {}
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
                    ring_abi::EXIT if server.take_answer(cpu, ring_abi::EXIT) => {
                        break (published(&mb), Then::Run);
                    }
                    // EXIT the server did not answer, or no state at all.
                    s => break (published(&mb), Then::Forged(s)),
                }
            }
        }
    };
    let next = match then {
        Then::Run => kernel.on_trap(tid, vcpu, Trap::Syscall, &mut regs, guest),
        Then::Kick => kernel.on_kick(tid, vcpu, &mut regs),
        Then::Forged(state) => kernel.ring_forged(tid, vcpu, &mut regs, state),
    };
    if let Next::Return { .. } = &next {
        vcpu.return_to_user(&regs.to_kvm()).ok()?;
    }
    Some(next)
}

/// Whether thread `tid` is being killed or has exited.
fn thread_leaving(kernel: &Kernel, tid: Tid) -> bool {
    kernel.lock().threads.get(&tid).is_none_or(|t| t.killed || t.exited)
}
