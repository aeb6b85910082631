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
