//! What a path of the view names: host files held open, the layer's
//! inodes, faultline's own directories and devices, /proc's entries; and
//! what stat(2) reports of each.

use std::path::PathBuf;
use std::sync::Arc;

use super::super::host::HostFd;
use super::super::overlay::{Body, Inode};
use crate::kernel::abi::stat::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::mm::{FileData, FileId};

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
            Node::Mem(i) => i.mount,
            Node::Synthetic { .. } => 0,
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
pub(crate) struct Lookup {
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
