//! Flushing translations that changed: a page-table entry the kernel
//! rewrote (mprotect, munmap, fork, a copy-on-write break, …) may still be
//! cached by the MMU, in a shadow page table (KVM's, under shadow paging)
//! or a TLB entry (EPT). The kernel writes guest tables from the host, so
//! KVM never sees the write; what it does see is the host's MMU notifier
//! on the frames' host pages, which drops every translation of them on
//! every vCPU. The guest's next access walks its tables afresh.

use super::backing::Backing;
use crate::arch::PAGE_SIZE;
use crate::mm::{Phys, Residency};

/// Makes the MMU forget every frame noted stale, before any vCPU runs on.
/// Contiguous frames go in one call; the zero page's frames (write-
/// protected to see their first write) stay write-protected. A failure is
/// kept in [`Phys::flush_failed`]: the guest could go on reaching frames
/// it no longer maps, so the kernel ends the run.
pub fn flush_stale(phys: &mut Phys, backing: &dyn Backing) {
    let frames = phys.take_stale();
    let protected = |phys: &Phys, gpa: u64| phys.frame(gpa).is_some_and(|f| f.residency == Residency::Zero);
    let mut i = 0;
    while i < frames.len() {
        let start = frames[i];
        let zero = protected(phys, start);
        let mut end = start + PAGE_SIZE;
        i += 1;
        while i < frames.len() && frames[i] == end && protected(phys, end) == zero {
            end += PAGE_SIZE;
            i += 1;
        }
        if start.checked_sub(phys.ram_base()).is_none_or(|off| off + (end - start) > phys.ram().len()) {
            continue;
        }
        if let Err(e) = backing.invalidate(phys.host_addr(start), end - start, zero) {
            phys.flush_failed.get_or_insert_with(|| {
                format!("cannot flush the guest's stale translations of guest frames {start:#x}-{end:#x}: {e}")
            });
        }
    }
}
