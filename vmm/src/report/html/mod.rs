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
//!
//! `charts` makes the charts' data, `flame` the flame graphs, `tables` the
//! tables; this file the page around them.

mod charts;
mod flame;
mod tables;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::rows::{Row, StackTable};
use crate::kernel::strace::CallRecord;
use crate::Outcome;
use charts::chart_data;
use flame::flame_graphs;
use tables::{process_table, region_table, syscall_table, top_symbols};

const UPLOT_JS: &str = include_str!("../vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../vendor/uPlot.min.css");
const PAGE_JS: &str = include_str!("../report.js");

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
