//! `--trace FILE.json`: the timeline in Chrome's trace-event format, which
//! Perfetto UI and chrome://tracing open. A track per process and thread,
//! each named by the process's `comm`; a slice per process's life (fork or
//! exec to exit); an instant event per page event (address, event, access,
//! latency and symbol in its args) and per fork, clone, exec and exit; and
//! counter tracks of resident pages per process and per region.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::rows::Row;
use crate::kernel::strace::CallRecord;

/// The trace as one JSON document; syscalls as duration events on their
/// threads, with their results.
///
/// ```
/// use faultline::report::{rows::Row, trace};
/// use faultline::strace::CallLog;
/// use faultline::{Program, Sandbox};
///
/// let calls = CallLog::default();
/// let outcome = Sandbox::builder(Program::demo()).keep_events().call_log(calls.clone()).build()?.run()?;
/// let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
/// let comms = outcome.summary.processes.iter().map(|p| (p.pid, p.comm.clone())).collect();
/// let json = trace::to_json(&rows, &calls.lock().unwrap(), &comms);
/// let events = json["traceEvents"].as_array().unwrap();
/// assert!(events.iter().any(|e| e["name"] == "process_name" && e["args"]["name"] == "demo [1]"));
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn to_json(rows: &[Row], calls: &[CallRecord], comms: &BTreeMap<u32, String>) -> Value {
    let mut events = Vec::with_capacity(rows.len() * 2 + 16);
    let mut threads: BTreeMap<(u32, u32), ()> = BTreeMap::new();
    for r in rows {
        threads.insert((r.pid, r.tid), ());
    }
    for c in calls {
        threads.insert((c.pid, c.tid), ());
    }
    // Names: the last the rows gave each process (its exec), else the
    // caller's.
    let mut names: BTreeMap<u32, String> = comms.clone();
    // Lives: from the first row (its fork or exec) to its exit.
    let mut lives: BTreeMap<u32, (u64, Option<u64>)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.pid != 0) {
        let life = lives.entry(r.pid).or_insert((r.time_ns, None));
        if r.is_lifecycle() && !r.comm.is_empty() {
            names.insert(r.pid, r.comm.clone());
        }
        if r.event == "exit" {
            life.1 = Some(r.time_ns);
        }
    }
    let end_ns = rows.iter().map(|r| r.time_ns).max().unwrap_or(0);
    for (&pid, comm) in &names {
        events.push(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": format!("{comm} [{pid}]")}}));
    }
    for &(pid, tid) in threads.keys() {
        let name = match (tid, names.get(&pid)) {
            (0, _) => "faultline (VMM)".to_string(),
            (_, Some(comm)) => format!("{comm} {tid}"),
            (_, None) => format!("thread {tid}"),
        };
        events.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}));
    }
    for (&pid, &(start, end)) in &lives {
        let name = names.get(&pid).map_or_else(|| format!("pid {pid}"), |c| format!("{c} [{pid}]"));
        events.push(json!({
            "ph": "X", "name": name, "cat": "process", "pid": pid, "tid": pid,
            "ts": start as f64 / 1e3, "dur": (end.unwrap_or(end_ns) - start) as f64 / 1e3,
            "args": {"exited": end.is_some()},
        }));
    }
    row_events(rows, &mut events);
    for c in calls {
        events.push(json!({
            "ph": "X", "name": c.name, "cat": "syscall", "pid": c.pid, "tid": c.tid,
            "ts": c.start_ns as f64 / 1e3, "dur": c.dur_ns as f64 / 1e3, "args": {"ret": c.ret},
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"source": "faultline"}})
}

/// Each row as an instant event, with the process's resident pages after
/// it and, where it changed them, its region's.
fn row_events(rows: &[Row], events: &mut Vec<Value>) {
    let mut region_rss: BTreeMap<(u32, &str), i64> = BTreeMap::new();
    let steps = super::rows::resident_steps(rows);
    for (r, &step) in rows.iter().zip(&steps) {
        // Microseconds, as the format wants.
        let ts = r.time_ns as f64 / 1e3;
        let mut args = json!({
            "gva": format!("{:#x}", r.gva),
            "region": r.region,
            "access": r.access,
            "origin": r.origin,
            "latency_ns": r.latency_ns,
        });
        if !r.symbol.is_empty() {
            args["symbol"] = json!(r.symbol);
        }
        if r.is_lifecycle() {
            args = json!({"parent": r.parent, "comm": r.comm, "rss": r.rss});
        }
        events.push(json!({
            "ph": "i", "s": "t", "name": r.event, "cat": r.origin,
            "pid": r.pid, "tid": r.tid, "ts": ts, "args": args,
        }));
        events.push(json!({"ph": "C", "name": "resident pages", "pid": r.pid, "ts": ts, "args": {"rss": r.rss}}));
        if step != 0 {
            let v = region_rss.entry((r.pid, r.region.as_str())).or_insert(0);
            *v += step;
            events.push(json!({
                "ph": "C", "name": format!("resident: {}", r.region), "pid": r.pid, "ts": ts,
                "args": {"pages": *v},
            }));
        }
    }
}
