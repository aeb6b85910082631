//! Files: descriptors and the open file descriptions behind them (shared by
//! dup and fork, as Linux's struct file), pipes, the program's standard
//! streams, and the file system view (`vfs`).

pub mod mutate;
pub mod overlay;
pub mod pipe;
pub mod seq;
pub mod stdio;
pub mod vfs;

use std::sync::Arc;

use parking_lot::Mutex;

pub use pipe::Pipe;
pub(crate) use stdio::STATUS_LINE;
pub use stdio::{Input, Output};

use super::errno::{Errno, EBADF, EMFILE};
use crate::mm::FileId;

// Status flags kept per open file description.
pub const O_ACCMODE: u32 = 3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20200000;
/// Flags F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;

/// What an open file is.
pub enum FileKind {
    /// The sandbox's stdin.
    Input(Input),
    /// The sandbox's stdout or stderr.
    Output(Output),
    PipeRead(Arc<Pipe>),
    PipeWrite(Arc<Pipe>),
    /// A file of the file system view: its page-cache identity.
    File(vfs::OpenNode),
    /// A directory being listed.
    Dir(DirHandle),
    /// A /proc file, generated from the kernel's state when a read starts
    /// at offset 0 (as seq_file does) and kept until the next such read;
    /// or, for the files made record by record (`seq`), generated a few
    /// records at a time from where the last read stopped.
    Proc {
        path: String,
        pid: u32,
        contents: Mutex<Option<Arc<[u8]>>>,
        seq: Option<(super::procfs::SeqFile, Mutex<seq::SeqCursor>)>,
    },
    /// /dev/null, /dev/zero, /dev/urandom (and /dev/random).
    Null,
    Zero,
    Random,
}

/// Where a directory's entries come from.
#[derive(Clone, Debug)]
pub enum DirSource {
    /// A directory of the file system view: the host's (if any) with the
    /// sandbox's layer over it.
    Fs { host: Option<std::path::PathBuf>, layer: vfs::Layer },
    /// A directory of faultline's own, with these (name, d_type) entries.
    Listed(Vec<(String, u32)>),
    /// A directory under /proc (listed when read).
    Proc(Vec<String>),
}

/// An open directory.
pub struct DirHandle {
    pub path: String,
    pub meta: vfs::Meta,
    pub source: DirSource,
    /// The entries as the first read (at offset 0) found them, so names
    /// removed while listing do not shift the rest.
    pub listing: Mutex<Option<Arc<mutate::DirEntries>>>,
}

impl DirHandle {
    pub fn new(path: String, meta: vfs::Meta, source: DirSource) -> Self {
        DirHandle { path, meta, source, listing: Mutex::new(None) }
    }
}

/// An open file description.
pub struct OpenFile {
    pub kind: FileKind,
    /// O_ACCMODE and the status flags.
    pub flags: Mutex<u32>,
    pub pos: Mutex<u64>,
    /// The path it was opened by, for /proc/PID/fd and strace.
    pub path: String,
}

impl OpenFile {
    pub fn new(kind: FileKind, flags: u32, path: impl Into<String>) -> Arc<Self> {
        match &kind {
            FileKind::PipeRead(p) => p.open_end(false),
            FileKind::PipeWrite(p) => p.open_end(true),
            _ => {}
        }
        Arc::new(OpenFile { kind, flags: Mutex::new(flags & !O_CLOEXEC), pos: Mutex::new(0), path: path.into() })
    }

    pub fn flags(&self) -> u32 {
        *self.flags.lock()
    }

    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    pub fn readable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR) && self.flags() & O_PATH == 0
    }

    pub fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR) && self.flags() & O_PATH == 0
    }

    /// The page-cache file behind it, if it can be mapped.
    pub fn mappable(&self) -> Option<(FileId, &vfs::OpenNode)> {
        match &self.kind {
            FileKind::File(n) => Some((n.id, n)),
            _ => None,
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        match &self.kind {
            FileKind::PipeRead(p) => p.close_end(false),
            FileKind::PipeWrite(p) => p.close_end(true),
            _ => {}
        }
    }
}

/// A descriptor: an open file and its close-on-exec flag.
#[derive(Clone)]
pub struct Fd {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// A process's descriptors.
#[derive(Clone, Default)]
pub struct FdTable {
    fds: Vec<Option<Fd>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Option<&Fd> {
        usize::try_from(fd).ok().and_then(|i| self.fds.get(i)).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, fd: i32) -> Option<&mut Fd> {
        usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)).and_then(Option::as_mut)
    }

    pub fn file(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.get(fd).map(|f| f.file.clone()).ok_or(EBADF)
    }

    /// Installs `f` at the lowest free descriptor at or above `min`, as
    /// POSIX requires, below `limit` (RLIMIT_NOFILE).
    pub fn install(&mut self, f: Fd, min: usize, limit: usize) -> Result<i32, Errno> {
        let start = min.min(self.fds.len());
        if let Some(i) = self.fds[start..].iter().position(Option::is_none).map(|i| i + start) {
            if i >= limit {
                return Err(EMFILE);
            }
            self.fds[i] = Some(f);
            return Ok(i as i32);
        }
        let i = self.fds.len().max(min);
        if i >= limit {
            return Err(EMFILE);
        }
        self.fds.resize(i + 1, None);
        self.fds[i] = Some(f);
        Ok(i as i32)
    }

    /// Puts `f` at exactly `fd` (dup2), closing what was there.
    pub fn set(&mut self, fd: i32, f: Fd) -> Option<Fd> {
        let i = fd as usize;
        if i >= self.fds.len() {
            self.fds.resize(i + 1, None);
        }
        self.fds[i].replace(f)
    }

    pub fn close(&mut self, fd: i32) -> Result<Fd, Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)).ok_or(EBADF)?;
        slot.take().ok_or(EBADF)
    }

    /// Closes every close-on-exec descriptor (execve).
    pub fn close_on_exec(&mut self) {
        for slot in self.fds.iter_mut() {
            if slot.as_ref().is_some_and(|f| f.cloexec) {
                *slot = None;
            }
        }
    }

    /// Closes everything (process exit).
    pub fn clear(&mut self) {
        self.fds.clear();
    }

    /// Open descriptors, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Fd)> {
        self.fds.iter().enumerate().filter_map(|(i, f)| f.as_ref().map(|f| (i as i32, f)))
    }

    pub fn count(&self) -> usize {
        self.fds.iter().filter(|f| f.is_some()).count()
    }
}
