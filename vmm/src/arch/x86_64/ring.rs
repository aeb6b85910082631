//! The syscall ring's contract with its guest stub (guest/x86_64/ring.S):
//! the mailbox layout, its states, where the stub's code lies, and how the
//! VMM reads the program's registers when it finds a vCPU inside the stub.
//!
//! A call goes IDLE → REQ (the stub published it) → TAKEN (the server
//! copied it) → DONE, DELIVER or EXIT (the server's answer). The stub, or
//! the VMM when it stops the vCPU inside the stub, may withdraw a call
//! still in REQ by moving it back to IDLE; the server takes a call only by
//! moving it from REQ to TAKEN, so each call runs at most once. Under PVM
//! the mailbox is its thread's own user page: the VMM believes its state
//! only where the server's record of what it did agrees
//! (`sandbox::ring::RingServer::taken`).

use std::sync::atomic::{AtomicU64, Ordering};

use kvm_bindings::kvm_regs;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::layout::{ring_code_va, RING_SLOT_GPA, RING_STRIDE};
use super::regs::UserRegs;
use crate::arch::PAGE_SIZE;

pub const IDLE: u64 = 0;
pub const REQ: u64 = 1;
pub const TAKEN: u64 = 2;
pub const DONE: u64 = 4;
pub const DELIVER: u64 = 6;
pub const EXIT: u64 = 8;

/// One vCPU's mailbox, in the page after the stub's code.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Mailbox {
    pub state: u64,
    /// Non-zero while the server spins; zero: ring the doorbell.
    pub awake: u64,
    pub nr: u64,
    pub args: [u64; 6],
    pub ret: u64,
    /// The stub's countdown while it waits for the server to take the
    /// call; the VMM ignores it.
    pub spins: u64,
}

/// Where the stub writes in the doorbell page to exit to the VMM: to have
/// the VMM run the call (EXIT), or to return through it (DELIVER). The
/// doorbell's ioeventfd claims offset 0 only.
pub const DOOR_EXIT: u64 = 8;
pub const DOOR_DELIVER: u64 = 16;
/// A call the stub did not publish (the exit map has it): the same as
/// `DOOR_EXIT`, but the mailbox says nothing of it.
pub const DOOR_DIRECT: u64 = 24;

/// Byte offsets of the fields the server and the VMM touch atomically.
pub const STATE: u64 = 0;
pub const AWAKE: u64 = 8;

/// Offset of `label` in the stub page (from the assembler's symbol table).
fn label(name: &str) -> u64 {
    faultline_guest::ring_symbol(name).unwrap_or_else(|| panic!("ring stub label {name} missing"))
}

/// Which calls the stub sends where: bit N of `exit` sends call N straight
/// to the VMM, unpublished; bit N of `maybe` marks a call the server runs
/// only sometimes, which goes to the VMM when the server sleeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallMaps {
    pub exit: [u64; 8],
    pub maybe: [u64; 8],
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

/// Guest-virtual address of vCPU `cpu`'s mailbox and doorbell pages.
pub const fn mailbox_va(cpu: u32) -> u64 {
    ring_code_va(cpu) + PAGE_SIZE
}
pub const fn doorbell_va(cpu: u32) -> u64 {
    ring_code_va(cpu) + 2 * PAGE_SIZE
}

/// Offset of vCPU `cpu`'s mailbox in the ring slot, and its guest-physical
/// address; the stub's code is the slot's first page.
pub const fn mailbox_offset(cpu: u32) -> u64 {
    (1 + cpu as u64) * PAGE_SIZE
}
pub const fn mailbox_gpa(cpu: u32) -> u64 {
    RING_SLOT_GPA + mailbox_offset(cpu)
}
pub const CODE_GPA: u64 = RING_SLOT_GPA;

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

/// A mailbox in host memory, for the server and the VMM.
pub struct MailboxRef<'a> {
    pub state: &'a AtomicU64,
    pub awake: &'a AtomicU64,
    bytes: &'a [AtomicU64],
}

impl<'a> MailboxRef<'a> {
    /// `words` is the mailbox page as atomics.
    pub fn new(words: &'a [AtomicU64]) -> Option<Self> {
        if words.len() < std::mem::size_of::<Mailbox>() / 8 {
            return None;
        }
        Some(MailboxRef { state: &words[(STATE / 8) as usize], awake: &words[(AWAKE / 8) as usize], bytes: words })
    }

    /// A copy of the whole mailbox: what the server acts on, so that the
    /// guest changing it meanwhile changes nothing.
    pub fn snapshot(&self) -> Mailbox {
        let mut m = Mailbox::new_zeroed();
        for (dst, src) in m.as_mut_bytes().chunks_exact_mut(8).zip(self.bytes) {
            dst.copy_from_slice(&src.load(Ordering::Acquire).to_le_bytes());
        }
        m
    }

    /// Stores the result, then the answer.
    pub fn answer(&self, ret: u64, state: u64) {
        let ret_word = std::mem::offset_of!(Mailbox, ret) / 8;
        self.bytes[ret_word].store(ret, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// Moves the call from `from` to `to` if it is in `from`.
    pub fn transition(&self, from: u64, to: u64) -> bool {
        self.state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
