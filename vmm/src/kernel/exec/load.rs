//! Loading an ELF program into a fresh address space, as binfmt_elf:
//! its segments, its interpreter, the vDSO's place, brk and the initial
//! stack.

use super::{Binprm, ExecFile};
use crate::arch::layout::{MMAP_MIN_ADDR, USER_TOP};
use crate::arch::{page_ceil, page_floor, Perms, PAGE_SIZE};
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::kernel::initial_stack::{initial_stack, ExecInfo};
use crate::kernel::process::{comm_of, Pid, Tid};
use crate::kernel::KernelState;
use crate::loader::{page_names, Image};
use crate::mm::{Backing, CachedFile, ElfSection, FileRef, MmId, SectionRange, Vma, VmaKind, STACK_GUARD_GAP};
use crate::timeline::RegionKind;

/// Linux's MIN_GAP between the stack top and mmap_base.
const MIN_GAP: u64 = 128 << 20;
/// How much stack Linux maps beyond the arguments at exec (setup_arg_pages).
const STACK_EXPAND: u64 = 128 << 10;

/// Where top-down mmap placement starts, as Linux computes mmap_base
/// without randomisation: below the stack's rlimit plus guard gap, at
/// least 128 MiB below the top.
fn mmap_base(stack_rlimit: u64) -> u64 {
    let gap = stack_rlimit.saturating_add(STACK_GUARD_GAP).clamp(MIN_GAP, USER_TOP / 6 * 5);
    (USER_TOP - gap) & !(PAGE_SIZE - 1)
}

/// The address space being loaded and the thread it is for (loading's
/// rows and copies are theirs).
#[derive(Clone, Copy)]
struct Target {
    mm: MmId,
    pid: Pid,
    tid: Tid,
}

/// What loading made.
pub(super) struct Loaded {
    pub(super) mm: MmId,
    pub(super) entry: u64,
    pub(super) sp: u64,
}

/// Random bytes from the host (AT_RANDOM, ASLR).
fn random_bytes() -> [u8; 16] {
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
    /// The page-cache identity of an exec'd file, registered in the cache.
    fn file_ref(&mut self, f: &ExecFile) -> FileRef {
        self.phys.cache.entry(f.node.id).or_insert_with(|| CachedFile::new(f.node.data.clone()));
        FileRef { id: f.node.id, path: f.path.as_str().into(), dev: f.node.meta.dev, ino: f.node.meta.ino }
    }

    /// The regions `image`'s pages are filed under once shifted by
    /// `shift`: a section per page for the program (`names` none), one
    /// name for a library.
    fn section_ranges(&mut self, image: &Image, shift: i64, names: Option<&str>) -> Vec<SectionRange> {
        let at = |a: u64| (a as i64 + shift) as u64;
        match names {
            None => page_names(image)
                .into_iter()
                .map(|r| {
                    let region = self.report.recorder_mut().region(&r.name, RegionKind::Image);
                    SectionRange { start: at(r.start), end: at(r.end), region }
                })
                .collect(),
            Some(n) => {
                let region = self.report.recorder_mut().region(n, RegionKind::File);
                image
                    .segments
                    .iter()
                    .map(|s| SectionRange {
                        start: page_floor(at(s.vaddr)),
                        end: page_ceil(at(s.end())).unwrap_or(USER_TOP),
                        region,
                    })
                    .collect()
            }
        }
    }

    /// Maps `image`'s segments from `file` into `t.mm`, shifted by `shift`
    /// from the addresses the image was parsed at; pages are named by
    /// `names` (see [`Self::section_ranges`]). Returns the end of the
    /// highest segment.
    fn map_segments(
        &mut self,
        t: Target,
        image: &Image,
        file: &ExecFile,
        shift: i64,
        names: Option<&str>,
    ) -> Result<u64, Errno> {
        let fref = self.file_ref(file);
        let at = |a: u64| (a as i64 + shift) as u64;
        let ranges = self.section_ranges(image, shift, names);
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
            let space = self.mm.space_mut(t.mm);
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
        let space = self.mm.space_mut(t.mm);
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
        // padzero(): the bytes after the file's part of the last page are
        // zeroed, as the kernel does in exec (its write copies the page).
        for (from, to) in zero_tails {
            let zeros = vec![0u8; (to - from) as usize];
            self.copy_to_mm(t.mm, t.pid, t.tid, from, &zeros).map_err(|_| EFAULT)?;
        }
        Ok(top)
    }

    /// Loads `bprm`'s program into a fresh address space for thread `tid`
    /// of process `pid`, with its interpreter if it names one, and lays out
    /// the initial stack (within `stack_limit`, RLIMIT_STACK).
    pub(super) fn load_program(
        &mut self,
        pid: Pid,
        tid: Tid,
        bprm: &Binprm,
        stack_limit: u64,
    ) -> Result<Loaded, Errno> {
        let mm = self.mm.create(&mut self.phys).map_err(|_| ENOMEM)?;
        // Rows recorded while loading belong to the new address space.
        self.mm.set_loading(Some((pid, mm)));
        let loaded = self.load_into(Target { mm, pid, tid }, bprm, stack_limit);
        self.mm.set_loading(None);
        match loaded {
            Ok(l) => Ok(l),
            Err(e) => {
                self.put_mm(mm);
                Err(e)
            }
        }
    }

    fn load_into(&mut self, t: Target, bprm: &Binprm, stack_limit: u64) -> Result<Loaded, Errno> {
        let aslr = self.cfg.aslr;
        let random = random_bytes();
        let r = u64::from_le_bytes(random[..8].try_into().expect("8 bytes"));
        let mut base = mmap_base(stack_limit);
        if aslr {
            // mmap_rnd_bits = 28 pages.
            base -= ((r >> 16) % (1 << 28)) << 12;
        }
        self.mm.space_mut(t.mm).mmap_base = base;
        let image = bprm.image;
        let end = self.map_segments(t, image, bprm.file, 0, None)?;
        let mut brk = page_ceil(end).ok_or(ENOMEM)?;
        if aslr {
            // arch_randomize_brk: within 32 MiB.
            brk += (r % (32 << 20 >> 12)) << 12;
        }
        let (entry, interp_base) = match &image.interp {
            Some(interp) => self.load_interp(t, interp, base)?,
            None => (image.entry, 0),
        };
        let vdso = self.map_vdso(t, base)?;
        let space = self.mm.space_mut(t.mm);
        space.brk_start = brk;
        space.brk = brk;
        let cred = self.tasks.proc(t.pid).map(|p| p.cred.clone()).unwrap_or_else(|| Cred::new(0, 0, &[]));
        let info = ExecInfo {
            execfn: bprm.execfn.to_string(),
            argv: bprm.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
            envp: bprm.envp.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
            phdr: image.phdr,
            phent: image.phent,
            phnum: image.phnum,
            entry: image.entry,
            base: interp_base,
            uid: cred.uid,
            euid: cred.euid,
            gid: cred.gid,
            egid: cred.egid,
            hwcaps: self.cfg.hwcaps,
            random,
            vdso,
        };
        let sp = self.map_stack(t, bprm, &info, stack_limit)?;
        Ok(Loaded { mm: t.mm, entry, sp })
    }

    /// Maps the interpreter `interp` names (`PT_INTERP`) top-down below
    /// `base`, as elf_map places an ET_DYN image with no address of its
    /// own. Returns the entry point and AT_BASE (where the interpreter's
    /// address 0 went).
    fn load_interp(&mut self, t: Target, interp: &str, base: u64) -> Result<(u64, u64), Errno> {
        let root = self.files.vfs().root().clone();
        let cred = self.tasks.proc(t.pid).map(|p| p.cred.clone()).unwrap_or_else(|| Cred::new(0, 0, &[]));
        let ifile =
            self.open_exec(t.pid, &root, interp, &cred).map_err(|e| if e == EACCES { EACCES } else { ENOENT })?;
        let iimage = self.exec_image(&ifile, ifile.path.clone()).map_err(|_| ELIBBAD)?;
        if iimage.interp.is_some() {
            return Err(ELIBBAD);
        }
        let lo = iimage.segments.iter().map(|s| page_floor(s.vaddr)).min().ok_or(ELIBBAD)?;
        let hi = iimage.segments.iter().map(|s| s.end()).max().ok_or(ELIBBAD)?;
        let span = page_ceil(hi).ok_or(ELIBBAD)? - lo;
        let at = if iimage.bias == 0 {
            lo
        } else {
            self.mm.space(t.mm).vmas.gap_top_down(span, MMAP_MIN_ADDR, base, STACK_GUARD_GAP).ok_or(ENOMEM)?
        };
        let shift = at as i64 - lo as i64;
        let name = comm_of(&ifile.path);
        let name = ifile.path.rsplit('/').next().unwrap_or(&name).to_string();
        self.map_segments(t, &iimage, &ifile, shift, Some(&name))?;
        Ok(((iimage.entry as i64 + shift) as u64, (shift + iimage.bias as i64) as u64))
    }

    /// Maps the vDSO's areas below `base` (`abi::mman::VDSO_LAYOUT`), so
    /// that every later mapping lands where it would natively, and, where
    /// the architecture has a vDSO image (`exec::vdso`), writes it into
    /// [vdso] as the kernel populates those pages: its functions make
    /// their syscalls, and arm64's handlers return through its
    /// `__kernel_rt_sigreturn` (glibc never sets SA_RESTORER there).
    /// Returns the image's address for AT_SYSINFO_EHDR. x86-64 has no
    /// image yet: its [vvar] and [vdso] are empty areas.
    fn map_vdso(&mut self, t: Target, base: u64) -> Result<Option<u64>, Errno> {
        let mm = t.mm;
        use crate::kernel::abi::mman::VDSO_LAYOUT;
        let vdso_len: u64 = VDSO_LAYOUT.iter().map(|(_, p, _)| p * PAGE_SIZE).sum();
        let Some(mut at) = self.mm.space(mm).vmas.gap_top_down(vdso_len, MMAP_MIN_ADDR, base, STACK_GUARD_GAP) else {
            return Ok(None);
        };
        let image = super::vdso::image();
        let mut mapped = None;
        for &(name, pages, perms) in VDSO_LAYOUT {
            let region = self.report.recorder_mut().region(name, RegionKind::Mmap);
            let mut v = Vma::anon(at, at + pages * PAGE_SIZE, perms, VmaKind::Anon, region);
            v.anon_name = Some(name.into());
            // The vvar areas are VM_IO | VM_PFNMAP | VM_DONTDUMP (smaps: dd).
            v.dontdump = name.starts_with("[vvar");
            let code = image.filter(|i| name == "[vdso]" && i.bytes.len() as u64 <= pages * PAGE_SIZE);
            if code.is_some() {
                // Written as the kernel writes the vDSO's pages, then
                // made what the program sees.
                v.perms = Perms::RW;
            }
            self.mm.space_mut(mm).vmas.insert(v);
            if let Some(image) = code {
                self.copy_to_mm(mm, t.pid, t.tid, at, &image.bytes)?;
                let end = at + pages * PAGE_SIZE;
                self.mm.space_mut(mm).protect(&mut self.phys, at, end, perms);
                self.flush_stale();
                self.mm.space_mut(mm).sigreturn_trampoline = image.entry_for("rt_sigreturn").map(|o| at + o);
                mapped = Some(at);
            }
            at += pages * PAGE_SIZE;
        }
        Ok(mapped)
    }

    /// The initial stack: its area (the arguments plus STACK_EXPAND, within
    /// the limit), its contents from `info`, and where /proc finds argv and
    /// envp. Returns the stack pointer.
    fn map_stack(&mut self, t: Target, bprm: &Binprm, info: &ExecInfo, stack_limit: u64) -> Result<u64, Errno> {
        let st = initial_stack(USER_TOP, info);
        if st.bytes.len() as u64 > stack_limit / 4 {
            return Err(E2BIG);
        }
        let stack_region = self.report.recorder_mut().region("stack", RegionKind::Stack);
        let initial = (page_ceil(st.bytes.len() as u64).ok_or(E2BIG)? + STACK_EXPAND).min(stack_limit.max(PAGE_SIZE));
        let stack_start = USER_TOP - page_ceil(initial).unwrap_or(initial);
        let mut v = Vma::anon(stack_start, USER_TOP, Perms::RW, VmaKind::Stack, stack_region);
        v.growsdown = true;
        let space = self.mm.space_mut(t.mm);
        space.vmas.insert(v);
        space.start_stack = st.sp;
        space.saved_auxv = st.auxv.clone().into();
        // argv and envp strings, for /proc/PID/cmdline and environ.
        let args_len: u64 = bprm.argv.iter().map(|a| a.len() as u64 + 1).sum();
        let env_len: u64 = bprm.envp.iter().map(|a| a.len() as u64 + 1).sum();
        let strings_top = USER_TOP - 8 - (bprm.execfn.len() as u64 + 1);
        space.env = (strings_top - env_len, strings_top);
        space.arg = (strings_top - env_len - args_len, strings_top - env_len);
        space.peak_size = space.vmas.total();
        self.copy_to_mm(t.mm, t.pid, t.tid, st.sp, &st.bytes).map_err(|_| ENOMEM)?;
        Ok(st.sp)
    }
}
