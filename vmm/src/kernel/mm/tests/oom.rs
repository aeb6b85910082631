//! When memory runs out (no swap, nothing to reclaim), the OOM killer
//! kills the process with the highest badness: the biggest, unless
//! oom_score_adj says otherwise.

use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::*;
use crate::kernel::signal::SIGKILL;
use crate::kernel::testing::{TestConfig, TestKernel};
use crate::kernel::ExitStatus;
use crate::timeline::EventKind;

const RW: u64 = PROT_READ | PROT_WRITE;
const MIB: u64 = 1 << 20;

/// Writes `len` bytes from `a`, page by page, until a touch is refused or
/// the OOM killer kills someone: the pages written.
fn fill(t: &TestKernel, a: u64, len: u64) -> u64 {
    (0..len / PAGE_SIZE).take_while(|i| killed(t).is_empty() && t.touch(a + i * PAGE_SIZE, true).is_none()).count()
        as u64
}

/// Memory overcommit's heuristic would refuse in one piece.
fn noreserve(t: &TestKernel, len: u64) -> u64 {
    t.sys("mmap", &[0, len, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, u64::MAX, 0]) as u64
}

fn killed(t: &TestKernel) -> Vec<u32> {
    t.events().iter().filter(|e| e.kind == EventKind::OomKill).map(|e| e.pid).collect()
}

#[test]
fn the_oom_killer_picks_the_biggest_process() {
    let mut t = TestKernel::with(TestConfig { mem: 32 * MIB, ..Default::default() });
    let parent = t.pid;
    let big = noreserve(&t, 64 * MIB);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    assert_eq!(fill(&t, big, 20 * MIB), 20 * MIB / PAGE_SIZE);
    t.become_process(parent);
    // The parent allocates until memory runs out; the child holds more,
    // so it goes.
    let filled = fill(&t, big, 32 * MIB);
    assert!(filled < 12 * MIB / PAGE_SIZE, "{filled}");
    assert_eq!(killed(&t), [child]);
    let k = t.kernel.lock();
    let c = &k.tasks.proc(child).expect("live process");
    assert!(c.oom_killed);
    assert!(matches!(c.state, crate::kernel::process::ProcState::Zombie(ExitStatus::Killed(SIGKILL))), "{:?}", c.state);
}

#[test]
fn oom_score_adj_makes_a_process_the_first_choice() {
    let mut t = TestKernel::with(TestConfig { mem: 32 * MIB, ..Default::default() });
    let parent = t.pid;
    let a = noreserve(&t, 64 * MIB);
    assert_eq!(fill(&t, a, 16 * MIB), 16 * MIB / PAGE_SIZE);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    let fd = t.open("/proc/self/oom_score_adj", 1);
    let s = t.put_str("1000");
    assert_eq!(t.sys("write", &[fd as u64, s, 4]), 4);
    let score = String::from_utf8(t.read_file("/proc/self/oom_score").unwrap()).unwrap();
    t.become_process(parent);
    let parents = String::from_utf8(t.read_file("/proc/self/oom_score").unwrap()).unwrap();
    assert!(score.trim().parse::<u32>().unwrap() > parents.trim().parse::<u32>().unwrap(), "{score} vs {parents}");
    fill(&t, a + 16 * MIB, 32 * MIB);
    assert_eq!(killed(&t), [child], "the small child, by its score");
}
