//! The data the page's charts draw: the sandbox's resident and swap
//! lines, a resident lane per process, and the heatmap's bands and points.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{kind_group, ms, Page, Proc, KIND_COLORS};
use crate::report::rows::Row;

/// Most processes drawn as lanes (the biggest by peak resident memory);
/// the table lists every one.
const MAX_LANES: usize = 32;
/// Most points a resident line keeps (the highest of each stretch beyond).
const MAX_POINTS: usize = 4000;
/// Most page events the heatmap draws (every n-th beyond, said so).
const MAX_CELLS_EVENTS: usize = 300_000;

/// A step line of at most [`MAX_POINTS`] points: beyond, each stretch of
/// time keeps its highest value (peaks stay visible).
fn thin(points: &[(u64, u64)], end_ns: u64) -> (Vec<f64>, Vec<u64>) {
    if points.len() <= MAX_POINTS {
        return (points.iter().map(|p| ms(p.0)).collect(), points.iter().map(|p| p.1).collect());
    }
    let step = end_ns / MAX_POINTS as u64 + 1;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(t, v) in points {
        let b = t / step * step;
        match out.last_mut() {
            Some(last) if last.0 == b => last.1 = last.1.max(v),
            _ => out.push((b, v)),
        }
    }
    // The last value is exact: an exit's 0 stays 0.
    if let (Some(last), Some(&(_, v))) = (out.last_mut(), points.last()) {
        last.1 = v;
    }
    (out.iter().map(|p| ms(p.0)).collect(), out.iter().map(|p| p.1).collect())
}

/// The data the charts draw.
pub(super) fn chart_data(page: &Page, procs: &BTreeMap<u32, Proc>, end_ns: u64) -> Value {
    let rows = page.rows;
    // The sandbox: resident and swap, row by row.
    let mut sb: Vec<(u64, u64, u64)> = Vec::new();
    for r in rows.iter().filter(|r| r.sandbox_rss != 0 || r.swap != 0) {
        if sb.last().is_none_or(|l| (l.1, l.2) != (r.sandbox_rss, r.swap)) {
            sb.push((r.time_ns, r.sandbox_rss, r.swap));
        }
    }
    let (st, srss) = thin(&sb.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), end_ns);
    let (wt, wswap) = thin(&sb.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(), end_ns);
    let bands = Bands::of(rows, procs);
    json!({
        "end": ms(end_ns),
        "kinds": KIND_COLORS.iter().map(|(k, c)| json!([k, c])).collect::<Vec<_>>(),
        "sandbox": {"t": st, "rss": srss, "wt": wt, "swap": wswap},
        "limit": page.limits.rss_limit_pages,
        "swapTotal": page.limits.swap_pages,
        "lanes": lanes(procs, end_ns),
        "lanesOf": procs.len(),
        "bands": bands.json,
        "nrows": bands.nrows,
        "points": bands.points(rows),
    })
}

/// The lanes: the biggest processes, in pid order, each its resident line
/// and its fork, exec and exit marks.
fn lanes(procs: &BTreeMap<u32, Proc>, end_ns: u64) -> Vec<Value> {
    let mut lanes: Vec<(&u32, &Proc)> = procs.iter().collect();
    lanes.sort_by(|a, b| b.1.peak.cmp(&a.1.peak).then(a.0.cmp(b.0)));
    lanes.truncate(MAX_LANES);
    lanes.sort_by_key(|l| *l.0);
    lanes
        .iter()
        .map(|(pid, p)| {
            let (t, v) = thin(&p.rss, end_ns);
            json!({
                "pid": pid, "comm": p.comm, "parent": p.parent, "t": t, "rss": v,
                "start": ms(p.start_ns), "end": p.end_ns.map(ms),
                "marks": p.marks.iter().map(|(t, k, w)| json!([ms(*t), k, w])).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Whether a row is a heatmap cell: a page event of a named region.
fn is_cell(r: &Row) -> bool {
    kind_group(&r.event).is_some() && !r.region.is_empty()
}

/// The heatmap's bands: each (process, region) with page events, its
/// address span and the rows it gets (by its share of the pages, at least
/// two).
struct Bands<'a> {
    /// (lowest page, highest page, events) by band.
    ranges: BTreeMap<(u32, &'a str), (u64, u64, u64)>,
    /// (first row, rows) by band.
    at: BTreeMap<(u32, &'a str), (u64, u64)>,
    json: Vec<Value>,
    nrows: u64,
}

impl<'a> Bands<'a> {
    fn of(rows: &'a [Row], procs: &BTreeMap<u32, Proc>) -> Self {
        let mut ranges: BTreeMap<(u32, &str), (u64, u64, u64)> = BTreeMap::new();
        let mut order: Vec<(u32, &str)> = Vec::new();
        for r in rows.iter().filter(|r| is_cell(r)) {
            let key = (r.pid, r.region.as_str());
            let e = ranges.entry(key).or_insert_with(|| {
                order.push(key);
                (r.gva, r.gva, 0)
            });
            e.0 = e.0.min(r.gva);
            e.1 = e.1.max(r.gva);
            e.2 += 1;
        }
        // Processes in pid order, each one's regions by address.
        order.sort_by_key(|k| (k.0, ranges[k].0));
        let total_pages: u64 = ranges.values().map(|b| (b.1 - b.0) / 4096 + 1).sum::<u64>().max(1);
        let nrows = (order.len() * 3).max(120) as u64;
        let mut json = Vec::new();
        let mut band_at: BTreeMap<(u32, &str), (u64, u64)> = BTreeMap::new();
        let mut at = 0u64;
        let spare = nrows - 2 * order.len() as u64;
        for key in &order {
            let (lo, hi, n) = ranges[key];
            let pages = (hi - lo) / 4096 + 1;
            let rows_here = 2 + (spare as f64 * pages as f64 / total_pages as f64).floor() as u64;
            let comm = procs.get(&key.0).map_or("", |p| p.comm.as_str());
            json.push(json!({
                "name": key.1, "pid": key.0, "comm": comm, "lo": format!("{lo:#x}"), "hi": format!("{:#x}", hi + 4095),
                "pages": pages, "row0": at, "rows": rows_here, "events": n,
            }));
            band_at.insert(*key, (at, rows_here));
            at += rows_here;
        }
        Bands { ranges, at: band_at, json, nrows: at.max(1) }
    }

    /// The heatmap's points in time order: each cell event's time, its row
    /// within its band (by address), and its colour group; every n-th
    /// beyond [`MAX_CELLS_EVENTS`].
    fn points(&self, rows: &[Row]) -> Value {
        let cell_rows: Vec<&Row> = rows.iter().filter(|r| is_cell(r)).collect();
        let every = cell_rows.len().div_ceil(MAX_CELLS_EVENTS).max(1);
        let (mut pt, mut py, mut pk) = (Vec::new(), Vec::new(), Vec::new());
        let mut sorted: Vec<&Row> = cell_rows.iter().step_by(every).copied().collect();
        sorted.sort_by_key(|r| r.time_ns);
        for r in sorted {
            let key = (r.pid, r.region.as_str());
            let (lo, hi, _) = self.ranges[&key];
            let (row0, n) = self.at[&key];
            let frac = if hi > lo { (r.gva - lo) as f64 / (hi - lo + 4096) as f64 } else { 0.0 };
            pt.push(ms(r.time_ns));
            py.push(((row0 as f64 + frac * n as f64) * 1000.0).round() / 1000.0);
            pk.push(kind_group(&r.event).unwrap_or(0));
        }
        json!({"t": pt, "y": py, "k": pk, "every": every})
    }
}
