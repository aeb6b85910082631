//! Fault-around: the cached neighbours of a file fault mapped with it.

use super::super::super::KernelState;
use super::Actor;
use crate::arch::PAGE_SIZE;
use crate::fault::Filled;
use crate::mm::{Backing, MmId, Residency, Vma};
use crate::timeline::{Access, Event, EventKind};

impl KernelState {
    /// Linux's do_fault_around with filemap_map_pages: after a read fault
    /// at `page` of file mapping `vma`, maps the pages of the window around
    /// it that are in the page cache with their data, inside the file, and
    /// not mapped yet, as the fault itself would (read-only unless the
    /// mapping is shared and writable); no I/O. A page the cache held from
    /// the start (`PageCache`) and the guest has not needed yet comes into
    /// it first, from the host's copy. The window starts
    /// at the fault's address rounded down to the fault-around size (not
    /// below the VMA) and holds that many pages, within the VMA and the
    /// page table. Each page mapped is a `fault-around` row, with the
    /// fault's thread and instruction (`who`), not a fault of its own.
    pub(super) fn fault_around(&mut self, mm: MmId, page: u64, vma: &Vma, who: Actor) {
        let nr = self.cfg.fault_around_pages;
        if nr <= 1 {
            return;
        }
        let Backing::File { file, .. } = &vma.backing else { return };
        let file = file.id;
        let Some(cached) = self.phys.cache.get(&file) else { return };
        let file_pages = cached.data.size().div_ceil(PAGE_SIZE);
        let start = (page & !(nr * PAGE_SIZE - 1)).max(vma.start);
        let table_end = (start | (512 * PAGE_SIZE - 1)) + 1;
        let end = (start + nr * PAGE_SIZE).min(vma.end).min(table_end);
        // Each candidate: its address and page, and its frame if the guest's
        // cache has it with its data already.
        let mut cand = Vec::new();
        let space = self.mm.space(mm);
        let mut va = start;
        while va < end {
            if va != page && !space.pte(va).mapped() {
                if let Some(index) = vma.file_page(va).map(|(_, index)| index).filter(|&index| index < file_pages) {
                    match cached.pages.get(&index).copied() {
                        Some(g) if self.phys.frame(g).is_some_and(|f| f.residency == Residency::Resident) => {
                            cand.push((va, index, Some(g)))
                        }
                        Some(_) => {}
                        // Not in the guest's cache yet: in it from the
                        // start if the host's holds it (`PageCache`).
                        None => cand.push((va, index, None)),
                    }
                }
            }
            va += PAGE_SIZE;
        }
        let writable = vma.shared && vma.perms.write;
        let mut evicted = Vec::new();
        for (va, index, gpa) in cand {
            let gpa = match gpa {
                Some(g) => g,
                None if self.precached(file, index) => match self.cache_page_as(file, index, true, &mut evicted) {
                    Ok((g, Filled::PreCached)) => g,
                    // The host dropped it meanwhile: read in, not mapped.
                    Ok(_) => continue,
                    Err(_) => break,
                },
                None => continue,
            };
            let k = &mut *self;
            let space = k.mm.space_mut(mm);
            if space.map_page(&mut k.phys, va, gpa, vma.perms, writable, vma.locked).is_err() {
                break;
            }
            let region = self.mm.space(mm).region_of(va).unwrap_or(vma.region);
            let e = Event {
                pid: who.pid,
                tid: who.tid,
                ..Event::new(EventKind::FaultAround, Access::Read, who.origin, region, va, gpa)
            };
            self.record(e, who.at);
        }
        self.note_evictions(&evicted, who.at);
    }
}
