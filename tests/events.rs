//! Event loops: epoll, eventfd, timerfd and signalfd, with a pipe and a
//! forked child, in an unmodified static program whose output and exit
//! status must equal a native run's.

mod support;

use support::*;

#[test]
fn an_epoll_event_loop_runs_as_natively() {
    for libc in ["glibc", "musl"] {
        let name = format!("evloop-{libc}");
        let run = run_fixture(&name, &[]);
        let (native, code) = run_native(&name, &[]);
        assert_eq!(code, 3, "{libc} natively: {native}");
        assert_eq!(run.code(), 3, "{libc}: {}\n{}", run.stdout, run.stderr);
        for (n, (a, b)) in native.lines().zip(run.stdout.lines()).enumerate() {
            assert_eq!(b, a, "{libc}: line {} differs from Linux", n + 1);
        }
        assert_eq!(run.stdout, native, "{libc}");
        // What Linux says, whatever the libc.
        for line in [
            "sizeof(struct epoll_event) = 12",
            "nest b in a (a loop)                     ok",
            "eventfd read fffffffffffffffe",
            "written: lt 1 data 1122334455667788 et 1 then 0 oneshot 1 then 0",
            "again: lt 1 et 1 oneshot 0 oneshot after mod 1",
            "reader closed: c",
            "anon_inode:[eventfd] mode 600 size 0",
            "SIGCHLD: code CLD_EXITED pid the child's status 7",
            "pipe: \"hello from the child\" then EOF",
            "eventfd: 42",
        ] {
            assert!(run.stdout.lines().any(|l| l == line), "{libc}: no {line:?} in\n{}", run.stdout);
        }
    }
}
