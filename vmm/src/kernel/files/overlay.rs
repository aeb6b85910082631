//! The sandbox's writable layer over the read-only root, as overlayfs's
//! upper directory: files, directories and symlinks the program made or
//! changed, and whiteouts for what it removed, as a tree of directories. It lives in memory and
//! vanishes at exit; the host's files never change. A file's bytes are
//! page-cache pages of shared memory (shmem), so they count against
//! `--mem` and are swapped, never dropped, when dirty.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::vfs::Meta;
use crate::kernel::abi::stat::{S_IFDIR, S_IFMT};
use crate::kernel::errno::{Errno, ENOSPC};
use crate::mm::{FileData, FileId};

/// A sandbox file's bytes: its page-cache pages. A page never written
/// reads from the host file it was copied up from (below `limit`, which a
/// truncation lowers) and as zeroes elsewhere, so copy-up costs nothing
/// until pages are touched.
pub(crate) struct MemData {
    size: AtomicU64,
    lower: Option<(std::fs::File, AtomicU64)>,
}

impl MemData {
    pub(crate) fn empty() -> Self {
        MemData { size: AtomicU64::new(0), lower: None }
    }

    /// A copy of host file `file` (`size` bytes).
    pub(crate) fn over(file: std::fs::File, size: u64) -> Self {
        MemData { size: AtomicU64::new(size), lower: Some((file, AtomicU64::new(size))) }
    }
}

impl FileData for MemData {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.size();
        if offset >= size {
            return Ok(0);
        }
        let n = ((size - offset) as usize).min(buf.len());
        let buf = &mut buf[..n];
        let mut got = 0;
        if let Some((f, limit)) = &self.lower {
            let limit = limit.load(Ordering::Relaxed);
            let want = (limit.saturating_sub(offset) as usize).min(n);
            while got < want {
                let r = f.read_at(&mut buf[got..want], offset + got as u64)?;
                if r == 0 {
                    break;
                }
                got += r;
            }
        }
        buf[got..].fill(0);
        Ok(n)
    }

    fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
        // The pages are the file: nothing to write them to.
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    fn set_size(&self, size: u64) -> std::io::Result<()> {
        self.size.store(size, Ordering::Relaxed);
        if let Some((_, limit)) = &self.lower {
            limit.fetch_min(size, Ordering::Relaxed);
        }
        Ok(())
    }

    fn memory_only(&self) -> bool {
        true
    }
}

/// What a sandbox inode is.
pub(crate) enum Body {
    File {
        id: FileId,
        data: Arc<dyn FileData>,
    },
    /// A directory of the layer: opaque (nothing of the host shows below
    /// it).
    Dir(Names),
    Symlink(String),
    /// A node with no contents of its own (a socket's name): its mode
    /// says what it is.
    Special,
}

/// A name in a directory of the layer.
#[derive(Clone)]
pub(crate) enum Entry {
    Node(Arc<Inode>),
    /// Removed: the host's file of this name is hidden.
    Whiteout,
}

/// The names of one directory of the layer, or of the layer's changes
/// over one host directory. Each directory keeps its own names, so a
/// lookup costs one step per component whatever the depth.
#[derive(Default)]
pub(crate) struct Names(Mutex<BTreeMap<String, Entry>>);

impl Names {
    pub(crate) fn get(&self, name: &str) -> Option<Entry> {
        self.0.lock().get(name).cloned()
    }

    pub(crate) fn insert(&self, name: &str, e: Entry) {
        self.0.lock().insert(name.to_owned(), e);
    }

    pub(crate) fn remove(&self, name: &str) -> Option<Entry> {
        self.0.lock().remove(name)
    }

    /// Every name, whiteouts included, in order.
    pub(crate) fn list(&self) -> Vec<(String, Entry)> {
        self.0.lock().iter().map(|(k, e)| (k.clone(), e.clone())).collect()
    }

    /// Whether any name is a file, directory or symlink (not a whiteout).
    pub(crate) fn has_nodes(&self) -> bool {
        self.0.lock().values().any(|e| matches!(e, Entry::Node(_)))
    }
}

/// How much of the layer is in use: inodes and the bytes of symlink
/// targets, kept by the objects themselves (an inode counts until its last
/// reference goes, wherever that happens). The kernel charges it to RAM
/// (`KernelState::charge_layer`).
#[derive(Default)]
pub(crate) struct Usage {
    pub(crate) inodes: AtomicU64,
    /// kmalloc's bytes for the short symlink targets held.
    pub(crate) bytes: AtomicU64,
    /// Long symlinks: each holds a page of the file system's blocks, as
    /// shmem stores a target that does not fit in the inode.
    pub(crate) symlink_pages: AtomicU64,
}

/// A target shorter than this lives in the inode (SHORT_SYMLINK_LEN).
pub(crate) const SHORT_SYMLINK_LEN: usize = 128;

/// An inode of the layer; hard links share it.
pub(crate) struct Inode {
    pub(crate) meta: Mutex<Meta>,
    pub(crate) body: Body,
    /// memfd seals (F_SEAL_*), and whether more may be added.
    pub(crate) seals: Mutex<u32>,
    /// The mount it is on: 0 for the layer over the root, a tmpfs's id
    /// (`Vfs::mount_tmpfs`) for that tmpfs's.
    pub(crate) mount: usize,
    usage: Arc<Usage>,
}

impl std::fmt::Debug for Inode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inode({})", self.meta.lock().ino)
    }
}

impl Drop for Inode {
    fn drop(&mut self) {
        self.usage.inodes.fetch_sub(1, Ordering::Relaxed);
        if let Body::Symlink(t) = &self.body {
            if t.len() >= SHORT_SYMLINK_LEN {
                self.usage.symlink_pages.fetch_sub(1, Ordering::Relaxed);
            } else {
                self.usage.bytes.fetch_sub(target_bytes(t), Ordering::Relaxed);
            }
        }
    }
}

/// What a short symlink's target takes of kmalloc (with its NUL).
pub(crate) fn target_bytes(t: &str) -> u64 {
    crate::mm::kmem::kmalloc_size(t.len() as u64 + 1)
}

impl Inode {
    /// What stat says of it now.
    pub(crate) fn stat(&self) -> Meta {
        let mut m = *self.meta.lock();
        match &self.body {
            Body::File { data, .. } => {
                m.size = data.size();
                m.blocks = m.size.div_ceil(4096) * 8;
            }
            Body::Symlink(t) => {
                m.size = t.len() as u64;
                m.blocks = if t.len() >= SHORT_SYMLINK_LEN { 8 } else { 0 };
            }
            Body::Dir(_) | Body::Special => {}
        }
        m
    }

    pub(crate) fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    /// A directory's names.
    pub(crate) fn names(&self) -> Option<&Names> {
        match &self.body {
            Body::Dir(n) => Some(n),
            _ => None,
        }
    }

    pub(crate) fn file(&self) -> Option<(FileId, &Arc<dyn FileData>)> {
        match &self.body {
            Body::File { id, data } => Some((*id, data)),
            _ => None,
        }
    }

    /// Sets mtime and ctime to now (a write, a truncation).
    pub(crate) fn touch(&self) {
        let now = now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    /// Sets ctime to now (a change of attributes or links).
    pub(crate) fn changed(&self) {
        self.meta.lock().ctime = now();
    }
}

/// The time now, as (seconds, nanoseconds).
pub(crate) fn now() -> (i64, i64) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// The layer, as a tmpfs: at most `max_inodes` inodes (shmem's nr_inodes:
/// half of RAM's pages). Its own directories hold their names; its changes
/// over a host directory (files made in it, names removed from it) are
/// kept by that directory's host identity, since host directories never
/// move in the layer (renaming one is EXDEV, as overlayfs without
/// redirect_dir).
pub(crate) struct Overlay {
    merges: HashMap<(u64, u64), Arc<Names>>,
    next_ino: u64,
    usage: Arc<Usage>,
    max_inodes: u64,
}

impl Overlay {
    pub(crate) fn new(max_inodes: u64) -> Self {
        Overlay { merges: HashMap::new(), next_ino: 0, usage: Arc::default(), max_inodes }
    }

    /// The layer's changes over host directory (`dev`, `ino`), if any.
    pub(crate) fn merge(&self, dev: u64, ino: u64) -> Option<Arc<Names>> {
        self.merges.get(&(dev, ino)).cloned()
    }

    /// The layer's changes over a host directory, made if it has none.
    pub(crate) fn merge_or_new(&mut self, dev: u64, ino: u64) -> Arc<Names> {
        self.merges.entry((dev, ino)).or_default().clone()
    }

    /// Forgets the changes over a host directory that is gone from view.
    pub(crate) fn drop_merge(&mut self, dev: u64, ino: u64) {
        self.merges.remove(&(dev, ino));
    }

    /// A new inode of the layer, or ENOSPC once it holds `max_inodes`.
    pub(crate) fn inode(&mut self, meta: Meta, body: Body) -> Result<Arc<Inode>, Errno> {
        self.inode_on(0, meta, body)
    }

    /// The same, on mount `mount` (a tmpfs mounted by the program; its
    /// inodes count with the layer's, as shmem's do).
    pub(crate) fn inode_on(&mut self, mount: usize, meta: Meta, body: Body) -> Result<Arc<Inode>, Errno> {
        if self.usage.inodes.load(Ordering::Relaxed) >= self.max_inodes {
            return Err(ENOSPC);
        }
        let mut i = self.inode_unlimited(meta, body);
        Arc::get_mut(&mut i).expect("just made").mount = mount;
        Ok(i)
    }

    /// A new inode that counts but is not refused (a copy-up of a file
    /// the layer already shows).
    pub(crate) fn inode_unlimited(&mut self, meta: Meta, body: Body) -> Arc<Inode> {
        self.usage.inodes.fetch_add(1, Ordering::Relaxed);
        if let Body::Symlink(t) = &body {
            if t.len() >= SHORT_SYMLINK_LEN {
                self.usage.symlink_pages.fetch_add(1, Ordering::Relaxed);
            } else {
                self.usage.bytes.fetch_add(target_bytes(t), Ordering::Relaxed);
            }
        }
        Arc::new(Inode { meta: Mutex::new(meta), body, seals: Mutex::new(0), mount: 0, usage: self.usage.clone() })
    }

    /// A fresh inode number, far above the host's.
    pub(crate) fn new_ino(&mut self) -> u64 {
        self.next_ino += 1;
        (1 << 40) + self.next_ino
    }

    pub(crate) fn usage(&self) -> &Usage {
        &self.usage
    }

    pub(crate) fn max_inodes(&self) -> u64 {
        self.max_inodes
    }
}

/// The meta of a new inode of type `ifmt` with permission bits `mode`,
/// owned by `uid`:`gid`.
pub(crate) fn new_meta(ifmt: u32, mode: u32, ino: u64, dev: u64, uid: u32, gid: u32) -> Meta {
    let t = now();
    Meta {
        dev,
        ino,
        mode: ifmt | (mode & !S_IFMT),
        nlink: if ifmt == S_IFDIR { 2 } else { 1 },
        uid,
        gid,
        blksize: 4096,
        atime: t,
        mtime: t,
        ctime: t,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::abi::stat::S_IFLNK;

    #[test]
    fn a_copy_reads_its_host_file_until_truncated() {
        let path = std::env::temp_dir().join(format!("faultline-memdata-{}", std::process::id()));
        std::fs::write(&path, b"host bytes").unwrap();
        let d = MemData::over(std::fs::File::open(&path).unwrap(), 10);
        let _ = std::fs::remove_file(&path);
        let mut b = [0xffu8; 16];
        assert_eq!(d.read_at(0, &mut b).unwrap(), 10);
        assert_eq!(&b[..10], b"host bytes");
        // Shrink then grow: the bytes past the cut read as zeroes.
        d.set_size(4).unwrap();
        d.set_size(12).unwrap();
        let mut b = [0xffu8; 16];
        assert_eq!(d.read_at(0, &mut b).unwrap(), 12);
        assert_eq!(&b[..12], b"host\0\0\0\0\0\0\0\0");
        assert_eq!(d.read_at(12, &mut b).unwrap(), 0);
        assert!(d.memory_only());
    }

    #[test]
    fn inodes_are_counted_until_their_last_reference_goes() {
        let mut o = Overlay::new(2);
        let dir = o.inode(new_meta(S_IFDIR, 0o755, 1, 1, 1000, 1000), Body::Dir(Names::default())).unwrap();
        let link = o.inode(new_meta(S_IFLNK, 0o777, 2, 1, 1000, 1000), Body::Symlink("x".repeat(200))).unwrap();
        assert_eq!(
            o.inode(new_meta(S_IFDIR, 0o755, 3, 1, 1000, 1000), Body::Dir(Names::default())).err(),
            Some(ENOSPC)
        );
        assert_eq!(o.usage().symlink_pages.load(Ordering::Relaxed), 1);
        dir.names().unwrap().insert("l", Entry::Node(link));
        dir.names().unwrap().insert("gone", Entry::Whiteout);
        assert!(dir.names().unwrap().has_nodes());
        assert_eq!(dir.names().unwrap().list().len(), 2);
        drop(dir);
        assert_eq!(o.usage().inodes.load(Ordering::Relaxed), 0, "the directory took its names with it");
        assert_eq!((o.usage().bytes.load(Ordering::Relaxed), o.usage().symlink_pages.load(Ordering::Relaxed)), (0, 0));
        let short = o.inode(new_meta(S_IFLNK, 0o777, 4, 1, 0, 0), Body::Symlink("abc".into())).unwrap();
        assert_eq!(o.usage().bytes.load(Ordering::Relaxed), 8, "kmalloc-8 for 4 bytes");
        drop(short);
        assert_eq!(o.usage().bytes.load(Ordering::Relaxed), 0);
        let m = o.merge_or_new(7, 8);
        assert!(Arc::ptr_eq(&m, &o.merge(7, 8).unwrap()));
        o.drop_merge(7, 8);
        assert!(o.merge(7, 8).is_none());
    }
}
