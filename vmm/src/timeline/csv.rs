//! The timeline as CSV. Columns are documented in the README; new ones are
//! only ever appended.

use std::io::{self, BufWriter, Write};

use super::recorder::EventSink;
use super::{Event, EventKind, RegionTable};

/// The timeline CSV's first line: its columns.
pub const CSV_HEADER: &str =
    "seq,time_ns,region,gva,gpa,access,event,latency_ns,origin,pid,tid,rss,ip,symbol,mapping,signo,si_code";

/// Writes rows as they happen, through a bounded buffer.
pub struct CsvSink<W: Write + Send> {
    out: BufWriter<W>,
}

impl<W: Write + Send> CsvSink<W> {
    /// Writes the header at once, so a bad destination fails early.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 << 10, out);
        writeln!(out, "{CSV_HEADER}")?;
        Ok(CsvSink { out })
    }
}

impl<W: Write + Send> EventSink for CsvSink<W> {
    fn event(&mut self, e: &Event, regions: &RegionTable) -> io::Result<()> {
        write_row(&mut self.out, e, regions)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
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
        "{},{},{},{:#x},{:#x},{},{},{},{},{},{},{},{},{},{:#x},{},{}",
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
        code
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
        };
        let mut out = Vec::new();
        write_csv(&mut out, &[ev(0, r), ev(1, q)], &regions).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "0,1500,.bss,0x41b000,0x100005000,write,zero-fill,42,guest,1,1,7,0x401234,main+0x4,0x41a000,,"
        );
        assert_eq!(
            lines[2],
            "1,1500,\"odd,name\",0x41b000,0x100005000,write,zero-fill,42,guest,1,1,7,0x401234,main+0x4,0x41a000,,"
        );
    }
}
