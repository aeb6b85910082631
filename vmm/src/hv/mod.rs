//! KVM only: the VM, its memory slots, its vCPUs, and getting a vCPU
//! thread out of KVM_RUN. Nothing here knows about processes or Linux.

//!
//! Each architecture has its `Vm` and `Vcpu` behind the same surface
//! (Firecracker's `vstate` split): `Vm::{new, add_slot, max_vcpus,
//! create_vcpu, doorbell, hwcaps, fpu_config}` and `Vcpu::{id, kicker,
//! clear_kick, run, enter_user, set_root, fpu, set_fpu, set_tls}`; what
//! only one architecture's entry code needs stays in its file.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod imp;
#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod imp;
mod kick;

/// Where a kick found an arm64 vCPU (its entry code's question).
#[cfg(target_arch = "aarch64")]
pub use imp::Stopped;
pub use imp::{Vcpu, Vm};
pub use kick::{current_affinity, current_cpu, pin_current_thread, set_affinity, Kicker};

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

/// Exposes `mapping` to the guest at `gpa` as memory slot `slot`.
///
/// Every slot is made before the guest first runs, and none after:
/// making one waits (synchronize_srcu) for every vCPU inside KVM_RUN, a
/// vCPU parked on a userfault among them, whose fill needs the kernel's
/// lock. Slots made under that lock as memory came into use deadlocked the
/// LTP's mallocstress (60 threads); showing memory as it fills saved 3 to
/// 10 ms of start-up under shadow paging, where KVM allocates and zeroes a
/// slot's reverse maps when it is made.
fn add_slot(vm: &kvm_ioctls::VmFd, slot: u32, gpa: u64, mapping: &crate::memory::HostMapping) -> Result<(), VmError> {
    if let Some(errno) = crate::inject::hit(crate::inject::Point::KvmSlot) {
        return Err(VmError::Kvm { what: "add memory slot", source: kvm_ioctls::Error::new(errno) });
    }
    let region = kvm_bindings::kvm_userspace_memory_region {
        slot,
        flags: 0,
        guest_phys_addr: gpa,
        memory_size: mapping.len(),
        userspace_addr: mapping.as_ptr() as u64,
    };
    // SAFETY: the mapping outlives the VM: the sandbox drops the VM (and
    // with it the slot) before its mappings.
    unsafe { vm.set_user_memory_region(region) }.map_err(kvm_err("add memory slot"))
}

/// An eventfd KVM signals, in the kernel and without an exit, whenever the
/// guest writes to the 4 bytes at `gpa` (which no slot may back).
fn doorbell(vm: &kvm_ioctls::VmFd, gpa: u64) -> Result<vmm_sys_util::eventfd::EventFd, VmError> {
    let fd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK).map_err(|e| VmError::Kvm {
        what: "create eventfd",
        source: kvm_ioctls::Error::new(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    vm.register_ioevent(&fd, &kvm_ioctls::IoEventAddress::Mmio(gpa), kvm_ioctls::NoDatamatch)
        .map_err(kvm_err("register the doorbell's ioeventfd"))?;
    Ok(fd)
}

pub fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { what, source }
}

/// Why the guest stopped running.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// A shim stub reported exception `vector`.
    Trap(u8),
    /// Triple fault: the CPU gave up.
    Shutdown,
    /// KVM_RUN returned EINTR (a kick).
    Interrupted,
    /// A write to the syscall ring's doorbell that KVM did not turn into
    /// an eventfd signal by itself (the server must be woken by hand).
    Doorbell,
    /// The ring stub hands the VMM a call to run (registers as at the
    /// `syscall`), or a call the server ran (result in RAX) to return from.
    RingCall,
    RingReturn,
    /// A call the stub sent straight to the VMM without publishing it
    /// (registers as at the `syscall`).
    RingDirect,
    /// Anything else, described for the report.
    Unexpected(String),
}
