//! Fault-around: the cached neighbours of a file fault mapped with it.

use super::super::super::KernelState;
use super::Actor;
use crate::arch::PAGE_SIZE;
use crate::mm::{Backing, MmId, Vma};
use crate::timeline::{Access, Event, EventKind};

impl KernelState {
    /// Linux's do_fault_around with filemap_map_pages: after a read fault
    /// at `page` of file mapping `vma`, maps the pages of the window around
    /// it that are in the page cache with their data, inside the file, and
    /// not mapped yet, as the fault itself would (read-only unless the
    /// mapping is shared and writable); no I/O, no copy. The window starts
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
        let Some(cached) = self.phys.cache.get(&file.id) else { return };
        let file_pages = cached.data.size().div_ceil(PAGE_SIZE);
        let start = (page & !(nr * PAGE_SIZE - 1)).max(vma.start);
        let table_end = (start | (512 * PAGE_SIZE - 1)) + 1;
        let end = (start + nr * PAGE_SIZE).min(vma.end).min(table_end);
        let mut cand = Vec::new();
        let space = self.mm.space(mm);
        let mut va = start;
        while va < end {
            if va != page && !space.pte(va).mapped() {
                let gpa = vma
                    .file_page(va)
                    .map(|(_, index)| index)
                    .filter(|&index| index < file_pages)
                    .and_then(|index| cached.pages.get(&index).copied());
                let ready =
                    gpa.and_then(|g| self.phys.frame(g)).is_some_and(|f| f.residency == crate::mm::Residency::Resident);
                if let (Some(g), true) = (gpa, ready) {
                    cand.push((va, g));
                }
            }
            va += PAGE_SIZE;
        }
        let writable = vma.shared && vma.perms.write;
        for (va, gpa) in cand {
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
    }
}
