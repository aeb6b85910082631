//! A kernel without a VM, for unit tests of its rules: guest RAM is plain
//! memory behind [`MemBacking`] (no userfaultfd), the page tables are
//! built as for a VM but no vCPU runs on them, and pid 1 is the demo
//! guest, loaded but never run. A test makes the program's syscalls and
//! page faults itself, as its thread, and reads the answers: the rules
//! (mmap's, copy-on-write's, the page cache's, overcommit's, the OOM
//! killer's, /proc's) run exactly as under KVM, in milliseconds.

use std::sync::Arc;

use super::cred::Cred;
use super::files::vfs::Vfs;
use super::files::{FileKind, Input, Output};
use super::limits::Limits;
use super::signal::SigInfo;
use super::syscalls::TABLE;
use super::task::Ctx;
use super::{Kernel, KernelConfig, KernelState, Pid, Tid};
use crate::arch::layout::{IDT_VA, RAM_GPA_BASE, SHIM_VA, SYS_IDT_GPA, SYS_SHIM_GPA, SYS_SLOT_SIZE, SYS_TABLES_GPA};
use crate::arch::trap::PfError;
use crate::arch::{PageTables, TablePool, UserRegs, PAGE_SIZE};
use crate::fault::backing::MemBacking;
use crate::fault::PageFault;
use crate::memory::HostMapping;
use crate::mm::{Budget, Phys};
use crate::timeline::{Event, KeepEvents, Recorder};

/// Settings a test may change before the kernel is made.
#[derive(Clone)]
pub(crate) struct TestConfig {
    /// Guest RAM, in bytes.
    pub(crate) mem: u64,
    /// Swap, in bytes.
    pub(crate) swap: u64,
    /// vm.overcommit_memory and its ratio.
    pub(crate) overcommit: u32,
    pub(crate) overcommit_ratio: u64,
    /// pid 1's identity.
    pub(crate) uid: u32,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig { mem: 64 << 20, swap: 0, overcommit: 0, overcommit_ratio: 50, uid: 1000 }
    }
}

/// A kernel with pid 1 loaded, driven by the test.
pub(crate) struct TestKernel {
    pub(crate) kernel: Kernel,
    pub(crate) backing: Arc<MemBacking>,
    /// Every event recorded so far.
    events: KeepEvents,
    /// The process and thread calls are made as (pid 1 unless changed).
    pub(crate) pid: Pid,
    tid: Tid,
}

/// The host thread id userfaultfd faults are reported for.
const HOST_TID: i32 = 1 << 30;

/// The scratch buffer's name in /proc/PID/maps.
const SCRATCH_NAME: &str = "faultline-test-scratch";

/// The scratch buffer's size: a path page, then room for a read.
const SCRATCH: u64 = 16 * PAGE_SIZE;

impl TestKernel {
    pub(crate) fn new() -> Self {
        Self::with(TestConfig::default())
    }

    pub(crate) fn with(c: TestConfig) -> Self {
        let sys = Arc::new(HostMapping::new("system structures", SYS_SLOT_SIZE).expect("system slot"));
        let ram = Arc::new(HostMapping::new("RAM", (c.mem + c.swap).max(1 << 30)).expect("guest RAM"));
        sys.write(SYS_SHIM_GPA, faultline_guest::SHIM_X86_64).expect("shim");
        let mut pool = TablePool::new(sys.clone(), 0, SYS_TABLES_GPA, SYS_SLOT_SIZE);
        let mut kt = PageTables::new(&mut pool, None).expect("kernel tables");
        kt.map_kernel(&mut pool, SHIM_VA, SYS_SHIM_GPA, false, true).expect("shim mapped");
        kt.map_kernel(&mut pool, IDT_VA, SYS_IDT_GPA, false, false).expect("IDT mapped");
        let backing = Arc::new(MemBacking::default());
        let budget = Budget { resident_pages: c.mem / PAGE_SIZE, swap_pages: c.swap / PAGE_SIZE, trapped: true };
        let phys = Phys::new(ram, RAM_GPA_BASE, pool, budget);
        let events = KeepEvents::default();
        let recorder = Recorder::new(vec![Box::new(events.clone())]);
        let vfs = Vfs::new("/".into(), Vec::new(), c.mem / PAGE_SIZE / 2).expect("the host's root");
        let cfg = KernelConfig {
            max_tasks: 64,
            aslr: false,
            hwcaps: (0, 0),
            diag: Output::capture(),
            strace: None,
            calls: None,
            status: None,
            overcommit: c.overcommit,
            overcommit_ratio: c.overcommit_ratio,
            max_map_count: 65_530,
            fpu: Default::default(),
            fill_pages: 1,
            fault_around_pages: 0,
            page_cache: crate::mm::PageCache::Cold,
            record: true,
            stacks: false,
        };
        let mut k = KernelState::new(phys, backing.clone(), recorder, vfs, cfg, kt);
        let image =
            crate::loader::Image::from_bytes("demo".into(), faultline_guest::DEMO_ELF.into()).expect("demo ELF");
        let file =
            super::exec::ExecFile::in_memory("demo", faultline_guest::DEMO_ELF.into(), k.files.vfs_mut().new_id());
        let cwd = k.files.vfs().root().clone();
        let limits = Limits::new(8 << 20, 8 << 20, 64, 1024);
        let stdio =
            [FileKind::Input(Input::Empty), FileKind::Output(Output::capture()), FileKind::Output(Output::capture())];
        let argv = [b"demo".to_vec()];
        let cred = Cred::new(c.uid, c.uid, &[]);
        let bprm = super::exec::Binprm { file: &file, image: &image, execfn: "/demo", argv: &argv, envp: &[] };
        let pid = k.spawn_init(&bprm, cwd, cred, limits, stdio).expect("pid 1");
        TestKernel { kernel: Kernel::new(k), backing, events, pid, tid: pid }
    }

    /// Makes syscall `name` with `args` as the current thread: its result
    /// (a negative errno on failure).
    pub(crate) fn sys(&self, name: &str, args: &[u64]) -> i64 {
        let nr =
            TABLE.iter().find(|s| s.name == name).and_then(|s| s.nr()).unwrap_or_else(|| panic!("no syscall {name}"));
        self.call(nr, args)
    }

    /// Makes syscall number `nr` with `args` as the current thread.
    fn call(&self, nr: u64, args: &[u64]) -> i64 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs = UserRegs::for_syscall(nr, a);
        let k = self.kernel.lock();
        let mut ctx = Ctx::new(&self.kernel, k, self.tid, &mut regs, None);
        ctx.syscall();
        ctx.settle();
        drop(ctx);
        regs.ret() as i64
    }

    /// The current thread goes back to user mode: pending signals are
    /// taken there, and one whose default action is fatal ends the
    /// process (a handler would need a stack: none is set up).
    pub(crate) fn return_to_user(&self) {
        let mut regs = UserRegs::default();
        let k = self.kernel.lock();
        let mut ctx = Ctx::new(&self.kernel, k, self.tid, &mut regs, None);
        let _ = ctx.finish(super::Next::Return { tls: None, fpu: None });
    }

    /// The program touches `addr` (a write if `write`): the signal it gets,
    /// if the fault is not resolved. As under KVM, a touch the guest's page
    /// tables refuse is a page fault the kernel resolves; a write that
    /// then reaches a page the host keeps write-protected (the zero page)
    /// is a userfaultfd fault.
    pub(crate) fn touch(&self, addr: u64, write: bool) -> Option<SigInfo> {
        let mut regs = UserRegs::default();
        let k = self.kernel.lock();
        let mut ctx = Ctx::new(&self.kernel, k, self.tid, &mut regs, None);
        let pte = ctx.k.mm.space(ctx.mm()).pte(addr);
        if !pte.present() || (write && !pte.writable()) {
            let error = PfError::user(write, pte.present());
            if let Some(signal) = super::mm::fault::user_fault(&mut ctx, addr, error) {
                ctx.settle();
                return Some(signal);
            }
        }
        ctx.settle();
        drop(ctx);
        match self.host_page(addr) {
            Some(host) if write && self.backing.protected(host) => {
                let mut k = self.kernel.lock();
                k.tasks.attach_host(HOST_TID, self.tid);
                let f = PageFault { address: host + addr % PAGE_SIZE, write: true, wp: true, thread: HOST_TID };
                assert!(k.resolve_uffd(&f, std::time::Instant::now()).expect("userfaultfd fault"));
            }
            _ => {}
        }
        let k = self.kernel.lock();
        let mm = k.tasks.proc(self.pid)?.mm;
        k.mm.space(mm).note_access(addr, write);
        None
    }

    /// Writes `bytes` into the program's memory at `addr`.
    pub(crate) fn poke(&self, addr: u64, bytes: &[u8]) {
        let mut k = self.kernel.lock();
        k.copy_to_user(self.pid, self.tid, addr, bytes).expect("poke");
    }

    /// Reads `n` bytes of the program's memory at `addr`.
    pub(crate) fn peek(&self, addr: u64, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let mut k = self.kernel.lock();
        k.copy_from_user(self.pid, self.tid, addr, &mut buf).expect("peek");
        buf
    }

    /// The host address of the page behind `va` in the current process, if
    /// its entry maps one.
    pub(crate) fn host_page(&self, va: u64) -> Option<u64> {
        let k = self.kernel.lock();
        let mm = k.tasks.proc(self.pid)?.mm;
        let pte = k.mm.space(mm).pte(va);
        pte.mapped().then(|| k.phys.host_addr(pte.frame()))
    }

    /// Acts as process `pid` (its main thread) from now on.
    pub(crate) fn become_process(&mut self, pid: Pid) {
        self.pid = pid;
        self.tid = pid;
    }

    /// Anonymous private memory, `prot` (PROT_* bits): its address.
    pub(crate) fn mmap_anon(&self, len: u64, prot: u64) -> u64 {
        use super::abi::mman::{MAP_ANONYMOUS, MAP_PRIVATE};
        let a = self.sys("mmap", &[0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX, 0]);
        assert!(a > 0, "mmap of {len} bytes: {a}");
        a as u64
    }

    /// A buffer in the current process's memory for paths and read(2),
    /// mapped on first use (a child made by fork has its parent's).
    fn scratch(&self) -> u64 {
        use super::abi::mman::{MADV_POPULATE_WRITE, PROT_READ, PROT_WRITE};
        use super::abi::prctl::{PR_SET_VMA, PR_SET_VMA_ANON_NAME};
        let found = {
            let k = self.kernel.lock();
            let mm = k.tasks.proc(self.pid).expect("live process").mm;
            let start =
                k.mm.space(mm).vmas.iter().find(|v| v.anon_name.as_deref() == Some(SCRATCH_NAME)).map(|v| v.start);
            start
        };
        if let Some(a) = found {
            return a;
        }
        // Populated, so that using it changes no count a test reads.
        let a = self.mmap_anon(SCRATCH, PROT_READ | PROT_WRITE);
        assert_eq!(self.sys("madvise", &[a, SCRATCH, MADV_POPULATE_WRITE]), 0);
        // Named, so that it merges with none of the test's mappings (and
        // is found again).
        let mut name = SCRATCH_NAME.as_bytes().to_vec();
        name.push(0);
        self.poke(a, &name);
        assert_eq!(self.sys("prctl", &[PR_SET_VMA, PR_SET_VMA_ANON_NAME, a, SCRATCH, a]), 0);
        a
    }

    /// `s` as a NUL-terminated string in the program's memory: its address
    /// (the scratch buffer's first page, so one at a time).
    pub(crate) fn put_str(&self, s: &str) -> u64 {
        assert!((s.len() as u64) < PAGE_SIZE);
        let a = self.scratch();
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.poke(a, &b);
        a
    }

    /// The scratch buffer's room for data (after its path page): address
    /// and length, for read(2) and write(2) calls a test makes itself.
    pub(crate) fn data_buffer(&self) -> (u64, u64) {
        (self.scratch() + PAGE_SIZE, SCRATCH - PAGE_SIZE)
    }

    /// Opens `path` with `flags` (openat from the working directory): the
    /// descriptor, or the negative errno.
    pub(crate) fn open(&self, path: &str, flags: u64) -> i64 {
        const AT_FDCWD: u64 = -100i64 as u64;
        let p = self.put_str(path);
        self.sys("openat", &[AT_FDCWD, p, flags, 0o600])
    }

    /// The whole of file `path`, as the program would read it: its bytes,
    /// or the negative errno of the open or a read.
    pub(crate) fn read_file(&self, path: &str) -> Result<Vec<u8>, i64> {
        let fd = self.open(path, 0);
        if fd < 0 {
            return Err(fd);
        }
        let (buf, len) = self.data_buffer();
        let mut out = Vec::new();
        loop {
            let n = self.sys("read", &[fd as u64, buf, len]);
            if n < 0 {
                self.sys("close", &[fd as u64]);
                return Err(n);
            }
            if n == 0 {
                break;
            }
            out.extend(self.peek(buf, n as usize));
        }
        self.sys("close", &[fd as u64]);
        Ok(out)
    }

    /// Field `key` of /proc/self/status, in kB (`VmRSS`, `VmHWM`, …).
    pub(crate) fn status_kb(&self, key: &str) -> u64 {
        let text = String::from_utf8(self.read_file("/proc/self/status").expect("status")).expect("text");
        field_kb(&text, key)
    }

    /// Field `key` of /proc/meminfo, in kB.
    pub(crate) fn meminfo_kb(&self, key: &str) -> u64 {
        let text = String::from_utf8(self.read_file("/proc/meminfo").expect("meminfo")).expect("text");
        field_kb(&text, key)
    }

    /// The events recorded so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `key:   123 kB` in a /proc text: 123.
fn field_kb(text: &str, key: &str) -> u64 {
    let line = text.lines().find(|l| l.split(':').next() == Some(key)).unwrap_or_else(|| panic!("no {key}: {text}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

/// `-errno`, as a syscall returns it.
pub(crate) fn err(e: super::errno::Errno) -> i64 {
    -(e.0 as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::EventKind;

    const PROT_RW: u64 = 3;
    const MAP_PRIVATE_ANON: u64 = 0x22;

    #[test]
    fn a_kernel_without_a_vm_maps_faults_and_releases() {
        let t = TestKernel::new();
        let a = t.sys("mmap", &[0, 4 * PAGE_SIZE, PROT_RW, MAP_PRIVATE_ANON, u64::MAX, 0]) as u64;
        assert!(a > 0 && a.is_multiple_of(PAGE_SIZE), "{a:#x}");
        assert_eq!(t.touch(a, true), None);
        assert_eq!(t.touch(a + PAGE_SIZE, false), None);
        // The read mapped the zero page, write-protected so that the first
        // write is seen; the written page is the program's own.
        assert!(t.backing.protected(t.host_page(a + PAGE_SIZE).unwrap()));
        assert!(!t.backing.protected(t.host_page(a).unwrap()));
        t.poke(a + 8, b"hello");
        assert_eq!(t.peek(a + 8, 5), b"hello");
        assert_eq!(t.sys("munmap", &[a, 4 * PAGE_SIZE]), 0);
        let kinds: Vec<EventKind> =
            t.events().iter().filter(|e| e.gva >= a && e.gva < a + 4 * PAGE_SIZE).map(|e| e.kind).collect();
        // The read mapped the shared zero page: nothing of its own to give
        // back, as on Linux (no RSS).
        assert_eq!(kinds, [EventKind::ZeroFill, EventKind::ZeroFill, EventKind::Release], "{kinds:?}");
        assert_eq!(t.touch(a, false).map(|i| i.signo), Some(super::super::signal::SIGSEGV));
    }
}
