//! The line a fatal fault leaves on faultline's diagnostics.

use super::super::super::signal::{self, SigInfo};
use super::super::super::task::Ctx;
use crate::arch::trap::Trap;
use crate::mm::STACK_GUARD_GAP;

/// A kernel-style line for a fatal fault: where it happened, and what the
/// address is.
pub(crate) fn describe_crash(ctx: &Ctx, info: &SigInfo, trap: Trap) -> String {
    let space = ctx.k.mm.space(ctx.mm());
    let regions = ctx.k.report.recorder().regions();
    let name = |addr: u64| -> String {
        // Byte for byte where the program's section headers say; a page
        // the summary files under one section may hold the end of another.
        if let Some(s) = space.elf_section_at(addr).filter(|_| space.vmas.find(addr).is_some()) {
            return s.to_string();
        }
        match space.region_of(addr) {
            Some(r) if space.vmas.find(addr).is_some() => regions.name(r).to_string(),
            _ => match space.vmas.find_from(addr) {
                Some(v) if v.growsdown && v.start - addr <= STACK_GUARD_GAP => "the stack guard gap".into(),
                _ => "an unmapped area".into(),
            },
        }
    };
    let place = |addr: u64| match space.vmas.find(addr) {
        Some(v) => format!("{}[{:x}+{:x}]", name(addr), v.start, v.end - v.start),
        None => name(addr),
    };
    let regs = &ctx.regs;
    match trap {
        Trap::PageFault { addr, error } => {
            // Linux decides by the VMA, not the present bit: a first
            // fetch from .data is error 14 (not present) yet an access
            // error (SEGV_ACCERR).
            let what = match space.vmas.find(addr).map(|v| v.perms) {
                None => "not mapped",
                Some(p) if error.write() && !p.write => "write to a read-only page",
                Some(p) if error.fetch() && !p.exec => "fetch from a non-executable page",
                Some(p) if !p.read => "read of a page with no access",
                Some(_) => "protection violation",
            };
            let what = if info.signo == signal::SIGBUS { "beyond the end of the mapped file" } else { what };
            format!(
                "segfault at {addr:x} ip {:016x} sp {:016x} error {:x} in {}: {what}, address in {}",
                regs.pc(),
                regs.sp(),
                error.0,
                place(regs.pc()),
                name(addr)
            )
        }
        Trap::Exception(v) => format!(
            "trap {} ip {:016x} sp {:016x} error 0 in {}",
            crate::arch::trap::exception_name(v),
            regs.pc(),
            regs.sp(),
            place(regs.pc())
        ),
        _ => format!("{} at ip {:016x}", signal::name(info.signo), regs.pc()),
    }
}
