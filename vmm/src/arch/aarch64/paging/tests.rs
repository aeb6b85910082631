//! The descriptors' exact bits, walks and views, on a pool in plain
//! memory. The tests play the CPU where it writes descriptors (HA, HD).

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::arch::pgtable::testing::{self, peek, poke, pool, walk_from, BASE};
use crate::arch::PAGE_SIZE;
const RW: Perms = Perms::RW;
const RX: Perms = Perms::new(true, false, true);
/// The low bits every valid user page has: valid, page, AttrIndx 0,
/// inner shareable, not global, EL0 (0b11 | 0x300 | 0x800 | 0x40).
const USER_LOW: u64 = 0xb43;

#[test]
fn user_descriptors_have_arms_bits() {
    // r-x: AP = 0b11 (EL0 read-only), PXN, no UXN, no DBM, AF clear.
    let rx = Pte::user(0x1_0000_3000, RX, true);
    assert_eq!(rx.raw(), 0x0020_0001_0000_3000 | USER_LOW | 0x80);
    assert!(rx.present() && rx.user_accessible() && !rx.writable() && !rx.accessed() && !rx.dirty());
    // rw-, clean: DBM with AP[2] still set, PXN and UXN.
    let rw = Pte::user(0x1_0000_4000, RW, true);
    assert_eq!(rw.raw(), 0x0068_0001_0000_4000 | USER_LOW | 0x80);
    assert!(rw.writable() && !rw.dirty() && !rw.soft_dirty());
    // Copy-on-write: the VMA allows writes, the descriptor does not (no DBM).
    let cow = Pte::user(0x1_0000_5000, RW, false);
    assert_eq!(cow.raw(), 0x0060_0001_0000_5000 | USER_LOW | 0x80);
    assert!(!cow.writable());
    // rwx and exec-only (readable, as on x86).
    assert_eq!(Pte::user(0x6000, Perms::new(true, true, true), true).raw(), 0x0028_0000_0000_6000 | USER_LOW | 0x80);
    assert_eq!(Pte::user(0x7000, Perms::new(false, false, true), true), Pte::user(0x7000, RX, true));
    // No access: invalid, the frame kept under SOFT_NOACCESS (bit 56).
    let none = Pte::user(0x1_0000_7000, Perms::default(), true);
    assert_eq!(none.raw(), 0x0100_0001_0000_7000);
    assert!(!none.present() && none.mapped() && !none.writable() && !none.is_guard());
    assert_eq!(Pte::GUARD.raw(), 1 << 57);
    assert!(Pte::GUARD.is_guard() && !Pte::GUARD.mapped());
    // Output address bits beyond 47 never reach a descriptor.
    assert_eq!(Pte::user(0xffff_0001_0000_8fff, RX, true).frame(), 0x1_0000_8000);
}

#[test]
fn a_hardware_write_dirties_and_reclaim_cleans() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    let va = 0x40_0000;
    pt.set(&mut pool, va, Pte::user(BASE, RW, true)).unwrap();
    let e = entry_at(pt.mem.as_ref(), pt.leaf(va).unwrap().slot_offset).unwrap();
    // A read sets AF (HA) only.
    pt.note_access(va, false);
    assert_eq!(e.load(Ordering::Relaxed), 0x0068_0000_0010_0000 | USER_LOW | 0x80 | 0x400);
    assert!(!peek_dirty(e));
    // A write clears AP[2] (HD): dirty is DBM && !AP[2].
    pt.note_access(va, true);
    let written = 0x0068_0000_0010_0000 | USER_LOW | 0x400;
    assert_eq!(e.load(Ordering::Relaxed), written);
    assert!(peek_dirty(e) && pt.pte(va).dirty() && pt.pte(va).writable());
    // Reclaim takes both; AP[2] goes back, so the next write is seen, and
    // the page stays soft-dirty (bit 58).
    assert_eq!(take_accessed_dirty(e), (true, true));
    assert_eq!(e.load(Ordering::Relaxed), (written | 0x80 | 1 << 58) & !0x400);
    assert!(!peek_dirty(e) && pt.pte(va).soft_dirty() && pt.pte(va).writable());
    assert_eq!(take_accessed_dirty(e), (false, false));
    pt.note_access(va, true);
    assert!(peek_dirty(e));
    // None of this changed the translation, so nothing went stale.
    assert!(pt.take_stale().is_empty());
}

#[test]
fn dirty_state_survives_losing_write_permission() {
    let dirty = Pte::from_raw(Pte::user(BASE, RW, true).raw() & !AP_RDONLY | AF);
    assert!(dirty.dirty());
    // Fork's copy-on-write: no DBM left, so the software bit (55) says it.
    let cow = Pte::user(BASE, RW, false).keeping_history(dirty);
    assert_eq!(cow.raw(), 0x00e0_0000_0010_0000 | USER_LOW | 0x80 | 0x400);
    assert!(cow.dirty() && !cow.writable() && cow.accessed());
    // Made writable again: back in hardware form, exactly what the CPU's
    // write had left.
    assert_eq!(Pte::user(BASE, RW, true).keeping_history(dirty), dirty);
    // PROT_NONE keeps it too, in an invalid entry.
    let none = Pte::user(BASE, Perms::default(), true).keeping_history(dirty);
    assert!(!none.present() && none.dirty() && none.accessed());
    // Reclaim of the copy-on-write entry: clean, soft-dirty.
    let e = AtomicU64::new(cow.raw());
    assert_eq!(take_accessed_dirty(&e), (true, true));
    let p = Pte::from_raw(e.load(Ordering::Relaxed));
    assert!(!p.dirty() && !p.accessed() && p.soft_dirty() && !p.writable());
    assert!(Pte::user(BASE, RW, false).keeping_soft_dirty(p).soft_dirty());
}

#[test]
fn clear_refs_cleans_and_write_protects() {
    let dirty = Pte::from_raw(Pte::user(BASE, RW, true).raw() & !AP_RDONLY | AF | SOFT_DIRTY);
    // Cleaned and kept writable: AP[2] back with DBM, so the CPU's next
    // write marks it again without a fault.
    let kept = dirty.cleaned(false);
    assert_eq!(kept.raw(), 0x0068_0000_0010_0000 | USER_LOW | 0x80 | 0x400);
    assert!(!kept.soft_dirty() && kept.writable());
    // Protected: DBM goes too, so the next write faults.
    let c = dirty.cleaned(true);
    assert_eq!(c.raw(), 0x0060_0000_0010_0000 | USER_LOW | 0x80 | 0x400);
    assert!(!c.soft_dirty() && !c.writable() && c.present() && c.frame() == BASE);
    assert!(!Pte::user(BASE, RW, false).keeping_soft_dirty(c).soft_dirty());
    // In the tables: losing DBM is a change of translation, the dirty
    // state alone is not.
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    pt.set(&mut pool, 0x40_0000, dirty).unwrap();
    pt.set(&mut pool, 0x40_0000, kept).unwrap();
    assert!(pt.take_stale().is_empty());
    pt.set(&mut pool, 0x40_0000, c).unwrap();
    assert_eq!(pt.take_stale(), vec![BASE]);
    // The kernel's own writes (copy_to_user) mark soft-dirty directly.
    pt.mark_soft_dirty(0x40_0000);
    assert!(pt.pte(0x40_0000).soft_dirty() && !pt.pte(0x40_0000).dirty());
    pt.note_access(0x40_0000, false);
    pt.clear_accessed(0x40_0000);
    assert!(!pt.pte(0x40_0000).accessed());
}

#[test]
fn maps_and_reads_back_with_permissions() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    pt.set(&mut pool, 0x40_1000, Pte::user(0x1_0000_3000, RX, true)).unwrap();
    // The top of TTBR0's half is the program's (its L0 slot 511 is not
    // the kernel's, which is TTBR1's).
    pt.set(&mut pool, 0xffff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
    let t = pt.pte(0x40_1000);
    assert_eq!(t.frame(), 0x1_0000_3000);
    assert!(t.user_accessible() && !t.writable());
    // The pair is slot offsets 0x1000 and 0x2000, then L1, L2, L3: entry 1.
    assert_eq!(pt.leaf(0x40_1000), Some(Leaf { pte: t, slot_offset: 0x5008 }));
    assert!(pt.pte(0xffff_ffff_e000).writable());
    assert_eq!(pt.pte(0x40_3000), Pte::NONE);
    assert_eq!(walk_from(&pt, pt.root_gpa(), 0xffff_ffff_e000), pt.pte(0xffff_ffff_e000).raw());
    assert_eq!(peek(&pt, ttbr1(pt.root_gpa()), 511), 0);
    // 2 address ranges far apart: L0 + 2 × (L1, L2, L3); TTBR1's root is
    // faultline's, not the program's.
    assert_eq!(pt.table_pages(), 7);
    assert_eq!(pool.in_use(), 8);
    pt.retire(&mut pool);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn no_access_pages_keep_their_frame_and_changes_go_stale() {
    testing::no_access_pages_keep_their_frame_and_changes_go_stale::<Aarch64>();
}

#[test]
fn range_walks_visit_only_what_is_mapped_and_guards() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    for va in [0x40_0000, 0x40_1000, 0x7fff_0000_0000, 0xffff_ffff_e000] {
        pt.set(&mut pool, va, Pte::user(0x1_0000_0000 + va / 0x1000 * 0x1000, RW, true)).unwrap();
    }
    pt.set(&mut pool, 0x40_2000, Pte::user(0x1_0000_9000, Perms::default(), true)).unwrap();
    pt.set(&mut pool, 0x40_3000, Pte::GUARD).unwrap();
    let mut seen = Vec::new();
    pt.for_each_mapped(0x1000, u64::MAX, |va, _| seen.push(va));
    assert_eq!(seen, vec![0x40_0000, 0x40_1000, 0x40_2000, 0x7fff_0000_0000, 0xffff_ffff_e000]);
    seen.clear();
    pt.for_each_mapped(0x40_1000, 0x7fff_0000_1000, |va, _| seen.push(va));
    assert_eq!(seen, vec![0x40_1000, 0x40_2000, 0x7fff_0000_0000]);
    seen.clear();
    pt.for_each_mapped(0x40_1000, 0x40_1000, |va, _| seen.push(va));
    assert!(seen.is_empty());
    assert_eq!(pt.guards(0, u64::MAX), vec![0x40_3000]);
    assert_eq!(pt.guards(0x40_4000, 1 << 48), Vec::<u64>::new());
    assert_eq!(pt.pte(0x40_3000).raw(), 1 << 57);
}

#[test]
fn kernel_half_is_ttbr1s_shared_and_not_user() {
    let mut pool = pool(64);
    let mut k = PageTables::new(&mut pool, None).unwrap();
    k.map_kernel(&mut pool, 0xffff_ff80_0000_0000, 0x1000, false, true).unwrap();
    k.map_kernel(&mut pool, 0xffff_ff80_0000_1000, 0x2000, true, false).unwrap();
    // Only TTBR1's slot 511 is shared, so any other address is refused.
    for va in [0xff80_0000_0000, 0xffff_ff00_0000_0000] {
        assert_eq!(
            k.map_kernel(&mut pool, va, 0x3000, false, false),
            Err(PagingError::Corrupt { va, level: 0, entry: 0 })
        );
    }
    let pt = PageTables::new(&mut pool, Some(k.kernel_entry())).unwrap();
    assert_eq!(k.kernel_entry() & !ADDR_MASK, VALID | TABLE);
    assert_eq!(peek(&pt, ttbr1(pt.root_gpa()), 511), k.kernel_entry());
    // Code: EL1 read-only (AP = 0b10), executable at EL1 only (UXN), AF
    // preset, global. Data: EL1 read/write, PXN too.
    assert_eq!(walk_from(&pt, pt.root_gpa(), 0xffff_ff80_0000_0000), 0x0040_0000_0000_1000 | 0x783);
    assert_eq!(walk_from(&pt, pt.root_gpa(), 0xffff_ff80_0000_1000), 0x0060_0000_0000_2000 | 0x703);
    // User walks never reach into the kernel half, nor alias it in TTBR0.
    assert_eq!(pt.leaf(0xffff_ff80_0000_0000), None);
    assert_eq!(walk_from(&pt, pt.root_gpa(), 0xff80_0000_0000), 0);
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
    // The views' tables (a root pair and the ring slot's L1, L2, L3)
    // count against memory, not against VmPTE.
    assert_eq!(pt.table_pages(), user_pages);
    assert_eq!(pool.in_use(), before + 10);
    // Each view maps its own vCPU's ring pages, no other's; the address
    // space's own roots map none. EL0's here: data AP = 0b01, PXN, UXN;
    // code AP = 0b11, PXN only.
    assert_eq!(walk_from(&pt, v0, ring(0) + PAGE_SIZE), 0x0060_0000_8000_1000 | 0xf43);
    assert_eq!(walk_from(&pt, v0, ring(0)), 0x0020_0000_8000_0000 | 0xfc3);
    assert_eq!(walk_from(&pt, v0, ring(1) + PAGE_SIZE), 0);
    assert_eq!(walk_from(&pt, v1, ring(0) + PAGE_SIZE), 0);
    assert_ne!(walk_from(&pt, v1, ring(1)), 0);
    assert_eq!(walk_from(&pt, pt.root_gpa(), ring(0) + PAGE_SIZE), 0);
    // User pages and the kernel half are the same tables in every root,
    // including L0 entries made after the views.
    pt.set(&mut pool, 0xffff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
    for va in [0x40_0000, 0xffff_ffff_e000, 0xffff_ff80_0000_0000] {
        assert_ne!(walk_from(&pt, pt.root_gpa(), va), 0, "{va:#x}");
        for v in [v0, v1] {
            assert_eq!(walk_from(&pt, v, va), walk_from(&pt, pt.root_gpa(), va), "{va:#x}");
        }
    }
    // A view retired goes whole; its vCPU's next one is new. EL1's ring
    // pages: code AP = 0b10 with UXN, data AP = 0b00.
    assert!(pt.drop_view(&mut pool, 0));
    assert!(!pt.drop_view(&mut pool, 0));
    assert_eq!(pool.in_use(), before + 5 + 3);
    let v0b = pt.make_view(&mut pool, 0, &pages(0), false).unwrap();
    assert_ne!(v0b, v0);
    assert_eq!(walk_from(&pt, v0b, ring(0)), 0x0040_0000_8000_0000 | 0xf83);
    assert_eq!(walk_from(&pt, v0b, ring(0) + PAGE_SIZE), 0x0060_0000_8000_1000 | 0xf03);
    // Ring pages go only in the ring's slot of TTBR1.
    let bad = [(0x40_0000, 0x8000_0000, RingPage::Data)];
    assert!(matches!(pt.make_view(&mut pool, 3, &bad, true), Err(PagingError::Corrupt { level: 0, .. })));
    assert_eq!(pt.view_root(3), None);
    pt.retire(&mut pool);
    assert_eq!(pool.in_use(), k.table_pages() + 1);
}

#[test]
fn rejects_non_canonical_and_exhaustion() {
    let mut pool = pool(4);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    for va in [1 << 48, 0xfffe_ffff_ffff_f000, 0x0080_0000_0000_0000] {
        assert_eq!(pt.set(&mut pool, va, Pte::NONE), Err(PagingError::NonCanonical(va)));
    }
    // 1 << 47 is user space here (48-bit TTBR0): it needs 3 tables, and
    // the pool has 1 left.
    assert!(matches!(pt.set(&mut pool, 1 << 47, Pte::NONE), Err(PagingError::PoolExhausted(3))));
    // A root pair is all or nothing.
    let left = pool.in_use();
    assert!(matches!(PageTables::new(&mut pool, None), Err(PagingError::PoolExhausted(_))));
    assert!(matches!(pt.make_view(&mut pool, 0, &[], false), Err(PagingError::PoolExhausted(_))));
    assert_eq!(pool.in_use(), left);
}

#[test]
fn corrupt_tables_are_errors_not_host_accesses() {
    let mut pool = pool(64);
    let mut pt = PageTables::new(&mut pool, None).unwrap();
    let mut other = PageTables::new(&mut pool, None).unwrap();
    other.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
    pt.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
    let root = pt.root_gpa();
    let va = 0x80_0000_0000; // L0 slot 1
    let bad_entries = [
        // Beyond the slot.
        0x0000_ffff_ffff_f003,
        // Inside the slot but not a table at all.
        BASE | 0x3,
        (BASE + 60 * PAGE_SIZE) | 0x3,
        // Another address space's table.
        other.root_gpa() | 0x3,
        // Below the slot.
        0x3,
        // A block descriptor where a table must be.
        root | 0x1,
        // Our table, but with output address bits above 47, APTable or
        // NSTable: nothing faultline writes.
        root | 1 << 48 | 0x3,
        root | 1 << 61 | 0x3,
        root | 1 << 63 | 0x3,
    ];
    for bad in bad_entries {
        poke(&pt, root, 1, bad);
        assert!(matches!(pt.walk(va), Err(PagingError::Corrupt { level: 0, .. })), "{bad:#x}");
        assert_eq!(pt.leaf(va), None);
        let r = pt.set(&mut pool, va, Pte::user(0x1_0000_1000, RW, true));
        assert!(matches!(r, Err(PagingError::Corrupt { .. })), "{bad:#x}");
    }
    // An entry pointing at the tables themselves (a loop) is followed
    // only for the walk's four levels, and stays inside our tables; so is
    // one pointing at TTBR1's root.
    for ours in [root, ttbr1(root)] {
        poke(&pt, root, 1, ours | 0x3);
        assert!(pt.walk(va).is_ok());
    }
    // Non-canonical addresses are refused before any walk.
    assert!(matches!(pt.walk(0x0001_0000_0000_1000), Err(PagingError::NonCanonical(_))));
    // Deeper levels are checked the same way: corrupt the L2 entry, and a
    // corrupt TTBR1 half.
    let l1 = peek(&pt, root, 0) & ADDR_MASK;
    let l2 = peek(&pt, l1, 0) & ADDR_MASK;
    poke(&pt, l2, 2, 0xdead_b000 | 0x1);
    assert!(matches!(pt.walk(0x40_0000), Err(PagingError::Corrupt { level: 2, .. })));
    assert_eq!(pt.leaf(0x40_0000), None);
    poke(&pt, ttbr1(root), 511, 0x0000_ffff_ffff_f003);
    assert!(matches!(pt.walk(0xffff_ff80_0000_0000), Err(PagingError::Corrupt { level: 0, .. })));
}

#[test]
fn register_values_match_the_format() {
    assert_eq!(MAIR_EL1 >> (8 * (ATTR_NORMAL >> 2)) & 0xff, 0xff);
    assert_eq!(TCR_EL1, 0x0000_01a0_b510_3510);
    assert_eq!(ttbr1(0x20_0000), 0x20_1000);
}
