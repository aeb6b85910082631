//! The page allocator: Linux's buddy system over the sandbox's RAM, split
//! into zones by physical address, with per-zone watermarks.
//!
//! Physical here is the RAM the guest is given (`--mem`, or `--rss-limit`
//! when smaller: what /proc/meminfo's MemTotal shows), as page frame
//! numbers from 0 (pfn 0 is the first RAM page). A page of memory is
//! allocated when a frame gets a host page of its own and when a page
//! table is made, and freed when either goes (see [`super::Phys`]).
//!
//! As in mm/page_alloc.c: free lists per order 0..=10 (MAX_ORDER 11),
//! taking the smallest order that has a block and splitting it (the low
//! half is kept, upper halves go back on the lists), and freeing merges a
//! block with its buddy as long as the buddy is free and whole. Zones as
//! x86-64 has them: DMA below 16 MiB, DMA32 below 4 GiB, Normal above;
//! user allocations try Normal, then DMA32, then DMA (the zonelist), each
//! zone only if its free pages stay above the watermark asked for plus its
//! lowmem_reserve. Within a list the lowest block goes first, so the
//! numbers are the same on every run.

use std::collections::BTreeSet;

/// Orders 0..=10: Linux's MAX_ORDER (NR_PAGE_ORDERS since 6.4) of 11.
pub const NR_ORDERS: usize = 11;

/// Zones a node has on x86-64: DMA, DMA32, Normal, Movable, Device.
pub const NR_ZONES: usize = 5;

/// The zones' names, as /proc shows them.
pub const ZONE_NAMES: [&str; NR_ZONES] = ["DMA", "DMA32", "Normal", "Movable", "Device"];

/// Where DMA and DMA32 end, in pages: 16 MiB and 4 GiB.
pub const DMA_END: u64 = (16 << 20) >> 12;
pub const DMA32_END: u64 = (4 << 30) >> 12;

/// Index of ZONE_MOVABLE: the highest zone user pages may come from
/// (GFP_HIGHUSER_MOVABLE), so the lowmem_reserve every user allocation
/// respects is each zone's entry for it.
pub const ZONE_MOVABLE: usize = 3;

/// sysctl_lowmem_reserve_ratio's defaults, per zone.
const LOWMEM_RESERVE_RATIO: [u64; NR_ZONES] = [256, 256, 32, 0, 0];

/// vm.watermark_scale_factor's default: the gap between watermarks is at
/// least 0.1% of the zone.
pub const WATERMARK_SCALE_FACTOR: u64 = 10;

/// SWAP_CLUSTER_MAX: the least min watermark of a Movable zone.
const SWAP_CLUSTER_MAX: u64 = 32;

/// The watermarks of a zone, as zone->_watermark indexes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wmark {
    Min = 0,
    Low = 1,
    High = 2,
    Promo = 3,
}

/// min_free_kbytes for RAM of `pages`, as calculate_min_free_kbytes()
/// finds it: sqrt(16 × RAM in KiB), within 128 KiB..256 MiB. RAM far
/// smaller than any machine Linux runs on keeps three quarters of itself
/// usable (at most a quarter is reserved), so tiny budgets still run.
pub fn min_free_kbytes(pages: u64) -> u64 {
    let kib = pages.saturating_mul(4);
    kib.saturating_mul(16).isqrt().clamp(128, 262_144).min(kib / 4).max(4)
}

/// One zone: a range of pfns and its free lists.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: &'static str,
    pub start_pfn: u64,
    /// Pages it spans; every one is present and managed (the sandbox's RAM
    /// has no holes and no memory the kernel keeps for itself).
    pub spanned: u64,
    /// Free blocks per order, by first pfn.
    free_area: [BTreeSet<u64>; NR_ORDERS],
    /// Free pages (nr_free_pages).
    pub nr_free: u64,
    /// min, low, high, promo.
    pub watermark: [u64; 4],
    /// lowmem_reserve: pages kept back from allocations that could have
    /// used a zone up to each index ("protection" in /proc/zoneinfo).
    pub lowmem_reserve: [u64; NR_ZONES],
    /// Allocations it served (numa_hit: one node, so all of them local).
    pub allocs: u64,
}

impl Zone {
    fn new(i: usize, start_pfn: u64, spanned: u64) -> Self {
        Zone {
            name: ZONE_NAMES[i],
            start_pfn,
            spanned,
            free_area: Default::default(),
            nr_free: 0,
            watermark: [0; 4],
            lowmem_reserve: [0; NR_ZONES],
            allocs: 0,
        }
    }

    pub fn managed(&self) -> u64 {
        self.spanned
    }

    pub fn populated(&self) -> bool {
        self.spanned > 0
    }

    fn contains(&self, pfn: u64) -> bool {
        pfn >= self.start_pfn && pfn < self.start_pfn + self.spanned
    }

    /// Free blocks of each order (a /proc/buddyinfo line).
    pub fn free_blocks(&self) -> [u64; NR_ORDERS] {
        std::array::from_fn(|o| self.free_area[o].len() as u64)
    }

    pub fn wmark(&self, w: Wmark) -> u64 {
        self.watermark[w as usize]
    }

    /// zone_watermark_ok(): whether `order` pages may be taken from this
    /// zone and leave it above `mark` plus its reserve against allocations
    /// that could have used zones up to `highest`. As in
    /// __zone_watermark_ok(), only blocks of at least `order` count for a
    /// higher-order request.
    pub fn watermark_ok(&self, order: u32, mark: u64, highest: usize) -> bool {
        let free = self.nr_free as i64 - ((1i64 << order) - 1);
        let min = (mark + self.lowmem_reserve[highest]) as i64;
        if free <= min {
            return false;
        }
        if order == 0 {
            return true;
        }
        (order as usize..NR_ORDERS).any(|o| !self.free_area[o].is_empty())
    }

    /// __rmqueue_smallest() and expand(): the lowest block of the smallest
    /// order that has one, split down to `order`.
    fn take(&mut self, order: u32) -> Option<u64> {
        let o = (order as usize..NR_ORDERS).find(|&o| !self.free_area[o].is_empty())?;
        let pfn = self.free_area[o].pop_first()?;
        let mut high = o;
        while high > order as usize {
            high -= 1;
            self.free_area[high].insert(pfn + (1 << high));
        }
        self.nr_free -= 1 << order;
        self.allocs += 1;
        Some(pfn)
    }

    /// __free_one_page(): puts the block back, merging it with its buddy
    /// for as long as the buddy is a free block of the same order.
    fn put(&mut self, mut pfn: u64, order: u32) {
        self.nr_free += 1 << order;
        let mut o = order as usize;
        while o < NR_ORDERS - 1 {
            let buddy = pfn ^ (1 << o);
            if !self.free_area[o].remove(&buddy) {
                break;
            }
            pfn = pfn.min(buddy);
            o += 1;
        }
        self.free_area[o].insert(pfn);
    }
}

/// Errors of the page allocator.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuddyError {
    #[error("pfn {pfn} (order {order}) is outside RAM or not an allocated block")]
    BadFree { pfn: u64, order: u32 },
}

/// The node: its zones and the settings their watermarks come from.
#[derive(Clone, Debug)]
pub struct Buddy {
    zones: [Zone; NR_ZONES],
    min_free_kbytes: u64,
}

impl Buddy {
    /// A node of `pages` pages of RAM, all free, with Linux's default
    /// min_free_kbytes for its size.
    pub fn new(pages: u64) -> Self {
        Self::with_min_free_kbytes(pages, min_free_kbytes(pages))
    }

    pub fn with_min_free_kbytes(pages: u64, min_free_kbytes: u64) -> Self {
        let bounds = [0, DMA_END.min(pages), DMA32_END.min(pages), pages, pages, pages];
        let mut zones: [Zone; NR_ZONES] = std::array::from_fn(|i| Zone::new(i, bounds[i], bounds[i + 1] - bounds[i]));
        // Movable and Device are empty; Linux puts an empty zone's start
        // where the populated ones end.
        for z in &mut zones[ZONE_MOVABLE..] {
            z.start_pfn = if pages > DMA32_END { pages } else { 0 };
        }
        for z in &mut zones {
            // memblock_free_all(): the largest aligned blocks that fit.
            let (mut pfn, end) = (z.start_pfn, z.start_pfn + z.spanned);
            while pfn < end {
                let mut o = (NR_ORDERS - 1).min(pfn.trailing_zeros() as usize);
                while pfn + (1 << o) > end {
                    o -= 1;
                }
                z.free_area[o].insert(pfn);
                z.nr_free += 1 << o;
                pfn += 1 << o;
            }
        }
        let mut b = Buddy { zones, min_free_kbytes };
        b.setup_per_zone_wmarks();
        b.setup_per_zone_lowmem_reserve();
        b
    }

    /// __setup_per_zone_wmarks(): min_free_kbytes shared among the lowmem
    /// zones by size; low and high each a step above, the step being a
    /// quarter of min or watermark_scale_factor of the zone, whichever is
    /// larger.
    fn setup_per_zone_wmarks(&mut self) {
        let pages_min = self.min_free_kbytes >> 2;
        let lowmem: u64 = self.zones[..ZONE_MOVABLE].iter().map(Zone::managed).sum();
        for (i, z) in self.zones.iter_mut().enumerate() {
            let mut tmp = (pages_min * z.managed()).checked_div(lowmem).unwrap_or(0);
            z.watermark[0] = if i == ZONE_MOVABLE { (z.managed() / 1024).clamp(SWAP_CLUSTER_MAX, 128) } else { tmp };
            tmp = (tmp >> 2).max(z.managed() * WATERMARK_SCALE_FACTOR / 10000);
            z.watermark[1] = z.watermark[0] + tmp;
            z.watermark[2] = z.watermark[1] + tmp;
            z.watermark[3] = z.watermark[2] + tmp;
        }
    }

    /// setup_per_zone_lowmem_reserve(): each zone keeps back the pages of
    /// the zones above it divided by its ratio, from allocations that
    /// could have used those.
    fn setup_per_zone_lowmem_reserve(&mut self) {
        for (i, &ratio) in LOWMEM_RESERVE_RATIO.iter().enumerate().take(NR_ZONES - 1) {
            let clear = ratio == 0 || self.zones[i].managed() == 0;
            let mut managed = 0;
            for j in i + 1..NR_ZONES {
                managed += self.zones[j].managed();
                self.zones[i].lowmem_reserve[j] = if clear { 0 } else { managed / ratio };
            }
        }
    }

    pub fn zones(&self) -> &[Zone; NR_ZONES] {
        &self.zones
    }

    pub fn min_free_kbytes(&self) -> u64 {
        self.min_free_kbytes
    }

    /// Free pages of every zone: what MemFree and nr_free_pages show.
    pub fn free_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.nr_free).sum()
    }

    /// The zone `pfn` lies in.
    pub fn zone_of(&self, pfn: u64) -> Option<usize> {
        self.zones.iter().position(|z| z.contains(pfn))
    }

    /// Whether a user allocation of `order` would find a zone above `mark`
    /// (the check get_page_from_freelist() makes along the zonelist).
    pub fn watermark_ok(&self, order: u32, mark: Wmark) -> bool {
        self.zones[..=ZONE_MOVABLE]
            .iter()
            .rev()
            .any(|z| z.populated() && z.watermark_ok(order, z.wmark(mark), ZONE_MOVABLE))
    }

    /// Order-0 pages that can be taken, along the zonelist, before every
    /// zone is down to `mark` plus its reserve: what a caller wanting `n`
    /// pages at once must compare `n` with (free pages in a zone that
    /// protects them with lowmem_reserve do not count).
    pub fn room_above(&self, mark: Wmark) -> u64 {
        self.zones[..=ZONE_MOVABLE]
            .iter()
            .filter(|z| z.populated())
            .map(|z| z.nr_free.saturating_sub(z.wmark(mark) + z.lowmem_reserve[ZONE_MOVABLE] + 1))
            .sum()
    }

    /// A user allocation of 2^`order` pages: from the first zone of the
    /// zonelist (Normal, DMA32, DMA) that stays above `mark`, or from any
    /// that has the pages when `mark` is `None` (ALLOC_NO_WATERMARKS).
    pub fn alloc(&mut self, order: u32, mark: Option<Wmark>) -> Option<u64> {
        if order as usize >= NR_ORDERS {
            return None;
        }
        let z = self.zones[..=ZONE_MOVABLE].iter_mut().rev().find(|z| {
            z.populated()
                && match mark {
                    Some(m) => z.watermark_ok(order, z.wmark(m), ZONE_MOVABLE),
                    None => (order as usize..NR_ORDERS).any(|o| !z.free_area[o].is_empty()),
                }
        })?;
        z.take(order)
    }

    /// One page, as the fault path takes it: above low if a zone can give
    /// it so, else above min (the slow path, once reclaim has had its
    /// chance), else from the reserves.
    pub fn alloc_page(&mut self) -> Option<u64> {
        self.alloc(0, Some(Wmark::Low)).or_else(|| self.alloc(0, Some(Wmark::Min))).or_else(|| self.alloc(0, None))
    }

    /// Gives back a block `alloc` handed out.
    pub fn free(&mut self, pfn: u64, order: u32) -> Result<(), BuddyError> {
        let bad = BuddyError::BadFree { pfn, order };
        let z = self.zone_of(pfn).ok_or(bad.clone())?;
        let zone = &mut self.zones[z];
        if order as usize >= NR_ORDERS
            || !pfn.is_multiple_of(1 << order)
            || !zone.contains(pfn + (1 << order) - 1)
            || zone.nr_free + (1 << order) > zone.spanned
        {
            return Err(bad);
        }
        zone.put(pfn, order);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(b: &Buddy, z: usize) -> [u64; NR_ORDERS] {
        b.zones()[z].free_blocks()
    }

    #[test]
    fn a_fresh_node_is_all_max_order_blocks() {
        // 256 MiB: DMA is 16 MiB (4 blocks of 4 MiB), DMA32 the rest (60).
        let b = Buddy::new(65536);
        assert_eq!(lists(&b, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(lists(&b, 1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60]);
        assert_eq!((b.zones()[0].spanned, b.zones()[1].start_pfn, b.zones()[1].spanned), (4096, 4096, 61440));
        assert!(!b.zones()[2].populated());
        assert_eq!(b.free_pages(), 65536);
        // A size that is no power of two: the tail in smaller blocks.
        let b = Buddy::new(1024 + 512 + 3);
        assert_eq!(lists(&b, 0), [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(b.free_pages(), 1539);
    }

    #[test]
    fn allocations_split_and_frees_coalesce() {
        let mut b = Buddy::with_min_free_kbytes(1024, 128);
        assert_eq!(lists(&b, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        // One page splits the 1024-page block into 512+256+…+1 and keeps pfn 0.
        assert_eq!(b.alloc(0, None), Some(0));
        assert_eq!(lists(&b, 0), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        // The next comes from the order-0 block left, then order 1 splits.
        assert_eq!(b.alloc(0, None), Some(1));
        assert_eq!(lists(&b, 0), [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(b.alloc(0, None), Some(2));
        assert_eq!(lists(&b, 0), [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(b.alloc(2, None), Some(4));
        assert_eq!(lists(&b, 0), [1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(b.free_pages(), 1024 - 7);
        // Freeing 1 finds its buddy 0 taken: an order-0 block.
        b.free(1, 0).unwrap();
        assert_eq!(lists(&b, 0), [2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
        // Freeing 0 merges with 1 into an order-1 block, but 2 is taken.
        b.free(0, 0).unwrap();
        assert_eq!(lists(&b, 0), [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
        // 2 merges with 3, then with 0-1, waits for 4-7.
        b.free(2, 0).unwrap();
        assert_eq!(lists(&b, 0), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        // 4-7 back: everything merges into the one block again.
        b.free(4, 2).unwrap();
        assert_eq!(lists(&b, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(b.free_pages(), 1024);
    }

    #[test]
    fn every_other_page_freed_leaves_order_zero_blocks() {
        let mut b = Buddy::with_min_free_kbytes(2048, 128);
        let pages: Vec<u64> = (0..512).map(|_| b.alloc(0, None).unwrap()).collect();
        assert_eq!(pages, (0..512).collect::<Vec<_>>());
        assert_eq!(lists(&b, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        for p in pages.iter().step_by(2) {
            b.free(*p, 0).unwrap();
        }
        // 256 holes, none with a free buddy: fragmented.
        assert_eq!(lists(&b, 0), [256, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        // An order-1 request cannot use them.
        assert_eq!(b.alloc(1, None), Some(512));
        b.free(512, 1).unwrap();
        for p in pages.iter().skip(1).step_by(2) {
            b.free(*p, 0).unwrap();
        }
        assert_eq!(lists(&b, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn bad_frees_are_refused() {
        let mut b = Buddy::with_min_free_kbytes(1024, 128);
        assert!(b.free(0, 0).is_err(), "all of it is free already");
        assert!(b.free(5000, 0).is_err());
        let p = b.alloc(1, None).unwrap();
        assert!(b.free(p + 1, 1).is_err(), "misaligned");
        assert!(b.free(p, 11).is_err());
        b.free(p, 1).unwrap();
        assert_eq!(b.free_pages(), 1024);
    }

    #[test]
    fn watermarks_follow_setup_per_zone_wmarks() {
        // 256 MiB: min_free_kbytes = sqrt(262144 × 16) = 2048 KiB, 512 pages.
        let b = Buddy::new(65536);
        assert_eq!(b.min_free_kbytes(), 2048);
        let (dma, dma32) = (&b.zones()[0], &b.zones()[1]);
        // min = 512 × managed / 65536; the step is min/4 (larger than 0.1%).
        assert_eq!(dma.watermark, [32, 40, 48, 56]);
        assert_eq!(dma32.watermark, [480, 600, 720, 840]);
        // lowmem_reserve: DMA keeps DMA32's pages / 256 from user pages.
        assert_eq!(dma.lowmem_reserve, [0, 240, 240, 240, 240]);
        assert_eq!(dma32.lowmem_reserve, [0; 5]);
        // An empty Normal: all zero; Movable: SWAP_CLUSTER_MAX.
        assert_eq!(b.zones()[2].watermark, [0; 4]);
        assert_eq!(b.zones()[3].watermark, [32; 4]);
        // 8 GiB: Normal gets its share, and the 0.1% step is the larger but
        // in DMA.
        let b = Buddy::new(2 << 20);
        assert_eq!(b.min_free_kbytes(), 11585);
        let z: Vec<_> = b.zones().iter().map(|z| (z.spanned, z.watermark)).collect();
        assert_eq!(z[0], (4096, [5, 9, 13, 17]));
        assert_eq!(z[1], (1044480, [1442, 2486, 3530, 4574]));
        assert_eq!(z[2], (1048576, [1448, 2496, 3544, 4592]));
        assert_eq!(b.zones()[0].lowmem_reserve, [0, 4080, 8176, 8176, 8176]);
        assert_eq!(b.zones()[1].lowmem_reserve, [0, 0, 4096, 4096, 4096]);
        // Normal's reserve is for Movable, which is empty.
        assert_eq!(b.zones()[2].lowmem_reserve, [0; 5]);
    }

    #[test]
    fn allocations_prefer_the_highest_zone_and_fall_back() {
        // 8 GiB + 1 MiB: Normal first, and in it the smallest block (the
        // 1 MiB tail) before the 4 MiB ones.
        let mut b = Buddy::new((2 << 20) + 256);
        assert_eq!(b.zone_of(2 << 20), Some(2));
        assert_eq!(b.alloc(0, Some(Wmark::Low)), Some(2 << 20));
        assert_eq!(b.zones()[2].free_blocks(), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1024]);
        // 20 MiB: DMA32 (4 MiB) first, then DMA once DMA32 is at its low
        // watermark, DMA only down to its low mark plus its reserve.
        let mut b = Buddy::new(5120);
        let (dma, dma32) = (b.zones()[0].clone(), b.zones()[1].clone());
        let from_dma32 = dma32.spanned - dma32.wmark(Wmark::Low);
        for _ in 0..from_dma32 {
            assert!(b.alloc(0, Some(Wmark::Low)).unwrap() >= DMA_END);
        }
        let from_dma = dma.spanned - dma.wmark(Wmark::Low) - dma.lowmem_reserve[ZONE_MOVABLE];
        for _ in 0..from_dma {
            assert!(b.alloc(0, Some(Wmark::Low)).unwrap() < DMA_END);
        }
        assert!(!b.watermark_ok(0, Wmark::Low));
        assert_eq!(b.alloc(0, Some(Wmark::Low)), None);
        // Below low, the min watermark still lets DMA32 give pages.
        assert!(b.watermark_ok(0, Wmark::Min));
        assert!(b.alloc(0, Some(Wmark::Min)).unwrap() >= DMA_END);
        // Without watermarks every page can go.
        let left = b.free_pages();
        for _ in 0..left {
            assert!(b.alloc_page().is_some());
        }
        assert_eq!((b.free_pages(), b.alloc_page()), (0, None));
    }

    #[test]
    fn min_free_kbytes_is_linuxs_for_real_sizes() {
        assert_eq!(min_free_kbytes(16384), 1024);
        assert_eq!(min_free_kbytes(4096), 512);
        // The 128 KiB floor, under the quarter cap.
        assert_eq!(min_free_kbytes(200), 128);
        // Tiny budgets: a quarter at most.
        assert_eq!(min_free_kbytes(16), 16);
        assert_eq!(min_free_kbytes(1), 4);
        // The 256 MiB ceiling.
        assert_eq!(min_free_kbytes(1 << 30), 262_144);
    }
}
