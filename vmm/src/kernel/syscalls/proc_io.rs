//! Reads and writes of /proc files: a seq_file's records, a generated
//! file kept per descriptor within limits, /proc/PID/pagemap made from the
//! page tables, /proc/PID/clear_refs, /proc/PID/coredump_filter,
//! timens_offsets, kernel.core_pattern and the net sysctls.

use std::sync::Arc;

use super::super::abi::elf::DUMP_FILTER_MASK;
use super::super::coredump::CORENAME_MAX_SIZE;
use super::super::errno::*;
use super::super::files::{FileKind, OpenFile};
use super::super::net::ns::Sysctl;
use super::super::task::Ctx;

use super::io::CHUNK;

/// A read of a /proc file into user memory.
pub(super) fn read_proc(ctx: &mut Ctx, file: &Arc<OpenFile>, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    let data = match &file.kind {
        FileKind::Proc { path, pid, .. } if path.ends_with("/pagemap") => {
            return read_pagemap(ctx, file, *pid, buf, count, pos);
        }
        FileKind::Proc { pid, seq: Some((which, cursor)), .. } => {
            let at = pos.unwrap_or(*file.pos.lock());
            let (k, pid, which) = (&*ctx.k, *pid, *which);
            let out = cursor.lock().read(at, count.min(CHUNK) as usize, |index: u64, out: &mut Vec<u8>| {
                crate::kernel::procfs::seq_record(k, pid, which, index, out)
            });
            if pos.is_none() {
                *file.pos.lock() = at + out.len() as u64;
            }
            out
        }
        FileKind::Proc { path, pid, contents, .. } => {
            let at = pos.unwrap_or(*file.pos.lock());
            // Like seq_file: made afresh when a read starts at offset 0.
            let held = if at == 0 { None } else { contents.lock().clone() };
            let c = match held {
                Some(c) => c,
                None => ctx.k.proc_contents(path, *pid).unwrap_or_default(),
            };
            // A descriptor keeps only a small file: a guest with a thousand
            // descriptors on a large /proc/self/maps must not make faultline
            // hold a thousand copies. A large one is asked for again at the
            // next read (the kernel's cache has it while nothing changed),
            // as seq_file generates again from the offset.
            // And all descriptors together keep at most PROC_KEEP_BYTES:
            // past that, a descriptor is as for a large file.
            let kept = (c.len() <= crate::kernel::procfs::PROC_KEEP_PER_FD).then(|| ctx.k.proc_keep(c.len())).flatten();
            *contents.lock() = kept.is_some().then(|| c.clone());
            file.kmem.lock().kept = kept;
            let start = (at as usize).min(c.len());
            let n = (c.len() - start).min(count as usize);
            let out = c[start..start + n].to_vec();
            if pos.is_none() {
                *file.pos.lock() = at + n as u64;
            }
            out
        }
        _ => return Err(EBADF),
    };
    ctx.write_user(buf, &data)?;
    Ok(data.len() as i64)
}

/// /proc/PID/pagemap, as pagemap_read: offset and size in whole entries
/// (EINVAL otherwise), made per read from the page tables, a chunk at a
/// time so a huge read costs faultline no more than a small one at once,
/// and short at the end of the address space.
fn read_pagemap(ctx: &mut Ctx, file: &Arc<OpenFile>, pid: u32, buf: u64, count: u64, pos: Option<u64>) -> SysResult {
    use super::super::mm::procfs::{pagemap_entries, PM_ENTRY_BYTES};
    let at = pos.unwrap_or(*file.pos.lock());
    if !at.is_multiple_of(PM_ENTRY_BYTES) || !count.is_multiple_of(PM_ENTRY_BYTES) {
        return Err(EINVAL);
    }
    let mut done = 0u64;
    while done < count {
        let vpn = (at / PM_ENTRY_BYTES).saturating_add(done / PM_ENTRY_BYTES);
        let n = ((count - done) / PM_ENTRY_BYTES).min(CHUNK / PM_ENTRY_BYTES);
        let chunk = match ctx.k.tasks.proc(pid) {
            Some(p) => pagemap_entries(&ctx.k, p, vpn, n),
            None => Vec::new(),
        };
        if chunk.is_empty() {
            break;
        }
        ctx.write_user(buf.checked_add(done).ok_or(EFAULT)?, &chunk)?;
        done += chunk.len() as u64;
    }
    if pos.is_none() {
        *file.pos.lock() = at + done;
    }
    Ok(done as i64)
}

/// A write to /proc/PID/clear_refs, as clear_refs_write: at most 12 bytes
/// taken, a number from 1 to 5 (spaces around it allowed), the count
/// taken returned. 1-3 clear accessed bits, 4 soft-dirty, 5 resets VmHWM.
pub(super) fn clear_refs(ctx: &mut Ctx, pid: u32, buf: u64, count: u64) -> SysResult {
    let count = count.min(12);
    let mut b = vec![0u8; count as usize];
    ctx.read_user(buf, &mut b)?;
    let text = std::str::from_utf8(&b).map_err(|_| EINVAL)?.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(EINVAL);
    }
    let what: u32 = digits.parse().map_err(|_| ERANGE)?;
    if !(1..=5).contains(&what) {
        return Err(EINVAL);
    }
    let k = &mut *ctx.k;
    let mm = k.tasks.proc(pid).ok_or(ESRCH)?.mm;
    if what == 5 {
        k.phys.reset_hiwater(mm);
    } else if let Some(m) = k.mm.get_mut(mm) {
        m.clear_refs(&mut k.phys, what);
    }
    Ok(count as i64)
}

/// A write of /proc/PID/coredump_filter (proc_coredump_filter_write):
/// a number in C's notation (0x for hex, 0 for octal), whose low
/// MMF_DUMP_FILTER_BITS become the filter. ESRCH for a process with no
/// memory left (a zombie).
pub(super) fn coredump_filter(ctx: &mut Ctx, pid: u32, buf: u64, count: u64) -> SysResult {
    // kstrtouint_from_user() reads at most 23 bytes.
    let mut b = vec![0u8; count.min(23) as usize];
    ctx.read_user(buf, &mut b)?;
    let v = kstrtouint(&b)?;
    let p = ctx.k.tasks.proc_mut(pid).filter(|p| !p.is_zombie()).ok_or(ESRCH)?;
    p.coredump_filter = v & DUMP_FILTER_MASK;
    Ok(count as i64)
}

/// kstrtouint(s, 0): an unsigned number, '+' allowed before it and one
/// newline after; the base from its prefix. ERANGE past 32 bits.
fn kstrtouint(b: &[u8]) -> Result<u32, Errno> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let b = b.strip_prefix(b"+").unwrap_or(b);
    let (digits, radix) = match b {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        [b'0', rest @ ..] if !rest.is_empty() => (rest, 8),
        _ => (b, 10),
    };
    let text = std::str::from_utf8(digits).map_err(|_| EINVAL)?;
    if text.is_empty() || !text.chars().all(|c| c.is_digit(radix)) {
        return Err(EINVAL);
    }
    u32::from_str_radix(text, radix).map_err(|_| ERANGE)
}

/// A write of kernel.core_pattern (proc_dostring): up to the first NUL or
/// newline, at most CORENAME_MAX_SIZE - 1 bytes; the whole write is taken.
pub(super) fn core_pattern(ctx: &mut Ctx, buf: u64, count: u64) -> SysResult {
    let mut b = vec![0u8; count.min(CORENAME_MAX_SIZE as u64 - 1) as usize];
    ctx.read_user(buf, &mut b)?;
    let end = b.iter().position(|&c| c == 0 || c == b'\n').unwrap_or(b.len());
    ctx.k.coredump.pattern = String::from_utf8_lossy(&b[..end]).into_owned();
    Ok(count as i64)
}

/// A write of /proc/PID/timens_offsets: the offsets of the time namespace
/// PID's children enter, until one has (proc_timens_set_offset; the
/// writer needs CAP_SYS_TIME). Nothing past a page is read.
pub(super) fn timens_offsets(ctx: &mut Ctx, pid: u32, buf: u64, count: u64) -> SysResult {
    if !ctx.proc().cred.capable(super::super::cred::CAP_SYS_TIME) {
        return Err(EPERM);
    }
    let ns = ctx.k.tasks.proc(pid).ok_or(ESRCH)?.time_ns_for_children.clone();
    let mut text = vec![0u8; count.min(crate::arch::PAGE_SIZE) as usize];
    ctx.read_user(buf, &mut text)?;
    let host = |clock| {
        let id =
            if clock == super::super::abi::time::CLOCK_BOOTTIME { libc::CLOCK_BOOTTIME } else { libc::CLOCK_MONOTONIC };
        super::time::host_clock(id)
    };
    ns.set(&text, host)?;
    Ok(count as i64)
}

/// A number written to a /proc file (its first 32 bytes, blanks around
/// it): oom_score_adj, a sysctl.
pub(super) fn written_number<T: std::str::FromStr>(ctx: &mut Ctx, buf: u64, count: u64) -> Result<T, Errno> {
    let mut b = vec![0u8; count.min(32) as usize];
    ctx.read_user(buf, &mut b)?;
    String::from_utf8_lossy(&b).trim().parse().map_err(|_| EINVAL)
}

/// A write of a /proc/sys/net sysctl (proc_dointvec): set in the network
/// namespace of the file's opener `pid` (its table was chosen at open),
/// or the writer's if the opener is gone.
pub(super) fn net_sysctl(ctx: &mut Ctx, pid: u32, path: &str, buf: u64, count: u64) -> SysResult {
    let which = Sysctl::at(path).ok_or(EBADF)?;
    let v: i32 = written_number(ctx, buf, count)?;
    let net = ctx.k.tasks.proc(pid).unwrap_or(ctx.proc()).net.clone();
    net.set_sysctl(which, v)?;
    ctx.k.procfs.changed();
    Ok(count as i64)
}
