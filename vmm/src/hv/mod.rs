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
fn add_slot(vm: &kvm_ioctls::VmFd, slot: u32, gpa: u64, mapping: &crate::memory::HostMapping) -> Result<(), VmError> {
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

/// A host mapping shown to the guest a memory slot at a time, as it comes
/// into use: guest RAM as frames are handed out, the system slot as page
/// tables are. Making a slot costs KVM in proportion to its size (under
/// shadow paging it allocates and zeroes the slot's reverse maps then:
/// 2.5 ms and 8 MiB of host kernel memory for the 4 GiB frame window of
/// `--mem 1G`, measured here), and most runs use a small part of either.
/// The first slot is 64 MiB and each next one doubles what is shown, so
/// 32 GiB takes 10 slots.
pub struct GrowingSlots {
    vm: std::sync::Arc<kvm_ioctls::VmFd>,
    gpa: u64,
    mem: std::sync::Arc<crate::memory::HostMapping>,
    /// Bytes of `mem` from its start that the guest can reach.
    shown: u64,
    next_slot: u32,
    end_slot: u32,
}

impl GrowingSlots {
    /// The first slot's size.
    const FIRST: u64 = 64 << 20;
    /// Slot numbers: each set of growing slots has this many, above the
    /// fixed slots `Vm::add_slot` makes (32 GiB takes 10).
    const SLOTS_EACH: u32 = 16;

    fn new(
        vm: std::sync::Arc<kvm_ioctls::VmFd>,
        set: u32,
        gpa: u64,
        mem: std::sync::Arc<crate::memory::HostMapping>,
    ) -> Self {
        let first = (set + 1) * Self::SLOTS_EACH;
        GrowingSlots { vm, gpa, mem, shown: 0, next_slot: first, end_slot: first + Self::SLOTS_EACH }
    }

    /// Makes at least the first `len` bytes of the mapping reachable by
    /// the guest.
    pub fn show(&mut self, len: u64) -> Result<(), VmError> {
        let len = len.min(self.mem.len());
        while self.shown < len {
            if self.next_slot == self.end_slot {
                return Err(VmError::Kvm { what: "add memory slot", source: kvm_ioctls::Error::new(libc::ENOSPC) });
            }
            if let Some(errno) = crate::inject::hit(crate::inject::Point::KvmSlot) {
                return Err(VmError::Kvm { what: "add memory slot", source: kvm_ioctls::Error::new(errno) });
            }
            let size = self.shown.max(Self::FIRST).min(self.mem.len() - self.shown);
            let region = kvm_bindings::kvm_userspace_memory_region {
                slot: self.next_slot,
                flags: 0,
                guest_phys_addr: self.gpa + self.shown,
                memory_size: size,
                userspace_addr: self.mem.as_ptr() as u64 + self.shown,
            };
            // SAFETY: the range is inside `mem`, which this keeps mapped
            // until it lets go of the VM (fields drop in order, `vm` first).
            unsafe { self.vm.set_user_memory_region(region) }.map_err(kvm_err("add memory slot"))?;
            self.next_slot += 1;
            self.shown += size;
        }
        Ok(())
    }
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
