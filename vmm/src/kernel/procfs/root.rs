//! /proc itself: a directory per process, the links to the caller's own,
//! and the system's files.

use std::fmt::Write as _;

use super::super::abi::dirent::DT_DIR;
use super::super::errno::*;
use super::super::mm::accounting::meminfo;
use super::super::mm::procfs::vmstat;
use super::super::mm::zoneinfo::{buddyinfo, zoneinfo};
use super::super::net;
use super::super::syscalls::system::RELEASE;
use super::pid::PROCESS;
use super::sys::SYS;
use super::tree::{dir, file, link, At, Dir, Found, Numbered};

pub(super) static ROOT: Dir = Dir {
    fixed: &[&[
        link("self", |at| at.caller.to_string()),
        link("thread-self", thread_self),
        file("meminfo", |at| meminfo(at.k).into_bytes()),
        file("vmstat", |at| vmstat(at.k).into_bytes()),
        file("uptime", uptime),
        file("version", |_| format!("Linux version {RELEASE} (faultline) #1 SMP\n").into_bytes()),
        file("loadavg", |at| {
            format!("0.00 0.00 0.00 1/{} {}\n", at.k.tasks.task_count(), at.k.tasks.process_count()).into_bytes()
        }),
        file("mounts", mounts),
        file("locks", |at| at.k.proc_locks().into_bytes()),
        file("filesystems", |_| b"nodev\tproc\nnodev\ttmpfs\n\text4\n".to_vec()),
        file("buddyinfo", |at| buddyinfo(at.k).into_bytes()),
        file("zoneinfo", |at| zoneinfo(at.k).into_bytes()),
        dir("sys", &SYS),
        file("config.gz", |_| super::config::config_gz()),
        dir("sysvipc", &SYSVIPC),
        dir("net", &NET),
    ]],
    numbered: Some(Numbered { d_type: DT_DIR, ids: |at| at.k.tasks.pids(), open: process }),
};

/// /proc/sysvipc: the sandbox's System V IPC objects (shared memory only:
/// it has no message queues or semaphores).
static SYSVIPC: Dir =
    Dir { fixed: &[&[file("shm", |at| super::super::ipc::shm::proc_table(at.k).into_bytes())]], numbered: None };

/// /proc/net: the sandbox's own sockets and its one device, lo.
static NET: Dir = Dir {
    fixed: &[&[
        file("unix", |at| net::proc::unix(&at.k.net).into_bytes()),
        file("tcp", |at| net::proc::tcp(&at.k.net, false).into_bytes()),
        file("tcp6", |at| net::proc::tcp(&at.k.net, true).into_bytes()),
        file("udp", |at| net::proc::udp(&at.k.net, false).into_bytes()),
        file("udp6", |at| net::proc::udp(&at.k.net, true).into_bytes()),
        file("dev", |at| net::proc::dev(&at.k.net).into_bytes()),
    ]],
    numbered: None,
};

/// /proc/PID.
fn process(at: At<'_>, pid: u32) -> Result<Found<'_>, Errno> {
    let p = at.k.tasks.proc(pid).ok_or(ENOENT)?;
    Ok(Found::Dir(&PROCESS, At { proc: Some(p), ..at }))
}

/// /proc/thread-self: the caller's first thread.
fn thread_self(at: &At) -> String {
    let tid = at.k.tasks.proc(at.caller).and_then(|p| p.threads.first().copied()).unwrap_or(at.caller);
    format!("{}/task/{tid}", at.caller)
}

fn uptime(at: &At) -> Vec<u8> {
    let t = at.k.booted.elapsed().as_secs_f64();
    format!("{t:.2} {:.2}\n", t * 2.0).into_bytes()
}

/// The root (an overlay), /proc, and each bind.
fn mounts(at: &At) -> Vec<u8> {
    let mut m = String::from("overlay / overlay rw,relatime 0 0\nproc /proc proc rw 0 0\n");
    for b in at.k.files.vfs().binds() {
        let _ = writeln!(m, "/dev/root {} ext4 {} 0 0", b.guest, if b.rw { "rw" } else { "ro" });
    }
    m.into_bytes()
}
