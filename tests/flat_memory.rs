//! faultline's own memory stays flat as the timeline grows. A test binary
//! of its own: cargo runs test binaries one after another, so no other
//! sandbox runs beside it and its peak-RSS measurements see only itself.

mod support;

/// faultline's own peak RSS (KiB) running `reserve churn N`, with or
/// without a CSV.
fn peak_rss_kb(n: u32, csv: bool) -> i64 {
    let path = std::env::temp_dir().join(format!("faultline-churn-{}-{n}.csv", std::process::id()));
    let (churn, n_arg, path_arg) = (support::fixture_arg("reserve-glibc"), n.to_string(), path.display().to_string());
    let mut args = vec!["run", "-q"];
    if csv {
        args.extend(["--timeline", &path_arg]);
    }
    args.extend([churn.as_str(), "churn", &n_arg]);
    let m = support::faultline_measured(&args);
    assert_eq!(m.code, 0, "{}", m.stderr);
    if csv {
        let rows = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
        assert!(rows >= n as usize * 128, "{rows} rows");
        let _ = std::fs::remove_file(&path);
    }
    m.max_rss_kib as i64
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
