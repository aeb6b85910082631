//! Smaller divergences the hostile-guest probe found (issue "Trust
//! boundary"): a signal return into a code segment the program may not
//! have, or with an FPU image XRSTOR refuses, is a SIGSEGV the program can
//! catch, as on Linux; a single step's SIGTRAP carries the instruction's
//! address; clone(CLONE_SETTLS) past the top of user space is EPERM. Each
//! compared with the same program run natively where this host's Linux
//! behaves as faultline's does.

mod support;

use support::*;

fn sigedge(libc: &str, mode: &str) -> (String, i32) {
    let run = run_fixture(&format!("sigedge-{libc}"), &[mode]);
    (run.stdout.clone(), run.code())
}

#[test]
fn bad_signal_returns_and_thread_bases_end_as_on_linux() {
    for libc in ["glibc", "musl"] {
        for mode in ["cs0x10", "mxcsr", "trapflag", "settls"] {
            let native = run_native(&format!("sigedge-{libc}"), &[mode]);
            let got = sigedge(libc, mode);
            assert_eq!(got, (native.0.clone(), native.1), "{libc} {mode}");
        }
        // The kernel's code segment, reserved MXCSR bits: a catchable
        // SIGSEGV (SI_KERNEL), not a kill and not ignored.
        assert_eq!(sigedge(libc, "cs0x10"), ("caught signal 11 code 0x80\n".into(), 0), "{libc}");
        assert_eq!(sigedge(libc, "mxcsr"), ("caught signal 11 code 0x80\n".into(), 0), "{libc}");
        // A 32-bit code segment: faultline has no IA32 emulation, so as on
        // a Linux without it, the return faults (this host's Linux has it
        // and runs the bytes as 32-bit code instead).
        assert_eq!(sigedge(libc, "cs32"), ("caught signal 11 code 0x80\n".into(), 0), "{libc}");
        // An XSAVE header naming a feature XCR0 lacks: XRSTOR's #GP, where
        // frames hold one (OSXSAVE); without it only the legacy area is
        // there and the return goes through.
        let (out, code) = sigedge(libc, "xstatebv");
        assert_eq!(code, 0);
        let want = if out.starts_with("osxsave 1") { "caught signal 11 code 0x80\n" } else { "returned normally\n" };
        assert!(out.ends_with(want), "{libc}: {out}");
        assert_eq!(
            sigedge(libc, "trapflag"),
            ("SIGTRAP 5 code 2 addr is ip 1\nstepped 1\n".into(), 0),
            "{libc}: TRAP_TRACE at the instruction's address"
        );
        assert_eq!(
            sigedge(libc, "settls").0,
            "clone CLONE_SETTLS past the top: -1 errno 1\nclone CLONE_SETTLS at TASK_SIZE_MAX: -1 errno 1\n"
        );
    }
}
