//! Linux semantics the Linux Test Project found faultline without (issue
//! 27), each as a fixture compared with a native run.

mod support;

use support::*;

fn both(name: &str, args: &[&str]) -> ((String, i32), (String, i32)) {
    let run = run_fixture(name, args);
    ((run.stdout.clone(), run.code()), run_native(name, args))
}

#[test]
fn an_unwritable_signal_frame_forces_sigsegv() {
    for libc in LIBCS {
        let name = format!("sigconf-{libc}");
        for mode in ["altstack-ro", "altstack-gone"] {
            let (got, native) = both(&name, &[mode]);
            assert_eq!(got, native, "{libc} {mode}");
            // SIGSEGV (SI_KERNEL) to its handler; SIGHUP's never ran.
            assert_eq!(got, ("SIGSEGV handler: code 0x80\nafter raise: segv 11 hup 0\n".into(), 0), "{libc} {mode}");
        }
        // SIGSEGV's handler cannot get a frame either: death by SIGSEGV.
        let (got, native) = both(&name, &["altstack-segv"]);
        assert_eq!(got, native, "{libc}");
        assert_eq!(got.1, 139, "{libc}");
    }
}

#[test]
fn sa_resethand_keeps_the_flags() {
    for libc in LIBCS {
        let (got, native) = both(&format!("sigconf-{libc}"), &["resethand"]);
        assert_eq!(got, native, "{libc}");
        assert!(got.0.ends_with("SIG_DFL 1 SA_SIGINFO 1 SA_RESETHAND 1\n"), "{libc}: {}", got.0);
    }
}

/// Whether this host's cores go to a file (not a pipe to a helper, which
/// takes a core whatever RLIMIT_CORE says).
fn cores_to_files() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").is_ok_and(|p| !p.starts_with('|'))
}

#[test]
fn the_core_dump_bit_follows_rlimit_core() {
    for libc in LIBCS {
        let name = format!("sigconf-{libc}");
        for (limit, dumped) in [("0", false), ("100", false), ("4096", true), ("-1", true)] {
            let run = run_fixture(&name, &["coredump", limit]);
            let want = if dumped {
                "wait: signaled 1 sig 6 core 1\nwaitid: code CLD_DUMPED status 6\n"
            } else {
                "wait: signaled 1 sig 6 core 0\nwaitid: code CLD_KILLED status 6\n"
            };
            assert_eq!((run.stdout.as_str(), run.code()), (want, 0), "{libc} RLIMIT_CORE {limit}");
            if cores_to_files() {
                assert_eq!(run_native(&name, &["coredump", limit]), (want.to_string(), 0), "{libc} natively");
            }
        }
    }
}

#[test]
fn alarm_wakes_sigwait() {
    for libc in LIBCS {
        let (got, native) = both(&format!("sigconf-{libc}"), &["alarm-sigwait"]);
        assert_eq!(got, native, "{libc}");
        assert_eq!(got.0, "sigwait: 0 sig 14\nsigtimedwait: 14 code 128\nstill blocked: 1\n", "{libc}");
    }
}

#[test]
fn rlimit_cpu_sends_sigxcpu_then_sigkill() {
    for libc in LIBCS {
        let (got, native) = both(&format!("sigconf-{libc}"), &["rlimit-cpu"]);
        assert_eq!(got, native, "{libc}");
        assert_eq!(got, ("SIGXCPU\nchild: signaled 1 sig 9\n".into(), 0), "{libc}");
    }
}

#[test]
fn process_corners_match_linux() {
    for libc in LIBCS {
        let name = format!("corners-{libc}");
        let (got, native) = both(&name, &["intmin"]);
        assert_eq!(got, native, "{libc}");
        assert!(!got.0.contains("ECHILD"), "{libc}: {}", got.0);
        let (got, native) = both(&name, &["emptyargv"]);
        assert_eq!(got, native, "{libc}");
        assert_eq!(got.0, "child: argc 1 argv[0] \"\"\n".repeat(2), "{libc}");
    }
}

#[test]
fn futex_errors_match_linux() {
    for libc in LIBCS {
        let (got, native) = both(&format!("corners-{libc}"), &["futex"]);
        assert_eq!(got, native, "{libc}");
        assert!(got.0.contains("cmp_requeue uaddr2 PROT_NONE: -1 EFAULT\n"), "{libc}: {}", got.0);
    }
}

#[test]
fn children_stop_and_continue_as_linux() {
    for libc in LIBCS {
        let (got, native) = both(&format!("jobctl-{libc}"), &[]);
        assert_eq!(got, native, "{libc}");
        let want = "stopped: 1 sig 19\nstates: T T\nreported once: 0\nSIGCHLD: CLD_STOPPED status 19\n\
                    continued: 0 code 6 status 18\nchild: read 1 cont handler 1\nexit: 1 code 3\n\
                    SIGCHLD: CLD_CONTINUED status 18\nstopped: 1 sig 19 SIGCHLD 0\ncontinued: 1\n\
                    killed while stopped: 1 sig 9\nended child, WCONTINUED: -1 ECHILD 1\n";
        assert_eq!(got, (want.to_string(), 0), "{libc}");
    }
}
