//! vm.overcommit_memory's three modes, VM_ACCOUNT as Linux keeps it
//! (charged once writable, through mprotect, mremap and fork), and
//! RLIMIT_AS.

use zerocopy::IntoBytes;

use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::*;
use crate::kernel::abi::resource::{Rlimit, RLIMIT_AS};
use crate::kernel::errno::*;
use crate::kernel::testing::{err, TestConfig, TestKernel};

const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;
const MIB: u64 = 1 << 20;

fn strict() -> TestKernel {
    // CommitLimit: 64 MiB × 50% = 32 MiB.
    TestKernel::with(TestConfig {
        mem: 64 * MIB,
        overcommit: OVERCOMMIT_NEVER,
        overcommit_ratio: 50,
        ..Default::default()
    })
}

fn map(t: &TestKernel, len: u64, prot: u64, flags: u64) -> i64 {
    t.sys("mmap", &[0, len, prot, flags, u64::MAX, 0])
}

#[test]
fn strict_mode_charges_writable_private_and_shared_anonymous_memory() {
    let t = strict();
    assert_eq!(t.meminfo_kb("CommitLimit"), 32 * 1024);
    let before = t.meminfo_kb("Committed_AS");
    assert_eq!(map(&t, 40 * MIB, RW, ANON), err(ENOMEM), "more than CommitLimit");
    assert_eq!(map(&t, 40 * MIB, RW, ANON | MAP_NORESERVE), err(ENOMEM), "strict mode ignores NORESERVE");
    assert_eq!(map(&t, 40 * MIB, RW, MAP_SHARED | MAP_ANONYMOUS), err(ENOMEM), "shared memory is charged");
    assert!(map(&t, 40 * MIB, PROT_READ, ANON) > 0, "read-only private memory is not charged");
    assert_eq!(t.meminfo_kb("Committed_AS"), before);
    assert!(map(&t, 8 * MIB, RW, ANON) > 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), before + 8 * 1024);
}

#[test]
fn mprotect_charges_a_mapping_made_writable_and_keeps_the_charge() {
    let t = strict();
    let before = t.meminfo_kb("Committed_AS");
    let big = map(&t, 40 * MIB, PROT_NONE, ANON) as u64;
    assert_eq!(t.sys("mprotect", &[big, 40 * MIB, RW]), err(ENOMEM), "40 MiB more does not fit");
    assert_eq!(t.touch(big, true).map(|s| s.signo), Some(crate::kernel::signal::SIGSEGV), "unchanged");
    assert_eq!(t.sys("mprotect", &[big, 8 * MIB, RW]), 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), before + 8 * 1024);
    // Read-only again, still charged (VM_ACCOUNT stays); writable again,
    // not charged twice.
    assert_eq!(t.sys("mprotect", &[big, 8 * MIB, PROT_READ]), 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), before + 8 * 1024);
    assert_eq!(t.sys("mprotect", &[big, 8 * MIB, RW]), 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), before + 8 * 1024);
}

#[test]
fn strict_mode_refuses_a_fork_whose_copy_would_not_fit() {
    let t = strict();
    let a = map(&t, 20 * MIB, RW, ANON);
    assert!(a > 0);
    assert_eq!(t.sys("fork", &[]), err(ENOMEM), "the child's 20 MiB would pass CommitLimit");
    assert_eq!(t.sys("munmap", &[a as u64, 12 * MIB]), 0);
    assert!(t.sys("fork", &[]) > 0, "8 MiB twice fits");
}

#[test]
fn mremap_growth_is_charged_like_the_mapping() {
    let t = strict();
    let a = map(&t, 8 * MIB, RW, ANON) as u64;
    let grown = t.sys("mremap", &[a, 8 * MIB, 48 * MIB, MREMAP_MAYMOVE, 0]);
    assert_eq!(grown, err(ENOMEM));
    let r = map(&t, 8 * MIB, PROT_READ, ANON) as u64;
    assert!(t.sys("mremap", &[r, 8 * MIB, 48 * MIB, MREMAP_MAYMOVE, 0]) > 0, "read-only: not charged");
}

#[test]
fn the_heuristic_refuses_only_one_request_larger_than_ram_and_swap() {
    let t = TestKernel::with(TestConfig { mem: 64 * MIB, overcommit: OVERCOMMIT_GUESS, ..Default::default() });
    assert_eq!(map(&t, 65 * MIB, RW, ANON), err(ENOMEM));
    for _ in 0..4 {
        assert!(map(&t, 60 * MIB, RW, ANON) > 0, "each fits; together they overcommit");
    }
    let always = TestKernel::with(TestConfig { mem: 64 * MIB, overcommit: OVERCOMMIT_ALWAYS, ..Default::default() });
    assert!(map(&always, 1 << 40, RW, ANON) > 0, "mode 1 allows a terabyte");
}

#[test]
fn rlimit_as_caps_the_address_space() {
    let t = TestKernel::new();
    let vm = t.status_kb("VmSize") * 1024;
    let lim = t.mmap_anon(PAGE_SIZE, RW);
    let cap = vm + 2 * PAGE_SIZE + 16 * MIB;
    t.poke(lim, Rlimit { cur: cap, max: cap }.as_bytes());
    assert_eq!(t.sys("setrlimit", &[RLIMIT_AS as u64, lim]), 0);
    assert_eq!(map(&t, 17 * MIB, PROT_NONE, ANON), err(ENOMEM), "even PROT_NONE counts");
    assert!(map(&t, 16 * MIB, PROT_NONE, ANON) > 0);
    assert_eq!(t.sys("brk", &[t.sys("brk", &[0]) as u64 + PAGE_SIZE]), t.sys("brk", &[0]), "the heap cannot grow");
}

#[test]
fn shared_anonymous_memory_is_committed_once_and_fork_charges_the_private_copy() {
    let t = TestKernel::new();
    let before = t.meminfo_kb("Committed_AS");
    assert!(map(&t, 8 * MIB, RW, MAP_SHARED | MAP_ANONYMOUS) > 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), before + 8 * 1024);
    // The child's private writable mappings are charged again; the
    // shared object is not.
    assert!(t.sys("fork", &[]) > 0);
    assert_eq!(t.meminfo_kb("Committed_AS"), 2 * before + 8 * 1024);
}
