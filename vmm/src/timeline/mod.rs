//! The record of every page event, and what is made of it: CSV rows and
//! the per-process, per-region summary. Imports nothing above `arch`.

mod csv;
mod event;
mod recorder;
mod region;
mod summary;

pub use csv::{write_csv, write_row, CsvSink, CSV_HEADER};
pub use event::{Access, Event, EventKind, Origin, Prefault};
pub use recorder::{EachEvent, EventSink, KeepEvents, Recorder};
pub use region::{Region, RegionId, RegionKind, RegionTable};
pub use summary::{is_guest_touch, Latencies, ProcessSummary, RegionCounts, RegionShape, RegionSummary, Summary};
