//! The timeline as CSV. Columns are documented in the README; new ones are
//! only ever appended. Call stacks go to a table of their own beside it
//! (`t.stacks.csv`), each written once, before the first row naming it.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::recorder::EventSink;
use super::{Event, EventKind, RegionTable, Stack};

/// The timeline CSV's first line: its columns.
pub const CSV_HEADER: &str = "seq,time_ns,region,gva,gpa,access,event,latency_ns,origin,pid,tid,rss,ip,symbol,mapping,signo,si_code,stack,parent,comm,sandbox_rss,swap";

/// The stacks table's first line: one row per frame, `frame` 0 the
/// faulting instruction, then each caller outwards.
pub const STACKS_HEADER: &str = "stack,frame,ip,symbol,source";

/// Where the stacks table of the timeline at `timeline` goes: beside it,
/// its extension replaced (`t.csv`: `t.stacks.csv`).
pub fn stacks_path(timeline: &Path) -> PathBuf {
    timeline.with_extension("stacks.csv")
}

/// Writes rows as they happen, through a bounded buffer.
pub struct CsvSink<W: Write + Send> {
    out: BufWriter<W>,
    /// The stacks table, and the last stack written to it.
    stacks: Option<(BufWriter<Box<dyn Write + Send>>, u64)>,
}

impl<W: Write + Send> CsvSink<W> {
    /// Writes the header at once, so a bad destination fails early. Rows
    /// keep their `stack` ids; the frames go nowhere.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 << 10, out);
        writeln!(out, "{CSV_HEADER}")?;
        Ok(CsvSink { out, stacks: None })
    }

    /// The same, with each stack's frames written to `stacks` (see
    /// [`STACKS_HEADER`]) as it first appears.
    pub fn with_stacks(out: W, stacks: impl Write + Send + 'static) -> io::Result<Self> {
        let mut sink = Self::new(out)?;
        let mut st = BufWriter::with_capacity(16 << 10, Box::new(stacks) as Box<dyn Write + Send>);
        writeln!(st, "{STACKS_HEADER}")?;
        sink.stacks = Some((st, 0));
        Ok(sink)
    }
}

impl<W: Write + Send> EventSink for CsvSink<W> {
    fn event(&mut self, e: &Event, regions: &RegionTable) -> io::Result<()> {
        if let (Some((out, last)), Some(st)) = (&mut self.stacks, &e.stack) {
            // The recorder numbers stacks in order: a new one is the next.
            if st.id > *last {
                write_stack(out, st)?;
                *last = st.id;
            }
        }
        write_row(&mut self.out, e, regions)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some((out, _)) = &mut self.stacks {
            out.flush()?;
        }
        self.out.flush()
    }
}

/// One stack's rows of the stacks table.
fn write_stack(out: &mut dyn Write, st: &Stack) -> io::Result<()> {
    for (i, f) in st.frames.iter().enumerate() {
        writeln!(
            out,
            "{},{i},{:#x},{},{}",
            st.id,
            f.ip,
            csv_field(&f.symbol),
            csv_field(f.source.as_deref().unwrap_or(""))
        )?;
    }
    Ok(())
}

/// Writes the stacks table of `events`: the header and each numbered stack
/// once, in order.
pub fn write_stacks(out: &mut dyn Write, events: &[Event]) -> io::Result<()> {
    writeln!(out, "{STACKS_HEADER}")?;
    let mut last = 0;
    for st in events.iter().filter_map(|e| e.stack.as_ref()) {
        if st.id > last {
            write_stack(out, st)?;
            last = st.id;
        }
    }
    out.flush()
}

/// One row, without the newline's predecessor quirks: fields that need it
/// are quoted.
pub fn write_row(out: &mut dyn Write, e: &Event, regions: &RegionTable) -> io::Result<()> {
    // A `signal` row says which signal and si_code the handler got; other
    // rows leave both empty.
    let (signo, code) = match e.kind {
        EventKind::Signal { signo, code } => (signo.to_string(), code.to_string()),
        _ => (String::new(), String::new()),
    };
    writeln!(
        out,
        "{},{},{},{:#x},{:#x},{},{},{},{},{},{},{},{},{},{:#x},{},{},{},{},{},{},{}",
        e.seq,
        e.time_ns,
        csv_field(regions.name(e.region)),
        e.gva,
        e.gpa,
        e.access.as_str(),
        e.kind.as_str(),
        e.latency_ns,
        e.origin.as_str(),
        e.pid,
        e.tid,
        e.rss,
        if e.ip == 0 { String::new() } else { format!("{:#x}", e.ip) },
        csv_field(e.symbol.as_deref().unwrap_or("")),
        e.mapping,
        signo,
        code,
        e.stack.as_ref().filter(|s| s.id != 0).map_or(String::new(), |s| s.id.to_string()),
        if e.kind.is_lifecycle() { e.parent.to_string() } else { String::new() },
        csv_field(e.comm.as_deref().unwrap_or("")),
        e.sandbox_rss,
        e.swap
    )
}

/// Writes the header and one row per event.
pub fn write_csv(out: &mut dyn Write, events: &[Event], regions: &RegionTable) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for e in events {
        write_row(out, e, regions)?;
    }
    out.flush()
}

/// Quotes a field if it needs it (section and file names are arbitrary
/// bytes).
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Access, EventKind, Origin, RegionKind};

    #[test]
    fn rows_follow_the_header() {
        let mut regions = RegionTable::default();
        let r = regions.intern(".bss", RegionKind::Image);
        let q = regions.intern("odd,name", RegionKind::Image);
        let ev = |seq, region| Event {
            seq,
            time_ns: 1500,
            region,
            gva: 0x41b000,
            gpa: 0x1_0000_5000,
            access: Access::Write,
            kind: EventKind::ZeroFill,
            latency_ns: 42,
            origin: Origin::Guest,
            pid: 1,
            tid: 1,
            rss: 7,
            ip: 0x401234,
            symbol: Some("main+0x4".into()),
            mapping: 0x41a000,
            stack: None,
            parent: 0,
            comm: None,
            sandbox_rss: 9,
            swap: 0,
        };
        let mut out = Vec::new();
        write_csv(&mut out, &[ev(0, r), ev(1, q)], &regions).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "0,1500,.bss,0x41b000,0x100005000,write,zero-fill,42,guest,1,1,7,0x401234,main+0x4,0x41a000,,,,,,9,0"
        );
        assert_eq!(
            lines[2],
            "1,1500,\"odd,name\",0x41b000,0x100005000,write,zero-fill,42,guest,1,1,7,0x401234,main+0x4,0x41a000,,,,,,9,0"
        );
    }
}
