//! One program, one VM: build the guest, run it, report what its memory did.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::abi::exec::{initial_stack, ExecInfo};
use crate::abi::limits::Limits;
pub use crate::abi::procfs::MemoryReport;
use crate::abi::{self, Action, Input, Output, Strace, Task};
use crate::arch::layout::*;
use crate::arch::paging::PageTables;
use crate::arch::trap::{self, pf, Signal, TrapFrame};
use crate::arch::{cpu, tables, PAGE_SIZE};
use crate::fault::{Backing, BackingMode, Budget, FaultError, Handler, WakeMode};
use crate::loader::{plan_pages, Image, LoadError};
use crate::mm::{AddressSpace, FrameAllocator, MapError, RegionKind, RegionTable, Vma, VmaKind};
use crate::timeline::{summarize, Event, Summary};
use crate::vm::{Exit, HostMapping, Kicker, Vcpu, Vm, VmError};

/// Default guest RAM.
pub const DEFAULT_MEM: u64 = 256 << 20;
/// Default stack size (RLIMIT_STACK's usual 8 MiB).
pub const DEFAULT_STACK: u64 = 8 << 20;
/// Top of the stack: the end of the user half, as Linux without ASLR.
pub const STACK_TOP: u64 = USER_TOP;
/// How much stack Linux maps beyond the arguments at exec (setup_arg_pages).
pub const STACK_EXPAND: u64 = 128 << 10;
/// Default RLIMIT_MEMLOCK, as on current Linux.
pub const DEFAULT_MEMLOCK: u64 = 8 << 20;
/// Guest-physical space for mappings: four times RAM plus swap, at least
/// 1 GiB. Larger than RAM so that programs can map more than they touch, as
/// Linux overcommits (its heuristic also refuses what is far beyond RAM
/// plus swap); untouched frames cost the host nothing.
pub fn phys_window(mem: u64, swap: u64) -> u64 {
    mem.saturating_add(swap).saturating_mul(4).max(1 << 30).max(mem)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    Map(#[from] MapError),
    #[error(transparent)]
    Paging(#[from] crate::arch::paging::PagingError),
    #[error(
        "{path}: needs {needed} pages ({needed_kib} KiB) of image, but --mem gives {available} pages; raise --mem"
    )]
    TooBig { path: String, needed: u64, needed_kib: u64, available: u64 },
    #[error("--mem {0} is not a positive multiple of 4 KiB")]
    BadMem(u64),
    #[error("--pin {0}: no such region (try .text, .data, .bss, heap, stack or all)")]
    BadPin(String),
    #[error("the shim faulted: {0}")]
    Shim(String),
    #[error("the guest stopped unexpectedly: {0}")]
    UnexpectedExit(String),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How to run a program.
#[derive(Clone, Debug)]
pub struct Config {
    /// Guest RAM in bytes.
    pub mem: u64,
    pub stack_size: u64,
    /// argv[0] first.
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub backing: BackingMode,
    pub wake: WakeMode,
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    /// Kill the program after this long.
    pub timeout: Option<Duration>,
    /// Print each syscall here.
    pub strace: Option<Strace>,
    /// RLIMIT_MEMLOCK.
    pub memlock_limit: u64,
    /// Absolute path /proc/self/exe shows (default: the image's path).
    pub exe: Option<String>,
    /// Most resident pages, in bytes (default: all of `mem`).
    pub rss_limit: Option<u64>,
    /// Swap store size in bytes (host memory).
    pub swap: u64,
    /// Regions to populate and pin at load (`.text`, `heap`, `stack`, `all`, …).
    pub pin: Vec<String>,
    /// Print a memory status line at each reclaim pass.
    pub status: Option<Output>,
    /// Randomise the brk start and mmap_base as Linux's ASLR does (off:
    /// timelines stay identical from run to run).
    pub aslr: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mem: DEFAULT_MEM,
            stack_size: DEFAULT_STACK,
            argv: Vec::new(),
            env: default_env(),
            backing: BackingMode::Trapped,
            wake: WakeMode::default(),
            stdin: Input::Inherit,
            stdout: Output::Inherit(1),
            stderr: Output::Inherit(2),
            timeout: None,
            strace: None,
            memlock_limit: DEFAULT_MEMLOCK,
            exe: None,
            rss_limit: None,
            swap: 0,
            pin: Vec::new(),
            status: None,
            aslr: false,
        }
    }
}

/// A small, clean environment: nothing of the host's leaks in.
pub fn default_env() -> Vec<String> {
    ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb", "LANG=C"].iter().map(|s| s.to_string()).collect()
}

/// How the program ended, as a shell would see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Killed(Signal),
}

impl ExitStatus {
    /// The shell's `$?`: the status, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Killed(s) => 128 + s.number,
        }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// Why the program was killed, in the kernel's words.
    pub report: Option<String>,
    pub events: Vec<Event>,
    pub regions: RegionTable,
    pub summary: Summary,
    /// The program's memory as /proc/PID/status and /proc/meminfo show it.
    pub memory: MemoryReport,
    /// Pages resident when the program ended, by guest-virtual address.
    pub resident: std::collections::BTreeSet<u64>,
}

pub struct Sandbox {
    // Field order is drop order: the VM goes before the memory it maps.
    vcpu: Vcpu,
    // Held only to keep the VM (and its slots) alive while the vCPU runs.
    _vm: Vm,
    task: Task,
    sys: Arc<HostMapping>,
    /// PTE changes the guest has still to apply, beyond the current batch.
    pending_sync: Vec<(u64, u64)>,
    entry: u64,
    sp: u64,
    config: Config,
}

/// Writes `bytes` into the system slot.
fn sys_write(sys: &HostMapping, gpa: u64, bytes: &[u8]) -> Result<(), Error> {
    sys.write(gpa, bytes).map_err(|e| Error::Shim(format!("system slot write: {e}")))
}

impl Sandbox {
    /// Builds the VM and loads `image` into it; nothing runs yet.
    pub fn new(image: &Image, config: Config) -> Result<Self, Error> {
        if config.mem == 0 || !config.mem.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadMem(config.mem));
        }
        // The image must fit in RAM: counted from the segment headers, before
        // anything is built for it.
        let image_pages = image.mapped_pages();
        if image_pages > config.mem / PAGE_SIZE {
            return Err(Error::TooBig {
                path: image.path.clone(),
                needed: image_pages,
                needed_kib: image_pages.saturating_mul(4),
                available: config.mem / PAGE_SIZE,
            });
        }
        let mut vm = Vm::new()?;
        let sys = Arc::new(HostMapping::new("system structures", SYS_SLOT_SIZE)?);
        let window = phys_window(config.mem, config.swap);
        let ram = Arc::new(HostMapping::new("RAM", window)?);
        vm.add_slot(0, &sys)?;
        vm.add_slot(RAM_GPA_BASE, &ram)?;
        let budget = Budget {
            resident_pages: config.rss_limit.unwrap_or(config.mem).min(config.mem) / PAGE_SIZE,
            swap_pages: config.swap / PAGE_SIZE,
        };
        let backing =
            Arc::new(Backing::new(ram, RAM_GPA_BASE, sys.clone(), image.bytes.clone(), config.backing, budget)?);

        // The shim and its tables.
        sys_write(&sys, SYS_SHIM_GPA, faultline_guest::SHIM_X86_64)?;
        let gdt: Vec<u8> = tables::gdt().iter().flat_map(|d| d.to_le_bytes()).collect();
        sys_write(&sys, SYS_GDT_GPA, &gdt)?;
        sys_write(&sys, SYS_IDT_GPA, &tables::idt())?;
        sys_write(&sys, SYS_TSS_GPA, &tables::tss())?;
        // SAFETY: the system slot is SYS_SLOT_SIZE zeroed bytes that live as
        // long as the sandbox, and [SYS_TABLES_GPA, end) holds nothing else.
        let mut pt = unsafe { PageTables::new(sys.as_ptr(), 0, SYS_TABLES_GPA, SYS_SLOT_SIZE) }?;
        pt.map_kernel(SHIM_VA, SYS_SHIM_GPA, false, true)?;
        pt.map_kernel(GDT_VA, SYS_GDT_GPA, true, false)?;
        pt.map_kernel(IDT_VA, SYS_IDT_GPA, false, false)?;
        pt.map_kernel(TSS_VA, SYS_TSS_GPA, true, false)?;
        for i in 0..IST_PAGES {
            pt.map_kernel(IST_BASE_VA + i * PAGE_SIZE, SYS_IST_GPA + i * PAGE_SIZE, true, false)?;
        }
        // The whole slot, for the shim's PTE rewrites (sync_and_return).
        for off in (0..SYS_SLOT_SIZE).step_by(PAGE_SIZE as usize) {
            pt.map_kernel(SYS_MAP_VA + off, off, true, false)?;
        }
        sys_write(&sys, SYS_SHIM_GPA + SHIM_SYNC_AREA_PTR, &(SYS_MAP_VA + SYS_SYNC_GPA).to_le_bytes())?;

        // The program: every page mapped now, none backed until touched.
        let mut space = AddressSpace::new(pt, FrameAllocator::new(RAM_GPA_BASE, window), backing);
        let plan = plan_pages(image);
        let stack_pages = config.stack_size.div_ceil(PAGE_SIZE);
        for page in plan {
            let region = space.region(&page.region, RegionKind::Image);
            space.map_image_page(page.gva, page.perms, region, page.source)?;
        }
        let anchor = space.region("heap", RegionKind::Heap);
        for seg in &image.segments {
            let start = crate::arch::page_floor(seg.vaddr);
            let end = crate::arch::page_ceil(seg.end()).expect("validated below USER_TOP");
            let kind = VmaKind::Image { offset: crate::arch::page_floor(seg.offset) };
            space.add_image_vma(Vma::new(start, end, seg.perms, kind, anchor));
        }
        space.set_sections(image.sections.clone());
        let heap = anchor;
        let mmap_region = space.region("mmap", RegionKind::Mmap);
        let image_end = image.segments.iter().map(|s| s.end()).max().unwrap_or(0);
        let mut brk_start = crate::arch::page_ceil(image_end).expect("validated below USER_TOP");

        let mut argv = config.argv.clone();
        if argv.is_empty() {
            argv.push(image.path.clone());
        }
        let cpuid = vm
            .kvm()
            .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(crate::vm::kvm_err("get supported CPUID"))?;
        let hwcap = cpuid.as_slice().iter().find(|e| e.function == 1).map(|e| e.edx as u64).unwrap_or(0);
        let info = ExecInfo {
            execfn: argv[0].clone(),
            argv,
            envp: config.env.clone(),
            phdr: image.phdr,
            phent: image.phent,
            phnum: image.phnum,
            entry: image.entry,
            uid: 1000,
            gid: 1000,
            hwcap,
            random: random_bytes(),
        };
        let st = initial_stack(STACK_TOP, &info);
        if st.bytes.len() as u64 > config.stack_size / 4 {
            return Err(Error::Load(LoadError::Malformed {
                path: image.path.clone(),
                detail: "arguments and environment take more than a quarter of the stack".into(),
            }));
        }
        // The stack VMA starts as Linux's setup_arg_pages leaves it: the
        // argument pages plus 128 KiB; it grows down on faults up to
        // RLIMIT_STACK (Sandbox::grow_stack).
        let stack = space.region("stack", RegionKind::Stack);
        let initial =
            (crate::arch::page_ceil(st.bytes.len() as u64).expect("small") + STACK_EXPAND).min(stack_pages * PAGE_SIZE);
        let rw = crate::arch::Perms::new(true, true, false);
        space
            .map_anon(Vma { growsdown: true, ..Vma::new(STACK_TOP - initial, STACK_TOP, rw, VmaKind::Stack, stack) })?;

        let limits = Limits::new(config.stack_size, config.memlock_limit);
        let mut mmap_base = abi::mm::mmap_base(config.stack_size);
        if config.aslr {
            // arch_randomize_brk: within 32 MiB; mmap_rnd_bits = 28 pages.
            let r = u64::from_le_bytes(random_bytes()[..8].try_into().expect("8 bytes"));
            brk_start += (r % (32 << 20 >> 12)) << 12;
            mmap_base -= ((r >> 16) % (1 << 28)) << 12;
        }
        // /proc/self/exe is absolute (glibc asserts it).
        let exe = config.exe.clone().unwrap_or_else(|| match std::fs::canonicalize(&image.path) {
            Ok(p) => p.display().to_string(),
            Err(_) => format!("/{}", image.path.trim_start_matches('/')),
        });
        let mut task = Task::new(
            image.comm(),
            exe,
            space,
            config.stdin.clone(),
            config.stdout.clone(),
            config.stderr.clone(),
            brk_start,
            mmap_base,
            heap,
            mmap_region,
            limits,
        );
        task.strace = config.strace.clone();
        if let Some(out) = config.status.clone() {
            task.space.backing().set_reclaim_sink(Box::new(move |line| {
                let _ = out.write_all(format!("faultline: {line}\n").as_bytes());
            }));
        }
        for name in &config.pin {
            if !crate::abi::pin_region(&mut task, name) {
                return Err(Error::BadPin(name.clone()));
            }
        }

        let vcpu = vm.create_vcpu()?;
        vcpu.setup(vm.kvm(), &cpuid, task.space.tables().root_gpa(), image.entry, st.sp)?;
        let sb = Sandbox { vcpu, _vm: vm, task, sys, pending_sync: Vec::new(), entry: image.entry, sp: st.sp, config };
        // Timeline times count from exec: the stack is the first thing built.
        sb.task.space.backing().set_start(Instant::now());
        sb.task
            .copy_to_user(st.sp, &st.bytes)
            .map_err(|e| Error::Shim(format!("cannot write the initial stack (errno {})", e.0)))?;
        Ok(sb)
    }

    /// Runs the program to its end.
    pub fn run(mut self) -> Result<Outcome, Error> {
        let backing = self.task.space.backing().clone();
        let kicker = Kicker::for_current_thread();
        let (alarm_tx, alarm_rx) = mpsc::channel::<()>();
        let handler_failed = Arc::new(AtomicBool::new(false));
        let failed = handler_failed.clone();
        let handler_alarm = alarm_tx.clone();
        // Colocated: vCPU and handler share the CPU the vCPU runs on now.
        let saved_affinity = crate::vm::current_affinity().ok();
        let cpu = match self.config.wake {
            WakeMode::Colocated => crate::vm::current_cpu().filter(|&c| crate::vm::pin_current_thread(c).is_ok()),
            _ => None,
        };
        let handler = Handler::start(backing.clone(), self.config.wake, cpu, move || {
            failed.store(true, Ordering::Release);
            let _ = handler_alarm.send(());
        })
        .map_err(Error::Thread)?;
        backing.set_alarm(alarm_tx.clone());
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = spawn_watchdog(self.config.timeout, alarm_rx, kicker, timed_out.clone())?;

        self.task.started = Instant::now();
        let result = self.run_loop(&handler_failed, &timed_out);
        // The handler holds a sender too: stop it first so the watchdog
        // sees the channel close.
        let handler_result = handler.stop();
        drop(alarm_tx);
        backing.clear_alarm();
        let _ = watchdog.join();
        if let (Some(_), Some(set)) = (cpu, saved_affinity) {
            let _ = crate::vm::set_affinity(&set);
        }
        let (status, report) = result?;
        handler_result?;

        let events = backing.events();
        let resident = backing.resident_by_region();
        let regions = self.task.space.regions().clone();
        let summary = summarize(&events, &regions, |id| resident.get(&id).copied().unwrap_or(0));
        let memory = crate::abi::procfs::memory_report(&self.task);
        Ok(Outcome { status, report, events, regions, summary, memory, resident: backing.resident_gvas() })
    }

    fn run_loop(
        &mut self,
        handler_failed: &AtomicBool,
        timed_out: &AtomicBool,
    ) -> Result<(ExitStatus, Option<String>), Error> {
        loop {
            self.task.space.backing().set_in_guest(true);
            let exit = self.vcpu.run();
            self.task.space.backing().set_in_guest(false);
            match exit? {
                Exit::Trap(vector) => {
                    if let Some(end) = self.on_trap(vector)? {
                        return Ok(end);
                    }
                    // Memory may have run out while the VMM worked for it.
                    if let Some(end) = self.oom_kill() {
                        return Ok(end);
                    }
                }
                Exit::SyncMore => self.write_sync_batch()?,
                Exit::Shutdown => {
                    let rip = self.vcpu.regs().map(|r| r.rip).unwrap_or(0);
                    return Ok(self.kill(trap::SIGSEGV, format!("triple fault (the CPU shut down) near ip {rip:016x}")));
                }
                Exit::Interrupted => {
                    if let Some(end) = self.oom_kill() {
                        return Ok(end);
                    }
                    if handler_failed.load(Ordering::Acquire) {
                        return Err(Error::Shim("the fault handler stopped; see its error".into()));
                    }
                    if timed_out.load(Ordering::Acquire) {
                        let t = self.config.timeout.unwrap_or_default();
                        return Ok(
                            self.kill(trap::SIGKILL, format!("killed after the {:.1} s timeout", t.as_secs_f64()))
                        );
                    }
                }
                Exit::Unexpected(what) => {
                    let rip = self.vcpu.regs().map(|r| r.rip).unwrap_or(0);
                    return Err(Error::UnexpectedExit(format!("{what} at ip {rip:#x}")));
                }
            }
        }
    }

    /// If memory ran out, the program dies as the OOM killer would kill it.
    fn oom_kill(&self) -> Option<(ExitStatus, Option<String>)> {
        self.task.space.backing().oom()?;
        let m = crate::abi::procfs::mem_status(&self.task);
        let report = format!(
            "Out of memory: Killed process 1 ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:0kB, UID:1000 \
             pgtables:{}kB oom_score_adj:0",
            self.task.comm,
            m.vm_size,
            m.rss_anon,
            m.rss_file,
            self.task.space.tables().table_pages() * 4
        );
        Some((ExitStatus::Killed(trap::SIGKILL), Some(report)))
    }

    fn kill(&self, signal: Signal, why: String) -> (ExitStatus, Option<String>) {
        (ExitStatus::Killed(signal), Some(format!("{}[1]: {why}; killed by {}", self.task.comm, signal.name)))
    }

    /// Puts the next batch of pending PTE changes in the sync area.
    fn write_sync_batch(&mut self) -> Result<(), Error> {
        let n = self.pending_sync.len().min(SYNC_CAPACITY);
        let batch: Vec<(u64, u64)> = self.pending_sync.drain(..n).collect();
        let mut bytes = Vec::with_capacity(16 + n * 16);
        bytes.extend_from_slice(&(n as u64).to_le_bytes());
        bytes.extend_from_slice(&u64::from(!self.pending_sync.is_empty()).to_le_bytes());
        for (off, va) in batch {
            bytes.extend_from_slice(&(SYS_MAP_VA + off).to_le_bytes());
            bytes.extend_from_slice(&va.to_le_bytes());
        }
        sys_write(&self.sys, SYS_SYNC_GPA, &bytes)
    }

    fn read_frame(&self) -> Result<TrapFrame, Error> {
        let mut b = [0u8; TrapFrame::LEN];
        self.sys
            .read(SYS_IST_GPA + (TrapFrame::VA - IST_BASE_VA), &mut b)
            .map_err(|e| Error::Shim(format!("cannot read the trap frame: {e}")))?;
        Ok(TrapFrame::from_bytes(&b))
    }

    fn write_frame(&self, f: TrapFrame) -> Result<(), Error> {
        sys_write(&self.sys, SYS_IST_GPA + (TrapFrame::VA - IST_BASE_VA), &f.to_bytes())
    }

    /// Handles a shim report. Returns how the program ended, if it did.
    fn on_trap(&mut self, vector: u8) -> Result<Option<(ExitStatus, Option<String>)>, Error> {
        let frame = self.read_frame()?;
        if frame.is_syscall(vector) {
            return self.on_syscall(frame);
        }
        if vector == trap::PF && frame.from_user() && frame.error_code & pf::PRESENT == 0 {
            let cr2 = self.vcpu.sregs()?.cr2;
            if self.grow_stack(cr2) {
                return Ok(None);
            }
        }
        if !frame.from_user() {
            let cr2 = self.vcpu.sregs().map(|s| s.cr2).unwrap_or(0);
            return Err(Error::Shim(format!(
                "{} in ring 0 at ip {:#x} (cr2 {cr2:#x}, error {:#x})",
                trap::vector_name(vector),
                frame.rip,
                frame.error_code
            )));
        }
        Ok(Some(self.crash(vector, frame)?))
    }

    fn on_syscall(&mut self, frame: TrapFrame) -> Result<Option<(ExitStatus, Option<String>)>, Error> {
        let mut regs = self.vcpu.regs()?;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        match abi::dispatch(&mut self.task, regs.rax, args) {
            Action::Exit(code) => Ok(Some((ExitStatus::Exited(code), None))),
            Action::Signal(sig) => {
                let signal = trap::signal_by_number(sig);
                let handler = self.task.signals.disposition(sig as u64) == crate::abi::signal::Disposition::Handler;
                let why = if handler {
                    format!("raised {} (its handler was not run: faultline delivers no signals)", signal.name)
                } else {
                    format!("raised {}", signal.name)
                };
                Ok(Some(self.kill(signal, why)))
            }
            Action::Return(v) => {
                let ret = regs.rcx;
                if ret >= USER_TOP {
                    return Ok(Some(self.kill(trap::SIGSEGV, format!("syscall returns to non-user address {ret:#x}"))));
                }
                regs.rax = v as u64;
                self.write_frame(TrapFrame {
                    error_code: 0,
                    rip: ret,
                    cs: tables::USER_CS as u64,
                    rflags: cpu::sanitize_user_rflags(regs.r11),
                    rsp: frame.rsp,
                    ss: tables::USER_DS as u64,
                })?;
                if !self.task.pending_msrs.is_empty() {
                    let msrs = cpu::msrs(&std::mem::take(&mut self.task.pending_msrs));
                    self.vcpu.set_msrs(&msrs)?;
                }
                // Present entries changed: return through the shim's path
                // that rewrites them and invlpg's their addresses, so no
                // stale translation survives (shadow paging or not).
                let changed = self.task.space.take_changed_entries();
                if !changed.is_empty() {
                    self.pending_sync = changed;
                    self.write_sync_batch()?;
                    regs.rip = SYNC_RETURN_VA;
                }
                self.vcpu.set_regs(&regs)?;
                Ok(None)
            }
        }
    }

    /// A not-present fault just below the stack grows it, as Linux's
    /// expand_stack does: down to the faulting page, within RLIMIT_STACK,
    /// and never into the guard gap above another mapping. Returns whether
    /// it grew (the instruction is then retried).
    fn grow_stack(&mut self, addr: u64) -> bool {
        let addr = crate::arch::page_floor(addr);
        let vmas = self.task.space.vmas();
        let Some(stack) = vmas.find_from(addr).filter(|v| v.growsdown && v.start > addr).cloned() else {
            return false;
        };
        if stack.end - addr > self.task.limits.cur(crate::abi::limits::RLIMIT_STACK) {
            return false;
        }
        let below = vmas.iter().filter(|v| v.end <= addr).map(|v| v.end).max().unwrap_or(0);
        if addr < below.saturating_add(crate::mm::STACK_GUARD_GAP) {
            return false;
        }
        let grown = Vma { start: addr, end: stack.start, locked: stack.locked, ..stack.clone() };
        if self.task.space.map_anon(grown).is_err() {
            return false;
        }
        if stack.locked {
            crate::abi::mlock::pin_pages(
                &self.task,
                addr,
                stack.start,
                stack.lock_on_fault,
                crate::timeline::Prefault::Mlock,
            );
        }
        true
    }

    /// A user-mode exception: the program dies as a Linux process would.
    fn crash(&mut self, vector: u8, frame: TrapFrame) -> Result<(ExitStatus, Option<String>), Error> {
        let signal = trap::signal_for_vector(vector);
        let space = &self.task.space;
        let place = |addr: u64| match space.vmas().find(addr) {
            Some(v) => format!("{}[{:x}+{:x}]", space.describe(addr), v.start, v.end - v.start),
            None => space.describe(addr),
        };
        let why = if vector == trap::PF {
            let cr2 = self.vcpu.sregs()?.cr2;
            let e = frame.error_code;
            let what = match (e & pf::PRESENT != 0, e & pf::WRITE != 0, e & pf::FETCH != 0) {
                (false, _, _) => "not mapped",
                (true, true, _) => "write to a read-only page",
                (true, false, true) => "fetch from a non-executable page",
                (true, false, false) => "protection violation",
            };
            format!(
                "segfault at {cr2:x} ip {:016x} sp {:016x} error {:x} in {}: {what}, address in {}",
                frame.rip,
                frame.rsp,
                e,
                place(frame.rip),
                space.describe(cr2)
            )
        } else {
            format!(
                "trap {} ip {:016x} sp {:016x} error {:x} in {}",
                trap::vector_name(vector),
                frame.rip,
                frame.rsp,
                frame.error_code,
                place(frame.rip)
            )
        };
        Ok(self.kill(signal, why))
    }

    pub fn entry(&self) -> u64 {
        self.entry
    }

    pub fn initial_sp(&self) -> u64 {
        self.sp
    }
}

/// Kicks the vCPU out of KVM_RUN when the timeout passes or someone sends
/// on `alarm`, until the sandbox hangs up.
fn spawn_watchdog(
    timeout: Option<Duration>,
    alarm: mpsc::Receiver<()>,
    kicker: Kicker,
    timed_out: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let got = match timeout {
                Some(t) => alarm.recv_timeout(t),
                None => alarm.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => timed_out.store(true, Ordering::Release),
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Keep kicking: a signal sent while the vCPU is between KVM_RUNs
            // is lost, so repeat until the sandbox hangs up.
            loop {
                kicker.kick();
                match alarm.recv_timeout(Duration::from_millis(10)) {
                    Err(RecvTimeoutError::Disconnected) => return,
                    _ => continue,
                }
            }
        })
        .map_err(Error::Thread)
}

fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: writing into a 16-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 16, 0) };
    if n != 16 {
        let t = Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64;
        b[..8].copy_from_slice(&t.to_le_bytes());
    }
    b
}
