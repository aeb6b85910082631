//! Core dumps, as fs/coredump.c's do_coredump() and fs/binfmt_elf.c's
//! elf_core_dump() make them: when a process dies of a signal whose
//! default action dumps core, it is dumpable and RLIMIT_CORE allows a
//! page, an ELF core file named by kernel.core_pattern goes into the
//! sandbox's file system, relative to the process's working directory (a
//! read-write bind puts it on the host). Only a core file made gives the
//! wait status its core bit.
//!
//! The file: the ELF header, a PT_NOTE (`notes`) and a PT_LOAD per VMA
//! (`memory`), then the notes, then, from the next page boundary, each
//! segment's bytes; pages never backed are holes (sparse). RLIMIT_CORE
//! cuts what is written. The other threads' registers are not known here
//! (their vCPUs are only kicked, never waited for, under the kernel lock):
//! their NT_PRSTATUS holds their TLS bases alone, or where an unstarted
//! one will start.

mod memory;
mod notes;
pub(crate) mod pattern;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use zerocopy::IntoBytes;

use super::abi::elf::*;
use super::abi::resource::RLIMIT_CORE;
use super::errno::Errno;
use super::files::vfs::OpenNode;
use super::files::{FileKind, OpenFile};
use super::process::Tid;
use super::signal::{SigInfo, SigInfoRaw};
use super::syscalls::system::NODENAME;
use super::task::Ctx;
use super::KernelState;
use crate::arch::regs::{UserRegsStruct, ELF_MACHINE};
use crate::arch::{UserRegs, PAGE_SIZE};
use memory::Segment;
use notes::{ProcessNotes, ThreadNotes};

/// kernel.core_pattern's room (CORENAME_MAX_SIZE, its NUL included).
pub(crate) const CORENAME_MAX_SIZE: usize = 128;

/// binfmt_elf's min_coredump: below a page of RLIMIT_CORE, no file.
const MIN_COREDUMP: u64 = PAGE_SIZE;

/// The sysctls that name cores: the sandbox's own, never the host's.
pub(crate) struct Settings {
    /// kernel.core_pattern.
    pub(crate) pattern: String,
    /// kernel.core_uses_pid.
    pub(crate) uses_pid: bool,
    /// A pipe pattern has been refused on the diagnostics already.
    pipe_said: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { pattern: "core".into(), uses_pid: false, pipe_said: false }
    }
}

/// Why a dying process left no core.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoCore {
    #[error("the process is not dumpable")]
    NotDumpable,
    #[error("core_pattern pipes to a program, which faultline does not run")]
    Pipe,
    #[error("RLIMIT_CORE ({0}) is below a page")]
    Limit(u64),
    #[error("cannot make {name:?}: {}", errno.name())]
    Open { name: String, errno: Errno },
}

/// Why writing a core stopped early (the core still counts as dumped,
/// cut short, as elf_core_dump's has_dumped).
#[derive(Debug, PartialEq, Eq)]
enum Cut {
    /// RLIMIT_CORE reached.
    Limit,
    /// The file system refused a write (ENOSPC, EIO).
    Write(Errno),
}

/// The core file being written: where the next byte goes and how many
/// RLIMIT_CORE has let through (holes are not counted, as dump_skip).
struct CoreFile {
    file: Arc<OpenFile>,
    pos: u64,
    written: u64,
    limit: u64,
}

impl CoreFile {
    /// The file: `open_core_file` made it a regular one.
    fn node(&self) -> Option<&OpenNode> {
        match &self.file.kind {
            FileKind::File(n) => Some(n),
            _ => None,
        }
    }

    /// Its size now.
    fn size(&self) -> u64 {
        self.node().map_or(0, |n| n.data.size())
    }

    /// dump_emit(): all of `bytes`, or nothing past the limit.
    fn emit(&mut self, k: &mut KernelState, bytes: &[u8]) -> Result<(), Cut> {
        if self.written + bytes.len() as u64 > self.limit {
            return Err(Cut::Limit);
        }
        let n = self.node().ok_or(Cut::Write(super::errno::EBADF))?;
        let w = k.write_cached(n.id, &n.data, self.pos, bytes).map_err(Cut::Write)?;
        if w != bytes.len() {
            return Err(Cut::Write(super::errno::ENOSPC));
        }
        self.pos += w as u64;
        self.written += w as u64;
        Ok(())
    }
}

impl Ctx<'_> {
    /// do_coredump() for this thread's process, dying of `info`: Ok once
    /// a core file was made (the wait status's core bit), however much of
    /// it the limit or the file system let through.
    pub(crate) fn dump_core(&mut self, info: &SigInfo) -> Result<(), NoCore> {
        let p = self.proc();
        if !p.dumpable {
            return Err(NoCore::NotDumpable);
        }
        let limit = p.limits.cur(RLIMIT_CORE);
        if self.k.coredump.pattern.starts_with('|') {
            if !std::mem::replace(&mut self.k.coredump.pipe_said, true) {
                self.k.diag(&format!(
                    "core_pattern {:?} pipes cores to a program, which faultline does not run: no core is written",
                    self.k.coredump.pattern
                ));
            }
            return Err(NoCore::Pipe);
        }
        if limit < MIN_COREDUMP {
            return Err(NoCore::Limit(limit));
        }
        let name = self.core_name(info.signo, limit);
        let file = super::syscalls::open_core_file(self, &name).map_err(|errno| NoCore::Open { name, errno })?;
        let mut core = CoreFile { file, pos: 0, written: 0, limit };
        let (head, segments) = self.core_head(info);
        let mm = self.mm();
        // A cut core is a core still: what is written stays.
        if self.k.write_core(&mut core, mm, &head, &segments).is_ok() && core.size() < core.pos {
            // Past a final hole, one byte makes the file as long as the
            // core (do_coredump's to_skip), if the limit has room for it.
            core.pos -= 1;
            let _ = core.emit(&mut self.k, &[0]);
        }
        Ok(())
    }

    /// The core's name: core_pattern expanded for this process.
    fn core_name(&self, signo: i32, limit: u64) -> String {
        let p = self.proc();
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let facts = pattern::Facts {
            pid: self.pid,
            tid: self.tid,
            uid: p.cred.uid,
            gid: p.cred.gid,
            signo,
            time,
            hostname: NODENAME,
            comm: &p.comm,
            exe: &p.exe,
            limit,
            dumpable: 1,
        };
        let s = &self.k.coredump;
        pattern::corename(&s.pattern, s.uses_pid, &facts)
    }

    /// The ELF header, program headers and notes, with the segments they
    /// describe.
    fn core_head(&self, info: &SigInfo) -> (Head, Vec<Segment>) {
        let p = self.proc();
        let mm = p.mm;
        let segments = self.k.core_segments(mm, p.coredump_filter);
        let files = self.k.core_files(mm);
        let space = self.k.mm.space(mm);
        let threads = self.core_threads();
        let mut flag = PF_DUMPCORE | PF_SIGNALED;
        if self.k.cfg.aslr {
            flag |= PF_RANDOMIZE;
        }
        let pn = ProcessNotes {
            pid: p.pid,
            ppid: p.ppid,
            pgrp: p.pgid,
            sid: p.sid,
            uid: p.cred.uid,
            gid: p.cred.gid,
            comm: &p.comm,
            cmdline: &p.cmdline.bytes,
            flag,
            signo: info.signo,
            siginfo: SigInfoRaw::from(info),
            auxv: &space.saved_auxv,
            files: &files,
            cutime_ns: p.children_rusage.utime_ns,
            cstime_ns: p.children_rusage.stime_ns,
            fpu: self.k.cfg.fpu,
        };
        let notes = notes::notes(&pn, &threads);
        (head(&segments, &notes), segments)
    }

    /// Each thread's notes, this one first (its registers are the trap's;
    /// another's are known only before it starts).
    fn core_threads(&self) -> Vec<ThreadNotes> {
        let p = self.proc();
        let cfg = self.k.cfg.fpu;
        let mut tids: Vec<Tid> = vec![self.tid];
        tids.extend(p.threads.iter().copied().filter(|&t| t != self.tid));
        let mut out = Vec::new();
        for tid in tids {
            let Some(t) = self.k.tasks.thread(tid) else { continue };
            let (regs, orig_rax, fpu) = if tid == self.tid {
                let fpu = self.fpu.clone().or_else(|| self.vcpu.and_then(|v| v.fpu().ok()));
                (*self.regs, self.syscall_nr.unwrap_or(u64::MAX), fpu)
            } else {
                match &t.start {
                    Some(s) => (s.regs, u64::MAX, s.fpu.clone()),
                    None => (UserRegs::default(), u64::MAX, None),
                }
            };
            let leader = tid == p.pid;
            out.push(ThreadNotes {
                tid,
                regs: UserRegsStruct::of(&regs, orig_rax, t.tls),
                fpu: fpu.map(|x| x.image(&cfg)),
                sigpend: t.pending.set,
                sighold: t.sigmask,
                utime_ns: if leader { p.rusage.utime_ns } else { 0 },
                stime_ns: if leader { p.rusage.stime_ns } else { 0 },
            });
        }
        out
    }
}

/// What a core opens with, and where its segments' bytes start.
struct Head {
    bytes: Vec<u8>,
    data_at: u64,
}

/// The ELF header, the PT_NOTE and a PT_LOAD per segment, then the notes:
/// segment data starts at the next page boundary, one after another.
fn head(segments: &[Segment], notes: &[u8]) -> Head {
    let phnum = segments.len() + 1;
    let notes_at = (size_of::<Elf64Ehdr>() + phnum * size_of::<Elf64Phdr>()) as u64;
    let data_at = (notes_at + notes.len() as u64).next_multiple_of(PAGE_SIZE);
    let mut ident = [0u8; 16];
    ident[..4].copy_from_slice(&ELFMAG);
    ident[4..8].copy_from_slice(&[ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE]);
    let ehdr = Elf64Ehdr {
        e_ident: ident,
        e_type: ET_CORE,
        e_machine: ELF_MACHINE,
        e_version: u32::from(EV_CURRENT),
        e_phoff: size_of::<Elf64Ehdr>() as u64,
        e_ehsize: size_of::<Elf64Ehdr>() as u16,
        e_phentsize: size_of::<Elf64Phdr>() as u16,
        // PN_XNUM's extended numbering is not needed: vm.max_map_count
        // keeps VMAs below it.
        e_phnum: phnum.min(0xffff) as u16,
        ..Default::default()
    };
    let mut out = ehdr.as_bytes().to_vec();
    let note = Elf64Phdr {
        p_type: PT_NOTE,
        p_offset: notes_at,
        p_filesz: notes.len() as u64,
        p_align: 4,
        ..Default::default()
    };
    out.extend_from_slice(note.as_bytes());
    let mut at = data_at;
    for s in segments {
        let load = Elf64Phdr {
            p_type: PT_LOAD,
            p_flags: s.flags,
            p_offset: at,
            p_vaddr: s.start,
            p_filesz: s.dump_size,
            p_memsz: s.end - s.start,
            p_align: PAGE_SIZE,
            ..Default::default()
        };
        out.extend_from_slice(load.as_bytes());
        at += s.dump_size;
    }
    out.extend_from_slice(notes);
    Head { bytes: out, data_at }
}

impl KernelState {
    /// Writes `head` (headers and notes), then each segment's pages from
    /// address space `mm`: those with nothing in them are skipped.
    fn write_core(
        &mut self,
        core: &mut CoreFile,
        mm: crate::mm::MmId,
        head: &Head,
        segments: &[Segment],
    ) -> Result<(), Cut> {
        core.emit(self, &head.bytes)?;
        core.pos = head.data_at;
        let mut page = vec![0u8; PAGE_SIZE as usize];
        for s in segments {
            let base = core.pos;
            let Some(v) = &s.vma else {
                core.pos += s.dump_size;
                continue;
            };
            for va in self.core_data_pages(mm, v, s.start, s.start + s.dump_size) {
                if self.core_page(mm, v, va, &mut page) {
                    core.pos = base + (va - s.start);
                    core.emit(self, &page)?;
                }
            }
            core.pos = base + s.dump_size;
        }
        Ok(())
    }
}
