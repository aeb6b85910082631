//! Timeline events.

use super::{RegionId, Stack};

/// How the page was touched, as the fault reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// A load (or an instruction fetch).
    Read,
    /// A store.
    Write,
    /// Not a touch: the page was brought in ahead of use, or taken away.
    None,
}

impl Access {
    /// The timeline CSV's word for it.
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
    /// MAP_POPULATE, MADV_POPULATE_*.
    Populate,
    /// mlock, mlock2, mlockall, MAP_LOCKED.
    Mlock,
    /// madvise(MADV_WILLNEED).
    WillNeed,
    /// `--pin`.
    Pin,
}

/// What happened to the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Anonymous memory's first touch: a read maps the shared zero page, a
    /// write gets a private zeroed page.
    ZeroFill,
    /// The file's bytes were read in (Linux's major fault).
    FileCopy,
    /// A file page already in the page cache was mapped (a minor fault).
    CacheHit,
    /// A write to a page shared copy-on-write (after fork, the zero page,
    /// a private file page) gave the writer its own copy.
    Cow,
    /// A write to a page that was shared copy-on-write but is now the
    /// writer's alone (the other sharers copied it, exited or exec'd):
    /// made writable in place, no copy (Linux's wp_page_reuse). A minor
    /// fault that adds no memory.
    CowReuse,
    /// Backed ahead of use.
    Prefault(Prefault),
    /// Brought back from swap.
    SwapIn,
    /// Mapped along with a read fault on a neighbouring page of the same
    /// file mapping (`--fault-around`, Linux's do_fault_around): the page
    /// was in the page cache, no I/O, and no fault of its own.
    FaultAround,
    /// Taken away by reclaim (to swap, or dropped if clean).
    Evict,
    /// Memory ran out: this process was killed.
    OomKill,
    /// The process stopped mapping a resident page (munmap, MADV_DONTNEED
    /// or FREE, brk shrinking, MAP_FIXED or mremap over it): its RSS drops.
    Release,
    /// The fault was not resolved: the program's handler gets this signal
    /// (si_code `code`), and the access is retried after it returns.
    Signal {
        /// The signal number.
        signo: u8,
        /// Its si_code.
        code: i32,
    },
    /// A new process (fork, vfork, clone without CLONE_THREAD): `pid` is
    /// the child, `parent` its parent, `rss` the child's resident pages
    /// (the pages it shares with its parent, counted as Linux counts them).
    Fork,
    /// A new thread of process `pid`: `tid` is the thread, `parent` the
    /// thread that made it.
    Clone,
    /// Process `pid` became a new program (execve): `comm` its new name,
    /// `rss` the new image's resident pages.
    Exec,
    /// Process `pid` ended (its last thread gone): `rss` is 0, its memory
    /// given back.
    Exit,
}

impl EventKind {
    /// The timeline CSV's word for it (`zero-fill`, `cow`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ZeroFill => "zero-fill",
            EventKind::FileCopy => "file-copy",
            EventKind::CacheHit => "cache-hit",
            EventKind::Cow => "cow",
            EventKind::CowReuse => "cow-reuse",
            EventKind::Prefault(Prefault::Populate) => "prefault-populate",
            EventKind::Prefault(Prefault::Mlock) => "prefault-mlock",
            EventKind::Prefault(Prefault::WillNeed) => "prefault-willneed",
            EventKind::Prefault(Prefault::Pin) => "prefault-pin",
            EventKind::SwapIn => "swap-in",
            EventKind::FaultAround => "fault-around",
            EventKind::Evict => "evict",
            EventKind::OomKill => "oom-kill",
            EventKind::Release => "release",
            EventKind::Signal { .. } => "signal",
            EventKind::Fork => "fork",
            EventKind::Clone => "clone",
            EventKind::Exec => "exec",
            EventKind::Exit => "exit",
        }
    }

    /// Every kind, for parsing.
    pub const ALL: [EventKind; 18] = [
        EventKind::ZeroFill,
        EventKind::FileCopy,
        EventKind::CacheHit,
        EventKind::Cow,
        EventKind::CowReuse,
        EventKind::Prefault(Prefault::Populate),
        EventKind::Prefault(Prefault::Mlock),
        EventKind::Prefault(Prefault::WillNeed),
        EventKind::Prefault(Prefault::Pin),
        EventKind::SwapIn,
        EventKind::FaultAround,
        EventKind::Evict,
        EventKind::OomKill,
        EventKind::Release,
        EventKind::Fork,
        EventKind::Clone,
        EventKind::Exec,
        EventKind::Exit,
    ];

    /// Whether a guest touch behind this event is one of the program's
    /// page faults.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            EventKind::ZeroFill
                | EventKind::FileCopy
                | EventKind::CacheHit
                | EventKind::Cow
                | EventKind::CowReuse
                | EventKind::SwapIn
        )
    }

    /// Whether it is a row about a process's or thread's life rather than
    /// a page: `fork`, `clone`, `exec`, `exit`.
    pub fn is_lifecycle(self) -> bool {
        matches!(self, EventKind::Fork | EventKind::Clone | EventKind::Exec | EventKind::Exit)
    }

    /// Whether it is a major fault (the data had to be read in).
    pub fn is_major(self) -> bool {
        matches!(self, EventKind::FileCopy | EventKind::SwapIn)
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
    /// The timeline CSV's word for it.
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
    /// The row's number, from 0, in the order recorded.
    pub seq: u64,
    /// Nanoseconds since the program started.
    pub time_ns: u64,
    /// The region the page is in.
    pub region: RegionId,
    /// The page's guest-virtual address.
    pub gva: u64,
    /// The guest-physical frame backing it (0 if none).
    pub gpa: u64,
    /// How it was touched.
    pub access: Access,
    /// What happened to it.
    pub kind: EventKind,
    /// From reading the fault to the page being in place.
    pub latency_ns: u64,
    /// Who caused it.
    pub origin: Origin,
    /// The process whose page it is, and the thread that caused it (for
    /// the VMM's own events: the thread it acted for, or 0).
    pub pid: u32,
    /// See `pid`.
    pub tid: u32,
    /// The process's resident pages after this row: resident memory over
    /// time is this column.
    pub rss: u64,
    /// The guest instruction that faulted; 0 where none did (the VMM's
    /// rows, prefaults, releases) or where it could not be read (a fault
    /// that reached userfaultfd from inside KVM_RUN: see README).
    pub ip: u64,
    /// `function+0xoff` (or `object+0xoff`) for `ip`.
    pub symbol: Option<std::sync::Arc<str>>,
    /// Start of the mapping (VMA) holding `gva`; 0 if none does now.
    pub mapping: u64,
    /// The call stack of the fault, where it came with registers (see
    /// `ip`) and the sandbox unwinds (`--folded`, `--flamegraph`,
    /// `--report`, [`SandboxBuilder::stacks`](crate::SandboxBuilder::stacks)).
    pub stack: Option<Stack>,
    /// Lifecycle rows: the parent process (`fork`, `exec`, `exit`) or the
    /// thread that made this one (`clone`); 0 otherwise.
    pub parent: u32,
    /// Lifecycle rows: the process's name (`comm`) then; `None` otherwise.
    pub comm: Option<std::sync::Arc<str>>,
    /// The whole sandbox's resident pages after this row (every process's
    /// pages, a shared page once, and the page cache): what `--mem` and
    /// `--rss-limit` cap.
    pub sandbox_rss: u64,
    /// Pages in the swap store after this row.
    pub swap: u64,
}

impl Event {
    /// A row about page `gva` (frame `gpa`): the recorder numbers and times
    /// it, and the kernel fills in the process's RSS, the mapping and the
    /// faulting instruction. Callers set who and how long with struct
    /// update syntax.
    pub(crate) fn new(kind: EventKind, access: Access, origin: Origin, region: RegionId, gva: u64, gpa: u64) -> Event {
        Event {
            seq: 0,
            time_ns: 0,
            region,
            gva,
            gpa,
            access,
            kind,
            latency_ns: 0,
            origin,
            pid: 0,
            tid: 0,
            rss: 0,
            ip: 0,
            symbol: None,
            mapping: 0,
            stack: None,
            parent: 0,
            comm: None,
            sandbox_rss: 0,
            swap: 0,
        }
    }

    /// Whether this row is one of the program's own page faults.
    pub fn is_guest_fault(&self) -> bool {
        self.origin == Origin::Guest && self.access != Access::None && self.kind.is_fault()
    }
}
