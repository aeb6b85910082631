//! faultline's own memory stays flat as the timeline grows. A test binary
//! of its own: cargo runs test binaries one after another, so no other
//! sandbox runs beside it and its peak-RSS measurements see only itself.

/// faultline's own peak RSS (kB) running `reserve churn N`, with or
/// without a CSV.
fn peak_rss_kb(n: u32, csv: bool) -> i64 {
    let path = std::env::temp_dir().join(format!("faultline-churn-{}-{n}.csv", std::process::id()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.args(["run", "-q"]);
    if csv {
        cmd.arg("--timeline").arg(&path);
    }
    // Reaped by wait4 below, which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.arg(elf_fixtures::path("reserve-glibc")).args(["churn", &n.to_string()]).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are ours to fill; the child is ours
    // and not yet reaped.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    if csv {
        let rows = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
        assert!(rows >= n as usize * 128, "{rows} rows");
        let _ = std::fs::remove_file(&path);
    }
    usage.ru_maxrss
}

#[test]
fn faultlines_memory_stays_flat_as_the_timeline_grows() {
    // 10 times the rows (6 400 against 64 000), streamed to a CSV or not:
    // the events are not kept, and the summary is kept incrementally.
    for csv in [false, true] {
        // The lower of two runs each: a peak RSS also holds what the host's
        // allocator and threads happened to do.
        let low = |n| peak_rss_kb(n, csv).min(peak_rss_kb(n, csv));
        let (small, big) = (low(50), low(500));
        assert!(big - small <= 8 * 1024, "csv {csv}: {small} kB → {big} kB");
    }
}
