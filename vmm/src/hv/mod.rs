//! KVM only: the VM, its memory slots, its vCPUs, and getting a vCPU
//! thread out of KVM_RUN. Nothing here knows about processes or Linux.

mod kick;
mod vcpu;

pub use kick::{current_affinity, current_cpu, pin_current_thread, set_affinity, Kicker};
pub use vcpu::{Exit, Vcpu};

use kvm_bindings::{kvm_userspace_memory_region, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm, VmFd};

use crate::arch::cpu::CpuFeatures;
use crate::memory::HostMapping;

/// Errors from KVM setup and operation.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("cannot open /dev/kvm: {0} (is KVM enabled, and may this user open /dev/kvm?)")]
    KvmOpen(#[source] kvm_ioctls::Error),
    #[error("/dev/kvm does not answer as KVM (KVM_GET_API_VERSION gave {0}, want 12)")]
    KvmApi(i32),
    #[error("KVM {what}: {source}")]
    Kvm {
        what: &'static str,
        #[source]
        source: kvm_ioctls::Error,
    },
    #[error(transparent)]
    Mmap(#[from] crate::memory::MmapError),
    #[error("this KVM allows {0} vCPUs; all are in use")]
    TooManyVcpus(u32),
}

pub fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { what, source }
}

/// A KVM virtual machine.
pub struct Vm {
    fd: VmFd,
    slots: u32,
    cpuid: CpuId,
    features: CpuFeatures,
    max_vcpus: u32,
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
        Ok(Vm { fd, slots: 0, cpuid, features, max_vcpus })
    }

    /// Exposes `mapping` to the guest at `gpa`.
    pub fn add_slot(&mut self, gpa: u64, mapping: &HostMapping) -> Result<(), VmError> {
        let region = kvm_userspace_memory_region {
            slot: self.slots,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: mapping.len(),
            userspace_addr: mapping.as_ptr() as u64,
        };
        // SAFETY: the mapping outlives the VM: the sandbox drops the VM (and
        // with it the slot) before its mappings.
        unsafe { self.fd.set_user_memory_region(region) }.map_err(kvm_err("add memory slot"))?;
        self.slots += 1;
        Ok(())
    }

    /// The CPUID table the guest sees: what KVM supports.
    pub fn cpuid(&self) -> &CpuId {
        &self.cpuid
    }

    pub fn features(&self) -> CpuFeatures {
        self.features
    }

    /// AT_HWCAP as Linux reports it: CPUID.1:EDX.
    pub fn hwcap(&self) -> u64 {
        self.cpuid.as_slice().iter().find(|e| e.function == 1).map(|e| e.edx as u64).unwrap_or(0)
    }

    /// Most vCPUs KVM allows in one VM.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus
    }

    /// A new vCPU with id `id`, set up for long mode and faultline's
    /// syscall and exception entry.
    pub fn create_vcpu(&self, id: u32) -> Result<Vcpu, VmError> {
        if id >= self.max_vcpus {
            return Err(VmError::TooManyVcpus(self.max_vcpus));
        }
        let fd = self.fd.create_vcpu(id as u64).map_err(kvm_err("create vCPU"))?;
        Vcpu::new(fd, id, &self.cpuid, self.features)
    }

    /// An eventfd KVM signals, in the kernel and without an exit, whenever
    /// the guest writes to the 4 bytes at `gpa` (which no slot may back):
    /// the syscall ring's doorbell.
    pub fn doorbell(&self, gpa: u64) -> Result<vmm_sys_util::eventfd::EventFd, VmError> {
        let fd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK).map_err(|e| VmError::Kvm {
            what: "create eventfd",
            source: kvm_ioctls::Error::new(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        self.fd
            .register_ioevent(&fd, &kvm_ioctls::IoEventAddress::Mmio(gpa), kvm_ioctls::NoDatamatch)
            .map_err(kvm_err("register the doorbell's ioeventfd"))?;
        Ok(fd)
    }
}
