//! The file system the program sees: a host directory (by default the host's
//! root) read-only under the sandbox's writable layer, host directories
//! bound into it, and faultline's own /dev and /proc in place of the host's.
//! Paths resolve inside the root as `openat2(RESOLVE_IN_ROOT)` does: `..`
//! stops at the root, absolute symlinks restart from it, and every host
//! name is opened from its directory's descriptor without following it
//! (`host`), so nothing resolves outside the view, whatever the guest
//! renames or swaps meanwhile. Each component needs search permission on
//! its directory for the caller's credentials (may_lookup).

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::host::HostFd;
use super::overlay::{Body, Entry, Inode, Overlay};
use crate::kernel::abi::dirent::{DT_CHR, DT_LNK};
use crate::kernel::abi::limits::{NAME_MAX, PATH_MAX};
use crate::kernel::abi::stat::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT};
use crate::kernel::cred::{Cred, MAY_EXEC};
use crate::kernel::errno::*;
// The sandbox's setup makes its files with this.
pub(crate) use crate::kernel::abi::stat::S_IFREG;
use crate::mm::{FileData, FileId};

/// The most symlinks one lookup follows.
pub(crate) const MAXSYMLINKS: u32 = 40;

/// Where a host file's changes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    /// The root: into the sandbox's in-memory layer.
    Overlay,
    /// A read-only bind: nowhere (EROFS).
    ReadOnly,
    /// A read-write bind: to the host file itself.
    ReadWrite,
}

/// A host directory bound at a guest path (`--bind HOST:GUEST[:ro|rw]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// The host path (canonical).
    pub host: PathBuf,
    /// Absolute, normalised guest path.
    pub guest: String,
    /// Whether the program may change the host files (otherwise its
    /// changes live in memory and vanish at exit).
    pub rw: bool,
}

/// What stat(2) reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) mode: u32,
    pub(crate) nlink: u64,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) rdev: u64,
    pub(crate) size: u64,
    pub(crate) blksize: u64,
    pub(crate) blocks: u64,
    pub(crate) atime: (i64, i64),
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
}

impl Meta {
    /// A character device of faultline's /dev.
    pub(crate) fn device(minor: u64) -> Self {
        Meta {
            dev: 5,
            ino: 1000 + minor,
            mode: S_IFCHR | 0o666,
            nlink: 1,
            rdev: (1 << 8) | minor,
            blksize: 4096,
            ..Default::default()
        }
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub(crate) fn is_reg(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub(crate) fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// A device of faultline's /dev.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Device {
    Null,
    Zero,
    Random,
}

/// What a path names.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// A host file, directory or symlink, held open; `mount` is 0 for the
    /// root, 1 + n for bind n.
    Host {
        fd: Arc<HostFd>,
        meta: Meta,
        layer: Layer,
        mount: usize,
        /// The directory it was found in, by (device, inode): where the
        /// layer keeps a copy of it (none for a mount point).
        parent: Option<(u64, u64)>,
    },
    /// A file, directory or symlink of the sandbox's own layer.
    Mem(Arc<Inode>),
    /// A directory of faultline's own (/dev, /sys, …) listing these
    /// names.
    Synthetic {
        meta: Meta,
        entries: Vec<(String, u8)>,
    },
    Device(Device),
    /// Something under /proc: the kernel generates it.
    Proc(Vec<String>),
}

impl Node {
    pub(crate) fn is_dir(&self) -> bool {
        match self {
            Node::Host { meta, .. } | Node::Synthetic { meta, .. } => meta.is_dir(),
            Node::Mem(i) => i.is_dir(),
            Node::Device(_) | Node::Proc(_) => false,
        }
    }

    /// The mount it is on: renames and links stay within one (EXDEV).
    pub(crate) fn mount(&self) -> usize {
        match self {
            Node::Host { mount, .. } => *mount,
            Node::Mem(_) | Node::Synthetic { .. } => 0,
            Node::Device(_) => usize::MAX - 1,
            Node::Proc(_) => usize::MAX,
        }
    }

    /// What stat says of it (not for /proc, which the kernel answers).
    pub(crate) fn meta(&self) -> Meta {
        match self {
            Node::Host { meta, .. } | Node::Synthetic { meta, .. } => *meta,
            Node::Mem(i) => i.stat(),
            Node::Device(d) => Meta::device(match d {
                Device::Null => 3,
                Device::Zero => 5,
                Device::Random => 9,
            }),
            Node::Proc(_) => Meta::default(),
        }
    }

    /// What stat says of it now: a host object asked again (it may have
    /// changed since the lookup), the rest as `meta`.
    pub(crate) fn stat_now(&self) -> Meta {
        match self {
            Node::Host { fd, meta, .. } => fd.stat().unwrap_or(*meta),
            n => n.meta(),
        }
    }

    /// Where its changes go.
    pub(crate) fn layer(&self) -> Layer {
        match self {
            Node::Host { layer, .. } => *layer,
            _ => Layer::Overlay,
        }
    }

    /// Whether it is a symlink (the view's own, not /proc's).
    pub(crate) fn is_symlink(&self) -> bool {
        match self {
            Node::Host { meta, .. } => meta.is_symlink(),
            Node::Mem(i) => matches!(i.body, Body::Symlink(_)),
            _ => false,
        }
    }
}

/// A resolved path: what it names, and its path inside the root (what
/// getcwd and /proc/PID/fd show).
#[derive(Clone, Debug)]
pub struct Lookup {
    pub path: String,
    pub(crate) node: Node,
}

/// An open file of the view, as the page cache knows it.
#[derive(Clone)]
pub(crate) struct OpenNode {
    pub(crate) id: FileId,
    pub(crate) meta: Meta,
    pub(crate) path: String,
    pub(crate) data: Arc<dyn FileData>,
    /// The object itself: a host file's descriptor, or the layer's inode.
    pub(crate) node: Node,
}

impl OpenNode {
    /// The layer's inode, for files of the layer.
    pub(crate) fn inode(&self) -> Option<&Arc<Inode>> {
        match &self.node {
            Node::Mem(i) => Some(i),
            _ => None,
        }
    }
}

/// A host file's bytes, for the page cache: read-only, or read-write in a
/// read-write bind.
struct HostFile {
    file: std::fs::File,
    size: AtomicU64,
    writable: bool,
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

/// How the kernel answers for the links under /proc during a lookup.
pub(crate) trait ProcLinks {
    /// The target of the /proc link `components` (after `/proc`), if it is
    /// one.
    fn readlink(&self, components: &[String]) -> Option<String>;
    /// Where a magic link (`fd/N`, `cwd`) leads: the object itself, as
    /// nd_jump_link, not its name looked up again.
    fn jump(&self, _components: &[String]) -> Option<Lookup> {
        None
    }
}

/// A bind as mounted: its host directory held open.
struct Mounted {
    bind: Bind,
    fd: Arc<HostFd>,
}

pub struct Vfs {
    root: Lookup,
    binds: Vec<Mounted>,
    /// The writable layer over the root.
    pub(crate) overlay: Overlay,
    /// The root's device number: the layer's files report it.
    pub(super) dev: u64,
    /// Page-cache ids of host files, by (device, inode), so every open and
    /// mapping of one file shares its cached pages.
    ids: HashMap<(u64, u64), FileId>,
    /// The open host file behind each id, shared by every open of it while
    /// one lasts.
    datas: HashMap<FileId, Weak<dyn FileData>>,
    /// The layer's files, by page-cache id.
    mems: HashMap<FileId, Weak<Inode>>,
    /// Pages the layer's files hold in the page cache (its tmpfs blocks).
    layer_pages: u64,
    /// What the layer's inodes, names and symlink targets hold of RAM
    /// (`KernelState::charge_layer` keeps it matched to their use).
    pub(crate) layer_kmem: Vec<(crate::mm::Kmem, crate::mm::KmemCharge)>,
    next_id: u64,
}

/// `dir`/`name` as a guest path.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory part of an absolute guest path.
fn parent_of(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn split(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty())
}

impl Vfs {
    /// The root (`root`, a host directory) with host directories bound
    /// into it; the layer holds at most `max_inodes` inodes.
    pub fn new(root: PathBuf, binds: Vec<Bind>, max_inodes: u64) -> std::io::Result<Self> {
        let fd = HostFd::open_dir(&root)?;
        let meta = fd.stat().map_err(|e| std::io::Error::from_raw_os_error(e.0))?;
        let mounted = binds
            .into_iter()
            .map(|bind| Ok(Mounted { fd: HostFd::open_dir(&bind.host)?, bind }))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Vfs {
            root: Lookup {
                path: "/".into(),
                node: Node::Host { fd, meta, layer: Layer::Overlay, mount: 0, parent: None },
            },
            binds: mounted,
            overlay: Overlay::new(max_inodes),
            dev: meta.dev,
            ids: HashMap::new(),
            datas: HashMap::new(),
            mems: HashMap::new(),
            layer_pages: 0,
            layer_kmem: Vec::new(),
            next_id: 1,
        })
    }

    /// The root of the view.
    pub(crate) fn root(&self) -> &Lookup {
        &self.root
    }

    pub(crate) fn binds(&self) -> impl Iterator<Item = &Bind> {
        self.binds.iter().map(|m| &m.bind)
    }

    /// A fresh page-cache id (for memory files).
    pub(crate) fn new_id(&mut self) -> FileId {
        self.next_id += 1;
        FileId(self.next_id)
    }

    fn id_of(&mut self, meta: &Meta) -> FileId {
        if let Some(&id) = self.ids.get(&(meta.dev, meta.ino)) {
            return id;
        }
        let id = self.new_id();
        self.ids.insert((meta.dev, meta.ino), id);
        id
    }

    /// Resolves `path` from `start` (a directory: the cwd, or a `*at`
    /// call's), following a final symlink if `follow`, with `cred`'s
    /// search permission on every directory passed.
    pub(crate) fn resolve(
        &self,
        start: &Lookup,
        path: &str,
        follow: bool,
        proc: &dyn ProcLinks,
        cred: &Cred,
    ) -> Result<Lookup, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut stack: Vec<Lookup> = vec![if path.starts_with('/') { self.root.clone() } else { start.clone() }];
        let mut pending: std::collections::VecDeque<String> = split(path).map(str::to_owned).collect();
        // A trailing slash requires a directory.
        let must_be_dir = path.ends_with('/');
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            let dir = stack.last().expect("never empty");
            if !dir.node.is_dir() && !matches!(dir.node, Node::Proc(_)) {
                return Err(ENOTDIR);
            }
            may_search(&dir.node, cred)?;
            if c == "." {
                continue;
            }
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                } else if stack[0].path != "/" {
                    // The start's parent, by its path from the root: a
                    // descriptor keeps no way up that could leave the view.
                    let up = parent_of(&stack[0].path).to_owned();
                    stack = vec![self.resolve(&self.root, &up, true, proc, cred)?];
                }
                continue;
            }
            if c.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            let last = pending.is_empty();
            let path = join(&dir.path, &c);
            let node = self.child(dir, &c, &path)?;
            let target = match &node {
                Node::Host { fd, meta, .. } if meta.is_symlink() => Some(fd.readlink()?),
                Node::Mem(i) => match &i.body {
                    Body::Symlink(t) => Some(t.clone()),
                    _ => None,
                },
                Node::Proc(parts) => proc.readlink(parts),
                _ => None,
            };
            let Some(target) = target else {
                stack.push(Lookup { path, node });
                continue;
            };
            if last && !follow {
                stack.push(Lookup { path, node });
                continue;
            }
            links += 1;
            if links > MAXSYMLINKS {
                return Err(ELOOP);
            }
            if let Node::Proc(parts) = &node {
                if let Some(to) = proc.jump(parts) {
                    stack = vec![to];
                    continue;
                }
            }
            if target.is_empty() {
                return Err(ENOENT);
            }
            if target.starts_with('/') {
                stack = vec![self.root.clone()];
            }
            for (i, p) in split(&target).enumerate() {
                pending.insert(i, p.to_owned());
            }
        }
        let found = stack.pop().expect("never empty");
        if must_be_dir && !found.node.is_dir() && !matches!(found.node, Node::Proc(_)) {
            return Err(ENOTDIR);
        }
        Ok(found)
    }

    /// What `name` in directory `dir` names (`path` is `dir`/`name`).
    fn child(&self, dir: &Lookup, name: &str, path: &str) -> Result<Node, Errno> {
        if let Node::Proc(parts) = &dir.node {
            let mut parts = parts.clone();
            parts.push(name.to_owned());
            return Ok(Node::Proc(parts));
        }
        // A bind's mount point covers whatever is there.
        if let Some((i, m)) = self.binds.iter().enumerate().find(|(_, m)| m.bind.guest == path) {
            let meta = m.fd.stat()?;
            let layer = if m.bind.rw { Layer::ReadWrite } else { Layer::ReadOnly };
            return Ok(Node::Host { fd: m.fd.clone(), meta, layer, mount: i + 1, parent: None });
        }
        if dir.path == "/" && dir.node.mount() == 0 {
            if let Some(n) = special(name) {
                return Ok(n);
            }
        }
        let found = match &dir.node {
            Node::Synthetic { .. } if dir.path == "/dev" => return dev_child(name),
            Node::Synthetic { .. } | Node::Device(_) | Node::Proc(_) => Err(ENOENT),
            Node::Mem(i) => match i.names().and_then(|n| n.get(name)) {
                Some(Entry::Node(i)) => return Ok(Node::Mem(i)),
                _ => Err(ENOENT),
            },
            Node::Host { fd, meta, layer, mount, .. } => {
                let merged = match layer {
                    Layer::Overlay => self.overlay.merge(meta.dev, meta.ino).and_then(|m| m.get(name)),
                    _ => None,
                };
                match merged {
                    Some(Entry::Node(i)) => return Ok(Node::Mem(i)),
                    Some(Entry::Whiteout) => Err(ENOENT),
                    None => fd.child(name).map(|(fd, m)| Node::Host {
                        fd,
                        meta: m,
                        layer: *layer,
                        mount: *mount,
                        parent: Some((meta.dev, meta.ino)),
                    }),
                }
            }
        };
        match found {
            // A directory on the way to a bind's mount point.
            Err(ENOENT) if self.binds.iter().any(|m| m.bind.guest.starts_with(&format!("{path}/"))) => {
                Ok(synthetic_dir(902, Vec::new()))
            }
            other => other,
        }
    }

    /// Whether `path` is a mount point (the root, or a bind's).
    pub(crate) fn is_mount_point(&self, path: &str) -> bool {
        path == "/" || self.binds.iter().any(|m| m.bind.guest == path)
    }

    /// Notes a file of the layer, to free its pages once it is gone.
    pub(crate) fn note_mem(&mut self, inode: &Arc<Inode>) {
        if let Some((id, _)) = inode.file() {
            self.mems.insert(id, Arc::downgrade(inode));
        }
    }

    /// Whether sandbox file `id` has no name left (or is gone).
    pub(crate) fn is_orphan(&self, id: FileId) -> bool {
        self.mems.get(&id).is_some_and(|w| w.upgrade().is_none_or(|i| i.stat().nlink == 0))
    }

    /// Notes `delta` pages of file `id` entering or leaving the page cache:
    /// the layer's blocks, if it is one of its files.
    pub(crate) fn note_cached(&mut self, id: FileId, delta: i64) {
        if self.mems.contains_key(&id) {
            self.layer_pages = self.layer_pages.saturating_add_signed(delta);
        }
    }

    /// The layer's blocks in use: its files' cached pages and its long
    /// symlinks, as tmpfs counts them against its size.
    pub(crate) fn layer_pages(&self) -> u64 {
        self.layer_pages + self.overlay.usage().symlink_pages.load(Ordering::Relaxed)
    }

    pub(crate) fn forget_mem(&mut self, id: FileId) {
        self.mems.remove(&id);
    }

    /// Opens a file of the sandbox's layer.
    pub(crate) fn open_mem(&self, path: &str, inode: &Arc<Inode>) -> Option<OpenNode> {
        let (id, data) = inode.file()?;
        Some(OpenNode {
            id,
            meta: inode.stat(),
            path: path.to_owned(),
            data: data.clone(),
            node: Node::Mem(inode.clone()),
        })
    }

    /// Opens host file `fd` (a regular file, `meta`) for the page cache:
    /// read-only, or read-write (`writable`, in a read-write bind). One
    /// open host file serves every open of it, so the cache and its size
    /// stay one.
    pub(crate) fn open_host(&mut self, path: &str, node: &Node, writable: bool) -> Result<OpenNode, Errno> {
        let Node::Host { fd, meta, .. } = node else { return Err(EINVAL) };
        let id = self.id_of(meta);
        let data = match self.datas.get(&id).and_then(Weak::upgrade) {
            Some(d) => d,
            None => {
                let w = writable && meta.is_reg();
                let (file, w) = match fd.reopen(w) {
                    Ok(f) => (f, w),
                    Err(_) if w => (fd.reopen(false)?, false),
                    Err(e) => return Err(e),
                };
                let d: Arc<dyn FileData> = Arc::new(HostFile { file, size: AtomicU64::new(meta.size), writable: w });
                self.datas.insert(id, Arc::downgrade(&d));
                d
            }
        };
        Ok(OpenNode { id, meta: *meta, path: path.to_owned(), data, node: node.clone() })
    }

    /// Forgets the page-cache id of a host file (it was removed or
    /// replaced in a read-write bind).
    pub(crate) fn forget_host(&mut self, meta: &Meta) {
        if let Some(id) = self.ids.remove(&(meta.dev, meta.ino)) {
            self.datas.remove(&id);
        }
    }
}

/// may_lookup(): search permission on a directory of the view.
fn may_search(dir: &Node, cred: &Cred) -> Result<(), Errno> {
    match dir {
        Node::Host { .. } | Node::Mem(_) => {
            let m = dir.meta();
            cred.permission(m.mode, m.uid, m.gid, MAY_EXEC)
        }
        _ => Ok(()),
    }
}

fn synthetic_dir(ino: u64, entries: Vec<(String, u8)>) -> Node {
    let meta = Meta { dev: 5, ino, mode: S_IFDIR | 0o755, nlink: 2, blksize: 4096, ..Default::default() };
    Node::Synthetic { meta, entries }
}

/// The root's names faultline puts in place of the host's.
fn special(name: &str) -> Option<Node> {
    Some(match name {
        "proc" => Node::Proc(Vec::new()),
        "dev" => synthetic_dir(
            900,
            ["null", "zero", "random", "urandom"]
                .iter()
                .map(|n| (n.to_string(), DT_CHR))
                .chain(["stdin", "stdout", "stderr", "fd"].iter().map(|n| (n.to_string(), DT_LNK)))
                .collect(),
        ),
        // The host's /sys and /run say too much about the host.
        "sys" | "run" => synthetic_dir(901, Vec::new()),
        _ => return None,
    })
}

/// The last component of /dev's links into /proc (`/dev/stdin` is
/// /proc's `self/fd/0` + this): one no path can spell, holding a '/'.
pub(crate) const DEV_LINK: &str = "@/dev";

/// A name in faultline's /dev.
fn dev_child(name: &str) -> Result<Node, Errno> {
    let link = |fd: Option<&str>| {
        let mut c = vec!["self".to_string(), "fd".to_string()];
        c.extend(fd.map(str::to_owned));
        c.push(DEV_LINK.into());
        Node::Proc(c)
    };
    Ok(match name {
        "null" => Node::Device(Device::Null),
        "zero" => Node::Device(Device::Zero),
        "random" | "urandom" => Node::Device(Device::Random),
        // Links into /proc, as udev makes them.
        "stdin" => link(Some("0")),
        "stdout" => link(Some("1")),
        "stderr" => link(Some("2")),
        "fd" => link(None),
        _ => return Err(ENOENT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoProc;
    impl ProcLinks for NoProc {
        fn readlink(&self, _: &[String]) -> Option<String> {
            None
        }
    }

    fn tree() -> (tempdir::Dir, Vfs) {
        let d = tempdir::Dir::new();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/sub")).unwrap();
        std::fs::write(r.join("etc/passwd"), "root:x:0:0\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", r.join("etc/sub/rel")).unwrap();
        std::os::unix::fs::symlink("loop2", r.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", r.join("loop2")).unwrap();
        let v = Vfs::new(r.to_path_buf(), Vec::new(), 1000).unwrap();
        (d, v)
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let (_d, v) = tree();
        let root = Cred::new(0, 0, &[]);
        let etc = v.resolve(v.root(), "/etc", true, &NoProc, &root).unwrap();
        let p = |path: &str| v.resolve(&etc, path, true, &NoProc, &root).map(|l| l.path);
        assert_eq!(p("passwd"), Ok("/etc/passwd".into()));
        assert_eq!(p("../../../../etc/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(p("/abs"), Ok("/etc/passwd".into()));
        assert_eq!(p("sub/rel"), Ok("/etc/passwd".into()));
        assert!(matches!(v.resolve(&etc, "sub/rel", true, &NoProc, &root).unwrap().node,
            Node::Host { meta, .. } if meta.is_reg() && meta.size == 11));
        assert_eq!(p("/loop1").err(), Some(ELOOP));
        assert_eq!(p("/etc/passwd/x").err(), Some(ENOTDIR));
        assert_eq!(p("/nope").err(), Some(ENOENT));
        assert_eq!(p(&"a/".repeat(3000)).err(), Some(ENAMETOOLONG));
        assert_eq!(p(&"a".repeat(300)).err(), Some(ENAMETOOLONG));
        assert_eq!(p("").err(), Some(ENOENT));
        // Not following the last link names the link itself.
        let l = v.resolve(&etc, "/abs", false, &NoProc, &root).unwrap();
        assert!(matches!(l.node, Node::Host { meta, .. } if meta.is_symlink()));
        // The host's devices are not there: faultline's are.
        assert!(matches!(v.resolve(&etc, "/dev/null", true, &NoProc, &root).unwrap().node, Node::Device(Device::Null)));
        assert_eq!(p("/dev/kvm").err(), Some(ENOENT));
    }

    #[test]
    fn every_directory_passed_needs_search_permission() {
        use std::os::unix::fs::PermissionsExt;
        let (d, v) = tree();
        std::fs::create_dir(d.path().join("etc/closed")).unwrap();
        std::fs::write(d.path().join("etc/closed/f"), "x").unwrap();
        std::fs::set_permissions(d.path().join("etc/closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
        // SAFETY: no arguments.
        let me = unsafe { libc::getuid() };
        let other = Cred::new(me.wrapping_add(1), me.wrapping_add(1), &[]);
        let owner = Cred::new(me, me, &[]);
        let r = |c: &Cred| v.resolve(v.root(), "/etc/closed/f", true, &NoProc, c).map(|l| l.path);
        assert_eq!(r(&owner), Ok("/etc/closed/f".into()));
        assert_eq!(r(&other).err(), Some(EACCES));
        assert_eq!(v.resolve(v.root(), "/etc/closed", true, &NoProc, &other).map(|l| l.path), Ok("/etc/closed".into()));
    }

    /// A directory removed on drop.
    mod tempdir {
        pub(crate) struct Dir(std::path::PathBuf);
        impl Dir {
            pub(crate) fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "faultline-vfs-{}-{:?}",
                    std::process::id(),
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub(crate) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
