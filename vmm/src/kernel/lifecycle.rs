//! Rows for the lives of processes and threads: `fork` and `clone` when
//! one starts, `exec` when a process becomes a new program, `exit` when
//! its last thread is gone. With them the `rss` column replays each
//! process's resident memory from its start to 0 at its end, and a report
//! can name each process and draw its life.

use std::sync::Arc;
use std::time::Instant;

use super::process::{Pid, Tid};
use super::KernelState;
use crate::timeline::{Access, Event, EventKind, Origin, RegionKind};

impl KernelState {
    /// Records `kind` for process `pid` (thread `tid`); `parent` is the
    /// parent process, or for `clone` the thread that made `tid`.
    pub(crate) fn record_lifecycle(&mut self, kind: EventKind, pid: Pid, tid: Tid, parent: u32) {
        debug_assert!(kind.is_lifecycle());
        let comm = self.tasks.proc(pid).map(|p| Arc::from(crate::text::tame(&p.comm)));
        // No page: the region with no name (an empty CSV field).
        let region = self.report.recorder_mut().region("", RegionKind::Mmap);
        let e = Event { pid, tid, parent, comm, ..Event::new(kind, Access::None, Origin::Guest, region, 0, 0) };
        self.record(e, Instant::now());
    }
}
