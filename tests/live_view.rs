//! Watching a run: `--vmstat N` prints procps vmstat's header once and a
//! line every N seconds (the first at once), with values from faultline's
//! model; `--top` prints top's table of every process at exit, and of the
//! live ones on SIGUSR1.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use support::{faultline, fixture_arg, tmp};

fn summary(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const TOP_HEADER: &str = "    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n";
const HEADER1: &str = "procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu----- ----faults---";
const HEADER2: &str = " r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st    flt majflt";

/// The vmstat lines of a run's stderr, as numbers, after checking the
/// header came once, first, and that the lines are as many as whole
/// seconds the run took, plus the first.
fn vmstat_rows(out: &Output, elapsed_ms: f64) -> Vec<Vec<u64>> {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("procs ")).count(), 1, "{err}");
    assert_eq!(lines[0], HEADER1, "{err}");
    assert_eq!(lines[1], HEADER2, "{err}");
    let rows: Vec<Vec<u64>> = lines[2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(|c| c.parse().unwrap_or_else(|_| panic!("{l:?}"))).collect())
        .collect();
    for r in &rows {
        assert_eq!(r.len(), 19, "{rows:?}");
    }
    // A line at 0 s, 1 s, 2 s, ... while the run lasts; at a whole second
    // the last one may or may not have made it.
    let secs = elapsed_ms / 1000.0;
    let near = (secs - secs.round()).abs() < 0.05;
    let want = 1 + secs.floor() as usize;
    let k = secs.round() as usize;
    assert!(
        rows.len() == want || (near && (rows.len() == k || rows.len() == k + 1)),
        "{} lines for a run of {secs:.3} s: {err}",
        rows.len()
    );
    rows
}

#[test]
fn vmstat_prints_a_line_a_second() {
    let json = tmp("vmstat.json");
    let out = faultline(&[
        "run",
        "-q",
        "--vmstat",
        "1",
        "--summary",
        json.to_str().unwrap(),
        &fixture_arg("liveview-glibc"),
        "2500",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    let s = summary(&json);
    let rows = vmstat_rows(&out, s["elapsed_ms"].as_f64().unwrap());
    assert!(rows.len() >= 3, "{rows:?}");
    let total = s["meminfo"]["MemTotal"].as_u64().unwrap();
    // Free memory goes down as the program writes more, second by second
    // (the first three lines all fall inside its 2.5 s).
    let free: Vec<u64> = rows.iter().map(|r| r[3]).collect();
    assert!(free[0] <= total && free[1] < free[0] && free[2] < free[1], "free {free:?} of {total}");
    for r in &rows {
        // No swap without --swap; no buffers; shares add up to 100; faults
        // at least the major ones.
        assert_eq!((r[2], r[4], r[6], r[7]), (0, 0, 0, 0), "{r:?}");
        assert_eq!(r[12] + r[13] + r[14] + r[15] + r[16], 100, "{r:?}");
        assert!(r[17] >= r[18], "{r:?}");
    }
    // 8 MiB over 2.5 s: the middle seconds each see hundreds of faults.
    assert!(rows[1][17] > 100 && rows[2][17] > 100, "{rows:?}");
}

#[test]
fn vmstat_shows_swap_in_use() {
    let json = tmp("vmstat-swap.json");
    let out = faultline(&[
        "run",
        "-q",
        "--vmstat",
        "1",
        "--rss-limit",
        "2M",
        "--swap",
        "64M",
        "--summary",
        json.to_str().unwrap(),
        &fixture_arg("liveview-glibc"),
        "2500",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = vmstat_rows(&out, summary(&json)["elapsed_ms"].as_f64().unwrap());
    // With 2 MiB resident for 8 MiB written, swap fills up as it goes, and
    // what goes out shows in `so`.
    // (When it starts depends on how fast the program runs, which a
    // loaded machine changes: only that it does, and only grows.) A line
    // printed while the program exits shows its swap freed, as vmstat does
    // on Linux once a process has gone, so the last line may fall to 0.
    let swpd: Vec<u64> = rows.iter().map(|r| r[2]).collect();
    let running = match swpd.split_last() {
        Some((0, before)) if before.last().is_some_and(|&s| s > 0) => before,
        _ => &swpd[..],
    };
    assert!(running.last().is_some_and(|&s| s > 0), "swpd {swpd:?}");
    assert!(running.windows(2).all(|w| w[1] >= w[0]), "swpd {swpd:?}");
    assert!(rows.iter().any(|r| r[7] > 0), "no swap-out: {rows:?}");
    // Free stays near the limit: the rest is swapped.
    assert!(rows.iter().all(|r| r[3] <= 2048 + 4), "{rows:?}");
}

#[test]
fn top_lists_each_process_with_the_summarys_resident_memory() {
    let json = tmp("top.json");
    let out = faultline(&[
        "run",
        "-q",
        "--top",
        "--summary",
        json.to_str().unwrap(),
        &fixture_arg("liveview-glibc"),
        "200",
        "2",
        "2",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines.iter().position(|l| *l == TOP_HEADER.trim_end()).expect("top's header");
    let rows: Vec<Vec<&str>> = lines[at + 1..].iter().map(|l| l.split_whitespace().collect()).collect();
    let s = summary(&json);
    let procs = s["processes"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{err}");
    assert_eq!(procs.len(), 3);
    for (r, p) in rows.iter().zip(procs) {
        assert_eq!(r.len(), 12, "{r:?}");
        assert_eq!(r[0], p["pid"].as_u64().unwrap().to_string());
        // The guest runs as the user running faultline.
        let me = support::my_uid().to_string();
        assert_eq!((r[1], r[2], r[3], r[7]), (me.as_str(), "20", "0", "Z"));
        let res: u64 = r[5].parse().unwrap();
        assert_eq!(res, p["total"]["resident"].as_u64().unwrap() * 4, "pid {}: {err}", r[0]);
        assert_eq!(r[11], "liveview-glibc");
    }
    // Children write 1 and 2 MiB, the parent 2 MiB: RES reflects it.
    let res: Vec<u64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    assert!(res[1] >= 1024 && res[2] >= 2048 && res[2] - res[1] >= 1024 && res[0] >= 2048, "{res:?}");
}

#[test]
fn fault_around_beyond_a_page_table_is_a_clear_error() {
    let out = faultline(&["run", "--fault-around", "4M", &fixture_arg("liveview-glibc"), "1", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.trim_end(), "faultline: error: --fault-around is at most 2M (one page table)");
}

#[test]
fn sigusr1_prints_the_live_processes() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(support::faultline_bin())
        .args(["run", "-q", "--top", "--vmstat", "1", &fixture_arg("liveview-glibc"), "2500", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // The first vmstat line: faultline is running and listens.
    let mut err = Vec::new();
    while err.len() < 3 {
        err.push(lines.next().expect("vmstat's first line").unwrap());
    }
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) }, 0);
    err.extend(lines.map(Result::unwrap));
    assert_eq!(child.wait().unwrap().code(), Some(0), "{err:?}");
    let header = TOP_HEADER.trim_end();
    let tables: Vec<usize> = err.iter().enumerate().filter(|(_, l)| *l == header).map(|(i, _)| i).collect();
    assert_eq!(tables.len(), 2, "{err:#?}");
    // The live table: pid 1 running or asleep; then, at exit, a zombie.
    let live: Vec<&str> = err[tables[0] + 1].split_whitespace().collect();
    assert_eq!(live[0], "1", "{err:#?}");
    assert!(live[7] == "S" || live[7] == "R", "{err:#?}");
    let last: Vec<&str> = err[tables[1] + 1].split_whitespace().collect();
    assert_eq!((last[0], last[7]), ("1", "Z"), "{err:#?}");
}
