//! faultline's own failures end the run cleanly: the fault handler dying
//! (a panic, a return nobody asked for), a userfaultfd ioctl failing,
//! KVM_RUN failing, the host refusing memory, a panic in the kernel. Each is injected with
//! `FAULTLINE_INJECT=POINT:N` (vmm/src/inject.rs: the Nth call fails as
//! the real one would, and the real error path runs), and each run must
//! end within a bound with exit status 125, one line naming the cause
//! last on stderr, the summary of what happened until then (counts that
//! follow N exactly), and nothing left running.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No run may take longer: a hang is a failure, not a stuck test.
const BOUND: Duration = Duration::from_secs(10);

struct Ended {
    code: i32,
    stderr: String,
    /// The --summary JSON.
    summary: serde_json::Value,
    wall: Duration,
}

impl Ended {
    /// Faults pid 1 took in `region`, of `kind` ("read", "write").
    fn count(&self, region: &str, kind: &str) -> u64 {
        let p = self.summary["processes"].as_array().unwrap().iter().find(|p| p["pid"] == 1).expect("pid 1");
        let r = p["regions"].as_array().unwrap().iter().find(|r| r["name"] == region).expect("region");
        r[kind].as_u64().unwrap()
    }

    fn total(&self, key: &str) -> u64 {
        self.summary["total"][key].as_u64().unwrap()
    }
}

/// Runs `faultline run --summary FILE --page-cache cold ARGS...` with
/// `FAULTLINE_INJECT` set to `inject` (empty: nothing injected), in a
/// process group of its own, killed if it outlives [`BOUND`]; then checks
/// that nothing of it is left. With no file page cached at the start, the
/// copies and page buffers the tests count follow the faults one for one.
fn run_injected(inject: &str, args: &[&str]) -> Ended {
    run_injected_within(inject, args, BOUND)
}

/// [`run_injected`], with a bound of its own.
fn run_injected_within(inject: &str, args: &[&str], bound: Duration) -> Ended {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let json = std::env::temp_dir().join(format!("faultline-inject-{}-{run}.json", std::process::id()));
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::new(support::faultline_bin());
    cmd.arg("run").arg("--summary").arg(&json).args(["--page-cache", "cold"]).args(args);
    cmd.env("FAULTLINE_INJECT", inject).env_remove("RUST_BACKTRACE");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("faultline runs");
    let pgid = child.id() as i32;
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > bound {
            // SAFETY: signals our own child's process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("{inject}: faultline {args:?} still ran after {bound:?}: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    let stderr = reader.join().unwrap();
    // Nothing of the run is left: no process in its group.
    // SAFETY: signal 0 only asks whether the group has members.
    let left = unsafe { libc::kill(-pgid, 0) };
    assert!(left == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH), "{inject}: left over");
    // (Empty if the run never started: output files open first.)
    let summary = std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let _ = std::fs::remove_file(&json);
    Ended { code: status.code().unwrap_or(-1), stderr, summary, wall }
}

/// The run failed cleanly, for the cause named by `cause`: status 125,
/// within the bound, the summary printed, and faultline's own lines each
/// one tame line, the error line last.
fn assert_clean_failure(e: &Ended, inject: &str, cause: &str) {
    assert_eq!(e.code, 125, "{inject}: {}", e.stderr);
    assert!(e.wall < BOUND, "{inject}: {:?}", e.wall);
    let last = e.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("faultline: error: ") && last.contains(cause), "{inject}: {last:?}\n{}", e.stderr);
    assert_eq!(e.stderr.matches("faultline: error:").count(), 1, "{inject}: {}", e.stderr);
    for line in e.stderr.lines().filter(|l| l.starts_with("faultline")) {
        assert!(faultline::text::is_tame(line) && line.len() < 1000, "{inject}: {line:?}");
    }
    // The summary table, and the same in --summary's JSON.
    assert!(e.stderr.contains("\nsandbox: "), "{inject}: no summary: {}", e.stderr);
    assert!(e.summary["processes"].is_array(), "{inject}: no --summary JSON");
}

fn touch() -> String {
    support::fixture_arg("touch")
}

#[test]
fn a_failing_uffdio_copy_ends_the_run_with_the_pages_filled_until_then() {
    let touch = touch();
    // One page per first touch (--fill-pages 1): each write fault is one
    // UFFDIO_COPY, made by the vCPU thread's fault path; the 40th fails
    // with ENOMEM as the host's would, and the 39 before it are the run's
    // whole timeline (the VMM's stack page, .text, .rodata, then .bss).
    for n in [40u64, 90] {
        let inject = format!("uffd-copy:{n}");
        let e = run_injected(&inject, &["--fill-pages", "1", &touch, "bss", "write", "200"]);
        assert_clean_failure(&e, &inject, "userfaultfd copy: Cannot allocate memory");
        assert!(e.stderr.contains("resolving a fault at 0x"), "{}", e.stderr);
        assert_eq!(e.total("faults") + e.total("vmm"), n - 1, "{inject}: {}", e.summary["total"]);
        assert_eq!(e.count(".bss", "write"), n - 4, "{inject}");
    }
    // By default the rest of a block's pages fault straight into the
    // handler thread: the copy fails there, the same way.
    let e = run_injected("uffd-copy:40", &[&touch, "bss", "write", "200"]);
    assert_clean_failure(&e, "uffd-copy:40 (handler)", "userfaultfd copy: Cannot allocate memory");
    assert_eq!(e.total("faults") + e.total("vmm"), 39, "{}", e.summary["total"]);
}

#[test]
fn failing_zeropage_and_wake_ioctls_end_the_run() {
    let touch = touch();
    // Reads of fresh .bss map the zero page: a UFFDIO_ZEROPAGE and a
    // UFFDIO_WAKE each. Ten more calls before the failure, ten more pages.
    for (point, cause) in [
        ("uffd-zeropage", "userfaultfd zeropage: Cannot allocate memory"),
        ("uffd-wake", "userfaultfd wake: Invalid argument"),
    ] {
        let mut reads = Vec::new();
        for n in [30, 40] {
            let inject = format!("{point}:{n}");
            let e = run_injected(&inject, &["--fill-pages", "1", &touch, "bss", "read", "200"]);
            assert_clean_failure(&e, &inject, cause);
            reads.push(e.count(".bss", "read"));
        }
        assert_eq!(reads[1], reads[0] + 10, "{point}: {reads:?}");
        assert!(reads[1] < 200, "{point}: {reads:?}");
    }
}

#[test]
fn a_failing_kvm_run_ends_the_run_and_its_other_threads() {
    let touch = touch();
    // Each first write is a trap out of KVM_RUN: ten more runs, ten more
    // pages, then the failure.
    let mut writes = Vec::new();
    for n in [60, 70] {
        let inject = format!("kvm-run:{n}");
        let e = run_injected(&inject, &["--fill-pages", "1", &touch, "bss", "write", "200"]);
        assert_clean_failure(&e, &inject, "KVM run vCPU: Bad address");
        writes.push(e.count(".bss", "write"));
    }
    assert_eq!(writes[1], writes[0] + 10, "{writes:?}");
    // Four threads writing one shared mapping: the one whose KVM_RUN fails
    // ends the run, the others are stopped with it.
    let threads = support::fixture_arg("threads-glibc");
    let e = run_injected("kvm-run:40", &[&threads, "same", "4", "64"]);
    assert_clean_failure(&e, "kvm-run:40 (threads)", "KVM run vCPU: Bad address");
}

#[test]
fn the_host_refusing_a_page_buffer_ends_the_run() {
    // .rodata pages are read from the file through a page buffer the VMM
    // allocates; when the host refuses one, the run ends (Rust would
    // otherwise abort on the failed allocation, with no summary).
    let touch = touch();
    let mut reads = Vec::new();
    for n in [20, 35] {
        let inject = format!("page-alloc:{n}");
        let e = run_injected(&inject, &["--fill-pages", "1", &touch, "rodata", "read", "200"]);
        assert_clean_failure(&e, &inject, "the host is out of memory");
        reads.push(e.count(".rodata", "read"));
    }
    assert_eq!(reads[1], reads[0] + 15, "{reads:?}");
}

#[test]
fn a_refused_flush_of_stale_translations_ends_the_run() {
    // Page-table changes (glibc's mprotect and munmap calls) are flushed
    // from KVM by write-protecting the frames' host pages for a moment
    // (an mprotect round trip without userfaultfd's write protection); if
    // the host refuses it (ENOMEM: no memory for its page tables), the
    // guest could go on reaching frames it no longer maps, so the run ends.
    let malloc = support::fixture_arg("mallocexp-glibc");
    let full = run_injected("", &[&malloc, "big"]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let mut faults = Vec::new();
    for n in [1, 3] {
        let inject = format!("host-flush:{n}");
        let e = run_injected(&inject, &[&malloc, "big"]);
        assert_clean_failure(&e, &inject, "cannot flush the guest's stale translations of guest frames 0x");
        assert!(e.stderr.contains(": Cannot allocate memory"), "{}", e.stderr);
        faults.push(e.total("faults"));
    }
    assert!(0 < faults[0] && faults[0] < faults[1] && faults[1] < full.total("faults"), "{faults:?}");
}

#[test]
fn the_fault_handler_dying_never_leaves_the_guest_frozen() {
    // The whole .bss in one 2 MiB block: the first write traps, every
    // other page faults into the handler thread from inside KVM_RUN. The
    // handler dies on its Nth batch, with that fault unserved and the
    // vCPU parked on it: the run still ends, at once.
    let touch = touch();
    for (point, cause) in [
        ("handler-panic", "the fault handler died: userfaultfd handler: panicked: FAULTLINE_INJECT"),
        ("handler-exit", "the fault handler died: userfaultfd handler: returned without being stopped"),
    ] {
        let mut writes = Vec::new();
        for n in [20, 50] {
            let inject = format!("{point}:{n}");
            let e = run_injected(&inject, &["--fill-pages", "512", &touch, "bss", "write", "200"]);
            assert_clean_failure(&e, &inject, cause);
            writes.push(e.count(".bss", "write"));
        }
        assert_eq!(writes[1], writes[0] + 30, "{point}: {writes:?}");
        // Threads parked on faults of their own when it dies.
        let threads = support::fixture_arg("threads-glibc");
        let inject = format!("{point}:30");
        let e = run_injected(&inject, &["--fill-pages", "512", &threads, "same", "4", "64"]);
        assert_clean_failure(&e, &inject, cause);
    }
    // A panic is reported in one line too, not Rust's multi-line report.
    let e = run_injected("handler-panic:5", &[&touch, "bss", "write", "200"]);
    assert!(e.stderr.contains("faultline: internal error: thread fault-handler panicked at "), "{}", e.stderr);
}

#[test]
fn a_panic_in_the_kernel_on_a_vcpu_thread_ends_the_run() {
    // A bug in a syscall or fault path panics the vCPU thread, the kernel
    // lock held: its guest thread would never exit and pid 1 never end
    // (the run hung, even with nothing else wrong).
    let touch = touch();
    let mut writes = Vec::new();
    for n in [30, 50] {
        let inject = format!("kernel-panic:{n}");
        let e = run_injected(&inject, &["--fill-pages", "1", &touch, "bss", "write", "200"]);
        assert_clean_failure(&e, &inject, "the vCPU thread running thread 1 panicked");
        assert!(e.stderr.contains("faultline: internal error: thread vcpu-1 panicked at "), "{}", e.stderr);
        writes.push(e.count(".bss", "write"));
    }
    assert_eq!(writes[1], writes[0] + 20, "{writes:?}");
    let threads = support::fixture_arg("threads-glibc");
    let e = run_injected("kernel-panic:40", &[&threads, "same", "4", "64"]);
    assert_clean_failure(&e, "kernel-panic:40 (threads)", "panicked");
}

#[test]
fn a_bad_injection_spec_is_refused_before_anything_runs() {
    let e = run_injected("uffd-copy", &[&touch(), "bss", "write", "1"]);
    assert_eq!(e.code, 125);
    assert!(e.stderr.contains("FAULTLINE_INJECT: uffd-copy: expected POINT:N"), "{}", e.stderr);
    assert!(!e.stderr.contains("sandbox: "), "{}", e.stderr);
}

/// The library: [`faultline::Error::Aborted`] carries the run so far, and
/// no thread of the sandbox outlives `run`. Run by
/// [`the_library_gets_the_partial_outcome_and_keeps_no_threads`] in a child
/// process with the injection set (it is read once per process).
#[test]
#[ignore = "run in a child process, with FAULTLINE_INJECT set, by the test below"]
fn library_run_under_injection() {
    let spec = std::env::var("FAULTLINE_INJECT").expect("FAULTLINE_INJECT is set");
    let threads_now = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let before = threads_now();
    let program = support::fixture("threads-glibc");
    let mut config = support::config(&["threads", "same", "4", "64"]);
    config.fill_pages = 512;
    let start = Instant::now();
    let r = faultline::Sandbox::new(program, config).expect("sandbox").run();
    assert!(start.elapsed() < BOUND, "{spec}: {:?}", start.elapsed());
    let Err(faultline::Error::Aborted { why, partial }) = r else { panic!("{spec}: not aborted: {r:?}") };
    assert!(
        why.contains("the fault handler died") || why.contains("KVM run vCPU") || why.contains("vCPU thread"),
        "{spec}: {why}"
    );
    assert!(matches!(partial.stopped, Some(faultline::Stop::Failure(_))), "{spec}");
    let p = partial.summary.process(1).expect("pid 1's summary so far");
    assert!(p.regions.iter().map(|r| r.write_faults + r.read_faults).sum::<u64>() > 0, "{spec}");
    // The handler and every vCPU thread are gone once `run` returns (a
    // vCPU thread leaves the kernel an instant before its host thread
    // ends: give it that instant).
    let settled = Instant::now();
    while threads_now() != before && settled.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(threads_now(), before, "{spec}: threads left");
}

#[test]
fn the_library_gets_the_partial_outcome_and_keeps_no_threads() {
    for spec in ["handler-panic:30", "handler-exit:30", "kvm-run:40", "kernel-panic:40"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "library_run_under_injection", "--test-threads", "1"])
            .env("FAULTLINE_INJECT", spec)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{spec}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_panic_in_the_syscall_rings_server_ends_the_run() {
    // The server panics holding a call it took: the vCPU waiting in the
    // stub for it is kicked out, and the run ends with the summary.
    let ring = support::fixture_arg("ringcalls-glibc");
    let e = run_injected("ring-panic:50", &["--syscalls", "ring", &ring, "calls", "100"]);
    assert_clean_failure(&e, "ring-panic:50", "the syscall ring's server panicked");
    assert!(e.stderr.contains("faultline: internal error: thread syscall-ring panicked at "), "{}", e.stderr);
}

#[test]
fn a_stub_whose_call_the_server_leaves_takes_an_exit_instead() {
    // The server stalls 50 ms before taking a call, as if starved of CPU:
    // each stub withdraws its call after ~110 µs and the VMM runs it, once
    // (the output and status are checked against Linux in tests/ring.rs;
    // here the run must go on at exit speed through the stall).
    let ring = support::fixture_arg("ringcalls-glibc");
    let e = run_injected("ring-stall:50", &["--syscalls", "ring", &ring, "calls", "100"]);
    assert_eq!(e.code, 0, "{}", e.stderr);
    let ring = &e.summary["syscall_ring"];
    assert!(ring["withdrawn"].as_u64().is_some_and(|n| n >= 1), "{}", e.summary);
    assert!(ring["served"].as_u64().is_some_and(|n| n > 15), "{}", e.summary);
    // Not one call at a time for the stall's 50 ms: the calls went on.
    assert!(e.wall < Duration::from_secs(20), "{:?}", e.wall);
}

#[test]
fn a_memory_slot_kvm_refuses_ends_faultline_before_the_program_runs() {
    // The system slot (1), RAM's (2) and the ring's (3) are made as the
    // VM is. RAM's refused, faultline fails as itself before the program
    // runs: nothing faulted and nothing else printed.
    let e = run_injected("kvm-slot:2", &[&touch(), "bss", "write", "1"]);
    assert_eq!(e.code, 125, "{}", e.stderr);
    let last = e.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "faultline: error: KVM add memory slot: Cannot allocate memory (os error 12)", "{}", e.stderr);
    assert_eq!(e.stderr.lines().count(), 1, "{}", e.stderr);
}

#[test]
fn no_memory_slot_is_made_once_the_program_runs() {
    // Making a slot waits for every vCPU inside KVM_RUN, one parked on a
    // userfault among them, whose fill needs the kernel's lock: a slot made
    // under it as memory came into use deadlocked the LTP's mallocstress.
    // A fourth slot failing fails nothing. When slots grew as memory
    // filled, 8 200 tables of PTEs and then 128 MiB of frames each made a
    // fourth (the system slot's second, RAM's second).
    let reserve = support::fixture_arg("reserve-glibc");
    let e = run_injected_within(
        "kvm-slot:4",
        &["--overcommit", "1", &reserve, "map", "16400", "8200"],
        Duration::from_secs(120),
    );
    assert_eq!(e.code, 0, "{}", e.stderr);
    let e = run_injected("kvm-slot:4", &[&reserve, "map", "128", "32768"]);
    assert_eq!(e.code, 0, "{}", e.stderr);
    assert!(e.total("faults") > 16_000, "{}", e.summary["total"]);
}

#[test]
fn a_run_stuck_inside_faultline_still_ends_after_its_timeout() {
    // The kernel's lock held for good at the second trap, as a deadlock
    // would: the supervisor cannot stop the run, so the CLI's watchdog
    // ends faultline 30 s (STOP_GRACE) after the 1 s timeout.
    let e = run_injected_within(
        "kernel-hang:2",
        &["--timeout", "1", &touch(), "bss", "write", "200"],
        Duration::from_secs(60),
    );
    assert_eq!(e.code, 125, "{}", e.stderr);
    assert!(e.wall >= Duration::from_secs(31), "{:?}", e.wall);
    let last = e.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "faultline: internal error: the run did not stop within 30 s of its 1.0 s timeout \
         (faultline is stuck: a bug in faultline, not in the program)",
        "{}",
        e.stderr
    );
}
