//! The process as the kernel sees it: its address space, its output, and
//! safe access to its memory.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::errno::{Errno, EFAULT};
use crate::arch::PAGE_SIZE;
use crate::fault::Backing;
use crate::mm::AddressSpace;
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
}

pub struct Task {
    pub comm: String,
    pub space: AddressSpace,
    pub backing: Arc<Backing>,
    pub stdout: Output,
    pub stderr: Output,
    pub started: Instant,
    unsupported: BTreeSet<u64>,
}

impl Task {
    pub fn new(comm: String, space: AddressSpace, backing: Arc<Backing>, stdout: Output, stderr: Output) -> Self {
        Task { comm, space, backing, stdout, stderr, started: Instant::now(), unsupported: BTreeSet::new() }
    }

    /// Says once per syscall number that it is not implemented.
    pub fn report_unsupported(&mut self, nr: u64) {
        if self.unsupported.insert(nr) {
            eprintln!("faultline: {}: syscall {nr} is not supported (-ENOSYS)", self.comm);
        }
    }

    /// Visits the pages under `[gva, gva + len)`: for each, the GPA of the
    /// first byte and the byte count. Stops with EFAULT at the first page
    /// the program may not access that way; returns bytes visited.
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
            self.backing.ensure_resident(page.gpa, access).map_err(|_| EFAULT)?;
            f(page.gpa + in_page, (at - gva) as usize, n as usize)?;
            at += n;
        }
        Ok(len)
    }

    /// Copies program memory into `buf` (the kernel's copy_from_user).
    pub fn copy_from_user(&self, gva: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let ram = self.backing.ram();
        let base = self.backing.ram_gpa();
        self.for_each_page(gva, buf.len() as u64, Access::Read, |gpa, off, n| {
            ram.read(gpa - base, &mut buf[off..off + n]).map_err(|_| EFAULT)
        })?;
        Ok(())
    }

    /// Copies `buf` into program memory (the kernel's copy_to_user).
    pub fn copy_to_user(&self, gva: u64, buf: &[u8]) -> Result<(), Errno> {
        let ram = self.backing.ram();
        let base = self.backing.ram_gpa();
        self.for_each_page(gva, buf.len() as u64, Access::Write, |gpa, off, n| {
            ram.write(gpa - base, &buf[off..off + n]).map_err(|_| EFAULT)
        })?;
        Ok(())
    }
}
