//! Files as the page cache knows them: an identity, where their bytes come
//! from and go back to, and the pages cached of each.

use std::sync::Arc;

/// A file's identity in the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// Where a cached file's bytes come from and go back to.
pub trait FileData: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer at end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Writes back (dirty page cache pages of a writable file).
    fn write_at(&self, offset: u64, buf: &[u8]) -> std::io::Result<()>;
    /// Its size now, in bytes.
    fn size(&self) -> u64;
    /// Changes its size (truncate, a write past the end); read-only files
    /// refuse.
    fn set_size(&self, _size: u64) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EROFS))
    }
    /// Pages that live only in memory (shared anonymous memory, files the
    /// sandbox wrote): never dropped when clean, swapped when evicted.
    fn memory_only(&self) -> bool;
    /// The file has no name left on its file system (a host file unlinked
    /// while the sandbox held it): its pages go at the last close or unmap,
    /// as the last iput of an unlinked inode drops its page cache.
    fn unlinked(&self) -> bool {
        false
    }
}

/// A cached file: its pages in memory, and where they come from.
pub struct CachedFile {
    pub data: Arc<dyn FileData>,
    pub pages: std::collections::BTreeMap<u64, u64>,
}
