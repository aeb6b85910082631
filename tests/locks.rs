//! File locks: fcntl's POSIX record locks and OFD locks, and flock(2),
//! across fork, dup and threads (ranges split and merged, F_GETLK's
//! report, release on any close, F_SETLKW blocking, EINTR, EDEADLK), as a
//! program sees them natively and under faultline alike.

mod support;

use support::*;

#[test]
fn file_locks_are_linux_s() {
    for libc in ["glibc", "musl"] {
        let name = format!("locks-{libc}");
        let native = run_native(&name, &[]);
        assert_eq!(native.1, 0, "{libc} natively:\n{}", native.0);
        let run = run_fixture(&name, &[]);
        assert_eq!((run.stdout.clone(), run.code()), native, "{libc}:\n{}", run.stderr);
        // The outcomes that need the lock table, not just the calls.
        for line in [
            "write 45: WR start 44 len 3 whence 0 pid parent\n",
            "child setlk write 15: 11\n",
            "child setlkw interrupted: 4\n",
            "child flock interrupted: -4\n",
            "parent waits for 1: 35\n",
            "thread ofd getlk: WR start 0 len 10 pid -1\n",
            "to EX|NB: -11\n",
            "after close of another fd: free (whence 0 start 0 len 0)\n",
        ] {
            assert!(run.stdout.contains(line), "{libc}: no {line:?} in\n{}", run.stdout);
        }
    }
}
