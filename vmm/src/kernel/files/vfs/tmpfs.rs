//! File systems the program mounts (mount(2)): tmpfs, in the sandbox's
//! memory like the layer over the root, stacked over a directory of the
//! view until it is unmounted. Nothing of it reaches the host, whatever
//! directory it covers. Each mount has its own device number and mount
//! id: renames and links across it are EXDEV, as between mounts.

use std::sync::Arc;

use super::super::overlay::{new_meta, Body, Inode, Names};
use super::Vfs;
use crate::kernel::abi::stat::S_IFDIR;
use crate::kernel::errno::*;
use crate::kernel::wait::WaitQueue;
use crate::mm::{FileId, KmemCharge};

/// A mounted tmpfs.
pub(crate) struct Tmpfs {
    /// Its mount id (after the binds'), never reused.
    pub(crate) id: usize,
    /// Where it is mounted, and the source mount(2) named (shown by
    /// /proc/mounts).
    pub(crate) path: String,
    pub(crate) source: String,
    /// The options /proc/mounts shows after `rw` (nosuid, nodev, …).
    pub(crate) options: String,
    pub(crate) root: Arc<Inode>,
    /// MS_NODEV: its device nodes do not open.
    pub(crate) nodev: bool,
    _record: KmemCharge,
}

/// The first mount id a tmpfs gets: the root is 0, binds 1 to n, so any id
/// from here on is a program's mount.
const FIRST_ID: usize = 1 << 16;

/// Anonymous devices (major 0, as get_anon_bdev gives a tmpfs) start at
/// this minor.
const FIRST_MINOR: u64 = 64;

impl Vfs {
    /// Mounts a new tmpfs over directory `path`, its root owned by
    /// `uid`:`gid` with `mode`; ENOSPC once the layer's inodes are all used.
    pub(crate) fn mount_tmpfs(
        &mut self,
        path: &str,
        source: &str,
        options: String,
        (mode, uid, gid): (u32, u32, u32),
        nodev: bool,
        record: KmemCharge,
    ) -> Result<usize, Errno> {
        self.mounts_made += 1;
        let id = FIRST_ID + self.mounts_made;
        let dev = FIRST_MINOR + self.mounts_made as u64;
        let meta = new_meta(S_IFDIR, mode, 1, dev, uid, gid);
        let root = self.overlay.inode_on(id, meta, Body::Dir(Names::default()))?;
        let (path, source) = (path.to_owned(), source.to_owned());
        self.tmpfs.push(Tmpfs { id, path, source, options, root, nodev, _record: record });
        self.mount_changed();
        Ok(id)
    }

    /// The mount table changed: /proc/mounts' pollers learn it (EPOLLPRI).
    fn mount_changed(&mut self) {
        self.mount_events += 1;
        self.mounts_wq.wake_all();
    }

    /// How many times the mount table has changed.
    pub(crate) fn mount_events(&self) -> u64 {
        self.mount_events
    }

    /// Woken at each change of the mount table.
    pub(crate) fn mounts_wq(&self) -> &WaitQueue {
        &self.mounts_wq
    }

    /// Whether device nodes on mount `id` may not be opened (MS_NODEV).
    pub(crate) fn nodev(&self, id: usize) -> bool {
        self.tmpfs.iter().any(|m| m.id == id && m.nodev)
    }

    /// Whether sandbox file `file` is on tmpfs `mount`.
    pub(crate) fn file_on_mount(&self, file: FileId, mount: usize) -> bool {
        self.mems.get(&file).and_then(|w| w.upgrade()).is_some_and(|i| i.mount == mount)
    }

    /// The tmpfs mounted last at `path`, if any: it covers the others.
    pub(crate) fn tmpfs_at(&self, path: &str) -> Option<&Tmpfs> {
        self.tmpfs.iter().rev().find(|m| m.path == path)
    }

    /// The tmpfs mounts, in the order they were made.
    pub(crate) fn tmpfs_mounts(&self) -> impl Iterator<Item = &Tmpfs> {
        self.tmpfs.iter()
    }

    /// Unmounts the top tmpfs at `path`: the page-cache ids of its files,
    /// to be freed once nothing holds them.
    pub(crate) fn umount_tmpfs(&mut self, path: &str) -> Option<Vec<FileId>> {
        let i = self.tmpfs.iter().rposition(|m| m.path == path)?;
        let m = self.tmpfs.remove(i);
        self.mount_changed();
        let mut ids = Vec::new();
        collect_files(&m.root, &mut ids);
        Some(ids)
    }
}

/// The page-cache ids of the files below directory `dir`.
fn collect_files(dir: &Inode, out: &mut Vec<FileId>) {
    let Some(names) = dir.names() else { return };
    for (_, e) in names.list() {
        if let super::super::overlay::Entry::Node(i) = e {
            if let Some((id, _)) = i.file() {
                out.push(id);
            }
            collect_files(&i, out);
        }
    }
}
