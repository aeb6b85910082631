//! Watching a run from another thread: the progress line, the live
//! vmstat and top views.

use std::sync::Arc;

use crate::kernel::Kernel;

/// A running sandbox's figures, for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Timeline rows so far.
    pub events: u64,
    /// Frames resident now (all processes, page cache included).
    pub resident_pages: u64,
    /// Processes alive now.
    pub processes: usize,
}

/// Reads [`Progress`] from another thread while the sandbox runs.
#[derive(Clone)]
pub struct ProgressProbe(pub(super) Arc<Kernel>);

impl ProgressProbe {
    /// The figures now.
    pub fn read(&self) -> Progress {
        let k = self.0.lock();
        Progress {
            events: k.report.recorder().events(),
            resident_pages: k.phys.counters.resident,
            processes: k.tasks.process_count(),
        }
    }

    /// A `vmstat` line over the interval since the last call: the first
    /// call gives vmstat's two header lines and a line since the start.
    pub fn vmstat(&self) -> String {
        self.0.lock().vmstat_next()
    }

    /// Draws `text` on stderr as a status line (faultline's progress
    /// line): the program's next output to the terminal clears it first,
    /// and none is drawn over a line the program has begun.
    pub fn show_line(&self, text: &str) {
        crate::kernel::files::STATUS_LINE.lock().unwrap_or_else(|p| p.into_inner()).show(text);
    }

    /// Erases the status line, if one is shown.
    pub fn clear_line(&self) {
        crate::kernel::files::STATUS_LINE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// top's table of the processes alive now.
    pub fn top_live(&self) -> String {
        crate::kernel::live::top_table(&self.0.lock().top_live())
    }

    /// top's table of every process that ran, each as it was when it ended
    /// (after the run: all of them have).
    pub fn top_exited(&self) -> String {
        crate::kernel::live::top_table(self.0.lock().live.top_exited())
    }
}
