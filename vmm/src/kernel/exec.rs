//! execve: loading a program into a fresh address space as Linux's
//! binfmt_elf does, and replacing the calling process's image with it.
//!
//! Segments are private mappings of the file (served from the page cache);
//! the tail of the last file page before .bss is zeroed at exec (padzero),
//! .bss beyond it is anonymous; a dynamically linked program gets its
//! interpreter mapped top-down from mmap_base, with the vDSO's place kept
//! below it, so addresses match a native run without ASLR. `#!` scripts
//! run their interpreter.

use std::sync::Arc;

use super::abi::limits::PATH_MAX;
use super::abi::resource::RLIMIT_STACK;
use super::cred::{Cred, MAY_EXEC};
use super::errno::*;
use super::files::vfs::Lookup;
use super::files::vfs::{Node, OpenNode};
use super::initial_stack::{initial_stack, ExecInfo};
use super::process::{comm_of, Cmdline, Pid, Tid};
use super::task::Ctx;
use super::{Entry, KernelState};
use crate::arch::layout::{MMAP_MIN_ADDR, USER_TOP};
use crate::arch::{page_ceil, page_floor, Perms, UserRegs, PAGE_SIZE};
use crate::loader::{page_names, Image};
use crate::mm::{Backing, CachedFile, ElfSection, FileRef, MmId, SectionRange, Vma, VmaKind, STACK_GUARD_GAP};
use crate::timeline::RegionKind;

/// Linux's MIN_GAP between the stack top and mmap_base.
const MIN_GAP: u64 = 128 << 20;
/// How much stack Linux maps beyond the arguments at exec (setup_arg_pages).
pub const STACK_EXPAND: u64 = 128 << 10;
/// MAX_ARG_STRLEN: the longest single argument or environment string.
const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;
/// Nested `#!` interpreters allowed (BINPRM_MAX_RECURSION).
pub const MAX_SCRIPT_DEPTH: u32 = 4;
/// Largest executable faultline reads to parse (it maps it page by page).
const MAX_EXEC_SIZE: u64 = 1 << 30;
/// The vDSO's pages as Linux 6.x lays them out: [vvar] (4), [vvar_vclock]
/// (2), [vdso] (2). faultline maps none of their contents (the program
/// gets no AT_SYSINFO_EHDR and makes real syscalls), but keeps their place
/// so every later mapping lands where it would natively.
const VDSO_LAYOUT: [(&str, u64, Perms); 3] = [
    ("[vvar]", 4, Perms::new(true, false, false)),
    ("[vvar_vclock]", 2, Perms::new(true, false, false)),
    ("[vdso]", 2, Perms::new(true, false, true)),
];

/// Where top-down mmap placement starts, as Linux computes mmap_base
/// without randomisation: below the stack's rlimit plus guard gap, at
/// least 128 MiB below the top.
pub fn mmap_base(stack_rlimit: u64) -> u64 {
    let gap = stack_rlimit.saturating_add(STACK_GUARD_GAP).clamp(MIN_GAP, USER_TOP / 6 * 5);
    (USER_TOP - gap) & !(PAGE_SIZE - 1)
}

/// A program file, opened for exec.
#[derive(Clone)]
pub struct ExecFile {
    /// Its path inside the sandbox (for /proc/PID/exe and maps).
    pub path: String,
    pub node: OpenNode,
    pub bytes: Arc<[u8]>,
}

impl ExecFile {
    /// A program held in memory (the built-in demo), seen as `/name`:
    /// page-cache file `id`.
    pub fn in_memory(name: &str, bytes: Arc<[u8]>, id: crate::mm::FileId) -> Self {
        use super::files::vfs::{MemFile, Meta, Node, S_IFREG};
        let meta =
            Meta { mode: S_IFREG | 0o755, size: bytes.len() as u64, nlink: 1, ino: id.0, dev: 1, ..Default::default() };
        let path = format!("/{name}");
        let data = Arc::new(MemFile(bytes.clone()));
        let node = OpenNode { id, meta, path: path.clone(), data, node: Node::Synthetic { meta, entries: Vec::new() } };
        ExecFile { path, node, bytes }
    }
}

/// What loading made.
pub struct Loaded {
    pub mm: MmId,
    pub entry: u64,
    pub sp: u64,
}

/// Why a file cannot be executed.
fn exec_refusal(meta: &super::files::vfs::Meta) -> Errno {
    if meta.is_reg() && meta.size > MAX_EXEC_SIZE {
        ENOMEM
    } else {
        EACCES
    }
}

/// Random bytes from the host (AT_RANDOM, ASLR).
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: writing into a 16-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 16, 0) };
    if n != 16 {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        b[..8].copy_from_slice(&(t ^ std::process::id() as u64).to_le_bytes());
    }
    b
}

impl KernelState {
    /// Opens `path` (from `start`) for exec, as `cred`: a regular file the
    /// caller may execute (`pid` answers /proc's links on the way).
    pub fn open_exec(&mut self, pid: Pid, start: &Lookup, path: &str, cred: &Cred) -> Result<ExecFile, Errno> {
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
        // A file the sandbox wrote lives only in the page cache; a host
        // file is read from the host, leaving the cache to the faults.
        let bytes = if node.data.memory_only() {
            self.read_cached(node.id, &node.data, 0, meta.size as usize)?
        } else {
            let mut bytes = vec![0u8; meta.size as usize];
            let mut done = 0;
            while done < bytes.len() {
                let n = node.data.read_at(done as u64, &mut bytes[done..]).map_err(|_| EIO)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            bytes.truncate(done);
            bytes
        };
        Ok(ExecFile { path: look.path, node, bytes: bytes.into() })
    }

    /// The page-cache identity of an exec'd file, registered in the cache.
    fn file_ref(&mut self, f: &ExecFile) -> FileRef {
        self.phys
            .cache
            .entry(f.node.id)
            .or_insert_with(|| CachedFile { data: f.node.data.clone(), pages: Default::default() });
        FileRef { id: f.node.id, path: f.path.as_str().into(), dev: f.node.meta.dev, ino: f.node.meta.ino }
    }

    /// Maps `image`'s segments from `file` into `mm`, shifted by `shift`
    /// from the addresses the image was parsed at; pages are named by
    /// `names` (a section per page for the program, one name for a
    /// library). Returns the end of the highest segment.
    #[allow(clippy::too_many_arguments)]
    fn map_segments(
        &mut self,
        mm: MmId,
        pid: Pid,
        tid: Tid,
        image: &Image,
        file: &ExecFile,
        shift: i64,
        names: Option<&str>,
    ) -> Result<u64, Errno> {
        let fref = self.file_ref(file);
        let at = |a: u64| (a as i64 + shift) as u64;
        let mut ranges = Vec::new();
        match names {
            None => {
                for r in page_names(image) {
                    let kind = RegionKind::Image;
                    let region = self.report.recorder_mut().region(&r.name, kind);
                    ranges.push(SectionRange { start: at(r.start), end: at(r.end), region });
                }
            }
            Some(n) => {
                let region = self.report.recorder_mut().region(n, RegionKind::File);
                for s in &image.segments {
                    ranges.push(SectionRange {
                        start: page_floor(at(s.vaddr)),
                        end: page_ceil(at(s.end())).unwrap_or(USER_TOP),
                        region,
                    });
                }
            }
        }
        let mut top = 0;
        let mut zero_tails = Vec::new();
        for seg in &image.segments {
            let vaddr = at(seg.vaddr);
            let start = page_floor(vaddr);
            let file_end = vaddr + seg.filesz;
            let mem_end = vaddr + seg.memsz;
            let map_end = if seg.filesz > 0 { page_ceil(file_end).ok_or(ENOMEM)? } else { start };
            let region = ranges
                .iter()
                .find(|r| r.start <= start && start < r.end)
                .map_or(crate::timeline::RegionId(0), |r| r.region);
            let space = self.mm.space_mut(mm);
            if map_end > start {
                space.vmas.remove(start, map_end);
                let mut v = Vma::anon(start, map_end, seg.perms, VmaKind::Image, region);
                v.backing = Backing::File { file: fref.clone(), pgoff: page_floor(seg.offset) / PAGE_SIZE };
                space.vmas.insert(v);
            }
            let bss_start = map_end.max(start);
            let bss_end = page_ceil(mem_end).ok_or(ENOMEM)?;
            if bss_end > bss_start {
                space.vmas.remove(bss_start, bss_end);
                space.vmas.insert(Vma::anon(bss_start, bss_end, seg.perms, VmaKind::Image, region));
            }
            // As elf_load: only a segment with file bytes has a tail to clear
            // (one without starts on a fresh page).
            if seg.filesz > 0 && seg.memsz > seg.filesz && file_end % PAGE_SIZE != 0 && seg.perms.write {
                zero_tails.push((file_end, map_end));
            }
            top = top.max(mem_end);
        }
        {
            let space = self.mm.space_mut(mm);
            space.sections.extend(ranges);
            space.sections.sort_by_key(|r| r.start);
            if names.is_none() {
                let mut elf: Vec<ElfSection> = image
                    .sections
                    .iter()
                    .map(|s| ElfSection { start: at(s.addr), end: at(s.addr) + s.size, name: s.name.as_str().into() })
                    .collect();
                elf.sort_by_key(|s| s.start);
                space.elf_sections = elf.into();
            }
        }
        // padzero(): the bytes after the file's part of the last page are
        // zeroed, as the kernel does in exec (its write copies the page).
        for (from, to) in zero_tails {
            let zeros = vec![0u8; (to - from) as usize];
            self.copy_to_mm(mm, pid, tid, from, &zeros).map_err(|_| EFAULT)?;
        }
        Ok(top)
    }

    /// Loads `file` (already parsed as `image`) into a fresh address space
    /// for process `pid`, with its interpreter if it names one, and lays
    /// out the initial stack.
    #[allow(clippy::too_many_arguments)]
    pub fn load_program(
        &mut self,
        pid: Pid,
        tid: Tid,
        file: &ExecFile,
        image: &Image,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
        execfn: &str,
        stack_limit: u64,
    ) -> Result<Loaded, Errno> {
        let mm = self.mm.create(&mut self.phys).map_err(|_| ENOMEM)?;
        // Rows recorded while loading belong to the new address space.
        self.mm.set_loading(Some((pid, mm)));
        let loaded = self.load_into(mm, pid, tid, file, image, argv, envp, execfn, stack_limit);
        self.mm.set_loading(None);
        match loaded {
            Ok(l) => Ok(l),
            Err(e) => {
                self.put_mm(mm);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn load_into(
        &mut self,
        mm: MmId,
        pid: Pid,
        tid: Tid,
        file: &ExecFile,
        image: &Image,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
        execfn: &str,
        stack_limit: u64,
    ) -> Result<Loaded, Errno> {
        let aslr = self.cfg.aslr;
        let random = random_bytes();
        let r = u64::from_le_bytes(random[..8].try_into().expect("8 bytes"));
        let mut base = mmap_base(stack_limit);
        if aslr {
            // mmap_rnd_bits = 28 pages.
            base -= ((r >> 16) % (1 << 28)) << 12;
        }
        self.mm.space_mut(mm).mmap_base = base;
        let end = self.map_segments(mm, pid, tid, image, file, 0, None)?;
        let mut brk = page_ceil(end).ok_or(ENOMEM)?;
        if aslr {
            // arch_randomize_brk: within 32 MiB.
            brk += (r % (32 << 20 >> 12)) << 12;
        }
        let mut entry = image.entry;
        let mut interp_base = 0;
        if let Some(interp) = &image.interp {
            let root = self.files.vfs().root().clone();
            let cred = self.tasks.proc(pid).map(|p| p.cred.clone()).unwrap_or_else(|| Cred::new(0, 0, &[]));
            let ifile =
                self.open_exec(pid, &root, interp, &cred).map_err(|e| if e == EACCES { EACCES } else { ENOENT })?;
            let iimage = Image::from_bytes(ifile.path.clone(), ifile.bytes.clone()).map_err(|_| ELIBBAD)?;
            if iimage.interp.is_some() {
                return Err(ELIBBAD);
            }
            // The interpreter's span, placed top-down as elf_map places
            // an ET_DYN image with no address of its own.
            let lo = iimage.segments.iter().map(|s| page_floor(s.vaddr)).min().ok_or(ELIBBAD)?;
            let hi = iimage.segments.iter().map(|s| s.end()).max().ok_or(ELIBBAD)?;
            let span = page_ceil(hi).ok_or(ELIBBAD)? - lo;
            let at = if iimage.bias == 0 {
                lo
            } else {
                self.mm.space(mm).vmas.gap_top_down(span, MMAP_MIN_ADDR, base, STACK_GUARD_GAP).ok_or(ENOMEM)?
            };
            let shift = at as i64 - lo as i64;
            let name = comm_of(&ifile.path);
            let name = ifile.path.rsplit('/').next().unwrap_or(&name).to_string();
            self.map_segments(mm, pid, tid, &iimage, &ifile, shift, Some(&name))?;
            entry = (iimage.entry as i64 + shift) as u64;
            // AT_BASE: where the interpreter's address 0 went.
            interp_base = (shift + iimage.bias as i64) as u64;
        }
        // The vDSO's place.
        let vdso_len: u64 = VDSO_LAYOUT.iter().map(|(_, p, _)| p * PAGE_SIZE).sum();
        if let Some(mut at) = self.mm.space(mm).vmas.gap_top_down(vdso_len, MMAP_MIN_ADDR, base, STACK_GUARD_GAP) {
            for (name, pages, perms) in VDSO_LAYOUT {
                let region = self.report.recorder_mut().region(name, RegionKind::Mmap);
                let mut v = Vma::anon(at, at + pages * PAGE_SIZE, perms, VmaKind::Anon, region);
                v.anon_name = Some(name.into());
                self.mm.space_mut(mm).vmas.insert(v);
                at += pages * PAGE_SIZE;
            }
        }
        let space = self.mm.space_mut(mm);
        space.brk_start = brk;
        space.brk = brk;
        // The initial stack.
        let cred = self.tasks.proc(pid).map(|p| p.cred.clone()).unwrap_or_else(|| Cred::new(0, 0, &[]));
        let info = ExecInfo {
            execfn: execfn.to_string(),
            argv: argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
            envp: envp.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
            phdr: image.phdr,
            phent: image.phent,
            phnum: image.phnum,
            entry: image.entry,
            base: interp_base,
            uid: cred.uid,
            euid: cred.euid,
            gid: cred.gid,
            egid: cred.egid,
            hwcap: self.cfg.hwcap,
            random,
        };
        let st = initial_stack(USER_TOP, &info);
        if st.bytes.len() as u64 > stack_limit / 4 {
            return Err(E2BIG);
        }
        let stack_region = self.report.recorder_mut().region("stack", RegionKind::Stack);
        let initial = (page_ceil(st.bytes.len() as u64).ok_or(E2BIG)? + STACK_EXPAND).min(stack_limit.max(PAGE_SIZE));
        let stack_start = USER_TOP - page_ceil(initial).unwrap_or(initial);
        let mut v = Vma::anon(stack_start, USER_TOP, Perms::RW, VmaKind::Stack, stack_region);
        v.growsdown = true;
        let space = self.mm.space_mut(mm);
        space.vmas.insert(v);
        space.start_stack = st.sp;
        // argv and envp strings, for /proc/PID/cmdline and environ.
        let args_len: u64 = argv.iter().map(|a| a.len() as u64 + 1).sum();
        let env_len: u64 = envp.iter().map(|a| a.len() as u64 + 1).sum();
        let strings_top = USER_TOP - 8 - (execfn.len() as u64 + 1);
        space.env = (strings_top - env_len, strings_top);
        space.arg = (strings_top - env_len - args_len, strings_top - env_len);
        space.peak_size = space.vmas.total();
        self.copy_to_mm(mm, pid, tid, st.sp, &st.bytes).map_err(|_| ENOMEM)?;
        Ok(Loaded { mm, entry, sp: st.sp })
    }
}

/// What a `#!` line asks for, as binfmt_script reads it: the interpreter
/// and its one optional argument (the rest of the line, trimmed). `None`
/// if `bytes` is not a script; ENOEXEC if the line names no interpreter.
pub fn shebang(bytes: &[u8]) -> Option<Result<(String, Option<String>), Errno>> {
    if !bytes.starts_with(b"#!") {
        return None;
    }
    // BINPRM_BUF_SIZE: the kernel looks at the first 256 bytes only.
    let line_end = bytes.iter().take(256).position(|&b| b == b'\n').unwrap_or(bytes.len().min(256));
    let line = String::from_utf8_lossy(&bytes[2..line_end]).trim().to_string();
    let mut parts = line.splitn(2, [' ', '\t']);
    let Some(interp) = parts.next().filter(|s| !s.is_empty()).map(str::to_string) else { return Some(Err(ENOEXEC)) };
    let arg = parts.next().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Some(Ok((interp, arg)))
}

/// The interpreter's argv for script `filename` run with `argv`:
/// `[interp, optional arg, filename, argv[1..]]`, as binfmt_script makes it.
pub fn script_argv(interp: &str, arg: Option<String>, filename: &str, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut new = vec![interp.as_bytes().to_vec()];
    new.extend(arg.map(String::into_bytes));
    new.push(filename.as_bytes().to_vec());
    new.extend(argv.iter().skip(1).cloned());
    new
}

/// The name a process gets at exec (`comm`): the last part of the name
/// exec was given (bprm->filename), so a symlink `mycat -> cat` runs as
/// `mycat` and a script under its own name; for execveat of a descriptor
/// (`/dev/fd/N`), the file's own name, as Linux 6.14 gives it.
pub fn exec_comm(execfn: &str, file: &ExecFile) -> String {
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
pub fn execve(ctx: &mut Ctx, path: &[u8], argv_ptr: u64, envp_ptr: u64, execfn: Option<String>) -> SysResult {
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
    let (cwd, cred) = (ctx.proc().cwd.clone(), ctx.proc().cred.clone());
    let mut depth = 0;
    let (file, image) = loop {
        let file = ctx.k.open_exec(ctx.pid, &cwd, &path, &cred)?;
        if let Some(script) = shebang(&file.bytes) {
            depth += 1;
            if depth > MAX_SCRIPT_DEPTH {
                return Err(ELOOP);
            }
            let (interp, arg) = script?;
            argv = script_argv(&interp, arg, &path, &argv);
            path = interp;
            continue;
        }
        let image = Image::from_bytes(file.path.clone(), file.bytes.clone()).map_err(|_| ENOEXEC)?;
        break (file, image);
    };
    let (pid, tid) = (ctx.pid, ctx.tid);
    let stack = ctx.proc().limits.cur(RLIMIT_STACK);
    let cmdline = ctx.k.cmdline(&argv)?;
    let loaded = ctx.k.load_program(pid, tid, &file, &image, &argv, &envp, &execfn, stack)?;
    commit(ctx, loaded, &file, cmdline, &execfn);
    Ok(0)
}

impl KernelState {
    /// The kernel's copy of `argv` for /proc/PID/cmdline, charged (ENOMEM).
    pub fn cmdline(&mut self, argv: &[Vec<u8>]) -> Result<Arc<Cmdline>, Errno> {
        let bytes: Vec<u8> = argv.iter().flat_map(|a| a.iter().copied().chain([0])).collect();
        let kmem = Some(self.kmem_charge(crate::mm::Kmem::Kmalloc(bytes.len() as u64), 1)?);
        Ok(Arc::new(Cmdline { bytes, kmem }))
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
    p.sig.reset_for_exec();
    p.timers.exec();
    p.cred.exec();
    p.comm = exec_comm(execfn, file);
    p.exe = file.path.clone();
    p.cmdline = cmdline;
    let vfork_parent = p.vfork_parent.take();
    p.did_exec = true;
    if let Some(t) = vfork_parent.and_then(|t| ctx.k.tasks.thread(t)) {
        t.wake();
    }
    // Closing a descriptor releases the process's locks on its file.
    for f in closed {
        ctx.k.locks_file_closed(ctx.pid, &f.file);
    }
    let t = ctx.thread_mut();
    t.fs_base = 0;
    t.gs_base = 0;
    t.clear_child_tid = 0;
    t.robust_list = (0, 0);
    t.rseq = None;
    t.altstack = Default::default();
    let ppid = ctx.proc().ppid;
    ctx.k.record_lifecycle(crate::timeline::EventKind::Exec, ctx.pid, tid, ppid);
    let cr3 = ctx.k.mm.space(loaded.mm).root();
    let regs =
        UserRegs { rip: loaded.entry, rsp: loaded.sp, rflags: crate::arch::cpu::USER_RFLAGS, ..Default::default() };
    ctx.enter = Some(Entry { cr3, regs, fpu: None, fs_base: 0, gs_base: 0 });
    ctx.keep_regs = true;
    ctx.k.procfs.changed();
}

impl KernelState {
    /// Creates pid 1 running `file` (parsed as `image`), exec'd by the name
    /// `execfn`: its process, its first thread (queued for a vCPU), its
    /// address space, and its standard streams.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_init(
        &mut self,
        file: &ExecFile,
        image: &Image,
        execfn: &str,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
        cwd: Lookup,
        cred: Cred,
        limits: super::limits::Limits,
        stdio: [super::files::FileKind; 3],
    ) -> Result<Tid, Errno> {
        use super::abi::fcntl::{O_RDONLY, O_WRONLY};
        use super::files::{Fd, FdTable, OpenFile};
        use super::process::{ProcState, Process};
        let pid = self.tasks.alloc_id();
        let stack = limits.cur(RLIMIT_STACK);
        // A placeholder so loading can record events for pid 1.
        let mut files = FdTable::default();
        for (i, kind) in stdio.into_iter().enumerate() {
            let flags = if i == 0 { O_RDONLY } else { O_WRONLY };
            let f = OpenFile::new(kind, flags, "");
            self.charge_open_file(&f)?;
            files.set(i as i32, Fd { file: f, cloexec: false });
        }
        let p = Process {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            comm: exec_comm(execfn, file),
            exe: file.path.clone(),
            cmdline: self.cmdline(argv)?,
            mm: MmId(0),
            files,
            cwd,
            cred,
            umask: 0o022,
            limits,
            sig: Default::default(),
            shared_pending: Default::default(),
            threads: vec![pid],
            children: Vec::new(),
            state: ProcState::Running,
            exit_signal: super::signal::SIGCHLD,
            vfork_parent: None,
            did_exec: true,
            group_exit: None,
            oom_score_adj: 0,
            started: std::time::Instant::now(),
            rusage: Default::default(),
            children_rusage: Default::default(),
            child_wait: Default::default(),
            oom_killed: false,
            itimer_real: None,
            timers: Default::default(),
        };
        self.tasks.add_process(p);
        let loaded = match self.load_program(pid, pid, file, image, argv, envp, execfn, stack) {
            Ok(l) => l,
            Err(e) => {
                self.tasks.remove_process(pid);
                return Err(e);
            }
        };
        self.tasks.proc_mut(pid).expect("just made").mm = loaded.mm;
        self.record_lifecycle(crate::timeline::EventKind::Exec, pid, pid, 0);
        let regs =
            UserRegs { rip: loaded.entry, rsp: loaded.sp, rflags: crate::arch::cpu::USER_RFLAGS, ..Default::default() };
        let mut t = super::thread::Thread::new(pid, pid, super::thread::StartState { regs, fpu: None });
        t.kmem = Some(self.charge_task()?);
        self.tasks.add_thread(t);
        self.tasks.queue_spawn(pid);
        Ok(pid)
    }
}
