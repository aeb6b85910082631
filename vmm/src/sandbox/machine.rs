//! The VM and its pool of vCPUs (KVM cannot destroy one vCPU, so they are
//! reused): handing a vCPU to each guest thread that waits for one, each
//! on a host thread of its own; turning the syscall ring on and off for a
//! vCPU; and the trap frame the shim leaves for each.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use zerocopy::{FromBytes, IntoBytes};

use super::ring::RingServer;
use super::{Error, SyscallPath};
use crate::arch::layout::{self, SYSCALL_TRAP_VA};
use crate::arch::regs::TrapFrame;
use crate::arch::ring::{self as ring_abi, Mailbox, MailboxRef};
use crate::arch::{tables, PAGE_SIZE};
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
    entry_cpl: OnceLock<u8>,
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

    pub(super) fn mailbox(&self, cpu: u32) -> Option<MailboxRef<'_>> {
        MailboxRef::new(self.ring_mem.atomic_u64s(ring_abi::mailbox_offset(cpu), (PAGE_SIZE / 8) as usize)?)
    }

    /// Turns the ring on for `vcpu`, which runs `tid`, after a syscall
    /// that came the slow way showed where `syscall` enters (`frame`).
    /// From now on its calls go to the ring's server.
    pub(super) fn ring_on(&self, kernel: &Kernel, vcpu: &Vcpu, tid: Tid, frame: &TrapFrame) -> bool {
        let Some(server) = self.ring.get() else { return false };
        if frame.rip != SYSCALL_TRAP_VA {
            return false;
        }
        self.entry_cpl.get_or_init(|| (frame.cs & 3) as u8);
        let cpu = vcpu.id();
        let mb = Mailbox::default();
        if self.ring_mem.write(ring_abi::mailbox_offset(cpu), mb.as_bytes()).is_err() {
            return false;
        }
        let Some(view) = kernel.lock().ring_attach(cpu, tid, self.ring_user()) else { return false };
        server.attach(cpu, tid);
        // From now on the thread runs on its vCPU's view of the address
        // space, where its own ring pages are and no other vCPU's.
        if vcpu.set_root(view).is_err() || vcpu.set_lstar(ring_abi::lstar(cpu, !self.ring_user())).is_err() {
            self.ring_off(kernel, vcpu);
            let root = kernel.lock().thread_root(tid);
            if let Some(root) = root {
                let _ = vcpu.set_root(root);
            }
            return false;
        }
        server.note_vcpu_cpu();
        true
    }

    /// Turns the ring off for `vcpu` and retires its view: the vCPU must
    /// not run on it again (its thread is leaving it, or gets a new root).
    pub(super) fn ring_off(&self, kernel: &Kernel, vcpu: &Vcpu) {
        if let Some(server) = self.ring.get() {
            server.detach(vcpu.id());
        }
        // KVM must forget the old address space's translations of the
        // mailbox before another process's thread uses it. A thread that
        // never turned the ring on (a child that only exits) left none:
        // the round trip that flushes them cost such a fork ~40 % with
        // 8192 pages resident.
        if kernel.lock().ring_detach(vcpu.id()) {
            let _ = self.ring_mem.invalidate(ring_abi::mailbox_offset(vcpu.id()), PAGE_SIZE);
        }
        let _ = vcpu.set_lstar(SYSCALL_TRAP_VA);
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
        let area = layout::cpu_area_gpa(id);
        let va = layout::cpu_area_va(id);
        let gdt = tables::gdt(va + layout::CPU_TSS_OFFSET);
        let write = |off: u64, b: &[u8]| self.sys.write(off, b).map_err(|e| Error::Setup(e.to_string()));
        write(area + layout::CPU_GDT_OFFSET, gdt.as_bytes())?;
        write(area + layout::CPU_TSS_OFFSET, tables::tss(id).as_bytes())?;
        {
            let mut k = kernel.lock();
            let k = &mut *k;
            let pool = &mut k.phys.tables;
            let kt = &mut k.kernel_tables;
            let map = |kt: &mut crate::arch::PageTables, pool: &mut crate::arch::TablePool, off: u64, w: bool| {
                kt.map_kernel(pool, va + off, area + off, w, false).map_err(|e| Error::Setup(e.to_string()))
            };
            map(kt, pool, layout::CPU_GDT_OFFSET, false)?;
            map(kt, pool, layout::CPU_TSS_OFFSET, false)?;
            for i in 0..layout::IST_PAGES {
                map(kt, pool, layout::CPU_IST_OFFSET + i * PAGE_SIZE, true)?;
            }
        }
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

    pub(super) fn frame(&self, cpu: u32) -> TrapFrame {
        let mut b = [0u8; TrapFrame::LEN];
        let _ = self.sys.read(TrapFrame::slot_offset(cpu), &mut b);
        TrapFrame::read_from_bytes(&b).unwrap_or_default()
    }

    pub(super) fn set_frame(&self, cpu: u32, f: &TrapFrame) -> bool {
        self.sys.write(TrapFrame::slot_offset(cpu), f.as_bytes()).is_ok()
    }
}
