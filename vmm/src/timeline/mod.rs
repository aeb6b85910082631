//! The record of every page event, and what is made of it: CSV rows and
//! the per-process, per-region summary. Imports nothing above `arch`.
//!
//! Each [`Event`] is one row: a page of a region ([`RegionId`], named by
//! the run's [`RegionTable`]) was backed ([`EventKind::ZeroFill`],
//! [`EventKind::FileCopy`], …), taken away ([`EventKind::Evict`],
//! [`EventKind::Release`]) or brought in ahead of use
//! ([`EventKind::Prefault`]), by the program's own touch
//! ([`Origin::Guest`]) or by faultline acting for it ([`Origin::Vmm`]).
//! Events reach [`EventSink`]s as they happen; the [`Summary`] counts them
//! per process and region.

mod csv;
mod event;
mod recorder;
mod region;
mod stack;
mod summary;

pub use csv::{stacks_path, write_csv, write_stacks, CsvSink, CSV_HEADER, STACKS_HEADER};
pub use event::{Access, Event, EventKind, Origin, Prefault};
pub use recorder::{EachEvent, EventSink};
pub(crate) use recorder::{KeepEvents, Recorder};
pub use region::{Region, RegionId, RegionKind, RegionTable};
pub use stack::{Frame, Stack};
pub(crate) use summary::RegionShape;
pub use summary::{ProcessSummary, RegionSummary, Summary};
