//! execve: loading a program into a fresh address space as Linux's
//! binfmt_elf does, and replacing the calling process's image with it.
//!
//! Segments are private mappings of the file (served from the page cache);
//! the tail of the last file page before .bss is zeroed at exec (padzero),
//! .bss beyond it is anonymous; a dynamically linked program gets its
//! interpreter mapped top-down from mmap_base, with the vDSO's place kept
//! below it, so addresses match a native run without ASLR. `#!` scripts
//! run their interpreter.
//!
//! `load` maps an ELF program (binfmt_elf), `script` runs a `#!` script's
//! interpreter (binfmt_script), `init` starts pid 1; this file opens the
//! program and makes the calling process it (execve's point of no return).

mod init;
mod load;
mod script;
pub(crate) mod vdso;

use std::io;
use std::sync::Arc;

use super::abi::limits::PATH_MAX;
use super::abi::resource::RLIMIT_STACK;
use super::cred::{Cred, MAY_EXEC};
use super::errno::*;
use super::files::vfs::Lookup;
use super::files::vfs::{Node, OpenNode};
use super::process::{comm_of, Cmdline, Pid, Tid};
use super::task::Ctx;
use super::{Entry, KernelState};
use crate::arch::regs::Tls;
use crate::arch::{UserRegs, PAGE_SIZE};
use crate::loader::{Image, LoadError};
use load::Loaded;
pub(crate) use script::{script_argv, shebang, BINPRM_BUF_SIZE, MAX_SCRIPT_DEPTH};

/// MAX_ARG_STRLEN: the longest single argument or environment string.
const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Largest executable faultline reads to parse (it maps it page by page).
const MAX_EXEC_SIZE: u64 = 1 << 30;
/// A program file, opened for exec.
#[derive(Clone)]
pub(crate) struct ExecFile {
    /// Its path inside the sandbox (for /proc/PID/exe and maps).
    pub path: String,
    node: OpenNode,
    /// Its first bytes (BINPRM_BUF_SIZE of them), for a `#!` line; the
    /// rest is read as it is needed.
    pub head: Arc<[u8]>,
}

impl ExecFile {
    /// A program held in memory (the built-in demo), seen as `/name`:
    /// page-cache file `id`.
    pub(crate) fn in_memory(name: &str, bytes: Arc<[u8]>, id: crate::mm::FileId) -> Self {
        use super::files::vfs::{MemFile, Meta, Node, S_IFREG};
        let meta =
            Meta { mode: S_IFREG | 0o755, size: bytes.len() as u64, nlink: 1, ino: id.0, dev: 1, ..Default::default() };
        let path = format!("/{name}");
        let head = bytes[..bytes.len().min(BINPRM_BUF_SIZE)].into();
        let data = Arc::new(MemFile(bytes));
        let node = OpenNode { id, meta, path: path.clone(), data, node: Node::Synthetic { meta, entries: Vec::new() } };
        ExecFile { path, node, head }
    }
}

/// What execve asks to load (Linux's linux_binprm): the program, opened
/// and parsed, the name it was exec'd by, and its arguments and
/// environment.
pub(crate) struct Binprm<'a> {
    pub file: &'a ExecFile,
    pub image: &'a Image,
    /// AT_EXECFN (bprm->filename).
    pub execfn: &'a str,
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
}

/// Why a file cannot be executed.
fn exec_refusal(meta: &super::files::vfs::Meta) -> Errno {
    if meta.is_reg() && meta.size > MAX_EXEC_SIZE {
        ENOMEM
    } else {
        EACCES
    }
}

impl KernelState {
    /// Opens `path` (from `start`) for exec, as `cred`: a regular file the
    /// caller may execute (`pid` answers /proc's links on the way).
    pub(crate) fn open_exec(&mut self, pid: Pid, start: &Lookup, path: &str, cred: &Cred) -> Result<ExecFile, Errno> {
        let links = super::procfs::Links { k: self, pid };
        let look = self.files.vfs().resolve(start, path, true, &links, cred)?;
        let meta = match &look.node {
            Node::Host { .. } | Node::Mem(_) => look.node.meta(),
            Node::Proc(_) | Node::Device(_) | Node::Synthetic { .. } => return Err(EACCES),
        };
        if !meta.is_reg()
            || meta.size > MAX_EXEC_SIZE
            || cred.permission(meta.mode, meta.uid, meta.gid, MAY_EXEC).is_err()
        {
            return Err(exec_refusal(&meta));
        }
        let node = match &look.node {
            Node::Mem(i) => self.files.vfs_mut().open_mem(&look.path, i).ok_or(EACCES)?,
            n => self.files.vfs_mut().open_host(&look.path, n, false)?,
        };
        let mut head = vec![0u8; node.data.size().min(BINPRM_BUF_SIZE as u64) as usize];
        self.read_exec(&node, 0, &mut head).map_err(|_| EIO)?;
        Ok(ExecFile { path: look.path, node, head: head.into() })
    }

    /// Reads `buf.len()` bytes of a program file at `off`: a file the
    /// sandbox wrote lives only in the page cache; a host file is read
    /// from the host, leaving the cache to the faults.
    fn read_exec(&mut self, node: &OpenNode, off: u64, buf: &mut [u8]) -> io::Result<()> {
        if !node.data.memory_only() {
            return node.data.read_exact_at(off, buf);
        }
        let got = self.read_cached(node.id, &node.data, off, buf.len()).map_err(|_| io::Error::other("EIO"))?;
        if got.len() < buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&got);
        Ok(())
    }

    /// `file` validated as an ELF executable (named `name` in errors),
    /// reading only its headers: exec needs a few pages of a 30 MiB
    /// compiler, and its pages come in by faults.
    pub(crate) fn exec_image(&mut self, file: &ExecFile, name: String) -> Result<Image, LoadError> {
        let size = file.node.data.size();
        Image::read(name, size, &mut |off, buf| self.read_exec(&file.node, off, buf))
    }
}

/// The name a process gets at exec (`comm`): the last part of the name
/// exec was given (bprm->filename), so a symlink `mycat -> cat` runs as
/// `mycat` and a script under its own name; for execveat of a descriptor
/// (`/dev/fd/N`), the file's own name, as Linux 6.14 gives it.
fn exec_comm(execfn: &str, file: &ExecFile) -> String {
    if execfn.starts_with("/dev/fd/") && execfn[8..].bytes().all(|b| b.is_ascii_digit()) {
        comm_of(&file.path)
    } else {
        comm_of(execfn)
    }
}

/// Reads a NULL-terminated array of strings (argv or envp).
fn read_strings(ctx: &mut Ctx, addr: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    loop {
        let p = ctx.read_u64(addr + out.len() as u64 * 8)?;
        if p == 0 {
            return Ok(out);
        }
        let s = ctx.read_cstr(p, MAX_ARG_STRLEN).map_err(|e| if e == ENAMETOOLONG { E2BIG } else { e })?;
        *total += s.len() + 1 + 8;
        // ARG_MAX is a quarter of the stack limit.
        if *total as u64 > ctx.proc().limits.cur(RLIMIT_STACK) / 4 {
            return Err(E2BIG);
        }
        out.push(s);
    }
}

/// execve(2) and execveat(2).
/// `execfn` is the name AT_EXECFN gives the new program (bprm->filename):
/// the path as given, or execveat's `/dev/fd/N[/name]`; it stays the
/// script's even when an interpreter runs it.
pub(crate) fn execve(ctx: &mut Ctx, path: &[u8], argv_ptr: u64, envp_ptr: u64, execfn: Option<String>) -> SysResult {
    let mut total = 0;
    let mut argv = read_strings(ctx, argv_ptr, &mut total)?;
    let envp = read_strings(ctx, envp_ptr, &mut total)?;
    // An empty argv gets "" as argv[0] (Linux 5.18+), so a program that
    // starts at argv[1] does not walk into envp.
    if argv.is_empty() {
        argv.push(Vec::new());
    }
    let mut path = String::from_utf8(path.to_vec()).map_err(|_| ENOENT)?;
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    let execfn = execfn.unwrap_or_else(|| path.clone());
    let (cwd, cred) = (ctx.proc().fs.cwd(), ctx.proc().cred.clone());
    let mut depth = 0;
    let (file, image) = loop {
        let file = ctx.k.open_exec(ctx.pid, &cwd, &path, &cred)?;
        if let Some(script) = shebang(&file.head) {
            depth += 1;
            if depth > MAX_SCRIPT_DEPTH {
                return Err(ELOOP);
            }
            let (interp, arg) = script?;
            argv = script_argv(&interp, arg, &path, &argv);
            path = interp;
            continue;
        }
        let image = ctx.k.exec_image(&file, file.path.clone()).map_err(|_| ENOEXEC)?;
        break (file, image);
    };
    let (pid, tid) = (ctx.pid, ctx.tid);
    // bprm_execve(): the program gets a descriptor table of its own (its
    // close-on-exec descriptors close there, not in its sharers'), kept
    // even if the exec fails from here on.
    ctx.k.unshare_files(pid)?;
    let stack = ctx.proc().limits.cur(RLIMIT_STACK);
    let cmdline = ctx.k.cmdline(&argv)?;
    let bprm = Binprm { file: &file, image: &image, execfn: &execfn, argv: &argv, envp: &envp };
    let loaded = ctx.k.load_program(pid, tid, &bprm, stack)?;
    commit(ctx, loaded, &file, cmdline, &execfn);
    Ok(0)
}

impl KernelState {
    /// The kernel's copy of `argv` for /proc/PID/cmdline, charged (ENOMEM).
    fn cmdline(&mut self, argv: &[Vec<u8>]) -> Result<Arc<Cmdline>, Errno> {
        let bytes: Vec<u8> = argv.iter().flat_map(|a| a.iter().copied().chain([0])).collect();
        let kmem = Some(self.kmem_charge(crate::mm::Kmem::Kmalloc(bytes.len() as u64), 1)?);
        Ok(Arc::new(Cmdline { bytes, _kmem: kmem }))
    }
}

/// Past the point of no return: the process becomes the new program.
fn commit(ctx: &mut Ctx, loaded: Loaded, file: &ExecFile, cmdline: Arc<Cmdline>, execfn: &str) {
    let tid = ctx.tid;
    // de_thread(): every other thread of the process goes.
    let others: Vec<Tid> = ctx.proc().threads.iter().copied().filter(|&t| t != tid).collect();
    for t in others {
        if let Some(th) = ctx.k.tasks.thread_mut(t) {
            th.killed = true;
            th.wake();
        }
        ctx.k.exit_thread(t, None);
    }
    let old = std::mem::replace(&mut ctx.proc_mut().mm, loaded.mm);
    // exec_mmap: the old image's peak stays in ru_maxrss.
    let hiwater = ctx.k.phys.mm_counters(old).hiwater;
    ctx.proc_mut().rusage.maxrss = ctx.proc().rusage.maxrss.max(hiwater);
    ctx.k.put_mm(old);
    let p = ctx.proc_mut();
    let closed = p.files.close_on_exec();
    // unshare_sighand(): handlers shared with other processes are copied
    // before they are reset; the file-system context stays shared.
    p.sig.unshare();
    p.sig.reset_for_exec();
    p.timers.exec();
    p.cred.exec();
    // begin_new_exec(): dumpable unless the program runs with ids not its
    // caller's own (suid_dumpable, 0, then).
    p.dumpable = p.cred.euid == p.cred.uid && p.cred.egid == p.cred.gid;
    p.comm = exec_comm(execfn, file);
    p.exe = file.path.clone();
    p.cmdline = cmdline;
    // exec_task_namespaces(): the program runs in the namespace made for
    // the caller's children, if it unshared one.
    if !Arc::ptr_eq(&p.time_ns, &p.time_ns_for_children) {
        p.time_ns_for_children.enter();
        p.time_ns = p.time_ns_for_children.clone();
    }
    let vfork_parent = p.vfork_parent.take();
    p.did_exec = true;
    if let Some(t) = vfork_parent.and_then(|t| ctx.k.tasks.thread(t)) {
        t.wake();
    }
    // Closing a descriptor releases the process's locks on its file, and
    // the pages of an unlinked file no one holds now.
    for f in closed {
        ctx.k.filp_close(ctx.pid, &f.file);
        if let super::files::FileKind::File(n) = &f.file.kind {
            let id = n.id;
            drop(f);
            ctx.k.release_if_orphan(id);
        }
    }
    let t = ctx.thread_mut();
    t.tls = Tls::default();
    t.clear_child_tid = 0;
    t.robust_list = (0, 0);
    t.rseq = None;
    t.altstack = Default::default();
    let ppid = ctx.proc().ppid;
    ctx.k.record_lifecycle(crate::timeline::EventKind::Exec, ctx.pid, tid, ppid);
    let root = ctx.k.mm.space(loaded.mm).root();
    let regs = UserRegs::user_start(loaded.entry, loaded.sp);
    ctx.enter = Some(Entry { root, regs, fpu: None, tls: Tls::default() });
    ctx.keep_regs = true;
    ctx.k.procfs.changed();
}
