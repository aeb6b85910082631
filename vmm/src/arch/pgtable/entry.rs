//! The permissions a program sees, the user leaf entry in a [`Format`],
//! and the accessed and dirty state reclaim reads.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Format;
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

/// A user leaf entry in format `F`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Pte<F: Format>(u64, PhantomData<F>);

/// As a plain `Pte(raw)`: the format is the type's, not the value's.
impl<F: Format> std::fmt::Debug for Pte<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pte").field(&self.0).finish()
    }
}

impl<F: Format> Pte<F> {
    /// An entry mapping `frame` with `perms`; `writable` may be narrower
    /// than `perms.write` (copy-on-write). No access at all keeps the frame
    /// in an entry that is not valid.
    pub fn user(frame: u64, perms: Perms, writable: bool) -> Self {
        if !perms.any() {
            return Self::from_raw((frame & F::ADDR_MASK) | F::SOFT_NOACCESS);
        }
        Self::from_raw((frame & F::ADDR_MASK) | F::user_page(perms.write && writable, perms.exec))
    }

    pub const NONE: Self = Self::from_raw(0);
    /// A guard marker: no frame, no access.
    pub const GUARD: Self = Self::from_raw(F::SOFT_GUARD);

    pub(in crate::arch) const fn from_raw(v: u64) -> Self {
        Pte(v, PhantomData)
    }
    pub(in crate::arch) const fn bits(self) -> u64 {
        self.0
    }

    /// Whether this is a guard marker.
    pub fn is_guard(self) -> bool {
        self.0 & (F::VALID | F::SOFT_NOACCESS | F::SOFT_GUARD) == F::SOFT_GUARD
    }

    #[cfg(test)]
    pub fn raw(self) -> u64 {
        self.0
    }
    /// Whether a frame is assigned (accessible or not).
    pub fn mapped(self) -> bool {
        self.0 & (F::VALID | F::SOFT_NOACCESS) != 0
    }
    pub fn present(self) -> bool {
        self.0 & F::VALID != 0
    }
    pub fn frame(self) -> u64 {
        self.0 & F::ADDR_MASK
    }
    pub fn writable(self) -> bool {
        F::writable(self.0)
    }
    pub fn user_accessible(self) -> bool {
        self.0 & (F::VALID | F::USER) == F::VALID | F::USER
    }
    pub fn accessed(self) -> bool {
        self.0 & F::ACCESSED != 0
    }
    pub fn dirty(self) -> bool {
        F::is_dirty(self.0)
    }
    /// The same entry with the accessed bit and dirty state carried over
    /// from `old`: they are the page's history, and reclaim must not lose
    /// that it was written.
    pub fn keeping_history(self, old: Self) -> Self {
        let v = self.0 | (old.0 & F::HISTORY);
        Self::from_raw(if old.dirty() { F::with_dirty(v) } else { v })
    }
    /// Written since clear_refs last cleaned it (or ever).
    pub fn soft_dirty(self) -> bool {
        self.dirty() || self.0 & F::SOFT_DIRTY != 0
    }
    /// The same entry, soft-dirty if `old` was (a fork child's copy).
    pub fn keeping_soft_dirty(self, old: Self) -> Self {
        if old.soft_dirty() {
            Self::from_raw(self.0 | F::SOFT_DIRTY)
        } else {
            self
        }
    }
    /// clear_refs' soft-dirty clearing: not soft-dirty, clean (the caller
    /// keeps that in the frame), and read-only if `protect`, so the next
    /// write faults and marks it again.
    pub fn cleaned(self, protect: bool) -> Self {
        let v = F::clean(self.0) & !F::SOFT_DIRTY;
        Self::from_raw(if protect { F::write_protect(v) } else { v })
    }
}

/// The leaf entry at `slot_offset` of the system slot, for reading and
/// cleaning its accessed and dirty state (reclaim).
pub fn entry_at(mem: &HostMapping, slot_offset: u64) -> Option<&AtomicU64> {
    mem.atomic_u64(slot_offset)
}

/// Reads and clears the accessed bit and dirty state of an entry; a dirty
/// one stays soft-dirty. A compare-and-swap, so a write the CPU records
/// meanwhile is never lost.
pub fn take_accessed_dirty<F: Format>(entry: &AtomicU64) -> (bool, bool) {
    let mut v = entry.load(Ordering::Acquire);
    loop {
        let mut new = F::clean(v) & !F::ACCESSED;
        if F::is_dirty(v) {
            new |= F::SOFT_DIRTY;
        }
        match entry.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => v = now,
        }
    }
    (v & F::ACCESSED != 0, F::is_dirty(v))
}

/// Whether an entry is dirty, without cleaning it.
pub fn peek_dirty<F: Format>(entry: &AtomicU64) -> bool {
    F::is_dirty(entry.load(Ordering::Acquire))
}
