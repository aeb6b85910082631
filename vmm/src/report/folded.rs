//! Which code paths faulted: `--folded FILE` writes the folded-stack
//! format flamegraph.pl and inferno read (`demo [1];main;build;fill 256`:
//! frames root first, `;` between them, then the count), one root per
//! process (`comm [pid]`); `--flamegraph FILE.svg` draws it with inferno.
//!
//! A fault that came without registers (from inside KVM_RUN: see
//! `--fill-pages`) has no stack; it is counted under its process as
//! `[no stack]`, so the graph's total is the faults' count.

use std::collections::BTreeMap;

use super::rows::{Row, StackTable};
use crate::timeline::EventKind;

/// The frame a fault without a call stack is counted under.
pub const NO_STACK: &str = "[no stack]";

/// Which faults a graph counts: `faults` (every page fault of the
/// program's), `cow`, `major` (file-copy and swap-in), or event names
/// separated by commas (`zero-fill,swap-in`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Select(Vec<String>);

/// The fault kinds a graph may count.
fn fault_kinds() -> Vec<&'static str> {
    EventKind::ALL.iter().filter(|k| k.is_fault()).map(|k| k.as_str()).collect()
}

impl Default for Select {
    fn default() -> Self {
        Select(fault_kinds().iter().map(|s| s.to_string()).collect())
    }
}

impl Select {
    /// Parses `faults`, `cow`, `major` or a list of fault kinds.
    pub fn parse(s: &str) -> Result<Select, String> {
        match s.trim() {
            "faults" | "all" => return Ok(Select::default()),
            "major" => return Ok(Select(vec!["file-copy".into(), "swap-in".into()])),
            _ => {}
        }
        let kinds: Vec<String> = s.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
        match kinds.iter().find(|k| !fault_kinds().contains(&k.as_str())) {
            Some(k) => Err(format!(
                "{:?} is not a fault kind: faults, cow, major, or some of {}",
                crate::text::tame(k),
                fault_kinds().join(", ")
            )),
            None if kinds.is_empty() => Err("no fault kind given".into()),
            None => Ok(Select(kinds)),
        }
    }

    /// Whether the graph counts `row`.
    pub fn matches(&self, row: &Row) -> bool {
        row.is_fault() && self.0.contains(&row.event)
    }

    /// What it counts, in words (`cow faults`).
    pub fn describe(&self) -> String {
        if *self == Select::default() {
            "page faults".into()
        } else if self.0 == ["file-copy", "swap-in"] {
            "major faults (file-copy, swap-in)".into()
        } else {
            format!("{} faults", self.0.join(", "))
        }
    }
}

/// A frame's name as a folded line may hold it: no `;` (the separator),
/// nothing a line cannot hold.
fn frame(name: &str) -> String {
    crate::text::tame(name).replace(';', ":")
}

/// Counts of `rows`' faults that `select` takes, by stack, root first:
/// `(frames, count)`, sorted by frames. Each process is its own root,
/// `comm [pid]`, its name as its last `fork` or `exec` row gave it.
pub fn folded(rows: &[Row], stacks: &StackTable, select: &Select) -> Vec<(String, u64)> {
    let mut comm: BTreeMap<u32, String> = BTreeMap::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows {
        if r.is_lifecycle() && !r.comm.is_empty() {
            comm.insert(r.pid, r.comm.clone());
        }
        if !select.matches(r) {
            continue;
        }
        let name = comm.get(&r.pid).map_or("pid", String::as_str);
        let mut line = frame(&format!("{name} [{}]", r.pid));
        match stacks.get(r.stack).filter(|f| !f.is_empty()) {
            Some(frames) => {
                for f in frames.iter().rev() {
                    line.push(';');
                    line.push_str(&frame(f.function()));
                }
            }
            None => {
                line.push(';');
                line.push_str(NO_STACK);
            }
        }
        *counts.entry(line).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// The folded lines as text, one `frames count` per line.
///
/// ```
/// use faultline::report::folded::{self, Select};
/// use faultline::report::rows::{Row, StackTable};
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).fill_pages(1).stacks(true).keep_events().build()?.run()?;
/// let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
/// let text = folded::text(&folded::folded(&rows, &StackTable::from_events(&outcome.events), &Select::default()));
/// // The demo's 8 .bss writes, each in its main.
/// assert!(text.lines().any(|l| l.starts_with("demo [1];") && l.contains("main")), "{text}");
/// # Ok::<(), faultline::Error>(())
/// ```
pub fn text(lines: &[(String, u64)]) -> String {
    lines.iter().map(|(f, n)| format!("{f} {n}\n")).collect()
}

/// Why a flame graph could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the flame graph: {0}")]
pub struct FlameGraphError(#[from] std::io::Error);

/// The folded lines drawn as an SVG flame graph (inferno's, as
/// cargo-flamegraph draws them: hover names a frame and its count, a click
/// zooms into it), titled `title`; counting `what` (`page faults`).
pub fn flamegraph(lines: &[(String, u64)], title: &str, what: &str) -> Result<String, FlameGraphError> {
    use inferno::flamegraph::{self, color::BasicPalette, Options, Palette};
    let mut opts = Options::default();
    opts.title = title.to_string();
    opts.subtitle = Some(format!("{what} by call stack, each process its own root"));
    opts.count_name = "faults".into();
    opts.colors = Palette::Basic(BasicPalette::Mem);
    // Deterministic colours: the same graph for the same stacks.
    opts.hash = true;
    let mut out = Vec::new();
    if lines.is_empty() {
        let none = [format!("no {what} 0")];
        let _ = flamegraph::from_lines(&mut opts, none.iter().map(String::as_str), &mut out);
        if out.is_empty() {
            return Err(std::io::Error::other("no faults to draw").into());
        }
    } else {
        let text: Vec<String> = lines.iter().map(|(f, n)| format!("{f} {n}")).collect();
        flamegraph::from_lines(&mut opts, text.iter().map(String::as_str), &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    String::from_utf8(out).map_err(|e| std::io::Error::other(e.to_string()).into())
}
