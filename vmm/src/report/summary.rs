//! `--summary FILE.json`: the summary with a documented, stable schema
//! (`faultline-summary/1`; fields are only ever added). Sizes are in
//! pages unless the name says kB; addresses are `0x` hex strings; times
//! are milliseconds since exec.

use serde_json::{json, Value};

use crate::kernel::procfs::{MemInfo, MemStatus};
use crate::timeline::{ProcessSummary, RegionSummary};
use crate::{ExitStatus, Outcome};

/// The JSON summary's `schema` field: what [`to_json`] writes.
pub const SCHEMA: &str = "faultline-summary/1";

fn perms(r: &RegionSummary) -> String {
    let p = r.perms;
    format!("{}{}{}", if p.read { 'r' } else { '-' }, if p.write { 'w' } else { '-' }, if p.exec { 'x' } else { '-' })
}

fn ms(ns: Option<u64>) -> Value {
    ns.map_or(Value::Null, |n| json!(n as f64 / 1e6))
}

fn region(r: &RegionSummary) -> Value {
    json!({
        "name": r.name,
        "range": [format!("{:#x}", r.start), format!("{:#x}", r.end)],
        "perms": perms(r),
        "mapped": r.mapped_pages,
        "faults": r.faults(),
        "read": r.read_faults,
        "write": r.write_faults,
        "cow": r.cows,
        "prefault": r.prefaults,
        "swapin": r.swap_ins,
        "evict": r.evictions,
        "release": r.releases,
        "resident": r.resident_pages,
        "areas": r.areas.iter().map(|(s, e)| [format!("{s:#x}"), format!("{e:#x}")]).collect::<Vec<_>>(),
        "times": {"first_ms": ms(r.first_fault_ns), "last_ms": ms(r.last_fault_ns)},
        "latency": {
            "median_us": r.median_latency_ns.map_or(Value::Null, |n| json!(n as f64 / 1e3)),
            "held_median_us": r.median_held_ns.map_or(Value::Null, |n| json!(n as f64 / 1e3)),
        },
    })
}

fn total(p: &ProcessSummary) -> Value {
    let sum = |f: fn(&RegionSummary) -> u64| p.regions.iter().map(f).sum::<u64>();
    json!({
        "mapped": sum(|r| r.mapped_pages),
        "faults": sum(RegionSummary::faults),
        "read": sum(|r| r.read_faults),
        "write": sum(|r| r.write_faults),
        "cow": sum(|r| r.cows),
        "prefault": sum(|r| r.prefaults),
        "swapin": sum(|r| r.swap_ins),
        "evict": sum(|r| r.evictions),
        "release": sum(|r| r.releases),
        "resident": sum(|r| r.resident_pages),
        "peak_resident": p.peak_resident_pages,
        "vmm": p.vmm_pages,
    })
}

fn status(s: &MemStatus) -> Value {
    json!({
        "VmPeak": s.vm_peak, "VmSize": s.vm_size, "VmLck": s.vm_lck, "VmPin": s.vm_pin,
        "VmHWM": s.vm_hwm, "VmRSS": s.vm_rss, "RssAnon": s.rss_anon, "RssFile": s.rss_file,
        "RssShmem": s.rss_shmem, "VmData": s.vm_data, "VmStk": s.vm_stk, "VmExe": s.vm_exe,
        "VmLib": s.vm_lib, "VmPTE": s.vm_pte, "VmSwap": s.vm_swap,
    })
}

fn meminfo(i: &MemInfo) -> Value {
    json!({
        "MemTotal": i.mem_total, "MemFree": i.mem_free, "MemAvailable": i.mem_available,
        "Cached": i.cached, "SwapTotal": i.swap_total, "SwapFree": i.swap_free,
        "Mlocked": i.mlocked, "AnonPages": i.anon_pages, "Shmem": i.shmem,
        "PageTables": i.page_tables, "CommitLimit": i.commit_limit, "Committed_AS": i.committed_as,
        "SReclaimable": i.slab_reclaimable, "SUnreclaim": i.slab_unreclaimable, "KernelStack": i.kernel_stack,
    })
}

/// The summary `faultline run` prints at the end: the regions of each
/// process, the processes (pid and name, faults, releases, peak and end
/// resident), the sandbox's peak and end, then pid 1's /proc/PID/status
/// (named so) and /proc/meminfo.
///
/// ```
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
/// let text = faultline::report::summary::text(&outcome);
/// assert!(text.contains("status of pid 1 (demo): VmPeak"));
/// // The process table's row: pid, name, faults, ….
/// assert!(text.lines().any(|l| l.split_whitespace().take(2).eq(["1", "demo"])));
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn text(outcome: &Outcome) -> String {
    use std::fmt::Write as _;
    let mut s = outcome.summary.to_string();
    let comm = outcome.summary.process(1).map_or("?".into(), |p| crate::text::tame(&p.comm));
    let _ = writeln!(s, "status of pid 1 ({comm}): {}", outcome.memory.status);
    let _ = writeln!(s, "meminfo: {}", outcome.memory.info);
    s
}

/// The summary of `outcome` as JSON, as `--summary` writes it.
///
/// ```
/// use faultline::report::summary::{to_json, SCHEMA};
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
/// let json = to_json(&outcome);
/// assert_eq!(json["schema"], SCHEMA);
/// assert_eq!(json["exit"]["code"], 0);
/// let bss = json["regions"].as_array().unwrap().iter().find(|r| r["name"] == ".bss").unwrap();
/// assert_eq!((&bss["write"], &bss["resident"]), (&serde_json::json!(8), &serde_json::json!(8)));
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn to_json(outcome: &Outcome) -> Value {
    let first = outcome.summary.processes.first();
    let (exit, signal) = match outcome.status {
        ExitStatus::Exited(c) => (json!(c), Value::Null),
        ExitStatus::Killed(s) | ExitStatus::Dumped(s) => (Value::Null, json!(s)),
    };
    json!({
        "schema": SCHEMA,
        "exit": {"code": exit, "signal": signal, "shell": outcome.status.code(), "reports": outcome.reports},
        "regions": first.map_or(vec![], |p| p.regions.iter().map(region).collect()),
        "total": first.map_or(Value::Null, total),
        "status": status(&outcome.memory.status),
        "meminfo": meminfo(&outcome.memory.info),
        "processes": outcome.summary.processes.iter().map(|p| json!({
            "pid": p.pid,
            "comm": p.comm,
            "regions": p.regions.iter().map(region).collect::<Vec<_>>(),
            "total": total(p),
        })).collect::<Vec<_>>(),
        "sandbox": {
            "peak_resident": outcome.summary.peak_resident_pages,
            "end_resident": outcome.summary.end_resident_pages,
        },
        "syscall_ring": {"served": outcome.ring_calls, "withdrawn": outcome.ring_withdrawn},
        "elapsed_ms": outcome.elapsed.as_secs_f64() * 1e3,
    })
}
