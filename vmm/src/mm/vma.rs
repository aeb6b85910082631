//! Virtual memory areas: a process's mm_struct, as Linux keeps it. Every
//! mapped byte belongs to exactly one VMA; syscalls split and merge them.
//!
//! Lookups, inserts, splits and merges are O(log n) in the number of VMAs
//! (a B-tree keyed by start address), and so is finding room for a new
//! mapping: the free gaps between VMAs are indexed by size class, so the
//! top-down search Linux's vm_unmapped_area does never walks the list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::phys::FileId;
use crate::arch::Perms;
use crate::timeline::RegionId;

/// A file a VMA maps: its page-cache identity and what /proc/PID/maps shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub id: FileId,
    /// The path /proc/PID/maps shows.
    pub path: Arc<str>,
    pub dev: u64,
    pub ino: u64,
}

/// What backs a VMA's pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Anonymous memory (zero-filled). Shared anonymous memory is a file
    /// (shmem), as on Linux.
    Anon,
    /// A file, from page `pgoff` at the VMA's start.
    File { file: FileRef, pgoff: u64 },
}

/// What a VMA is, for /proc/PID/maps and for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// A PT_LOAD segment of the program or its interpreter.
    Image,
    Heap,
    Stack,
    /// Anonymous mmap.
    Anon,
    /// A mapped file (a library's segments, a data file, shared memory).
    File,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub kind: VmaKind,
    pub backing: Backing,
    pub shared: bool,
    pub growsdown: bool,
    /// VM_NORESERVE: MAP_NORESERVE outside strict overcommit; never
    /// charged.
    pub noreserve: bool,
    /// VM_ACCOUNT: charged to Committed_AS (a private mapping once
    /// writable: it stays charged when made read-only again, as on Linux).
    pub account: bool,
    /// VM_LOCKED: pages are populated and never reclaimed.
    pub locked: bool,
    /// VM_LOCKONFAULT: locked once touched.
    pub lock_on_fault: bool,
    /// VM_DONTCOPY (MADV_DONTFORK): not inherited by fork.
    pub dontcopy: bool,
    /// VM_WIPEONFORK: a fork child sees zeroes.
    pub wipeonfork: bool,
    /// VM_DONTDUMP (MADV_DONTDUMP): left out of core dumps.
    pub dontdump: bool,
    /// VM_MAYWRITE: mprotect may make it writable (a shared mapping of a
    /// file opened read-only may not).
    pub may_write: bool,
    /// Region the timeline files its pages under (image pages may be
    /// refined by section).
    pub region: RegionId,
    /// A name given with PR_SET_VMA_ANON_NAME.
    pub anon_name: Option<Arc<str>>,
    /// VM_SOFTDIRTY: every page counts as soft-dirty in pagemap. Set on
    /// every new (or grown) VMA, cleared by clear_refs; merging ignores it
    /// and keeps it if either side has it, as Linux's vma_merge.
    pub soft_dirty: bool,
    /// Its anon_vma, as far as merging needs it.
    pub anon_vma: AnonVma,
}

/// The anon_vma a private VMA's anonymous pages hang off, as far as
/// is_mergeable_anon_vma() needs it: none yet; its own; or one inherited
/// by fork, whose chain also holds the parent's, which a VMA with none
/// does not join (Linux 965f55dea0e3: the parent's anon_vma lock is not
/// to cover more memory). Ids are given at the first fork that copies
/// anonymous pages, where the difference first shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnonVma {
    #[default]
    None,
    Own(u64),
    Inherited(u64),
}

impl AnonVma {
    fn id(self) -> Option<u64> {
        match self {
            AnonVma::None => None,
            AnonVma::Own(i) | AnonVma::Inherited(i) => Some(i),
        }
    }

    fn mergeable(self, other: AnonVma) -> bool {
        match (self, other) {
            (AnonVma::None, AnonVma::Inherited(_)) | (AnonVma::Inherited(_), AnonVma::None) => false,
            (AnonVma::None, _) | (_, AnonVma::None) => true,
            (a, b) => a.id() == b.id(),
        }
    }

    /// The anon_vma for a child's copy of a VMA with this one whose pages
    /// include anonymous ones (`anon`), and what the parent's becomes.
    pub fn fork(self, anon: bool) -> (AnonVma, AnonVma) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        match self.id() {
            Some(i) => (self, AnonVma::Inherited(i)),
            None if anon => {
                let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (AnonVma::Own(i), AnonVma::Inherited(i))
            }
            None => (self, self),
        }
    }
}

impl Vma {
    /// A private anonymous VMA with no special flags (charged if writable).
    pub fn anon(start: u64, end: u64, perms: Perms, kind: VmaKind, region: RegionId) -> Self {
        Vma {
            start,
            end,
            perms,
            kind,
            backing: Backing::Anon,
            shared: false,
            growsdown: false,
            noreserve: false,
            account: perms.write,
            locked: false,
            lock_on_fault: false,
            dontcopy: false,
            wipeonfork: false,
            dontdump: false,
            may_write: true,
            region,
            anon_name: None,
            soft_dirty: true,
            anon_vma: AnonVma::None,
        }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_anon(&self) -> bool {
        matches!(self.backing, Backing::Anon)
    }

    /// The file page backing `va`, for a file VMA.
    pub fn file_page(&self, va: u64) -> Option<(&FileRef, u64)> {
        match &self.backing {
            Backing::File { file, pgoff } => Some((file, pgoff + (va - self.start) / crate::arch::PAGE_SIZE)),
            Backing::Anon => None,
        }
    }

    /// Whether `next`, starting where `self` ends, can merge into it.
    fn can_merge(&self, next: &Vma) -> bool {
        if self.end != next.start {
            return false;
        }
        let backing = match (&self.backing, &next.backing) {
            (Backing::File { file: a, pgoff: pa }, Backing::File { file: b, pgoff: pb }) => {
                a == b && *pb == pa + self.len() / crate::arch::PAGE_SIZE
            }
            (a, b) => a == b,
        };
        backing
            && self.kind == next.kind
            && self.perms == next.perms
            && self.shared == next.shared
            && self.growsdown == next.growsdown
            && self.noreserve == next.noreserve
            && self.account == next.account
            && self.locked == next.locked
            && self.lock_on_fault == next.lock_on_fault
            && self.dontcopy == next.dontcopy
            && self.wipeonfork == next.wipeonfork
            && self.dontdump == next.dontdump
            && self.may_write == next.may_write
            && self.region == next.region
            && self.anon_name == next.anon_name
            && self.anon_vma.mergeable(next.anon_vma)
    }

    /// The part of `self` in `[start, end)`, which must overlap it.
    fn slice(&self, start: u64, end: u64) -> Vma {
        let (s, e) = (start.max(self.start), end.min(self.end));
        let mut v = self.clone();
        if let Backing::File { pgoff, .. } = &mut v.backing {
            *pgoff += (s - self.start) / crate::arch::PAGE_SIZE;
        }
        v.start = s;
        v.end = e;
        v
    }
}

/// Free gaps between VMAs, indexed for a top-down first-fit search.
#[derive(Clone, Debug)]
struct Gaps {
    /// end -> start of every gap.
    by_end: BTreeMap<u64, u64>,
    /// Gap ends by size class (floor(log2 size)).
    by_class: Vec<BTreeSet<u64>>,
}

fn class(size: u64) -> usize {
    63 - size.max(1).leading_zeros() as usize
}

impl Gaps {
    fn new(lo: u64, hi: u64) -> Self {
        let mut g = Gaps { by_end: BTreeMap::new(), by_class: vec![BTreeSet::new(); 64] };
        g.add(lo, hi);
        g
    }

    fn add(&mut self, start: u64, end: u64) {
        if start < end {
            self.by_end.insert(end, start);
            self.by_class[class(end - start)].insert(end);
        }
    }

    fn remove(&mut self, end: u64) -> Option<u64> {
        let start = self.by_end.remove(&end)?;
        self.by_class[class(end - start)].remove(&end);
        Some(start)
    }

    /// `[start, end)` (inside one gap) becomes mapped.
    fn occupy(&mut self, start: u64, end: u64) {
        let Some((&gend, &gstart)) = self.by_end.range(end..).next() else { return };
        if gstart > start {
            return;
        }
        self.remove(gend);
        self.add(gstart, start);
        self.add(end, gend);
    }

    /// `[start, end)` (mapped) becomes free, merging with its neighbours.
    fn release(&mut self, mut start: u64, mut end: u64) {
        if let Some(prev_start) = self.remove(start) {
            start = prev_start;
        }
        if let Some((&gend, &gstart)) = self.by_end.range(end + 1..).next() {
            if gstart == end {
                self.remove(gend);
                end = gend;
            }
        }
        self.add(start, end);
    }

    /// Gaps below `high`, highest first, that may hold `len` bytes: every
    /// gap in a size class that surely fits, and those of the class below
    /// (which may), best candidate first.
    fn candidates(&self, len: u64, high: u64) -> Vec<(u64, u64)> {
        let c = class(len);
        let mut out = Vec::new();
        // Gaps are disjoint: at most one straddles `high`, and only its
        // part below counts.
        if let Some((&e, &s)) = self.by_end.range(high..).next() {
            if s < high && high - s >= len {
                out.push((s, e));
            }
        }
        // Classes above c hold gaps of at least 2^(c+1) > len: the highest
        // one wholly below `high` of each will do.
        for set in &self.by_class[c + 1..] {
            if let Some(&e) = set.range(..high).next_back() {
                out.push((self.by_end[&e], e));
            }
        }
        // Class c holds sizes in [2^c, 2^(c+1)): the first from the top
        // that is large enough.
        for &e in self.by_class[c].range(..high).rev() {
            let s = self.by_end[&e];
            if e - s >= len {
                out.push((s, e));
                break;
            }
        }
        out.sort_by_key(|&(_, e)| std::cmp::Reverse(e));
        out
    }
}

/// All VMAs of an address space, keyed by start address.
#[derive(Clone, Debug)]
pub struct VmaSet {
    map: BTreeMap<u64, Vma>,
    total: u64,
    gaps: Gaps,
}

impl Default for VmaSet {
    fn default() -> Self {
        VmaSet { map: BTreeMap::new(), total: 0, gaps: Gaps::new(0, crate::arch::layout::USER_TOP) }
    }
}

impl VmaSet {
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Number of VMAs (mm->map_count).
    pub fn count(&self) -> usize {
        self.map.len()
    }

    /// Total mapped bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The VMA holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..=addr).next_back().map(|(_, v)| v).filter(|v| addr < v.end)
    }

    /// The first VMA that ends above `addr` (Linux's find_vma).
    pub fn find_from(&self, addr: u64) -> Option<&Vma> {
        if let Some(v) = self.find(addr) {
            return Some(v);
        }
        self.map.range(addr..).next().map(|(_, v)| v)
    }

    /// The last VMA that ends at or below `addr` (find_vma_prev's prev).
    pub fn find_prev(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..addr).next_back().map(|(_, v)| v).filter(|v| v.end <= addr)
    }

    /// VMAs overlapping `[start, end)`, in order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.map.range(..=start).next_back().map(|(&k, _)| k).unwrap_or(start);
        self.map.range(first..end.max(first)).map(|(_, v)| v).filter(move |v| v.end > start)
    }

    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_none()
    }

    /// Whether `[start, end)` is mapped with no hole.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        self.mapped_prefix(start, end) >= end
    }

    /// End of the part of `[start, end)` mapped without a hole from
    /// `start` (== `start` if `start` itself is not mapped): how far Linux's
    /// VMA-by-VMA loops get before they stop with ENOMEM.
    pub fn mapped_prefix(&self, start: u64, end: u64) -> u64 {
        let mut at = start;
        for v in self.overlapping(start, end) {
            if v.start > at {
                break;
            }
            at = v.end;
        }
        at.min(end).max(start)
    }

    /// Adds a VMA over a free range and merges it with its neighbours.
    pub fn insert(&mut self, vma: Vma) {
        debug_assert!(self.is_free(vma.start, vma.end), "insert over mapped range");
        let (s, e) = (vma.start, vma.end);
        self.total += vma.len();
        self.gaps.occupy(s, e);
        self.map.insert(vma.start, vma);
        self.merge_around(s, e);
    }

    /// Removes `[start, end)` from every VMA, splitting those that straddle
    /// its edges; returns the removed pieces.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let pieces = self.cut(start, end);
        for p in &pieces {
            self.total -= p.len();
            self.gaps.release(p.start, p.end);
        }
        pieces
    }

    /// Splits VMAs at `start` and `end` and takes out the pieces inside.
    fn cut(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let hit: Vec<u64> = self.overlapping(start, end).map(|v| v.start).collect();
        let mut removed = Vec::with_capacity(hit.len());
        for k in hit {
            let v = self.map.remove(&k).expect("just found");
            if v.start < start {
                let left = v.slice(v.start, start);
                self.map.insert(left.start, left);
            }
            if v.end > end {
                let right = v.slice(end, v.end);
                self.map.insert(right.start, right);
            }
            removed.push(v.slice(start, end));
        }
        removed
    }

    /// How many more VMAs changing `[start, end)` may create: a VMA
    /// straddling either edge splits in two.
    pub fn splits_at(&self, start: u64, end: u64) -> usize {
        let straddles = |a: u64| self.find(a).is_some_and(|v| v.start < a);
        usize::from(straddles(start)) + usize::from(end != start && straddles(end))
    }

    /// Applies `f` to the parts of VMAs inside `[start, end)`, splitting at
    /// the edges, then merges what became alike.
    pub fn update(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Vma)) {
        for mut piece in self.cut(start, end) {
            f(&mut piece);
            self.map.insert(piece.start, piece);
        }
        self.merge_around(start, end);
    }

    fn merge_around(&mut self, start: u64, end: u64) {
        // Only VMAs touching [start, end) or its edges can newly merge.
        let lo = self.map.range(..start).next_back().map(|(&k, _)| k).unwrap_or(start);
        let mut cur = lo;
        while let Some(next) = self.map.range(cur + 1..).next().map(|(&k, _)| k) {
            if cur > end {
                break;
            }
            let mergeable = match (self.map.get(&cur), self.map.get(&next)) {
                (Some(a), Some(b)) => a.can_merge(b),
                _ => false,
            };
            if mergeable {
                let b = self.map.remove(&next).expect("present");
                let a = self.map.get_mut(&cur).expect("present");
                a.end = b.end;
                a.soft_dirty |= b.soft_dirty;
                if a.anon_vma == AnonVma::None {
                    a.anon_vma = b.anon_vma;
                }
            } else {
                cur = next;
            }
        }
    }

    /// The highest free range of `len` bytes inside `[low, high)`, as
    /// Linux's top-down vm_unmapped_area finds it; a gap below a VMA that
    /// grows down keeps `guard` bytes free.
    pub fn gap_top_down(&self, len: u64, low: u64, high: u64, guard: u64) -> Option<u64> {
        if len == 0 || len > high.saturating_sub(low) {
            return None;
        }
        let mut high = high;
        // Each round either finds room or lowers `high` below a gap that
        // cannot hold it (the guard of a stack above it ate the room).
        loop {
            let cands = self.gaps.candidates(len, high);
            let mut progressed = false;
            for (s, e) in cands {
                let mut top = e.min(high);
                if e <= high && self.map.get(&e).is_some_and(|v| v.growsdown) {
                    top = top.saturating_sub(guard);
                }
                let bottom = s.max(low);
                if top >= bottom && top - bottom >= len {
                    return Some(top - len);
                }
                if s < high {
                    high = s;
                    progressed = true;
                    break;
                }
            }
            if !progressed || high <= low {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Perms = Perms::RW;
    const R: Perms = Perms::new(true, false, false);

    fn anon(start: u64, end: u64) -> Vma {
        Vma::anon(start, end, RW, VmaKind::Anon, RegionId(0))
    }

    fn ranges(s: &VmaSet) -> Vec<(u64, u64)> {
        s.iter().map(|v| (v.start, v.end)).collect()
    }

    #[test]
    fn adjacent_alike_areas_merge_and_unlike_do_not() {
        let mut s = VmaSet::default();
        s.insert(anon(0x1000, 0x3000));
        s.insert(anon(0x3000, 0x5000));
        assert_eq!(ranges(&s), vec![(0x1000, 0x5000)]);
        let mut ro = anon(0x5000, 0x6000);
        ro.perms = R;
        s.insert(ro);
        assert_eq!(ranges(&s), vec![(0x1000, 0x5000), (0x5000, 0x6000)]);
        assert_eq!((s.count(), s.total()), (2, 0x5000));
    }

    #[test]
    fn remove_splits_at_both_edges() {
        let mut s = VmaSet::default();
        s.insert(anon(0x1000, 0x9000));
        assert_eq!(s.splits_at(0x3000, 0x5000), 2);
        let gone = s.remove(0x3000, 0x5000);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].start, gone[0].end), (0x3000, 0x5000));
        assert_eq!(ranges(&s), vec![(0x1000, 0x3000), (0x5000, 0x9000)]);
        assert!(s.is_free(0x3000, 0x5000));
        assert!(!s.covers(0x2000, 0x6000));
        assert!(s.covers(0x5000, 0x9000));
        assert_eq!(s.mapped_prefix(0x1000, 0x9000), 0x3000);
        assert_eq!(s.mapped_prefix(0x3000, 0x9000), 0x3000);
        assert_eq!(s.mapped_prefix(0x5000, 0x8000), 0x8000);
        assert_eq!(s.total(), 0x6000);
        // Removing nothing is fine.
        assert!(s.remove(0xa000, 0xb000).is_empty());
    }

    #[test]
    fn protect_splits_then_restoring_merges_back() {
        let mut s = VmaSet::default();
        s.insert(anon(0x1000, 0x9000));
        s.update(0x2000, 0x4000, |v| v.perms = R);
        assert_eq!(ranges(&s), vec![(0x1000, 0x2000), (0x2000, 0x4000), (0x4000, 0x9000)]);
        assert_eq!(s.find(0x3fff).unwrap().perms, R);
        s.update(0x2000, 0x4000, |v| v.perms = RW);
        assert_eq!(ranges(&s), vec![(0x1000, 0x9000)]);
    }

    #[test]
    fn file_offsets_follow_splits() {
        let mut s = VmaSet::default();
        let mut v = anon(0x40_0000, 0x40_4000);
        let file = FileRef { id: FileId(1), path: "/bin/x".into(), dev: 0, ino: 1 };
        v.backing = Backing::File { file: file.clone(), pgoff: 1 };
        s.insert(v);
        s.update(0x40_2000, 0x40_4000, |v| v.perms = R);
        let second = s.find(0x40_2000).unwrap();
        assert_eq!(second.backing, Backing::File { file, pgoff: 3 });
    }

    #[test]
    fn top_down_gap_search() {
        let mut s = VmaSet::default();
        s.insert(anon(0x8000, 0xa000));
        assert_eq!(s.gap_top_down(0x1000, 0x1000, 0x10000, 0), Some(0xf000));
        assert_eq!(s.gap_top_down(0x6000, 0x1000, 0x10000, 0), Some(0xa000));
        assert_eq!(s.gap_top_down(0x7000, 0x1000, 0x10000, 0), Some(0x1000));
        assert_eq!(s.gap_top_down(0x8000, 0x1000, 0x10000, 0), None);
        // A low bound inside the lower gap.
        assert_eq!(s.gap_top_down(0x7000, 0x2000, 0x10000, 0), None);
        s.insert(anon(0xc000, 0x10000));
        assert_eq!(s.gap_top_down(0x2000, 0x1000, 0x10000, 0), Some(0xa000));
        assert_eq!(s.gap_top_down(0x3000, 0x1000, 0x10000, 0), Some(0x5000));
        assert_eq!(s.find_from(0xb000).unwrap().start, 0xc000);
        // A stack above keeps its guard gap free.
        let mut t = VmaSet::default();
        let mut stack = anon(0x20000, 0x30000);
        stack.growsdown = true;
        t.insert(stack);
        assert_eq!(t.gap_top_down(0x1000, 0x1000, 0x40000, 0x4000), Some(0x3f000));
        assert_eq!(t.gap_top_down(0x1000, 0x1000, 0x20000, 0x4000), Some(0x1b000));
    }

    #[test]
    fn gap_search_matches_a_linear_scan() {
        // Random maps and unmaps; the indexed search must give what a plain
        // top-down walk over the gaps gives.
        let mut s = VmaSet::default();
        let mut seed = 0x1234_5678u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let top = 0x100_0000;
        for _ in 0..3000 {
            let len = (rnd(16) + 1) * 0x1000;
            let high = (rnd(top / 0x1000) + 1) * 0x1000;
            let linear = {
                let mut ceiling = high;
                let mut found = None;
                for v in s.iter().collect::<Vec<_>>().into_iter().rev() {
                    if v.end <= ceiling && ceiling >= v.end.max(0x1000) + len {
                        found = Some(ceiling - len);
                        break;
                    }
                    ceiling = ceiling.min(v.start);
                }
                found.or_else(|| (ceiling >= 0x1000 + len).then(|| ceiling - len))
            };
            assert_eq!(s.gap_top_down(len, 0x1000, high, 0), linear, "len {len:#x} high {high:#x}");
            if rnd(3) == 0 {
                let a = rnd(top / 0x1000) * 0x1000;
                s.remove(a, a + len);
            } else if let Some(at) = linear {
                let mut v = anon(at, at + len);
                v.perms = if rnd(2) == 0 { R } else { RW };
                s.insert(v);
            }
        }
    }
}
