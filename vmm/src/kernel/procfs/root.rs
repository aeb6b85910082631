//! /proc itself: a directory per process, the links to the caller's own,
//! and the system's files.

use std::fmt::Write as _;

use super::super::abi::dirent::DT_DIR;
use super::super::abi::stat::FS_NAMES;
use super::super::errno::*;
use super::super::mm::accounting::meminfo;
use super::super::mm::procfs::vmstat;
use super::super::mm::zoneinfo::{buddyinfo, zoneinfo};
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
        file("swaps", swaps),
        file("locks", |at| at.k.proc_locks().into_bytes()),
        file("filesystems", |_| b"nodev\tproc\nnodev\ttmpfs\n\text4\n".to_vec()),
        file("buddyinfo", |at| buddyinfo(at.k).into_bytes()),
        file("zoneinfo", |at| zoneinfo(at.k).into_bytes()),
        dir("sys", &SYS),
        file("config.gz", |_| super::config::config_gz()),
        dir("sysvipc", &SYSVIPC),
        // The caller's network namespace's (proc_net_init's symlink).
        link("net", |_| "self/net".into()),
    ]],
    numbered: Some(Numbered { d_type: DT_DIR, ids: |at| at.k.tasks.pids(), open: process }),
};

/// /proc/sysvipc: the sandbox's System V IPC objects (shared memory only:
/// it has no message queues or semaphores).
static SYSVIPC: Dir =
    Dir { fixed: &[&[file("shm", |at| super::super::ipc::shm::proc_table(at.k).into_bytes())]], numbered: None };

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
/// /proc/mounts and /proc/PID/mounts: the root (the host's view with the
/// writable layer over it), /proc, faultline's /dev, and each bind as the
/// file system its host directory is on (`\040` for a space, as
/// mangle() writes names). No cgroup file system is mounted.
pub(super) fn mounts(at: &At) -> Vec<u8> {
    let mut m = String::from(
        "overlay / overlay rw,nosuid,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
         tmpfs /dev tmpfs rw,nosuid 0 0\n",
    );
    for (b, f_type) in at.k.files.vfs().bind_types() {
        let fs = FS_NAMES.iter().find(|(t, _)| *t == f_type).map_or("unknown", |(_, n)| n);
        let path = mangle(&b.guest);
        let _ = writeln!(m, "{fs} {path} {fs} {},nosuid,relatime 0 0", if b.rw { "rw" } else { "ro" });
    }
    // The program's own mounts, in the order it made them.
    for t in at.k.files.vfs().tmpfs_mounts() {
        let _ = writeln!(m, "{} {} tmpfs rw{} 0 0", mangle(&t.source), mangle(&t.path), t.options);
    }
    m.into_bytes()
}

/// /proc/swaps, as swap_show() writes it: the header, and `--swap`'s store
/// (host memory, shown as the partition it stands for) when there is one.
fn swaps(at: &At) -> Vec<u8> {
    let mut s = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    let i = at.k.mem_info();
    if i.swap_total > 0 {
        let name = "/dev/faultline-swap";
        let (size, used) = (i.swap_total, i.swap_total - i.swap_free);
        let pad = |n: u64| if n < 10_000_000 { "\t" } else { "" };
        let _ = writeln!(
            s,
            "{name}{:w$}partition\t{size}\t{}{used}\t{}-2",
            " ",
            pad(size),
            pad(used),
            w = 40usize.saturating_sub(name.len()).max(1)
        );
    }
    s.into_bytes()
}

/// A name as mangle() writes it into /proc/mounts: space, tab, newline and
/// backslash as octal escapes.
fn mangle(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
