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
use crate::memory::HostMapping;
use crate::mm::{Budget, Phys};
use crate::timeline::{Event, KeepEvents, Recorder};

/// Settings a test may change before the kernel is made.
#[derive(Clone)]
pub struct TestConfig {
    /// Guest RAM, in bytes.
    pub mem: u64,
    /// Swap, in bytes.
    pub swap: u64,
    /// vm.overcommit_memory and its ratio.
    pub overcommit: u32,
    pub overcommit_ratio: u64,
    /// pid 1's identity.
    pub uid: u32,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig { mem: 64 << 20, swap: 0, overcommit: 0, overcommit_ratio: 50, uid: 1000 }
    }
}

/// A kernel with pid 1 loaded, driven by the test.
pub struct TestKernel {
    pub kernel: Kernel,
    pub backing: Arc<MemBacking>,
    /// Every event recorded so far.
    pub events: KeepEvents,
    /// The process and thread calls are made as (pid 1 unless changed).
    pub pid: Pid,
    pub tid: Tid,
}

impl TestKernel {
    pub fn new() -> Self {
        Self::with(TestConfig::default())
    }

    pub fn with(c: TestConfig) -> Self {
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
            stack_size: 8 << 20,
            memlock_limit: 8 << 20,
            max_tasks: 64,
            aslr: false,
            hwcap: 0,
            diag: Output::capture(),
            strace: None,
            calls: None,
            status: None,
            overcommit: c.overcommit,
            overcommit_ratio: c.overcommit_ratio,
            max_map_count: 65_530,
            xstate_size: 512,
            xcr0: 3,
            fill_pages: 1,
            fault_around_pages: 0,
            record: true,
            stacks: false,
        };
        let mut k = KernelState::new(phys, backing.clone(), recorder, vfs, cfg, kt);
        let image =
            crate::loader::Image::from_bytes("demo".into(), faultline_guest::DEMO_ELF.into()).expect("demo ELF");
        let file = super::exec::ExecFile::in_memory("demo", faultline_guest::DEMO_ELF.into(), k.vfs.new_id());
        let cwd = k.vfs.root().clone();
        let limits = Limits::new(8 << 20, 8 << 20, 64, 1024);
        let stdio =
            [FileKind::Input(Input::Empty), FileKind::Output(Output::capture()), FileKind::Output(Output::capture())];
        let argv = [b"demo".to_vec()];
        let cred = Cred::new(c.uid, c.uid, &[]);
        let pid = k.spawn_init(&file, &image, "/demo", &argv, &[], cwd, cred, limits, stdio).expect("pid 1");
        TestKernel { kernel: Kernel::new(k), backing, events, pid, tid: pid }
    }

    /// Makes syscall `name` with `args` as the current thread: its result
    /// (a negative errno on failure).
    pub fn sys(&self, name: &str, args: &[u64]) -> i64 {
        let nr = TABLE.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no syscall {name}")).nr;
        self.call(nr, args)
    }

    /// Makes syscall number `nr` with `args` as the current thread.
    pub fn call(&self, nr: u64, args: &[u64]) -> i64 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs =
            UserRegs { rax: nr, rdi: a[0], rsi: a[1], rdx: a[2], r10: a[3], r8: a[4], r9: a[5], ..Default::default() };
        let k = self.kernel.lock();
        let mut ctx = Ctx::new(&self.kernel, k, self.tid, &mut regs, None);
        ctx.syscall();
        ctx.settle();
        drop(ctx);
        regs.rax as i64
    }

    /// The program touches `addr` (a write if `write`): the signal it gets,
    /// if the fault is not resolved.
    pub fn touch(&self, addr: u64, write: bool) -> Option<SigInfo> {
        let mut regs = UserRegs::default();
        let k = self.kernel.lock();
        let mut ctx = Ctx::new(&self.kernel, k, self.tid, &mut regs, None);
        let error = PfError::user(write, ctx.k.space(ctx.mm()).pte(addr).present());
        let signal = super::mm::fault::user_fault(&mut ctx, addr, error);
        ctx.settle();
        signal
    }

    /// Writes `bytes` into the program's memory at `addr`.
    pub fn poke(&self, addr: u64, bytes: &[u8]) {
        let mut k = self.kernel.lock();
        k.copy_to_user(self.pid, self.tid, addr, bytes).expect("poke");
    }

    /// Reads `n` bytes of the program's memory at `addr`.
    pub fn peek(&self, addr: u64, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let mut k = self.kernel.lock();
        k.copy_from_user(self.pid, self.tid, addr, &mut buf).expect("peek");
        buf
    }

    /// The host address of the page behind `va` in the current process, if
    /// its entry maps one.
    pub fn host_page(&self, va: u64) -> Option<u64> {
        let k = self.kernel.lock();
        let mm = k.procs.get(&self.pid)?.mm;
        let pte = k.space(mm).pte(va);
        pte.mapped().then(|| k.phys.host_addr(pte.frame()))
    }

    /// The events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
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
