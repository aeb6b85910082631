//! The file system the program sees: a host directory (by default the host's
//! root) read-only, with faultline's own /dev and /proc in place of the
//! host's. Paths resolve inside the root as `openat2(RESOLVE_IN_ROOT)` does:
//! `..` stops at the root, absolute symlinks restart from it, and each
//! component is looked up without following host symlinks, so nothing
//! resolves outside it.

use std::collections::HashMap;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::overlay::{Body, Entry, Inode, Overlay};
use crate::kernel::errno::*;
use crate::kernel::process::UID;
use crate::mm::{FileData, FileId};

/// Linux's limits on paths and names, and on symlinks followed in one
/// lookup.
pub const PATH_MAX: usize = 4096;
pub const NAME_MAX: usize = 255;
pub const MAXSYMLINKS: u32 = 40;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_ISVTX: u32 = 0o1000;

/// Where a host file's changes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
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
pub struct Meta {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Meta {
    pub fn of(m: &std::fs::Metadata) -> Self {
        Meta {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            nlink: m.nlink(),
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev(),
            size: m.size(),
            blksize: m.blksize(),
            blocks: m.blocks(),
            atime: (m.atime(), m.atime_nsec()),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// A character device of faultline's /dev.
    pub fn device(minor: u64) -> Self {
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

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// Whether an unprivileged user (uid 1000, not the owner of host files)
    /// may access it with `want` (r=4, w=2, x=1), by its mode bits.
    pub fn allows(&self, want: u32, uid: u32) -> bool {
        let bits = if self.uid == uid {
            (self.mode >> 6) & 7
        } else if self.gid == uid {
            (self.mode >> 3) & 7
        } else {
            self.mode & 7
        };
        bits & want == want
    }
}

/// A device of faultline's /dev.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Random,
}

/// What a path names.
#[derive(Clone, Debug)]
pub enum Node {
    /// A host file or directory.
    Host {
        host: PathBuf,
        meta: Meta,
        layer: Layer,
    },
    /// A file, directory or symlink of the sandbox's own layer.
    Mem(Arc<Inode>),
    /// A directory of faultline's own (/, /dev, /proc, …) listing these
    /// names.
    Synthetic {
        meta: Meta,
        entries: Vec<(String, u32)>,
    },
    Device(Device),
    /// Something under /proc: the kernel generates it.
    Proc(Vec<String>),
}

/// A resolved path: its canonical form inside the root, and what it names.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub path: String,
    pub node: Node,
}

/// An open file of the view, as the page cache knows it.
#[derive(Clone)]
pub struct OpenNode {
    pub id: FileId,
    pub meta: Meta,
    pub path: String,
    pub data: Arc<dyn FileData>,
    /// For directories: the host directory to list.
    pub host: Option<PathBuf>,
    /// For files of the sandbox's layer: the inode (its live attributes).
    pub inode: Option<Arc<Inode>>,
}

/// A host file's bytes, for the page cache: read-only, or read-write in a
/// read-write bind.
pub struct HostFile {
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
pub struct MemFile(pub Arc<[u8]>);

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

/// How the kernel answers for the links under /proc (`self`, `exe`, `fd/N`,
/// `cwd`) during a lookup.
pub trait ProcLinks {
    /// The target of the /proc link `components` (after `/proc`), if it is
    /// one.
    fn readlink(&self, components: &[String]) -> Option<String>;
}

pub struct Vfs {
    pub(super) root: PathBuf,
    pub(super) binds: Vec<Bind>,
    /// The writable layer over the root.
    pub overlay: Overlay,
    /// The root's device number: the layer's files report it.
    pub(super) dev: u64,
    /// Page-cache ids of host files, by (device, inode), so every open and
    /// mapping of one file shares its cached pages.
    ids: HashMap<(u64, u64), FileId>,
    /// The open host file behind each id, shared by every open of it.
    datas: HashMap<FileId, Arc<dyn FileData>>,
    /// The layer's files, by page-cache id.
    mems: HashMap<FileId, std::sync::Weak<Inode>>,
    next_id: u64,
}

impl Vfs {
    pub fn new(root: PathBuf) -> Self {
        Self::with_binds(root, Vec::new())
    }

    /// The root with host directories bound into it.
    pub fn with_binds(root: PathBuf, binds: Vec<Bind>) -> Self {
        let dev = std::fs::metadata(&root).map_or(0, |m| m.dev());
        Vfs {
            root,
            binds,
            overlay: Overlay::default(),
            dev,
            ids: HashMap::new(),
            datas: HashMap::new(),
            mems: HashMap::new(),
            next_id: 1,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// A fresh page-cache id (for memory files).
    pub fn new_id(&mut self) -> FileId {
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

    /// Resolves `path` (relative to `cwd`, an absolute guest path),
    /// following a final symlink if `follow`.
    pub fn resolve(&self, cwd: &str, path: &str, follow: bool, proc: &dyn ProcLinks) -> Result<Lookup, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut stack: Vec<String> =
            if path.starts_with('/') { Vec::new() } else { split(cwd).map(str::to_owned).collect() };
        let mut pending: std::collections::VecDeque<String> = split(path).map(str::to_owned).collect();
        // A trailing slash requires a directory.
        let must_be_dir = path.ends_with('/');
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                stack.pop();
                continue;
            }
            if c.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            let last = pending.is_empty();
            stack.push(c);
            let node = self.node(&stack, proc)?;
            let target = match &node {
                Node::Host { host, meta, .. } if meta.is_symlink() => {
                    Some(std::fs::read_link(host).map_err(|_| ENOENT)?.to_string_lossy().into_owned())
                }
                Node::Mem(i) => match &i.body {
                    Body::Symlink(t) => Some(t.clone()),
                    _ => None,
                },
                Node::Proc(parts) => proc.readlink(parts),
                _ => None,
            };
            if let Some(t) = target {
                if last && !follow {
                    continue;
                }
                links += 1;
                if links > MAXSYMLINKS {
                    return Err(ELOOP);
                }
                stack.pop();
                if t.starts_with('/') {
                    stack.clear();
                }
                for (i, p) in split(&t).enumerate() {
                    pending.insert(i, p.to_owned());
                }
                continue;
            }
            if !last && !node_is_dir(&node) && !matches!(node, Node::Proc(_)) {
                return Err(ENOTDIR);
            }
        }
        let node = self.node(&stack, proc)?;
        if must_be_dir && !node_is_dir(&node) && !matches!(node, Node::Proc(_)) {
            return Err(ENOTDIR);
        }
        Ok(Lookup { path: format!("/{}", stack.join("/")), node })
    }

    /// What the (resolved) components name.
    fn node(&self, stack: &[String], _proc: &dyn ProcLinks) -> Result<Node, Errno> {
        let dir = |names: &[(&str, u32)], ino: u64| Node::Synthetic {
            meta: Meta { dev: 5, ino, mode: S_IFDIR | 0o755, nlink: 2, blksize: 4096, ..Default::default() },
            entries: names.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        };
        match stack.first().map(String::as_str) {
            Some("proc") => return Ok(Node::Proc(stack[1..].to_vec())),
            Some("dev") => {
                return match stack.get(1).map(String::as_str) {
                    None => Ok(dir(
                        &[
                            ("null", 2),
                            ("zero", 2),
                            ("random", 2),
                            ("urandom", 2),
                            ("stdin", 10),
                            ("stdout", 10),
                            ("stderr", 10),
                            ("fd", 10),
                        ],
                        900,
                    )),
                    Some(_) if stack.len() > 2 => Err(ENOTDIR),
                    Some("null") => Ok(Node::Device(Device::Null)),
                    Some("zero") => Ok(Node::Device(Device::Zero)),
                    Some("random") | Some("urandom") => Ok(Node::Device(Device::Random)),
                    // Links into /proc, as udev makes them.
                    Some("stdin") => Ok(Node::Proc(vec!["self".into(), "fd".into(), "0".into(), "@link".into()])),
                    Some("stdout") => Ok(Node::Proc(vec!["self".into(), "fd".into(), "1".into(), "@link".into()])),
                    Some("stderr") => Ok(Node::Proc(vec!["self".into(), "fd".into(), "2".into(), "@link".into()])),
                    Some("fd") => Ok(Node::Proc(vec!["self".into(), "fd".into(), "@link".into()])),
                    Some(_) => Err(ENOENT),
                };
            }
            // The host's /sys and /run say too much about the host.
            Some("sys") | Some("run") if stack.len() == 1 => return Ok(dir(&[], 901)),
            Some("sys") | Some("run") => return Err(ENOENT),
            _ => {}
        }
        let path = format!("/{}", stack.join("/"));
        let (host, layer) = match self.bind_of(stack) {
            Some((b, rest)) => (
                rest.iter().fold(b.host.clone(), |p, c| p.join(c)),
                if b.rw { Layer::ReadWrite } else { Layer::ReadOnly },
            ),
            None => {
                match self.overlay.get(&path) {
                    Some(Entry::Whiteout) => return Err(ENOENT),
                    Some(Entry::Node(i)) => return Ok(Node::Mem(i.clone())),
                    None if self.overlay.hides(&path) => return Err(ENOENT),
                    None => {}
                }
                (stack.iter().fold(self.root.clone(), |p, c| p.join(c)), Layer::Overlay)
            }
        };
        let meta = match std::fs::symlink_metadata(&host) {
            Ok(m) => m,
            // A directory on the way to a bind's mount point.
            Err(_) if self.binds.iter().any(|b| b.guest.starts_with(&format!("{path}/"))) => {
                let meta =
                    Meta { dev: 5, ino: 902, mode: S_IFDIR | 0o755, nlink: 2, blksize: 4096, ..Default::default() };
                return Ok(Node::Synthetic { meta, entries: Vec::new() });
            }
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOTDIR) => ENOTDIR,
                    Some(libc::EACCES) => EACCES,
                    Some(libc::ENAMETOOLONG) => ENAMETOOLONG,
                    _ => ENOENT,
                })
            }
        };
        let mut meta = Meta::of(&meta);
        // A bind shows the files of the user running faultline as the
        // guest user's, as an idmapped mount does.
        if layer != Layer::Overlay {
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            if meta.uid == me {
                meta.uid = UID;
            }
            if meta.gid == me {
                meta.gid = UID;
            }
        }
        Ok(Node::Host { host, meta, layer })
    }

    /// The bind holding `stack`, and the components below its mount point.
    fn bind_of<'a>(&self, stack: &'a [String]) -> Option<(&Bind, &'a [String])> {
        self.binds
            .iter()
            .filter_map(|b| {
                let parts: Vec<&str> = split(&b.guest).collect();
                (parts.len() <= stack.len() && parts.iter().zip(stack).all(|(a, b)| *a == b.as_str()))
                    .then(|| (b, &stack[parts.len()..], parts.len()))
            })
            .max_by_key(|(_, _, n)| *n)
            .map(|(b, rest, _)| (b, rest))
    }

    /// Whether `path` (resolved) lies in a bind, and where.
    pub fn layer_of(&self, path: &str) -> Layer {
        let stack: Vec<String> = split(path).map(str::to_owned).collect();
        match self.bind_of(&stack) {
            Some((b, _)) if b.rw => Layer::ReadWrite,
            Some(_) => Layer::ReadOnly,
            None => Layer::Overlay,
        }
    }

    /// The bind mount point `path` lies under ("" for the root), to tell
    /// renames and links across mounts (EXDEV).
    pub fn mount_of(&self, path: &str) -> String {
        let stack: Vec<String> = split(path).map(str::to_owned).collect();
        self.bind_of(&stack).map(|(b, _)| b.guest.clone()).unwrap_or_default()
    }

    /// Notes a file of the layer, to free its pages once it is gone.
    pub fn note_mem(&mut self, inode: &Arc<Inode>) {
        if let Some((id, _)) = inode.file() {
            self.mems.insert(id, Arc::downgrade(inode));
        }
    }

    /// Whether sandbox file `id` has no name left (or is gone).
    pub fn is_orphan(&self, id: FileId) -> bool {
        self.mems.get(&id).is_some_and(|w| w.upgrade().is_none_or(|i| i.stat().nlink == 0))
    }

    /// The layer's files, by page-cache id.
    pub fn mem_ids(&self) -> impl Iterator<Item = FileId> + '_ {
        self.mems.keys().copied()
    }

    /// The layer's files that have no name left.
    pub fn orphans(&self) -> Vec<FileId> {
        self.mems.keys().copied().filter(|&id| self.is_orphan(id)).collect()
    }

    pub fn forget_mem(&mut self, id: FileId) {
        self.mems.remove(&id);
    }

    /// Opens a file of the sandbox's layer.
    pub fn open_mem(&self, path: &str, inode: &Arc<Inode>) -> Option<OpenNode> {
        let (id, data) = inode.file()?;
        Some(OpenNode {
            id,
            meta: inode.stat(),
            path: path.to_owned(),
            data: data.clone(),
            host: None,
            inode: Some(inode.clone()),
        })
    }

    /// Opens a host file for the page cache: read-only, or read-write
    /// (`writable`, in a read-write bind). One open host file serves every
    /// open of it, so the cache and its size stay one.
    pub fn open_host(&mut self, path: &str, host: &Path, meta: &Meta, writable: bool) -> Result<OpenNode, Errno> {
        let id = self.id_of(meta);
        let data = match self.datas.get(&id) {
            Some(d) => d.clone(),
            None => {
                let open = |w: bool| {
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(w)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(host)
                };
                let w = writable && meta.is_reg();
                let (file, w) = match open(w) {
                    Ok(f) => (f, w),
                    Err(_) if w => (open(false).map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EACCES)))?, false),
                    Err(e) => return Err(Errno(e.raw_os_error().unwrap_or(libc::EACCES))),
                };
                let d: Arc<dyn FileData> = Arc::new(HostFile { file, size: AtomicU64::new(meta.size), writable: w });
                if meta.is_reg() {
                    self.datas.insert(id, d.clone());
                }
                d
            }
        };
        Ok(OpenNode {
            id,
            meta: *meta,
            path: path.to_owned(),
            data,
            host: meta.is_dir().then(|| host.to_path_buf()),
            inode: None,
        })
    }

    /// Forgets the page-cache id of a host file (it was removed or
    /// replaced in a read-write bind).
    pub fn forget_host(&mut self, meta: &Meta) {
        if let Some(id) = self.ids.remove(&(meta.dev, meta.ino)) {
            self.datas.remove(&id);
        }
    }
}

fn node_is_dir(n: &Node) -> bool {
    match n {
        Node::Host { meta, .. } => meta.is_dir(),
        Node::Synthetic { .. } => true,
        Node::Mem(i) => i.is_dir(),
        _ => false,
    }
}

fn split(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty())
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
        let v = Vfs::new(r.to_path_buf());
        (d, v)
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let (d, v) = tree();
        let p = |path: &str| v.resolve("/etc", path, true, &NoProc).map(|l| l.path);
        assert_eq!(p("passwd"), Ok("/etc/passwd".into()));
        assert_eq!(p("../../../../etc/passwd"), Ok("/etc/passwd".into()));
        assert_eq!(p("/abs"), Ok("/etc/passwd".into()));
        assert_eq!(p("sub/rel"), Ok("/etc/passwd".into()));
        let host = match v.resolve("/", "/etc/sub/rel", true, &NoProc).unwrap().node {
            Node::Host { host, .. } => host,
            _ => panic!(),
        };
        assert!(host.starts_with(d.path()), "{host:?}");
        assert_eq!(p("/loop1").err(), Some(ELOOP));
        assert_eq!(p("/etc/passwd/x").err(), Some(ENOTDIR));
        assert_eq!(p("/nope").err(), Some(ENOENT));
        assert_eq!(p(&"a/".repeat(3000)).err(), Some(ENAMETOOLONG));
        assert_eq!(p(&"a".repeat(300)).err(), Some(ENAMETOOLONG));
        assert_eq!(p("").err(), Some(ENOENT));
        // Not following the last link names the link itself.
        let l = v.resolve("/", "/abs", false, &NoProc).unwrap();
        assert!(matches!(l.node, Node::Host { meta, .. } if meta.is_symlink()));
        // The host's devices are not there: faultline's are.
        assert!(matches!(v.resolve("/", "/dev/null", true, &NoProc).unwrap().node, Node::Device(Device::Null)));
        assert_eq!(v.resolve("/", "/dev/kvm", true, &NoProc).err(), Some(ENOENT));
    }

    /// A directory removed on drop.
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "faultline-vfs-{}-{:?}",
                    std::process::id(),
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
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
