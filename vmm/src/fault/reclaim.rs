//! Reclaim: CLOCK (second chance) over resident, unpinned pages, using the
//! accessed and dirty bits of the guest's own page tables, as Linux uses
//! PTE young bits.
//!
//! A page whose accessed bit is set gets a second chance: the bit is
//! cleared and the MMU is made to notice (toggling the host page's
//! protection invalidates KVM's shadow or EPT entry through the mmu
//! notifier, so the guest's next access walks its tables and sets the bit
//! again). A page found with the bit clear is evicted: dirty contents go to
//! swap, clean ones (the file's bytes, or zeroes) are just dropped, and the
//! host page is freed with MADV_DONTNEED so its next touch faults through
//! userfaultfd again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use std::collections::HashMap;

use super::backing::{Backing, FaultError, Page, State};
use crate::arch::paging::{ACCESSED, DIRTY};
use crate::arch::PAGE_SIZE;
use crate::timeline::{Access, Event, EventKind, Origin};

/// Pages reclaimed per pass: Linux's SWAP_CLUSTER_MAX, smaller for small
/// budgets so a pass never empties a tiny working set.
fn batch(budget: u64) -> u64 {
    (budget / 16).clamp(1, 32)
}

/// Pages the aging hand passes over per page faulted in (see `age`).
const AGE_STEP: usize = 4;

/// Residency (of the budget) from which pages are aged ahead of need.
fn ages_from(budget: u64) -> u64 {
    budget - budget / 4
}

/// Reclaimable pages below which memory counts as exhausted: Linux's min
/// watermark, min_free_kbytes = sqrt(16 × RAM in KiB). Without it, a
/// program whose memory is all unreclaimable would live on by evicting
/// and refaulting its last few clean pages (its own code) forever.
pub(super) fn reserve(budget: u64) -> u64 {
    let kib = budget.saturating_mul(4);
    let min_free_kib = ((kib.saturating_mul(16)) as f64).sqrt() as u64;
    (min_free_kib / 4).min(budget / 4).max(1)
}

/// The page a queue entry stands for, if it is still that page and
/// resident; otherwise the entry is spent (and the page, if any, marked as
/// having none).
fn live(pages: &mut HashMap<u64, Page>, (gpa, gen): (u64, u64)) -> Option<&mut Page> {
    let page = pages.get_mut(&gpa).filter(|p| p.gen == gen)?;
    if !page.resident {
        page.in_clock = false;
        return None;
    }
    Some(page)
}

impl Backing {
    /// The page-table entry at offset `pte` of the system slot.
    fn pte(&self, pte: u64) -> Option<&AtomicU64> {
        crate::arch::paging::PageTables::entry_at(&self.sys, pte)
    }

    /// Reads and clears the accessed and dirty bits of the PTE at `pte`.
    /// A page made PROT_NONE keeps its bits in the non-present entry.
    pub(super) fn take_accessed_dirty(&self, pte: u64) -> (bool, bool) {
        let v = self.pte(pte).map_or(0, |e| e.fetch_and(!(ACCESSED | DIRTY), Ordering::AcqRel));
        (v & ACCESSED != 0, v & DIRTY != 0)
    }

    /// Reads a PTE's dirty bit without clearing it.
    fn peek_dirty(&self, pte: u64) -> bool {
        self.pte(pte).is_some_and(|e| e.load(Ordering::Acquire) & DIRTY != 0)
    }

    /// Resident pages reclaim could free: clean ones, and dirty ones as far
    /// as swap has room.
    fn reclaimable(&self, st: &State) -> u64 {
        let (mut clean, mut dirty) = (0u64, 0u64);
        for p in st.pages.values().filter(|p| p.resident && !p.pinned) {
            if p.dirty || self.peek_dirty(p.pte) {
                dirty += 1;
            } else {
                clean += 1;
            }
        }
        let room = (st.swap.capacity() - st.swap.used()) as u64;
        clean + dirty.min(room)
    }

    /// Ages pages ahead of need, as kswapd does before memory runs short:
    /// once residency passes 3/4 of the budget, each page faulted in moves
    /// the hand over a few more pages, clearing accessed bits (and making
    /// the MMU notice) without evicting. A reclaim pass then finds that the
    /// pages used since are marked, and the rest not. Without this, the
    /// first pass, which runs while the program is stopped in its fault,
    /// would find every page marked, clear a whole lap and evict the oldest
    /// pages, hot or not.
    pub(super) fn age(&self, st: &mut State) {
        if st.resident < ages_from(self.budget.resident_pages) {
            return;
        }
        for _ in 0..AGE_STEP.min(st.clock.len()) {
            let Some(entry) = st.clock.pop_front() else { break };
            let Some(page) = live(&mut st.pages, entry) else { continue };
            if !page.pinned {
                let (accessed, dirty) = self.take_accessed_dirty(page.pte);
                page.dirty |= dirty;
                if accessed {
                    let _ = self.ram.invalidate(entry.0 - self.ram_gpa, PAGE_SIZE);
                }
            }
            st.clock.push_back(entry);
        }
    }

    /// Frees at least one resident page, or fails: out of memory.
    pub(super) fn reclaim(&self, st: &mut State, at: Instant) -> Result<(), FaultError> {
        if self.reclaimable(st) <= reserve(self.budget.resident_pages) {
            return Err(FaultError::OutOfMemory { gva: 0 });
        }
        let want = batch(self.budget.resident_pages);
        let mut freed = 0;
        // Every page is met at most twice (once to clear its bit, once to
        // evict it); more means nothing can go.
        let mut left = 2 * st.clock.len() + 1;
        while freed < want && left > 0 {
            left -= 1;
            let Some(entry) = st.clock.pop_front() else { break };
            let gpa = entry.0;
            let Some(page) = live(&mut st.pages, entry) else { continue };
            if page.pinned {
                st.clock.push_back(entry);
                continue;
            }
            let (accessed, dirty) = self.take_accessed_dirty(page.pte);
            page.dirty |= dirty;
            if accessed {
                // Second chance: make the MMU set the bit again on use.
                let _ = self.ram.invalidate(gpa - self.ram_gpa, PAGE_SIZE);
                st.clock.push_back(entry);
                continue;
            }
            let start = Instant::now();
            if page.dirty {
                let mut buf = [0u8; PAGE_SIZE as usize];
                // The page is resident: reading it cannot fault.
                if self.ram.read(gpa - self.ram_gpa, &mut buf).is_err() {
                    st.clock.push_back(entry);
                    continue;
                }
                match st.swap.put(&buf) {
                    Some(slot) => page.swap = Some(slot),
                    None => {
                        // No swap left for it: it stays.
                        st.clock.push_back(entry);
                        continue;
                    }
                }
            }
            let _ = self.ram.discard(gpa - self.ram_gpa, PAGE_SIZE);
            page.resident = false;
            page.dirty = false;
            page.in_clock = false;
            let (gva, region) = (page.gva, page.region);
            st.resident -= 1;
            st.evictions += 1;
            freed += 1;
            let latency = start.elapsed().as_nanos() as u64;
            let e = Event::page(Some(region), gva, gpa, Access::None, EventKind::Evict, Origin::Vmm, latency);
            Backing::record(st, e, at);
        }
        if freed == 0 {
            return Err(FaultError::OutOfMemory { gva: 0 });
        }
        if let Some(sink) = self.on_reclaim.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let c = Backing::counters_of(st);
            let kib = PAGE_SIZE / 1024;
            sink(&format!(
                "reclaim: evicted {freed} pages; VmRSS {} kB, VmHWM {} kB, VmSwap {} kB, Mlocked {} kB; \
                 MemFree {} kB, SwapFree {} kB; {} evictions, {} swap-ins so far",
                c.resident * kib,
                c.peak_resident * kib,
                c.swapped * kib,
                c.pinned * kib,
                self.budget.resident_pages.saturating_sub(c.resident) * kib,
                (c.swap_capacity - c.swapped) * kib,
                c.evictions,
                c.swap_ins
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_follows_min_free_kbytes() {
        // 64 MiB: min_free_kbytes = sqrt(65536 * 16) = 1024 KiB = 256 pages.
        assert_eq!(reserve(16384), 256);
        // 16 MiB: 512 KiB.
        assert_eq!(reserve(4096), 128);
        // Tiny budgets keep three quarters usable.
        assert_eq!(reserve(16), 4);
        assert_eq!(reserve(1), 1);
        assert_eq!(batch(16384), 32);
        assert_eq!(batch(64), 4);
    }
}
