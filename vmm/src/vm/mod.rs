//! VM plumbing: /dev/kvm, memory slots and the one vCPU.

mod kick;
mod memory;
mod vcpu;

pub use kick::{current_affinity, current_cpu, pin_current_thread, set_affinity, Kicker};
pub use memory::HostMapping;
pub use vcpu::{Exit, Vcpu};

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VmFd};

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
    #[error("cannot map {size} bytes of host memory for guest {what}: {source}")]
    Mmap {
        what: &'static str,
        size: u64,
        #[source]
        source: std::io::Error,
    },
}

pub fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { what, source }
}

/// A KVM virtual machine with two memory slots: system and RAM.
pub struct Vm {
    kvm: Kvm,
    fd: VmFd,
    slots: u32,
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
        // and outside both slots.
        fd.set_tss_address(0xfffb_d000).map_err(kvm_err("set TSS address"))?;
        Ok(Vm { kvm, fd, slots: 0 })
    }

    pub fn kvm(&self) -> &Kvm {
        &self.kvm
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

    pub fn create_vcpu(&self) -> Result<Vcpu, VmError> {
        let fd = self.fd.create_vcpu(0).map_err(kvm_err("create vCPU"))?;
        Ok(Vcpu::new(fd))
    }
}
