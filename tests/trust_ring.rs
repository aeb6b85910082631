//! No loop of the VMM trusts a word the guest writes (issue 21, items 6
//! and 7), tried with `ringforge` (elf-fixtures/hostile):
//!
//! - a thread that forges TAKEN in its own mailbox and waits in the stub
//!   is ended by whatever would end it elsewhere (a signal, exit_group
//!   from another thread, `--timeout`, faultline's SIGINT), and the forged
//!   state itself is a SIGSEGV to it;
//! - a thread cannot write a sibling thread's mailbox to have calls run as
//!   that sibling: the write is a SIGSEGV, and the sibling is untouched.
//!
//! The forged states need the stub in ring 3 with user pages (PVM, this
//! machine's KVM). Where the stub's pages are supervisor pages (ring-0,
//! bare metal) or absent (exits), the first write to a mailbox faults.
//!
//! Wall-time bounds are loose (the machine is shared: 2 cores, other
//! builds); each test prints the figure it measured on faultline's clock.

mod support;

use std::time::Duration;

use faultline::{ExitStatus, SyscallPath};
use support::{config, fixture, run_image, Run};

const SIGUSR1: i32 = 10;
const SIGSEGV: i32 = 11;
/// vCPU 0's mailbox (arch::layout::ring_code_va(0) + PAGE_SIZE).
const MAILBOX0: u64 = 0xffff_ff00_0000_1000;

fn forge(args: &[&str], path: SyscallPath, timeout: Duration) -> Run {
    let mut argv = vec!["ringforge"];
    argv.extend_from_slice(args);
    let mut c = config(&argv);
    c.syscalls = path;
    c.keep_events = false;
    c.timeout = Some(timeout);
    run_image(&fixture("ringforge"), c)
}

#[test]
fn a_write_to_a_siblings_mailbox_is_a_sigsegv_to_the_writer() {
    let r = forge(&["sibling"], SyscallPath::Ring, Duration::from_secs(10));
    assert_eq!(r.outcome.status, ExitStatus::Killed(SIGSEGV), "{}\n{:?}", r.stdout, r.outcome.reports);
    assert_eq!(r.stdout, "ring on\n");
    let report = r.outcome.report().unwrap_or_default();
    assert!(report.starts_with(&format!("ringforge[1]: segfault at {MAILBOX0:x} ")), "{report}");
}

#[test]
fn a_sibling_keeps_its_signal_mask_when_another_thread_forges_its_calls() {
    // The writer's handler sees the fault, then sends the main thread
    // SIGUSR1: it must kill the process (no forged rt_sigprocmask ran).
    let r = forge(&["sibling", "handled"], SyscallPath::Ring, Duration::from_secs(10));
    assert_eq!(r.outcome.status, ExitStatus::Killed(SIGUSR1), "{}\n{:?}", r.stdout, r.outcome.reports);
    assert_eq!(r.stdout, format!("ring on\nSIGSEGV at {MAILBOX0:#x}\n"));
}

#[test]
fn without_user_ring_pages_the_first_forged_write_faults() {
    // Ring 0 (the bare-metal layout): supervisor pages; exits: none.
    for path in [SyscallPath::RingCpl0, SyscallPath::Exit] {
        for args in [&["taken", "alarm"][..], &["sibling"]] {
            let r = forge(args, path, Duration::from_secs(10));
            assert_eq!(r.outcome.status, ExitStatus::Killed(SIGSEGV), "{path:?} {args:?}: {}", r.stdout);
            assert_eq!(r.stdout, "ring on\n", "{path:?} {args:?}");
            let report = r.outcome.report().unwrap_or_default();
            assert!(report.starts_with(&format!("ringforge[1]: segfault at {MAILBOX0:x} ")), "{report}");
            assert!(r.outcome.elapsed < Duration::from_millis(900), "{path:?} {args:?}: {:?}", r.outcome.elapsed);
        }
    }
}
