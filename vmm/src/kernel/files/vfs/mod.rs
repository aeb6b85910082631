//! The file system the program sees: a host directory (by default the host's
//! root) read-only under the sandbox's writable layer, host directories
//! bound into it, and faultline's own /dev and /proc in place of the host's.
//! Paths resolve inside the root as `openat2(RESOLVE_IN_ROOT)` does: `..`
//! stops at the root, absolute symlinks restart from it, and every host
//! name is opened from its directory's descriptor without following it
//! (`host`), so nothing resolves outside the view, whatever the guest
//! renames or swaps meanwhile. Each component needs search permission on
//! its directory for the caller's credentials (may_lookup).
//!
//! `node` holds what a path names, `resolve` the walk, `special` /dev and
//! the other names of faultline's own, `file_data` the bytes the page
//! cache reads; this file the view itself and its page-cache ids.

mod file_data;
mod node;
mod resolve;
mod special;
mod tmpfs;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::host::HostFd;
use super::overlay::{Inode, Overlay};
use crate::kernel::errno::*;
use crate::mm::{FileData, FileId};

// The sandbox's setup makes its files with this.
pub(crate) use crate::kernel::abi::stat::S_IFREG;
use file_data::HostFile;
pub(crate) use file_data::MemFile;
pub use node::Bind;
pub(crate) use node::Lookup;
pub(crate) use node::{Device, Layer, Meta, Node, OpenNode};
pub(crate) use resolve::{join, ProcLinks};
pub(crate) use special::{DEV_LINK, SYSFS};
pub(crate) use tmpfs::Tmpfs;

/// A bind as mounted: its host directory held open.
struct Mounted {
    bind: Bind,
    fd: Arc<HostFd>,
}

pub(crate) struct Vfs {
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
    /// The tmpfs mounts the program made, and how many it ever made.
    tmpfs: Vec<Tmpfs>,
    mounts_made: usize,
    /// Changes of the mount table, and the queue /proc/mounts' pollers
    /// wait on.
    mount_events: u64,
    mounts_wq: crate::kernel::wait::WaitQueue,
}

impl Vfs {
    /// The root (`root`, a host directory) with host directories bound
    /// into it; the layer holds at most `max_inodes` inodes.
    pub(crate) fn new(root: PathBuf, binds: Vec<Bind>, max_inodes: u64) -> std::io::Result<Self> {
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
            tmpfs: Vec::new(),
            mounts_made: 0,
            mount_events: 0,
            mounts_wq: Default::default(),
        })
    }

    /// The root of the view.
    pub(crate) fn root(&self) -> &Lookup {
        &self.root
    }

    /// Each bind with the `f_type` of the host file system under it (0 if
    /// the host does not say).
    pub(crate) fn bind_types(&self) -> impl Iterator<Item = (&Bind, i64)> {
        self.binds.iter().map(|m| (&m.bind, m.fd.statfs().map_or(0, |s| s.f_type)))
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

    /// Whether `path` is a mount point (the root, a bind's, or a tmpfs's).
    pub(crate) fn is_mount_point(&self, path: &str) -> bool {
        path == "/" || self.binds.iter().any(|m| m.bind.guest == path) || self.tmpfs_at(path).is_some()
    }

    /// Whether `path` is where a bind is mounted.
    pub(crate) fn is_bind(&self, path: &str) -> bool {
        self.binds.iter().any(|m| m.bind.guest == path)
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
                let d: Arc<dyn FileData> = Arc::new(HostFile::new(file, meta.size, w));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cred::Cred;

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
