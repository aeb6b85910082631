//! /proc/PID/maps, and the record-by-record reading it and smaps share.

use std::fmt::Write as _;

use super::super::process::{Pid, Process};
use super::super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::mm::{Backing, Vma, VmaKind};

/// The name /proc/PID/maps shows for a VMA.
fn vma_name(k: &KernelState, p: &Process, v: &Vma) -> String {
    let space = k.mm.space(p.mm);
    if let Some(n) = &v.anon_name {
        return if n.starts_with('[') { n.to_string() } else { format!("[anon:{n}]") };
    }
    match (&v.backing, v.kind) {
        // d_path() of an unlinked file.
        (Backing::File { file, .. }, _) if k.files.vfs().is_orphan(file.id) && !file.path.ends_with(" (deleted)") => {
            format!("{} (deleted)", file.path)
        }
        (Backing::File { file, .. }, _) => file.path.to_string(),
        // vma_is_initial_heap(): any anonymous VMA overlapping
        // [start_brk, brk), a PROT_NONE one a libc put there included.
        (_, _) if v.start < space.brk && v.end > space.brk_start => "[heap]".into(),
        (_, VmaKind::Heap) => "[heap]".into(),
        (_, _) if v.start <= space.start_stack && space.start_stack < v.end => "[stack]".into(),
        _ if v.shared => "/dev/zero (deleted)".into(),
        _ => String::new(),
    }
}

/// The vsyscall page's line, after every VMA's (Linux's gate VMA).
const GATE_LINE: &str = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

/// One VMA's line of /proc/PID/maps.
pub(crate) fn map_line(k: &KernelState, p: &Process, v: &Vma, out: &mut String) {
    let (offset, dev, ino) = match &v.backing {
        Backing::File { file, pgoff } => (pgoff * PAGE_SIZE, file.dev, file.ino),
        Backing::Anon => (0, 0, 0),
    };
    let start = out.len();
    let _ = write!(
        out,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        v.start,
        v.end,
        if v.perms.read { 'r' } else { '-' },
        if v.perms.write { 'w' } else { '-' },
        if v.perms.exec { 'x' } else { '-' },
        if v.shared { 's' } else { 'p' },
        offset,
        (dev >> 8) & 0xfff,
        dev & 0xff,
        ino,
    );
    let name = vma_name(k, p, v);
    if !name.is_empty() {
        while out.len() - start < 73 {
            out.push(' ');
        }
        out.push_str(&name);
    }
    out.push('\n');
}

/// The /proc files made record by record, as Linux's seq_file makes them:
/// a read generates only the records it returns, resuming at the VMA where
/// the last one stopped, so a read costs what it returns (not the whole
/// file, which with 65 530 VMAs is megabytes) and nothing is kept between
/// reads but the place and one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqFile {
    /// /proc/PID/maps.
    Maps,
    /// /proc/PID/smaps.
    Smaps,
}

/// The index after the last VMA: the gate (vsyscall) record, as Linux's
/// m_next gives it (-2).
const SEQ_GATE: u64 = u64::MAX - 1;

/// Appends the record of `which` for process `pid` at `index` (an address:
/// the first VMA ending above it, as m_start's find_vma) to `out`, and
/// returns the index of the next one; `None` at the end (or if the process
/// is gone: its file then reads empty).
pub(crate) fn seq_record(k: &KernelState, pid: Pid, which: SeqFile, index: u64, out: &mut Vec<u8>) -> Option<u64> {
    let p = k.tasks.proc(pid)?;
    let space = k.mm.get(p.mm)?;
    let mut s = String::new();
    let next = match space.vmas.find_from(index).filter(|_| index < SEQ_GATE) {
        Some(v) => {
            match which {
                SeqFile::Maps => map_line(k, p, v, &mut s),
                SeqFile::Smaps => super::super::mm::procfs::smaps_record(k, p, v, &mut s),
            }
            v.end
        }
        // smaps shows no gate record (as before).
        None if index <= SEQ_GATE && which == SeqFile::Maps && crate::kernel::abi::mman::GATE_VMA.is_some() => {
            s.push_str(GATE_LINE);
            u64::MAX
        }
        None => return None,
    };
    out.extend_from_slice(s.as_bytes());
    Some(next)
}
