//! What a frame is: what it holds when clean, how it counts in RSS,
//! whether its host page is there, and who maps it.

use smallvec::SmallVec;

use super::FileId;

/// An address space's identity, for the reverse map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MmId(pub u32);

/// What a frame holds when it is clean (not dirty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    Zero,
    /// Page `index` of a file in the page cache.
    File {
        file: FileId,
        index: u64,
    },
}

/// How a frame counts in RSS (Linux's MM_ANONPAGES, MM_FILEPAGES,
/// MM_SHMEMPAGES).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Anon,
    File,
    Shmem,
}

/// Whether a frame's host page is there, and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// Not backed: the next touch faults through userfaultfd.
    Absent,
    /// Backed by the host's shared zero page, write-protected through
    /// userfaultfd: a read of fresh anonymous memory, as Linux maps its zero
    /// page. Costs no memory; the first write is a copy-on-write fault.
    Zero,
    /// Backed by a page of its own.
    Resident,
    /// Evicted; its contents wait in this swap slot.
    Swapped(u32),
}

/// One page-table entry mapping a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub mm: MmId,
    pub va: u64,
    /// Slot offset of the entry (for its accessed/dirty bits).
    pub pte: u64,
}

#[derive(Clone, Debug)]
pub struct Frame {
    pub kind: FrameKind,
    pub residency: Residency,
    /// The contents differ from `content`: evicting must save them.
    pub dirty: bool,
    pub content: Content,
    /// Every page-table entry that maps the frame.
    pub maps: SmallVec<[Mapping; 1]>,
    /// Held by the page cache.
    pub cached: bool,
    /// Mappings of it in VM_LOCKED areas: never evicted while > 0.
    pub mlocks: u32,
    /// Pinned by the sandbox (`--pin`): never evicted.
    pub pinned: bool,
    /// Pinned while the VMM copies to or from it.
    pub io_pins: u32,
    /// Has an entry in the CLOCK queue (one at most), with this generation.
    pub clock_gen: Option<u64>,
    /// The page of RAM it holds while resident (`None` otherwise, or when
    /// RAM was exhausted: untrapped memory can outgrow it).
    pub pfn: Option<u32>,
}

impl Frame {
    pub(super) fn new(kind: FrameKind, content: Content) -> Self {
        Frame {
            kind,
            residency: Residency::Absent,
            dirty: false,
            content,
            maps: SmallVec::new(),
            cached: false,
            mlocks: 0,
            pinned: false,
            io_pins: 0,
            clock_gen: None,
            pfn: None,
        }
    }

    /// Whether reclaim may take it away.
    pub fn evictable(&self) -> bool {
        self.residency == Residency::Resident && self.mlocks == 0 && !self.pinned && self.io_pins == 0
    }
}
