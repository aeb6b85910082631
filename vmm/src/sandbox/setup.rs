//! Building a sandbox: the VM and its two memory slots, the shim and the
//! kernel half's tables, userfaultfd on guest RAM, the kernel, and pid 1.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::machine::Machine;
use super::{Config, Error, Identity, Program, Sandbox};
use crate::arch::layout::*;
use crate::arch::{PageTables, TablePool, PAGE_SIZE};
use crate::fault::Uffd;
use crate::hv::Vm;
use crate::kernel::cred::Cred;
use crate::kernel::exec::{script_argv, shebang, Binprm, ExecFile, MAX_SCRIPT_DEPTH};
use crate::kernel::files::vfs::{Lookup, Vfs};
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
        let Slots { vm, sys, ram, ring_mem, pool, kt } = Slots::new(&config)?;
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
        let cfg = kernel_config(&config, &vm);
        // The layer is a tmpfs: as many inodes as half of RAM's pages
        // (shmem's default nr_inodes).
        let max_inodes = (config.mem / PAGE_SIZE / 2).max(1);
        let vfs = Vfs::new(config.root.clone(), config.binds.clone(), max_inodes)
            .map_err(|e| Error::Setup(format!("cannot open the root {}: {e}", config.root.display())))?;
        let mut k = KernelState::new(phys, uffd.clone(), recorder, vfs, cfg, kt);
        start_init(&mut k, &program, &config, resident)?;
        let kernel = Arc::new(Kernel::new(k));
        let machine = Arc::new(Machine::new(vm, sys, ring_mem, config.syscalls));
        Ok(Sandbox { kernel, machine, uffd, config, kept })
    }
}

/// The VM and what its memory slots hold: the system structures (the shim,
/// the IDT, the page tables), guest RAM and the syscall ring; and the
/// kernel half's page tables.
struct Slots {
    vm: Vm,
    sys: Arc<HostMapping>,
    ram: Arc<HostMapping>,
    ring_mem: Arc<HostMapping>,
    pool: TablePool,
    kt: PageTables,
}

impl Slots {
    fn new(config: &Config) -> Result<Self, Error> {
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
        let mut pool = TablePool::new(sys.clone(), 0, SYS_TABLES_GPA, SYS_SLOT_SIZE);
        let mut kt = PageTables::new(&mut pool, None).map_err(|e| Error::Setup(e.to_string()))?;
        // The guest's own code and tables, for its kernel mode only.
        super::entry::system_image(&sys, &mut pool, &mut kt)?;
        Ok(Slots { vm, sys, ram, ring_mem, pool, kt })
    }
}

/// What the kernel needs of `config` and of the VM's CPU.
fn kernel_config(config: &Config, vm: &Vm) -> KernelConfig {
    KernelConfig {
        max_tasks: config.max_tasks,
        aslr: config.aslr,
        hwcaps: vm.hwcaps(),
        diag: config.diag.clone(),
        strace: config.strace.clone(),
        calls: config.calls.clone(),
        status: config.status.clone(),
        overcommit: config.overcommit,
        overcommit_ratio: config.overcommit_ratio,
        max_map_count: config.max_map_count,
        fpu: vm.fpu_config(),
        fill_pages: config.fill_pages,
        fault_around_pages: crate::kernel::fault_around_pages(config.fault_around),
        page_cache: config.page_cache,
        record: config.record,
        stacks: config.stacks,
    }
}

/// Loads `program` as pid 1 (`resident` pages of RAM set its
/// RLIMIT_SIGPENDING) and backs the regions `config` pins.
fn start_init(k: &mut KernelState, program: &Program, config: &Config, resident: u64) -> Result<(), Error> {
    let who = config.identity.clone().unwrap_or_else(Identity::of_caller);
    let cred = Cred::new(who.uid, who.gid, &who.groups).bound(Cred::host_bounding_set());
    // The working directory is inherited, not entered: no permission
    // is needed to start in it (and one missing falls back to /).
    let cwd = config.cwd.clone().unwrap_or_else(|| host_cwd_in(&config.root));
    let cwd = k.initial_cwd(&cwd);
    let Start { file, image, execfn, argv } = open_program(k, program, config, &cwd, &cred)?;
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
    let envp: Vec<Vec<u8>> = config.env.iter().map(|e| e.clone().into_bytes()).collect();
    // RLIMIT_SIGPENDING as fork_init() sets it: half of threads-max for RAM.
    let sigpending = crate::kernel::mm::kmem::max_threads(resident) / 2;
    let limits = Limits::new(config.stack_size, config.memlock_limit, config.max_tasks as u64, sigpending);
    let stdio = [
        FileKind::Input(config.stdin.clone()),
        FileKind::Output(config.stdout.clone()),
        FileKind::Output(config.stderr.clone()),
    ];
    // Timeline times count from exec: the stack is the first thing built.
    k.report.recorder_mut().set_start(Instant::now());
    let bprm = Binprm { file: &file, image: &image, execfn: &execfn, argv: &argv, envp: &envp };
    let pid = k
        .spawn_init(&bprm, cwd, cred, limits, stdio)
        .map_err(|e| Error::Exec { path: image.path.clone(), what: format!("cannot start it: {}", e.describe()) })?;
    let mm = k.tasks.proc(pid).expect("live process").mm;
    for name in &config.pin {
        if !k.pin_region(mm, pid, name) {
            return Err(Error::BadPin(name.clone()));
        }
    }
    if k.mm.oom_kills() > 0 || k.tasks.proc(pid).expect("live process").group_exit.is_some() {
        return Err(Error::PinTooBig(config.pin.join(" ")));
    }
    Ok(())
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

/// The program as exec starts it: the file (the interpreter, for a
/// script), its ELF, the name exec was given (bprm->filename: AT_EXECFN
/// and the process's name come from it) and the argv it runs with.
struct Start {
    file: ExecFile,
    image: Image,
    execfn: String,
    argv: Vec<Vec<u8>>,
}

/// glibc's execvp searches this when the environment has no PATH.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Opens the program as execvp(3) and then execve(2) would: a name with
/// no slash is looked for in the program's PATH, inside the sandbox's
/// root; a `#!` script runs its interpreter, as binfmt_script does.
fn open_program(k: &mut KernelState, p: &Program, config: &Config, cwd: &Lookup, cred: &Cred) -> Result<Start, Error> {
    let mut argv: Vec<Vec<u8>> = config.argv.iter().map(|a| a.clone().into_bytes()).collect();
    let (mut file, execfn, shown) = match p {
        Program::Path(path) => {
            let given = path.display().to_string();
            let shown = crate::text::tame(&given);
            let (file, execfn) = if given.contains('/') {
                (open_host_path(k, path, config, &shown, cred)?, exec_name(path, config, &cwd.path))
            } else {
                search_path(k, &given, config, cwd, &shown, cred)?
            };
            (file, execfn, shown)
        }
        Program::Bytes { name, bytes } => {
            let file = ExecFile::in_memory(name, bytes.clone(), k.new_file_id());
            let path = file.path.clone();
            (file, path, crate::text::tame(name))
        }
    };
    if argv.is_empty() {
        argv.push(execfn.clone().into_bytes());
    }
    // What binfmt_script does: the interpreter runs with the script's
    // name (as exec got it) among its arguments, and may itself be a
    // script, four deep at most.
    let mut name = execfn.clone();
    let mut elf_name = p.name();
    for depth in 0.. {
        let Some(script) = shebang(&file.head) else { break };
        let refuse = |what: String| Error::Exec { path: shown.clone(), what };
        if depth == MAX_SCRIPT_DEPTH {
            return Err(refuse("too many #! interpreters, one running the next".into()));
        }
        let (interp, arg) = script.map_err(|_| refuse("its #! line names no interpreter".into()))?;
        argv = script_argv(&interp, arg, &name, &argv);
        file = k.open_exec(1, cwd, &interp, cred).map_err(|e| {
            refuse(format!(
                "cannot run its #! interpreter {}: {}",
                crate::text::tame(&interp),
                e.describe().to_lowercase()
            ))
        })?;
        name = interp.clone();
        elf_name = interp;
    }
    let image = k.exec_image(&file, elf_name)?;
    Ok(Start { file, image, execfn, argv })
}

/// A program named by a path: checked on the host first, for plain
/// messages (no such file, not inside the root), then opened as the
/// guest sees it.
fn open_host_path(
    k: &mut KernelState,
    path: &Path,
    config: &Config,
    shown: &str,
    cred: &Cred,
) -> Result<ExecFile, Error> {
    let read = |source| Error::Load(LoadError::Read { path: shown.to_string(), source });
    let host = std::fs::canonicalize(path).map_err(read)?;
    let root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let rel = host.strip_prefix(&root).map_err(|_| Error::Exec {
        path: shown.to_string(),
        what: format!("not inside the sandbox's root {}", root.display()),
    })?;
    // A directory or an unreadable file says so in the host's words.
    std::fs::File::open(&host)
        .and_then(|f| f.metadata())
        .and_then(|m| if m.is_dir() { Err(std::io::Error::from_raw_os_error(libc::EISDIR)) } else { Ok(()) })
        .map_err(read)?;
    let guest = format!("/{}", rel.display());
    let root = k.root();
    k.open_exec(1, &root, &guest, cred)
        .map_err(|e| Error::Exec { path: shown.to_string(), what: e.describe().to_lowercase() })
}

/// The name exec is given for a program named by a path: the path as
/// written (so a symlink keeps its own name), or, where the guest would
/// read it otherwise (another root, another working directory), the same
/// place as a guest path, made without following links.
fn exec_name(path: &Path, config: &Config, cwd: &str) -> String {
    let given = path.display().to_string();
    let root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let host_cwd = host_cwd_in(&config.root);
    let guest = if path.is_absolute() {
        match path.strip_prefix(&root) {
            _ if root == Path::new("/") => return given,
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => return given,
        }
    } else if cwd == host_cwd {
        return given;
    } else {
        Path::new(&host_cwd).join(path)
    };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in guest.components() {
        match c {
            std::path::Component::Normal(n) => parts.push(n),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.iter().collect::<PathBuf>().display())
}

/// execvp's search: each directory of the program's PATH in turn (an
/// empty entry is the working directory); a file found but not
/// executable is remembered and the search goes on, as glibc does.
fn search_path(
    k: &mut KernelState,
    name: &str,
    config: &Config,
    cwd: &Lookup,
    shown: &str,
    cred: &Cred,
) -> Result<(ExecFile, String), Error> {
    use crate::kernel::errno::{EACCES, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR};
    // The first PATH, as the program's getenv would find it.
    let path = config.env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let mut denied = false;
    for dir in path.split(':') {
        let candidate = if dir.is_empty() { name.to_string() } else { format!("{}/{name}", dir.trim_end_matches('/')) };
        match k.open_exec(1, cwd, &candidate, cred) {
            Ok(f) => return Ok((f, candidate)),
            Err(EACCES) => denied = true,
            Err(ENOENT | ENOTDIR | ELOOP | ENAMETOOLONG) => {}
            Err(e) => {
                return Err(Error::Exec {
                    path: shown.to_string(),
                    what: format!("{}: {}", crate::text::tame(&candidate), e.describe().to_lowercase()),
                })
            }
        }
    }
    let what = if denied {
        format!("found in PATH ({}), but not as a file you may execute", crate::text::tame(path))
    } else {
        format!("not found in PATH ({}); give a path to run a file that is not in it", crate::text::tame(path))
    };
    Err(Error::Exec { path: shown.to_string(), what })
}
