//! arm64's way between the program and the VMM: the EL1 vector stub
//! (guest/aarch64/vectors.S) saves the whole user state into the vCPU's
//! save area and reports by an MMIO store whose address names the vector
//! (`arch::aarch64::entry` has the protocol); the VMM reads and edits the
//! save area and runs the vCPU again, and the stub reloads it and erets. A
//! kick that finds the vCPU at EL0 spills its registers into the save area
//! (ONE_REG) and restarts it through the stub's entry. There is no syscall
//! ring on arm64 yet: every call is an exit.

use std::time::{Duration, Instant};

use super::super::machine::Machine;
use super::super::vcpu::{Fatal, Runner, Step, WriteBack, CANNOT_WRITE};
use super::super::Error;
use crate::arch::aarch64::entry::{vector, Stopped as InStub, DOORBELL_OFFSET};
use crate::arch::fpu::FpuState;
use crate::arch::layout::{self, SYS_VECTORS_GPA, VECTORS_PAGES, VECTORS_VA};
use crate::arch::trap::{self, Trap};
use crate::arch::{PageTables, TablePool, UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Stopped};
use crate::kernel::Kernel;
use crate::memory::HostMapping;

/// The vector stub, written to the system slot and mapped for EL1 only
/// (read-only, executable); each vCPU's save area and doorbell come with
/// the vCPU ([`Machine::prepare_cpu`]). Nothing else of the VMM's is
/// mapped, the page tables included.
pub(in crate::sandbox) fn system_image(
    sys: &HostMapping,
    pool: &mut TablePool,
    kt: &mut PageTables,
) -> Result<(), Error> {
    let setup = |e: String| Error::Setup(e);
    let image = faultline_guest::VECTORS_AARCH64;
    if image.is_empty() || image.len() as u64 > VECTORS_PAGES * PAGE_SIZE {
        return Err(setup(format!("the vector stub is {} bytes", image.len())));
    }
    sys.write(SYS_VECTORS_GPA, image).map_err(|e| setup(e.to_string()))?;
    for i in 0..VECTORS_PAGES {
        let off = i * PAGE_SIZE;
        kt.map_kernel(pool, VECTORS_VA + off, SYS_VECTORS_GPA + off, false, true).map_err(|e| setup(e.to_string()))?;
    }
    Ok(())
}

/// Where the guest resumes from, and so how the registers get there.
pub(in crate::sandbox) enum Back {
    /// The save area, which the stub reloads as it returns from its report.
    Save,
    /// The save area, with the vCPU restarted at the stub's restore path
    /// (kicked while it was reloading).
    Restore,
    /// The save area, with the vCPU restarted at the stub's entry (kicked
    /// at EL0: its registers were spilled there).
    Enter,
}

impl Runner<'_> {
    /// Writes the registers back where the guest resumes from, if the
    /// kernel changed them (or always, for a call's result): the one place
    /// registers reach a stopped vCPU.
    pub(in crate::sandbox) fn write_back(&self, wb: WriteBack) -> Result<(), Fatal> {
        let restart = !matches!(wb.back, Back::Save);
        if wb.before == Some(wb.regs) && !restart {
            return Ok(());
        }
        let fail = |_| Fatal(CANNOT_WRITE.into());
        let mut sa = self.vcpu.save_area().map_err(fail)?;
        wb.regs.write_save(&mut sa);
        match wb.back {
            Back::Save => self.vcpu.write_save_area(&sa).map_err(fail),
            Back::Restore => {
                self.vcpu.write_save_area(&sa).map_err(fail)?;
                self.vcpu.rerun_restore().map_err(fail)
            }
            Back::Enter => {
                let fpu = FpuState(sa.fpsimd);
                self.vcpu.enter_user(sa.ttbr0, &wb.regs, sa.tls(), Some(&fpu)).map_err(fail)
            }
        }
    }

    /// An exception the stub reported, from vector `v`.
    pub(in crate::sandbox) fn on_trap(&mut self, v: u8, exited: Instant, guest: Duration) -> Result<Step, Fatal> {
        let sa = self.vcpu.save_area().map_err(|_| Fatal("cannot read the save area".into()))?;
        if v != vector::LOWER_SYNC {
            // The stub itself faulted (0-7), an interrupt reached it
            // (none is routed here), or AArch32 ran at EL0 (no PSTATE
            // faultline lets through allows it): faultline's failure or
            // the program's escape, either way the end of the process.
            let why = format!("the vector stub reported {} (vector {v})", vector::name(v));
            return Ok(Step::Next(self.kernel.on_vm_exit(self.tid, why), None));
        }
        let t = trap::classify(sa.esr, sa.far, sa.regs.pstate);
        if matches!(t, Trap::PageFault { .. }) {
            self.held = Some(exited);
        }
        let mut regs = UserRegs::from_save(&sa);
        let before = regs;
        let next = self.kernel.on_trap(self.tid, self.vcpu, t, &mut regs, Some(sa.tls()), guest);
        let before = (t != Trap::Syscall).then_some(before);
        Ok(Step::Next(next, Some(WriteBack { regs, before, back: Back::Save })))
    }

    /// The vCPU was kicked (a signal to deliver, a kill, a stop): where it
    /// stopped decides where the program's registers are.
    pub(in crate::sandbox) fn on_kick(&mut self, guest: Duration) -> Result<Step, Fatal> {
        self.vcpu.clear_kick();
        let fail = |_| Fatal("cannot read the vCPU's state".into());
        let (mut regs, tls, back) = match self.vcpu.stopped().map_err(fail)? {
            // On its way to report a trap: that trap comes next, and the
            // kick is looked at with it.
            Stopped::Stub(InStub::Saving | InStub::Reported) => return Ok(Step::Resume),
            Stopped::Stub(InStub::Restoring) => {
                let sa = self.vcpu.save_area().map_err(fail)?;
                (UserRegs::from_save(&sa), sa.tls(), Back::Restore)
            }
            Stopped::User => {
                // The user state is in the vCPU: spill it where the kernel
                // (and the stub, on the way back) reads it.
                let (regs, fpsimd, tls) = self.vcpu.user_regs_one_reg().map_err(fail)?;
                let mut sa = self.vcpu.save_area().map_err(fail)?;
                regs.write_save(&mut sa);
                sa.fpsimd = fpsimd;
                sa.set_tls(tls);
                self.vcpu.write_save_area(&sa).map_err(|_| Fatal(CANNOT_WRITE.into()))?;
                (regs, tls, Back::Enter)
            }
        };
        let before = Some(regs);
        let next = self.kernel.on_kick(self.tid, self.vcpu, &mut regs, Some(tls), guest);
        Ok(Step::Next(next, Some(WriteBack { regs, before, back })))
    }

    /// No ring on arm64: its exits never come.
    pub(in crate::sandbox) fn on_ring_exit(&mut self, e: Exit, _guest: Duration) -> Result<Step, Fatal> {
        let why = format!("a syscall ring exit ({e:?}) on an architecture without the ring");
        Ok(Step::Next(self.kernel.on_vm_exit(self.tid, why), None))
    }

    /// The pc to name in a report of an unexpected exit.
    pub(in crate::sandbox) fn pc_for_report(&self) -> u64 {
        self.vcpu.save_area().map(|s| s.regs.pc).unwrap_or(0)
    }
}

impl Machine {
    /// No ring to turn off on arm64.
    pub(in crate::sandbox) fn ring_off(&self, _kernel: &Kernel, _vcpu: &crate::hv::Vcpu) {}

    /// Vcpu `id`'s save area (EL1 read-write, its SP_EL1) and, right above
    /// it, its trap doorbell (device memory, in no slot).
    pub(in crate::sandbox) fn prepare_cpu(&self, kernel: &Kernel, id: u32) -> Result<(), Error> {
        let va = layout::cpu_area_va(id);
        let mut k = kernel.lock();
        let k = &mut *k;
        let (pool, kt) = (&mut k.phys.tables, &mut k.kernel_tables);
        let setup = |e: crate::arch::PagingError| Error::Setup(e.to_string());
        kt.map_kernel(pool, va, layout::cpu_area_gpa(id), true, false).map_err(setup)?;
        kt.map_kernel_device(pool, va + DOORBELL_OFFSET, layout::trap_doorbell_gpa(id)).map_err(setup)?;
        Ok(())
    }
}
