//! arm64's VM and vCPUs: KVM_ARM_VCPU_INIT (PSCI 0.2), the EL1 system
//! registers set by ONE_REG (MMU on, faultline's page-table format, the
//! vector stub at VBAR_EL1, each vCPU's save area at SP_EL1), and the
//! protocol of arch/aarch64/entry.rs around KVM_RUN: a trap is an MMIO
//! exit at the vCPU's trap doorbell, the user state lives in the save
//! area, and PC is never written while an MMIO exit is pending (KVM would
//! add 4 to it on the next KVM_RUN).
//!
//! There is no KVM_GET_REGS on arm64 and ONE_REG costs an ioctl a
//! register (~9 µs under TCG), so the trap path goes through the save area
//! (shared memory) only; ONE_REG is for setup, starts and kicks.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use kvm_bindings::{
    kvm_vcpu_init, KVM_ARM_VCPU_PSCI_0_2, KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};
use zerocopy::{FromBytes, IntoBytes};

use super::{kvm_err, Exit, Kicker, VmError};
/// Where a kicked vCPU is ([`Vcpu::stopped`]).
pub use crate::arch::aarch64::cpu::Stopped;
use crate::arch::aarch64::cpu::{self, sysreg, IdRegs};
use crate::arch::aarch64::entry::{self, SaveArea};
use crate::arch::fpu::{FpuConfig, FpuState};
use crate::arch::layout::{self, VECTORS_VA};
use crate::arch::paging;
use crate::arch::regs::{one_reg, valid_user_pstate, Tls, UserFpsimdState, UserPtRegs, UserRegs};
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// KVM_RUN (_IO(KVMIO, 0x80)), for completing a pending MMIO exit from
/// `&self` (kvm-ioctls' `VcpuFd::run` takes `&mut`).
const KVM_RUN: u64 = 0xae80;

/// Set to 1 in the environment: TCR_EL1.HA/HD stay clear even where the
/// CPU has FEAT_HAFDBS, so the VMM's software access-flag and dirty path
/// runs (under TCG, whose CPU has it).
const NO_HAFDBS_ENV: &str = "FAULTLINE_ARM64_NO_HAFDBS";

/// A KVM virtual machine.
pub struct Vm {
    fd: VmFd,
    slots: u32,
    max_vcpus: u32,
    /// KVM_ARM_PREFERRED_TARGET's answer plus PSCI 0.2: every vCPU's init.
    init: kvm_vcpu_init,
    /// TCR_EL1 for every vCPU (from vCPU 0's ID registers and the knob).
    tcr: u64,
    hwcaps: (u64, u64),
    /// vCPU 0, created and initialised by [`Vm::new`] to read the ID
    /// registers (only a vCPU has them); `create_vcpu(0)` takes it.
    first: Mutex<Option<VcpuFd>>,
}

impl Vm {
    pub fn new() -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(VmError::KvmOpen)?;
        let api = kvm.get_api_version();
        if api != 12 {
            return Err(VmError::KvmApi(api));
        }
        let fd = kvm.create_vm().map_err(kvm_err("create VM"))?;
        let mut init = kvm_vcpu_init::default();
        fd.get_preferred_target(&mut init).map_err(kvm_err("get the preferred vCPU target"))?;
        init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        let max_vcpus = kvm.check_extension_int(Cap::MaxVcpus).max(1) as u32;
        let first = fd.create_vcpu(0).map_err(kvm_err("create vCPU"))?;
        first.vcpu_init(&init).map_err(kvm_err("initialise vCPU (KVM_ARM_VCPU_INIT)"))?;
        let ids = read_id_regs(&first)?;
        let hafdbs = std::env::var_os(NO_HAFDBS_ENV).is_none_or(|v| v != "1");
        Ok(Vm {
            fd,
            slots: 0,
            max_vcpus,
            init,
            tcr: cpu::tcr(ids.mmfr0, ids.mmfr1, hafdbs),
            hwcaps: cpu::hwcaps(&ids),
            first: Mutex::new(Some(first)),
        })
    }

    /// Exposes `mapping` to the guest at `gpa`.
    pub fn add_slot(&mut self, gpa: u64, mapping: &HostMapping) -> Result<(), VmError> {
        super::add_slot(&self.fd, self.slots, gpa, mapping)?;
        self.slots += 1;
        Ok(())
    }

    /// AT_HWCAP and AT_HWCAP2 as Linux derives them from the vCPU's ID
    /// registers, less what this guest does not offer (`cpu::hwcaps`).
    pub fn hwcaps(&self) -> (u64, u64) {
        self.hwcaps
    }

    /// Nothing to configure: V0-V31, FPSR and FPCR are all the FP state
    /// (no SVE or SME).
    pub fn fpu_config(&self) -> FpuConfig {
        FpuConfig {}
    }

    /// Most vCPUs KVM allows in one VM.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus
    }

    /// A new vCPU with id `id`, its EL1 set up for the vector stub; `sys`
    /// is the system slot (at GPA 0), which holds its save area.
    pub fn create_vcpu(&self, id: u32, sys: &Arc<HostMapping>) -> Result<Vcpu, VmError> {
        if id >= self.max_vcpus {
            return Err(VmError::TooManyVcpus(self.max_vcpus));
        }
        let kept = if id == 0 { self.first.lock().unwrap_or_else(|p| p.into_inner()).take() } else { None };
        let fd = match kept {
            Some(fd) => fd,
            None => {
                let fd = self.fd.create_vcpu(id as u64).map_err(kvm_err("create vCPU"))?;
                fd.vcpu_init(&self.init).map_err(kvm_err("initialise vCPU (KVM_ARM_VCPU_INIT)"))?;
                fd
            }
        };
        Vcpu::new(fd, id, sys.clone(), self.tcr)
    }

    /// An eventfd KVM signals, in the kernel and without an exit, whenever
    /// the guest writes to the 4 bytes at `gpa` (which no slot may back):
    /// the syscall ring's doorbell.
    pub fn doorbell(&self, gpa: u64) -> Result<vmm_sys_util::eventfd::EventFd, VmError> {
        super::doorbell(&self.fd, gpa)
    }
}

/// The ID registers hwcaps and TCR_EL1 come from. ISAR2 and MMFR2 read as
/// 0 where an older KVM does not list them.
fn read_id_regs(fd: &VcpuFd) -> Result<IdRegs, VmError> {
    let mut v = [0; 8];
    for (i, id) in IdRegs::IDS.into_iter().enumerate() {
        v[i] = match get_u64(fd, id, "read an ID register") {
            Ok(x) => x,
            Err(_) if id == sysreg::ID_AA64ISAR2_EL1 || id == sysreg::ID_AA64MMFR2_EL1 => 0,
            Err(e) => return Err(e),
        };
    }
    Ok(IdRegs::from_values(v))
}

fn get_u64(fd: &VcpuFd, id: u64, what: &'static str) -> Result<u64, VmError> {
    let mut b = [0u8; 8];
    fd.get_one_reg(id, &mut b).map_err(kvm_err(what))?;
    Ok(u64::from_le_bytes(b))
}

fn set_u64(fd: &VcpuFd, id: u64, v: u64, what: &'static str) -> Result<(), VmError> {
    fd.set_one_reg(id, &v.to_le_bytes()).map(|_| ()).map_err(kvm_err(what))
}

/// A save-area access outside the system slot (a bug: the slot is sized
/// for every vCPU's).
fn bad_save_area<E>(what: &'static str) -> impl FnOnce(E) -> VmError {
    move |_| VmError::Kvm { what, source: kvm_ioctls::Error::new(libc::EFAULT) }
}

/// What the last KVM_RUN left pending (`Vcpu::pending`).
mod pending {
    /// Nothing: PC may be written.
    pub const NONE: u8 = 0;
    /// A lower-EL trap's report (vectors 8-15): the vCPU is at
    /// `vec_report_store` with the store pending. The next KVM_RUN retires
    /// it and the stub restores from the save area.
    pub const REPORT: u8 = 1;
    /// Any other MMIO exit: complete it before writing PC.
    pub const MMIO: u8 = 2;
}

pub struct Vcpu {
    fd: VcpuFd,
    id: u32,
    /// The system slot (GPA 0), and this vCPU's save area's offset in it.
    sys: Arc<HostMapping>,
    area: u64,
    /// kvm_run.immediate_exit, shared with this vCPU's [`Kicker`].
    immediate_exit: &'static AtomicU8,
    /// A `pending` constant: what the last KVM_RUN left.
    pending: AtomicU8,
}

impl Vcpu {
    fn new(mut fd: VcpuFd, id: u32, sys: Arc<HostMapping>, tcr: u64) -> Result<Self, VmError> {
        let flag = &mut fd.get_kvm_run().immediate_exit as *mut u8;
        // SAFETY: `immediate_exit` lives in the vCPU's kvm_run mapping,
        // which lives as long as the VcpuFd (owned by this Vcpu, and moving
        // it does not move the mapping); AtomicU8 has u8's layout. Kickers
        // given out must not outlive the vCPU, as on x86.
        let immediate_exit = unsafe { AtomicU8::from_ptr(flag) };
        let regs = [
            (sysreg::SCTLR_EL1, cpu::SCTLR_EL1, "set SCTLR_EL1"),
            (sysreg::TCR_EL1, tcr, "set TCR_EL1"),
            (sysreg::MAIR_EL1, cpu::MAIR_EL1, "set MAIR_EL1"),
            (sysreg::CPACR_EL1, cpu::CPACR_EL1, "set CPACR_EL1"),
            (sysreg::CNTKCTL_EL1, cpu::CNTKCTL_EL1, "set CNTKCTL_EL1"),
            (sysreg::VBAR_EL1, VECTORS_VA, "set VBAR_EL1"),
            (one_reg::SP_EL1, layout::cpu_area_va(id), "set SP_EL1"),
        ];
        for (reg, value, what) in regs {
            set_u64(&fd, reg, value, what)?;
        }
        Ok(Vcpu { fd, id, sys, area: layout::cpu_area_gpa(id), immediate_exit, pending: AtomicU8::new(pending::NONE) })
    }

    /// This vCPU's index (selects its save area and trap doorbell).
    pub fn id(&self) -> u32 {
        self.id
    }

    fn get(&self, id: u64, what: &'static str) -> Result<u64, VmError> {
        get_u64(&self.fd, id, what)
    }

    fn set(&self, id: u64, v: u64, what: &'static str) -> Result<(), VmError> {
        set_u64(&self.fd, id, v, what)
    }

    /// Completes a pending MMIO exit without entering the guest (KVM_RUN
    /// with immediate_exit: KVM retires the access, PC + 4, then returns
    /// EINTR), so that a PC written next is taken as is (probe el0's
    /// `complete_mmio`). immediate_exit is left set: clearing it could lose
    /// a kick that landed meanwhile, so the next [`run`](Self::run) returns
    /// a spurious `Exit::Interrupted` instead (a kick may come at any time,
    /// so that is always handled).
    fn settle(&self) -> Result<(), VmError> {
        if self.pending.load(Ordering::Relaxed) == pending::NONE {
            return Ok(());
        }
        self.immediate_exit.store(1, Ordering::SeqCst);
        // SAFETY: KVM_RUN on this vCPU's fd takes no argument; with
        // immediate_exit set it returns before entering the guest, and the
        // kvm_run it writes is the mapping VcpuFd owns (read by no one
        // until the next run(), which takes &mut self).
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), KVM_RUN as _, 0) };
        let errno = if r < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) } else { 0 };
        self.pending.store(pending::NONE, Ordering::Relaxed);
        match errno {
            libc::EINTR => Ok(()),
            0 => Err(VmError::Kvm {
                what: "complete a pending MMIO exit (KVM_RUN ran the guest despite immediate_exit)",
                source: kvm_ioctls::Error::new(libc::EIO),
            }),
            e => Err(VmError::Kvm { what: "complete a pending MMIO exit", source: kvm_ioctls::Error::new(e) }),
        }
    }

    /// The save area as the stub left it (or the VMM last wrote it). Valid
    /// after an `Exit::Trap` of vectors 8-15, and whenever the vCPU is
    /// stopped in the stub's restore path; not while it is at EL0 (its
    /// registers are then the vCPU's own: [`Vcpu::user_regs_one_reg`], or
    /// [`Vcpu::park_user`] to move them here).
    pub fn save_area(&self) -> Result<SaveArea, VmError> {
        let mut s = SaveArea::default();
        self.sys.read(self.area, s.as_mut_bytes()).map_err(bad_save_area("read the save area"))?;
        Ok(s)
    }

    /// Writes the whole save area, which the stub's restore path loads
    /// (after a trap: on the next KVM_RUN). The user PSTATE (`regs.pstate`,
    /// the SPSR the stub erets with) is first put through
    /// `valid_user_pstate`, so that nothing here can enter EL1 or mask
    /// exceptions at EL0.
    pub fn write_save_area(&self, s: &SaveArea) -> Result<(), VmError> {
        let mut s = *s;
        valid_user_pstate(&mut s.regs.pstate);
        self.sys.write(self.area, s.as_bytes()).map_err(bad_save_area("write the save area"))
    }

    /// Where the vCPU is, by ONE_REG (PSTATE and PC): for a kick
    /// (`Exit::Interrupted`, after which no MMIO is pending). At EL1
    /// outside the stub (never, unless faultline went wrong) it is an error.
    pub fn stopped(&self) -> Result<Stopped, VmError> {
        let pstate = self.get(one_reg::PSTATE, "get PSTATE")?;
        let pc = self.get(one_reg::PC, "get PC")?;
        cpu::stopped(pc, pstate).ok_or(VmError::Kvm {
            what: "find the vCPU: it stopped at EL1 outside the vector stub",
            source: kvm_ioctls::Error::new(libc::EFAULT),
        })
    }

    /// The program's registers, FP/SIMD state and TPIDR_EL0 by ONE_REG,
    /// for a vCPU kicked at EL0 ([`Stopped::User`]); orig_x0 = x0. 69
    /// ioctls.
    pub fn user_regs_one_reg(&self) -> Result<(UserRegs, UserFpsimdState, Tls), VmError> {
        let mut words = [0u64; 34];
        for (w, id) in words.iter_mut().zip(one_reg::user_pt_regs(false)) {
            *w = self.get(id, "get a user register")?;
        }
        let pt = UserPtRegs::read_from_bytes(words.as_bytes()).expect("user_pt_regs is 34 words");
        let mut fp = UserFpsimdState::default();
        for (n, v) in fp.vregs.iter_mut().enumerate() {
            let mut b = [0u8; 16];
            self.fd.get_one_reg(one_reg::v(n), &mut b).map_err(kvm_err("get a V register"))?;
            *v = u128::from_le_bytes(b);
        }
        for (id, to) in [(one_reg::FPSR, &mut fp.fpsr), (one_reg::FPCR, &mut fp.fpcr)] {
            let mut b = [0u8; 4];
            self.fd.get_one_reg(id, &mut b).map_err(kvm_err("get FPSR/FPCR"))?;
            *to = u32::from_le_bytes(b);
        }
        let tls = Tls { tpidr_el0: self.get(one_reg::TPIDR_EL0, "get TPIDR_EL0")? };
        Ok((UserRegs::at_trap(&pt), fp, tls))
    }

    /// Writes the program's registers back by ONE_REG, for a vCPU kicked
    /// at EL0 that resumes there: x0-x30, SP_EL0, PC, PSTATE (through
    /// `valid_user_pstate`), and, if given, V0-V31/FPSR/FPCR and
    /// TPIDR_EL0 (None: left as they are; 35 and 1 ioctls saved).
    // For sandbox/entry/aarch64.rs, which does not call it yet.
    #[allow(dead_code)]
    pub fn set_user_regs_one_reg(
        &self,
        regs: &UserRegs,
        fpsimd: Option<&UserFpsimdState>,
        tls: Option<Tls>,
    ) -> Result<(), VmError> {
        self.settle()?;
        let mut pt = regs.pt();
        valid_user_pstate(&mut pt.pstate);
        let words = <[u64; 34]>::read_from_bytes(pt.as_bytes()).expect("user_pt_regs is 34 words");
        for (w, id) in words.into_iter().zip(one_reg::user_pt_regs(false)) {
            self.set(id, w, "set a user register")?;
        }
        if let Some(fp) = fpsimd {
            for (n, v) in fp.vregs.iter().enumerate() {
                self.fd.set_one_reg(one_reg::v(n), &v.to_le_bytes()).map_err(kvm_err("set a V register"))?;
            }
            for (id, v) in [(one_reg::FPSR, fp.fpsr), (one_reg::FPCR, fp.fpcr)] {
                self.fd.set_one_reg(id, &v.to_le_bytes()).map_err(kvm_err("set FPSR/FPCR"))?;
            }
        }
        if let Some(t) = tls {
            self.set(one_reg::TPIDR_EL0, t.tpidr_el0, "set TPIDR_EL0")?;
        }
        Ok(())
    }

    /// Restarts the stub's way back to user mode from its start (PC =
    /// `vec_restore`, PSTATE = EL1h with DAIF masked), which reloads
    /// everything from the save area: for a vCPU kicked at
    /// [`entry::Stopped::Restoring`] whose save area was edited, or one
    /// whose state was just moved into the save area. Completes a pending
    /// MMIO first (there is none after a kick).
    pub fn rerun_restore(&self) -> Result<(), VmError> {
        self.settle()?;
        self.set(one_reg::PC, VECTORS_VA + entry::restore_offset(), "set PC")?;
        self.set(one_reg::PSTATE, entry::ENTER_PSTATE, "set PSTATE")
    }

    /// For a vCPU kicked at EL0: moves the program's state (by ONE_REG)
    /// into the save area, keeping its flags and roots, and the vCPU onto
    /// the stub's restore path. From then on it is handled as one stopped
    /// at [`entry::Stopped::Restoring`]: everything through the save area
    /// ([`Vcpu::fpu`], [`Vcpu::set_tls`], [`Vcpu::set_root`] included), and
    /// the next KVM_RUN erets to the program. `esr`, `far` and `vector`
    /// keep the last trap's values. About 72 ioctls.
    // For sandbox/entry/aarch64.rs, which does not call it yet.
    #[allow(dead_code)]
    pub fn park_user(&self) -> Result<SaveArea, VmError> {
        let (regs, fp, tls) = self.user_regs_one_reg()?;
        let mut s = self.save_area()?;
        regs.write_save(&mut s);
        s.fpsimd = fp;
        s.set_tls(tls);
        self.write_save_area(&s)?;
        self.rerun_restore()?;
        self.save_area()
    }

    /// Starts the vCPU in user mode (EL0t) with paging rooted at `root`
    /// (TTBR0 = root, TTBR1 = its kernel half), the user registers `regs`,
    /// TLS and FP/SIMD state (`None`: a fresh process's, all zero). Any trap
    /// it was in is forgotten.
    ///
    /// All of it goes into the save area, with LOAD_ROOT (the stub loads
    /// the roots and flushes this vCPU's TLB). Any pending MMIO exit is
    /// completed first; then the vCPU starts at `vec_enter` with
    /// TTBR0/TTBR1 also set by ONE_REG (a new vCPU has no TTBR1 to fetch
    /// the stub through), PSTATE = EL1h and SP_EL1 = its save area.
    pub fn enter_user(&self, root: u64, regs: &UserRegs, tls: Tls, fpu: Option<&FpuState>) -> Result<(), VmError> {
        let fpsimd = fpu.map(|f| f.0).unwrap_or_default();
        self.write_save_area(&SaveArea::enter(regs, tls, &fpsimd, root, paging::ttbr1(root)))?;
        // Even a vCPU stopped at a trap's report starts afresh at
        // `vec_enter`: resuming it through the report's return left a
        // reused vCPU (a second fork's child) spinning in the guest,
        // which the vec_enter path does not (cause not found yet).
        self.settle()?;
        self.set(sysreg::TTBR0_EL1, root, "set TTBR0_EL1")?;
        self.set(sysreg::TTBR1_EL1, paging::ttbr1(root), "set TTBR1_EL1")?;
        self.set(one_reg::PC, VECTORS_VA + entry::enter_offset(), "set PC")?;
        self.set(one_reg::PSTATE, entry::ENTER_PSTATE, "set PSTATE")?;
        self.set(one_reg::SP_EL1, layout::cpu_area_va(self.id), "set SP_EL1")
    }

    /// Moves the vCPU to paging rooted at `root`: the save area's TTBR0/1
    /// with LOAD_ROOT, which the stub loads (and flushes) on its way back
    /// to user mode. Takes effect there only: a vCPU stopped at EL0 must
    /// first be [parked](Vcpu::park_user).
    // The neutral surface's (x86's serves the ring's views: no ring here yet).
    #[allow(dead_code)]
    pub fn set_root(&self, root: u64) -> Result<(), VmError> {
        let mut s = self.save_area()?;
        s.load_root(root, paging::ttbr1(root));
        self.write_save_area(&s)
    }

    /// The FP/SIMD state, from the save area.
    pub fn fpu(&self) -> Result<FpuState, VmError> {
        Ok(FpuState(self.save_area()?.fpsimd))
    }

    /// Sets the FP/SIMD state in the save area.
    pub fn set_fpu(&self, x: &FpuState) -> Result<(), VmError> {
        let mut s = self.save_area()?;
        s.fpsimd = x.0;
        self.write_save_area(&s)
    }

    /// Sets TPIDR_EL0 in the save area.
    pub fn set_tls(&self, tls: Tls) -> Result<(), VmError> {
        let mut s = self.save_area()?;
        s.set_tls(tls);
        self.write_save_area(&s)
    }

    /// A handle another thread may use to get this vCPU out of KVM_RUN.
    /// Must be taken on the thread that runs the vCPU.
    pub fn kicker(&mut self) -> Kicker {
        Kicker::for_current_thread(self.immediate_exit)
    }

    /// Clears a kick that has been seen, so the next KVM_RUN runs.
    pub fn clear_kick(&mut self) {
        self.immediate_exit.store(0, Ordering::SeqCst);
    }

    /// Runs until the guest needs the VMM.
    pub fn run(&mut self) -> Result<Exit, VmError> {
        if let Some(errno) = crate::inject::hit(crate::inject::Point::KvmRun) {
            return Err(VmError::Kvm { what: "run vCPU", source: kvm_ioctls::Error::new(errno) });
        }
        let doorbell = layout::trap_doorbell_gpa(self.id);
        let (exit, left) = match self.fd.run() {
            Ok(VcpuExit::MmioWrite(a, _)) if (doorbell..doorbell + PAGE_SIZE).contains(&a) => {
                match entry::doorbell_vector(a - doorbell) {
                    Some(v) if v >= entry::vector::LOWER_SYNC => (Exit::Trap(v), pending::REPORT),
                    // The stub's own fault: it reports from its vector, in a loop.
                    Some(v) => (Exit::Trap(v), pending::MMIO),
                    None => (
                        Exit::Unexpected(format!("store to the trap doorbell at offset {:#x}", a - doorbell)),
                        pending::MMIO,
                    ),
                }
            }
            Ok(VcpuExit::MmioWrite(a, _)) if a & !(PAGE_SIZE - 1) == layout::DOORBELL_GPA => {
                (Exit::Doorbell, pending::MMIO)
            }
            Ok(VcpuExit::MmioRead(a, _)) | Ok(VcpuExit::MmioWrite(a, _)) => {
                (Exit::Unexpected(format!("access to unbacked guest-physical address {a:#x}")), pending::MMIO)
            }
            Ok(VcpuExit::SystemEvent(t, _))
                if t == KVM_SYSTEM_EVENT_SHUTDOWN || t == KVM_SYSTEM_EVENT_RESET || t == KVM_SYSTEM_EVENT_CRASH =>
            {
                (Exit::Shutdown, pending::NONE)
            }
            Ok(VcpuExit::SystemEvent(t, data)) => {
                (Exit::Unexpected(format!("system event {t} {data:x?}")), pending::NONE)
            }
            Ok(VcpuExit::FailEntry(reason, cpu)) => {
                (Exit::Unexpected(format!("VM entry failed (reason {reason:#x}, CPU {cpu})")), pending::NONE)
            }
            Ok(VcpuExit::InternalError) => (Exit::Unexpected("KVM internal error".into()), pending::NONE),
            Ok(other) => (Exit::Unexpected(format!("{other:?}")), pending::NONE),
            // KVM completes a pending MMIO before it looks at immediate_exit
            // or signals: none is left.
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => (Exit::Interrupted, pending::NONE),
            Err(e) => {
                self.pending.store(pending::NONE, Ordering::Relaxed);
                return Err(VmError::Kvm { what: "run vCPU", source: e });
            }
        };
        self.pending.store(left, Ordering::Relaxed);
        Ok(exit)
    }
}
