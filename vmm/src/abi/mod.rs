//! The Linux system-call ABI, as far as faultline plays the kernel. One file
//! per family; `dispatch` routes by number.

pub mod errno;
pub mod exec;
mod fs;
mod io;
pub mod limits;
pub mod mlock;
pub mod mm;
mod process;
pub mod procfs;
pub mod signal;
pub mod strace;
mod system;
mod task;
mod time;

pub use mlock::pin_region;
pub use strace::Strace;
pub use task::{Input, Output, Task};

use errno::{Errno, ENOSYS};

/// What the vCPU loop does after a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return this value in RAX (negative: -errno).
    Return(i64),
    /// The program exited with this status.
    Exit(i32),
    /// The program sent itself this signal; its default action ends it.
    Signal(i32),
}

/// Syscall numbers (x86-64) and names, for dispatch, strace and reports.
pub mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const OPEN: u64 = 2;
    pub const CLOSE: u64 = 3;
    pub const FSTAT: u64 = 5;
    pub const LSEEK: u64 = 8;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const IOCTL: u64 = 16;
    pub const READV: u64 = 19;
    pub const WRITEV: u64 = 20;
    pub const SCHED_YIELD: u64 = 24;
    pub const MREMAP: u64 = 25;
    pub const MSYNC: u64 = 26;
    pub const MINCORE: u64 = 27;
    pub const MADVISE: u64 = 28;
    pub const NANOSLEEP: u64 = 35;
    pub const GETPID: u64 = 39;
    pub const KILL: u64 = 62;
    pub const TKILL: u64 = 200;
    pub const TGKILL: u64 = 234;
    pub const EXIT: u64 = 60;
    pub const UNAME: u64 = 63;
    pub const READLINK: u64 = 89;
    pub const GETTIMEOFDAY: u64 = 96;
    pub const GETRLIMIT: u64 = 97;
    pub const SYSINFO: u64 = 99;
    pub const GETUID: u64 = 102;
    pub const GETGID: u64 = 104;
    pub const GETEUID: u64 = 107;
    pub const GETEGID: u64 = 108;
    pub const GETPPID: u64 = 110;
    pub const GETGROUPS: u64 = 115;
    pub const GETRESUID: u64 = 118;
    pub const GETRESGID: u64 = 120;
    pub const SIGALTSTACK: u64 = 131;
    pub const SETRLIMIT: u64 = 160;
    pub const MLOCK: u64 = 149;
    pub const MUNLOCK: u64 = 150;
    pub const MLOCKALL: u64 = 151;
    pub const MUNLOCKALL: u64 = 152;
    pub const MLOCK2: u64 = 325;
    pub const PRCTL: u64 = 157;
    pub const ARCH_PRCTL: u64 = 158;
    pub const GETTID: u64 = 186;
    pub const TIME: u64 = 201;
    pub const SCHED_GETAFFINITY: u64 = 204;
    pub const SET_TID_ADDRESS: u64 = 218;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const CLOCK_GETRES: u64 = 229;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EXIT_GROUP: u64 = 231;
    pub const OPENAT: u64 = 257;
    pub const NEWFSTATAT: u64 = 262;
    pub const READLINKAT: u64 = 267;
    pub const SET_ROBUST_LIST: u64 = 273;
    pub const PRLIMIT64: u64 = 302;
    pub const GETRANDOM: u64 = 318;
    pub const RSEQ: u64 = 334;
}

/// The name of syscall `n` (x86-64), for messages.
pub fn name(n: u64) -> &'static str {
    const NAMES: &[&str] = &[
        "read",
        "write",
        "open",
        "close",
        "stat",
        "fstat",
        "lstat",
        "poll",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "pread64",
        "pwrite64",
        "readv",
        "writev",
        "access",
        "pipe",
        "select",
        "sched_yield",
        "mremap",
        "msync",
        "mincore",
        "madvise",
        "shmget",
        "shmat",
        "shmctl",
        "dup",
        "dup2",
        "pause",
        "nanosleep",
        "getitimer",
        "alarm",
        "setitimer",
        "getpid",
        "sendfile",
        "socket",
        "connect",
        "accept",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "shutdown",
        "bind",
        "listen",
        "getsockname",
        "getpeername",
        "socketpair",
        "setsockopt",
        "getsockopt",
        "clone",
        "fork",
        "vfork",
        "execve",
        "exit",
        "wait4",
        "kill",
        "uname",
        "semget",
        "semop",
        "semctl",
        "shmdt",
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
        "fcntl",
        "flock",
        "fsync",
        "fdatasync",
        "truncate",
        "ftruncate",
        "getdents",
        "getcwd",
        "chdir",
        "fchdir",
        "rename",
        "mkdir",
        "rmdir",
        "creat",
        "link",
        "unlink",
        "symlink",
        "readlink",
        "chmod",
        "fchmod",
        "chown",
        "fchown",
        "lchown",
        "umask",
        "gettimeofday",
        "getrlimit",
        "getrusage",
        "sysinfo",
        "times",
        "ptrace",
        "getuid",
        "syslog",
        "getgid",
        "setuid",
        "setgid",
        "geteuid",
        "getegid",
        "setpgid",
        "getppid",
        "getpgrp",
        "setsid",
        "setreuid",
        "setregid",
        "getgroups",
        "setgroups",
        "setresuid",
        "getresuid",
        "setresgid",
        "getresgid",
        "getpgid",
        "setfsuid",
        "setfsgid",
        "getsid",
        "capget",
        "capset",
        "rt_sigpending",
        "rt_sigtimedwait",
        "rt_sigqueueinfo",
        "rt_sigsuspend",
        "sigaltstack",
        "utime",
        "mknod",
        "uselib",
        "personality",
        "ustat",
        "statfs",
        "fstatfs",
        "sysfs",
        "getpriority",
        "setpriority",
        "sched_setparam",
        "sched_getparam",
        "sched_setscheduler",
        "sched_getscheduler",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_rr_get_interval",
        "mlock",
        "munlock",
        "mlockall",
        "munlockall",
        "vhangup",
        "modify_ldt",
        "pivot_root",
        "_sysctl",
        "prctl",
        "arch_prctl",
        "adjtimex",
        "setrlimit",
        "chroot",
        "sync",
        "acct",
        "settimeofday",
        "mount",
        "umount2",
        "swapon",
        "swapoff",
        "reboot",
        "sethostname",
        "setdomainname",
        "iopl",
        "ioperm",
        "create_module",
        "init_module",
        "delete_module",
        "get_kernel_syms",
        "query_module",
        "quotactl",
        "nfsservctl",
        "getpmsg",
        "putpmsg",
        "afs_syscall",
        "tuxcall",
        "security",
        "gettid",
        "readahead",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "tkill",
        "time",
        "futex",
        "sched_setaffinity",
        "sched_getaffinity",
        "set_thread_area",
        "io_setup",
        "io_destroy",
        "io_getevents",
        "io_submit",
        "io_cancel",
        "get_thread_area",
        "lookup_dcookie",
        "epoll_create",
        "epoll_ctl_old",
        "epoll_wait_old",
        "remap_file_pages",
        "getdents64",
        "set_tid_address",
        "restart_syscall",
        "semtimedop",
        "fadvise64",
        "timer_create",
        "timer_settime",
        "timer_gettime",
        "timer_getoverrun",
        "timer_delete",
        "clock_settime",
        "clock_gettime",
        "clock_getres",
        "clock_nanosleep",
        "exit_group",
        "epoll_wait",
        "epoll_ctl",
        "tgkill",
        "utimes",
        "vserver",
        "mbind",
        "set_mempolicy",
        "get_mempolicy",
        "mq_open",
        "mq_unlink",
        "mq_timedsend",
        "mq_timedreceive",
        "mq_notify",
        "mq_getsetattr",
        "kexec_load",
        "waitid",
        "add_key",
        "request_key",
        "keyctl",
        "ioprio_set",
        "ioprio_get",
        "inotify_init",
        "inotify_add_watch",
        "inotify_rm_watch",
        "migrate_pages",
        "openat",
        "mkdirat",
        "mknodat",
        "fchownat",
        "futimesat",
        "newfstatat",
        "unlinkat",
        "renameat",
        "linkat",
        "symlinkat",
        "readlinkat",
        "fchmodat",
        "faccessat",
        "pselect6",
        "ppoll",
        "unshare",
        "set_robust_list",
        "get_robust_list",
        "splice",
        "tee",
        "sync_file_range",
        "vmsplice",
        "move_pages",
        "utimensat",
        "epoll_pwait",
        "signalfd",
        "timerfd_create",
        "eventfd",
        "fallocate",
        "timerfd_settime",
        "timerfd_gettime",
        "accept4",
        "signalfd4",
        "eventfd2",
        "epoll_create1",
        "dup3",
        "pipe2",
        "inotify_init1",
        "preadv",
        "pwritev",
        "rt_tgsigqueueinfo",
        "perf_event_open",
        "recvmmsg",
        "fanotify_init",
        "fanotify_mark",
        "prlimit64",
        "name_to_handle_at",
        "open_by_handle_at",
        "clock_adjtime",
        "syncfs",
        "sendmmsg",
        "setns",
        "getcpu",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "finit_module",
        "sched_setattr",
        "sched_getattr",
        "renameat2",
        "seccomp",
        "getrandom",
        "memfd_create",
        "kexec_file_load",
        "bpf",
        "execveat",
        "userfaultfd",
        "membarrier",
        "mlock2",
        "copy_file_range",
        "preadv2",
        "pwritev2",
        "pkey_mprotect",
        "pkey_alloc",
        "pkey_free",
        "statx",
        "io_pgetevents",
        "rseq",
    ];
    NAMES.get(n as usize).copied().unwrap_or("unknown")
}

fn run(task: &mut Task, n: u64, a: [u64; 6]) -> Result<Result<i64, Errno>, Action> {
    use nr::*;
    Ok(match n {
        READ => io::read(task, a[0], a[1], a[2]),
        WRITE => io::write(task, a[0], a[1], a[2]),
        OPEN => fs::open(task, a[0], a[1], a[2]),
        CLOSE => fs::close(task, a[0]),
        FSTAT => fs::fstat(task, a[0], a[1]),
        LSEEK => io::lseek(task, a[0], a[1], a[2]),
        MMAP => mm::mmap(task, a[0], a[1], a[2], a[3], a[4], a[5]),
        MPROTECT => mm::mprotect(task, a[0], a[1], a[2]),
        MUNMAP => mm::munmap(task, a[0], a[1]),
        BRK => Ok(mm::brk(task, a[0])),
        RT_SIGACTION => signal::rt_sigaction(task, a[0], a[1], a[2], a[3]),
        RT_SIGPROCMASK => signal::rt_sigprocmask(task, a[0], a[1], a[2], a[3]),
        IOCTL => io::ioctl(task, a[0], a[1], a[2]),
        READV => io::readv(task, a[0], a[1], a[2]),
        WRITEV => io::writev(task, a[0], a[1], a[2]),
        SCHED_YIELD => Ok(0),
        MREMAP => mm::mremap(task, a[0], a[1], a[2], a[3], a[4]),
        MSYNC => mm::msync(task, a[0], a[1], a[2]),
        MINCORE => mm::mincore(task, a[0], a[1], a[2]),
        MADVISE => mm::madvise(task, a[0], a[1], a[2]),
        NANOSLEEP => time::nanosleep(task, a[0], a[1]),
        GETPID | GETTID => Ok(process::PID),
        GETPPID => Ok(0),
        EXIT | EXIT_GROUP => return Err(process::exit(a[0])),
        KILL => process::kill(task, a[0], a[1])?,
        TKILL => process::kill(task, a[0], a[1])?,
        TGKILL if a[0] as i64 == process::PID => process::kill(task, a[1], a[2])?,
        TGKILL => Err(errno::ESRCH),
        UNAME => system::uname(task, a[0]),
        READLINK => fs::readlink(task, a[0], a[1], a[2]),
        GETTIMEOFDAY => time::gettimeofday(task, a[0], a[1]),
        GETRLIMIT => limits::getrlimit(task, a[0], a[1]),
        SYSINFO => {
            let info = procfs::mem_info(task);
            system::sysinfo(task, a[0], info.mem_total * 1024, info.mem_free * 1024)
        }
        GETUID | GETGID | GETEUID | GETEGID => Ok(process::UID),
        GETGROUPS => Ok(0),
        GETRESUID | GETRESGID => process::getresid(task, a[0], a[1], a[2]),
        SIGALTSTACK => signal::sigaltstack(task, a[0], a[1]),
        SETRLIMIT => limits::setrlimit(task, a[0], a[1]),
        MLOCK => mlock::mlock(task, a[0], a[1]),
        MLOCK2 => mlock::mlock2(task, a[0], a[1], a[2]),
        MUNLOCK => mlock::munlock(task, a[0], a[1]),
        MLOCKALL => mlock::mlockall(task, a[0]),
        MUNLOCKALL => mlock::munlockall(task),
        PRCTL => process::prctl(task, a[0], a[1]),
        ARCH_PRCTL => process::arch_prctl(task, a[0], a[1]),
        TIME => time::time(task, a[0]),
        SCHED_GETAFFINITY => process::sched_getaffinity(task, a[0], a[1], a[2]),
        SET_TID_ADDRESS => Ok(process::PID),
        CLOCK_GETTIME => time::clock_gettime(task, a[0], a[1]),
        CLOCK_GETRES => time::clock_getres(task, a[0], a[1]),
        CLOCK_NANOSLEEP => time::clock_nanosleep(task, a[0], a[1], a[2], a[3]),
        OPENAT => fs::openat(task, a[0], a[1], a[2], a[3]),
        NEWFSTATAT => fs::newfstatat(task, a[0], a[1], a[2], a[3]),
        READLINKAT => fs::readlinkat(task, a[0], a[1], a[2], a[3]),
        SET_ROBUST_LIST => process::set_robust_list(a[1]),
        PRLIMIT64 => limits::prlimit64(task, a[0], a[1], a[2], a[3]),
        GETRANDOM => system::getrandom(task, a[0], a[1], a[2]),
        RSEQ => process::rseq(task, a[0], a[1], a[2], a[3]),
        _ => {
            task.report_unsupported(n, name(n));
            Err(ENOSYS)
        }
    })
}

/// Runs syscall `n` with `args` (RDI, RSI, RDX, R10, R8, R9).
pub fn dispatch(task: &mut Task, n: u64, args: [u64; 6]) -> Action {
    let mut result = run(task, n, args);
    // A write to a closed pipe raises SIGPIPE, as the kernel does.
    if matches!(result, Ok(Err(errno::EPIPE))) && task.signals.raise(signal::SIGPIPE) {
        result = Err(Action::Signal(signal::SIGPIPE as i32));
    }
    // A signal raised while blocked is delivered once unblocked.
    if result.is_ok() {
        if let Some(sig) = task.signals.deliver_pending() {
            result = Err(Action::Signal(sig as i32));
        }
    }
    task.vm_peak = task.vm_peak.max(task.space.vmas().total());
    if let Some(s) = task.strace.clone() {
        let line = match result {
            Ok(r) => strace::line(task, n, name(n), args, r),
            Err(Action::Exit(code)) => format!("{}({code}) = ?\n+++ exited with {code} +++", name(n)),
            Err(Action::Signal(sig)) => format!("{}(...) = ?\n+++ killed by signal {sig} +++", name(n)),
            Err(Action::Return(_)) => unreachable!("run returns exits only as Err"),
        };
        s.emit(&line);
    }
    match result {
        Ok(Ok(v)) => Action::Return(v),
        Ok(Err(e)) => Action::Return(-(e.0 as i64)),
        Err(action) => action,
    }
}
