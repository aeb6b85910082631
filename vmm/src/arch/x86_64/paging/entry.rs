//! A page-table entry's format: the permissions a program sees, the user
//! leaf entry, and the accessed/dirty bits reclaim reads.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{ACCESSED, ADDR_MASK, DIRTY, NX, PRESENT, SOFT_DIRTY, SOFT_GUARD, SOFT_NOACCESS, USER, WRITABLE};
use crate::memory::HostMapping;

/// Page permissions as a program sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perms {
    /// Permissions from the three bits.
    pub const fn new(read: bool, write: bool, exec: bool) -> Self {
        Perms { read, write, exec }
    }

    /// Read and write, not execute.
    pub const RW: Perms = Perms::new(true, true, false);

    /// What either allows.
    pub fn union(self, o: Perms) -> Perms {
        Perms::new(self.read | o.read, self.write | o.write, self.exec | o.exec)
    }

    /// Whether the page allows any access at all.
    pub fn any(self) -> bool {
        self.read || self.write || self.exec
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |b: bool, ch: char| if b { ch } else { '-' };
        write!(f, "{}{}{}", c(self.read, 'r'), c(self.write, 'w'), c(self.exec, 'x'))
    }
}

/// A user leaf entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pte(pub(super) u64);

impl Pte {
    /// An entry mapping `frame` with `perms`; `writable` may be narrower
    /// than `perms.write` (copy-on-write). No access at all keeps the frame
    /// in a non-present entry.
    pub fn user(frame: u64, perms: Perms, writable: bool) -> Pte {
        if !perms.any() {
            return Pte((frame & ADDR_MASK) | SOFT_NOACCESS);
        }
        let mut f = PRESENT | USER;
        if perms.write && writable {
            f |= WRITABLE;
        }
        if !perms.exec {
            f |= NX;
        }
        Pte((frame & ADDR_MASK) | f)
    }

    pub const NONE: Pte = Pte(0);
    /// A guard marker: no frame, no access.
    pub const GUARD: Pte = Pte(SOFT_GUARD);

    /// Whether this is a guard marker.
    pub fn is_guard(self) -> bool {
        self.0 & (PRESENT | SOFT_NOACCESS | SOFT_GUARD) == SOFT_GUARD
    }

    #[cfg(test)]
    pub fn raw(self) -> u64 {
        self.0
    }
    /// Whether a frame is assigned (accessible or not).
    pub fn mapped(self) -> bool {
        self.0 & (PRESENT | SOFT_NOACCESS) != 0
    }
    pub fn present(self) -> bool {
        self.0 & PRESENT != 0
    }
    pub fn frame(self) -> u64 {
        self.0 & ADDR_MASK
    }
    pub fn writable(self) -> bool {
        self.0 & (PRESENT | WRITABLE) == PRESENT | WRITABLE
    }
    pub fn user_accessible(self) -> bool {
        self.0 & (PRESENT | USER) == PRESENT | USER
    }
    pub fn accessed(self) -> bool {
        self.0 & ACCESSED != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & DIRTY != 0
    }
    /// The same entry with accessed/dirty carried over from `old`: they
    /// are the page's history, and reclaim must not lose that it was
    /// written.
    pub fn keeping_history(self, old: Pte) -> Pte {
        Pte(self.0 | (old.0 & (ACCESSED | DIRTY | SOFT_DIRTY)))
    }
    /// Written since clear_refs last cleaned it (or ever).
    pub fn soft_dirty(self) -> bool {
        self.0 & (DIRTY | SOFT_DIRTY) != 0
    }
    /// The same entry, soft-dirty if `old` was (a fork child's copy).
    pub fn keeping_soft_dirty(self, old: Pte) -> Pte {
        if old.soft_dirty() {
            Pte(self.0 | SOFT_DIRTY)
        } else {
            self
        }
    }
    /// clear_refs' soft-dirty clearing: not soft-dirty, not dirty (the
    /// caller keeps that in the frame), and read-only if `protect`, so the
    /// next write faults and marks it again.
    pub fn cleaned(self, protect: bool) -> Pte {
        let mut v = self.0 & !(DIRTY | SOFT_DIRTY);
        if protect {
            v &= !WRITABLE;
        }
        Pte(v)
    }
}

/// The leaf entry at `slot_offset` of the system slot, for reading and
/// clearing accessed/dirty bits (reclaim).
pub fn entry_at(mem: &HostMapping, slot_offset: u64) -> Option<&AtomicU64> {
    mem.atomic_u64(slot_offset)
}

/// Reads and clears the accessed and dirty bits of an entry; a dirty one
/// stays soft-dirty.
pub fn take_accessed_dirty(entry: &AtomicU64) -> (bool, bool) {
    let mut v = entry.load(Ordering::Acquire);
    loop {
        let mut new = v & !(ACCESSED | DIRTY);
        if v & DIRTY != 0 {
            new |= SOFT_DIRTY;
        }
        match entry.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => v = now,
        }
    }
    (v & ACCESSED != 0, v & DIRTY != 0)
}

/// Whether an entry is dirty, without clearing it.
pub fn peek_dirty(entry: &AtomicU64) -> bool {
    entry.load(Ordering::Acquire) & DIRTY != 0
}
