//! Files as the page cache knows them: an identity, where their bytes come
//! from and go back to, and the pages cached of each.

use std::sync::Arc;

/// A file's identity in the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// What the guest's page cache holds of a host file when the run starts:
/// its first read of a page it holds is a minor fault (`cache-hit`), of one
/// it does not a major one (`file-copy`), and fault-around maps only the
/// pages it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PageCache {
    /// Nothing: every file page's first read comes from the file, as after
    /// `echo 3 > /proc/sys/vm/drop_caches`. The library's default, so that
    /// counts do not depend on the host's memory.
    #[default]
    Cold,
    /// Every page, as if each file had been read just before.
    Warm,
    /// What the host's own page cache holds of each page when the guest
    /// first needs it, so that a run's major and minor faults and its
    /// fault-around are a native run's. The command line's default.
    Host,
}

impl std::str::FromStr for PageCache {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cold" => Ok(PageCache::Cold),
            "warm" => Ok(PageCache::Warm),
            "host" => Ok(PageCache::Host),
            _ => Err(format!("{s:?}: expected host, warm or cold")),
        }
    }
}

impl std::fmt::Display for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PageCache::Cold => "cold",
            PageCache::Warm => "warm",
            PageCache::Host => "host",
        })
    }
}

/// Where a cached file's bytes come from and go back to.
pub trait FileData: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer at end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Reads exactly `buf.len()` bytes at `offset`; past the end of file
    /// is an error (UnexpectedEof).
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(offset + done as u64, &mut buf[done..])? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
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
    /// Whether the host's page cache holds the page at `offset` now (a
    /// host file's: nothing else has one).
    fn in_host_cache(&self, _offset: u64) -> bool {
        false
    }
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
    /// Pages the cache held and let go (evicted): their next read comes
    /// from the file, whatever the cache held at the start ([`PageCache`]).
    pub dropped: std::collections::BTreeSet<u64>,
}

impl CachedFile {
    /// `data`'s pages, none cached yet.
    pub fn new(data: Arc<dyn FileData>) -> Self {
        CachedFile { data, pages: Default::default(), dropped: Default::default() }
    }
}
