//! The Linux system calls, one table: each entry has the call's number,
//! name, argument signature (for strace), class (for `-e trace=%…`) and
//! handler, declared once. Handlers live in one file per family and cite
//! the Linux function they follow. A call without a handler returns
//! -ENOSYS, reported once per number.

mod attr;
mod clone;
pub mod cred;
mod dir;
mod epoll;
mod eventfd;
mod exec;
mod exit;
mod fcntl;
mod file_io;
mod futex;
mod ids;
pub mod io;
mod kill;
pub mod limits;
mod memfd;
mod mknod;
pub mod mm;
mod namei;
mod open;
pub mod poll;
mod prctl;
mod rusage;
mod sched;
mod shm;
pub mod signal;
mod socket;
pub mod sockmsg;
mod sockopt;
mod stat;
pub mod system;
pub mod time;
mod timers;
mod wait;
mod xattr;

// syscalls/mm.rs names the seal check by its old home.

use crate::arch::ring::CallMaps;
use std::sync::OnceLock;
use std::time::Instant;

use super::abi::fcntl::{F_OFD_SETLKW, F_SETLKW};
use super::abi::futex::{FUTEX_PRIVATE_FLAG, FUTEX_WAKE, FUTEX_WAKE_BITSET};
use super::errno::*;
use super::files::{FileKind, Input};
use super::process::Pid;
use super::task::Ctx;
use super::KernelState;

bitflags::bitflags! {
    /// strace's syscall classes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Class: u16 {
        const MEMORY = 1;
        const FILE = 2;
        const DESC = 4;
        const PROCESS = 8;
        const SIGNAL = 16;
        const IPC = 32;
        const NETWORK = 64;
        const CLOCK = 128;
    }
}

/// How an argument is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Int,
    Long,
    Hex,
    Ptr,
    Fd,
    Path,
    /// A buffer the call reads, its length in argument n.
    InBuf(usize),
    /// A buffer the call fills, its length in argument n (shown after).
    OutBuf(usize),
    Prot,
    MapFlags,
    OpenFlags,
    Mode,
    Madvise,
    Signal,
    SigHow,
    Clock,
    ArchPrctl,
    Resource,
    CloneFlags,
    FutexOp,
    Whence,
    Fcntl,
    WaitOpts,
    /// A socket's address family.
    Family,
    /// A socket's type with SOCK_NONBLOCK and SOCK_CLOEXEC.
    SockType,
    /// The send and receive flags.
    MsgFlags,
    /// A socket option's level.
    SockLevel,
    /// A socket option's name (the level is argument 1).
    SockOpt,
    /// shutdown's how.
    ShutHow,
    /// epoll_ctl's operation.
    EpollOp,
}

/// How the result is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Int,
    Hex,
}

pub type Handler = fn(&mut Ctx, [u64; 6]) -> SysResult;

/// Whether the syscall ring's server may run a call while the thread's
/// vCPU waits in the stub, or the thread must take the exit path (see
/// `sandbox::ring`). The server runs only calls that never sleep in
/// faultline's kernel and change nothing of the caller but RAX and memory:
/// not the registers, the FPU or TLS, and no thread comes or goes.
#[derive(Clone, Copy)]
pub enum Ring {
    Exit,
    Serve,
    /// Served when this holds for the calling process and the arguments.
    ServeIf(fn(&KernelState, Pid, &[u64; 6]) -> bool),
}

/// One system call.
pub struct Syscall {
    pub nr: u64,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
    pub class: Class,
    pub handler: Option<Handler>,
    pub ring: Ring,
    /// It changes nothing a /proc file shows (the views need not look again).
    pub quiet: bool,
}

impl std::fmt::Debug for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name, self.nr)
    }
}

use Arg::*;

const M: Class = Class::MEMORY;
const F: Class = Class::FILE.union(Class::DESC);
const FP: Class = Class::FILE;
const D: Class = Class::DESC;
const P: Class = Class::PROCESS;
const S: Class = Class::SIGNAL;
const C: Class = Class::CLOCK;
const N: Class = Class::NETWORK;
const I: Class = Class::IPC;
const O: Class = Class::empty();

const fn sc(nr: u64, name: &'static str, args: &'static [Arg], class: Class, handler: Option<Handler>) -> Syscall {
    Syscall { nr, name, args, ret: Ret::Int, class, handler, ring: Ring::Exit, quiet: false }
}

/// A call that changes nothing a /proc file shows.
const fn quiet(s: Syscall) -> Syscall {
    Syscall { quiet: true, ..s }
}

/// A call the ring's server runs.
const fn ring(s: Syscall) -> Syscall {
    Syscall { ring: Ring::Serve, ..s }
}

/// A call the ring's server runs when `when` holds.
const fn ring_if(s: Syscall, when: fn(&KernelState, Pid, &[u64; 6]) -> bool) -> Syscall {
    Syscall { ring: Ring::ServeIf(when), ..s }
}

const fn hex(s: Syscall) -> Syscall {
    Syscall { ret: Ret::Hex, ..s }
}

/// Every x86-64 system call faultline knows by name.
pub static TABLE: &[Syscall] = &[
    quiet(ring_if(sc(0, "read", &[Fd, OutBuf(2), Long], D, Some(io::read)), fd_never_blocks)),
    quiet(ring_if(sc(1, "write", &[Fd, InBuf(2), Long], D, Some(io::write)), fd_never_blocks)),
    ring(sc(2, "open", &[Path, OpenFlags, Mode], FP, Some(open::open))),
    quiet(ring(sc(3, "close", &[Fd], D, Some(open::close)))),
    ring(sc(4, "stat", &[Path, Ptr], FP, Some(stat::stat))),
    quiet(ring(sc(5, "fstat", &[Fd, Ptr], D, Some(stat::fstat)))),
    ring(sc(6, "lstat", &[Path, Ptr], FP, Some(stat::lstat))),
    sc(7, "poll", &[Ptr, Int, Int], D, Some(poll::poll)),
    quiet(ring(sc(8, "lseek", &[Fd, Long, Whence], D, Some(io::lseek)))),
    ring(hex(sc(9, "mmap", &[Ptr, Long, Prot, MapFlags, Fd, Hex], M, Some(mm::mmap)))),
    ring(sc(10, "mprotect", &[Ptr, Long, Prot], M, Some(mm::mprotect))),
    ring(sc(11, "munmap", &[Ptr, Long], M, Some(mm::munmap))),
    ring(hex(sc(12, "brk", &[Ptr], M, Some(mm::brk)))),
    ring(sc(13, "rt_sigaction", &[Signal, Ptr, Ptr, Long], S, Some(signal::rt_sigaction))),
    ring(sc(14, "rt_sigprocmask", &[SigHow, Ptr, Ptr, Long], S, Some(signal::rt_sigprocmask))),
    sc(15, "rt_sigreturn", &[], S, Some(signal::rt_sigreturn)),
    ring(sc(16, "ioctl", &[Fd, Hex, Hex], D, Some(io::ioctl))),
    quiet(ring_if(sc(17, "pread64", &[Fd, OutBuf(2), Long, Long], D, Some(io::pread64)), fd_never_blocks)),
    quiet(ring_if(sc(18, "pwrite64", &[Fd, InBuf(2), Long, Long], D, Some(io::pwrite64)), fd_never_blocks)),
    quiet(ring_if(sc(19, "readv", &[Fd, Ptr, Int], D, Some(io::readv)), fd_never_blocks)),
    quiet(ring_if(sc(20, "writev", &[Fd, Ptr, Int], D, Some(io::writev)), fd_never_blocks)),
    ring(sc(21, "access", &[Path, Int], FP, Some(stat::access))),
    sc(22, "pipe", &[Ptr], D, Some(fcntl::pipe)),
    sc(23, "select", &[Int, Ptr, Ptr, Ptr, Ptr], D, Some(poll::select)),
    ring(sc(24, "sched_yield", &[], O, Some(sched::sched_yield))),
    ring(hex(sc(25, "mremap", &[Ptr, Long, Long, Hex, Ptr], M, Some(mm::mremap)))),
    ring(sc(26, "msync", &[Ptr, Long, Hex], M, Some(mm::msync))),
    ring(sc(27, "mincore", &[Ptr, Long, Ptr], M, Some(mm::mincore))),
    ring(sc(28, "madvise", &[Ptr, Long, Madvise], M, Some(mm::madvise))),
    sc(29, "shmget", &[Int, Long, Hex], I, Some(shm::shmget)),
    sc(30, "shmat", &[Int, Ptr, Hex], I.union(M), Some(shm::shmat)),
    sc(31, "shmctl", &[Int, Int, Ptr], I, Some(shm::shmctl)),
    ring(sc(32, "dup", &[Fd], D, Some(fcntl::dup))),
    ring(sc(33, "dup2", &[Fd, Fd], D, Some(fcntl::dup2))),
    sc(34, "pause", &[], S, Some(signal::pause)),
    sc(35, "nanosleep", &[Ptr, Ptr], C, Some(time::nanosleep)),
    sc(36, "getitimer", &[Int, Ptr], O, Some(timers::getitimer)),
    sc(37, "alarm", &[Int], O, Some(time::alarm)),
    sc(38, "setitimer", &[Int, Ptr, Ptr], O, Some(timers::setitimer)),
    quiet(ring(sc(39, "getpid", &[], P, Some(ids::getpid)))),
    sc(40, "sendfile", &[Fd, Fd, Ptr, Long], D, Some(io::sendfile)),
    sc(41, "socket", &[Family, SockType, Int], N, Some(socket::socket)),
    sc(42, "connect", &[Fd, Ptr, Int], N, Some(socket::connect)),
    sc(43, "accept", &[Fd, Ptr, Ptr], N, Some(socket::accept)),
    sc(44, "sendto", &[Fd, InBuf(2), Long, MsgFlags, Ptr, Int], N, Some(sockmsg::sendto)),
    sc(45, "recvfrom", &[Fd, OutBuf(2), Long, MsgFlags, Ptr, Ptr], N, Some(sockmsg::recvfrom)),
    sc(46, "sendmsg", &[Fd, Ptr, MsgFlags], N, Some(sockmsg::sendmsg)),
    sc(47, "recvmsg", &[Fd, Ptr, MsgFlags], N, Some(sockmsg::recvmsg)),
    sc(48, "shutdown", &[Fd, ShutHow], N, Some(socket::shutdown)),
    sc(49, "bind", &[Fd, Ptr, Int], N, Some(socket::bind)),
    sc(50, "listen", &[Fd, Int], N, Some(socket::listen)),
    sc(51, "getsockname", &[Fd, Ptr, Ptr], N, Some(socket::getsockname)),
    sc(52, "getpeername", &[Fd, Ptr, Ptr], N, Some(socket::getpeername)),
    sc(53, "socketpair", &[Family, SockType, Int, Ptr], N, Some(socket::socketpair)),
    sc(54, "setsockopt", &[Fd, SockLevel, SockOpt, Ptr, Int], N, Some(sockopt::setsockopt)),
    sc(55, "getsockopt", &[Fd, SockLevel, SockOpt, Ptr, Ptr], N, Some(sockopt::getsockopt)),
    sc(56, "clone", &[CloneFlags, Ptr, Ptr, Ptr, Hex], P, Some(clone::clone)),
    sc(57, "fork", &[], P, Some(clone::fork)),
    sc(58, "vfork", &[], P, Some(clone::vfork)),
    sc(59, "execve", &[Path, Ptr, Ptr], P.union(FP), Some(exec::execve)),
    sc(60, "exit", &[Int], P, Some(exit::exit)),
    sc(61, "wait4", &[Int, Ptr, WaitOpts, Ptr], P, Some(wait::wait4)),
    sc(62, "kill", &[Int, Signal], S.union(P), Some(kill::kill)),
    ring(sc(63, "uname", &[Ptr], O, Some(system::uname))),
    sc(64, "semget", &[Int, Int, Hex], I, None),
    sc(65, "semop", &[Int, Ptr, Int], I, None),
    sc(66, "semctl", &[Int, Int, Int, Hex], I, None),
    sc(67, "shmdt", &[Ptr], I.union(M), Some(shm::shmdt)),
    sc(68, "msgget", &[Int, Hex], I, None),
    sc(69, "msgsnd", &[Int, Ptr, Long, Hex], I, None),
    sc(70, "msgrcv", &[Int, Ptr, Long, Long, Hex], I, None),
    sc(71, "msgctl", &[Int, Int, Ptr], I, None),
    ring_if(sc(72, "fcntl", &[Fd, Fcntl, Hex], D, Some(fcntl::fcntl)), fcntl_never_blocks),
    sc(73, "flock", &[Fd, Int], D, Some(fcntl::flock)),
    sc(74, "fsync", &[Fd], D, Some(file_io::fsync)),
    sc(75, "fdatasync", &[Fd], D, Some(file_io::fsync)),
    sc(76, "truncate", &[Path, Long], FP, Some(file_io::truncate)),
    sc(77, "ftruncate", &[Fd, Long], D, Some(file_io::ftruncate)),
    sc(78, "getdents", &[Fd, Ptr, Int], D, None),
    ring(sc(79, "getcwd", &[OutBuf(1), Long], FP, Some(dir::getcwd))),
    sc(80, "chdir", &[Path], FP, Some(dir::chdir)),
    sc(81, "fchdir", &[Fd], D, Some(dir::fchdir)),
    sc(82, "rename", &[Path, Path], FP, Some(namei::rename)),
    sc(83, "mkdir", &[Path, Mode], FP, Some(namei::mkdir)),
    sc(84, "rmdir", &[Path], FP, Some(namei::rmdir)),
    sc(85, "creat", &[Path, Mode], FP, Some(open::creat)),
    sc(86, "link", &[Path, Path], FP, Some(namei::link)),
    sc(87, "unlink", &[Path], FP, Some(namei::unlink)),
    sc(88, "symlink", &[Path, Path], FP, Some(namei::symlink)),
    ring(sc(89, "readlink", &[Path, OutBuf(2), Long], FP, Some(stat::readlink))),
    sc(90, "chmod", &[Path, Mode], FP, Some(attr::chmod)),
    sc(91, "fchmod", &[Fd, Mode], D, Some(attr::fchmod)),
    sc(92, "chown", &[Path, Int, Int], FP, Some(attr::chown)),
    sc(93, "fchown", &[Fd, Int, Int], D, Some(attr::fchown)),
    sc(94, "lchown", &[Path, Int, Int], FP, Some(attr::lchown)),
    ring(sc(95, "umask", &[Mode], O, Some(attr::umask))),
    ring(sc(96, "gettimeofday", &[Ptr, Ptr], C, Some(time::gettimeofday))),
    ring(sc(97, "getrlimit", &[Resource, Ptr], O, Some(limits::getrlimit))),
    ring(sc(98, "getrusage", &[Int, Ptr], O, Some(rusage::getrusage))),
    ring(sc(99, "sysinfo", &[Ptr], O, Some(system::sysinfo))),
    ring(sc(100, "times", &[Ptr], O, Some(rusage::times))),
    sc(101, "ptrace", &[Int, Int, Ptr, Ptr], O, None),
    quiet(ring(sc(102, "getuid", &[], O, Some(cred::getuid)))),
    sc(103, "syslog", &[Int, Ptr, Int], O, None),
    quiet(ring(sc(104, "getgid", &[], O, Some(cred::getgid)))),
    sc(105, "setuid", &[Int], O, Some(cred::setuid)),
    sc(106, "setgid", &[Int], O, Some(cred::setgid)),
    quiet(ring(sc(107, "geteuid", &[], O, Some(cred::geteuid)))),
    quiet(ring(sc(108, "getegid", &[], O, Some(cred::getegid)))),
    sc(109, "setpgid", &[Int, Int], O, Some(ids::setpgid)),
    quiet(ring(sc(110, "getppid", &[], O, Some(ids::getppid)))),
    ring(sc(111, "getpgrp", &[], O, Some(ids::getpgrp))),
    sc(112, "setsid", &[], O, Some(ids::setsid)),
    sc(113, "setreuid", &[Int, Int], O, Some(cred::setreuid)),
    sc(114, "setregid", &[Int, Int], O, Some(cred::setregid)),
    ring(sc(115, "getgroups", &[Int, Ptr], O, Some(cred::getgroups))),
    sc(116, "setgroups", &[Int, Ptr], O, Some(cred::setgroups)),
    sc(117, "setresuid", &[Int, Int, Int], O, Some(cred::setresuid)),
    ring(sc(118, "getresuid", &[Ptr, Ptr, Ptr], O, Some(cred::getresuid))),
    sc(119, "setresgid", &[Int, Int, Int], O, Some(cred::setresgid)),
    ring(sc(120, "getresgid", &[Ptr, Ptr, Ptr], O, Some(cred::getresgid))),
    ring(sc(121, "getpgid", &[Int], O, Some(ids::getpgid))),
    sc(122, "setfsuid", &[Int], O, Some(cred::setfsuid)),
    sc(123, "setfsgid", &[Int], O, Some(cred::setfsgid)),
    ring(sc(124, "getsid", &[Int], O, Some(ids::getsid))),
    sc(125, "capget", &[Ptr, Ptr], O, Some(cred::capget)),
    sc(126, "capset", &[Ptr, Ptr], O, Some(cred::capset)),
    sc(127, "rt_sigpending", &[Ptr, Long], S, Some(signal::rt_sigpending)),
    sc(128, "rt_sigtimedwait", &[Ptr, Ptr, Ptr, Long], S, Some(signal::rt_sigtimedwait)),
    sc(129, "rt_sigqueueinfo", &[Int, Signal, Ptr], S, Some(signal::rt_sigqueueinfo)),
    sc(130, "rt_sigsuspend", &[Ptr, Long], S, Some(signal::rt_sigsuspend)),
    sc(131, "sigaltstack", &[Ptr, Ptr], S, Some(signal::sigaltstack)),
    sc(132, "utime", &[Path, Ptr], FP, Some(attr::utime)),
    sc(133, "mknod", &[Path, Mode, Hex], FP, Some(mknod::mknod)),
    sc(134, "uselib", &[Path], FP, None),
    sc(135, "personality", &[Hex], O, Some(prctl::personality)),
    sc(136, "ustat", &[Hex, Ptr], O, None),
    ring(sc(137, "statfs", &[Path, Ptr], FP, Some(stat::statfs))),
    ring(sc(138, "fstatfs", &[Fd, Ptr], D, Some(stat::fstatfs))),
    sc(139, "sysfs", &[Int, Hex, Hex], O, None),
    ring(sc(140, "getpriority", &[Int, Int], O, Some(sched::getpriority))),
    sc(141, "setpriority", &[Int, Int, Int], O, Some(sched::setpriority)),
    sc(142, "sched_setparam", &[Int, Ptr], O, None),
    sc(143, "sched_getparam", &[Int, Ptr], O, Some(sched::sched_getparam)),
    sc(144, "sched_setscheduler", &[Int, Int, Ptr], O, None),
    sc(145, "sched_getscheduler", &[Int], O, Some(sched::sched_getscheduler)),
    sc(146, "sched_get_priority_max", &[Int], O, Some(sched::sched_get_priority_max)),
    sc(147, "sched_get_priority_min", &[Int], O, Some(sched::sched_get_priority_min)),
    sc(148, "sched_rr_get_interval", &[Int, Ptr], O, None),
    ring(sc(149, "mlock", &[Ptr, Long], M, Some(super::mm::mlock::mlock))),
    ring(sc(150, "munlock", &[Ptr, Long], M, Some(super::mm::mlock::munlock))),
    ring(sc(151, "mlockall", &[Hex], M, Some(super::mm::mlock::mlockall))),
    ring(sc(152, "munlockall", &[], M, Some(super::mm::mlock::munlockall))),
    sc(153, "vhangup", &[], O, None),
    sc(154, "modify_ldt", &[Int, Ptr, Long], O, None),
    sc(155, "pivot_root", &[Path, Path], FP, None),
    sc(156, "_sysctl", &[Ptr], O, None),
    sc(157, "prctl", &[Int, Hex, Hex, Hex, Hex], O, Some(prctl::prctl)),
    sc(158, "arch_prctl", &[ArchPrctl, Hex], P, Some(prctl::arch_prctl)),
    sc(159, "adjtimex", &[Ptr], C, None),
    sc(160, "setrlimit", &[Resource, Ptr], O, Some(limits::setrlimit)),
    sc(161, "chroot", &[Path], FP, None),
    sc(162, "sync", &[], O, Some(file_io::sync)),
    sc(163, "acct", &[Path], FP, None),
    sc(164, "settimeofday", &[Ptr, Ptr], C, None),
    sc(165, "mount", &[Path, Path, Path, Hex, Ptr], FP, None),
    sc(166, "umount2", &[Path, Hex], FP, None),
    sc(167, "swapon", &[Path, Hex], FP, None),
    sc(168, "swapoff", &[Path], FP, None),
    sc(169, "reboot", &[Hex, Hex, Hex, Ptr], O, None),
    sc(170, "sethostname", &[Ptr, Int], O, None),
    sc(171, "setdomainname", &[Ptr, Int], O, None),
    sc(172, "iopl", &[Int], O, None),
    sc(173, "ioperm", &[Hex, Hex, Int], O, None),
    sc(174, "create_module", &[], O, None),
    sc(175, "init_module", &[Ptr, Long, Ptr], O, None),
    sc(176, "delete_module", &[Ptr, Hex], O, None),
    sc(177, "get_kernel_syms", &[], O, None),
    sc(178, "query_module", &[], O, None),
    sc(179, "quotactl", &[Int, Path, Int, Ptr], FP, None),
    sc(180, "nfsservctl", &[], O, None),
    sc(181, "getpmsg", &[], O, None),
    sc(182, "putpmsg", &[], O, None),
    sc(183, "afs_syscall", &[], O, None),
    sc(184, "tuxcall", &[], O, None),
    sc(185, "security", &[], O, None),
    quiet(ring(sc(186, "gettid", &[], O, Some(ids::gettid)))),
    sc(187, "readahead", &[Fd, Long, Long], D, Some(file_io::readahead)),
    sc(188, "setxattr", &[Path, Path, Ptr, Long, Hex], FP, None),
    sc(189, "lsetxattr", &[Path, Path, Ptr, Long, Hex], FP, None),
    sc(190, "fsetxattr", &[Fd, Path, Ptr, Long, Hex], D, None),
    sc(191, "getxattr", &[Path, Path, Ptr, Long], FP, Some(xattr::getxattr)),
    sc(192, "lgetxattr", &[Path, Path, Ptr, Long], FP, Some(xattr::getxattr)),
    sc(193, "fgetxattr", &[Fd, Path, Ptr, Long], D, Some(xattr::fgetxattr)),
    sc(194, "listxattr", &[Path, Ptr, Long], FP, Some(xattr::listxattr)),
    sc(195, "llistxattr", &[Path, Ptr, Long], FP, Some(xattr::listxattr)),
    sc(196, "flistxattr", &[Fd, Ptr, Long], D, Some(xattr::flistxattr)),
    sc(197, "removexattr", &[Path, Path], FP, None),
    sc(198, "lremovexattr", &[Path, Path], FP, None),
    sc(199, "fremovexattr", &[Fd, Path], D, None),
    sc(200, "tkill", &[Int, Signal], S, Some(kill::tkill)),
    quiet(ring(sc(201, "time", &[Ptr], C, Some(time::time)))),
    ring_if(sc(202, "futex", &[Ptr, FutexOp, Int, Ptr, Ptr, Hex], O, Some(futex::futex)), futex_wakes),
    sc(203, "sched_setaffinity", &[Int, Long, Ptr], O, Some(sched::sched_setaffinity)),
    ring(sc(204, "sched_getaffinity", &[Int, Long, Ptr], O, Some(sched::sched_getaffinity))),
    sc(205, "set_thread_area", &[Ptr], O, None),
    sc(206, "io_setup", &[Int, Ptr], O, None),
    sc(207, "io_destroy", &[Hex], O, None),
    sc(208, "io_getevents", &[Hex, Long, Long, Ptr, Ptr], O, None),
    sc(209, "io_submit", &[Hex, Long, Ptr], O, None),
    sc(210, "io_cancel", &[Hex, Ptr, Ptr], O, None),
    sc(211, "get_thread_area", &[Ptr], O, None),
    sc(212, "lookup_dcookie", &[Hex, Ptr, Long], O, None),
    sc(213, "epoll_create", &[Int], D, Some(epoll::epoll_create)),
    sc(214, "epoll_ctl_old", &[], D, None),
    sc(215, "epoll_wait_old", &[], D, None),
    sc(216, "remap_file_pages", &[Ptr, Long, Hex, Long, Hex], M, None),
    ring(sc(217, "getdents64", &[Fd, Ptr, Int], D, Some(dir::getdents64))),
    ring(sc(218, "set_tid_address", &[Ptr], O, Some(prctl::set_tid_address))),
    sc(NR_RESTART_SYSCALL, "restart_syscall", &[], O, Some(time::restart_syscall)),
    sc(220, "semtimedop", &[Int, Ptr, Int, Ptr], I, None),
    sc(221, "fadvise64", &[Fd, Long, Long, Int], D, Some(file_io::fadvise64)),
    sc(222, "timer_create", &[Clock, Ptr, Ptr], O, Some(timers::timer_create)),
    sc(223, "timer_settime", &[Int, Hex, Ptr, Ptr], O, Some(timers::timer_settime)),
    sc(224, "timer_gettime", &[Int, Ptr], O, Some(timers::timer_gettime)),
    sc(225, "timer_getoverrun", &[Int], O, Some(timers::timer_getoverrun)),
    sc(226, "timer_delete", &[Int], O, Some(timers::timer_delete)),
    sc(227, "clock_settime", &[Clock, Ptr], C, None),
    quiet(ring(sc(228, "clock_gettime", &[Clock, Ptr], C, Some(time::clock_gettime)))),
    ring(sc(229, "clock_getres", &[Clock, Ptr], C, Some(time::clock_getres))),
    sc(230, "clock_nanosleep", &[Clock, Hex, Ptr, Ptr], C, Some(time::clock_nanosleep)),
    sc(231, "exit_group", &[Int], P, Some(exit::exit_group)),
    sc(232, "epoll_wait", &[Fd, Ptr, Int, Int], D, Some(epoll::epoll_wait)),
    sc(233, "epoll_ctl", &[Fd, EpollOp, Fd, Ptr], D, Some(epoll::epoll_ctl)),
    sc(234, "tgkill", &[Int, Int, Signal], S, Some(kill::tgkill)),
    sc(235, "utimes", &[Path, Ptr], FP, Some(attr::utimes)),
    sc(236, "vserver", &[], O, None),
    sc(237, "mbind", &[Ptr, Long, Int, Ptr, Long, Hex], M, None),
    sc(238, "set_mempolicy", &[Int, Ptr, Long], M, None),
    sc(239, "get_mempolicy", &[Ptr, Ptr, Long, Ptr, Hex], M, None),
    sc(240, "mq_open", &[Path, Hex, Mode, Ptr], D, None),
    sc(241, "mq_unlink", &[Path], O, None),
    sc(242, "mq_timedsend", &[Fd, Ptr, Long, Int, Ptr], D, None),
    sc(243, "mq_timedreceive", &[Fd, Ptr, Long, Ptr, Ptr], D, None),
    sc(244, "mq_notify", &[Fd, Ptr], D, None),
    sc(245, "mq_getsetattr", &[Fd, Ptr, Ptr], D, None),
    sc(246, "kexec_load", &[Hex, Long, Ptr, Hex], O, None),
    sc(247, "waitid", &[Int, Int, Ptr, WaitOpts, Ptr], P, Some(wait::waitid)),
    sc(248, "add_key", &[], O, None),
    sc(249, "request_key", &[], O, None),
    sc(250, "keyctl", &[], O, None),
    sc(251, "ioprio_set", &[Int, Int, Int], O, None),
    sc(252, "ioprio_get", &[Int, Int], O, None),
    sc(253, "inotify_init", &[], D, None),
    sc(254, "inotify_add_watch", &[Fd, Path, Hex], D, None),
    sc(255, "inotify_rm_watch", &[Fd, Int], D, None),
    sc(256, "migrate_pages", &[Int, Long, Ptr, Ptr], M, None),
    ring(sc(257, "openat", &[Fd, Path, OpenFlags, Mode], F, Some(open::openat))),
    sc(258, "mkdirat", &[Fd, Path, Mode], F, Some(namei::mkdirat)),
    sc(259, "mknodat", &[Fd, Path, Mode, Hex], F, Some(mknod::mknodat)),
    sc(260, "fchownat", &[Fd, Path, Int, Int, Hex], F, Some(attr::fchownat)),
    sc(261, "futimesat", &[Fd, Path, Ptr], F, None),
    ring(sc(262, "newfstatat", &[Fd, Path, Ptr, Hex], F, Some(stat::newfstatat))),
    sc(263, "unlinkat", &[Fd, Path, Hex], F, Some(namei::unlinkat)),
    sc(264, "renameat", &[Fd, Path, Fd, Path], F, Some(namei::renameat)),
    sc(265, "linkat", &[Fd, Path, Fd, Path, Hex], F, Some(namei::linkat)),
    sc(266, "symlinkat", &[Path, Fd, Path], F, Some(namei::symlinkat)),
    ring(sc(267, "readlinkat", &[Fd, Path, OutBuf(3), Long], F, Some(stat::readlinkat))),
    sc(268, "fchmodat", &[Fd, Path, Mode], F, Some(attr::fchmodat)),
    ring(sc(269, "faccessat", &[Fd, Path, Int], F, Some(stat::faccessat))),
    sc(270, "pselect6", &[Int, Ptr, Ptr, Ptr, Ptr, Ptr], D, Some(poll::pselect6)),
    sc(271, "ppoll", &[Ptr, Int, Ptr, Ptr, Long], D, Some(poll::ppoll)),
    sc(272, "unshare", &[CloneFlags], O, None),
    ring(sc(273, "set_robust_list", &[Ptr, Long], O, Some(prctl::set_robust_list))),
    ring(sc(274, "get_robust_list", &[Int, Ptr, Ptr], O, Some(prctl::get_robust_list))),
    sc(275, "splice", &[Fd, Ptr, Fd, Ptr, Long, Hex], D, None),
    sc(276, "tee", &[Fd, Fd, Long, Hex], D, None),
    sc(277, "sync_file_range", &[Fd, Long, Long, Hex], D, Some(file_io::sync_file_range)),
    sc(278, "vmsplice", &[Fd, Ptr, Long, Hex], D, None),
    sc(279, "move_pages", &[Int, Long, Ptr, Ptr, Ptr, Hex], M, None),
    sc(280, "utimensat", &[Fd, Path, Ptr, Hex], F, Some(attr::utimensat)),
    sc(281, "epoll_pwait", &[Fd, Ptr, Int, Int, Ptr, Long], D, Some(epoll::epoll_pwait)),
    sc(282, "signalfd", &[Fd, Ptr, Long], D.union(S), Some(eventfd::signalfd)),
    sc(283, "timerfd_create", &[Clock, Hex], D, Some(eventfd::timerfd_create)),
    sc(284, "eventfd", &[Int], D, Some(eventfd::eventfd)),
    sc(285, "fallocate", &[Fd, Int, Long, Long], D, Some(file_io::fallocate)),
    sc(286, "timerfd_settime", &[Fd, Hex, Ptr, Ptr], D, Some(eventfd::timerfd_settime)),
    sc(287, "timerfd_gettime", &[Fd, Ptr], D, Some(eventfd::timerfd_gettime)),
    sc(288, "accept4", &[Fd, Ptr, Ptr, SockType], N, Some(socket::accept4)),
    sc(289, "signalfd4", &[Fd, Ptr, Long, Hex], D.union(S), Some(eventfd::signalfd4)),
    sc(290, "eventfd2", &[Int, Hex], D, Some(eventfd::eventfd2)),
    sc(291, "epoll_create1", &[Hex], D, Some(epoll::epoll_create1)),
    ring(sc(292, "dup3", &[Fd, Fd, Hex], D, Some(fcntl::dup3))),
    sc(293, "pipe2", &[Ptr, Hex], D, Some(fcntl::pipe2)),
    sc(294, "inotify_init1", &[Hex], D, None),
    sc(295, "preadv", &[Fd, Ptr, Int, Long], D, Some(io::preadv)),
    sc(296, "pwritev", &[Fd, Ptr, Int, Long], D, Some(io::pwritev)),
    sc(297, "rt_tgsigqueueinfo", &[Int, Int, Signal, Ptr], S, Some(signal::rt_tgsigqueueinfo)),
    sc(298, "perf_event_open", &[Ptr, Int, Int, Fd, Hex], D, None),
    sc(299, "recvmmsg", &[Fd, Ptr, Int, MsgFlags, Ptr], N, Some(sockmsg::recvmmsg)),
    sc(300, "fanotify_init", &[Hex, Hex], D, None),
    sc(301, "fanotify_mark", &[Fd, Hex, Hex, Fd, Path], D, None),
    ring(sc(302, "prlimit64", &[Int, Resource, Ptr, Ptr], O, Some(limits::prlimit64))),
    sc(303, "name_to_handle_at", &[Fd, Path, Ptr, Ptr, Hex], F, None),
    sc(304, "open_by_handle_at", &[Fd, Ptr, Hex], D, None),
    sc(305, "clock_adjtime", &[Clock, Ptr], C, None),
    sc(306, "syncfs", &[Fd], D, Some(file_io::fsync)),
    sc(307, "sendmmsg", &[Fd, Ptr, Int, MsgFlags], N, Some(sockmsg::sendmmsg)),
    sc(308, "setns", &[Fd, Hex], D, None),
    sc(309, "getcpu", &[Ptr, Ptr, Ptr], O, Some(system::getcpu)),
    sc(310, "process_vm_readv", &[Int, Ptr, Long, Ptr, Long, Hex], O, None),
    sc(311, "process_vm_writev", &[Int, Ptr, Long, Ptr, Long, Hex], O, None),
    sc(312, "kcmp", &[Int, Int, Int, Hex, Hex], O, None),
    sc(313, "finit_module", &[Fd, Path, Hex], D, None),
    sc(314, "sched_setattr", &[Int, Ptr, Hex], O, None),
    sc(315, "sched_getattr", &[Int, Ptr, Int, Hex], O, None),
    sc(316, "renameat2", &[Fd, Path, Fd, Path, Hex], F, Some(namei::renameat2)),
    sc(317, "seccomp", &[Int, Hex, Ptr], O, None),
    sc(318, "getrandom", &[OutBuf(1), Long, Hex], O, Some(system::getrandom)),
    sc(319, "memfd_create", &[Path, Hex], D, Some(memfd::memfd_create)),
    sc(320, "kexec_file_load", &[Fd, Fd, Long, Path, Hex], D, None),
    sc(321, "bpf", &[Int, Ptr, Int], D, None),
    sc(322, "execveat", &[Fd, Path, Ptr, Ptr, Hex], P.union(F), Some(exec::execveat)),
    sc(323, "userfaultfd", &[Hex], D, None),
    sc(324, "membarrier", &[Int, Hex, Int], O, Some(system::membarrier)),
    ring(sc(325, "mlock2", &[Ptr, Long, Hex], M, Some(super::mm::mlock::mlock2))),
    sc(326, "copy_file_range", &[Fd, Ptr, Fd, Ptr, Long, Hex], D, Some(io::copy_file_range)),
    sc(327, "preadv2", &[Fd, Ptr, Int, Long, Hex], D, Some(io::preadv2)),
    sc(328, "pwritev2", &[Fd, Ptr, Int, Long, Hex], D, Some(io::pwritev2)),
    sc(329, "pkey_mprotect", &[Ptr, Long, Prot, Int], M, Some(mm::pkey_mprotect)),
    sc(330, "pkey_alloc", &[Hex, Hex], M, Some(mm::pkey_alloc)),
    sc(331, "pkey_free", &[Int], M, Some(mm::pkey_free)),
    ring(sc(332, "statx", &[Fd, Path, Hex, Hex, Ptr], F, Some(stat::statx))),
    sc(333, "io_pgetevents", &[Hex, Long, Long, Ptr, Ptr, Ptr], O, None),
    sc(334, "rseq", &[Ptr, Int, Hex, Hex], O, Some(prctl::rseq)),
    sc(424, "pidfd_send_signal", &[Fd, Signal, Ptr, Hex], S, None),
    sc(425, "io_uring_setup", &[Int, Ptr], D, None),
    sc(426, "io_uring_enter", &[Fd, Int, Int, Hex, Ptr, Long], D, None),
    sc(427, "io_uring_register", &[Fd, Int, Ptr, Int], D, None),
    sc(434, "pidfd_open", &[Int, Hex], D, None),
    sc(435, "clone3", &[Ptr, Long], P, Some(clone::clone3)),
    sc(436, "close_range", &[Fd, Fd, Hex], D, Some(open::close_range)),
    sc(437, "openat2", &[Fd, Path, Ptr, Long], F, Some(open::openat2)),
    ring(sc(439, "faccessat2", &[Fd, Path, Int, Hex], F, Some(stat::faccessat2))),
    sc(441, "epoll_pwait2", &[Fd, Ptr, Int, Ptr, Ptr, Long], D, Some(epoll::epoll_pwait2)),
    sc(448, "process_mrelease", &[Fd, Hex], O, None),
    sc(449, "futex_waitv", &[Ptr, Int, Hex, Ptr, Clock], O, None),
    sc(453, "map_shadow_stack", &[Ptr, Long, Hex], M, None),
];

/// Reads and writes that cannot sleep: files, /proc, /dev and the
/// sandbox's output; not pipes, nor a stdin that is the host's.
fn fd_never_blocks(k: &KernelState, pid: Pid, a: &[u64; 6]) -> bool {
    let Some(p) = k.tasks.proc(pid) else { return false };
    let Ok(fd) = i32::try_from(a[0] as i64) else { return false };
    p.files.get(fd).is_some_and(|f| match &f.file.kind {
        FileKind::Input(i) => !matches!(i, Input::Inherit),
        FileKind::PipeRead(_)
        | FileKind::PipeWrite(_)
        | FileKind::Fifo(_)
        | FileKind::Socket(_)
        | FileKind::Anon(_) => false,
        _ => true,
    })
}

/// fcntl but for the lock waits (F_SETLKW, F_OFD_SETLKW).
fn fcntl_never_blocks(_: &KernelState, _: Pid, a: &[u64; 6]) -> bool {
    !matches!(a[1], F_SETLKW | F_OFD_SETLKW)
}

/// FUTEX_WAKE and FUTEX_WAKE_BITSET: the waking half of a lock.
fn futex_wakes(_: &KernelState, _: Pid, a: &[u64; 6]) -> bool {
    matches!(a[1] & (FUTEX_PRIVATE_FLAG - 1), FUTEX_WAKE | FUTEX_WAKE_BITSET)
}

fn index() -> &'static [Option<&'static Syscall>] {
    static INDEX: OnceLock<Vec<Option<&'static Syscall>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut v = vec![None; 512];
        for s in TABLE {
            v[s.nr as usize] = Some(s);
        }
        v
    })
}

/// restart_syscall(2)'s number: what a relative sleep a signal interrupted
/// resumes with when no handler runs.
pub const NR_RESTART_SYSCALL: u64 = 219;

/// The entry for syscall `nr`.
pub fn lookup(nr: u64) -> Option<&'static Syscall> {
    index().get(usize::try_from(nr).ok()?).copied().flatten()
}

/// Where the ring's stub sends each call below 512 (`CallMaps`): straight
/// to the VMM if the server never runs it (no entry, or `Ring::Exit`);
/// to the VMM when the server sleeps if it runs it only sometimes
/// (`Ring::ServeIf`).
pub fn ring_call_maps() -> CallMaps {
    let mut maps = CallMaps::default();
    for nr in 0..512u64 {
        let (word, bit) = ((nr / 64) as usize, 1 << (nr % 64));
        match lookup(nr).map(|e| e.ring) {
            Some(Ring::Serve) => {}
            Some(Ring::ServeIf(_)) => maps.maybe[word] |= bit,
            Some(Ring::Exit) | None => maps.exit[word] |= bit,
        }
    }
    maps
}

pub fn by_name(name: &str) -> Option<&'static Syscall> {
    TABLE.iter().find(|s| s.name == name)
}

/// An unknown syscall: what the entry for its number would be.
static UNKNOWN: Syscall = sc(u64::MAX, "syscall", &[Hex, Hex, Hex, Hex, Hex, Hex], O, None);

impl Ctx<'_> {
    /// Runs the syscall the thread's registers ask for.
    /// Runs the call in the registers; the way back is [`Ctx::finish`]'s.
    pub fn syscall(&mut self) {
        let (nr, args) = self.regs.syscall();
        self.syscall_nr = Some(nr);
        let entry = lookup(nr);
        let start = Instant::now();
        let result = match entry.and_then(|e| e.handler) {
            Some(h) => h(self, args),
            None => {
                // Numbers Linux has no syscall for are reported once, all
                // together: a guest trying every number must not grow the
                // set, or stderr, without bound.
                if self.k.report.first_unsupported(entry.map_or(u64::MAX, |_| nr)) {
                    let name = entry.map_or_else(
                        || format!("syscall {nr} (and any other number without a syscall)"),
                        |e| format!("{} ({nr})", e.name),
                    );
                    let comm = self.proc().comm.clone();
                    self.k.diag(&format!("{comm}: {name} is not supported (-ENOSYS)"));
                }
                Err(ENOSYS)
            }
        };
        // What the writable layer let go (or copied up) meanwhile: its
        // kernel memory follows. Growth was charged before it was made.
        let _ = self.k.charge_layer(super::mm::kmem::LayerNeed::default());
        let took = start.elapsed();
        let ret = match result {
            Ok(v) => v,
            Err(e) => e.ret(),
        };
        if let Some(log) = &self.k.cfg.calls {
            let start_ns = start.saturating_duration_since(self.k.report.recorder().start()).as_nanos() as u64;
            let record = super::strace::CallRecord {
                pid: self.pid,
                tid: self.tid,
                name: entry.map_or("unknown", |e| e.name),
                start_ns,
                dur_ns: took.as_nanos() as u64,
                ret,
            };
            log.lock().unwrap_or_else(|p| p.into_inner()).push(record);
        }
        if !self.keep_regs {
            self.regs.rax = ret as u64;
        }
        if !entry.is_some_and(|e| e.quiet) {
            self.k.procfs.changed();
        }
        if let Some(st) = self.k.cfg.strace.clone() {
            let e = entry.unwrap_or(&UNKNOWN);
            if st.filter.matches(e) {
                let gone = self.thread_gone();
                // A thread that exited made no return.
                let shown = if gone && matches!(e.name, "exit" | "exit_group") { None } else { Some(ret) };
                if st.count {
                    let mut c = st.counts.lock().unwrap_or_else(|p| p.into_inner());
                    let slot = c.entry(e.name).or_insert((0, 0, Default::default()));
                    slot.0 += 1;
                    slot.1 += u64::from(Errno::from_ret(ret).is_some());
                    slot.2 += took;
                } else {
                    let name_args = if entry.is_none() {
                        let mut a = [0; 6];
                        a[0] = nr;
                        a[1..].copy_from_slice(&args[..5]);
                        a
                    } else {
                        args
                    };
                    let mut line =
                        super::strace::line(&self.k, self.pid, self.tid, e, name_args, shown, st.times.then_some(took));
                    if shown.is_none() {
                        if let Some(s) = self.k.tasks.proc(self.pid).and_then(|p| p.group_exit) {
                            line.push_str(&match s {
                                super::ExitStatus::Exited(c) => format!("\n+++ exited with {c} +++"),
                                super::ExitStatus::Killed(sig) | super::ExitStatus::Dumped(sig) => {
                                    format!("\n+++ killed by {} +++", super::signal::name(sig))
                                }
                            });
                        }
                    }
                    st.sink.emit(&line);
                }
            }
        }
    }
}
