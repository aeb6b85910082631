//! Files: descriptors and the open file descriptions behind them (shared by
//! dup and fork, as Linux's struct file), pipes, the program's standard
//! streams, and the file system view (`vfs`).

pub(crate) mod anon;
pub(crate) mod dnotify;
pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod fdinfo;
pub(crate) mod fifo;
pub(crate) mod fown;
pub(crate) mod host;
pub(crate) mod lease;
pub(crate) mod locks;
pub(crate) mod mutate;
pub(crate) mod overlay;
pub(crate) mod pipe;
pub(crate) mod ready;
pub(crate) mod seq;
pub(crate) mod signalfd;
pub(crate) mod stdio;
pub(crate) mod timerfd;
pub(crate) mod vfs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use pipe::Pipe;
pub(crate) use stdio::STATUS_LINE;
pub use stdio::{Input, Output};

use super::abi::fcntl::*;
use super::errno::{Errno, EBADF, EMFILE, ENFILE};
use super::process::Pid;
use super::wait;
use super::KernelState;
use crate::mm::{FileId, Kmem, KmemCharge};

/// The files' state: the file system view, the count of open file
/// descriptions (fs.file-nr), the pipe slots the sandbox's user holds, and
/// the pages moved between files and the page cache.
pub(crate) struct Files {
    vfs: vfs::Vfs,
    /// Open file descriptions, each holding a place here.
    nr_files: Arc<AtomicU64>,
    /// Pipe slots the sandbox's user holds (fs/pipe.c's user->pipe_bufs).
    pipe_user_pages: Arc<AtomicU64>,
    io: IoCounters,
    /// What the event files share (signalfd's waiters, epoll's watches).
    events: EventState,
    /// Every file's locks (fcntl's and flock's).
    locks: locks::Locks,
    /// The pipes of open FIFOs.
    fifos: fifo::Fifos,
    /// SIGIOs wake-ups queued for files in O_ASYNC mode.
    pub(crate) sigio: Arc<fown::SigioQueue>,
    /// Leases (F_SETLEASE).
    pub(crate) leases: lease::Leases,
    /// Directory notifications (F_NOTIFY).
    pub(crate) dnotify: dnotify::Dnotify,
    /// fs.pipe-max-size: the largest pipe an unprivileged user makes.
    pub(crate) pipe_max_size: u64,
}

/// What the event files share across the sandbox.
#[derive(Default)]
pub(crate) struct EventState {
    /// Threads waiting on a signalfd: woken whenever a signal is sent
    /// (Linux's sighand->signalfd_wqh).
    pub(crate) signal_wq: wait::WaitQueue,
    /// Epoll items in the sandbox (fs.epoll.max_user_watches bounds them).
    pub(crate) watches: Arc<AtomicU64>,
}

/// Pages moved between files and the page cache, for vmstat's bi and bo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IoCounters {
    /// File pages read into the page cache (faults, read(), readahead by
    /// madvise).
    pub(crate) pages_in: u64,
    /// Bytes written to files: write() and pwrite() (written through),
    /// msync.
    pub(crate) bytes_out: u64,
}

impl Files {
    pub(crate) fn new(vfs: vfs::Vfs) -> Self {
        Files {
            vfs,
            nr_files: Default::default(),
            pipe_user_pages: Default::default(),
            io: IoCounters::default(),
            events: EventState::default(),
            locks: Default::default(),
            fifos: Default::default(),
            sigio: Default::default(),
            leases: Default::default(),
            dnotify: Default::default(),
            pipe_max_size: pipe::PIPE_MAX_SIZE,
        }
    }

    pub(crate) fn events(&self) -> &EventState {
        &self.events
    }

    pub(crate) fn vfs(&self) -> &vfs::Vfs {
        &self.vfs
    }

    pub(crate) fn vfs_mut(&mut self) -> &mut vfs::Vfs {
        &mut self.vfs
    }

    /// Open file descriptions now (fs.file-nr's first field).
    pub(crate) fn nr_files(&self) -> u64 {
        self.nr_files.load(Ordering::Relaxed)
    }

    pub(crate) fn io(&self) -> IoCounters {
        self.io
    }

    /// A file page was read into the page cache.
    pub(crate) fn count_page_in(&mut self) {
        self.io.pages_in += 1;
    }

    /// `n` bytes were written to a file.
    pub(crate) fn count_bytes_out(&mut self, n: u64) {
        self.io.bytes_out += n;
    }
}

/// What an open file description holds: its struct file, and its place in
/// fs.file-nr. Dropped with the description.
#[derive(Debug)]
pub(crate) struct FileCharge {
    _kmem: KmemCharge,
    count: Arc<AtomicU64>,
}

impl Drop for FileCharge {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

// Status flags kept per open file description.
/// Flags F_SETFL may change.
pub(crate) const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;

/// What an open file is.
pub(crate) enum FileKind {
    /// The sandbox's stdin.
    Input(Input),
    /// The sandbox's stdout or stderr.
    Output(Output),
    PipeRead(Arc<Pipe>),
    PipeWrite(Arc<Pipe>),
    /// A FIFO of the view, open for reading, writing or both.
    Fifo(fifo::Fifo),
    /// A file of the file system view: its page-cache identity.
    File(vfs::OpenNode),
    /// A directory being listed.
    Dir(DirHandle),
    /// Anything else opened with O_PATH (a symlink, a device): the object
    /// for the `*at` calls that take it with AT_EMPTY_PATH.
    Path(vfs::Lookup),
    /// A /proc file, generated from the kernel's state when a read starts
    /// at offset 0 (as seq_file does) and kept until the next such read;
    /// or, for the files made record by record (`seq`), generated a few
    /// records at a time from where the last read stopped.
    Proc {
        path: String,
        /// The process of /proc/PID/…; for /proc/sys/net/…, the opener,
        /// whose network namespace it shows; 0 otherwise.
        pid: u32,
        contents: Mutex<Option<Arc<[u8]>>>,
        seq: Option<(super::procfs::SeqFile, Mutex<seq::SeqCursor>)>,
        /// For /proc/mounts and /proc/PID/mounts: the mount table's change
        /// count this open has reported (mounts_poll's ns_event).
        mounts_seen: Option<std::sync::atomic::AtomicU64>,
    },
    /// A socket (`kernel::net`).
    Socket(Arc<super::net::Socket>),
    /// /dev/null, /dev/zero, /dev/urandom (and /dev/random).
    Null,
    Zero,
    Random,
    /// epoll, eventfd, timerfd, signalfd: files of the anonymous inode.
    Anon(anon::Anon),
}

/// An open directory.
pub(crate) struct DirHandle {
    /// The directory itself (a descriptor of the host's, or the layer's
    /// inode): listings and `*at` calls start from it, not its name.
    pub at: vfs::Lookup,
    pub meta: vfs::Meta,
    /// The entries as the first read (at offset 0) found them, so names
    /// removed while listing do not shift the rest.
    pub listing: Mutex<Option<Arc<mutate::DirEntries>>>,
}

impl DirHandle {
    pub(crate) fn new(at: vfs::Lookup, meta: vfs::Meta) -> Self {
        DirHandle { at, meta, listing: Mutex::new(None) }
    }
}

/// An open file description.
pub(crate) struct OpenFile {
    pub kind: FileKind,
    /// O_ACCMODE and the status flags.
    pub flags: Mutex<u32>,
    pub pos: Mutex<u64>,
    /// The path it was opened by, for /proc/PID/fd and strace.
    pub path: String,
    /// Kernel memory it holds: its struct file (from its first
    /// descriptor on), and its place in the bytes of /proc contents
    /// descriptors keep between reads.
    pub kmem: Mutex<FileKmem>,
    /// Its OFD and flock locks' owner, released with it.
    pub lock_owner: locks::LockOwner,
    /// Who its SIGIO goes to, and its place on the queues it watches
    /// while in O_ASYNC mode.
    pub fown: Mutex<fown::Fown>,
    pub fasync: Mutex<Option<Arc<fown::Fasync>>>,
    /// Woken when it is released (the queue a lease's breakers wait on).
    pub release_wq: Mutex<Option<Arc<wait::WaitQueue>>>,
    /// The open that made it created the file (FMODE_CREATED).
    pub created: std::sync::atomic::AtomicBool,
}

/// An open file's kernel memory.
#[derive(Debug, Default)]
pub(crate) struct FileKmem {
    pub file: Option<FileCharge>,
    pub kept: Option<super::procfs::ProcKept>,
}

impl OpenFile {
    pub(crate) fn new(kind: FileKind, flags: u32, path: impl Into<String>) -> Arc<Self> {
        match &kind {
            FileKind::PipeRead(p) => p.open_end(false),
            FileKind::PipeWrite(p) => p.open_end(true),
            FileKind::Fifo(f) => f.open_ends(flags),
            _ => {}
        }
        Arc::new(OpenFile {
            kind,
            flags: Mutex::new(flags & !O_CLOEXEC),
            pos: Mutex::new(0),
            path: path.into(),
            kmem: Mutex::default(),
            lock_owner: Default::default(),
            fown: Mutex::default(),
            fasync: Mutex::default(),
            release_wq: Mutex::default(),
            created: Default::default(),
        })
    }

    pub(crate) fn flags(&self) -> u32 {
        *self.flags.lock()
    }

    pub(crate) fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    pub(crate) fn readable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR) && self.flags() & O_PATH == 0
    }

    pub(crate) fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR) && self.flags() & O_PATH == 0
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        match &self.kind {
            FileKind::PipeRead(p) => p.close_end(false),
            FileKind::PipeWrite(p) => p.close_end(true),
            FileKind::Fifo(f) => f.close_ends(*self.flags.get_mut()),
            FileKind::Socket(s) => s.release(),
            _ => {}
        }
        if let Some(q) = self.release_wq.get_mut().take() {
            q.wake_all();
        }
    }
}

/// A descriptor: an open file and its close-on-exec flag.
#[derive(Clone)]
pub(crate) struct Fd {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

/// NR_OPEN_DEFAULT: the descriptors files_struct holds itself; a larger
/// table is an array of its own, charged to kernel memory.
pub(crate) const NR_OPEN_DEFAULT: usize = 64;

/// expand_fdtable()'s size for a table that must hold descriptor `fd`:
/// in steps of 1 KiB of pointers, rounded up to a power of two of steps.
pub(crate) fn fdtable_size(fd: usize) -> usize {
    const PER_KIB: usize = 1024 / 8;
    if fd < NR_OPEN_DEFAULT {
        return NR_OPEN_DEFAULT;
    }
    (fd / PER_KIB + 1).next_power_of_two() * PER_KIB
}

/// A process's descriptors (Linux's files_struct): shared by its threads
/// and by the processes clone made with CLONE_FILES, so a descriptor one
/// opens, closes or marks close-on-exec is the others' too.
pub(crate) type FdTable = super::process::Shared<FdArray>;

#[derive(Default)]
pub(crate) struct FdArray {
    fds: Vec<Option<Fd>>,
    /// Descriptors it can hold without growing (fdt->max_fds).
    max_fds: usize,
    /// The array's kernel memory, once it is past NR_OPEN_DEFAULT: one
    /// charge however many processes share the table.
    kmem: Option<KmemCharge>,
}

impl FdArray {
    fn max_fds(&self) -> usize {
        self.max_fds.max(NR_OPEN_DEFAULT)
    }

    fn iter(&self) -> impl Iterator<Item = (i32, &Fd)> {
        self.fds.iter().enumerate().filter_map(|(i, f)| f.as_ref().map(|f| (i as i32, f)))
    }
}

impl FdTable {
    /// A copy for a child or for unshare (dup_fd), sized for the
    /// descriptors open, not yet charged: [`KernelState::fd_charge_table`]
    /// does that.
    pub(crate) fn fork(&self) -> FdTable {
        let t = self.lock();
        let last = t.fds.iter().rposition(Option::is_some);
        let mut fds = t.fds.clone();
        fds.truncate(last.map_or(0, |l| l + 1));
        FdTable::new(FdArray { fds, max_fds: last.map_or(NR_OPEN_DEFAULT, fdtable_size), kmem: None })
    }

    /// Descriptors it holds without growing.
    pub(crate) fn max_fds(&self) -> usize {
        self.lock().max_fds()
    }

    /// The lowest free descriptor at or above `min`.
    pub(crate) fn lowest_free(&self, min: usize) -> usize {
        let t = self.lock();
        let start = min.min(t.fds.len());
        t.fds[start..].iter().position(Option::is_none).map_or(t.fds.len().max(min), |i| i + start)
    }

    pub(crate) fn get(&self, fd: i32) -> Option<Fd> {
        usize::try_from(fd).ok().and_then(|i| self.lock().fds.get(i).cloned()).flatten()
    }

    /// Sets descriptor `fd`'s close-on-exec flag (EBADF if it is not open).
    pub(crate) fn set_cloexec(&self, fd: i32, on: bool) -> Result<(), Errno> {
        let mut t = self.lock();
        let slot = usize::try_from(fd).ok().and_then(|i| t.fds.get_mut(i)).and_then(Option::as_mut);
        slot.ok_or(EBADF)?.cloexec = on;
        Ok(())
    }

    pub(crate) fn file(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.get(fd).map(|f| f.file).ok_or(EBADF)
    }

    /// Puts `f` at exactly `fd` (dup2), closing what was there; the
    /// kernel grows the table first ([`KernelState::fd_set`]).
    pub(crate) fn set(&self, fd: i32, f: Fd) -> Option<Fd> {
        let i = fd as usize;
        let mut t = self.lock();
        if i >= t.fds.len() {
            t.fds.resize(i + 1, None);
        }
        t.fds[i].replace(f)
    }

    pub(crate) fn close(&self, fd: i32) -> Result<Fd, Errno> {
        let mut t = self.lock();
        let slot = usize::try_from(fd).ok().and_then(|i| t.fds.get_mut(i)).ok_or(EBADF)?;
        slot.take().ok_or(EBADF)
    }

    /// Closes every close-on-exec descriptor (execve), returning them.
    pub(crate) fn close_on_exec(&self) -> Vec<Fd> {
        let mut closed = Vec::new();
        for slot in self.lock().fds.iter_mut() {
            if slot.as_ref().is_some_and(|f| f.cloexec) {
                closed.extend(slot.take());
            }
        }
        closed
    }

    /// Closes everything (the last holder's exit); the files are
    /// released with the table unlocked.
    pub(crate) fn clear(&self) {
        let fds = std::mem::take(&mut self.lock().fds);
        drop(fds);
    }

    /// The page-cache ids of the files its descriptors hold, once each.
    pub(crate) fn file_ids(&self) -> Vec<crate::mm::FileId> {
        let mut ids: Vec<_> = self
            .lock()
            .iter()
            .filter_map(|(_, fd)| match &fd.file.kind {
                FileKind::File(n) => Some(n.id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Open descriptors, in order (as they are now: the table is not held
    /// while the caller walks them).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, Fd)> {
        self.lock().iter().map(|(i, f)| (i, f.clone())).collect::<Vec<_>>().into_iter()
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().fds.iter().filter(|f| f.is_some()).count()
    }
}

impl KernelState {
    /// filp_close(): process `pid` closed a descriptor of `f`. Its POSIX
    /// locks on the file and its directory watch through it go, whichever
    /// descriptor set them.
    pub(crate) fn filp_close(&mut self, pid: Pid, f: &OpenFile) {
        self.locks_file_closed(pid, f);
        self.dnotify_flush(pid, f);
    }

    /// expand_files(): makes process `pid`'s table hold descriptor `fd`,
    /// charging the larger array (ENOMEM past the budget); EMFILE at
    /// fs.nr_open.
    pub(crate) fn fd_expand(&mut self, pid: Pid, fd: usize) -> Result<(), Errno> {
        if fd < self.tasks.proc(pid).ok_or(EBADF)?.files.max_fds() {
            return Ok(());
        }
        if fd as u64 >= super::mm::kmem::NR_OPEN {
            return Err(EMFILE);
        }
        let nr = fdtable_size(fd);
        let c = self.kmem_charge(Kmem::Kmalloc((nr * std::mem::size_of::<Option<Fd>>()) as u64), 1)?;
        let mut t = self.tasks.proc(pid).ok_or(EBADF)?.files.lock();
        let len = t.fds.len();
        t.fds.reserve_exact(nr - len);
        t.max_fds = nr;
        t.kmem = Some(c);
        Ok(())
    }

    /// Charges a table made by [`FdTable::fork`] for its array.
    pub(crate) fn fd_charge_table(&mut self, t: &FdTable) -> Result<(), Errno> {
        let nr = t.max_fds();
        if nr > NR_OPEN_DEFAULT {
            let c = self.kmem_charge(Kmem::Kmalloc((nr * std::mem::size_of::<Option<Fd>>()) as u64), 1)?;
            let mut t = t.lock();
            t.kmem = Some(c);
            let len = t.fds.len();
            t.fds.reserve_exact(nr - len);
        }
        Ok(())
    }

    /// dup_fd(): a copy of process `pid`'s table for a child or for
    /// unshare, charged (ENOMEM).
    pub(crate) fn fd_copy_table(&mut self, pid: Pid) -> Result<FdTable, Errno> {
        let t = self.tasks.proc(pid).ok_or(EBADF)?.files.fork();
        self.fd_charge_table(&t)?;
        Ok(t)
    }

    /// unshare_fd(): process `pid` gets its own copy of its table if
    /// other processes share it (unshare(CLONE_FILES), execve).
    pub(crate) fn unshare_files(&mut self, pid: Pid) -> Result<(), Errno> {
        if self.tasks.proc(pid).ok_or(EBADF)?.files.sharers() == 1 {
            return Ok(());
        }
        let t = self.fd_copy_table(pid)?;
        self.tasks.proc_mut(pid).ok_or(EBADF)?.files = t;
        Ok(())
    }

    /// The root of the file system view.
    pub(crate) fn root(&self) -> vfs::Lookup {
        self.files.vfs.root().clone()
    }

    /// Where pid 1 starts: `path`, as root sees it, or the root if it is
    /// not there (the working directory is inherited, not entered).
    pub(crate) fn initial_cwd(&self, path: &str) -> vfs::Lookup {
        let root = self.root();
        let links = super::procfs::Links { k: self, pid: 0 };
        let root_cred = super::cred::Cred::new(0, 0, &[]);
        self.files.vfs.resolve(&root, path, true, &links, &root_cred).unwrap_or(root)
    }

    /// A page-cache identity for a file that is no file of the view (a
    /// program given as bytes).
    pub(crate) fn new_file_id(&mut self) -> FileId {
        self.files.vfs.new_id()
    }

    /// fs.file-max: the most open files the sandbox may hold.
    pub(crate) fn file_max(&self) -> u64 {
        super::mm::kmem::file_max(self.phys.budget.resident_pages)
    }

    /// alloc_empty_file(): a new open file description's struct file,
    /// ENFILE once the sandbox holds fs.file-max of them (the guest has no
    /// CAP_SYS_ADMIN to go past it), ENOMEM past the budget.
    fn charge_file(&mut self) -> Result<FileCharge, Errno> {
        if self.files.nr_files() >= self.file_max() {
            return Err(ENFILE);
        }
        let kmem = self.kmem_charge(Kmem::File, 1)?;
        self.files.nr_files.fetch_add(1, Ordering::Relaxed);
        Ok(FileCharge { _kmem: kmem, count: self.files.nr_files.clone() })
    }

    /// Gives open file `f` its struct file, once: ENFILE at fs.file-max,
    /// ENOMEM past the budget.
    pub(crate) fn charge_open_file(&mut self, f: &OpenFile) -> Result<(), Errno> {
        if f.kmem.lock().file.is_some() {
            return Ok(());
        }
        let c = self.charge_file()?;
        f.kmem.lock().file = Some(c);
        Ok(())
    }

    /// Installs `f` in process `pid` at the lowest free descriptor at or
    /// above `min`: EMFILE at `limit` (RLIMIT_NOFILE), then the table's
    /// growth and the file's struct file charged.
    pub(crate) fn fd_install(&mut self, pid: Pid, f: Fd, min: usize, limit: usize) -> Result<i32, Errno> {
        let i = self.tasks.proc(pid).ok_or(EBADF)?.files.lowest_free(min);
        if i >= limit {
            return Err(EMFILE);
        }
        self.fd_expand(pid, i)?;
        self.charge_open_file(&f.file)?;
        self.tasks.proc_mut(pid).ok_or(EBADF)?.files.set(i as i32, f);
        Ok(i as i32)
    }

    /// Puts `f` at exactly `fd` in process `pid` (dup2), growing the table
    /// as needed; what was there is returned, to be closed.
    pub(crate) fn fd_set(&mut self, pid: Pid, fd: i32, f: Fd) -> Result<Option<Fd>, Errno> {
        self.fd_expand(pid, usize::try_from(fd).map_err(|_| EBADF)?)?;
        Ok(self.tasks.proc_mut(pid).ok_or(EBADF)?.files.set(fd, f))
    }
}
