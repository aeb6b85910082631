//! Changing the file system view: names made, removed and moved, in the
//! sandbox's layer (the root) or on the host (a read-write bind), and
//! attributes changed. The syscalls check paths and permissions as Linux
//! does and call these. On the host every change is made relative to a
//! directory's descriptor, or on the object's own (`host`): a name is
//! never resolved by the host.

use std::sync::Arc;

use super::host::HostFd;
use super::overlay::{new_meta, now, Body, Entry, Inode, MemData, Names};
use super::vfs::{Layer, Lookup, Meta, Node, Vfs};
use crate::kernel::abi::dirent::dt_of_mode;
use crate::kernel::abi::fcntl::RENAME_EXCHANGE;
use crate::kernel::abi::stat::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK, S_ISGID};
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::mm::FileData;

/// The entries of a directory: (name, d_type, inode).
pub(crate) type DirEntries = Vec<(String, u8, u64)>;

/// Who owns what the caller makes: its fs ids (a set-group-ID directory
/// gives its group instead, as inode_init_owner).
fn owner(cred: &Cred, dir: &Meta) -> (u32, u32) {
    (cred.fsuid, if dir.mode & S_ISGID != 0 { dir.gid } else { cred.fsgid })
}

/// What changes go into for a directory: the host's (a read-write bind),
/// the layer's names (its own directory, or its changes over a host one),
/// or nowhere.
enum Target<'a> {
    Host(&'a Arc<HostFd>),
    Layer(LayerDir),
}

/// Where the layer keeps a directory's names.
enum LayerDir {
    /// Its changes over a host directory.
    Merge(Arc<Names>),
    /// Its own directory.
    Dir(Arc<Inode>),
}

impl std::ops::Deref for LayerDir {
    type Target = Names;
    fn deref(&self) -> &Names {
        match self {
            LayerDir::Merge(n) => n,
            LayerDir::Dir(i) => i.names().expect("only directories are kept as such"),
        }
    }
}

impl Vfs {
    fn target<'a>(&mut self, dir: &'a Node) -> Result<Target<'a>, Errno> {
        match dir {
            Node::Host { fd, layer: Layer::ReadWrite, .. } => Ok(Target::Host(fd)),
            Node::Host { layer: Layer::ReadOnly, .. } => Err(EROFS),
            Node::Host { meta, layer: Layer::Overlay, .. } => {
                Ok(Target::Layer(LayerDir::Merge(self.overlay.merge_or_new(meta.dev, meta.ino))))
            }
            Node::Mem(i) if i.is_dir() => Ok(Target::Layer(LayerDir::Dir(i.clone()))),
            Node::Mem(_) => Err(ENOTDIR),
            _ => Err(EACCES),
        }
    }

    /// Lists directory `dir`: the host's entries with the layer's changes
    /// over them.
    pub(crate) fn list(&self, dir: &Lookup) -> DirEntries {
        let mut v: DirEntries = Vec::new();
        let upper = match &dir.node {
            Node::Mem(i) => i.names().map(Names::list).unwrap_or_default(),
            Node::Host { meta, layer: Layer::Overlay, .. } => {
                self.overlay.merge(meta.dev, meta.ino).map(|m| m.list()).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        if let Node::Host { fd, .. } = &dir.node {
            for (name, t, ino) in fd.list().unwrap_or_default() {
                if upper.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                v.push((name, t, ino));
            }
        }
        for (name, e) in upper {
            if let Entry::Node(i) = e {
                let m = i.stat();
                v.push((name, dt_of_mode(m.mode), m.ino));
            }
        }
        v
    }

    /// Whether directory `dir` has entries besides `.` and `..`.
    pub(crate) fn has_entries(&self, dir: &Lookup) -> bool {
        match &dir.node {
            Node::Mem(i) => i.names().is_some_and(Names::has_nodes),
            Node::Host { .. } => !self.list(dir).is_empty(),
            _ => true,
        }
    }

    /// The layer's copy of host file `node` (named `name` in its
    /// directory), to write it or change its attributes: its bytes are read
    /// from the host as needed. A file of the layer is itself.
    pub(crate) fn copy_up(&mut self, name: &str, node: &Node) -> Result<Arc<Inode>, Errno> {
        let (fd, meta, parent) = match node {
            Node::Mem(i) => return Ok(i.clone()),
            Node::Host { fd, meta, layer: Layer::Overlay, parent, .. } => (fd, *meta, *parent),
            Node::Host { .. } => return Err(EROFS),
            _ => return Err(EACCES),
        };
        let body = if meta.is_reg() {
            let data: Arc<dyn FileData> = Arc::new(MemData::over(fd.reopen(false)?, meta.size));
            Body::File { id: self.new_id(), data }
        } else if meta.is_symlink() {
            Body::Symlink(fd.readlink()?)
        } else {
            // Directories (and devices) of the host cannot move into the
            // layer: as overlayfs without redirect_dir, EXDEV.
            return Err(EXDEV);
        };
        let i = self.overlay.inode_unlimited(meta, body);
        self.note_mem(&i);
        // Into the directory it was found in, if the name still names it
        // there (else the copy is the open file's alone, as a detached
        // lower file's would be).
        if let Some((dev, ino)) = parent {
            let names = self.overlay.merge_or_new(dev, ino);
            if names.get(name).is_none() {
                names.insert(name, Entry::Node(i.clone()));
            }
        }
        Ok(i)
    }

    /// Makes a new inode in the layer, or in the tmpfs `dir` is on.
    fn make(&mut self, ifmt: u32, mode: u32, cred: &Cred, dir: &Node, body: Body) -> Result<Arc<Inode>, Errno> {
        let ino = self.overlay.new_ino();
        let dmeta = dir.meta();
        let (uid, gid) = owner(cred, &dmeta);
        // A tmpfs's files are on its device; the layer's on the root's.
        let (mount, dev) = match dir {
            Node::Mem(d) if d.mount != 0 => (d.mount, dmeta.dev),
            _ => (0, self.dev),
        };
        let i = self.overlay.inode_on(mount, new_meta(ifmt, mode, ino, dev, uid, gid), body)?;
        self.note_mem(&i);
        Ok(i)
    }

    /// A new host object `name` in `dir` belongs to the caller, as the
    /// kernel would make it; faultline can give it away only as root (it
    /// then runs with the host's own rules: a failure leaves it faultline's).
    fn own_host(dir: &Arc<HostFd>, dmeta: &Meta, name: &str, cred: &Cred) {
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let (uid, gid) = owner(cred, dmeta);
        if let Ok((fd, meta)) = dir.child(name) {
            // A chown kills a group-executable set-group-ID bit (as
            // setattr_should_drop_sgid), which the creation kept: only an
            // owner that differs is changed, and the mode put back.
            if (meta.uid, meta.gid) != (uid, gid) && fd.chown(uid, gid).is_ok() && !meta.is_symlink() {
                let _ = fd.chmod(meta.mode);
            }
        }
    }

    /// Creates `name` in directory `dir` (resolved): a regular file, a
    /// directory or a symlink to `target`.
    pub(crate) fn make_node(
        &mut self,
        dir: &Lookup,
        name: &str,
        ifmt: u32,
        mode: u32,
        target: &str,
        cred: &Cred,
    ) -> Result<Node, Errno> {
        let dmeta = dir.node.meta();
        match self.target(&dir.node)? {
            Target::Host(fd) => {
                match ifmt {
                    S_IFREG => fd.create(name, mode)?,
                    S_IFDIR => fd.mkdir(name, mode)?,
                    S_IFSOCK | S_IFIFO => fd.mknod(name, ifmt, mode)?,
                    _ => fd.symlink(name, target)?,
                }
                Self::own_host(fd, &dmeta, name, cred);
                let (cfd, meta) = fd.child(name)?;
                let Node::Host { layer, mount, .. } = &dir.node else { unreachable!("a host target") };
                Ok(Node::Host { fd: cfd, meta, layer: *layer, mount: *mount, parent: Some((dmeta.dev, dmeta.ino)) })
            }
            Target::Layer(names) => {
                let body = match ifmt {
                    S_IFREG => {
                        let data: Arc<dyn FileData> = Arc::new(MemData::empty());
                        Body::File { id: self.new_id(), data }
                    }
                    S_IFDIR => Body::Dir(Names::default()),
                    S_IFSOCK | S_IFIFO | S_IFCHR | S_IFBLK => Body::Special,
                    _ => Body::Symlink(target.to_owned()),
                };
                let mode = if ifmt == S_IFLNK { 0o777 } else { mode };
                let i = self.make(ifmt, mode, cred, &dir.node, body)?;
                names.insert(name, Entry::Node(i.clone()));
                if ifmt == S_IFDIR {
                    bump_links(&dir.node, 1);
                }
                Ok(Node::Mem(i))
            }
        }
    }

    /// An unnamed file of the layer (O_TMPFILE, memfd_create).
    pub(crate) fn unnamed(&mut self, mode: u32, cred: &Cred) -> Result<Arc<Inode>, Errno> {
        let ino = self.overlay.new_ino();
        let data: Arc<dyn FileData> = Arc::new(MemData::empty());
        let body = Body::File { id: self.new_id(), data };
        let mut meta = new_meta(S_IFREG, mode, ino, self.dev, cred.fsuid, cred.fsgid);
        meta.nlink = 0;
        let i = self.overlay.inode(meta, body)?;
        self.note_mem(&i);
        Ok(i)
    }

    /// Whether the host has `name` in `dir`, so the layer must hide it.
    fn lower_has(dir: &Node, name: &str) -> bool {
        matches!(dir, Node::Host { fd, layer: Layer::Overlay, .. } if fd.child(name).is_ok())
    }

    /// Takes `name` (naming `victim`) out of directory `dir`: unlink or
    /// rmdir, checked by the caller.
    pub(crate) fn remove(&mut self, dir: &Lookup, name: &str, victim: &Node) -> Result<(), Errno> {
        match self.target(&dir.node)? {
            Target::Host(fd) => {
                fd.unlink(name, victim.is_dir())?;
                self.forget_host(&victim.meta());
            }
            Target::Layer(names) => {
                if let Node::Mem(i) = victim {
                    let mut m = i.meta.lock();
                    m.nlink = m.nlink.saturating_sub(if i.is_dir() { 2 } else { 1 });
                    m.ctime = now();
                }
                if victim.is_dir() {
                    bump_links(&dir.node, -1);
                }
                // A host directory's changes go with it.
                if let Node::Host { meta, .. } = victim {
                    if meta.is_dir() {
                        self.overlay.drop_merge(meta.dev, meta.ino);
                    }
                }
                if Self::lower_has(&dir.node, name) {
                    names.insert(name, Entry::Whiteout);
                } else {
                    names.remove(name);
                }
            }
        }
        Ok(())
    }

    /// Renames `oname` in `odir` (naming `onode`) to `nname` in `ndir`,
    /// replacing `nnode` if there is one (checked replaceable); both on
    /// one mount.
    pub(crate) fn rename(
        &mut self,
        odir: &Lookup,
        oname: &str,
        onode: &Node,
        ndir: &Lookup,
        nname: &str,
        nnode: Option<&Node>,
    ) -> Result<(), Errno> {
        if let (Node::Host { fd: from, layer: Layer::ReadWrite, .. }, Node::Host { fd: to, .. }) =
            (&odir.node, &ndir.node)
        {
            from.rename(oname, to, nname, 0)?;
            if let Some(n) = nnode {
                self.forget_host(&n.meta());
            }
            return Ok(());
        }
        let inode = self.copy_up(oname, onode)?;
        let Target::Layer(to) = self.target(&ndir.node)? else { return Err(EXDEV) };
        if let Some(n) = nnode {
            self.remove(ndir, nname, n)?;
        }
        let Target::Layer(from) = self.target(&odir.node)? else { return Err(EXDEV) };
        if Self::lower_has(&odir.node, oname) {
            from.insert(oname, Entry::Whiteout);
        } else {
            from.remove(oname);
        }
        if inode.is_dir() {
            bump_links(&odir.node, -1);
            bump_links(&ndir.node, 1);
        }
        inode.changed();
        to.insert(nname, Entry::Node(inode));
        Ok(())
    }

    /// Swaps `aname` in `adir` and `bname` in `bdir` (RENAME_EXCHANGE).
    pub(crate) fn exchange(
        &mut self,
        adir: &Lookup,
        aname: &str,
        anode: &Node,
        bdir: &Lookup,
        bname: &str,
        bnode: &Node,
    ) -> Result<(), Errno> {
        if let (Node::Host { fd: a, layer: Layer::ReadWrite, .. }, Node::Host { fd: b, .. }) = (&adir.node, &bdir.node)
        {
            return a.rename(aname, b, bname, RENAME_EXCHANGE as u32);
        }
        let ia = self.copy_up(aname, anode)?;
        let ib = self.copy_up(bname, bnode)?;
        let (Target::Layer(a), Target::Layer(b)) = (self.target(&adir.node)?, self.target(&bdir.node)?) else {
            return Err(EXDEV);
        };
        if ia.is_dir() != ib.is_dir() {
            let d = if ia.is_dir() { 1 } else { -1 };
            bump_links(&adir.node, -d);
            bump_links(&bdir.node, d);
        }
        a.insert(aname, Entry::Node(ib));
        b.insert(bname, Entry::Node(ia));
        Ok(())
    }

    /// A hard link `nname` in `ndir` to `node` (not a directory), found as
    /// `oname`.
    pub(crate) fn link(&mut self, oname: &str, node: &Node, ndir: &Lookup, nname: &str) -> Result<(), Errno> {
        if let Node::Host { fd, layer: Layer::ReadWrite, .. } = node {
            let Node::Host { fd: to, layer: Layer::ReadWrite, .. } = &ndir.node else { return Err(EXDEV) };
            return fd.link_into(to, nname);
        }
        let inode = self.copy_up(oname, node)?;
        let Target::Layer(to) = self.target(&ndir.node)? else { return Err(EXDEV) };
        {
            let mut m = inode.meta.lock();
            m.nlink += 1;
            m.ctime = now();
        }
        to.insert(nname, Entry::Node(inode));
        Ok(())
    }

    /// Changes attributes of `node` (named `name` in its directory):
    /// through `f` on a layer inode (copied up first), or on the host
    /// object itself in a read-write bind.
    pub(crate) fn set_attr(&mut self, name: &str, node: &Node, f: impl FnOnce(&mut Meta)) -> Result<(), Errno> {
        match node {
            Node::Host { fd, meta, layer: Layer::ReadWrite, .. } => {
                let mut m = *meta;
                f(&mut m);
                if m.mode != meta.mode {
                    fd.chmod(m.mode)?;
                }
                if (m.uid, m.gid) != (meta.uid, meta.gid) {
                    fd.chown(m.uid, m.gid)?;
                }
                if (m.atime, m.mtime) != (meta.atime, meta.mtime) {
                    fd.set_times(m.atime, m.mtime)?;
                }
                Ok(())
            }
            // A host directory's attributes: the host's stay; the layer
            // keeps no copy of a directory (an opaque one would hide its
            // files), so this is as far as a read-only lower allows.
            Node::Host { meta, layer: Layer::Overlay, .. } if meta.is_dir() => Err(EROFS),
            _ => {
                let i = self.copy_up(name, node)?;
                let mut m = i.meta.lock();
                f(&mut m);
                m.ctime = now();
                Ok(())
            }
        }
    }
}

/// A directory of the layer gains or loses a subdirectory's `..`.
fn bump_links(dir: &Node, by: i64) {
    if let Node::Mem(i) = dir {
        let mut m = i.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(by);
    }
}
