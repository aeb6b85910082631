//! x86-64's signal frame, the format half of Linux's
//! `arch/x86/kernel/signal.c`, `signal_64.c` and `fpu/signal.c`
//! (`uapi/asm/sigcontext.h`, `uapi/asm/ucontext.h`): the rt_sigframe a
//! handler runs on (sa_restorer's address, then the ucontext with the
//! interrupted registers, then the siginfo), the XSAVE image saved below
//! it, the registers a handler starts with, and what rt_sigreturn takes
//! back from a frame.
//!
//! The policy is the kernel's (`kernel::sigframe`): whether a handler
//! runs, on which stack, the masks, the alternate stack, what a frame that
//! cannot be written or read comes to. This module only knows the bytes
//! and registers; siginfo and stack_t are the kernel's types, so they
//! cross here as bytes and plain fields.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::fpu::{FpuConfig, FpuRegion, FpuState};
use super::regs::UserRegs;
use super::tables::{USER_CS, USER_DS};
use super::trap::{PfError, GP, PF};
use super::xsave::{FpxSwBytes, FxRegs, XregsStart, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};
use crate::arch::sigframe::{BadFrame, Delivery, FpuFrom, Frame, Returned, SigStack};
use crate::arch::signal::SI_KERNEL;
use crate::arch::trap::Trap;

/// struct sigcontext (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct SigContext {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rax: u64,
    rcx: u64,
    rsp: u64,
    rip: u64,
    eflags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved: [u64; 8],
}
const _: () = assert!(size_of::<SigContext>() == 256);

/// stack_t, as the ucontext holds it.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Stack {
    sp: u64,
    flags: i32,
    pad: u32,
    size: u64,
}
const _: () = assert!(size_of::<Stack>() == 24);

/// The kernel's struct ucontext (its sigset is 8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct UContext {
    flags: u64,
    link: u64,
    stack: Stack,
    mcontext: SigContext,
    sigmask: u64,
}
const _: () = assert!(size_of::<UContext>() == 304);

/// struct rt_sigframe; the XSAVE image lies above it.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: [u8; SIGINFO_LEN],
}
const _: () = assert!(size_of::<RtSigFrame>() == 440);

/// The size of siginfo_t, as the frame holds it.
pub const SIGINFO_LEN: usize = 128;

const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
/// Offset of the software-reserved bytes in the FXSAVE area.
const SW_RESERVED: usize = std::mem::offset_of!(FxRegs, sw_reserved);
/// Flags sigreturn may restore (FIX_EFLAGS: AC, OF, DF, TF, SF, ZF, AF,
/// PF, CF, RF).
const FIX_EFLAGS: u64 = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
const TF: u64 = 0x100;
const DF: u64 = 0x400;
const RF: u64 = 0x10000;
/// The red zone below the interrupted stack pointer, which a frame on the
/// same stack leaves untouched.
const RED_ZONE: u64 = 128;

/// The fault record a handler's sigcontext shows: the trap's error code
/// and vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRecord {
    pub error: u64,
    pub trapno: u64,
}

/// setup_rt_frame() for x86-64: the rt_sigframe below the XSAVE image,
/// and the handler's registers and (cleared) FPU state. `None` without
/// SA_RESTORER: x86-64 returns from a handler only through sa_restorer
/// (x64_setup_rt_frame's -EFAULT).
pub fn setup(d: &Delivery) -> Option<Frame> {
    let restorer = d.restorer?;
    let xsize = d.fpu_cfg.xstate_size;
    let at = place(d.sp, d.altstack_top, xsize);
    let bytes = build(&FrameSpec {
        regs: d.regs,
        fault: Fault { error: d.fault.error, trapno: d.fault.trapno, addr: d.addr },
        mask: d.mask,
        stack: d.stack,
        siginfo: d.siginfo,
        restorer,
        fpstate: d.fpu.map(|_| at.fpstate),
    });
    let mut writes = vec![(at.frame, bytes)];
    if let Some(x) = d.fpu {
        writes.push((at.fpstate, xstate_image(x.region(), xsize, d.fpu_cfg.xcr0)));
    }
    let mut regs = *d.regs;
    enter_handler(&mut regs, d.sig, at.frame, d.handler);
    Some(Frame { writes, regs, fpu: Some(FpuState::from_region(&initial_fpu())) })
}

/// Where rt_sigreturn reads the frame: its ucontext, and how many bytes
/// ([`restore`] takes them). Always somewhere on x86-64.
pub fn sigreturn_frame(regs: &UserRegs) -> Option<(u64, usize)> {
    Some((ucontext_at(frame_at_sigreturn(regs)), UCONTEXT_LEN))
}

/// restore_sigcontext(): the registers from the ucontext `uc` (read at
/// [`sigreturn_frame`]), and where the XSAVE image is.
pub fn restore(regs: &mut UserRegs, uc: &[u8], cfg: &FpuConfig) -> Returned {
    let uc: &[u8; UCONTEXT_LEN] = uc.try_into().expect("UCONTEXT_LEN bytes");
    let r = restore_uc(regs, uc);
    let fpu = match r.fpstate {
        Some(addr) => FpuFrom::At { addr, len: xstate_len(cfg.xstate_size) },
        None => FpuFrom::Unchanged,
    };
    Returned { mask: r.mask, stack: r.stack, fpu, resumable: r.resumable }
}

/// The FPU state in an image read at [`FpuFrom::At`], or `None` where
/// XRSTOR would fault.
pub fn parse_fpu(bytes: &[u8], cfg: &FpuConfig) -> Option<FpuState> {
    parse_xstate(bytes, cfg.xstate_size, cfg.xcr0).map(|r| FpuState::from_region(&r))
}

/// What a sigreturn that cannot go on raises: SIGSEGV from the kernel
/// with the record of a #GP, for a frame it cannot take (signal_fault) as
/// for the return's IRET to a bad CS (bad_iret).
pub fn sigreturn_fault(_sp: u64, _vma_above: bool) -> BadFrame {
    let trap = Trap::Exception(GP);
    BadFrame { code: SI_KERNEL, addr: 0, record: fault_record(&trap), trap }
}

/// What a fault trap leaves for a handler's sigcontext: the error code
/// (a user-mode one) and the vector.
pub fn fault_record(trap: &Trap) -> FaultRecord {
    match *trap {
        Trap::PageFault { error, .. } => FaultRecord { error: error.0 | PfError::USER, trapno: u64::from(PF) },
        Trap::Exception(v) => FaultRecord { error: 0, trapno: v as u64 },
        _ => FaultRecord::default(),
    }
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The rt_sigframe: the handler's stack pointer.
    pub frame: u64,
    /// The XSAVE image, above the frame (64-byte aligned; its room is kept
    /// whether or not the FPU state is saved).
    pub fpstate: u64,
}

/// get_sigframe(): the frame's place below `sp`, the interrupted stack
/// pointer (past the red zone), or below `altstack_top` when the handler
/// runs on the alternate stack; `xsize` is the XSAVE image's size.
pub fn place(sp: u64, altstack_top: Option<u64>, xsize: u32) -> Placement {
    let sp = match altstack_top {
        Some(top) => top,
        None => sp.wrapping_sub(RED_ZONE),
    };
    let fpstate = sp.wrapping_sub(xstate_len(xsize) as u64) & !63;
    let frame_size = size_of::<RtSigFrame>() as u64;
    // On entry the handler's stack is as after a call: 8 bytes off a
    // 16-byte boundary.
    let frame = ((fpstate.wrapping_sub(frame_size) + 8) & !15).wrapping_sub(8);
    Placement { frame, fpstate }
}

/// The fault a signal reports, for the sigcontext: the trap's error code
/// and vector ([`trap_details`]) and the faulting address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    pub error: u64,
    pub trapno: u64,
    /// si_addr: the sigcontext's CR2 for a page fault.
    pub addr: u64,
}

/// Everything a frame holds.
pub struct FrameSpec<'a> {
    /// The interrupted registers.
    pub regs: &'a UserRegs,
    pub fault: Fault,
    /// The mask to restore at sigreturn.
    pub mask: u64,
    /// The alternate stack as the handler is shown it.
    pub stack: SigStack,
    /// siginfo_t, as the kernel fills it.
    pub siginfo: &'a [u8; SIGINFO_LEN],
    /// sa_restorer: where the handler returns.
    pub restorer: u64,
    /// Where the XSAVE image is written, if the FPU state is saved.
    pub fpstate: Option<u64>,
}

/// The rt_sigframe's bytes, to write at [`Placement::frame`].
pub fn build(spec: &FrameSpec) -> Vec<u8> {
    let (regs, fault) = (spec.regs, spec.fault);
    let sc = SigContext {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp: regs.rsp,
        rip: regs.rip,
        eflags: regs.rflags,
        cs: USER_CS,
        ss: USER_DS,
        err: fault.error,
        trapno: fault.trapno,
        oldmask: spec.mask,
        cr2: if fault.trapno == u64::from(PF) { fault.addr } else { 0 },
        fpstate: spec.fpstate.unwrap_or(0),
        ..Default::default()
    };
    let uc = UContext {
        flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        link: 0,
        stack: Stack { sp: spec.stack.sp, flags: spec.stack.flags, pad: 0, size: spec.stack.size },
        mcontext: sc,
        sigmask: spec.mask,
    };
    let rt = RtSigFrame { pretcode: spec.restorer, uc, info: *spec.siginfo };
    rt.as_bytes().to_vec()
}

/// The bytes an XSAVE image of `xsize` bytes takes in a frame (with
/// FP_XSTATE_MAGIC2 after it).
pub fn xstate_len(xsize: u32) -> usize {
    xsize as usize + 4
}

/// The FPU state as a frame holds it: the first `xsize` bytes of `region`
/// with the software bytes that say an XSAVE image of the features `xcr0`
/// follows, and FP_XSTATE_MAGIC2 after it ([`xstate_len`] bytes).
pub fn xstate_image(region: &FpuRegion, xsize: u32, xcr0: u64) -> Vec<u8> {
    let mut bytes = region.as_bytes()[..xsize as usize].to_vec();
    let sw = FpxSwBytes {
        magic1: FP_XSTATE_MAGIC1,
        extended_size: xsize + 4,
        xfeatures: xcr0,
        xstate_size: xsize,
        padding: [0; 7],
    };
    bytes[SW_RESERVED..SW_RESERVED + size_of::<FpxSwBytes>()].copy_from_slice(sw.as_bytes());
    // XSAVE writes only the states XCR0 enables; KVM's image may hold
    // more (PVM leaves the host's XCR0, with PKRU, in force).
    if let Some(bv) = bytes.get_mut(512..520) {
        let masked = u64::from_le_bytes(bv.try_into().expect("8 bytes")) & xcr0;
        bv.copy_from_slice(&masked.to_le_bytes());
    }
    bytes.extend_from_slice(FP_XSTATE_MAGIC2.as_bytes());
    bytes
}

/// The FPU state in `bytes` (the [`xstate_len`] bytes at a frame's
/// fpstate) as XRSTOR would take it, or `None` where XRSTOR faults (#GP):
/// reserved MXCSR bits, features outside `xcr0` or a compacted-format
/// header. Without the magic words only the legacy area is taken, the rest
/// in its initial state.
pub fn parse_xstate(bytes: &[u8], xsize: u32, xcr0: u64) -> Option<FpuRegion> {
    let xsize = xsize as usize;
    let (i387, _) = FxRegs::read_from_prefix(bytes).ok()?;
    let mask = match i387.mxcsr_mask {
        0 => 0xffbf,
        m => m,
    };
    if i387.mxcsr & !mask != 0 {
        return None;
    }
    let magic2 = u32::read_from_bytes(bytes.get(xsize..xsize + 4)?).ok()?;
    let full = i387.sw_reserved.magic1 == FP_XSTATE_MAGIC1 && magic2 == FP_XSTATE_MAGIC2 && xsize > 576;
    if full {
        let (XregsStart { header: h, .. }, _) = XregsStart::read_from_prefix(bytes).ok()?;
        if h.xfeatures & !xcr0 != 0 || h.xcomp_bv != 0 || h.reserved[0] != 0 {
            return None;
        }
    }
    let n = if full { xsize.min(4096) } else { 512 };
    let mut region: FpuRegion = [0; 1024];
    region.as_mut_bytes()[..n].copy_from_slice(&bytes[..n]);
    if n == 512 {
        // Only the legacy area: the rest in its initial state.
        region[128] = 3;
    }
    region.as_mut_bytes()[SW_RESERVED..512].fill(0);
    Some(region)
}

/// The state a handler starts with: x87 and SSE in their initial state
/// (Linux clears the FPU for it).
pub fn initial_fpu() -> FpuRegion {
    let mut region: FpuRegion = [0; 1024];
    region[0] = 0x37f; // FCW
    region[6] = 0x1f80; // MXCSR
    region[7] = 0xffff; // MXCSR_MASK
    region[128] = 3; // XSTATE_BV: x87 | SSE
    region
}

/// Points the registers at `handler` for signal `sig` with its frame at
/// `frame`: the arguments (the signal, the frame's siginfo and ucontext),
/// the stack, and flags without TF, DF and RF.
pub fn enter_handler(regs: &mut UserRegs, sig: i32, frame: u64, handler: u64) {
    regs.rdi = sig as u64;
    regs.rsi = frame + std::mem::offset_of!(RtSigFrame, info) as u64;
    regs.rdx = frame + std::mem::offset_of!(RtSigFrame, uc) as u64;
    regs.rax = 0;
    regs.rsp = frame;
    regs.rip = handler;
    regs.rflags &= !(TF | DF | RF);
    regs.compat = false;
}

/// Where the frame is at rt_sigreturn: the handler's `ret` popped
/// pretcode, so 8 bytes below the stack pointer.
pub fn frame_at_sigreturn(regs: &UserRegs) -> u64 {
    regs.rsp.wrapping_sub(8)
}

/// The part of a frame rt_sigreturn reads: the ucontext, at this address
/// in the frame at `frame`, [`UCONTEXT_LEN`] bytes.
pub fn ucontext_at(frame: u64) -> u64 {
    frame + std::mem::offset_of!(RtSigFrame, uc) as u64
}

/// The size of the ucontext rt_sigreturn reads.
pub const UCONTEXT_LEN: usize = size_of::<UContext>();

/// What a frame's ucontext gives back beside the registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Restored {
    /// The signal mask saved in the frame.
    pub mask: u64,
    /// The alternate stack saved in the frame.
    pub stack: SigStack,
    /// Where the XSAVE image is, if the frame saved one.
    pub fpstate: Option<u64>,
    /// Whether the return to user mode can resume the restored registers:
    /// the saved CS, forced to CPL 3, must be the 64-bit user code segment.
    /// Anything else (the kernel's, a 32-bit one: no IA32 emulation here)
    /// makes the return's IRET fault, which Linux turns into SIGSEGV
    /// (bad_iret; see [`SIGRETURN_TRAP`]).
    pub resumable: bool,
}

/// restore_sigcontext()'s registers: sets `regs` from the ucontext `uc`
/// (as read at [`ucontext_at`]); only the flags in FIX_EFLAGS come from
/// the frame.
fn restore_uc(regs: &mut UserRegs, uc: &[u8; UCONTEXT_LEN]) -> Restored {
    let uc = UContext::read_from_bytes(uc).expect("UCONTEXT_LEN bytes");
    let sc = uc.mcontext;
    regs.r8 = sc.r8;
    regs.r9 = sc.r9;
    regs.r10 = sc.r10;
    regs.r11 = sc.r11;
    regs.r12 = sc.r12;
    regs.r13 = sc.r13;
    regs.r14 = sc.r14;
    regs.r15 = sc.r15;
    regs.rdi = sc.rdi;
    regs.rsi = sc.rsi;
    regs.rbp = sc.rbp;
    regs.rbx = sc.rbx;
    regs.rdx = sc.rdx;
    regs.rax = sc.rax;
    regs.rcx = sc.rcx;
    regs.rsp = sc.rsp;
    regs.rip = sc.rip;
    regs.rflags = (regs.rflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS);
    regs.compat = false;
    Restored {
        mask: uc.sigmask,
        stack: SigStack { sp: uc.stack.sp, flags: uc.stack.flags, size: uc.stack.size },
        fpstate: (sc.fpstate != 0).then_some(sc.fpstate),
        resumable: sc.cs | 3 == USER_CS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_sit_below_the_red_zone_or_at_the_altstack_top() {
        // 512 + 4 bytes of image, 64-aligned, then 440 bytes of frame with
        // the handler's stack 8 off a 16-byte boundary.
        let p = place(0x7fff_1000, None, 512);
        assert_eq!(p.fpstate, (0x7fff_1000 - 128 - 516) & !63);
        assert_eq!(p.frame % 16, 8);
        assert!(p.frame + 440 <= p.fpstate);
        assert!(p.fpstate - (p.frame + 440) < 16);
        let q = place(0x7fff_1000, Some(0x5000_0000), 512);
        assert_eq!(q.fpstate, (0x5000_0000 - 516) & !63);
    }

    #[test]
    fn a_built_frame_restores_what_it_saved() {
        let regs = UserRegs { rax: 1, rbx: 2, rsp: 0x7000, rip: 0x401000, rflags: 0x246 | TF, ..Default::default() };
        let info = [7u8; SIGINFO_LEN];
        let stack = SigStack { sp: 0x9000, flags: 2, size: 8192 };
        let fault = Fault { error: 6, trapno: u64::from(PF), addr: 0xdead };
        let spec = FrameSpec {
            regs: &regs,
            fault,
            mask: 0x55,
            stack,
            siginfo: &info,
            restorer: 0x4000,
            fpstate: Some(0x6000),
        };
        let bytes = build(&spec);
        assert_eq!(bytes.len(), size_of::<RtSigFrame>());
        assert_eq!(&bytes[..8], &0x4000u64.to_le_bytes());
        let sc = SigContext::read_from_bytes(&bytes[48..48 + 256]).unwrap();
        assert_eq!((sc.cr2, sc.err, sc.trapno, sc.cs, sc.ss), (0xdead, 6, 14, USER_CS, USER_DS));

        let mut h = regs;
        enter_handler(&mut h, 11, 0x5008, 0x402000);
        assert_eq!((h.rdi, h.rsi, h.rdx, h.rax), (11, 0x5008 + 312, 0x5008 + 8, 0));
        assert_eq!((h.rsp, h.rip, h.rflags), (0x5008, 0x402000, 0x246));

        h.rsp += 8; // the handler's `ret`
        let frame = frame_at_sigreturn(&h);
        assert_eq!(frame, 0x5008);
        let at = (ucontext_at(frame) - frame) as usize;
        let uc: [u8; UCONTEXT_LEN] = bytes[at..at + UCONTEXT_LEN].try_into().unwrap();
        let r = restore_uc(&mut h, &uc);
        assert_eq!(h, regs);
        assert_eq!(r, Restored { mask: 0x55, stack, fpstate: Some(0x6000), resumable: true });

        // Only FIX_EFLAGS come from the frame; a kernel CS cannot resume.
        let sc_at = std::mem::offset_of!(UContext, mcontext);
        let mut bad = uc;
        let eflags = sc_at + std::mem::offset_of!(SigContext, eflags);
        bad[eflags..eflags + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let cs = sc_at + std::mem::offset_of!(SigContext, cs);
        bad[cs..cs + 2].copy_from_slice(&0x10u16.to_le_bytes());
        let r = restore_uc(&mut h, &bad);
        assert_eq!(h.rflags, 0x202 | FIX_EFLAGS);
        assert!(!r.resumable);
    }

    #[test]
    fn xsave_images_round_trip_and_bad_ones_fault() {
        let mut region = initial_fpu();
        region[40] = 0x1234; // an XMM register
        region[128] = 7; // XSTATE_BV: x87 | SSE | AVX
        let image = xstate_image(&region, 832, 7);
        assert_eq!(image.len(), xstate_len(832));
        assert_eq!(parse_xstate(&image, 832, 7), Some(region));
        // A feature outside XCR0.
        assert_eq!(parse_xstate(&image, 832, 3), None);
        // A reserved MXCSR bit.
        let mut bad = image.clone();
        bad[24..28].copy_from_slice(&0x1_0000u32.to_le_bytes());
        assert_eq!(parse_xstate(&bad, 832, 7), None);
        // Without the magic words: the legacy area only.
        let mut legacy = image;
        legacy[832..836].fill(0);
        let got = parse_xstate(&legacy, 832, 7).unwrap();
        assert_eq!(got[..128], region[..128]);
        assert_eq!(got[128], 3);
        assert_eq!(got[129..], [0; 1024 - 129]);
    }

    #[test]
    fn a_frame_holds_only_the_states_xcr0_enables() {
        // KVM's image with PKRU (bit 9), which faultline's XCR0 leaves out.
        let mut region = initial_fpu();
        region[128] = 0x207;
        let image = xstate_image(&region, 832, 7);
        assert_eq!(image[512..520], 7u64.to_le_bytes());
        let mut want = region;
        want[128] = 7;
        assert_eq!(parse_xstate(&image, 832, 7), Some(want));
    }
}
