//! A descriptor's format: the permissions a program sees, the user page
//! descriptor, and the access flag and dirty state reclaim reads.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    ADDR_MASK, AF, AP_RDONLY, AP_USER, ATTR_NORMAL, DBM, NG, PXN, SH_INNER, SOFT_DIRTY, SOFT_GUARD, SOFT_NOACCESS,
    SW_DIRTY, TABLE, UXN, VALID,
};
use crate::memory::HostMapping;

/// What every valid page descriptor has: valid, a page (L3), normal
/// memory, inner shareable.
pub(super) const PAGE: u64 = VALID | TABLE | ATTR_NORMAL | SH_INNER;

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

/// A user page descriptor (L3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pte(pub(super) u64);

impl Pte {
    /// A descriptor mapping `frame` with `perms`; `writable` may be
    /// narrower than `perms.write` (copy-on-write). No access at all keeps
    /// the frame in an invalid descriptor. A writable page starts clean
    /// (DBM, AP[2] set) and unaccessed (AF clear): the CPU records both.
    ///
    /// Any access makes the page readable at EL0, exec-only included, as
    /// x86 must and Linux does without FEAT_EPAN: the kernel's
    /// access_error() counts a read of a present exec-only page as
    /// allowed, so an EL0 execute-only page would fault forever.
    pub fn user(frame: u64, perms: Perms, writable: bool) -> Pte {
        if !perms.any() {
            return Pte((frame & ADDR_MASK) | SOFT_NOACCESS);
        }
        let mut f = PAGE | NG | AP_USER | AP_RDONLY | PXN;
        if perms.write && writable {
            f |= DBM;
        }
        if !perms.exec {
            f |= UXN;
        }
        Pte((frame & ADDR_MASK) | f)
    }

    pub const NONE: Pte = Pte(0);
    /// A guard marker: no frame, no access.
    pub const GUARD: Pte = Pte(SOFT_GUARD);

    /// Whether this is a guard marker.
    pub fn is_guard(self) -> bool {
        self.0 & (VALID | SOFT_NOACCESS | SOFT_GUARD) == SOFT_GUARD
    }

    #[cfg(test)]
    pub fn raw(self) -> u64 {
        self.0
    }
    /// Whether a frame is assigned (accessible or not).
    pub fn mapped(self) -> bool {
        self.0 & (VALID | SOFT_NOACCESS) != 0
    }
    pub fn present(self) -> bool {
        self.0 & VALID != 0
    }
    pub fn frame(self) -> u64 {
        self.0 & ADDR_MASK
    }
    /// Whether a write is allowed now: AP[2] clear, or DBM (clean but
    /// writable: the write makes it dirty).
    pub fn writable(self) -> bool {
        self.present() && (self.0 & DBM != 0 || self.0 & AP_RDONLY == 0)
    }
    pub fn user_accessible(self) -> bool {
        self.0 & (VALID | AP_USER) == VALID | AP_USER
    }
    pub fn accessed(self) -> bool {
        self.0 & AF != 0
    }
    pub fn dirty(self) -> bool {
        is_dirty(self.0)
    }
    /// The same descriptor with the access flag and dirty state carried
    /// over from `old`: they are the page's history, and reclaim must not
    /// lose that it was written.
    pub fn keeping_history(self, old: Pte) -> Pte {
        let v = self.0 | (old.0 & (AF | SW_DIRTY | SOFT_DIRTY));
        Pte(if old.dirty() { with_dirty(v) } else { v })
    }
    /// Written since clear_refs last cleaned it (or ever).
    pub fn soft_dirty(self) -> bool {
        self.dirty() || self.0 & SOFT_DIRTY != 0
    }
    /// The same descriptor, soft-dirty if `old` was (a fork child's copy).
    pub fn keeping_soft_dirty(self, old: Pte) -> Pte {
        if old.soft_dirty() {
            Pte(self.0 | SOFT_DIRTY)
        } else {
            self
        }
    }
    /// clear_refs' soft-dirty clearing: not soft-dirty, clean (the caller
    /// keeps that in the frame), and read-only if `protect` (DBM cleared
    /// too), so the next write faults and marks it again.
    pub fn cleaned(self, protect: bool) -> Pte {
        let mut v = clean(self.0) & !SOFT_DIRTY;
        if protect && self.present() {
            v = (v & !DBM) | AP_RDONLY;
        }
        Pte(v)
    }

    /// Whether `self` and `new` translate alike, history (access flag,
    /// dirty state, soft-dirty) aside. If not, a TLB's copy of `self` is
    /// stale. AP[2] of a DBM page is dirty state, not permission.
    pub(super) fn same_translation(self, new: Pte) -> bool {
        let mut history = AF | SW_DIRTY | SOFT_DIRTY;
        if self.0 & new.0 & DBM != 0 {
            history |= AP_RDONLY;
        }
        (self.0 ^ new.0) & !history == 0
    }
}

/// Dirty: marked in software, or a DBM page the CPU made writable.
fn is_dirty(v: u64) -> bool {
    v & SW_DIRTY != 0 || v & (DBM | AP_RDONLY) == DBM
}

/// `v` made dirty, as Linux's pte_mkdirty(): in hardware form if the page
/// has DBM (so the entry is what the CPU's write would have left), else in
/// software.
fn with_dirty(v: u64) -> u64 {
    if v & DBM != 0 {
        v & !AP_RDONLY
    } else {
        v | SW_DIRTY
    }
}

/// `v` made clean: no software dirty, and AP[2] back on a DBM page so the
/// CPU records the next write.
fn clean(v: u64) -> u64 {
    let v = v & !SW_DIRTY;
    if v & DBM != 0 {
        v | AP_RDONLY
    } else {
        v
    }
}

/// The leaf descriptor at `slot_offset` of the system slot, for reading
/// and cleaning its access flag and dirty state (reclaim).
pub fn entry_at(mem: &HostMapping, slot_offset: u64) -> Option<&AtomicU64> {
    mem.atomic_u64(slot_offset)
}

/// Reads and clears the access flag and dirty state of a descriptor; a
/// dirty one stays soft-dirty. A compare-and-swap, so a write the CPU
/// makes meanwhile (its AP[2] update is atomic too) is never lost.
pub fn take_accessed_dirty(entry: &AtomicU64) -> (bool, bool) {
    let mut v = entry.load(Ordering::Acquire);
    loop {
        let mut new = clean(v) & !AF;
        if is_dirty(v) {
            new |= SOFT_DIRTY;
        }
        match entry.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => v = now,
        }
    }
    (v & AF != 0, is_dirty(v))
}

/// Whether a descriptor is dirty, without cleaning it.
pub fn peek_dirty(entry: &AtomicU64) -> bool {
    is_dirty(entry.load(Ordering::Acquire))
}
