//! `--report FILE.html`: one self-contained page (nothing fetched: the
//! charting library, uPlot, and the data are inlined) that a person reads
//! after a run:
//!
//! - the processes, each a lane with its pid, name and parent, its own
//!   resident line (ending at 0 when it exits) and its fork, exec and
//!   exit marked;
//! - the sandbox's resident memory, the swap in use and the RSS limit;
//! - a heatmap of page events by address and time, each cell coloured by
//!   its commonest event kind, each faulting region of each process its own
//!   band (the unmapped gaps between take no room);
//! - a flame graph of the code paths that faulted (all faults, cow, major);
//! - the regions of each process sorted by faults, with totals; the code
//!   that faulted most; the syscalls.
//!
//! The charts share one time axis: dragging across any of them zooms all
//! into that range (a double click zooms out), and hovering shows the exact
//! numbers under the cursor. uPlot is MIT-licensed (`vendor/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::folded::{self, Select};
use super::rows::{Row, StackTable};
use crate::kernel::strace::CallRecord;
use crate::Outcome;

const UPLOT_JS: &str = include_str!("vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("vendor/uPlot.min.css");
const PAGE_JS: &str = include_str!("report.js");

/// Event kinds the heatmap tells apart, and their colours (the legend's).
pub const KIND_COLORS: [(&str, &str); 10] = [
    ("zero-fill", "#4e79a7"),
    ("cow", "#e15759"),
    ("cow-reuse", "#ff9da7"),
    ("file-copy", "#f28e2b"),
    ("cache-hit", "#59a14f"),
    ("swap-in", "#b07aa1"),
    ("evict", "#7f7f7f"),
    ("release", "#edc948"),
    ("fault-around", "#76b7b2"),
    ("prefault", "#9c755f"),
];

/// Most processes drawn as lanes (the biggest by peak resident memory);
/// the table lists every one.
const MAX_LANES: usize = 32;
/// Most points a resident line keeps (the highest of each stretch beyond).
const MAX_POINTS: usize = 4000;
/// Most page events the heatmap draws (every n-th beyond, said so).
const MAX_CELLS_EVENTS: usize = 300_000;

/// What bounds the sandbox's memory, drawn on the resident chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most pages resident (`--rss-limit`, or `--mem`), if known.
    pub rss_limit_pages: Option<u64>,
    /// Pages of swap (`--swap`), if known.
    pub swap_pages: Option<u64>,
}

impl Limits {
    /// The limits of a run, as its /proc/meminfo showed them (MemTotal is
    /// the RSS limit, SwapTotal the swap).
    pub fn of(outcome: &Outcome) -> Limits {
        let info = &outcome.memory.info;
        Limits {
            rss_limit_pages: (info.mem_total > 0).then_some(info.mem_total / 4),
            swap_pages: (info.swap_total > 0).then_some(info.swap_total / 4),
        }
    }
}

/// What a page is drawn from.
pub struct Page<'a> {
    /// The page's title.
    pub title: &'a str,
    /// The timeline.
    pub rows: &'a [Row],
    /// The call stacks its rows name.
    pub stacks: &'a StackTable,
    /// The run's syscalls, if it kept them.
    pub calls: &'a [CallRecord],
    /// What bounds the sandbox's memory.
    pub limits: Limits,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JSON that may sit inside a `<script>` element.
fn script_json(v: &Value) -> String {
    v.to_string().replace("</", "<\\/").replace("<!--", "<\\!--")
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e3).round() / 1e3
}

/// The heatmap's colour group of an event.
fn kind_group(event: &str) -> Option<usize> {
    let e = if event.starts_with("prefault") { "prefault" } else { event };
    KIND_COLORS.iter().position(|(k, _)| *k == e)
}

/// One process's life, as its rows tell it.
#[derive(Default)]
struct Proc {
    comm: String,
    parent: Option<u32>,
    start_ns: u64,
    end_ns: Option<u64>,
    marks: Vec<(u64, String, String)>,
    rss: Vec<(u64, u64)>,
    peak: u64,
    faults: u64,
    cow: u64,
    major: u64,
}

fn processes(rows: &[Row]) -> BTreeMap<u32, Proc> {
    let mut procs: BTreeMap<u32, Proc> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.pid != 0) {
        let p = procs.entry(r.pid).or_insert_with(|| Proc { start_ns: r.time_ns, ..Default::default() });
        if r.is_lifecycle() {
            if !r.comm.is_empty() {
                p.comm = r.comm.clone();
            }
            let what = match r.event.as_str() {
                "fork" => {
                    p.parent = Some(r.parent);
                    p.start_ns = p.start_ns.min(r.time_ns);
                    format!("fork from pid {}", r.parent)
                }
                "exec" => format!("exec {}", r.comm),
                "exit" => {
                    p.end_ns = Some(r.time_ns);
                    "exit".to_string()
                }
                _ => format!("thread {} by {}", r.tid, r.parent),
            };
            if r.event != "clone" {
                p.marks.push((r.time_ns, r.event.clone(), what));
            }
        }
        if r.is_fault() {
            p.faults += 1;
            p.cow += u64::from(r.event == "cow");
            p.major += u64::from(matches!(r.event.as_str(), "file-copy" | "swap-in"));
        }
        if r.event != "clone" && p.rss.last().is_none_or(|&(_, v)| v != r.rss) {
            p.rss.push((r.time_ns, r.rss));
            p.peak = p.peak.max(r.rss);
        }
    }
    procs
}

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

/// The page for `page`.
///
/// ```
/// use faultline::report::html::{self, Limits, Page};
/// use faultline::report::rows::{Row, StackTable};
/// use faultline::strace::CallLog;
/// use faultline::{Program, Sandbox};
///
/// let calls = CallLog::default();
/// let outcome = Sandbox::builder(Program::demo()).keep_events().call_log(calls.clone()).build()?.run()?;
/// let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
/// let stacks = StackTable::from_events(&outcome.events);
/// let calls = calls.lock().unwrap();
/// let page = html::render(&Page { title: "the demo", rows: &rows, stacks: &stacks, calls: &calls, limits: Limits::of(&outcome) });
/// assert!(page.starts_with("<!doctype html>") && page.contains("<title>the demo</title>"));
/// assert!(page.contains(".bss") && page.contains("<td class=\"l\">demo</td>"));
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn render(page: &Page) -> String {
    let rows = page.rows;
    let end_ns = rows.iter().map(|r| r.time_ns).max().unwrap_or(0).max(1);
    let procs = processes(rows);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>{UPLOT_CSS}\
         body{{font:14px system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}}\
         table{{border-collapse:collapse;margin:8px 0 24px}}td,th{{padding:3px 10px;text-align:right;border-bottom:1px solid #ddd}}\
         th{{background:#f4f4f4}}td.l,th.l{{text-align:left}}tr.total td{{font-weight:600;border-top:2px solid #999}}\
         h2{{margin-top:28px}}.note{{color:#666;font-size:12px;max-width:1100px}}\
         .lane-title{{font-size:12px;margin:6px 0 0}}.sw{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}}\
         #fl-tip{{position:fixed;display:none;background:#fff;border:1px solid #999;padding:4px 8px;font-size:12px;pointer-events:none;z-index:9;white-space:pre}}\
         .fg-tabs button{{margin-right:6px}}.fg-tabs button.on{{font-weight:700}}object.fg{{width:100%;border:1px solid #ddd}}\
         </style></head><body><h1>{t}</h1>\
         <p class=\"note\">{n} timeline rows over {ms:.1} ms, {np} process{es}. Drag across a chart to zoom all of them into \
         that time; double-click to zoom out; hover for exact numbers. Made by faultline.</p>",
        t = esc(page.title),
        n = rows.len(),
        ms = end_ns as f64 / 1e6,
        np = procs.len(),
        es = if procs.len() == 1 { "" } else { "es" }
    );
    html.push_str(&process_table(&procs));
    html.push_str(
        "<h2>Resident memory</h2><p class=\"note\">The whole sandbox's resident pages (every process's, a shared page \
         once, and the page cache: what the RSS limit caps), the pages in swap, and the limit.</p><div id=\"fl-sandbox\"></div>\
         <h2>Resident memory per process</h2><p class=\"note\">Each process's own resident pages (its RSS, shared pages counted in each \
         process as Linux counts them), from its fork or exec to its exit, where it drops to 0.</p><div id=\"fl-lanes\"></div>",
    );
    html.push_str(
        "<h2>Page events by address and time</h2><p class=\"note\">Each band is one region of one process that had page \
         events, its pages top (low addresses) to bottom; the gaps between regions are left out. A cell's colour is its \
         commonest event kind; darker: more events.</p><div id=\"fl-legend\">",
    );
    for (k, c) in KIND_COLORS {
        let _ = write!(html, "<span class=\"sw\" style=\"background:{c}\"></span>{k}");
    }
    html.push_str("</div><div id=\"fl-heat\"></div><div id=\"fl-tip\"></div>");
    html.push_str(&flame_graphs(page, &procs));
    html.push_str(&region_table(rows, &procs));
    html.push_str(&top_symbols(rows));
    if !page.calls.is_empty() {
        html.push_str(&syscall_table(page.calls));
    }
    let data = chart_data(page, &procs, end_ns);
    let _ = write!(
        html,
        "<script type=\"application/json\" id=\"fl-data\">{}</script><script>{UPLOT_JS}</script><script>{PAGE_JS}</script>",
        script_json(&data)
    );
    html.push_str("</body></html>\n");
    html
}

/// Every process: pid, name, parent, life, faults, resident peak and end.
fn process_table(procs: &BTreeMap<u32, Proc>) -> String {
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

/// The data the charts draw.
fn chart_data(page: &Page, procs: &BTreeMap<u32, Proc>, end_ns: u64) -> Value {
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
    // The lanes: the biggest processes, in pid order.
    let mut lanes: Vec<(&u32, &Proc)> = procs.iter().collect();
    lanes.sort_by(|a, b| b.1.peak.cmp(&a.1.peak).then(a.0.cmp(b.0)));
    lanes.truncate(MAX_LANES);
    lanes.sort_by_key(|l| *l.0);
    let lanes: Vec<Value> = lanes
        .iter()
        .map(|(pid, p)| {
            let (t, v) = thin(&p.rss, end_ns);
            json!({
                "pid": pid, "comm": p.comm, "parent": p.parent, "t": t, "rss": v,
                "start": ms(p.start_ns), "end": p.end_ns.map(ms),
                "marks": p.marks.iter().map(|(t, k, w)| json!([ms(*t), k, w])).collect::<Vec<_>>(),
            })
        })
        .collect();
    // The heatmap's bands: each (process, region) with page events.
    let mut ranges: BTreeMap<(u32, &str), (u64, u64, u64)> = BTreeMap::new();
    let mut order: Vec<(u32, &str)> = Vec::new();
    for r in rows.iter().filter(|r| kind_group(&r.event).is_some() && !r.region.is_empty()) {
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
    let mut bands = Vec::new();
    let mut band_at: BTreeMap<(u32, &str), (u64, u64)> = BTreeMap::new();
    let mut at = 0u64;
    let spare = nrows - 2 * order.len() as u64;
    for key in &order {
        let (lo, hi, n) = ranges[key];
        let pages = (hi - lo) / 4096 + 1;
        let rows_here = 2 + (spare as f64 * pages as f64 / total_pages as f64).floor() as u64;
        let comm = procs.get(&key.0).map_or("", |p| p.comm.as_str());
        bands.push(json!({
            "name": key.1, "pid": key.0, "comm": comm, "lo": format!("{lo:#x}"), "hi": format!("{:#x}", hi + 4095),
            "pages": pages, "row0": at, "rows": rows_here, "events": n,
        }));
        band_at.insert(*key, (at, rows_here));
        at += rows_here;
    }
    let nrows = at.max(1);
    let cell_rows: Vec<&Row> = rows.iter().filter(|r| kind_group(&r.event).is_some() && !r.region.is_empty()).collect();
    let every = cell_rows.len().div_ceil(MAX_CELLS_EVENTS).max(1);
    let (mut pt, mut py, mut pk) = (Vec::new(), Vec::new(), Vec::new());
    let mut sorted: Vec<&Row> = cell_rows.iter().step_by(every).copied().collect();
    sorted.sort_by_key(|r| r.time_ns);
    for r in sorted {
        let key = (r.pid, r.region.as_str());
        let (lo, hi, _) = ranges[&key];
        let (row0, n) = band_at[&key];
        let frac = if hi > lo { (r.gva - lo) as f64 / (hi - lo + 4096) as f64 } else { 0.0 };
        pt.push(ms(r.time_ns));
        py.push(((row0 as f64 + frac * n as f64) * 1000.0).round() / 1000.0);
        pk.push(kind_group(&r.event).unwrap_or(0));
    }
    json!({
        "end": ms(end_ns),
        "kinds": KIND_COLORS.iter().map(|(k, c)| json!([k, c])).collect::<Vec<_>>(),
        "sandbox": {"t": st, "rss": srss, "wt": wt, "swap": wswap},
        "limit": page.limits.rss_limit_pages,
        "swapTotal": page.limits.swap_pages,
        "lanes": lanes,
        "lanesOf": procs.len(),
        "bands": bands,
        "nrows": nrows,
        "points": {"t": pt, "y": py, "k": pk, "every": every},
    })
}

/// Base64, for the flame graphs' data: URLs.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The flame graphs of all faults, cow and major faults, one shown at a
/// time, each inferno's SVG in a document of its own (its script and ids
/// apart from the page's).
fn flame_graphs(page: &Page, procs: &BTreeMap<u32, Proc>) -> String {
    let with_stack = page.rows.iter().filter(|r| r.is_fault() && r.stack != 0).count();
    let faults = page.rows.iter().filter(|r| r.is_fault()).count();
    let mut s = format!(
        "<h2>Code that faulted: a flame graph</h2><p class=\"note\">Each fault's call stack, root at the bottom, one root \
         per process; a frame's width is the faults under it. {with_stack} of {faults} faults came with registers and so \
         with a stack; the rest are counted as {} (see --fill-pages). Click a frame to zoom into it.</p><div class=\"fg-tabs\">",
        folded::NO_STACK
    );
    let choices = [("faults", "all faults"), ("cow", "cow only"), ("major", "major only")];
    let mut bodies = String::new();
    for (i, (sel, label)) in choices.iter().enumerate() {
        let select = Select::parse(sel).unwrap_or_default();
        let lines = folded::folded(page.rows, page.stacks, &select);
        let n: u64 = lines.iter().map(|l| l.1).sum();
        let _ =
            write!(s, "<button data-fg=\"{i}\" class=\"{}\">{label} ({n})</button>", if i == 0 { "on" } else { "" });
        let title = format!("{} ({} process{})", page.title, procs.len(), if procs.len() == 1 { "" } else { "es" });
        match folded::flamegraph(&lines, &title, &select.describe()) {
            Ok(svg) => {
                let _ = write!(
                    bodies,
                    "<object class=\"fg\" data-fg=\"{i}\" type=\"image/svg+xml\" style=\"display:{};height:{}px\" data=\"data:image/svg+xml;base64,{}\"></object>",
                    if i == 0 { "block" } else { "none" },
                    svg_height(&svg),
                    base64(svg.as_bytes())
                );
            }
            Err(e) => {
                let _ = write!(bodies, "<p class=\"note\" data-fg=\"{i}\">{}</p>", esc(&e.to_string()));
            }
        }
    }
    s.push_str("</div>");
    s.push_str(&bodies);
    s
}

/// An SVG's height attribute, for the frame it is shown in.
fn svg_height(svg: &str) -> u32 {
    svg.split_once("height=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .and_then(|h| h.trim_end_matches("px").parse::<f64>().ok())
        .map_or(400, |h| h.ceil() as u32 + 4)
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
fn region_table(rows: &[Row], procs: &BTreeMap<u32, Proc>) -> String {
    let steps = super::rows::resident_steps(rows);
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

fn add(sum: &mut RegionTotals, t: &RegionTotals) {
    sum.faults += t.faults;
    sum.read += t.read;
    sum.write += t.write;
    sum.cow += t.cow;
    sum.major += t.major;
    sum.resident += t.resident.max(0);
}

/// Calls, errors and time per syscall, as strace -c counts them.
fn syscall_table(calls: &[CallRecord]) -> String {
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
fn top_symbols(rows: &[Row]) -> String {
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

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_as_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
