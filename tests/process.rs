//! Processes: fork with copy-on-write, exec, wait, pipes, kill, the OOM
//! killer's choice, fork bombs, and busybox shell scripts. Output and exit
//! status are compared byte for byte with native runs of the same program;
//! the timeline is checked row by row (each row names its process).

mod support;

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use faultline::timeline::{EventKind, Origin};
use faultline::{Config, Input, Program};
use support::*;

/// The leak test counts this process's threads and fds: it runs alone
/// (write lock) while the others share the read lock.
static ALONE: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|p| p.into_inner())
}

fn procs(libc: &str) -> String {
    elf_fixtures::path(&format!("procs-{libc}")).display().to_string()
}

/// Runs `prog` with `args` in faultline, argv[0] its full path (as a native
/// run has it), after `tune`.
fn run_path(prog: &str, args: &[&str], tune: impl FnOnce(&mut Config)) -> Run {
    let mut argv = vec![prog];
    argv.extend_from_slice(args);
    let mut cfg = config(&argv);
    tune(&mut cfg);
    run_image(&Program::Path(PathBuf::from(prog)), cfg)
}

/// The same natively: (stdout, exit code or 128 + signal).
fn native(prog: &str, args: &[&str]) -> (Vec<u8>, i32) {
    use std::os::unix::process::ExitStatusExt;
    let out =
        std::process::Command::new(prog).args(args).stdin(std::process::Stdio::null()).output().expect("native run");
    let code = out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    (out.stdout, code)
}

/// Asserts that `prog args` prints the same bytes and ends the same way in
/// faultline as natively; returns the faultline run.
fn same_as_linux(prog: &str, args: &[&str]) -> Run {
    let run = run_path(prog, args, |_| {});
    let (out, code) = native(prog, args);
    assert_eq!(
        (String::from_utf8_lossy(&run.stdout_bytes), run.code()),
        (String::from_utf8_lossy(&out), code),
        "{prog} {args:?} (faultline's stderr: {})",
        run.stderr
    );
    assert_eq!(run.stdout_bytes, out);
    run
}

#[test]
fn fork_exec_wait_pipes_and_kill_match_linux() {
    let _g = shared();
    for libc in LIBCS {
        let p = procs(libc);
        for args in [
            &["same"][..],
            &["cow", "5", "3"],
            &["pipe", "200000"],
            &["wait"],
            &["kill"],
            &["exec", &p],
            &["spawn"],
            &["cycles", "20"],
            &["misc"],
            &["pingpong", "2000"],
            &["shared", "64"],
            &["atomic", "4", "300"],
        ] {
            let run = same_as_linux(&p, args);
            assert_eq!(run.code(), 0, "{libc} {args:?}");
            assert!(run.outcome.stopped.is_none(), "{libc} {args:?}");
        }
    }
}

#[test]
fn clone_shares_descriptors_fs_and_handlers_between_processes_as_linux_does() {
    let _g = shared();
    // CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND without CLONE_THREAD (LTP's
    // clone02): the child's opens, closes, FD_CLOEXEC, chdir, umask and
    // handler are the parent's; unshare and execve give a sharer its own.
    for libc in LIBCS {
        let p = elf_fixtures::path(&format!("cloneshare-{libc}")).display().to_string();
        let run = same_as_linux(&p, &[]);
        assert_eq!(run.code(), 0, "{libc}");
        assert!(!run.stdout.contains(": no"), "{libc}: {}", run.stdout);
    }
}

#[test]
fn exec_of_a_script_runs_its_interpreter_with_the_scripts_execfn() {
    let _g = shared();
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("faultline-process-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for libc in LIBCS {
        let script = dir.join(format!("script-{libc}"));
        std::fs::write(&script, format!("#!{} execfn\n", procs(libc))).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = script.display().to_string();
        let run = same_as_linux(&procs(libc), &["exec", &s]);
        // execve, execveat relative to a directory fd, of an fd, and with
        // AT_FDCWD: AT_EXECFN as Linux's alloc_bprm() names it.
        let execfns: Vec<&str> = run.stdout.lines().filter_map(|l| l.strip_prefix("AT_EXECFN=")).collect();
        let name = format!("script-{libc}");
        assert_eq!(execfns, [s.as_str(), &s, &format!("/dev/fd/200/{name}"), "/dev/fd/201", &s], "{libc}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_orphaned_zombie_goes_to_pid_1_which_reaps_it() {
    let _g = shared();
    // pid 1 (the program) ignores SIGCHLD; a grandchild that is already a
    // zombie when its parent exits is re-parented to it and released at
    // once. (Natively, the host's init or a subreaper gets it: not
    // compared.)
    for libc in LIBCS {
        let run = run_path(&procs(libc), &["orphanzombie"], |_| {});
        assert_eq!(
            (run.stdout.as_str(), run.code()),
            ("middle gone: 1, orphaned zombie gone: 1\n", 0),
            "{libc}: {}",
            run.stderr
        );
    }
}

#[test]
fn two_processes_print_one_address_with_two_values() {
    let _g = shared();
    for libc in LIBCS {
        let run = same_as_linux(&procs(libc), &["same"]);
        let child = hex_field(&run.stdout, "child: &value");
        let parent = hex_field(&run.stdout, "parent: &value");
        assert_eq!(child, parent);
        assert!(run.stdout.contains("child: &value=") && run.stdout.contains(" value=20\n"));
        assert!(run.stdout.ends_with(" value=30\n"), "{libc}: {}", run.stdout);
        // The page of `value`: each process's first write to it after the
        // fork is one write-protect fault of its own. The first writer
        // copies the page; the other then has the old one alone and
        // reuses it (wp_page_reuse): one copy in all.
        let page = child & !0xfff;
        let wp = |pid: u32| -> Vec<EventKind> {
            run.outcome
                .events
                .iter()
                .filter(|e| e.pid == pid && matches!(e.kind, EventKind::Cow | EventKind::CowReuse))
                .filter(|e| e.gva & !0xfff == page)
                .map(|e| e.kind)
                .collect()
        };
        let (w1, w2) = (wp(1), wp(2));
        assert_eq!((w1.len(), w2.len()), (1, 1), "{libc}: {w1:?} {w2:?}");
        let mut both = [w1[0], w2[0]];
        both.sort_by_key(|k| k.as_str());
        assert_eq!(both, [EventKind::Cow, EventKind::CowReuse], "{libc}: one copy in all");
    }
}

#[test]
fn the_writers_cow_faults_are_their_own_rows() {
    let _g = shared();
    for libc in LIBCS {
        for (n, m) in [(1u64, 0u64), (7, 4), (64, 9)] {
            let run = same_as_linux(&procs(libc), &["cow", &n.to_string(), &m.to_string()]);
            let buf = hex_field(&run.stderr, "buf");
            let ev = guest_events_in(&run, buf, buf + (n + m) * 4096);
            let count = |pid: u32, kind: EventKind| ev.iter().filter(|e| e.pid == pid && e.kind == kind).count() as u64;
            // The parent filled every page before the fork ...
            assert_eq!(count(1, EventKind::ZeroFill), n + m, "{libc} {n} {m}: {ev:?}");
            // ... the child's n writes are n cow rows of its own, on the
            // first n pages, and the parent's m later writes are its own.
            assert_eq!(count(2, EventKind::Cow), n, "{libc} {n} {m}: {ev:?}");
            assert_eq!(count(1, EventKind::Cow), m, "{libc} {n} {m}: {ev:?}");
            assert_eq!(ev.len() as u64, 2 * (n + m), "{libc} {n} {m}: nothing else in the buffer: {ev:?}");
            for e in &ev {
                let page = (e.gva - buf) / 4096;
                match (e.pid, e.kind) {
                    (2, EventKind::Cow) => assert!(page < n, "{e:?}"),
                    (1, EventKind::Cow) => assert!(page >= n, "{e:?}"),
                    _ => {}
                }
                assert_eq!(e.tid, e.pid, "single-threaded: {e:?}");
                assert_eq!(run.region(e), "mmap");
            }
            // The summary has a row per process and region.
            let s = &run.outcome.summary;
            let mmap = |pid| s.process(pid).and_then(|p| p.region("mmap")).map(|r| r.cows).unwrap();
            assert!(mmap(2) >= n && mmap(1) >= m, "{libc}: {:?}", s.processes);
            assert_eq!(s.processes.len(), 2, "{libc}");
            assert!(s.processes.iter().all(|p| p.comm == format!("procs-{libc}")));
        }
    }
}

#[test]
fn shared_frames_are_evicted_and_swapped_in_for_each_process() {
    let _g = shared();
    for libc in LIBCS {
        // 2000 pages shared copy-on-write, in 4 MiB of RAM with swap: both
        // processes read back what they and only they wrote.
        let p = procs(libc);
        let run = run_path(&p, &["shared", "2000"], |c| {
            c.rss_limit = Some(4 << 20);
            c.swap = 32 << 20;
        });
        let (out, code) = native(&p, &["shared", "2000"]);
        assert_eq!((run.stdout_bytes.as_slice(), run.code()), (out.as_slice(), code), "{libc}: {}", run.stderr);
        assert!(run.stdout.contains("child pass 1: 0 bad\n") && run.stdout.ends_with("parent pass 1: 0 bad\n"));
        let n =
            |pid: u32, kind: EventKind| run.outcome.events.iter().filter(|e| e.pid == pid && e.kind == kind).count();
        for pid in [1, 2] {
            assert!(n(pid, EventKind::Evict) > 100, "{libc} pid {pid}");
            assert!(n(pid, EventKind::SwapIn) > 1000, "{libc} pid {pid}");
            // A write copies a page still shared, or reuses one the other
            // process has copied already.
            let writes = n(pid, EventKind::Cow) + n(pid, EventKind::CowReuse);
            assert!(writes >= 666, "{libc} pid {pid}: {writes}");
        }
        // Nothing became resident beyond the limit.
        assert_eq!(run.outcome.memory.info.mem_total, 4096, "{:?}", run.outcome.memory.info);
    }
}

#[test]
fn each_processs_own_rows_repeat_exactly() {
    let _g = shared();
    // Rows without times, frames or sequence numbers, per process: those
    // are what interleaving with the other process may change. So may
    // whether a file page one process reads was already read by the other
    // (the page cache is shared): a file-copy and a cache-hit are both a
    // read of the file's page here. And whether a write to a page shared
    // since the fork copies it (cow) or finds the other process copied it
    // first (cow-reuse): both are the write-protect fault here.
    let rows = |run: &Run, pid: u32| -> Vec<String> {
        run.outcome
            .events
            .iter()
            .filter(|e| e.pid == pid)
            .map(|e| {
                let kind = match e.kind {
                    EventKind::FileCopy | EventKind::CacheHit => "file page".to_string(),
                    EventKind::Cow | EventKind::CowReuse => "write-protect".to_string(),
                    k => format!("{k:?}"),
                };
                format!("{} {:#x} {:?} {kind} {:?} {}", run.region(e), e.gva, e.access, e.origin, e.tid)
            })
            .collect()
    };
    for libc in LIBCS {
        let runs: Vec<Run> = (0..3).map(|_| run_path(&procs(libc), &["cow", "7", "4"], |_| {})).collect();
        for pid in [1, 2] {
            let first = rows(&runs[0], pid);
            assert!(first.len() >= 9, "{libc} pid {pid}: {first:?}");
            for r in &runs[1..] {
                assert_eq!(rows(r, pid), first, "{libc} pid {pid}");
            }
        }
    }
}

#[test]
fn the_timeline_csv_names_each_rows_process() {
    let _g = shared();
    let dir = std::env::temp_dir().join(format!("faultline-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("cow.csv");
    let out = std::process::Command::new(support::faultline_bin())
        .args(["run", "-q", "--timeline"])
        .arg(&csv)
        .args(["--", &procs("musl"), "cow", "6", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let buf = hex_field(&String::from_utf8_lossy(&out.stderr), "buf");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (gva, event, pid) = (col("gva"), col("event"), col("pid"));
    assert!(pid > col("origin"), "pid is appended after the older columns: {header:?}");
    let mut cows = [0u32; 3];
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let a = u64::from_str_radix(f[gva].trim_start_matches("0x"), 16).unwrap();
        if f[event] == "cow" && a >= buf && a < buf + 8 * 4096 {
            cows[f[pid].parse::<usize>().unwrap()] += 1;
        }
    }
    assert_eq!(cows, [0, 2, 6]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_oom_killer_kills_the_biggest_and_the_others_finish() {
    let _g = shared();
    for libc in LIBCS {
        // Children of 20, 4 and 12 MiB in 32 MiB: the 12 MiB one runs out
        // while it fills, and the 20 MiB one is the worst.
        for (args, mem, victim, want) in [
            (
                &["oom", "20", "4", "12"][..],
                32u64,
                2u32,
                "child 20M: killed by signal 9\nchild 4M: exited 0\nchild 12M: exited 0\n",
            ),
            // oom_score_adj 1000 (written by the child) makes the 8 MiB
            // one the worst.
            (
                &["oom", "20", "8+", "16"],
                40,
                3,
                "child 20M: exited 0\nchild 8+M: killed by signal 9\nchild 16M: exited 0\n",
            ),
        ] {
            let run = run_path(&procs(libc), args, |c| c.mem = mem << 20);
            assert_eq!((run.stdout.as_str(), run.code()), (want, 0), "{libc} {args:?}: {}", run.stderr);
            let kills: Vec<_> = run.outcome.events.iter().filter(|e| e.kind == EventKind::OomKill).collect();
            assert_eq!(kills.len(), 1, "{libc} {args:?}: {kills:?}");
            assert_eq!(kills[0].pid, victim);
            assert_eq!(kills[0].origin, Origin::Vmm);
            let line = run.outcome.reports.iter().find(|r| r.starts_with("Out of memory")).expect("a report");
            let adj = if args.iter().any(|a| a.ends_with('+')) { 1000 } else { 0 };
            assert!(
                line.starts_with(&format!("Out of memory: Killed process {victim} (procs-{libc}) total-vm:"))
                    && line.contains(" anon-rss:")
                    && line.contains(&format!(", UID:{} pgtables:", my_uid()))
                    && line.ends_with(&format!("kB oom_score_adj:{adj}")),
                "{line}"
            );
            // Its anon-rss is its size (give or take libc's own pages).
            let mib = args[1 + victim as usize - 2].trim_end_matches('+').parse::<u64>().unwrap();
            let anon: u64 = line.split("anon-rss:").nth(1).unwrap().split("kB").next().unwrap().parse().unwrap();
            assert!(anon >= mib * 1024 && anon < mib * 1024 + 512, "{line}");
        }
    }
}

#[test]
fn a_fork_bomb_meets_eagain_and_ends_cleanly() {
    let _g = shared();
    for libc in LIBCS {
        for (cap, made) in [(Some(20), 19), (None, faultline::DEFAULT_MAX_TASKS - 1)] {
            // Ending cleanly is ending before the timeout (not stopped), which
            // is generous: a wall-time bound fails on a loaded machine.
            let run = run_path(&procs(libc), &["bomb"], |c| {
                c.timeout = Some(scaled(Duration::from_secs(120)));
                if let Some(cap) = cap {
                    c.max_tasks = cap;
                }
            });
            assert_eq!(
                run.stdout,
                format!("bomb: made {made}, then EAGAIN; reaped {made}\n"),
                "{libc}: {}",
                run.stderr
            );
            assert_eq!(run.code(), 0);
            assert!(run.outcome.stopped.is_none());
            assert_eq!(run.outcome.summary.processes.len() as u32, made + 1);
        }
        // RLIMIT_NPROC, set by the program itself, counts every task of
        // its user: itself and 9 children (root's CAP_SYS_RESOURCE would
        // pass it).
        let run = run_path(&procs(libc), &["bomb", "10"], |c| c.identity = Some(user_1000()));
        assert_eq!((run.stdout.as_str(), run.code()), ("bomb: made 9, then EAGAIN; reaped 9\n", 0), "{libc}");
    }
}

/// This process's threads and open fds.
fn host_threads_and_fds() -> (usize, usize) {
    let n = |d: &str| std::fs::read_dir(d).unwrap().count();
    (n("/proc/self/task"), n("/proc/self/fd"))
}

#[test]
fn a_thousand_fork_exit_cycles_leave_no_host_threads_or_fds() {
    let _g = ALONE.write().unwrap_or_else(|p| p.into_inner());
    // One run first, so what stays for the process's life (lazy statics,
    // the allocator's arenas) is there before counting.
    let _ = run_path(&procs("musl"), &["cycles", "3"], |_| {});
    // Until the threads of that run (and of tests that ran before) are gone.
    let mut before = host_threads_and_fds();
    let (mut stable_since, t0) = (Instant::now(), Instant::now());
    while stable_since.elapsed() < Duration::from_millis(500) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        let now = host_threads_and_fds();
        if now != before {
            (before, stable_since) = (now, Instant::now());
        }
    }
    // While it runs, at most a few host threads at a time: each process's
    // vCPU thread ends with it.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(host_threads_and_fds().0);
                std::thread::sleep(Duration::from_millis(2));
            }
            most
        })
    };
    let run = run_path(&procs("musl"), &["cycles", "1000"], |c| c.timeout = Some(scaled(Duration::from_secs(120))));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watch.join().unwrap();
    // The watcher, the fault handler, parent and child vCPU threads, and
    // a few of reaped children still on their way out (the parent may be
    // reaped before its vCPU thread has returned): nowhere near 1000.
    assert!(most <= before.0 + 32, "{most} host threads at once (from {})", before.0);
    assert_eq!(run.stdout, "cycles: 1000 of 1000\n", "{}", run.stderr);
    assert_eq!(run.outcome.summary.processes.len(), 1001);
    drop(run);
    // vCPU threads finish just after the run returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = host_threads_and_fds();
    while (now.0 > before.0 || now.1 > before.1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        now = host_threads_and_fds();
    }
    let names = |d: &str| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                std::fs::read_to_string(p.join("comm"))
                    .or_else(|_| std::fs::read_link(&p).map(|l| l.display().to_string()))
                    .unwrap_or_default()
            })
            .collect()
    };
    assert!(
        now.0 <= before.0 && now.1 <= before.1,
        "(threads, fds) before {before:?} and after {now:?}: {:?} {:?}",
        names("/proc/self/task"),
        names("/proc/self/fd")
    );
}

/// busybox, as ci/setup installs it.
fn busybox() -> String {
    ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("busybox is not installed: run ci/setup")
        .to_string()
}

/// Shell scripts whose output does not depend on how processes interleave.
const SCRIPTS: &[&str] = &[
    "for i in 1 2 3; do echo line $i; done | sort -r | head -2",
    "(echo sub; exit 3); echo \"st=$?\"; x=$(echo a b c | wc -w); echo \"words=$x\"",
    "echo abc | tr a-c x-z | rev; false || echo or; true && echo and",
    "i=0; while [ $i -lt 50 ]; do i=$((i+1)); done; echo i=$i; sh -c 'exit 7'; echo $?",
    "yes | head -n 3",
    "seq 1 3000 | while read l; do s=$((s+l)); done; echo $s; seq 1 3000 | awk '{s+=$1} END {print s}'",
    "(exit 4) | (exit 5); echo $?; set -o pipefail; (exit 4) | (exit 0); echo $?",
    "f() { echo \"f $1\"; return 6; }; f x; echo $?; exec 3>&1; echo to3 >&3",
    "echo $(echo $(echo nested)); a=$( (echo in; echo out) | grep -c . ); echo $a",
    "sleep 10 & p=$!; kill $p; wait $p; echo killed=$?",
    "for i in 1 2 3 4 5; do (echo $i; exit $i); echo \"st $?\"; done | cat -n",
    "seq 1 20000 | sort -rn | head -n 2; seq 1 100000 | tail -n 1",
    "{ echo a; echo b >&2; } 2>&1 | sort; echo x | { read v; echo got $v; }",
    "exit 3",
    "kill -TERM $$; echo not reached",
];

#[test]
fn busybox_scripts_match_linux() {
    let _g = shared();
    let bb = busybox();
    for script in SCRIPTS {
        let run = run_path(&bb, &["sh", "-c", script], |c| c.stdin = Input::Empty);
        let (out, code) = native(&bb, &["sh", "-c", script]);
        assert_eq!(
            (String::from_utf8_lossy(&run.stdout_bytes), run.code()),
            (String::from_utf8_lossy(&out), code),
            "{script:?} (faultline's stderr: {})",
            run.stderr
        );
        assert!(run.outcome.stopped.is_none(), "{script}");
    }
}

#[test]
fn the_guest_inherits_faultlines_capability_bounding_set() {
    // As any child of faultline would: a host whose root lacks a
    // capability (this one's lacks CAP_SYS_RESOURCE) gives a root guest
    // none of it either, so root-only programs meet what they would here.
    let _g = shared();
    same_as_linux("/bin/grep", &["-E", "^Cap(Bnd|Prm|Eff|Inh|Amb)", "/proc/self/status"]);
}
