//! The record of every page event, and what is made of it: CSV rows and
//! the per-region summary.

mod csv;
mod event;
mod report;

pub use csv::{write_csv, CSV_HEADER};
pub use event::{Access, Event, EventKind, Origin, Prefault};
pub use report::{summarize, RegionSummary, Summary};
