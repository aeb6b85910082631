//! System V shared memory between the sandbox's own processes: the
//! `sysvshm` fixture's exchange across fork (a parent writes, a child
//! reads and answers), shmctl's counts and times, IPC_RMID deferred to the
//! last detach, the /proc/self/maps line of an attach, /proc/meminfo's
//! Shmem growing with the pages touched and the error cases print the
//! same, byte for byte and with the same exit status, natively and under
//! faultline.

mod support;

use support::*;

#[test]
fn sysv_shared_memory_behaves_as_on_linux() {
    for libc in ["glibc", "musl"] {
        let name = format!("sysvshm-{libc}");
        for part in ["fork", "maps", "meminfo", "errors"] {
            let run = run_fixture(&name, &[part]);
            let (native, code) = run_native(&name, &[part]);
            assert_eq!(code, 0, "{name} {part} natively: {native}");
            assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{name} {part}: {}", run.stderr);
        }
    }
}

/// A segment's pages are a shared mapping's in the timeline: the 1024
/// pages the fixture touches fault once each, in its process, as pages of
/// an mmap region.
#[test]
fn a_segments_faults_are_in_the_timeline() {
    let run = run_fixture("sysvshm-glibc", &["meminfo"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("Shmem grew by 4 MiB: 1"), "{}", run.stdout);
    let faults = run.outcome.events.iter().filter(|e| e.pid == 1 && !e.kind.is_lifecycle() && run.region(e) == "mmap");
    let kinds: std::collections::BTreeSet<String> = faults.clone().map(|e| format!("{:?}", e.kind)).collect();
    assert!(faults.count() >= 1024, "{kinds:?}");
}
