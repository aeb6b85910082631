//! The vCPU: register access and a run loop that turns KVM exits into the
//! few events the sandbox cares about.

use kvm_bindings::{kvm_regs, kvm_sregs, kvm_xcrs, CpuId, Msrs};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};

use super::{kvm_err, VmError};
use crate::arch;

/// Why the guest stopped running.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// A shim stub reported exception `vector`.
    Trap(u8),
    /// Triple fault: the CPU gave up.
    Shutdown,
    /// KVM_RUN returned EINTR (a watchdog kick).
    Interrupted,
    /// Anything else, described for the report.
    Unexpected(String),
}

pub struct Vcpu {
    fd: VcpuFd,
}

impl Vcpu {
    pub(super) fn new(fd: VcpuFd) -> Self {
        Vcpu { fd }
    }

    /// Puts the vCPU at `entry` in ring 3 with paging rooted at `cr3`.
    /// `cpuid` is what the guest will see (KVM's supported set).
    pub fn setup(&self, _kvm: &Kvm, cpuid: &CpuId, cr3: u64, entry: u64, sp: u64) -> Result<(), VmError> {
        self.fd.set_cpuid2(cpuid).map_err(kvm_err("set CPUID"))?;
        let msrs = arch::cpu::syscall_msrs();
        let n = self.fd.set_msrs(&msrs).map_err(kvm_err("set MSRs"))?;
        if n != msrs.as_slice().len() {
            return Err(VmError::Kvm { what: "set syscall MSRs", source: kvm_ioctls::Error::new(libc::EINVAL) });
        }
        self.fd.set_fpu(&arch::cpu::initial_fpu()).map_err(kvm_err("set FPU"))?;
        let features = arch::cpu::CpuFeatures::from_cpuid(cpuid.as_slice());
        let sregs = self.fd.get_sregs().map_err(kvm_err("get sregs"))?;
        self.fd.set_sregs(&arch::cpu::initial_sregs(sregs, cr3, features)).map_err(kvm_err("set sregs"))?;
        // The states XSAVE can hold (CPUID.0xD.0).
        if features.xsave {
            let states = cpuid
                .as_slice()
                .iter()
                .find(|e| e.function == 0xd && e.index == 0)
                .map(|e| e.eax as u64 | (e.edx as u64) << 32)
                .unwrap_or(0x3);
            let mut xcrs = kvm_xcrs { nr_xcrs: 1, ..Default::default() };
            xcrs.xcrs[0].xcr = 0;
            xcrs.xcrs[0].value = arch::cpu::xcr0(states);
            self.fd.set_xcrs(&xcrs).map_err(kvm_err("set XCR0"))?;
        }
        self.fd.set_regs(&arch::cpu::initial_regs(entry, sp)).map_err(kvm_err("set regs"))?;
        Ok(())
    }

    pub fn regs(&self) -> Result<kvm_regs, VmError> {
        self.fd.get_regs().map_err(kvm_err("get regs"))
    }

    pub fn set_regs(&self, r: &kvm_regs) -> Result<(), VmError> {
        self.fd.set_regs(r).map_err(kvm_err("set regs"))
    }

    pub fn sregs(&self) -> Result<kvm_sregs, VmError> {
        self.fd.get_sregs().map_err(kvm_err("get sregs"))
    }

    pub fn set_sregs(&self, s: &kvm_sregs) -> Result<(), VmError> {
        self.fd.set_sregs(s).map_err(kvm_err("set sregs"))
    }

    pub fn set_msrs(&self, msrs: &Msrs) -> Result<(), VmError> {
        self.fd.set_msrs(msrs).map(|_| ()).map_err(kvm_err("set MSRs"))
    }

    /// Runs until the guest needs the VMM.
    pub fn run(&mut self) -> Result<Exit, VmError> {
        match self.fd.run() {
            Ok(VcpuExit::IoOut(port, _)) => match arch::trap::vector_for_port(port) {
                Some(v) => Ok(Exit::Trap(v)),
                None => Ok(Exit::Unexpected(format!("port write to {port:#x}"))),
            },
            Ok(VcpuExit::IoIn(port, _)) => Ok(Exit::Unexpected(format!("port read from {port:#x}"))),
            Ok(VcpuExit::Shutdown) => Ok(Exit::Shutdown),
            Ok(VcpuExit::Hlt) => Ok(Exit::Unexpected("hlt in ring 0".into())),
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
