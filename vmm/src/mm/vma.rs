//! Virtual memory areas: the guest's mm_struct, as Linux keeps it. Every
//! mapped byte belongs to exactly one VMA; syscalls split and merge them.

use std::collections::BTreeMap;

use super::RegionId;
use crate::arch::Perms;

/// What a VMA maps, for /proc/self/maps and for what new pages hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// A PT_LOAD segment: pages come from the file at `offset` (of `start`).
    Image {
        offset: u64,
    },
    Heap,
    Stack,
    /// Anonymous mmap.
    Anon,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub kind: VmaKind,
    pub shared: bool,
    pub growsdown: bool,
    pub noreserve: bool,
    /// VM_LOCKED: pages are populated and never reclaimed.
    pub locked: bool,
    /// VM_LOCKONFAULT: locked once touched.
    pub lock_on_fault: bool,
    /// Region new pages are filed under (image pages carry their own).
    pub region: RegionId,
}

impl Vma {
    /// A private VMA with no special flags.
    pub fn new(start: u64, end: u64, perms: Perms, kind: VmaKind, region: RegionId) -> Self {
        Vma {
            start,
            end,
            perms,
            kind,
            shared: false,
            growsdown: false,
            noreserve: false,
            locked: false,
            lock_on_fault: false,
            region,
        }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether `next`, starting where `self` ends, can merge into it.
    fn can_merge(&self, next: &Vma) -> bool {
        if self.end != next.start {
            return false;
        }
        let kinds = match (&self.kind, &next.kind) {
            (VmaKind::Image { offset: a }, VmaKind::Image { offset: b }) => *b == a + self.len(),
            (a, b) => a == b,
        };
        kinds
            && self.perms == next.perms
            && self.shared == next.shared
            && self.growsdown == next.growsdown
            && self.noreserve == next.noreserve
            && self.locked == next.locked
            && self.lock_on_fault == next.lock_on_fault
            && self.region == next.region
    }

    /// The part of `self` in `[start, end)`, which must overlap it.
    fn slice(&self, start: u64, end: u64) -> Vma {
        let (s, e) = (start.max(self.start), end.min(self.end));
        let mut v = self.clone();
        if let VmaKind::Image { offset } = &mut v.kind {
            *offset += s - self.start;
        }
        v.start = s;
        v.end = e;
        v
    }
}

/// All VMAs, keyed by start address.
#[derive(Clone, Debug, Default)]
pub struct VmaSet {
    map: BTreeMap<u64, Vma>,
}

impl VmaSet {
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
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

    /// VMAs overlapping `[start, end)`, in order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.map.range(..=start).next_back().map(|(&k, _)| k).unwrap_or(start);
        self.map.range(first..end).map(|(_, v)| v).filter(move |v| v.end > start)
    }

    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_none()
    }

    /// Whether `[start, end)` is mapped with no hole.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for v in self.overlapping(start, end) {
            if v.start > at {
                return false;
            }
            at = v.end;
        }
        at >= end
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
        self.map.insert(vma.start, vma);
        self.merge_around(s, e);
    }

    /// Removes `[start, end)` from every VMA, splitting those that straddle
    /// its edges; returns the removed pieces.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let hit: Vec<Vma> = self.overlapping(start, end).cloned().collect();
        let mut removed = Vec::with_capacity(hit.len());
        for v in hit {
            self.map.remove(&v.start);
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

    /// Applies `f` to the parts of VMAs inside `[start, end)`, splitting at
    /// the edges, then merges what became alike.
    pub fn update(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Vma)) {
        for mut piece in self.remove(start, end) {
            f(&mut piece);
            self.map.insert(piece.start, piece);
        }
        self.merge_around(start, end);
    }

    fn merge_around(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = {
            let lo = self.map.range(..start).next_back().map(|(&k, _)| k).unwrap_or(start);
            self.map.range(lo..=end).map(|(&k, _)| k).collect()
        };
        let mut i = 0;
        let mut cur = keys.first().copied();
        while let Some(k) = cur {
            i += 1;
            let Some(&next) = keys.get(i) else { break };
            let (Some(a), Some(b)) = (self.map.get(&k), self.map.get(&next)) else {
                cur = Some(next);
                continue;
            };
            if a.can_merge(b) {
                let b_end = b.end;
                self.map.remove(&next);
                self.map.get_mut(&k).expect("present").end = b_end;
                cur = Some(k);
            } else {
                cur = Some(next);
            }
        }
    }

    /// The highest free range of `len` bytes inside `[low, high)`, as
    /// Linux's top-down vm_unmapped_area finds it.
    pub fn gap_top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len > high.saturating_sub(low) {
            return None;
        }
        let mut ceiling = high;
        for v in self.map.range(..high).rev().map(|(_, v)| v) {
            if v.end <= ceiling && ceiling >= v.end.max(low) + len {
                return Some(ceiling - len);
            }
            ceiling = ceiling.min(v.start);
            if ceiling < low + len {
                return None;
            }
        }
        (ceiling >= low + len).then(|| ceiling - len)
    }

    /// Total mapped bytes.
    pub fn total(&self) -> u64 {
        self.map.values().map(Vma::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Perms = Perms::new(true, true, false);
    const R: Perms = Perms::new(true, false, false);

    fn anon(start: u64, end: u64) -> Vma {
        Vma::new(start, end, RW, VmaKind::Anon, RegionId(0))
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
    }

    #[test]
    fn remove_splits_at_both_edges() {
        let mut s = VmaSet::default();
        s.insert(anon(0x1000, 0x9000));
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
    fn image_offsets_follow_splits() {
        let mut s = VmaSet::default();
        let mut v = anon(0x40_0000, 0x40_4000);
        v.kind = VmaKind::Image { offset: 0x1000 };
        s.insert(v);
        s.update(0x40_2000, 0x40_4000, |v| v.perms = R);
        let second = s.find(0x40_2000).unwrap();
        assert_eq!(second.kind, VmaKind::Image { offset: 0x3000 });
    }

    #[test]
    fn top_down_gap_search() {
        let mut s = VmaSet::default();
        s.insert(anon(0x8000, 0xa000));
        assert_eq!(s.gap_top_down(0x1000, 0x1000, 0x10000), Some(0xf000));
        assert_eq!(s.gap_top_down(0x6000, 0x1000, 0x10000), Some(0xa000));
        assert_eq!(s.gap_top_down(0x7000, 0x1000, 0x10000), Some(0x1000));
        assert_eq!(s.gap_top_down(0x8000, 0x1000, 0x10000), None);
        // A low bound inside the lower gap.
        assert_eq!(s.gap_top_down(0x7000, 0x2000, 0x10000), None);
        s.insert(anon(0xc000, 0x10000));
        assert_eq!(s.gap_top_down(0x2000, 0x1000, 0x10000), Some(0xa000));
        assert_eq!(s.gap_top_down(0x3000, 0x1000, 0x10000), Some(0x5000));
        assert_eq!(s.find_from(0xb000).unwrap().start, 0xc000);
    }
}
