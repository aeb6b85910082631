//! Memory management, in one place: the rules of the memory syscalls
//! (mmap, munmap, mprotect, mremap, madvise, mincore, msync, brk, mlock),
//! overcommit, populating, page faults and copy-on-write, the page cache,
//! reading and writing the program's memory, the OOM killer, kernel
//! memory, and the /proc files that show memory. The syscall handlers in
//! `syscalls::mm` decode their arguments and call these.
//!
//! Below it, `crate::mm` keeps the machine's memory (frames, address
//! spaces and their VMAs, the buddy allocator, swap) and `crate::fault`
//! puts a frame's data in place; this module decides what should happen.

pub(crate) mod accounting;
pub(crate) mod anon_name;
pub(crate) mod brk;
pub(crate) mod fault;
pub(crate) mod kmem;
pub(crate) mod madvise;
pub(crate) mod mincore;
pub(crate) mod mlock;
pub(crate) mod mmap;
pub(crate) mod mprotect;
pub(crate) mod mremap;
pub(crate) mod oom;
mod overcommit;
mod pagecache;
mod populate;
pub(crate) mod procfs;
pub(crate) mod uaccess;
pub(crate) mod uffd;
pub(crate) mod writeback;
pub(crate) mod zoneinfo;

use std::collections::HashMap;

use super::process::Pid;
use super::task::Ctx;
use super::KernelState;
use crate::arch::RingPage;
use crate::mm::{AddressSpace, MapError, MmId, Phys};
use crate::timeline::Prefault;

/// The memory manager's state: every address space, each vCPU's view of
/// one (its syscall ring pages), the fault being resolved, and the OOM
/// killer's. The frames behind them are the machine's (`KernelState::phys`).
pub(crate) struct Mms {
    spaces: HashMap<MmId, Mm>,
    next_id: u32,
    /// PML4 entry of the kernel half every address space shares.
    kernel_half: u64,
    /// Which address space holds each vCPU's view (its syscall ring pages).
    views: HashMap<u32, MmId>,
    /// The process being given a new program, and its new address space:
    /// rows recorded meanwhile belong to it.
    loading: Option<(Pid, MmId)>,
    /// The guest instruction whose fault is being resolved, for the
    /// timeline's `ip` column.
    fault_ip: Option<u64>,
    /// Set while a populate runs the fault path: its events are prefaults.
    prefault: Option<Prefault>,
    /// An OOM victim that is still dying: no other is chosen meanwhile.
    oom_dying: Option<Pid>,
    oom_kills: u64,
}

/// An address space and how many processes use it (vfork children share
/// their parent's until they exec).
struct Mm {
    space: AddressSpace,
    users: u32,
}

impl Mms {
    pub(super) fn new(kernel_half: u64) -> Self {
        Mms {
            spaces: HashMap::new(),
            next_id: 1,
            kernel_half,
            views: HashMap::new(),
            loading: None,
            fault_ip: None,
            prefault: None,
            oom_dying: None,
            oom_kills: 0,
        }
    }

    /// Address space `mm`, if it is still alive.
    pub(crate) fn get(&self, mm: MmId) -> Option<&AddressSpace> {
        self.spaces.get(&mm).map(|m| &m.space)
    }

    pub(crate) fn get_mut(&mut self, mm: MmId) -> Option<&mut AddressSpace> {
        self.spaces.get_mut(&mm).map(|m| &mut m.space)
    }

    /// Address space `mm`, which a live process uses.
    pub(crate) fn space(&self, mm: MmId) -> &AddressSpace {
        &self.spaces[&mm].space
    }

    pub(crate) fn space_mut(&mut self, mm: MmId) -> &mut AddressSpace {
        &mut self.spaces.get_mut(&mm).expect("live address space").space
    }

    pub(crate) fn contains(&self, mm: MmId) -> bool {
        self.spaces.contains_key(&mm)
    }

    /// Every address space.
    pub(crate) fn spaces(&self) -> impl Iterator<Item = &AddressSpace> {
        self.spaces.values().map(|m| &m.space)
    }

    /// Every address space's id (a copy: the caller may change them).
    pub(crate) fn ids(&self) -> Vec<MmId> {
        self.spaces.keys().copied().collect()
    }

    /// A new, empty address space.
    pub(crate) fn create(&mut self, phys: &mut Phys) -> Result<MmId, MapError> {
        let id = self.next_id();
        let space = AddressSpace::new(id, phys, self.kernel_half)?;
        self.spaces.insert(id, Mm { space, users: 1 });
        Ok(id)
    }

    /// dup_mmap(): a copy-on-write copy of `parent`.
    pub(crate) fn fork(&mut self, phys: &mut Phys, parent: MmId) -> Result<MmId, MapError> {
        let id = self.next_id();
        let kernel_half = self.kernel_half;
        let child = self.space_mut(parent).fork(phys, id, kernel_half)?;
        self.spaces.insert(id, Mm { space: child, users: 1 });
        Ok(id)
    }

    /// One more process uses `mm` (CLONE_VM).
    pub(crate) fn share(&mut self, mm: MmId) {
        self.spaces.get_mut(&mm).expect("live address space").users += 1;
    }

    /// The processes using address space `mm` (mm_users, less threads).
    pub(crate) fn users(&self, mm: MmId) -> u32 {
        self.spaces.get(&mm).map_or(0, |m| m.users)
    }

    fn next_id(&mut self) -> MmId {
        let id = MmId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The vCPU view of `mm` that vCPU `cpu` runs on, with `pages` (the
    /// ring's) mapped in it alone: the one it had elsewhere is retired.
    /// Its root, or `None` if the tables are full.
    pub(crate) fn attach_view(
        &mut self,
        phys: &mut Phys,
        cpu: u32,
        mm: MmId,
        pages: &[(u64, u64, RingPage)],
        user: bool,
    ) -> Option<u64> {
        if self.views.get(&cpu) == Some(&mm) {
            if let Some(root) = self.get(mm).and_then(|s| s.view_root(cpu)) {
                return Some(root);
            }
        }
        self.detach_view(phys, cpu);
        let root = self.get_mut(mm)?.make_view(phys, cpu, pages, user).ok()?;
        self.views.insert(cpu, mm);
        Some(root)
    }

    /// Retires vCPU `cpu`'s view, wherever it is; false if it had none.
    pub(crate) fn detach_view(&mut self, phys: &mut Phys, cpu: u32) -> bool {
        let Some(mm) = self.views.remove(&cpu) else { return false };
        if let Some(s) = self.get_mut(mm) {
            s.drop_view(phys, cpu);
        }
        true
    }

    /// Process `pid` is being given the new address space `mm` (exec), or
    /// no longer (`None`).
    pub(crate) fn set_loading(&mut self, loading: Option<(Pid, MmId)>) {
        self.loading = loading;
    }

    /// Processes the OOM killer has killed.
    pub(crate) fn oom_kills(&self) -> u64 {
        self.oom_kills
    }
}

impl KernelState {
    /// Makes the MMU forget the translations changed since the last
    /// flush (`fault::flush_stale`): before any vCPU runs on.
    pub(crate) fn flush_stale(&mut self) {
        crate::fault::flush_stale(&mut self.phys, &*self.backing);
    }

    /// Drops one user of an address space; the last tears it down.
    pub(crate) fn put_mm(&mut self, id: MmId) {
        let Some(mm) = self.mm.spaces.get_mut(&id) else { return };
        mm.users -= 1;
        if mm.users == 0 {
            // Dirty shared pages of host files (a read-write bind) reach
            // them before the mappings go, as on exit.
            self.writeback_range(id, 0, u64::MAX);
            let files = self.mapped_files(id);
            let mm = self.mm.spaces.remove(&id).expect("present");
            mm.space.release(&mut self.phys);
            self.flush_stale();
            for id in files {
                self.release_if_orphan(id);
            }
        }
    }
}

/// Runs `f` on the caller's address space, then drops the host pages of
/// frames it freed.
pub(crate) fn with_space<R>(ctx: &mut Ctx, f: impl FnOnce(&mut AddressSpace, &mut Phys) -> R) -> R {
    let mm = ctx.mm();
    let k = &mut *ctx.k;
    let r = f(k.mm.space_mut(mm), &mut k.phys);
    k.flush_stale();
    r
}

#[cfg(test)]
mod tests;
