//! Host memory: the anonymous mappings that back guest-physical memory
//! (guest RAM, the system structures). The lowest layer: page tables, KVM
//! memory slots and the frame allocator all sit on it.

use std::io;

use vm_memory::{MmapRegion, VolatileMemory};

/// The host would not map the memory.
#[derive(Debug, thiserror::Error)]
#[error("cannot map {size} bytes of host memory for guest {what}: {source}")]
pub struct MmapError {
    pub what: &'static str,
    pub size: u64,
    #[source]
    pub source: io::Error,
}

/// A private anonymous host mapping, reserved but not populated
/// (MAP_NORESERVE): pages exist only once something touches them.
pub struct HostMapping {
    region: MmapRegion,
}

impl HostMapping {
    pub fn new(what: &'static str, size: u64) -> Result<Self, MmapError> {
        let len = usize::try_from(size).map_err(|_| MmapError {
            what,
            size,
            source: io::Error::from_raw_os_error(libc::EOVERFLOW),
        })?;
        let region = MmapRegion::build(
            None,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        )
        .map_err(|e| MmapError { what, size, source: io::Error::other(e.to_string()) })?;
        Ok(HostMapping { region })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }

    pub fn len(&self) -> u64 {
        self.region.size() as u64
    }

    /// The 8-byte word at `offset` as an atomic, if it lies wholly inside
    /// the mapping and is aligned: the one way page-table entries are
    /// reached, so no unchecked offset ever becomes a host pointer.
    pub fn atomic_u64(&self, offset: u64) -> Option<&std::sync::atomic::AtomicU64> {
        self.region.get_atomic_ref::<std::sync::atomic::AtomicU64>(usize::try_from(offset).ok()?).ok()
    }

    /// `count` 8-byte words from `offset` as atomics (shared with the guest:
    /// the syscall ring's mailboxes), if they lie wholly inside the mapping
    /// and are aligned.
    pub fn atomic_u64s(&self, offset: u64, count: usize) -> Option<&[std::sync::atomic::AtomicU64]> {
        let off = usize::try_from(offset).ok()?;
        let end = off.checked_add(count.checked_mul(8)?)?;
        if !off.is_multiple_of(8) || end as u64 > self.len() {
            return None;
        }
        // SAFETY: the range lies inside the mapping, which lives as long as
        // `self`, and is 8-byte aligned; AtomicU64 has u64's layout, and
        // every access through it is atomic, so the guest writing the same
        // words concurrently is no data race on our side.
        Some(unsafe { std::slice::from_raw_parts(self.as_ptr().add(off).cast(), count) })
    }

    /// Copies `buf` into the mapping at `offset`. The caller guarantees the
    /// pages are backed (or not registered with userfaultfd).
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<(), vm_memory::VolatileMemoryError> {
        let s = self.region.get_slice(offset as usize, buf.len())?;
        s.copy_from(buf);
        Ok(())
    }

    /// Copies from the mapping at `offset` into `buf`; same caveat as
    /// [`HostMapping::write`].
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), vm_memory::VolatileMemoryError> {
        let s = self.region.get_slice(offset as usize, buf.len())?;
        s.copy_to(buf);
        Ok(())
    }

    /// Makes KVM forget its mappings of these pages (see
    /// [`protection_round_trip`]): for memory userfaultfd does not
    /// write-protect (the syscall ring's).
    pub fn invalidate(&self, offset: u64, len: u64) -> io::Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: the range is inside our own mapping.
        unsafe { protection_round_trip(self.as_ptr().add(offset as usize) as u64, len) }
    }

    /// Gives pages back to the host: the next touch faults (through
    /// userfaultfd where registered) and reads zeroes.
    pub fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: the range is inside our own mapping.
        let r = unsafe { libc::madvise(self.as_ptr().add(offset as usize).cast(), len as usize, libc::MADV_DONTNEED) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Makes KVM forget its mappings of `[addr, addr + len)` (its MMU notifier
/// runs on any protection change) without touching their contents: a
/// protection round trip. The guest's next access is walked afresh.
///
/// The round trip only ever adds a right (execute, which nothing of the
/// host uses): taking write away, even for a moment, would make a vCPU
/// writing the page meanwhile fail KVM_RUN with EFAULT.
///
/// It splits the host's mapping for a moment, and splitting a mapping
/// inside a 2 MiB block makes Linux notify the whole block
/// (`__split_huge_pmd` does, huge page or not): KVM forgets 512 pages for
/// each one asked. Guest RAM write-protected by userfaultfd takes the
/// exact way instead (`Uffd::invalidate`).
///
/// # Safety
/// The range must be host memory of this process that stays read-write
/// and is not executed.
pub unsafe fn protection_round_trip(addr: u64, len: u64) -> io::Result<()> {
    if let Some(errno) = crate::inject::hit(crate::inject::Point::HostFlush) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    let p = addr as *mut libc::c_void;
    // SAFETY: the caller's range; it ends read-write, as it began.
    unsafe {
        if libc::mprotect(p, len as usize, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) != 0
            || libc::mprotect(p, len as usize, libc::PROT_READ | libc::PROT_WRITE) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
