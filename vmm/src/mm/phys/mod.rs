//! Guest-physical memory: the frames of the RAM slot, what each holds, who
//! maps it (the reverse map), whether its host page is there, and the page
//! cache of files. Every process's pages, the page cache's and the page
//! tables' come from here, so this is also where memory is counted.
//!
//! A frame is a guest-physical page of the RAM window. Handing one out
//! costs nothing on the host: its host page exists only once something
//! writes it (userfaultfd fills it on first touch). Freed frames are given
//! back to the host with MADV_DONTNEED, which also makes KVM drop every
//! translation of them.
//!
//! A frame's guest-physical address names its page for as long as it is
//! mapped or cached, in swap or not, so the window of frames is larger
//! than RAM. Memory itself is the [`Buddy`]'s: a frame takes a page of RAM
//! (its `pfn`) from the page allocator when it gets a host page of its
//! own, and gives it back when it loses it (evicted, freed); page-table
//! pages and kernel memory ([`super::kmem`]) take theirs too. The buddy's
//! free pages are MemFree.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::buddy::{Buddy, Wmark};
use super::kmem::{Kmem, KmemCharge, KmemLedger};
use super::swap::SwapStore;
use crate::arch::{TablePool, PAGE_SIZE};
use crate::memory::HostMapping;

mod counting;
mod file;
mod frame;

pub use counting::{MmCounters, PhysCounters};
pub use file::{CachedFile, FileData, FileId, PageCache};
pub use frame::{Content, Frame, FrameKind, Mapping, MmId, Residency};

/// Memory limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most frames resident at once (`--mem`, or `--rss-limit`).
    pub resident_pages: u64,
    /// Pages the swap store holds (`--swap`).
    pub swap_pages: u64,
    /// Guest RAM is registered with userfaultfd. When it is not, the host
    /// kernel zero-fills pages on first touch unseen, so a fresh
    /// zero-content frame counts as resident at once (its host page is the
    /// truth) and nothing may be evicted (a dropped page would come back as
    /// zeroes without anyone noticing).
    pub trapped: bool,
}

pub struct Phys {
    ram: Arc<HostMapping>,
    base: u64,
    frames: Vec<Option<Frame>>,
    free: Vec<u32>,
    /// Frames the window holds.
    window: u32,
    pub tables: TablePool,
    pub swap: SwapStore,
    pub budget: Budget,
    pub counters: PhysCounters,
    mm_counters: HashMap<MmId, MmCounters>,
    /// Resident frames in the order the CLOCK hand meets them: (frame,
    /// generation); entries of frames since gone are skipped.
    pub clock: VecDeque<(u64, u64)>,
    next_gen: u64,
    pub cache: HashMap<FileId, CachedFile>,
    /// Frames whose translations changed and must be invalidated before
    /// any vCPU runs again.
    stale: Vec<u64>,
    /// The page allocator over RAM (`budget.resident_pages` pages).
    pub buddy: Buddy,
    /// Pages of RAM held for page-table pages, one per table in use.
    table_pfns: Vec<u64>,
    /// Kernel memory in use, and the pages of RAM held for it.
    pub kmem: Arc<KmemLedger>,
    kmem_pfns: Vec<u64>,
    /// Why stale translations could not be flushed (the host refused,
    /// out of memory): the guest may still reach
    /// frames it no longer maps, so the kernel must end the run.
    pub flush_failed: Option<String>,
}

/// Errors of the frame allocator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhysError {
    #[error("guest-physical space is exhausted ({0} frames)")]
    OutOfFrames(u32),
}

impl Phys {
    pub fn new(ram: Arc<HostMapping>, base: u64, tables: TablePool, budget: Budget) -> Self {
        let window = (ram.len() / PAGE_SIZE).min(u32::MAX as u64) as u32;
        let mut phys = Phys {
            ram,
            base,
            frames: Vec::new(),
            free: Vec::new(),
            window,
            tables,
            swap: SwapStore::new(budget.swap_pages),
            budget,
            counters: PhysCounters::default(),
            mm_counters: HashMap::new(),
            clock: VecDeque::new(),
            next_gen: 0,
            cache: HashMap::new(),
            stale: Vec::new(),
            buddy: Buddy::new(budget.resident_pages.min(u32::MAX as u64)),
            table_pfns: Vec::new(),
            kmem: Arc::new(KmemLedger::default()),
            kmem_pfns: Vec::new(),
            flush_failed: None,
        };
        phys.sync_tables();
        phys
    }

    /// Takes or gives back pages of RAM so that page-table pages hold one
    /// each. The table pool hands tables out below `Phys` (the walk that
    /// needs one is in arch), so the count is caught up here, after every
    /// frame change and when an address space's tables are retired.
    pub fn sync_tables(&mut self) {
        self.sync_kmem();
        let want = self.tables.in_use() as usize;
        while self.table_pfns.len() > want {
            if let Some(pfn) = self.table_pfns.pop() {
                let _ = self.buddy.free(pfn, 0);
            }
        }
        while self.table_pfns.len() < want {
            let Some(pfn) = self.buddy.alloc_page() else { break };
            self.table_pfns.push(pfn);
        }
    }

    /// Gives the buddy back the pages kernel memory no longer needs
    /// (charges dropped since the last sync).
    pub fn sync_kmem(&mut self) {
        let want = self.kmem.total_pages() as usize;
        while self.kmem_pfns.len() > want {
            if let Some(pfn) = self.kmem_pfns.pop() {
                let _ = self.buddy.free(pfn, 0);
            }
        }
    }

    /// Pages held for kernel memory that it no longer needs (until the
    /// next sync): free in all but name.
    pub fn kmem_idle_pages(&self) -> u64 {
        (self.kmem_pfns.len() as u64).saturating_sub(self.kmem.total_pages())
    }

    /// Pages of RAM kernel memory holds.
    pub fn kmem_pages(&self) -> u64 {
        self.kmem_pfns.len() as u64
    }

    /// Charges `n` of `obj` to kernel memory, taking pages of RAM down to
    /// the low watermark; `None` past it. The caller reclaims first. The
    /// gap between low and min stays for user pages, so a program that
    /// used RAM up with kernel objects sees the errno of the call that
    /// failed rather than the OOM killer at its next page fault.
    pub fn kmem_take(&mut self, obj: Kmem, n: u64) -> Option<KmemCharge> {
        let bytes = obj.bytes().checked_mul(n)?;
        self.kmem_reserve(obj, bytes)?;
        Some(KmemCharge::new(&self.kmem, obj.class(), bytes))
    }

    /// Adds one `obj` to `charge`; false when RAM is out.
    pub fn kmem_grow(&mut self, charge: &mut KmemCharge, obj: Kmem) -> bool {
        match self.kmem_take(obj, 1) {
            Some(c) => {
                charge.absorb(c);
                true
            }
            None => false,
        }
    }

    fn kmem_reserve(&mut self, obj: Kmem, bytes: u64) -> Option<()> {
        self.sync_kmem();
        let want = self.kmem.total_pages_with(obj.class(), bytes) as usize;
        let had = self.kmem_pfns.len();
        while self.kmem_pfns.len() < want {
            match self.buddy.alloc(0, Some(Wmark::Low)) {
                Some(pfn) => self.kmem_pfns.push(pfn),
                None => {
                    for pfn in self.kmem_pfns.drain(had..) {
                        let _ = self.buddy.free(pfn, 0);
                    }
                    return None;
                }
            }
        }
        self.kmem.add(obj.class(), bytes);
        Some(())
    }

    pub fn ram(&self) -> &Arc<HostMapping> {
        &self.ram
    }

    pub fn ram_base(&self) -> u64 {
        self.base
    }

    fn index(&self, gpa: u64) -> Option<usize> {
        let i = gpa.checked_sub(self.base)? / PAGE_SIZE;
        (i < self.frames.len() as u64).then_some(i as usize)
    }

    /// The frame at `gpa`, if it is allocated.
    pub fn frame(&self, gpa: u64) -> Option<&Frame> {
        self.frames.get(self.index(gpa)?)?.as_ref()
    }

    /// The frame whose host page is at `host_addr`, as userfaultfd reports.
    pub fn gpa_of_host(&self, host_addr: u64) -> Option<u64> {
        let off = host_addr.checked_sub(self.ram.as_ptr() as u64)?;
        (off < self.ram.len()).then(|| self.base + (off & !(PAGE_SIZE - 1)))
    }

    /// Host address of frame `gpa`'s page.
    pub fn host_addr(&self, gpa: u64) -> u64 {
        self.ram.as_ptr() as u64 + (gpa - self.base)
    }

    /// A new frame holding `content` (not yet backed).
    pub fn alloc(&mut self, kind: FrameKind, content: Content) -> Result<u64, PhysError> {
        let i = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                if self.frames.len() as u64 >= self.window as u64 {
                    return Err(PhysError::OutOfFrames(self.window));
                }
                self.frames.push(None);
                self.frames.len() - 1
            }
        };
        self.frames[i] = Some(Frame::new(kind, content));
        let gpa = self.base + i as u64 * PAGE_SIZE;
        if !self.budget.trapped && content == Content::Zero {
            self.update(gpa, |f| {
                f.residency = Residency::Resident;
                f.dirty = true;
            });
        }
        Ok(gpa)
    }

    /// Adds a mapping of frame `gpa`.
    pub fn add_map(&mut self, gpa: u64, m: Mapping) {
        self.update(gpa, |f| f.maps.push(m));
    }

    /// Removes `mm`'s mapping of frame `gpa` at `va`; frees the frame when
    /// nothing maps or caches it any more.
    pub fn remove_map(&mut self, gpa: u64, mm: MmId, va: u64) {
        self.update(gpa, |f| f.maps.retain(|m| !(m.mm == mm && m.va == va)));
        self.free_if_unused(gpa);
    }

    /// Moves `mm`'s mapping of `gpa` from `from` to `to` (mremap).
    pub fn move_map(&mut self, gpa: u64, mm: MmId, from: u64, to: u64, pte: u64) {
        self.update(gpa, |f| {
            for m in f.maps.iter_mut().filter(|m| m.mm == mm && m.va == from) {
                m.va = to;
                m.pte = pte;
            }
        });
    }

    /// Frees `gpa` if no mapping and no cache holds it.
    pub fn free_if_unused(&mut self, gpa: u64) {
        let Some(f) = self.frame(gpa) else { return };
        if !f.maps.is_empty() || f.cached {
            return;
        }
        // Drop its weight first, so the counters end where they began.
        let was = self.update(gpa, |f| std::mem::replace(&mut f.residency, Residency::Absent));
        match was {
            Some(Residency::Swapped(slot)) => self.swap.free(slot),
            Some(Residency::Resident | Residency::Zero) => self.discard(gpa),
            Some(Residency::Absent) | None => {}
        }
        if let Some(i) = self.index(gpa) {
            self.frames[i] = None;
            self.free.push(i as u32);
        }
    }

    /// Gives frame `gpa`'s host page back: the next touch faults again
    /// through userfaultfd (and KVM drops its translations of it now).
    pub fn discard(&self, gpa: u64) {
        let _ = self.ram.discard(gpa - self.base, PAGE_SIZE);
    }

    /// Notes that `frames`' translations changed; `fault::flush_stale`
    /// invalidates them before any vCPU runs on.
    pub fn note_stale(&mut self, frames: Vec<u64>) {
        self.stale.extend(frames);
    }

    /// The frames noted stale since the last call, sorted, each once:
    /// `fault::flush_stale` makes the MMU forget them.
    pub fn take_stale(&mut self) -> Vec<u64> {
        let mut frames = std::mem::take(&mut self.stale);
        frames.sort_unstable();
        frames.dedup();
        frames
    }

    /// Reads a resident frame's bytes.
    pub fn read(&self, gpa: u64, offset: u64, buf: &mut [u8]) -> bool {
        debug_assert!(matches!(self.frame(gpa).map(|f| f.residency), Some(Residency::Resident | Residency::Zero)));
        self.ram.read(gpa - self.base + offset, buf).is_ok()
    }

    /// Writes a resident frame's bytes.
    pub fn write(&self, gpa: u64, offset: u64, buf: &[u8]) -> bool {
        debug_assert!(matches!(self.frame(gpa).map(|f| f.residency), Some(Residency::Resident)));
        self.ram.write(gpa - self.base + offset, buf).is_ok()
    }

    /// Every allocated frame.
    pub fn all_frames(&self) -> impl Iterator<Item = (u64, &Frame)> {
        self.frames.iter().enumerate().filter_map(|(i, f)| f.as_ref().map(|f| (self.base + i as u64 * PAGE_SIZE, f)))
    }
}
