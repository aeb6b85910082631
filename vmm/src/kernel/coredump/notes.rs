//! A core's PT_NOTE contents, in write_note_info()'s order: the dumping
//! thread's NT_PRSTATUS, then the process's NT_PRPSINFO, NT_SIGINFO,
//! NT_AUXV and NT_FILE, then that thread's FPU notes; then each other
//! thread's NT_PRSTATUS and FPU notes.

use zerocopy::{FromZeros, IntoBytes};

use super::super::abi::elf::*;
use super::super::abi::time::Timeval;
use super::super::signal::SigInfoRaw;
use super::memory::Mapped;
use crate::arch::regs::UserRegsStruct;
use crate::arch::PAGE_SIZE;

/// One thread as its notes show it.
pub(super) struct ThreadNotes {
    pub(super) tid: u32,
    pub(super) regs: UserRegsStruct,
    /// Its XSAVE area (the legacy FXSAVE image first), if known.
    pub(super) fpu: Option<Vec<u8>>,
    /// Its own pending signals and its mask.
    pub(super) sigpend: u64,
    pub(super) sighold: u64,
    /// CPU time: the process's for its main thread (fill_prstatus's
    /// thread_group_cputime), none kept for the others.
    pub(super) utime_ns: u64,
    pub(super) stime_ns: u64,
}

/// The process as its notes show it.
pub(super) struct ProcessNotes<'a> {
    pub(super) pid: u32,
    pub(super) ppid: u32,
    pub(super) pgrp: u32,
    pub(super) sid: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) comm: &'a str,
    /// argv, NUL-separated.
    pub(super) cmdline: &'a [u8],
    /// NT_PRPSINFO's pr_flag.
    pub(super) flag: u64,
    pub(super) signo: i32,
    pub(super) siginfo: SigInfoRaw,
    pub(super) auxv: &'a [u64],
    pub(super) files: &'a [Mapped],
    /// Reaped children's CPU time.
    pub(super) cutime_ns: u64,
    pub(super) cstime_ns: u64,
    /// What the CPU makes of FPU state (x86-64: XCR0, written where
    /// NT_X86_XSTATE keeps it).
    pub(super) fpu: crate::arch::fpu::FpuConfig,
}

/// The bytes of the legacy FXSAVE image, NT_PRFPREG's.
const FXSAVE_SIZE: usize = 512;

/// The notes of `p` and its `threads`, the dumping one first.
pub(super) fn notes(p: &ProcessNotes, threads: &[ThreadNotes]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, t) in threads.iter().enumerate() {
        note(&mut out, NOTE_NAME_CORE, NT_PRSTATUS, prstatus(p, t).as_bytes());
        if i == 0 {
            note(&mut out, NOTE_NAME_CORE, NT_PRPSINFO, prpsinfo(p).as_bytes());
            note(&mut out, NOTE_NAME_CORE, NT_SIGINFO, p.siginfo.as_bytes());
            note(&mut out, NOTE_NAME_CORE, NT_AUXV, p.auxv.as_bytes());
            if !p.files.is_empty() {
                note(&mut out, NOTE_NAME_CORE, NT_FILE, &file_note(p.files));
            }
        }
        if let Some(x) = &t.fpu {
            fpu_notes(&mut out, p, x);
        }
    }
    out
}

/// x86-64's FPU notes: the FXSAVE image (user_i387_struct); then, where
/// the CPU offers XSAVE (an area past the legacy 512 bytes), that area with
/// XCR0 in its software-reserved bytes, as xstateregs_get().
#[cfg(target_arch = "x86_64")]
fn fpu_notes(out: &mut Vec<u8>, p: &ProcessNotes, x: &[u8]) {
    note(out, NOTE_NAME_CORE, NT_PRFPREG, &x[..FXSAVE_SIZE.min(x.len())]);
    if x.len() > FXSAVE_SIZE {
        let mut xs = x.to_vec();
        xs[XSTATE_XCR0_OFFSET..XSTATE_XCR0_OFFSET + 8].copy_from_slice(&p.fpu.xcr0.to_le_bytes());
        note(out, NOTE_NAME_LINUX, NT_X86_XSTATE, &xs);
    }
}

/// arm64's: NT_PRFPREG, the user_fpsimd_state.
#[cfg(not(target_arch = "x86_64"))]
fn fpu_notes(out: &mut Vec<u8>, _p: &ProcessNotes, x: &[u8]) {
    note(out, NOTE_NAME_CORE, NT_PRFPREG, x);
}

/// A note: its header, its name and its description, each padded to 4.
fn note(out: &mut Vec<u8>, name: &[u8], ty: u32, desc: &[u8]) {
    let h = Elf64Nhdr { n_namesz: name.len() as u32, n_descsz: desc.len() as u32, n_type: ty };
    out.extend_from_slice(h.as_bytes());
    for part in [name, desc] {
        out.extend_from_slice(part);
        out.resize(out.len().next_multiple_of(4), 0);
    }
}

fn timeval(ns: u64) -> Timeval {
    Timeval { tv_sec: (ns / 1_000_000_000) as i64, tv_usec: (ns % 1_000_000_000 / 1000) as i64 }
}

/// fill_prstatus(): every thread's carries the signal the process dies of.
fn prstatus(p: &ProcessNotes, t: &ThreadNotes) -> ElfPrstatus {
    ElfPrstatus {
        pr_info: ElfSiginfo { si_signo: p.signo, ..Default::default() },
        pr_cursig: p.signo as i16,
        pr_sigpend: t.sigpend,
        pr_sighold: t.sighold,
        pr_pid: t.tid as i32,
        pr_ppid: p.ppid as i32,
        pr_pgrp: p.pgrp as i32,
        pr_sid: p.sid as i32,
        pr_utime: timeval(t.utime_ns),
        pr_stime: timeval(t.stime_ns),
        pr_cutime: timeval(p.cutime_ns),
        pr_cstime: timeval(p.cstime_ns),
        pr_reg: t.regs,
        pr_fpvalid: i32::from(t.fpu.is_some()),
        ..Default::default()
    }
}

/// fill_psinfo(): the dumping process, running ('R'), its command line
/// with blanks for the NULs between arguments.
fn prpsinfo(p: &ProcessNotes) -> ElfPrpsinfo {
    let mut ps = ElfPrpsinfo::new_zeroed();
    ps.pr_sname = b'R';
    ps.pr_flag = p.flag;
    (ps.pr_uid, ps.pr_gid) = (p.uid, p.gid);
    (ps.pr_pid, ps.pr_ppid, ps.pr_pgrp, ps.pr_sid) = (p.pid as i32, p.ppid as i32, p.pgrp as i32, p.sid as i32);
    let comm = p.comm.as_bytes();
    let n = comm.len().min(ps.pr_fname.len() - 1);
    ps.pr_fname[..n].copy_from_slice(&comm[..n]);
    let args = &p.cmdline[..p.cmdline.len().min(ELF_PRARGSZ - 1)];
    for (d, &s) in ps.pr_psargs.iter_mut().zip(args) {
        *d = if s == 0 { b' ' } else { s };
    }
    ps
}

/// fill_files_note(): the count and the page size, a (start, end, page
/// offset) triple per file mapping, then their names, NUL-terminated.
fn file_note(files: &[Mapped]) -> Vec<u8> {
    let mut words = vec![files.len() as u64, PAGE_SIZE];
    for f in files {
        words.extend([f.start, f.end, f.pgoff]);
    }
    let mut out = words.as_bytes().to_vec();
    for f in files {
        out.extend_from_slice(f.name.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromBytes;

    #[test]
    fn notes_come_in_write_note_infos_order() {
        let files = [Mapped { start: 0x40_0000, end: 0x40_1000, pgoff: 0, name: "/bin/x".into() }];
        let p = ProcessNotes {
            pid: 7,
            ppid: 1,
            pgrp: 7,
            sid: 1,
            uid: 0,
            gid: 0,
            comm: "x",
            cmdline: b"x\0-a\0",
            flag: PF_DUMPCORE,
            signo: 6,
            siginfo: SigInfoRaw::new_zeroed(),
            auxv: &[6, 4096, 0, 0],
            files: &files,
            cutime_ns: 0,
            cstime_ns: 0,
            fpu: Default::default(),
        };
        let t = |tid, fpu: bool| ThreadNotes {
            tid,
            regs: UserRegsStruct::default(),
            fpu: fpu.then(|| vec![0u8; 576]),
            sigpend: 0,
            sighold: 0,
            utime_ns: 1_500_000_000,
            stime_ns: 0,
        };
        let bytes = notes(&p, &[t(8, true), t(7, false)]);
        // Without XSAVE (an FXSAVE image alone), no NT_X86_XSTATE.
        let fx = notes(&p, &[ThreadNotes { fpu: Some(vec![0u8; 512]), ..t(9, false) }]);
        let (h, _) = Elf64Nhdr::read_from_prefix(&fx[fx.len() - 12 - 8 - 512..]).unwrap();
        assert_eq!((h.n_type, h.n_descsz), (NT_PRFPREG, 512));
        let mut at = 0;
        let mut seen = Vec::new();
        while at < bytes.len() {
            let (h, _) = Elf64Nhdr::read_from_prefix(&bytes[at..]).unwrap();
            let desc = at + 12 + (h.n_namesz as usize).next_multiple_of(4);
            if h.n_type == NT_PRSTATUS {
                let (s, _) = ElfPrstatus::read_from_prefix(&bytes[desc..]).unwrap();
                assert_eq!(
                    (s.pr_cursig, s.pr_info.si_signo, s.pr_utime.tv_sec, s.pr_utime.tv_usec),
                    (6, 6, 1, 500_000)
                );
                seen.push((h.n_type, s.pr_pid as u32));
            } else {
                seen.push((h.n_type, 0));
            }
            if h.n_type == NT_PRPSINFO {
                let (ps, _) = ElfPrpsinfo::read_from_prefix(&bytes[desc..]).unwrap();
                assert_eq!(&ps.pr_psargs[..5], b"x -a ");
            }
            if h.n_type == NT_X86_XSTATE {
                assert_eq!(bytes[desc + XSTATE_XCR0_OFFSET], 3);
            }
            at = desc + (h.n_descsz as usize).next_multiple_of(4);
        }
        assert_eq!(
            seen,
            [
                (NT_PRSTATUS, 8),
                (NT_PRPSINFO, 0),
                (NT_SIGINFO, 0),
                (NT_AUXV, 0),
                (NT_FILE, 0),
                (NT_PRFPREG, 0),
                (NT_X86_XSTATE, 0),
                (NT_PRSTATUS, 7)
            ]
        );
    }
}
