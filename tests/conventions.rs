//! faultline behaves like the tools people know: `--timeout` ends a
//! program whatever it does, Ctrl-C (and SIGTERM, SIGHUP) keeps what was
//! recorded and exits as a shell expects, output files are opened before
//! anything runs, and the syscall log follows strace's habits.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{faultline, fixture_arg, tmp};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn timeout_kills_a_sleeping_program() {
    let t = Instant::now();
    let out = faultline(&["run", "-q", "--timeout", "1", &fixture_arg("sleeploop")]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(
        stderr(&out).contains("sleeploop[1]: killed after the 1.0 s timeout; killed by SIGKILL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn timeout_kills_a_program_blocked_on_stdin() {
    // The program reads faultline's stdin, a pipe nobody writes to.
    let mut child = Command::new(support::faultline_bin())
        .args(["run", "-q", "--timeout", "1", "/bin/cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

/// Sends `sig` to a faultline running a sleeping program once it has
/// started, and returns its output.
fn interrupted(sig: i32, csv: &PathBuf) -> Output {
    let child = Command::new(support::faultline_bin())
        .args(["run", "--timeline", csv.to_str().unwrap(), &fixture_arg("sleeploop")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the program to be asleep: its rows stop growing.
    let t = Instant::now();
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let len = std::fs::metadata(csv).map(|m| m.len()).unwrap_or(0);
        if len > 0 && len == last || t.elapsed() > Duration::from_secs(5) {
            break;
        }
        last = len;
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
    child.wait_with_output().unwrap()
}

#[test]
fn a_signal_to_faultline_keeps_what_was_recorded() {
    for (sig, code, name, how) in [
        (libc::SIGINT, 130, "SIGINT", "interrupted"),
        (libc::SIGTERM, 143, "SIGTERM", "told to stop"),
        (libc::SIGHUP, 129, "SIGHUP", "hung up on"),
    ] {
        let csv = tmp(&format!("int-{code}.csv"));
        let out = interrupted(sig, &csv);
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        // One line says so, naming the signal once.
        let said: Vec<&str> = err.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(
            said,
            [format!(
                "faultline: sleeploop[1]: faultline was {how}, and stopped the program and everything it started; \
                 killed by {name}"
            )],
            "{err}"
        );
        // The summary, and every row recorded so far, with the header.
        assert!(err.contains("\nsandbox: ") && err.contains(".text"), "{name}: {err}");
        let text = std::fs::read_to_string(&csv).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[0].starts_with("seq,time_ns,"), "{name}");
        assert!(rows.len() > 10, "{name}: {} rows", rows.len());
        // Complete rows, numbered without a gap.
        for (i, r) in rows[1..].iter().enumerate() {
            assert!(r.starts_with(&format!("{i},")), "{name}: row {i}: {r}");
            assert_eq!(r.split(',').count(), rows[0].split(',').count(), "{name}: {r}");
        }
    }
}

#[test]
fn output_files_are_opened_before_the_program_runs() {
    let t = Instant::now();
    for opt in ["--timeline=/nonexistent/dir/t.csv", "--strace=/nonexistent/dir/s.log"] {
        let out = faultline(&["run", opt, "--timeout", "20", &fixture_arg("sleeploop")]);
        assert_eq!(out.status.code(), Some(125), "{opt}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("faultline: error: cannot create /nonexistent/dir/"), "{opt}: {err}");
        assert_eq!(err.lines().count(), 1, "{opt}: {err}");
    }
    let out = faultline(&["run", "--strace-output", "/nonexistent/s.log", &fixture_arg("sleeploop")]);
    assert_eq!(out.status.code(), Some(125));
    // Nothing ran: the sleeping program would have taken 20 s.
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn strace_filter_count_and_times() {
    let log = tmp("filtered.log");
    let out = faultline(&[
        "run",
        "-q",
        "--strace-output",
        log.to_str().unwrap(),
        "--strace-filter",
        "%memory,exit_group",
        &fixture_arg("mallocexp-glibc"),
        "small",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = text.lines().filter(|l| !l.starts_with("+++")).map(|l| &l[..l.find('(').unwrap()]).collect();
    assert!(calls.contains(&"brk") && calls.contains(&"exit_group"), "{text}");
    assert!(
        calls.iter().all(|c| ["brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "exit_group"].contains(c)),
        "{text}"
    );
    // Arguments by the call's real signature: getpid takes none.
    let log = tmp("getpid.log");
    let out = faultline(&[
        "run",
        "-q",
        "--strace-output",
        log.to_str().unwrap(),
        "--strace-filter",
        "getpid,getppid",
        "/bin/sh",
        "-c",
        "echo $$ $PPID",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().all(|l| l == "getpid() = 1" || l == "getppid() = 0" || l.starts_with("+++")), "{text}");
    // -c: a table of calls, errors and time per syscall, at the end.
    let out = faultline(&["run", "-q", "--strace-count", &fixture_arg("mallocexp-glibc"), "small"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("% time     seconds  usecs/call     calls    errors syscall"), "{err}");
    let brk = err.lines().find(|l| l.ends_with(" brk")).expect("a brk row");
    let cols: Vec<&str> = brk.split_whitespace().collect();
    assert!(cols[3].parse::<u64>().unwrap() >= 2, "{brk}");
    assert!(err.lines().last().unwrap().ends_with(" total"), "{err}");
    // -T: each call's time, as <0.000123>.
    let out = faultline(&[
        "run",
        "-q",
        "--strace",
        "--strace-times",
        "--strace-filter",
        "brk",
        &fixture_arg("mallocexp-glibc"),
        "small",
    ]);
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("brk(")).unwrap();
    assert!(line.ends_with('>') && line.contains(" <0."), "{line}");
    // A bad filter is a usage error.
    let out = faultline(&["run", "--strace-filter", "nosuchcall", &fixture_arg("touch")]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("unknown syscall \"nosuchcall\""), "{}", stderr(&out));
}

#[test]
fn status_lines_come_at_most_once_a_second() {
    let out = faultline(&[
        "run",
        "-q",
        "--status",
        "--rss-limit",
        "512K",
        "--swap",
        "64M",
        &fixture_arg("touch"),
        "bss",
        "write",
        "256",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let lines = err.lines().filter(|l| l.starts_with("faultline: reclaim: ")).count();
    assert_eq!(lines, 1, "a sub-second run prints one status line: {err}");
}
