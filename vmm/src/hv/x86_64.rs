//! x86-64's VM and vCPUs: long mode set up by hand (no firmware), CPUID
//! and XCR0 as KVM supports them, the syscall MSRs, entering ring 3 with a
//! thread's state, and register access for the shim's trap frames.

use std::cell::Cell;
use std::sync::atomic::AtomicU8;

use kvm_bindings::{
    kvm_regs, kvm_segment, kvm_sregs, kvm_vcpu_events, kvm_xcrs, CpuId, KVM_MAX_CPUID_ENTRIES, KVM_SYNC_X86_REGS,
    KVM_SYNC_X86_SREGS,
};
use kvm_ioctls::{Cap, Kvm, SyncReg, VcpuExit, VcpuFd, VmFd};

use super::{kvm_err, Exit, Kicker, VmError};
use crate::arch::fpu::{FpuConfig, FpuState};
use crate::arch::{self, cpu::CpuFeatures, UserRegs};
use crate::memory::HostMapping;

/// A KVM virtual machine.
pub struct Vm {
    fd: VmFd,
    slots: u32,
    cpuid: CpuId,
    features: CpuFeatures,
    max_vcpus: u32,
    /// KVM_CAP_SYNC_REGS covers the registers and system registers.
    sync_regs: bool,
}

impl Vm {
    pub fn new() -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(VmError::KvmOpen)?;
        let api = kvm.get_api_version();
        if api != 12 {
            return Err(VmError::KvmApi(api));
        }
        let fd = kvm.create_vm().map_err(kvm_err("create VM"))?;
        // Intel needs a TSS area below 4 GiB for real mode; harmless elsewhere
        // and outside every slot.
        fd.set_tss_address(0xfffb_d000).map_err(kvm_err("set TSS address"))?;
        let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(kvm_err("get supported CPUID"))?;
        let features = CpuFeatures::from_cpuid(cpuid.as_slice());
        let max_vcpus = kvm.check_extension_int(Cap::MaxVcpus).max(1) as u32;
        let want = (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS) as i32;
        let sync_regs = kvm.check_extension_int(Cap::SyncRegs) & want == want;
        Ok(Vm { fd, slots: 0, cpuid, features, max_vcpus, sync_regs })
    }

    /// Exposes `mapping` to the guest at `gpa`.
    pub fn add_slot(&mut self, gpa: u64, mapping: &HostMapping) -> Result<(), VmError> {
        super::add_slot(&self.fd, self.slots, gpa, mapping)?;
        self.slots += 1;
        Ok(())
    }

    /// AT_HWCAP and AT_HWCAP2 as Linux reports them: CPUID.1:EDX, and
    /// none of HWCAP2's (ring 3 FSGSBASE is not enabled).
    pub fn hwcaps(&self) -> (u64, u64) {
        (self.cpuid.as_slice().iter().find(|e| e.function == 1).map(|e| e.edx as u64).unwrap_or(0), 0)
    }

    /// The XSAVE area size for the states XCR0 enables (signal frames
    /// carry it), and XCR0 itself: wherever KVM keeps XSAVE states for the
    /// vCPU (CPUID leaf 0xD), even if it does not offer the XSAVE bit of
    /// leaf 1. PVM does that on some days, while the guest, whose CPUID it
    /// does not intercept, sees OSXSAVE and uses AVX: its frames must carry
    /// that state, as Linux's would.
    pub fn fpu_config(&self) -> FpuConfig {
        let c = self.cpuid.as_slice();
        let leaf = |i: u32| c.iter().find(|e| e.function == 0xd && e.index == i);
        let Some(l0) = leaf(0) else { return FpuConfig::default() };
        let xcr0 = arch::cpu::xcr0(l0.eax as u64 | (l0.edx as u64) << 32);
        let mut size = 576;
        for bit in 2..63 {
            if xcr0 & (1 << bit) != 0 {
                if let Some(l) = leaf(bit) {
                    size = size.max(l.ebx + l.eax);
                }
            }
        }
        FpuConfig { xstate_size: size, xcr0 }
    }

    /// Most vCPUs KVM allows in one VM.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus
    }

    /// A new vCPU with id `id`, set up for long mode and faultline's
    /// syscall and exception entry.
    /// (`_sys`, the system slot, holds nothing a vCPU reads directly here:
    /// the shim's frames are the sandbox's.)
    pub fn create_vcpu(&self, id: u32, _sys: &std::sync::Arc<HostMapping>) -> Result<Vcpu, VmError> {
        if id >= self.max_vcpus {
            return Err(VmError::TooManyVcpus(self.max_vcpus));
        }
        let fd = self.fd.create_vcpu(id as u64).map_err(kvm_err("create vCPU"))?;
        Vcpu::new(fd, id, &self.cpuid, self.features, self.sync_regs)
    }

    /// An eventfd KVM signals, in the kernel and without an exit, whenever
    /// the guest writes to the 4 bytes at `gpa` (which no slot may back):
    /// the syscall ring's doorbell.
    pub fn doorbell(&self, gpa: u64) -> Result<vmm_sys_util::eventfd::EventFd, VmError> {
        super::doorbell(&self.fd, gpa)
    }
}

pub struct Vcpu {
    fd: VcpuFd,
    id: u32,
    features: CpuFeatures,
    /// Whether KVM copies the registers into kvm_run at every exit
    /// (KVM_CAP_SYNC_REGS): reading them there saves KVM_GET_REGS and
    /// KVM_GET_SREGS at each exit, two ioctls that each load the vCPU
    /// (reading MSRs, dear under nested virtualisation).
    sync: bool,
    /// Whether kvm_run's copy of the general registers is what the vCPU
    /// holds: from an exit, and after [`Vcpu::set_regs`] puts new ones
    /// there (marked dirty: KVM loads them at the next KVM_RUN, which
    /// saves KVM_SET_REGS's vCPU load too).
    fresh: Cell<bool>,
    /// The same for the system registers: from an exit until the VMM sets
    /// any (by ioctl: they change rarely).
    fresh_sregs: Cell<bool>,
    /// The general registers put in kvm_run for KVM to load, until it has:
    /// a KVM_RUN that returns before loading them (a kick) may still copy
    /// the vCPU's old ones over them on its way out, and they are put back.
    staged: Option<kvm_regs>,
}

impl Vcpu {
    pub(super) fn new(
        mut fd: VcpuFd,
        id: u32,
        cpuid: &CpuId,
        features: CpuFeatures,
        sync: bool,
    ) -> Result<Self, VmError> {
        fd.set_cpuid2(cpuid).map_err(kvm_err("set CPUID"))?;
        let msrs = arch::cpu::syscall_msrs();
        let n = fd.set_msrs(&msrs).map_err(kvm_err("set MSRs"))?;
        if n != msrs.as_slice().len() {
            return Err(VmError::Kvm { what: "set syscall MSRs", source: kvm_ioctls::Error::new(libc::EINVAL) });
        }
        if features.xsave {
            // The states XSAVE can hold (CPUID.0xD.0).
            let states = cpuid
                .as_slice()
                .iter()
                .find(|e| e.function == 0xd && e.index == 0)
                .map(|e| e.eax as u64 | (e.edx as u64) << 32)
                .unwrap_or(0x3);
            let mut xcrs = kvm_xcrs { nr_xcrs: 1, ..Default::default() };
            xcrs.xcrs[0].xcr = 0;
            xcrs.xcrs[0].value = arch::cpu::xcr0(states);
            fd.set_xcrs(&xcrs).map_err(kvm_err("set XCR0"))?;
        }
        if sync {
            fd.set_sync_valid_reg(SyncReg::Register);
            fd.set_sync_valid_reg(SyncReg::SystemRegister);
        }
        Ok(Vcpu { fd, id, features, sync, fresh: Cell::new(false), fresh_sregs: Cell::new(false), staged: None })
    }

    /// This vCPU's index (selects its GDT, TSS and exception stack).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Puts the vCPU in ring 3 with paging rooted at `root` (CR3), the user
    /// registers `regs`, TLS bases and FPU state (`None`: a fresh process's).
    /// Any trap it was in is forgotten.
    pub fn enter_user(
        &mut self,
        root: u64,
        regs: &UserRegs,
        tls: arch::regs::Tls,
        fpu: Option<&FpuState>,
    ) -> Result<(), VmError> {
        self.fresh_sregs.set(false);
        let sregs = self.fd.get_sregs().map_err(kvm_err("get sregs"))?;
        self.fd.set_sregs(&arch::cpu::user_sregs(sregs, self.id, root, self.features)).map_err(kvm_err("set sregs"))?;
        match fpu {
            // SAFETY: a kvm_xsave KVM gave us, of the size KVM_SET_XSAVE reads.
            Some(x) => unsafe { self.fd.set_xsave(x.kvm()) }.map_err(kvm_err("set XSAVE"))?,
            None => self.fd.set_fpu(&arch::cpu::initial_fpu()).map_err(kvm_err("set FPU"))?,
        }
        self.fd.set_vcpu_events(&kvm_vcpu_events::default()).map_err(kvm_err("clear vCPU events"))?;
        self.set_tls(tls)?;
        self.set_regs(&regs.to_kvm())
    }

    /// Moves the vCPU to paging rooted at `root` (CR3), wherever it is stopped
    /// (another root of the same address space: the ring's view of it).
    /// KVM drops its translations of the old root.
    pub fn set_root(&self, root: u64) -> Result<(), VmError> {
        self.fresh_sregs.set(false);
        let mut sregs = self.fd.get_sregs().map_err(kvm_err("get sregs"))?;
        sregs.cr3 = root;
        self.fd.set_sregs(&sregs).map_err(kvm_err("set sregs"))
    }

    /// Points `syscall` at this vCPU's syscall ring stub.
    pub fn set_lstar(&self, lstar: u64) -> Result<(), VmError> {
        let msrs = arch::cpu::msrs(&[(arch::cpu::MSR_LSTAR, lstar)]);
        self.fd.set_msrs(&msrs).map(|_| ()).map_err(kvm_err("set LSTAR"))
    }

    /// Puts a vCPU stopped in ring 0 (in the ring stub, on bare metal)
    /// back in ring 3 with `regs`, as the stub's `iretq` would have.
    pub fn return_to_user(&mut self, regs: &kvm_regs) -> Result<(), VmError> {
        let mut sregs = self.sregs()?;
        if sregs.cs.dpl != 3 {
            self.fresh_sregs.set(false);
            let user = arch::cpu::user_sregs(sregs, self.id, sregs.cr3, self.features);
            sregs.cs = user.cs;
            sregs.ss = user.ss;
            self.fd.set_sregs(&sregs).map_err(kvm_err("set sregs"))?;
        }
        self.set_regs(regs)
    }

    /// Enters the ring stub at CPL 0 as `syscall` does on bare metal, from
    /// a vCPU stopped at CPL 3 at the stub's entry (a test of the CPL 0
    /// path on a hypervisor whose `syscall` stays in ring 3).
    pub fn enter_ring0(&mut self, regs: &kvm_regs) -> Result<(), VmError> {
        self.fresh_sregs.set(false);
        let mut sregs = self.fd.get_sregs().map_err(kvm_err("get sregs"))?;
        sregs.cs = kvm_segment { selector: arch::tables::KERNEL_CS, dpl: 0, ..sregs.cs };
        sregs.ss = kvm_segment { selector: arch::tables::KERNEL_DS, dpl: 0, ..sregs.ss };
        self.fd.set_sregs(&sregs).map_err(kvm_err("set sregs"))?;
        self.set_regs(regs)
    }

    /// Sets the TLS registers: the FS and GS bases.
    pub fn set_tls(&self, tls: arch::regs::Tls) -> Result<(), VmError> {
        // The FS and GS bases are the system registers' too.
        self.fresh_sregs.set(false);
        let msrs = arch::cpu::msrs(&[(arch::cpu::MSR_FS_BASE, tls.fs_base), (arch::cpu::MSR_GS_BASE, tls.gs_base)]);
        self.fd.set_msrs(&msrs).map(|_| ()).map_err(kvm_err("set FS/GS base"))
    }

    pub fn regs(&self) -> Result<kvm_regs, VmError> {
        if self.fresh.get() {
            return Ok(self.fd.sync_regs().regs);
        }
        self.fd.get_regs().map_err(kvm_err("get regs"))
    }

    pub fn set_regs(&mut self, r: &kvm_regs) -> Result<(), VmError> {
        if self.sync {
            self.fd.sync_regs_mut().regs = *r;
            self.fd.set_sync_dirty_reg(SyncReg::Register);
            self.staged = Some(*r);
            self.fresh.set(true);
            return Ok(());
        }
        self.fd.set_regs(r).map_err(kvm_err("set regs"))
    }

    pub fn sregs(&self) -> Result<kvm_sregs, VmError> {
        if self.fresh_sregs.get() {
            return Ok(self.fd.sync_regs().sregs);
        }
        self.fd.get_sregs().map_err(kvm_err("get sregs"))
    }

    /// The faulting address of the last page fault.
    pub fn cr2(&self) -> Result<u64, VmError> {
        self.sregs().map(|s| s.cr2)
    }

    /// The FPU/SSE/AVX state.
    pub fn fpu(&self) -> Result<FpuState, VmError> {
        self.fd.get_xsave().map(FpuState::from_kvm).map_err(kvm_err("get XSAVE"))
    }

    pub fn set_fpu(&self, x: &FpuState) -> Result<(), VmError> {
        // SAFETY: kvm_xsave is the size KVM_SET_XSAVE reads; its contents
        // are checked by KVM (bad state is EINVAL, not a host problem).
        unsafe { self.fd.set_xsave(x.kvm()) }.map_err(kvm_err("set XSAVE"))
    }

    /// A handle another thread may use to get this vCPU out of KVM_RUN.
    /// Must be taken on the thread that runs the vCPU.
    pub fn kicker(&mut self) -> Kicker {
        let flag = &mut self.fd.get_kvm_run().immediate_exit as *mut u8;
        // SAFETY: `immediate_exit` lives in the vCPU's kvm_run mapping,
        // which lives as long as the VcpuFd; AtomicU8 has u8's layout.
        let flag = unsafe { AtomicU8::from_ptr(flag) };
        Kicker::for_current_thread(flag)
    }

    /// Clears a kick that has been seen, so the next KVM_RUN runs.
    pub fn clear_kick(&mut self) {
        self.fd.set_kvm_immediate_exit(0);
    }

    /// Runs until the guest needs the VMM.
    pub fn run(&mut self) -> Result<Exit, VmError> {
        if let Some(errno) = crate::inject::hit(crate::inject::Point::KvmRun) {
            return Err(VmError::Kvm { what: "run vCPU", source: kvm_ioctls::Error::new(errno) });
        }
        self.fresh_sregs.set(false);
        let exit = self.fd.run();
        let ran = exit.is_ok();
        let exit = Self::decode(exit);
        // KVM filled kvm_run's copy of the registers on the way out. New
        // general registers it has not taken yet (a run that failed early)
        // are still the truth there.
        let pending = self.fd.get_kvm_run().kvm_dirty_regs & u64::from(KVM_SYNC_X86_REGS) != 0;
        match self.staged.take() {
            Some(r) if pending => {
                self.fd.sync_regs_mut().regs = r;
                self.staged = Some(r);
            }
            _ => {}
        }
        self.fresh.set(self.sync && (ran || pending));
        self.fresh_sregs.set(self.sync && ran);
        exit
    }

    fn decode(exit: Result<VcpuExit<'_>, kvm_ioctls::Error>) -> Result<Exit, VmError> {
        match exit {
            Ok(VcpuExit::IoOut(port, _)) => match arch::trap::vector_for_port(port) {
                Some(v) => Ok(Exit::Trap(v)),
                None => Ok(Exit::Unexpected(format!("port write to {port:#x}"))),
            },
            Ok(VcpuExit::IoIn(port, _)) => Ok(Exit::Unexpected(format!("port read from {port:#x}"))),
            Ok(VcpuExit::Shutdown) => Ok(Exit::Shutdown),
            Ok(VcpuExit::Hlt) => Ok(Exit::Unexpected("hlt in ring 0".into())),
            Ok(VcpuExit::MmioWrite(a, _)) if arch::layout::DOORBELL_GPA == a & !0xfff => Ok(match a & 0xfff {
                arch::ring::DOOR_EXIT => Exit::RingCall,
                arch::ring::DOOR_DELIVER => Exit::RingReturn,
                arch::ring::DOOR_DIRECT => Exit::RingDirect,
                _ => Exit::Doorbell,
            }),
            Ok(VcpuExit::MmioRead(a, _)) | Ok(VcpuExit::MmioWrite(a, _)) => {
                Ok(Exit::Unexpected(format!("access to unbacked guest-physical address {a:#x}")))
            }
            Ok(VcpuExit::FailEntry(reason, _)) => Ok(Exit::Unexpected(format!("VM entry failed (reason {reason:#x})"))),
            Ok(VcpuExit::InternalError) => Ok(Exit::Unexpected("KVM internal error".into())),
            Ok(other) => Ok(Exit::Unexpected(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(Exit::Interrupted),
            Err(e) => Err(VmError::Kvm { what: "run vCPU", source: e }),
        }
    }
}
