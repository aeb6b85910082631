//! What a run produced: the program's status and output, the summary and
//! events, and Linux's own counters for it.

use std::time::Duration;

use crate::kernel::procfs::MemoryReport;
use crate::kernel::{ExitStatus, Stop};
use crate::timeline::{Event, RegionTable, Summary};

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How pid 1 ended, as a shell would see it.
    pub status: ExitStatus,
    /// Why processes were killed, in the kernel's words (pid 1's last).
    pub reports: Vec<String>,
    /// Every event, if kept ([`SandboxBuilder::keep_events`](super::SandboxBuilder::keep_events)), in order.
    pub events: Vec<Event>,
    /// Names the region of each event ([`Outcome::region_name`]).
    pub regions: RegionTable,
    /// Faults and residency per process and region.
    pub summary: Summary,
    /// pid 1's memory as /proc/PID/status and /proc/meminfo showed it.
    pub memory: MemoryReport,
    /// Why the run was stopped early, if it was.
    pub stopped: Option<Stop>,
    /// How long the run took.
    pub elapsed: Duration,
    /// What the program wrote to stdout, if captured.
    pub stdout: Vec<u8>,
    /// What the program wrote to stderr, if captured.
    pub stderr: Vec<u8>,
    /// pid 1's resource use with its reaped children's, as wait4 would
    /// give it to `/usr/bin/time`.
    pub usage: Usage,
    /// Syscalls the syscall ring's server ran without a VM exit (zero
    /// with [`SyscallPath::Exit`](super::SyscallPath::Exit)).
    pub ring_calls: u64,
    /// Syscalls the ring's stub took back and sent by exit instead: the
    /// server had not taken them within ~110 µs (~40 µs if it slept), or
    /// it slept and they were pipe reads or writes, which it runs only
    /// sometimes.
    pub ring_withdrawn: u64,
}

impl Outcome {
    /// The report of how pid 1 died, if it was killed.
    pub fn report(&self) -> Option<&str> {
        match self.status {
            ExitStatus::Killed(_) | ExitStatus::Dumped(_) => self.reports.last().map(String::as_str),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The name of `e`'s region (`.bss`, `heap`, a file's path, …).
    pub fn region_name(&self, e: &Event) -> &str {
        self.regions.name(e.region)
    }

    /// Captured stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Captured stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Linux's own counters for a run, as getrusage(2) keeps them: pid 1's
/// and those of the children it waited for (what wait4 gives a parent,
/// and `/usr/bin/time` prints). Its [`Display`](std::fmt::Display) is one
/// line in /usr/bin/time's words.
///
/// ```
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
/// let u = outcome.usage;
/// // Every fault of the program is a minor or major one.
/// assert_eq!(u.minor_faults + u.major_faults, outcome.summary.guest_faults() + 1);
/// assert!(u.to_string().contains("maxresident"));
/// # Ok::<(), faultline::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Faults served without reading anything in (ru_minflt).
    pub minor_faults: u64,
    /// Faults that read a file or swap (ru_majflt).
    pub major_faults: u64,
    /// The most resident at once, in KiB (ru_maxrss).
    pub max_resident_kib: u64,
    /// Times a thread blocked (ru_nvcsw).
    pub voluntary_switches: u64,
    /// Times a thread was preempted (ru_nivcsw).
    pub involuntary_switches: u64,
    /// Time in the program's own code.
    pub user: Duration,
    /// Time faultline's kernel spent for it.
    pub system: Duration,
    /// Wall time, start to end.
    pub elapsed: Duration,
}

impl std::fmt::Display for Usage {
    /// `0:00.21 elapsed, 0.01 user, 0.03 system; 3036 KiB maxresident; 9
    /// major + 120 minor pagefaults; 12 voluntary + 3 involuntary context
    /// switches`: what `/usr/bin/time -f '%E elapsed, %U user, %S system;
    /// %M KiB maxresident; %F major + %R minor pagefaults; %w voluntary +
    /// %c involuntary context switches'` prints for a native run.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.elapsed.as_secs_f64();
        let (h, m, s) = ((e / 3600.0) as u64, (e / 60.0) as u64 % 60, e % 60.0);
        let elapsed = if h > 0 { format!("{h}:{m:02}:{s:05.2}") } else { format!("{m}:{s:05.2}") };
        write!(
            f,
            "{elapsed} elapsed, {:.2} user, {:.2} system; {} KiB maxresident; {} major + {} minor pagefaults; {} \
             voluntary + {} involuntary context switches",
            self.user.as_secs_f64(),
            self.system.as_secs_f64(),
            self.max_resident_kib,
            self.major_faults,
            self.minor_faults,
            self.voluntary_switches,
            self.involuntary_switches
        )
    }
}
