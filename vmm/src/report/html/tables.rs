//! The page's tables: processes, regions, syscalls, and the functions
//! that faulted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{esc, ms, Proc};
use crate::kernel::strace::CallRecord;
use crate::report::rows::Row;

/// Every process: pid, name, parent, life, faults, resident peak and end.
pub(super) fn process_table(procs: &BTreeMap<u32, Proc>) -> String {
    let mut s = String::from(
        "<h2>Processes</h2><table><tr><th>pid</th><th class=\"l\">process</th><th>parent</th><th>start ms</th>\
         <th>exit ms</th><th>faults</th><th>cow</th><th>major</th><th>peak resident</th><th>resident at end</th></tr>",
    );
    for (pid, p) in procs {
        let _ = write!(
            s,
            "<tr><td>{pid}</td><td class=\"l\">{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(&p.comm),
            p.parent.map_or("-".into(), |x| x.to_string()),
            ms(p.start_ns),
            p.end_ns.map_or("-".into(), |e| format!("{:.3}", ms(e))),
            p.faults,
            p.cow,
            p.major,
            p.peak,
            p.rss.last().map_or(0, |x| x.1)
        );
    }
    s.push_str("</table>");
    s
}

#[derive(Default)]
struct RegionTotals {
    faults: u64,
    read: u64,
    write: u64,
    cow: u64,
    major: u64,
    other: BTreeMap<String, u64>,
    resident: i64,
    peak: i64,
}

/// Each process's regions, most faults first, each process with its total.
pub(super) fn region_table(rows: &[Row], procs: &BTreeMap<u32, Proc>) -> String {
    let totals = region_totals(rows);
    let mut s = String::from(
        "<h2>Regions</h2><p class=\"note\">Each process's regions, most faults first. Resident pages are the region's own, \
         from its rows.</p><table><tr><th>pid</th><th class=\"l\">process</th><th class=\"l\">region</th><th>faults</th>\
         <th>read</th><th>write</th><th>cow</th><th>major</th><th class=\"l\">other events</th><th>resident at end</th>\
         <th>peak resident</th></tr>",
    );
    let pids: Vec<u32> = {
        let mut v: Vec<u32> = totals.keys().map(|k| k.0).collect();
        v.dedup();
        v
    };
    let mut all = RegionTotals::default();
    for pid in pids {
        let comm = procs.get(&pid).map_or("", |p| p.comm.as_str());
        let mut mine: Vec<(&String, &RegionTotals)> =
            totals.iter().filter(|(k, _)| k.0 == pid).map(|(k, t)| (&k.1, t)).collect();
        mine.sort_by(|a, b| b.1.faults.cmp(&a.1.faults).then(a.0.cmp(b.0)));
        let mut sum = RegionTotals::default();
        for (name, t) in mine {
            let other: Vec<String> = t.other.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = write!(
                s,
                "<tr><td>{pid}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(comm),
                esc(name),
                t.faults,
                t.read,
                t.write,
                t.cow,
                t.major,
                esc(&other.join(", ")),
                t.resident.max(0),
                t.peak
            );
            add(&mut sum, t);
        }
        let _ = write!(
            s,
            "<tr class=\"total\"><td>{pid}</td><td class=\"l\">{}</td><td class=\"l\">total</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"l\"></td><td>{}</td><td></td></tr>",
            esc(comm),
            sum.faults,
            sum.read,
            sum.write,
            sum.cow,
            sum.major,
            sum.resident.max(0)
        );
        add(&mut all, &sum);
    }
    let _ = write!(
        s,
        "<tr class=\"total\"><td></td><td class=\"l\">every process</td><td class=\"l\">total</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td class=\"l\"></td><td></td><td></td></tr></table>",
        all.faults, all.read, all.write, all.cow, all.major
    );
    s
}

/// Each (process, region)'s faults by kind, its other events, and its
/// resident pages at the end and at the peak.
fn region_totals(rows: &[Row]) -> BTreeMap<(u32, String), RegionTotals> {
    let steps = crate::report::rows::resident_steps(rows);
    let mut totals: BTreeMap<(u32, String), RegionTotals> = BTreeMap::new();
    for (r, step) in rows.iter().zip(&steps) {
        if r.is_lifecycle() || r.region.is_empty() {
            continue;
        }
        let t = totals.entry((r.pid, r.region.clone())).or_default();
        if r.is_fault() {
            t.faults += 1;
            if r.access == "read" {
                t.read += 1;
            } else {
                t.write += 1;
            }
            t.cow += u64::from(r.event == "cow");
            t.major += u64::from(matches!(r.event.as_str(), "file-copy" | "swap-in"));
        } else {
            *t.other.entry(r.event.clone()).or_insert(0) += 1;
        }
        t.resident += step;
        t.peak = t.peak.max(t.resident);
    }
    totals
}

fn add(sum: &mut RegionTotals, t: &RegionTotals) {
    sum.faults += t.faults;
    sum.read += t.read;
    sum.write += t.write;
    sum.cow += t.cow;
    sum.major += t.major;
    sum.resident += t.resident.max(0);
}

/// Calls, errors and time per syscall, as strace -c counts them.
pub(super) fn syscall_table(calls: &[CallRecord]) -> String {
    let mut by: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for c in calls {
        let e = by.entry(c.name).or_insert((0, 0, 0));
        e.0 += 1;
        e.1 += u64::from((-4095..0).contains(&c.ret));
        e.2 += c.dur_ns;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(a.0.cmp(b.0)));
    let mut s = String::from(
        "<h2>Syscalls</h2><table><tr><th class=\"l\">syscall</th><th>calls</th><th>errors</th><th>total µs</th></tr>",
    );
    for (name, (n, errors, ns)) in v {
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td>{n}</td><td>{errors}</td><td>{:.1}</td></tr>",
            esc(name),
            ns as f64 / 1e3
        );
    }
    s.push_str("</table>");
    s
}

/// The functions whose instructions faulted most.
pub(super) fn top_symbols(rows: &[Row]) -> String {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.is_fault() && !r.symbol.is_empty()) {
        let f = r.symbol.split("+0x").next().unwrap_or(&r.symbol);
        *by.entry(f).or_insert(0) += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut s = String::from(
        "<h2>Functions that faulted</h2><p class=\"note\">By the faulting instruction's function, for the faults \
         that came as guest page faults (all of them with --fill-pages 1).</p><table><tr><th class=\"l\">function</th>\
         <th>faults</th></tr>",
    );
    for (f, n) in v.iter().take(20) {
        let _ = write!(s, "<tr><td class=\"l\">{}</td><td>{n}</td></tr>", esc(f));
    }
    s.push_str("</table>");
    s
}
