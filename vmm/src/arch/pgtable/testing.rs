//! What every format's tests stand on: a pool in plain memory, raw access
//! to its entries as the guest's CPU has, a walk by hand as the MMU does,
//! and the tests whose every assertion holds in both formats.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Format, PageTables, Perms, Pte, TablePool};
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// Guest-physical address of the pool's slot.
pub const BASE: u64 = 0x10_0000;

/// A pool of `pages` pages (the first is left out).
pub fn pool(pages: u64) -> TablePool {
    let mem = Arc::new(HostMapping::new("test tables", pages * PAGE_SIZE).unwrap());
    TablePool::new(mem, BASE, 0x1000, pages * PAGE_SIZE)
}

/// Entry `index` of table `table_gpa`, as the guest's CPU reaches it.
pub fn at<F: Format>(pt: &PageTables<F>, table_gpa: u64, index: u64) -> &AtomicU64 {
    pt.mem.atomic_u64(table_gpa - BASE + index * 8).unwrap()
}

/// Writes `v` into entry `index` of table `table_gpa`, as a corrupting
/// guest (or bug) would.
pub fn poke<F: Format>(pt: &PageTables<F>, table_gpa: u64, index: u64, v: u64) {
    at(pt, table_gpa, index).store(v, Ordering::Relaxed);
}

/// Reads entry `index` of table `table_gpa`.
pub fn peek<F: Format>(pt: &PageTables<F>, table_gpa: u64, index: u64) -> u64 {
    at(pt, table_gpa, index).load(Ordering::Relaxed)
}

/// The leaf for `va` under root `root`, walked by hand as the MMU does,
/// from the root page whose half holds `va`.
pub fn walk_from<F: Format>(pt: &PageTables<F>, root: u64, va: u64) -> u64 {
    let half = F::HALVES.iter().rposition(|&h| va >= h).unwrap() as u64;
    let mut table = root + half * PAGE_SIZE;
    let idx = PageTables::<F>::indices(va);
    for &i in &idx[..3] {
        let e = peek(pt, table, i);
        if e & F::VALID == 0 {
            return 0;
        }
        table = e & F::ADDR_MASK;
    }
    peek(pt, table, idx[3])
}

/// A page made inaccessible keeps its frame; only changes to valid
/// translations go stale.
pub fn no_access_pages_keep_their_frame_and_changes_go_stale<F: Format>() {
    let mut pool = pool(64);
    let mut pt = PageTables::<F>::new(&mut pool, None).unwrap();
    pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, Perms::RW, true)).unwrap();
    pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, Perms::default(), true)).unwrap();
    let p = pt.pte(0x50_0000);
    assert!(!p.present() && p.mapped() && p.frame() == 0x1_0000_7000);
    pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, Perms::new(true, false, false), true)).unwrap();
    assert_eq!(pt.clear(0x50_0000).frame(), 0x1_0000_7000);
    assert!(!pt.pte(0x50_0000).mapped());
    assert_eq!(pt.take_stale(), vec![0x1_0000_7000, 0x1_0000_7000]);
    assert!(pt.take_stale().is_empty());
}
