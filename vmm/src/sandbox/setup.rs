//! Building a sandbox: the VM and its two memory slots, the shim and the
//! kernel half's tables, userfaultfd on guest RAM, the kernel, and pid 1.

use std::sync::Arc;
use std::time::Instant;

use super::vcpu::Machine;
use super::{Config, Error, Identity, Program, Sandbox};
use crate::arch::layout::*;
use crate::arch::{tables, PageTables, TablePool, PAGE_SIZE};
use crate::fault::Uffd;
use crate::hv::Vm;
use crate::kernel::cred::Cred;
use crate::kernel::exec::ExecFile;
use crate::kernel::files::vfs::{MemFile, Meta, Node, OpenNode, Vfs, S_IFREG};
use crate::kernel::files::FileKind;
use crate::kernel::limits::Limits;
use crate::kernel::{Kernel, KernelConfig, KernelState};
use crate::loader::{Image, LoadError};
use crate::memory::HostMapping;
use crate::mm::{Budget, Phys};
use crate::timeline::{EventSink, KeepEvents, Recorder};

/// Guest-physical space for frames: four times RAM plus swap, at least
/// 1 GiB, at most 32 GiB. Frames are handed out as pages get page-table
/// entries (a block at a first touch), not as they are backed, so the
/// window is larger than RAM; untouched frames cost the host nothing.
pub fn phys_window(mem: u64, swap: u64) -> u64 {
    mem.saturating_add(swap).saturating_mul(4).clamp(1 << 30, 32 << 30).max(mem)
}

/// The XSAVE area size for the states XCR0 enables (signal frames carry
/// it), and XCR0 itself.
fn xstate(vm: &Vm) -> (u32, u64) {
    let c = vm.cpuid().as_slice();
    let leaf = |i: u32| c.iter().find(|e| e.function == 0xd && e.index == i);
    let Some(l0) = leaf(0).filter(|_| vm.features().xsave) else { return (512, 3) };
    let xcr0 = crate::arch::cpu::xcr0(l0.eax as u64 | (l0.edx as u64) << 32);
    let mut size = 576;
    for bit in 2..63 {
        if xcr0 & (1 << bit) != 0 {
            if let Some(l) = leaf(bit) {
                size = size.max(l.ebx + l.eax);
            }
        }
    }
    (size, xcr0)
}

impl Sandbox {
    /// Validates `config`, builds the VM and loads `program` into it as
    /// pid 1; nothing runs yet. [`Sandbox::builder`] is the documented way
    /// to get here; this one takes a [`Config`] made by hand.
    ///
    /// # Errors
    ///
    /// As [`SandboxBuilder::build`](super::SandboxBuilder::build).
    pub fn new(program: Program, config: Config) -> Result<Self, Error> {
        crate::inject::check().map_err(Error::Failed)?;
        config.validate()?;
        let mut vm = Vm::new()?;
        // Every process and thread runs on a vCPU of its own.
        let most = MAX_VCPUS.min(vm.max_vcpus());
        if config.max_tasks == 0 || config.max_tasks > most {
            return Err(super::ConfigError::MaxTasks { asked: config.max_tasks, most }.into());
        }
        let sys = Arc::new(HostMapping::new("system structures", SYS_SLOT_SIZE)?);
        let ram = Arc::new(HostMapping::new("RAM", phys_window(config.mem, config.swap))?);
        vm.add_slot(0, &sys)?;
        vm.add_slot(RAM_GPA_BASE, &ram)?;
        let ring_mem = Arc::new(HostMapping::new("syscall ring", RING_SLOT_SIZE)?);
        let code = crate::arch::ring::code(&crate::kernel::syscalls::ring_call_maps());
        ring_mem.write(0, &code).map_err(|e| Error::Setup(e.to_string()))?;
        vm.add_slot(RING_SLOT_GPA, &ring_mem)?;
        let setup = |e: String| Error::Setup(e);
        sys.write(SYS_SHIM_GPA, faultline_guest::SHIM_X86_64).map_err(|e| setup(e.to_string()))?;
        sys.write(SYS_IDT_GPA, &tables::idt()).map_err(|e| setup(e.to_string()))?;

        let mut pool = TablePool::new(sys.clone(), 0, SYS_TABLES_GPA, SYS_SLOT_SIZE);
        // Ring 0 sees the shim (read-only, executable), the IDT (read-only)
        // and, as vCPUs are made, each one's GDT, TSS and exception stack.
        // Nothing else of the VMM's is mapped, the page tables included.
        let mut kt = PageTables::new(&mut pool, None).map_err(|e| setup(e.to_string()))?;
        kt.map_kernel(&mut pool, SHIM_VA, SYS_SHIM_GPA, false, true).map_err(|e| setup(e.to_string()))?;
        kt.map_kernel(&mut pool, IDT_VA, SYS_IDT_GPA, false, false).map_err(|e| setup(e.to_string()))?;
        let uffd = Arc::new(if config.trapped { Uffd::new(ram.as_ptr(), ram.len())? } else { Uffd::unregistered() });
        let resident = config.rss_limit.unwrap_or(config.mem).min(config.mem) / PAGE_SIZE;
        let budget = Budget { resident_pages: resident, swap_pages: config.swap / PAGE_SIZE, trapped: config.trapped };
        let phys = Phys::new(ram, RAM_GPA_BASE, pool, budget);
        let mut sinks: Vec<Box<dyn EventSink>> =
            std::mem::take(&mut *config.sinks.lock().unwrap_or_else(|p| p.into_inner()));
        let kept = config.keep_events.then(KeepEvents::default);
        if let Some(k) = &kept {
            sinks.push(Box::new(k.clone()));
        }
        let recorder = Recorder::new(sinks);
        let (xstate_size, xcr0) = xstate(&vm);
        let cfg = KernelConfig {
            stack_size: config.stack_size,
            memlock_limit: config.memlock_limit,
            max_tasks: config.max_tasks,
            aslr: config.aslr,
            hwcap: vm.hwcap(),
            diag: config.diag.clone(),
            strace: config.strace.clone(),
            calls: config.calls.clone(),
            status: config.status.clone(),
            overcommit: config.overcommit,
            overcommit_ratio: config.overcommit_ratio,
            max_map_count: config.max_map_count,
            xstate_size,
            xcr0,
            fill_pages: config.fill_pages,
            fault_around_pages: crate::kernel::fault_around_pages(config.fault_around),
            record: config.record,
        };
        // The layer is a tmpfs: as many inodes as half of RAM's pages
        // (shmem's default nr_inodes).
        let max_inodes = (config.mem / PAGE_SIZE / 2).max(1);
        let vfs = Vfs::new(config.root.clone(), config.binds.clone(), max_inodes)
            .map_err(|e| Error::Setup(format!("cannot open the root {}: {e}", config.root.display())))?;
        let mut k = KernelState::new(phys, uffd, recorder, vfs, cfg, kt);
        let who = config.identity.clone().unwrap_or_else(Identity::of_caller);
        let cred = Cred::new(who.uid, who.gid, &who.groups);
        let (file, image) = open_program(&mut k, &program, &config, &cred)?;
        // As the overcommit heuristic refuses one mapping larger than RAM
        // plus swap (the image need not fit the resident budget: reclaim
        // can page it).
        let budget_pages = (config.mem + config.swap) / PAGE_SIZE;
        let image_pages = image.mapped_pages();
        if image_pages > budget_pages {
            return Err(Error::TooBig {
                path: image.path.clone(),
                needed: image_pages,
                needed_kib: image_pages.saturating_mul(4),
                available: budget_pages,
            });
        }
        let mut argv: Vec<Vec<u8>> = config.argv.iter().map(|a| a.clone().into_bytes()).collect();
        if argv.is_empty() {
            argv.push(file.path.clone().into_bytes());
        }
        let envp: Vec<Vec<u8>> = config.env.iter().map(|e| e.clone().into_bytes()).collect();
        let cwd = config.cwd.clone().unwrap_or_else(|| host_cwd_in(&config.root));
        // The working directory is inherited, not entered: no permission
        // is needed to start in it (and one missing falls back to /).
        let cwd = {
            let root = k.vfs.root().clone();
            let links = crate::kernel::procfs::Links { k: &k, pid: 0 };
            k.vfs.resolve(&root, &cwd, true, &links, &Cred::new(0, 0, &[])).unwrap_or(root)
        };
        // RLIMIT_SIGPENDING as fork_init() sets it: half of threads-max for RAM.
        let sigpending = crate::kernel::kmem::max_threads(resident) / 2;
        let limits = Limits::new(config.stack_size, config.memlock_limit, config.max_tasks as u64, sigpending);
        let stdio = [
            FileKind::Input(config.stdin.clone()),
            FileKind::Output(config.stdout.clone()),
            FileKind::Output(config.stderr.clone()),
        ];
        // Timeline times count from exec: the stack is the first thing built.
        k.recorder.set_start(Instant::now());
        let pid = k.spawn_init(&file, &image, &argv, &envp, cwd, cred, limits, stdio).map_err(|e| Error::Exec {
            path: image.path.clone(),
            what: format!("cannot start it: {}", e.describe()),
        })?;
        let mm = k.procs[&pid].mm;
        for name in &config.pin {
            if !k.pin_region(mm, pid, name) {
                return Err(Error::BadPin(name.clone()));
            }
        }
        if k.oom_kills > 0 || k.procs[&pid].group_exit.is_some() {
            return Err(Error::PinTooBig(config.pin.join(" ")));
        }
        let kernel = Arc::new(Kernel::new(k));
        let machine = Arc::new(Machine::new(vm, sys, ring_mem, config.syscalls));
        Ok(Sandbox { kernel, machine, config, kept })
    }
}

/// The host's working directory, as a path inside `root` (or `/`).
fn host_cwd_in(root: &std::path::Path) -> String {
    let Ok(cwd) = std::env::current_dir() else { return "/".into() };
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    match cwd.strip_prefix(&root) {
        Ok(rel) if rel.as_os_str().is_empty() => "/".into(),
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => "/".into(),
    }
}

/// The program as an exec'able file, and its ELF.
fn open_program(k: &mut KernelState, p: &Program, config: &Config, cred: &Cred) -> Result<(ExecFile, Image), Error> {
    match p {
        Program::Path(path) => {
            let shown = crate::text::tame(&path.display().to_string());
            let read = |source| Error::Load(LoadError::Read { path: shown.clone(), source });
            let host = std::fs::canonicalize(path).map_err(read)?;
            let root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
            let rel = host.strip_prefix(&root).map_err(|_| Error::Exec {
                path: shown.clone(),
                what: format!("not inside the sandbox's root {}", root.display()),
            })?;
            // Checks the file as a plain read would, for a clear message.
            let bytes = std::fs::read(&host).map_err(read)?;
            let image = Image::from_bytes(path.display().to_string(), bytes.into())?;
            let guest = format!("/{}", rel.display());
            let root = k.vfs.root().clone();
            let file = k
                .open_exec(1, &root, &guest, cred)
                .map_err(|e| Error::Exec { path: shown, what: e.describe().to_lowercase() })?;
            Ok((file, image))
        }
        Program::Bytes { name, bytes } => {
            let image = Image::from_bytes(name.clone(), bytes.clone())?;
            let id = k.vfs.new_id();
            let meta = Meta {
                mode: S_IFREG | 0o755,
                size: bytes.len() as u64,
                nlink: 1,
                ino: id.0,
                dev: 1,
                ..Default::default()
            };
            let path = format!("/{name}");
            let node = OpenNode {
                id,
                meta,
                path: path.clone(),
                data: Arc::new(MemFile(bytes.clone())),
                node: Node::Synthetic { meta, entries: Vec::new() },
            };
            Ok((ExecFile { path, node, bytes: bytes.clone() }, image))
        }
    }
}
