//! The VM and its pool of vCPUs (KVM cannot destroy one vCPU, so they are
//! reused): handing a vCPU to each guest thread that waits for one, each
//! on a host thread of its own; turning the syscall ring on and off for a
//! vCPU; and the trap frame the shim leaves for each.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::ring::RingServer;
use super::{Error, SyscallPath};
use crate::arch::layout;
use crate::arch::ring::{self as ring_abi, MailboxRef};
use crate::arch::PAGE_SIZE;
use crate::hv::{Vcpu, Vm};
use crate::kernel::{Kernel, Stop, Tid};
use crate::memory::HostMapping;

/// The VM and its vCPUs.
pub struct Machine {
    pub vm: Vm,
    pub sys: Arc<HostMapping>,
    /// The ring slot: the stub's code and the mailboxes.
    pub ring_mem: Arc<HostMapping>,
    idle: Mutex<Vec<Vcpu>>,
    created: Mutex<u32>,
    pub(super) path: SyscallPath,
    /// The syscall ring's server, once started.
    pub ring: OnceLock<Arc<RingServer>>,
    /// Where `syscall` enters, as the first one showed: ring 0 (bare
    /// metal) or ring 3 (PVM).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) entry_cpl: OnceLock<u8>,
}

impl Machine {
    pub fn new(vm: Vm, sys: Arc<HostMapping>, ring_mem: Arc<HostMapping>, path: SyscallPath) -> Self {
        Machine {
            vm,
            sys,
            ring_mem,
            idle: Mutex::new(Vec::new()),
            created: Mutex::new(0),
            path,
            ring: OnceLock::new(),
            entry_cpl: OnceLock::new(),
        }
    }

    /// Whether the ring's pages are user pages: the stub runs in ring 3.
    pub(super) fn ring_user(&self) -> bool {
        self.path != SyscallPath::RingCpl0 && self.entry_cpl.get() == Some(&3)
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) fn mailbox(&self, cpu: u32) -> Option<MailboxRef<'_>> {
        MailboxRef::new(self.ring_mem.atomic_u64s(ring_abi::mailbox_offset(cpu), (PAGE_SIZE / 8) as usize)?)
    }

    /// A vCPU: an idle one, or a new one with its GDT, TSS and exception
    /// stack set up and mapped.
    fn vcpu(&self, kernel: &Kernel) -> Result<Vcpu, Error> {
        if let Some(v) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(v);
        }
        let mut n = self.created.lock().unwrap_or_else(|p| p.into_inner());
        let id = *n;
        if id >= layout::MAX_VCPUS {
            return Err(Error::Setup(format!("more than {} threads at once", layout::MAX_VCPUS)));
        }
        self.prepare_cpu(kernel, id)?;
        let v = self.vm.create_vcpu(id, &self.sys)?;
        *n += 1;
        Ok(v)
    }

    pub(super) fn put(&self, v: Vcpu) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    /// Starts a host thread for every guest thread waiting for a vCPU.
    pub fn spawn_pending(self: &Arc<Self>, kernel: &Arc<Kernel>) -> Result<(), Error> {
        self.spawn_pending_ending_hold(kernel, None)
    }

    /// [`spawn_pending`](Self::spawn_pending), from a vCPU thread about to
    /// go back in after faultline held it for a page fault since `hold`'s
    /// instant: one lock for both.
    pub(super) fn spawn_pending_ending_hold(
        self: &Arc<Self>,
        kernel: &Arc<Kernel>,
        hold: Option<(Tid, Instant)>,
    ) -> Result<(), Error> {
        for tid in kernel.take_spawns_ending_hold(hold) {
            let vcpu = match self.vcpu(kernel) {
                Ok(v) => v,
                Err(e) => {
                    kernel.stop_all(Stop::Failure(format!("cannot give thread {tid} a vCPU: {e}")));
                    return Err(e);
                }
            };
            let (k, m) = (kernel.clone(), self.clone());
            std::thread::Builder::new()
                .name(format!("vcpu-{tid}"))
                .spawn(move || super::vcpu::run_thread(&k, &m, tid, vcpu))
                .map_err(Error::Thread)?;
        }
        Ok(())
    }
}
