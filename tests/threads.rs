//! Threads and signal handlers: pthread programs (glibc and musl), handlers
//! that mend faults, and a static Rust program, each compared byte for
//! byte with a native run; and what the timeline shows of them (the `tid`
//! column, one `signal` row before each retried fault).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use faultline::timeline::{Access, EventKind, Origin};
use support::*;

/// Runs `fixture-libc args` in faultline and natively: same stdout, same
/// exit status. Returns the faultline run.
fn same_as_native(fixture: &str, libc: &str, args: &[&str]) -> Run {
    let name = format!("{fixture}-{libc}");
    let run = run_fixture(&name, args);
    let (native, code) = run_native(&name, args);
    assert_eq!(run.stdout, native, "{name} {args:?}: stdout differs from native; stderr: {}", run.stderr);
    assert_eq!(run.code(), code, "{name} {args:?}: exit status; stderr: {}", run.stderr);
    run
}

#[test]
fn threaded_sum_with_a_mutex_and_a_condition_variable() {
    for libc in LIBCS {
        for n in ["1", "8", "32"] {
            let run = same_as_native("threads", libc, &["sum", n]);
            assert_eq!(run.code(), 0);
            assert!(run.stdout.starts_with(&format!("sum: threads={n} ")), "{}", run.stdout);
            // Every thread was its own task: n clones, each a new tid.
            let clones = run.strace.lines().filter(|l| l.contains("clone") && !l.contains("= -1")).count();
            assert_eq!(clones.to_string(), n, "{libc}: {}", run.strace);
        }
    }
}

#[test]
fn sixty_four_threads_malloc_and_free() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["malloc", "64"]);
        assert_eq!(run.stdout, "malloc: threads=64 ok=64\n");
        // 64 threads' faults, each timed when it arrived: the rows are
        // still in time order.
        let times: Vec<u64> = run.outcome.events.iter().map(|e| e.time_ns).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{libc}: {times:?}");
    }
}

#[test]
fn thread_local_storage_per_thread() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["tls", "16"]);
        assert_eq!(run.stdout, "tls: threads=16 ok=16 main=7\n");
    }
}

#[test]
fn futex_timeouts_wakes_and_requeues_as_on_linux() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["futex"]);
        assert!(run.stdout.contains("futex relative: r=-1 "), "{}", run.stdout);
        assert!(run.stdout.contains("futex cmp_requeue: r=2\n"), "{}", run.stdout);
        assert!(run.stdout.contains("futex woke=2\n"), "{}", run.stdout);
        assert!(run.stdout.ends_with(" timed out\n"), "{}", run.stdout);
    }
}

/// A futex wait with a timeout that a handler interrupts fails with EINTR
/// even under SA_RESTART; interrupted with no handler, restart_syscall
/// waits to the same deadline (the timeout is not stretched).
#[test]
fn futex_waits_with_timeouts_and_signals() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["futexsig"]);
        assert!(run.stdout.starts_with("futex handler: r=-1 errno=Interrupted system call handled=1 early=1\n"));
        assert!(run.stdout.ends_with(" in_time=1\n"), "{}", run.stdout);
    }
}

#[test]
fn tgkill_reaches_the_chosen_thread() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["tgkill"]);
        assert!(run.stdout.starts_with("tgkill: r=0 handled_by_thread=2 main_pid_is_tgid=1\n"), "{}", run.stdout);
    }
}

/// A thread that exits holding a robust mutex: the kernel walks its robust
/// list, marks the mutex FUTEX_OWNER_DIED, and the next locker gets
/// EOWNERDEAD (without it, pthread_mutex_lock would wait for ever).
#[test]
fn a_robust_mutex_held_by_a_dead_thread_gives_eownerdead() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["robust"]);
        // The second line is printed only after EOWNERDEAD (whose text
        // differs between the libcs).
        assert!(run.stdout.ends_with(" died\nrobust: after consistent lock=0\n"), "{}", run.stdout);
    }
}

/// exit(2) ends one thread, exit_group the process: the main thread can
/// leave first; a process-directed signal goes to a thread not blocking
/// it; a fault in any thread with no handler kills them all.
#[test]
fn thread_exit_process_signals_and_a_crashing_thread() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["mainexit"]);
        assert_eq!((run.stdout.as_str(), run.code()), ("mainexit: the other thread still runs\n", 5));
        let run = same_as_native("threads", libc, &["procsig"]);
        assert_eq!(run.stdout, "procsig: taken_by_worker=1\n");
        let run = same_as_native("threads", libc, &["crash"]);
        assert_eq!(run.code(), 139);
        let report = run.outcome.report().unwrap_or_default().to_string();
        assert!(report.contains("segfault at 0 ") && report.contains("killed by SIGSEGV"), "{report}");
    }
}

/// Threads fault on read-only pages at once; each SIGSEGV goes to the
/// thread that faulted, which mends its page: per thread, a `signal` row
/// then the retry's zero-fill, page after page.
#[test]
fn concurrent_sigsegvs_are_each_delivered_to_their_thread() {
    for libc in LIBCS {
        let (n, k) = (8u64, 16u64);
        let run = same_as_native("threads", libc, &["barrier", &n.to_string(), &k.to_string()]);
        assert_eq!(run.stdout, format!("barrier: threads={n} pages={} hits={} ok={}\n", n * k, n * k, n * k));
        let base = hex_field(&run.stderr, "guarded");
        let mut by_tid: BTreeMap<u32, Vec<(u64, EventKind)>> = BTreeMap::new();
        for e in guest_events_in(&run, base, base + n * k * 4096) {
            by_tid.entry(e.tid).or_default().push((e.gva, e.kind));
        }
        assert_eq!(by_tid.len() as u64, n, "{libc}");
        for (tid, rows) in &by_tid {
            let first = (rows[0].0 - base) / 4096 / k;
            let want: Vec<(u64, EventKind)> = (0..k)
                .flat_map(|p| {
                    let va = base + (first * k + p) * 4096;
                    [(va, EventKind::Signal { signo: 11, code: 2 }), (va, EventKind::ZeroFill)]
                })
                .collect();
            assert_eq!(rows, &want, "{libc}: thread {tid}");
        }
    }
}

/// clone3's argument checks in Linux's order and errnos, and
/// CLONE_CLEAR_SIGHAND (caught signals back to SIG_DFL in the child,
/// ignored ones still ignored: exit status 3).
#[test]
fn clone3_checks_its_arguments_as_linux_does() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["clone3"]);
        assert!(run.stdout.contains("clone3 size 4097: r=-1 errno=Argument list too long\n"), "{}", run.stdout);
        assert!(run.stdout.contains("clone3 thread with exit_signal: r=-1 errno=Invalid argument\n"));
        assert!(run.stdout.ends_with("clone3 clear_sighand: child status=3\n"), "{}", run.stdout);
    }
}

/// A thread spinning in user mode neither starves the main thread nor
/// escapes a signal: its vCPU is kicked out and the handler runs.
#[test]
fn a_spinning_thread_gets_its_signal_and_starves_nobody() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["spin"]);
        assert_eq!(run.stdout, "spin: tgkill=0 stopped=1 spun=1\n");
    }
}

/// glibc gives each thread that mallocs while the others are alive its own
/// arena: a 128 MiB PROT_NONE reservation trimmed to a 64 MiB-aligned 64
/// MiB, of which 132 KiB are made read-write. The thread's first malloc
/// touches one page of it: the arena's header and the chunk.
#[test]
fn each_threads_glibc_arena_is_a_64_mib_reservation_with_one_page_touched() {
    for n in [1usize, 2, 4, 8] {
        let arg = n.to_string();
        let run = same_as_native("threads", "glibc", &["arenas", &arg]);
        let bases: Vec<u64> = run
            .strace
            .lines()
            .filter(|l| l.contains("mprotect(") && l.contains(", 135168, PROT_READ|PROT_WRITE) = 0"))
            .map(|l| {
                let a = l.split("mprotect(0x").nth(1).unwrap().split(',').next().unwrap();
                u64::from_str_radix(a, 16).unwrap()
            })
            .collect();
        assert_eq!(bases.len(), n, "{n} threads: {} arenas\n{}", bases.len(), run.strace);
        let mut owners = BTreeSet::new();
        for &base in &bases {
            assert_eq!(base % (64 << 20), 0, "arena at {base:#x} is 64 MiB aligned");
            let ev = guest_events_in(&run, base, base + (64 << 20));
            assert_eq!(ev.len(), 1, "{n} threads, arena {base:#x}: {ev:?}");
            let e = ev[0];
            assert_eq!((e.gva, e.access, e.kind), (base, Access::Write, EventKind::ZeroFill));
            assert_ne!(e.tid, 1, "a worker's first malloc touches its arena");
            owners.insert(e.tid);
        }
        assert_eq!(owners.len(), n, "one arena per thread: {owners:?}");
        // /proc/self/maps would list each as a 132 KiB rw-p part and the
        // rest of the 64 MiB as ---p: so does the VMA set.
        let mapped_arena_pages: u64 = bases.len() as u64 * (64 << 20) / 4096;
        let mmap = run.outcome.summary.region("mmap").unwrap();
        assert!(mmap.mapped_pages >= mapped_arena_pages, "{mmap:?}");
    }
    // Many threads: arenas stop at 8 per CPU (the main arena included), as
    // natively; the rest share.
    let run = same_as_native("threads", "glibc", &["malloc", "64"]);
    let arenas = run.strace.lines().filter(|l| l.contains(", 135168, PROT_READ|PROT_WRITE) = 0")).count();
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let cpus: usize = cpus
        .trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum();
    assert_eq!(arenas, (8 * cpus - 1).min(64), "{}", run.strace);
}

/// /proc/self/maps while threads are alive, without addresses: each
/// glibc arena as a 132 KiB rw-p part and the rest of its 64 MiB as ---p,
/// each thread stack with its guard page, musl's brk guard as [heap]: as
/// on Linux, line for line.
#[test]
fn proc_self_maps_shows_arenas_and_thread_stacks_as_linux_does() {
    for libc in LIBCS {
        let run = same_as_native("threads", libc, &["maps", "3"]);
        let count = |line: &str| run.stdout.lines().filter(|l| *l == line).count();
        if libc == "glibc" {
            // Three arenas, three 8 MiB stacks.
            assert_eq!((count("---p 65404 KiB "), count("rw-p 8192 KiB ")), (3, 3), "{}", run.stdout);
        } else {
            // musl: 128 KiB stacks; its brk guard page is in [heap].
            assert_eq!((count("rw-p 132 KiB "), count("---p 4 KiB [heap]")), (3, 1), "{}", run.stdout);
        }
    }
}

/// Several threads fault at once: every fault is resolved and recorded
/// once, under the thread that made it.
#[test]
fn concurrent_faults_are_each_recorded_under_their_thread() {
    for libc in LIBCS {
        let (n, k) = (8u64, 32u64);
        let run = same_as_native("threads", libc, &["touch", &n.to_string(), &k.to_string()]);
        assert_eq!(run.stdout, format!("touch: threads={n} pages={} ok={}\n", n * k, n * k));
        let base = hex_field(&run.stderr, "shared");
        let ev = guest_events_in(&run, base, base + n * k * 4096);
        assert_eq!(ev.len() as u64, n * k, "{libc}: {ev:?}");
        let mut by_tid: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for e in &ev {
            assert_eq!((e.access, e.kind, e.pid), (Access::Write, EventKind::ZeroFill, 1));
            by_tid.entry(e.tid).or_default().push(e.gva);
        }
        assert_eq!(by_tid.len() as u64, n, "{libc}: {by_tid:?}");
        for (tid, pages) in &by_tid {
            // A thread's own pages, each once, in the order it wrote them.
            let first = (pages[0] - base) / 4096 / k;
            let want: Vec<u64> = (0..k).map(|p| base + (first * k + p) * 4096).collect();
            assert_eq!(pages, &want, "{libc}: thread {tid}");
        }
    }
}

/// Threads racing to write the same fresh pages: each page is backed once,
/// and recorded once, under whichever thread got there first.
#[test]
fn racing_faults_on_the_same_pages_are_resolved_once_each() {
    for libc in LIBCS {
        let (n, k) = (8u64, 512u64);
        let run = same_as_native("threads", libc, &["same", &n.to_string(), &k.to_string()]);
        assert_eq!(run.stdout, format!("same: threads={n} pages={k} ok={}\n", n * k));
        let base = hex_field(&run.stderr, "shared");
        let ev = guest_events_in(&run, base, base + k * 4096);
        let pages: BTreeSet<u64> = ev.iter().map(|e| e.gva).collect();
        assert_eq!((ev.len() as u64, pages.len() as u64), (k, k), "{libc}: one fault per page");
        assert!(ev.iter().all(|e| e.kind == EventKind::ZeroFill && e.access == Access::Write && e.tid != 1));
    }
}

#[test]
fn a_sigsegv_handler_mends_the_fault_write_barrier() {
    for libc in LIBCS {
        let n = 8u64;
        let run = same_as_native("signals", libc, &["barrier", &n.to_string()]);
        assert_eq!(run.stdout, format!("barrier: pages={n} hits={n} each_once=1 sum={}\n", 6 * n));
        let base = hex_field(&run.stderr, "region");
        let ev = guest_events_in(&run, base, base + n * 4096);
        // Per page: the first write's zero-fill, then (read-only) a
        // `signal` row with SEGV_ACCERR, then nothing: the handler's
        // mprotect makes the page writable and it is already resident.
        let rows: Vec<(u64, EventKind)> = ev.iter().map(|e| (e.gva, e.kind)).collect();
        let mut want: Vec<(u64, EventKind)> = (0..n).map(|i| (base + i * 4096, EventKind::ZeroFill)).collect();
        want.extend((0..n).map(|i| (base + i * 4096, EventKind::Signal { signo: 11, code: 2 })));
        assert_eq!(rows, want, "{libc}");
        assert!(ev.iter().all(|e| e.access == Access::Write && e.tid == 1 && e.origin == Origin::Guest));
    }
}

/// A page never touched before the barrier: the `signal` row comes before
/// the retry's fault, which is the zero-fill.
#[test]
fn the_signal_row_comes_before_the_retrys_fault() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["barrier-fresh", "4"]);
        assert_eq!(run.stdout, "barrier: pages=4 hits=4 each_once=1 sum=20\n");
        let base = hex_field(&run.stderr, "region");
        let rows: Vec<(u64, EventKind)> =
            guest_events_in(&run, base, base + 4 * 4096).iter().map(|e| (e.gva, e.kind)).collect();
        let want: Vec<(u64, EventKind)> = (0..4)
            .flat_map(|i| {
                [(base + i * 4096, EventKind::Signal { signo: 11, code: 2 }), (base + i * 4096, EventKind::ZeroFill)]
            })
            .collect();
        assert_eq!(rows, want, "{libc}");
    }
}

#[test]
fn null_and_access_faults_carry_linuxs_si_addr_and_si_code() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["null"]);
        assert_eq!(run.stdout, "null: signo=11 si_addr=0 si_code=1\nnull+16: si_addr=0x10 si_code=1\n");
        let sig: Vec<_> = run.outcome.events.iter().filter(|e| matches!(e.kind, EventKind::Signal { .. })).collect();
        assert_eq!(sig.len(), 2, "{libc}: {sig:?}");
        assert!(sig.iter().all(|e| e.gva == 0 && e.kind == EventKind::Signal { signo: 11, code: 1 }));
        let run = same_as_native("signals", libc, &["accerr"]);
        assert_eq!(
            run.stdout,
            "accerr: signo=11 offset=100 si_code=2 err=6 trapno=14 cr2_ok=1\nprot_none read: offset=5 si_code=2 \
             err=4\nunmapped read: offset=7 si_code=1 err=4\n"
        );
    }
}

/// A read past the end of a mapped file (a page of it, but beyond EOF):
/// SIGBUS with BUS_ADRERR at the address, caught by a handler.
#[test]
fn a_read_past_eof_of_a_mapped_file_is_a_caught_sigbus() {
    let small = concat!(env!("CARGO_MANIFEST_DIR"), "/../elf-fixtures/libc/fixture.h");
    assert!(std::fs::metadata(small).unwrap().len() < 4096);
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["sigbus", small]);
        // The sigcontext's error code (user read, not present), trap
        // number (page fault) and cr2, as well.
        assert_eq!(run.stdout, "sigbus: signo=7 offset=4108 si_code=2 err=4 trapno=14 cr2_ok=1\n");
        let sig: Vec<_> = run.outcome.events.iter().filter(|e| matches!(e.kind, EventKind::Signal { .. })).collect();
        assert_eq!(sig.len(), 1, "{libc}: {sig:?}");
        assert_eq!((sig[0].kind, sig[0].access), (EventKind::Signal { signo: 7, code: 2 }, Access::Read));
    }
}

#[test]
fn sa_restart_restarts_a_blocking_read_and_without_it_read_fails_with_eintr() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["restart"]);
        assert_eq!(run.stdout, "restart: read=1 errno=- handled=1 byte=x\n");
        // The interrupted read was restarted: the log shows it twice.
        let reads = run.strace.lines().filter(|l| l.starts_with("[pid     1] read(3, ")).count();
        assert_eq!(reads, 2, "{libc}: {}", run.strace);
        assert!(run.strace.contains("= ? ERESTARTSYS (To be restarted if SA_RESTART is set)"), "{}", run.strace);
        let run = same_as_native("signals", libc, &["eintr"]);
        assert_eq!(run.stdout, "eintr: read=-1 errno=Interrupted system call handled=1 byte=-\n");
        let run = same_as_native("signals", libc, &["alarm"]);
        assert_eq!(run.stdout, "eintr: read=-1 errno=Interrupted system call handled=1 byte=-\n");
        let run = same_as_native("signals", libc, &["alarm-restart"]);
        assert_eq!(run.stdout, "restart: read=1 errno=- handled=1 byte=x\n");
    }
}

/// Sleeps a handler interrupts fail with EINTR even under SA_RESTART
/// (ERESTART_RESTARTBLOCK, ERESTARTNOHAND), with what was left in rem; a
/// signal with no handler does not cut a sleep short: restart_syscall
/// sleeps the rest.
#[test]
fn sleeps_are_interrupted_by_handlers_and_resumed_without() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["sleep"]);
        assert!(run.stdout.starts_with("nanosleep: r=-1 errno=Interrupted system call handled=1 rem_ok=1\n"));
        assert!(run.stdout.ends_with("sigcont: r=0 full=1\n"), "{}", run.stdout);
        assert!(run.strace.contains("= ? ERESTART_RESTARTBLOCK (Interrupted by signal)"), "{}", run.strace);
        assert!(run.strace.contains("= ? ERESTARTNOHAND (To be restarted if no handler)"), "{}", run.strace);
    }
}

/// ppoll's mask lets a blocked signal in for the call: the handler runs,
/// ppoll fails with EINTR (ERESTARTNOHAND, even under SA_RESTART), and the
/// caller's mask is back afterwards.
#[test]
fn ppoll_with_a_mask_runs_the_handler_and_restores_the_mask() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["ppoll"]);
        assert_eq!(
            run.stdout,
            "ppoll: r=-1 errno=Interrupted system call handled=1 blocked_after=1\nppoll timeout: r=0\npoll ready: r=1 \
             revents_in=1\n"
        );
    }
}

#[test]
fn a_stack_overflow_is_handled_on_the_alternate_stack() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["altstack"]);
        assert_eq!(
            run.stdout,
            "altstack: set flags=0 size_ok=1\naltstack: signo=11 si_code=1 on_altstack=1 ss_onstack=1\n"
        );
        // The fault that could not be resolved: one signal row, in the
        // stack guard gap below the stack.
        let sig: Vec<_> = run.outcome.events.iter().filter(|e| matches!(e.kind, EventKind::Signal { .. })).collect();
        assert_eq!(sig.len(), 1, "{libc}: {sig:?}");
    }
}

#[test]
fn masks_pending_sets_sigsuspend_and_sigtimedwait() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["mask"]);
        assert!(run.stdout.contains("sigsuspend: r=-1 errno=Interrupted system call handled=1\n"), "{}", run.stdout);
        assert!(run.stdout.ends_with("resethand: handled=2 now_default=1\n"), "{}", run.stdout);
    }
}

/// The mask inside a handler: its own signal (unless SA_NODEFER) and
/// sa_mask; a signal raised in its own handler runs after it, or nested
/// with SA_NODEFER; rt_sigreturn restores the mask.
#[test]
fn handler_masks_sa_nodefer_and_nesting() {
    for libc in LIBCS {
        let run = same_as_native("signals", libc, &["nodefer"]);
        assert_eq!(
            run.stdout,
            "deferred: self_blocked=1 usr2_blocked=1 depth_max=1\nnodefer: self_blocked=0 usr2_blocked=0 \
             depth_max=3\nafter: usr1_blocked=0 usr2_blocked=0\n"
        );
    }
}

#[test]
fn a_handler_leaves_the_interrupted_codes_fpu_state_intact() {
    for libc in LIBCS {
        same_as_native("signals", libc, &["fpu"]);
        // xmm0, xmm7, xmm15 and MXCSR across a handler that clobbers them:
        // the XSAVE area in the frame brings them back (on arm64 v0, v7,
        // v15 and FPCR, from the frame's fpsimd_context).
        let run = same_as_native("signals", libc, &["sse"]);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(run.stdout, "sse: handled=1 xmm0=1.5 xmm7=2.5 xmm15=3.5 mxcsr_kept=1\n");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(run.stdout, "sse: handled=1 v0=1.5 v7=2.5 v15=3.5 fpcr_kept=1\n");
    }
}

/// A static Rust program: threads, channels, a spinning thread, a
/// panicking one. Compiled here with the rustc that builds the tests.
#[test]
fn a_static_rust_binary_that_spawns_threads() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/rust/threads.rs");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = dir.join("rust-threads");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["-C", "target-feature=+crt-static", "--target", "x86_64-unknown-linux-gnu", "-O", "--edition", "2021"])
        .arg("-o")
        .arg(&exe)
        .arg(src)
        .output()
        .expect("rustc");
    assert!(out.status.success(), "rustc: {}", String::from_utf8_lossy(&out.stderr));
    let native = std::process::Command::new(&exe).arg("8").output().unwrap();
    let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
    assert_eq!(native.status.code(), Some(3));
    let program = faultline::Program::Path(exe.clone());
    let run = run_image(&program, config(&["rust-threads", "8"]));
    assert_eq!(run.stdout, native_out, "stderr: {}", run.stderr);
    assert_eq!(run.code(), 3);
    assert!(native_out.starts_with("threads=8 total=319999600000 expected=319999600000 messages=8"));
    // What Rust's runtime does at start, and how its threads are made.
    assert!(run.strace.contains("poll("), "{}", run.strace);
    assert!(run.strace.lines().any(|l| l.contains("sigaltstack(0x")), "{}", run.strace);
    assert!(run.strace.lines().filter(|l| l.contains("clone3(") && !l.ends_with("= -1 ENOSYS")).count() >= 8);
}

/// Threads that do not race: each thread's own sequence of rows of its
/// memory is the same on every run. (Shared code pages are not its own:
/// whichever thread runs, say, pthread_exit's page first takes its fault.)
#[test]
fn each_threads_rows_repeat_exactly() {
    for libc in LIBCS {
        let rows = || {
            let run = run_fixture(&format!("threads-{libc}"), &["touch", "4", "8"]);
            assert_eq!(run.code(), 0);
            let mut by_tid: BTreeMap<u32, Vec<String>> = BTreeMap::new();
            let own = |e: &&faultline::timeline::Event| {
                e.origin == Origin::Guest && !matches!(e.kind, EventKind::FileCopy | EventKind::CacheHit)
            };
            for e in run.outcome.events.iter().filter(own) {
                let row = format!("{},{:#x},{:?},{:?}", run.region(e), e.gva, e.access, e.kind);
                by_tid.entry(e.tid).or_default().push(row);
            }
            by_tid
        };
        let first = rows();
        assert_eq!(first.len(), 5, "{libc}: main and 4 workers: {first:#?}");
        for _ in 0..2 {
            assert_eq!(rows(), first, "{libc}");
        }
    }
}
