//! The timeline as CSV. Columns are documented in the README; new ones are
//! only ever appended.

use std::io::{self, Write};

use super::Event;
use crate::mm::RegionTable;

pub const CSV_HEADER: &str = "seq,time_ns,region,gva,gpa,access,event,latency_ns,origin";

/// Writes the header and one row per event.
pub fn write_csv(out: &mut dyn Write, events: &[Event], regions: &RegionTable) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for e in events {
        let region = e.region.map(|r| regions.name(r)).unwrap_or("?");
        writeln!(
            out,
            "{},{},{},{:#x},{:#x},{},{},{},{}",
            e.seq,
            e.time_ns,
            csv_field(region),
            e.gva,
            e.gpa,
            e.access.as_str(),
            e.kind.as_str(),
            e.latency_ns,
            e.origin.as_str()
        )?;
    }
    out.flush()
}

/// Quotes a field if it needs it (section names are arbitrary bytes).
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
    use crate::mm::RegionKind;
    use crate::timeline::{Access, EventKind, Origin};

    #[test]
    fn rows_follow_the_header() {
        let mut regions = RegionTable::default();
        let r = regions.intern(".bss", RegionKind::Image);
        let q = regions.intern("odd,name", RegionKind::Image);
        let ev = |seq, region| Event {
            seq,
            time_ns: 1500,
            region: Some(region),
            gva: 0x41b000,
            gpa: 0x1_0000_5000,
            access: Access::Write,
            kind: EventKind::ZeroFill,
            latency_ns: 42,
            origin: Origin::Guest,
        };
        let mut out = Vec::new();
        write_csv(&mut out, &[ev(0, r), ev(1, q)], &regions).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "0,1500,.bss,0x41b000,0x100005000,write,zero-fill,42,guest");
        assert_eq!(lines[2], "1,1500,\"odd,name\",0x41b000,0x100005000,write,zero-fill,42,guest");
    }
}
