//! The timeline as the reports read it: one row per event, from a run's
//! kept events or from a saved CSV (so `faultline report t.csv` draws the
//! same pictures as `--report` during the run).

use super::diff::DiffError;
use crate::timeline::{Event, RegionTable};

/// One timeline row, with the columns the reports draw (the CSV's words
/// for access, event and origin).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// [`Event::seq`].
    pub seq: u64,
    /// [`Event::time_ns`].
    pub time_ns: u64,
    /// The region's name.
    pub region: String,
    /// [`Event::gva`].
    pub gva: u64,
    /// `read`, `write` or `none`.
    pub access: String,
    /// `zero-fill`, `cow`, … ([`EventKind::as_str`](crate::timeline::EventKind::as_str)).
    pub event: String,
    /// [`Event::latency_ns`].
    pub latency_ns: u64,
    /// `guest` or `vmm`.
    pub origin: String,
    /// [`Event::pid`].
    pub pid: u32,
    /// [`Event::tid`].
    pub tid: u32,
    /// [`Event::rss`] (0 in timelines older than the column).
    pub rss: u64,
    /// [`Event::symbol`], or empty.
    pub symbol: String,
}

impl Row {
    /// The row for a kept event.
    pub fn from_event(e: &Event, regions: &RegionTable) -> Row {
        Row {
            seq: e.seq,
            time_ns: e.time_ns,
            region: regions.name(e.region).to_string(),
            gva: e.gva,
            access: e.access.as_str().to_string(),
            event: e.kind.as_str().to_string(),
            latency_ns: e.latency_ns,
            origin: e.origin.as_str().to_string(),
            pid: e.pid,
            tid: e.tid,
            rss: e.rss,
            symbol: e.symbol.as_deref().unwrap_or("").to_string(),
        }
    }

    /// Whether this row is one of the program's page faults.
    pub fn is_fault(&self) -> bool {
        self.origin == "guest"
            && matches!(self.event.as_str(), "zero-fill" | "file-copy" | "cache-hit" | "cow" | "swap-in")
    }

    /// How the row changes the resident pages of its region.
    pub(crate) fn resident_step(&self) -> i64 {
        match self.event.as_str() {
            "zero-fill" if self.access == "read" => 0,
            "zero-fill" | "file-copy" | "cache-hit" | "swap-in" | "fault-around" => 1,
            e if e.starts_with("prefault") => 1,
            "evict" | "release" => -1,
            _ => 0,
        }
    }
}

/// How each row changed its process's resident pages: from the `rss`
/// column where the timeline has one (exact, a copy-on-write of the zero
/// page included), else from the event alone.
pub(crate) fn resident_steps(rows: &[Row]) -> Vec<i64> {
    if rows.iter().all(|r| r.rss == 0) {
        return rows.iter().map(Row::resident_step).collect();
    }
    let mut last: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    rows.iter()
        .map(|r| {
            let prev = last.insert(r.pid, r.rss).unwrap_or(0);
            r.rss as i64 - prev as i64
        })
        .collect()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

/// Reads a timeline CSV (any version: missing later columns read as 0).
///
/// ```
/// use faultline::report::rows::{read_csv, Row};
/// use faultline::timeline::CsvSink;
/// use faultline::{Program, Sandbox};
///
/// let path = std::env::temp_dir().join(format!("faultline-rows-doc-{}.csv", std::process::id()));
/// let csv = CsvSink::new(std::fs::File::create(&path)?)?;
/// let outcome = Sandbox::builder(Program::demo()).sink(csv).keep_events().build()?.run()?;
/// // The saved timeline reads back as the rows of the kept events.
/// let kept: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
/// assert_eq!(read_csv(&path.to_string_lossy())?, kept);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv(path: &str) -> Result<Vec<Row>, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Io { path: path.to_string(), source })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    if header.first() != Some(&"seq") || !header.contains(&"event") {
        return Err(DiffError::NotATimeline(path.to_string()));
    }
    let col = |n: &str| header.iter().position(|h| *h == n);
    let c =
        ["seq", "time_ns", "region", "gva", "access", "event", "latency_ns", "origin", "pid", "tid", "rss", "symbol"]
            .map(col);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let f = super::diff::split(line);
        if f.len() != header.len() {
            return Err(DiffError::Bad { path: path.to_string(), line: n + 2, what: "wrong number of fields".into() });
        }
        let get = |i: usize| c[i].map_or("", |i| f[i].as_str());
        let num = |i: usize| get(i).parse::<u64>().unwrap_or(0);
        rows.push(Row {
            seq: num(0),
            time_ns: num(1),
            region: get(2).to_string(),
            gva: hex(get(3)),
            access: get(4).to_string(),
            event: get(5).to_string(),
            latency_ns: num(6),
            origin: get(7).to_string(),
            pid: num(8) as u32,
            tid: num(9) as u32,
            rss: num(10),
            symbol: get(11).to_string(),
        });
    }
    Ok(rows)
}
