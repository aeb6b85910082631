//! fork shares every page copy-on-write: the child reads its parent's
//! frames until one of them writes, which gives the writer its own copy.
//! Each process has page tables of its own.

use super::{events_in, kinds_in};
use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::*;
use crate::kernel::testing::TestKernel;
use crate::timeline::EventKind;

const RW: u64 = PROT_READ | PROT_WRITE;
const P: u64 = PAGE_SIZE;

#[test]
fn fork_shares_pages_until_a_write_copies_one() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let a = t.mmap_anon(2 * P, RW);
    t.poke(a, b"parent");
    t.poke(a + P, b"other");
    let frame = t.host_page(a).unwrap();
    let faults = kinds_in(&t, a, a + 2 * P).len();
    let child = t.sys("fork", &[]) as u32;
    assert!(child > parent);
    t.become_process(child);
    assert_eq!(t.host_page(a), Some(frame), "the child maps the parent's frame");
    assert_eq!(t.peek(a, 6), b"parent");
    assert_eq!(kinds_in(&t, a, a + 2 * P).len(), faults, "reading copied nothing");
    t.poke(a, b"child!");
    assert_ne!(t.host_page(a), Some(frame), "the write gave the child its own page");
    t.become_process(parent);
    assert_eq!(t.peek(a, 6), b"parent", "the parent's page is untouched");
    assert_eq!(t.host_page(a), Some(frame));
    // Now the parent is the frame's only user: its write faults, as the
    // page is still write-protected, but copies nothing (wp_page_reuse).
    t.poke(a, b"again!");
    assert_eq!(t.host_page(a), Some(frame));
    let after: Vec<(u32, EventKind)> = events_in(&t, a, a + 2 * P)[faults..].iter().map(|e| (e.pid, e.kind)).collect();
    assert_eq!(after, [(child, EventKind::Cow), (parent, EventKind::CowReuse)]);
}

#[test]
fn the_first_read_maps_the_zero_page_and_the_first_write_copies_it() {
    let t = TestKernel::new();
    let a = t.mmap_anon(P, RW);
    let rss = t.status_kb("VmRSS");
    assert_eq!(t.touch(a, false), None);
    assert!(t.backing.protected(t.host_page(a).unwrap()), "write-protected");
    assert_eq!(t.status_kb("VmRSS"), rss, "the zero page is no one's memory");
    assert_eq!(t.touch(a, true), None);
    assert_eq!(t.status_kb("VmRSS"), rss + 4);
    assert_eq!(kinds_in(&t, a, a + P), [EventKind::ZeroFill, EventKind::Cow]);
}

#[test]
fn madv_wipeonfork_gives_the_child_zeroes_and_dontfork_nothing() {
    let mut t = TestKernel::new();
    let a = t.mmap_anon(2 * P, RW);
    t.poke(a, b"secret");
    t.poke(a + P, b"mine");
    assert_eq!(t.sys("madvise", &[a, P, MADV_WIPEONFORK]), 0);
    assert_eq!(t.sys("madvise", &[a + P, P, MADV_DONTFORK]), 0);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    assert_eq!(t.peek(a, 6), [0; 6]);
    let segv = t.touch(a + P, false).expect("not inherited");
    assert_eq!(segv.code, crate::kernel::signal::SEGV_MAPERR);
}
