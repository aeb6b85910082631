//! Reclaim: CLOCK (second chance) over resident, evictable frames, using the
//! accessed and dirty bits of every page-table entry that maps them (found
//! through the reverse map), as Linux uses PTE young bits.
//!
//! A frame any of whose mappings was accessed gets a second chance: the
//! bits are cleared and the MMU is made to notice (write-protecting the
//! host page for a moment, `Backing::invalidate`, invalidates KVM's shadow
//! or EPT entries through the MMU notifier, so the guest's next access
//! walks its tables and sets the bit again). A frame found unaccessed is
//! evicted: dirty anonymous and shared memory goes to swap, dirty file pages are written back, clean ones are
//! dropped; the host page is freed with MADV_DONTNEED so its next touch
//! faults through userfaultfd again and comes back with what it held.
//!
//! When reclaim runs is the page allocator's watermarks' call, as on
//! Linux: a page wanted while no zone is above its low watermark wakes
//! "kswapd", which reclaims until one is above high; the page is then
//! taken if a zone is above min, and otherwise memory is out (the OOM
//! killer). kswapd runs here in the faulting thread, at once, rather than
//! beside it: the outcome is the same pages evicted, at the same moments
//! on every run. `--rss-limit` sets the RAM the allocator has (MemTotal),
//! so the budget and the watermarks are one thing: reclaim keeps residency
//! a low watermark's worth under the limit instead of at it.

use std::time::Instant;

use super::backing::Backing;
use super::resolve::FaultError;
use crate::arch::paging::{entry_at, peek_dirty, take_accessed_dirty};
use crate::arch::PAGE_SIZE;
use crate::mm::{Content, Frame, FrameKind, Mapping, Phys, Residency, Wmark};

/// A frame reclaim took away, for the timeline.
#[derive(Clone, Copy, Debug)]
pub struct Evicted {
    pub gpa: u64,
    /// A mapping of it (the first), to name the region.
    pub mapping: Option<Mapping>,
    pub latency_ns: u64,
}

/// Frames the aging hand passes over per frame made resident (see `age`).
const AGE_STEP: usize = 4;

/// Residency (of the budget) from which frames are aged ahead of need.
fn ages_from(budget: u64) -> u64 {
    budget - budget / 4
}

/// Reclaimable frames below which memory counts as exhausted: the min
/// watermarks' sum, min_free_kbytes (sqrt(16 × RAM in KiB)) in pages.
/// Without it, a program whose memory is all unreclaimable would live on
/// by evicting and refaulting its last few clean pages (its own code)
/// forever.
pub fn reserve(budget: u64) -> u64 {
    (crate::mm::buddy::min_free_kbytes(budget) / 4).max(1)
}

/// Reads and clears the accessed and dirty bits of every mapping of `f`.
fn take_bits(phys: &Phys, f: &Frame) -> (bool, bool) {
    let mem = phys.tables.mem();
    let (mut a, mut d) = (false, false);
    for m in &f.maps {
        if let Some(e) = entry_at(mem, m.pte) {
            let (ea, ed) = take_accessed_dirty(e);
            a |= ea;
            d |= ed;
        }
    }
    (a, d)
}

fn any_dirty(phys: &Phys, f: &Frame) -> bool {
    let mem = phys.tables.mem();
    f.dirty || f.maps.iter().any(|m| entry_at(mem, m.pte).is_some_and(peek_dirty))
}

/// Whether evicting `f` needs swap (its data exists nowhere else).
fn needs_swap(phys: &Phys, f: &Frame) -> bool {
    match f.content {
        Content::Zero => true,
        Content::File { file, .. } => {
            f.kind == FrameKind::Shmem || phys.cache.get(&file).is_none_or(|c| c.data.memory_only())
        }
    }
}

/// Resident frames reclaim could free: clean ones, and dirty ones as far
/// as swap has room (or their file takes them back).
fn reclaimable(phys: &Phys) -> u64 {
    let (mut free, mut swapped) = (0u64, 0u64);
    for (_, f) in phys.all_frames().filter(|(_, f)| f.evictable()) {
        if any_dirty(phys, f) && needs_swap(phys, f) {
            swapped += 1;
        } else {
            free += 1;
        }
    }
    let room = (phys.swap.capacity() - phys.swap.used()) as u64;
    free + swapped.min(room)
}

/// Ages frames ahead of need, as kswapd does before memory runs short: once
/// residency passes 3/4 of the budget, each frame made resident moves the
/// hand over a few more, clearing accessed bits (and making the MMU notice)
/// without evicting. A reclaim pass then finds the frames used since
/// marked, and the rest not. Without this, the first pass, which runs while
/// the program is stopped in its fault, would find every frame marked,
/// clear a whole lap and evict the oldest, hot or not.
pub fn age(phys: &mut Phys, backing: &dyn Backing) {
    if phys.used_pages() < ages_from(phys.budget.resident_pages) {
        return;
    }
    for _ in 0..AGE_STEP.min(phys.clock.len()) {
        let Some((gpa, gen)) = phys.clock.pop_front() else { break };
        let Some(f) = phys.frame(gpa).filter(|f| f.clock_gen == Some(gen)) else { continue };
        if f.residency != Residency::Resident {
            phys.update(gpa, |f| f.clock_gen = None);
            continue;
        }
        if f.evictable() {
            let (accessed, dirty) = take_bits(phys, f);
            if dirty {
                phys.update(gpa, |f| f.dirty = true);
            }
            if accessed {
                let _ = backing.invalidate(phys.host_addr(gpa), PAGE_SIZE, false);
            }
        }
        phys.clock.push_back((gpa, gen));
    }
}

/// Makes room for one more page of RAM: below the low watermark, reclaims
/// until above high (kswapd); fails (out of memory) when even the min
/// watermark cannot be met.
pub fn make_room(phys: &mut Phys, backing: &dyn Backing, evicted: &mut Vec<Evicted>) -> Result<(), FaultError> {
    phys.sync_tables();
    if phys.buddy.watermark_ok(0, Wmark::Low) {
        return Ok(());
    }
    if phys.budget.trapped && reclaimable(phys) > reserve(phys.budget.resident_pages) {
        shrink(phys, backing, 0, evicted);
    }
    if phys.buddy.watermark_ok(0, Wmark::Min) {
        return Ok(());
    }
    Err(FaultError::OutOfMemory)
}

/// Makes room for `n` more pages of kernel memory, which it takes only
/// above the low watermark: reclaims while taking them would go below it,
/// until they fit above high. The caller takes them, or fails.
pub fn make_room_for(phys: &mut Phys, backing: &dyn Backing, n: u64, evicted: &mut Vec<Evicted>) {
    phys.sync_tables();
    if phys.buddy.room_above(Wmark::Low) >= n {
        return;
    }
    if phys.budget.trapped && reclaimable(phys) > reserve(phys.budget.resident_pages) {
        shrink(phys, backing, n, evicted);
    }
}

/// kswapd's balance_pgdat(): evicts with the CLOCK hand until a zone is
/// above its high watermark (with `extra` pages more free), or nothing
/// more can go.
fn shrink(phys: &mut Phys, backing: &dyn Backing, extra: u64, evicted: &mut Vec<Evicted>) {
    // Every frame is met at most twice (once to clear its bits, once to
    // evict it); more means nothing can go.
    let mut left = 2 * phys.clock.len() + 1;
    let enough = |phys: &Phys| {
        phys.buddy.watermark_ok(0, Wmark::High) && (extra == 0 || phys.buddy.room_above(Wmark::High) >= extra)
    };
    while !enough(phys) && left > 0 {
        left -= 1;
        let Some((gpa, gen)) = phys.clock.pop_front() else { break };
        let Some(f) = phys.frame(gpa).filter(|f| f.clock_gen == Some(gen)) else { continue };
        if f.residency != Residency::Resident {
            phys.update(gpa, |f| f.clock_gen = None);
            continue;
        }
        if !f.evictable() {
            phys.clock.push_back((gpa, gen));
            continue;
        }
        let (accessed, dirty) = take_bits(phys, f);
        if dirty {
            phys.update(gpa, |f| f.dirty = true);
        }
        if accessed {
            // Second chance: make the MMU set the bit again on use.
            let _ = backing.invalidate(phys.host_addr(gpa), PAGE_SIZE, false);
            phys.clock.push_back((gpa, gen));
            continue;
        }
        if !evict(phys, gpa, evicted) {
            phys.clock.push_back((gpa, gen));
        }
    }
}

/// Takes frame `gpa` away now (MADV_PAGEOUT); false if it must stay.
pub fn evict_now(phys: &mut Phys, gpa: u64, evicted: &mut Vec<Evicted>) -> bool {
    phys.budget.trapped && phys.frame(gpa).is_some_and(|f| f.evictable()) && evict(phys, gpa, evicted)
}

/// Takes frame `gpa` away; false if it must stay (no swap left for it).
fn evict(phys: &mut Phys, gpa: u64, evicted: &mut Vec<Evicted>) -> bool {
    let start = Instant::now();
    let Some(f) = phys.frame(gpa) else { return false };
    // A writable mapping may have dirtied it without a fault (MADV_PAGEOUT
    // comes here without a CLOCK pass reading the bits).
    let dirty = f.dirty | take_bits(phys, f).1;
    let (swap, content, mapping) = (needs_swap(phys, f), f.content, f.maps.first().copied());
    let mut residency = Residency::Absent;
    if dirty {
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        if !phys.read(gpa, 0, &mut buf) {
            return false;
        }
        if swap {
            match phys.swap.put(&buf) {
                Some(slot) => {
                    residency = Residency::Swapped(slot);
                    phys.counters.swap_outs += 1;
                }
                None => return false,
            }
        } else if let Content::File { file, index } = content {
            // Write back what lies inside the file.
            let Some(c) = phys.cache.get(&file) else { return false };
            let off = index * PAGE_SIZE;
            let n = c.data.size().saturating_sub(off).min(PAGE_SIZE) as usize;
            if c.data.write_at(off, &buf[..n]).is_err() {
                return false;
            }
        }
    }
    phys.discard(gpa);
    phys.update(gpa, |f| {
        f.residency = residency;
        f.dirty = false;
        f.clock_gen = None;
    });
    phys.counters.evictions += 1;
    evicted.push(Evicted { gpa, mapping, latency_ns: start.elapsed().as_nanos() as u64 });
    if let (Content::File { file, index }, false, None) = (content, swap, mapping) {
        leave_cache(phys, file, index, gpa);
    }
    true
}

/// An evicted page-cache page nothing maps leaves the cache, as
/// __remove_mapping() takes it out: its frame goes back, and the next read
/// brings the page in again. Kept, every page ever read would hold a frame
/// of the window, and streaming a file larger than the window would run
/// out of frames with RAM to spare.
fn leave_cache(phys: &mut Phys, file: crate::mm::FileId, index: u64, gpa: u64) {
    let Some(c) = phys.cache.get_mut(&file) else { return };
    if c.pages.get(&index) != Some(&gpa) {
        return;
    }
    c.pages.remove(&index);
    c.dropped.insert(index);
    phys.update(gpa, |f| f.cached = false);
    phys.free_if_unused(gpa);
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
    }
}
