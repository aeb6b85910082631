//! Timeline events.

use crate::mm::RegionId;

/// How the page was touched, as the fault reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    /// Not a touch: the page was brought in ahead of use.
    None,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::None => "none",
        }
    }
}

/// Why a page was brought in before anyone touched it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefault {
    /// MAP_POPULATE.
    Populate,
    /// mlock, mlock2, mlockall, MAP_LOCKED.
    Mlock,
    /// madvise(MADV_WILLNEED).
    WillNeed,
    /// `--pin` at load.
    Pin,
}

/// What happened to the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Backed with zeroes.
    ZeroFill,
    /// Backed with bytes of the ELF file.
    FileCopy,
    /// Backed ahead of use.
    Prefault(Prefault),
    /// Brought back from swap.
    SwapIn,
    /// Taken away by reclaim (to swap, or dropped if clean).
    Evict,
    /// Memory ran out here: the program was killed.
    OomKill,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ZeroFill => "zero-fill",
            EventKind::FileCopy => "file-copy",
            EventKind::Prefault(Prefault::Populate) => "prefault-populate",
            EventKind::Prefault(Prefault::Mlock) => "prefault-mlock",
            EventKind::Prefault(Prefault::WillNeed) => "prefault-willneed",
            EventKind::Prefault(Prefault::Pin) => "prefault-pin",
            EventKind::SwapIn => "swap-in",
            EventKind::Evict => "evict",
            EventKind::OomKill => "oom-kill",
        }
    }
}

/// Who caused the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// The program, through its own memory accesses.
    Guest,
    /// The VMM, acting for the program (building its stack, reading a
    /// `write()` buffer) or on its memory (reclaim). Recorded, but not
    /// counted as the program's faults.
    Vmm,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Guest => "guest",
            Origin::Vmm => "vmm",
        }
    }
}

/// One row of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    /// Nanoseconds since the program started.
    pub time_ns: u64,
    /// `None` for a page no region owns (never expected; kept visible).
    pub region: Option<RegionId>,
    pub gva: u64,
    pub gpa: u64,
    pub access: Access,
    pub kind: EventKind,
    /// From reading the fault to the page being in place.
    pub latency_ns: u64,
    pub origin: Origin,
}

impl Event {
    /// An event about one page; `seq` and `time_ns` are set when it is
    /// recorded.
    pub fn page(
        region: Option<RegionId>,
        gva: u64,
        gpa: u64,
        access: Access,
        kind: EventKind,
        origin: Origin,
        latency_ns: u64,
    ) -> Self {
        Event { seq: 0, time_ns: 0, region, gva, gpa, access, kind, latency_ns, origin }
    }
}
