//! /proc/sys: the sysctls a program reads (fs, kernel, vm, net, user),
//! read-only but for fs.lease-break-time, fs.pipe-max-size,
//! vm.max_map_count, kernel.core_pattern, kernel.core_uses_pid and those
//! of net, which root may set. net's are the reader's network namespace's.

use super::super::abi::ipc::{SHMALL, SHMMAX, SHMMNI};
use super::super::files::pipe;
use super::super::mm::kmem::NR_OPEN;
use super::super::net::ns::{Conf, Sysctl};
use super::super::net::Net;
use super::super::syscalls::system::{NODENAME, RELEASE};
use super::tree::{dir, file, number, At, Dir};
use crate::arch::PAGE_SIZE;

pub(super) static SYS: Dir = Dir {
    fixed: &[&[dir("vm", &VM), dir("kernel", &KERNEL), dir("fs", &FS), dir("net", &NET), dir("user", &USER)]],
    numbered: None,
};

/// The namespace of who reads /proc/sys/net (the opener: see
/// KernelState::proc_contents).
fn net<'a>(at: &At<'a>) -> &'a Net {
    at.k.tasks.proc(at.caller).map_or(&at.k.net, |p| &p.net)
}

/// A net sysctl, written as root (syscalls::io).
fn net_sysctl(at: &At, which: Sysctl) -> Vec<u8> {
    number(net(at).sysctl(which))
}

static NET: Dir = Dir { fixed: &[&[dir("core", &NET_CORE), dir("ipv4", &IPV4)]], numbered: None };
static NET_CORE: Dir = Dir { fixed: &[&[file("somaxconn", |at| net_sysctl(at, Sysctl::Somaxconn))]], numbered: None };
static IPV4: Dir = Dir { fixed: &[&[dir("conf", &CONF)]], numbered: None };
static CONF: Dir =
    Dir { fixed: &[&[dir("all", &CONF_ALL), dir("default", &CONF_DEFAULT), dir("lo", &CONF_LO)]], numbered: None };
static CONF_ALL: Dir = Dir { fixed: &[&[file("tag", |at| net_sysctl(at, Sysctl::Tag(Conf::All)))]], numbered: None };
static CONF_DEFAULT: Dir =
    Dir { fixed: &[&[file("tag", |at| net_sysctl(at, Sysctl::Tag(Conf::Default)))]], numbered: None };
static CONF_LO: Dir = Dir { fixed: &[&[file("tag", |at| net_sysctl(at, Sysctl::Tag(Conf::Lo)))]], numbered: None };

/// /proc/sys/user: the limits of init_user_ns (read-only here).
static USER: Dir =
    Dir { fixed: &[&[file("max_net_namespaces", |at| number(at.k.max_net_namespaces()))]], numbered: None };

static FS: Dir = Dir {
    fixed: &[&[
        file("file-max", |at| number(at.k.file_max())),
        // Allocated, free (always 0 since 2.6), maximum.
        file("file-nr", |at| format!("{}\t0\t{}\n", at.k.files.nr_files(), at.k.file_max()).into_bytes()),
        file("nr_open", |_| number(NR_OPEN)),
        file("pipe-max-size", |at| number(at.k.files.pipe_max_size)),
        file("pipe-user-pages-hard", |_| number(pipe::PIPE_USER_PAGES_HARD)),
        file("pipe-user-pages-soft", |_| number(pipe::PIPE_USER_PAGES_SOFT)),
        // Written as root (syscalls::io).
        file("lease-break-time", |at| number(at.k.files.leases.break_time)),
        file("leases-enable", |_| number(1)),
    ]],
    numbered: None,
};

static VM: Dir = Dir {
    fixed: &[&[
        file("overcommit_memory", |at| number(at.k.cfg.overcommit)),
        file("overcommit_ratio", |at| number(at.k.cfg.overcommit_ratio)),
        // Written as root (syscalls::io).
        file("max_map_count", |at| number(at.k.cfg.max_map_count)),
        file("min_free_kbytes", |at| number(at.k.phys.buddy.min_free_kbytes())),
        file("swappiness", |_| number(60)),
        file("admin_reserve_kbytes", |at| number(at.k.admin_reserve_pages() * PAGE_SIZE / 1024)),
        file("user_reserve_kbytes", |at| number(at.k.user_reserve_pages() * PAGE_SIZE / 1024)),
    ]],
    numbered: None,
};

static KERNEL: Dir = Dir {
    fixed: &[&[
        file("ostype", |_| b"Linux\n".to_vec()),
        file("osrelease", |_| format!("{RELEASE}\n").into_bytes()),
        file("pid_max", |_| number(4_194_304)),
        file("threads-max", |at| number(at.k.cfg.max_tasks)),
        file("hostname", |_| format!("{NODENAME}\n").into_bytes()),
        file("shmmax", |_| number(SHMMAX)),
        file("shmall", |_| number(SHMALL)),
        file("shmmni", |_| number(SHMMNI)),
        // The sandbox's own, written as root (syscalls::io).
        file("core_pattern", |at| format!("{}\n", at.k.coredump.pattern).into_bytes()),
        file("core_uses_pid", |at| number(u8::from(at.k.coredump.uses_pid))),
        // No taint: faultline has no modules to load and no oops to record.
        file("tainted", |_| number(0)),
    ]],
    numbered: None,
};
