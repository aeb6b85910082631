//! The bytes behind a file of the view, as the page cache reads and writes
//! them: a host file's, or a fixed buffer's.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::arch::PAGE_SIZE as PAGE;
use crate::mm::FileData;

/// cachestat(2)'s number, the same on x86-64 and arm64 (the generic
/// table's), and its argument and result (include/uapi/linux/mman.h).
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// A host file's bytes, for the page cache: read-only, or read-write in a
/// read-write bind.
pub(super) struct HostFile {
    file: std::fs::File,
    size: AtomicU64,
    writable: bool,
}

impl HostFile {
    pub(super) fn new(file: std::fs::File, size: u64, writable: bool) -> Self {
        HostFile { file, size: AtomicU64::new(size), writable }
    }
}

impl FileData for HostFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.size();
        if offset >= size {
            return Ok(0);
        }
        let n = ((size - offset) as usize).min(buf.len());
        self.file.read_at(&mut buf[..n], offset)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> std::io::Result<()> {
        if !self.writable {
            return Err(std::io::Error::from_raw_os_error(libc::EROFS));
        }
        self.file.write_all_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    fn set_size(&self, size: u64) -> std::io::Result<()> {
        if !self.writable {
            return Err(std::io::Error::from_raw_os_error(libc::EROFS));
        }
        self.file.set_len(size)?;
        self.size.store(size, Ordering::Relaxed);
        Ok(())
    }

    fn memory_only(&self) -> bool {
        false
    }

    /// cachestat(2) (Linux 6.5) counts the page without touching it; on an
    /// older host, a read that may not wait for the disk (RWF_NOWAIT)
    /// succeeds in full only from the page cache (a miss may start the
    /// host's readahead, as the read that follows would).
    fn in_host_cache(&self, offset: u64) -> bool {
        use std::os::fd::AsRawFd;
        let want = self.size().saturating_sub(offset).min(PAGE) as usize;
        if want == 0 {
            return false;
        }
        // A host without cachestat says so once: no second call a probe.
        static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);
        let fd = self.file.as_raw_fd();
        if !NO_CACHESTAT.load(Ordering::Relaxed) {
            let range = CachestatRange { off: offset, len: PAGE };
            let mut stat = Cachestat::default();
            // SAFETY: cachestat reads `range` and writes `stat`, both ours.
            let r = unsafe { libc::syscall(SYS_CACHESTAT, fd, &range, &mut stat, 0) };
            if r == 0 {
                return stat.nr_cache == 1;
            }
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                NO_CACHESTAT.store(true, Ordering::Relaxed);
            }
        }
        let mut buf = [0u8; PAGE as usize];
        let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: want };
        // SAFETY: one iovec over `buf`, which outlives the call.
        let n = unsafe { libc::preadv2(fd, &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) };
        n == want as isize
    }

    fn unlinked(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
}

/// Bytes held in memory (the built-in demo program), read-only.
pub(crate) struct MemFile(pub(crate) Arc<[u8]>);

impl FileData for MemFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = (offset as usize).min(self.0.len());
        let n = (self.0.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EROFS))
    }

    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn memory_only(&self) -> bool {
        false
    }
}
