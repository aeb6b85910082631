//! Pid 1: the process the sandbox starts, exec'd from nothing.

use super::{exec_comm, Binprm};
use crate::arch::UserRegs;
use crate::kernel::abi::resource::RLIMIT_STACK;
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::kernel::files::vfs::Lookup;
use crate::kernel::process::Tid;
use crate::kernel::KernelState;
use crate::mm::MmId;

impl KernelState {
    /// Creates pid 1 running `bprm`'s program: its process, its first
    /// thread (queued for a vCPU), its address space, and its standard
    /// streams.
    pub(crate) fn spawn_init(
        &mut self,
        bprm: &Binprm,
        cwd: Lookup,
        cred: Cred,
        limits: crate::kernel::limits::Limits,
        stdio: [crate::kernel::files::FileKind; 3],
    ) -> Result<Tid, Errno> {
        use crate::kernel::abi::fcntl::{O_RDONLY, O_WRONLY};
        use crate::kernel::files::{Fd, FdTable, OpenFile};
        use crate::kernel::process::{Fs, FsContext, ProcState, Process};
        let pid = self.tasks.alloc_id();
        let stack = limits.cur(RLIMIT_STACK);
        // A placeholder so loading can record events for pid 1.
        let files = FdTable::default();
        for (i, kind) in stdio.into_iter().enumerate() {
            let flags = if i == 0 { O_RDONLY } else { O_WRONLY };
            let f = OpenFile::new(kind, flags, "");
            self.charge_open_file(&f)?;
            files.set(i as i32, Fd { file: f, cloexec: false });
        }
        let root_time_ns = crate::kernel::timens::TimeNs::root();
        let p = Process {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            comm: exec_comm(bprm.execfn, bprm.file),
            exe: bprm.file.path.clone(),
            cmdline: self.cmdline(bprm.argv)?,
            mm: MmId(0),
            files,
            fs: FsContext::new(Fs { cwd, umask: 0o022 }),
            cred,
            limits,
            sig: Default::default(),
            shared_pending: Default::default(),
            threads: vec![pid],
            children: Vec::new(),
            state: ProcState::Running,
            exit_signal: crate::kernel::signal::SIGCHLD,
            vfork_parent: None,
            did_exec: true,
            group_exit: None,
            oom_score_adj: 0,
            dumpable: true,
            coredump_filter: crate::kernel::abi::elf::DUMP_FILTER_DEFAULT,
            started: std::time::Instant::now(),
            rusage: Default::default(),
            children_rusage: Default::default(),
            child_wait: Default::default(),
            oom_killed: false,
            itimer_real: None,
            timers: Default::default(),
            // One namespace, both ways (init_nsproxy).
            time_ns: root_time_ns.clone(),
            time_ns_for_children: root_time_ns,
            net: self.net.clone(),
            jobctl: Default::default(),
        };
        self.tasks.add_process(p);
        let loaded = match self.load_program(pid, pid, bprm, stack) {
            Ok(l) => l,
            Err(e) => {
                self.tasks.remove_process(pid);
                return Err(e);
            }
        };
        self.tasks.proc_mut(pid).expect("just made").mm = loaded.mm;
        self.record_lifecycle(crate::timeline::EventKind::Exec, pid, pid, 0);
        let regs = UserRegs::user_start(loaded.entry, loaded.sp);
        let mut t = crate::kernel::thread::Thread::new(pid, pid, crate::kernel::thread::StartState { regs, fpu: None });
        t.kmem = Some(self.charge_task()?);
        self.tasks.add_thread(t);
        self.tasks.queue_spawn(pid);
        Ok(pid)
    }
}
