//! Running a signal handler, Linux's arch-neutral half of it: whether a
//! frame can be set up, on which stack, the masks and the alternate stack,
//! what a frame that cannot be written or read comes to; rt_sigreturn's
//! order of effects. The frame's format (its layout, the FPU image, the
//! registers a handler starts with) is the architecture's
//! (`arch::sigframe`). Also the restart of a syscall a signal interrupted
//! (SA_RESTART).

use super::errno::{SysResult, EINTR, ERESTARTNOHAND, ERESTARTSYS, ERESTART_RESTARTBLOCK};
use super::signal::SigAction;
use super::signal::{self, SigInfo, SigInfoRaw, MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UNBLOCKABLE};
use super::task::Ctx;
use super::thread::AltStack;
use super::Next;
use crate::arch::fpu::FpuState;
use crate::arch::sigframe::{self as frame, Delivery as FrameFor, FpuFrom, SigStack};

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
    let pending = fpu.is_some();
    let saved_fpu = match fpu {
        Some(f) => Some(f),
        None => ctx.vcpu.and_then(|v| v.fpu().ok()),
    };
    let t = ctx.thread();
    let alt = t.altstack;
    let old_mask = t.saved_mask.unwrap_or(t.sigmask);
    let regs = *ctx.regs;
    let sp = regs.sp();
    let on_alt = act.flags & signal::SA_ONSTACK != 0 && alt.flags & SS_DISABLE == 0 && !alt.contains(sp);
    let siginfo: [u8; frame::SIGINFO_LEN] = zerocopy::transmute!(SigInfoRaw::from(&info));
    let trampoline = ctx.k.mm.space(ctx.mm()).sigreturn_trampoline;
    let set_up = frame::setup(&FrameFor {
        sig,
        regs: &regs,
        fpu: saved_fpu.as_ref(),
        fpu_cfg: &ctx.k.cfg.fpu,
        fault: ctx.fault,
        addr: info.addr,
        mask: old_mask,
        stack: SigStack { sp: alt.sp, flags: stack_flags(&alt, sp), size: alt.size },
        siginfo: &siginfo,
        sa_siginfo: act.flags & signal::SA_SIGINFO != 0,
        sp,
        altstack_top: on_alt.then(|| alt.sp.wrapping_add(alt.size)),
        handler: act.handler,
        restorer: (act.flags & signal::SA_RESTORER != 0).then_some(act.restorer),
        trampoline,
    });
    // A frame the architecture cannot set up (x86-64 without sa_restorer,
    // x64_setup_rt_frame's -EFAULT) or that cannot be written (a stack
    // overflow, an alternate stack that is read-only or unmapped).
    let written = set_up.filter(|f| f.writes.iter().all(|(at, bytes)| ctx.write_user(*at, bytes).is_ok()));
    let Some(f) = written else {
        force_sigsegv(ctx, sig);
        return Delivery::NoFrame(Next::Return { tls, fpu: saved_fpu });
    };
    enter_handler(ctx, sig, &act, f.regs, &alt);
    // The handler's FPU state: the architecture's (x86-64 clears it), or
    // the interrupted one, still to be loaded if it was pending.
    let fpu = f.fpu.or(saved_fpu.filter(|_| pending));
    Delivery::Handler(Next::Return { tls, fpu })
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

/// A syscall a signal interrupted (only a syscall: after a fault the
/// result register is the program's own): restarted after the handler
/// under SA_RESTART if it may be, EINTR otherwise. After sigreturn the
/// result register is the frame's.
fn end_interrupted_syscall(ctx: &mut Ctx, act: &SigAction) {
    if ctx.syscall_nr.is_none() || ctx.keep_regs {
        return;
    }
    let ret = ctx.regs.ret() as i64;
    if ret == ERESTARTSYS.ret() && act.flags & signal::SA_RESTART != 0 {
        restart(ctx);
    } else if ret == ERESTARTSYS.ret() || ret == ERESTARTNOHAND.ret() || ret == ERESTART_RESTARTBLOCK.ret() {
        ctx.regs.set_ret(EINTR.ret() as u64);
        // Nothing for a later restart_syscall to continue.
        ctx.thread_mut().restart_block = None;
    }
}

/// Points the thread at the handler: its mask (the action's, and the
/// signal unless SA_NODEFER), its arguments (the signal, the frame's
/// siginfo and ucontext) and a fresh stack frame, as the architecture set
/// them in `regs`; SS_AUTODISARM takes effect.
fn enter_handler(ctx: &mut Ctx, sig: i32, act: &SigAction, regs: crate::arch::UserRegs, alt: &AltStack) {
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
    *ctx.regs = regs;
}

/// Makes the interrupted syscall run again when the thread resumes.
pub(crate) fn restart(ctx: &mut Ctx) {
    if let Some(nr) = ctx.syscall_nr {
        ctx.regs.restart_syscall(nr);
    }
}

/// rt_sigreturn(2): back to where the signal interrupted, registers, mask,
/// alternate stack and FPU state as the frame holds them.
pub(crate) fn rt_sigreturn(ctx: &mut Ctx) -> SysResult {
    let Some((at, len)) = frame::sigreturn_frame(ctx.regs) else { return bad_frame(ctx) };
    let mut uc = vec![0u8; len];
    if ctx.read_user(at, &mut uc).is_err() {
        return bad_frame(ctx);
    }
    // As rt_sigreturn: the mask, then the registers, then the FPU state
    // (a bad FPU image is a bad frame with the registers already
    // restored), then the alternate stack.
    let cfg = ctx.k.cfg.fpu;
    let saved = frame::restore(ctx.regs, &uc, &cfg);
    ctx.thread_mut().sigmask = saved.mask & !UNBLOCKABLE;
    ctx.keep_regs = true;
    let fpu = match saved.fpu {
        FpuFrom::Unchanged => None,
        FpuFrom::Here(x) => Some(x),
        FpuFrom::At { addr, len } => match read_fpu(ctx, addr, len, &cfg) {
            Some(x) => Some(x),
            None => return bad_frame(ctx),
        },
        FpuFrom::Bad => return bad_frame(ctx),
    };
    if let Some(x) = fpu {
        if ctx.vcpu.is_none_or(|v| v.set_fpu(&x).is_err()) {
            return bad_frame(ctx);
        }
        ctx.fpu = Some(x);
    }
    let sp = ctx.regs.sp();
    let t = ctx.thread_mut();
    // restore_altstack(): as sigaltstack() with the saved stack_t; an
    // error here is ignored, as Linux does.
    let flags = saved.stack.flags as u32;
    if !t.altstack.contains(sp) {
        if flags & SS_DISABLE != 0 {
            t.altstack = AltStack::default();
        } else if saved.stack.size >= MINSIGSTKSZ {
            t.altstack = AltStack { sp: saved.stack.sp, flags: flags & SS_AUTODISARM, size: saved.stack.size };
        }
    }
    // A context the return to user mode cannot resume (the architecture
    // says which) faults there, which Linux turns into SIGSEGV (x86-64's
    // bad_iret).
    if !saved.resumable {
        return bad_frame(ctx);
    }
    Ok(0)
}

/// The FPU image of `len` bytes at `addr` as the architecture restores it,
/// or `None` where that faults.
fn read_fpu(ctx: &mut Ctx, addr: u64, len: usize, cfg: &crate::arch::fpu::FpuConfig) -> Option<FpuState> {
    let mut bytes = vec![0u8; len];
    ctx.read_user(addr, &mut bytes).ok()?;
    frame::parse_fpu(&bytes, cfg)
}

/// signal_fault(): a frame rt_sigreturn cannot take is SIGSEGV, which a
/// handler may catch (if it cannot run either, the process dies). Its
/// code and address are the architecture's (arm64 reports the stack
/// pointer, SEGV_MAPERR unless a VMA ends above it).
fn bad_frame(ctx: &mut Ctx) -> SysResult {
    ctx.keep_regs = true;
    let sp = ctx.regs.sp();
    let vma_above = ctx.k.mm.space(ctx.mm()).vmas.find_from(sp).is_some();
    let bad = frame::sigreturn_fault(sp, vma_above);
    ctx.force_signal_with(SigInfo::fault(signal::SIGSEGV, bad.code, bad.addr), bad.trap, bad.record);
    Ok(0)
}
