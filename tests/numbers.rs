//! Linux's own numbers, as a program reads them about itself: getrusage
//! and /proc/self/stat agree with a native run and with the timeline.

mod support;

use faultline::timeline::{Access, EventKind, Origin};
use support::*;

#[test]
fn a_program_counts_its_own_faults_as_natively() {
    for libc in ["glibc", "musl"] {
        let name = format!("faults-{libc}");
        let run = run_fixture(&name, &[]);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        let (native, _) = run_native(&name, &[]);
        assert_eq!(run.stdout, native, "{libc}");
        assert_eq!(
            run.stdout,
            "read 16 fresh pages: getrusage +16, stat +16 (sum 0)\nwrite after read: getrusage +16, stat +16\n\
             write 16 fresh pages: getrusage +16, stat +16\n\
             read, mprotect twice: getrusage +16, stat +16 (sum 0)\nthen write: getrusage +16, stat +16\n",
            "{libc}"
        );
        // The timeline has them too: 16 zero-page reads, then 16 copies of
        // the zero page, then 16 fresh writes, in the program's mapping;
        // then again 16 reads and 16 copies: the mprotect round trip in
        // between (its translations flushed) leaves the zero page mapped.
        let rows: Vec<(Access, EventKind)> = run
            .outcome
            .events
            .iter()
            .filter(|e| e.origin == Origin::Guest && run.region(e) == "mmap" && e.kind != EventKind::Release)
            .map(|e| (e.access, e.kind))
            .collect();
        let mut want = vec![(Access::Read, EventKind::ZeroFill); 16];
        want.extend(vec![(Access::Write, EventKind::Cow); 16]);
        want.extend(vec![(Access::Write, EventKind::ZeroFill); 16]);
        want.extend(vec![(Access::Read, EventKind::ZeroFill); 16]);
        want.extend(vec![(Access::Write, EventKind::Cow); 16]);
        assert_eq!(rows, want, "{libc}");
    }
}
