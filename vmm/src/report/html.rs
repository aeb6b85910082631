//! `--report FILE.html`: one self-contained page (inline SVG, no script,
//! nothing fetched) with the per-region summary, resident memory over time
//! per region, a heatmap of faults by address and time, and the code that
//! faulted most. The heatmap's address axis keeps only the regions that
//! faulted, each as its own band, so the unmapped gaps between them take no
//! room (a plain address axis spends almost all of it on them).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rows::Row;
use crate::kernel::strace::CallRecord;

const W: f64 = 900.0;
const H: f64 = 320.0;
const PAD: f64 = 48.0;
/// Heatmap cells: time columns by address rows.
const COLS: usize = 180;
const ROWS: usize = 96;
const PALETTE: [&str; 8] = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

struct RegionTotals {
    faults: u64,
    read: u64,
    write: u64,
    other: BTreeMap<String, u64>,
    resident: i64,
    peak: i64,
}

/// The page for `rows` (and the run's syscalls, if it has them), titled
/// `title`.
///
/// ```
/// use faultline::report::{html, rows::Row};
/// use faultline::strace::CallLog;
/// use faultline::{Program, Sandbox};
///
/// let calls = CallLog::default();
/// let outcome = Sandbox::builder(Program::demo()).keep_events().call_log(calls.clone()).build()?.run()?;
/// let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
/// let page = html::render("the demo", &rows, &calls.lock().unwrap());
/// assert!(page.starts_with("<!doctype html>") && page.contains("<title>the demo</title>"));
/// assert!(page.contains(".bss"));
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn render(title: &str, rows: &[Row], calls: &[CallRecord]) -> String {
    let end_ns = rows.iter().map(|r| r.time_ns).max().unwrap_or(0).max(1);
    let steps = super::rows::resident_steps(rows);
    let mut order: Vec<String> = Vec::new();
    let mut totals: BTreeMap<String, RegionTotals> = BTreeMap::new();
    for (r, step) in rows.iter().zip(&steps) {
        if !totals.contains_key(&r.region) {
            order.push(r.region.clone());
        }
        let t = totals.entry(r.region.clone()).or_insert(RegionTotals {
            faults: 0,
            read: 0,
            write: 0,
            other: BTreeMap::new(),
            resident: 0,
            peak: 0,
        });
        if r.is_fault() {
            t.faults += 1;
            if r.access == "read" {
                t.read += 1;
            } else {
                t.write += 1;
            }
        } else {
            *t.other.entry(r.event.clone()).or_insert(0) += 1;
        }
        t.resident += step;
        t.peak = t.peak.max(t.resident);
    }
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fff}}\
         table{{border-collapse:collapse;margin:8px 0 24px}}td,th{{padding:3px 10px;text-align:right;border-bottom:1px solid #ddd}}\
         th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}h2{{margin-top:28px}}\
         .note{{color:#666;font-size:12px}}</style></head><body><h1>{t}</h1>\
         <p class=\"note\">{n} timeline rows over {ms:.1} ms. Made by faultline.</p>",
        t = esc(title),
        n = rows.len(),
        ms = end_ns as f64 / 1e6
    );
    // The summary.
    html.push_str("<h2>Regions</h2><table><tr><th>region</th><th>faults</th><th>read</th><th>write</th><th>other events</th><th>resident at end</th><th>peak resident</th></tr>");
    for name in &order {
        let t = &totals[name];
        let other: Vec<String> = t.other.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            t.faults,
            t.read,
            t.write,
            esc(&other.join(", ")),
            t.resident.max(0),
            t.peak
        );
    }
    html.push_str("</table>");
    html.push_str(&resident_chart(rows, &steps, &order, end_ns));
    html.push_str(&heatmap(rows, &order, end_ns));
    html.push_str(&top_symbols(rows));
    if !calls.is_empty() {
        html.push_str(&syscall_table(calls));
    }
    html.push_str("</body></html>\n");
    html
}

fn x_of(t: u64, end_ns: u64) -> f64 {
    PAD + (W - 2.0 * PAD) * t as f64 / end_ns as f64
}

/// Resident pages of each region over time, as step lines.
fn resident_chart(rows: &[Row], steps: &[i64], order: &[String], end_ns: u64) -> String {
    let mut series: BTreeMap<&str, Vec<(u64, i64)>> = BTreeMap::new();
    let mut now: BTreeMap<&str, i64> = BTreeMap::new();
    for (r, &step) in rows.iter().zip(steps) {
        if step == 0 {
            continue;
        }
        let v = now.entry(&r.region).or_insert(0);
        *v += step;
        series.entry(&r.region).or_default().push((r.time_ns, *v));
    }
    let top = series.values().flat_map(|s| s.iter().map(|p| p.1)).max().unwrap_or(1).max(1);
    let y_of = |v: i64| H - PAD - (H - 2.0 * PAD) * v as f64 / top as f64;
    let mut svg = format!(
        "<h2>Resident pages over time, per region</h2><svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>\
         <line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"{PAD}\" y=\"{t}\" font-size=\"11\">{top} pages</text><text x=\"{r}\" y=\"{l}\" font-size=\"11\" text-anchor=\"end\">{ms:.1} ms</text>",
        b = H - PAD,
        r = W - PAD,
        t = PAD - 6.0,
        l = H - PAD + 16.0,
        ms = end_ns as f64 / 1e6
    );
    let mut legend = 0.0;
    for (i, name) in order.iter().enumerate() {
        let Some(points) = series.get(name.as_str()) else { continue };
        let color = PALETTE[i % PALETTE.len()];
        let mut d = format!("M{:.1},{:.1}", x_of(0, end_ns), y_of(0));
        let mut last = 0;
        for &(t, v) in points {
            let _ = write!(d, " H{:.1} V{:.1}", x_of(t, end_ns), y_of(v));
            last = v;
        }
        let _ = write!(d, " H{:.1}", x_of(end_ns, end_ns));
        let _ = write!(
            svg,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"><title>{n}: {last} pages at the end</title></path>\
             <rect x=\"{lx}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"11\">{n}</text>",
            n = esc(name),
            lx = W - PAD - 150.0,
            ly = PAD + legend,
            tx = W - PAD - 135.0,
            ty = PAD + legend + 9.0
        );
        legend += 14.0;
    }
    svg.push_str("</svg>");
    svg
}

/// Faults by address (regions stacked as bands, gaps left out) and time.
fn heatmap(rows: &[Row], order: &[String], end_ns: u64) -> String {
    // Each faulting region's page range, in first-seen order.
    let mut ranges: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.is_fault()) {
        let e = ranges.entry(&r.region).or_insert((r.gva, r.gva));
        e.0 = e.0.min(r.gva);
        e.1 = e.1.max(r.gva);
    }
    let bands: Vec<(&str, u64, u64)> =
        order.iter().filter_map(|n| ranges.get(n.as_str()).map(|&(lo, hi)| (n.as_str(), lo, hi))).collect();
    let total_pages: u64 = bands.iter().map(|b| (b.2 - b.1) / 4096 + 1).sum::<u64>().max(1);
    // Rows of cells given to each band, in proportion to its pages, at
    // least one each.
    let mut cells = vec![vec![0u32; COLS]; ROWS.max(bands.len())];
    let nrows = cells.len();
    let mut band_rows = Vec::new();
    let mut at = 0usize;
    for (i, b) in bands.iter().enumerate() {
        let pages = (b.2 - b.1) / 4096 + 1;
        let left = nrows - at - (bands.len() - i - 1);
        let n = (((pages as f64 / total_pages as f64) * nrows as f64).round() as usize).clamp(1, left.max(1));
        band_rows.push((at, n));
        at += n;
    }
    for r in rows.iter().filter(|r| r.is_fault()) {
        let Some(i) = bands.iter().position(|b| b.0 == r.region) else { continue };
        let (start, n) = band_rows[i];
        let (lo, hi) = (bands[i].1, bands[i].2);
        let frac = if hi > lo { (r.gva - lo) as f64 / (hi - lo) as f64 } else { 0.0 };
        let row = (start + ((frac * n as f64) as usize).min(n - 1)).min(nrows - 1);
        let col = ((r.time_ns as f64 / end_ns as f64 * COLS as f64) as usize).min(COLS - 1);
        cells[row][col] += 1;
    }
    let max = cells.iter().flatten().copied().max().unwrap_or(1).max(1);
    let (cw, ch) = ((W - 2.0 * PAD - 120.0) / COLS as f64, (H - 2.0 * PAD) / nrows as f64);
    let mut svg = format!(
        "<h2>Faults by address and time</h2><p class=\"note\">Each band is one region that faulted, its pages \
         top (low addresses) to bottom; the gaps between regions are left out. Darker: more faults.</p>\
         <svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>"
    );
    for (ri, row) in cells.iter().enumerate() {
        for (ci, &n) in row.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let a = 0.25 + 0.75 * (n as f64 / max as f64);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#c0392b\" fill-opacity=\"{a:.2}\"/>",
                PAD + 120.0 + ci as f64 * cw,
                PAD + ri as f64 * ch,
                cw.max(1.0),
                ch.max(1.0)
            );
        }
    }
    for (i, b) in bands.iter().enumerate() {
        let (start, n) = band_rows[i];
        let y = PAD + start as f64 * ch;
        let _ = write!(
            svg,
            "<line x1=\"{PAD}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{PAD}\" y=\"{ty:.1}\" font-size=\"10\">{name}</text>",
            r = W - PAD,
            ty = y + (n as f64 * ch / 2.0).max(9.0),
            name = esc(b.0)
        );
    }
    svg.push_str("</svg>");
    svg
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
    let mut s =
        String::from("<h2>Syscalls</h2><table><tr><th>syscall</th><th>calls</th><th>errors</th><th>total µs</th></tr>");
    for (name, (n, errors, ns)) in v {
        let _ =
            write!(s, "<tr><td>{}</td><td>{n}</td><td>{errors}</td><td>{:.1}</td></tr>", esc(name), ns as f64 / 1e3);
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
        "<h2>Code that faulted</h2><p class=\"note\">By the faulting instruction's function, for the faults \
         that came as guest page faults (all of them with --fill-pages 1).</p><table><tr><th>function</th><th>faults</th></tr>",
    );
    for (f, n) in v.iter().take(20) {
        let _ = write!(s, "<tr><td>{}</td><td>{n}</td></tr>", esc(f));
    }
    s.push_str("</table>");
    s
}
