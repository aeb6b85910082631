//! The /proc files a program may read about itself, generated from the
//! VMM's own model of it.

use std::fmt::Write as _;

use super::Task;
use crate::arch::PAGE_SIZE;
use crate::mm::{Vma, VmaKind};

/// Contents of `path`, if faultline provides it.
pub fn generate(task: &Task, path: &str) -> Option<Vec<u8>> {
    match path {
        "/proc/self/maps" => Some(maps(task).into_bytes()),
        "/proc/self/status" => Some(status(task).into_bytes()),
        "/proc/self/comm" => Some(format!("{}\n", task.comm).into_bytes()),
        "/proc/self/cmdline" => None,
        _ => None,
    }
}

fn vma_name(task: &Task, v: &Vma) -> String {
    match v.kind {
        VmaKind::Image { .. } => task.exe.clone(),
        VmaKind::Heap => "[heap]".into(),
        VmaKind::Stack => "[stack]".into(),
        VmaKind::Anon if v.shared => "/dev/zero (deleted)".into(),
        VmaKind::Anon => String::new(),
    }
}

/// One line per VMA, in the kernel's format (show_map_vma): the name
/// column starts at byte 73.
pub fn maps(task: &Task) -> String {
    let mut out = String::new();
    for v in task.space.vmas().iter() {
        let offset = match v.kind {
            VmaKind::Image { offset } => offset,
            _ => 0,
        };
        let mut line = format!(
            "{:08x}-{:08x} {}{}{}{} {:08x} 00:00 {} ",
            v.start,
            v.end,
            if v.perms.read { 'r' } else { '-' },
            if v.perms.write { 'w' } else { '-' },
            if v.perms.exec { 'x' } else { '-' },
            if v.shared { 's' } else { 'p' },
            offset,
            if matches!(v.kind, VmaKind::Image { .. }) { 1 } else { 0 },
        );
        let name = vma_name(task, v);
        if !name.is_empty() {
            while line.len() < 73 {
                line.push(' ');
            }
            line.push_str(&name);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Memory figures of /proc/self/status, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStatus {
    pub vm_size: u64,
    pub vm_lck: u64,
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub vm_data: u64,
    pub vm_stk: u64,
    pub vm_exe: u64,
}

pub fn mem_status(task: &Task) -> MemStatus {
    let mut m = MemStatus::default();
    let backing = task.space.backing();
    for v in task.space.vmas().iter() {
        let kib = v.len() / 1024;
        m.vm_size += kib;
        if v.locked {
            m.vm_lck += kib;
        }
        match v.kind {
            VmaKind::Stack => m.vm_stk += kib,
            VmaKind::Image { .. } if v.perms.exec => m.vm_exe += kib,
            _ => {}
        }
        // VmData: private writable, non-stack mappings.
        if v.perms.write && !v.shared && v.kind != VmaKind::Stack {
            m.vm_data += kib;
        }
        let mut resident = 0;
        task.space.for_each_frame(v.start, v.end, |_, gpa| resident += u64::from(backing.is_resident(gpa)));
        let rk = resident * PAGE_SIZE / 1024;
        m.vm_rss += rk;
        match v.kind {
            // Image pages still holding the file's bytes are file pages.
            VmaKind::Image { .. } if !v.perms.write => m.rss_file += rk,
            _ => m.rss_anon += rk,
        }
    }
    m
}

pub fn status(task: &Task) -> String {
    let m = mem_status(task);
    let mut s = String::new();
    let _ = writeln!(s, "Name:\t{}", task.comm);
    let _ = writeln!(s, "Umask:\t0022\nState:\tR (running)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\nTracerPid:\t0");
    let _ = writeln!(s, "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t");
    let _ = writeln!(s, "VmPeak:\t{:8} kB", m.vm_size);
    let _ = writeln!(s, "VmSize:\t{:8} kB", m.vm_size);
    let _ = writeln!(s, "VmLck:\t{:8} kB", m.vm_lck);
    let _ = writeln!(s, "VmPin:\t{:8} kB", 0);
    let _ = writeln!(s, "VmHWM:\t{:8} kB", m.vm_rss);
    let _ = writeln!(s, "VmRSS:\t{:8} kB", m.vm_rss);
    let _ = writeln!(s, "RssAnon:\t{:8} kB", m.rss_anon);
    let _ = writeln!(s, "RssFile:\t{:8} kB", m.rss_file);
    let _ = writeln!(s, "RssShmem:\t{:8} kB", 0);
    let _ = writeln!(s, "VmData:\t{:8} kB", m.vm_data);
    let _ = writeln!(s, "VmStk:\t{:8} kB", m.vm_stk);
    let _ = writeln!(s, "VmExe:\t{:8} kB", m.vm_exe);
    let _ = writeln!(s, "VmLib:\t{:8} kB", 0);
    let _ = writeln!(s, "VmSwap:\t{:8} kB", 0);
    let _ = writeln!(s, "Threads:\t1");
    s
}
