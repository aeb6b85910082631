//! The tables' format, walks and views, on a pool in plain memory.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::arch::pgtable::testing::{self, peek, poke, pool, walk_from, BASE};
use crate::arch::PAGE_SIZE;

#[test]
fn reclaim_taking_the_dirty_bit_leaves_the_page_soft_dirty() {
    let e = AtomicU64::new(Pte::user(BASE, Perms::RW, true).raw() | DIRTY | ACCESSED);
    assert_eq!(take_accessed_dirty(&e), (true, true));
    let p = Pte::from_raw(e.load(Ordering::Relaxed));
    assert!(!p.dirty() && !p.accessed() && p.soft_dirty());
    assert_eq!(take_accessed_dirty(&e), (false, false));
    assert!(Pte::from_raw(e.load(Ordering::Relaxed)).soft_dirty());
    let c = p.cleaned(true);
    assert!(!c.soft_dirty() && !c.writable() && c.present() && c.frame() == BASE);
    assert!(Pte::user(BASE, Perms::RW, false).keeping_soft_dirty(p).soft_dirty());
    assert!(!Pte::user(BASE, Perms::RW, false).keeping_soft_dirty(c).soft_dirty());
}
const RW: Perms = Perms::RW;

#[test]
fn maps_and_reads_back_with_permissions() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    pt.set(&mut pool, 0x40_1000, Pte::user(0x1_0000_3000, Perms::new(true, false, true), true)).unwrap();
    pt.set(&mut pool, 0x7fff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
    let t = pt.pte(0x40_1000);
    assert_eq!(t.frame(), 0x1_0000_3000);
    assert!(t.user_accessible() && !t.writable());
    assert!(pt.pte(0x7fff_ffff_e000).writable());
    // Copy-on-write: the VMA allows writes, the entry does not.
    pt.set(&mut pool, 0x40_2000, Pte::user(0x1_0000_5000, RW, false)).unwrap();
    assert!(!pt.pte(0x40_2000).writable());
    assert_eq!(pt.pte(0x40_3000), Pte::NONE);
    // 2 address ranges far apart: PML4 + 2 × (PDPT, PD, PT).
    assert_eq!(pt.table_pages(), 7);
    assert_eq!(pool.in_use(), 7);
    pt.retire(&mut pool);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn no_access_pages_keep_their_frame_and_changes_go_stale() {
    testing::no_access_pages_keep_their_frame_and_changes_go_stale::<X86_64>();
}

#[test]
fn range_walks_visit_only_what_is_mapped() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    for va in [0x40_0000, 0x40_1000, 0x7fff_0000_0000, 0x7fff_ffff_e000] {
        pt.set(&mut pool, va, Pte::user(0x1_0000_0000 + va / 0x1000 * 0x1000, RW, true)).unwrap();
    }
    pt.set(&mut pool, 0x40_2000, Pte::user(0x1_0000_9000, Perms::default(), true)).unwrap();
    let mut seen = Vec::new();
    pt.for_each_mapped(0x1000, 1 << 47, |va, _| seen.push(va));
    assert_eq!(seen, vec![0x40_0000, 0x40_1000, 0x40_2000, 0x7fff_0000_0000, 0x7fff_ffff_e000]);
    seen.clear();
    pt.for_each_mapped(0x40_1000, 0x7fff_0000_1000, |va, _| seen.push(va));
    assert_eq!(seen, vec![0x40_1000, 0x40_2000, 0x7fff_0000_0000]);
    seen.clear();
    pt.for_each_mapped(0x40_1000, 0x40_1000, |va, _| seen.push(va));
    assert!(seen.is_empty());
}

#[test]
fn kernel_half_is_shared_and_not_user() {
    let mut pool = pool(64);
    let mut k = PageTables::new(&mut pool, None).unwrap();
    k.map_kernel(&mut pool, 0xffff_ff80_0000_0000, 0x1000, false, true).unwrap();
    let pt = PageTables::new(&mut pool, Some(k.kernel_entry())).unwrap();
    assert_ne!(k.kernel_entry(), 0);
    // User walks never reach into the kernel half.
    assert_eq!(pt.leaf(0xffff_ff80_0000_0000), None);
}

#[test]
fn each_vcpu_view_has_its_own_ring_pages_and_the_rest_shared() {
    let mut pool = pool(64);
    let mut k = PageTables::new(&mut pool, None).unwrap();
    k.map_kernel(&mut pool, 0xffff_ff80_0000_0000, 0x1000, false, true).unwrap();
    let mut pt = PageTables::new(&mut pool, Some(k.kernel_entry())).unwrap();
    pt.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
    let (user_pages, before) = (pt.table_pages(), pool.in_use());
    let ring = |cpu: u64| 0xffff_ff00_0000_0000 + cpu * 4 * PAGE_SIZE;
    let pages =
        |cpu: u64| [(ring(cpu), 0x8000_0000, RingPage::Code), (ring(cpu) + PAGE_SIZE, 0x8000_1000, RingPage::Data)];
    let v0 = pt.make_view(&mut pool, 0, &pages(0), true).unwrap();
    let v1 = pt.make_view(&mut pool, 1, &pages(1), true).unwrap();
    assert_ne!(v0, v1);
    assert_eq!((pt.view_root(0), pt.view_root(1), pt.view_root(2)), (Some(v0), Some(v1), None));
    // The views' tables count against memory, not against VmPTE.
    assert_eq!(pt.table_pages(), user_pages);
    assert_eq!(pool.in_use(), before + 8);
    // Each view maps its own vCPU's ring pages, no other's; the address
    // space's own root maps none.
    assert_eq!(
        walk_from(&pt, v0, ring(0) + PAGE_SIZE),
        0x8000_1000 | PRESENT | WRITABLE | USER | NX | ACCESSED | DIRTY
    );
    assert_eq!(walk_from(&pt, v0, ring(1) + PAGE_SIZE), 0);
    assert_eq!(walk_from(&pt, v1, ring(0) + PAGE_SIZE), 0);
    assert_ne!(walk_from(&pt, v1, ring(1)), 0);
    assert_eq!(walk_from(&pt, pt.root_gpa(), ring(0) + PAGE_SIZE), 0);
    // User pages and the kernel half are the same tables in every root,
    // including PML4 entries made after the views.
    pt.set(&mut pool, 0x7fff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
    for va in [0x40_0000, 0x7fff_ffff_e000, 0xffff_ff80_0000_0000] {
        assert_ne!(walk_from(&pt, pt.root_gpa(), va), 0, "{va:#x}");
        for v in [v0, v1] {
            assert_eq!(walk_from(&pt, v, va), walk_from(&pt, pt.root_gpa(), va), "{va:#x}");
        }
    }
    // A view retired goes whole; its vCPU's next one is new.
    assert!(pt.drop_view(&mut pool, 0));
    assert!(!pt.drop_view(&mut pool, 0));
    assert_eq!(pool.in_use(), before + 4 + 3);
    let v0b = pt.make_view(&mut pool, 0, &pages(0), false).unwrap();
    assert_ne!(v0b, v0);
    assert_eq!(walk_from(&pt, v0b, ring(0) + PAGE_SIZE) & USER, 0);
    pt.retire(&mut pool);
    assert_eq!(pool.in_use(), k.table_pages());
}

#[test]
fn rejects_non_canonical_and_exhaustion() {
    let mut pool = pool(4);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    assert_eq!(
        pt.set(&mut pool, 0x0000_8000_0000_0000, Pte::NONE),
        Err(PagingError::NonCanonical(0x0000_8000_0000_0000))
    );
    assert!(matches!(pt.set(&mut pool, 0x1000, Pte::NONE), Err(PagingError::PoolExhausted(_))));
}

#[test]
fn corrupt_tables_are_errors_not_host_accesses() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    let mut other = PageTables::new(&mut pool, None).unwrap();
    other.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
    pt.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
    let root = pt.root_gpa();
    let va = 0x80_0000_0000; // PML4 slot 1
    let bad_entries = [
        // Beyond the slot: the repro's 0xffffffffff007.
        0x000f_ffff_ffff_f007,
        // Inside the slot but not a table at all.
        BASE | 0x7,
        (BASE + 60 * PAGE_SIZE) | 0x7,
        // Another address space's table.
        other.root_gpa() | 0x7,
        // Below the slot.
        0x7,
        // A huge-page bit where a table must be.
        root | 0x87,
    ];
    for bad in bad_entries {
        poke(&pt, root, 1, bad);
        assert!(matches!(pt.walk(va), Err(PagingError::Corrupt { level: 4, .. })), "{bad:#x}");
        assert_eq!(pt.leaf(va), None);
        let r = pt.set(&mut pool, va, Pte::user(0x1_0000_1000, RW, true));
        assert!(matches!(r, Err(PagingError::Corrupt { .. })), "{bad:#x}");
    }
    // An entry pointing at the tables themselves (a loop) is followed
    // only for the walk's four levels, and stays inside our tables.
    poke(&pt, root, 1, root | 0x7);
    assert!(pt.walk(va).is_ok());
    // Non-canonical addresses are refused before any walk.
    assert!(matches!(pt.walk(0x0000_8000_0000_1000), Err(PagingError::NonCanonical(_))));
    // Deeper levels are checked the same way: corrupt the PD entry.
    let pdpt = peek(&pt, root, 0) & ADDR_MASK;
    let pd = peek(&pt, pdpt, 0) & ADDR_MASK;
    poke(&pt, pd, 2, 0xdead_b000 | 0x87);
    assert!(matches!(pt.walk(0x40_0000), Err(PagingError::Corrupt { level: 2, .. })));
    assert_eq!(pt.leaf(0x40_0000), None);
}
