//! x86-64's way between the program and the VMM: the shim's trap frames
//! (each exception stub reports with `out` and returns with `iretq`),
//! `syscall` to LSTAR (first an unmapped address, then the ring's stub),
//! and what a kick finds where the vCPU stopped. The loop that drives it
//! is `sandbox::vcpu`'s.

use std::time::{Duration, Instant};

use zerocopy::{FromBytes, IntoBytes};

use super::super::machine::Machine;
use super::super::stub::leave_stub;
use super::super::vcpu::{Fatal, Runner, Step, WriteBack, CANNOT_WRITE};
use super::super::{Error, SyscallPath};
use crate::arch::layout::{self, IDT_VA, SHIM_VA, SYSCALL_TRAP_VA, SYS_IDT_GPA, SYS_SHIM_GPA};
use crate::arch::regs::TrapFrame;
use crate::arch::ring::{self as ring_abi, InStub, Mailbox};
use crate::arch::trap::{self, Trap};
use crate::arch::{tables, PageTables, TablePool, UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Vcpu};
use crate::kernel::{Kernel, Next, Tid};
use crate::memory::HostMapping;

/// The shim (read-only, executable) and the IDT (read-only), written to
/// the system slot and mapped for ring 0; each vCPU's GDT, TSS and
/// exception stack come with the vCPU ([`Machine::prepare_cpu`]).
/// Nothing else of the VMM's is mapped, the page tables included.
pub(in crate::sandbox) fn system_image(
    sys: &HostMapping,
    pool: &mut TablePool,
    kt: &mut PageTables,
) -> Result<(), Error> {
    let setup = |e: String| Error::Setup(e);
    sys.write(SYS_SHIM_GPA, faultline_guest::SHIM_X86_64).map_err(|e| setup(e.to_string()))?;
    sys.write(SYS_IDT_GPA, &tables::idt()).map_err(|e| setup(e.to_string()))?;
    kt.map_kernel(pool, SHIM_VA, SYS_SHIM_GPA, false, true).map_err(|e| setup(e.to_string()))?;
    kt.map_kernel(pool, IDT_VA, SYS_IDT_GPA, false, false).map_err(|e| setup(e.to_string()))?;
    Ok(())
}

/// Where the guest resumes from, and so how the registers get there.
pub(in crate::sandbox) enum Back {
    /// Through the trap frame the shim returns with (`iretq`), beside the
    /// registers the vCPU stopped with.
    Frame(kvm_bindings::kvm_regs),
    /// Straight into the vCPU's registers (stopped in user mode).
    Direct,
    /// Out of the ring's stub, straight to the user (in ring 3 again if
    /// the stub ran in ring 0).
    Stub,
}

impl Runner<'_> {
    fn regs(&self) -> Result<kvm_bindings::kvm_regs, Fatal> {
        self.vcpu.regs().map_err(|_| Fatal("cannot read vCPU registers".into()))
    }

    /// Writes the registers back where the guest resumes from, if the
    /// kernel changed them (or always, for a call's result): the one place
    /// registers reach a stopped vCPU.
    pub(in crate::sandbox) fn write_back(&mut self, wb: WriteBack) -> Result<(), Fatal> {
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
    pub(in crate::sandbox) fn on_trap(&mut self, vector: u8, exited: Instant, guest: Duration) -> Result<Step, Fatal> {
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
        let next = self.kernel.on_trap(self.tid, self.vcpu, t, &mut regs, None, guest);
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
    pub(in crate::sandbox) fn on_kick(&mut self, guest: Duration) -> Result<Step, Fatal> {
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
        let next = self.kernel.on_kick(self.tid, self.vcpu, &mut regs, None, guest);
        Ok(Step::Next(next, Some(WriteBack { regs, before, back })))
    }

    /// The ring's stub left by the doorbell's exit offsets: a call for the
    /// VMM to run, or a return through it.
    pub(in crate::sandbox) fn on_ring_exit(&mut self, e: Exit, guest: Duration) -> Result<Step, Fatal> {
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
        let next = self.kernel.on_trap(self.tid, self.vcpu, t, &mut regs, None, guest);
        if let (Next::Return { .. }, Some(server)) = (&next, server) {
            server.nudge();
        }
        Ok(Step::Next(next, Some(WriteBack { regs, before: None, back: Back::Stub })))
    }

    /// The pc to name in a report of an unexpected exit.
    pub(in crate::sandbox) fn pc_for_report(&self) -> u64 {
        self.vcpu.regs().map(|r| r.rip).unwrap_or(0)
    }
}

impl Machine {
    /// Turns the ring on for `vcpu`, which runs `tid`, after a syscall
    /// that came the slow way showed where `syscall` enters (`frame`).
    /// From now on its calls go to the ring's server.
    pub(in crate::sandbox) fn ring_on(&self, kernel: &Kernel, vcpu: &Vcpu, tid: Tid, frame: &TrapFrame) -> bool {
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
        if vcpu.set_root(view).is_err() || vcpu.set_lstar(ring_abi::lstar(cpu, !self.ring_user())).is_err() {
            self.ring_off(kernel, vcpu);
            let root = kernel.lock().thread_root(tid);
            if let Some(root) = root {
                let _ = vcpu.set_root(root);
            }
            return false;
        }
        server.note_vcpu_cpu();
        true
    }

    /// Turns the ring off for `vcpu` and retires its view: the vCPU must
    /// not run on it again (its thread is leaving it, or gets a new root).
    pub(in crate::sandbox) fn ring_off(&self, kernel: &Kernel, vcpu: &Vcpu) {
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

    pub(in crate::sandbox) fn frame(&self, cpu: u32) -> TrapFrame {
        let mut b = [0u8; TrapFrame::LEN];
        let _ = self.sys.read(TrapFrame::slot_offset(cpu), &mut b);
        TrapFrame::read_from_bytes(&b).unwrap_or_default()
    }

    pub(in crate::sandbox) fn set_frame(&self, cpu: u32, f: &TrapFrame) -> bool {
        self.sys.write(TrapFrame::slot_offset(cpu), f.as_bytes()).is_ok()
    }

    /// Vcpu `id`'s GDT and TSS, written to its area and mapped for ring 0
    /// with its exception stack.
    pub(in crate::sandbox) fn prepare_cpu(&self, kernel: &Kernel, id: u32) -> Result<(), Error> {
        let area = layout::cpu_area_gpa(id);
        let va = layout::cpu_area_va(id);
        let gdt = tables::gdt(va + layout::CPU_TSS_OFFSET);
        let write = |off: u64, b: &[u8]| self.sys.write(off, b).map_err(|e| Error::Setup(e.to_string()));
        write(area + layout::CPU_GDT_OFFSET, gdt.as_bytes())?;
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
        Ok(())
    }
}

/// Whether a trap is a `syscall` that entered the ring stub in ring 3
/// where the stub's pages are supervisor pages: the test of the ring-0
/// path under a hypervisor (PVM) whose `syscall` stays in ring 3.
fn enters_ring0(cpu: u32, vector: u8, frame: &TrapFrame) -> bool {
    vector == trap::PF && frame.rip == ring_abi::lstar(cpu, true) && frame.user_mode() && frame.rflags & (1 << 9) == 0
}
