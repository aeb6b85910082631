//! The process as the kernel sees it: its address space, descriptors,
//! limits and bookkeeping, and safe access to its memory.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::errno::{Errno, EFAULT, ENAMETOOLONG};
use super::fs::Files;
use super::limits::Limits;
use super::signal::Signals;
use super::strace::Strace;
use crate::arch::{Perms, PAGE_SIZE};
use crate::mm::{AddressSpace, RegionId, Vma, VmaKind};
use crate::timeline::Access;

/// Where the program's stdout or stderr goes.
#[derive(Clone, Debug)]
pub enum Output {
    /// Straight to this process's fd (1 or 2), unbuffered so the program's
    /// output interleaves with ours as it would natively.
    Inherit(i32),
    /// Collected in memory (tests, benchmarks).
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl Output {
    pub fn capture() -> Self {
        Output::Capture(Arc::default())
    }

    pub fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Inherit(1) => std::io::stdout().lock().write_all(buf).and_then(|_| std::io::stdout().flush()),
            Output::Inherit(_) => std::io::stderr().lock().write_all(buf),
            Output::Capture(v) => {
                v.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
                Ok(())
            }
        }
    }

    /// What was captured so far.
    pub fn captured_bytes(&self) -> Vec<u8> {
        match self {
            Output::Capture(v) => v.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            Output::Inherit(_) => Vec::new(),
        }
    }

    /// What was captured so far, as text.
    pub fn captured(&self) -> String {
        String::from_utf8_lossy(&self.captured_bytes()).into_owned()
    }

    /// The host descriptor behind it, if any.
    pub fn host_fd(&self) -> Option<i32> {
        match self {
            Output::Inherit(fd) => Some(*fd),
            Output::Capture(_) => None,
        }
    }
}

/// Where the program's stdin comes from.
#[derive(Clone, Debug, Default)]
pub enum Input {
    /// This process's stdin.
    Inherit,
    /// End of file at once.
    #[default]
    Empty,
}

impl Input {
    pub fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Inherit => std::io::stdin().lock().read(buf),
            Input::Empty => Ok(0),
        }
    }

    pub fn host_fd(&self) -> Option<i32> {
        matches!(self, Input::Inherit).then_some(0)
    }
}

pub struct Task {
    pub comm: String,
    /// Absolute path of the program, for /proc/self/exe.
    pub exe: String,
    pub space: AddressSpace,
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    pub started: Instant,
    pub brk_start: u64,
    pub brk: u64,
    pub mmap_base: u64,
    pub heap_region: RegionId,
    pub mmap_region: RegionId,
    pub limits: Limits,
    pub files: Files,
    pub signals: Signals,
    pub fs_base: u64,
    pub gs_base: u64,
    /// MSRs to load into the vCPU before it resumes (FS/GS base).
    pub pending_msrs: Vec<(u32, u64)>,
    /// rseq area registered by the program (address, length, signature).
    pub rseq: Option<(u64, u32, u32)>,
    /// mlockall(MCL_FUTURE) in force, and with MCL_ONFAULT.
    pub mlock_future: bool,
    pub mlock_future_onfault: bool,
    /// `--pin heap` / `--pin mmap`: pin those pages as they are mapped.
    pub pin_heap: bool,
    pub pin_mmap: bool,
    /// Largest VmSize seen, in bytes.
    pub vm_peak: u64,
    pub strace: Option<Strace>,
    unsupported: BTreeSet<u64>,
}

/// Linux's PATH_MAX.
pub const PATH_MAX: usize = 4096;

impl Task {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        comm: String,
        exe: String,
        space: AddressSpace,
        stdin: Input,
        stdout: Output,
        stderr: Output,
        brk_start: u64,
        mmap_base: u64,
        heap_region: RegionId,
        mmap_region: RegionId,
        limits: Limits,
    ) -> Self {
        let files = Files::new(stdin.host_fd(), stdout.host_fd(), stderr.host_fd());
        Task {
            comm,
            exe,
            space,
            stdin,
            stdout,
            stderr,
            started: Instant::now(),
            brk_start,
            brk: brk_start,
            mmap_base,
            heap_region,
            mmap_region,
            limits,
            files,
            signals: Signals::default(),
            fs_base: 0,
            gs_base: 0,
            pending_msrs: Vec::new(),
            rseq: None,
            mlock_future: false,
            mlock_future_onfault: false,
            pin_heap: false,
            pin_mmap: false,
            vm_peak: 0,
            strace: None,
            unsupported: BTreeSet::new(),
        }
    }

    /// Says once per syscall number that it is not implemented.
    pub fn report_unsupported(&mut self, nr: u64, name: &str) {
        if self.unsupported.insert(nr) {
            eprintln!("faultline: {}: syscall {nr} ({name}) is not supported (-ENOSYS)", self.comm);
        }
    }

    /// A heap VMA over `[start, end)`.
    pub fn heap_vma(&self, start: u64, end: u64) -> Vma {
        Vma {
            locked: self.mlock_future,
            lock_on_fault: self.mlock_future && self.mlock_future_onfault,
            ..Vma::new(start, end, Perms::new(true, true, false), VmaKind::Heap, self.heap_region)
        }
    }

    /// Visits the pages under `[gva, gva + len)`: for each, the GPA of the
    /// first byte and the byte count. Stops with EFAULT at the first page
    /// the program may not access that way.
    fn for_each_page(
        &self,
        gva: u64,
        len: u64,
        access: Access,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        let end = gva.checked_add(len).ok_or(EFAULT)?;
        let mut at = gva;
        while at < end {
            let page = self.space.user_page(at).ok_or(EFAULT)?;
            if access == Access::Write && !page.writable {
                return Err(EFAULT);
            }
            let in_page = at % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(end - at);
            self.space.backing().ensure_resident(page.gpa, access).map_err(|_| EFAULT)?;
            f(page.gpa + in_page, (at - gva) as usize, n as usize)?;
            at += n;
        }
        Ok(len)
    }

    /// Copies program memory into `buf` (the kernel's copy_from_user).
    pub fn copy_from_user(&self, gva: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let backing = self.space.backing();
        let (ram, base) = (backing.ram(), backing.ram_gpa());
        self.for_each_page(gva, buf.len() as u64, Access::Read, |gpa, off, n| {
            ram.read(gpa - base, &mut buf[off..off + n]).map_err(|_| EFAULT)
        })?;
        Ok(())
    }

    /// Copies `buf` into program memory (the kernel's copy_to_user).
    pub fn copy_to_user(&self, gva: u64, buf: &[u8]) -> Result<(), Errno> {
        let backing = self.space.backing();
        let (ram, base) = (backing.ram(), backing.ram_gpa());
        self.for_each_page(gva, buf.len() as u64, Access::Write, |gpa, off, n| {
            ram.write(gpa - base, &buf[off..off + n]).map_err(|_| EFAULT)
        })?;
        Ok(())
    }

    pub fn read_u64(&self, gva: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.copy_from_user(gva, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_u64(&self, gva: u64, v: u64) -> Result<(), Errno> {
        self.copy_to_user(gva, &v.to_le_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (with the NUL).
    pub fn read_cstr(&self, gva: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = gva;
        loop {
            let chunk = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let mut buf = vec![0u8; chunk];
            self.copy_from_user(at, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return if out.len() < max { Ok(out) } else { Err(ENAMETOOLONG) };
            }
            out.extend_from_slice(&buf);
            if out.len() >= max {
                return Err(ENAMETOOLONG);
            }
            at = at.checked_add(chunk as u64).ok_or(EFAULT)?;
        }
    }
}
