//! Overcommit: whether more memory may be committed, under
//! vm.overcommit_memory (mm/util.c `__vm_enough_memory`), and RLIMIT_AS.

use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::{OVERCOMMIT_ALWAYS, OVERCOMMIT_NEVER};
use crate::kernel::abi::resource::RLIMIT_AS;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;
use crate::kernel::KernelState;
use crate::mm::{AddressSpace, MmId};

/// Bytes of `[start, end)` not already mapped (for RLIMIT_AS checks).
pub(crate) fn new_bytes(space: &AddressSpace, start: u64, end: u64) -> u64 {
    let mapped: u64 = space.vmas.overlapping(start, end).map(|v| v.end.min(end) - v.start.max(start)).sum();
    (end - start) - mapped
}

/// RLIMIT_AS: the caller's address space may grow by `extra` bytes.
pub(crate) fn check_as(ctx: &Ctx, extra: u64) -> Result<(), Errno> {
    let limit = ctx.proc().limits.cur(RLIMIT_AS);
    if ctx.k.mm.space(ctx.mm()).vmas.total().saturating_add(extra) > limit {
        return Err(ENOMEM);
    }
    Ok(())
}

impl KernelState {
    /// __vm_enough_memory(): whether `pages` more may be committed, under
    /// vm.overcommit_memory. 0 (the heuristic) refuses one request larger
    /// than RAM plus swap; 1 allows everything; 2 (strict) keeps the total
    /// committed below CommitLimit less the admin and user reserves.
    /// vm.admin_reserve_kbytes as Linux sets it at boot: 1/32 of free
    /// memory, at most 8 MiB (in pages).
    pub(crate) fn admin_reserve_pages(&self) -> u64 {
        (self.phys.budget.resident_pages / 32).min(2048)
    }

    /// vm.user_reserve_kbytes: 1/32 of free memory, at most 128 MiB.
    pub(crate) fn user_reserve_pages(&self) -> u64 {
        (self.phys.budget.resident_pages / 32).min(32768)
    }

    pub(crate) fn enough_memory(&self, mm: MmId, pages: u64) -> Result<(), Errno> {
        let ram = self.phys.budget.resident_pages;
        let swap = self.phys.budget.swap_pages;
        match self.cfg.overcommit {
            OVERCOMMIT_ALWAYS => Ok(()),
            OVERCOMMIT_NEVER => {
                // __vm_enough_memory: the program is no admin, so the admin
                // reserve is kept back, and a process may not take the
                // user reserve's last total_vm/32. The new pages count
                // already, and the sum must stay below what is allowed.
                let total_vm = self.mm.get(mm).map_or(0, |m| m.vmas.total() / PAGE_SIZE);
                let allowed = self
                    .commit_limit()
                    .saturating_sub(self.admin_reserve_pages())
                    .saturating_sub((total_vm / 32).min(self.user_reserve_pages()));
                if self.committed_pages() + pages >= allowed {
                    return Err(ENOMEM);
                }
                Ok(())
            }
            _ => {
                if pages > ram + swap {
                    return Err(ENOMEM);
                }
                Ok(())
            }
        }
    }
}
