//! The timeline as the reports read it: one row per event, from a run's
//! kept events or from a saved CSV (so `faultline report t.csv` draws the
//! same pictures as `--report` during the run).

use std::collections::BTreeMap;

use super::diff::DiffError;
use crate::timeline::{Event, EventKind, Frame, RegionTable};

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
    /// The number of [`Event::stack`] in the run's [`StackTable`], 0 for
    /// none.
    pub stack: u64,
    /// [`Event::parent`].
    pub parent: u32,
    /// [`Event::comm`], or empty.
    pub comm: String,
    /// [`Event::sandbox_rss`] (0 in timelines older than the column).
    pub sandbox_rss: u64,
    /// [`Event::swap`] (0 in timelines older than the column).
    pub swap: u64,
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
            stack: e.stack.as_ref().map_or(0, |s| s.id),
            parent: e.parent,
            comm: e.comm.as_deref().unwrap_or("").to_string(),
            sandbox_rss: e.sandbox_rss,
            swap: e.swap,
        }
    }

    /// Whether this row is a process's or thread's `fork`, `clone`,
    /// `exec` or `exit`.
    pub fn is_lifecycle(&self) -> bool {
        matches!(self.event.as_str(), "fork" | "clone" | "exec" | "exit")
    }

    /// Whether this row is one of the program's page faults.
    pub fn is_fault(&self) -> bool {
        self.origin == "guest" && EventKind::ALL.iter().any(|k| k.is_fault() && k.as_str() == self.event)
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
    let c = [
        "seq",
        "time_ns",
        "region",
        "gva",
        "access",
        "event",
        "latency_ns",
        "origin",
        "pid",
        "tid",
        "rss",
        "symbol",
        "stack",
        "parent",
        "comm",
        "sandbox_rss",
        "swap",
    ]
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
            stack: num(12),
            parent: num(13) as u32,
            comm: crate::text::tame(get(14)),
            sandbox_rss: num(15),
            swap: num(16),
        });
    }
    Ok(rows)
}

/// The call stacks a timeline's rows refer to by number ([`Row::stack`]),
/// each innermost frame first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackTable(pub BTreeMap<u64, Vec<Frame>>);

impl StackTable {
    /// The stacks of kept events.
    pub fn from_events(events: &[Event]) -> StackTable {
        let mut t = BTreeMap::new();
        for st in events.iter().filter_map(|e| e.stack.as_ref()).filter(|s| s.id != 0) {
            t.entry(st.id).or_insert_with(|| st.frames.to_vec());
        }
        StackTable(t)
    }

    /// The stacks table written beside the timeline at `timeline`
    /// ([`stacks_path`](crate::timeline::stacks_path)); empty if there is
    /// none (a run without stacks, or an older timeline).
    pub fn read_beside(timeline: &str) -> Result<StackTable, DiffError> {
        let path = crate::timeline::stacks_path(std::path::Path::new(timeline));
        let path = path.to_string_lossy().into_owned();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StackTable::default()),
            Err(source) => return Err(DiffError::Io { path, source }),
        };
        let mut lines = text.lines();
        if lines.next() != Some(crate::timeline::STACKS_HEADER) {
            return Err(DiffError::Bad { path, line: 1, what: "not a stacks table".into() });
        }
        let mut t: BTreeMap<u64, Vec<Frame>> = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let f = super::diff::split(line);
            let bad = |what: &str| DiffError::Bad { path: path.clone(), line: n + 2, what: what.into() };
            let [id, frame, ip, symbol, source] = f.as_slice() else { return Err(bad("wrong number of fields")) };
            let (Ok(id), Ok(frame)) = (id.parse::<u64>(), frame.parse::<usize>()) else {
                return Err(bad("stack and frame must be numbers"));
            };
            let frames = t.entry(id).or_default();
            if frame != frames.len() {
                return Err(bad("frames out of order"));
            }
            frames.push(Frame {
                ip: hex(ip),
                symbol: crate::text::tame(symbol).into(),
                source: (!source.is_empty()).then(|| crate::text::tame(source).into()),
            });
        }
        Ok(StackTable(t))
    }

    /// Stack `id`'s frames, innermost first.
    pub fn get(&self, id: u64) -> Option<&[Frame]> {
        self.0.get(&id).map(Vec::as_slice)
    }
}
