//! Where memory is counted: the memory-wide and per-address-space
//! counters, kept in step with every change of a frame.

use super::{Frame, FrameKind, MmId, Phys, Residency};
use crate::arch::PAGE_SIZE;

/// Per-address-space counters, as /proc/PID/status shows them (in pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmCounters {
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
    /// Mapped pages whose contents are in swap.
    pub swap: u64,
    /// Largest RSS seen (VmHWM).
    pub hiwater: u64,
    /// Resident pages in VM_LOCKED areas.
    pub locked: u64,
}

impl MmCounters {
    pub fn rss(&self) -> u64 {
        self.anon + self.file + self.shmem
    }
}

/// Memory-wide counters, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysCounters {
    /// Frames with a page of their own on the host.
    pub resident: u64,
    pub peak_resident: u64,
    /// Resident frames that are mlocked or pinned.
    pub mlocked: u64,
    /// Resident frames pinned by `--pin`.
    pub pinned: u64,
    /// Resident frames of the page cache, and of them shared memory.
    pub cached: u64,
    pub shmem: u64,
    pub anon: u64,
    pub evictions: u64,
    pub swap_ins: u64,
    pub swap_outs: u64,
}

impl Phys {
    /// Pages of RAM in use: resident frames, the guests' page tables and
    /// kernel memory (which, as on Linux, are memory too and count against
    /// `--mem`).
    pub fn used_pages(&self) -> u64 {
        self.counters.resident + self.tables.in_use() + self.kmem.total_pages()
    }

    pub fn mm_counters(&self, mm: MmId) -> MmCounters {
        self.mm_counters.get(&mm).copied().unwrap_or_default()
    }

    /// VmHWM starts again from VmRSS (clear_refs 5).
    pub fn reset_hiwater(&mut self, mm: MmId) {
        if let Some(c) = self.mm_counters.get_mut(&mm) {
            c.hiwater = c.rss();
        }
    }

    /// Forgets an address space's counters (it is gone).
    pub fn drop_mm(&mut self, mm: MmId) {
        self.mm_counters.remove(&mm);
    }

    /// What a frame contributes to each mapper's counters.
    fn weight(f: &Frame) -> (Option<FrameKind>, bool) {
        match f.residency {
            Residency::Resident => (Some(f.kind), false),
            Residency::Swapped(_) => (None, true),
            Residency::Absent | Residency::Zero => (None, false),
        }
    }

    fn apply(c: &mut MmCounters, w: (Option<FrameKind>, bool), locked: bool, sign: i64) {
        let add = |v: &mut u64| *v = (*v as i64 + sign).max(0) as u64;
        match w.0 {
            Some(FrameKind::Anon) => add(&mut c.anon),
            Some(FrameKind::File) => add(&mut c.file),
            Some(FrameKind::Shmem) => add(&mut c.shmem),
            None => {}
        }
        if w.0.is_some() && locked {
            add(&mut c.locked);
        }
        if w.1 {
            add(&mut c.swap);
        }
        c.hiwater = c.hiwater.max(c.rss());
    }

    fn global(&mut self, f: &Frame, sign: i64) {
        let c = &mut self.counters;
        let add = |v: &mut u64| *v = (*v as i64 + sign).max(0) as u64;
        if f.residency == Residency::Resident {
            add(&mut c.resident);
            // --pin is an mlock the VMM does: /proc/meminfo's Mlocked
            // (and Unevictable) count both, once.
            if f.mlocks > 0 || f.pinned {
                add(&mut c.mlocked);
            }
            if f.pinned {
                add(&mut c.pinned);
            }
            match f.kind {
                FrameKind::Anon => add(&mut c.anon),
                FrameKind::File => add(&mut c.cached),
                FrameKind::Shmem => {
                    add(&mut c.cached);
                    add(&mut c.shmem);
                }
            }
        }
        c.peak_resident = c.peak_resident.max(c.resident);
    }

    /// Changes frame `gpa` through `f`, keeping every counter (memory-wide
    /// and each mapper's) in step with what changed.
    pub fn update<R>(&mut self, gpa: u64, f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
        let i = self.index(gpa)?;
        let mut frame = self.frames[i].take()?;
        let (w0, l0) = (Self::weight(&frame), frame.mlocks > 0);
        self.global(&frame, -1);
        for m in &frame.maps {
            Self::apply(self.mm_counters.entry(m.mm).or_default(), w0, l0, -1);
        }
        let r = f(&mut frame);
        if frame.residency == Residency::Resident {
            if frame.pfn.is_none() {
                frame.pfn = self.buddy.alloc_page().map(|p| p as u32);
            }
        } else if let Some(pfn) = frame.pfn.take() {
            let _ = self.buddy.free(pfn as u64, 0);
        }
        let (w1, l1) = (Self::weight(&frame), frame.mlocks > 0);
        self.global(&frame, 1);
        for m in &frame.maps {
            Self::apply(self.mm_counters.entry(m.mm).or_default(), w1, l1, 1);
        }
        if frame.residency == Residency::Resident && frame.clock_gen.is_none() {
            self.next_gen += 1;
            frame.clock_gen = Some(self.next_gen);
            self.clock.push_back((gpa, self.next_gen));
        }
        self.frames[i] = Some(frame);
        self.sync_tables();
        // Freed and re-made frames leave stale entries that only reclaim
        // would pop: without reclaim the queue would grow with every fault.
        if self.clock.len() > 2 * self.counters.resident as usize + 4096 {
            let frames = &self.frames;
            self.clock.retain(|&(gpa, gen)| {
                let i = ((gpa - self.base) / PAGE_SIZE) as usize;
                frames.get(i).and_then(|f| f.as_ref()).is_some_and(|f| f.clock_gen == Some(gen))
            });
        }
        Some(r)
    }
}
