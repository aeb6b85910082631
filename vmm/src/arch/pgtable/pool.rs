//! Where every address space's table pages come from.

use std::sync::Arc;

use super::PagingError;
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// Where page-table pages come from: a range of the system slot, handed out
/// once each.
pub struct TablePool {
    pub(super) mem: Arc<HostMapping>,
    pub(super) base_gpa: u64,
    start: u64,
    next: u64,
    end: u64,
    retired: u64,
}

impl TablePool {
    /// Table pages from slot offsets `[start, end)` of `mem` (mapped for
    /// the guest at `base_gpa`), which must be page-aligned (CR3, TTBRs and
    /// table entries hold 4 KiB-aligned addresses), zeroed and used for
    /// nothing else.
    pub fn new(mem: Arc<HostMapping>, base_gpa: u64, start: u64, end: u64) -> Self {
        let end = end.min(mem.len());
        TablePool { mem, base_gpa, start, next: start, end, retired: 0 }
    }

    /// `n` consecutive pages (a root is one or two), all or nothing.
    pub(super) fn alloc(&mut self, n: u64) -> Result<u64, PagingError> {
        if self.next + n * PAGE_SIZE > self.end {
            return Err(PagingError::PoolExhausted((self.end - self.start) / PAGE_SIZE));
        }
        let off = self.next;
        self.next += n * PAGE_SIZE;
        Ok(self.base_gpa + off)
    }

    /// Gives the host memory of tables no longer used back; their
    /// addresses are never handed out again.
    pub(super) fn retire(&mut self, tables: impl Iterator<Item = u64>) {
        for t in tables {
            let _ = self.mem.discard(t - self.base_gpa, PAGE_SIZE);
            self.retired += 1;
        }
    }

    /// Table pages in use by live address spaces.
    pub fn in_use(&self) -> u64 {
        (self.next - self.start) / PAGE_SIZE - self.retired
    }

    pub fn mem(&self) -> &Arc<HostMapping> {
        &self.mem
    }
}
