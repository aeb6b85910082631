//! `faultline diff A.csv B.csv`: do two timelines tell the same story?
//! Rows are compared without their times and latencies (which never
//! repeat); the first row where they part is shown with both sides, and
//! the per-region counts of each kind. `--counts` compares only those
//! counts, within a tolerance, for CI gates on fault counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;

/// Columns that vary from run to run and are left out of the comparison.
const VARYING: [&str; 2] = ["time_ns", "latency_ns"];

/// Why a timeline CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a timeline header.
    #[error("{0}: not a faultline timeline (no seq,time_ns,... header)")]
    NotATimeline(String),
    /// A row that does not fit the header.
    #[error("{path}: line {line}: {what}")]
    Bad {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

/// A timeline, as read: the comparable part of each row, and counts per
/// (pid, region, event).
pub struct Timeline {
    /// The file it was read from.
    pub path: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Rows per (pid, region, event).
    pub counts: BTreeMap<(String, String, String), u64>,
}

/// Splits one CSV line, honouring quoted fields.
pub(crate) fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl Timeline {
    /// Reads the timeline CSV at `path` (as `--timeline` writes it).
    pub fn read(path: &str) -> Result<Timeline, DiffError> {
        let io = |source| DiffError::Io { path: path.to_string(), source };
        let f = std::fs::File::open(path).map_err(io)?;
        let mut lines = std::io::BufReader::new(f).lines();
        let header = split(&lines.next().transpose().map_err(io)?.unwrap_or_default());
        if header.first().map(String::as_str) != Some("seq") || !header.iter().any(|h| h == "event") {
            return Err(DiffError::NotATimeline(path.to_string()));
        }
        let col = |name: &str| header.iter().position(|h| h == name);
        let (region, event, pid) = (col("region"), col("event"), col("pid"));
        let keep: Vec<usize> = (0..header.len()).filter(|&i| !VARYING.contains(&header[i].as_str())).collect();
        let mut rows = Vec::new();
        let mut counts = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let line = line.map_err(io)?;
            let f = split(&line);
            if f.len() != header.len() {
                return Err(DiffError::Bad {
                    path: path.to_string(),
                    line: n + 2,
                    what: format!("{} fields, the header has {}", f.len(), header.len()),
                });
            }
            let get = |i: Option<usize>| i.map(|i| f[i].clone()).unwrap_or_default();
            *counts.entry((get(pid), get(region), get(event))).or_insert(0) += 1;
            rows.push(keep.iter().map(|&i| f[i].clone()).collect());
        }
        let header = keep.iter().map(|&i| header[i].clone()).collect();
        Ok(Timeline { path: path.to_string(), header, rows, counts })
    }
}

/// How two timelines compare.
pub struct Diff {
    /// None if the rows are the same.
    pub first_difference: Option<String>,
    /// Lines of `pid region event: a → b` for counts that differ beyond
    /// the tolerance.
    pub count_differences: Vec<String>,
}

impl Diff {
    /// Whether the two timelines tell the same story.
    pub fn same(&self) -> bool {
        self.first_difference.is_none() && self.count_differences.is_empty()
    }
}

/// Compares counts only, allowing `tolerance` (a fraction, 0.05 = 5 %) of
/// difference in each.
pub fn counts(a: &Timeline, b: &Timeline, tolerance: f64) -> Vec<String> {
    let mut keys: Vec<_> = a.counts.keys().chain(b.counts.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let (x, y) = (a.counts.get(&k).copied().unwrap_or(0), b.counts.get(&k).copied().unwrap_or(0));
        let allowed = (x.max(y) as f64 * tolerance).floor() as u64;
        if x.abs_diff(y) > allowed {
            out.push(format!("pid {} {} {}: {x} → {y}", k.0, k.1, k.2));
        }
    }
    out
}

/// Compares row by row (without times), then the counts exactly.
///
/// ```
/// use faultline::report::diff::{counts, rows, Timeline};
/// use faultline::timeline::CsvSink;
/// use faultline::{Program, Sandbox};
///
/// let dir = std::env::temp_dir().join(format!("faultline-diff-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let mut timelines = Vec::new();
/// for name in ["a.csv", "b.csv"] {
///     let path = dir.join(name);
///     let csv = CsvSink::new(std::fs::File::create(&path)?)?;
///     Sandbox::builder(Program::demo()).sink(csv).build()?.run()?;
///     timelines.push(Timeline::read(&path.to_string_lossy())?);
/// }
/// // Two runs of one program tell one story, row by row and in counts.
/// assert!(rows(&timelines[0], &timelines[1]).same());
/// assert!(counts(&timelines[0], &timelines[1], 0.0).is_empty());
/// assert_eq!(timelines[0].counts[&("1".into(), ".bss".into(), "zero-fill".into())], 8);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rows(a: &Timeline, b: &Timeline) -> Diff {
    let mut first = None;
    if a.header != b.header {
        first = Some(format!("the columns differ:\n  {}\n  {}", a.header.join(","), b.header.join(",")));
    } else {
        for i in 0..a.rows.len().max(b.rows.len()) {
            let (x, y) = (a.rows.get(i), b.rows.get(i));
            if x != y {
                let show = |r: Option<&Vec<String>>| r.map_or("(no row)".to_string(), |r| r.join(","));
                let mut s = String::new();
                let _ = writeln!(s, "row {} differs ({} without {}):", i + 1, a.header.join(","), VARYING.join(", "));
                let _ = writeln!(s, "  {}: {}", a.path, show(x));
                let _ = write!(s, "  {}: {}", b.path, show(y));
                first = Some(s);
                break;
            }
        }
    }
    Diff { first_difference: first, count_differences: counts(a, b, 0.0) }
}
