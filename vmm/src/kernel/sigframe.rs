//! Running a signal handler: the x86-64 rt_sigframe Linux builds on the
//! user stack (or the alternate stack), with the interrupted registers,
//! signal mask and FPU/XSAVE state, and rt_sigreturn, which restores them.
//! Also the restart of a syscall a signal interrupted (SA_RESTART).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::errno::{SysResult, EINTR, ERESTARTNOHAND, ERESTARTSYS, ERESTART_RESTARTBLOCK};
use super::signal::SigAction;
use super::signal::{self, SigInfo, SigInfoRaw, StackT, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE};
use super::task::Ctx;
use super::thread::AltStack;
use super::Next;
use crate::arch::trap::{PfError, Trap};
use crate::arch::xsave::{FpxSwBytes, FxRegs, XregsStart, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};
use crate::arch::UserRegs;

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

/// The kernel's struct ucontext (its sigset is 8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct UContext {
    flags: u64,
    link: u64,
    stack: StackT,
    mcontext: SigContext,
    sigmask: u64,
}

// What the kernel's record of a signal shows the program.
impl SigInfoRaw {
    /// siginfo as Linux fills it for this signal and code.
    pub(crate) fn from(i: &SigInfo) -> Self {
        let mut f = [0u64; 14];
        let pid_uid = (i.pid as u64) | ((i.uid as u64) << 32);
        match i.signo {
            signal::SIGSEGV | signal::SIGBUS | signal::SIGILL | signal::SIGFPE | signal::SIGTRAP if i.code > 0 => {
                f[0] = i.addr;
            }
            signal::SIGCHLD if i.code > 0 => {
                f[0] = pid_uid;
                f[1] = i.status as u32 as u64;
            }
            // siginfo_layout()'s SIL_POLL: any other signal with a POLL_
            // code (SIGIO, or the signal F_SETSIG chose).
            _ if (1..=super::abi::signal::NSIGPOLL).contains(&i.code) => {
                f[0] = i.band;
                f[1] = i.fd as u32 as u64;
            }
            _ => {
                f[0] = pid_uid;
                f[1] = i.value;
            }
        }
        SigInfoRaw { signo: i.signo, errno: i.errno, code: i.code, pad: 0, fields: f }
    }
}

#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: SigInfoRaw,
}

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

/// The state a handler starts with: x87 and SSE in their initial state
/// (Linux clears the FPU for it).
fn initial_fpu() -> crate::hv::FpuState {
    let mut x = crate::hv::FpuState::default();
    x.region[0] = 0x37f; // FCW
    x.region[6] = 0x1f80; // MXCSR
    x.region[7] = 0xffff; // MXCSR_MASK
    x.region[128] = 3; // XSTATE_BV: x87 | SSE
    x
}

/// What a signal frame's stack_t says of the alternate stack, seen from
/// `sp`.
fn stack_flags(alt: &AltStack, sp: u64) -> i32 {
    let base = if alt.flags & SS_DISABLE != 0 {
        SS_DISABLE
    } else if alt.contains(sp) {
        SS_ONSTACK
    } else {
        0
    };
    (base | (alt.flags & SS_AUTODISARM)) as i32
}

/// What delivering a signal to its handler came to.
pub(crate) enum Delivery {
    /// The handler runs: what the vCPU does next.
    Handler(Next),
    /// No frame could be set up: SIGSEGV was forced (force_sigsegv); the
    /// way out goes back, to deliver that.
    NoFrame(Next),
}

/// Delivers `info` to its handler: builds the frame, points the thread at
/// the handler.
pub(crate) fn deliver(ctx: &mut Ctx, info: SigInfo, next: Next) -> Delivery {
    let sig = info.signo;
    let act = ctx.proc().sig.get(sig);
    let Next::Return { tls, fpu } = next else { return Delivery::Handler(next) };
    // SA_ONESHOT: get_signal() puts the handler back to SIG_DFL as it
    // takes the signal, before the frame is built; the flags (SA_SIGINFO
    // among them) stay.
    if act.flags & signal::SA_RESETHAND != 0 {
        let reset = SigAction { handler: signal::SIG_DFL, ..act };
        ctx.proc_mut().sig.set(sig, reset);
    }
    end_interrupted_syscall(ctx, &act);
    // x86-64 always returns through sa_restorer: without one the frame
    // is as unwritable as on a bad stack (x64_setup_rt_frame's -EFAULT).
    if act.flags & signal::SA_RESTORER == 0 {
        force_sigsegv(ctx, sig);
        return Delivery::NoFrame(Next::Return { tls, fpu });
    }
    let saved_fpu = match fpu {
        Some(f) => Some(f),
        None => ctx.vcpu.and_then(|v| v.fpu().ok()),
    };
    let xsize = ctx.k.cfg.xstate_size as u64;
    let t = ctx.thread();
    let alt = t.altstack;
    let old_mask = t.saved_mask.unwrap_or(t.sigmask);
    let regs = *ctx.regs;
    let mut sp = regs.rsp;
    if act.flags & signal::SA_ONSTACK != 0 && alt.flags & SS_DISABLE == 0 && !alt.contains(sp) {
        sp = alt.sp.wrapping_add(alt.size);
    } else {
        // The red zone below the interrupted stack stays untouched.
        sp = sp.wrapping_sub(128);
    }
    let fp = sp.wrapping_sub(xsize + 4) & !63;
    let frame_size = std::mem::size_of::<RtSigFrame>() as u64;
    let frame = ((fp.wrapping_sub(frame_size) + 8) & !15).wrapping_sub(8);
    let sc = SigContext {
        oldmask: old_mask,
        fpstate: if saved_fpu.is_some() { fp } else { 0 },
        ..sigcontext(ctx, &regs, &info)
    };
    let uc = UContext {
        flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        link: 0,
        stack: StackT { sp: alt.sp, flags: stack_flags(&alt, regs.rsp), pad: 0, size: alt.size },
        mcontext: sc,
        sigmask: old_mask,
    };
    let rt = RtSigFrame { pretcode: act.restorer, uc, info: SigInfoRaw::from(&info) };
    let mut ok = ctx.write_struct(frame, &rt).is_ok();
    if let (true, Some(x)) = (ok, &saved_fpu) {
        ok = write_xstate(ctx, fp, x);
    }
    if !ok {
        // The frame cannot be written (a stack overflow, an alternate
        // stack that is read-only or unmapped).
        force_sigsegv(ctx, sig);
        return Delivery::NoFrame(Next::Return { tls, fpu: saved_fpu });
    }
    enter_handler(ctx, sig, &act, frame, &alt);
    Delivery::Handler(Next::Return { tls, fpu: Some(initial_fpu()) })
}

/// force_sigsegv(): no frame could be set up for `sig`, so SIGSEGV is
/// forced on the thread (SI_KERNEL). It goes to the SIGSEGV handler if
/// there is one, unless `sig` was SIGSEGV itself or SIGSEGV is blocked or
/// ignored: then SIGSEGV is put back to SIG_DFL and unblocked
/// (force_sig_info_to_task), and the process dies of it.
fn force_sigsegv(ctx: &mut Ctx, sig: i32) {
    let segv = signal::SIGSEGV;
    let act = ctx.proc().sig.get(segv);
    let blocked = ctx.thread().sigmask & signal::bit(segv) != 0;
    if sig == segv || blocked || act.handler == signal::SIG_IGN {
        let dfl = SigAction { handler: signal::SIG_DFL, ..act };
        ctx.proc_mut().sig.set(segv, dfl);
        ctx.thread_mut().sigmask &= !signal::bit(segv);
    }
    ctx.thread_mut().pending.add(SigInfo::kernel(segv));
}

/// A syscall a signal interrupted (only a syscall: a fault's RAX is the
/// program's own): restarted after the handler under SA_RESTART if it may
/// be, EINTR otherwise. sigreturn's RAX is the frame's.
fn end_interrupted_syscall(ctx: &mut Ctx, act: &SigAction) {
    if ctx.syscall_nr.is_none() || ctx.keep_regs {
        return;
    }
    let rax = ctx.regs.rax as i64;
    if rax == ERESTARTSYS.ret() && act.flags & signal::SA_RESTART != 0 {
        restart(ctx);
    } else if rax == ERESTARTSYS.ret() || rax == ERESTARTNOHAND.ret() || rax == ERESTART_RESTARTBLOCK.ret() {
        ctx.regs.rax = EINTR.ret() as u64;
        // Nothing for a later restart_syscall to continue.
        ctx.thread_mut().restart_block = None;
    }
}

/// The interrupted registers as the frame's sigcontext holds them, with a
/// page fault's error code and address (SIGSEGV or SIGBUS), as the
/// thread's trap state has them.
fn sigcontext(ctx: &Ctx, regs: &UserRegs, info: &SigInfo) -> SigContext {
    SigContext {
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
        cs: crate::arch::tables::USER_CS,
        ss: crate::arch::tables::USER_DS,
        err: ctx.fault_error,
        trapno: ctx.fault_trapno,
        cr2: if ctx.fault_trapno == u64::from(crate::arch::trap::PF) { info.addr } else { 0 },
        ..Default::default()
    }
}

/// Writes the FPU state at `fp` as an XSAVE image with the software bytes
/// that say so and FP_XSTATE_MAGIC2 after it; false if it cannot.
fn write_xstate(ctx: &mut Ctx, fp: u64, x: &crate::hv::FpuState) -> bool {
    let xsize = ctx.k.cfg.xstate_size;
    let mut bytes = x.region.as_bytes()[..xsize as usize].to_vec();
    let sw = FpxSwBytes {
        magic1: FP_XSTATE_MAGIC1,
        extended_size: xsize + 4,
        xfeatures: ctx.k.cfg.xcr0,
        xstate_size: xsize,
        padding: [0; 7],
    };
    bytes[SW_RESERVED..SW_RESERVED + size_of::<FpxSwBytes>()].copy_from_slice(sw.as_bytes());
    bytes.extend_from_slice(FP_XSTATE_MAGIC2.as_bytes());
    ctx.write_user(fp, &bytes).is_ok()
}

/// Points the thread at the handler: its mask (the action's, and the
/// signal unless SA_NODEFER), its arguments (the signal, the frame's
/// siginfo and ucontext) and a fresh stack frame; SS_AUTODISARM takes
/// effect.
fn enter_handler(ctx: &mut Ctx, sig: i32, act: &SigAction, frame: u64, alt: &AltStack) {
    let t = ctx.thread_mut();
    t.saved_mask = None;
    if alt.flags & SS_AUTODISARM != 0 {
        t.altstack = AltStack::default();
    }
    let mut mask = t.sigmask | act.mask;
    if act.flags & signal::SA_NODEFER == 0 {
        mask |= signal::bit(sig);
    }
    t.sigmask = mask & !UNBLOCKABLE;
    let r = &mut *ctx.regs;
    r.rdi = sig as u64;
    r.rsi = frame + std::mem::offset_of!(RtSigFrame, info) as u64;
    r.rdx = frame + std::mem::offset_of!(RtSigFrame, uc) as u64;
    r.rax = 0;
    r.rsp = frame;
    r.rip = act.handler;
    r.rflags &= !(TF | DF | RF);
    r.compat = false;
}

/// Makes the interrupted syscall run again when the thread resumes.
pub(crate) fn restart(ctx: &mut Ctx) {
    if let Some(nr) = ctx.syscall_nr {
        restart_with(ctx, nr);
    }
}

/// Backs the thread up onto its `syscall` instruction, to make call `nr`.
pub(crate) fn restart_with(ctx: &mut Ctx, nr: u64) {
    ctx.regs.rax = nr;
    ctx.regs.rip = ctx.regs.rip.wrapping_sub(2);
}

/// rt_sigreturn(2): back to where the signal interrupted, registers, mask,
/// alternate stack and FPU state as the frame holds them.
pub(crate) fn rt_sigreturn(ctx: &mut Ctx) -> SysResult {
    // The handler's `ret` popped pretcode: the frame is 8 bytes below.
    let frame = ctx.regs.rsp.wrapping_sub(8);
    let uc_at = frame + std::mem::offset_of!(RtSigFrame, uc) as u64;
    let uc: UContext = match ctx.read_struct(uc_at) {
        Ok(u) => u,
        Err(_) => return bad_frame(ctx, frame),
    };
    let sc = uc.mcontext;
    // As rt_sigreturn: the mask, then restore_sigcontext() (the registers,
    // then the FPU state: a bad FPU image is a bad frame with the
    // registers already restored), then the alternate stack.
    ctx.thread_mut().sigmask = uc.sigmask & !UNBLOCKABLE;
    let r = &mut *ctx.regs;
    r.r8 = sc.r8;
    r.r9 = sc.r9;
    r.r10 = sc.r10;
    r.r11 = sc.r11;
    r.r12 = sc.r12;
    r.r13 = sc.r13;
    r.r14 = sc.r14;
    r.r15 = sc.r15;
    r.rdi = sc.rdi;
    r.rsi = sc.rsi;
    r.rbp = sc.rbp;
    r.rbx = sc.rbx;
    r.rdx = sc.rdx;
    r.rax = sc.rax;
    r.rcx = sc.rcx;
    r.rsp = sc.rsp;
    r.rip = sc.rip;
    r.rflags = (r.rflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS);
    r.compat = false;
    ctx.keep_regs = true;
    if sc.fpstate != 0 {
        match read_fpstate(ctx, sc.fpstate) {
            Some(x) if ctx.vcpu.is_some_and(|v| v.set_fpu(&x).is_ok()) => ctx.fpu = Some(x),
            _ => return bad_frame(ctx, frame),
        }
    }
    let t = ctx.thread_mut();
    // restore_altstack(): as sigaltstack() with the saved stack_t; an
    // error here is ignored, as Linux does.
    let flags = uc.stack.flags as u32;
    if !t.altstack.contains(sc.rsp) {
        if flags & SS_DISABLE != 0 {
            t.altstack = AltStack::default();
        } else if uc.stack.size >= 2048 {
            t.altstack = AltStack { sp: uc.stack.sp, flags: flags & SS_AUTODISARM, size: uc.stack.size };
        }
    }
    // CS is forced to CPL 3; anything but the 64-bit user code segment
    // (the kernel's, a 32-bit one: no IA32 emulation here) makes the
    // return's IRET fault, which Linux turns into SIGSEGV (bad_iret).
    if sc.cs | 3 != crate::arch::tables::USER_CS {
        ctx.force_signal(SigInfo::kernel(signal::SIGSEGV), Trap::Exception(crate::arch::trap::GP));
    }
    Ok(0)
}

/// The FPU image at `at` as XRSTOR would take it, or `None` where XRSTOR
/// faults (#GP): reserved MXCSR bits, features outside XCR0 or a
/// compacted-format header.
fn read_fpstate(ctx: &mut Ctx, at: u64) -> Option<crate::hv::FpuState> {
    let xsize = ctx.k.cfg.xstate_size as usize;
    let mut bytes = vec![0u8; xsize + 4];
    ctx.read_user(at, &mut bytes).ok()?;
    let (i387, _) = FxRegs::read_from_prefix(&bytes).ok()?;
    let mask = match i387.mxcsr_mask {
        0 => 0xffbf,
        m => m,
    };
    if i387.mxcsr & !mask != 0 {
        return None;
    }
    let magic2 = u32::read_from_bytes(&bytes[xsize..xsize + 4]).ok()?;
    let full = i387.sw_reserved.magic1 == FP_XSTATE_MAGIC1 && magic2 == FP_XSTATE_MAGIC2 && xsize > 576;
    if full {
        let (XregsStart { header: h, .. }, _) = XregsStart::read_from_prefix(&bytes).ok()?;
        if h.xfeatures & !ctx.k.cfg.xcr0 != 0 || h.xcomp_bv != 0 || h.reserved[0] != 0 {
            return None;
        }
    }
    let n = if full { xsize.min(4096) } else { 512 };
    let mut x = crate::hv::FpuState::default();
    x.region.as_mut_bytes()[..n].copy_from_slice(&bytes[..n]);
    if n == 512 {
        // Only the legacy area: the rest in its initial state.
        x.region[128] = 3;
    }
    x.region.as_mut_bytes()[SW_RESERVED..512].fill(0);
    Some(x)
}

/// signal_fault(): a frame rt_sigreturn cannot take is SIGSEGV, which a
/// handler may catch (if it cannot run either, the process dies).
fn bad_frame(ctx: &mut Ctx, frame: u64) -> SysResult {
    ctx.keep_regs = true;
    let _ = frame;
    ctx.force_signal(SigInfo::kernel(signal::SIGSEGV), Trap::Exception(crate::arch::trap::GP));
    Ok(0)
}

/// What a fault trap says for a handler's sigcontext (error code, vector).
pub(crate) fn trap_details(trap: Trap) -> (u64, u64) {
    match trap {
        Trap::PageFault { error, .. } => (error.0 | PfError::USER, u64::from(crate::arch::trap::PF)),
        Trap::Exception(v) => (0, v as u64),
        _ => (0, 0),
    }
}
