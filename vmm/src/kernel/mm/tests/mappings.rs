//! mmap, munmap, mprotect, mremap, madvise, mincore and brk: what each
//! maps, what faults afterwards, and Linux's errno for each bad argument.

use super::kinds_in;
use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::*;
use crate::kernel::errno::*;
use crate::kernel::signal::{SEGV_ACCERR, SEGV_MAPERR, SIGSEGV};
use crate::kernel::testing::{err, TestConfig, TestKernel};
use crate::timeline::{EventKind, Prefault};

const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;
const P: u64 = PAGE_SIZE;

#[test]
fn a_mapping_only_reserves_and_each_first_touch_faults_once() {
    let t = TestKernel::with(TestConfig { mem: 2 << 30, ..Default::default() });
    let rss = t.status_kb("VmRSS");
    let a = t.mmap_anon(1 << 30, RW);
    assert_eq!(t.status_kb("VmRSS"), rss, "a 1 GiB mapping costs no memory");
    assert!(kinds_in(&t, a, a + (1 << 30)).is_empty());
    for i in 0..3 {
        assert_eq!(t.touch(a + i * 100 * P, true), None);
        assert_eq!(t.touch(a + i * 100 * P, true), None, "a second touch does not fault");
    }
    assert_eq!(kinds_in(&t, a, a + (1 << 30)), [EventKind::ZeroFill; 3]);
    assert_eq!(t.status_kb("VmRSS"), rss + 12);
}

#[test]
fn mmap_checks_its_arguments_in_linuxs_order() {
    let t = TestKernel::new();
    let cases: &[(&str, [u64; 6], i64)] = &[
        ("unaligned offset, before the descriptor", [0, 0, RW, MAP_PRIVATE, 99, 100], err(EINVAL)),
        ("no such descriptor, before the length", [0, 0, RW, MAP_PRIVATE, 99, 0], err(EBADF)),
        ("anonymous huge pages: none reserved", [0, P, RW, ANON | MAP_HUGETLB, u64::MAX, 0], err(ENOMEM)),
        ("length 0", [0, 0, RW, ANON, u64::MAX, 0], err(EINVAL)),
        ("length rounding to 0", [0, u64::MAX - 10, RW, ANON, u64::MAX, 0], err(ENOMEM)),
        ("length past the address space", [0, USER_TOP, RW, ANON, u64::MAX, 0], err(ENOMEM)),
        (
            "fixed, past the top, before unaligned",
            [USER_TOP - 1, 2 * P, RW, ANON | MAP_FIXED, u64::MAX, 0],
            err(ENOMEM),
        ),
        ("fixed, unaligned", [0x10_0001, P, RW, ANON | MAP_FIXED, u64::MAX, 0], err(EINVAL)),
        ("fixed, below mmap_min_addr", [0, P, RW, ANON | MAP_FIXED, u64::MAX, 0], err(EPERM)),
        ("placement before the type", [0, P, RW, MAP_ANONYMOUS | MAP_FIXED, u64::MAX, 0], err(EPERM)),
        ("no mapping type", [0, P, RW, MAP_ANONYMOUS, u64::MAX, 0], err(EINVAL)),
        ("SHARED_VALIDATE without a file", [0, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, u64::MAX, 0], err(EINVAL)),
        ("shared and grows down", [0, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, u64::MAX, 0], err(EINVAL)),
    ];
    for (what, a, want) in cases {
        assert_eq!(t.sys("mmap", a), *want, "{what}");
    }
    // A file's mapping ends below 2^63.
    let file = t.open(std::env::current_exe().unwrap().to_str().unwrap(), 0);
    assert!(t.sys("mmap", &[0, P, PROT_READ, MAP_PRIVATE, file as u64, (1 << 63) - 2 * P]) > 0);
    assert_eq!(t.sys("mmap", &[0, 2 * P, PROT_READ, MAP_PRIVATE, file as u64, (1 << 63) - 2 * P]), err(EOVERFLOW));
    // A directory has no mmap; file huge pages need hugetlbfs.
    let dir = t.open("/", 0);
    assert_eq!(t.sys("mmap", &[0, P, PROT_READ, MAP_PRIVATE, dir as u64, 0]), err(ENODEV));
    assert_eq!(t.sys("mmap", &[0, P, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, dir as u64, 0]), err(EINVAL));
    // /dev/zero opened read-only: no writable shared mapping of it.
    let zero = t.open("/dev/zero", 0);
    assert_eq!(t.sys("mmap", &[0, P, RW, MAP_SHARED, zero as u64, 0]), err(EACCES));
    let z = t.sys("mmap", &[0, P, RW, MAP_PRIVATE, zero as u64, 0]) as u64;
    assert_eq!(t.touch(z, true), None);
    assert_eq!(kinds_in(&t, z, z + P), [EventKind::ZeroFill], "private /dev/zero is anonymous memory");
}

#[test]
fn fixed_noreplace_refuses_what_fixed_replaces() {
    let t = TestKernel::new();
    let a = t.mmap_anon(4 * P, RW);
    t.poke(a + P, b"old");
    let noreplace = ANON | MAP_FIXED_NOREPLACE;
    assert_eq!(t.sys("mmap", &[a + P, P, RW, noreplace, u64::MAX, 0]), err(EEXIST));
    assert_eq!(t.peek(a + P, 3), b"old");
    assert_eq!(t.sys("mmap", &[a + P, P, RW, ANON | MAP_FIXED, u64::MAX, 0]), (a + P) as i64);
    assert_eq!(t.peek(a + P, 3), [0, 0, 0], "MAP_FIXED put fresh memory there");
    // The old page was given back, and the new one faulted in on the peek.
    let kinds = kinds_in(&t, a + P, a + 2 * P);
    assert_eq!(kinds, [EventKind::ZeroFill, EventKind::Release, EventKind::ZeroFill]);
}

#[test]
fn munmap_of_the_middle_splits_the_mapping() {
    let t = TestKernel::new();
    let a = t.mmap_anon(3 * P, RW);
    assert_eq!(t.sys("munmap", &[a + 1, P]), err(EINVAL), "unaligned");
    assert_eq!(t.sys("munmap", &[a, 0]), err(EINVAL), "empty");
    assert_eq!(t.sys("munmap", &[a + P, P]), 0);
    assert_eq!(t.sys("munmap", &[a + P, P]), 0, "unmapping a hole is no error");
    assert_eq!(t.touch(a, true), None);
    assert_eq!(t.touch(a + 2 * P, true), None);
    let segv = t.touch(a + P, false).expect("the hole faults");
    assert_eq!((segv.signo, segv.code, segv.addr), (SIGSEGV, SEGV_MAPERR, a + P));
}

#[test]
fn mprotect_changes_what_a_touch_may_do() {
    let t = TestKernel::new();
    let a = t.mmap_anon(2 * P, RW);
    assert_eq!(t.sys("mprotect", &[a, P, PROT_READ]), 0);
    let segv = t.touch(a, true).expect("a write to a read-only page");
    assert_eq!((segv.signo, segv.code, segv.addr), (SIGSEGV, SEGV_ACCERR, a));
    assert_eq!(t.touch(a, false), None, "reading it is allowed");
    assert_eq!(t.touch(a + P, true), None, "the rest stays writable");
    assert_eq!(t.sys("mprotect", &[a + 1, P, PROT_READ]), err(EINVAL), "unaligned");
    assert_eq!(t.sys("mprotect", &[a, P, 0x10]), err(EINVAL), "an unknown bit");
    assert_eq!(t.sys("mprotect", &[a, P, PROT_READ | PROT_GROWSUP]), err(EINVAL));
    assert_eq!(t.sys("mprotect", &[a, 0, PROT_NONE]), 0, "an empty range");
    // Up to a hole it changes the protection, then says ENOMEM.
    assert_eq!(t.sys("munmap", &[a + P, P]), 0);
    assert_eq!(t.sys("mprotect", &[a, 2 * P, PROT_NONE]), err(ENOMEM));
    let segv = t.touch(a, false).expect("PROT_NONE");
    assert_eq!(segv.code, SEGV_ACCERR);
}

#[test]
fn mremap_grows_in_place_or_moves_the_pages_without_copying() {
    let t = TestKernel::new();
    let a = t.mmap_anon(2 * P, RW);
    t.poke(a, b"first");
    t.poke(a + P, b"second");
    let host = t.host_page(a).unwrap();
    // Something right after it: growing must move.
    let after = t.sys("mmap", &[a + 2 * P, P, RW, ANON | MAP_FIXED, u64::MAX, 0]);
    assert_eq!(after, (a + 2 * P) as i64);
    assert_eq!(t.sys("mremap", &[a, 2 * P, 4 * P, 0, 0]), err(ENOMEM), "cannot grow in place nor move");
    let b = t.sys("mremap", &[a, 2 * P, 4 * P, MREMAP_MAYMOVE, 0]) as u64;
    assert_ne!(b, a);
    assert_eq!(t.peek(b, 5), b"first");
    assert_eq!(t.peek(b + P, 6), b"second");
    assert_eq!(t.host_page(b), Some(host), "the page moved, not copied");
    assert_eq!(t.touch(a, false).map(|s| s.code), Some(SEGV_MAPERR), "the old place is gone");
    // The moved pages did not fault again; the grown part faults fresh.
    assert!(kinds_in(&t, b, b + 2 * P).is_empty());
    assert_eq!(t.touch(b + 3 * P, true), None);
    assert_eq!(kinds_in(&t, b + 2 * P, b + 4 * P), [EventKind::ZeroFill]);
    // Shrinking gives the tail back.
    assert_eq!(t.sys("mremap", &[b, 4 * P, P, 0, 0]), b as i64);
    assert_eq!(t.touch(b + P, false).map(|s| s.code), Some(SEGV_MAPERR));
    // Argument errors.
    assert_eq!(t.sys("mremap", &[b, P, 2 * P, MREMAP_FIXED, a]), err(EINVAL), "FIXED without MAYMOVE");
    assert_eq!(t.sys("mremap", &[b, P, 0, MREMAP_MAYMOVE, 0]), err(EINVAL), "to nothing");
    assert_eq!(t.sys("mremap", &[a, P, 2 * P, MREMAP_MAYMOVE, 0]), err(EFAULT), "nothing there");
    assert_eq!(t.sys("mremap", &[b, P, 2 * P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0]), err(EINVAL));
}

#[test]
fn mremap_dontunmap_leaves_the_old_range_empty() {
    let t = TestKernel::new();
    let a = t.mmap_anon(P, RW);
    t.poke(a, b"data");
    let b = t.sys("mremap", &[a, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0]) as u64;
    assert_eq!(t.peek(b, 4), b"data");
    assert_eq!(t.peek(a, 4), [0; 4], "still mapped, and empty");
}

#[test]
fn madvise_dontneed_drops_pages_and_the_next_touch_faults_zeroes() {
    let t = TestKernel::new();
    let a = t.mmap_anon(2 * P, RW);
    t.poke(a, b"gone");
    assert_eq!(t.sys("madvise", &[a, 2 * P, MADV_DONTNEED]), 0);
    assert_eq!(t.peek(a, 4), [0; 4]);
    assert_eq!(kinds_in(&t, a, a + P), [EventKind::ZeroFill, EventKind::Release, EventKind::ZeroFill]);
    assert_eq!(t.sys("madvise", &[a, P, 999]), err(EINVAL), "unknown advice");
    assert_eq!(t.sys("madvise", &[a + 1, P, MADV_NORMAL]), err(EINVAL), "unaligned");
    assert_eq!(t.sys("madvise", &[a, 0, MADV_DONTNEED]), 0, "an empty range");
    assert_eq!(t.sys("munmap", &[a + P, P]), 0);
    assert_eq!(t.sys("madvise", &[a, 2 * P, MADV_NORMAL]), err(ENOMEM), "a hole");
}

#[test]
fn madvise_populate_write_brings_pages_in_as_prefaults() {
    let t = TestKernel::new();
    let a = t.mmap_anon(4 * P, RW);
    assert_eq!(t.sys("madvise", &[a, 4 * P, MADV_POPULATE_WRITE]), 0);
    assert_eq!(kinds_in(&t, a, a + 4 * P), [EventKind::Prefault(Prefault::Populate); 4]);
    assert_eq!(t.touch(a, true), None);
    assert_eq!(kinds_in(&t, a, a + 4 * P).len(), 4, "touching a populated page does not fault");
    let r = t.mmap_anon(P, PROT_READ);
    assert_eq!(t.sys("madvise", &[r, P, MADV_POPULATE_WRITE]), err(EINVAL), "not writable");
}

#[test]
fn mincore_says_which_pages_are_in_memory() {
    let t = TestKernel::new();
    let a = t.mmap_anon(4 * P, RW);
    assert_eq!(t.touch(a, true), None);
    assert_eq!(t.touch(a + 2 * P, true), None);
    let vec = t.mmap_anon(P, RW);
    assert_eq!(t.sys("mincore", &[a, 4 * P, vec]), 0);
    assert_eq!(t.peek(vec, 4), [1, 0, 1, 0]);
    assert_eq!(t.sys("mincore", &[a + 1, P, vec]), err(EINVAL));
    assert_eq!(t.sys("munmap", &[a + P, P]), 0);
    assert_eq!(t.sys("mincore", &[a, 4 * P, vec]), err(ENOMEM));
}

#[test]
fn brk_grows_the_heap_which_faults_on_touch_and_shrinks_it_back() {
    let t = TestKernel::new();
    let start = t.sys("brk", &[0]) as u64;
    assert_eq!(t.sys("brk", &[start - P]), start as i64, "below the start: the break stays");
    let top = start + 3 * P;
    assert_eq!(t.sys("brk", &[top]), top as i64);
    let heap = start.next_multiple_of(P);
    assert_eq!(t.touch(heap, true), None);
    assert_eq!(kinds_in(&t, heap, top), [EventKind::ZeroFill]);
    assert_eq!(t.sys("brk", &[heap]), heap as i64);
    assert_eq!(kinds_in(&t, heap, top), [EventKind::ZeroFill, EventKind::Release]);
    assert_eq!(t.touch(heap, false).map(|s| s.code), Some(SEGV_MAPERR));
}

#[test]
fn a_shared_mapping_of_dev_zero_opened_read_only_never_becomes_writable() {
    let t = TestKernel::new();
    let zero = t.open("/dev/zero", 0);
    let a = t.sys("mmap", &[0, P, PROT_READ, MAP_SHARED, zero as u64, 0]) as u64;
    assert_eq!(t.sys("mprotect", &[a, P, RW]), err(EACCES));
    let b = t.sys("mmap", &[0, P, PROT_READ, MAP_PRIVATE, zero as u64, 0]) as u64;
    assert_eq!(t.sys("mprotect", &[b, P, RW]), 0, "a private one may");
}

#[test]
fn ksm_and_huge_pages_are_built_and_never_used() {
    let t = TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() });
    let a = t.mmap_anon(P, RW);
    // As with ksmd stopped and THP `never`: the advice is taken, and
    // /sys says why nothing comes of it.
    assert_eq!(t.sys("madvise", &[a, P, MADV_MERGEABLE]), 0);
    assert_eq!(t.sys("madvise", &[a, P, MADV_UNMERGEABLE]), 0);
    assert_eq!(t.sys("madvise", &[a, P, MADV_HUGEPAGE]), 0);
    assert_eq!(t.read_file("/sys/kernel/mm/ksm/run").unwrap(), b"0\n");
    assert_eq!(t.read_file("/sys/kernel/mm/transparent_hugepage/enabled").unwrap(), b"always madvise [never]\n");
    assert_eq!(t.read_file("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").unwrap(), b"0\n");
    assert_eq!(t.read_file("/sys/kernel/mm/nothing"), Err(err(ENOENT)));
    // Read-only, root's too.
    assert_eq!(t.open("/sys/kernel/mm/ksm/run", 1), err(EACCES));
}

#[test]
fn a_childs_new_mapping_does_not_merge_into_one_inherited_with_pages() {
    // vma01: the child's copy of a VMA with anonymous pages shares the
    // parent's anon_vma; a new mapping beside it stays apart, as Linux
    // keeps it (the parent's merges).
    let mut t = TestKernel::new();
    let hole = t.mmap_anon(9 * P, RW);
    assert_eq!(t.sys("munmap", &[hole, 9 * P]), 0);
    let a = t.sys("mmap", &[hole, 3 * P, RW, ANON | MAP_FIXED, u64::MAX, 0]) as u64;
    assert_eq!(a, hole);
    t.poke(a, b"touched");
    let vmas_from = |t: &TestKernel| -> Vec<(u64, u64)> {
        let k = t.kernel.lock();
        let mm = k.tasks.proc(t.pid).unwrap().mm;
        k.mm.space(mm).vmas.iter().filter(|v| v.start >= a && v.start < a + 9 * P).map(|v| (v.start, v.end)).collect()
    };
    let parent = t.pid;
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    assert_eq!(t.sys("mmap", &[a + 3 * P, 3 * P, RW, ANON | MAP_FIXED, u64::MAX, 0]), (a + 3 * P) as i64);
    assert_eq!(vmas_from(&t), [(a, a + 3 * P), (a + 3 * P, a + 6 * P)], "the child's two");
    t.become_process(parent);
    assert_eq!(t.sys("mmap", &[a + 3 * P, 3 * P, RW, ANON | MAP_FIXED, u64::MAX, 0]), (a + 3 * P) as i64);
    assert_eq!(vmas_from(&t), [(a, a + 6 * P)], "the parent's one");
}

#[test]
fn root_sets_vm_max_map_count_and_mmap_and_munmap_meet_it() {
    use crate::kernel::abi::fcntl::O_WRONLY;
    let t = TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() });
    let buf = t.mmap_anon(P, RW);
    let count = |t: &TestKernel| {
        let k = t.kernel.lock();
        k.mm.space(k.tasks.proc(t.pid).unwrap().mm).vmas.count()
    };
    let fd = t.open("/proc/sys/vm/max_map_count", O_WRONLY as u64);
    assert!(fd >= 0, "{fd}");
    // Room for two more mappings (the open made the test's scratch one).
    let limit = count(&t) + 2;
    let text = format!("{limit}\n");
    t.poke(buf, text.as_bytes());
    assert_eq!(t.sys("write", &[fd as u64, buf, text.len() as u64]), text.len() as i64);
    assert_eq!(t.read_file("/proc/sys/vm/max_map_count").unwrap(), text.as_bytes());
    // Apart (a page between, so that they do not merge), until the limit.
    let a = t.mmap_anon(8 * P, PROT_NONE);
    assert_eq!(t.sys("munmap", &[a + P, P]), 0, "split in two");
    assert_eq!(count(&t), limit);
    assert_eq!(t.sys("munmap", &[a + 3 * P, P]), err(ENOMEM), "no split at the count");
    // do_mmap refuses only past it (map_count > max): one more, then no more.
    let rx = PROT_READ | PROT_EXEC;
    assert!(t.sys("mmap", &[0, P, rx, ANON, u64::MAX, 0]) > 0);
    assert_eq!(count(&t), limit + 1);
    assert_eq!(t.sys("mmap", &[0, P, rx, ANON, u64::MAX, 0]), err(ENOMEM), "no mapping past the count");
}

#[test]
fn guard_markers_fault_stay_through_dontneed_and_fork_and_go_with_remove_or_munmap() {
    let mut t = TestKernel::new();
    let a = t.mmap_anon(4 * P, RW);
    t.poke(a, b"gone");
    assert_eq!(t.sys("madvise", &[a, 2 * P, MADV_GUARD_INSTALL]), 0);
    let segv = |t: &TestKernel, va: u64, write: bool| t.touch(va, write).map(|s| (s.signo, s.code));
    assert_eq!(segv(&t, a, false), Some((SIGSEGV, SEGV_MAPERR)), "a guard page faults, reads too");
    assert_eq!(segv(&t, a + P, true), Some((SIGSEGV, SEGV_MAPERR)));
    assert_eq!(segv(&t, a + 2 * P, true), None, "past the guard");
    // The kernel's own access is EFAULT.
    assert_eq!(t.sys("getrandom", &[a + P, 8, 0]), err(EFAULT));
    // MADV_DONTNEED and mprotect keep the markers.
    assert_eq!(t.sys("madvise", &[a, 4 * P, MADV_DONTNEED]), 0);
    assert_eq!(t.sys("mprotect", &[a, 4 * P, PROT_READ]), 0);
    assert_eq!(segv(&t, a, false), Some((SIGSEGV, SEGV_MAPERR)));
    assert_eq!(t.sys("mprotect", &[a, 4 * P, RW]), 0);
    // A fork child has them too; the parent's removal leaves the child's.
    let parent = t.pid;
    let child = t.sys("fork", &[]) as u32;
    assert_eq!(t.sys("madvise", &[a, 2 * P, MADV_GUARD_REMOVE]), 0);
    assert_eq!(segv(&t, a, true), None, "removed: the page faults in afresh");
    assert_eq!(t.peek(a, 4), [0; 4], "what was there went with the install");
    t.become_process(child);
    assert_eq!(segv(&t, a + P, false), Some((SIGSEGV, SEGV_MAPERR)), "the child's copy");
    t.become_process(parent);
    // Only private anonymous memory takes them; locked memory not to install.
    let shared = t.sys("mmap", &[0, P, RW, MAP_SHARED | MAP_ANONYMOUS, u64::MAX, 0]) as u64;
    assert_eq!(t.sys("madvise", &[shared, P, MADV_GUARD_INSTALL]), err(EINVAL));
    assert_eq!(t.sys("mlock", &[a + 3 * P, P]), 0);
    assert_eq!(t.sys("madvise", &[a + 3 * P, P, MADV_GUARD_INSTALL]), err(EINVAL));
    assert_eq!(t.sys("madvise", &[a + 3 * P, P, MADV_GUARD_REMOVE]), 0);
    // munmap takes them with the mapping: a new mapping there is clean.
    assert_eq!(t.sys("madvise", &[a, P, MADV_GUARD_INSTALL]), 0);
    assert_eq!(t.sys("munmap", &[a, 4 * P]), 0);
    assert_eq!(t.sys("mmap", &[a, 4 * P, RW, ANON | MAP_FIXED, u64::MAX, 0]), a as i64);
    assert_eq!(segv(&t, a, true), None);
}

#[test]
fn an_mprotect_flushes_its_frames_and_the_zero_page_stays_write_protected() {
    use std::sync::atomic::Ordering::Relaxed;
    let t = TestKernel::new();
    let a = t.mmap_anon(2 * P, RW);
    assert_eq!(t.touch(a, true), None);
    assert_eq!(t.touch(a + P, false), None);
    let (written, zero) = (t.host_page(a).unwrap(), t.host_page(a + P).unwrap());
    assert!(!t.backing.protected(written));
    assert!(t.backing.protected(zero), "a read of fresh memory maps the zero page, write-protected");
    let before = t.backing.invalidations.load(Relaxed);
    assert_eq!(t.sys("mprotect", &[a, 2 * P, PROT_READ]), 0);
    // One call per run of frames alike: the written page, the zero page.
    assert_eq!(t.backing.invalidations.load(Relaxed) - before, 2);
    assert!(!t.backing.protected(written));
    assert!(t.backing.protected(zero), "its first write must still be seen");
    assert_eq!(t.sys("mprotect", &[a, 2 * P, RW]), 0);
    assert_eq!(t.touch(a + P, true), None);
    assert_eq!(kinds_in(&t, a, a + 2 * P), [EventKind::ZeroFill, EventKind::ZeroFill, EventKind::Cow]);
}
