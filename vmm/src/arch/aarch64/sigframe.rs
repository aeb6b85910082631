//! arm64's signal frame, the format half of arch/arm64/kernel/signal.c
//! (uapi/asm/sigcontext.h, uapi/asm/ucontext.h): the rt_sigframe a handler
//! runs on (siginfo, then the ucontext with the interrupted registers and,
//! in `sigcontext.__reserved`, the records: fpsimd_context, esr_context
//! after a fault, a null terminator) and the frame record above it.
//! `get_sigframe()` places it, `setup_sigframe()` fills it,
//! `setup_return()` makes the handler's registers, and rt_sigreturn's
//! `restore_sigframe()` takes it back with `parse_user_sigframe()`'s checks.
//!
//! The policy is the kernel's, as for x86-64: which handler, which stack,
//! the masks, what an unwritable or bad frame comes to; siginfo and stack_t
//! cross here as bytes and plain fields. Unlike x86-64, the FP/SIMD state
//! is inside the frame, a handler keeps the interrupted FP/SIMD registers
//! (Linux does not reset them), and a frame can be bad in more ways.

use std::mem::offset_of;

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::esr::FaultSignal;
use super::regs::{pstate, UserFpsimdState, UserRegs};
use crate::arch::sigframe::SigStack;
use crate::arch::signal::{SEGV_ACCERR, SEGV_MAPERR, SIGSEGV};

pub use super::esr::FaultRecord;
#[cfg(target_arch = "aarch64")]
pub use kernel_side::*;

/// The kernel's side of the frame (`arch::sigframe`'s functions), built
/// on the format below. It speaks the host architecture's neutral types,
/// so it builds on arm64 hosts only.
#[cfg(target_arch = "aarch64")]
mod kernel_side {
    use super::*;
    use crate::arch::fpu::{FpuConfig, FpuState};
    use crate::arch::sigframe::{BadFrame, Delivery, FpuFrom, Frame, Returned};
    use crate::arch::trap::Trap;

    /// setup_rt_frame(): the frame and its record below the stack (or the
    /// alternate stack's top); the handler keeps the interrupted FP/SIMD
    /// state and returns to sa_restorer, or to the vDSO's trampoline.
    /// `None` when it cannot return anywhere or its registers would not be
    /// valid user registers (a failed frame: SIGSEGV).
    pub fn setup(d: &Delivery) -> Option<Frame> {
        let restorer = d.restorer.or(d.trampoline)?;
        let at = place(d.sp, d.altstack_top);
        let fpsimd = d.fpu.map(|f| f.0).unwrap_or_default();
        let bytes = build(&FrameSpec {
            regs: d.regs,
            fpsimd: &fpsimd,
            fault: d.fault,
            mask: d.mask,
            stack: d.stack,
            siginfo: d.sa_siginfo.then_some(d.siginfo),
        });
        let mut regs = *d.regs;
        let entry = HandlerEntry { handler: d.handler, restorer, siginfo: d.sa_siginfo, bti: false };
        enter_handler(&mut regs, d.sig, at, &entry).then_some(Frame {
            writes: vec![(at.frame, bytes)],
            regs,
            fpu: None,
        })
    }

    /// The whole rt_sigframe, at a 16-aligned stack pointer.
    pub fn sigreturn_frame(regs: &UserRegs) -> Option<(u64, usize)> {
        frame_at_sigreturn(regs).map(|at| (at, FRAME_LEN))
    }

    pub fn restore(regs: &mut UserRegs, bytes: &[u8], _cfg: &FpuConfig) -> Returned {
        let frame: &[u8; FRAME_LEN] = bytes.try_into().expect("FRAME_LEN bytes");
        let r = restore_frame(regs, frame);
        let fpu = match r.fpsimd {
            Ok(f) => FpuFrom::Here(FpuState(f)),
            Err(_) => FpuFrom::Bad,
        };
        Returned { mask: r.mask, stack: r.stack, fpu, resumable: true }
    }

    /// The FP/SIMD state is always in the frame.
    pub fn parse_fpu(_bytes: &[u8], _cfg: &FpuConfig) -> Option<FpuState> {
        None
    }

    pub fn sigreturn_fault(sp: u64, vma_above: bool) -> BadFrame {
        let s = bad_frame_signal(sp, vma_above);
        let record = s.record.unwrap_or_default();
        let trap = Trap::Exception(crate::arch::trap::Exception { esr: 0, far: sp, record: s.record });
        BadFrame { code: s.code, addr: s.addr, record, trap }
    }

    pub fn fault_record(trap: &Trap) -> FaultRecord {
        crate::arch::aarch64::trap::fault_record(trap)
    }
}

pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
pub const ESR_MAGIC: u32 = 0x4553_5201;
/// The size of siginfo_t, as the frame holds it.
pub const SIGINFO_LEN: usize = 128;
/// arm64 returns from a handler without SA_RESTORER too (Linux through
/// the vDSO's `__kernel_rt_sigreturn`, `arch::vdso`): the kernel passes
/// that trampoline instead.
pub const NEEDS_RESTORER: bool = false;
/// sigaltstack's minimum size on arm64 (uapi/asm/signal.h).
pub const MINSIGSTKSZ: u64 = 5120;
/// AT_MINSIGSTKSZ, as `minsigstksz_setup()` works it out for a CPU with
/// FP/SIMD and no SVE/SME: the frame, the frame record, and 16 bytes of
/// alignment.
pub const AT_MINSIGSTKSZ: u64 = FRAME_LEN as u64 + 16 + 16;

/// struct _aarch64_ctx: each record's header.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct CtxHead {
    magic: u32,
    size: u32,
}

#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct FpsimdContext {
    head: CtxHead,
    fpsr: u32,
    fpcr: u32,
    vregs: [u128; 32],
}
const FPSIMD_LEN: usize = size_of::<FpsimdContext>();
const _: () = assert!(FPSIMD_LEN == 528);

#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct EsrContext {
    head: CtxHead,
    esr: u64,
}
const _: () = assert!(size_of::<EsrContext>() == 16);

/// stack_t.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Stack {
    sp: u64,
    flags: i32,
    pad: u32,
    size: u64,
}

/// struct sigcontext; `pad` is the C alignment of `__reserved` to 16.
#[repr(C, align(16))]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct SigContext {
    fault_address: u64,
    regs: [u64; 31],
    sp: u64,
    pc: u64,
    pstate: u64,
    pad: u64,
    reserved: [u8; 4096],
}

/// The kernel's struct ucontext: an 8-byte sigset padded to glibc's 128.
#[repr(C, align(16))]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct UContext {
    flags: u64,
    link: u64,
    stack: Stack,
    sigmask: u64,
    unused: [u8; 120],
    pad: u64,
    mcontext: SigContext,
}

#[repr(C, align(16))]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RtSigFrame {
    info: [u8; SIGINFO_LEN],
    uc: UContext,
}

/// The size of the rt_sigframe, which rt_sigreturn reads whole.
pub const FRAME_LEN: usize = size_of::<RtSigFrame>();
const _: () = assert!(FRAME_LEN == 4688 && FRAME_LEN & 15 == 0);

/// Where a frame goes: the rt_sigframe (the handler's stack pointer) and
/// the frame record {x29, x30} right above it (the handler's x29).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub frame: u64,
    pub record: u64,
}

/// get_sigframe(): the frame record 16-aligned below `sp`, the interrupted
/// stack pointer (arm64 has no red zone), or below `altstack_top` when the
/// handler runs on the alternate stack; the rt_sigframe below it.
pub fn place(sp: u64, altstack_top: Option<u64>) -> Placement {
    let top = altstack_top.unwrap_or(sp);
    let record = top.wrapping_sub(16) & !15;
    Placement { frame: record.wrapping_sub(FRAME_LEN as u64), record }
}

/// Everything a frame holds.
pub struct FrameSpec<'a> {
    /// The interrupted registers.
    pub regs: &'a UserRegs,
    pub fpsimd: &'a UserFpsimdState,
    /// The thread's fault record: sigcontext.fault_address, and an
    /// esr_context if its ESR is not 0.
    pub fault: FaultRecord,
    /// The mask to restore at sigreturn.
    pub mask: u64,
    /// The alternate stack as the handler is shown it.
    pub stack: SigStack,
    /// siginfo_t, copied only with SA_SIGINFO (otherwise left zero).
    pub siginfo: Option<&'a [u8; SIGINFO_LEN]>,
}

/// setup_rt_frame(): the bytes to write at [`Placement::frame`]: the
/// rt_sigframe, then the frame record with the interrupted x29 and x30.
pub fn build(spec: &FrameSpec) -> Vec<u8> {
    let (r, fp) = (spec.regs, spec.fpsimd);
    let mut rt = RtSigFrame::new_zeroed();
    if let Some(info) = spec.siginfo {
        rt.info = *info;
    }
    let s = spec.stack;
    rt.uc.stack = Stack { sp: s.sp, flags: s.flags, pad: 0, size: s.size };
    rt.uc.sigmask = spec.mask;
    let sc = &mut rt.uc.mcontext;
    sc.fault_address = spec.fault.address;
    (sc.regs, sc.sp, sc.pc, sc.pstate) = (r.x, r.sp, r.pc, r.pstate);
    let head = CtxHead { magic: FPSIMD_MAGIC, size: FPSIMD_LEN as u32 };
    let fpsimd = FpsimdContext { head, fpsr: fp.fpsr, fpcr: fp.fpcr, vregs: fp.vregs };
    sc.reserved[..FPSIMD_LEN].copy_from_slice(fpsimd.as_bytes());
    if spec.fault.esr != 0 {
        let esr = EsrContext { head: CtxHead { magic: ESR_MAGIC, size: 16 }, esr: spec.fault.esr };
        sc.reserved[FPSIMD_LEN..FPSIMD_LEN + 16].copy_from_slice(esr.as_bytes());
    }
    // The null terminator after the last record is already there.
    let mut bytes = rt.as_bytes().to_vec();
    bytes.extend_from_slice([r.x[29], r.x[30]].as_bytes());
    bytes
}

/// How a handler is entered, besides its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerEntry {
    pub handler: u64,
    /// Where the handler returns (x30): sa_restorer, or the kernel's
    /// trampoline without SA_RESTORER.
    pub restorer: u64,
    /// SA_SIGINFO: x1 and x2 point at the siginfo and the ucontext.
    pub siginfo: bool,
    /// The CPU has BTI: the handler starts as a BLR's target (BTYPE = C).
    pub bti: bool,
}

/// setup_return(): points the registers at the handler for signal `sig`
/// with its frame at `at`; TCO is cleared. Returns handle_signal()'s check
/// of the result (`valid_user_regs()`): false is a frame that failed.
pub fn enter_handler(regs: &mut UserRegs, sig: i32, at: Placement, e: &HandlerEntry) -> bool {
    regs.x[0] = sig as u64;
    if e.siginfo {
        regs.x[1] = at.frame + offset_of!(RtSigFrame, info) as u64;
        regs.x[2] = at.frame + offset_of!(RtSigFrame, uc) as u64;
    }
    regs.sp = at.frame;
    regs.x[29] = at.record;
    regs.x[30] = e.restorer;
    regs.pc = e.handler;
    if e.bti {
        regs.pstate = (regs.pstate & !pstate::BTYPE_MASK) | pstate::BTYPE_C;
    }
    regs.pstate &= !pstate::TCO;
    regs.valid_user_regs()
}

/// Where the frame is at rt_sigreturn: at the stack pointer, which must
/// be 16-aligned (`None`: a bad frame, before anything is read).
pub fn frame_at_sigreturn(regs: &UserRegs) -> Option<u64> {
    (regs.sp & 15 == 0).then_some(regs.sp)
}

/// Why rt_sigreturn found a frame bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadFrame {
    /// PSTATE is not EL0t with D, A, I and F clear (`valid_user_regs()`).
    Pstate,
    /// The records in `__reserved` do not parse (`parse_user_sigframe()`):
    /// misaligned, overrunning, repeated, or of an unknown magic (which
    /// includes records for SVE, SME and the like, absent on this CPU, and
    /// extra_context, which only they need).
    Records,
    /// No fpsimd_context, or one of the wrong size.
    Fpsimd,
}

/// What a frame gives back beside the registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The signal mask saved in the frame: set whatever follows.
    pub mask: u64,
    /// The alternate stack saved in the frame: restored only if the frame
    /// is good.
    pub stack: SigStack,
    /// The FP/SIMD state, or why the frame is bad: then rt_sigreturn
    /// raises [`bad_frame_signal`] on the registers as restored so far.
    pub fpsimd: Result<UserFpsimdState, BadFrame>,
}

/// restore_sigframe(): sets `regs` from the frame (read whole at
/// [`frame_at_sigreturn`]), PSTATE sanitised, and checks the records.
pub fn restore_frame(regs: &mut UserRegs, frame: &[u8; FRAME_LEN]) -> Restored {
    let rt = RtSigFrame::read_from_bytes(frame).expect("FRAME_LEN bytes");
    let (uc, sc) = (&rt.uc, &rt.uc.mcontext);
    (regs.x, regs.sp, regs.pc, regs.pstate) = (sc.regs, sc.sp, sc.pc, sc.pstate);
    let fpsimd = if regs.valid_user_regs() { parse_records(&sc.reserved) } else { Err(BadFrame::Pstate) };
    let stack = SigStack { sp: uc.stack.sp, flags: uc.stack.flags, size: uc.stack.size };
    Restored { mask: uc.sigmask, stack, fpsimd }
}

/// parse_user_sigframe() and read_fpsimd_context() over `__reserved`, for
/// a CPU whose only records are FP/SIMD's and the (ignored) ESR's.
fn parse_records(reserved: &[u8; 4096]) -> Result<UserFpsimdState, BadFrame> {
    let limit = reserved.len();
    let (mut off, mut fpsimd) = (0, None);
    loop {
        if limit - off < size_of::<CtxHead>() || off & 15 != 0 {
            return Err(BadFrame::Records);
        }
        let (head, _) = CtxHead::read_from_prefix(&reserved[off..]).map_err(|_| BadFrame::Records)?;
        let size = head.size as usize;
        if limit - off < size {
            return Err(BadFrame::Records);
        }
        match head.magic {
            0 if size == 0 => break,
            FPSIMD_MAGIC if fpsimd.is_none() => fpsimd = Some((off, size)),
            ESR_MAGIC => {}
            _ => return Err(BadFrame::Records),
        }
        if size < size_of::<CtxHead>() {
            return Err(BadFrame::Records);
        }
        off += size;
    }
    match fpsimd {
        Some((at, FPSIMD_LEN)) => {
            let c = FpsimdContext::read_from_bytes(&reserved[at..at + FPSIMD_LEN]).map_err(|_| BadFrame::Fpsimd)?;
            Ok(UserFpsimdState { vregs: c.vregs, fpsr: c.fpsr, fpcr: c.fpcr, reserved: [0; 2] })
        }
        _ => Err(BadFrame::Fpsimd),
    }
}

/// arm64_notify_segfault(): what a bad frame raises, at the stack pointer
/// as it stands (restored or not): SIGSEGV, SEGV_MAPERR if no VMA ends
/// above `sp` (find_vma()'s test, not whether one contains it), else
/// SEGV_ACCERR; the fault record is cleared.
pub fn bad_frame_signal(sp: u64, vma_above: bool) -> FaultSignal {
    let code = if vma_above { SEGV_ACCERR } else { SEGV_MAPERR };
    FaultSignal { signo: SIGSEGV, code, addr: sp, record: Some(FaultRecord::default()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Offsets and sizes as aarch64-linux-gnu-gcc computes them from
    // asm/sigcontext.h and asm/ucontext.h (offsetof, sizeof, the magics).
    #[test]
    fn layout_matches_the_uapi_headers() {
        let uc = offset_of!(RtSigFrame, uc);
        assert_eq!((offset_of!(RtSigFrame, info), uc, size_of::<UContext>()), (0, 128, 4560));
        let ucs = [offset_of!(UContext, link), offset_of!(UContext, stack), offset_of!(UContext, sigmask)];
        assert_eq!(ucs, [8, 16, 40]);
        assert_eq!((offset_of!(UContext, unused), offset_of!(UContext, mcontext), size_of::<Stack>()), (48, 176, 24));
        let sc = [offset_of!(SigContext, regs), offset_of!(SigContext, sp), offset_of!(SigContext, pc)];
        assert_eq!(sc, [8, 256, 264]);
        assert_eq!((offset_of!(SigContext, pstate), offset_of!(SigContext, reserved)), (272, 288));
        assert_eq!((size_of::<SigContext>(), offset_of!(RtSigFrame, uc.mcontext.reserved)), (4384, 592));
        assert_eq!((offset_of!(FpsimdContext, fpsr), offset_of!(FpsimdContext, vregs)), (8, 16));
        assert_eq!((FPSIMD_MAGIC, ESR_MAGIC), (1179680769, 1163088385));
        assert_eq!((MINSIGSTKSZ, AT_MINSIGSTKSZ), (5120, 4720));
    }

    #[test]
    fn frames_sit_below_a_frame_record_at_the_stack_or_altstack_top() {
        let p = place(0x7fff_1008, None);
        assert_eq!(p, Placement { frame: 0x7fff_0ff0 - 4688, record: 0x7fff_0ff0 });
        assert_eq!(place(0x7fff_1000, Some(0x5000_0000)).record, 0x4fff_fff0);
    }

    const STACK: SigStack = SigStack { sp: 0x9000, flags: 2, size: 8192 };

    /// A frame for x`i` = 100 + i, NC flags, some FP/SIMD state and
    /// a fault record with syndrome `esr`.
    fn built(esr: u64) -> (UserRegs, UserFpsimdState, Vec<u8>) {
        let mut regs = UserRegs { sp: 0x7fff_1000, pc: 0x40_1234, pstate: pstate::N | pstate::C, ..Default::default() };
        regs.x.iter_mut().enumerate().for_each(|(i, x)| *x = 100 + i as u64);
        let mut fp = UserFpsimdState { fpsr: 0x10, fpcr: 0x0300_0000, ..Default::default() };
        fp.vregs[31] = u128::MAX - 1;
        let fault = FaultRecord { address: 0xdead_0000, esr };
        let info = [7u8; SIGINFO_LEN];
        let spec = FrameSpec { regs: &regs, fpsimd: &fp, fault, mask: 0x55, stack: STACK, siginfo: Some(&info) };
        (regs, fp, build(&spec))
    }

    fn word<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
        b[at..at + N].try_into().unwrap()
    }

    #[test]
    fn a_built_frame_holds_its_records_and_restores_what_it_saved() {
        let (regs, fp, bytes) = built(0x9200_0047);
        assert_eq!(bytes.len(), FRAME_LEN + 16);
        assert_eq!((bytes[0], u64::from_le_bytes(word(&bytes, 128 + 176))), (7, 0xdead_0000));
        // fpsimd_context, then esr_context, then the null terminator.
        assert_eq!(word(&bytes, REC), [0x01, 0x80, 0x50, 0x46, 0x10, 0x02, 0, 0]);
        assert_eq!(word(&bytes, REC + 528), [0x01, 0x52, 0x53, 0x45, 16, 0, 0, 0]);
        assert_eq!(u64::from_le_bytes(word(&bytes, REC + 536)), 0x9200_0047);
        assert_eq!(word::<8>(&bytes, REC + 544), [0; 8]);
        assert_eq!(word::<16>(&bytes, FRAME_LEN), *[129u64, 130].as_bytes());
        // Without a fault record the terminator follows fpsimd_context.
        assert_eq!(word::<8>(&built(0).2, REC + 528), [0; 8]);

        let at = place(regs.sp, None);
        let mut h = regs;
        h.pstate |= pstate::TCO;
        let entry = HandlerEntry { handler: 0x40_2000, restorer: 0x40_3000, siginfo: true, bti: true };
        assert!(enter_handler(&mut h, 11, at, &entry));
        assert_eq!((h.x[0], h.x[1], h.x[2], h.sp), (11, at.frame, at.frame + 128, at.frame));
        assert_eq!((h.x[29], h.x[30], h.pc), (at.record, 0x40_3000, 0x40_2000));
        assert_eq!(h.pstate, pstate::N | pstate::C | pstate::BTYPE_C);
        let mut plain = regs;
        enter_handler(&mut plain, 10, at, &HandlerEntry { siginfo: false, bti: false, ..entry });
        assert_eq!((plain.x[1], plain.x[2], plain.pstate), (101, 102, regs.pstate));

        assert_eq!(frame_at_sigreturn(&h), Some(at.frame));
        let r = restore_frame(&mut h, &word(&bytes, 0));
        assert_eq!(h, UserRegs { orig_x0: h.orig_x0, ..regs });
        assert_eq!(r, Restored { mask: 0x55, stack: STACK, fpsimd: Ok(fp) });
        h.sp += 8;
        assert_eq!(frame_at_sigreturn(&h), None);
    }

    /// Where sigcontext.pstate and the records are in the frame.
    const PSTATE: usize = 576;
    const REC: usize = 592;

    /// Bytes to put at offsets of a frame.
    type Edits<'a> = &'a [(usize, &'a [u8])];

    /// The frame in `bytes` with `edits` made, restored.
    fn restored_with(bytes: &[u8], edits: Edits) -> (UserRegs, Restored) {
        let mut b: [u8; FRAME_LEN] = word(bytes, 0);
        for (at, v) in edits {
            b[*at..at + v.len()].copy_from_slice(v);
        }
        let mut regs = UserRegs::default();
        let r = restore_frame(&mut regs, &b);
        (regs, r)
    }

    #[test]
    fn bad_frames_are_refused_as_parse_user_sigframe_does() {
        let (_, fp, bytes) = built(0x9200_0047);
        let head = |magic: u32, size: u32| [magic.to_le_bytes(), size.to_le_bytes()].concat();
        let cases: [(Edits, BadFrame); 8] = [
            (&[(REC + 528, &head(0x5356_4501, 16))], BadFrame::Records), // SVE: not on this CPU
            (&[(REC + 528, &head(0x4558_5401, 32))], BadFrame::Records), // extra_context
            (&[(REC + 528, &head(FPSIMD_MAGIC, 528))], BadFrame::Records), // a second one
            (&[(REC + 528, &head(ESR_MAGIC, 12))], BadFrame::Records),   // misaligns the next
            (&[(REC + 528, &head(ESR_MAGIC, 4096))], BadFrame::Records), // past the end
            (&[(REC + 544, &head(0, 16))], BadFrame::Records),           // a terminator with a size
            (&[(REC, &head(ESR_MAGIC, 528))], BadFrame::Fpsimd),         // no fpsimd_context
            (&[(REC, &head(FPSIMD_MAGIC, 544)), (REC + 544, &[0; 16])], BadFrame::Fpsimd),
        ];
        for (i, (edits, why)) in cases.into_iter().enumerate() {
            assert_eq!(restored_with(&bytes, edits).1.fpsimd, Err(why), "#{i}");
        }
        // Records in any order; ESR's is ignored; PAN and IL are stripped.
        let pan = (pstate::PAN | 1 << 20 | pstate::Z).to_le_bytes();
        let fp_rec = bytes[REC..REC + 528].to_vec();
        let esr_first = [(REC, &head(ESR_MAGIC, 16)[..]), (REC + 16, &fp_rec[..]), (PSTATE, &pan[..])];
        let (regs, r) = restored_with(&bytes, &esr_first);
        assert_eq!((r.fpsimd, regs.pstate), (Ok(fp), pstate::Z));
        // EL1h in the frame: PSTATE forced to NZCV, and a bad frame.
        let el1 = (5 | pstate::N | pstate::DIT).to_le_bytes();
        let (regs, r) = restored_with(&bytes, &[(PSTATE, &el1[..])]);
        assert_eq!((r.fpsimd, regs.pstate, r.mask), (Err(BadFrame::Pstate), pstate::N, 0x55));
        let s = bad_frame_signal(regs.sp, false);
        assert_eq!((s.signo, s.code, s.addr, s.record), (11, 1, regs.sp, Some(FaultRecord::default())));
    }
}
