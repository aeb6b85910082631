//! The kernel's one door to the host pages behind guest RAM: putting a
//! page's data in place, mapping the zero page, write-protecting and waking
//! (what userfaultfd's ioctls do). The VMM's backing is the real
//! userfaultfd ([`Uffd`]); the kernel's unit tests use [`MemBacking`],
//! which writes the pages directly and needs neither userfaultfd nor KVM.

use super::uffd::{Uffd, UffdError};

/// What backs guest RAM on the host.
pub trait Backing: Send + Sync {
    /// Puts `page` at host address `dst` (inside guest RAM) and wakes a
    /// thread waiting on it.
    fn copy(&self, dst: u64, page: &[u8]) -> Result<(), UffdError>;
    /// Maps the shared zero page at `dst`, write-protected so that the
    /// first write is seen, and wakes a waiter (only with [`has_wp`]).
    ///
    /// [`has_wp`]: Backing::has_wp
    fn zeropage_wp(&self, dst: u64, len: u64) -> Result<(), UffdError>;
    /// Sets or clears write protection; clearing it wakes a waiter unless
    /// `dontwake`.
    fn writeprotect(&self, dst: u64, len: u64, protect: bool, dontwake: bool) -> Result<(), UffdError>;
    /// Wakes threads waiting on `[start, start + len)`.
    fn wake(&self, start: u64, len: u64) -> Result<(), UffdError>;
    /// Makes the MMU forget its translations of `[dst, dst + len)`,
    /// contents kept; write-protected after only if `protected` (it was
    /// and stays so).
    fn invalidate(&self, dst: u64, len: u64, protected: bool) -> Result<(), UffdError>;
    /// Whether write protection (and so the zero page) is available.
    fn has_wp(&self) -> bool;
}

impl Backing for Uffd {
    fn copy(&self, dst: u64, page: &[u8]) -> Result<(), UffdError> {
        Uffd::copy(self, dst, page)
    }

    fn zeropage_wp(&self, dst: u64, len: u64) -> Result<(), UffdError> {
        Uffd::zeropage_wp(self, dst, len)
    }

    fn writeprotect(&self, dst: u64, len: u64, protect: bool, dontwake: bool) -> Result<(), UffdError> {
        Uffd::writeprotect(self, dst, len, protect, dontwake)
    }

    fn wake(&self, start: u64, len: u64) -> Result<(), UffdError> {
        Uffd::wake(self, start, len)
    }

    fn invalidate(&self, dst: u64, len: u64, protected: bool) -> Result<(), UffdError> {
        Uffd::invalidate(self, dst, len, protected)
    }

    fn has_wp(&self) -> bool {
        Uffd::has_wp(self)
    }
}

/// Guest RAM backed directly in memory, for tests of the kernel's rules
/// without userfaultfd or KVM: a copy writes the page, the zero page is a
/// page of zeroes, and what is write-protected is only remembered (no
/// guest runs to write it).
#[cfg(test)]
#[derive(Default)]
pub struct MemBacking {
    protected: parking_lot::Mutex<std::collections::BTreeSet<u64>>,
    /// Pages put in place, for tests to count.
    pub copies: std::sync::atomic::AtomicU64,
    /// Invalidations asked for, for tests to count.
    pub invalidations: std::sync::atomic::AtomicU64,
}

#[cfg(test)]
impl MemBacking {
    /// Whether the page at host address `page` is write-protected.
    pub fn protected(&self, page: u64) -> bool {
        self.protected.lock().contains(&page)
    }
}

#[cfg(test)]
impl Backing for MemBacking {
    fn copy(&self, dst: u64, page: &[u8]) -> Result<(), UffdError> {
        // SAFETY: the kernel passes host addresses of its own guest RAM
        // mapping, with room for the page.
        unsafe { std::ptr::copy_nonoverlapping(page.as_ptr(), dst as *mut u8, page.len()) };
        self.copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn zeropage_wp(&self, dst: u64, len: u64) -> Result<(), UffdError> {
        // SAFETY: as for `copy`: `len` bytes of guest RAM at `dst`.
        unsafe { std::ptr::write_bytes(dst as *mut u8, 0, len as usize) };
        self.writeprotect(dst, len, true, true)
    }

    fn writeprotect(&self, dst: u64, len: u64, protect: bool, _dontwake: bool) -> Result<(), UffdError> {
        let mut p = self.protected.lock();
        for page in (dst..dst + len).step_by(crate::arch::PAGE_SIZE as usize) {
            if protect {
                p.insert(page);
            } else {
                p.remove(&page);
            }
        }
        Ok(())
    }

    fn wake(&self, _start: u64, _len: u64) -> Result<(), UffdError> {
        Ok(())
    }

    fn invalidate(&self, dst: u64, len: u64, protected: bool) -> Result<(), UffdError> {
        // No MMU caches these pages: nothing to forget; protection ends
        // as userfaultfd's round trip leaves it.
        self.invalidations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if protected {
            self.writeprotect(dst, len, true, true)
        } else {
            self.writeprotect(dst, len, false, false)
        }
    }

    fn has_wp(&self) -> bool {
        true
    }
}
