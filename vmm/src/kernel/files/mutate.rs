//! Changing the file system view: names made, removed and moved, in the
//! sandbox's layer (the root) or on the host (a read-write bind). The
//! syscalls check paths and permissions as Linux does and call these.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use super::overlay::{child, new_meta, Body, Entry, Inode, MemData};
use super::vfs::{Layer, Meta, Node, Vfs, S_IFDIR, S_IFLNK, S_IFREG};
use crate::kernel::errno::*;
use crate::kernel::process::UID;
use crate::mm::FileData;

/// A host error as the guest's errno.
pub fn host_errno(e: &std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The entries of a directory: (name, d_type, inode).
pub type DirEntries = Vec<(String, u8, u64)>;

fn dtype(mode: u32) -> u8 {
    ((mode >> 12) & 0xf) as u8
}

impl Vfs {
    /// Whether the host has a file at guest `path` that the layer would
    /// have to hide to remove it.
    fn lower_exists(&self, path: &str) -> bool {
        !self.overlay.hides(path) && std::fs::symlink_metadata(self.root.join(path.trim_start_matches('/'))).is_ok()
    }

    /// Lists directory `path` (what `node` names): the host's entries with
    /// the layer's changes over them.
    pub fn list(&self, path: &str, host: Option<&PathBuf>, layer: Layer) -> DirEntries {
        let mut v: DirEntries = Vec::new();
        let upper = if layer == Layer::Overlay { self.overlay.children(path) } else { Vec::new() };
        if let Some(h) = host {
            if let Ok(rd) = std::fs::read_dir(h) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if upper.iter().any(|(n, _)| *n == name) {
                        continue;
                    }
                    let t = e.file_type().ok().map_or(0, |t| {
                        use std::os::unix::fs::FileTypeExt;
                        if t.is_dir() {
                            4
                        } else if t.is_symlink() {
                            10
                        } else if t.is_file() {
                            8
                        } else if t.is_char_device() {
                            2
                        } else if t.is_block_device() {
                            6
                        } else if t.is_fifo() {
                            1
                        } else {
                            12
                        }
                    });
                    use std::os::unix::fs::DirEntryExt;
                    v.push((name, t, e.ino()));
                }
            }
        }
        for (name, e) in upper {
            if let Entry::Node(i) = e {
                let m = i.stat();
                v.push((name, dtype(m.mode), m.ino));
            }
        }
        v
    }

    /// Copies host file `path` up into the layer (to write it or change
    /// its attributes): its bytes are read from the host as needed.
    pub fn copy_up(&mut self, path: &str, node: &Node) -> Result<Arc<Inode>, Errno> {
        let (host, meta) = match node {
            Node::Mem(i) => return Ok(i.clone()),
            Node::Host { host, meta, layer: Layer::Overlay } => (host.clone(), *meta),
            Node::Host { .. } => return Err(EROFS),
            _ => return Err(EACCES),
        };
        let body = if meta.is_reg() {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&host)
                .map_err(|e| host_errno(&e))?;
            let data: Arc<dyn FileData> = Arc::new(MemData::over(f, meta.size));
            Body::File { id: self.new_id(), data }
        } else if meta.is_symlink() {
            Body::Symlink(std::fs::read_link(&host).map_err(|e| host_errno(&e))?.to_string_lossy().into_owned())
        } else {
            // Directories (and devices) of the host cannot move into the
            // layer: as overlayfs without redirect_dir, EXDEV.
            return Err(EXDEV);
        };
        let i = Inode::new(meta, body);
        self.note_mem(&i);
        self.overlay.insert(path.to_owned(), Entry::Node(i.clone()));
        Ok(i)
    }

    /// Makes a new inode at `dir`/`name` in the layer.
    fn make(&mut self, dir: &str, name: &str, ifmt: u32, mode: u32, body: Body) -> Arc<Inode> {
        let ino = self.overlay.new_ino();
        let i = Inode::new(new_meta(ifmt, mode, ino, self.dev, UID), body);
        self.note_mem(&i);
        self.overlay.insert(child(dir, name), Entry::Node(i.clone()));
        i
    }

    /// Creates regular file `name` in directory `dir` (resolved; `node`).
    pub fn create(&mut self, dir: &str, dnode: &Node, name: &str, mode: u32) -> Result<Node, Errno> {
        match dnode {
            Node::Host { host, layer: Layer::ReadWrite, .. } => {
                let p = host.join(name);
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode & 0o7777)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&p)
                    .map_err(|e| host_errno(&e))?;
                self.host_node(p, Layer::ReadWrite)
            }
            _ => {
                let data: Arc<dyn FileData> = Arc::new(MemData::empty());
                let body = Body::File { id: self.new_id(), data };
                Ok(Node::Mem(self.make(dir, name, S_IFREG, mode, body)))
            }
        }
    }

    /// An unnamed file of the layer (O_TMPFILE, memfd_create).
    pub fn unnamed(&mut self, mode: u32) -> Arc<Inode> {
        let ino = self.overlay.new_ino();
        let data: Arc<dyn FileData> = Arc::new(MemData::empty());
        let body = Body::File { id: self.new_id(), data };
        let mut meta = new_meta(S_IFREG, mode, ino, self.dev, UID);
        meta.nlink = 0;
        let i = Inode::new(meta, body);
        self.note_mem(&i);
        i
    }

    fn host_node(&self, p: PathBuf, layer: Layer) -> Result<Node, Errno> {
        let m = std::fs::symlink_metadata(&p).map_err(|e| host_errno(&e))?;
        let mut meta = Meta::of(&m);
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid == me {
            meta.uid = UID;
        }
        if meta.gid == me {
            meta.gid = UID;
        }
        Ok(Node::Host { host: p, meta, layer })
    }

    pub fn mkdir(&mut self, dir: &str, dnode: &Node, name: &str, mode: u32) -> Result<(), Errno> {
        match dnode {
            Node::Host { host, layer: Layer::ReadWrite, .. } => {
                std::fs::DirBuilder::new().mode(mode & 0o7777).create(host.join(name)).map_err(|e| host_errno(&e))
            }
            _ => {
                self.make(dir, name, S_IFDIR, mode, Body::Dir);
                Ok(())
            }
        }
    }

    pub fn symlink(&mut self, dir: &str, dnode: &Node, name: &str, target: &str) -> Result<(), Errno> {
        match dnode {
            Node::Host { host, layer: Layer::ReadWrite, .. } => {
                std::os::unix::fs::symlink(target, host.join(name)).map_err(|e| host_errno(&e))
            }
            _ => {
                self.make(dir, name, S_IFLNK, 0o777, Body::Symlink(target.to_owned()));
                Ok(())
            }
        }
    }

    /// Removes name `path` (naming `node`): unlink or rmdir, checked.
    pub fn remove(&mut self, path: &str, node: &Node) -> Result<(), Errno> {
        match node {
            Node::Host { host, meta, layer: Layer::ReadWrite } => {
                let r = if meta.is_dir() { std::fs::remove_dir(host) } else { std::fs::remove_file(host) };
                r.map_err(|e| host_errno(&e))?;
                self.forget_host(meta);
                Ok(())
            }
            Node::Host { layer: Layer::ReadOnly, .. } => Err(EROFS),
            _ => {
                if let Node::Mem(i) = node {
                    let mut m = i.meta.lock();
                    m.nlink = m.nlink.saturating_sub(if i.is_dir() { 2 } else { 1 });
                    m.ctime = super::overlay::now();
                    drop(m);
                }
                // Whiteouts of a removed directory's entries go with it.
                if matches!(node, Node::Mem(i) if i.is_dir())
                    || matches!(node, Node::Host { meta, .. } if meta.is_dir())
                {
                    self.overlay.remove_below(path);
                }
                if self.lower_exists(path) {
                    self.overlay.insert(path.to_owned(), Entry::Whiteout);
                } else {
                    self.overlay.remove(path);
                }
                Ok(())
            }
        }
    }

    /// Puts `inode` at `path` too (link, the new name of a rename).
    pub fn put(&mut self, path: &str, inode: Arc<Inode>) {
        self.overlay.insert(path.to_owned(), Entry::Node(inode));
    }

    /// Renames `old` (naming `onode`) to `new` in the layer; `new` is free
    /// or was checked replaceable.
    pub fn rename(&mut self, old: &str, onode: &Node, new: &str, nnode: Option<&Node>) -> Result<(), Errno> {
        if let Node::Host { host, layer: Layer::ReadWrite, meta } = onode {
            let to = match nnode {
                Some(Node::Host { host, .. }) => host.clone(),
                _ => return Err(EXDEV),
            };
            std::fs::rename(host, &to).map_err(|e| host_errno(&e))?;
            self.forget_host(meta);
            return Ok(());
        }
        let inode = self.copy_up(old, onode)?;
        if let Some(n) = nnode {
            self.remove(new, n)?;
        }
        if inode.is_dir() {
            self.overlay.move_below(old, new);
        }
        self.overlay.remove(old);
        if self.lower_exists(old) {
            self.overlay.insert(old.to_owned(), Entry::Whiteout);
        }
        inode.changed();
        self.put(new, inode);
        Ok(())
    }

    /// Swaps `a` and `b` (RENAME_EXCHANGE), both in the layer.
    pub fn exchange(&mut self, a: &str, anode: &Node, b: &str, bnode: &Node) -> Result<(), Errno> {
        if matches!(anode, Node::Host { layer: Layer::ReadWrite, .. })
            || matches!(bnode, Node::Host { layer: Layer::ReadWrite, .. })
        {
            return Err(EINVAL);
        }
        let ia = self.copy_up(a, anode)?;
        let ib = self.copy_up(b, bnode)?;
        let tmp = format!("{a}\u{0}swap");
        if ia.is_dir() {
            self.overlay.move_below(a, &tmp);
        }
        if ib.is_dir() {
            self.overlay.move_below(b, a);
        }
        if ia.is_dir() {
            self.overlay.move_below(&tmp, b);
        }
        self.put(a, ib);
        self.put(b, ia);
        Ok(())
    }

    /// A hard link `new` to `node` (not a directory).
    pub fn link(&mut self, old: &str, onode: &Node, new_dir: &Node, new: &str) -> Result<(), Errno> {
        if let Node::Host { host, layer: Layer::ReadWrite, .. } = onode {
            let Node::Host { host: d, layer: Layer::ReadWrite, .. } = new_dir else { return Err(EXDEV) };
            let name = new.rsplit('/').next().unwrap_or(new);
            return std::fs::hard_link(host, d.join(name)).map_err(|e| host_errno(&e));
        }
        let inode = self.copy_up(old, onode)?;
        {
            let mut m = inode.meta.lock();
            m.nlink += 1;
            m.ctime = super::overlay::now();
        }
        self.put(new, inode);
        Ok(())
    }

    /// Changes attributes of what `path` names: through `f` on a layer
    /// inode (copied up first), or on the host in a read-write bind.
    pub fn set_attr(&mut self, path: &str, node: &Node, f: impl FnOnce(&mut Meta)) -> Result<(), Errno> {
        match node {
            Node::Host { host, meta, layer: Layer::ReadWrite } => {
                let mut m = *meta;
                f(&mut m);
                if m.mode != meta.mode {
                    let c = std::ffi::CString::new(host.as_os_str().as_encoded_bytes()).map_err(|_| EINVAL)?;
                    // SAFETY: a NUL-terminated path.
                    if unsafe { libc::fchmodat(libc::AT_FDCWD, c.as_ptr(), m.mode & 0o7777, 0) } != 0 {
                        return Err(host_errno(&std::io::Error::last_os_error()));
                    }
                }
                if (m.atime, m.mtime) != (meta.atime, meta.mtime) {
                    let c = std::ffi::CString::new(host.as_os_str().as_encoded_bytes()).map_err(|_| EINVAL)?;
                    let ts = [
                        libc::timespec { tv_sec: m.atime.0, tv_nsec: m.atime.1 },
                        libc::timespec { tv_sec: m.mtime.0, tv_nsec: m.mtime.1 },
                    ];
                    // SAFETY: a NUL-terminated path and two timespecs.
                    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) }
                        != 0
                    {
                        return Err(host_errno(&std::io::Error::last_os_error()));
                    }
                }
                Ok(())
            }
            Node::Host { meta, layer: Layer::Overlay, .. } if meta.is_dir() => {
                // A host directory's attributes: the host's stay; the
                // layer keeps its own copy (opaque would hide its files),
                // so this is as far as a read-only lower allows.
                Err(EROFS)
            }
            _ => {
                let i = self.copy_up(path, node)?;
                let mut m = i.meta.lock();
                f(&mut m);
                m.ctime = super::overlay::now();
                Ok(())
            }
        }
    }
}
