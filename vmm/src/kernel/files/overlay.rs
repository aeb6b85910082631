//! The sandbox's writable layer over the read-only root, as overlayfs's
//! upper directory: files, directories and symlinks the program made or
//! changed, and whiteouts for what it removed. It lives in memory and
//! vanishes at exit; the host's files never change. A file's bytes are
//! page-cache pages of shared memory (shmem), so they count against
//! `--mem` and are swapped, never dropped, when dirty.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::vfs::{Meta, S_IFDIR, S_IFMT};
use crate::mm::{FileData, FileId};

/// A sandbox file's bytes: its page-cache pages. A page never written
/// reads from the host file it was copied up from (below `limit`, which a
/// truncation lowers) and as zeroes elsewhere, so copy-up costs nothing
/// until pages are touched.
pub struct MemData {
    size: AtomicU64,
    lower: Option<(std::fs::File, AtomicU64)>,
}

impl MemData {
    pub fn empty() -> Self {
        MemData { size: AtomicU64::new(0), lower: None }
    }

    /// A copy of host file `file` (`size` bytes).
    pub fn over(file: std::fs::File, size: u64) -> Self {
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
pub enum Body {
    File {
        id: FileId,
        data: Arc<dyn FileData>,
    },
    /// A directory of the layer: opaque (nothing of the host shows below
    /// it).
    Dir,
    Symlink(String),
}

/// An inode of the layer; hard links share it.
pub struct Inode {
    pub meta: Mutex<Meta>,
    pub body: Body,
    /// memfd seals (F_SEAL_*), and whether more may be added.
    pub seals: Mutex<u32>,
}

impl std::fmt::Debug for Inode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inode({})", self.meta.lock().ino)
    }
}

impl Inode {
    pub fn new(meta: Meta, body: Body) -> Arc<Self> {
        Arc::new(Inode { meta: Mutex::new(meta), body, seals: Mutex::new(0) })
    }

    /// What stat says of it now.
    pub fn stat(&self) -> Meta {
        let mut m = *self.meta.lock();
        match &self.body {
            Body::File { data, .. } => {
                m.size = data.size();
                m.blocks = m.size.div_ceil(4096) * 8;
            }
            Body::Symlink(t) => m.size = t.len() as u64,
            Body::Dir => {}
        }
        m
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir)
    }

    pub fn file(&self) -> Option<(FileId, &Arc<dyn FileData>)> {
        match &self.body {
            Body::File { id, data } => Some((*id, data)),
            _ => None,
        }
    }

    /// Sets mtime and ctime to now (a write, a truncation).
    pub fn touch(&self) {
        let now = now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    /// Sets ctime to now (a change of attributes or links).
    pub fn changed(&self) {
        self.meta.lock().ctime = now();
    }
}

/// The time now, as (seconds, nanoseconds).
pub fn now() -> (i64, i64) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// A name in the layer.
#[derive(Clone)]
pub enum Entry {
    Node(Arc<Inode>),
    /// Removed: the host's file of this name is hidden.
    Whiteout,
}

/// The layer: entries by absolute guest path.
#[derive(Default)]
pub struct Overlay {
    entries: BTreeMap<String, Entry>,
    next_ino: u64,
}

/// `dir`/`name` as a guest path.
pub fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Overlay {
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Whether a directory of the layer above `path` hides the host's
    /// files below it.
    pub fn hides(&self, path: &str) -> bool {
        let mut at = 0;
        while let Some(i) = path[at + 1..].find('/') {
            let prefix = &path[..at + 1 + i];
            if matches!(self.entries.get(prefix), Some(Entry::Node(n)) if n.is_dir()) {
                return true;
            }
            at += 1 + i;
        }
        false
    }

    /// The direct children of `dir` the layer has (whiteouts included).
    pub fn children(&self, dir: &str) -> Vec<(String, Entry)> {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        self.entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(k, e)| (k[prefix.len()..].to_string(), e.clone()))
            .collect()
    }

    pub fn insert(&mut self, path: String, e: Entry) {
        self.entries.insert(path, e);
    }

    pub fn remove(&mut self, path: &str) {
        self.entries.remove(path);
    }

    /// Removes everything below `dir`.
    pub fn remove_below(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let keys: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.entries.remove(&k);
        }
    }

    /// Moves everything below `from` to below `to` (a directory renamed).
    pub fn move_below(&mut self, from: &str, to: &str) {
        let prefix = format!("{from}/");
        let moved: Vec<(String, Entry)> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        for (k, e) in moved {
            self.entries.remove(&k);
            self.entries.insert(format!("{to}/{}", &k[prefix.len()..]), e);
        }
    }

    /// A fresh inode number, far above the host's.
    pub fn new_ino(&mut self) -> u64 {
        self.next_ino += 1;
        (1 << 40) + self.next_ino
    }
}

/// The meta of a new inode of type `ifmt` with permission bits `mode`.
pub fn new_meta(ifmt: u32, mode: u32, ino: u64, dev: u64, uid: u32) -> Meta {
    let t = now();
    Meta {
        dev,
        ino,
        mode: ifmt | (mode & !S_IFMT),
        nlink: if ifmt == S_IFDIR { 2 } else { 1 },
        uid,
        gid: uid,
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
    fn the_layer_lists_direct_children_and_hides_below_its_directories() {
        let mut o = Overlay::default();
        let dir = Inode::new(new_meta(S_IFDIR, 0o755, 1, 1, 1000), Body::Dir);
        o.insert("/tmp/d".into(), Entry::Node(dir));
        o.insert("/tmp/d/x".into(), Entry::Whiteout);
        o.insert("/tmp/e".into(), Entry::Whiteout);
        let names: Vec<String> = o.children("/tmp").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["d", "e"]);
        assert!(o.hides("/tmp/d/anything"));
        assert!(!o.hides("/tmp/e"));
        o.move_below("/tmp/d", "/tmp/f");
        assert!(o.get("/tmp/f/x").is_some() && o.get("/tmp/d/x").is_none());
        assert_eq!(child("/", "a"), "/a");
    }
}
