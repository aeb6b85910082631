//! The syscall ring's x86-64 stub (guest/x86_64/ring.S): its code with the
//! call maps, LSTAR, and how the VMM reads the program's registers when it
//! finds a vCPU inside the stub. The protocol is `arch::ring`'s.

use kvm_bindings::kvm_regs;
use zerocopy::IntoBytes;

use super::layout::{ring_code_va, RING_STRIDE};
use super::regs::UserRegs;
use crate::arch::ring::{CallMaps, Mailbox};
use crate::arch::PAGE_SIZE;

/// x86-64 has a ring stub.
pub const SUPPORTED: bool = true;

/// Offset of `label` in the stub page (from the assembler's symbol table).
fn label(name: &str) -> u64 {
    faultline_guest::ring_symbol(name).unwrap_or_else(|| panic!("ring stub label {name} missing"))
}

/// The syscall number the stub answers -ENOSYS itself, without leaving the
/// guest (as Linux answers a number it has no call for): the floor of a
/// syscall, which `faultline bench` times. Not traced.
pub fn floor_nr() -> Option<u64> {
    Some(label("ring_floor_nr"))
}

/// The stub's code, one page, with its call maps.
pub fn code(maps: &CallMaps) -> Vec<u8> {
    let image = faultline_guest::RING_X86_64;
    let mut page = image[..image.len().min(PAGE_SIZE as usize)].to_vec();
    for (name, map) in [("ring_exit_map", &maps.exit), ("ring_maybe_map", &maps.maybe)] {
        let at = label(name) as usize;
        page.resize(page.len().max(at + 64), 0);
        page[at..at + 64].copy_from_slice(map.as_bytes());
    }
    page
}

/// LSTAR for vCPU `cpu`: its own mapping of the stub, at the entry for
/// the ring `syscall` enters in.
pub fn lstar(cpu: u32, cpl0: bool) -> u64 {
    ring_code_va(cpu) + label(if cpl0 { "ring_entry_cpl0" } else { "ring_entry" })
}

/// Where in the stub a stopped vCPU is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InStub {
    /// Not in the stub (or in another vCPU's, which no thread reaches).
    No,
    /// Before the call is published: every register is the program's as
    /// `syscall` left it (RCX the return address, R11 the flags).
    Entering,
    /// The call is published: RAX no longer holds the call's number (the
    /// mailbox does), and on the way back the program's flags may be in
    /// RAX rather than R11.
    Published { flags: FlagsIn },
}

/// Where the program's flags are on the stub's way back (see ring.S).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagsIn {
    R11,
    Rax,
    /// In RAX, with its two low bytes swapped.
    RaxSwapped,
}

/// Where `rip` lies, for vCPU `cpu`.
pub fn in_stub(cpu: u32, rip: u64) -> InStub {
    let Some(off) = rip.checked_sub(ring_code_va(cpu)) else { return InStub::No };
    if off >= RING_STRIDE || off >= label("ring_end") {
        return InStub::No;
    }
    let entering = |entry: &str, published: &str| (label(entry)..label(published)).contains(&off);
    if entering("ring_entry", "ring_entry_published") || entering("ring_entry_cpl0", "ring_entry_cpl0_published") {
        return InStub::Entering;
    }
    let (a, b, c) = (label("ring_restore_a"), label("ring_restore_b"), label("ring_restore_c"));
    let flags = if off == a || off == c {
        FlagsIn::Rax
    } else if off >= b && off < c {
        FlagsIn::RaxSwapped
    } else {
        FlagsIn::R11
    };
    InStub::Published { flags }
}

/// The program's registers for a vCPU stopped in the stub at `Entering`:
/// as at a `syscall` trap.
pub fn regs_entering(gprs: &kvm_regs) -> UserRegs {
    let mut r = UserRegs::at_user(gprs, false);
    r.rip = gprs.rcx;
    r.rflags = gprs.r11 | (1 << 9);
    r
}

/// The program's registers for a vCPU stopped in the stub after the call
/// was published, with the call itself in RAX (as at the `syscall`).
pub fn regs_published(gprs: &kvm_regs, flags: FlagsIn, mb: &Mailbox) -> UserRegs {
    let mut r = regs_entering(gprs);
    let f = match flags {
        FlagsIn::R11 => gprs.r11,
        FlagsIn::Rax => gprs.rax,
        FlagsIn::RaxSwapped => (gprs.rax & !0xffff) | ((gprs.rax & 0xff) << 8) | ((gprs.rax >> 8) & 0xff),
    };
    r.r11 = f;
    r.rflags = f | (1 << 9);
    r.rax = mb.nr;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ring::*;

    #[test]
    fn the_mailbox_matches_the_stub() {
        let base = label("mailbox");
        let field = |name: &str| label(name) - base;
        assert_eq!(field("mb_state"), std::mem::offset_of!(Mailbox, state) as u64);
        assert_eq!(field("mb_awake"), std::mem::offset_of!(Mailbox, awake) as u64);
        assert_eq!(field("mb_nr"), std::mem::offset_of!(Mailbox, nr) as u64);
        assert_eq!(field("mb_a0"), std::mem::offset_of!(Mailbox, args) as u64);
        assert_eq!(field("mb_a5"), std::mem::offset_of!(Mailbox, args) as u64 + 40);
        assert_eq!(field("mb_ret"), std::mem::offset_of!(Mailbox, ret) as u64);
        assert_eq!(field("mb_spins"), std::mem::offset_of!(Mailbox, spins) as u64);
        // Only REQ has bit 0, which the stub clears to withdraw a call.
        for s in [IDLE, TAKEN, DONE, DELIVER, EXIT] {
            assert_eq!(s & 1, 0);
        }
        assert_eq!(REQ & 1, 1);
        assert_eq!(base, PAGE_SIZE);
        assert_eq!(label("doorbell"), 2 * PAGE_SIZE);
        assert!(label("ring_end") < PAGE_SIZE);
        assert_eq!(label("ring_maybe_map"), label("ring_exit_map") + 64);
        assert!(label("ring_maybe_map") + 64 <= PAGE_SIZE);
        let mut maps = CallMaps::default();
        maps.exit[1] = 1 << 3; // call 67
        maps.maybe[0] = 1; // call 0
        let page = code(&maps);
        let at = label("ring_exit_map") as usize;
        assert_eq!((page[at + 8], page[at + 64]), (8, 1));
        assert_eq!(page[..at], faultline_guest::RING_X86_64[..at]);
    }

    #[test]
    fn a_rip_is_placed_in_the_stub() {
        let va = ring_code_va(3);
        assert_eq!(in_stub(3, va + label("ring_entry")), InStub::Entering);
        assert_eq!(in_stub(3, va + label("ring_entry_cpl0")), InStub::Entering);
        assert_eq!(in_stub(3, va + label("ring_entry_published")), InStub::Published { flags: FlagsIn::R11 });
        assert_eq!(in_stub(3, va + label("ring_restore_a")), InStub::Published { flags: FlagsIn::Rax });
        assert_eq!(in_stub(3, va + label("ring_restore_b")), InStub::Published { flags: FlagsIn::RaxSwapped });
        assert_eq!(in_stub(3, va + label("ring_restore_c")), InStub::Published { flags: FlagsIn::Rax });
        assert_eq!(in_stub(3, va + label("ring_end")), InStub::No);
        assert_eq!(in_stub(2, va + label("ring_entry")), InStub::No);
        assert_eq!(in_stub(3, 0x401000), InStub::No);
        assert_eq!(lstar(3, false), va);
    }
}
